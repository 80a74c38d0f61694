//! Which types may live in shared memory, and how a segment remembers which one it holds.
//!
//! The rule is [`ShmSafe`]'s: **every bit pattern is a valid, safe value**. Another
//! process that maps the object may write any byte at any time, and a process killed
//! in the middle of an update leaves whatever bytes it had written so far; neither may
//! break the memory safety of the processes that read them. So the trait admits
//! integers, floats, atomics (but `AtomicBool`), arrays and tuples of them, our
//! synchronization types and our own `#[repr(C)]` fixed-capacity containers
//! ([`ShmVec`](crate::ShmVec), [`ShmString`](crate::ShmString),
//! [`ShmDeque`](crate::ShmDeque)), which clamp every length they read; and not `bool`,
//! `char`, enums or third-party `repr(Rust)` types such as heapless's containers.
//!
//! We do not depend on zerocopy or bytemuck for this, although `ShmSafe` makes the same
//! promise as zerocopy's `FromBytes` and bytemuck's `AnyBitPattern`: the core's
//! dependencies are limited to heapless and static_assertions. bytemuck's
//! `AnyBitPattern` requires `Copy`, which excludes atomics and our synchronization
//! types, and zerocopy's derive is a proc-macro dependency, while we need a layout
//! fingerprint that neither computes; [`shm_safe!`](crate::shm_safe!) does both jobs in
//! one declarative macro.

use core::sync::atomic::{AtomicI16, AtomicI32, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU8, AtomicUsize};
#[cfg(target_has_atomic = "64")]
use core::sync::atomic::{AtomicI64, AtomicU64};

mod declare;

/// Types that may live in shared memory: their bytes mean the same in every process
/// that maps them, and **every bit pattern is a valid value**.
///
/// # The rule, and why
/// Peers are untrusted for memory safety: any process that can write the object may
/// write any byte of it at any time, and a process killed in the middle of an update
/// leaves torn bytes behind for crash recovery to pick up. Either way, the bytes a
/// process finds are whatever they are, so every one of them must be a valid `T` —
/// the promise of zerocopy's `FromBytes` and bytemuck's `AnyBitPattern`. A type with
/// a forbidden bit pattern (`bool` is 0 or 1, `char` a scalar value, an enum one of
/// its discriminants) would let one process hand another an invalid value, which is
/// undefined behaviour; a type that trusts a length or an index in its own bytes
/// (`heapless::Vec` indexes its buffer with its stored length without a check) would
/// let it read out of bounds.
///
/// | `ShmSafe` | not `ShmSafe` |
/// |---|---|
/// | `u8`..`u128`, `i8`..`i128`, `usize`, `isize`, `f32`, `f64`, `()` | `bool`, `char`, enums (`Option` too), `NonZero*` |
/// | atomics: `AtomicU8`..`AtomicU64`, `AtomicI8`..`AtomicI64`, `AtomicUsize`, `AtomicIsize` (64-bit ones where the target has them) | `AtomicBool`, `AtomicPtr` |
/// | `[T; N]` and tuples of up to four `ShmSafe` fields | references, raw pointers, `Box`, file descriptors, any process-local handle |
/// | [`Mutex`](crate::Mutex), [`Condvar`](crate::Condvar), [`Semaphore`](crate::Semaphore) | `Cell`, `RefCell` and other types that are not `Sync` |
/// | [`ShmVec`](crate::ShmVec), [`ShmString`](crate::ShmString), [`ShmDeque`](crate::ShmDeque) | `heapless::{Vec, String, Deque}` and other third-party `repr(Rust)` types |
/// | `#[repr(C)]` structs of `ShmSafe` fields, declared with [`shm_safe!`](crate::shm_safe!) | unsized types (`str`, `[T]`) |
///
/// Third-party `repr(Rust)` types are out twice over: their layout may change between
/// two builds of the same program, and they may trust their own bytes. Use the
/// containers of this crate instead: they read each length once, clamp it to the
/// capacity, and never hand out a `&str` into shared memory.
///
/// Each type has a layout [`FINGERPRINT`](ShmSafe::FINGERPRINT) (name, size,
/// alignment, field offsets and field fingerprints). A segment records the
/// fingerprint of the type it was created with; opening it as another type fails
/// with [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch).
///
/// # Safety
/// Implementors promise that
/// - every bit pattern of `size_of::<Self>()` bytes is a valid value, and a *safe*
///   one: the type's own code never relies on a relation between its bytes (a length
///   within the capacity, valid UTF-8, an index in range) without checking it on
///   every read, because another process may rewrite them between two reads;
/// - it holds no pointer, reference, file descriptor or process-local handle,
///   directly or in a field, so that its bytes mean the same in a process that maps
///   them at another address;
/// - it synchronizes any shared mutation itself (it is `Sync`);
/// - the fingerprint changes whenever the layout does.
///
/// # What does not compile
/// Types with pointers or process-local state:
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<Box<u8>>();
/// ```
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<&'static str>();
/// ```
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<core::cell::Cell<u8>>();
/// ```
/// Types with invalid bit patterns — `bool`, `char`, an enum — and third-party
/// containers that trust their own length:
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<bool>();
/// ```
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<char>();
/// ```
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// enum Mode { Idle, Busy }
/// needs::<Mode>();
/// ```
/// ```compile_fail,E0277
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<heapless::String<8>>();
/// ```
/// The same types are refused as fields of a struct declared with
/// [`shm_safe!`](crate::shm_safe!):
/// ```compile_fail,E0277
/// #[repr(C)]
/// struct Flags { ready: bool }
/// shmptr::shm_safe!(Flags { ready });
/// ```
/// ```compile_fail,E0277
/// #[repr(C)]
/// struct Letter { c: char }
/// shmptr::shm_safe!(Letter { c });
/// ```
/// ```compile_fail,E0277
/// enum Mode { Idle, Busy }
/// #[repr(C)]
/// struct Job { mode: Mode }
/// shmptr::shm_safe!(Job { mode });
/// ```
/// ```compile_fail,E0277
/// #[repr(C)]
/// struct Named { name: heapless::String<8> }
/// shmptr::shm_safe!(Named { name });
/// ```
/// The replacements compile:
/// ```
/// fn needs<T: shmptr::ShmSafe>() {}
/// needs::<u8>(); // for a flag
/// needs::<u32>(); // for a char (`char::from_u32` when reading) or an enum's discriminant
/// needs::<shmptr::ShmString<8>>();
/// ```
pub unsafe trait ShmSafe: Sync + Send + 'static {
    /// A hash of the type's layout; equal fingerprints mean "same bytes, same meaning".
    const FINGERPRINT: u64;
}

/// Types for which all-zero bytes are the value you expect to start from (zero
/// counters, an unlocked mutex, an empty container), so they can be created in place
/// in freshly zeroed shared memory without a copy on the stack.
///
/// Declare it for your own structs with `shm_safe!(Name { fields }, Zeroable)`.
///
/// # Safety
/// The all-zero bit pattern must be a valid value of the type, and a value that the
/// type's users may start from.
pub unsafe trait Zeroable: ShmSafe {}

/// A value of `T` whose bytes are all zero.
///
/// Valid for every `T: ShmSafe`, whose values are all its bit patterns (not only for
/// `T: Zeroable`): the containers fill their unused slots with it.
pub(crate) const fn zeroed<T: ShmSafe>() -> T {
    // SAFETY: `T: ShmSafe` promises that every bit pattern is a valid value of `T`,
    // so the all-zero one is.
    unsafe { core::mem::zeroed() }
}

/// Building blocks for [`ShmSafe::FINGERPRINT`] (FNV-1a, 64-bit), usable in `const`.
pub mod fingerprint {
    use super::{ShmSafe, Zeroable};

    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// Mixes `bytes` into `hash`.
    pub const fn bytes(mut hash: u64, bytes: &[u8]) -> u64 {
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(PRIME);
            i += 1;
        }
        hash
    }

    /// Mixes the integer `value` into `hash`.
    pub const fn word(hash: u64, value: u64) -> u64 {
        bytes(hash, &value.to_le_bytes())
    }

    /// The fingerprint of a type's name, size and alignment, before its fields.
    pub const fn start(name: &str, size: usize, align: usize) -> u64 {
        word(word(bytes(OFFSET, name.as_bytes()), size as u64), align as u64)
    }

    /// Mixes a field at `offset` with fingerprint `field` into `hash`.
    pub const fn field(hash: u64, offset: usize, field: u64) -> u64 {
        word(word(hash, offset as u64), field)
    }

    /// The fingerprint of a fixed-capacity container type `C` named `name`, holding
    /// up to `capacity` elements of fingerprint `element` (shmptr's own containers).
    pub const fn container<C>(name: &str, capacity: usize, element: u64) -> u64 {
        word(word(start(name, core::mem::size_of::<C>(), core::mem::align_of::<C>()), capacity as u64), element)
    }

    /// The fingerprint of the field a projection closure selects; used by
    /// [`shm_safe!`](crate::shm_safe!) so that every field must itself be `ShmSafe`.
    pub const fn of_field<T, U: ShmSafe, F: FnOnce(&T) -> &U>(projection: F) -> u64 {
        core::mem::forget(projection);
        U::FINGERPRINT
    }

    /// [`of_field`] for a field that must also be [`Zeroable`]; used by
    /// `shm_safe!(Name { fields }, Zeroable)`. The same fingerprint as `of_field`.
    pub const fn of_zeroable_field<T, U: Zeroable, F: FnOnce(&T) -> &U>(projection: F) -> u64 {
        core::mem::forget(projection);
        U::FINGERPRINT
    }
}

macro_rules! leaf {
    ($($ty:ty),* $(,)?) => {$(
        // SAFETY: an integer, a float, `()` or an atomic of one: fixed size, no
        // pointers, and every bit pattern is a valid value. The fingerprint names
        // the type and records its size and alignment.
        unsafe impl ShmSafe for $ty {
            const FINGERPRINT: u64 = fingerprint::start(
                stringify!($ty), core::mem::size_of::<$ty>(), core::mem::align_of::<$ty>());
        }
        // SAFETY: zero is a valid value of every integer, float and atomic, and `()`
        // has no bytes.
        unsafe impl Zeroable for $ty {}
    )*};
}

leaf!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, ());
leaf!(AtomicU8, AtomicU16, AtomicU32, AtomicUsize, AtomicI8, AtomicI16, AtomicI32, AtomicIsize);
#[cfg(target_has_atomic = "64")]
leaf!(AtomicU64, AtomicI64);

// SAFETY: an array of `ShmSafe` elements holds nothing but those elements, so its bit
// patterns are exactly the tuples of its elements' (all valid).
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const FINGERPRINT: u64 =
        fingerprint::word(fingerprint::word(fingerprint::start("[;]", 0, 0), N as u64), T::FINGERPRINT);
}
// SAFETY: an array of all-zero-valid elements is all-zero-valid.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

macro_rules! tuple {
    ($($name:ident : $idx:tt),+) => {
        // SAFETY: a tuple of `ShmSafe` fields: every bit pattern of each field is
        // valid and padding may hold anything. The fingerprint records each offset,
        // so two builds that order the fields differently get `TypeMismatch`.
        unsafe impl<$($name: ShmSafe),+> ShmSafe for ($($name,)+) {
            const FINGERPRINT: u64 = {
                let h = fingerprint::start(
                    "()", core::mem::size_of::<Self>(), core::mem::align_of::<Self>());
                $(let h = fingerprint::field(h, core::mem::offset_of!(Self, $idx), $name::FINGERPRINT);)+
                h
            };
        }
        // SAFETY: a tuple of all-zero-valid fields is all-zero-valid (padding is free).
        unsafe impl<$($name: Zeroable),+> Zeroable for ($($name,)+) {}
    };
}
tuple!(A: 0);
tuple!(A: 0, B: 1);
tuple!(A: 0, B: 1, C: 2);
tuple!(A: 0, B: 1, C: 2, D: 3);
