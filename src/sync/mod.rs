//! Synchronization that works between processes: [`Mutex`], [`Condvar`],
//! [`Semaphore`]. They live inside a `Shared<T>` or `Unique<T>` (they are
//! [`ShmSafe`](crate::ShmSafe)) and wait through the backend's [`Platform`], so one
//! process's unlock wakes a waiter in another.
//!
//! | primitive | when a process dies holding it |
//! |---|---|
//! | `Mutex` | the next `lock` gets `OwnerDied` with the guard (on Linux also when only the holding thread died, or unwound from a panic with the guard held); repair and call `MutexGuard::make_consistent`, or the mutex becomes `NotRecoverable` for everyone |
//! | `Condvar` | nothing is held; waiters in other processes keep waiting for a notify |
//! | `Semaphore` | permits it had acquired are **not** returned (a semaphore has no owner) |
//!
//! # No lost wake-up
//!
//! All three sleep the same way, the way futex(2) and Drepper's "Futexes Are
//! Tricky" (2011, section 2) prescribe, over the [`Platform`]'s `wait`/`wake`
//! contract: `wait(word, expected)` returns at once if `word` no longer holds
//! `expected` when the kernel checks it, and a `wake` of `word` after that check
//! ends the sleep.
//!
//! - A **sleeper** (i) counts itself in `waiters`, (ii) reads the futex word,
//!   (iii) checks its condition (the lock is free, a permit is there, the notify
//!   came: for the condition variable, its own unlock), and (iv) waits with the
//!   value read in (ii).
//! - A **waker** (a) changes what the sleeper checks (unlocks, adds a permit, or
//!   bumps the sequence), (b) changes the futex word if that was not (a) itself,
//!   and (c) loads `waiters`, calling `wake` only when it is not zero.
//!
//! Every one of these accesses is `SeqCst`, so they lie in one total order. If the
//! waker's load (c) comes before the sleeper's count (i), then (a) and (b) do too,
//! so the sleeper's read (ii) sees the new word, or its check (iii) sees the
//! change, and it does not sleep on the old value: the kernel's check in (iv)
//! finds the word changed and returns. Otherwise (c) sees the sleeper counted
//! and wakes the word, after (b), so the sleep ends. Either way no sleeper stays
//! asleep after the change it waits for: no wake-up is lost. The count keeps a
//! waker with nobody to wake out of the kernel.
//!
//! [`Mutex`]'s portable waiters (threads outside its lock domain, or on a platform
//! without a kernel lock) follow this protocol: `unlock` releases the lock word
//! (a), bumps `sequence` (b) and wakes it; a locker counts itself, reads
//! `sequence` (ii) and looks at the lock word (iii) before sleeping. Its waiters in
//! the kernel (`Platform::lock_wait`, Linux's `FUTEX_LOCK_PI2`) need no argument of
//! ours: the kernel sets the word's waiters bit under its own lock, so the
//! holder's compare-exchange to 0 fails and its unlock goes through the kernel,
//! which hands the word to a sleeper.
//! [`Semaphore`]'s permit count is both the condition and the futex word.
//! [`Condvar`]'s sequence is both too; its waiter counts itself and reads the
//! sequence while it still holds the mutex, so a notify made under the lock after
//! its unlock is the second case. A waiter may still be woken for nothing (a
//! waker saw it counted just as it stopped waiting): callers loop.
//!
//! The loom models in `sync::tests` check this with an emulated futex whose waits
//! never return spuriously, so a lost wake-up shows as a deadlock.
//!
//! [`Platform`]: crate::Platform

/// Declares a `const fn`, or a plain `fn` under loom (whose atomics' `new` is not const).
macro_rules! const_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}

mod condvar;
mod mutex;
mod semaphore;
#[cfg(all(test, loom))]
mod tests;

pub use condvar::Condvar;
pub use mutex::{LockError, MappedMutexGuard, Mutex, MutexGuard, WaitTimeoutResult};
pub use semaphore::Semaphore;

use core::time::Duration;

/// The first sleep of a [`Mutex`] waiter that waits portably (outside the mutex's
/// lock domain, or on a platform without a kernel lock), after which it checks
/// whether the holder died; each later sleep is twice as long, up to
/// [`UNTIMED_RECHECK`]. A waiter asleep in the kernel is handed a dead holder's
/// lock by the kernel itself.
pub const OWNER_CHECK_INTERVAL: Duration = Duration::from_micros(500);

/// The longest any waiter sleeps without looking again: a `Condvar` or `Semaphore`
/// waiter with no deadline, and a `Mutex` waiter (which then judges the holder, so
/// a dead holder whose tid the kernel gave another thread is noticed within it).
/// A wake-up is never lost between processes that follow the protocol ("No lost
/// wake-up"), but a third process may zero a waiter count, and a notifier that
/// then sees nobody waiting skips its wake: the waiter still returns (`Condvar`: as
/// a spurious wake-up) within this interval, so idle waiting costs at most one
/// wake-up a second.
pub const UNTIMED_RECHECK: Duration = Duration::from_secs(1);

/// A deadline from an optional timeout, on the platform's clock.
fn deadline<P: crate::Platform>(timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| P::now_nanos().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64))
}

/// Time left until `deadline`: `None` for no deadline, `Some(ZERO)` once past it.
fn remaining<P: crate::Platform>(deadline: Option<u64>) -> Option<Duration> {
    deadline.map(|d| Duration::from_nanos(d.saturating_sub(P::now_nanos())))
}
