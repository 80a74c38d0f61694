//! The atomics the segment protocols use: `core`'s normally, loom's under `--cfg loom`
//! so that the loom models check the very code that runs.
//!
//! A [`Word`] is the widest atomic the target has, up to 64 bits: 64 on every Linux
//! target, 32 on microcontrollers such as `thumbv7em` and `thumbv6m`. A target
//! without compare-and-swap (`thumbv6m`) takes its 32-bit atomics from
//! portable-atomic; no other target builds it. It sets the member bitmap's
//! width (so the slot limit) and the range of process identities.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64 as AtomicWord, AtomicUsize, Ordering};

#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use self::AtomicU32 as AtomicWord;
#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64 as AtomicWord;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, Ordering};
#[cfg(all(not(loom), target_has_atomic = "32"))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicUsize};
/// Targets without compare-and-swap (thumbv6m: Cortex-M0/M0+) only: portable-atomic
/// turns each read-modify-write into a short critical section (the firmware links a
/// `critical-section` implementation). These types are what [`Platform::wait`]
/// and [`Region::handles`] take there; a backend for such a target uses them too.
/// A part with several such cores (RP2040) needs a multi-core critical section.
///
/// [`Platform::wait`]: crate::Platform::wait
/// [`Region::handles`]: crate::Region::handles
#[cfg(all(not(loom), not(target_has_atomic = "32")))]
pub(crate) use portable_atomic::{AtomicU32, AtomicUsize};

/// The integer an [`AtomicWord`] holds.
#[cfg(any(loom, target_has_atomic = "64"))]
pub(crate) type Word = u64;
/// The integer an [`AtomicWord`] holds.
#[cfg(not(any(loom, target_has_atomic = "64")))]
pub(crate) type Word = u32;

/// A [`Word`] as `u64` (lossless on every target).
#[allow(clippy::unnecessary_cast)]
pub(crate) const fn widen(word: Word) -> u64 {
    word as u64
}
