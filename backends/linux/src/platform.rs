//! [`Platform`] for Linux: identity and liveness (see `identity`), futexes shared
//! between processes, and the monotonic clock.

use core::sync::atomic::AtomicU32;
use core::time::Duration;

use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId, Timespec};

use shmptr::{Liveness, Platform, ProcessId};

use crate::{identity, Linux};

// SAFETY: the identity is computed once per process and cached in a page that
// `fork` wipes (or beside its pid), so it is stable within a process and differs in
// a forked child (another pid); identities carry the pid, the exact pid namespace
// and the start time, and `liveness` (identity.rs) answers `Dead` only with proof
// that this exact process is gone, `Unknown` whenever it cannot tell.
unsafe impl Platform for Linux {
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
