//! Support for the CLI's tests with real processes: unique names, cleanup of
//! `/dev/shm` (also when a test fails), holder children that are the test binary
//! re-executed with a role, and running the built `shmptr` binary. Adapted from
//! `backends/linux/tests/linux_support/mod.rs` (only what these tests need, and no
//! libc: `Child::kill` is SIGKILL).

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// How long any wait in these tests may last before the test fails.
pub const BOUND: Duration = Duration::from_secs(60);

/// Environment variables that tell a re-executed test binary its role.
const ROLE: &str = "SHMPTR_CLI_TEST_ROLE";
const PREFIX: &str = "SHMPTR_CLI_TEST_PREFIX";

/// `shmptr reclaim --all` acts on every object in `/dev/shm`, including the dead
/// holders other tests of this binary are about to look at: it runs alone.
static EVERY_OBJECT: RwLock<()> = RwLock::new(());

/// For a test that leaves dead holders for `shmptr` to see.
pub fn own_objects_only() -> RwLockReadGuard<'static, ()> {
    EVERY_OBJECT.read().unwrap_or_else(|e| e.into_inner())
}

/// For a test that runs `shmptr reclaim --all`.
pub fn every_object() -> RwLockWriteGuard<'static, ()> {
    EVERY_OBJECT.write().unwrap_or_else(|e| e.into_inner())
}

/// A test's unique name prefix; removes every `/dev/shm` entry it made on drop,
/// even when the test panics, and fails a passing test that left any.
pub struct Scope {
    pub prefix: String,
}

impl Scope {
    /// A prefix unique to this test and process (or the parent's, in a child).
    pub fn new(test: &str) -> Self {
        let prefix = std::env::var(PREFIX).unwrap_or_else(|_| format!("shmptr-cli.{}.{}.", std::process::id(), test));
        Scope { prefix }
    }

    pub fn name(&self, tag: &str) -> String {
        format!("{}{}", self.prefix, tag)
    }

    /// The path of the entry `name` in `/dev/shm`.
    pub fn path(name: &str) -> String {
        format!("/dev/shm/{name}")
    }

    /// Whether `/dev/shm` holds the entry `name`.
    pub fn exists(name: &str) -> bool {
        std::fs::symlink_metadata(Self::path(name)).is_ok()
    }

    /// The entries of `/dev/shm` this test made.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&self.prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Starts this test binary again as a child running `test` with `role`.
    pub fn spawn(&self, test: &str, role: &str) -> Kid {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(PREFIX, &self.prefix)
            .stdout(Stdio::null())
            .spawn()
            .expect("re-executing the test binary");
        Kid(Some(child))
    }

    /// Starts a child as [`Scope::spawn`] does and waits (bounded) until it sets
    /// `ready` to 1.
    pub fn spawn_ready(&self, test: &str, role: &str, ready: &AtomicU32) -> Kid {
        let kid = self.spawn(test, role);
        wait_for(ready, 1);
        kid
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if role().is_some() {
            return; // the parent cleans up
        }
        let left = self.leftovers();
        for name in &left {
            let _ = std::fs::remove_file(Self::path(name));
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("the test left {left:?} in /dev/shm");
        }
    }
}

/// This process's role, if it is a re-executed child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A child process, SIGKILLed and reaped on drop if still running.
pub struct Kid(Option<Child>);

impl Kid {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits (bounded) and asserts a zero exit status.
    pub fn succeeds(mut self) {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "child {} failed: {status}", child.id());
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {} did not finish within {BOUND:?}", child.id());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        let mut child = self.0.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) until `word` reaches at least `value`.
pub fn wait_for(word: &AtomicU32, value: u32) {
    let deadline = Instant::now() + BOUND;
    while word.load(Ordering::Acquire) < value {
        assert!(Instant::now() < deadline, "waited {BOUND:?} for a signal from another process");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A control block for parent/child hand-shakes.
#[repr(C)]
pub struct Control {
    pub ready: AtomicU32,
    pub go: AtomicU32,
}
shmptr::shm_safe!(Control { ready, go });

impl Control {
    pub fn new() -> Self {
        Control { ready: AtomicU32::new(0), go: AtomicU32::new(0) }
    }

    /// In a child: tells the parent it is ready (`ready` = 1) and waits (bounded)
    /// for `go`.
    pub fn ready_then_wait_for_go(&self) {
        self.ready.store(1, Ordering::Release);
        wait_for(&self.go, 1);
    }
}

/// The built `shmptr` binary, ready for arguments.
pub fn shmptr() -> assert_cmd::Command {
    assert_cmd::cargo::cargo_bin_cmd!("shmptr")
}

/// Runs `shmptr ARGS`, asserts exit status 0 and returns standard output.
pub fn stdout_of(args: &[&str]) -> String {
    let output = shmptr().args(args).output().expect("running shmptr");
    assert!(
        output.status.success(),
        "shmptr {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("shmptr prints UTF-8")
}

/// Runs `shmptr --json ARGS` and parses its output.
pub fn json_of(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&stdout_of(&all)).expect("shmptr --json prints JSON")
}

/// The row of `name` in `shmptr ls --json [--all] PREFIX`.
pub fn json_row(all: bool, prefix: &str, name: &str) -> Option<serde_json::Value> {
    let args: &[&str] = if all { &["ls", "--all", prefix] } else { &["ls", prefix] };
    json_of(args)["objects"].as_array().expect("objects is an array").iter().find(|row| row["name"] == name).cloned()
}

/// The cells of the text row of `name` in `shmptr ls [--all] PREFIX` (columns are
/// separated by at least two spaces).
pub fn text_row(all: bool, prefix: &str, name: &str) -> Option<Vec<String>> {
    let args: &[&str] = if all { &["ls", "--all", prefix] } else { &["ls", prefix] };
    stdout_of(args).lines().map(cells).find(|cells| cells.first().is_some_and(|c| c == name))
}

/// A text line's cells: split at runs of two or more spaces.
pub fn cells(line: &str) -> Vec<String> {
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}
