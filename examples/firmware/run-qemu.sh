#!/usr/bin/env bash
# Builds examples/firmware and runs it under qemu-system-arm on each machine
# below, with `timeout`: fails if QEMU fails, hangs, or an expected line is
# missing. Prints the firmware's output, and its sizes next to the same firmware
# built without shmptr (`--features baseline`).
#
#   bash examples/firmware/run-qemu.sh
#
# Needs qemu-system-arm (apt-get install qemu-system-arm) and the Rust targets
# thumbv7em-none-eabihf and thumbv6m-none-eabi (rustup target add ...).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"

# name | Rust target | QEMU machine and CPU
runs=(
  "cortex-m4|thumbv7em-none-eabihf|-machine mps2-an386 -cpu cortex-m4"
  "cortex-m7|thumbv7em-none-eabihf|-machine mps2-an500 -cpu cortex-m7"
  "cortex-m0|thumbv6m-none-eabi|-machine microbit"
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
  IFS='|' read -r name target machine <<<"$run"
  elf="target/$target/release/shmptr-firmware"
  case " $built " in
    *" $target "*) ;;
    *)
      build "$target"
      built="$built $target"
      ;;
  esac
  echo "== $name: qemu-system-arm $machine"
  status=0
  # shellcheck disable=SC2086 # $machine is several arguments
  out=$(timeout 300 qemu-system-arm $machine -icount shift=0 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf" 2>&1) || status=$?
  printf '%s\n' "$out" | sed "s/^/$name: /"
  if [ "$status" -ne 0 ]; then
    echo "FAILED: $name: qemu-system-arm exited with $status (124: timed out)"
    failed=1
    continue
  fi
  for line in "${expected[@]}"; do
    if ! printf '%s\n' "$out" | grep -qE "$line"; then
      echo "FAILED: $name: no line matching /$line/"
      failed=1
    fi
  done
done

if command -v llvm-size >/dev/null; then
  for target in $built; do
    elf="target/$target/release/shmptr-firmware"
    read -r flash ram < <(sizes "$elf")
    cp "$elf" "$elf.full"
    build "$target" --features baseline
    read -r base_flash base_ram < <(sizes "$elf")
    mv "$elf.full" "$elf"
    echo "SIZE $target firmware flash $flash ram $ram; without shmptr flash $base_flash ram $base_ram;" \
      "shmptr's cost flash $((flash - base_flash)) ram $((ram - base_ram))"
  done
fi

if [ "$failed" -ne 0 ]; then
  echo "firmware under QEMU: FAILED"
  exit 1
fi
echo "firmware under QEMU: every run passed"
