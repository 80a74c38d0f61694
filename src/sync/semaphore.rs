//! A counting semaphore between processes.

use core::marker::PhantomData;
use core::time::Duration;

use crate::backend::Platform;
use crate::error::{Error, ErrorKind, Result};
use crate::primitive::{AtomicU32, Ordering};
use crate::shm_safe::{fingerprint, ShmSafe, Zeroable};

use super::{deadline, remaining, UNTIMED_RECHECK};

/// A counting semaphore that works between processes.
///
/// It has no owner: permits acquired by a process that dies are **not** returned.
/// Where that matters, hold a [`Mutex`](super::Mutex) (which reports its owner's
/// death) or count with a `Shared` handle per holder instead.
#[repr(C)]
pub struct Semaphore<P> {
    /// Available permits; also the futex word waiters sleep on (while it is 0).
    permits: AtomicU32,
    waiters: AtomicU32,
    _platform: PhantomData<fn() -> P>,
}

// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: two atomic words.
unsafe impl<P: Platform> ShmSafe for Semaphore<P> {
    const FINGERPRINT: u64 =
        fingerprint::start("shmptr::Semaphore", core::mem::size_of::<Self>(), core::mem::align_of::<Self>());
}
// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: all-zero is a semaphore with no permits and no waiters.
unsafe impl<P: Platform> Zeroable for Semaphore<P> {}

impl<P: Platform> Semaphore<P> {
    const_unless_loom! {
        /// A semaphore with `permits` available.
        pub fn new(permits: u32) -> Self {
            Semaphore { permits: AtomicU32::new(permits), waiters: AtomicU32::new(0), _platform: PhantomData }
        }
    }

    /// Takes a permit, waiting as long as it takes.
    pub fn acquire(&self) {
        // Without a deadline the only outcome is success.
        let _ = self.acquire_until(None);
    }

    /// Takes a permit, waiting at most `timeout`; `Timeout` after that.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.acquire_until(deadline::<P>(Some(timeout)))
    }

    /// Takes a permit if one is available now; `Busy` otherwise.
    pub fn try_acquire(&self) -> Result<()> {
        if self.try_take() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Busy, "taking a semaphore permit"))
        }
    }

    /// Returns a permit, waking one waiter. The count saturates at `u32::MAX` (a
    /// peer can write any count; it never wraps to zero and never panics).
    pub fn release(&self) {
        // SeqCst, the update and the `waiters` load: the waker's steps in "No lost
        // wake-up" (`sync`). At the maximum, the count stays (a failed update
        // changes nothing).
        let _ = self.permits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_add(1));
        if self.waiters.load(Ordering::SeqCst) != 0 {
            P::wake(&self.permits, 1);
        }
    }

    /// Permits available now (a snapshot).
    pub fn available(&self) -> u32 {
        self.permits.load(Ordering::Relaxed)
    }

    fn try_take(&self) -> bool {
        // Acquire: what the releaser did before releasing happens before our use.
        let mut current = self.permits.load(Ordering::Relaxed);
        while current > 0 {
            match self.permits.compare_exchange_weak(current, current - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
        false
    }

    fn acquire_until(&self, deadline: Option<u64>) -> Result<()> {
        if self.try_take() {
            return Ok(());
        }
        // SeqCst: the sleeper's count; see "No lost wake-up" (`sync`).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let outcome = loop {
            if self.try_take() {
                break Ok(());
            }
            let left = remaining::<P>(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                break Err(Error::new(ErrorKind::Timeout, "waiting for a semaphore permit"));
            }
            // Untimed: look again after at most `UNTIMED_RECHECK`.
            P::wait(&self.permits, 0, Some(left.unwrap_or(UNTIMED_RECHECK)));
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

impl<P> core::fmt::Debug for Semaphore<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Relaxed: a snapshot for display.
        f.debug_struct("Semaphore")
            .field("available", &self.permits.load(Ordering::Relaxed))
            .field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish()
    }
}
