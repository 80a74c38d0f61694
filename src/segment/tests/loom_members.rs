//! loom models of the member set of a `Shared`: attach
//! ([`Members::join`](crate::segment::Members::join)), detach
//! ([`Members::leave`](crate::segment::Members::leave)), reclaim
//! ([`Members::reclaim`](crate::segment::Members::reclaim)) and the destroy that the
//! [`DestroyRight`](crate::segment::lifecycle::DestroyRight) they hand out allows.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`last_detach_races_attach`]: a second process opens (`join`), clones and
//!   drops twice while the creator drops its only handle (`leave`). Exactly one of
//!   them gets the right to destroy; a refused join never takes over from the live
//!   creator; a successful join never follows the member set reaching zero (no
//!   destroyer yet, value intact); the set ends empty with every slot free.
//! - [`attach_publishes_slot`]: whoever sees a new member bit also sees that slot's
//!   holder and handle count (`strong_count`, `process_count`).
//! - [`same_attachment_two_threads`]: two threads of one process share one
//!   attachment, each cloning and dropping; exactly one `handles::release` reports
//!   the last handle, its thread is the only destroyer, and the other thread's uses
//!   happen before the drop (the Release decrement + Acquire fence).
//! - [`reclaim_races_detach`]: a dead holder, two live holders dropping their
//!   handles and a third process running `Shared::reclaim`: the dead holder is
//!   marked and counted exactly once (by the reclaimer or inside a `leave`), no live
//!   slot is touched, there is exactly one destroyer, and every slot ends free.
//! - [`last_live_holder_reclaims_dead`]: with no reclaimer, the live holder that
//!   leaves last reclaims the dead one and destroys at once.
//! - [`reclaim_keeps_live_holder`]: reclaim racing a leave while another live
//!   holder stays: the dead holder is reclaimed once, nobody destroys, and the
//!   staying holder's slot, count and member bit are intact.
//! - [`reclaim_empties_races_open`]: the only holder died; two processes open the
//!   object. The dead holder is reclaimed once, and either a `join` empties the set
//!   and destroys (refused with the right), or the other opener attached first and
//!   the last to leave destroys: exactly one destroyer, never a use after the drop.
//! - [`dead_partial_steps_finished`]: a dead process stopped after reserving a slot,
//!   after marking a member for reclaim, and after clearing that member's bit; a live
//!   holder's drop races a reclaimer: each dead slot is reclaimed exactly once, only
//!   the member is counted, and exactly one process destroys.
//! - [`dead_emptier_taken_over`]: the process that emptied the set died (before, or
//!   just after, winning the destroyer word); two processes opening the object both
//!   get `NotFound` and exactly one of them takes over as destroyer, dropping the
//!   value the dead one never began to drop.
//! - [`try_unwrap_races_open`]: the only holder calls `Shared::try_unwrap`
//!   ([`Members::leave_if_sole`](crate::segment::Members::leave_if_sole)) while a
//!   second process opens, uses the value and drops its handle: either the unwrap
//!   takes the value and the opener gets `NotFound` or had left already (never a
//!   use after the move), or the opener was in, the unwrap leaves everything as it
//!   was, and the last of the two to drop destroys.
//! - [`try_unwrap_races_last_detach`]: the other holder drops its last handle while
//!   the first calls `try_unwrap`: it succeeds only once the other has left (whose
//!   uses happen before the move), else it fails and the later drop destroys.
//!   (Weakening `leave_if_sole`'s own orderings to Relaxed passes these two models:
//!   the reclaim scan just before it acquires every slot's holder word, which a
//!   leaving holder's `free` releases. The orderings stay as `detach`'s, which
//!   does not rely on that scan.)
//!
//! In every flow, a live process that empties the member set must itself get the
//! right to destroy: a survivor that took over from it would show as an outcome no
//! model lists (e.g. "opener NotFound, destroyer P2" in the first model), or as two
//! destroyers or none. Unlike the hand-composed models before, this is checked
//! through the outcomes only: the real `leave` does not say whether it emptied the
//! set when it returns no right.
//!
//! Not covered: loom orders the stores to one atomic by the order they execute, so
//! the Release of `Slot::free` (slot reuse) is beyond it; and since every dead
//! process here died before the model starts, the Acquire of the reclaim mark and of
//! a destroyer take-over (ordering after a dead process's last writes) is not
//! exercised: on a real platform, detecting a death synchronizes with it anyway.
//! Weakening the `slots_used` mark's orderings to Relaxed changes no outcome here:
//! a scan that must see a slot is already ordered after its reservation by the
//! member word. The dead process's own setup steps are written into the words
//! directly (what `attach`, `reclaim_dead` or `leave` leave at a crash point).

use std::format;
use std::string::ToString;

use loom::sync::Arc;

use super::{model, spawn_as, Segment};
use crate::backend::CrashPoint;
use crate::loom_support::{self, crossed, main_turn, pid, which, Model, DEAD};
use crate::primitive::Ordering;
use crate::segment::lifecycle;
use crate::segment::members::RECLAIMING;

/// How many reclaim marks the current loom thread has made.
fn marks() -> u32 {
    crossed(CrashPoint::ReclaimMarked)
}

#[test]
fn last_detach_races_attach() {
    const OUTCOMES: &[&str] =
        &["opener attached, destroyer P1", "opener attached, destroyer P2", "opener NotFound, destroyer P1"];
    model(OUTCOMES, |main_last| {
        let seg = Segment::new(2);
        loom_support::play(1);
        seg.init_creator();
        assert_eq!(seg.members().strong_count::<Model>(None), 1);

        let opener = spawn_as(2, &seg, |seg| match seg.open() {
            Ok(slot) => {
                let members = seg.members();
                assert!(!lifecycle::destroying(&seg.header), "attached after the set reached zero");
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
        seg.init_creator();

        // The observer is the spawned thread: a load it has yet to make stays
        // visible to loom's DPOR, and no yield precedes it (loom never shows a
        // thread a value it saw before yielding, so it could not read a stale count).
        let observer = spawn_as(1, &seg, |seg| {
            let members = seg.members();
            let seen = members.live(Ordering::Acquire) == 0b11;
            if seen {
                // Seeing the new member bit means seeing its slot's holder and count.
                assert_eq!(members.strong_count::<Model>(None), 2, "a member's handle count was not published");
                assert_eq!(members.process_count::<Model>(), 2, "a member's holder was not published");
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
        seg.init_creator();
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

/// A dead holder in slot 1 beside live holders 1 (slot 0, the creator) and 2 (slot
/// 2), the attachments written as a finished `attach` leaves them.
fn with_dead_holder() -> Arc<Segment> {
    let seg = Segment::new(3);
    loom_support::play(1);
    seg.init_creator();
    seg.seat(1, DEAD);
    seg.seat(2, 2);
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
        assert!(!lifecycle::destroying(&seg.header));
        for i in [0, 1] {
            assert_eq!(seg.slots[i].holder.load(Ordering::Acquire), 0, "slot {i} was not freed");
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
        loom_support::play(DEAD);
        seg.init_creator();

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
        seg.init_creator();
        let dead_reclaimer = RECLAIMING | pid(DEAD).word();
        for (slot, holder) in [(1, pid(DEAD).word()), (2, dead_reclaimer), (3, dead_reclaimer)] {
            seg.slots[slot].holder.store(holder, Ordering::Relaxed);
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
            // The dead process created the object, dropped its last handle (emptying
            // the set) and died, before claiming the destroyer word or just after.
            loom_support::play(DEAD);
            seg.init_creator();
            assert!(seg.release_handle(0));
            if claimed {
                // The real `leave`; the dead process got no further than winning
                // the right (its slot stays held, by a dead process).
                let right = seg.members().leave::<Model>(0, pid(DEAD));
                assert!(right.is_some(), "the process that emptied the set did not get the right");
                core::mem::forget(right);
            } else {
                // What `leave` leaves at `DetachLeft`: the bit cleared, the slot held.
                seg.header.members.store(0, Ordering::Relaxed);
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

#[test]
fn try_unwrap_races_open() {
    const OUTCOMES: &[&str] = &[
        "unwrapped, opener NotFound",
        "unwrapped, opener attached",
        "refused, opener attached, destroyer P1",
        "refused, opener attached, destroyer P2",
    ];
    model(OUTCOMES, |main_last| {
        let seg = Segment::new(2);
        loom_support::play(1);
        seg.init_creator();

        let opener = spawn_as(2, &seg, |seg| match seg.open() {
            Ok(slot) => {
                seg.use_value();
                (true, seg.drop_handle(slot))
            }
            Err(won) => (false, won),
        });

        main_turn(main_last);
        seg.use_value();
        let unwrapped = seg.try_unwrap(0);
        let creator_won = !unwrapped && seg.drop_handle(0);
        let (attached, opener_won) = opener.join().unwrap();
        // Unwrapped after the opener attached: only if it had left already (its
        // use of the value, which loom orders before the move, checks that).
        let destroyers = unwrapped as u32 + creator_won as u32 + opener_won as u32;
        assert_eq!(destroyers, 1, "not exactly one destroyer");
        seg.assert_gone();
        if unwrapped {
            format!("unwrapped, opener {}", if attached { "attached" } else { "NotFound" })
        } else {
            format!("refused, opener attached, destroyer {}", which(&[(1, creator_won), (2, opener_won)]))
        }
    });
}

#[test]
fn try_unwrap_races_last_detach() {
    const OUTCOMES: &[&str] = &["unwrapped", "refused, destroyer P1", "refused, destroyer P2"];
    model(OUTCOMES, |main_last| {
        let seg = Segment::new(2);
        loom_support::play(1);
        seg.init_creator();
        seg.seat(1, pid(2).word());

        let other = spawn_as(2, &seg, |seg| {
            seg.use_value();
            seg.drop_handle(1)
        });

        main_turn(main_last);
        seg.use_value();
        let unwrapped = seg.try_unwrap(0);
        let creator_won = !unwrapped && seg.drop_handle(0);
        let other_won = other.join().unwrap();
        assert!(!(unwrapped && other_won), "the value was taken and dropped");
        assert_eq!(unwrapped as u32 + creator_won as u32 + other_won as u32, 1, "not exactly one destroyer");
        seg.assert_gone();
        match unwrapped {
            true => "unwrapped".to_string(),
            false => format!("refused, destroyer {}", which(&[(1, creator_won), (2, other_won)])),
        }
    });
}
