//! Mappings of segments, and the handles on them: the one module of the core that
//! turns a backend's raw region into references. Everything here rests on two
//! invariants, which only this module can break:
//!
//! - a [`Mapping`] exists only for a region validated as a segment of the kind and
//!   value type it was created or opened for (its layout kept in private memory);
//! - a mapping is unmapped exactly once, when its last handle goes (a
//!   [`SharedHandle`]'s private count, a [`UniqueHandle`]'s drop or release).
//!
//! The protocols (who joins, leaves, destroys) are the segment's ([`Members`],
//! [`owner`](super::owner), [`lifecycle`](super::lifecycle)); this module supplies
//! them with the mapping's header and slots, and the destroy steps with the value's
//! drop and the backend's unlink.

use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of, ManuallyDrop, MaybeUninit};
use core::ptr::{addr_of, NonNull};
use core::time::Duration;

use crate::backend::{Backend, CrashPoint, Liveness, Platform, ProcessId, Region};
use crate::error::{Error, ErrorKind, Result};
use crate::handles::{self, Released};
use crate::name::{Name, NAME_MAX};
#[cfg(not(loom))]
use crate::options::Access;
use crate::options::Options;
use crate::primitive::{fence, widen, AtomicU32, AtomicUsize, Ordering, Word};
use crate::shm_safe::ShmSafe;
use crate::value::{value_type, Value};

use super::header::Fixed;
use super::header::ValueType;
use super::lifecycle::{self, claim_destroyer, Claim, DestroyRight, State};
use super::members::{Refused, Sole::Left};
use super::{owner, Header, Inspection, Kind, Members, SegmentLayout, Slot, MAX_SLOTS};
#[cfg(not(loom))]
use crate::inspect::Reclaimed;

/// How long one wait for a creator lasts before looking again, in nanoseconds.
const POLL_NANOS: u64 = 5_000_000;

/// "checking the slot count (1..=MAX_SLOTS)", with the number this target has.
const SLOT_COUNT_RANGE: &str = match MAX_SLOTS {
    64 => "checking the slot count (1..=64)",
    32 => "checking the slot count (1..=32)",
    _ => panic!("MAX_SLOTS is the bit width of an atomic word: 32 or 64"),
};

/// One mapping of a segment, validated for the kind and value type it was created
/// or opened for. Dropping it does nothing: the handle that owns it unmaps it
/// ([`SharedHandle`]'s clones share one mapping).
pub(crate) struct Mapping<B: Backend> {
    region: ManuallyDrop<B::Region>,
    value: NonNull<u8>,
    slot_count: u32,
}

/// Whether `open` should remove a segment whose creator died before `Ready`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Abandoned {
    Report,
    Remove,
    /// As `Remove`, for objects that bear shmptr's magic only: the untyped
    /// operations are never told which object to expect, so an empty file (a
    /// creator that died before sizing it, or anybody's) is left alone.
    RemoveStamped,
}

impl<B: Backend> Mapping<B> {
    fn header(&self) -> &Header {
        header_of::<B>(&self.region)
    }

    /// The member set and slot table.
    pub(crate) fn members(&self) -> Members<'_> {
        Members::new(self.header(), self.slots())
    }

    /// The slot table.
    fn slots(&self) -> &[Slot] {
        // SAFETY: `open`/`create` validated that `slot_count` slots follow the header
        // inside the mapping; `Slot` is valid for any bytes (atomics only) and is
        // only accessed atomically.
        unsafe {
            core::slice::from_raw_parts(
                self.region.as_ptr().as_ptr().add(size_of::<Header>()).cast::<Slot>(),
                self.slot_count as usize,
            )
        }
    }

    /// Where slot `index` of the slot table lies, for a handle to keep (its hot
    /// paths then store to it without computing the address).
    ///
    /// # Safety
    /// `index` must be below the mapping's slot count.
    unsafe fn slot_at(&self, index: u32) -> NonNull<Slot> {
        debug_assert!(index < self.slot_count);
        // Made from the region's pointer, not from a reference to the slot: a
        // reference's borrow would end at the next write to the mapping's bytes
        // through another pointer (Miri's Stacked Borrows: the slot's padding),
        // and this pointer is kept for the handle's life.
        // SAFETY: `open`/`create` validated that `slot_count` slots follow the header
        // inside the mapping, and the caller keeps `index` below it: in bounds, and
        // not null.
        unsafe {
            NonNull::new_unchecked(
                self.region.as_ptr().as_ptr().add(size_of::<Header>()).cast::<Slot>().add(index as usize),
            )
        }
    }

    /// The index of the slot at `slot`, one [`slot_at`](Self::slot_at) gave.
    fn slot_index(&self, slot: NonNull<Slot>) -> u32 {
        let first = self.region.as_ptr().as_ptr().wrapping_add(size_of::<Header>());
        ((slot.as_ptr() as usize - first as usize) / size_of::<Slot>()) as u32
    }

    /// This mapping's handle count, in process-private memory.
    fn handles(&self) -> &AtomicUsize {
        self.region.handles()
    }

    /// A bitwise copy sharing the mapping (for a clone of a handle).
    ///
    /// # Safety
    /// Exactly one of the copies may be [`unmap`](Mapping::unmap)ped, and none
    /// used after that.
    unsafe fn share(&self) -> Self {
        Mapping {
            // SAFETY: the caller guarantees only one copy is ever unmapped; the
            // `Region` contract allows bitwise copies on that condition.
            region: unsafe { core::ptr::read(&self.region) },
            value: self.value,
            slot_count: self.slot_count,
        }
    }

    /// A pointer to the value, a `V` (a slice: of `length` elements). Only for
    /// the `V` this mapping was created or opened for, with the length validated
    /// then (kept by its handle, in private memory).
    #[inline(always)]
    fn value_ptr<V: ?Sized + Value>(&self, length: V::Length) -> NonNull<V> {
        V::at(self.value, length)
    }

    /// Drops the mapping.
    fn unmap(mut self) {
        // SAFETY: `self` is consumed, so the region is dropped exactly once here.
        unsafe { ManuallyDrop::drop(&mut self.region) }
    }

    /// Creates the segment `name` for a `V` (a slice: of `length` elements)
    /// exclusively, writes the header, lets `init` write the value in place (the
    /// bytes are zero before), and publishes `Ready`. If `init` panics, the
    /// unfinished object is removed as the panic unwinds.
    fn create<V: ?Sized + Value, H>(
        kind: Kind,
        name: Name<'_>,
        options: &Options<H>,
        length: usize,
        init: impl FnOnce(&mut V),
    ) -> Result<Self> {
        let slot_count = match kind {
            Kind::Unique => 0,
            Kind::Shared if (1..=MAX_SLOTS).contains(&options.slots) => options.slots,
            Kind::Shared => return Err(Error::new(ErrorKind::Unsupported, SLOT_COUNT_RANGE)),
        };
        check_value::<V, B>()?;
        let ty = value_type::<V>(kind);
        let layout = SegmentLayout::of(slot_count, &ty, length)?;
        let region = B::create(name, layout.total_len, &options.access)?;
        if region.len() < layout.total_len || !base_aligned::<B>(&region) {
            unlink::<B>(name, &region);
            return Err(Error::new(ErrorKind::Unsupported, "checking the backend's region"));
        }
        if kind == Kind::Unique {
            // This process owns it from before anyone can see it: from `Ready` on, a
            // peer may clear the owner word, and a claim by another thread here must
            // then meet this record, never get a second `&mut T`.
            if let Err(e) = region.own_exclusively() {
                unlink::<B>(name, &region);
                return Err(e);
            }
        }
        let me = B::current_process();
        // Removes the object if anything below unwinds (a panicking `init`).
        let creating = Creating { mapping: Self::from_region(region, &layout), name, kind, creator: me };
        B::crash_point(CrashPoint::CreateSized);
        let mapping = &creating.mapping;
        let header = mapping.header();
        lifecycle::initialize(header, kind, me, name, &layout, &ty);
        match kind {
            Kind::Shared => mapping.members().init_creator(me),
            Kind::Unique => owner::init_creator(&header.owner, me),
        }
        B::crash_point(CrashPoint::CreateHeaderWritten);
        // SAFETY: the value lies in the fresh mapping, at the offset, size (a
        // slice: `length` elements) and alignment of `layout`, computed for `V`;
        // its bytes are zero, a valid `V` (`ShmSafe`: every bit pattern), and no
        // reference to them exists: the object is ours alone until `Ready` (a peer
        // that writes them meanwhile writes shared bytes, still a valid `V`). The
        // `&mut` ends when `init` returns, before `Ready`.
        init(unsafe { mapping.value_ptr::<V>(V::length(length)).as_mut() });
        if B::current_process() != me {
            // `init` forked, and this is the child: the object, its lock and its
            // slot are the parent's, which goes on to publish it. Leave them be:
            // nothing of it is undone, and the mapping is not unmapped.
            core::mem::forget(creating);
            return Err(Error::new(ErrorKind::Unsupported, "creating, in a child the initializer forked"));
        }
        let mapping = creating.finish();
        let header = mapping.header();
        if kind == Kind::Shared {
            // The creator's one handle, counted before the object is published so
            // that every later mapping of it in this process sees the count
            // (`Region::others`). Relaxed: the `Ready` store publishes it.
            mapping.handles().store(1, Ordering::Relaxed);
        }
        B::crash_point(CrashPoint::CreateValueWritten);
        lifecycle::publish::<B>(header);
        // After `Ready`: an opener that finds the creation mark gone re-reads the
        // state and sees `Ready`, never a finished object taken for an abandoned one.
        B::published(&mapping.region);
        Ok(mapping)
    }

    /// Maps the existing segment `name`, waits (bounded) while its creator finishes
    /// it, and validates it as a `kind` holding a `T`.
    ///
    /// A segment being destroyed is `NotFound`; if its destroyer died, this
    /// finishes the job (unlinks it) first.
    fn open<V: ?Sized + Value, H>(
        kind: Kind,
        name: Name<'_>,
        options: &Options<H>,
        abandoned: Abandoned,
    ) -> Result<(Self, V::Length)> {
        check_value::<V, B>()?;
        let ty = value_type::<V>(kind);
        let (mapping, length) = Self::open_as(name, options, abandoned, |_| Some(ty))?;
        Ok((mapping, V::length(length)))
    }

    /// [`open`](Self::open), validating the segment as the kind and value type
    /// `expect` names for its header: a constant for a typed opener, the header's
    /// own ([`Header::value_type`]) for the untyped operations of
    /// [`crate::inspect`]; `None` is `Corrupt`.
    #[inline(always)]
    fn open_as<H>(
        name: Name<'_>,
        options: &Options<H>,
        abandoned: Abandoned,
        expect: impl Fn(&Header) -> Option<ValueType>,
    ) -> Result<(Self, usize)> {
        let start = B::now_nanos();
        let timeout = options.timeout.as_nanos().min(u64::MAX as u128) as u64;
        let deadline = start.saturating_add(timeout);
        // A file that names no creator (short, or blank) is judged only once the
        // whole timeout has passed, and never before one poll interval: a creator
        // may have just made it (`Backend::creator_liveness`). A shorter timeout
        // ends in `Timeout` without judging anyone. (One instant, the later of
        // the deadline and one poll interval after the start.)
        let judge_unnamed_at = start.saturating_add(timeout.max(POLL_NANOS));
        loop {
            // A `match`, not `?`: 16 bytes less in `examples/constrained`.
            #[allow(clippy::question_mark)]
            let region = match B::open(name, &options.access) {
                Ok(region) => region,
                Err(e) => return Err(e),
            };
            // Nanoseconds left, and the next wait: kept as integers, one `Duration`
            // (smaller code than `Duration` arithmetic).
            let now = B::now_nanos();
            let remaining = deadline.saturating_sub(now);
            let slice = Duration::from_nanos(remaining.min(POLL_NANOS));
            let judge_unnamed = now >= judge_unnamed_at;
            let error = if region.len() < size_of::<Header>() {
                // Its creator may not have sized it yet: wait. A file that stays this
                // short, with nobody creating it, is not a segment; one whose creator
                // still lives (even stopped) is its creator's, however long it takes.
                if remaining != 0 {
                    drop(region);
                    sleep::<B>(slice);
                    continue;
                }
                let dead = judge_unnamed && B::creator_liveness(name, &region, None) == Liveness::Dead;
                // A creator sizes the file to its whole length at once, before it
                // writes a byte: an empty file is a creator's that died before
                // that (removed as any abandoned object, but by the untyped
                // operations), a longer short one is no segment at all.
                match dead {
                    false => Error::new(ErrorKind::Timeout, "waiting for the creator to finish the segment"),
                    true if region.len() == 0 && abandoned != Abandoned::RemoveStamped => {
                        Error::new(ErrorKind::Abandoned, "opening an object its creator abandoned")
                    }
                    true => Error::new(ErrorKind::Corrupt, "opening a segment shorter than its header"),
                }
            } else {
                if !base_aligned::<B>(&region) {
                    return Err(Error::new(ErrorKind::Unsupported, "checking the backend's region"));
                }
                let header = header_of::<B>(&region);
                let inspected = match expect(header) {
                    Some(ty) => header.inspect(region.len(), name, ty),
                    None => Err(Error::new(ErrorKind::Corrupt, "validating the segment")),
                };
                match inspected {
                    Ok(Inspection::Ready(layout)) => return Ok((Self::from_region(region, &layout), layout.length)),
                    Ok(Inspection::NotReady(state)) => {
                        // A header being written names its creator, judged on every round.
                        // A blank one names nobody (see `judge_unnamed`).
                        let creator = match state {
                            State::Blank => None,
                            _ => ProcessId::from_word(header.creator.load(Ordering::Relaxed)),
                        };
                        // Still unfinished after the verdict (Acquire: pairs with the
                        // creator's `Ready`, stored before it ends its creation mark): a
                        // creator that finished meanwhile is never taken for a dead one.
                        let dead = (creator.is_some() || judge_unnamed)
                            && B::creator_liveness(name, &region, creator) == Liveness::Dead
                            && header.state.load(Ordering::Acquire) == state as u32;
                        if dead {
                            Error::new(ErrorKind::Abandoned, "opening an object its creator abandoned")
                        } else if remaining != 0 {
                            lifecycle::wait_for_creator::<B>(header, state as u32, slice);
                            continue;
                        } else {
                            // Its creator lives (or cannot be judged): the object is its
                            // creator's, never removed, however slow or stopped it is.
                            Error::new(ErrorKind::Timeout, "waiting for the creator to finish the segment")
                        }
                    }
                    Ok(Inspection::Destroying) => Error::new(ErrorKind::NotFound, BEING_DESTROYED),
                    Err(e) => e,
                }
            };
            // Being destroyed, or abandoned and to be removed: finish the job (one
            // call site: this loop is inlined into every opener).
            let remove = error.kind() == ErrorKind::Abandoned && abandoned != Abandoned::Report;
            if error.kind() == ErrorKind::NotFound || remove {
                finish_for_dead::<B>(&region, name);
            }
            return Err(if remove { Error::new(ErrorKind::NotFound, ABANDONED_REMOVED) } else { error });
        }
    }

    /// Runs the destroy steps this process won the right to ([`destroy`]), with
    /// the value's drop (`drop`: [`drop_value::<V>`] for the `V` this mapping was
    /// validated for, and `length` its element count).
    #[inline(always)]
    fn destroy(&self, right: DestroyRight<'_>, drop: DropValue, length: usize, name: Option<Name<'_>>) {
        destroy::<B>(&self.region, right, Some((drop, self.value, length)), name);
    }

    /// Moves the value out, then runs the destroy steps this process won the right
    /// to (if it did: `right`), without dropping the value: it lives on in the
    /// caller.
    ///
    /// The value is claimed as `destroy` claims it for a drop: this mapping is
    /// marked as destroying first, so that no other mapping here drops it in place
    /// while we copy it (a peer that forges the member set or the destroyer word can
    /// make another thread here a destroyer too); if one here destroys it already,
    /// we wait until that mapping is gone.
    fn take<T: ShmSafe>(&self, right: Option<DestroyRight<'_>>) -> T {
        if may_drop::<B>(&self.region) {
            // Moves the state on, for peers and for a destroyer here that comes
            // later (its `may_drop` also sees our mark). Whether it succeeds changes
            // nothing here: no mapping here drops the value.
            let _ = right.as_ref().map(DestroyRight::begin_drop);
        } else {
            // Another mapping here holds the object (it only reads: a copy is
            // fine) or destroys it (its drop writes the bytes we copy): wait for
            // the destroyer, a thread of this process, to finish and unmap.
            while Others::of::<B>(&self.region).destroying() {
                B::yield_now();
            }
            // Acquire: its drop's writes happen before our copy.
            fence(Ordering::Acquire);
        }
        // SAFETY: the value lies in this mapping, at the offset, size and alignment
        // validated for `T` (kept in private memory), mapped until the caller
        // unmaps it after this returns. No mapping here drops it during the copy:
        // ours is marked destroying (so another's `may_drop` refuses), and one that
        // was destroying before is gone (the wait above). Any bytes are a valid `T`
        // (`ShmSafe`), also if a peer writes them meanwhile or a drop here already
        // ran over them, and a `ShmSafe` value owns nothing outside its own bytes:
        // a copy of them is a whole `T`, and reading is all a copy does, also while
        // another mapping here reads the object (a forged member set).
        let value = unsafe { self.value.cast::<T>().as_ptr().read() };
        if let Some(right) = right {
            destroy::<B>(&self.region, right, None, None);
        }
        value
    }

    fn from_region(region: B::Region, layout: &SegmentLayout) -> Self {
        // SAFETY: `layout.value_offset` is within the region (validated by the
        // caller: the region holds at least `layout.total_len` bytes).
        let value = unsafe { region.as_ptr().add(layout.value_offset) };
        Mapping { region: ManuallyDrop::new(region), value, slot_count: layout.slot_count }
    }
}

/// Moves `value` into `slot`, a fresh value's zero bytes, without dropping them:
/// they are a value nobody made (a `ShmSafe` type's drop may count drops). One
/// move, where `mem::forget(mem::replace(..))` made a second copy of the value on
/// the stack in a debug build.
#[inline(always)]
pub(crate) fn put<T: ShmSafe>(slot: &mut T, value: T) {
    // SAFETY: `slot` is a valid, exclusive reference, so writing through it is
    // sound; the old bytes are overwritten without their drop, which only leaks
    // (and a zero `ShmSafe` value owns nothing outside its own bytes).
    unsafe { core::ptr::write(slot, value) }
}

/// Writes `make(i)` into element `i` of a fresh slice, in place (the zero bytes
/// each replaces are not dropped, as in [`put`]). If `make` panics, the elements
/// made so far are dropped, as `core::array::from_fn` drops them, before the
/// unfinished object is removed.
pub(crate) fn fill<B: Backend, T: ShmSafe>(slice: &mut [T], mut make: impl FnMut(usize) -> T) {
    /// The first `count` elements of `slice` are made by `maker`: dropped if this
    /// is, by `maker` only (a child `make` forked leaves them to its parent).
    struct Made<'a, B: Backend, T> {
        slice: &'a mut [T],
        count: usize,
        maker: ProcessId,
        _backend: PhantomData<B>,
    }
    impl<B: Backend, T> Drop for Made<'_, B, T> {
        fn drop(&mut self) {
            if B::current_process() != self.maker {
                return;
            }
            let made: *mut [T] = &mut self.slice[..self.count];
            // SAFETY: the first `count` elements were written by `fill` and are
            // valid values no other reference uses; they are dropped once, here,
            // during the unwind. Nothing drops them again: the object is then
            // removed (its creator's `Creating` guard), or, if its creator is
            // dead, left to survivors, which never drop an unfinished object's
            // value (`finish_for_dead`). A peer writing the bytes meanwhile leaves
            // valid values (`ShmSafe`).
            unsafe { core::ptr::drop_in_place(made) }
        }
    }
    let mut made = Made::<B, T> { slice, count: 0, maker: B::current_process(), _backend: PhantomData };
    while made.count < made.slice.len() {
        let value = make(made.count);
        put(&mut made.slice[made.count], value);
        made.count += 1;
    }
    core::mem::forget(made);
}

/// A segment this process is creating: until [`finish`](Creating::finish), dropping
/// it (a panicking initializer unwinding) removes the object, so that nothing
/// blocks its name: the name is unlinked, this process's ownership (a `Unique`)
/// ended, the mapping unmapped, and with it the backend's creation mark. A
/// creator that died (the arena's simulated crash unwinds too) leaves it to the
/// survivors, as a killed one does.
struct Creating<'a, B: Backend> {
    mapping: Mapping<B>,
    name: Name<'a>,
    kind: Kind,
    creator: ProcessId,
}

impl<B: Backend> Creating<'_, B> {
    /// The created mapping, kept.
    fn finish(self) -> Mapping<B> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the mapping is moved out exactly once.
        unsafe { core::ptr::read(&this.mapping) }
    }
}

impl<B: Backend> Drop for Creating<'_, B> {
    #[cold]
    fn drop(&mut self) {
        // A child that `init` forked and that unwinds: the object, its creation
        // lock (a descriptor the child shares) and its mapping record are the
        // parent's, which goes on creating it. A dead creator's is the survivors'.
        if B::current_process() != self.creator || B::liveness(self.creator) == Liveness::Dead {
            return;
        }
        // Openers waiting for it see it gone first, then its name goes (an error:
        // the name already names another object, nothing to undo).
        lifecycle::withdraw::<B>(self.mapping.header());
        unlink::<B>(self.name, &self.mapping.region);
        if self.kind == Kind::Unique {
            self.mapping.region.disown();
        }
        // SAFETY: the mapping is not used after this: `self` is being dropped, and
        // `finish` (which moves it out) forgets `self` instead.
        unsafe { ManuallyDrop::drop(&mut self.mapping.region) }
    }
}

/// What `open` says of an object being destroyed (after finishing the job if its
/// destroyer died).
const BEING_DESTROYED: &str = "opening (being destroyed)";
/// What `open` says of an abandoned object it removed.
const ABANDONED_REMOVED: &str = "opening (abandoned: removed)";

/// Opens `name` untyped, for [`reclaim_any`] and [`remove_any`]: validated as the
/// kind and type its own checksummed header names (every other check of `open`
/// applies: the name, the slot count, the layout against the mapped length),
/// waiting at most `UNTYPED_TIMEOUT` for a creator, and removing the object if its
/// creator died before `Ready`. A header without the magic is `Corrupt` at once,
/// never waited on nor removed: such a file need not be ours (a zero-filled file
/// of someone else), and an untyped operation is never told which object to expect.
#[cfg(not(loom))]
fn open_any<B: Backend>(name: Name<'_>) -> Result<(Mapping<B>, Kind)> {
    let kind = core::cell::Cell::new(Kind::Shared);
    let options = Options::<()>::new().timeout(UNTYPED_TIMEOUT);
    let opened = Mapping::<B>::open_as(name, &options, Abandoned::RemoveStamped, |header| {
        // Relaxed: untrusted, and only a filter; `inspect` checks it again.
        if header.magic.load(Ordering::Relaxed) != super::header::MAGIC {
            return None;
        }
        let ty = header.value_type().unwrap_or(ValueType::NONE);
        kind.set(ty.kind);
        Some(ty)
    });
    match opened {
        Ok((mapping, _)) => Ok((mapping, kind.get())),
        // The header's own type, so a mismatch is a header that contradicts itself.
        Err(e) if e.kind() == ErrorKind::TypeMismatch => Err(Error::new(ErrorKind::Corrupt, "validating the segment")),
        Err(e) => Err(e),
    }
}

/// How long the untyped operations wait for an object's creator to finish it.
#[cfg(not(loom))]
const UNTYPED_TIMEOUT: Duration = Duration::from_millis(100);

/// The untyped reclaim behind [`crate::inspect::reclaim`].
#[cfg(not(loom))]
pub(crate) fn reclaim_any<B: Backend>(name: Name<'_>) -> Result<Reclaimed> {
    let (mapping, kind) = match open_any::<B>(name) {
        Ok(opened) => opened,
        Err(e) if e.kind() == ErrorKind::NotFound && e.during() == ABANDONED_REMOVED => {
            return Ok(Reclaimed { holders: 0, destroyed: true })
        }
        // Being destroyed: finished here if its destroyer died (then the name is
        // gone), else its live destroyer's job.
        Err(e) if e.kind() == ErrorKind::NotFound && e.during() == BEING_DESTROYED => {
            return Ok(Reclaimed { holders: 0, destroyed: gone::<B>(name) })
        }
        // Its creator lives and is still writing it: nothing dead to reclaim.
        Err(e) if e.kind() == ErrorKind::Timeout => return Ok(Reclaimed::default()),
        Err(e) => return Err(e),
    };
    let mapping = Unmapping(ManuallyDrop::new(mapping));
    let me = B::current_process();
    if kind == Kind::Shared {
        let (holders, right) = mapping.members().reclaim::<B>(me);
        let destroyed = right.is_some();
        if let Some(right) = right {
            // No drop: without its type, the value's drop is not known here.
            destroy::<B>(&mapping.region, right, None, Some(name));
        }
        return Ok(Reclaimed { holders, destroyed });
    }
    match take_unique(&mapping, name, owner::From::Dead) {
        Ok(()) => Ok(Reclaimed { holders: 1, destroyed: true }),
        // A live (or unjudgeable) owner, this process included, or a released
        // object: nothing dead to reclaim. Being destroyed: someone else's job.
        Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::NotFound) => Ok(Reclaimed::default()),
        Err(e) => Err(e),
    }
}

/// The untyped remove behind [`crate::inspect::remove`].
#[cfg(not(loom))]
pub(crate) fn remove_any<B: Backend>(name: Name<'_>) -> Result<()> {
    let (mapping, kind) = match open_any::<B>(name) {
        Ok(opened) => opened,
        Err(e) if e.kind() == ErrorKind::NotFound && e.during() == ABANDONED_REMOVED => return Ok(()),
        // Finished here if its destroyer died; else a live destroyer still has it.
        Err(e) if e.kind() == ErrorKind::NotFound && e.during() == BEING_DESTROYED => return removed::<B>(name),
        Err(e) if e.kind() == ErrorKind::Timeout => {
            return Err(Error::new(ErrorKind::Busy, "removing an object whose live creator is still writing it"))
        }
        Err(e) => return Err(e),
    };
    let mapping = Unmapping(ManuallyDrop::new(mapping));
    let me = B::current_process();
    if kind == Kind::Shared {
        // Dead holders first: only a live (or unjudgeable) one keeps it.
        let (_, right) = mapping.members().reclaim::<B>(me);
        return match right {
            Some(right) => {
                destroy::<B>(&mapping.region, right, None, Some(name));
                Ok(())
            }
            // A destroyer that is not dead (the reclaim took over a dead one's).
            None if lifecycle::destroying(mapping.header()) => removed::<B>(name),
            None => Err(Error::new(ErrorKind::Busy, "removing an object a live (or unjudgeable) holder holds")),
        };
    }
    match take_unique(&mapping, name, owner::From::ReleasedOrDead) {
        Ok(()) => Ok(()),
        // Another process destroys it.
        Err(e) if e.kind() == ErrorKind::NotFound => removed::<B>(name),
        Err(e) if e.kind() == ErrorKind::Busy => {
            Err(Error::new(ErrorKind::Busy, "removing an object a live (or unjudgeable) owner owns"))
        }
        Err(e) => Err(e),
    }
}

/// Whether `name` names no object any more (an error other than `NotFound`, such
/// as a full mapping table, counts as "still there").
#[cfg(not(loom))]
fn gone<B: Backend>(name: Name<'_>) -> bool {
    let access = Access { mode: Access::DEFAULT.mode, allow_foreign_owner: true };
    matches!(B::open(name, &access), Err(e) if e.kind() == ErrorKind::NotFound)
}

/// The end of a remove that found another process destroying the object: `Ok`
/// once its name is gone, `Busy` while that destroyer (alive, or not judged dead)
/// has not finished.
#[cfg(not(loom))]
fn removed<B: Backend>(name: Name<'_>) -> Result<()> {
    match gone::<B>(name) {
        true => Ok(()),
        false => Err(Error::new(ErrorKind::Busy, "removing an object a live (or unjudgeable) process is destroying")),
    }
}

/// Takes the `Unique` object `mapping` maps from the owners `from` allows and
/// destroys it without dropping its value; or, if its destroyer died, finishes
/// that destroy. `Busy` if a live process owns it (this one included) or it is
/// released and `from` does not take released objects; `NotFound` if someone
/// else is destroying it.
#[cfg(not(loom))]
fn take_unique<B: Backend>(mapping: &Mapping<B>, name: Name<'_>, from: owner::From) -> Result<()> {
    let me = B::current_process();
    // This process's own record first, as `UniqueHandle::claim` does: a handle of
    // it here means a live owner, whatever the shared word says.
    mapping.region.own_exclusively()?;
    let _disown = Disown(mapping);
    let members = mapping.members();
    let right = match owner::claim_object::<B>(&members, me, from) {
        Ok(()) => owner::give_up::<B>(&members, me),
        Err(refused) => match refused.right {
            Some(right) => Some(right),
            None => return Err(refused.error),
        },
    };
    if let Some(right) = right {
        // No drop: without its type, the value's drop is not known here.
        destroy::<B>(&mapping.region, right, None, Some(name));
    }
    Ok(())
}

/// A segment past `Ready` whose destroyer died, or one whose creator died before
/// `Ready`: if this process wins the destroyer word, it unlinks the name. The value
/// is not dropped (it is half-dropped or was never whole), even if a peer sets the
/// state back to `Ready` meanwhile.
fn finish_for_dead<B: Backend>(region: &B::Region, name: Name<'_>) {
    if region.len() < size_of::<Header>() {
        // An empty file whose creator died before sizing it: nothing to destroy,
        // no destroyer word to win, only the name (an error: another process
        // removed or replaced it meanwhile).
        unlink::<B>(name, region);
        return;
    }
    // With no slots, the claim succeeds only against a dead destroyer, or against
    // none (a dead creator never names one).
    let members = Members::new(header_of::<B>(region), &[]);
    if let Some(right) = claim_destroyer::<B>(&members, B::current_process(), Claim::Mine, None) {
        destroy::<B>(region, right, None, Some(name));
    }
}

/// The destroy steps, in order, for the holder of `right`: drops the value (`drop`:
/// the type-erased drop of the value at the pointer) if the state moves from
/// `Ready` to `Destroying` here; unlinks `name` (`None`: the name stored in the
/// segment; if a peer overwrote it, the name is left alone, since it may name
/// another object by now) and marks the segment `Destroyed`; frees the right's
/// slot. If the drop panics, the later steps still run before the panic goes on.
///
/// Every way of destroying goes through this one outlined function, so each caller
/// is a single call rather than its own copy of these steps.
#[inline(never)]
fn destroy<B: Backend>(
    region: &B::Region,
    right: DestroyRight<'_>,
    drop: Option<(DropValue, NonNull<u8>, usize)>,
    name: Option<Name<'_>>,
) {
    B::crash_point(CrashPoint::DestroyClaimed);
    let mut copy = NAME_COPY;
    let name = match name {
        Some(name) => Some(name),
        None => stored_name::<B>(region, &mut copy).ok(),
    };
    let finish = Finish::<B> { right, region, name };
    if let Some((drop, value, length)) = drop {
        // Another mapping here with handles means a peer forged the member set (a
        // real one is never empty while a handle lives): leave the value alone, so
        // that this process never drops a value it still reads, nor drops it twice.
        // Its handles' count reached zero before their detach, which our emptying
        // of the member set acquired, so a mapping that merely leaves is not seen.
        if may_drop::<B>(region) && finish.right.begin_drop() {
            // SAFETY: `drop` is `drop_value::<V>` for the `V` the caller's mapping
            // was validated for, and `value` and `length` that mapping's value and
            // slice length: inside it, aligned and validated for `V` at open,
            // mapped during the drop. No `&V` to it is live in this process: the caller's handles of this
            // mapping are gone (its private count reached zero, or the `Unique` is
            // being dropped), and no other mapping of the object here has handles
            // (`may_drop`, checked just above). Whatever bytes
            // a peer or a crash left are a valid `T` (`ShmSafe`: every bit
            // pattern), and a `ShmSafe` value owns nothing outside its own bytes, so
            // its drop only writes those bytes: even if a peer resets the state word
            // and another process drops it again, that is a write to shared bytes
            // like any peer's. `begin_drop` lets only one process here drop it.
            unsafe { drop(value, length) }
        }
    }
}

/// What the other mappings of `region`'s object in this process are doing: the OR
/// of their private counts (`Region::others`), read as bits.
struct Others(usize);

impl Others {
    fn of<B: Backend>(region: &B::Region) -> Self {
        Others(region.others())
    }
    /// Some have handles.
    fn holding(&self) -> bool {
        // The count bits, and the foreign mark, which a backend sets only beside
        // a count (`Region::foreign_marked`; and if one did not, counting it as
        // holding only keeps a value that could go). All the bits below `SOLE`:
        // one mask, as before the foreign mark, and no more code.
        self.0 & (handles::SOLE - 1) != 0
    }
    /// Some are joining the object.
    fn joining(&self) -> bool {
        self.0 & handles::JOINING != 0
    }
    /// One is destroying the object.
    fn destroying(&self) -> bool {
        self.0 & handles::DESTROYING != 0
    }
    /// One lends out the value exclusively (`Shared::get_mut`).
    fn lending(&self) -> bool {
        self.0 & handles::SOLE != 0
    }
}

/// Marks `region` as the mapping through which this process destroys its object,
/// then says whether the value may be dropped: only if no other mapping of it here
/// has handles or destroys it too (a peer forged the member set, or reset the state
/// word while we drop). Mappings still joining are waited for: they end joined
/// (then the value is left alone) or refused, within a few atomic steps.
fn may_drop<B: Backend>(region: &B::Region) -> bool {
    // Relaxed, then SeqCst: against a joiner that marks its mapping, joins, then
    // looks at ours (`SharedHandle::attach`): one of us sees the other's mark.
    region.handles().store(handles::DESTROYING, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    loop {
        let others = Others::of::<B>(region);
        if others.holding() || others.destroying() {
            return false;
        }
        if !others.joining() {
            return true;
        }
        B::yield_now();
    }
}

/// The destroy steps after the drop, run when dropped so that they also run when
/// the drop panics: unlink the name (if known), mark the segment destroyed, then
/// (as `right` drops) free the slot.
struct Finish<'a, B: Backend> {
    right: DestroyRight<'a>,
    region: &'a B::Region,
    name: Option<Name<'a>>,
}

impl<B: Backend> Drop for Finish<'_, B> {
    fn drop(&mut self) {
        B::crash_point(CrashPoint::DestroyDropped);
        let Some(name) = self.name else { return };
        // An error here means the name is already gone or names a newer object;
        // either way there is nothing left for us to unlink.
        unlink::<B>(name, self.region);
        B::crash_point(CrashPoint::DestroyUnlinked);
        self.right.mark_destroyed();
        // Then `self.right` drops: the slot is freed, also if this panicked.
    }
}

/// Removes `name` if it still names the object `region` maps, ignoring errors
/// (the name is gone already, or names a newer object: nothing to remove).
/// Every caller goes through this one outlined copy of the backend's unlink.
#[inline(never)]
fn unlink<B: Backend>(name: Name<'_>, region: &B::Region) {
    let _ = B::unlink(name, region);
}

/// A value's drop with its type erased, so that the destroy steps are one function
/// for every `T` (each copy costs a static binary hundreds of bytes): the value's
/// start, and a slice's length.
type DropValue = unsafe fn(NonNull<u8>, usize);

/// [`DropValue`] for `V`.
///
/// # Safety
/// `value` must point at a `V` (a slice: of `length` elements; aligned, inside a
/// live mapping) that no reference of this process uses during or after the drop.
unsafe fn drop_value<V: ?Sized + Value>(value: NonNull<u8>, length: usize) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::drop_in_place(V::at(value, V::length(length)).as_ptr()) }
}

/// Unmaps its mapping when dropped: the last step of leaving an object, also when
/// `T`'s drop panics.
struct Unmapping<B: Backend>(ManuallyDrop<Mapping<B>>);

impl<B: Backend> core::ops::Deref for Unmapping<B> {
    type Target = Mapping<B>;
    fn deref(&self) -> &Mapping<B> {
        &self.0
    }
}

impl<B: Backend> Unmapping<B> {
    /// Keeps the mapping after all: it is not unmapped.
    fn keep(self) -> Mapping<B> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the mapping is moved out exactly once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<B: Backend> Drop for Unmapping<B> {
    fn drop(&mut self) {
        // SAFETY: `self.0` is not used again.
        unsafe { ManuallyDrop::take(&mut self.0) }.unmap();
    }
}

/// One `Shared` handle: an attachment's mapping, validated for `T`, and its slot.
/// Clones share the mapping; the private handle count decides when it goes.
pub(crate) struct SharedHandle<T: ?Sized + Value, B: Backend> {
    mapping: Mapping<B>,
    /// This attachment's slot, in `mapping`: one of the slot count validated at
    /// create or open (kept in private memory), so it lies inside the mapping,
    /// which stays while any handle of the attachment lives. A pointer rather
    /// than its index: each clone and drop stores the count there, two
    /// instructions fewer than from an index on a Cortex-M4.
    slot: NonNull<Slot>,
    /// The process that made this attachment, as a segment word (lossless: a
    /// `ProcessId` fits one; one compare per clone and drop on 32-bit targets);
    /// a handle inherited by a forked child belongs to its parent.
    attached_by: Word,
    /// The slice's length validated at create or open (nothing for one value).
    length: T::Length,
    _value: PhantomData<T>,
}

// SAFETY: the handle gives `&T` only, `T: ShmSafe` is `Sync + Send`, and the
// region (`Send + Sync` by the `Region` contract) and the slot words are atomics
// that any thread may use.
unsafe impl<T: ?Sized + Value, B: Backend> Send for SharedHandle<T, B> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Value, B: Backend> Sync for SharedHandle<T, B> {}

impl<T: ShmSafe, B: Backend> SharedHandle<T, B> {
    /// Creates `name` with the value in `value`, taking it only once the object
    /// exists, so that a failed create leaves it for the next attempt.
    // Outlined for size, as `attach`.
    #[inline(never)]
    pub(crate) fn create<H>(name: Name<'_>, options: &Options<H>, value: &mut Option<T>) -> Result<Self> {
        Self::create_in_place(name, options, 0, |slot| {
            if let Some(v) = value.take() {
                put(slot, v);
            }
        })
    }

    /// Opens `name`, or creates it with the value `make` returns if it does not
    /// exist (`make` runs only then); an object whose creator died before
    /// finishing it is removed and replaced. Whether it created the object, too.
    pub(crate) fn open_or_create<H>(
        name: Name<'_>,
        options: &Options<H>,
        make: impl FnOnce() -> T,
        created: &mut bool,
    ) -> Result<Self> {
        let mut make = Some(make);
        let mut value = None;
        Self::open_or_create_by(name, options, created, || {
            if let Some(make) = make.take() {
                value = Some(make());
            }
            Self::create(name, options, &mut value)
        })
    }
}

impl<T: ?Sized + Value, B: Backend> SharedHandle<T, B> {
    /// Creates `name` (a slice: of `length` elements) with all-zero bytes, and
    /// lets `init` fill them in place before anyone else sees them.
    pub(crate) fn create_in_place<H>(
        name: Name<'_>,
        options: &Options<H>,
        length: usize,
        init: impl FnOnce(&mut T),
    ) -> Result<Self> {
        let mapping = Mapping::<B>::create::<T, H>(Kind::Shared, name, options, length, init)?;
        // SAFETY: the creator's slot is 0, and a `Shared` has at least one slot
        // (`Mapping::create` checked the options' slot count).
        Ok(unsafe { Self::first(mapping, T::length(length), 0, B::current_process()) })
    }

    /// Opens `name` and joins it as a new attachment.
    #[inline(never)]
    pub(crate) fn open<H>(name: Name<'_>, options: &Options<H>, abandoned: Abandoned) -> Result<Self> {
        let (mapping, length) = Mapping::<B>::open::<T, H>(Kind::Shared, name, options, abandoned)?;
        Self::attach(mapping, length, name)
    }

    /// Opens `name`, or creates it with `create` if it does not exist; an object
    /// whose creator died before finishing it is removed and replaced. `created`
    /// says whether it created the object (an out-parameter: a tuple in the
    /// result cost `examples/constrained` about 200 bytes of moves).
    // Here, not in `Options::open_or_create`: the handle then goes straight to the
    // caller rather than through a `Shared` in each arm (64 bytes less in
    // `examples/constrained`).
    pub(crate) fn open_or_create_by<H>(
        name: Name<'_>,
        options: &Options<H>,
        created: &mut bool,
        mut create: impl FnMut() -> Result<Self>,
    ) -> Result<Self> {
        // Each round either opens, creates, or removes a dead object; a bounded
        // number of rounds covers racing creators and destroyers.
        for _ in 0..16 {
            match Self::open(name, options, Abandoned::Remove) {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => return other,
            }
            match create() {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                other => {
                    *created = other.is_ok();
                    return other;
                }
            }
        }
        Err(Error::new(ErrorKind::Busy, "opening or creating (others keep replacing it)"))
    }

    /// Reclaims the dead holders of `name` and destroys it if none is left alive;
    /// returns how many were reclaimed.
    pub(crate) fn reclaim<H>(name: Name<'_>, options: &Options<H>) -> Result<u32> {
        let (mapping, length) = match Mapping::<B>::open::<T, H>(Kind::Shared, name, options, Abandoned::Remove) {
            Ok((mapping, length)) => (Unmapping(ManuallyDrop::new(mapping)), length),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let (holders, right) = mapping.members().reclaim::<B>(B::current_process());
        if let Some(right) = right {
            mapping.destroy(right, drop_value::<T>, T::count(length), Some(name));
        }
        Ok(holders)
    }

    // Outlined: inlined into `open_or_create` it costs about 200 bytes more (moving
    // mappings between the caller's frame and the exit paths).
    #[inline(never)]
    fn attach(mapping: Mapping<B>, length: T::Length, name: Name<'_>) -> Result<Self> {
        let me = B::current_process();
        // Marked as joining before we join, so that a destroyer in this process that
        // acquires our joining sees it, and waits until we are in (then it leaves
        // the value alone) or refused (see `may_drop`).
        mapping.handles().store(handles::JOINING, Ordering::Relaxed);
        // SeqCst: against a destroyer here that marks its mapping, then looks at
        // ours (`may_drop`): one of us sees the other's mark. If it is destroying
        // the object already, the member set is a peer's forgery (a member set
        // never goes from empty to not): we join nothing, and hand out no reference
        // to a value being dropped. If it marks later, it waits for us.
        fence(Ordering::SeqCst);
        // Unmaps on every way out but success, also if `T`'s drop panics.
        let mapping = Unmapping(ManuallyDrop::new(mapping));
        let others = Others::of::<B>(&mapping.region);
        // Acquire: pairs with the Release store that ends a loan (`Lent`'s drop),
        // so the writes made through it happen before our reads of the value.
        fence(Ordering::Acquire);
        let joined = if others.destroying() || others.lending() {
            // Lending: another handle here lends the value out as `&mut`
            // (`Shared::get_mut`), which a `&T` from this mapping would alias.
            let error = match others.destroying() {
                true => Error::new(ErrorKind::NotFound, "opening (being destroyed)"),
                false => Error::new(ErrorKind::Busy, "opening (lent out here by get_mut)"),
            };
            Err(Refused { error, right: None })
        } else {
            mapping.members().join::<B>(me)
        };
        // Joined: our one handle; refused: none. Relaxed: a destroyer here that
        // waits for us reads it again.
        mapping.handles().store(joined.is_ok() as usize, Ordering::Relaxed);
        let refused = match joined {
            Ok(slot) => {
                // Ends `joined`'s borrow of `mapping` (nothing to drop in `Ok`).
                drop(joined);
                // SAFETY: `join` reserves one of the mapping's slots, which it
                // reads from the slot table of the validated length (private).
                return Ok(unsafe { Self::first(mapping.keep(), length, slot, me) });
            }
            Err(refused) => refused,
        };
        if let Some(right) = refused.right {
            mapping.destroy(right, drop_value::<T>, T::count(length), Some(name));
        }
        Err(refused.error)
    }

    /// The first handle of a new attachment in `slot`, already counted in the
    /// mapping's handle count (by `Mapping::create` or `attach`, before the object
    /// is published or joined).
    ///
    /// # Safety
    /// `slot` must be below the mapping's slot count.
    unsafe fn first(mapping: Mapping<B>, length: T::Length, slot: u32, me: ProcessId) -> Self {
        debug_assert_eq!(mapping.handles().load(Ordering::Relaxed), 1);
        // SAFETY: the caller's contract.
        let slot = unsafe { mapping.slot_at(slot) };
        SharedHandle { mapping, slot, attached_by: me.word(), length, _value: PhantomData }
    }

    /// The value.
    pub(crate) fn value(&self) -> &T {
        // SAFETY: the value lies in this handle's mapping, at the offset and with the
        // size and alignment validated for `T` at open, kept in private memory. The
        // mapping stays until the private handle count, which includes this handle
        // and which no peer can write, reaches zero. Any bytes are a valid `T`
        // (`ShmSafe`), whatever a peer writes meanwhile; `T: Sync` makes `&T` from
        // several threads fine.
        unsafe { self.mapping.value_ptr::<T>(self.length).as_ref() }
    }

    /// Handles alive in all processes together: this attachment's own count from
    /// private memory, the others' from the copies in the segment.
    pub(crate) fn strong_count(&self) -> u64 {
        // Relaxed: a snapshot, as `Arc::strong_count` is.
        let own = self.mapping.handles().load(Ordering::Relaxed);
        // Another process's mapping, marked (`Region::foreign_marked`): its count
        // dips and rises again under refused clones and drops here, which never
        // publish, so its copy in the segment is the exact one.
        let own = (own & handles::FOREIGN == 0).then(|| (self.mapping.slot_index(self.slot), own));
        self.mapping.members().strong_count::<B>(own)
    }

    /// Processes holding at least one handle.
    pub(crate) fn process_count(&self) -> u32 {
        self.mapping.members().process_count::<B>()
    }

    /// Whether `other` is a handle on the same object: on the same mapping (clones
    /// share it), or on another mapping of it here, as the backend tells from its
    /// private records ([`Region::same_object`]), never from the segment's bytes.
    pub(crate) fn same_object(&self, other: &Self) -> bool {
        let (mine, theirs) = (&*self.mapping.region, &*other.mapping.region);
        mine.as_ptr() == theirs.as_ptr() || mine.same_object(theirs)
    }

    /// The value as `&mut`, if this handle is the only one on the object: no clone
    /// of it, no other mapping of the object in this process, no other live member
    /// in any process. While the [`Lent`] lives, other opens of the object in this
    /// process are `Busy`.
    pub(crate) fn lend(&mut self) -> Option<Lent<'_, T, B>> {
        let me = B::current_process();
        // `&mut self` and a count of 1 mean no other handle of this attachment
        // exists, so none can change it. Acquire, as `Arc::get_mut`'s: pairs with
        // the Release decrement of a clone dropped in another thread, so its uses
        // of the value happen before our writes (the other members' uses: the
        // Acquire load of the member set in `sole`).
        if !self.attached_here() || self.mapping.handles().load(Ordering::Acquire) != 1 {
            return None;
        }
        self.mapping.handles().store(1 | handles::SOLE, Ordering::Relaxed);
        // SeqCst: against a joiner here that marks its mapping, then looks at ours
        // (`attach`): one of us sees the other's mark.
        fence(Ordering::SeqCst);
        let lent = Lent { handle: self, lender: me };
        // Any mark of another mapping here (handles, joining, destroying, lending)
        // means it may read the value: no `&mut`.
        if Others::of::<B>(&lent.handle.mapping.region).0 != 0
            || !lent.handle.mapping.members().sole::<B>(lent.handle.mapping.slot_index(lent.handle.slot), me)
        {
            return None;
        }
        Some(lent)
    }
}

impl<T: ShmSafe, B: Backend> SharedHandle<T, B> {
    /// The value, and the end of the object, if this handle is its only one in any
    /// process; else this handle, unchanged.
    pub(crate) fn try_unwrap(self) -> core::result::Result<T, Self> {
        let me = B::current_process();
        // Acquire: as in `lend`; a count of 1 cannot change under us.
        if !self.attached_here()
            || self.mapping.handles().load(Ordering::Acquire) != 1
            || Others::of::<B>(&self.mapping.region).0 != 0
        {
            return Err(self);
        }
        // SAFETY: exactly one copy is unmapped: this one if we leave (then `self` is
        // forgotten), none otherwise (it is kept: dropping a `Mapping` does nothing).
        let mapping = Unmapping(ManuallyDrop::new(unsafe { self.mapping.share() }));
        let Left(right) = mapping.members().leave_if_sole::<B>(mapping.slot_index(self.slot), me) else {
            let _ = mapping.keep();
            return Err(self);
        };
        // The count stays 1 until `take` marks the mapping as destroying: a mapping
        // here that a forged destroyer word makes a destroyer meanwhile sees it
        // holding, and leaves the value alone.
        core::mem::forget(self);
        Ok(mapping.take(right))
    }

    /// Drops this handle, like `Drop`; if it was the last one in any process, the
    /// object's value is returned instead of dropped.
    pub(crate) fn into_inner(self) -> Option<T> {
        let this = ManuallyDrop::new(self);
        let me = B::current_process();
        if !Self::marked() && !this.attached_here() {
            // Inherited across fork: the parent's attachment; release nothing.
            return None;
        }
        // Refused: another process's attachment (marked); release nothing.
        if handles::release_all(this.mapping.handles(), Self::marked(), |left| this.publish_count(left))
            != Released::Last
        {
            return None;
        }
        // SAFETY: this handle took the attachment's count to zero, so it is the one
        // copy that unmaps; `this` is never dropped or used again. The attachment
        // is the calling process's: checked above, or, where the regions are
        // marked, its count was 1 without a mark (`Region::foreign_marked`).
        let mapping = Unmapping(ManuallyDrop::new(unsafe { this.mapping.share() }));
        let right = mapping.members().leave::<B>(mapping.slot_index(this.slot), me)?;
        Some(mapping.take(Some(right)))
    }
}

/// The value of a `Shared` lent out as `&mut` by its only handle
/// ([`SharedHandle::lend`]); dropping it ends the loan.
pub(crate) struct Lent<'a, T: ?Sized + Value, B: Backend> {
    handle: &'a mut SharedHandle<T, B>,
    /// The process that borrowed; in a child created by `fork()`, the parent.
    lender: ProcessId,
}

impl<T: ?Sized + Value, B: Backend> Lent<'_, T, B> {
    /// The value.
    pub(crate) fn value(&self) -> &T {
        self.handle.value()
    }

    /// The value, exclusively.
    ///
    /// # Panics
    /// In a child created by `fork()` through a loan inherited from the parent.
    pub(crate) fn value_mut(&mut self) -> &mut T {
        if B::current_process() != self.lender {
            panic!(
                "shmptr: writing through a Shared::get_mut guard inherited across fork(): the parent holds the &mut"
            );
        }
        // SAFETY: as in `SharedHandle::value` for the pointer and the bytes. No
        // other reference to the value exists in this address space: the loan
        // borrows the attachment's only handle mutably (its private count was 1),
        // no other mapping of the object here had any mark when the loan began
        // (after the SeqCst fence that pairs with a joiner's), and while our mark
        // (`SOLE`) stays, a mapping that joins here is refused before it gets a
        // reference (`attach`). A forked child was refused in `lend` and above. Other
        // processes write in their own address spaces: for this process, a peer
        // writing shared bytes, and any bytes are a `T`.
        unsafe { self.handle.mapping.value_ptr::<T>(self.handle.length).as_mut() }
    }
}

impl<T: ?Sized + Value, B: Backend> Drop for Lent<'_, T, B> {
    fn drop(&mut self) {
        if B::current_process() != self.lender {
            return; // inherited across fork: the parent's loan
        }
        // Release: our writes through the loan happen before the uses of a mapping
        // here that reads our count (then acquires, in `attach`) to join after it.
        self.handle.mapping.handles().store(1, Ordering::Release);
    }
}

impl<T: ?Sized + Value, B: Backend> Clone for SharedHandle<T, B> {
    // Outlined: the caller's result slot is then written once. Inlined into a
    // Cortex-M4 caller, the two ways out (this one and `reopen_inherited`) met in a
    // temporary copied again, and the clone cost more instructions (54 against 50
    // for a clone and drop, in examples/firmware).
    #[inline(never)]
    fn clone(&self) -> Self {
        // Where the backend marks other processes' mappings, the count tells: by
        // the `Region` contract of `foreign_marked`, a count of handles without
        // a mark (what `acquire` takes) is a mapping of the calling process.
        if !Self::marked() && !self.attached_here() {
            // Inherited across `fork`: a fresh attachment of this process.
            return self.reopen_inherited();
        }
        if let Err(outside) = handles::acquire(self.mapping.handles(), |count| self.publish_count(count)) {
            return self.clone_refused(outside);
        }
        // A bitwise copy: the same mapping (as `Mapping::share`), slot and
        // attaching process, in one block copy.
        // SAFETY: the private count now includes the new handle; only the handle
        // that takes it to zero unmaps, so exactly one copy is unmapped.
        unsafe { core::ptr::read(self) }
    }
}

impl<T: ?Sized + Value, B: Backend> SharedHandle<T, B> {
    /// A clone whose count refused it: a handle of another process's attachment
    /// (marked so, `Region::foreign_marked`) re-opens, at the limit it panics.
    #[cold]
    #[inline(never)]
    fn clone_refused(&self, outside: handles::Outside) -> Self {
        handles::acquire_slow(self.mapping.handles(), outside);
        if !self.attached_here() {
            return self.reopen_inherited();
        }
        panic!("shmptr: handle count overflow (clones leaked in a loop)")
    }

    /// A clone of a handle inherited across `fork`: a fresh attachment of this
    /// process, to the same object. It opens the name stored in the object, which
    /// a peer can rewrite (or the object was removed and the name made anew): the
    /// handle is kept only if the backend tells, from what this process recorded
    /// when it mapped both, that it is the same object. Outlined and cold: inlined,
    /// its copy of the header and its open gave every clone a 548-byte stack frame
    /// on a Cortex-M4.
    #[cold]
    #[inline(never)]
    fn reopen_inherited(&self) -> Self {
        let mut copy = NAME_COPY;
        let reopened = stored_name::<B>(&self.mapping.region, &mut copy)
            .and_then(|name| Self::open(name, &Options::<()>::new(), Abandoned::Report));
        match reopened {
            Ok(handle) if handle.same_object(self) => handle,
            Ok(other) => {
                drop(other);
                panic!("shmptr: cloning an inherited handle in a forked child failed: its name now leads to another object")
            }
            Err(e) => panic!("shmptr: cloning an inherited handle in a forked child failed: {e}"),
        }
    }
}

impl<T: ?Sized + Value, B: Backend> SharedHandle<T, B> {
    /// Whether the backend marks other processes' mappings in their counts
    /// (`Region::foreign_marked`): then a clone or drop tells them by the count it
    /// changes, and asks no `attached_here` first.
    #[inline(always)]
    fn marked() -> bool {
        <B::Region as Region>::foreign_marked()
    }

    /// Whether the calling process made this attachment (not a forked child that
    /// inherited it).
    #[inline(always)]
    fn attached_here(&self) -> bool {
        B::is_current_process(widen(self.attached_by))
    }

    /// Copies this attachment's handle count to its slot, for other processes
    /// (`Members::publish_count`, without its bounds check: one store).
    #[inline(always)]
    fn publish_count(&self, count: usize) {
        // SAFETY: `self.slot` is one of the slots this mapping was validated to hold
        // (`first`: bounds-checked against the slot count kept in private memory),
        // so it lies inside the mapping, which stays mapped while this handle
        // lives. `Slot` is valid for any bytes (atomics only) and is only accessed
        // atomically, whatever a peer writes.
        let slot = unsafe { self.slot.as_ref() };
        // Relaxed: a snapshot for readers, ordered with nothing (see `handles`).
        slot.count.store(count.min(Word::MAX as usize) as Word, Ordering::Relaxed);
    }

    /// A drop whose count was outside the fast path's: the last handle, whose drop
    /// ends the attachment (`detach_last`), or a handle of another process's
    /// attachment (marked so, `Region::foreign_marked`), which releases nothing.
    /// Outlined and cold, so that a drop that is not the last one stays a few
    /// instructions with a small frame.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self, outside: handles::Outside) {
        // Refused: another process's attachment; release nothing.
        if handles::release_slow(self.mapping.handles(), outside, |left| self.publish_count(left)) == Released::Last {
            // SAFETY: this handle took the attachment's count to zero, so it is the
            // one copy that unmaps; `self.mapping` is not used again (this is its
            // drop). The attachment is the calling process's: `drop` checked it,
            // or, where the regions are marked (`Region::foreign_marked`), the
            // count was 1 without a mark, which by that promise only the calling
            // process's mappings bear.
            unsafe { self.detach_last() }
        }
    }

    /// The end of the attachment, once its last handle is gone (its count, taken
    /// to zero by the caller): leaves the member set and destroys the object if
    /// this was its last member, then unmaps.
    ///
    /// # Safety
    /// The caller took this attachment's private count to zero and never uses
    /// `self.mapping` again.
    unsafe fn detach_last(&mut self) {
        let me = B::current_process();
        // SAFETY: the caller's contract: this is the one copy that unmaps.
        let mapping = Unmapping(ManuallyDrop::new(unsafe { self.mapping.share() }));
        let right = mapping.members().leave::<B>(mapping.slot_index(self.slot), me);
        if let Some(right) = right {
            // The value was validated for `T` at open.
            mapping.destroy(right, drop_value::<T>, T::count(self.length), None);
        }
    }
}

impl<T: ?Sized + Value, B: Backend> Drop for SharedHandle<T, B> {
    fn drop(&mut self) {
        // Where the backend marks other processes' mappings, the count tells.
        if !Self::marked() && !self.attached_here() {
            // Inherited across fork: the parent's attachment; release nothing.
            return;
        }
        // The count that decides the unmap is private: a peer cannot forge it.
        if let Err(outside) = handles::release(self.mapping.handles(), Self::marked(), |left| self.publish_count(left))
        {
            self.drop_slow(outside);
        }
    }
}

/// The `Unique` handle: the mapping, validated for `T`, through which this process
/// owns the object.
pub(crate) struct UniqueHandle<T: ?Sized + Value, B: Backend> {
    mapping: Mapping<B>,
    /// The owning process; a handle inherited by a forked child is its parent's.
    owner: ProcessId,
    /// The slice's length validated at create or open (nothing for one value).
    length: T::Length,
    _value: PhantomData<T>,
}

// SAFETY: the handle is the only access to `T` in this address space (the private
// ownership record excludes every other mapping here, and the owner word other
// processes), `T: ShmSafe` is `Send + Sync`, and the region is `Send + Sync`.
unsafe impl<T: ?Sized + Value, B: Backend> Send for UniqueHandle<T, B> {}
// SAFETY: as above; `&UniqueHandle` gives only `&T`.
unsafe impl<T: ?Sized + Value, B: Backend> Sync for UniqueHandle<T, B> {}

impl<T: ?Sized + Value, B: Backend> UniqueHandle<T, B> {
    /// Creates `name` (a slice: of `length` elements) with all-zero bytes, owned
    /// by this process, and lets `init` fill them in place before anyone else
    /// sees them.
    pub(crate) fn create_in_place<H>(
        name: Name<'_>,
        options: &Options<H>,
        length: usize,
        init: impl FnOnce(&mut T),
    ) -> Result<Self> {
        let mapping = Mapping::<B>::create::<T, H>(Kind::Unique, name, options, length, init)?;
        // `Mapping::create` recorded this process's ownership before `Ready`.
        let me = B::current_process();
        Ok(UniqueHandle { mapping, owner: me, length: T::length(length), _value: PhantomData })
    }

    /// Takes ownership of the released object `name`, or of one whose owner died.
    pub(crate) fn claim<H>(name: Name<'_>, options: &Options<H>) -> Result<Self> {
        let (mapping, length) = Mapping::<B>::open::<T, H>(Kind::Unique, name, options, Abandoned::Report)?;
        Self::claim_mapped(mapping, length).map_err(|(mapping, error)| {
            mapping.unmap();
            error
        })
    }

    /// Takes ownership of the object `mapping` maps (validated for `T`); if it is
    /// refused, the mapping comes back with the reason.
    fn claim_mapped(mapping: Mapping<B>, length: T::Length) -> core::result::Result<Self, (Mapping<B>, Error)> {
        // Unmaps if `T`'s drop panics below.
        let mapping = Unmapping(ManuallyDrop::new(mapping));
        let me = B::current_process();
        // This process's own record first: whether it owns the object already must
        // not rest on the shared owner word, which a peer can clear.
        if let Err(error) = mapping.region.own_exclusively() {
            return Err((mapping.keep(), error));
        }
        let error = {
            let claimed = owner::claim_object::<B>(&mapping.members(), me, owner::From::ReleasedOrDead);
            match claimed {
                Ok(()) => {
                    // Ends `claimed`'s borrow of `mapping` (nothing to drop in `Ok`).
                    drop(claimed);
                    return Ok(UniqueHandle { mapping: mapping.keep(), owner: me, length, _value: PhantomData });
                }
                Err(refused) => {
                    let _disown = Disown(&mapping);
                    if let Some(right) = refused.right {
                        // Its owner died destroying it: finish the job. The value is
                        // dropped only if the dead owner never began to (the state
                        // is still `Ready`).
                        mapping.destroy(right, drop_value::<T>, T::count(length), None);
                    }
                    refused.error
                }
            }
        };
        Err((mapping.keep(), error))
    }

    /// Parks the object with no owner; the value stays, this mapping goes.
    pub(crate) fn release(self) {
        let this = ManuallyDrop::new(self);
        if B::current_process() != this.owner {
            // Inherited across fork: the parent's; nothing to release here.
            return;
        }
        owner::release(&this.mapping.header().owner, this.owner);
        // SAFETY: `this` is never dropped or used again, so the mapping is moved
        // out (and then unmapped) exactly once.
        let mapping = Unmapping(ManuallyDrop::new(unsafe { core::ptr::read(&this.mapping) }));
        mapping.region.disown();
    }

    /// Parks the object with no owner, as [`release`](Self::release), but keeps
    /// this mapping, so that [`ReleasedHandle::claim`] takes it again without a
    /// system call. `None` in a child created by `fork()` (the parent's handle:
    /// nothing is released, and the mapping stays the parent's).
    pub(crate) fn release_mapped(self) -> Option<ReleasedHandle<T, B>> {
        let this = ManuallyDrop::new(self);
        if B::current_process() != this.owner {
            return None;
        }
        owner::release(&this.mapping.header().owner, this.owner);
        // After the owner word: until then a claim by another thread here must meet
        // this process's record (see `claim`).
        this.mapping.region.disown();
        // SAFETY: `this` is never dropped or used again, so the mapping is moved
        // out exactly once, into the released handle, which unmaps it.
        let mapping = unsafe { core::ptr::read(&this.mapping) };
        Some(ReleasedHandle { mapping, length: this.length, holder: this.owner, _value: PhantomData })
    }

    /// The value.
    pub(crate) fn value(&self) -> &T {
        // SAFETY: the value lies in this handle's mapping, at the offset, size and
        // alignment validated for `T` at open (kept in private memory), mapped until
        // this handle is dropped. Any bytes are a valid `T` (`ShmSafe`), whatever a
        // peer writes meanwhile. In a forked child, reading the parent's value is
        // like reading any peer's.
        unsafe { self.mapping.value_ptr::<T>(self.length).as_ref() }
    }

    /// The value, exclusively.
    ///
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent.
    pub(crate) fn value_mut(&mut self) -> &mut T {
        if B::current_process() != self.owner {
            panic!("shmptr: writing through a Unique inherited across fork(): the parent owns it; claim or create one in the child");
        }
        // SAFETY: as in `value`. No other `&mut T` to this object exists in this
        // address space: `&mut self` excludes this handle's other users, this
        // process's private ownership record (`own_exclusively`, checked before the
        // shared owner word at claim and create) excludes every other mapping of the
        // object here, and the check above excludes a forked child writing through
        // the parent's handle. Other processes write in their own address spaces,
        // which for this process is a peer writing shared bytes (any bytes are a `T`).
        unsafe { self.mapping.value_ptr::<T>(self.length).as_mut() }
    }
}

impl<T: ShmSafe, B: Backend> UniqueHandle<T, B> {
    /// Moves the value out and removes the object, as dropping it would, but
    /// without dropping the value.
    ///
    /// # Panics
    /// In a child created by `fork()` through a handle inherited from the parent.
    pub(crate) fn into_inner(self) -> T {
        if B::current_process() != self.owner {
            panic!("shmptr: taking the value of a Unique inherited across fork(): the parent owns it");
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the mapping is moved out
        // (and then unmapped) exactly once.
        let mapping = Unmapping(ManuallyDrop::new(unsafe { this.mapping.share() }));
        // Dropped before `mapping`: ends this process's ownership, then `mapping`
        // unmaps.
        let _disown = Disown(&mapping);
        // `None` if a peer forged the destroyer word: the object is theirs to
        // remove, and its bytes, copied, are still a whole `T` (see `Mapping::take`).
        let right = owner::give_up::<B>(&mapping.members(), this.owner);
        mapping.take(right)
    }
}

impl<T: ?Sized + Value, B: Backend> Drop for UniqueHandle<T, B> {
    fn drop(&mut self) {
        if B::current_process() != self.owner {
            return;
        }
        // SAFETY: this handle is being dropped; `self.mapping` is not used again.
        let mapping = Unmapping(ManuallyDrop::new(unsafe { self.mapping.share() }));
        // Dropped before `mapping`: ends this process's ownership, then `mapping`
        // unmaps, both also if `T`'s drop panics.
        let _disown = Disown(&mapping);
        let right = owner::give_up::<B>(&mapping.members(), self.owner);
        if let Some(right) = right {
            mapping.destroy(right, drop_value::<T>, T::count(self.length), None);
        }
    }
}

/// A released `Unique` object's mapping, kept by this process
/// ([`UniqueHandle::release_mapped`]): it gives no access to the value, only a
/// claim without a system call. Dropping it unmaps; the object stays parked.
pub(crate) struct ReleasedHandle<T: ?Sized + Value, B: Backend> {
    mapping: Mapping<B>,
    /// The slice's length validated at create or open (nothing for one value).
    length: T::Length,
    /// The process that released it and keeps the mapping. In a child created by
    /// `fork()`, the handle is the parent's: the child's books of its mappings
    /// are a copy, in which the parent's record may be reused by the child's own
    /// next mapping, so the child neither claims nor unmaps through it.
    holder: ProcessId,
    _value: PhantomData<T>,
}

// SAFETY: the handle gives no access to the value, and the region is `Send + Sync`
// (the `Region` contract).
unsafe impl<T: ?Sized + Value, B: Backend> Send for ReleasedHandle<T, B> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Value, B: Backend> Sync for ReleasedHandle<T, B> {}

impl<T: ?Sized + Value, B: Backend> ReleasedHandle<T, B> {
    /// Takes ownership again, as [`UniqueHandle::claim`] does, through the kept
    /// mapping: `Busy` while a live process owns it, `NotFound` once it is being
    /// destroyed or gone; then this handle comes back with the error.
    pub(crate) fn claim(self) -> core::result::Result<UniqueHandle<T, B>, (Self, Error)> {
        // Destroyed (or being destroyed) since: its owner word may still name
        // the live process that destroyed it, which is no owner to wait for. A
        // by-name open tells this from the state; a kept mapping looks here.
        if B::current_process() != self.holder {
            let error =
                Error::new(ErrorKind::Busy, "claiming through a Released inherited across fork() (claim by name)");
            return Err((self, error));
        }
        if lifecycle::destroying(self.mapping.header()) {
            return Err((self, Error::new(ErrorKind::NotFound, "claiming an object that is being destroyed")));
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the mapping is moved
        // out exactly once: into the claimed handle, or back into a released one.
        let mapping = unsafe { core::ptr::read(&this.mapping) };
        let (length, holder) = (this.length, this.holder);
        UniqueHandle::claim_mapped(mapping, length)
            .map_err(|(mapping, error)| (ReleasedHandle { mapping, length, holder, _value: PhantomData }, error))
    }
}

impl<T: ?Sized + Value, B: Backend> Drop for ReleasedHandle<T, B> {
    fn drop(&mut self) {
        if B::current_process() != self.holder {
            // Inherited across fork: the parent's mapping record (see `holder`).
            return;
        }
        // SAFETY: this handle is being dropped; `self.mapping` is not used again.
        unsafe { self.mapping.share() }.unmap();
    }
}

/// Ends this process's exclusive ownership of an object when dropped.
struct Disown<'a, B: Backend>(&'a Mapping<B>);

impl<B: Backend> Drop for Disown<'_, B> {
    fn drop(&mut self) {
        self.0.region.disown();
    }
}

/// The alignment every region of `B` has (at least 64).
const fn region_align<B: Backend>() -> usize {
    let align = <B::Region as Region>::ALIGN;
    if align > 64 {
        align
    } else {
        64
    }
}

/// `Unsupported` if `V` needs more alignment than `B`'s regions promise (it would
/// not be aligned in every mapping), or is a slice of zero-sized elements with a
/// drop (see `Layout::UNBOUNDED_DROP`). Constants: no code for other types.
fn check_value<V: ?Sized + Value, B: Backend>() -> Result<()> {
    if V::UNBOUNDED_DROP {
        return Err(Error::new(ErrorKind::Unsupported, "holding zero-sized elements that need dropping"));
    }
    if V::ALIGN > region_align::<B>() {
        return Err(Error::new(ErrorKind::Unsupported, "aligning the value (over mappings' alignment)"));
    }
    Ok(())
}

/// Whether `region` starts where its backend promises (so a value at a multiple of
/// its alignment, checked by [`check_alignment`], is aligned).
fn base_aligned<B: Backend>(region: &B::Region) -> bool {
    region.as_ptr().as_ptr() as usize % region_align::<B>() == 0
}

/// Room for a private copy of the name stored in a segment's header (see
/// [`stored_name`]): words, so that the copy is word by word.
type NameCopy = [MaybeUninit<usize>; NAME_MAX / size_of::<usize>()];

/// An uninitialized [`NameCopy`]: costs no code.
const NAME_COPY: NameCopy = [MaybeUninit::uninit(); NAME_MAX / size_of::<usize>()];

const _: () = assert!(NAME_MAX % size_of::<usize>() == 0 && offset_of!(Fixed, name) % align_of::<usize>() == 0);

/// The name stored in the header of the segment `region` maps, validated: copied
/// into `copy` first (`name_len`, capped at `NAME_MAX`, then the name field's
/// words up to the one `name_len` ends in, each read once, volatile: a peer may
/// rewrite them at any time), so that the name validated is the name used. Only
/// the name is copied, into the caller's frame: a copy of all 256 bytes of the
/// write-once fields, returned by value, cost a Cortex-M4 firmware a copy loop and
/// a `memcpy` of the result (~190 bytes), and ~300 bytes of stack.
fn stored_name<'a, B: Backend>(region: &B::Region, copy: &'a mut NameCopy) -> Result<Name<'a>> {
    let fixed = header_of::<B>(region).fixed.get();
    // SAFETY: the header is mapped (`header_of`), so are its fields; a volatile read
    // tolerates a peer's concurrent writes, and any value is a valid `u32`.
    let (len, from) = unsafe { (addr_of!((*fixed).name_len).read_volatile(), addr_of!((*fixed).name)) };
    let len = (len as usize).min(NAME_MAX);
    let from = from.cast::<usize>();
    for (i, word) in copy.iter_mut().enumerate().take(len.div_ceil(size_of::<usize>())) {
        // SAFETY: `i` stays within the name field (`NAME_MAX` bytes, as many as
        // `copy`), which starts word-aligned in the 64-aligned header (pinned
        // above); the read is volatile, as above, and any bits are a valid `usize`.
        *word = MaybeUninit::new(unsafe { from.add(i).read_volatile() });
    }
    // SAFETY: the first `len.div_ceil(word)` words, which cover `len <= NAME_MAX`
    // bytes, were just written, and every byte of a `usize` is an initialized `u8`.
    let bytes = unsafe { core::slice::from_raw_parts(copy.as_ptr().cast::<u8>(), len) };
    Name::from_bytes(bytes)
}

/// The header at the start of a region of at least `size_of::<Header>()` bytes.
fn header_of<B: Backend>(region: &B::Region) -> &Header {
    debug_assert!(region.len() >= size_of::<Header>());
    // SAFETY: the region is at least a header long and 64-aligned (checked by every
    // caller before this), lives as long as the borrow, and `Header` is valid for
    // any bytes: its atomics are plain integers, the rest sits in `UnsafeCell`s.
    unsafe { region.as_ptr().cast::<Header>().as_ref() }
}

/// Sleeps about `duration` using the platform's timed wait on a private word.
fn sleep<P: Platform>(duration: Duration) {
    let word = AtomicU32::new(0);
    P::wait(&word, 0, Some(duration));
}
