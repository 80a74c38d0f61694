//! loom models of the segment's protocols, one file per protocol:
//! [`loom_members`] (attach, detach, reclaim, destroy of a `Shared`),
//! [`loom_owner`] (claim and release of a `Unique`), [`loom_ready`] (the
//! create/open handshake on the state word).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmptr --lib --release`. Under
//! `--cfg loom`, [`crate::primitive`] hands the protocol code loom's atomics, so these
//! models drive the real functions: each process's step is what `mapping.rs` does
//! for a real handle, with the same calls in the same order ([`Segment`]'s flows:
//! [`Members::join`], [`Members::leave`], [`Members::reclaim`],
//! [`owner::claim_object`](super::owner::claim_object),
//! [`owner::release`](super::owner::release), the [`DestroyRight`] steps,
//! [`handles::acquire`] and [`handles::release`]), never a copy of their insides. They
//! run on the models' one platform, [`Model`] (`loom_support`): processes are loom
//! threads, [`DEAD`](crate::loom_support::DEAD) is the one dead process, the futex is
//! emulated, and crash points are counted per thread. The object's value `T` is a
//! loom `UnsafeCell`: every holder reads it while it holds a handle and the
//! destroyer overwrites it with a "dropped" mark, so loom fails a model if a use is
//! not ordered before the drop (a use-after-free, or orderings weaker than `Arc`'s)
//! and the mark itself catches a use after the drop or a second drop.
//!
//! Each model runs twice (see [`loom_support::model`]) and labels every run's
//! outcome; a model fails on an outcome it does not list, and, with a preemption
//! bound of 3 or more, when a listed outcome was never explored, so none passes
//! vacuously. A "destroyer" in a label is the process that got the
//! [`DestroyRight`] and ran the destroy steps with it.
//!
//! Not covered, by any of them: the backend's part (mapping, unlinking, the
//! `others_attached` check before the drop: each model process has one mapping),
//! and the destroy steps' crash points (`DestroyClaimed` and later).

use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;

use super::header::Fixed;
use super::lifecycle::{self, DestroyRight, State};
use super::{Header, Members, Slot};
use crate::backend::Platform;
use crate::error::ErrorKind;
use crate::handles;
use crate::loom_support::{self, Model};
use crate::name::NAME_MAX;
use crate::primitive::{AtomicU32, AtomicWord, Ordering};

mod loom_members;
mod loom_owner;
mod loom_ready;

/// The value while the object is alive.
const VALUE: u64 = 42;
/// The value after the destroyer "dropped" it.
const DROPPED: u64 = u64::MAX;

/// A segment as the models see it: header, slot table and the value `T`.
struct Segment {
    header: Header,
    slots: Vec<Slot>,
    /// Each attachment's handle count, which a real process keeps in private
    /// memory (`Region::handles`), one per slot.
    handles: Vec<AtomicUsize>,
    value: UnsafeCell<u64>,
}

// Unsafe code allowed for `Sync` for the cells below.
#[allow(unsafe_code)]
// SAFETY: the only non-`Sync` fields are the header's `fixed` and `checksum` cells,
// written only by the creator before it publishes `Ready` and read only by openers
// that saw `Ready` with Acquire (`lifecycle::initialize`, `Header::inspect`), and the
// value cell, whose every access goes through loom, which fails the model on any
// access that conflicts with another unordered one.
unsafe impl Sync for Segment {}

impl Segment {
    /// A fresh, all-zero segment with `slots` slots, as a backend creates it: state
    /// `Blank`, nobody attached, the value not written (0).
    fn blank(slots: usize) -> Arc<Segment> {
        Arc::new(Self::zeroed(slots, 0))
    }

    /// A published segment (`Ready`) with `slots` slots, nobody attached, and the
    /// value written. The creator's attachment, if any, is up to the model
    /// ([`Segment::init_creator`]).
    fn new(slots: usize) -> Arc<Segment> {
        let seg = Self::zeroed(slots, VALUE);
        // Relaxed: loom threads spawned later are ordered after it.
        seg.header.state.store(State::Ready as u32, Ordering::Relaxed);
        Arc::new(seg)
    }

    fn zeroed(slots: usize, value: u64) -> Segment {
        let fixed = Fixed {
            kind: 0,
            slot_count: 0,
            total_len: 0,
            value_offset: 0,
            value_size: 0,
            value_align: 0,
            fingerprint: 0,
            name_len: 0,
            shape: 0,
            length: 0,
            name: [0; NAME_MAX],
        };
        let header = Header {
            magic: AtomicU32::new(0),
            version: AtomicU32::new(0),
            state: AtomicU32::new(0),
            reserved: AtomicU32::new(0),
            creator: AtomicWord::new(0),
            fixed: core::cell::UnsafeCell::new(fixed),
            checksum: core::cell::UnsafeCell::new(0),
            members: AtomicWord::new(0),
            owner: AtomicWord::new(0),
            destroyer: AtomicWord::new(0),
            slots_used: AtomicU32::new(0),
            waiting: AtomicU32::new(0),
        };
        let handles = (0..slots).map(|_| AtomicUsize::new(0)).collect();
        let slots = (0..slots).map(|_| Slot { holder: AtomicWord::new(0), count: AtomicWord::new(0) }).collect();
        Segment { header, slots, handles, value: UnsafeCell::new(value) }
    }

    fn members(&self) -> Members<'_> {
        Members::new(&self.header, &self.slots)
    }

    /// `Shared::create` for the current process: the creator's one handle in slot 0.
    fn init_creator(&self) {
        self.members().init_creator(Model::current_process());
        self.handles[0].store(1, Ordering::Relaxed);
    }

    /// What a finished `attach` of process `holder` leaves in `slot` (setup, not a
    /// step: written directly, so that no reclaim runs).
    fn seat(&self, slot: usize, holder: u64) {
        self.slots[slot].holder.store(holder, Ordering::Relaxed);
        self.slots[slot].count.store(1, Ordering::Relaxed);
        self.handles[slot].store(1, Ordering::Relaxed);
        self.header.members.fetch_or(1 << slot, Ordering::Relaxed);
        self.header.slots_used.fetch_max(slot as u32 + 1, Ordering::Relaxed);
    }

    /// `SharedHandle::first` (mapping.rs): the new attachment in `slot` has one handle.
    fn first_handle(&self, slot: u32) -> u32 {
        self.handles[slot as usize].store(1, Ordering::Relaxed);
        slot
    }

    /// `Clone for SharedHandle` (mapping.rs) in the attachment of `slot`.
    fn clone_handle(&self, slot: u32) {
        let members = self.members();
        let cloned = handles::acquire(&self.handles[slot as usize], |count| members.publish_count(slot, count));
        assert!(cloned.is_ok(), "a clone of a live handle counts");
    }

    /// The first half of `Drop for SharedHandle`: `true` if it was the attachment's
    /// last handle (the caller then leaves).
    fn release_handle(&self, slot: u32) -> bool {
        let members = self.members();
        handles::release_all(&self.handles[slot as usize], false, |left| members.publish_count(slot, left))
            == handles::Released::Last
    }

    /// A holder reads the value: it must not be dropped yet.
    #[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
    fn use_value(&self) {
        self.value.with(|value| {
            // SAFETY: the cell lives as long as `self`; loom checks that this read is
            // ordered with every write to it and fails the model otherwise.
            let value = unsafe { *value };
            assert_eq!(value, VALUE, "the value was used after it was dropped");
        });
    }

    /// The destroyer drops the value: exactly once.
    #[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
    fn drop_value(&self) {
        self.value.with_mut(|value| {
            // SAFETY: as in `use_value`; loom fails the model if any other access to
            // the cell is not ordered with this write.
            let value = unsafe { &mut *value };
            assert_eq!(*value, VALUE, "the value was dropped twice");
            *value = DROPPED;
        });
    }

    /// The value, once every other thread is joined (or in the thread that owns it).
    #[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
    fn value(&self) -> u64 {
        // SAFETY: as in `use_value`.
        self.value.with(|value| unsafe { *value })
    }

    /// `destroy` (mapping.rs) for the holder of `right`, if any: `begin_drop`, the
    /// drop if that says so, (the unlink), `mark_destroyed`, then the right drops
    /// and frees its slot. `true` if there was a right.
    fn destroy(&self, right: Option<DestroyRight<'_>>) -> bool {
        let Some(right) = right else { return false };
        if right.begin_drop() {
            self.drop_value();
        }
        right.mark_destroyed();
        true
    }

    /// `SharedHandle::attach` (mapping.rs) for the current process: join, or, if
    /// refused, destroy with the right the refusal carries. `Ok(slot)`, or
    /// `Err(became_destroyer)` when the object is gone.
    fn open(&self) -> Result<u32, bool> {
        match self.members().join::<Model>(Model::current_process()) {
            Ok(slot) => Ok(self.first_handle(slot)),
            Err(refused) => {
                assert_eq!(refused.error.kind(), ErrorKind::NotFound);
                Err(self.destroy(refused.right))
            }
        }
    }

    /// `Drop for SharedHandle` (mapping.rs) of one handle of the attachment in
    /// `slot`; `true` if this made the current process the destroyer.
    fn drop_handle(&self, slot: u32) -> bool {
        self.release_handle(slot) && self.leave(slot)
    }

    /// The rest of `Drop for SharedHandle` once `release` reported the attachment's
    /// last handle: leave, and destroy with the right if that emptied the set; `true`
    /// if this made the current process the destroyer.
    fn leave(&self, slot: u32) -> bool {
        self.destroy(self.members().leave::<Model>(slot, Model::current_process()))
    }

    /// `SharedHandle::try_unwrap` (mapping.rs) of the attachment in `slot`, whose
    /// one handle the current process holds: leave only if no other member remains,
    /// then move the value out (read it, as a drop would be: loom fails the model if
    /// a holder's use is not ordered before it) and run the destroy steps with no
    /// drop. `true` if it took the value; `false` leaves the handle as it was.
    fn try_unwrap(&self, slot: u32) -> bool {
        assert_eq!(self.handles[slot as usize].load(Ordering::Relaxed), 1, "try_unwrap needs the only handle");
        let super::members::Sole::Left(right) = self.members().leave_if_sole::<Model>(slot, Model::current_process())
        else {
            return false;
        };
        let right = right.expect("no peer forges the destroyer word here");
        self.handles[slot as usize].store(0, Ordering::Relaxed);
        // `Mapping::take`: the copy out ends the value here (the mark catches any
        // later use), then `destroy` without a drop: no `begin_drop`.
        self.drop_value();
        right.mark_destroyed();
        true
    }

    /// `SharedHandle::reclaim` (mapping.rs) for the current process: (holders
    /// reclaimed, became destroyer).
    fn reclaim(&self) -> (u32, bool) {
        let (holders, right) = self.members().reclaim::<Model>(Model::current_process());
        (holders, self.destroy(right))
    }

    /// Asserts that `slot` is still the current process's member attachment.
    fn assert_mine(&self, slot: u32) {
        let me = Model::current_process().word();
        let s = &self.slots[slot as usize];
        assert_eq!(s.holder.load(Ordering::Relaxed), me, "a live holder's slot was taken");
        assert!(s.count.load(Ordering::Relaxed) >= 1, "a live holder's count was cleared");
        assert_ne!(self.members().live(Ordering::Relaxed) & (1 << slot), 0, "a live holder lost its member bit");
    }

    /// Asserts the end state of an object that was destroyed.
    fn assert_gone(&self) {
        let members = self.members();
        assert_eq!(members.live(Ordering::Acquire), 0, "the member set did not end empty");
        assert_eq!(members.strong_count::<Model>(None), 0);
        assert!(lifecycle::destroying(&self.header), "nobody won the destroyer word");
        assert_eq!(self.value(), DROPPED, "the value was never dropped");
        assert_eq!(self.header.state.load(Ordering::Acquire), State::Destroyed as u32, "not marked destroyed");
        for (i, slot) in self.slots.iter().enumerate() {
            assert_eq!(slot.holder.load(Ordering::Acquire), 0, "slot {i} was left held");
            // Its count is a copy for other processes that concurrent clones and
            // drops may leave stale (see `handles`); nothing reads it while free.
        }
    }
}

/// Runs `f` under loom with the main thread going first, then last (see
/// [`loom_support::model`]).
fn model(expected: &'static [&'static str], f: impl Fn(bool) -> String + Sync + Send + 'static) {
    loom_support::model(&[false, true], expected, f);
}

/// Spawns a loom thread that plays process `pid` and runs `f` on `seg`.
fn spawn_as<R: Send + 'static>(
    pid: u64,
    seg: &Arc<Segment>,
    f: impl FnOnce(&Segment) -> R + Send + 'static,
) -> loom::thread::JoinHandle<R> {
    loom_support::spawn_as(pid, 0, seg, f)
}
