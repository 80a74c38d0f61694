//! Which types may live in shared memory, and how a segment remembers which one it holds.

use core::sync::atomic::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU8, AtomicUsize,
};
#[cfg(target_has_atomic = "64")]
use core::sync::atomic::{AtomicI64, AtomicU64};

/// Types whose bytes mean the same in every process that maps them.
///
/// No pointers, references, file descriptors or process-local handles: integers,
/// floats, `bool`, atomics, arrays and tuples of `ShmSafe`, the heapless inline
/// containers, and shmptr's own synchronization types. Your own structs opt in with
/// one line of [`shm_safe!`](crate::shm_safe).
///
/// Each type has a layout [`FINGERPRINT`](ShmSafe::FINGERPRINT) (name, size,
/// alignment, field offsets and field fingerprints). A segment records the
/// fingerprint of the type it was created with; opening it as another type fails
/// with [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch).
///
/// # Safety
/// Implementors promise that a value of the type stays valid when its bytes are
/// read, written and dropped by another process that maps the same memory at another
/// address: it holds no pointer, reference or process-local handle (directly or in a
/// field), and it synchronizes any shared mutation itself (it is `Sync`). The
/// fingerprint must change whenever the layout does.
///
/// Types that are not shared-memory safe do not compile:
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
pub unsafe trait ShmSafe: Sync + Send + 'static {
    /// A hash of the type's layout; equal fingerprints mean "same bytes, same meaning".
    const FINGERPRINT: u64;
}

/// Types for which all-zero bytes are a valid value, so they can be created in
/// place in freshly zeroed shared memory without a copy on the stack.
///
/// # Safety
/// The all-zero bit pattern must be a valid value of the type.
pub unsafe trait Zeroable: ShmSafe {}

/// Building blocks for [`ShmSafe::FINGERPRINT`] (FNV-1a, 64-bit), usable in `const`.
pub mod fingerprint {
    use super::ShmSafe;

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

    /// The fingerprint of the field a projection closure selects; used by
    /// [`shm_safe!`](crate::shm_safe) so that every field must itself be `ShmSafe`.
    pub const fn of_field<T, U: ShmSafe, F: FnOnce(&T) -> &U>(projection: F) -> u64 {
        core::mem::forget(projection);
        U::FINGERPRINT
    }
}

macro_rules! leaf {
    ($($ty:ty),* $(,)?) => {$(
        // SAFETY: a plain value or atomic of fixed size with no pointers; the
        // fingerprint names it and records its size and alignment.
        unsafe impl ShmSafe for $ty {
            const FINGERPRINT: u64 = fingerprint::start(
                stringify!($ty), core::mem::size_of::<$ty>(), core::mem::align_of::<$ty>());
        }
        // SAFETY: zero is a valid value of every integer, float, bool and atomic.
        unsafe impl Zeroable for $ty {}
    )*};
}

leaf!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, ());
leaf!(AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicUsize, AtomicI8, AtomicI16, AtomicI32, AtomicIsize);
#[cfg(target_has_atomic = "64")]
leaf!(AtomicU64, AtomicI64);

// SAFETY: an array of `ShmSafe` elements holds nothing but those elements.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const FINGERPRINT: u64 =
        fingerprint::word(fingerprint::word(fingerprint::start("[;]", 0, 0), N as u64), T::FINGERPRINT);
}
// SAFETY: an array of all-zero-valid elements is all-zero-valid.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

macro_rules! tuple {
    ($($name:ident : $idx:tt),+) => {
        // SAFETY: a tuple of `ShmSafe` fields; the fingerprint records each offset.
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

// SAFETY: heapless::Vec stores its length and elements inline, no pointers.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for heapless::Vec<T, N> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::word(
            fingerprint::start("heapless::Vec", core::mem::size_of::<Self>(), core::mem::align_of::<Self>()),
            N as u64,
        ),
        T::FINGERPRINT,
    );
}
// SAFETY: heapless::String is a heapless::Vec<u8, N>: inline bytes and a length.
unsafe impl<const N: usize> ShmSafe for heapless::String<N> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::start("heapless::String", core::mem::size_of::<Self>(), core::mem::align_of::<Self>()),
        N as u64,
    );
}
// SAFETY: heapless::Deque stores its indices and elements inline, no pointers.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for heapless::Deque<T, N> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::word(
            fingerprint::start("heapless::Deque", core::mem::size_of::<Self>(), core::mem::align_of::<Self>()),
            N as u64,
        ),
        T::FINGERPRINT,
    );
}

/// Declares a struct of yours [`ShmSafe`], in one line.
///
/// List every field (the macro fails to compile if one is missing) and every field
/// must itself be `ShmSafe`. The fingerprint records the struct's name, size,
/// alignment and each field's offset and fingerprint, so two programs that disagree
/// on the layout cannot open each other's objects (`TypeMismatch`). Use
/// `#[repr(C)]` so that the layout is the same in every build.
///
/// ```
/// use core::sync::atomic::AtomicU64;
/// #[repr(C)]
/// struct Stats { hits: AtomicU64, misses: AtomicU64, ratio: [f32; 4] }
/// shmptr::shm_safe!(Stats { hits, misses, ratio });
/// ```
/// A missing field or a field that is not shared-memory safe does not compile:
/// ```compile_fail,E0277
/// struct Bad { a: u32, b: Box<u8> }
/// shmptr::shm_safe!(Bad { a, b });
/// ```
/// ```compile_fail
/// struct Partial { a: u32, b: u32 }
/// shmptr::shm_safe!(Partial { a });
/// ```
#[macro_export]
macro_rules! shm_safe {
    ($ty:ident { $($field:ident),+ $(,)? }) => {
        // SAFETY: every field is listed (the pattern below has no `..`) and is itself
        // `ShmSafe` (`of_field` demands it); the fingerprint records every offset.
        unsafe impl $crate::ShmSafe for $ty {
            const FINGERPRINT: u64 = {
                let h = $crate::fingerprint::start(
                    ::core::stringify!($ty),
                    ::core::mem::size_of::<$ty>(),
                    ::core::mem::align_of::<$ty>(),
                );
                $(let h = $crate::fingerprint::field(
                    h,
                    ::core::mem::offset_of!($ty, $field),
                    $crate::fingerprint::of_field(|v: &$ty| &v.$field),
                );)+
                h
            };
        }
        const _: fn(&$ty) = |v: &$ty| {
            let $ty { $($field: _),+ } = v;
        };
    };
}
