//! Puts the memory layout of the board the target is for where cortex-m-rt's
//! `link.x` finds it (as `memory.x`): the micro:bit (nRF51: 256 KiB flash,
//! 16 KiB RAM) for thumbv6m, the SSE-200 of mps2-an521 for thumbv8m, the QEMU
//! MPS2 boards otherwise.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = std::env::var("TARGET").unwrap_or_default();
    let memory: &[u8] = if target.starts_with("thumbv6m") {
        include_bytes!("memory-microbit.x")
    } else if target.starts_with("thumbv8m") {
        include_bytes!("memory-an521.x")
    } else {
        include_bytes!("memory-mps2.x")
    };
    std::fs::write(out.join("memory.x"), memory).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=memory-microbit.x");
    println!("cargo:rerun-if-changed=memory-an521.x");
}
