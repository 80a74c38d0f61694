//! [`shm_safe!`](crate::shm_safe!): a struct of yours is `ShmSafe` (and `Zeroable`) in one line.

/// Declares a struct of yours [`ShmSafe`](crate::ShmSafe), in one line.
///
/// List every field (the macro fails to compile if one is missing) and every field
/// must itself be `ShmSafe`, so that every bit pattern of the struct is a valid value.
/// The fingerprint records the struct's name, size, alignment and each field's
/// offset and fingerprint, so two programs that disagree on the layout cannot open
/// each other's objects (`TypeMismatch`). Use `#[repr(C)]` so that the layout is the
/// same in every build.
///
/// ```
/// use core::sync::atomic::AtomicU64;
/// #[repr(C)]
/// struct Stats { hits: AtomicU64, misses: AtomicU64, ratio: [f32; 4] }
/// shmptr::shm_safe!(Stats { hits, misses, ratio });
/// ```
///
/// # Zeroable in the same line
/// Add `, Zeroable` when all-zero bytes are the value to start from; then every field
/// must be [`Zeroable`](crate::Zeroable) too, and the struct can be created in place
/// with `create_zeroed`:
/// ```
/// use core::sync::atomic::AtomicU64;
/// #[repr(C)]
/// struct Stats { hits: AtomicU64, misses: AtomicU64, name: shmptr::ShmString<32> }
/// shmptr::shm_safe!(Stats { hits, misses, name }, Zeroable);
///
/// fn zeroable<T: shmptr::Zeroable>() {}
/// zeroable::<Stats>();
/// ```
/// A field that is `ShmSafe` but not `Zeroable` is refused:
/// ```compile_fail,E0277
/// #[repr(C)]
/// struct Inner { x: u32 }
/// shmptr::shm_safe!(Inner { x }); // ShmSafe only
/// #[repr(C)]
/// struct Outer { inner: Inner, y: u32 }
/// shmptr::shm_safe!(Outer { inner, y }, Zeroable);
/// ```
///
/// # Generic structs
/// Write the parameters with their bounds, as in the struct's definition (bounds go
/// inline; no `where` clause, no lifetimes — a `ShmSafe` type is `'static`). A struct
/// that holds a [`Mutex`](crate::Mutex), generic over the backend's platform:
/// ```
/// use shmptr::{Mutex, Platform, ShmDeque};
/// #[repr(C)]
/// struct Board<B: Platform> { ring: Mutex<ShmDeque<u32, 16>, B>, count: Mutex<u32, B> }
/// shmptr::shm_safe!(Board<B: shmptr::Platform> { ring, count });
///
/// fn needs<T: shmptr::ShmSafe>() {}
/// fn check<B: Platform>() {
///     needs::<Board<B>>();
/// }
/// ```
/// Const parameters, and type parameters with several bounds:
/// ```
/// #[repr(C)]
/// struct Buf<const N: usize> { len: u32, data: [u8; N] }
/// shmptr::shm_safe!(Buf<const N: usize> { len, data }, Zeroable);
///
/// #[repr(C)]
/// struct Pair<T: shmptr::ShmSafe + Copy, const N: usize> { a: T, b: [T; N] }
/// shmptr::shm_safe!(Pair<T: shmptr::ShmSafe + Copy, const N: usize> { a, b });
///
/// fn needs<T: shmptr::Zeroable>() {}
/// needs::<Buf<64>>();
/// assert_ne!(
///     <Pair<u32, 2> as shmptr::ShmSafe>::FINGERPRINT,
///     <Pair<u64, 2> as shmptr::ShmSafe>::FINGERPRINT,
/// );
/// ```
///
/// # What does not compile
/// A field that is not shared-memory safe, or a missing field:
/// ```compile_fail,E0277
/// struct Bad { a: u32, b: Box<u8> }
/// shmptr::shm_safe!(Bad { a, b });
/// ```
/// ```compile_fail
/// struct Partial { a: u32, b: u32 }
/// shmptr::shm_safe!(Partial { a });
/// ```
/// A generic field without the bound that makes it `ShmSafe`:
/// ```compile_fail,E0277
/// struct Wrap<T: Send + Sync + 'static> { value: T }
/// shmptr::shm_safe!(Wrap<T: Send + Sync + 'static> { value });
/// ```
#[macro_export]
macro_rules! shm_safe {
    ($name:ident { $($field:ident),+ $(,)? } $(,)?) => {
        $crate::__shm_safe_impl!(@impl [$name] [] [] [$($field)+] [of_field] []);
    };
    ($name:ident { $($field:ident),+ $(,)? }, Zeroable $(,)?) => {
        $crate::__shm_safe_impl!(@impl [$name] [] [] [$($field)+] [of_zeroable_field] [Zeroable]);
    };
    ($name:ident < $($rest:tt)+) => {
        $crate::__shm_safe_impl!(@param [$name] [] [] $($rest)+);
    };
}

/// The workings of [`shm_safe!`](crate::shm_safe!); not an API.
///
/// Generic parameters are read one token at a time: `@param` records a parameter's
/// name (after `const`, if any), `@bound` copies its bounds up to the `,` or `>`
/// that ends it (`<`/`>` inside a bound nest, one `@` each), `@end` reads the fields,
/// `@impl` writes the impls.
#[doc(hidden)]
#[macro_export]
macro_rules! __shm_safe_impl {
    // A parameter: `const N: ty` or `T` (with or without bounds).
    (@param [$name:ident] [$($g:tt)*] [$($a:ident)*] const $n:ident $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* const $n] [$($a)* $n] [] $($rest)*);
    };
    (@param [$name:ident] [$($g:tt)*] [$($a:ident)*] > $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@end [$name] [$($g)*] [$($a)*] $($rest)*);
    };
    (@param [$name:ident] [$($g:tt)*] [$($a:ident)*] $n:ident $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* $n] [$($a)* $n] [] $($rest)*);
    };

    // A parameter's bounds, up to the `,` or `>` at depth 0.
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [] , $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@param [$name] [$($g)* ,] [$($a)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [] > $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@end [$name] [$($g)*] [$($a)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [@] >> $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@end [$name] [$($g)* >] [$($a)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [@ @ $($d:tt)*] >> $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* >>] [$($a)*] [$($d)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [@ $($d:tt)*] > $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* >] [$($a)*] [$($d)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [$($d:tt)*] < $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* <] [$($a)*] [@ $($d)*] $($rest)*);
    };
    (@bound [$name:ident] [$($g:tt)*] [$($a:ident)*] [$($d:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__shm_safe_impl!(@bound [$name] [$($g)* $t] [$($a)*] [$($d)*] $($rest)*);
    };

    // After the parameters: the fields, and `Zeroable` or not.
    (@end [$name:ident] [$($g:tt)*] [$($a:ident)*] { $($field:ident),+ $(,)? } $(,)?) => {
        $crate::__shm_safe_impl!(@impl [$name] [$($g)*] [$($a)*] [$($field)+] [of_field] []);
    };
    (@end [$name:ident] [$($g:tt)*] [$($a:ident)*] { $($field:ident),+ $(,)? }, Zeroable $(,)?) => {
        $crate::__shm_safe_impl!(@impl [$name] [$($g)*] [$($a)*] [$($field)+] [of_zeroable_field] [Zeroable]);
    };

    (@impl [$name:ident] [$($g:tt)*] [$($a:ident)*] [$($field:ident)+] [$of:ident] [$($zeroable:ident)?]) => {
        // the checks above make the claim true
        #[allow(unsafe_code)]
        // SAFETY: every field is listed (the pattern below has no `..`) and is itself
        // `ShmSafe` (`of_field` demands it), so every bit pattern of the struct is a
        // valid value; the fingerprint records the name, size, alignment, and every
        // field's offset and fingerprint.
        unsafe impl<$($g)*> $crate::ShmSafe for $name<$($a),*> {
            const FINGERPRINT: u64 = {
                let _every_field_is_listed = |v: &Self| {
                    let $name { $($field: _),+ } = v;
                };
                let h = $crate::fingerprint::start(
                    ::core::stringify!($name),
                    ::core::mem::size_of::<Self>(),
                    ::core::mem::align_of::<Self>(),
                );
                $(let h = $crate::fingerprint::field(
                    h,
                    ::core::mem::offset_of!(Self, $field),
                    $crate::fingerprint::$of(|v: &Self| &v.$field),
                );)+
                h
            };
        }
        $crate::__shm_safe_impl!(@zeroable [$($zeroable)?] [$name] [$($g)*] [$($a)*]);
    };

    (@zeroable [] [$name:ident] [$($g:tt)*] [$($a:ident)*]) => {};
    (@zeroable [Zeroable] [$name:ident] [$($g:tt)*] [$($a:ident)*]) => {
        // the checks above make the claim true
        #[allow(unsafe_code)]
        // SAFETY: every field is listed and `Zeroable` (the fingerprint above uses
        // `of_zeroable_field`, which demands it), so all-zero bytes are a valid value;
        // padding may hold anything.
        unsafe impl<$($g)*> $crate::Zeroable for $name<$($a),*> {}
    };
}
