//! `Unique<T>`: `std::unique_ptr` across processes, with hand-off.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};

use crate::backend::{Backend, ProcessId};
use crate::error::{Error, ErrorKind, Result};
use crate::name::Name;
use crate::object::{drop_value, Abandoned, Object};
use crate::options::Options;
use crate::segment::{owner, Kind};
use crate::shm_safe::ShmSafe;

/// A `T` in shared memory owned by exactly one process at a time.
///
/// The segment's owner word names the owning process. [`release`](Unique::release)
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
    object: ManuallyDrop<Object<B>>,
    owner: ProcessId,
    _value: PhantomData<T>,
}

// SAFETY: the handle is the only access to `T` (the owner word excludes every other
// process), `T: ShmSafe` is `Send + Sync`, and the region is `Send + Sync`.
unsafe impl<T: ShmSafe, B: Backend> Send for Unique<T, B> {}
// SAFETY: as above; `&Unique` gives only `&T`.
unsafe impl<T: ShmSafe, B: Backend> Sync for Unique<T, B> {}

impl<T: ShmSafe, B: Backend> Unique<T, B> {
    /// Creates the object `name` holding `value`, owned by this process; fails with
    /// `AlreadyExists` if the name is taken.
    pub fn create(name: &str, value: T) -> Result<Self> {
        Self::create_with_options(name, value, &Options::DEFAULT)
    }

    /// [`create`](Unique::create) with explicit [`Options`] (mode; slots are unused).
    pub fn create_with_options(name: &str, value: T, options: &Options) -> Result<Self> {
        let name = Name::new(name)?;
        let mut value = Some(value);
        let object = Object::<B>::create::<T>(Kind::Unique, name, options, |slot| {
            if let Some(v) = value.take() {
                // SAFETY: `slot` is the fresh segment's value field, aligned for `T`
                // and exclusively ours until `Ready`.
                unsafe { slot.as_ptr().write(v) }
            }
        })?;
        let me = B::current_process();
        if let Err(e) = object.own_exclusively() {
            // This process cannot record its ownership (its table is full): undo.
            let leaving = object.leaving();
            if leaving.members().claim_destroyer::<B>(me, true) {
                leaving.destroy_claimed(Some(drop_value::<T>), name);
            }
            return Err(e);
        }
        Ok(Unique { object: ManuallyDrop::new(object), owner: me, _value: PhantomData })
    }

    /// Takes ownership of the released object `name`, or of one whose owner died.
    /// `Busy` if a live process owns it.
    pub fn claim(name: &str) -> Result<Self> {
        Self::claim_with_options(name, &Options::DEFAULT)
    }

    /// [`claim`](Unique::claim) with explicit [`Options`] (timeout, foreign owners).
    pub fn claim_with_options(name: &str, options: &Options) -> Result<Self> {
        let name = Name::new(name)?;
        let object = Object::<B>::open::<T>(Kind::Unique, name, options, Abandoned::Report)?;
        let me = B::current_process();
        // This process's own record first: whether it owns the object already must
        // not rest on the shared owner word, which a peer can clear.
        if let Err(e) = object.own_exclusively() {
            object.unmap();
            return Err(e);
        }
        match Self::take_owner(&object, me) {
            Ok(()) => Ok(Unique { object: ManuallyDrop::new(object), owner: me, _value: PhantomData }),
            Err(e) => {
                object.disown();
                object.unmap();
                Err(e)
            }
        }
    }

    fn take_owner(object: &Object<B>, me: ProcessId) -> Result<()> {
        owner::claim::<B>(object.owner(), me)?;
        // An owner that died while destroying it left the destroyer word set: the
        // value is half-dropped, so the claim fails and the name is finished off.
        if object.members().take_over_dead_destroyer::<B>(me) {
            let mut buf = [0; crate::name::NAME_MAX];
            if let Ok(name) = object.stored_name(&mut buf) {
                object.destroy_claimed(Some(drop_value::<T>), name);
            }
            return Err(Error::new(ErrorKind::NotFound, "claiming an object that was being destroyed"));
        }
        if object.members().destroying() {
            return Err(Error::new(ErrorKind::NotFound, "claiming an object that is being destroyed"));
        }
        Ok(())
    }

    /// Parks the object under its name with no owner, for another process to
    /// [`claim`](Unique::claim). The value stays; this process's mapping goes.
    pub fn release(self) {
        let mut this = ManuallyDrop::new(self);
        if B::current_process() == this.owner {
            owner::release(this.object.owner(), this.owner);
            // SAFETY: `this` is never dropped or used again.
            let object = unsafe { ManuallyDrop::take(&mut this.object) };
            object.disown();
            object.unmap();
        }
    }
}

impl<T: ShmSafe, B: Backend> Drop for Unique<T, B> {
    /// Drops `T`, removes the name and unmaps. In a child created by `fork()`, an
    /// inherited handle belongs to the parent: dropping it there does nothing.
    fn drop(&mut self) {
        if B::current_process() != self.owner {
            return;
        }
        // SAFETY: `self.object` is not used again.
        let leaving = unsafe { ManuallyDrop::take(&mut self.object) }.leaving();
        // Dropped before `leaving`: ends this process's ownership, then `leaving`
        // unmaps, both also if `T`'s drop panics.
        let _disown = Disown(&leaving);
        if leaving.members().claim_destroyer::<B>(self.owner, true) {
            leaving.destroy_claimed_by_stored_name(Some(drop_value::<T>));
        }
    }
}

/// Ends this process's exclusive ownership of an object when dropped.
struct Disown<'a, B: Backend>(&'a Object<B>);

impl<B: Backend> Drop for Disown<'_, B> {
    fn drop(&mut self) {
        self.0.disown();
    }
}

impl<T: ShmSafe, B: Backend> Deref for Unique<T, B> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value lies in this handle's mapping, at the offset, size and
        // alignment validated for `T` at open (kept in private memory), mapped until
        // this handle is dropped. Any bytes are a valid `T` (`ShmSafe`), whatever a
        // peer writes meanwhile. In a forked child, reading the parent's value is
        // like reading any peer's.
        unsafe { self.object.value::<T>().as_ref() }
    }
}

impl<T: ShmSafe, B: Backend> DerefMut for Unique<T, B> {
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent:
    /// the parent owns the value, and a second `&mut T` to it would alias the
    /// parent's.
    fn deref_mut(&mut self) -> &mut T {
        if B::current_process() != self.owner {
            panic!("shmptr: writing through a Unique inherited across fork(): the parent owns it; claim or create one in the child");
        }
        // SAFETY: as in `deref`. No other `&mut T` to this object exists in this
        // address space: `&mut self` excludes this handle's other users, this
        // process's private ownership record (`own_exclusively`, checked before the
        // shared owner word at claim and create) excludes every other mapping of the
        // object here, and the check above excludes a forked child writing through
        // the parent's handle. Other processes write in their own address spaces,
        // which for this process is a peer writing shared bytes (any bytes are a `T`).
        unsafe { self.object.value::<T>().as_mut() }
    }
}

impl<T: ShmSafe + fmt::Debug, B: Backend> fmt::Debug for Unique<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
