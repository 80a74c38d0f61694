//! `Shared<T>`: `std::shared_ptr` across processes.

use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::backend::Backend;
use crate::error::Result;
use crate::name::Name;
use crate::options::Options;
use crate::segment::{fill, Abandoned, Lent, SharedHandle};
use crate::shm_safe::{ShmSafe, Zeroable};
use crate::value::Value;

/// A reference-counted `T` in shared memory, shared by handles in any number of
/// processes: the last handle in any process drops `T` and removes the name.
///
/// The count lives in the segment. Each `create`/`open` is one *attachment* (one
/// mapping and one slot in the segment's holder table); its clones share both, so a
/// clone or a drop is a single atomic on this process's own slot, with no syscall.
/// Holders that die (SIGKILL included) are reclaimed by the survivors.
///
/// `B` is the backend; users name the alias of theirs (`shmptr_linux::Shared<T>`,
/// `shmptr_arena::Shared<T, Space>`).
///
/// `T` may be a slice, `Shared<[T]>`, whose length is chosen at run time
/// ([`from_slice`](Shared::from_slice), [`create_slice_zeroed`](Shared::create_slice_zeroed),
/// [`create_slice_with`](Shared::create_slice_with)) and read from the object's
/// header by [`open`](Shared::open); it derefs to `[T]`, like `Arc<[T]>`.
///
/// A `Shared` of a type that is not shared-memory safe does not compile:
/// ```compile_fail,E0277
/// type S = shmptr::Shared<Box<u8>, shmptr_arena::Arena<shmptr_arena::DefaultSpace>>;
/// let _ = S::open("x");
/// ```
/// ```compile_fail,E0277
/// type S = shmptr::Shared<&'static str, shmptr_arena::Arena<shmptr_arena::DefaultSpace>>;
/// let _ = S::open("x");
/// ```
/// ```compile_fail,E0277
/// type S = shmptr::Shared<core::cell::Cell<u8>, shmptr_arena::Arena<shmptr_arena::DefaultSpace>>;
/// let _ = S::open("x");
/// ```
pub struct Shared<T: ?Sized + Value, B: Backend> {
    handle: SharedHandle<T, B>,
}

impl<T: ShmSafe, B: Backend> Shared<T, B> {
    /// Creates the object `name` holding `value`; fails with `AlreadyExists` if the
    /// name is taken.
    pub fn create(name: &str, value: T) -> Result<Self> {
        Self::options().create(name, value)
    }

    /// Creates the object `name` with all-zero bytes, without building a `T` on the
    /// stack: a `Shared<[u8; 1 << 30]>` works.
    pub fn create_zeroed(name: &str) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_zeroed(name)
    }

    /// Creates the object `name` with all-zero bytes, then lets `init` fill it in
    /// place before any other process can see it: the value never passes through
    /// the stack. If `init` panics, the unfinished object is removed as the panic
    /// unwinds (a creator killed meanwhile leaves it `Abandoned`, which
    /// `open_or_create` and `reclaim` replace): nothing blocks the name.
    pub fn create_with(name: &str, init: impl FnOnce(&mut T)) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_with(name, init)
    }

    /// Opens `name`, or creates it with the value `make` returns if it does not
    /// exist (`make` runs only then). An object whose creator died before finishing
    /// it is replaced.
    pub fn open_or_create(name: &str, make: impl FnOnce() -> T) -> Result<Self> {
        Self::options().open_or_create(name, make)
    }

    /// [`open_or_create`](Shared::open_or_create), also saying whether this call
    /// created the object (`true`) or opened an existing one (`false`): the one
    /// creator of racing callers, in any processes, gets `true`.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let (a, created) = Shared::<u32>::open_or_create_with_status("status.cfg", || 7)?;
    /// assert!(created);
    /// let (b, created) = Shared::<u32>::open_or_create_with_status("status.cfg", || 8)?;
    /// assert!(!created);
    /// assert_eq!(*b, 7);
    /// # drop(a);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn open_or_create_with_status(name: &str, make: impl FnOnce() -> T) -> Result<(Self, bool)> {
        Self::options().open_or_create_with_status(name, make)
    }
}

impl<T: ShmSafe, B: Backend> Shared<[T], B> {
    /// Creates the object `name` holding a copy of `items`: a slice whose length
    /// is `items.len()`. `Unsupported` if its size overflows.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let table = Shared::<[u32]>::from_slice("from_slice.table", &[1, 2, 3])?;
    /// let again = Shared::<[u32]>::open("from_slice.table")?; // the length is read back
    /// assert_eq!(again.len(), 3);
    /// assert_eq!(&*again, &[1, 2, 3]);
    /// # drop(table);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn from_slice(name: &str, items: &[T]) -> Result<Self>
    where
        T: Copy,
    {
        Self::options().from_slice(name, items)
    }

    /// Creates the object `name` holding `length` all-zero elements, without any
    /// of them passing through the stack. A zero length works.
    pub fn create_slice_zeroed(name: &str, length: usize) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_slice_zeroed(name, length)
    }

    /// Creates the object `name` holding `length` elements, element `i` being
    /// `make(i)`, written in place before any other process can see the object.
    /// If `make` panics, the unfinished object is removed as the panic unwinds.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let squares = Shared::<[u64]>::create_slice_with("slice_with.sq", 4, |i| (i * i) as u64)?;
    /// assert_eq!(&*squares, &[0, 1, 4, 9]);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn create_slice_with(name: &str, length: usize, make: impl FnMut(usize) -> T) -> Result<Self> {
        Self::options().create_slice_with(name, length, make)
    }

    /// Opens `name`, or creates it as [`create_slice_with`](Shared::create_slice_with)
    /// does if it does not exist (`make` runs only then). An existing object keeps
    /// its own length, whatever `length` says: check `len()`.
    pub fn open_or_create_slice_with(name: &str, length: usize, make: impl FnMut(usize) -> T) -> Result<Self> {
        Self::options().open_or_create_slice_with(name, length, make)
    }
}

impl<T: ?Sized + Value, B: Backend> Shared<T, B> {
    /// Opens the existing object `name`, waiting (bounded) while its creator
    /// finishes it. `TypeMismatch` if it holds another type or is a `Unique`; for
    /// a slice `Shared<[T]>`, the length is the object's, read from its header.
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Reclaims the holders of `name` that died, and destroys the object if no live
    /// holder remains (running `T`'s drop exactly once) or if its creator died
    /// before finishing it. Returns how many dead holders were reclaimed. Live
    /// holders, and holders whose liveness cannot be judged, are never touched.
    pub fn reclaim(name: &str) -> Result<u32> {
        Self::options().reclaim(name)
    }

    /// Settings for the uncommon cases: mode, slot count, open timeout, foreign
    /// owners; see [`Options`].
    pub fn options() -> Options<Self> {
        Options::new()
    }

    /// Handles alive in all processes together: a snapshot, like
    /// `Arc::strong_count`. This handle's own attachment is counted exactly; the
    /// others are copies their processes publish in the segment, so a peer can forge
    /// them, and clones and drops racing in several threads of one process can leave
    /// one off until that attachment's next clone or drop. Holders proven dead count
    /// nothing (as in [`process_count`](Shared::process_count)), even before they are
    /// reclaimed, which happens at the next open, detach or
    /// [`reclaim`](Shared::reclaim) in any process.
    pub fn strong_count(this: &Self) -> u64 {
        this.handle.strong_count()
    }

    /// Processes holding at least one handle.
    pub fn process_count(this: &Self) -> u32 {
        this.handle.process_count()
    }

    /// Whether `this` and `other` are handles on the same object, like
    /// `Arc::ptr_eq`: true for clones, and also for handles from two separate
    /// `open`s in one process, which map the object at different addresses; false
    /// for different objects, even with equal values. The backend tells mappings of
    /// one object apart from its own records ([`Region::same_object`](crate::Region::same_object)),
    /// never from the object's bytes.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let a = Shared::<u32>::create("ptr_eq.a", 7)?;
    /// let b = Shared::<u32>::open("ptr_eq.a")?;
    /// let c = Shared::<u32>::create("ptr_eq.c", 7)?;
    /// assert!(Shared::ptr_eq(&a, &a.clone()));
    /// assert!(Shared::ptr_eq(&a, &b));
    /// assert!(!Shared::ptr_eq(&a, &c)); // a == c: equal values, two objects
    /// assert_eq!(a, c);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.handle.same_object(&other.handle)
    }

    /// The value, mutably, if this handle is the only one on the object: no clone
    /// of it, no other open of the object in this process, no other live holder in
    /// any process (dead holders are reclaimed first). `None` otherwise, and in a
    /// child created by `fork()` through a handle inherited from the parent.
    ///
    /// It is a guard, not `Arc::get_mut`'s bare `&mut T`: the object keeps its
    /// name, so a thread of this process may open it while the `&mut` lives, and a
    /// `&T` from that open would alias it. While the guard lives, such opens are
    /// `Busy`; dropping it ends that. Other processes are not kept out: one that
    /// opens the object meanwhile reads the writes as they happen, as it would a
    /// [`Unique`](crate::Unique) owner's. Where exclusion across processes
    /// matters, use a `Unique`, a [`Mutex`](crate::Mutex), or
    /// [`try_unwrap`](Shared::try_unwrap).
    ///
    /// As with a `MutexGuard`, forgetting the guard (`mem::forget`) never ends the
    /// loan: opens of the object in this process stay `Busy`, a clone of this
    /// handle panics, and dropping it leaves the object to the other processes'
    /// reclaim once this one exits. In a child created by `fork()`, writing through
    /// an inherited guard panics (the parent holds the `&mut`).
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let mut a = Shared::<[u32; 2]>::create("get_mut.a", [1, 2])?;
    /// Shared::get_mut(&mut a).expect("the only handle")[0] = 10;
    /// assert_eq!(*a, [10, 2]);
    ///
    /// let b = a.clone();
    /// assert!(Shared::get_mut(&mut a).is_none(), "a clone shares it");
    /// drop(b);
    /// let mut guard = Shared::get_mut(&mut a).expect("the only handle again");
    /// guard[1] = 20;
    /// let opened = Shared::<[u32; 2]>::open("get_mut.a");
    /// assert_eq!(opened.unwrap_err().kind(), shmptr::ErrorKind::Busy); // would alias `guard`
    /// drop(guard);
    /// assert_eq!(*Shared::<[u32; 2]>::open("get_mut.a")?, [10, 20]);
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn get_mut(this: &mut Self) -> Option<SoleMut<'_, T, B>> {
        this.handle.lend().map(|lent| SoleMut { lent })
    }
}

impl<T: ShmSafe, B: Backend> Shared<T, B> {
    /// The value, if this handle is the only one on the object in any process:
    /// the object is then removed (its name goes, as when the last handle drops)
    /// and its value moved out, not dropped. Otherwise `Err` with this handle,
    /// unchanged, like `Arc::try_unwrap`. "No other holder" and leaving are one
    /// atomic step: a process opening the object at the same moment either joins
    /// first (then this is `Err`) or finds it gone (`NotFound`).
    ///
    /// `Err` also for a handle inherited across `fork()` (the parent's), and when
    /// this process holds another handle or open of the object. If a peer forged
    /// the object's destroyer word, the value still comes back, and the object is
    /// left to whoever holds that word.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let a = Shared::<u64>::create("try_unwrap.a", 7)?;
    /// let b = Shared::<u64>::open("try_unwrap.a")?;
    /// let a = Shared::try_unwrap(a).expect_err("b holds it too");
    /// drop(b);
    /// assert_eq!(Shared::try_unwrap(a).ok(), Some(7));
    /// let gone = Shared::<u64>::open("try_unwrap.a").unwrap_err();
    /// assert_eq!(gone.kind(), shmptr::ErrorKind::NotFound); // the name went with it
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn try_unwrap(this: Self) -> core::result::Result<T, Self> {
        this.handle.try_unwrap().map_err(|handle| Shared { handle })
    }

    /// Drops this handle and, if it was the last one in any process, returns the
    /// object's value instead of dropping it (the name goes, as on drop); `None`
    /// otherwise. Like `Arc::into_inner`: of the last handles dropped at once
    /// through `into_inner`, in any processes, exactly one gets the value.
    ///
    /// ```
    /// use shmptr_arena::Shared;
    /// let a = Shared::<u64>::create("into_inner.a", 7)?;
    /// let b = a.clone();
    /// assert_eq!(Shared::into_inner(a), None); // b still holds it
    /// assert_eq!(Shared::into_inner(b), Some(7));
    /// assert!(Shared::<u64>::open("into_inner.a").is_err());
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub fn into_inner(this: Self) -> Option<T> {
        this.handle.into_inner()
    }
}

/// The value of a [`Shared`], borrowed mutably through the object's only handle:
/// what [`Shared::get_mut`] returns. While it lives, other opens of the object in
/// this process are `Busy`.
pub struct SoleMut<'a, T: ?Sized + Value, B: Backend> {
    lent: Lent<'a, T, B>,
}

impl<T: ?Sized + Value, B: Backend> Deref for SoleMut<'_, T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        self.lent.value()
    }
}

impl<T: ?Sized + Value, B: Backend> DerefMut for SoleMut<'_, T, B> {
    fn deref_mut(&mut self) -> &mut T {
        self.lent.value_mut()
    }
}

impl<T: ?Sized + Value + fmt::Debug, B: Backend> fmt::Debug for SoleMut<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + Value + fmt::Display, B: Backend> fmt::Display for SoleMut<'_, T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + Value, B: Backend> Options<Shared<T, B>> {
    /// How many attachments (one per `create`/`open`, shared by its clones) the
    /// object can hold at once, 1..=[`MAX_SLOTS`](crate::MAX_SLOTS). Default
    /// `MAX_SLOTS`; a create with any other count is `Unsupported`.
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// [`Shared::open`] with these settings.
    pub fn open(&self, name: &str) -> Result<Shared<T, B>> {
        SharedHandle::open(Name::new(name)?, self, Abandoned::Report).map(|handle| Shared { handle })
    }

    /// [`Shared::reclaim`] with these settings.
    pub fn reclaim(&self, name: &str) -> Result<u32> {
        SharedHandle::<T, B>::reclaim(Name::new(name)?, self)
    }

    /// Creates `name` (a slice: of `length` elements), lets `init` fill the zero
    /// bytes in place.
    fn create_in_place(&self, name: &str, length: usize, init: impl FnOnce(&mut T)) -> Result<Shared<T, B>> {
        SharedHandle::create_in_place(Name::new(name)?, self, length, init).map(|handle| Shared { handle })
    }
}

impl<T: ShmSafe, B: Backend> Options<Shared<T, B>> {
    /// [`Shared::create`] with these settings.
    pub fn create(&self, name: &str, value: T) -> Result<Shared<T, B>> {
        let mut value = Some(value);
        SharedHandle::create(Name::new(name)?, self, &mut value).map(|handle| Shared { handle })
    }

    /// [`Shared::create_zeroed`] with these settings.
    pub fn create_zeroed(&self, name: &str) -> Result<Shared<T, B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, 0, |_| {})
    }

    /// [`Shared::create_with`] with these settings.
    pub fn create_with(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Shared<T, B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, 0, init)
    }

    /// [`Shared::open_or_create`] with these settings.
    pub fn open_or_create(&self, name: &str, make: impl FnOnce() -> T) -> Result<Shared<T, B>> {
        SharedHandle::open_or_create(Name::new(name)?, self, make, &mut false).map(|handle| Shared { handle })
    }

    /// [`Shared::open_or_create_with_status`] with these settings.
    pub fn open_or_create_with_status(&self, name: &str, make: impl FnOnce() -> T) -> Result<(Shared<T, B>, bool)> {
        let mut created = false;
        let handle = SharedHandle::open_or_create(Name::new(name)?, self, make, &mut created)?;
        Ok((Shared { handle }, created))
    }
}

impl<T: ShmSafe, B: Backend> Options<Shared<[T], B>> {
    /// [`Shared::from_slice`] with these settings.
    pub fn from_slice(&self, name: &str, items: &[T]) -> Result<Shared<[T], B>>
    where
        T: Copy,
    {
        self.create_in_place(name, items.len(), |slice| slice.copy_from_slice(items))
    }

    /// [`Shared::create_slice_zeroed`] with these settings.
    pub fn create_slice_zeroed(&self, name: &str, length: usize) -> Result<Shared<[T], B>>
    where
        T: Zeroable,
    {
        self.create_in_place(name, length, |_| {})
    }

    /// [`Shared::create_slice_with`] with these settings.
    pub fn create_slice_with(&self, name: &str, length: usize, make: impl FnMut(usize) -> T) -> Result<Shared<[T], B>> {
        self.create_in_place(name, length, |slice| fill::<B, T>(slice, make))
    }

    /// [`Shared::open_or_create_slice_with`] with these settings.
    pub fn open_or_create_slice_with(
        &self,
        name: &str,
        length: usize,
        make: impl FnMut(usize) -> T,
    ) -> Result<Shared<[T], B>> {
        self.open_or_create_slice_with_status(name, length, make).map(|(shared, _)| shared)
    }

    /// [`Shared::open_or_create_slice_with`] with these settings, also saying
    /// whether this call created the object (`true`) or opened an existing one.
    pub fn open_or_create_slice_with_status(
        &self,
        name: &str,
        length: usize,
        mut make: impl FnMut(usize) -> T,
    ) -> Result<(Shared<[T], B>, bool)> {
        let name = Name::new(name)?;
        let mut created = false;
        let handle = SharedHandle::open_or_create_by(name, self, &mut created, || {
            SharedHandle::create_in_place(name, self, length, |slice| fill::<B, T>(slice, &mut make))
        })?;
        Ok((Shared { handle }, created))
    }
}

impl<T: ?Sized + Value, B: Backend> Clone for Shared<T, B> {
    /// One more handle on the same attachment: one atomic on this process's private
    /// count, and a copy of it in this process's slot; no system call.
    ///
    /// In a child created by `fork()`, an inherited handle belongs to the parent; a
    /// clone there re-opens the object by name as a fresh attachment of the child.
    /// That needs a free slot: if there is none, or the object is gone, or its name
    /// now leads to another object (a peer rewrote the name stored in it, or it was
    /// removed and the name made anew), this panics.
    #[inline]
    fn clone(&self) -> Self {
        Shared { handle: self.handle.clone() }
    }
}

impl<T: ?Sized + Value, B: Backend> Deref for Shared<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}

impl<T: ?Sized + Value + fmt::Debug, B: Backend> fmt::Debug for Shared<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

forward_to_value!(Shared, "Arc", "shared");
