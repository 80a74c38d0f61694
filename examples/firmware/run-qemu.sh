#!/usr/bin/env bash
# Builds examples/firmware and runs it under qemu-system-arm on each machine
# below, with `timeout`: fails if QEMU fails, hangs, or an expected line is
# missing. Prints the firmware's output, and its sizes next to the same firmware
# built without shmptr (`--features baseline`).
#
#   bash examples/firmware/run-qemu.sh
#
# Needs qemu-system-arm (apt-get install qemu-system-arm) and the Rust targets
# thumbv7em-none-eabihf, thumbv6m-none-eabi and thumbv8m.main-none-eabihf
# (rustup target add ...).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"
# The sizes must not depend on where the checkout lies: panic messages carry
# source paths, so the checkout and the cargo registry are renamed in the
# binary (the same bytes in every clone). These flags take the place of the
# ones in .cargo/config.toml (cortex-m-rt's link script), which they repeat.
root=$(cd ../.. && pwd)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
CARGO_ENCODED_RUSTFLAGS=$(printf '%s\x1f' -C link-arg=-Tlink.x \
  "--remap-path-prefix=$root=/shmptr" "--remap-path-prefix=$cargo_home=/cargo")
export CARGO_ENCODED_RUSTFLAGS=${CARGO_ENCODED_RUSTFLAGS%$'\x1f'}

# name | Rust target | cargo features | QEMU machine and options. The dual-core
# run uses real parallelism (multi-threaded TCG), which -icount would forbid.
runs=(
  "cortex-m4|thumbv7em-none-eabihf||-machine mps2-an386 -cpu cortex-m4 -icount shift=0"
  "cortex-m7|thumbv7em-none-eabihf||-machine mps2-an500 -cpu cortex-m7 -icount shift=0"
  "cortex-m0|thumbv6m-none-eabi||-machine microbit -icount shift=0"
  "2x-cortex-m33|thumbv8m.main-none-eabihf|--no-default-features --features dual|-machine mps2-an521 -accel tcg,thread=multi"
)

expected_dual=(
  '^firmware: dual core ok \(two cores, [0-9]+ increments each under one Mutex, none lost\)$'
  '^firmware: dual core timed lock ok \(timed out after [0-9]+ us of real time\)$'
  '^firmware: dual core reset ok '
  '^firmware: all checks passed$'
)

expected=(
  '^firmware: shared ok \(a Shared<AtomicU32> takes [0-9]+ bytes of the arena\)$'
  '^firmware: unique hand-off ok$'
  '^firmware: mutex with interrupt ok \(main [0-9]+, handler [1-9][0-9]* locked, [1-9][0-9]* busy\)$'
  '^firmware: owner death ok '
  '^firmware: interrupt stress ok \(main [0-9]+ rounds, handler [0-9]{4,} rounds, no deadlock\)$'
  '^firmware: arena memory all free again \([0-9]+ bytes\)$'
  '^INSTRUCTIONS fetch_add\+fetch_sub [0-9]+$'
  '^INSTRUCTIONS shared_clone_drop [0-9]+$'
  '^INSTRUCTIONS mutex_try_lock_unlock [0-9]+$'
  '^INSTRUCTIONS mutex_lock_unlock [0-9]+$'
  '^INSTRUCTIONS shared_open_drop [0-9]+$'
  '^INSTRUCTIONS shared_create_drop [0-9]+$'
  '^INSTRUCTIONS unique_claim_release [0-9]+$'
  '^firmware: all checks passed$'
)

build() { # target, extra cargo arguments...
  local target=$1
  shift
  cargo build -q --release --target "$target" "$@"
}

# `llvm-size -A` sums: FLASH (text + rodata + data's load image + vectors),
# RAM (data + bss).
sizes() { # elf
  llvm-size -A "$1" | awk '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
    $1 == ".data" { flash += $2; ram += $2 }
    $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    END { printf "%d %d\n", flash, ram }'
}

failed=0
built=""
for run in "${runs[@]}"; do
  IFS='|' read -r name target features machine <<<"$run"
  elf="target/$target/release/shmptr-firmware"
  if [ -n "$features" ]; then
    # shellcheck disable=SC2086 # $features is several arguments
    build "$target" $features
    lines=("${expected_dual[@]}")
  else
    case " $built " in
      *" $target "*) ;;
      *)
        build "$target"
        built="$built $target"
        ;;
    esac
    lines=("${expected[@]}")
  fi
  echo "== $name: qemu-system-arm $machine"
  status=0
  # shellcheck disable=SC2086 # $machine is several arguments
  out=$(timeout 300 qemu-system-arm $machine -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf" 2>&1) || status=$?
  printf '%s\n' "$out" | sed "s/^/$name: /"
  if [ "$status" -ne 0 ]; then
    echo "FAILED: $name: qemu-system-arm exited with $status (124: timed out)"
    failed=1
    continue
  fi
  for line in "${lines[@]}"; do
    if ! printf '%s\n' "$out" | grep -qE "$line"; then
      echo "FAILED: $name: no line matching /$line/"
      failed=1
    fi
  done
done

qemu_m4() { # elf: runs it on the M4, prints its output
  timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=0 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -kernel "$1"
}

# Footprint on the M4: this firmware and its smallest real use (--features
# minimal: a Shared<Mutex<u32>> and a Unique hand-off), each against the same
# firmware without shmptr (--features baseline): flash, RAM beyond the arena's
# own memory, and the deepest stack. The minimal use fails past 12 KB of flash
# or 2 KB of RAM.
if command -v llvm-size >/dev/null; then
  target=thumbv7em-none-eabihf
  elf="target/$target/release/shmptr-firmware"
  for target_built in $built; do
    elf_built="target/$target_built/release/shmptr-firmware"
    read -r flash ram < <(sizes "$elf_built")
    cp "$elf_built" "$elf_built.checks"
    build "$target_built" --features baseline
    read -r base_flash base_ram < <(sizes "$elf_built")
    mv "$elf_built.checks" "$elf_built"
    echo "SIZE $target_built firmware flash $flash ram $ram; without shmptr flash $base_flash ram $base_ram;" \
      "shmptr and the checks flash +$((flash - base_flash)) ram +$((ram - base_ram))"
  done
  cp "$elf" "$elf.checks"
  build "$target" --features baseline
  read -r base_flash base_ram < <(sizes "$elf")
  base_stack=$(qemu_m4 "$elf" | sed -n 's/^STACK baseline \([0-9]*\)$/\1/p')
  build "$target" --features minimal
  read -r flash ram < <(sizes "$elf")
  out=$(qemu_m4 "$elf") || { echo "$out"; echo "FAILED: the minimal firmware"; failed=1; }
  stack=$(printf '%s\n' "$out" | sed -n 's/^STACK minimal \([0-9]*\)$/\1/p')
  arena=$(printf '%s\n' "$out" | sed -n 's/^ARENA_BYTES \([0-9]*\)$/\1/p')
  mv "$elf.checks" "$elf"
  if [ -z "$stack" ] || [ -z "$base_stack" ] || [ -z "$arena" ]; then
    echo "FAILED: no STACK or ARENA_BYTES line from the minimal or baseline firmware"
    failed=1
  else
    echo "FOOTPRINT cortex-m4 minimal use (Shared<Mutex<u32>> + Unique hand-off): flash +$((flash - base_flash))" \
      "bytes, RAM +$((ram - base_ram - arena)) bytes beyond its $arena-byte arena memory, stack +$((stack - base_stack)) bytes"
    # The budgets of issue 16 (sizes, not timings): 12 KB of flash, 2 KB of RAM.
    if [ $((flash - base_flash)) -gt 12288 ] || [ $((ram - base_ram - arena)) -gt 2048 ]; then
      echo "FAILED: the minimal use is over its budget (flash <= 12288 bytes, RAM <= 2048 bytes beyond the arena)"
      failed=1
    fi
  fi
else
  echo "SKIPPED: sizes, footprint and its budget (llvm-size not found: apt-get install llvm)"
fi

if [ "$failed" -ne 0 ]; then
  echo "firmware under QEMU: FAILED"
  exit 1
fi
echo "firmware under QEMU: every run passed"
