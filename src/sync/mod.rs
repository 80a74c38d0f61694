//! Synchronization that works between processes: [`Mutex`], [`Condvar`],
//! [`Semaphore`]. They live inside a `Shared<T>` or `Unique<T>` (they are
//! [`ShmSafe`](crate::ShmSafe)) and wait through the backend's [`Platform`], so one
//! process's unlock wakes a waiter in another.
//!
//! | primitive | when a process dies holding it |
//! |---|---|
//! | `Mutex` | the next `lock` gets `OwnerDied` with the guard; repair and call `make_consistent()`, or the mutex becomes `NotRecoverable` for everyone |
//! | `Condvar` | nothing is held; waiters in other processes keep waiting for a notify |
//! | `Semaphore` | permits it had acquired are **not** returned (a semaphore has no owner) |
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
#[cfg(all(test, loom))]
mod loom_models;
mod mutex;
mod semaphore;

pub use condvar::Condvar;
pub use mutex::{LockError, Mutex, MutexGuard};
pub use semaphore::Semaphore;

use core::time::Duration;

/// How long a waiter sleeps without a wake-up before it checks whether the owner it
/// waits for died: the bound on how late a dead owner is noticed by `lock` (plus one
/// liveness check).
pub const OWNER_CHECK_INTERVAL: Duration = Duration::from_micros(500);

/// A deadline from an optional timeout, on the platform's clock.
fn deadline<P: crate::Platform>(timeout: Option<Duration>) -> Option<u64> {
    timeout.map(|t| P::now_nanos().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64))
}

/// Time left until `deadline`: `None` for no deadline, `Some(ZERO)` once past it.
fn remaining<P: crate::Platform>(deadline: Option<u64>) -> Option<Duration> {
    deadline.map(|d| Duration::from_nanos(d.saturating_sub(P::now_nanos())))
}
