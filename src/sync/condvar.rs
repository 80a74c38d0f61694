//! A condition variable between processes, for use with [`Mutex`].

use core::marker::PhantomData;
use core::time::Duration;

use crate::backend::Platform;
use crate::primitive::{AtomicU32, Ordering};
use crate::shm_safe::{fingerprint, ShmSafe, Zeroable};

use super::{deadline, remaining, LockError, Mutex, MutexGuard, WaitTimeoutResult, UNTIMED_RECHECK};

/// Waits for a condition guarded by a [`Mutex`], across processes.
///
/// A sequence word and a futex: `wait` reads the sequence while it still holds the
/// lock, unlocks, and sleeps only while the sequence is unchanged; every notify
/// bumps it first. A notify that follows the waiter's unlock therefore always wakes
/// it, so no wake-up is lost. Wake-ups may be spurious: wait in a loop that checks
/// the condition (or use [`Condvar::wait_while`]).
///
/// A notify with nobody waiting makes no system call. (A process killed while it
/// waits stays counted as a waiter: later notifies then make the call in vain.)
#[repr(C)]
pub struct Condvar<P> {
    sequence: AtomicU32,
    /// How many waiters sleep on `sequence` (or are about to).
    waiters: AtomicU32,
    _platform: PhantomData<fn() -> P>,
}

// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: two atomic words.
unsafe impl<P: Platform> ShmSafe for Condvar<P> {
    const FINGERPRINT: u64 =
        fingerprint::start("shmptr::Condvar", core::mem::size_of::<Self>(), core::mem::align_of::<Self>());
}
// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: a zero sequence and no waiters: a fresh condition variable.
unsafe impl<P: Platform> Zeroable for Condvar<P> {}

#[cfg_attr(loom, allow(clippy::new_without_default))]
impl<P: Platform> Condvar<P> {
    const_unless_loom! {
        /// A condition variable nobody waits on.
        pub fn new() -> Self {
            Condvar { sequence: AtomicU32::new(0), waiters: AtomicU32::new(0), _platform: PhantomData }
        }
    }

    /// Unlocks `guard`, sleeps until notified (or spuriously), and locks again.
    /// Fails like [`Mutex::lock`] if the mutex's owner died meanwhile.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T, P>) -> Result<MutexGuard<'a, T, P>, LockError<'a, T, P>> {
        self.wait_until(guard, None).map(|(guard, _)| guard)
    }

    /// Like [`wait`](Condvar::wait), for at most `timeout`; the flag is `true` if
    /// it timed out.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T, P>,
        timeout: Duration,
    ) -> Result<(MutexGuard<'a, T, P>, bool), LockError<'a, T, P>> {
        self.wait_until(guard, deadline::<P>(Some(timeout)))
    }

    /// Waits while `condition` holds.
    pub fn wait_while<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T, P>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<MutexGuard<'a, T, P>, LockError<'a, T, P>> {
        while condition(&mut guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Waits while `condition` holds, for at most `timeout` in all, as `std`'s:
    /// [`WaitTimeoutResult::timed_out`] is true if the time ran out with the
    /// condition still holding. Fails like [`Mutex::lock`] if the mutex's owner
    /// died meanwhile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmptr_arena::{arena_space, Condvar, Mutex, Shared};
    ///
    /// arena_space!(S, 1 << 16);
    /// type Pair = (Mutex<u32, S>, Condvar<S>);
    /// let pair = Shared::<Pair, S>::create("cv-doc", (Mutex::new(0), Condvar::new())).unwrap();
    /// // Nobody sets the flag: the wait times out with the condition still true.
    /// let guard = pair.0.lock().unwrap();
    /// let (guard, result) = pair.1.wait_timeout_while(guard, Duration::from_millis(1), |ready| *ready == 0).unwrap();
    /// assert!(result.timed_out());
    /// assert_eq!(*guard, 0);
    /// ```
    pub fn wait_timeout_while<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T, P>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<(MutexGuard<'a, T, P>, WaitTimeoutResult), LockError<'a, T, P>> {
        let deadline = deadline::<P>(Some(timeout));
        loop {
            if !condition(&mut guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if remaining::<P>(deadline).is_some_and(|left| left.is_zero()) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_until(guard, deadline)?.0;
        }
    }

    fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T, P>,
        deadline: Option<u64>,
    ) -> Result<(MutexGuard<'a, T, P>, bool), LockError<'a, T, P>> {
        // A guard inherited across `fork()` is the parent's: refuse it.
        guard.check_owner();
        // SeqCst, the count and the read: the sleeper's steps in "No lost wake-up"
        // (`sync`), taken while we still hold the lock.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let sequence = self.sequence.load(Ordering::SeqCst);
        let mutex: &'a Mutex<T, P> = guard.mutex();
        drop(guard);
        let timed_out = match remaining::<P>(deadline) {
            Some(left) if left.is_zero() => true,
            left => {
                // Untimed: at most `UNTIMED_RECHECK` (a spurious wake-up then).
                P::wait(&self.sequence, sequence, Some(left.unwrap_or(UNTIMED_RECHECK)));
                deadline.is_some() && remaining::<P>(deadline).is_some_and(|l| l.is_zero())
            }
        };
        // SeqCst like the increment, so that every change of the count is in the
        // single total order the argument above uses (an atomic read-modify-write
        // costs the same either way on x86-64). A notify that still sees us counted
        // only wakes nobody, or another waiter early.
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        mutex.lock().map(|guard| (guard, timed_out))
    }

    /// Wakes one waiter, in any process. Returns whether a waiter was counted, so
    /// that one may have been woken (as `parking_lot`'s): false means nobody was
    /// waiting, and no system call was made. The count includes a waiter about to
    /// sleep or just woken, and a waiter whose process was killed.
    pub fn notify_one(&self) -> bool {
        self.notify(1) != 0
    }

    /// Wakes every waiter, in every process. Returns how many waiters were counted
    /// (as `parking_lot`'s): an upper bound of those woken, with the caveats of
    /// [`notify_one`](Condvar::notify_one).
    pub fn notify_all(&self) -> usize {
        self.notify(u32::MAX) as usize
    }

    /// The waiter count it loaded.
    fn notify(&self, count: u32) -> u32 {
        // SeqCst, the bump and the load: the waker's steps in "No lost wake-up"
        // (`sync`).
        self.sequence.fetch_add(1, Ordering::SeqCst);
        let waiters = self.waiters.load(Ordering::SeqCst);
        if waiters != 0 {
            P::wake(&self.sequence, count);
        }
        waiters
    }
}

#[cfg(not(loom))]
impl<P: Platform> Default for Condvar<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> core::fmt::Debug for Condvar<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Relaxed: a snapshot for display.
        f.debug_struct("Condvar").field("waiters", &self.waiters.load(Ordering::Relaxed)).finish()
    }
}
