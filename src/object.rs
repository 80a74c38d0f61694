//! A mapped, validated segment: the lifecycle steps `Shared` and `Unique` share
//! (create, open, destroy), written once over the backend traits.

use core::mem::{align_of, size_of, ManuallyDrop};
use core::ptr::NonNull;
use core::time::Duration;

use crate::backend::{Backend, CrashPoint, Liveness, Platform, ProcessId, Region};
use crate::error::{Error, ErrorKind, Result};
use crate::name::{Name, NAME_MAX};
use crate::options::Options;
use crate::primitive::{AtomicU32, AtomicUsize, Ordering};
use crate::segment::{read_fixed, Header, Inspection, Kind, Members, SegmentLayout, Slot, State, MAX_SLOTS};
use crate::shm_safe::ShmSafe;

/// How long one wait for a creator lasts before looking again.
const POLL: Duration = Duration::from_millis(5);

/// One mapping of a segment, validated. Dropping it does nothing: call
/// [`Object::unmap`] (handles share one mapping between clones).
pub(crate) struct Object<B: Backend> {
    region: ManuallyDrop<B::Region>,
    value: NonNull<u8>,
    slot_count: u32,
}

/// Whether `open` should remove a segment whose creator died before `Ready`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abandoned {
    Report,
    Remove,
}

impl<B: Backend> Object<B> {
    fn header(&self) -> &Header {
        header_of::<B>(&self.region)
    }

    /// The member set and slot table.
    pub(crate) fn members(&self) -> Members<'_> {
        // SAFETY: `open`/`create` validated that `slot_count` slots follow the header
        // inside the mapping; `Slot` is valid for any bytes (atomics only) and is
        // only accessed atomically.
        let slots = unsafe {
            core::slice::from_raw_parts(
                self.region.as_ptr().as_ptr().add(size_of::<Header>()).cast::<Slot>(),
                self.slot_count as usize,
            )
        };
        Members::new(self.header(), slots)
    }

    /// The `Unique` owner word.
    pub(crate) fn owner(&self) -> &crate::primitive::AtomicWord {
        &self.header().owner
    }

    /// The value.
    pub(crate) fn value<T>(&self) -> NonNull<T> {
        self.value.cast()
    }

    /// This mapping's handle count, in process-private memory.
    pub(crate) fn handles(&self) -> &AtomicUsize {
        self.region.handles()
    }

    /// Makes this mapping the one through which this process owns the object.
    pub(crate) fn own_exclusively(&self) -> Result<()> {
        self.region.own_exclusively()
    }

    /// Ends [`own_exclusively`](Self::own_exclusively); call before unmapping.
    pub(crate) fn disown(&self) {
        self.region.disown()
    }

    /// Leaves the object: see [`Leaving`].
    pub(crate) fn leaving(self) -> Leaving<B> {
        Leaving { object: ManuallyDrop::new(self), free_slot: None }
    }

    /// A bitwise copy sharing the mapping (for a clone of a handle).
    ///
    /// # Safety
    /// Exactly one of the copies may be [`unmap`](Object::unmap)ped.
    pub(crate) unsafe fn share(&self) -> Self {
        Object {
            // SAFETY: the caller guarantees only one copy is ever unmapped; the
            // `Region` contract allows bitwise copies on that condition.
            region: unsafe { core::ptr::read(&self.region) },
            value: self.value,
            slot_count: self.slot_count,
        }
    }

    /// Drops the mapping.
    pub(crate) fn unmap(mut self) {
        // SAFETY: `self` is consumed, so the region is dropped exactly once here.
        unsafe { ManuallyDrop::drop(&mut self.region) }
    }

    /// Copies the name stored in the segment into `buf` and validates it.
    pub(crate) fn stored_name<'n>(&self, buf: &'n mut [u8; NAME_MAX]) -> Result<Name<'n>> {
        // SAFETY: the header is mapped; the volatile copy tolerates concurrent writes
        // by a hostile process, and every byte pattern is a valid `Fixed`.
        let fixed = unsafe { read_fixed(self.header().fixed.get()) };
        *buf = fixed.name;
        let len = (fixed.name_len as usize).min(NAME_MAX);
        Name::from_bytes(&buf[..len])
    }

    /// Creates the segment `name` for a `T` exclusively, writes the header, lets
    /// `init` write the value in place, and publishes `Ready`.
    pub(crate) fn create<T: ShmSafe>(
        kind: Kind,
        name: Name<'_>,
        options: &Options,
        init: impl FnOnce(NonNull<T>),
    ) -> Result<Self> {
        let slot_count = match kind {
            Kind::Unique => 0,
            Kind::Shared if (1..=MAX_SLOTS).contains(&options.slots) => options.slots,
            Kind::Shared => return Err(Error::new(ErrorKind::Unsupported, "checking the slot count (1..=64)")),
        };
        check_alignment::<T, B>()?;
        let layout = SegmentLayout::of::<T>(slot_count)?;
        let region = B::create(name, layout.total_len, options)?;
        if region.len() < layout.total_len || !base_aligned::<B>(&region) {
            let _ = B::unlink(name, &region);
            return Err(Error::new(ErrorKind::Unsupported, "checking the backend's region"));
        }
        B::crash_point(CrashPoint::CreateSized);
        let me = B::current_process();
        let object = Self::from_region(region, &layout);
        let header = object.header();
        header.initialize(kind, me, name, &layout, T::FINGERPRINT);
        match kind {
            Kind::Shared => object.members().init_creator(me),
            // Relaxed: published by the Release store of `Ready`.
            Kind::Unique => header.owner.store(me.word(), Ordering::Relaxed),
        }
        B::crash_point(CrashPoint::CreateHeaderWritten);
        init(object.value());
        if B::current_process() != me {
            // `init` forked, and this is the child: the object, its lock and its
            // slot are the parent's, which goes on to publish it. Leave them be.
            // `object` goes out of scope without `unmap`: nothing of it is undone.
            return Err(Error::new(ErrorKind::Unsupported, "creating, in a child the initializer forked"));
        }
        if kind == Kind::Shared {
            // The creator's one handle, counted before the object is published so
            // that every later mapping of it in this process sees the count
            // (`Region::others_attached`). Relaxed: the `Ready` store publishes it.
            object.handles().store(1, Ordering::Relaxed);
        }
        B::crash_point(CrashPoint::CreateValueWritten);
        // Release: publishes the header, slots and value to every opener that loads
        // `Ready` with Acquire. SeqCst with the `waiting` load: either we see an
        // opener's flag and wake it, or it sees `Ready` and does not sleep.
        header.state.store(State::Ready as u32, Ordering::SeqCst);
        if header.waiting.load(Ordering::SeqCst) != 0 {
            B::wake(&header.state, u32::MAX);
        }
        // After `Ready`: an opener that finds the creation mark gone re-reads the
        // state and sees `Ready`, never a finished object taken for an abandoned one.
        B::published(&object.region);
        Ok(object)
    }

    /// Maps the existing segment `name`, waits (bounded) while its creator finishes
    /// it, and validates it as a `kind` holding a `T`.
    ///
    /// A segment being destroyed is `NotFound`; if its destroyer died, this
    /// finishes the job (unlinks it) first.
    pub(crate) fn open<T: ShmSafe>(
        kind: Kind,
        name: Name<'_>,
        options: &Options,
        abandoned: Abandoned,
    ) -> Result<Self> {
        check_alignment::<T, B>()?;
        let deadline = B::now_nanos().saturating_add(options.timeout.as_nanos().min(u64::MAX as u128) as u64);
        loop {
            let region = B::open(name, options)?;
            let remaining = Duration::from_nanos(deadline.saturating_sub(B::now_nanos()));
            if region.len() < size_of::<Header>() {
                // Its creator may not have sized it yet: wait. A file that stays this
                // short, with nobody creating it, is not a segment; one whose creator
                // still lives (even stopped) is its creator's, however long it takes.
                if !remaining.is_zero() {
                    drop(region);
                    sleep::<B>(remaining.min(POLL));
                    continue;
                }
                return Err(match B::creator_liveness(name, &region, None) {
                    Liveness::Dead => Error::new(ErrorKind::Corrupt, "opening a segment shorter than its header"),
                    _ => Error::new(ErrorKind::Timeout, "waiting for the creator to finish the segment"),
                });
            }
            if !base_aligned::<B>(&region) {
                return Err(Error::new(ErrorKind::Unsupported, "checking the backend's region"));
            }
            let header = header_of::<B>(&region);
            let inspected = header.inspect(region.len(), kind, name, size_of::<T>(), align_of::<T>(), T::FINGERPRINT);
            let error = match inspected {
                Ok(Inspection::Ready(layout)) => return Ok(Self::from_region(region, &layout)),
                Ok(Inspection::NotReady) => {
                    // Acquire: as in `inspect`.
                    let state = header.state.load(Ordering::Acquire);
                    // A header being written names its creator, judged on every round.
                    // A blank one names nobody and is judged only once the whole
                    // timeout has passed: a creator may have created the file and not
                    // yet marked it as being created (`Backend::creator_liveness`).
                    let creator = match state == State::Blank as u32 {
                        true => None,
                        false => ProcessId::from_word(header.creator.load(Ordering::Relaxed)),
                    };
                    // Still unfinished after the verdict (Acquire: pairs with the
                    // creator's `Ready`, stored before it ends its creation mark): a
                    // creator that finished meanwhile is never taken for a dead one.
                    let dead = (creator.is_some() || remaining.is_zero())
                        && B::creator_liveness(name, &region, creator) == Liveness::Dead
                        && header.state.load(Ordering::Acquire) == state;
                    if dead {
                        Error::new(ErrorKind::Abandoned, "opening an object its creator abandoned")
                    } else if !remaining.is_zero() {
                        // SeqCst: see the creator's publication of `Ready`.
                        header.waiting.store(1, Ordering::SeqCst);
                        let state = header.state.load(Ordering::SeqCst);
                        B::wait(&header.state, state, Some(remaining.min(POLL)));
                        continue;
                    } else {
                        // Its creator lives (or cannot be judged): the object is its
                        // creator's, never removed, however slow or stopped it is.
                        Error::new(ErrorKind::Timeout, "waiting for the creator to finish the segment")
                    }
                }
                Ok(Inspection::Destroying) => {
                    Error::new(ErrorKind::NotFound, "opening an object that is being destroyed")
                }
                Err(e) => e,
            };
            // Being destroyed, or abandoned and to be removed: finish the job (one
            // call site: this loop is inlined into every opener).
            let remove = error.kind() == ErrorKind::Abandoned && abandoned == Abandoned::Remove;
            if error.kind() == ErrorKind::NotFound || remove {
                Self::finish_for_dead(region, name);
            }
            return Err(if remove { Error::new(ErrorKind::NotFound, "removing an abandoned object") } else { error });
        }
    }

    /// A segment past `Ready` whose destroyer died, or one whose creator died before
    /// `Ready`: if this process wins the destroyer word, it unlinks the name. The
    /// value is not dropped (it is half-dropped or was never whole).
    fn finish_for_dead(region: B::Region, name: Name<'_>) {
        let object = Object::<B> { region: ManuallyDrop::new(region), value: NonNull::dangling(), slot_count: 0 };
        // With no slots, `claim_destroyer` succeeds only against a dead destroyer, or
        // against none (a dead creator never names one).
        // No drop: the value is never dropped here (it is half-dropped or was never
        // whole, and this object's value pointer is dangling), even if a peer sets
        // the state back to `Ready` meanwhile.
        object.leaving().finish(None, B::current_process(), Some(true), Some(name));
    }

    /// The steps after winning the destroyer word: drop `T` if nobody began to,
    /// unlink the name, mark the segment destroyed. If `T`'s drop panics, the name
    /// is still unlinked and the segment marked before the panic goes on.
    pub(crate) fn destroy_claimed(&self, drop: Option<DropValue>, name: Name<'_>) {
        self.destroy(drop, Some(name));
    }

    /// [`destroy_claimed`](Self::destroy_claimed) using the name stored in the
    /// segment. If a hostile process overwrote the name, the value is dropped and
    /// the name left alone (it may name another object by now).
    pub(crate) fn destroy_claimed_by_stored_name(&self, drop: Option<DropValue>) {
        let mut buf = [0; NAME_MAX];
        self.destroy(drop, self.stored_name(&mut buf).ok());
    }

    /// Both of the above: one path, `name` `None` when it is not to be unlinked.
    fn destroy(&self, drop: Option<DropValue>, name: Option<Name<'_>>) {
        B::crash_point(CrashPoint::DestroyClaimed);
        let finish = Finish { object: self, name };
        if let Some(drop) = drop {
            self.drop_value(drop);
        }
        core::mem::drop(finish);
    }

    /// Drops the value in place (`drop` is [`drop_value::<T>`] for the `T` this
    /// object was validated for) if the state moves from `Ready` to `Destroying`
    /// here and no other mapping of the object in this process still has handles.
    fn drop_value(&self, drop: DropValue) {
        // Another mapping here with handles means a peer forged the member set (a
        // real one is never empty while a handle lives): leave the value alone, so
        // that this process never drops a value it still reads, nor drops it twice.
        // Its handles' count reached zero before their detach, which our emptying
        // of the member set acquired, so a mapping that merely leaves is not seen.
        if self.region.others_attached() {
            return;
        }
        // Acquire: the value's last uses by every holder happen before its drop
        // (they released through the members word, which the destroyer acquired).
        if self
            .header()
            .state
            .compare_exchange(State::Ready as u32, State::Destroying as u32, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: `drop` drops the `T` this object was validated for (its
            // callers' contract); the value lies inside the mapping, aligned and
            // validated for `T` at open, and stays mapped during the drop (objects
            // with a dangling value never get here: they pass no `drop`). No `&T`
            // to it is live in this process:
            // the caller's handles of this mapping are gone (its private count
            // reached zero), and no other mapping of the object here has handles
            // (checked above). Whatever bytes a peer or a crash left are a valid `T`
            // (`ShmSafe`: every bit pattern), and a `ShmSafe` value owns nothing
            // outside its own bytes, so its drop only writes those bytes: even if a
            // peer resets the state word and another process drops it again, that is
            // a write to shared bytes like any peer's.
            unsafe { drop(self.value) }
        }
    }

    fn from_region(region: B::Region, layout: &SegmentLayout) -> Self {
        // SAFETY: `layout.value_offset` is within the region (validated by the
        // caller: the region holds at least `layout.total_len` bytes).
        let value = unsafe { region.as_ptr().add(layout.value_offset) };
        Object { region: ManuallyDrop::new(region), value, slot_count: layout.slot_count }
    }
}

/// A value's drop with its type erased, so that the destroy steps are one function
/// for every `T` (each copy costs a static binary hundreds of bytes).
pub(crate) type DropValue = unsafe fn(NonNull<u8>);

/// [`DropValue`] for `T`.
///
/// # Safety
/// `value` must point at a `T` (aligned, inside a live mapping) that no reference
/// of this process uses during or after the drop.
pub(crate) unsafe fn drop_value<T>(value: NonNull<u8>) {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::drop_in_place(value.cast::<T>().as_ptr()) }
}

/// The last steps of a destroy, run when dropped, so that they also run when `T`'s
/// drop panics: unlink the name (if it is known) and mark the segment destroyed.
struct Finish<'a, B: Backend> {
    object: &'a Object<B>,
    name: Option<Name<'a>>,
}

impl<B: Backend> Drop for Finish<'_, B> {
    fn drop(&mut self) {
        B::crash_point(CrashPoint::DestroyDropped);
        let Some(name) = self.name else { return };
        // An error here means the name is already gone or names a newer object;
        // either way there is nothing left for us to unlink.
        let _ = B::unlink(name, &self.object.region);
        B::crash_point(CrashPoint::DestroyUnlinked);
        // Release: a late opener that still maps it sees a finished destruction.
        self.object.header().state.store(State::Destroyed as u32, Ordering::Release);
    }
}

/// An object this process is leaving: when dropped, it frees the slot set in
/// `free_slot` (if any) and unmaps, so that both happen even when `T`'s drop panics
/// in between. The mapping's handle count must be zero (or unused, for a `Unique`).
pub(crate) struct Leaving<B: Backend> {
    object: ManuallyDrop<Object<B>>,
    /// The slot to free on the way out: set once this process holds it alone (it
    /// emptied the member set, or reclaimed a dead holder's slot as the destroyer).
    pub(crate) free_slot: Option<u32>,
}

impl<B: Backend> core::ops::Deref for Leaving<B> {
    type Target = Object<B>;
    fn deref(&self) -> &Object<B> {
        &self.object
    }
}

impl<B: Backend> Leaving<B> {
    /// Leaves: if `claim` is `Some(emptied_by_me)`, tries to become the destroyer
    /// ([`Members::claim_destroyer`]) and, on winning, destroys the object, unlinking
    /// `name` (`None`: the name stored in the segment). Then `self` drops: the slot
    /// is freed and the mapping unmapped, also if `T`'s drop panics.
    ///
    /// Every way of leaving a `Shared` goes through this one outlined function, so
    /// each caller is a single call rather than its own copy of these steps.
    #[inline(never)]
    pub(crate) fn finish(self, drop: Option<DropValue>, me: ProcessId, claim: Option<bool>, name: Option<Name<'_>>) {
        let Some(emptied_by_me) = claim else { return };
        if self.members().claim_destroyer::<B>(me, emptied_by_me) {
            match name {
                Some(name) => self.destroy_claimed(drop, name),
                None => self.destroy_claimed_by_stored_name(drop),
            }
        }
    }
}

impl<B: Backend> Drop for Leaving<B> {
    fn drop(&mut self) {
        if let Some(slot) = self.free_slot {
            self.object.members().free(slot);
        }
        // SAFETY: `self.object` is not used again.
        unsafe { ManuallyDrop::take(&mut self.object) }.unmap();
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

/// `Unsupported` if `T` needs more alignment than `B`'s regions promise: its value
/// would not be aligned in every mapping.
fn check_alignment<T, B: Backend>() -> Result<()> {
    if align_of::<T>() > region_align::<B>() {
        return Err(Error::new(ErrorKind::Unsupported, "aligning the value (over mappings' alignment)"));
    }
    Ok(())
}

/// Whether `region` starts where its backend promises (so a value at a multiple of
/// its alignment, checked by [`check_alignment`], is aligned).
fn base_aligned<B: Backend>(region: &B::Region) -> bool {
    region.as_ptr().as_ptr() as usize % region_align::<B>() == 0
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
pub(crate) fn sleep<P: Platform>(duration: Duration) {
    let word = AtomicU32::new(0);
    P::wait(&word, 0, Some(duration));
}
