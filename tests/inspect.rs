//! Untyped inspection (`shmptr::inspect`) on the arena backend, with simulated
//! processes: what `inspect` reports of holders and owners alive and dead, what
//! `reclaim` and `remove` do without the value type (never running its drop), and
//! hostile bytes, which give errors and are never changed. The same with real
//! processes is `backends/linux/tests/inspect_linux.rs`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use proptest::prelude::*;
use shmptr::inspect::{self, ObjectKind, ObjectState, Owner};
use shmptr::{shm_safe, ErrorKind, Liveness, ProcessId, ShmSafe};
use shmptr_arena::{arena_space, Arena, Shared, Space, Unique};

mod common;
use common::as_process;

/// A process of `S` that creates or opens through `f`, keeps what it got, and dies.
fn dies_holding<S: Space, R>(f: impl FnOnce() -> R) -> ProcessId {
    let process = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(process, f));
    // SAFETY: only this thread uses `S`, and it is not inside an operation.
    unsafe { Arena::<S>::kill(process) };
    process
}

fn bytes_of<S: Space>(name: &str) -> Vec<u8> {
    // SAFETY: only this thread uses `S`, and no reference into the object is used.
    unsafe { Arena::<S>::with_bytes(name, |b| b.to_vec()) }.expect("the object exists")
}

static DROPS: AtomicU32 = AtomicU32::new(0);

/// A value whose drops are counted in `DROPS`.
#[repr(C)]
struct Counted {
    value: AtomicU64,
}
shm_safe!(Counted { value });

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

arena_space!(HolderSpace, 1 << 20);

#[test]
fn a_dead_holder_shows_dead_and_reclaim_frees_only_its_slot() {
    type S = HolderSpace;
    let mine = Shared::<u64, S>::create("counter", 5).unwrap();
    let dead = dies_holding::<S, _>(|| Shared::<u64, S>::open("counter").unwrap());

    let info = inspect::inspect::<Arena<S>>("counter").unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
    assert_eq!((info.value_size, info.value_align, info.slot_capacity), (8, 64, shmptr::MAX_SLOTS));
    assert_eq!(info.fingerprint, <u64 as shmptr::ShmSafe>::FINGERPRINT);
    assert_eq!(info.owner, None);
    assert_eq!(info.holders.len(), 2);
    assert_eq!((info.holders[0].process, info.holders[0].liveness), (Arena::<S>::current(), Liveness::Alive));
    assert_eq!((info.holders[1].process, info.holders[1].liveness), (dead, Liveness::Dead));
    assert!(info.holders.iter().all(|h| h.member && h.handles == 1 && !h.reclaiming));
    assert_eq!((info.live_holders(), info.dead_holders()), (1, 1));

    let done = inspect::reclaim::<Arena<S>>("counter").unwrap();
    assert_eq!((done.holders, done.destroyed), (1, false));
    let info = inspect::inspect::<Arena<S>>("counter").unwrap();
    assert_eq!((info.holders.len(), info.dead_holders()), (1, 0));
    assert_eq!(*mine, 5);
}

arena_space!(AllDeadSpace, 1 << 20);

#[test]
fn reclaim_destroys_an_object_whose_holders_all_died_without_running_its_drop() {
    type S = AllDeadSpace;
    let (a, b) = (Arena::<S>::spawn(), Arena::<S>::spawn());
    let value = Counted { value: AtomicU64::new(1) };
    std::mem::forget(as_process::<S, _>(a, || Shared::<Counted, S>::create("counted", value).unwrap()));
    std::mem::forget(as_process::<S, _>(b, || Shared::<Counted, S>::open("counted").unwrap()));
    // SAFETY: only this thread uses `S`, and it is not inside an operation.
    unsafe { (Arena::<S>::kill(a), Arena::<S>::kill(b)) };
    assert_eq!(inspect::inspect::<Arena<S>>("counted").unwrap().dead_holders(), 2);

    let done = inspect::reclaim::<Arena<S>>("counted").unwrap();
    assert_eq!((done.holders, done.destroyed), (2, true));
    assert!(!Arena::<S>::exists("counted"), "the name went");
    assert_eq!(DROPS.load(Ordering::SeqCst), 0, "untyped: the value's drop never ran");
    assert_eq!(inspect::inspect::<Arena<S>>("counted").unwrap_err().kind(), ErrorKind::NotFound);
}

arena_space!(RemoveSpace, 1 << 20);

#[test]
fn remove_refuses_while_a_live_holder_exists_and_works_once_it_is_gone() {
    type S = RemoveSpace;
    let other = Arena::<S>::spawn();
    let held = as_process::<S, _>(other, || Shared::<u64, S>::create("held", 1).unwrap());
    dies_holding::<S, _>(|| Shared::<u64, S>::open("held").unwrap());

    let busy = inspect::remove::<Arena<S>>("held").unwrap_err();
    assert_eq!(busy.kind(), ErrorKind::Busy);
    assert!(busy.during().contains("holder"), "{busy}");
    assert!(Arena::<S>::exists("held"));
    assert!(inspect::inspect::<Arena<S>>("held").unwrap().held());

    as_process::<S, _>(other, || std::mem::forget(held));
    // SAFETY: only this thread uses `S`.
    unsafe { Arena::<S>::kill(other) };
    inspect::remove::<Arena<S>>("held").unwrap();
    assert!(!Arena::<S>::exists("held"));
    assert_eq!(inspect::remove::<Arena<S>>("held").unwrap_err().kind(), ErrorKind::NotFound);
}

arena_space!(UniqueSpace, 1 << 20);

#[test]
fn a_unique_shows_its_owner_released_alive_or_dead_and_only_a_dead_owners_is_reclaimed() {
    type S = UniqueSpace;
    let owned = Unique::<u32, S>::create("owned", 1).unwrap();
    let info = inspect::inspect::<Arena<S>>("owned").unwrap();
    assert_eq!((info.kind, info.slot_capacity, info.holders.len()), (ObjectKind::Unique, 0, 0));
    let me = Arena::<S>::current();
    assert_eq!(info.owner, Some(Owner::Process { process: me, liveness: Liveness::Alive }));
    assert!(!inspect::reclaim::<Arena<S>>("owned").unwrap().destroyed);
    assert_eq!(inspect::remove::<Arena<S>>("owned").unwrap_err().kind(), ErrorKind::Busy);

    Unique::release(owned);
    assert_eq!(inspect::inspect::<Arena<S>>("owned").unwrap().owner, Some(Owner::Released));
    assert!(!inspect::reclaim::<Arena<S>>("owned").unwrap().destroyed, "parked for a hand-off");
    assert!(Arena::<S>::exists("owned"));
    inspect::remove::<Arena<S>>("owned").unwrap();
    assert!(!Arena::<S>::exists("owned"), "remove takes a released one");

    let dead =
        dies_holding::<S, _>(|| Unique::<Counted, S>::create("job", Counted { value: AtomicU64::new(0) }).unwrap());
    let info = inspect::inspect::<Arena<S>>("job").unwrap();
    assert_eq!(info.owner, Some(Owner::Process { process: dead, liveness: Liveness::Dead }));
    assert!(!info.held());
    let done = inspect::reclaim::<Arena<S>>("job").unwrap();
    assert_eq!((done.holders, done.destroyed), (1, true));
    assert!(!Arena::<S>::exists("job"));
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
}

arena_space!(AbandonedSpace, 1 << 20);

#[test]
fn an_object_whose_creator_died_before_ready_is_abandoned_and_reclaim_removes_it() {
    type S = AbandonedSpace;
    let creator = Arena::<S>::spawn();
    // SAFETY: only this thread uses `S`.
    unsafe { Arena::<S>::crash_at(creator, shmptr::CrashPoint::CreateHeaderWritten) };
    let _ = std::panic::catch_unwind(|| as_process::<S, _>(creator, || Shared::<u64, S>::create("half", 1)));
    Arena::<S>::cancel_crash();
    // SAFETY: as above.
    unsafe { Arena::<S>::enter(Arena::<S>::spawn()) };
    let info = inspect::inspect::<Arena<S>>("half").unwrap();
    assert_eq!(info.state, ObjectState::Abandoned);
    assert_eq!((info.creator, info.creator_liveness), (Some(creator), Liveness::Dead));
    let done = inspect::reclaim::<Arena<S>>("half").unwrap();
    assert!(done.destroyed);
    assert!(!Arena::<S>::exists("half"));
}

arena_space!(SliceSpace, 1 << 20);

#[test]
fn a_slice_reports_its_length_element_size_and_the_elements_fingerprint() {
    type S = SliceSpace;
    // Lengths chosen at run time.
    let words: Vec<u32> = (0..std::hint::black_box(37)).collect();
    let table = Shared::<[u32], S>::from_slice("table", &words).unwrap();
    let info = inspect::inspect::<Arena<S>>("table").unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
    assert_eq!((info.length, info.element_size, info.value_size), (Some(37), Some(4), 37 * 4));
    assert_eq!(info.fingerprint, <u32 as ShmSafe>::FINGERPRINT, "the element's");
    assert_eq!((info.value_align, info.holders.len(), info.live_holders()), (64, 1, 1));
    assert!(info.is_slice());

    let bytes = std::hint::black_box(1000);
    let frame = Unique::<[u8], S>::create_slice_with("frame", bytes, |i| i as u8).unwrap();
    let info = inspect::inspect::<Arena<S>>("frame").unwrap();
    assert_eq!(info.kind, ObjectKind::Unique);
    assert_eq!((info.length, info.element_size, info.value_size), (Some(1000), Some(1), 1000));
    assert_eq!(info.fingerprint, <u8 as ShmSafe>::FINGERPRINT);
    Unique::release(frame);
    let info = inspect::inspect::<Arena<S>>("frame").unwrap();
    assert_eq!((info.owner, info.length), (Some(Owner::Released), Some(1000)));

    // One value, even an array: no length, no element size.
    let one = Shared::<[u32; 4], S>::create("one", [1, 2, 3, 4]).unwrap();
    let info = inspect::inspect::<Arena<S>>("one").unwrap();
    assert_eq!((info.length, info.element_size, info.value_size), (None, None, 16));
    assert_eq!(info.fingerprint, <[u32; 4] as ShmSafe>::FINGERPRINT);
    assert!(!info.is_slice());

    // From a copy of the bytes (what `shmptr_linux::inspect` reads): the same.
    let copy = bytes_of::<S>("table");
    let info = inspect::inspect_bytes::<Arena<S>>("table", copy.len() as u64, &copy, |_| Liveness::Dead).unwrap();
    assert_eq!((info.length, info.element_size, info.value_size), (Some(37), Some(4), 148));

    inspect::remove::<Arena<S>>("frame").unwrap();
    assert_eq!(table.len(), 37);
    drop((table, one));
}

arena_space!(EmptySliceSpace, 1 << 20);

#[test]
fn an_empty_slice_reports_length_zero_and_no_element_size() {
    type S = EmptySliceSpace;
    let none = Shared::<[u64], S>::create_slice_zeroed("none", std::hint::black_box(0)).unwrap();
    let info = inspect::inspect::<Arena<S>>("none").unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
    assert_eq!((info.length, info.element_size, info.value_size), (Some(0), None, 0));
    assert_eq!(info.fingerprint, <u64 as ShmSafe>::FINGERPRINT);
    assert!(info.is_slice());

    let nothing = Unique::<[u16], S>::from_slice("nothing", &[]).unwrap();
    let info = inspect::inspect::<Arena<S>>("nothing").unwrap();
    assert_eq!((info.kind, info.length, info.element_size, info.value_size), (ObjectKind::Unique, Some(0), None, 0));
    drop((none, nothing));
}

arena_space!(DeadSliceSpace, 1 << 20);

#[test]
fn slices_that_dead_processes_left_show_their_length_and_reclaim_removes_them() {
    type S = DeadSliceSpace;
    let length = std::hint::black_box(300);
    let dead = dies_holding::<S, _>(|| Unique::<[u32], S>::create_slice_zeroed("owned", length).unwrap());
    let info = inspect::inspect::<Arena<S>>("owned").unwrap();
    assert_eq!(info.owner, Some(Owner::Process { process: dead, liveness: Liveness::Dead }));
    assert_eq!((info.length, info.element_size, info.value_size), (Some(300), Some(4), 1200));
    let done = inspect::reclaim::<Arena<S>>("owned").unwrap();
    assert_eq!((done.holders, done.destroyed), (1, true));
    assert!(!Arena::<S>::exists("owned"));

    // A creator that died after writing the header: abandoned, its length known.
    let creator = Arena::<S>::spawn();
    // SAFETY: only this thread uses `S`.
    unsafe { Arena::<S>::crash_at(creator, shmptr::CrashPoint::CreateHeaderWritten) };
    let _ = std::panic::catch_unwind(|| {
        as_process::<S, _>(creator, || Shared::<[u16], S>::create_slice_zeroed("half", length))
    });
    Arena::<S>::cancel_crash();
    // SAFETY: as above.
    unsafe { Arena::<S>::enter(Arena::<S>::spawn()) };
    let info = inspect::inspect::<Arena<S>>("half").unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Abandoned));
    assert_eq!((info.length, info.element_size, info.value_size), (Some(300), Some(2), 600));
    assert!(inspect::reclaim::<Arena<S>>("half").unwrap().destroyed);
    assert!(!Arena::<S>::exists("half"));
}

arena_space!(HostileSpace, 1 << 20);

/// A valid segment's bytes (a `Shared<u64>` with 4 slots named `name`).
fn valid_bytes<S: Space>(name: &str) -> Vec<u8> {
    let a = Shared::<u64, S>::options().slots(4).create(name, 9).unwrap();
    let bytes = bytes_of::<S>(name);
    drop(a);
    bytes
}

#[test]
fn hostile_bytes_give_errors_and_are_never_changed() {
    type S = HostileSpace;
    let valid = valid_bytes::<S>("v");
    let mut bad_checksum = valid.clone();
    bad_checksum[280] ^= 1;
    let mut huge = valid.clone();
    huge[28..32].copy_from_slice(&u32::MAX.to_ne_bytes()); // slot count
    huge[32..40].copy_from_slice(&u64::MAX.to_ne_bytes()); // total length
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("random", (0..4424u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), "not a shmptr object"),
        ("text", b"hello, this is a text file and not a segment at all\n".repeat(10), "not a shmptr object"),
        ("empty", Vec::new(), "not a shmptr object"),
        ("short", valid[..200].to_vec(), "not a shmptr object"),
        ("checksum", bad_checksum, "damaged"),
        ("huge", huge, "damaged"),
    ];
    for (name, bytes, says) in &cases {
        if bytes.is_empty() {
            continue; // the arena cannot hold an empty object
        }
        Arena::<S>::plant(name, bytes).unwrap();
        let error = inspect::inspect::<Arena<S>>(name).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Corrupt, "{name}");
        assert!(error.during().contains(says), "{name}: {error}");
        assert_eq!(inspect::reclaim::<Arena<S>>(name).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
        assert_eq!(inspect::remove::<Arena<S>>(name).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
        assert_eq!(&bytes_of::<S>(name), bytes, "{name}: never changed");
        Arena::<S>::remove(name).unwrap();
    }
    let error = inspect::inspect_bytes::<Arena<S>>("empty", 0, &[], |_| Liveness::Dead).unwrap_err();
    assert!(error.during().contains("not a shmptr object"));
    // The same empty or blank file while a creator may still write it (its
    // creation lock is held, or cannot be judged): an object being created.
    for liveness in [Liveness::Alive, Liveness::Unknown] {
        let info = inspect::inspect_bytes::<Arena<S>>("empty", 0, &[], |_| liveness).unwrap();
        assert_eq!((info.kind, info.state), (inspect::ObjectKind::Unknown, inspect::ObjectState::Initializing));
        let blank = [0u8; 4424];
        let info = inspect::inspect_bytes::<Arena<S>>("blank", 4424, &blank, |_| liveness).unwrap();
        assert_eq!((info.kind, info.state), (inspect::ObjectKind::Unknown, inspect::ObjectState::Initializing));
    }
}

arena_space!(PropSpace, 1 << 20);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes in a header or slot table give an `Info` or an error, never a panic.
    #[test]
    fn inspect_bytes_never_panics_on_mutated_headers(
        flips in proptest::collection::vec((0usize..4424, any::<u8>()), 0..16),
        cut in 0usize..=4424,
    ) {
        let mut bytes = VALID.with(|v| v.clone());
        for (at, value) in flips {
            bytes[at] = value;
        }
        bytes.truncate(cut);
        let _ = inspect::inspect_bytes::<Arena<PropSpace>>("v", bytes.len() as u64, &bytes, |_| Liveness::Dead);
        let _ = inspect::inspect_bytes::<Arena<PropSpace>>("v", u64::MAX, &bytes, |_| Liveness::Alive);
    }

    /// The same for a slice's header (its shape and length words among the bytes).
    #[test]
    fn inspect_bytes_never_panics_on_mutated_slice_headers(
        flips in proptest::collection::vec((0usize..4424, any::<u8>()), 0..16),
        cut in 0usize..=4424,
    ) {
        let mut bytes = VALID_SLICE.with(|v| v.clone());
        for (at, value) in flips {
            bytes[at] = value;
        }
        bytes.truncate(cut);
        if let Ok(info) = inspect::inspect_bytes::<Arena<PropSpace>>("s", bytes.len() as u64, &bytes, |_| Liveness::Dead) {
            // Whatever a peer wrote, the facts agree with each other.
            if let (Some(length), Some(each)) = (info.length, info.element_size) {
                prop_assert_eq!(length.checked_mul(each), Some(info.value_size));
            }
            prop_assert!(info.element_size.is_none() || info.length.is_some_and(|n| n > 0));
        }
    }
}

thread_local! {
    static VALID: Vec<u8> = {
        let a = Shared::<u64, PropSpace>::options().slots(64).create("v", 9).unwrap();
        let bytes = bytes_of::<PropSpace>("v");
        drop(a);
        bytes
    };
    /// A `Shared<[u32]>` of 7 elements with 64 slots: its first 4,424 bytes.
    static VALID_SLICE: Vec<u8> = {
        let a = Shared::<[u32], PropSpace>::options().slots(64).from_slice("s", &[1, 2, 3, 4, 5, 6, 7]).unwrap();
        let mut bytes = bytes_of::<PropSpace>("s");
        drop(a);
        bytes.truncate(4424);
        bytes
    };
}

#[test]
fn inspect_reports_holders_of_a_valid_snapshot_taken_as_bytes() {
    let bytes = VALID.with(|v| v.clone());
    let info = inspect::inspect_bytes::<Arena<PropSpace>>("v", bytes.len() as u64, &bytes, |_| Liveness::Dead).unwrap();
    assert_eq!((info.state, info.total_len, info.holders.len()), (ObjectState::Ready, 4424, 1));
    let wrong_name = inspect::inspect_bytes::<Arena<PropSpace>>("w", bytes.len() as u64, &bytes, |_| Liveness::Dead);
    assert!(wrong_name.unwrap_err().during().contains("damaged"));
}
