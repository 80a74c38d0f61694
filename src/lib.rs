//! `std::unique_ptr` and `std::shared_ptr` across processes: the core of shmptr.
//!
//! This crate defines the ownership types and the segment format; a *backend*
//! supplies the memory and the processes. Depend on the backend for your platform,
//! which re-exports what you need under short names:
//!
//! - `shmptr-linux`: POSIX shared memory (`/dev/shm`) and futexes between real
//!   processes, with no libc and no heap (`shmptr_linux::Shared<T>`, ...);
//! - `shmptr-arena`: static memory with simulated processes, for bare metal and for
//!   deterministic tests (`shmptr_arena::Shared<T, Space>`, ...);
//! - your own: implement [`Region`], [`Platform`] and [`Backend`] (the
//!   `custom_backend` example does it from scratch over a static buffer).
//!
//! The types:
//!
//! | type | like | what it adds across processes |
//! |---|---|---|
//! | [`Shared<T, B>`](Shared) | `Arc<T>` | the count lives in the segment: the last holder in *any* process drops `T` and removes the name; holders that die are reclaimed |
//! | [`Unique<T, B>`](Unique) | `Box<T>` | exclusive, with hand-off: [`Unique::release`] parks it under its name, [`Unique::claim`] takes it in another process |
//! | `Shared<[T], B>`, `Unique<[T], B>` | `Arc<[T]>`, `Box<[T]>` | a length chosen at run time, stored in the segment and read back by `open`/`claim` ([`Value`]) |
//! | [`Mutex<T, P>`](Mutex), [`Condvar`], [`Semaphore`] | `std::sync` | live *inside* an object; a mutex whose owner died says so ([`ErrorKind::OwnerDied`]) |
//! | [`ShmSafe`], [`shm_safe!`] | `Send + Sync` | what may live in shared memory: no pointers, and valid for every bit pattern |
//! | [`ShmVec`], [`ShmString`], [`ShmDeque`] | `Vec`, `String`, `VecDeque` | fixed capacity, lengths clamped on every read |
//! | [`Options`] | `std::fs::OpenOptions` | mode, slot count, open timeout, foreign owners |
//!
//! Every constructor returns a [`Result`] whose [`Error`] has a matchable
//! [`ErrorKind`]; bad input is an error, never a panic.
//!
//! ```
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use shmptr_arena::{arena_space, Shared, Unique};
//!
//! arena_space!(Space, 64 * 1024);      // a backend: here static memory, no OS
//!
//! let a = Shared::<AtomicU32, Space>::create("hits", AtomicU32::new(0))?;
//! let b = Shared::<AtomicU32, Space>::open("hits")?;     // any process
//! b.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(a.load(Ordering::Relaxed), 1);
//! drop((a, b));                        // the last holder drops it and removes the name
//!
//! let job = Unique::<[u8; 4], Space>::create("job", *b"todo")?;
//! Unique::release(job);                // parked under its name, no owner
//! let mut job = Unique::<[u8; 4], Space>::claim("job")?;
//! job.copy_from_slice(b"done");
//! # Ok::<(), shmptr::Error>(())
//! ```
//!
//! What is guaranteed, against whom, and with which tests, is in the README
//! (trust model, guarantees and limits, footprint, performance); the bytes of a
//! segment are specified in `FORMAT.md`. The crate is `#![no_std]` and never
//! allocates.
// `std` only for unit tests (the loom models); the library itself is `no_std`.
#![cfg_attr(not(test), no_std)]
// Unsafe code lives only where an `allow` says so: the backend traits' contracts
// and the validity trait (whole modules), mapping a segment and its write-once
// header (whole modules), and single items: the validity impls, the mutex's value
// cell and `Sync`. Everything else is written on their safe methods.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

#[allow(unsafe_code)] // `unsafe trait Region` and `Platform`: their contracts
mod backend;
mod containers;
mod error;
#[macro_use]
mod forward;
mod handles;
// Untyped inspection and clean-up (`shmptr::inspect::inspect`, `reclaim`, `remove`).
#[cfg(not(loom))]
pub mod inspect;
#[cfg(all(test, loom))]
mod loom_support;
mod name;
mod options;
mod primitive;
mod segment;
mod shared;
#[allow(unsafe_code)] // `unsafe trait ShmSafe` and its impls for the primitives
mod shm_safe;
pub mod sync;
mod unique;
mod value;

pub use backend::{Backend, CrashPoint, Liveness, LockWait, Platform, ProcessId, Region, ThreadId, FOREIGN_HANDLES};
pub use containers::{CapacityError, ShmDeque, ShmString, ShmVec};
pub use error::{Error, ErrorKind, Result};
pub use name::{Name, NAME_MAX};
pub use options::{Access, Options};
pub use segment::MAX_SLOTS;
pub use shared::{Shared, SoleMut};
pub use shm_safe::{fingerprint, ShmSafe, Zeroable};
pub use sync::{Condvar, LockError, MappedMutexGuard, Mutex, MutexGuard, Semaphore, WaitTimeoutResult};
pub use unique::{ClaimError, Released, Unique};
pub use value::Value;

/// The size of a segment's header and of one holder slot, in bytes: the per-object
/// overhead is `HEADER_BYTES + SLOT_BYTES * slots`, plus padding up to the value's
/// alignment (at least 64).
pub const HEADER_BYTES: usize = core::mem::size_of::<segment::Header>();
/// The size of one holder slot (one cache line), in bytes.
pub const SLOT_BYTES: usize = core::mem::size_of::<segment::Slot>();
