//! Review of session 17's changes with real processes: a forked child's clone of
//! an inherited handle (`is_current_process`, `reopen_inherited` by the stored
//! name's private copy).
#![cfg(target_os = "linux")]

mod linux_support;

use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use linux_support::Scope;
use shmptr_linux::Shared;

/// Where the write-once fields' `name_len` and name field lie (FORMAT.md).
const NAME_LEN_AT: u64 = 24 + 48;
const NAME_AT: u64 = 24 + 64;

/// Writes `name` as the stored name of the object `object`, as a peer could;
/// returns the bytes it replaced (length word and name field).
fn store_name(object: &str, name: &[u8]) -> ([u8; 4], Vec<u8>) {
    let file = std::fs::OpenOptions::new().read(true).write(true).open(Scope::path(object)).unwrap();
    let (mut len, mut field) = ([0u8; 4], vec![0u8; shmptr::NAME_MAX]);
    file.read_exact_at(&mut len, NAME_LEN_AT).unwrap();
    file.read_exact_at(&mut field, NAME_AT).unwrap();
    let mut forged = vec![0u8; shmptr::NAME_MAX];
    forged[..name.len()].copy_from_slice(name);
    file.write_all_at(&(name.len() as u32).to_ne_bytes(), NAME_LEN_AT).unwrap();
    file.write_all_at(&forged, NAME_AT).unwrap();
    (len, field)
}

fn restore_name(object: &str, (len, field): ([u8; 4], Vec<u8>)) {
    let file = std::fs::OpenOptions::new().write(true).open(Scope::path(object)).unwrap();
    file.write_all_at(&len, NAME_LEN_AT).unwrap();
    file.write_all_at(&field, NAME_AT).unwrap();
}

/// Exit codes of the child.
const SAME_OBJECT: i32 = 0;
const REFUSED: i32 = 3;
const ANOTHER_OBJECT: i32 = 1;

/// A clone of a handle is a handle on the same object (`Shared::ptr_eq`-like:
/// reads what the original reads). In a forked child the clone re-opens by the
/// name stored in the segment, which a peer (or `shmptr rm --force` and a new
/// create) can make another object's: the clone must then be refused (it may
/// panic, as documented), never silently be a handle on the other object.
#[test]
fn a_clone_in_a_forked_child_is_never_a_handle_on_another_object() {
    let scope = Scope::new("s17.fork.reopen");
    let (a_name, b_name) = (scope.name("a"), scope.name("b"));
    let a = Shared::<AtomicU64>::create(&a_name, AtomicU64::new(1)).unwrap();
    let b = Shared::<AtomicU64>::create(&b_name, AtomicU64::new(2)).unwrap();
    let saved = store_name(&a_name, b_name.as_bytes());
    // SAFETY: as in linux_processes.rs: the child touches shared memory, makes
    // syscalls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match catch_unwind(AssertUnwindSafe(|| a.clone())) {
            Ok(clone) if clone.load(Ordering::Relaxed) == 1 => SAME_OBJECT,
            Ok(_) => ANOTHER_OBJECT,
            Err(_) => REFUSED,
        };
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    restore_name(&a_name, saved);
    drop((a, b));
    let leftovers = scope.leftovers();
    assert!(leftovers.is_empty(), "left in /dev/shm: {leftovers:?}");
    assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
    let code = libc::WEXITSTATUS(status);
    assert!(
        code == SAME_OBJECT || code == REFUSED,
        "the forked child's clone of its handle on {a_name} is a handle on {b_name} (reads 2, not 1): \
         reopen_inherited opens whatever the stored name now names (exit {code})"
    );
}
