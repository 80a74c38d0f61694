//! What only simulated processes on the arena backend can show deterministically:
//! several processes, holders that die, and a process stopped at every crash point
//! of every protocol. (The behaviour suite runs on the arena in
//! `backends/arena/tests/suite.rs`.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use shmptr::{CrashPoint, ErrorKind, Liveness, Platform, ProcessId};
use shmptr_arena::{arena_space, Arena, Shared, Space, Unique};
use shmptr_suite::Counted;

mod common;
use common::as_process;

/// Runs `f` as `process`, which dies at `point`; fails the test if it does not.
///
/// Safe for the callers in this file: `f` is the whole crashing call (it holds
/// every handle `process` has, or `process` has none), opens nothing while it
/// unwinds, and only this thread uses `S` (as for `as_process`).
fn dies_at<S: Space>(process: ProcessId, point: CrashPoint, f: impl FnOnce()) {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("simulated crash") {
                default(info);
            }
        }));
    });
    // SAFETY: the crash can only fire inside `f` (the only code run as `process`
    // before `cancel_crash`); `f` holds all that `process` made, so the unwinding
    // drops it and nothing of it is left to use; no other thread uses `S` and
    // nothing dropped by the unwinding opens an object; the identity is restored
    // to the live `previous` right after the panic is caught.
    unsafe { Arena::<S>::crash_at(process, point) };
    // SAFETY: only this thread uses `S`; `process` is alive until the crash.
    let previous = unsafe { Arena::<S>::enter(process) };
    let outcome = catch_unwind(AssertUnwindSafe(f));
    // SAFETY: as above; `previous` (who called this) is alive.
    unsafe { Arena::<S>::enter(previous) };
    Arena::<S>::cancel_crash();
    assert!(outcome.is_err(), "process {} should have died at {point:?}", process.get());
    assert_eq!(Arena::<S>::liveness(process), Liveness::Dead);
}

/// Afterwards: the name is gone and can be created afresh.
fn name_is_gone_and_reusable<S: Space>(name: &str) {
    assert!(!Arena::<S>::exists(name), "{name} is still linked");
    drop(Shared::<u8, S>::create(name, 1).unwrap());
    assert!(!Arena::<S>::exists(name));
}

#[test]
fn holders_in_two_processes_are_two_processes() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("two", 1).unwrap();
    let p = Arena::<S>::spawn();
    let b = as_process::<S, _>(p, || Shared::<u64, S>::open("two").unwrap());
    let b2 = as_process::<S, _>(p, || b.clone());
    assert_eq!(Shared::process_count(&a), 2);
    assert_eq!(Shared::strong_count(&a), 3);
    as_process::<S, _>(p, || drop((b, b2)));
    assert_eq!(Shared::process_count(&a), 1);
    assert_eq!(Shared::strong_count(&a), 1);
}

#[test]
fn the_last_holder_need_not_be_the_creator() {
    arena_space!(S, 1 << 20);
    let value = Counted::new(3);
    let counter = value.counter;
    let creator = Shared::<Counted, S>::create("last", value).unwrap();
    let p = Arena::<S>::spawn();
    let other = as_process::<S, _>(p, || Shared::<Counted, S>::open("last").unwrap());
    drop(creator);
    assert_eq!(Counted::drops(counter), 0);
    assert!(Arena::<S>::exists("last"), "the creator leaving must not unlink under the other holder");
    as_process::<S, _>(p, || drop(other));
    assert_eq!(Counted::drops(counter), 1);
    name_is_gone_and_reusable::<S>("last");
}

#[test]
fn a_handle_dropped_by_another_process_releases_nothing() {
    // What a fork()ed child does with an inherited handle: it belongs to the parent.
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("fork", 1).unwrap();
    let inherited = a.clone();
    let child = Arena::<S>::spawn();
    as_process::<S, _>(child, || drop(inherited));
    assert_eq!(Shared::strong_count(&a), 2, "the parent's count is untouched");
    let childs_own = as_process::<S, _>(child, || a.clone());
    assert_eq!(Shared::process_count(&a), 2, "a clone in the child is the child's attachment");
    as_process::<S, _>(child, || drop(childs_own));
    assert_eq!(Shared::process_count(&a), 1);
}

#[test]
fn a_dead_holder_is_reclaimed_when_the_last_live_one_leaves() {
    arena_space!(S, 1 << 20);
    let value = Counted::new(0);
    let counter = value.counter;
    let a = Shared::<Counted, S>::create("dead", value).unwrap();
    let p = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(p, || Shared::<Counted, S>::open("dead").unwrap()));
    // SAFETY: `p`'s only handle is leaked; nothing runs as `p`.
    unsafe { Arena::<S>::kill(p) };
    assert_eq!(Shared::process_count(&a), 1, "dead processes are not counted");
    drop(a);
    assert_eq!(Counted::drops(counter), 1, "the last live holder destroys at once");
    name_is_gone_and_reusable::<S>("dead");
}

#[test]
fn reclaim_counts_dead_holders_and_spares_live_ones() {
    arena_space!(S, 1 << 20);
    let value = Counted::new(0);
    let counter = value.counter;
    let a = Shared::<Counted, S>::create("reclaim", value).unwrap();
    let live = Arena::<S>::spawn();
    let live_handle = as_process::<S, _>(live, || Shared::<Counted, S>::open("reclaim").unwrap());
    let dead: Vec<ProcessId> = (0..3).map(|_| Arena::<S>::spawn()).collect();
    for &p in &dead {
        std::mem::forget(as_process::<S, _>(p, || Shared::<Counted, S>::open("reclaim").unwrap()));
    }
    // They die after all have opened (an open would reclaim the ones dead before it).
    // SAFETY: each one's only handle is leaked; nothing runs as them.
    dead.iter().for_each(|&p| unsafe { Arena::<S>::kill(p) });
    assert_eq!(Shared::strong_count(&a), 2, "dead holders count nothing, even before they are reclaimed");
    assert_eq!(Shared::process_count(&a), 2, "judged as strong_count judges them");
    assert_eq!(Shared::<Counted, S>::reclaim("reclaim").unwrap(), 3);
    assert_eq!(Shared::strong_count(&a), 2);
    assert_eq!(Shared::<Counted, S>::reclaim("reclaim").unwrap(), 0);
    drop(a);
    assert_eq!(Counted::drops(counter), 0, "a live holder remains");
    // Now every holder dies: reclaim destroys.
    std::mem::forget(live_handle);
    // SAFETY: `live`'s only handle is leaked just above; nothing runs as it.
    unsafe { Arena::<S>::kill(live) };
    assert_eq!(Shared::<Counted, S>::reclaim("reclaim").unwrap(), 1);
    assert_eq!(Counted::drops(counter), 1);
    name_is_gone_and_reusable::<S>("reclaim");
}

#[test]
fn an_unknown_holder_counts_as_alive() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("unknown", 1).unwrap();
    // A holder whose number this arena never made (the arena no longer acts as
    // one: a peer wrote it): its liveness cannot be judged.
    let p = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(p, || Shared::<u64, S>::open("unknown").unwrap()));
    let holder = shmptr::HEADER_BYTES + shmptr::SLOT_BYTES; // slot 1's holder word
    let stranger = 200u64.to_ne_bytes(); // a 64-bit word on every target with 64-bit atomics
    let word = stranger.len();
    // SAFETY: single-threaded; no reference into the object is used across it.
    unsafe {
        Arena::<S>::with_bytes("unknown", |bytes| {
            assert_eq!(bytes[holder], p.get() as u8, "p holds slot 1");
            bytes[holder..holder + word].copy_from_slice(&stranger[..word]);
        })
    }
    .unwrap();
    assert_eq!(Shared::<u64, S>::reclaim("unknown").unwrap(), 0);
    drop(a);
    assert!(Arena::<S>::exists("unknown"), "a holder that may be alive keeps the object");
}

#[test]
fn unique_claim_is_busy_for_a_live_owner_and_succeeds_for_a_dead_one() {
    arena_space!(S, 1 << 20);
    let a = Arena::<S>::spawn();
    let b = Arena::<S>::spawn();
    let owned = as_process::<S, _>(a, || {
        let u = Unique::<u64, S>::create("job", 1).unwrap();
        Unique::release(u);
        Unique::<u64, S>::claim("job").unwrap()
    });
    let busy = as_process::<S, _>(b, || Unique::<u64, S>::claim("job").unwrap_err());
    assert_eq!(busy.kind(), ErrorKind::Busy);
    std::mem::forget(owned);
    // SAFETY: `a`'s only handle is leaked just above (its first `Unique` was
    // released, which consumed it); nothing runs as `a`.
    unsafe { Arena::<S>::kill(a) };
    let mut claimed = as_process::<S, _>(b, || Unique::<u64, S>::claim("job").unwrap());
    assert_eq!(*claimed, 1);
    // Written as its owner: a `Unique` used by another process counts as inherited.
    as_process::<S, _>(b, || *claimed = 2);
    as_process::<S, _>(b, || drop(claimed));
    name_is_gone_and_reusable::<S>("job");
}

#[test]
fn a_dead_process_cannot_be_entered_and_the_current_one_cannot_be_killed() {
    // Both would let code act as a dead process, whose mappings, locks and owned
    // objects the arena treats as free. (That `kill`, `enter`, `crash_at` and
    // `ArenaState::from_memory` need `unsafe` at all is shown by compile_fail
    // doctests on each.)
    arena_space!(S, 1 << 20);
    let me = Arena::<S>::current();
    let p = Arena::<S>::spawn();
    // SAFETY: `p` was just spawned: it made nothing, and nothing runs as it.
    unsafe { Arena::<S>::kill(p) };
    // SAFETY: only this thread uses `S` (`enter` checks that `p` is alive).
    let entered = catch_unwind(|| unsafe { Arena::<S>::enter(p) });
    assert!(entered.is_err(), "entering a dead process must panic");
    assert_eq!(Arena::<S>::current(), me, "the identity did not change");
    // SAFETY: `me` made nothing in this test (`kill` checks that it is not current).
    let killed = catch_unwind(|| unsafe { Arena::<S>::kill(me) });
    assert!(killed.is_err(), "killing the process the code acts as must panic");
    assert_eq!(Arena::<S>::liveness(me), Liveness::Alive);
    drop(Shared::<u8, S>::create("still-alive", 1).unwrap());
}

#[test]
fn a_released_unique_stays_for_the_next_claimer() {
    arena_space!(S, 1 << 20);
    let value = Counted::new(0);
    let counter = value.counter;
    let u = Unique::<Counted, S>::create("parked", value).unwrap();
    u.value.store(9, Ordering::Relaxed);
    Unique::release(u);
    assert!(Arena::<S>::exists("parked"));
    let b = Arena::<S>::spawn();
    as_process::<S, _>(b, || {
        let u = Unique::<Counted, S>::claim("parked").unwrap();
        assert_eq!(u.value.load(Ordering::Relaxed), 9);
    });
    assert_eq!(Counted::drops(counter), 1);
    name_is_gone_and_reusable::<S>("parked");
}

// ---- A process stopped at every crash point ----

/// Every crash point and the test that stops a process there; the table must cover
/// `CrashPoint::ALL`, so a new crash point cannot go untested.
const SCENARIOS: [(CrashPoint, fn()); 11] = [
    (CrashPoint::CreateSized, creator_dies_after_sizing),
    (CrashPoint::CreateHeaderWritten, creator_dies_after_the_header),
    (CrashPoint::CreateValueWritten, creator_dies_after_the_value),
    (CrashPoint::AttachReserved, opener_dies_with_a_reserved_slot),
    (CrashPoint::DetachCounted, holder_dies_after_its_count_reached_zero),
    (CrashPoint::DetachLeft, holder_dies_after_leaving_the_member_set),
    (CrashPoint::ReclaimMarked, reclaimer_dies_after_marking_a_dead_slot),
    (CrashPoint::ReclaimLeft, reclaimer_dies_after_clearing_a_dead_member),
    (CrashPoint::DestroyClaimed, destroyer_dies_before_dropping_the_value),
    (CrashPoint::DestroyDropped, destroyer_dies_after_dropping_the_value),
    (CrashPoint::DestroyUnlinked, destroyer_dies_after_unlinking),
];

#[test]
fn every_crash_point_has_a_scenario() {
    for point in CrashPoint::ALL {
        assert!(SCENARIOS.iter().any(|(p, _)| p == point), "{point:?} has no crash scenario");
    }
}

/// A creator dies during create: `open` reports it (never hangs), `open_or_create`
/// replaces it, and nothing stays behind.
fn creator_dies_at<S: Space>(point: CrashPoint) {
    let p = Arena::<S>::spawn();
    dies_at::<S>(p, point, || drop(Shared::<AtomicU64, S>::create("c", AtomicU64::new(1))));
    let e = Shared::<AtomicU64, S>::open("c").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Abandoned, "{point:?}: {e}");
    let fresh = Shared::<AtomicU64, S>::open_or_create("c", || AtomicU64::new(2)).unwrap();
    assert_eq!(fresh.load(Ordering::Relaxed), 2);
    drop(fresh);
    name_is_gone_and_reusable::<S>("c");
}

#[test]
fn creator_dies_after_sizing() {
    arena_space!(S, 1 << 20);
    creator_dies_at::<S>(CrashPoint::CreateSized);
}

#[test]
fn creator_dies_after_the_header() {
    arena_space!(S, 1 << 20);
    creator_dies_at::<S>(CrashPoint::CreateHeaderWritten);
}

#[test]
fn creator_dies_after_the_value() {
    arena_space!(S, 1 << 20);
    creator_dies_at::<S>(CrashPoint::CreateValueWritten);
}

#[test]
fn opener_dies_with_a_reserved_slot() {
    arena_space!(S, 1 << 20);
    let value = Counted::new(0);
    let counter = value.counter;
    let a = Shared::<Counted, S>::options().slots(2).create("r", value).unwrap();
    let p = Arena::<S>::spawn();
    dies_at::<S>(p, CrashPoint::AttachReserved, || drop(Shared::<Counted, S>::open("r")));
    assert_eq!(Shared::strong_count(&a), 1, "a reserved slot is not a holder");
    // The only other slot is held by the dead reserver: open reclaims it.
    let b = Shared::<Counted, S>::open("r").unwrap();
    assert_eq!(Shared::strong_count(&a), 2);
    drop((a, b));
    assert_eq!(Counted::drops(counter), 1);
    name_is_gone_and_reusable::<S>("r");
}

/// A holder dies inside its last drop, while another holder remains (`survivor`
/// true) or as the last holder (`survivor` false).
fn holder_dies_in_drop_at<S: Space>(point: CrashPoint, survivor: bool) {
    let value = Counted::new(0);
    let counter = value.counter;
    let a = Shared::<Counted, S>::create("d", value).unwrap();
    let p = Arena::<S>::spawn();
    let b = as_process::<S, _>(p, || Shared::<Counted, S>::open("d").unwrap());
    let a = if survivor {
        Some(a)
    } else {
        drop(a);
        None
    };
    dies_at::<S>(p, point, move || drop(b));
    match a {
        Some(a) => {
            assert_eq!(Shared::strong_count(&a), 1);
            drop(a);
        }
        None => {
            assert_eq!(
                Counted::drops(counter),
                u32::from(point == CrashPoint::DestroyDropped || point == CrashPoint::DestroyUnlinked)
            );
            // A later open finishes what the dead last holder left.
            let e = Shared::<Counted, S>::open("d").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{point:?}: {e}");
        }
    }
    assert_eq!(Counted::drops(counter), 1, "{point:?}: T dropped exactly once");
    name_is_gone_and_reusable::<S>("d");
}

#[test]
fn holder_dies_after_its_count_reached_zero() {
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DetachCounted, true);
    }
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DetachCounted, false);
    }
}

#[test]
fn holder_dies_after_leaving_the_member_set() {
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DetachLeft, true);
    }
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DetachLeft, false);
    }
}

#[test]
fn destroyer_dies_before_dropping_the_value() {
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DestroyClaimed, false);
    }
}

#[test]
fn destroyer_dies_after_dropping_the_value() {
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DestroyDropped, false);
    }
}

#[test]
fn destroyer_dies_after_unlinking() {
    {
        arena_space!(S, 1 << 20);
        holder_dies_in_drop_at::<S>(CrashPoint::DestroyUnlinked, false);
    }
}

/// A reclaimer dies while reclaiming a dead holder; another survivor finishes.
/// With `others` the object has a live holder besides; without, the dead holder
/// was the last member, so the dead reclaimer had become the destroyer.
fn reclaimer_dies_at<S: Space>(point: CrashPoint, others: bool) {
    let value = Counted::new(0);
    let counter = value.counter;
    let holder = Arena::<S>::spawn();
    let creator = Arena::<S>::spawn();
    let survivor = Arena::<S>::spawn();
    let reclaimer = Arena::<S>::spawn();
    let a = as_process::<S, _>(creator, || Shared::<Counted, S>::create("x", value).unwrap());
    let kept =
        if others { Some(as_process::<S, _>(survivor, || Shared::<Counted, S>::open("x").unwrap())) } else { None };
    std::mem::forget(as_process::<S, _>(holder, || Shared::<Counted, S>::open("x").unwrap()));
    as_process::<S, _>(creator, || drop(a));
    // Killed only now: every detach and open before this would have reclaimed it.
    // SAFETY: `holder`'s only handle is leaked above; nothing runs as it.
    unsafe { Arena::<S>::kill(holder) };
    dies_at::<S>(reclaimer, point, || drop(Shared::<Counted, S>::open("x")));
    assert_eq!(Counted::drops(counter), 0);
    as_process::<S, _>(survivor, || match kept {
        Some(kept) => {
            // The dead reclaimer's mark does not stop a survivor from finishing: the
            // dead holder is reclaimed once (unless the reclaimer got that far).
            let expected = u32::from(point == CrashPoint::ReclaimMarked);
            assert_eq!(Shared::<Counted, S>::reclaim("x").unwrap(), expected);
            assert_eq!(Shared::strong_count(&kept), 1);
            drop(kept);
        }
        None => assert_eq!(Shared::<Counted, S>::open("x").unwrap_err().kind(), ErrorKind::NotFound),
    });
    assert_eq!(Counted::drops(counter), 1, "{point:?}/{others}: T dropped exactly once");
    name_is_gone_and_reusable::<S>("x");
}

#[test]
fn reclaimer_dies_after_marking_a_dead_slot() {
    {
        arena_space!(S, 1 << 20);
        reclaimer_dies_at::<S>(CrashPoint::ReclaimMarked, true);
    }
    {
        arena_space!(S, 1 << 20);
        reclaimer_dies_at::<S>(CrashPoint::ReclaimMarked, false);
    }
}

#[test]
fn reclaimer_dies_after_clearing_a_dead_member() {
    {
        arena_space!(S, 1 << 20);
        reclaimer_dies_at::<S>(CrashPoint::ReclaimLeft, true);
    }
    {
        arena_space!(S, 1 << 20);
        reclaimer_dies_at::<S>(CrashPoint::ReclaimLeft, false);
    }
}

#[test]
fn unique_owner_dies_while_destroying() {
    for point in [CrashPoint::DestroyClaimed, CrashPoint::DestroyDropped, CrashPoint::DestroyUnlinked] {
        arena_space!(S, 1 << 20);
        let value = Counted::new(0);
        let counter = value.counter;
        let p = Arena::<S>::spawn();
        let u = as_process::<S, _>(p, || Unique::<Counted, S>::create("u", value).unwrap());
        dies_at::<S>(p, point, move || drop(u));
        let e = Unique::<Counted, S>::claim("u").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{point:?}: {e}");
        // The dead owner's drop, or the claimer's if it never began: exactly once.
        assert_eq!(Counted::drops(counter), 1, "{point:?}");
        name_is_gone_and_reusable::<S>("u");
    }
}

#[test]
fn a_forged_slot_count_decides_nothing_in_this_process() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("forged-count", 1).unwrap();
    let b = a.clone();
    // Slot 0's handle count sits right after its owner word: HEADER_BYTES + 8. A
    // peer writes 1 there (the drop of `b` would then look like the last one) and
    // then the largest count (a clone would then look like an overflow).
    let at = shmptr::HEADER_BYTES + 8;
    for forged in [1u64, i64::MAX as u64] {
        // SAFETY: single-threaded, and no reference into the object is held across it.
        unsafe {
            Arena::<S>::with_bytes("forged-count", |bytes| bytes[at..at + 8].copy_from_slice(&forged.to_ne_bytes()))
        }
        .unwrap();
        let c = b.clone();
        drop(c);
        assert_eq!(*a, 1, "the mapping is still there and holds the value");
    }
    drop(b);
    assert_eq!(*a, 1, "dropping one of two handles left the other's mapping in place");
    assert!(Arena::<S>::exists("forged-count"));
    drop(a);
    assert!(!Arena::<S>::exists("forged-count"), "the private count, not the forged one, decided the last drop");
}

#[test]
fn a_unique_whose_owner_word_is_garbage_is_never_claimed() {
    arena_space!(S, 1 << 20);
    let u = Unique::<u64, S>::create("garbage-owner", 1).unwrap();
    Unique::release(u);
    // The owner word is at offset 296; a value with the top bit set names no process.
    for garbage in [u64::MAX, 1 << 63] {
        // SAFETY: single-threaded, and no reference into the object is held across it.
        unsafe { Arena::<S>::with_bytes("garbage-owner", |b| b[296..304].copy_from_slice(&garbage.to_ne_bytes())) }
            .unwrap();
        assert_eq!(Unique::<u64, S>::claim("garbage-owner").unwrap_err().kind(), ErrorKind::Corrupt);
    }
}

#[test]
fn a_forged_member_set_never_drops_a_value_this_process_still_reads() {
    arena_space!(S, 1 << 20);
    static DROPS: AtomicU64 = AtomicU64::new(0);
    #[repr(C)]
    struct Noted {
        x: AtomicU64,
    }
    shmptr::shm_safe!(Noted { x });
    impl Drop for Noted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let a = Shared::<Noted, S>::create("twice", Noted { x: AtomicU64::new(7) }).unwrap();
    let b = Shared::<Noted, S>::open("twice").unwrap(); // a second mapping, same process
                                                        // A peer leaves only `a`'s member bit (the members word is at offset 288):
                                                        // dropping `a` then empties the set and makes this process the destroyer.
                                                        // SAFETY: single-threaded, and no reference into the object is held across it.
    unsafe { Arena::<S>::with_bytes("twice", |bytes| bytes[288..296].copy_from_slice(&1u64.to_ne_bytes())) }.unwrap();
    drop(a);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "the value was dropped while `b` still reads it");
    assert_eq!(b.x.load(Ordering::SeqCst), 7);
    drop(b);
    // Under that forgery the value is leaked, never dropped early or twice; the
    // name was unlinked and is free again.
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    assert!(!Arena::<S>::exists("twice"));
    drop(Shared::<u64, S>::create("twice", 1).unwrap());
}

#[test]
fn a_value_aligned_beyond_the_mapping_is_refused_not_misaligned() {
    arena_space!(S, 1 << 20);
    #[repr(C, align(128))]
    struct Wide {
        x: u64,
    }
    shmptr::shm_safe!(Wide { x }, Zeroable);
    // Arena mappings are 64-aligned: a 128-aligned value could land at 64 mod 128.
    let kind = |r: shmptr::Result<Shared<Wide, S>>| r.err().map(|e| e.kind());
    assert_eq!(kind(Shared::<Wide, S>::create_zeroed("wide")), Some(ErrorKind::Unsupported));
    assert_eq!(kind(Shared::<Wide, S>::open("wide")), Some(ErrorKind::Unsupported));
    assert!(!Arena::<S>::exists("wide"), "nothing was created");
    #[repr(C, align(64))]
    struct Line {
        x: u64,
    }
    shmptr::shm_safe!(Line { x }, Zeroable);
    let line = Shared::<Line, S>::create_zeroed("line").unwrap();
    assert_eq!(&line.x as *const u64 as usize % 64, 0);
}

#[test]
fn a_forged_permit_count_saturates_instead_of_panicking() {
    arena_space!(S, 1 << 20);
    type Sem = shmptr_arena::Semaphore<S>;
    let sem = Shared::<Sem, S>::options().slots(1).create("sem", Sem::new(0)).unwrap();
    // With one slot the value starts at 320 + 64 = 384; the permit count is first.
    // SAFETY: single-threaded, and no reference into the object is held across it.
    unsafe { Arena::<S>::with_bytes("sem", |b| b[384..388].copy_from_slice(&u32::MAX.to_ne_bytes())) }.unwrap();
    assert_eq!(sem.available(), u32::MAX);
    sem.release();
    assert_eq!(sem.available(), u32::MAX, "saturated, not wrapped to 0");
}
