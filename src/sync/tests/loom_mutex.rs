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

use std::format;
use std::string::String;

use loom::thread;

use super::{lock_as_dead, model, sleeps, warmed_mutex, TestMutex};
use crate::error::ErrorKind;
use crate::loom_support::{become_process, main_turn, slept_on, spawn_as, which, FUTEX};
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
