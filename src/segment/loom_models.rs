//! loom models of the member-bitmap and owner-word protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmptr --lib --release`. Under
//! `--cfg loom`, [`crate::primitive`] hands the protocol code loom's atomics, so these
//! models drive the real [`Members`] and [`owner`] functions, not copies of them.
//! Processes are loom threads: a loom thread-local holds each one's process id. The
//! object's value `T` is a loom `UnsafeCell`: every holder reads it while it holds a
//! handle and the destroyer overwrites it with a "dropped" mark, so loom fails a
//! model if a use is not ordered before the drop (a use-after-free, or orderings
//! weaker than `Arc`'s) and the mark itself catches a use after the drop or a second
//! drop.
//!
//! Each model runs twice (see [`model`]) and labels every run's outcome; a model
//! fails on an outcome it does not list, and, with a preemption bound of 3 or more,
//! when a listed outcome was never explored, so none passes vacuously.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`last_detach_races_attach`]: a second process opens (reclaim, then attach),
//!   clones and drops twice while the creator drops its only handle. Exactly one of
//!   them becomes the destroyer (`detach` returns `true` and `claim_destroyer`
//!   succeeds); a failed attach never takes over from the live creator; a successful
//!   attach never follows the member set reaching zero (no destroyer yet, value
//!   intact); the set ends empty with every slot free.
//! - [`attach_publishes_slot`]: whoever sees a new member bit also sees that slot's
//!   owner and handle count (`strong_count`, `process_count`).
//! - [`same_attachment_two_threads`]: two threads of one process share one
//!   attachment, each cloning and dropping; exactly one `release` reports the last
//!   handle, its thread is the only destroyer, and the other thread's uses happen
//!   before the drop (the Release decrement + Acquire fence).
//! - [`reclaim_races_detach`]: a dead holder, two live holders dropping their
//!   handles and a third process running `Shared::reclaim`: the dead holder is
//!   marked and counted exactly once (by the reclaimer or inside a `detach`), no live
//!   slot is touched, there is exactly one destroyer, and every slot ends free.
//! - [`last_live_holder_reclaims_dead`]: with no reclaimer, the live holder that
//!   leaves last reclaims the dead one and destroys at once.
//! - [`reclaim_keeps_live_holder`]: reclaim racing a detach while another live
//!   holder stays: the dead holder is reclaimed once, nobody destroys, and the
//!   staying holder's slot, count and member bit are intact.
//! - [`reclaim_empties_races_open`]: the only holder died; two processes open the
//!   object. The dead holder is reclaimed once, and either the reclaimer empties the
//!   set and destroys, or the other opener attached first and the last to leave
//!   destroys: exactly one destroyer, never a use after the drop.
//! - [`dead_partial_steps_finished`]: a dead process stopped after reserving a slot,
//!   after marking a member for reclaim, and after clearing that member's bit; a live
//!   holder's drop races a reclaimer: each dead slot is reclaimed exactly once, only
//!   the member is counted, and exactly one process destroys.
//! - [`dead_emptier_taken_over`]: the process that emptied the set died (before, or
//!   just after, winning the destroyer word); two processes opening the object both
//!   get `NotFound` and exactly one of them takes over as destroyer.
//! - [`unique_mutual_exclusion`]: the owner releases a `Unique` while two processes
//!   try to claim it (and release it again): never two owners at once, each owner
//!   sees the previous owner's writes, and the word ends released.
//! - [`unique_single_claim`]: two processes claim a `Unique` that is released, whose
//!   owner is dead, or whose live owner releases it concurrently, and keep it: at most
//!   one claim succeeds, and exactly one when the object was free or its owner dead.
//!
//! In every flow, a live process that empties the member set must itself win the
//! destroyer word.
//!
//! Not covered: loom orders the stores to one atomic by the order they execute, so
//! the Release of `Members::free` (slot reuse) is beyond it; and since every dead
//! process here died before the model starts, the Acquire of the reclaim mark and of
//! a destroyer take-over (ordering after a dead process's last writes) is not
//! exercised: on a real platform, detecting a death synchronizes with it anyway.
//! Weakening the `slots_used` mark's orderings to Relaxed changes no outcome here:
//! a scan that must see a slot is already ordered after its reservation by the
//! member word.

use core::cell::Cell;
use core::time::Duration;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::header::Fixed;
use super::members::RECLAIMING;
use super::owner;
use super::{Header, Members, Slot};
use crate::backend::{CrashPoint, Liveness, Platform, ProcessId};
use crate::error::ErrorKind;
use crate::handles;
use crate::loom_support::{self, main_turn, which, DEAD};
use crate::name::NAME_MAX;
use crate::primitive::{AtomicU32, AtomicWord, Ordering};

/// The value while the object is alive.
const VALUE: u64 = 42;
/// The value after the destroyer "dropped" it.
const DROPPED: u64 = u64::MAX;

loom::thread_local! {
    /// How many slots this loom thread has marked for reclaim.
    static MARKS: Cell<u32> = Cell::new(0);
}

/// How many reclaim marks the current loom thread has made.
fn marks() -> u32 {
    MARKS.with(Cell::get)
}

/// The process id `raw`.
fn pid(raw: u64) -> ProcessId {
    ProcessId::new(raw).expect("a valid process id")
}

/// The models' platform: processes are loom threads, [`DEAD`] is dead.
struct Model;

// SAFETY: each loom thread plays one fixed process (`loom_support::play`), and
// only the model's dead process is reported dead.
unsafe impl Platform for Model {
    fn current_process() -> ProcessId {
        loom_support::current_process()
    }

    fn liveness(process: ProcessId) -> Liveness {
        loom_support::liveness(process)
    }

    fn wait(_word: &AtomicU32, _expected: u32, _timeout: Option<Duration>) {
        thread::yield_now();
    }

    fn wake(_word: &AtomicU32, _count: u32) {}

    fn now_nanos() -> u64 {
        0
    }

    fn crash_point(point: CrashPoint) {
        if point == CrashPoint::ReclaimMarked {
            MARKS.with(|m| m.set(m.get() + 1));
        }
    }
}

/// A segment as the models see it: header, slot table and the value `T`.
struct Segment {
    header: Header,
    slots: Vec<Slot>,
    /// Each attachment's handle count, which a real process keeps in private
    /// memory (`Region::handles`), one per slot.
    handles: Vec<AtomicUsize>,
    value: UnsafeCell<u64>,
}

// SAFETY: the only non-`Sync` fields are the header's `fixed` and `checksum` cells,
// which the models never touch, and the value cell, whose every access goes through
// loom, which fails the model on any access that conflicts with another unordered one.
unsafe impl Sync for Segment {}

impl Segment {
    /// A fresh segment with `slots` slots, nobody attached, and the value written.
    fn new(slots: usize) -> Arc<Segment> {
        let fixed = Fixed {
            kind: 0,
            slot_count: slots as u32,
            total_len: 0,
            value_offset: 0,
            value_size: 0,
            value_align: 0,
            fingerprint: 0,
            name_len: 0,
            reserved: 0,
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
        let slots = (0..slots).map(|_| Slot { owner: AtomicWord::new(0), count: AtomicWord::new(0) }).collect();
        Arc::new(Segment { header, slots, handles, value: UnsafeCell::new(VALUE) })
    }

    fn members(&self) -> Members<'_> {
        Members::new(&self.header, &self.slots)
    }

    /// `Shared::create` for process `p`: the creator's one handle in slot 0.
    fn init_creator(&self, p: ProcessId) {
        self.members().init_creator(p);
        self.handles[0].store(1, Ordering::Relaxed);
    }

    /// `Shared::first_handle` (shared.rs): the new attachment in `slot` has one handle.
    fn first_handle(&self, slot: u32) -> u32 {
        self.handles[slot as usize].store(1, Ordering::Relaxed);
        slot
    }

    /// `Clone for Shared` (shared.rs) in the attachment of `slot`.
    fn clone_handle(&self, slot: u32) {
        let members = self.members();
        handles::acquire(&self.handles[slot as usize], |count| members.publish_count(slot, count));
    }

    /// The first half of `Drop for Shared`: `true` if it was the attachment's last
    /// handle (the caller then leaves).
    fn release_handle(&self, slot: u32) -> bool {
        let members = self.members();
        handles::release(&self.handles[slot as usize], |left| members.publish_count(slot, left)) == 0
    }

    /// A holder reads the value: it must not be dropped yet.
    fn use_value(&self) {
        self.value.with(|value| {
            // SAFETY: the cell lives as long as `self`; loom checks that this read is
            // ordered with every write to it and fails the model otherwise.
            let value = unsafe { *value };
            assert_eq!(value, VALUE, "the value was used after it was dropped");
        });
    }

    /// The destroyer drops the value: exactly once.
    fn drop_value(&self) {
        self.value.with_mut(|value| {
            // SAFETY: as in `use_value`; loom fails the model if any other access to
            // the cell is not ordered with this write.
            let value = unsafe { &mut *value };
            assert_eq!(*value, VALUE, "the value was dropped twice");
            *value = DROPPED;
        });
    }

    fn dropped(&self) -> bool {
        // SAFETY: as in `use_value`.
        self.value.with(|value| unsafe { *value }) == DROPPED
    }

    /// `Shared::attach` (shared.rs) for the current process: reclaim dead holders,
    /// then attach. `Ok(slot)`, or `Err(became_destroyer)` when the object is gone.
    ///
    /// Here and in the other flows, a live process that empties the member set must
    /// win the destroyer word: nobody may take over from a live emptier.
    fn open(&self) -> Result<u32, bool> {
        let me = Model::current_process();
        let members = self.members();
        let reclaimed = members.reclaim_dead::<Model>(me);
        match reclaimed.emptied_through {
            Some(index) => {
                let won = members.claim_destroyer::<Model>(me, true);
                assert!(won, "the process that emptied the set did not become the destroyer");
                self.drop_value();
                members.free(index);
                Err(won)
            }
            None => members.attach::<Model>(me).map(|slot| self.first_handle(slot)).map_err(|e| {
                assert_eq!(e.kind(), ErrorKind::NotFound);
                let won = members.claim_destroyer::<Model>(me, false);
                if won {
                    self.drop_value();
                }
                won
            }),
        }
    }

    /// `Drop for Shared` (shared.rs) of one handle of the attachment in `slot`;
    /// `true` if this made the current process the destroyer.
    fn drop_handle(&self, slot: u32) -> bool {
        self.release_handle(slot) && self.leave(slot)
    }

    /// The rest of `Drop for Shared` once `release` reported the attachment's last
    /// handle: detach, and destroy if that emptied the set; `true` if this made the
    /// current process the destroyer.
    fn leave(&self, slot: u32) -> bool {
        let me = Model::current_process();
        let members = self.members();
        let mut won = false;
        if members.detach::<Model>(slot, me) {
            won = members.claim_destroyer::<Model>(me, true);
            assert!(won, "the process that emptied the set did not become the destroyer");
            self.drop_value();
            members.free(slot);
        }
        won
    }

    /// `Shared::reclaim` (shared.rs) for the current process: (holders reclaimed,
    /// became destroyer).
    fn reclaim(&self) -> (u32, bool) {
        let me = Model::current_process();
        let members = self.members();
        let reclaimed = members.reclaim_dead::<Model>(me);
        let emptied = reclaimed.emptied_through.is_some();
        let won = members.claim_destroyer::<Model>(me, emptied);
        assert!(won || !emptied, "the process that emptied the set did not become the destroyer");
        if won {
            self.drop_value();
        }
        if let Some(index) = reclaimed.emptied_through {
            members.free(index);
        }
        (reclaimed.holders, won)
    }

    /// Asserts that `slot` is still the current process's member attachment.
    fn assert_mine(&self, slot: u32) {
        let me = Model::current_process().word();
        let s = &self.slots[slot as usize];
        assert_eq!(s.owner.load(Ordering::Relaxed), me, "a live holder's slot was taken");
        assert!(s.count.load(Ordering::Relaxed) >= 1, "a live holder's count was cleared");
        assert_ne!(self.members().live(Ordering::Relaxed) & (1 << slot), 0, "a live holder lost its member bit");
    }

    /// Asserts the end state of an object that was destroyed.
    fn assert_gone(&self) {
        let members = self.members();
        assert_eq!(members.live(Ordering::Acquire), 0, "the member set did not end empty");
        assert_eq!(members.strong_count::<Model>(None), 0);
        assert!(members.destroying(), "nobody won the destroyer word");
        assert!(self.dropped(), "the value was never dropped");
        for (i, slot) in self.slots.iter().enumerate() {
            assert_eq!(slot.owner.load(Ordering::Acquire), 0, "slot {i} was left owned");
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
) -> thread::JoinHandle<R> {
    let seg = seg.clone();
    thread::spawn(move || {
        loom_support::play(pid);
        f(&seg)
    })
}

#[test]
fn last_detach_races_attach() {
    const OUTCOMES: &[&str] =
        &["opener attached, destroyer P1", "opener attached, destroyer P2", "opener NotFound, destroyer P1"];
    model(OUTCOMES, |main_last| {
        let seg = Segment::new(2);
        loom_support::play(1);
        seg.init_creator(pid(1));
        assert_eq!(seg.members().strong_count::<Model>(None), 1);

        let opener = spawn_as(2, &seg, |seg| match seg.open() {
            Ok(slot) => {
                let members = seg.members();
                assert!(!members.destroying(), "attached after the set reached zero");
                seg.use_value();
                seg.clone_handle(slot);
                assert!(members.strong_count::<Model>(None) >= 2);
                seg.use_value();
                assert!(!seg.drop_handle(slot), "a clone's drop destroyed");
                seg.use_value();
                (true, seg.drop_handle(slot))
            }
            Err(won) => (false, won),
        });

        main_turn(main_last);
        seg.use_value();
        let creator_won = seg.drop_handle(0);
        let (attached, opener_won) = opener.join().unwrap();
        assert_eq!(creator_won as u32 + opener_won as u32, 1, "not exactly one destroyer");
        seg.assert_gone();
        let attached = if attached { "attached" } else { "NotFound" };
        format!("opener {attached}, destroyer {}", which(&[(1, creator_won), (2, opener_won)]))
    });
}

#[test]
fn attach_publishes_slot() {
    model(&["attach seen", "attach not seen"], |main_last| {
        let seg = Segment::new(2);
        loom_support::play(1);
        seg.init_creator(pid(1));

        // The observer is the spawned thread: a load it has yet to make stays
        // visible to loom's DPOR, and no yield precedes it (loom never shows a
        // thread a value it saw before yielding, so it could not read a stale count).
        let observer = spawn_as(1, &seg, |seg| {
            let members = seg.members();
            let seen = members.live(Ordering::Acquire) == 0b11;
            if seen {
                // Seeing the new member bit means seeing its slot's owner and count.
                assert_eq!(members.strong_count::<Model>(None), 2, "a member's handle count was not published");
                assert_eq!(members.process_count::<Model>(), 2, "a member's owner was not published");
            } else {
                // The attach may land between that load and this one.
                assert!(members.strong_count::<Model>(None) >= 1);
            }
            seen
        });

        main_turn(main_last);
        loom_support::play(2);
        assert_eq!(seg.open(), Ok(1), "the creator still holds the object");
        let seen = observer.join().unwrap();
        assert_eq!(seg.members().live(Ordering::Acquire), 0b11);
        if seen { "attach seen" } else { "attach not seen" }.to_string()
    });
}

#[test]
fn same_attachment_two_threads() {
    model(&["last release on main", "last release on spawned"], |main_last| {
        let seg = Segment::new(1);
        loom_support::play(1);
        seg.init_creator(pid(1));
        // The creator's handle and a clone of it, one for each thread.
        seg.clone_handle(0);

        // Clone the thread's handle, drop the clone, drop the handle.
        let work = |seg: &Segment| {
            seg.use_value();
            seg.clone_handle(0);
            seg.use_value();
            assert!(!seg.release_handle(0), "the last handle was released while this thread holds one");
            seg.use_value();
            if !seg.release_handle(0) {
                return (false, false);
            }
            (true, seg.leave(0))
        };

        let other = spawn_as(1, &seg, work);
        main_turn(main_last);
        let (last_here, won_here) = work(&seg);
        let (last_there, won_there) = other.join().unwrap();
        assert_eq!(last_here as u32 + last_there as u32, 1, "not exactly one last release");
        assert_eq!((last_here, last_there), (won_here, won_there), "the last release did not destroy");
        seg.assert_gone();
        if last_here { "last release on main" } else { "last release on spawned" }.to_string()
    });
}

/// A dead holder in slot 1 beside live holders 1 (slot 0) and 2 (slot 2), each
/// attached with the real `attach`.
fn with_dead_holder() -> Arc<Segment> {
    let seg = Segment::new(3);
    loom_support::play(1);
    seg.init_creator(pid(1));
    let members = seg.members();
    assert_eq!(members.attach::<Model>(pid(DEAD)).map(|slot| seg.first_handle(slot)), Ok(1));
    assert_eq!(members.attach::<Model>(pid(2)).map(|slot| seg.first_handle(slot)), Ok(2));
    seg
}

/// A live holder's drop of its only handle: (became destroyer, reclaim marks made).
fn holder_drops(seg: &Segment, slot: u32) -> (bool, u32) {
    seg.use_value();
    seg.assert_mine(slot);
    let won = seg.drop_handle(slot);
    (won, marks())
}

/// `Shared::reclaim` by the current process: (became destroyer, reclaim marks made).
fn reclaimer(seg: &Segment) -> (bool, u32) {
    let (holders, won) = seg.reclaim();
    assert_eq!(holders, marks(), "a reclaimed slot was not counted, or counted twice");
    (won, marks())
}

#[test]
fn reclaim_races_detach() {
    const OUTCOMES: &[&str] = &[
        "reclaimed by P1, destroyer P1",
        "reclaimed by P1, destroyer P2",
        "reclaimed by P2, destroyer P1",
        "reclaimed by P2, destroyer P2",
        "reclaimed by P3, destroyer P1",
        "reclaimed by P3, destroyer P2",
        "reclaimed by P3, destroyer P3",
    ];
    model(OUTCOMES, |main_last| {
        let seg = with_dead_holder();
        let holder = spawn_as(2, &seg, |seg| holder_drops(seg, 2));
        let reclaimer = spawn_as(3, &seg, reclaimer);
        main_turn(main_last);
        let (won1, marks1) = holder_drops(&seg, 0);
        let (won2, marks2) = holder.join().unwrap();
        let (won3, marks3) = reclaimer.join().unwrap();
        assert_eq!(marks1 + marks2 + marks3, 1, "the dead holder was not reclaimed exactly once");
        assert_eq!(won1 as u32 + won2 as u32 + won3 as u32, 1, "not exactly one destroyer");
        seg.assert_gone();
        let reclaimed = which(&[(1, marks1 > 0), (2, marks2 > 0), (3, marks3 > 0)]);
        format!("reclaimed by {reclaimed}, destroyer {}", which(&[(1, won1), (2, won2), (3, won3)]))
    });
}

#[test]
fn last_live_holder_reclaims_dead() {
    const OUTCOMES: &[&str] = &[
        "reclaimed by P1, destroyer P1",
        "reclaimed by P1, destroyer P2",
        "reclaimed by P2, destroyer P1",
        "reclaimed by P2, destroyer P2",
    ];
    model(OUTCOMES, |main_last| {
        let seg = with_dead_holder();
        let holder = spawn_as(2, &seg, |seg| holder_drops(seg, 2));
        main_turn(main_last);
        let (won1, marks1) = holder_drops(&seg, 0);
        let (won2, marks2) = holder.join().unwrap();
        assert_eq!(marks1 + marks2, 1, "the dead holder was not reclaimed exactly once");
        assert_eq!(won1 as u32 + won2 as u32, 1, "the last live holder did not destroy at once");
        seg.assert_gone();
        let reclaimed = which(&[(1, marks1 > 0), (2, marks2 > 0)]);
        format!("reclaimed by {reclaimed}, destroyer {}", which(&[(1, won1), (2, won2)]))
    });
}

#[test]
fn reclaim_keeps_live_holder() {
    model(&["reclaimed by P1", "reclaimed by P3"], |main_last| {
        let seg = with_dead_holder();
        let reclaimer = spawn_as(3, &seg, reclaimer);
        main_turn(main_last);
        let (won1, marks1) = holder_drops(&seg, 0);
        let (won3, marks3) = reclaimer.join().unwrap();
        assert_eq!(marks1 + marks3, 1, "the dead holder was not reclaimed exactly once");
        assert!(!won1 && !won3, "destroyed while a live holder remains");

        // Process 2 still holds slot 2, alone.
        loom_support::play(2);
        seg.assert_mine(2);
        seg.use_value();
        let members = seg.members();
        assert_eq!(members.live(Ordering::Acquire), 1 << 2);
        assert_eq!(members.strong_count::<Model>(None), 1);
        assert!(!members.destroying());
        for i in [0, 1] {
            assert_eq!(seg.slots[i].owner.load(Ordering::Acquire), 0, "slot {i} was not freed");
        }
        format!("reclaimed by {}", which(&[(1, marks1 > 0), (3, marks3 > 0)]))
    });
}

#[test]
fn reclaim_empties_races_open() {
    // The reclaimer empties the set unless the other opener attached first; then
    // whoever leaves last destroys.
    const OUTCOMES: &[&str] = &[
        "reclaimed by P2, attached -, destroyer P2",
        "reclaimed by P2, attached P3, destroyer P2",
        "reclaimed by P2, attached P3, destroyer P3",
        "reclaimed by P2, attached P2+P3, destroyer P2",
        "reclaimed by P2, attached P2+P3, destroyer P3",
        "reclaimed by P3, attached -, destroyer P3",
        "reclaimed by P3, attached P2, destroyer P2",
        "reclaimed by P3, attached P2, destroyer P3",
        "reclaimed by P3, attached P2+P3, destroyer P2",
        "reclaimed by P3, attached P2+P3, destroyer P3",
    ];
    model(OUTCOMES, |main_last| {
        // The only holder died holding its handle.
        let seg = Segment::new(2);
        seg.init_creator(pid(DEAD));

        // Open, and drop the handle if that attached: an opener may attach while
        // the other is still reclaiming the dead holder (the set never emptied).
        let open_and_drop = |seg: &Segment| {
            let (attached, won) = match seg.open() {
                Ok(slot) => {
                    seg.use_value();
                    (true, seg.drop_handle(slot))
                }
                Err(won) => (false, won),
            };
            (attached, won, marks())
        };
        let other = spawn_as(3, &seg, open_and_drop);
        main_turn(main_last);
        loom_support::play(2);
        let (attached2, won2, marks2) = open_and_drop(&seg);
        let (attached3, won3, marks3) = other.join().unwrap();
        assert_eq!(marks2 + marks3, 1, "the dead holder was not reclaimed exactly once");
        assert_eq!(won2 as u32 + won3 as u32, 1, "not exactly one destroyer");
        seg.assert_gone();
        format!(
            "reclaimed by {}, attached {}, destroyer {}",
            which(&[(2, marks2 > 0), (3, marks3 > 0)]),
            which(&[(2, attached2), (3, attached3)]),
            which(&[(2, won2), (3, won3)])
        )
    });
}

#[test]
fn dead_partial_steps_finished() {
    const OUTCOMES: &[&str] =
        &["counted by P1, destroyer P1", "counted by P3, destroyer P1", "counted by P3, destroyer P3"];
    model(OUTCOMES, |main_last| {
        // The dead process stopped at three crash points: slot 1 reserved, not yet a
        // member (`AttachReserved`); slot 2 a member it had marked to reclaim
        // (`ReclaimMarked`); slot 3 marked and already out of the set (`ReclaimLeft`).
        let seg = Segment::new(4);
        loom_support::play(1);
        seg.init_creator(pid(1));
        let dead_reclaimer = RECLAIMING | pid(DEAD).word();
        for (slot, owner) in [(1, pid(DEAD).word()), (2, dead_reclaimer), (3, dead_reclaimer)] {
            seg.slots[slot].owner.store(owner, Ordering::Relaxed);
            seg.slots[slot].count.store(1, Ordering::Relaxed);
        }
        seg.header.members.store(0b101, Ordering::Relaxed);
        seg.header.slots_used.store(4, Ordering::Relaxed);

        let reclaimer = spawn_as(3, &seg, |seg| {
            let (holders, won) = seg.reclaim();
            assert!(holders <= 1, "a slot that was not a member was counted");
            if marks() == 3 {
                assert_eq!(holders, 1, "the dead member was not counted");
            }
            (won, marks(), holders == 1)
        });
        main_turn(main_last);
        let (won1, marks1) = holder_drops(&seg, 0);
        let (won3, marks3, counted3) = reclaimer.join().unwrap();
        assert_eq!(marks1 + marks3, 3, "a dead slot was not reclaimed exactly once");
        assert_eq!(won1 as u32 + won3 as u32, 1, "not exactly one destroyer");
        seg.assert_gone();
        let counted = if counted3 { "P3" } else { "P1" };
        format!("counted by {counted}, destroyer {}", which(&[(1, won1), (3, won3)]))
    });
}

#[test]
fn dead_emptier_taken_over() {
    for claimed in [false, true] {
        model(&["destroyer P2", "destroyer P3"], move |main_last| {
            let seg = Segment::new(2);
            let members = seg.members();
            // The dead process created the object, dropped its last handle (emptying
            // the set) and died, before claiming the destroyer word or just after.
            seg.init_creator(pid(DEAD));
            assert!(seg.release_handle(0));
            assert!(members.detach::<Model>(0, pid(DEAD)));
            if claimed {
                assert!(members.claim_destroyer::<Model>(pid(DEAD), true));
            }

            let other = spawn_as(3, &seg, Segment::open);
            main_turn(main_last);
            loom_support::play(2);
            let here = seg.open();
            let there = other.join().unwrap();
            let (Err(won2), Err(won3)) = (here, there) else {
                panic!("attached to an object whose member set was empty");
            };
            assert_eq!(won2 as u32 + won3 as u32, 1, "not exactly one destroyer took over");
            seg.assert_gone();
            format!("destroyer {}", which(&[(2, won2), (3, won3)]))
        });
    }
}

/// The owner loop of one claimer in [`unique_mutual_exclusion`]: up to two claims;
/// how many succeeded (0 or 1).
fn claim_use_release(seg: &Segment, owners: &AtomicUsize) -> u32 {
    let me = Model::current_process();
    for _ in 0..2 {
        match owner::claim::<Model>(&seg.header.owner, me) {
            Ok(()) => {
                // Relaxed: an RMW sees every earlier one, so two owners at once show
                // here without the counter itself ordering anything.
                assert_eq!(owners.fetch_add(1, Ordering::Relaxed), 0, "two owners at once");
                seg.value.with_mut(|value| {
                    // SAFETY: the cell lives as long as `seg`; loom fails the model if
                    // the previous owner's write is not ordered before this one.
                    unsafe { *value += 1 }
                });
                owners.fetch_sub(1, Ordering::Relaxed);
                owner::release(&seg.header.owner, me);
                return 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Busy);
                thread::yield_now();
            }
        }
    }
    0
}

#[test]
fn unique_mutual_exclusion() {
    model(&["claims P2", "claims P3", "claims P2+P3", "claims -"], |main_last| {
        let seg = Segment::new(0);
        let owners = Arc::new(AtomicUsize::new(0));
        seg.header.owner.store(1, Ordering::Relaxed);

        let claimers: Vec<_> = [2, 3]
            .into_iter()
            .map(|p| {
                let owners = owners.clone();
                spawn_as(p, &seg, move |seg| claim_use_release(seg, &owners))
            })
            .collect();

        main_turn(main_last);
        loom_support::play(1);
        seg.value.with_mut(|value| {
            // SAFETY: as in `claim_use_release`; process 1 owns the object here.
            unsafe { *value += 1 }
        });
        owner::release(&seg.header.owner, pid(1));
        let claims: Vec<u32> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(seg.header.owner.load(Ordering::Acquire), 0, "the object was not left released");
        let total: u32 = claims.iter().sum();
        // SAFETY: every other thread has been joined.
        assert_eq!(seg.value.with(|value| unsafe { *value }), VALUE + 1 + u64::from(total));
        format!("claims {}", which(&[(2, claims[0] == 1), (3, claims[1] == 1)]))
    });
}

#[test]
fn unique_single_claim() {
    // The owner word at the start, whether process 1 releases it concurrently, and
    // the possible winners.
    let cases: [(u64, bool, &'static [&'static str]); 3] = [
        (0, false, &["winner P2", "winner P3"]),
        (DEAD, false, &["winner P2", "winner P3"]),
        (1, true, &["winner P2", "winner P3", "winner -"]),
    ];
    for (start, concurrent_release, outcomes) in cases {
        model(outcomes, move |main_last| {
            let seg = Segment::new(0);
            seg.header.owner.store(start, Ordering::Relaxed);
            let claimers: Vec<_> = [2, 3]
                .into_iter()
                .map(|p| {
                    spawn_as(p, &seg, move |seg| match owner::claim::<Model>(&seg.header.owner, pid(p)) {
                        Ok(()) => true,
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Busy);
                            false
                        }
                    })
                })
                .collect();
            if concurrent_release {
                main_turn(main_last);
                loom_support::play(1);
                owner::release(&seg.header.owner, pid(1));
            }
            let won: Vec<bool> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
            assert!(!(won[0] && won[1]), "two claims succeeded");
            if !concurrent_release {
                assert!(won[0] || won[1], "a free or dead-owned object was not claimed");
            }
            let winner = which(&[(2, won[0]), (3, won[1])]);
            let expected = if won[0] {
                2
            } else if won[1] {
                3
            } else {
                0
            };
            assert_eq!(seg.header.owner.load(Ordering::Acquire), expected);
            format!("winner {winner}")
        });
    }
}
