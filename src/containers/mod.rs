//! Fixed-capacity containers that a peer cannot break: [`ShmVec`], [`ShmString`],
//! [`ShmDeque`].
//!
//! They replace heapless's containers inside shared memory. heapless's types are
//! `repr(Rust)` (their layout may change between builds) and trust their own length:
//! `heapless::Vec::as_slice` builds a slice of the stored length without a check, so
//! a peer that writes a large length makes every reader read out of bounds. Ours are
//! `#[repr(C)]` and [`ShmSafe`](crate::ShmSafe) by construction:
//!
//! - The length and the ring's head are 32-bit atomics (load and store only, which
//!   every target has, `thumbv6m` included). Each operation reads them **once**, with
//!   an atomic load (also through `&mut self`: a plain read there would let the
//!   compiler read the bytes again after the check), and clamps the value to the
//!   capacity (the head: reduces it modulo the capacity) before it indexes anything.
//!   A forged length is then only a different amount of data, never an access out of
//!   bounds.
//! - Every element slot always holds a valid `T` (every bit pattern of a `T:
//!   ShmSafe` is one): the unused slots start zeroed and are zeroed again when an
//!   element moves out, so a forged length can only bring back zeros, not an element
//!   that was already moved out or dropped.
//! - Dropping (or clearing) a container drops the clamped live elements only, each
//!   once; the unused slots are never dropped.
//! - [`ShmString`] never hands out a `&str` into shared memory: a peer could break its
//!   UTF-8 after the check, and `str`'s methods trust it. It copies the bytes into a
//!   local `heapless::String` and validates the copy.
//!
//! The atomics carry no ordering (`Relaxed`): the length is a value that is clamped
//! before use, not a synchronization point. Whatever grants the `&mut` that mutates a
//! container (a [`MutexGuard`](crate::MutexGuard), a [`Unique`](crate::Unique))
//! orders its writes before another process's reads.

mod deque;
mod string;
mod vec;

pub use deque::ShmDeque;
pub use string::ShmString;
pub use vec::ShmVec;

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

/// A value did not fit in a fixed-capacity container; the container is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    capacity: usize,
}

impl CapacityError {
    const fn new(capacity: usize) -> Self {
        CapacityError { capacity }
    }

    /// The capacity of the container that refused the value (elements, or bytes for
    /// a [`ShmString`]).
    pub const fn capacity(&self) -> usize {
        self.capacity
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the value does not fit in a container with a fixed capacity of {}; the container was left unchanged \
             (use a larger capacity or a smaller value)",
            self.capacity
        )
    }
}

impl core::error::Error for CapacityError {}

/// Fails to compile (when `N` is used) if a length up to `N` does not fit the 32-bit
/// length word.
struct Fits<const N: usize>;

impl<const N: usize> Fits<N> {
    const CHECK: () = assert!(N <= u32::MAX as usize, "a shmptr container holds at most u32::MAX elements");
}

/// A length word in shared memory: read once, clamped to `N`.
#[repr(transparent)]
struct Length<const N: usize>(AtomicU32);

impl<const N: usize> Length<N> {
    const fn new() -> Self {
        let () = Fits::<N>::CHECK;
        Length(AtomicU32::new(0))
    }

    /// The stored length, clamped to `N`: one atomic load, whatever a peer wrote.
    fn get(&self) -> usize {
        // Relaxed: a value to clamp, not a synchronization point (module docs).
        (self.0.load(Ordering::Relaxed) as usize).min(N)
    }

    /// Stores `len` (at most `N`).
    fn set(&self, len: usize) {
        let () = Fits::<N>::CHECK;
        debug_assert!(len <= N);
        // Relaxed: see `get`. `len <= N <= u32::MAX` (`Fits`), so the cast is exact.
        self.0.store(len as u32, Ordering::Relaxed);
    }
}

/// `(start + k) % N` for `start < N` and `k <= N`, without overflow.
const fn wrap_add<const N: usize>(start: usize, k: usize) -> usize {
    if k >= N - start {
        k - (N - start)
    } else {
        start + k
    }
}

/// An element with drop glue for the tests: counts its drops on this thread, apart
/// for `id` 0 (a zeroed slot that a forged length brought back to life).
#[cfg(test)]
mod counted {
    use core::cell::Cell;

    std::thread_local! {
        static DROPS: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    }

    #[derive(Debug)]
    #[repr(C)]
    pub(super) struct Counted {
        pub(super) id: u32,
    }
    crate::shm_safe!(Counted { id });

    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.with(|d| {
                let (values, zeros) = d.get();
                d.set(if self.id == 0 { (values, zeros + 1) } else { (values + 1, zeros) });
            });
        }
    }

    /// Drops on this thread so far: `(values, zeroed slots)`.
    pub(super) fn drops() -> (u32, u32) {
        DROPS.with(Cell::get)
    }

    /// Drops on this thread since `before` (an earlier [`drops`]).
    pub(super) fn since(before: (u32, u32)) -> (u32, u32) {
        let now = drops();
        (now.0 - before.0, now.1 - before.1)
    }
}
