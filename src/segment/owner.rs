//! The `Unique` owner word: claim and release.
//!
//! Claim is one CAS (from "no owner" or from a dead owner to us) and release one
//! store, so there is no crash point inside either: a process that dies holding
//! the object leaves its identity in the word, and the next claimer proves it dead.

use crate::backend::{Liveness, Platform, ProcessId};
use crate::error::{Error, ErrorKind, Result};
use crate::primitive::{AtomicWord, Ordering};

/// Makes `me` the owner if the object is released or its owner is dead; `Busy` if a
/// live process (this one included) owns it.
pub(crate) fn claim<P: Platform>(owner: &AtomicWord, me: ProcessId) -> Result<()> {
    // Acquire: pairs with the Release of `release`, so the previous owner's writes
    // to the value are visible to us.
    let mut current = owner.load(Ordering::Acquire);
    loop {
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

/// Parks the object with no owner, if `me` owns it.
pub(crate) fn release(owner: &AtomicWord, me: ProcessId) {
    // Release: our writes to the value happen before the next owner's claim.
    let _ = owner.compare_exchange(me.word(), 0, Ordering::Release, Ordering::Relaxed);
}
