//! Untyped inspection and clean-up: what an object is and who holds it, without
//! knowing its value type; reclaiming dead holders and removing objects nobody
//! alive holds, also without it.
//!
//! Everything read from a segment is untrusted input: a file that is not a shmptr
//! object, or one a peer damaged, is an error ([`ErrorKind::Corrupt`]), never a
//! panic or an out-of-bounds read. Inspection reads a private copy of the
//! segment's first bytes (its header and slot table, [`SNAPSHOT_BYTES`] at most)
//! and writes nothing. A backend that can read an object without opening it for
//! writing gives those bytes to [`inspect_bytes`] itself (`shmptr_linux::inspect`
//! reads `/dev/shm` with `pread` on a read-only descriptor); the generic
//! [`inspect`] maps the object with [`Backend::open`].
//!
//! ```
//! use shmptr::inspect::{self, ObjectKind, ObjectState, Owner};
//! use shmptr_arena::{arena_space, Arena, Shared, Unique};
//!
//! arena_space!(Space, 64 * 1024);
//!
//! let counter = Shared::<u64, Space>::create("counter", 7)?;
//! let info = inspect::inspect::<Arena<Space>>("counter")?;      // no `u64` here
//! assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
//! assert_eq!((info.value_size, info.live_holders()), (8, 1));
//!
//! let job = Unique::<[u8; 4], Space>::create("job", *b"todo")?;
//! Unique::release(job);
//! assert_eq!(inspect::inspect::<Arena<Space>>("job")?.owner, Some(Owner::Released));
//!
//! // A slice: its element count and element size; the fingerprint is the element's.
//! let frame = Shared::<[u32], Space>::from_slice("frame", &[1, 2, 3])?;
//! let info = inspect::inspect::<Arena<Space>>("frame")?;
//! assert_eq!((info.length, info.element_size, info.value_size), (Some(3), Some(4), 12));
//! assert_eq!(info.fingerprint, <u32 as shmptr::ShmSafe>::FINGERPRINT);
//! assert_eq!(inspect::inspect::<Arena<Space>>("counter")?.length, None);  // one value
//! # drop((counter, frame));
//! # Ok::<(), shmptr::Error>(())
//! ```

use core::mem::size_of;

use crate::backend::{Backend, Liveness, Platform, ProcessId, Region};
use crate::error::{Error, ErrorKind, Result};
use crate::name::Name;
use crate::options::Access;
use crate::primitive::{widen, Ordering, Word};
use crate::segment::{
    Header, Inspection, Kind, Members, Shape, Snapshot, State, ValueType, MAGIC, RECLAIMING, SNAPSHOT_LEN,
};

pub use crate::segment::MAX_SLOTS;

/// How many bytes of an object [`inspect_bytes`] needs at most: a header and a
/// full slot table. Fewer are fine when the object is shorter.
pub const SNAPSHOT_BYTES: usize = SNAPSHOT_LEN;

/// Which ownership type an object is.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A [`Shared`](crate::Shared): counted holders in any number of processes.
    Shared,
    /// A [`Unique`](crate::Unique): one owner, or released for a hand-off.
    Unique,
    /// Not known yet: the creator has not finished writing the header (or died
    /// before it did). Only with [`ObjectState::Initializing`] or
    /// [`ObjectState::Abandoned`], or a destroyed object whose header is gone.
    Unknown,
}

/// Where an object is in its life.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectState {
    /// Blank, or being written by a creator that may still finish it.
    Initializing,
    /// Finished and published: it can be opened.
    Ready,
    /// Being destroyed, or destroyed (its name about to go, or held by a peer).
    Destroying,
    /// Its creator died before finishing it ([`Backend::creator_liveness`] says
    /// `Dead`): [`reclaim`] removes it.
    Abandoned,
}

/// One occupied holder slot of a `Shared` object.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The slot's index in the slot table.
    pub slot: u32,
    /// The holding process (or the survivor reclaiming the slot, when
    /// [`reclaiming`](Holder::reclaiming)).
    pub process: ProcessId,
    /// The handle count the holder published (a copy for other processes, which
    /// the holder itself decides nothing from; a peer can write any number).
    pub handles: u64,
    /// Whether the slot's bit is set in the member set. A slot with a holder but
    /// no member bit is an attach or detach in progress, or one its process died in.
    pub member: bool,
    /// Whether a survivor is reclaiming the slot (then `process` is that survivor).
    pub reclaiming: bool,
    /// `process`'s liveness, as the platform judges it now.
    pub liveness: Liveness,
}

/// Who owns a `Unique` object.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Released: parked under its name for another process to claim.
    Released,
    /// Owned by `process`, whose liveness is `liveness` (a `Dead` owner's object
    /// is taken by the next claim, or removed by [`reclaim`]).
    Process {
        /// The owning process.
        process: ProcessId,
        /// Its liveness, as the platform judges it now.
        liveness: Liveness,
    },
}

/// The process that won the right to destroy an object (its header's destroyer
/// word).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destroyer {
    /// The destroying process.
    pub process: ProcessId,
    /// Its liveness, as the platform judges it now: a `Dead` destroyer's work is
    /// finished by the next open, [`reclaim`] or [`remove`].
    pub liveness: Liveness,
}

/// What [`inspect`] knows of an object: a snapshot, read once. Holders, owners
/// and counts may change right after it is taken.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// `Shared` or `Unique` (or `Unknown`, see [`ObjectKind::Unknown`]).
    pub kind: ObjectKind,
    /// Where it is in its life.
    pub state: ObjectState,
    /// The segment format version in the header (0 while still blank).
    pub format_version: u32,
    /// The value's size in bytes: for a slice (`Shared<[T]>`, `Unique<[T]>`), the
    /// whole slice's, `length * size_of::<T>()`. 0 when the kind is `Unknown`.
    pub value_size: u64,
    /// The value's alignment in the segment: `max(64, align_of::<T>())` (a
    /// slice's: its element's). 0 when the kind is `Unknown`.
    pub value_align: u64,
    /// The value type's layout fingerprint ([`ShmSafe::FINGERPRINT`](crate::ShmSafe::FINGERPRINT));
    /// for a slice, its **element's** (`T`'s for a `[T]`). 0 when the kind is
    /// `Unknown`.
    pub fingerprint: u64,
    /// For a slice (`Shared<[T]>`, `Unique<[T]>`), its element count (`Some(0)`
    /// for an empty one); `None` for one value, and when the kind is `Unknown`.
    pub length: Option<u64>,
    /// For a slice of at least one element, the element's size in bytes
    /// (`value_size / length`); `None` for one value, for an empty slice (the
    /// header stores the total, so an empty slice's element size is not known),
    /// and when the kind is `Unknown`.
    pub element_size: Option<u64>,
    /// The segment's length in bytes as its header states it (the object's own
    /// length when the kind is `Unknown`).
    pub total_len: u64,
    /// The process that created it, if the header names one.
    pub creator: Option<ProcessId>,
    /// The creator's liveness: for an unfinished object, whether it may still
    /// finish it ([`Backend::creator_liveness`]); otherwise the platform's
    /// judgement of that process (`Unknown` when none is named).
    pub creator_liveness: Liveness,
    /// How many holder slots a `Shared` object has; 0 for a `Unique`.
    pub slot_capacity: u32,
    /// The occupied slots (holder word not zero), in slot order.
    pub holders: heapless::Vec<Holder, { MAX_SLOTS as usize }>,
    /// `Some` for a `Unique` (and for an `Unknown` kind, `None`), `None` for a `Shared`.
    pub owner: Option<Owner>,
    /// The process destroying it, if the header names one (a `Destroying`
    /// object's, or a peer's forgery).
    pub destroyer: Option<Destroyer>,
}

impl Info {
    /// An object whose header is not written yet (shorter than a header, or no
    /// magic yet) while its creator may still write it.
    fn unfinished(object_len: u64, creator_liveness: Liveness) -> Self {
        Info {
            kind: ObjectKind::Unknown,
            state: ObjectState::Initializing,
            format_version: 0,
            value_size: 0,
            value_align: 0,
            fingerprint: 0,
            length: None,
            element_size: None,
            total_len: object_len,
            creator: None,
            creator_liveness,
            slot_capacity: 0,
            holders: heapless::Vec::new(),
            owner: None,
            destroyer: None,
        }
    }
}

impl Info {
    /// Whether the object holds a slice (`Shared<[T]>`, `Unique<[T]>`): its
    /// [`length`](Info::length) is known.
    pub fn is_slice(&self) -> bool {
        self.length.is_some()
    }

    /// Member holders whose process is alive or cannot be judged (treated alive).
    pub fn live_holders(&self) -> u32 {
        self.holders.iter().filter(|h| h.member && h.liveness != Liveness::Dead).count() as u32
    }

    /// Occupied slots whose process is dead: what [`reclaim`] frees.
    pub fn dead_holders(&self) -> u32 {
        self.holders.iter().filter(|h| h.liveness == Liveness::Dead).count() as u32
    }

    /// Handles in all live (or unjudgeable) holders together, as they published
    /// them (untrusted copies; saturating).
    pub fn live_handles(&self) -> u64 {
        self.holders
            .iter()
            .filter(|h| h.member && h.liveness != Liveness::Dead)
            .fold(0u64, |sum, h| sum.saturating_add(h.handles))
    }

    /// Whether any process that may be alive holds or owns it: a live (or
    /// unjudgeable) member, or a `Unique` owner that is not `Dead`. What
    /// [`remove`] refuses.
    pub fn held(&self) -> bool {
        let owned = matches!(self.owner, Some(Owner::Process { liveness, .. }) if liveness != Liveness::Dead);
        self.live_holders() != 0 || owned
    }
}

/// What [`reclaim`] did.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reclaimed {
    /// Dead holders whose slots were reclaimed (for a `Unique`: 1 when a dead
    /// owner's object was removed).
    pub holders: u32,
    /// Whether the object was destroyed and its name removed, without running the
    /// value's drop (every holder was dead, its owner was dead, or its creator
    /// died before finishing it).
    pub destroyed: bool,
}

/// Describes the object `name`: kind, state, format version, value size,
/// alignment and fingerprint, a slice's length and element size, creator, slot capacity, every occupied slot with its
/// holder's liveness, and a `Unique`'s owner. Needs no value type, and changes
/// nothing.
///
/// This generic version maps the object with [`Backend::open`] (on most backends
/// for reading and writing; objects of other users are accepted) and copies its
/// first bytes; it then reads only that copy. On Linux use
/// `shmptr_linux::inspect`, which never opens a file for writing.
///
/// Errors: `InvalidName`; what the backend's `open` returns (`NotFound`, ...);
/// `Corrupt` for an object shorter than a header or whose magic is wrong (the
/// error's [`during`](Error::during) says "not a shmptr object"), and for a
/// shmptr header that does not validate (it says "damaged").
///
/// ```
/// use shmptr::inspect::{self, ObjectState};
/// use shmptr_arena::{arena_space, Arena, Shared};
///
/// arena_space!(Space, 64 * 1024);
/// let a = Shared::<[u32; 4], Space>::options().slots(4).create("table", [1, 2, 3, 4])?;
/// let info = inspect::inspect::<Arena<Space>>("table")?;
/// assert_eq!(info.state, ObjectState::Ready);
/// assert_eq!((info.value_size, info.slot_capacity, info.holders.len()), (16, 4, 1));
/// assert_eq!(info.holders[0].handles, 1);
/// # drop(a);
/// # Ok::<(), shmptr::Error>(())
/// ```
#[allow(unsafe_code)] // one copy out of the region, see its SAFETY
pub fn inspect<B: Backend>(name: &str) -> Result<Info> {
    let name = Name::new(name)?;
    let region = B::open(name, &Access { mode: Access::DEFAULT.mode, allow_foreign_owner: true })?;
    let len = region.len();
    if len < size_of::<Header>() {
        return short(len as u64, B::creator_liveness(name, &region, None));
    }
    // SAFETY: a region is at least 64-aligned and valid for reads of `len` bytes
    // while it lives (the `Region` contract); the copy reads no more than that.
    let snapshot = unsafe { Snapshot::from_shared(region.as_ptr().as_ptr(), len) };
    let seen = snapshot.header.state.load(Ordering::Relaxed);
    analyze::<B>(name, len as u64, &snapshot, |creator| {
        let verdict = B::creator_liveness(name, &region, creator);
        // Acquire: pairs with the creator's `Ready`, stored before it ends its
        // creation mark: a creator that finished meanwhile is never taken for a
        // dead one (as `open` does).
        let header = header_at::<B>(&region);
        match verdict == Liveness::Dead && header.state.load(Ordering::Acquire) != seen {
            true => Liveness::Alive,
            false => verdict,
        }
    })
}

/// [`inspect`], from a copy of the object's first bytes that the caller read (the
/// first `min(object_len, SNAPSHOT_BYTES)` bytes, or fewer if the object shrank
/// meanwhile: missing bytes read as zeros), for backends that read objects
/// without mapping them for writing. `creator_liveness` answers, only for an
/// unfinished object (also one still shorter than a header or blank), whether its
/// creator (the process the header names, if any) may still finish it, as
/// [`Backend::creator_liveness`] does (only `Dead` makes such a file "not a
/// shmptr object"; anything else is an object being created); it should say
/// `Alive` if the object's state word changed since the copy was made. Other
/// liveness comes from `P`.
///
/// ```
/// use shmptr::inspect::{self, ObjectKind};
/// use shmptr::{ErrorKind, Liveness};
/// use shmptr_arena::{arena_space, Arena, Shared};
///
/// arena_space!(Space, 64 * 1024);
/// let a = Shared::<u16, Space>::create("word", 3)?;
/// // SAFETY: this thread alone uses `Space` (as `with_bytes` asks).
/// let bytes = unsafe { Arena::<Space>::with_bytes("word", |b| b.to_vec()) }.unwrap();
/// let info = inspect::inspect_bytes::<Arena<Space>>("word", bytes.len() as u64, &bytes, |_| Liveness::Unknown)?;
/// assert_eq!((info.kind, info.value_size), (ObjectKind::Shared, 2));
///
/// // Too short for a header, and no creator at work on it: not ours. (With a
/// // creator that may still be writing it, it would be an object being created.)
/// let text = b"just some text, long enough to be a header? no magic, though.";
/// let error = inspect::inspect_bytes::<Arena<Space>>("word", 400, text, |_| Liveness::Dead).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Corrupt);
/// assert!(error.during().contains("not a shmptr object"));
/// # drop(a);
/// # Ok::<(), shmptr::Error>(())
/// ```
pub fn inspect_bytes<P: Platform>(
    name: &str,
    object_len: u64,
    bytes: &[u8],
    creator_liveness: impl FnOnce(Option<ProcessId>) -> Liveness,
) -> Result<Info> {
    let name = Name::new(name)?;
    if object_len < size_of::<Header>() as u64 || bytes.len() < size_of::<Header>() {
        return short(object_len, creator_liveness(None));
    }
    let snapshot = Snapshot::from_bytes(bytes);
    analyze::<P>(name, object_len, &snapshot, creator_liveness)
}

/// Reclaims what dead processes left in the object `name`, without its value type:
/// the slots of dead holders (a `Shared`), the object of a dead owner (a
/// `Unique`), an object whose creator died before finishing it, and the work of
/// a destroyer that died.
///
/// **The value's drop does not run** when this destroys an object: a `Shared`
/// whose holders are all dead, a `Unique` whose owner is dead, or an abandoned
/// object is destroyed and its name removed, but `T`'s `Drop` (which this call
/// does not know) never runs. Use the typed `Shared::<T>::reclaim` where the drop
/// matters. A released `Unique` is left for its hand-off, and live (or
/// unjudgeable) holders and owners are never touched.
///
/// An object whose creator is still writing it is left alone (`Ok` with nothing
/// done, after waiting up to 100 ms for it). A file without the shmptr magic is
/// `Corrupt` and left alone. Needs write access: the backend's `open`.
///
/// ```
/// use shmptr::inspect;
/// use shmptr_arena::{arena_space, Arena, Shared};
///
/// arena_space!(Space, 64 * 1024);
/// let holder = Arena::<Space>::spawn();
/// let previous = unsafe { Arena::<Space>::enter(holder) };     // as another process
/// core::mem::forget(Shared::<u64, Space>::create("left", 1)?);
/// unsafe { Arena::<Space>::enter(previous) };
/// unsafe { Arena::<Space>::kill(holder) };                     // it dies holding it
///
/// assert_eq!(inspect::inspect::<Arena<Space>>("left")?.dead_holders(), 1);
/// let done = inspect::reclaim::<Arena<Space>>("left")?;
/// assert_eq!((done.holders, done.destroyed), (1, true));  // no drop ran
/// assert!(!Arena::<Space>::exists("left"));
/// # Ok::<(), shmptr::Error>(())
/// ```
pub fn reclaim<B: Backend>(name: &str) -> Result<Reclaimed> {
    crate::segment::reclaim_any::<B>(Name::new(name)?)
}

/// Removes the object `name` if no process that may be alive holds or owns it,
/// without its value type: dead holders are reclaimed first, then the object is
/// destroyed **without running its value's drop** and its name removed. A
/// released `Unique` is removed too.
///
/// `Busy` if a live (or unjudgeable) holder holds it, a live (or unjudgeable)
/// owner owns it (this process included), or its live creator is still writing
/// it; the error says which. `Ok` if it is already being destroyed. A file
/// without the shmptr magic is `Corrupt` and left alone.
///
/// ```
/// use shmptr::inspect;
/// use shmptr::ErrorKind;
/// use shmptr_arena::{arena_space, Arena, Shared};
///
/// arena_space!(Space, 64 * 1024);
/// let a = Shared::<u64, Space>::create("busy", 1)?;
/// assert_eq!(inspect::remove::<Arena<Space>>("busy").unwrap_err().kind(), ErrorKind::Busy);
/// core::mem::forget(a);        // gone without detaching, as if this process had died
/// # let me = Arena::<Space>::current();
/// # let other = Arena::<Space>::spawn();
/// # unsafe { Arena::<Space>::enter(other) };
/// # unsafe { Arena::<Space>::kill(me) };
/// inspect::remove::<Arena<Space>>("busy")?;
/// assert!(!Arena::<Space>::exists("busy"));
/// # Ok::<(), shmptr::Error>(())
/// ```
pub fn remove<B: Backend>(name: &str) -> Result<()> {
    crate::segment::remove_any::<B>(Name::new(name)?)
}

/// An object shorter than a header: one its creator has not sized yet, while the
/// creator may still do so (`creator_liveness`: not `Dead`), else not ours.
fn short(object_len: u64, creator_liveness: Liveness) -> Result<Info> {
    match creator_liveness {
        Liveness::Dead => Err(not_ours("inspecting it (not a shmptr object: shorter than a header)")),
        _ => Ok(Info::unfinished(object_len, creator_liveness)),
    }
}

/// A blank header (no magic, no state) that no creator is writing.
const BLANK: &str = "inspecting it (not a shmptr object: no magic; a blank file, or a creator that died at once)";

fn not_ours(during: &'static str) -> Error {
    Error::new(ErrorKind::Corrupt, during)
}

/// The header at the start of a region at least a header long.
#[allow(unsafe_code)]
fn header_at<B: Backend>(region: &B::Region) -> &Header {
    debug_assert!(region.len() >= size_of::<Header>());
    // SAFETY: checked by `inspect` before the call: the region is at least a header
    // long, and 64-aligned (`Region` contract); it lives as long as the borrow;
    // `Header` is valid for any bytes (atomics and `UnsafeCell`s of integers), and
    // only its atomics are read here.
    unsafe { region.as_ptr().cast::<Header>().as_ref() }
}

/// Describes the object whose first bytes `snapshot` holds (a private copy; the
/// object is `object_len` bytes long).
fn analyze<P: Platform>(
    name: Name<'_>,
    object_len: u64,
    snapshot: &Snapshot,
    creator_liveness: impl FnOnce(Option<ProcessId>) -> Liveness,
) -> Result<Info> {
    let header = &snapshot.header;
    // Relaxed throughout: a private copy nobody else writes.
    let magic = header.magic.load(Ordering::Relaxed);
    if magic == 0 && header.state.load(Ordering::Relaxed) == 0 {
        // Blank: a creator that still holds it (a creation lock) writes it now.
        let verdict = creator_liveness(None);
        if verdict != Liveness::Dead {
            return Ok(Info::unfinished(object_len, verdict));
        }
        return Err(not_ours(BLANK));
    }
    if magic != MAGIC {
        return Err(not_ours(match magic {
            0 => BLANK,
            _ => "inspecting it (not a shmptr object: wrong magic)",
        }));
    }
    let damaged = |what: &'static str| Error::new(ErrorKind::Corrupt, what);
    let len = usize::try_from(object_len).unwrap_or(usize::MAX);
    let ty = header.value_type();
    let expect = ty.unwrap_or(ValueType::NONE);
    let creator = ProcessId::from_word(header.creator.load(Ordering::Relaxed));
    let (state, slot_count, creator_liveness) = match header.inspect(len, name, expect) {
        Ok(Inspection::Ready(layout)) => {
            let members = Members::new(header, &snapshot.slots[..layout.slot_count as usize]);
            // Past `Ready` in all but the state word: a destroyer won, or (a
            // `Shared`) the member set is empty, which it never leaves.
            let ending = header.destroyer.load(Ordering::Relaxed) != 0
                || (expect.kind == Kind::Shared && members.live(Ordering::Relaxed) == 0);
            let state = if ending { ObjectState::Destroying } else { ObjectState::Ready };
            (state, layout.slot_count, creator.map_or(Liveness::Unknown, P::liveness))
        }
        Ok(Inspection::NotReady(seen)) => {
            let named = if seen == State::Blank { None } else { creator };
            let verdict = creator_liveness(named);
            let state = if verdict == Liveness::Dead { ObjectState::Abandoned } else { ObjectState::Initializing };
            (state, fitting_slots(header, ty, object_len), verdict)
        }
        Ok(Inspection::Destroying) => (
            ObjectState::Destroying,
            fitting_slots(header, ty, object_len),
            creator.map_or(Liveness::Unknown, P::liveness),
        ),
        Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::TypeMismatch) => {
            return Err(damaged("inspecting it (a shmptr object, but damaged: its header does not validate)"))
        }
        Err(e) => return Err(e),
    };
    let kind = match ty.map(|t| t.kind) {
        Some(Kind::Shared) => ObjectKind::Shared,
        Some(Kind::Unique) => ObjectKind::Unique,
        None => ObjectKind::Unknown,
    };
    // The checksummed fields `ty` was read from (the same private copy): the
    // stored byte size and a slice's element count. For a slice, `ty.size` is the
    // element's size (0 for an empty slice, whose element size is not stored).
    let fixed = header.checked_fixed().filter(|_| ty.is_some());
    let length = match ty {
        Some(ValueType { shape: Shape::Slice, .. }) => fixed.map(|f| f.length),
        _ => None,
    };
    let mut info = Info {
        kind,
        state,
        format_version: header.version.load(Ordering::Relaxed),
        value_size: fixed.map_or(0, |f| f.value_size),
        value_align: ty.map_or(0, |t| t.align as u64),
        fingerprint: ty.map_or(0, |t| t.fingerprint),
        length,
        element_size: ty.filter(|_| length.is_some_and(|n| n > 0)).map(|t| t.size as u64),
        total_len: fixed.map_or(object_len, |f| f.total_len),
        creator,
        creator_liveness,
        slot_capacity: if kind == ObjectKind::Shared { slot_count } else { 0 },
        holders: heapless::Vec::new(),
        owner: None,
        destroyer: ProcessId::from_word(header.destroyer.load(Ordering::Relaxed))
            .map(|process| Destroyer { process, liveness: P::liveness(process) }),
    };
    match kind {
        ObjectKind::Shared => {
            let slots = &snapshot.slots[..slot_count as usize];
            let live = Members::new(header, slots).live(Ordering::Relaxed);
            for (index, slot) in slots.iter().enumerate() {
                let word = slot.holder.load(Ordering::Relaxed);
                // A word that names no process (only the reclaiming bit) is garbage
                // a peer wrote: not a holder.
                let Some(process) = ProcessId::from_word(word & !RECLAIMING) else { continue };
                let bit: Word = 1 << index;
                // Cannot fail: at most `MAX_SLOTS` slots, the vector's capacity.
                let _ = info.holders.push(Holder {
                    slot: index as u32,
                    process,
                    handles: widen(slot.count.load(Ordering::Relaxed)),
                    member: live & bit != 0,
                    reclaiming: word & RECLAIMING != 0,
                    liveness: P::liveness(process),
                });
            }
        }
        ObjectKind::Unique => {
            let word = header.owner.load(Ordering::Relaxed);
            info.owner = Some(match (word, ProcessId::from_word(word)) {
                (0, _) => Owner::Released,
                (_, Some(process)) => Owner::Process { process, liveness: P::liveness(process) },
                (_, None) => return Err(damaged("inspecting it (a shmptr object, but damaged: its owner word)")),
            });
        }
        ObjectKind::Unknown => {}
    }
    Ok(info)
}

/// The slot count of an object whose header was not validated as a whole (not
/// `Ready`): the checksummed count (for a `Shared`), clamped to [`MAX_SLOTS`] and
/// to the slots the object's length holds; 0 without a checksummed header.
fn fitting_slots(header: &Header, ty: Option<ValueType>, object_len: u64) -> u32 {
    let Some(ValueType { kind: Kind::Shared, .. }) = ty else { return 0 };
    let Some(fixed) = header.checked_fixed() else { return 0 };
    let room = object_len.saturating_sub(size_of::<Header>() as u64) / crate::SLOT_BYTES as u64;
    fixed.slot_count.min(MAX_SLOTS).min(room.min(MAX_SLOTS as u64) as u32)
}
