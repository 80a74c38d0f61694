//! `Unique<T>`: `std::unique_ptr` across processes, with hand-off.

use core::borrow::{Borrow, BorrowMut};
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::{Deref, DerefMut};

use crate::backend::Backend;
use crate::error::Result;
use crate::name::Name;
use crate::options::Options;
use crate::segment::UniqueHandle;
use crate::shm_safe::ShmSafe;

/// A `T` in shared memory owned by exactly one process at a time.
///
/// The segment's owner word names the owning process. [`Unique::release`]
/// parks the object under its name with no owner; another process
/// [`claim`](Unique::claim)s it. Dropping the handle drops `T` and removes the name.
/// A claim of an object whose owner died succeeds; a claim of a live owner's object
/// is `Busy`.
///
/// A `Unique` cannot be cloned:
/// ```compile_fail,E0277
/// fn needs_clone<T: Clone>() {}
/// needs_clone::<shmptr::Unique<u32, shmptr_arena::Arena<shmptr_arena::DefaultSpace>>>();
/// ```
pub struct Unique<T: ShmSafe, B: Backend> {
    handle: UniqueHandle<T, B>,
}

impl<T: ShmSafe, B: Backend> Unique<T, B> {
    /// Creates the object `name` holding `value`, owned by this process; fails with
    /// `AlreadyExists` if the name is taken.
    pub fn create(name: &str, value: T) -> Result<Self> {
        Self::options().create(name, value)
    }

    /// Takes ownership of the released object `name`, or of one whose owner died.
    /// `Busy` if a live process owns it.
    pub fn claim(name: &str) -> Result<Self> {
        Self::options().claim(name)
    }

    /// Settings for the uncommon cases: mode, claim timeout, foreign owners; see
    /// [`Options`].
    pub fn options() -> Options<Self> {
        Options::new()
    }

    /// Parks the object under its name with no owner, for another process to
    /// [`claim`](Unique::claim). The value stays; this process's mapping goes.
    ///
    /// An associated function, as `Box::leak` is: `u.release()` would call a
    /// `release` method of `T` (a `Unique<Semaphore>`'s, say).
    pub fn release(this: Self) {
        this.handle.release()
    }
}

impl<T: ShmSafe, B: Backend> Options<Unique<T, B>> {
    /// [`Unique::create`] with these settings (mode).
    pub fn create(&self, name: &str, value: T) -> Result<Unique<T, B>> {
        UniqueHandle::create(Name::new(name)?, self, value).map(|handle| Unique { handle })
    }

    /// [`Unique::claim`] with these settings (timeout, foreign owners).
    pub fn claim(&self, name: &str) -> Result<Unique<T, B>> {
        UniqueHandle::claim(Name::new(name)?, self).map(|handle| Unique { handle })
    }
}

impl<T: ShmSafe, B: Backend> Deref for Unique<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}

impl<T: ShmSafe, B: Backend> DerefMut for Unique<T, B> {
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent:
    /// the parent owns the value, and a second `&mut T` to it would alias the
    /// parent's.
    fn deref_mut(&mut self) -> &mut T {
        self.handle.value_mut()
    }
}

impl<T: ShmSafe + fmt::Debug, B: Backend> fmt::Debug for Unique<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

// What `Box` forwards to its value, forwarded the same way. `AsMut` and
// `BorrowMut` go through `DerefMut`, the one way to a `&mut T` (with its check
// that this process owns the value).

impl<T: ShmSafe + PartialEq, B: Backend> PartialEq for Unique<T, B> {
    /// Compares the values, as `Box` does.
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let a = Unique::<u32>::create("ueq.a", 7)?;
    /// let b = Unique::<u32>::create("ueq.b", 7)?;
    /// assert_eq!(a, b);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: ShmSafe + Eq, B: Backend> Eq for Unique<T, B> {}

impl<T: ShmSafe + PartialOrd, B: Backend> PartialOrd for Unique<T, B> {
    /// Compares the values, as `Box` does.
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
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

impl<T: ShmSafe + Ord, B: Backend> Ord for Unique<T, B> {
    /// Compares the values, as `Box` does.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: ShmSafe + Hash, B: Backend> Hash for Unique<T, B> {
    /// Hashes the value, as `Box` does (consistent with `PartialEq` and `Borrow`).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: ShmSafe + fmt::Display, B: Backend> fmt::Display for Unique<T, B> {
    /// Displays the value.
    ///
    /// ```
    /// let n = shmptr_arena::Unique::<u32>::create("udisplay", 42)?;
    /// assert_eq!(n.to_string(), "42");
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ShmSafe, B: Backend> fmt::Pointer for Unique<T, B> {
    /// The address of the value in this process's mapping (a process that claims
    /// it later may map it elsewhere).
    ///
    /// ```
    /// let n = shmptr_arena::Unique::<u32>::create("upointer", 42)?;
    /// assert_eq!(format!("{n:p}"), format!("{:p}", &*n));
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&core::ptr::from_ref::<T>(self), f)
    }
}

impl<T: ShmSafe, B: Backend> AsRef<T> for Unique<T, B> {
    #[inline]
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ShmSafe, B: Backend> AsMut<T> for Unique<T, B> {
    /// The value, through [`DerefMut`].
    ///
    /// # Panics
    /// As `deref_mut`: in a child created by `fork()` through a handle inherited
    /// from the parent.
    ///
    /// ```
    /// let mut job = shmptr_arena::Unique::<[u32; 2]>::create("asmut", [1, 2])?;
    /// job.as_mut()[0] = 10;
    /// assert_eq!(*job, [10, 2]);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    #[inline]
    fn as_mut(&mut self) -> &mut T {
        DerefMut::deref_mut(self)
    }
}

impl<T: ShmSafe, B: Backend> Borrow<T> for Unique<T, B> {
    #[inline]
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: ShmSafe, B: Backend> BorrowMut<T> for Unique<T, B> {
    /// The value, through [`DerefMut`].
    ///
    /// # Panics
    /// As `deref_mut`: in a child created by `fork()` through a handle inherited
    /// from the parent.
    #[inline]
    fn borrow_mut(&mut self) -> &mut T {
        DerefMut::deref_mut(self)
    }
}
