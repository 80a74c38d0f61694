//! `Unique<T>`: `std::unique_ptr` across processes, with hand-off.

use core::borrow::BorrowMut;
use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::backend::Backend;
use crate::error::{Error, ErrorKind, Result};
use crate::name::Name;
use crate::options::Options;
use crate::segment::{fill, put, ReleasedHandle, UniqueHandle};
use crate::shm_safe::{ShmSafe, Zeroable};
use crate::value::Value;

/// A `T` in shared memory owned by exactly one process at a time.
///
/// The segment's owner word names the owning process. [`Unique::release`]
/// parks the object under its name with no owner; another process
/// [`claim`](Unique::claim)s it. Dropping the handle drops `T` and removes the name.
/// A claim of an object whose owner died succeeds; a claim of a live owner's object
/// is `Busy`.
///
/// `T` may be a slice, `Unique<[T]>`, whose length is chosen at run time
/// ([`create_slice_zeroed`](Unique::create_slice_zeroed), ...) and read from the
/// object's header by [`claim`](Unique::claim); it derefs to `[T]`, like
/// `Box<[T]>`. A stream of frames reuses them: [`release_mapped`](Unique::release_mapped)
/// hands a frame over and keeps this process's mapping, and the [`Released`] it
/// returns claims the frame back without a system call.
///
/// A `Unique` cannot be cloned:
/// ```compile_fail,E0277
/// fn needs_clone<T: Clone>() {}
/// needs_clone::<shmptr::Unique<u32, shmptr_arena::Arena<shmptr_arena::DefaultSpace>>>();
/// ```
pub struct Unique<T: ?Sized + Value, B: Backend> {
    handle: UniqueHandle<T, B>,
}

impl<T: ShmSafe, B: Backend> Unique<T, B> {
    /// Creates the object `name` holding `value`, owned by this process; fails with
    /// `AlreadyExists` if the name is taken.
    pub fn create(name: &str, value: T) -> Result<Self> {
        Self::options().create(name, value)
    }

    /// Creates the object `name` with all-zero bytes, owned by this process,
    /// without building a `T` on the stack: a `Unique<[u8; 1 << 30]>` works.
    pub fn create_zeroed(name: &str) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_zeroed(name)
    }

    /// Creates the object `name` with all-zero bytes, owned by this process, then
    /// lets `init` fill it in place before any other process can see it: the
    /// value never passes through the stack. If `init` panics, the unfinished
    /// object is removed as the panic unwinds.
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let job = Unique::<[u32; 1024]>::create_with("unique_with.job", |job| job[7] = 7)?;
    /// assert_eq!(job[7], 7);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn create_with(name: &str, init: impl FnOnce(&mut T)) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_with(name, init)
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

impl<T: ShmSafe, B: Backend> Unique<[T], B> {
    /// Creates the object `name` holding a copy of `items`, owned by this process.
    pub fn from_slice(name: &str, items: &[T]) -> Result<Self>
    where
        T: Copy,
    {
        Self::options().from_slice(name, items)
    }

    /// Creates the object `name` holding `length` all-zero elements, owned by this
    /// process, without any of them passing through the stack.
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let (w, h) = (64, 48); // chosen at run time
    /// let mut frame = Unique::<[u8]>::create_slice_zeroed("zeroed.frame", w * h * 3)?;
    /// frame[0] = 0xff;
    /// Unique::release(frame);
    /// let frame = Unique::<[u8]>::claim("zeroed.frame")?; // the length is read back
    /// assert_eq!((frame.len(), frame[0]), (w * h * 3, 0xff));
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn create_slice_zeroed(name: &str, length: usize) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_slice_zeroed(name, length)
    }

    /// Creates the object `name` holding `length` elements, element `i` being
    /// `make(i)`, owned by this process. If `make` panics, the unfinished object
    /// is removed as the panic unwinds.
    pub fn create_slice_with(name: &str, length: usize, make: impl FnMut(usize) -> T) -> Result<Self> {
        Self::options().create_slice_with(name, length, make)
    }
}

impl<T: ?Sized + Value, B: Backend> Unique<T, B> {
    /// Takes ownership of the released object `name`, or of one whose owner died.
    /// `Busy` if a live process owns it. For a slice `Unique<[T]>`, the length is
    /// the object's, read from its header.
    pub fn claim(name: &str) -> Result<Self> {
        Self::options().claim(name)
    }

    /// Settings for the uncommon cases: mode, claim timeout, foreign owners; see
    /// [`Options`].
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let job = Unique::<u64>::options().mode(0o640).create_with("options.job", |j| *j = 7)?;
    /// assert_eq!(*job, 7);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
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

    /// Parks the object with no owner, as [`release`](Unique::release) does, but
    /// keeps this process's mapping: the [`Released`] it returns claims the object
    /// back with one atomic step, no system call, once the other side has
    /// released it again. The pattern for a stream of frames that two processes
    /// fill and read in place, turn by turn.
    ///
    /// In a child created by `fork()`, through a handle inherited from the parent
    /// (which owns the object): nothing is released, and the `Released` it
    /// returns never claims (`Busy`; claim by name instead).
    ///
    /// ```
    /// use shmptr_arena::Unique;
    /// let mut frame = Unique::<[u8]>::create_slice_zeroed("mapped.frame", 4096)?;
    /// frame.fill(1);
    /// let parked = Unique::release_mapped(frame);        // another process may claim it now
    /// let frame = parked.claim().expect("nobody owns it"); // no system call
    /// assert!(frame.iter().all(|&b| b == 1));
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn release_mapped(this: Self) -> Released<T, B> {
        match this.handle.release_mapped() {
            Some(handle) => Released { handle: Some(handle) },
            None => Released { handle: None },
        }
    }
}

impl<T: ?Sized + Value, B: Backend> Options<Unique<T, B>> {
    /// [`Unique::claim`] with these settings (timeout, foreign owners).
    pub fn claim(&self, name: &str) -> Result<Unique<T, B>> {
        UniqueHandle::claim(Name::new(name)?, self).map(|handle| Unique { handle })
    }

    /// Creates `name` (a slice: of `length` elements), owned by this process, and
    /// lets `init` fill the zero bytes in place.
    fn create_in_place(&self, name: &str, length: usize, init: impl FnOnce(&mut T)) -> Result<Unique<T, B>> {
        UniqueHandle::create_in_place(Name::new(name)?, self, length, init).map(|handle| Unique { handle })
    }
}

impl<T: ShmSafe, B: Backend> Options<Unique<T, B>> {
    /// [`Unique::create`] with these settings (mode).
    pub fn create(&self, name: &str, value: T) -> Result<Unique<T, B>> {
        let mut value = Some(value);
        self.create_in_place(name, 0, |slot| {
            if let Some(v) = value.take() {
                put(slot, v);
            }
        })
    }

    /// [`Unique::create_zeroed`] with these settings.
    pub fn create_zeroed(&self, name: &str) -> Result<Unique<T, B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, 0, |_| {})
    }

    /// [`Unique::create_with`] with these settings.
    pub fn create_with(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Unique<T, B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, 0, init)
    }
}

impl<T: ShmSafe, B: Backend> Options<Unique<[T], B>> {
    /// [`Unique::from_slice`] with these settings.
    pub fn from_slice(&self, name: &str, items: &[T]) -> Result<Unique<[T], B>>
    where
        T: Copy,
    {
        self.create_in_place(name, items.len(), |slice| slice.copy_from_slice(items))
    }

    /// [`Unique::create_slice_zeroed`] with these settings.
    pub fn create_slice_zeroed(&self, name: &str, length: usize) -> Result<Unique<[T], B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, length, |_| {})
    }

    /// [`Unique::create_slice_with`] with these settings.
    pub fn create_slice_with(&self, name: &str, length: usize, make: impl FnMut(usize) -> T) -> Result<Unique<[T], B>> {
        self.create_in_place(name, length, |slice| fill::<B, T>(slice, make))
    }
}

/// A [`Unique`] this process released with [`Unique::release_mapped`], keeping
/// its mapping: it gives no access to the value, only
/// [`claim`](Released::claim), which takes the object back without a system
/// call. Dropping it unmaps; the object stays parked under its name (claim it by
/// name, or let its last owner drop it).
///
/// A `Released` inherited across `fork()` belongs to the parent: in the child,
/// [`claim`](Released::claim) is `Busy` (claim the object by name there) and
/// dropping it leaves the parent's mapping alone.
pub struct Released<T: ?Sized + Value, B: Backend> {
    /// `None` for a handle released in a child created by `fork()`: the parent's.
    handle: Option<ReleasedHandle<T, B>>,
}

impl<T: ?Sized + Value, B: Backend> Released<T, B> {
    /// Takes ownership of the object again, as [`Unique::claim`] does but through
    /// the kept mapping: one atomic step when the object is released (or its owner
    /// died). On failure, this `Released` comes back in the error: `Busy` while a
    /// live process owns the object, `NotFound` once it is destroyed (its name may
    /// name a new object by then, which this mapping never reaches), and `Busy` in
    /// a child created by `fork()`, for a `Released` the parent made.
    pub fn claim(self) -> core::result::Result<Unique<T, B>, ClaimError<T, B>> {
        let Some(handle) = self.handle else {
            let error = Error::new(ErrorKind::Busy, "claiming, in a child created by fork(), the parent's object");
            return Err(ClaimError { error, released: Released { handle: None } });
        };
        match handle.claim() {
            Ok(handle) => Ok(Unique { handle }),
            Err((handle, error)) => Err(ClaimError { error, released: Released { handle: Some(handle) } }),
        }
    }
}

impl<T: ?Sized + Value, B: Backend> fmt::Debug for Released<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Released").finish_non_exhaustive()
    }
}

/// Why [`Released::claim`] failed, and the [`Released`] to try again with.
pub struct ClaimError<T: ?Sized + Value, B: Backend> {
    error: Error,
    released: Released<T, B>,
}

impl<T: ?Sized + Value, B: Backend> ClaimError<T, B> {
    /// What went wrong: `Busy` while a live process owns the object, `NotFound`
    /// once it is destroyed.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The error itself.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The [`Released`] handle, to claim again later.
    pub fn into_released(self) -> Released<T, B> {
        self.released
    }
}

impl<T: ?Sized + Value, B: Backend> fmt::Debug for ClaimError<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimError").field("error", &self.error).finish_non_exhaustive()
    }
}

impl<T: ?Sized + Value, B: Backend> fmt::Display for ClaimError<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T: ?Sized + Value, B: Backend> core::error::Error for ClaimError<T, B> {}

impl<T: ?Sized + Value, B: Backend> Deref for Unique<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}

impl<T: ?Sized + Value, B: Backend> DerefMut for Unique<T, B> {
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent:
    /// the parent owns the value, and a second `&mut T` to it would alias the
    /// parent's.
    fn deref_mut(&mut self) -> &mut T {
        self.handle.value_mut()
    }
}

impl<T: ?Sized + Value + fmt::Debug, B: Backend> fmt::Debug for Unique<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

forward_to_value!(Unique, "Box", "unique");

// `AsMut` and `BorrowMut` go through `DerefMut`, the one way to a `&mut T` (with
// its check that this process owns the value).

impl<T: ?Sized + Value, B: Backend> AsMut<T> for Unique<T, B> {
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

impl<T: ?Sized + Value, B: Backend> BorrowMut<T> for Unique<T, B> {
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
