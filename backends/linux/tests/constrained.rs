//! The constrained example (`examples/constrained`): a `#![no_std]`, `#![no_main]`
//! static binary without libc. These tests build it (release, in its own target
//! directory), check the ELF (no interpreter, no dynamic section, at most 16 KiB),
//! run two instances on one counter while this process holds a handle on it, let
//! it take over a mutex whose owner died, and check its error messages.
#![cfg(target_os = "linux")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shmptr_linux::{Mutex, Shared};

/// The size budget of the stripped binary: 16 KiB until reviews s19 and s19b's
/// fixes took 888 bytes (a creator's file locked before it is named, two ways;
/// `/proc` checked again in every judgment; a leased file answered at once) past
/// 16,360.
const MAX_SIZE: u64 = 17 * 1024;
/// Increments per instance.
const COUNT: u64 = 100_000;
/// How long the instances may run before they are killed and the test fails.
const BOUND: Duration = Duration::from_secs(60);

/// The example, built once per test binary. The build runs in a target directory of
/// its own (`examples/constrained/target`, set explicitly, whatever the environment
/// says), so it never waits for the lock of the `cargo test` that runs us.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/constrained");
        let target = dir.join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(&cargo)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            // The example's compiler and linker flags are its own (Cargo.toml, build.rs).
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .unwrap_or_else(|e| panic!("running {cargo:?}: {e}"));
        assert!(status.success(), "building examples/constrained failed: {status}");
        target.join("release/shmptr-constrained")
    })
}

/// `readelf` with `args` on the binary; fails clearly if binutils is missing.
fn readelf(args: &[&str]) -> String {
    let output = match Command::new("readelf").args(args).arg(binary()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("this test needs `readelf` from binutils (e.g. `apt-get install binutils`): it is not on PATH")
        }
        Err(e) => panic!("running readelf: {e}"),
    };
    assert!(output.status.success(), "readelf {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("readelf prints text")
}

/// Removes `/dev/shm/<name>` on drop if it is still there, so that a test failing
/// midway leaves nothing behind.
struct ShmEntry(PathBuf);

impl ShmEntry {
    fn new(name: &str) -> Self {
        ShmEntry(Path::new("/dev/shm").join(name))
    }

    fn exists(&self) -> bool {
        self.0.symlink_metadata().is_ok()
    }
}

impl Drop for ShmEntry {
    fn drop(&mut self) {
        if std::fs::remove_file(&self.0).is_err() {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

/// A running instance; killed and reaped if the test fails before it is waited for.
struct Instance(Child);

impl Instance {
    fn spawn(args: &[&str]) -> Self {
        let child = Command::new(binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the constrained binary");
        Instance(child)
    }

    /// Waits until it exits, at most until `deadline` (then it is killed and the
    /// test fails), and returns its status and output.
    fn finish(mut self, deadline: Instant) -> Output {
        let status = loop {
            if let Some(status) = self.0.try_wait().expect("waiting for the instance") {
                break status;
            }
            assert!(Instant::now() < deadline, "an instance ran for more than {BOUND:?}; killed");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut output = Output { status, stdout: Vec::new(), stderr: Vec::new() };
        self.0.stdout.take().expect("piped").read_to_end(&mut output.stdout).expect("reading stdout");
        self.0.stderr.take().expect("piped").read_to_end(&mut output.stderr).expect("reading stderr");
        output
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_is_static_without_interpreter_and_small() {
    let headers = readelf(&["-lW"]);
    assert!(!headers.contains("INTERP"), "the binary asks for a program interpreter:\n{headers}");
    assert!(!headers.contains("DYNAMIC"), "the binary has a DYNAMIC segment:\n{headers}");
    let dynamic = readelf(&["-dW"]);
    assert!(
        dynamic.contains("There is no dynamic section in this file."),
        "the binary has a dynamic section:\n{dynamic}"
    );
    let size = std::fs::metadata(binary()).expect("the binary exists").len();
    println!("examples/constrained: stripped binary is {size} bytes (budget {MAX_SIZE})");
    assert!(size <= MAX_SIZE, "the stripped binary is {size} bytes, over the budget of {MAX_SIZE}");
    // The README's Footprint section quotes the figure; keep it within 5 % of the truth.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let quoted = readme
        .split("stripped static binary of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.replace(',', "").parse::<u64>().ok())
        .expect("README.md quotes 'stripped static binary of <N> bytes'");
    assert!(quoted.abs_diff(size) * 20 <= size, "README.md says {quoted} bytes, the binary is {size}: update it");
}

#[test]
fn two_instances_count_exactly_and_leave_nothing_behind() {
    let name = format!("shmptr-t.{}.constrained", std::process::id());
    let entry = ShmEntry::new(&name);
    let counter = Shared::<Mutex<u64>>::create(&name, Mutex::new(0)).expect("creating the counter");

    let count = COUNT.to_string();
    let deadline = Instant::now() + BOUND;
    let instances = [Instance::spawn(&[&name, &count]), Instance::spawn(&[&name, &count])];
    let outputs = instances.map(|instance| instance.finish(deadline));

    let mut seen = Vec::new();
    for output in &outputs {
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "an instance failed ({}): stdout {stdout:?}, stderr {stderr:?}",
            output.status
        );
        assert_eq!(stderr, "", "an instance wrote to stderr");
        let value = stdout
            .strip_prefix(&format!("constrained: +{COUNT} -> "))
            .and_then(|rest| rest.strip_suffix('\n'))
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
        seen.push(value);
    }
    // Each saw its own increments at least; whichever finished last saw all of them.
    assert!(seen.iter().all(|&v| (COUNT..=2 * COUNT).contains(&v)), "values seen: {seen:?}");
    assert_eq!(seen.iter().max(), Some(&(2 * COUNT)), "values seen: {seen:?}");

    assert_eq!(*counter.lock().expect("locking the counter"), 2 * COUNT);
    // Both instances detached before exiting: only our handle remains.
    assert_eq!((Shared::strong_count(&counter), Shared::process_count(&counter)), (1, 1));
    drop(counter);
    assert!(!entry.exists(), "/dev/shm/{name} is still there after the last handle was dropped");
}

/// What the binary's `open_or_create` fails with, from this process.
fn open_or_create_error(name: &str) -> shmptr_linux::Error {
    match Shared::<Mutex<u64>>::open_or_create(name, || Mutex::new(0)) {
        Ok(_) => panic!("open_or_create({name:?}) succeeded"),
        Err(error) => error,
    }
}

/// What the binary prints for `error`: `constrained: error while <during>` and the
/// OS error code, if any.
fn short(error: &shmptr::Error) -> String {
    let os = error.os_code().map(|c| format!(" (OS error {c})")).unwrap_or_default();
    format!("constrained: error while {}{os}\n", error.during())
}

#[test]
fn errors_are_printed_with_what_failed_and_a_failure_status() {
    let deadline = Instant::now() + BOUND;

    // A name shmptr refuses: the message names what failed (the short form of
    // `Error`'s `Display`, without the kind's sentences, to stay within 16 KiB).
    let bad = "no/slashes";
    let error = open_or_create_error(bad);
    let output = Instance::spawn(&[bad, "1"]).finish(deadline);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), short(&error));
    assert!(output.stdout.is_empty());

    // An error from the OS (a directory where the object should be): the same,
    // with the error code.
    let dir = format!("shmptr-t.{}.constrained-dir", std::process::id());
    let entry = ShmEntry::new(&dir);
    std::fs::create_dir(&entry.0).expect("creating a directory in /dev/shm");
    let error = open_or_create_error(&dir);
    assert!(error.os_code().is_some(), "{error:?}");
    let output = Instance::spawn(&[&dir, "1"]).finish(deadline);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), short(&error));
    drop(entry);

    // Bad arguments: usage on stderr, status 2.
    for args in [&[][..], &["x", "12a"], &["x", "99999999999999999999"], &["x", ""]] {
        let output = Instance::spawn(args).finish(deadline);
        assert_eq!(output.status.code(), Some(2), "arguments {args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("usage: shmptr-constrained NAME [COUNT]"));
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_lock_whose_owner_died_is_taken_over() {
    let name = format!("shmptr-t.{}.constrained-died", std::process::id());
    let entry = ShmEntry::new(&name);
    let counter = Shared::<Mutex<u64>>::create(&name, Mutex::new(41)).expect("creating the counter");

    // A child process takes the lock and exits without releasing it.
    // SAFETY: the child only locks (atomics and raw syscalls: no allocation, no lock
    // that another thread of this process could hold) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match counter.lock() {
            Ok(guard) => {
                std::mem::forget(guard);
                0
            }
            Err(_) => 1,
        };
        // SAFETY: ends the child at once, running none of the parent's destructors
        // or exit handlers.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` a valid place for its status.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child could not lock: {status:#x}");

    // The binary gets `OwnerDied`, makes the counter consistent and counts on.
    let output = Instance::spawn(&[&name, "1000"]).finish(Instant::now() + BOUND);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{}: stdout {stdout:?}, stderr {stderr:?}", output.status);
    assert_eq!(stdout, "constrained: +1000 -> 1041\n");
    assert_eq!(*counter.lock().expect("the binary made the mutex consistent"), 1041);
    drop(counter);
    assert!(!entry.exists(), "/dev/shm/{name} is still there after the last handle was dropped");
}
