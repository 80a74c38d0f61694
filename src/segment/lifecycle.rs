//! The lifecycle of a segment: the header's state word and the destroyer word, in
//! one place.
//!
//! | step | from → to | written by | how | ordering, and why |
//! |---|---|---|---|---|
//! | create | (none) → `Blank` | the creator | the backend makes a fresh, all-zero object | none: nobody can see it yet |
//! | [`initialize`] | `Blank` → `Initializing` | the creator | store, after magic, version, creator, the fixed fields and the checksum | Release: who sees `Initializing` sees the identity words and can name the creator |
//! | [`publish`] | `Initializing` → `Ready` | the creator, after the slots (or owner word) and the value | store, then wake sleeping openers | SeqCst: Release publishes header, slots and value to openers' Acquire loads; SeqCst against [`wait_for_creator`]'s `waiting` flag, so either the creator sees the flag and wakes, or the opener sees `Ready` and does not sleep |
//! | [`claim_destroyer`] | (state unchanged) | whoever wins the destroyer word: the process that emptied the member set or owns the `Unique`, or a survivor of a dead one | CAS of `destroyer` from none (or a dead process) to itself | AcqRel: one winner; Acquire orders it after every holder's release of the member set and after a dead destroyer's work |
//! | [`DestroyRight::begin_drop`] | `Ready` → `Destroying` | the destroyer, before it drops the value | CAS | Acquire: the value's last uses by every holder happen before its drop; the CAS (not a store) drops the value at most once even if a destroyer dies and a survivor takes over |
//! | [`DestroyRight::mark_destroyed`] | → `Destroyed` | the destroyer, after unlinking the name | store | Release: a late opener that still maps it sees a finished destruction |
//!
//! Besides that chain, destroying an abandoned object (its creator died before
//! `Ready`) goes from `Blank` or `Initializing` straight to `Destroyed` (nothing to
//! drop), a survivor finishing a dead destroyer's work stores `Destroyed` over
//! `Destroying` (or over `Ready`, when the value is not dropped here), and a
//! destroy that cannot trust the stored name leaves the state where it is: the
//! name is never unlinked on a forged name's word.
//!
//! Openers read the state with Acquire ([`Header::inspect`]): `Blank` and
//! `Initializing` are "not ready" (wait, bounded, then judge the creator),
//! `Ready` is validated, `Destroying` and `Destroyed` are `NotFound`. Any other
//! value is `Corrupt`. A [`DestroyRight`] is the only way to reach the destroy steps,
//! and [`claim_destroyer`] the only way to get one; the
//! mapping's `destroy` runs the steps in order, with the crash points between them.

use core::time::Duration;

use crate::backend::{Liveness, Platform, ProcessId};
use crate::primitive::Ordering;

use crate::name::Name;

use super::{Header, Kind, Members, SegmentLayout, Slot, ValueType};

/// Lifecycle of a segment, stored in [`Header::state`]. The values are ASCII tags,
/// so that a stray small integer is never a valid state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum State {
    /// Zero: the creator has not written the header yet.
    Blank = 0,
    /// The header's identity words are written; the rest is being written.
    Initializing = 0x494e_4954,
    /// Fully written and published; may be opened.
    Ready = 0x5245_4459,
    /// A destroyer runs (or ran) `T`'s drop.
    Destroying = 0x4453_5459,
    /// The value is dropped and the name unlinked.
    Destroyed = 0x4445_4144,
}

impl State {
    /// The state a raw word names; `None` for any other value (garbage).
    pub(crate) fn from_raw(raw: u32) -> Option<State> {
        match raw {
            r if r == State::Blank as u32 => Some(State::Blank),
            r if r == State::Initializing as u32 => Some(State::Initializing),
            r if r == State::Ready as u32 => Some(State::Ready),
            r if r == State::Destroying as u32 => Some(State::Destroying),
            r if r == State::Destroyed as u32 => Some(State::Destroyed),
            _ => None,
        }
    }
}

/// Writes the header of a fresh, zeroed segment ([`Header::write_once_fields`])
/// and publishes `Initializing`: from now on the header names its creator. The
/// caller owns the segment exclusively (it just created it).
pub(crate) fn initialize(
    header: &Header,
    kind: Kind,
    creator: ProcessId,
    name: Name<'_>,
    layout: &SegmentLayout,
    ty: &ValueType,
) {
    header.write_once_fields(kind, creator, name, layout, ty);
    // Release: whoever sees `Initializing` also sees the identity words and the
    // write-once fields above.
    header.state.store(State::Initializing as u32, Ordering::Release);
}

/// Publishes a created segment: `Initializing` → `Ready`, then wakes openers that
/// sleep on the state word. Everything the creator wrote before is visible to an
/// opener that sees `Ready`.
pub(crate) fn publish<P: Platform>(header: &Header) {
    // Release: publishes the header, slots and value to every opener that loads
    // `Ready` with Acquire. SeqCst with the `waiting` load: either we see an
    // opener's flag and wake it, or it sees `Ready` and does not sleep (its flag
    // store and state load are SeqCst too, in `wait_for_creator`).
    header.state.store(State::Ready as u32, Ordering::SeqCst);
    if header.waiting.load(Ordering::SeqCst) != 0 {
        P::wake(&header.state, u32::MAX);
    }
}

/// Withdraws a segment its creator gives up before `Ready` (its initializer
/// panicked): `Destroyed`, so that openers waiting for it, here or in other
/// processes, wake and see it gone (`NotFound`: `open_or_create` creates anew)
/// rather than wait for a creator that lives on. As [`publish`], with the same
/// orderings.
pub(crate) fn withdraw<P: Platform>(header: &Header) {
    header.state.store(State::Destroyed as u32, Ordering::SeqCst);
    if header.waiting.load(Ordering::SeqCst) != 0 {
        P::wake(&header.state, u32::MAX);
    }
}

/// Sleeps (at most `slice`) while the state word still holds `seen`, an
/// unfinished state: an opener waiting for the creator's [`publish`].
pub(crate) fn wait_for_creator<P: Platform>(header: &Header, seen: u32, slice: Duration) {
    // SeqCst: see `publish`; the wait's own check of the word is the load. The flag
    // is never cleared: a later `publish` merely makes one wake call too many.
    header.waiting.store(1, Ordering::SeqCst);
    P::wait(&header.state, seen, Some(slice));
}

/// Who may take the destroyer word, and when.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Claim {
    /// The caller emptied the member set, owns the `Unique`, or finishes an object
    /// whose creator died before `Ready` (which never names a destroyer): it wins
    /// a destroyer word that is still free, or one that names a dead process.
    Mine,
    /// A survivor finding the member set empty: it wins a free destroyer word only
    /// if no slot has an owner that may be alive (the process that emptied the set
    /// keeps its slot until it is done), or one that names a dead process.
    Survivor,
    /// Only a destroyer that died: the caller finishes its work.
    DeadOnly,
}

/// The right to destroy an object, held by exactly one process (the winner of the
/// destroyer word), and the only way to run the destroy steps:
/// [`begin_drop`](DestroyRight::begin_drop), then (after the drop and the unlink)
/// [`mark_destroyed`](DestroyRight::mark_destroyed). Dropping it frees the slot it was given
/// ([`claim_destroyer`]'s `free_slot`); dropped early (on a panic's way out) it
/// leaves the object for a survivor to finish once this process dies.
#[must_use = "the destroyer must destroy the object"]
pub(crate) struct DestroyRight<'a> {
    header: &'a Header,
    /// The member slot to free when done (the slot that emptied the set, kept so
    /// that survivors know a live process is still destroying).
    free_slot: Option<&'a Slot>,
}

/// Tries to win the destroyer word of the segment `members` belongs to, for `me`,
/// under `rule`. The one place the destroyer word is written.
///
/// `free_slot` is the caller's slot, held since it emptied the member set through
/// it: the right frees it when done, or, if the claim fails (only when a peer
/// forged the destroyer word), it is freed at once.
pub(crate) fn claim_destroyer<'a, P: Platform>(
    members: &Members<'a>,
    me: ProcessId,
    rule: Claim,
    free_slot: Option<&'a Slot>,
) -> Option<DestroyRight<'a>> {
    let header = members.header();
    let destroyer = &header.destroyer;
    // Acquire: pairs with the AcqRel CAS of a previous destroyer.
    let current = destroyer.load(Ordering::Acquire);
    let allowed = match (ProcessId::from_word(current), rule) {
        (None, Claim::Mine) => true,
        (None, Claim::Survivor) => members.live(Ordering::Acquire) == 0 && !members.any_live_holder::<P>(),
        (None, Claim::DeadOnly) => false,
        (Some(p), _) => p != me && P::liveness(p) == Liveness::Dead,
    };
    // AcqRel: only one process wins; Acquire orders us after the dead one's work
    // and after every holder's release of the member set.
    if allowed && destroyer.compare_exchange(current, me.word(), Ordering::AcqRel, Ordering::Relaxed).is_ok() {
        return Some(DestroyRight { header, free_slot });
    }
    if let Some(slot) = free_slot {
        slot.free();
    }
    None
}

/// Whether some process has begun to destroy the object.
pub(crate) fn destroying(header: &Header) -> bool {
    // Acquire: pairs with the destroyer's AcqRel CAS.
    header.destroyer.load(Ordering::Acquire) != 0
}

impl<'a> DestroyRight<'a> {
    /// The first destroy step: `Ready` → `Destroying`. `true` if the value is to be
    /// dropped here: at most one process ever gets `true`, even when a destroyer
    /// dies and a survivor takes over.
    pub(crate) fn begin_drop(&self) -> bool {
        // Acquire: the value's last uses by every holder happen before its drop
        // (they released through the member word, which the destroyer acquired).
        self.header
            .state
            .compare_exchange(State::Ready as u32, State::Destroying as u32, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The last destroy step, once the name is unlinked: marks the segment
    /// `Destroyed`. The slot is freed when the right drops, after this.
    pub(crate) fn mark_destroyed(&self) {
        // Release: a late opener that still maps it sees a finished destruction.
        self.header.state.store(State::Destroyed as u32, Ordering::Release);
    }
}

impl Drop for DestroyRight<'_> {
    /// Frees the slot set with [`freeing`](DestroyRight::freeing), last: after the
    /// destroy steps, or on the way out of a panic.
    fn drop(&mut self) {
        if let Some(slot) = self.free_slot {
            slot.free();
        }
    }
}
