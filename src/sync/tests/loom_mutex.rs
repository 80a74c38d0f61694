//! loom models of [`Mutex`](crate::sync::Mutex): exclusion, wake-ups, and a dead
//! owner.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`mutex_exclusion`]: two processes lock, take a turn, unlock: never two
//!   holders, each sees the previous one's write, the count is exact, and a locker
//!   that sleeps is woken by the unlock.
//! - [`mutex_exclusion_three`]: process 1 holds the lock, process 2 sleeps on it,
//!   process 1 unlocks (waking it) and process 3 arrives: process 3 may take the lock
//!   first (process 2 then sleeps again) or sleep until process 2 unlocks; each
//!   unlock wakes the one left; the same checks.
//! - [`mutex_owner_died_try_lock`], [`mutex_owner_died_lock`]: the owner died
//!   holding the lock; two processes take it, with `try_lock` (then `lock` if
//!   `Busy`, or `try_lock` again), or with `lock`, which notices the death after one
//!   slice. Exactly one gets `OwnerDied` with the guard; the other then locks
//!   normally (after sleeping, if it was in `lock`) if the first called
//!   `make_consistent`, or gets `NotRecoverable`, as does every later `lock` and
//!   `try_lock`, if it did not; never two holders.
//!
//! On the kernel path (every thread in the emulated kernel's lock domain; see
//! `sync::tests`):
//! - [`mutex_kernel_exclusion`]: as `mutex_exclusion`; a locker that sleeps is
//!   woken portably by the unlock, or handed the word in the kernel.
//! - [`mutex_kernel_exclusion_three`]: process 2 sleeps in the kernel when process
//!   1 unlocks, so it is handed the word: process 3, arriving then, never locks
//!   first; each unlock wakes or hands over to the one left.
//! - [`mutex_kernel_holder_dies`]: the holder (the dead process, alive until then)
//!   exits holding the lock while process 2 locks: `OwnerDied`, handed over by the
//!   kernel if process 2 slept there, else after its portable sleep ran out; then
//!   usable if repaired, `NotRecoverable` if not.
//! - [`mutex_kernel_holder_dies_two_waiters`]:
//!   the same with process 2 asleep in the kernel and process 3 arriving: process 2
//!   is handed the word, process 3 gets the lock after it.
//! - [`mutex_kernel_vanished_holder`]: a thread exited holding the lock, nobody
//!   asleep, and the platform cannot tell it is dead: only the kernel's
//!   `NoSuchHolder` lets processes 1 and 2 take it over; exactly one `OwnerDied`.
//! - [`mutex_kernel_dead_holder_two_lockers`]:
//!   the dead process's lock, taken over by `lock` (process 1) or `try_lock`
//!   (process 2); exactly one `OwnerDied`.
//!
//! Across domains:
//! - [`mutex_mixed_domains`]: process 2 in the domain, process 1 not: never two
//!   holders, and each one's unlock wakes the other.
//! - [`mutex_mixed_domains_three`]: process 2 (in the domain) holds, process 3 (in
//!   it) sleeps in the kernel, process 1 (not in it) sleeps portably: process 2's
//!   unlock hands the word to process 3 and wakes process 1, which gets the lock
//!   after process 3's unlock wakes it again, never before.

use std::format;
use std::string::String;

use loom::thread;

use loom::sync::Arc;

use super::{lock_as_dead, model, sleeps, warmed_mutex, TestMutex};
use crate::error::ErrorKind;
use crate::loom_support::{
    address, become_process, exit_thread, main_turn, slept_on, spawn_as, spawn_in_kernel, use_kernel, vanish_thread,
    which, DEAD, FUTEX,
};
use crate::sync::{LockError, MutexGuard};

/// Locks `mutex` (whose owner is alive), takes a turn and unlocks: (turns before
/// this one, how many times this thread slept and was woken).
fn lock_turn(mutex: &TestMutex) -> (u32, usize) {
    let guard = mutex.lock().expect("locking a mutex with live owners");
    let before = guard.turn(1);
    drop(guard);
    (before, slept_on(None))
}

#[test]
fn mutex_exclusion() {
    const OUTCOMES: &[&str] = &["first P1, slept -", "first P1, slept P2", "first P2, slept -", "first P2, slept P1"];
    model(&[false, true], OUTCOMES, |main_last| {
        let mutex = warmed_mutex();
        let other = spawn_as(2, 0, &mutex, lock_turn);
        main_turn(main_last);
        let (before1, slept1) = lock_turn(&mutex);
        let (before2, slept2) = other.join().unwrap();
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 2, "a turn was lost");
        let slept = which(&[(1, slept1 > 0), (2, slept2 > 0)]);
        format!("first {}, slept {slept}", which(&[(1, before1 == 0), (2, before2 == 0)]))
    });
}

/// What a locker of a dead owner's mutex got.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Got {
    Normal,
    OwnerDied,
    NotRecoverable,
}

/// How a model's process takes a dead owner's mutex.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// `lock`.
    Lock,
    /// `try_lock`, then `lock` if that was `Busy`.
    TryThenLock,
    /// `try_lock` until it is not `Busy`, yielding in between.
    TryUntilFree,
}

/// Takes a mutex whose owner died, takes a turn if it got the lock, and repairs it
/// (`make_consistent`) if it got `OwnerDied` and `repair` is set: (what it got,
/// whether it slept and was woken).
fn lock_dead_owned(mutex: &TestMutex, take: Take, repair: bool) -> (Got, bool) {
    let busy = |result: &Result<_, LockError<'_, _, _>>| result.as_ref().is_err_and(|e| e.kind() == ErrorKind::Busy);
    let mut result = if take == Take::Lock { mutex.lock() } else { mutex.try_lock() };
    if take == Take::TryThenLock && busy(&result) {
        result = mutex.lock();
    }
    while take == Take::TryUntilFree && busy(&result) {
        thread::yield_now();
        result = mutex.try_lock();
    }
    assert!(!busy(&result), "lock returned Busy");
    let got = match result {
        Ok(guard) => {
            guard.turn(1);
            Got::Normal
        }
        Err(error) => match error.kind() {
            ErrorKind::OwnerDied => {
                let mut guard = error.into_guard().expect("OwnerDied carries the guard");
                guard.turn(1);
                if repair {
                    MutexGuard::make_consistent(&mut guard);
                }
                Got::OwnerDied
            }
            ErrorKind::NotRecoverable => {
                assert!(error.into_guard().is_none(), "NotRecoverable carried a guard");
                Got::NotRecoverable
            }
            kind => panic!("lock failed with {kind:?}"),
        },
    };
    (got, slept_on(None) > 0)
}

/// The outcomes of a race of process 1 (which may sleep in `lock`) and process 2
/// (which retries `try_lock`) for a dead owner's mutex: who got `OwnerDied`, and
/// what the other got.
fn dead_owned_outcomes(repair: bool) -> &'static [&'static str] {
    if repair {
        &["OwnerDied P1, Normal P2", "Normal P1, OwnerDied P2", "Normal P1 slept, OwnerDied P2"]
    } else {
        &["OwnerDied P1, NotRecoverable P2", "NotRecoverable P1, OwnerDied P2", "NotRecoverable P1 slept, OwnerDied P2"]
    }
}

/// Checks the end of a race of processes 1 and 2 for a dead owner's mutex, and labels it.
fn dead_owned_outcome(
    mutex: &TestMutex,
    repair: bool,
    (got1, slept1): (Got, bool),
    (got2, slept2): (Got, bool),
) -> String {
    become_process(1, 0);
    let died = [got1, got2].iter().filter(|g| **g == Got::OwnerDied).count();
    assert_eq!(died, 1, "not exactly one OwnerDied: {got1:?}, {got2:?}");
    let after = if repair { Got::Normal } else { Got::NotRecoverable };
    assert!(got1 == after || got2 == after, "after OwnerDied: {got1:?}, {got2:?}");
    if repair {
        let guard = mutex.lock().expect("locking a repaired mutex");
        assert_eq!(guard.value(), 2, "a turn was lost");
    } else {
        for result in [mutex.lock(), mutex.try_lock()] {
            assert_eq!(result.map(drop).unwrap_err().kind(), ErrorKind::NotRecoverable);
        }
    }
    let slept = |slept| if slept { " slept" } else { "" };
    format!("{got1:?} P1{}, {got2:?} P2{}", slept(slept1), slept(slept2))
}

#[test]
fn mutex_owner_died_try_lock() {
    // Found two holders when the lock word first became a PI futex word (loom:
    // "Concurrent write accesses to `UnsafeCell`"), before `Mutex::take_dead` made
    // the holder's identity decide a takeover: the dead process
    // locked from outside the domain (word FOREIGN, `holder` 9); process 2's
    // `try_lock` judges 9 dead and its `take` turns FOREIGN into FOREIGN; before it
    // stores `holder` 2, process 1 (`try_lock`, or `lock` after a portable sleep
    // ran out) reads FOREIGN, `holder` 9, FOREIGN: "held by 9", dead; its `take`
    // from FOREIGN succeeds as well. Two holders, both `OwnerDied`.
    for repair in [true, false] {
        // One run only, for time: 4 to 5 s each.
        model(&[false], dead_owned_outcomes(repair), move |main_last| {
            let mutex = warmed_mutex();
            lock_as_dead(&mutex);
            let other = spawn_as(2, 0, &mutex, move |mutex| lock_dead_owned(mutex, Take::TryUntilFree, repair));
            main_turn(main_last);
            let got1 = lock_dead_owned(&mutex, Take::TryThenLock, repair);
            let got2 = other.join().unwrap();
            dead_owned_outcome(&mutex, repair, got1, got2)
        });
    }
}

#[test]
fn mutex_owner_died_lock() {
    // Failed when the lock word first became a PI futex word (fixed since: the
    // bit is cleared SeqCst, and `take_dead`), first with a deadlock that the C++
    // memory model forbids: process 2 takes the dead holder's word and
    // clears the owner-died bit with a Relaxed `fetch_and` (a store of FOREIGN that
    // is not SeqCst), unlocks (SeqCst compare-exchange to 0) and reads `waiters`
    // as 0; process 1 then counts itself, and its SeqCst load of the word returns
    // that Relaxed FOREIGN, older than the unlock's 0 (tokio-rs/loom#180, as in
    // `warm_up`), so it sleeps with nobody left to wake it. With that `fetch_and`
    // SeqCst (checked in a scratch copy), the model finds the two holders of
    // `mutex_owner_died_try_lock` instead: process 2's `try_lock` takes FOREIGN to
    // FOREIGN, and process 1, its portable sleep run out, reads the stale `holder`
    // 9 around it and takes it too.
    for repair in [true, false] {
        model(&[false], dead_owned_outcomes(repair), move |_| {
            let mutex = warmed_mutex();
            lock_as_dead(&mutex);
            // One expiry: noticing the dead owner in `lock` takes a whole slice
            // without a wake-up; anything after that must come from a wake-up.
            let locker = spawn_as(1, 1, &mutex, move |mutex| lock_dead_owned(mutex, Take::Lock, repair));
            // Process 2 comes once process 1 sleeps, past its spinning: two lockers
            // spinning at once make the model too big for loom.
            FUTEX.await_sleepers(None, 1);
            become_process(2, 0);
            let got2 = lock_dead_owned(&mutex, Take::TryUntilFree, repair);
            let got1 = locker.join().unwrap();
            dead_owned_outcome(&mutex, repair, got1, got2)
        });
    }
}

#[test]
fn mutex_exclusion_three() {
    // Process 3 may take the lock before the woken process 2 (which then sleeps
    // again), or sleep until process 2 unlocks.
    const OUTCOMES: &[&str] = &[
        "first P2, P2 slept 1x, P3 slept 0x",
        "first P2, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 1x, P3 slept 0x",
        "first P3, P2 slept 2x, P3 slept 0x",
    ];
    model(&[false], OUTCOMES, |_| {
        let mutex = warmed_mutex();
        let guard = mutex.lock().expect("locking an unlocked mutex");
        let second = spawn_as(2, 0, &mutex, lock_turn);
        FUTEX.await_sleepers(None, 1);
        assert_eq!(guard.turn(1), 0);
        drop(guard);
        // Process 3 comes once process 2 sleeps and process 1 unlocked (waking it):
        // two lockers spinning at once, or many stores while one spins, make the
        // model too big for loom.
        let third = spawn_as(3, 0, &mutex, lock_turn);
        let (before2, slept2) = second.join().unwrap();
        let (before3, slept3) = third.join().unwrap();
        assert!(slept2 > 0, "process 2 did not sleep");
        assert_eq!(before2 + before3, 3, "a turn was lost");
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 3, "a turn was lost");
        format!("first P{}, {}", if before2 == 1 { 2 } else { 3 }, sleeps(&[(2, slept2), (3, slept3)]))
    });
}

// The kernel path: the lockers are in the emulated kernel's lock domain
// (`use_kernel`) and store their tids. A contended one sleeps portably first and
// in the kernel (`FUTEX_LOCK_PI2`) once a portable sleep ran out with no unlock,
// so each gets one expiry: its sleep in the kernel then lasts until a hand-over.
// Labels count sleeps as "portably+in the kernel".

/// A fresh mutex warmed up ([`warm_up`](super::warm_up), in the domain: domain
/// threads sleep portably too), the main thread playing process 1 in the kernel's
/// lock domain, with `expiries` expiries.
fn kernel_mutex(expiries: u32) -> Arc<TestMutex> {
    become_process(1, 0);
    use_kernel();
    let mutex = warmed_mutex();
    become_process(1, expiries);
    mutex
}

/// Locks `mutex` (whose owner is alive), takes a turn and unlocks: (turns before
/// this one, how many times this thread slept portably, and in the kernel).
fn lock_turn_kernel(mutex: &TestMutex) -> (u32, usize, usize) {
    let (before, slept) = lock_turn(mutex);
    let in_kernel = slept_on(Some(address(mutex)));
    (before, slept - in_kernel, in_kernel)
}

/// As [`lock_dead_owned`] with `Take::Lock`: (what it got, how many times this
/// thread slept portably, and in the kernel).
fn lock_dead_owned_kernel(mutex: &TestMutex, repair: bool) -> (Got, usize, usize) {
    let got = lock_dead_owned(mutex, Take::Lock, repair).0;
    let in_kernel = slept_on(Some(address(mutex)));
    (got, slept_on(None) - in_kernel, in_kernel)
}

/// A label for how a process slept: "P2 slept 1x+0x" (portably, in the kernel).
fn slept_how(pid: u64, portably: usize, in_kernel: usize) -> String {
    format!("P{pid} slept {portably}x+{in_kernel}x")
}

#[test]
fn mutex_kernel_exclusion() {
    // A locker that finds the lock held is woken from its portable sleep by the
    // unlock, or, once that sleep ran out, is handed the word in the kernel.
    const OUTCOMES: &[&str] = &[
        "first P1, P1 slept 0x+0x, P2 slept 0x+0x",
        "first P1, P1 slept 0x+0x, P2 slept 0x+1x",
        "first P1, P1 slept 0x+0x, P2 slept 1x+0x",
        "first P2, P1 slept 0x+0x, P2 slept 0x+0x",
        "first P2, P1 slept 0x+1x, P2 slept 0x+0x",
        "first P2, P1 slept 1x+0x, P2 slept 0x+0x",
    ];
    model(&[false, true], OUTCOMES, |main_last| {
        let mutex = kernel_mutex(1);
        let other = spawn_in_kernel(2, 1, &mutex, lock_turn_kernel);
        main_turn(main_last);
        let (before1, p1, k1) = lock_turn_kernel(&mutex);
        let (before2, p2, k2) = other.join().unwrap();
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 2, "a turn was lost");
        let first = which(&[(1, before1 == 0), (2, before2 == 0)]);
        format!("first {first}, {}, {}", slept_how(1, p1, k1), slept_how(2, p2, k2))
    });
}

#[test]
fn mutex_kernel_exclusion_three() {
    // Process 2 sleeps in the kernel when process 1 unlocks, which hands it the
    // word: process 3, arriving then, never takes the lock before it (unlike in
    // `mutex_exclusion_three`). Process 3 is woken from its portable sleep by
    // process 2's unlock, or handed the word in the kernel, or comes after.
    const OUTCOMES: &[&str] = &[
        "first P2, P2 slept 0x+1x, P3 slept 0x+0x",
        "first P2, P2 slept 0x+1x, P3 slept 0x+1x",
        "first P2, P2 slept 0x+1x, P3 slept 1x+0x",
    ];
    model(&[false], OUTCOMES, |_| {
        let mutex = kernel_mutex(0);
        let guard = mutex.lock().expect("locking an unlocked mutex");
        let second = spawn_in_kernel(2, 1, &mutex, lock_turn_kernel);
        FUTEX.await_sleepers(Some(address(&*mutex)), 1);
        assert_eq!(guard.turn(1), 0);
        drop(guard);
        // Process 3 comes once process 2 sleeps in the kernel and process 1
        // unlocked: as in `mutex_exclusion_three`, for the model's size.
        let third = spawn_in_kernel(3, 1, &mutex, lock_turn_kernel);
        let (before2, p2, k2) = second.join().unwrap();
        let (before3, p3, k3) = third.join().unwrap();
        assert_eq!(k2, 1, "process 2 was not handed the lock in the kernel");
        assert_eq!(before2 + before3, 3, "a turn was lost");
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 3, "a turn was lost");
        let first = if before2 == 1 { 2 } else { 3 };
        format!("first P{first}, {}, {}", slept_how(2, p2, k2), slept_how(3, p3, k3))
    });
}

#[test]
fn mutex_kernel_holder_dies() {
    // The dead process holds the lock while it runs, then exits holding it, as
    // process 2 locks: asleep in the kernel by then, process 2 is handed the word
    // with the owner-died bit; otherwise it finds the holder dead after a portable
    // sleep ran out. `OwnerDied` either way; then the mutex is usable again if
    // repaired, `NotRecoverable` if not.
    for repair in [true, false] {
        let outcomes: &'static [&'static str] = if repair {
            &["OwnerDied P2 slept 0x+0x, then Normal", "OwnerDied P2 slept 0x+1x, then Normal"]
        } else {
            &["OwnerDied P2 slept 0x+0x, then NotRecoverable", "OwnerDied P2 slept 0x+1x, then NotRecoverable"]
        };
        model(&[false, true], outcomes, move |main_last| {
            let mutex = kernel_mutex(0);
            become_process(DEAD, 0);
            let guard = mutex.lock().expect("locking an unlocked mutex");
            let waiter = spawn_in_kernel(2, 1, &mutex, move |mutex| lock_dead_owned_kernel(mutex, repair));
            main_turn(main_last);
            core::mem::forget(guard);
            exit_thread();
            let (got, portably, in_kernel) = waiter.join().unwrap();
            assert_eq!(got, Got::OwnerDied, "the waiter got {got:?}");
            become_process(1, 0);
            let after = match mutex.lock() {
                Ok(guard) => {
                    assert_eq!(guard.value(), 1, "a turn was lost");
                    Got::Normal
                }
                Err(error) => {
                    assert_eq!(error.kind(), ErrorKind::NotRecoverable);
                    Got::NotRecoverable
                }
            };
            assert_eq!(after == Got::Normal, repair, "after OwnerDied: {after:?}");
            format!("OwnerDied {}, then {after:?}", slept_how(2, portably, in_kernel))
        });
    }
}

#[test]
fn mutex_kernel_holder_dies_two_waiters() {
    // Process 2 sleeps in the kernel on the lock of the dead process, which then
    // exits holding it while process 3 arrives: the kernel hands the word to
    // process 2 (the oldest sleeper), marked owner-died; process 3 then gets the
    // lock after process 2 (woken portably, handed the word in the kernel, or
    // later), normally if process 2 repaired it, else `NotRecoverable`.
    //
    // Found two holders before `holder_of` ignored owner-died words and
    // `take_dead` (loom: "Concurrent write accesses to `UnsafeCell`"): process 9 holds
    // (word 9, `holder` 9); process 2's portable sleep runs out, it sleeps in the
    // kernel; process 9 exits and the kernel writes 2|WAITERS|OWNER_DIED; process
    // 3 sleeps portably on that word and its sleep runs out; process 2, woken but
    // not yet past `set_holder` (or its store not yet visible: Relaxed, and its
    // `fetch_and` of the owner-died bit is Relaxed too), still has `holder` 9;
    // process 3's `holder_of` reads the word (tid 2), `holder` 9, the word (tid 2)
    // again, asks `thread_liveness` of id 9: dead; `take` succeeds from the word
    // it saw. Nothing cleared `holder` when the holder died, so the check "the same
    // tid before and after" pairs the new holder's tid with the dead one's id.
    // Fixed: `holder_of` names nobody while the word carries the kernel's
    // owner-died bit, which the new holder clears (SeqCst) once named, and a
    // takeover is decided by `take_dead`'s compare-exchange of `holder`.
    for repair in [true, false] {
        let outcomes: &'static [&'static str] = if repair {
            &[
                "OwnerDied P2 slept 0x+1x, Normal P3 slept 0x+0x",
                "OwnerDied P2 slept 0x+1x, Normal P3 slept 0x+1x",
                "OwnerDied P2 slept 0x+1x, Normal P3 slept 1x+0x",
            ]
        } else {
            &[
                "OwnerDied P2 slept 0x+1x, NotRecoverable P3 slept 0x+0x",
                "OwnerDied P2 slept 0x+1x, NotRecoverable P3 slept 0x+1x",
                "OwnerDied P2 slept 0x+1x, NotRecoverable P3 slept 1x+0x",
            ]
        };
        model(&[false], outcomes, move |_| {
            let mutex = kernel_mutex(0);
            become_process(DEAD, 0);
            let guard = mutex.lock().expect("locking an unlocked mutex");
            let locker = move |mutex: &TestMutex| lock_dead_owned_kernel(mutex, repair);
            let second = spawn_in_kernel(2, 1, &mutex, locker);
            FUTEX.await_sleepers(Some(address(&*mutex)), 1);
            let third = spawn_in_kernel(3, 1, &mutex, locker);
            core::mem::forget(guard);
            exit_thread();
            let (got2, p2, k2) = second.join().unwrap();
            let (got3, p3, k3) = third.join().unwrap();
            assert_eq!((got2, k2), (Got::OwnerDied, 1), "the sleeper in the kernel was not handed the lock");
            let after = if repair { Got::Normal } else { Got::NotRecoverable };
            assert_eq!(got3, after, "after OwnerDied, repaired: {repair}");
            become_process(1, 0);
            if repair {
                assert_eq!(mutex.lock().expect("locking a repaired mutex").value(), 2, "a turn was lost");
            }
            format!("OwnerDied {}, {got3:?} {}", slept_how(2, p2, k2), slept_how(3, p3, k3))
        });
    }
}

#[test]
fn mutex_kernel_vanished_holder() {
    // Process 3's thread exited holding the lock with nobody asleep, and the
    // platform cannot tell it is dead (`vanish_thread`: liveness `Unknown`), so
    // only the kernel gives the lock away: a locker whose portable sleep ran out
    // sleeps in the kernel, which finds no thread with the tid (`NoSuchHolder`),
    // and takes the word over. Processes 1 and 2 race for it: exactly one gets
    // `OwnerDied`; the other then locks normally if it was repaired (woken from a
    // portable sleep, or handed the word in the kernel, or later), or gets
    // `NotRecoverable`. "in kernel": who was handed the word in the kernel.
    for repair in [true, false] {
        let outcomes: &'static [&'static str] = if repair {
            &[
                "Normal P1 slept, OwnerDied P2; in kernel -",
                "Normal P1 slept, OwnerDied P2; in kernel P1",
                "Normal P1, OwnerDied P2; in kernel -",
                "OwnerDied P1, Normal P2; in kernel -",
                "OwnerDied P1, Normal P2 slept; in kernel -",
                "OwnerDied P1, Normal P2 slept; in kernel P2",
            ]
        } else {
            &[
                "NotRecoverable P1 slept, OwnerDied P2; in kernel -",
                "NotRecoverable P1 slept, OwnerDied P2; in kernel P1",
                "NotRecoverable P1, OwnerDied P2; in kernel -",
                "OwnerDied P1, NotRecoverable P2; in kernel -",
                "OwnerDied P1, NotRecoverable P2 slept; in kernel -",
                "OwnerDied P1, NotRecoverable P2 slept; in kernel P2",
            ]
        };
        model(&[false], outcomes, move |_| {
            let mutex = kernel_mutex(0);
            become_process(3, 0);
            core::mem::forget(mutex.lock().expect("locking an unlocked mutex"));
            vanish_thread();
            become_process(1, 1);
            let other = spawn_in_kernel(2, 1, &mutex, move |mutex| {
                let got = lock_dead_owned(mutex, Take::Lock, repair);
                (got, slept_on(Some(address(mutex))))
            });
            let got1 = lock_dead_owned(&mutex, Take::Lock, repair);
            let k1 = slept_on(Some(address(&*mutex)));
            let (got2, k2) = other.join().unwrap();
            let label = dead_owned_outcome(&mutex, repair, got1, got2);
            format!("{label}; in kernel {}", which(&[(1, k1 > 0), (2, k2 > 0)]))
        });
    }
}

#[test]
fn mutex_kernel_dead_holder_two_lockers() {
    // The dead process exited holding the lock with nobody asleep; process 1
    // locks (its portable sleep runs out, it finds the holder dead and takes the
    // word over), process 2 retries `try_lock`. Exactly one gets `OwnerDied`; the
    // other then locks normally (process 1 maybe after being handed the word in
    // the kernel) if it was repaired, or gets `NotRecoverable`.
    //
    // Found two holders before `take_dead` (loom: "Concurrent write accesses to
    // `UnsafeCell`"): word 9, `holder` 9; process 1's portable sleep runs out, `holder_of` names 9, dead, and its
    // `take` turns the word 9 into 1; before process 1 stores `holder` 1, process
    // 2's `try_lock` reads the word (1), `holder` (9), the word (1): "held by 9",
    // dead, and its `take` turns the word 1 into 2. Two holders, both `OwnerDied`.
    // `mutex_owner_died_try_lock` is the same race outside the domain, where every
    // holder's word is the foreign tid. Fixed by `take_dead`: the survivors'
    // compare-exchange of `holder` from the dead identity decides.
    for repair in [true, false] {
        let outcomes: &'static [&'static str] = if repair {
            &[
                "Normal P1 slept, OwnerDied P2",
                "Normal P1 slept, OwnerDied P2; P1 in kernel",
                "Normal P1, OwnerDied P2",
                "OwnerDied P1, Normal P2",
            ]
        } else {
            &[
                "NotRecoverable P1 slept, OwnerDied P2",
                "NotRecoverable P1 slept, OwnerDied P2; P1 in kernel",
                "NotRecoverable P1, OwnerDied P2",
                "OwnerDied P1, NotRecoverable P2",
            ]
        };
        model(&[false], outcomes, move |_| {
            let mutex = kernel_mutex(0);
            lock_as_dead(&mutex);
            become_process(1, 1);
            let other = spawn_in_kernel(2, 0, &mutex, move |mutex| lock_dead_owned(mutex, Take::TryUntilFree, repair));
            let got1 = lock_dead_owned(&mutex, Take::Lock, repair);
            let in_kernel = slept_on(Some(address(&*mutex))) > 0;
            let got2 = other.join().unwrap();
            let label = dead_owned_outcome(&mutex, repair, got1, got2);
            format!("{label}{}", if in_kernel { "; P1 in kernel" } else { "" })
        });
    }
}

#[test]
fn mutex_mixed_domains() {
    // Process 2 is in the kernel's lock domain, process 1 (the main thread) in
    // none: it stores the foreign tid and waits portably, and so does process 2
    // on a word holding that tid (the kernel knows no thread by it). Never two
    // holders, and each unlock wakes the other's portable sleep.
    const OUTCOMES: &[&str] = &[
        "first P1, P1 slept 0x+0x, P2 slept 0x+0x",
        "first P1, P1 slept 0x+0x, P2 slept 1x+0x",
        "first P2, P1 slept 0x+0x, P2 slept 0x+0x",
        "first P2, P1 slept 1x+0x, P2 slept 0x+0x",
    ];
    model(&[false, true], OUTCOMES, |main_last| {
        // Warmed up by the main thread, outside the domain: `waiters` holds a
        // SeqCst store, and the mutex has no domain yet.
        let mutex = warmed_mutex();
        become_process(1, 1);
        let other = spawn_in_kernel(2, 1, &mutex, lock_turn_kernel);
        main_turn(main_last);
        let (before1, p1, k1) = lock_turn_kernel(&mutex);
        let (before2, p2, k2) = other.join().unwrap();
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 2, "a turn was lost");
        let first = which(&[(1, before1 == 0), (2, before2 == 0)]);
        format!("first {first}, {}, {}", slept_how(1, p1, k1), slept_how(2, p2, k2))
    });
}

#[test]
fn mutex_mixed_domains_three() {
    // Process 2 (the main thread, in the kernel's domain) holds the lock, process
    // 3 (in the domain) sleeps on it in the kernel, and process 1 (in none)
    // arrives and sleeps portably: process 2's unlock hands the word to process 3
    // in the kernel and wakes process 1, which sleeps again until process 3's
    // unlock; process 1 never gets the lock before process 3.
    const OUTCOMES: &[&str] =
        &["P1 slept 0x+0x, P3 slept 0x+1x", "P1 slept 1x+0x, P3 slept 0x+1x", "P1 slept 2x+0x, P3 slept 0x+1x"];
    model(&[false], OUTCOMES, |_| {
        // Warmed up outside the domain (`waiters` holds a SeqCst store, the mutex
        // has no domain); then the main thread plays process 2, in the domain.
        let mutex = warmed_mutex();
        become_process(2, 0);
        use_kernel();
        let guard = mutex.lock().expect("locking an unlocked mutex");
        let third = spawn_in_kernel(3, 1, &mutex, lock_turn_kernel);
        FUTEX.await_sleepers(Some(address(&*mutex)), 1);
        let first = spawn_as(1, 0, &mutex, lock_turn_kernel);
        assert_eq!(guard.turn(1), 0);
        drop(guard);
        let (before3, p3, k3) = third.join().unwrap();
        let (before1, p1, k1) = first.join().unwrap();
        assert_eq!((before3, before1), (1, 2), "process 1 locked before process 3");
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 3, "a turn was lost");
        format!("{}, {}", slept_how(1, p1, k1), slept_how(3, p3, k3))
    });
}
