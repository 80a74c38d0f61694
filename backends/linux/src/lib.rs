//! shmptr on Linux: POSIX shared memory between real processes.
//!
//! Objects are files in `/dev/shm` (name `n` is `/dev/shm/n`), mapped with `mmap`,
//! sized once by their creator, and waited on with futexes that work across
//! processes (no `FUTEX_PRIVATE`). Everything goes through rustix's raw syscalls:
//! no libc, no heap, usable from a static `#![no_main]` binary.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use shmptr_linux::Shared;
//!
//! # let name = format!("doc.linux.{}", std::process::id());
//! let a = Shared::<AtomicU64>::create(&name, AtomicU64::new(0))?;
//! let b = Shared::<AtomicU64>::open(&name)?;       // in this or any other process
//! b.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(a.load(Ordering::Relaxed), 1);
//! assert_eq!(Shared::strong_count(&a), 2);
//! drop((a, b));                                   // the last holder unlinks
//! assert!(Shared::<AtomicU64>::open(&name).is_err());
//! # Ok::<(), shmptr_linux::Error>(())
//! ```
//!
//! Everything a program needs comes from this crate, including `shm_safe!` and the
//! containers:
//!
//! ```
//! use std::sync::atomic::AtomicU32;
//! use shmptr_linux::{shm_safe, LockError, Mutex, Shared, ShmString};
//!
//! #[repr(C)]
//! struct Board { hits: AtomicU32, title: ShmString<16> }
//! shm_safe!(Board { hits, title });
//!
//! # let name = format!("doc.reexports.{}", std::process::id());
//! let board = Shared::<Mutex<Board>>::create(&name, Mutex::new(Board { hits: AtomicU32::new(0), title: ShmString::new() }))?;
//! let guard: Result<_, LockError<'_, Board>> = board.lock();
//! guard.map_err(|e| e.into_error())?.title.set("ready").unwrap();
//! # Ok::<(), shmptr_linux::Error>(())
//! ```
// `no_std` unless the `std` feature (on by default) is: it only caches each
// thread's identity in a `thread_local!`; the backend never allocates either way.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod identity;
pub mod inspect;
mod mappings;
mod ownership;
mod platform;
mod region;

pub use identity::{pid, same_pid_namespace};
pub use inspect::{inspect, list, reclaim, remove};
pub use mappings::MAX_MAPPINGS;
pub use region::LinuxRegion;
pub use shmptr::{
    shm_safe, Access, CapacityError, Error, ErrorKind, Liveness, Name, Options, ProcessId, Result, ShmDeque, ShmSafe,
    ShmString, ShmVec, Value, WaitTimeoutResult, Zeroable,
};

/// The Linux backend: `/dev/shm`, `mmap`, futexes, `/proc` for liveness.
#[derive(Debug)]
pub struct Linux;

/// `shmptr::Shared` on Linux.
pub type Shared<T> = shmptr::Shared<T, Linux>;
/// `shmptr::SoleMut` on Linux (from `Shared::get_mut`).
pub type SoleMut<'a, T> = shmptr::SoleMut<'a, T, Linux>;
/// `shmptr::Unique` on Linux.
pub type Unique<T> = shmptr::Unique<T, Linux>;
/// `shmptr::Released` on Linux: a released `Unique` whose mapping this process
/// keeps (from `Unique::release_mapped`).
pub type Released<T> = shmptr::Released<T, Linux>;
/// `shmptr::ClaimError` on Linux (from `Released::claim`).
pub type ClaimError<T> = shmptr::ClaimError<T, Linux>;
/// `shmptr::Mutex` on Linux: robust (reports its owner's death) across processes.
pub type Mutex<T> = shmptr::Mutex<T, Linux>;
/// `shmptr::MutexGuard` on Linux.
pub type MutexGuard<'a, T> = shmptr::MutexGuard<'a, T, Linux>;
/// `shmptr::MappedMutexGuard` on Linux (from `MutexGuard::map`).
pub type MappedMutexGuard<'a, T, U> = shmptr::MappedMutexGuard<'a, T, U, Linux>;
/// `shmptr::LockError` on Linux: why `lock` did not simply succeed.
pub type LockError<'a, T> = shmptr::LockError<'a, T, Linux>;
/// `shmptr::Condvar` on Linux.
pub type Condvar = shmptr::Condvar<Linux>;
/// `shmptr::Semaphore` on Linux.
pub type Semaphore = shmptr::Semaphore<Linux>;

// The README's examples use this crate: they run as its doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
