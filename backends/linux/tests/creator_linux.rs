//! A creator that is slow or stopped keeps its object; only a creator that is gone
//! leaves it `Abandoned`. Real processes (the test binary re-executed with a role,
//! see `linux_support`), every wait bounded, `/dev/shm` left clean.
//!
//! The Linux creator holds a lock (`flock(LOCK_EX)`) on its file from before it
//! sizes it until it publishes `Ready`; openers ask whether anyone holds it. These
//! tests stop a creator before its header exists, and while its initializer runs
//! (after the header), and plant lock holders by hand.
//!
//! Before the header there is no hook on Linux to stop at, so the test makes the
//! window wide: the creator reserves 1 GiB (`fallocate`, ~0.1 s here) between
//! sizing the file and writing the header. The parent waits for the file's full
//! size, sends `SIGSTOP` (it takes effect when that call returns, before the
//! header is written), and checks that the header is still blank; if the stop
//! came too late, it tries again with a new name (never needed in 30 runs here).
#![cfg(target_os = "linux")]

mod linux_support;

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linux_support::{role, wait_for, Control, Kid, Scope, BOUND};
use shmptr_linux::{ErrorKind, Shared};

/// 1 GiB: its `fallocate` takes ~0.1 s here, the window in which the file has its
/// full size and no header yet.
type Big = [AtomicU64; 128 << 20];
const BIG_BYTES: u64 = std::mem::size_of::<Big>() as u64;

/// What an opener waits for a creator in these tests.
const WAIT: Duration = Duration::from_millis(300);

/// The `State` word (offset 8 of the header): blank, and being written.
const BLANK: u32 = 0;
const INITIALIZING: u32 = 0x494e_4954;

fn path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

fn inode(name: &str) -> u64 {
    std::fs::metadata(path(name)).expect("the object exists").ino()
}

/// The header's state word as the file holds it now (`None`: shorter than that).
fn state_word(name: &str) -> Option<u32> {
    use std::io::Read;
    let mut bytes = [0u8; 12];
    let mut file = std::fs::File::open(path(name)).ok()?;
    file.read_exact(&mut bytes).ok()?;
    Some(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()))
}

/// Waits (bounded) until `kid` is stopped (state `T` in `/proc/<pid>/stat`).
fn wait_stopped(kid: &Kid) {
    let deadline = Instant::now() + BOUND;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", kid.pid())).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        if state == Some('T') {
            return;
        }
        assert!(Instant::now() < deadline, "child {} never stopped: {stat}", kid.pid());
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// `open::<T>` and `open_or_create` of `name`, each with a `WAIT` timeout, both
/// `Timeout`, and the file is still the one with inode `ino`.
///
/// `open_or_create` is that of a `Shared<u64>`: a `T` of 1 GiB cannot pass through
/// its by-value `make` (nor its stack frame), and the type is checked only once
/// the object is `Ready`, so an unfinished object meets the same decision; should
/// it remove the object, `make` runs and fails the test.
fn both_time_out<T: shmptr::ShmSafe>(name: &str, ino: u64, what: &str) {
    let t = Instant::now();
    let e = Shared::<T>::options().timeout(WAIT).open(name).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "open, {what}: {e}");
    assert!(t.elapsed() >= WAIT, "open, {what}: waited the whole timeout");
    let replace = || -> u64 { panic!("open_or_create, {what}: made a new object over a live creator's") };
    let e = Shared::<u64>::options().timeout(WAIT).open_or_create(name, replace).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "open_or_create, {what}: {e}");
    assert_eq!(inode(name), ino, "{what}: the creator's file is still there, not replaced");
}

/// The role of a creator of a `Big` named `name`: its initializer writes 7 at
/// index 1, reports `ready`, and waits for `go` 1; once created it reports `done`,
/// waits for `go` 2 and checks the parent's 9 at index 2 through its own handle.
fn big_creator(control_name: &str, name: &str) {
    let control = Shared::<Control>::open(control_name).unwrap();
    let big = Shared::<Big>::create_with(name, |v| {
        *v[1].get_mut() = 7;
        control.ready_then_wait_for_go();
    })
    .unwrap();
    control.done.store(1, Ordering::Release);
    wait_for(&control.go, 2);
    assert_eq!(big[2].load(Ordering::Relaxed), 9, "the parent's write, read through the creator's handle");
}

/// Starts `big_creator` in a child and stops it while its object has its full
/// size and a blank header (during its `fallocate`). Tries again, with a new
/// name, when the stop came after the header.
fn stop_a_creator_before_its_header(scope: &Scope, test: &str) -> (Shared<Control>, Kid, String) {
    for attempt in 0..5 {
        let (control_name, name) = (scope.name(&format!("control{attempt}")), scope.name(&format!("big{attempt}")));
        let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let kid = scope.spawn(test, &format!("creator{attempt}"));
        let deadline = Instant::now() + BOUND;
        while std::fs::metadata(path(&name)).map_or(true, |m| m.len() < BIG_BYTES) {
            assert!(Instant::now() < deadline, "the creator never sized its object");
            std::hint::spin_loop();
        }
        kid.signal(libc::SIGSTOP);
        wait_stopped(&kid);
        if state_word(&name) == Some(BLANK) {
            return (control, kid, name);
        }
        println!("attempt {attempt}: the creator wrote its header before it stopped; again");
        kid.kill();
        let _ = std::fs::remove_file(path(&name));
    }
    panic!("never stopped a creator before its header in 5 attempts");
}

/// The names of a child's attempt, from its role `creator<attempt>` (see
/// `stop_a_creator_before_its_header`).
fn attempt_names(scope: &Scope, role: &str) -> (String, String) {
    let attempt = role.strip_prefix("creator").expect("a creator's role");
    (scope.name(&format!("control{attempt}")), scope.name(&format!("big{attempt}")))
}

#[test]
fn a_stopped_creator_keeps_its_object() {
    const TEST: &str = "a_stopped_creator_keeps_its_object";
    let scope = Scope::new(TEST);
    if let Some(role) = role() {
        let (control_name, name) = attempt_names(&scope, &role);
        big_creator(&control_name, &name);
        return;
    }
    // Stopped before its header: a blank file of full size, its lock held.
    let (control, kid, name) = stop_a_creator_before_its_header(&scope, TEST);
    let ino = inode(&name);
    both_time_out::<Big>(&name, ino, "stopped before the header");
    assert_eq!(state_word(&name), Some(BLANK));
    kid.signal(libc::SIGCONT);
    // Stopped again inside its initializer: the header is written, not `Ready`.
    wait_for(&control.ready, 1);
    kid.signal(libc::SIGSTOP);
    wait_stopped(&kid);
    assert_eq!(state_word(&name), Some(INITIALIZING));
    both_time_out::<Big>(&name, ino, "stopped in its initializer");
    control.go.store(1, Ordering::Release);
    kid.signal(libc::SIGCONT);
    // It finishes: one object, seen by both.
    wait_for(&control.done, 1);
    let seen = Shared::<Big>::options().timeout(BOUND).open(&name).unwrap();
    assert_eq!(inode(&name), ino);
    assert_eq!(seen[1].load(Ordering::Relaxed), 7, "the creator's initializer wrote this object");
    seen[2].store(9, Ordering::Relaxed);
    assert_eq!(Shared::process_count(&seen), 2);
    control.go.store(2, Ordering::Release);
    kid.succeeds();
    drop(seen);
    assert!(!Scope::exists(&name), "the last holder removed it");
}

#[test]
fn a_stopped_creator_killed_is_abandoned_then_replaced() {
    const TEST: &str = "a_stopped_creator_killed_is_abandoned_then_replaced";
    let scope = Scope::new(TEST);
    if let Some(role) = role() {
        let (control_name, name) = attempt_names(&scope, &role);
        big_creator(&control_name, &name);
        unreachable!("killed before its header");
    }
    let (_control, kid, name) = stop_a_creator_before_its_header(&scope, TEST);
    let ino = inode(&name);
    both_time_out::<Big>(&name, ino, "stopped before the header");
    kid.kill(); // SIGKILL while stopped, reaped: the kernel dropped its lock
    let t = Instant::now();
    let e = Shared::<Big>::options().timeout(WAIT).open(&name).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Abandoned, "{e}");
    assert!(t.elapsed() >= WAIT, "a blank object is judged only once the timeout has passed");
    assert_eq!(inode(&name), ino, "open reports, never removes");
    assert_eq!(Shared::<Big>::options().timeout(WAIT).reclaim(&name).unwrap(), 0);
    assert!(!Scope::exists(&name), "reclaim removed the abandoned object");
    let fresh = Shared::<Big>::create_zeroed(&name).unwrap();
    assert_eq!(fresh[1].load(Ordering::Relaxed), 0);
    drop(fresh);
    assert!(!Scope::exists(&name));
}

/// `flock(fd, LOCK_EX)` as a creator takes it, on a descriptor of our own: flock
/// locks belong to open file descriptions, so shmptr's probe (another one)
/// conflicts with it even in this process.
fn hold_lock(name: &str) -> std::fs::File {
    let file = std::fs::File::open(path(name)).unwrap();
    // SAFETY: flock(2) on a descriptor we own, open for the whole call.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    file
}

/// Writes `bytes` as the object `name`, mode 0600 (the same inode if it exists).
fn plant(name: &str, bytes: &[u8]) {
    std::fs::write(path(name), bytes).unwrap();
    std::fs::set_permissions(path(name), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn open_kind(name: &str) -> ErrorKind {
    Shared::<u64>::options().timeout(WAIT).open(name).map(drop).unwrap_err().kind()
}

#[test]
fn a_short_or_blank_file_whose_creator_holds_the_lock_is_waited_on() {
    const TEST: &str = "a_short_or_blank_file_whose_creator_holds_the_lock_is_waited_on";
    let scope = Scope::new(TEST);
    let name = scope.name("x");
    let real_len = {
        let object = Shared::<u64>::create(&name, 1).unwrap();
        let len = std::fs::metadata(path(&name)).unwrap().len() as usize;
        drop(object);
        len
    };
    // Shorter than a header (not yet sized), locked: the creator's; then not.
    for len in [0, 100] {
        plant(&name, &vec![0; len]);
        let lock = hold_lock(&name);
        both_time_out::<u64>(&name, inode(&name), "a short file, locked");
        assert_eq!(std::fs::metadata(path(&name)).unwrap().len(), len as u64, "never resized");
        drop(lock);
        // Empty, nobody creating it: a creator that died before sizing it (it
        // sizes before it writes a byte). 100 bytes: no creator writes that.
        let expected = if len == 0 { ErrorKind::Abandoned } else { ErrorKind::Corrupt };
        assert_eq!(open_kind(&name), expected, "{len} bytes, nobody creating it");
    }
    // Full size, blank, locked: the creator's; then abandoned and replaced.
    plant(&name, &vec![0; real_len]);
    let lock = hold_lock(&name);
    let ino = inode(&name);
    both_time_out::<u64>(&name, ino, "a blank file, locked");
    drop(lock);
    assert_eq!(open_kind(&name), ErrorKind::Abandoned);
    let fresh = Shared::<u64>::options().timeout(WAIT).open_or_create(&name, || 5).unwrap();
    assert_eq!(*fresh, 5);
    assert_ne!(inode(&name), ino, "replaced by a new object");
    drop(fresh);
    assert!(!Scope::exists(&name));
}

#[test]
fn a_locked_creator_is_alive_whatever_proc_says() {
    const TEST: &str = "a_locked_creator_is_alive_whatever_proc_says";
    let scope = Scope::new(TEST);
    let (_control, name) = scope.creator_killed_mid_init(TEST);
    // The header names a creator that `/proc` shows dead. A lock on the file says
    // a creator still works on it (as when `/proc` cannot see a live creator):
    // the lock wins.
    assert_eq!(state_word(&name), Some(INITIALIZING));
    let lock = hold_lock(&name);
    both_time_out::<[u64; 8]>(&name, inode(&name), "a dead creator's header, locked");
    drop(lock);
    let t = Instant::now();
    assert_eq!(
        Shared::<[u64; 8]>::options().timeout(Duration::from_secs(5)).open(&name).map(drop).unwrap_err().kind(),
        ErrorKind::Abandoned
    );
    assert!(t.elapsed() < Duration::from_secs(1), "a header with no lock and a dead creator is not waited on");
    let fresh = Shared::<[u64; 8]>::open_or_create(&name, || [1; 8]).unwrap();
    assert_eq!(fresh[7], 1);
    drop(fresh);
    assert!(!Scope::exists(&name));
}

/// Whether someone holds `LOCK_EX` on `name`: our own `LOCK_SH | LOCK_NB` probe.
fn locked(name: &str) -> bool {
    let file = std::fs::File::open(path(name)).unwrap();
    // SAFETY: flock(2) on a descriptor we own; closing it drops a lock we got.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_creator_holds_its_lock_and_one_descriptor_only_until_ready() {
    const TEST: &str = "a_creator_holds_its_lock_and_one_descriptor_only_until_ready";
    let scope = Scope::new(TEST);
    if role().is_none() {
        // Alone in a child, so that no other test's descriptors come and go.
        scope.spawn(TEST, "counter").succeeds();
        return;
    }
    // Whatever shmptr keeps for the process (its identity) is there after one create.
    drop(Shared::<u64>::create(&scope.name("warm-up"), 0).unwrap());
    let before = open_descriptors();
    let names: Vec<_> = (0..3).map(|i| scope.name(&format!("x{i}"))).collect();
    let mut during = Vec::new();
    let objects: Vec<_> = names
        .iter()
        .map(|name| {
            Shared::<u64>::create_with(name, |v| {
                *v = 3;
                during.push((locked(name), open_descriptors()));
            })
            .unwrap()
        })
        .collect();
    for (i, (was_locked, fds)) in during.iter().enumerate() {
        assert!(was_locked, "object {i} is locked while its creator initializes it");
        // `locked` and `read_dir` have closed theirs; the creator's lock is one.
        assert_eq!(*fds, before + 1, "object {i}: one extra descriptor while creating");
    }
    for name in &names {
        assert!(!locked(name), "{name}: unlocked once Ready");
    }
    assert_eq!(open_descriptors(), before, "no descriptor kept once Ready");
    drop(objects);
    for name in &names {
        assert!(!Scope::exists(name));
    }
}
