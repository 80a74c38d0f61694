//! [`Platform`] for Linux: identity and liveness (see `identity`), futexes shared
//! between processes, and the monotonic clock.

use core::sync::atomic::AtomicU32;
use core::time::Duration;

use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId, Timespec};

use shmptr::{Liveness, LockWait, Platform, ProcessId, ThreadId};

use crate::{identity, Linux};

// SAFETY: the identity is computed once per process and cached in a page that
// `fork` wipes (or beside its pid), so it is stable within a process and differs in
// a forked child (another pid); identities carry the pid, the exact pid namespace
// and the start time, and `liveness` (identity.rs) answers `Dead` only with proof
// that this exact process is gone, `Unknown` whenever it cannot tell. Threads
// likewise (`identity::thread`, `identity::thread_liveness`): a thread's tid is the
// kernel's own for the caller's pid namespace, which is `lock_domain`, and the
// `FUTEX_LOCK_PI2` results mean what `LockWait` says (see `lock_wait`).
unsafe impl Platform for Linux {
    const THREADS: bool = true;

    #[inline]
    fn current_thread() -> ThreadId {
        identity::thread()
    }

    fn thread_liveness(thread: ThreadId) -> Liveness {
        identity::thread_liveness(thread)
    }

    /// The pid namespace, when this process's identity is complete (0 otherwise:
    /// its mutexes then wait portably).
    #[inline]
    fn lock_domain() -> u32 {
        identity::namespace()
    }

    /// `futex(FUTEX_LOCK_PI2)` (Linux 5.14) with an absolute `CLOCK_MONOTONIC`
    /// deadline, without `FUTEX_PRIVATE_FLAG`. `ESRCH` is the kernel's "no thread
    /// has this tid" (or it is exiting and gone by then); `EDEADLK` "the tid is the
    /// caller's". `ENOSYS` (an older kernel), `EINVAL` (the word disagrees with the
    /// kernel's record of its holder: a peer rewrote it) and `EPERM` send the
    /// caller to the portable wait, which sleeps; anything else is "look again".
    /// [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)
    fn lock_wait(word: &AtomicU32, timeout: Option<Duration>) -> LockWait {
        let deadline = timeout.map(|t| {
            let at = monotonic_nanos().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64);
            Timespec { tv_sec: (at / 1_000_000_000) as i64, tv_nsec: (at % 1_000_000_000) as _ }
        });
        match futex::lock_pi2(word, futex::Flags::empty(), deadline.as_ref()) {
            Ok(()) => LockWait::Acquired,
            Err(rustix::io::Errno::SRCH) => LockWait::NoSuchHolder,
            Err(rustix::io::Errno::DEADLK) => LockWait::HeldByCaller,
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => LockWait::Unsupported,
            Err(_) => LockWait::Again,
        }
    }

    /// `std::thread::panicking()` with the `std` feature; without it, never (a
    /// `no_std` program aborts on panic).
    #[inline]
    fn panicking() -> bool {
        #[cfg(feature = "std")]
        return std::thread::panicking();
        #[cfg(not(feature = "std"))]
        false
    }

    /// `futex(FUTEX_UNLOCK_PI)`: the kernel hands the word to its highest-priority
    /// sleeper, or clears it.
    fn unlock_wake(word: &AtomicU32) -> bool {
        futex::unlock_pi(word, futex::Flags::empty()).is_ok()
    }

    #[inline]
    fn current_process() -> ProcessId {
        identity::current()
    }

    fn liveness(process: ProcessId) -> Liveness {
        identity::liveness(process)
    }

    /// `futex(FUTEX_WAIT)` without `FUTEX_PRIVATE_FLAG`, so that a waker in another
    /// process mapping the same file finds us.
    /// [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)
    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let timeout = timeout
            .map(|t| Timespec { tv_sec: t.as_secs().min(i64::MAX as u64) as i64, tv_nsec: t.subsec_nanos() as _ });
        // EAGAIN (the word changed), ETIMEDOUT and EINTR all mean "look again".
        let _ = futex::wait(word, futex::Flags::empty(), expected, timeout.as_ref());
    }

    /// `futex(FUTEX_WAKE)` without `FUTEX_PRIVATE_FLAG`.
    fn wake(word: &AtomicU32, count: u32) {
        let _ = futex::wake(word, futex::Flags::empty(), count.min(i32::MAX as u32));
    }

    /// `sched_yield()`. [sched_yield(2)](https://man7.org/linux/man-pages/man2/sched_yield.2.html)
    fn yield_now() {
        rustix::thread::sched_yield();
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` (served by the vDSO where available).
    fn now_nanos() -> u64 {
        monotonic_nanos()
    }
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
/// [clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html)
pub(crate) fn monotonic_nanos() -> u64 {
    let now = clock_gettime(ClockId::Monotonic);
    (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
}
