//! The `Unique` owner word: claim, release, and giving the object up to destroy it.
//!
//! Claim is one CAS (from "no owner" or from a dead owner to us) and release one
//! CAS back to "no owner", so there is no crash point inside either: a process that
//! dies holding the object leaves its identity in the word, and the next claimer
//! proves it dead.

use crate::backend::{Liveness, Platform, ProcessId};
use crate::error::{Error, ErrorKind, Result};
use crate::primitive::{AtomicWord, Ordering};

use super::lifecycle::{claim_destroyer, destroying, Claim, DestroyRight};
use super::members::{Members, Refused};

/// Which owners a claim takes the object from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum From {
    /// A released object (no owner) or a dead owner's: `Unique::claim`, and the
    /// untyped remove.
    ReleasedOrDead,
    /// Only a dead owner's: the untyped reclaim, which never takes a released
    /// object from the hand-off it is parked for.
    Dead,
}

/// Claims the `Unique` whose (slotless) member view is `members` for `me`: takes
/// the owner word (from the owners `from` allows), then refuses (`NotFound`) an
/// object being destroyed. If its destroyer died, the caller gets the right to
/// finish that destroy (the value is half-dropped: it is not dropped again).
pub(crate) fn claim_object<'a, P: Platform>(
    members: &Members<'a>,
    me: ProcessId,
    from: From,
) -> core::result::Result<(), Refused<'a>> {
    claim::<P>(&members.header().owner, me, from).map_err(|error| Refused { error, right: None })?;
    if let Some(right) = claim_destroyer::<P>(members, me, Claim::DeadOnly, None) {
        let error = Error::new(ErrorKind::NotFound, "claiming an object that was being destroyed");
        return Err(Refused { error, right: Some(right) });
    }
    if destroying(members.header()) {
        return Err(Refused {
            error: Error::new(ErrorKind::NotFound, "claiming an object that is being destroyed"),
            right: None,
        });
    }
    Ok(())
}

/// The owner `me` gives the object up: the right to destroy it (`None` only if a
/// peer forged the destroyer word).
pub(crate) fn give_up<'a, P: Platform>(members: &Members<'a>, me: ProcessId) -> Option<DestroyRight<'a>> {
    claim_destroyer::<P>(members, me, Claim::Mine, None)
}

/// Makes `me` the owner if the object is released (and `from` allows it) or its
/// owner is dead; `Busy` if a live process (this one included) owns it, or if it
/// is released and `from` is [`From::Dead`].
fn claim<P: Platform>(owner: &AtomicWord, me: ProcessId, from: From) -> Result<()> {
    // Acquire: pairs with the Release of `release`, so the previous owner's writes
    // to the value are visible to us.
    let mut current = owner.load(Ordering::Acquire);
    loop {
        if current == 0 && from == From::Dead {
            return Err(Error::new(ErrorKind::Busy, "reclaiming a released object (it waits for a claim)"));
        }
        if current != 0 {
            match ProcessId::from_word(current) {
                Some(holder) if holder != me && P::liveness(holder) == Liveness::Dead => {}
                Some(_) => return Err(Error::new(ErrorKind::Busy, "claiming an object a live process owns")),
                // Not a process identity at all: garbage, never "released".
                None => return Err(Error::new(ErrorKind::Corrupt, "claiming an object whose owner word is invalid")),
            }
        }
        // AcqRel: Acquire as above (also toward a dead owner's last writes); Release
        // publishes our ownership.
        match owner.compare_exchange(current, me.word(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(()),
            Err(now) => current = now,
        }
    }
}

/// Makes the creator `me` the owner of a fresh object, before `Ready` publishes it.
pub(crate) fn init_creator(owner: &AtomicWord, me: ProcessId) {
    // Relaxed: published by the Release store of `Ready`.
    owner.store(me.word(), Ordering::Relaxed);
}

/// Parks the object with no owner, if `me` owns it.
pub(crate) fn release(owner: &AtomicWord, me: ProcessId) {
    // Release: our writes to the value happen before the next owner's claim.
    let _ = owner.compare_exchange(me.word(), 0, Ordering::Release, Ordering::Relaxed);
}
