//! `Shared<T>`: `std::shared_ptr` across processes.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;

use crate::backend::{Backend, ProcessId};
use crate::error::{Error, ErrorKind, Result};
use crate::handles;
use crate::name::{Name, NAME_MAX};
use crate::object::{drop_value, Abandoned, Object};
use crate::options::Options;
use crate::primitive::Ordering;
use crate::segment::Kind;
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
    object: ManuallyDrop<Object<B>>,
    slot: u32,
    /// The process that made this attachment; a handle inherited by a forked
    /// child belongs to its parent.
    attached_by: ProcessId,
    _value: PhantomData<T>,
}

// SAFETY: the handle gives `&T` only, `T: ShmSafe` is `Sync + Send`, and the
// region and slot counters are shared-memory atomics that any thread may use.
unsafe impl<T: ShmSafe, B: Backend> Send for Shared<T, B> {}
// SAFETY: as above.
unsafe impl<T: ShmSafe, B: Backend> Sync for Shared<T, B> {}

/// Settings for creating or opening a [`Shared`]; see [`Shared::options`].
pub struct SharedOptions<T, B> {
    options: Options,
    _types: PhantomData<fn() -> (T, B)>,
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

    /// Settings for the uncommon cases: mode, slot count, open timeout, foreign owners.
    pub fn options() -> SharedOptions<T, B> {
        SharedOptions { options: Options::DEFAULT, _types: PhantomData }
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
        // Relaxed: a snapshot, as `Arc::strong_count` is.
        let own = this.object.handles().load(Ordering::Relaxed);
        this.object.members().strong_count::<B>(Some((this.slot, own)))
    }

    /// Processes holding at least one handle.
    pub fn process_count(this: &Self) -> u32 {
        this.object.members().process_count::<B>()
    }

    // Outlined: inlined into `open_or_create` it costs about 200 bytes more (moving
    // `Object`s between the caller's frame and the exit paths).
    #[inline(never)]
    fn attach(object: Object<B>, name: Name<'_>) -> Result<Self> {
        let me = B::current_process();
        let members = object.members();
        let reclaimed = members.reclaim_dead::<B>(me);
        // On failure: the slot to free, whether to try to destroy (and whether we
        // emptied the member set), the error. One exit path, so one call to `finish`.
        let (free_slot, claim, error) = match reclaimed.emptied_through {
            // Every holder was dead: we destroy it, and there is nothing to attach to.
            Some(index) => (Some(index), Some(true), Error::new(ErrorKind::NotFound, "opening (its holders all died)")),
            None => {
                // Our first handle is counted before we join, so that a destroyer in
                // this process that acquires our joining sees it (see
                // `Region::others_attached`). Relaxed: the member CAS publishes it.
                object.handles().store(1, Ordering::Relaxed);
                match members.attach::<B>(me) {
                    Ok(slot) => return Ok(Self::first_handle(object, slot, me)),
                    // An empty member set: destroy it if its destroyer died unfinished.
                    Err(e) => {
                        object.handles().store(0, Ordering::Relaxed);
                        (None, (e.kind() == ErrorKind::NotFound).then_some(false), e)
                    }
                }
            }
        };
        let mut leaving = object.leaving();
        leaving.free_slot = free_slot;
        leaving.finish(Some(drop_value::<T>), me, claim, Some(name));
        Err(error)
    }

    /// The first handle of a new attachment in `slot`.
    fn first_handle(object: Object<B>, slot: u32, me: ProcessId) -> Self {
        // Relaxed: nobody else has this mapping yet; handing the handle to another
        // thread synchronizes.
        object.handles().store(1, Ordering::Relaxed);
        Shared { object: ManuallyDrop::new(object), slot, attached_by: me, _value: PhantomData }
    }
}

impl<T: ShmSafe, B: Backend> SharedOptions<T, B> {
    /// Permission bits of a created object (Linux: file mode). Default `0o600`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.options.mode = mode;
        self
    }

    /// How many attachments the object can hold at once, 1..=64. Default 64.
    pub fn slots(mut self, slots: u32) -> Self {
        self.options.slots = slots;
        self
    }

    /// How long `open` waits for a creator to finish. Default 2 s.
    pub fn timeout(mut self, timeout: core::time::Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Whether to open objects that belong to another user. Default `false`.
    pub fn allow_foreign_owner(mut self, allow: bool) -> Self {
        self.options.allow_foreign_owner = allow;
        self
    }

    /// [`Shared::create`] with these settings.
    pub fn create(&self, name: &str, value: T) -> Result<Shared<T, B>> {
        let mut value = Some(value);
        self.create_in_place(Name::new(name)?, &mut value)
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
        let name = Name::new(name)?;
        let object = Object::<B>::create::<T>(Kind::Shared, name, &self.options, |value| {
            // SAFETY: the region is fresh and zero-filled, `T: Zeroable` makes zero
            // bytes a valid `T`, and no other process sees it before `Ready`.
            init(unsafe { &mut *value.as_ptr() })
        })?;
        Ok(self.created(object))
    }

    /// [`Shared::open`] with these settings.
    pub fn open(&self, name: &str) -> Result<Shared<T, B>> {
        let name = Name::new(name)?;
        let object = Object::<B>::open::<T>(Kind::Shared, name, &self.options, Abandoned::Report)?;
        Shared::attach(object, name)
    }

    /// [`Shared::open_or_create`] with these settings.
    pub fn open_or_create(&self, name: &str, make: impl FnOnce() -> T) -> Result<Shared<T, B>> {
        let name = Name::new(name)?;
        let mut make = Some(make);
        let mut value = None;
        // Each round either opens, creates, or removes a dead object; a bounded
        // number of rounds covers racing creators and destroyers.
        for _ in 0..16 {
            match Object::<B>::open::<T>(Kind::Shared, name, &self.options, Abandoned::Remove) {
                Ok(object) => match Shared::attach(object, name) {
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    other => return other,
                },
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if let Some(make) = make.take() {
                value = Some(make());
            }
            match self.create_in_place(name, &mut value) {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                other => return other,
            }
        }
        Err(Error::new(ErrorKind::Busy, "opening or creating (others keep replacing it)"))
    }

    /// [`Shared::reclaim`] with these settings.
    pub fn reclaim(&self, name: &str) -> Result<u32> {
        let name = Name::new(name)?;
        let object = match Object::<B>::open::<T>(Kind::Shared, name, &self.options, Abandoned::Remove) {
            Ok(object) => object,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let me = B::current_process();
        let reclaimed = object.members().reclaim_dead::<B>(me);
        let mut leaving = object.leaving();
        leaving.free_slot = reclaimed.emptied_through;
        leaving.finish(Some(drop_value::<T>), me, Some(reclaimed.emptied_through.is_some()), Some(name));
        Ok(reclaimed.holders)
    }

    /// Creates with the value in `value`, taking it only once the object exists, so
    /// that a failed create leaves it for the next attempt.
    // Outlined for size, as `Shared::attach`.
    #[inline(never)]
    fn create_in_place(&self, name: Name<'_>, value: &mut Option<T>) -> Result<Shared<T, B>> {
        let object = Object::<B>::create::<T>(Kind::Shared, name, &self.options, |slot| {
            if let Some(v) = value.take() {
                // SAFETY: `slot` is the fresh segment's value field, aligned for `T`
                // and exclusively ours until `Ready`.
                unsafe { slot.as_ptr().write(v) }
            }
        })?;
        Ok(self.created(object))
    }

    fn created(&self, object: Object<B>) -> Shared<T, B> {
        Shared::first_handle(object, 0, B::current_process())
    }
}

impl<T: ShmSafe, B: Backend> Clone for Shared<T, B> {
    /// One more handle on the same attachment: one atomic on this process's slot.
    ///
    /// In a child created by `fork()`, an inherited handle belongs to the parent; a
    /// clone there re-opens the object by name as a fresh attachment of the child.
    /// That needs a free slot: if there is none, or the object is gone, this panics.
    fn clone(&self) -> Self {
        if B::current_process() != self.attached_by {
            let mut buf = [0; NAME_MAX];
            let reopened = self.object.stored_name(&mut buf).and_then(|name| {
                Object::<B>::open::<T>(Kind::Shared, name, &Options::DEFAULT, Abandoned::Report)
                    .and_then(|o| Shared::attach(o, name))
            });
            return match reopened {
                Ok(handle) => handle,
                Err(e) => panic!("shmptr: cloning an inherited handle in a forked child failed: {e}"),
            };
        }
        let members = self.object.members();
        handles::acquire(self.object.handles(), |count| members.publish_count(self.slot, count));
        Shared {
            // SAFETY: the private count now includes the new handle; only the handle
            // that takes it to zero unmaps, so exactly one copy is unmapped.
            object: ManuallyDrop::new(unsafe { self.object.share() }),
            slot: self.slot,
            attached_by: self.attached_by,
            _value: PhantomData,
        }
    }
}

impl<T: ShmSafe, B: Backend> Drop for Shared<T, B> {
    /// One handle fewer. The attachment's last handle frees its slot and unmaps; the
    /// last attachment in any process also drops `T` and unlinks the name.
    fn drop(&mut self) {
        let me = B::current_process();
        if me != self.attached_by {
            // Inherited across fork: the parent's attachment; release nothing.
            return;
        }
        // The count that decides the unmap is private: a peer cannot forge it.
        let members = self.object.members();
        if handles::release(self.object.handles(), |left| members.publish_count(self.slot, left)) != 0 {
            return;
        }
        // SAFETY: this handle took the attachment's count to zero, so it is the one
        // copy that unmaps; `self.object` is not used again.
        let mut leaving = unsafe { ManuallyDrop::take(&mut self.object) }.leaving();
        // If we emptied the member set, the slot is ours to free once destroyed.
        let emptied = leaving.members().detach::<B>(self.slot, me);
        leaving.free_slot = emptied.then_some(self.slot);
        // Frees the slot and unmaps, also if `T`'s drop panicked.
        leaving.finish(Some(drop_value::<T>), me, emptied.then_some(true), None);
    }
}

impl<T: ShmSafe, B: Backend> Deref for Shared<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value lies in this handle's mapping, at the offset and with the
        // size and alignment validated for `T` at open, kept in private memory. The
        // mapping stays until the private handle count, which includes this handle
        // and which no peer can write, reaches zero. Any bytes are a valid `T`
        // (`ShmSafe`), whatever a peer writes meanwhile; `T: Sync` makes `&T` from
        // several threads fine.
        unsafe { self.object.value::<T>().as_ref() }
    }
}

impl<T: ShmSafe + fmt::Debug, B: Backend> fmt::Debug for Shared<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
