//! Support for the CLI's tests with real processes: the Linux tests' support
//! (`backends/linux/tests/linux_support`: unique names, cleanup of `/dev/shm` also
//! when a test fails, holder children that are the test binary re-executed with a
//! role), plus running the built `shmptr` binary and reading its output.

#![allow(dead_code)]

use std::sync::atomic::AtomicU64;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[path = "../../../backends/linux/tests/linux_support/mod.rs"]
mod linux_support;
pub use linux_support::*;

pub mod trace;

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

/// In a child: opens the control object and `name` (a `Shared<AtomicU64>`,
/// created if missing), says it is ready, then holds it until told to go.
pub fn hold(scope: &Scope, name: &str) {
    let control = shmptr_linux::Shared::<Control>::open(&scope.name("control")).unwrap();
    let _held = shmptr_linux::Shared::<AtomicU64>::open_or_create(name, || AtomicU64::new(7)).unwrap();
    control.ready_then_wait_for_go();
}

/// A test's scope (`tag`: unique among this binary's tests, and no tag the start
/// of another) and the name of its object, `x`; `None` in a child re-executed as
/// a holder, once it has held the object ([`hold`]) until told to go.
pub fn setup(tag: &str) -> Option<(Scope, String)> {
    let scope = Scope::new(tag);
    let name = scope.name("x");
    if role().is_some() {
        hold(&scope, &name);
        return None;
    }
    Some((scope, name))
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
