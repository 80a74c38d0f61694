//! loom models of the Mutex, Semaphore and Condvar protocols, one file per primitive:
//! [`loom_mutex`], [`loom_semaphore`], [`loom_condvar`].
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmptr --lib --release`. Under
//! `--cfg loom`, [`crate::primitive`] hands the sync code loom's atomics, so these
//! models drive the real [`Mutex`], [`Semaphore`] and [`Condvar`], not copies.
//! They run on the models' one platform, [`Model`] (`loom_support`): processes are
//! loom threads, [`DEAD`](crate::loom_support::DEAD) is the one dead process, and
//! the futex is emulated ([`Futex`](crate::loom_support::Futex)): waits never return
//! spuriously and timed waits do not expire (but for the few a model grants), so a
//! lost wake-up is a thread blocked for good, which loom reports as a deadlock.
//! Only the dead-owner models give a locker an expiry, since noticing a dead owner
//! takes a whole [`OWNER_CHECK_INTERVAL`](crate::sync::OWNER_CHECK_INTERVAL) slice
//! without a wake-up, and the kernel-path models, since a locker sleeps in the
//! kernel only once a portable sleep ran out.
//!
//! # Two paths
//!
//! The `Mutex` models run on two paths. Threads outside any lock domain (the
//! default) store the foreign tid and wait portably, on the mutex's `sequence`
//! word: the original models. The `*_kernel*` and `mutex_mixed_domains*` models put
//! some or all of their threads in the emulated kernel's lock domain
//! ([`use_kernel`](crate::loom_support::use_kernel),
//! [`spawn_in_kernel`](crate::loom_support::spawn_in_kernel)): they store their tid
//! (the process number) and sleep in the emulated `FUTEX_LOCK_PI2`, whose unlock
//! (`FUTEX_UNLOCK_PI`) hands the word to the oldest sleeper, and whose holder's
//! exit ([`exit_thread`](crate::loom_support::exit_thread)) hands it over marked
//! owner-died (see `loom_support`). Labels there count a thread's sleeps as
//! "portably+in the kernel" (a sleep in the kernel is one on the lock word itself).
//!
//! The protected data is a loom `UnsafeCell` (loom fails a model on two accesses
//! not ordered by happens-before: a lock or semaphore that excludes but does not
//! publish) beside a holder count that must be below the limit on entry (one that
//! does not exclude).
//!
//! Each model labels every run's outcome, including how often each thread slept in
//! the futex and was woken; it fails on an outcome it does not list and, with a
//! preemption bound of 3 or more, on a listed outcome never explored. So a "slept"
//! in a label is a sleep that only a wake-up ended, and it was explored.
//!
//! Limits, all for loom's sake:
//! - The mutex retries a few times (yielding) before it sleeps, and every retry is
//!   a loom step: two lockers retrying at once, or one retrying while another locks
//!   and unlocks more than once, make the models much slower. So the three-process and
//!   `notify_all` models let a thread in only once another sleeps
//!   ([`Futex::await_sleepers`](crate::loom_support::Futex::await_sleepers), model
//!   scaffolding), and in the dead-owner models one process retries `try_lock`
//!   instead of spinning.
//! - loom models SeqCst too weakly (tokio-rs/loom#180): see [`warm_up`], and the
//!   futex's read of the word in `Futex::wait`.
//! - As in the segment models, a model runs a second time with the main thread
//!   yielding first ([`main_turn`](crate::loom_support::main_turn)) against loom's
//!   DPOR gaps, unless the main thread waits for a sleeper before its part or the
//!   run costs more than a few seconds.
//! - Not covered: `lock_timeout`, `acquire_timeout` and `wait_timeout` running out
//!   (a timeout is a clock this model advances only by expiries), a semaphore with
//!   more than one permit, the kernel's own checks of a word that a peer forged
//!   (`EINVAL`), and priorities (the emulated kernel hands the word over oldest
//!   sleeper first).
//! - Four `Mutex` models found two holders after a dead holder's lock was taken
//!   over, in the first PI version of the lock word; each one's comment says how,
//!   and what fixed it.

use std::format;
use std::string::String;
use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;

use super::{Mutex, MutexGuard};
use crate::error::ErrorKind;
use crate::loom_support::{self, become_process, exit_thread, Model, DEAD, FUTEX};
use crate::primitive::Ordering;

#[allow(unsafe_code)] // loom `UnsafeCell` accesses, each checked by loom
mod loom_condvar;
mod loom_mutex;
mod loom_semaphore;

/// What a model's lock protects: a value loom checks, and a holder count.
struct Protected {
    value: UnsafeCell<u32>,
    holders: AtomicUsize,
}

// Unsafe code allowed for `Sync` for a cell whose every access loom checks.
#[allow(unsafe_code)]
// SAFETY: the value cell is only touched through loom, which fails the model on any
// access that is not ordered with every other one.
unsafe impl Sync for Protected {}

impl Protected {
    fn new() -> Self {
        Protected { value: UnsafeCell::new(0), holders: AtomicUsize::new(0) }
    }

    /// One holder's turn, with at most `limit` holders at once: increments the value
    /// and returns what it was (how many turns came before).
    #[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
    fn turn(&self, limit: usize) -> u32 {
        // Relaxed: an RMW sees every earlier one, so too many holders at once show
        // here without the count itself ordering anything.
        assert!(self.holders.fetch_add(1, Ordering::Relaxed) < limit, "more holders at once than allowed");
        let before = self.value.with_mut(|value| {
            // SAFETY: the cell lives as long as `self`; loom fails the model if the
            // previous holder's write is not ordered before this access.
            unsafe {
                *value += 1;
                *value - 1
            }
        });
        self.holders.fetch_sub(1, Ordering::Relaxed);
        before
    }

    /// The value, once every other thread is joined.
    #[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
    fn value(&self) -> u32 {
        // SAFETY: as in `turn`.
        self.value.with(|value| unsafe { *value })
    }
}

/// Runs `f` under loom once for each `main_last` in `runs` (see
/// [`loom_support::model`]): `[false, true]` unless the main thread waits for the
/// others to sleep before its part, which makes the yield moot.
fn model(runs: &[bool], expected: &'static [&'static str], f: impl Fn(bool) -> String + Sync + Send + 'static) {
    // One of these models at a time: loom maps and unmaps a stack for every thread
    // of every execution, and two models doing that at once on two cores spend
    // most of their time in the kernel (the suite ran 1.6 times slower in parallel
    // than one test at a time). The segment models still run beside one of these.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loom_support::model(runs, expected, f);
}

type TestMutex = Mutex<Protected, Model>;

/// Locks `mutex` as the dead process [`DEAD`] and forgets the guard: the owner died
/// holding it (and its thread exited: [`exit_thread`]). The main thread then plays
/// process 1.
fn lock_as_dead<T>(mutex: &Mutex<T, Model>) {
    become_process(DEAD, 0);
    core::mem::forget(mutex.lock().map_err(|e| e.kind()).expect("locking an unlocked mutex"));
    exit_thread();
    become_process(1, 0);
}

/// Runs the slow path of `lock` once on a fresh `mutex`, in the main thread as
/// process 1 before it spawns anything, so that the mutex's `waiters` word holds a
/// SeqCst store; the mutex ends unlocked and consistent.
///
/// loom records an atomic's initial value as a Release store, and lets a SeqCst load
/// return an older store unless a newer one is also SeqCst (tokio-rs/loom#180). So
/// without this, `unlock`'s SeqCst load of `waiters` can still read the initial 0
/// after a waiter's SeqCst increment and failed CAS, which the C++ memory model
/// forbids (the increment, the CAS, `unlock`'s store and its load are all SeqCst:
/// store buffering), and the model reports a lost wake-up that cannot happen. After
/// this, every store to `waiters` is SeqCst.
fn warm_up<T>(mutex: &Mutex<T, Model>) {
    lock_as_dead(mutex);
    // One expiry: `lock` notices the dead owner after one whole slice.
    become_process(1, 1);
    let Err(error) = mutex.lock() else { panic!("locked a dead owner's mutex without OwnerDied") };
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    let mut guard = error.into_guard().expect("the guard of an OwnerDied lock");
    MutexGuard::make_consistent(&mut guard);
    drop(guard);
    become_process(1, 0);
    FUTEX.forget_history();
}

/// A fresh mutex, warmed up ([`warm_up`]).
fn warmed_mutex() -> Arc<TestMutex> {
    let mutex = TestMutex::new(Protected::new());
    warm_up(&mutex);
    Arc::new(mutex)
}

/// A label for how many times each `(pid, sleeps)` slept: "P2 slept 1x, P3 slept 0x".
fn sleeps(counts: &[(u64, usize)]) -> String {
    counts.iter().map(|(pid, n)| format!("P{pid} slept {n}x")).collect::<Vec<_>>().join(", ")
}
