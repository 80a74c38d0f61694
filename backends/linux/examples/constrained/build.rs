//! Link arguments for the static, libc-free binary.
//!
//! They are emitted here rather than in `.cargo/config.toml` because cargo reads
//! configuration files from the *current directory* upwards, not from the
//! manifest's directory: a config file next to this crate would be ignored by
//! `cargo build --release --manifest-path backends/linux/examples/constrained/Cargo.toml`
//! run from the repository root. `rustc-link-arg-bins` also keeps these arguments
//! away from the build scripts of dependencies, which are ordinary host programs.
//! The profile (`panic = "abort"`, size optimisation) is in `Cargo.toml` for the
//! same reason.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link.ld");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = Path::new(&dir).join("link.ld");
    let args = [
        "-nostartfiles",          // our own `_start` (src/main.rs): no crt1.o, crti.o
        "-nostdlib",              // no libc, no libgcc: syscalls go through rustix
        "-static",                // no dynamic loader: no INTERP, no dynamic section
        "-no-pie",                // overrides rustc's `-pie`: a static PIE has a dynamic section
        "-Wl,--gc-sections",      // drop what nothing references
        "-Wl,--build-id=none",    // no .note.gnu.build-id
        "-Wl,-z,norelro",         // nothing to protect: nothing is relocated at run time
        "-Wl,-z,noexecstack",     // the stack stays non-executable
        "-Wl,-z,noseparate-code", // no page padding between segments in the file (GNU ld pads by default)
    ];
    for arg in args {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    // Drops .eh_frame and .comment (see link.ld).
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
