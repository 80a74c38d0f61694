//! The atomics the segment protocols use: `core`'s normally, loom's under `--cfg loom`
//! so that the loom models check the very code that runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
