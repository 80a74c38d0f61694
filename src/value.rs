//! What a [`Shared`](crate::Shared) or [`Unique`](crate::Unique) can hold: one
//! `T: ShmSafe`, or a slice `[T]` of them whose length is chosen at run time.

use core::mem::{align_of, size_of};
use core::ptr::NonNull;

use crate::segment::{Kind, Shape, ValueType};
use crate::shm_safe::ShmSafe;

/// A type a [`Shared`](crate::Shared) or a [`Unique`](crate::Unique) can hold:
/// every `T: ShmSafe` (a value of a size known at compile time), and `[T]` for
/// such a `T` (a slice whose length is chosen when the object is created and read
/// from its header when it is opened).
///
/// Sealed: implemented by this crate only. Make a type holdable by making it
/// [`ShmSafe`] (`shm_safe!`).
///
/// ```
/// use shmptr_arena::Shared;
/// let table = Shared::<[u32]>::from_slice("value.table", &[1, 2, 3])?;
/// let again = Shared::<[u32]>::open("value.table")?; // the length is the object's
/// assert_eq!(&*again, &[1, 2, 3]);
/// assert_eq!(Shared::<u32>::open("value.table").unwrap_err().kind(), shmptr::ErrorKind::TypeMismatch);
/// # drop(table);
/// # Ok::<(), shmptr::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in shared memory",
    label = "not `ShmSafe`",
    note = "a `Shared` or `Unique` holds a `T: ShmSafe` or a slice `[T]` of them; see `shmptr::ShmSafe` for what qualifies and `shm_safe!` to declare your own types"
)]
pub trait Value: sealed::Layout + Sync + Send + 'static {}

impl<T: ShmSafe> Value for T {}
impl<T: ShmSafe> Value for [T] {}

pub(crate) mod sealed {
    use super::*;

    /// How a [`Value`](super::Value) lies in a segment: the only way the core
    /// turns a segment's value bytes into a pointer to one.
    pub trait Layout {
        /// A slice (else one value).
        const SLICE: bool;
        /// The value's (a slice's: its element's) size, alignment and fingerprint.
        const SIZE: usize;
        /// See [`SIZE`](Self::SIZE).
        const ALIGN: usize;
        /// See [`SIZE`](Self::SIZE).
        const FINGERPRINT: u64;
        /// A slice of zero-sized elements that need dropping: refused. Its length
        /// costs no bytes, so a peer could forge any length (with a valid
        /// checksum) and have the last holder run the element's `Drop` that many
        /// times. Zero-sized elements without a drop are fine.
        const UNBOUNDED_DROP: bool;

        /// What a handle keeps beside its mapping to make a pointer to the whole
        /// value: nothing for one value (handles of sized values stay as small
        /// as before slices), the element count for a slice.
        type Length: Copy + Send + Sync + 'static;

        /// The `Length` of a value whose layout has `length` elements (0 for one
        /// value).
        fn length(length: usize) -> Self::Length;

        /// The element count of `length` (0 for one value).
        fn count(length: Self::Length) -> usize;

        /// A pointer to the value at `start` (a slice: of `length` elements).
        /// Making it is safe; using it is the caller's business.
        fn at(start: NonNull<u8>, length: Self::Length) -> NonNull<Self>;
    }

    impl<T: ShmSafe> Layout for T {
        const SLICE: bool = false;
        const SIZE: usize = size_of::<T>();
        const ALIGN: usize = align_of::<T>();
        const FINGERPRINT: u64 = T::FINGERPRINT;
        const UNBOUNDED_DROP: bool = false;

        type Length = ();

        #[inline(always)]
        fn length(_length: usize) {}

        #[inline(always)]
        fn count(_length: ()) -> usize {
            0
        }

        #[inline(always)]
        fn at(start: NonNull<u8>, _length: ()) -> NonNull<T> {
            start.cast()
        }
    }

    impl<T: ShmSafe> Layout for [T] {
        const SLICE: bool = true;
        const SIZE: usize = size_of::<T>();
        const ALIGN: usize = align_of::<T>();
        const FINGERPRINT: u64 = T::FINGERPRINT;
        const UNBOUNDED_DROP: bool = size_of::<T>() == 0 && core::mem::needs_drop::<T>();

        type Length = usize;

        #[inline(always)]
        fn length(length: usize) -> usize {
            length
        }

        #[inline(always)]
        fn count(length: usize) -> usize {
            length
        }

        #[inline(always)]
        fn at(start: NonNull<u8>, length: usize) -> NonNull<[T]> {
            NonNull::slice_from_raw_parts(start.cast(), length)
        }
    }
}

/// What an object of kind `kind` holding a `V` looks like to an opener (a
/// constant, once inlined).
#[inline(always)]
pub(crate) fn value_type<V: ?Sized + Value>(kind: Kind) -> ValueType {
    let shape = if V::SLICE { Shape::Slice } else { Shape::One };
    ValueType { kind, shape, size: V::SIZE, align: V::ALIGN, fingerprint: V::FINGERPRINT }
}
