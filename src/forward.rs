//! What `Arc` and `Box` forward to their value, forwarded the same way for
//! [`Shared`](crate::Shared) and [`Unique`](crate::Unique): comparisons, hashing,
//! `Display`, `AsRef` and `Borrow` see the value, as `Deref` does; `fmt::Pointer`
//! prints its address in this handle's mapping. One definition for both handles.

/// Implements the value-forwarding traits for `$handle<T, B>`, whose std
/// counterpart is `$std` (named in the docs); `$tag` keeps the doc examples' object
/// names apart.
macro_rules! forward_to_value {
    ($handle:ident, $std:literal, $tag:literal) => {
        impl<T: ?Sized + Value + PartialEq, B: Backend> PartialEq for $handle<T, B> {
            #[doc = concat!("Compares the values, as `", $std, "` does: two objects with equal values are equal.")]
            ///
            /// ```
            #[doc = concat!("let a = shmptr_arena::", stringify!($handle), "::<u32>::create(\"", $tag, ".eq.a\", 7)?;")]
            #[doc = concat!("let b = shmptr_arena::", stringify!($handle), "::<u32>::create(\"", $tag, ".eq.b\", 7)?;")]
            /// assert!(a == b);
            /// # Ok::<(), shmptr::Error>(())
            /// ```
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                **self == **other
            }
        }

        impl<T: ?Sized + Value + Eq, B: Backend> Eq for $handle<T, B> {}

        impl<T: ?Sized + Value + PartialOrd, B: Backend> PartialOrd for $handle<T, B> {
            #[doc = concat!("Compares the values, as `", $std, "` does.")]
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
                (**self).partial_cmp(&**other)
            }
            #[inline]
            fn lt(&self, other: &Self) -> bool {
                **self < **other
            }
            #[inline]
            fn le(&self, other: &Self) -> bool {
                **self <= **other
            }
            #[inline]
            fn gt(&self, other: &Self) -> bool {
                **self > **other
            }
            #[inline]
            fn ge(&self, other: &Self) -> bool {
                **self >= **other
            }
        }

        impl<T: ?Sized + Value + Ord, B: Backend> Ord for $handle<T, B> {
            #[doc = concat!("Compares the values, as `", $std, "` does.")]
            #[inline]
            fn cmp(&self, other: &Self) -> core::cmp::Ordering {
                (**self).cmp(&**other)
            }
        }

        impl<T: ?Sized + Value + core::hash::Hash, B: Backend> core::hash::Hash for $handle<T, B> {
            #[doc = concat!("Hashes the value, as `", $std, "` does (consistent with `PartialEq` and `Borrow`).")]
            #[inline]
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                (**self).hash(state)
            }
        }

        impl<T: ?Sized + Value + core::fmt::Display, B: Backend> core::fmt::Display for $handle<T, B> {
            /// Displays the value.
            ///
            /// ```
            #[doc = concat!("let n = shmptr_arena::", stringify!($handle), "::<u32>::create(\"", $tag, ".display\", 42)?;")]
            /// assert_eq!(n.to_string(), "42");
            /// # Ok::<(), shmptr::Error>(())
            /// ```
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + Value, B: Backend> core::fmt::Pointer for $handle<T, B> {
            /// The address of the value in this handle's mapping (another mapping of
            /// the object, here or in another process, may be elsewhere).
            ///
            /// ```
            #[doc = concat!("let n = shmptr_arena::", stringify!($handle), "::<u32>::create(\"", $tag, ".pointer\", 42)?;")]
            /// assert_eq!(format!("{n:p}"), format!("{:p}", &*n));
            /// # Ok::<(), shmptr::Error>(())
            /// ```
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Pointer::fmt(&core::ptr::from_ref::<T>(self), f)
            }
        }

        impl<T: ?Sized + Value, B: Backend> AsRef<T> for $handle<T, B> {
            #[inline]
            fn as_ref(&self) -> &T {
                self
            }
        }

        impl<T: ?Sized + Value, B: Backend> core::borrow::Borrow<T> for $handle<T, B> {
            #[inline]
            fn borrow(&self) -> &T {
                self
            }
        }
    };
}
