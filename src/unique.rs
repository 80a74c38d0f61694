//! `Unique<T>`: `std::unique_ptr` across processes, with hand-off.

use core::borrow::BorrowMut;
use core::fmt;
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

    /// Moves the value out and removes the object (its name goes, as on drop); the
    /// value is not dropped: the caller has it. Like `Box::into_inner`.
    ///
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent,
    /// which owns the value.
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let job = Unique::<[u32; 3]>::create("into_inner.job", [1, 2, 3])?;
    /// assert_eq!(Unique::into_inner(job), [1, 2, 3]);
    /// assert!(Unique::<[u32; 3]>::claim("into_inner.job").is_err()); // gone
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn into_inner(this: Self) -> T {
        this.handle.into_inner()
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

forward_to_value!(Unique, "Box", "unique");

// `AsMut` and `BorrowMut` go through `DerefMut`, the one way to a `&mut T` (with
// its check that this process owns the value).

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
