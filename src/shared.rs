//! `Shared<T>`: `std::shared_ptr` across processes.

use core::fmt;
use core::ops::Deref;

use crate::backend::Backend;
use crate::error::Result;
use crate::name::Name;
use crate::options::Options;
use crate::segment::{Abandoned, SharedHandle};
use crate::shm_safe::{ShmSafe, Zeroable};

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
pub struct Shared<T: ShmSafe, B: Backend> {
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
    /// place before any other process can see it. If `init` panics, the object stays
    /// unfinished: openers wait for it (bounded) while this process lives, then see
    /// it as `Abandoned`, which `open_or_create` and `reclaim` replace.
    pub fn create_with(name: &str, init: impl FnOnce(&mut T)) -> Result<Self>
    where
        T: Zeroable,
    {
        Self::options().create_with(name, init)
    }

    /// Opens the existing object `name`, waiting (bounded) while its creator
    /// finishes it. `TypeMismatch` if it holds another type or is a `Unique`.
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens `name`, or creates it with the value `make` returns if it does not
    /// exist (`make` runs only then). An object whose creator died before finishing
    /// it is replaced.
    pub fn open_or_create(name: &str, make: impl FnOnce() -> T) -> Result<Self> {
        Self::options().open_or_create(name, make)
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
}

impl<T: ShmSafe, B: Backend> Options<Shared<T, B>> {
    /// How many attachments (one per `create`/`open`, shared by its clones) the
    /// object can hold at once, 1..=[`MAX_SLOTS`](crate::MAX_SLOTS). Default
    /// `MAX_SLOTS`; a create with any other count is `Unsupported`.
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// [`Shared::create`] with these settings.
    pub fn create(&self, name: &str, value: T) -> Result<Shared<T, B>> {
        let mut value = Some(value);
        self.created(SharedHandle::create(Name::new(name)?, self, &mut value))
    }

    /// [`Shared::create_zeroed`] with these settings.
    pub fn create_zeroed(&self, name: &str) -> Result<Shared<T, B>>
    where
        T: Zeroable,
    {
        self.create_with(name, |_| {})
    }

    /// [`Shared::create_with`] with these settings.
    pub fn create_with(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Shared<T, B>>
    where
        T: Zeroable,
    {
        self.created(SharedHandle::create_with(Name::new(name)?, self, init))
    }

    /// [`Shared::open`] with these settings.
    pub fn open(&self, name: &str) -> Result<Shared<T, B>> {
        self.created(SharedHandle::open(Name::new(name)?, self, Abandoned::Report))
    }

    /// [`Shared::open_or_create`] with these settings.
    pub fn open_or_create(&self, name: &str, make: impl FnOnce() -> T) -> Result<Shared<T, B>> {
        self.created(SharedHandle::open_or_create(Name::new(name)?, self, make))
    }

    /// [`Shared::reclaim`] with these settings.
    pub fn reclaim(&self, name: &str) -> Result<u32> {
        SharedHandle::<T, B>::reclaim(Name::new(name)?, self)
    }

    fn created(&self, handle: Result<SharedHandle<T, B>>) -> Result<Shared<T, B>> {
        handle.map(|handle| Shared { handle })
    }
}

impl<T: ShmSafe, B: Backend> Clone for Shared<T, B> {
    /// One more handle on the same attachment: one atomic on this process's private
    /// count, and a copy of it in this process's slot; no system call.
    ///
    /// In a child created by `fork()`, an inherited handle belongs to the parent; a
    /// clone there re-opens the object by name as a fresh attachment of the child.
    /// That needs a free slot: if there is none, or the object is gone, this panics.
    fn clone(&self) -> Self {
        Shared { handle: self.handle.clone() }
    }
}

impl<T: ShmSafe, B: Backend> Deref for Shared<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}

impl<T: ShmSafe + fmt::Debug, B: Backend> fmt::Debug for Shared<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

forward_to_value!(Shared, "Arc", "shared");
