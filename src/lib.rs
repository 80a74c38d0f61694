#![doc = include_str!("../README.md")]
// `std` only for unit tests (the loom models); the library itself is `no_std`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod backend;
mod containers;
mod error;
mod handles;
#[cfg(all(test, loom))]
mod loom_support;
mod name;
mod object;
mod options;
mod primitive;
mod segment;
mod shared;
mod shm_safe;
pub mod sync;
mod unique;

pub use backend::{Backend, CrashPoint, Liveness, Platform, ProcessId, Region};
pub use containers::{CapacityError, ShmDeque, ShmString, ShmVec};
pub use error::{Error, ErrorKind, Result};
pub use name::{Name, NAME_MAX};
pub use options::Options;
pub use segment::MAX_SLOTS;
pub use shared::{Shared, SharedOptions};
pub use shm_safe::{fingerprint, ShmSafe, Zeroable};
pub use sync::{Condvar, LockError, Mutex, MutexGuard, Semaphore};
pub use unique::Unique;

/// The size of a segment's header and of one holder slot, in bytes: the per-object
/// overhead is `HEADER_BYTES + SLOT_BYTES * slots`, plus padding up to the value's
/// alignment (at least 64).
pub const HEADER_BYTES: usize = core::mem::size_of::<segment::Header>();
/// The size of one holder slot (one cache line), in bytes.
pub const SLOT_BYTES: usize = core::mem::size_of::<segment::Slot>();
