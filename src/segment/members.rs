//! Who holds a `Shared` object: the slot table and the member bitmap.
//!
//! An attachment is one slot: `{holder process, handle count}`. Membership is one bit
//! per slot in [`Header::members`], so "claim a place and count it" is a single
//! atomic step, and the object is alive exactly while that word is non-zero. The
//! word never goes from zero back to non-zero, so an object being destroyed is
//! never resurrected.
//!
//! Crash points (a process may die between any two atomic steps) and what a
//! survivor sees:
//! - attach: slot holder written, bit not set ([`CrashPoint::AttachReserved`]) →
//!   a dead holder on a non-member slot: reclaim frees the slot, nothing counted.
//! - detach: count zero, bit still set ([`CrashPoint::DetachCounted`]) → a dead
//!   member: reclaim clears its bit exactly like any dead holder.
//! - detach: bit cleared, holder still set ([`CrashPoint::DetachLeft`]) → a dead holder
//!   on a non-member slot: freed. If that clear emptied the set, the dead process
//!   was the destroyer: the members word is zero, the destroyer word is zero or
//!   names a dead process, and [`claim_destroyer`] lets a survivor take over.
//! - reclaim: slot marked `RECLAIMING | reclaimer` ([`CrashPoint::ReclaimMarked`],
//!   [`CrashPoint::ReclaimLeft`]) → the mark names the reclaimer, so a later
//!   reclaimer can tell it is dead and redo the (idempotent) steps.
//!
//! [`CrashPoint::AttachReserved`]: crate::CrashPoint::AttachReserved
//! [`CrashPoint::DetachCounted`]: crate::CrashPoint::DetachCounted
//! [`CrashPoint::DetachLeft`]: crate::CrashPoint::DetachLeft
//! [`CrashPoint::ReclaimMarked`]: crate::CrashPoint::ReclaimMarked
//! [`CrashPoint::ReclaimLeft`]: crate::CrashPoint::ReclaimLeft

use crate::backend::{CrashPoint, Liveness, Platform, ProcessId};
use crate::error::{Error, ErrorKind, Result};
use crate::primitive::{widen, Ordering, Word};

use super::lifecycle::{claim_destroyer, Claim, DestroyRight};
use super::{Header, Slot};

impl Slot {
    /// Makes this slot free for reuse.
    pub(crate) fn free(&self) {
        // Relaxed: the holder store below publishes it.
        self.count.store(0, Ordering::Relaxed);
        // Release: pairs with the Acquire in `reserve`.
        self.holder.store(0, Ordering::Release);
    }
}

/// Set in a slot's holder word while a survivor reclaims it; the low bits then name
/// the reclaimer.
pub(crate) const RECLAIMING: Word = 1 << (Word::BITS - 1);

/// Why joining failed, with the right to destroy when this process must destroy.
pub(crate) struct Refused<'a> {
    pub error: Error,
    pub right: Option<DestroyRight<'a>>,
}

/// The outcome of reclaiming dead holders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reclaimed {
    /// How many member slots of dead processes were reclaimed.
    pub holders: u32,
    /// The slot whose reclaim emptied the member set: the reclaimer is now the
    /// destroyer and frees this slot (with [`Members::free`]) when done.
    pub emptied_through: Option<u32>,
}

/// What [`Members::leave_if_sole`] did.
pub(crate) enum Sole<'a> {
    /// Another member remains; nothing changed.
    Not,
    /// Left the member set, emptying it, with the right to destroy (`None` only if
    /// a peer forged the destroyer word).
    Left(Option<DestroyRight<'a>>),
}

/// The member bitmap and slot table of one mapped segment.
#[derive(Clone, Copy)]
pub(crate) struct Members<'a> {
    header: &'a Header,
    slots: &'a [Slot],
}

impl<'a> Members<'a> {
    /// `slots` must be the segment's validated slot table (at most 64 slots).
    pub(crate) fn new(header: &'a Header, slots: &'a [Slot]) -> Self {
        debug_assert!(slots.len() <= 64);
        Members { header, slots }
    }

    /// The segment's header.
    pub(crate) fn header(&self) -> &'a Header {
        self.header
    }

    /// The bits that correspond to real slots; any other bit in the word is
    /// ignored (the word is untrusted).
    fn mask(&self) -> Word {
        Word::MAX.checked_shr(Word::BITS - self.slots.len() as u32).unwrap_or(0)
    }

    /// The member bits, with untrusted garbage masked off.
    pub(crate) fn live(&self, order: Ordering) -> Word {
        self.header.members.load(order) & self.mask()
    }

    /// Makes the creator the sole member, holding one handle in slot 0. Runs before
    /// `Ready`, which publishes it.
    pub(crate) fn init_creator(&self, me: ProcessId) {
        // Relaxed: the creator owns the segment until the Release store of `Ready`.
        self.slots[0].holder.store(me.word(), Ordering::Relaxed);
        self.slots[0].count.store(1, Ordering::Relaxed);
        self.header.slots_used.store(1, Ordering::Relaxed);
        self.header.members.store(1, Ordering::Relaxed);
    }

    /// Joins the object as a new attachment of `me` with one handle: first reclaims
    /// dead holders, then takes a slot ([`attach`](Self::attach)). Returns the slot.
    ///
    /// Refused with `NotFound` when every holder was dead (this process reclaimed
    /// the last one and destroys) or the member set is empty (destroyed, or being
    /// destroyed: this process finishes if that destroyer died), with
    /// `TooManyProcesses` when every slot is taken.
    pub(crate) fn join<P: Platform>(&self, me: ProcessId) -> core::result::Result<u32, Refused<'a>> {
        let reclaimed = self.reclaim_dead::<P>(me);
        if let Some(index) = reclaimed.emptied_through {
            // Every holder was dead: destroy it; there is nothing to attach to.
            let right = self.destroyer_freeing::<P>(me, index);
            return Err(Refused { error: Error::new(ErrorKind::NotFound, "opening (its holders all died)"), right });
        }
        self.attach::<P>(me).map_err(|error| {
            // An empty member set: destroy it if its destroyer died unfinished.
            let right = match error.kind() {
                ErrorKind::NotFound => claim_destroyer::<P>(self, me, Claim::Survivor, None),
                _ => None,
            };
            Refused { error, right }
        })
    }

    /// Leaves the object after the last handle of the attachment in `index` is gone
    /// ([`detach`](Self::detach)). `Some` if this emptied the member set: the caller
    /// is the destroyer (the slot is freed once it is done).
    pub(crate) fn leave<P: Platform>(&self, index: u32, me: ProcessId) -> Option<DestroyRight<'a>> {
        if !self.detach::<P>(index, me) {
            return None;
        }
        self.destroyer_freeing::<P>(me, index)
    }

    /// Leaves the object only if the attachment in `index` is its one member once
    /// dead holders are reclaimed: [`Sole::Left`], with the right to destroy (the
    /// caller, which held that attachment's last handle, is the destroyer, and the
    /// slot is freed once it is done; `None` only if a peer forged the destroyer
    /// word). [`Sole::Not`], with nothing changed, if any other member remains: a
    /// member joining meanwhile makes the compare-exchange fail, so leaving and
    /// "nobody else holds it" are one atomic step.
    pub(crate) fn leave_if_sole<P: Platform>(&self, index: u32, me: ProcessId) -> Sole<'a> {
        let bit: Word = 1 << index;
        // Our own bit is set, so reclaiming others cannot empty the set.
        let _ = self.reclaim_dead::<P>(me);
        // Acquire: as in `detach`, when we go on as the destroyer.
        let mut current = self.header.members.load(Ordering::Acquire);
        loop {
            if current & self.mask() != bit {
                return Sole::Not;
            }
            // AcqRel: as the `fetch_and` in `detach`: Release hands our uses of the
            // value to whoever reads the word; Acquire takes every earlier holder's.
            match self.header.members.compare_exchange_weak(
                current,
                current & !bit,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        P::crash_point(CrashPoint::DetachLeft);
        Sole::Left(self.destroyer_freeing::<P>(me, index))
    }

    /// Whether the attachment in `index` is the object's one member once dead
    /// holders are reclaimed (a snapshot: a process may join right after).
    pub(crate) fn sole<P: Platform>(&self, index: u32, me: ProcessId) -> bool {
        // Our own bit is set, so reclaiming others cannot empty the set.
        let _ = self.reclaim_dead::<P>(me);
        // Acquire: pairs with the Release of the other members' leaving, so their
        // uses of the value happen before the caller's writes.
        self.live(Ordering::Acquire) == 1 << index
    }

    /// Reclaims the slots of dead holders ([`reclaim_dead`](Self::reclaim_dead));
    /// returns how many members were reclaimed, and the right to destroy if no live
    /// holder remains (this process emptied the set, or finds it empty and its
    /// destroyer dead).
    pub(crate) fn reclaim<P: Platform>(&self, me: ProcessId) -> (u32, Option<DestroyRight<'a>>) {
        let reclaimed = self.reclaim_dead::<P>(me);
        let right = match reclaimed.emptied_through {
            Some(index) => self.destroyer_freeing::<P>(me, index),
            None => claim_destroyer::<P>(self, me, Claim::Survivor, None),
        };
        (reclaimed.holders, right)
    }

    /// This process emptied the member set through slot `index`: it becomes the
    /// destroyer, which frees the slot when done (see [`claim_destroyer`]).
    fn destroyer_freeing<P: Platform>(&self, me: ProcessId, index: u32) -> Option<DestroyRight<'a>> {
        claim_destroyer::<P>(self, me, Claim::Mine, Some(&self.slots[index as usize]))
    }

    /// Joins the object as a new attachment of `me` holding one handle; returns its slot.
    ///
    /// `NotFound` if the member set is empty (the object is being destroyed),
    /// `TooManyProcesses` if every slot is taken.
    fn attach<P: Platform>(&self, me: ProcessId) -> Result<u32> {
        let not_found = Error::new(ErrorKind::NotFound, "attaching to the object");
        // Acquire: pairs with the Release of earlier membership changes.
        if self.live(Ordering::Acquire) == 0 {
            return Err(not_found);
        }
        let index = self.reserve(me).ok_or(Error::new(ErrorKind::TooManyProcesses, "attaching to the object"))?;
        let slot = &self.slots[index as usize];
        // Relaxed: published by the Release in the member CAS below.
        slot.count.store(1, Ordering::Relaxed);
        P::crash_point(CrashPoint::AttachReserved);
        let bit: Word = 1 << index;
        let mut current = self.header.members.load(Ordering::Acquire);
        loop {
            if current & self.mask() == 0 {
                // Never from zero to non-zero: the object is being destroyed.
                self.free(index);
                return Err(not_found);
            }
            // AcqRel: Release publishes our slot (holder, count) to whoever reads the
            // members word; Acquire orders us after earlier members' changes.
            match self.header.members.compare_exchange_weak(current, current | bit, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(index),
                Err(now) => current = now,
            }
        }
    }

    /// Takes a free slot (holder 0, not a member) by writing `me` as its holder.
    fn reserve(&self, me: ProcessId) -> Option<u32> {
        let members = self.header.members.load(Ordering::Relaxed);
        (0..self.slots.len() as u32).find(|&i| {
            let slot = &self.slots[i as usize];
            // Relaxed pre-check: skip taken slots without raising the mark.
            members & (1 << i) == 0 && slot.holder.load(Ordering::Relaxed) == 0 && {
                // Raise the mark before owning the slot, so that every slot with an
                // holder is below it whatever happens next. AcqRel: ordered before our
                // CAS for scanners that read the mark with Acquire.
                self.header.slots_used.fetch_max(i + 1, Ordering::AcqRel);
                // Acquire: pairs with the Release in `free`, so the previous holder's
                // use of the slot happens before ours.
                slot.holder.compare_exchange(0, me.word(), Ordering::Acquire, Ordering::Relaxed).is_ok()
            }
        })
    }

    /// The slots that may have a holder: those below the mark. A slot reserved after
    /// the mark was read is an attacher in progress, which no scan needs to see.
    fn used_slots(&self) -> &'a [Slot] {
        // Acquire: pairs with the AcqRel `fetch_max` in `reserve`. Untrusted: clamped.
        let used = self.header.slots_used.load(Ordering::Acquire) as usize;
        &self.slots[..used.min(self.slots.len())]
    }

    /// Publishes the handle count of the attachment in `index` for other processes
    /// (`strong_count`). Only a copy: this process decides nothing from it. (The
    /// handles store it themselves, without the bounds check: `SharedHandle`'s
    /// `publish_count`; the loom models in `tests` use this one.)
    #[cfg(all(test, loom))]
    pub(crate) fn publish_count(&self, index: u32, count: usize) {
        // Relaxed: a snapshot for readers, ordered with nothing (see `handles`).
        self.slots[index as usize].count.store(count.min(Word::MAX as usize) as Word, Ordering::Relaxed);
    }

    /// Leaves the member set after the attachment's last handle is gone. First
    /// reclaims dead holders, so that the last *live* holder destroys at once.
    /// Returns `true` if this emptied the set: the caller is the destroyer, and
    /// frees `index` when done; otherwise the slot is already free.
    fn detach<P: Platform>(&self, index: u32, me: ProcessId) -> bool {
        P::crash_point(CrashPoint::DetachCounted);
        // Our own bit is still set, so reclaiming others cannot empty the set.
        let _ = self.reclaim_dead::<P>(me);
        let bit: Word = 1 << index;
        // AcqRel: Release hands our uses of the value to the destroyer; Acquire
        // (when we are the destroyer) takes every earlier holder's.
        let before = self.header.members.fetch_and(!bit, Ordering::AcqRel);
        P::crash_point(CrashPoint::DetachLeft);
        if before & self.mask() == bit {
            return true;
        }
        self.free(index);
        false
    }

    /// Makes slot `index` free for reuse.
    pub(crate) fn free(&self, index: u32) {
        self.slots[index as usize].free();
    }

    /// Reclaims every slot whose holder (or reclaimer) is dead. Never touches a
    /// live or unjudgeable holder.
    fn reclaim_dead<P: Platform>(&self, me: ProcessId) -> Reclaimed {
        let mut out = Reclaimed::default();
        for (index, slot) in self.used_slots().iter().enumerate() {
            let index = index as u32;
            // Acquire: pairs with the holder's writes to the slot.
            let word = slot.holder.load(Ordering::Acquire);
            let Some(holder) = ProcessId::from_word(word & !RECLAIMING) else { continue };
            if holder == me || P::liveness(holder) != Liveness::Dead {
                continue;
            }
            // The slot is ours to reclaim only if nobody changed it meanwhile; the
            // mark keeps it from being reused until we free it. AcqRel: Acquire to
            // see the dead holder's last writes; Release to publish the mark.
            if slot.holder.compare_exchange(word, RECLAIMING | me.word(), Ordering::AcqRel, Ordering::Relaxed).is_err()
            {
                continue;
            }
            P::crash_point(CrashPoint::ReclaimMarked);
            let bit: Word = 1 << index;
            // AcqRel: as in `detach`. Idempotent if a dead reclaimer already cleared it.
            let before = self.header.members.fetch_and(!bit, Ordering::AcqRel);
            P::crash_point(CrashPoint::ReclaimLeft);
            if before & bit != 0 {
                out.holders += 1;
            }
            if before & self.mask() == bit {
                out.emptied_through = Some(index);
            } else {
                self.free(index);
            }
        }
        out
    }

    /// Whether any slot has a holder (member, reserver or reclaimer) that may be alive.
    pub(crate) fn any_live_holder<P: Platform>(&self) -> bool {
        self.used_slots().iter().any(|slot| {
            ProcessId::from_word(slot.holder.load(Ordering::Acquire) & !RECLAIMING)
                .is_some_and(|p| P::liveness(p) != Liveness::Dead)
        })
    }

    /// Handles alive in all processes together (a snapshot; untrusted counts
    /// saturate), with `own`'s count taken as `(slot, count)` from private memory.
    /// A member whose holder is dead (not yet reclaimed) counts nothing, as in
    /// [`process_count`](Self::process_count).
    pub(crate) fn strong_count<P: Platform>(&self, own: Option<(u32, usize)>) -> u64 {
        let members = self.live(Ordering::Acquire);
        let mut sum = 0u64;
        for (index, slot) in self.slots.iter().enumerate() {
            if members & (1 << index) == 0 {
                continue;
            }
            let count = match own {
                Some((own_slot, count)) if own_slot as usize == index => count as u64,
                _ => {
                    let holder = ProcessId::from_word(slot.holder.load(Ordering::Relaxed) & !RECLAIMING);
                    if holder.is_some_and(|p| P::liveness(p) == Liveness::Dead) {
                        continue;
                    }
                    widen(slot.count.load(Ordering::Relaxed))
                }
            };
            sum = sum.saturating_add(count);
        }
        sum
    }

    /// Distinct live processes among the members (a snapshot).
    pub(crate) fn process_count<P: Platform>(&self) -> u32 {
        let members = self.live(Ordering::Acquire);
        let holder = |slot: &Slot| ProcessId::from_word(slot.holder.load(Ordering::Relaxed) & !RECLAIMING);
        let mut distinct = 0;
        for (i, slot) in self.member_slots(members).enumerate() {
            let Some(p) = holder(slot) else { continue };
            let seen_before = self.member_slots(members).take(i).any(|s| holder(s) == Some(p));
            if !seen_before && P::liveness(p) != Liveness::Dead {
                distinct += 1;
            }
        }
        distinct
    }

    fn member_slots(&self, members: Word) -> impl Iterator<Item = &'a Slot> + 'a {
        let slots = self.slots;
        (0..slots.len()).filter(move |i| members & (1 << i) != 0).map(move |i| &slots[i])
    }
}
