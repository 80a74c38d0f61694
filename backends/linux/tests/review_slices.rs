//! Adversarial review of issue 13 (runtime-sized objects, builders, `Released`)
//! with real processes, `fork()` and threads. A test marked `#[ignore = "bug: .."]`
//! fails on the code it was written against and shows the bug it names; the others
//! show an attack that is defended and stay as regression tests.
#![cfg(target_os = "linux")]

mod linux_support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use linux_support::{role, wait_for, Control, Scope, BOUND};
use shmptr_linux::{ErrorKind, Shared, Unique};

/// Runs this test binary again as `role` in test `test` and waits (bounded) for
/// its exit status: for children expected to die or fail.
fn run_role(scope: &Scope, test: &str, role: &str) -> ExitStatus {
    scope.spawn(test, role).status()
}

/// `fork()` in a role process (its only other thread is the harness's main
/// thread, blocked waiting for this test).
fn fork() -> libc::pid_t {
    // SAFETY: see above; the child runs only code that is fine after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    pid
}

/// In a forked child: exits with what `body` returns (99 if it panics), running
/// nothing else of this process.
fn child_exits_with(body: impl FnOnce() -> i32) -> ! {
    let code = catch_unwind(AssertUnwindSafe(body)).unwrap_or(99);
    // SAFETY: _exit(2) ends the forked child at once.
    unsafe { libc::_exit(code) }
}

/// What became of the forked child `pid` (bounded wait, then SIGKILL): its exit
/// code, or 128 + the signal that killed it.
fn reap(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + BOUND;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child with a valid status pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(got >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if got == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            return 128 + libc::WTERMSIG(status);
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Fails the test unless its role exited with 0, naming what the role found.
fn role_succeeds(status: ExitStatus, what: &[(i32, &str)]) {
    match status.code() {
        Some(0) => {}
        Some(code) => {
            let named = what.iter().find(|(c, _)| *c == code).map_or("the role failed (see its output)", |(_, w)| w);
            panic!("{named} (exit status {code})");
        }
        None => panic!("the role was killed: {status}"),
    }
}

// ---- A `Released` inherited by a forked child ----

const CHILD_COUNT_ZEROED: i32 = 2;
const CHILD_KILLED_BY_SEGV: i32 = 128 + libc::SIGSEGV;
const CHILD_OTHER: i32 = 3;

/// The role of the two tests below: creates and `release_mapped`s a frame, forks,
/// and in the child opens an object of its own, then drops the inherited
/// `Released`. `then` runs in the child on the child's own handle afterwards.
fn released_inherited_by_a_child(scope: &Scope, then: fn(&Shared<AtomicU64>) -> i32) -> i32 {
    let (frame_name, own_name) = (scope.name("frame"), scope.name("own"));
    let frame = Unique::<[u8]>::create_slice_zeroed(&frame_name, 4096).unwrap();
    let parked = Unique::release_mapped(frame);
    let pid = fork();
    if pid == 0 {
        child_exits_with(|| {
            // The child's own object: its mapping takes the first record of this
            // process's table that the child counts as free, which is the parent's
            // record of the parked frame's mapping.
            let own = Shared::<AtomicU64>::create(&own_name, AtomicU64::new(7)).unwrap();
            assert_eq!(Shared::strong_count(&own), 1);
            // The parent's `Released`, inherited: dropping it must touch nothing
            // of the child's (as an inherited `Shared` or `Unique`, it is inert).
            drop(parked);
            let code = then(&own);
            // Leaves the child's object behind on purpose when it went wrong: the
            // parent removes it (a drop could unmap twice).
            match code {
                0 => drop(own),
                _ => std::mem::forget(own),
            }
            code
        });
    }
    let code = reap(pid);
    drop(parked);
    drop(Unique::<[u8]>::claim(&frame_name).unwrap());
    let _ = std::fs::remove_file(Scope::path(&own_name));
    code
}

#[test]
fn review_a_released_dropped_in_a_forked_child_leaves_the_childs_own_handle_count_alone() {
    const TEST: &str = "review_a_released_dropped_in_a_forked_child_leaves_the_childs_own_handle_count_alone";
    let scope = Scope::new(TEST);
    if role().is_some() {
        let code = released_inherited_by_a_child(&scope, |own| match Shared::strong_count(own) {
            1 => 0,
            _ => CHILD_COUNT_ZEROED,
        });
        std::process::exit(code);
    }
    let status = run_role(&scope, TEST, "forker");
    role_succeeds(
        status,
        &[
            (CHILD_COUNT_ZEROED, "the child's only handle counts 0 after it dropped the inherited Released"),
            (CHILD_KILLED_BY_SEGV, "the child died of SIGSEGV"),
        ],
    );
    assert!(scope.leftovers().is_empty());
}

#[test]
fn review_a_released_dropped_in_a_forked_child_never_unmaps_a_live_handle_of_the_child() {
    const TEST: &str = "review_a_released_dropped_in_a_forked_child_never_unmaps_a_live_handle_of_the_child";
    let scope = Scope::new(TEST);
    if role().is_some() {
        let code = released_inherited_by_a_child(&scope, |own| {
            // A clone and its drop: with the count intact (1 -> 2 -> 1) nothing
            // is unmapped; with it zeroed (0 -> 1 -> 0) the mapping goes.
            drop(own.clone());
            // Safe code reading through the handle that is still alive.
            match own.load(Ordering::Relaxed) {
                7 => 0,
                _ => CHILD_OTHER,
            }
        });
        std::process::exit(code);
    }
    let status = run_role(&scope, TEST, "forker");
    role_succeeds(
        status,
        &[
            (CHILD_KILLED_BY_SEGV, "the child's live Shared was unmapped under it: SIGSEGV reading it"),
            (CHILD_OTHER, "the child read another value through its live handle"),
        ],
    );
    assert!(scope.leftovers().is_empty());
}

#[test]
fn review_a_released_claimed_in_a_forked_child_shares_no_record_with_the_childs_next_mapping() {
    const TEST: &str = "review_a_released_claimed_in_a_forked_child_shares_no_record_with_the_childs_next_mapping";
    let scope = Scope::new(TEST);
    if role().is_some() {
        let (frame_name, own_name) = (scope.name("frame"), scope.name("own"));
        let mut frame = Unique::<[u8]>::create_slice_zeroed(&frame_name, 4096).unwrap();
        frame.fill(1);
        let parked = Unique::release_mapped(frame);
        let pid = fork();
        if pid == 0 {
            child_exits_with(|| {
                // Claimed through the inherited mapping (the object is released:
                // the claim itself is legitimate).
                let mut frame = match parked.claim() {
                    Ok(frame) => frame,
                    Err(_) => return 0, // refused in a child: fine too
                };
                frame.fill(2);
                let own = Shared::<AtomicU64>::create(&own_name, AtomicU64::new(7)).unwrap();
                drop(frame); // destroys the frame: through the record `own` uses?
                let code = match Shared::strong_count(&own) {
                    1 => 0,
                    _ => CHILD_COUNT_ZEROED,
                };
                match code {
                    0 => drop(own),
                    _ => std::mem::forget(own),
                }
                code
            });
        }
        let code = reap(pid);
        drop(parked);
        if let Ok(frame) = Unique::<[u8]>::claim(&frame_name) {
            drop(frame);
        }
        let _ = std::fs::remove_file(Scope::path(&own_name));
        std::process::exit(code);
    }
    let status = run_role(&scope, TEST, "forker");
    role_succeeds(
        status,
        &[
            (CHILD_COUNT_ZEROED, "the child's own Shared counts no handle after the claimed frame dropped"),
            (CHILD_KILLED_BY_SEGV, "the child died of SIGSEGV"),
        ],
    );
    assert!(scope.leftovers().is_empty());
}

// ---- A child forked inside a slice initializer ----

const PARENT_NAME_GONE: i32 = 2;
const ELEMENTS_DROPPED_BY_CHILD: i32 = 4;

/// A slice element whose drops are counted in a `Control` object (by name).
#[repr(C)]
struct Counted {
    control: shmptr::ShmString<200>,
    index: AtomicU64,
}
shmptr::shm_safe!(Counted { control, index });

impl Drop for Counted {
    fn drop(&mut self) {
        let name = self.control.get().expect("UTF-8");
        if let Ok(control) = Shared::<Control>::open(&name) {
            control.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn review_a_child_forked_in_a_slice_initializer_that_panics_leaves_the_parents_object_alone() {
    const TEST: &str = "review_a_child_forked_in_a_slice_initializer_that_panics_leaves_the_parents_object_alone";
    let scope = Scope::new(TEST);
    if role().is_some() {
        let (control_name, name) = (scope.name("control"), scope.name("table"));
        let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let parent = std::process::id();
        let mut child = 0;
        let made = catch_unwind(AssertUnwindSafe(|| {
            Shared::<[Counted]>::create_slice_with(&name, 4, |i| {
                if i == 2 {
                    child = fork();
                    if child == 0 {
                        // The child gives up in the middle of the parent's
                        // initializer: its panic unwinds through the library.
                        panic!("the forked child gives up");
                    }
                }
                Counted {
                    control: shmptr::ShmString::try_from(control_name.as_str()).unwrap(),
                    index: AtomicU64::new(i as u64),
                }
            })
        }));
        if std::process::id() != parent {
            // The child, after its panic went through `create_slice_with`.
            // SAFETY: _exit(2) ends the forked child at once.
            unsafe { libc::_exit(if made.is_err() { 99 } else { 98 }) };
        }
        let table = made.unwrap().unwrap();
        assert_eq!(reap(child), 99, "the child panicked");
        let mut code = 0;
        if control.drops.load(Ordering::SeqCst) != 0 {
            code |= ELEMENTS_DROPPED_BY_CHILD;
        }
        if !Scope::exists(&name) {
            code |= PARENT_NAME_GONE;
        }
        drop(table);
        drop(control);
        let _ = std::fs::remove_file(Scope::path(&name));
        std::process::exit(code);
    }
    let status = run_role(&scope, TEST, "forker");
    role_succeeds(
        status,
        &[
            (PARENT_NAME_GONE, "the parent's published object lost its name to the child's unwind"),
            (ELEMENTS_DROPPED_BY_CHILD, "the child's unwind dropped elements of the parent's object"),
            (
                PARENT_NAME_GONE | ELEMENTS_DROPPED_BY_CHILD,
                "the child's unwind unlinked the parent's published object and dropped its elements",
            ),
        ],
    );
    assert!(scope.leftovers().is_empty());
}

// ---- Two owners of one object in one address space ----

#[test]
fn review_a_released_claim_and_a_claim_by_name_in_two_threads_never_both_own() {
    let scope = Scope::new("review_a_released_claim_and_a_claim_by_name_in_two_threads_never_both_own");
    let name = scope.name("frame");
    let frame = Unique::<[u64]>::create_slice_zeroed(&name, 64).unwrap();
    let mut parked = Some(Unique::release_mapped(frame));
    let owners = Arc::new(AtomicU32::new(0));
    let claims = Arc::new(AtomicU64::new(0));
    let max_owners = Arc::new(AtomicU32::new(0));
    for _ in 0..300 {
        let barrier = Arc::new(Barrier::new(2));
        let by_name = {
            let (barrier, owners, max_owners, claims, name) =
                (barrier.clone(), owners.clone(), max_owners.clone(), claims.clone(), name.clone());
            std::thread::spawn(move || {
                barrier.wait();
                if let Ok(mut frame) = Unique::<[u64]>::claim(&name) {
                    let now = owners.fetch_add(1, Ordering::SeqCst) + 1;
                    max_owners.fetch_max(now, Ordering::SeqCst);
                    frame[0] += 1;
                    claims.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                    owners.fetch_sub(1, Ordering::SeqCst);
                    Some(Unique::release_mapped(frame))
                } else {
                    None
                }
            })
        };
        barrier.wait();
        let mine = parked.take().unwrap();
        let mine = match mine.claim() {
            Ok(mut frame) => {
                let now = owners.fetch_add(1, Ordering::SeqCst) + 1;
                max_owners.fetch_max(now, Ordering::SeqCst);
                frame[1] += 1;
                claims.fetch_add(1, Ordering::SeqCst);
                std::thread::yield_now();
                owners.fetch_sub(1, Ordering::SeqCst);
                Unique::release_mapped(frame)
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Busy);
                e.into_released()
            }
        };
        // Keep one of the (up to two) mappings: both are parked handles of the
        // same released object.
        let theirs = by_name.join().unwrap();
        drop(theirs);
        parked = Some(mine);
    }
    assert_eq!(max_owners.load(Ordering::SeqCst), 1, "two owners of one object at once in one process");
    let frame = parked.take().unwrap().claim().unwrap();
    assert_eq!(frame[0] + frame[1], claims.load(Ordering::SeqCst), "every claim's write landed once");
    assert!(claims.load(Ordering::SeqCst) >= 300, "each round at least one claim succeeded");
    drop(frame);
    assert!(!Scope::exists(&name));
}

#[test]
fn review_get_mut_on_a_shared_slice_refuses_a_concurrent_open_in_this_process() {
    let scope = Scope::new("review_get_mut_on_a_shared_slice_refuses_a_concurrent_open_in_this_process");
    let name = scope.name("table");
    let mut table = Shared::<[AtomicU64]>::create_slice_zeroed(&name, 16).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let saw_odd = Arc::new(AtomicU32::new(0));
    let opener = {
        let (stop, saw_odd, name) = (stop.clone(), saw_odd.clone(), name.clone());
        std::thread::spawn(move || {
            let mut opened = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(other) = Shared::<[AtomicU64]>::open(&name) {
                    opened += 1;
                    // The lender leaves every element even between loans; an odd
                    // one is a `&mut` alive while we hold a `&`.
                    if other.iter().any(|v| v.load(Ordering::Relaxed) % 2 == 1) {
                        saw_odd.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            opened
        })
    };
    let deadline = Instant::now() + Duration::from_millis(400);
    let mut loans = 0u32;
    while Instant::now() < deadline {
        if let Some(mut sole) = Shared::get_mut(&mut table) {
            loans += 1;
            for v in sole.iter_mut() {
                *v.get_mut() += 1; // odd while lent
            }
            for v in sole.iter_mut() {
                *v.get_mut() += 1; // even again before the loan ends
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let opened = opener.join().unwrap();
    assert_eq!(saw_odd.load(Ordering::SeqCst), 0, "an open in another thread saw a loan's writes in flight");
    assert!(loans > 0 && opened > 0, "both sides ran (loans {loans}, opens {opened})");
    drop(table);
    assert!(!Scope::exists(&name));
}

// ---- Racing creators in several processes ----

const RACERS: u32 = 4;

#[test]
fn review_open_or_create_slice_with_status_in_several_processes_creates_exactly_once() {
    const TEST: &str = "review_open_or_create_slice_with_status_in_several_processes_creates_exactly_once";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("table"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        control.ready.fetch_add(1, Ordering::SeqCst);
        wait_for(&control.go, 1);
        for round in 0..20u32 {
            let (table, created) =
                Shared::<[u32]>::options().open_or_create_slice_with_status(&name, 1000, |i| i as u32 + round).unwrap();
            if created {
                control.drops.fetch_add(1, Ordering::SeqCst);
            }
            assert_eq!(table.len(), 1000);
            let first = table[0];
            assert!(table.iter().enumerate().all(|(i, &v)| v == i as u32 + first), "a whole table");
            // Everyone holds it until all have seen this round.
            control.done.fetch_add(1, Ordering::SeqCst);
            wait_for(&control.done, RACERS * (round + 1));
            drop(table);
            // Then all wait until it is gone before the next round.
            let deadline = Instant::now() + BOUND;
            while Scope::exists(&name) {
                assert!(Instant::now() < deadline, "the table outlived its holders");
                std::thread::sleep(Duration::from_micros(200));
            }
            control.ready.fetch_add(1, Ordering::SeqCst);
            wait_for(&control.ready, RACERS * (round + 2));
        }
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let kids: Vec<_> = (0..RACERS).map(|_| scope.spawn(TEST, "racer")).collect();
    wait_for(&control.ready, RACERS);
    control.go.store(1, Ordering::Release);
    for kid in kids {
        kid.succeeds();
    }
    assert_eq!(control.drops.load(Ordering::SeqCst), 20, "exactly one creator per round");
    drop(control);
    assert!(scope.leftovers().is_empty());
}

// ---- A creator's initializer re-entering the library ----

#[test]
fn review_a_slice_initializer_that_opens_its_own_name_times_out_and_the_create_still_succeeds() {
    let scope =
        Scope::new("review_a_slice_initializer_that_opens_its_own_name_times_out_and_the_create_still_succeeds");
    let name = scope.name("table");
    let mut inner = Vec::new();
    let table = Shared::<[u32]>::create_slice_with(&name, 3, |i| {
        if i == 1 {
            let opened = Shared::<[u32]>::options().timeout(Duration::from_millis(20)).open(&name);
            inner.push(opened.map(|_| ()).unwrap_err().kind());
            let again = Shared::<[u32]>::create_slice_zeroed(&name, 3);
            inner.push(again.map(|_| ()).unwrap_err().kind());
            let claimed = Unique::<[u32]>::options().timeout(Duration::from_millis(20)).claim(&name);
            inner.push(claimed.map(|_| ()).unwrap_err().kind());
        }
        i as u32
    })
    .unwrap();
    assert_eq!(inner, [ErrorKind::Timeout, ErrorKind::AlreadyExists, ErrorKind::Timeout]);
    assert_eq!(&*table, &[0, 1, 2]);
    assert_eq!(&*Shared::<[u32]>::open(&name).unwrap(), &[0, 1, 2]);
    drop(table);
    assert!(!Scope::exists(&name));
}

#[test]
fn review_a_panicking_unique_slice_initializer_lets_a_racing_process_create_the_name() {
    const TEST: &str = "review_a_panicking_unique_slice_initializer_lets_a_racing_process_create_the_name";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("frame"));
    if role().is_some() {
        // The racer: waits until the creator is inside its initializer, then
        // opens-or-creates until it gets an object; it must be its own.
        let control = Shared::<Control>::open(&control_name).unwrap();
        wait_for(&control.ready, 1);
        let (table, created) = Shared::<[u8]>::options()
            .timeout(Duration::from_secs(10))
            .open_or_create_slice_with_status(&name, 8, |_| 9)
            .or_else(|e| match e.kind() {
                // The creator's object is a Unique: a racer that meets it sees a
                // TypeMismatch; try again once the creator has unwound.
                ErrorKind::TypeMismatch => {
                    wait_for(&control.go, 1);
                    Shared::<[u8]>::options().open_or_create_slice_with_status(&name, 8, |_| 9)
                }
                _ => Err(e),
            })
            .unwrap();
        assert!(created, "the panicking creator's object is gone");
        assert!(table.iter().all(|&b| b == 9));
        control.done.store(1, Ordering::Release);
        wait_for(&control.drops, 1);
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let kid = scope.spawn(TEST, "racer");
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Unique::<[u8]>::create_slice_with(&name, 8, |i| {
            if i == 5 {
                control.ready.store(1, Ordering::Release);
                std::thread::sleep(Duration::from_millis(50));
                panic!("the initializer gives up");
            }
            1
        })
    }));
    assert!(outcome.is_err());
    control.go.store(1, Ordering::Release);
    wait_for(&control.done, 1);
    control.drops.store(1, Ordering::Release);
    kid.succeeds();
    assert!(!Scope::exists(&name));
    drop(control);
}
