//! Adversarial review of issue 13 (runtime-sized objects, builders, `Released`)
//! on the arena backend: simulated processes, deaths and forged bytes. A test
//! marked `#[ignore = "bug: .."]` fails on the code it was written against and
//! shows the bug it names; the others show an attack that is defended and stay as
//! regression tests.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use shmptr::{fingerprint, ErrorKind, NAME_MAX};
use shmptr_arena::{arena_space, Arena, Shared, Unique};
use shmptr_suite::Counted;

mod common;
use common::as_process;

/// The kind of an error, or `None` for a handle.
fn kind<T>(result: shmptr::Result<T>) -> Option<ErrorKind> {
    result.err().map(|e| e.kind())
}

// ---- A `Released` whose object is gone ----

#[test]
fn review_a_released_of_a_destroyed_object_never_claims_its_successor_under_the_name() {
    arena_space!(S, 1 << 20);
    let other = Arena::<S>::spawn();
    let mut frame = Unique::<[u32], S>::create_slice_zeroed("frame", 8).unwrap();
    frame.fill(1);
    let parked = Unique::release_mapped(frame);
    // Another process claims it by name and drops it (destroys it), then makes a
    // new object under the same name and parks it.
    as_process::<S, _>(other, || {
        let frame = Unique::<[u32], S>::claim("frame").unwrap();
        assert!(frame.iter().all(|&v| v == 1));
        drop(frame);
        let fresh = Unique::<[u32], S>::from_slice("frame", &[2; 3]).unwrap();
        Unique::release(fresh);
    });
    // The kept mapping is the old object's: it claims nothing, and never the new one.
    let error = parked.claim().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    let parked = error.into_released();
    drop(parked);
    let fresh = Unique::<[u32], S>::claim("frame").unwrap();
    assert_eq!(&*fresh, &[2, 2, 2], "the successor is untouched");
    drop(fresh);
    assert!(!Arena::<S>::exists("frame"));
}

#[test]
fn review_a_released_claims_back_a_frame_whose_claimer_died_owning_it() {
    arena_space!(S, 1 << 20);
    let other = Arena::<S>::spawn();
    let frame = Unique::<[u8], S>::create_slice_zeroed("frame", 100).unwrap();
    let parked = Unique::release_mapped(frame);
    let theirs = as_process::<S, _>(other, || Unique::<[u8], S>::claim("frame").unwrap());
    let error = parked.claim().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Busy, "a live owner has it");
    let parked = error.into_released();
    std::mem::forget(theirs); // a killed process runs no destructor
                              // SAFETY: nothing `other` made is used again (its one handle is forgotten).
    unsafe { Arena::<S>::kill(other) };
    let mut frame = parked.claim().expect("its owner died");
    frame[0] = 1;
    assert_eq!(frame.len(), 100);
    drop(frame);
    assert!(!Arena::<S>::exists("frame"));
}

#[test]
fn review_a_released_and_a_claim_by_name_never_give_two_uniques_in_one_process() {
    arena_space!(S, 1 << 20);
    let frame = Unique::<[u8], S>::create_slice_zeroed("frame", 16).unwrap();
    let parked = Unique::release_mapped(frame);
    let by_name = Unique::<[u8], S>::claim("frame").unwrap();
    let error = parked.claim().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Busy, "this process owns it through another mapping");
    let parked = error.into_released();
    // Released again through the by-name mapping: now the kept one may claim.
    let second = Unique::release_mapped(by_name);
    assert_eq!(kind(Unique::<[u8], S>::claim("frame").map(std::mem::forget)), None);
    // This process owns it (through the forgotten Unique's mapping): both
    // released mappings are Busy.
    assert_eq!(parked.claim().unwrap_err().kind(), ErrorKind::Busy);
    assert_eq!(second.claim().unwrap_err().kind(), ErrorKind::Busy);
}

// ---- Type checks ----

#[test]
fn review_slices_and_arrays_of_the_same_bytes_are_different_types() {
    arena_space!(S, 1 << 20);
    let array = Shared::<[u32; 4], S>::create("array", [1, 2, 3, 4]).unwrap();
    let slice = Shared::<[u32], S>::from_slice("slice", &[1, 2, 3, 4]).unwrap();
    let bytes = Shared::<[[u8; 4]], S>::from_slice("bytes", &[[1, 0, 0, 0]; 4]).unwrap();
    let unique = Unique::<[u8], S>::from_slice("unique", &[1; 4]).unwrap();
    let shared_bytes = Shared::<[u8], S>::from_slice("shared_bytes", &[1; 4]).unwrap();
    let zsts = Shared::<[()], S>::create_slice_zeroed("zsts", 16).unwrap();
    let mismatch = Some(ErrorKind::TypeMismatch);
    assert_eq!(kind(Shared::<[u32], S>::open("array")), mismatch, "[u32; 4] as [u32]");
    assert_eq!(kind(Shared::<[u32; 4], S>::open("slice")), mismatch, "[u32] as [u32; 4]");
    assert_eq!(kind(Shared::<[u32; 1], S>::open("slice")), mismatch, "[u32] as [u32; 1]");
    assert_eq!(kind(Shared::<u32, S>::open("slice")), mismatch, "[u32] as u32");
    assert_eq!(kind(Shared::<[u32], S>::open("bytes")), mismatch, "[[u8; 4]] as [u32]");
    assert_eq!(kind(Shared::<[[u8; 4]], S>::open("slice")), mismatch, "[u32] as [[u8; 4]]");
    assert_eq!(kind(Shared::<[u8], S>::open("bytes")), mismatch, "[[u8; 4]] as [u8]");
    assert_eq!(kind(Shared::<[i32], S>::open("slice")), mismatch, "[u32] as [i32]");
    assert_eq!(kind(Shared::<[AtomicU64], S>::open("slice")), mismatch, "[u32] as [AtomicU64]");
    assert_eq!(kind(Shared::<[u8], S>::open("unique")), mismatch, "Unique<[u8]> as Shared<[u8]>");
    assert_eq!(kind(Unique::<[u8], S>::claim("shared_bytes")), mismatch, "Shared<[u8]> as Unique<[u8]>");
    assert_eq!(kind(Shared::<[u8], S>::open("zsts")), mismatch, "[()] as [u8]");
    assert_eq!(kind(Shared::<[u64], S>::open("zsts")), mismatch, "[()] as [u64]");
    assert_eq!(kind(Shared::<(), S>::open("zsts")), mismatch, "[()] as ()");
    assert_eq!(kind(Shared::<[(); 16], S>::open("zsts")), mismatch, "[()] as [(); 16]");
    assert_eq!(Shared::<[u32], S>::open("slice").unwrap().len(), 4);
    assert_eq!(Shared::<[()], S>::open("zsts").unwrap().len(), 16);
    drop((array, slice, bytes, unique, shared_bytes, zsts));
    for name in ["array", "slice", "bytes", "unique", "shared_bytes", "zsts"] {
        assert!(!Arena::<S>::exists(name), "{name} left");
    }
}

// ---- Zero-sized elements ----

#[test]
fn review_a_unique_slice_of_usize_max_zsts_goes_round_a_hand_off() {
    arena_space!(S, 1 << 20);
    let other = Arena::<S>::spawn();
    let mut zsts = Unique::<[()], S>::create_slice_zeroed("zsts", usize::MAX).unwrap();
    assert_eq!(zsts.len(), usize::MAX);
    zsts[usize::MAX - 1] = ();
    let parked = Unique::release_mapped(zsts);
    as_process::<S, _>(other, || {
        let zsts = Unique::<[()], S>::claim("zsts").unwrap();
        assert_eq!(zsts.len(), usize::MAX);
        assert_eq!(kind(Unique::<[u8], S>::claim("zsts")), Some(ErrorKind::TypeMismatch));
        Unique::release(zsts);
    });
    let zsts = parked.claim().unwrap();
    assert_eq!(zsts.len(), usize::MAX);
    drop(zsts);
    assert!(!Arena::<S>::exists("zsts"));
}

/// Drops of [`Ghost`], in any process of this test binary.
static GHOST_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A zero-sized element with a drop (counted), as a user may declare one.
#[repr(C)]
struct Ghost {
    nothing: [u8; 0],
}
shmptr::shm_safe!(Ghost { nothing }, Zeroable);

impl Drop for Ghost {
    fn drop(&mut self) {
        GHOST_DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where the write-once fields and the checksum lie (FORMAT.md, 64-bit).
const CREATOR_AT: usize = 16;
const FIXED_AT: usize = 24;
const CHECKSUM_AT: usize = 280;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Rewrites a slice object's length word and seals the header again with a
/// valid checksum (FORMAT.md §3.5: FNV-1a over 32-bit words: the creator's two,
/// the 16 of the fields before the name, then the name's), as a hostile peer that
/// read FORMAT.md can.
fn forge_length(b: &mut [u8], length: u64) {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mix = |h: u64, w: u32| (h ^ w as u64).wrapping_mul(PRIME);
    b[FIXED_AT + 56..FIXED_AT + 64].copy_from_slice(&length.to_le_bytes());
    let creator = u64_at(b, CREATOR_AT);
    let mut h = mix(mix(fingerprint::start("shmptr.fixed", 0, 0), creator as u32), (creator >> 32) as u32);
    let name_len = (u32_at(b, FIXED_AT + 48) as usize).min(NAME_MAX);
    for i in 0..16 + name_len.div_ceil(4) {
        h = mix(h, u32_at(b, FIXED_AT + 4 * i));
    }
    b[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&h.to_le_bytes());
}

#[test]
fn review_a_forged_length_of_a_sized_element_slice_is_refused() {
    arena_space!(S, 1 << 20);
    let table = Shared::<[u64], S>::from_slice("table", &[7; 4]).unwrap();
    // SAFETY: only this thread uses `S`; the bytes change as a peer's writes would.
    unsafe { Arena::<S>::with_bytes("table", |b| forge_length(b, 1 << 20)) }.unwrap();
    assert_eq!(kind(Shared::<[u64], S>::open("table")), Some(ErrorKind::Corrupt), "length without a size to match");
    drop(table);
}

#[test]
fn review_a_forged_length_of_a_zero_sized_element_slice_is_refused() {
    // Zero-sized elements cost no bytes, so a peer could forge any length with a
    // self-consistent header (0 bytes * any length = 0 bytes) and have the last
    // holder run the element's `Drop` that many times. Slices of zero-sized
    // elements that need dropping are refused at create and at open; those
    // without a drop (`[()]`) are fine, any length.
    arena_space!(S, 1 << 20);
    let made = Shared::<[Ghost], S>::create_slice_zeroed("ghosts", 3);
    assert_eq!(kind(made), Some(ErrorKind::Unsupported));
    assert!(!Arena::<S>::exists("ghosts"), "refused before anything is created");
    assert_eq!(kind(Unique::<[Ghost], S>::claim("ghosts")), Some(ErrorKind::Unsupported));
    let units = Shared::<[()], S>::create_slice_zeroed("units", 3).unwrap();
    // SAFETY: only this thread uses `S`; the bytes change as a peer's writes would.
    unsafe { Arena::<S>::with_bytes("units", |b| forge_length(b, 1 << 40)) }.unwrap();
    assert_eq!(Shared::<[()], S>::open("units").unwrap().len(), 1 << 40, "no bytes, no drop: harmless");
    drop(units);
}

// ---- Drops of elements ----

#[test]
fn review_a_panicking_slice_initializer_drops_each_made_element_once_and_frees_the_name() {
    arena_space!(S, 1 << 20);
    for (unique, fail_at) in [(false, 0), (false, 3), (true, 0), (true, 5)] {
        let mut counters = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let make = |i: usize| {
                if i == fail_at {
                    panic!("the initializer gives up at {i}");
                }
                let c = Counted::new(i as u64);
                counters.push(c.counter);
                c
            };
            match unique {
                false => drop(Shared::<[Counted], S>::create_slice_with("partial", 8, make)),
                true => drop(Unique::<[Counted], S>::create_slice_with("partial", 8, make)),
            }
        }));
        assert!(outcome.is_err());
        for &c in &counters {
            assert_eq!(Counted::drops(c), 1, "unique {unique}, fail at {fail_at}: element dropped once");
        }
        assert!(!Arena::<S>::exists("partial"), "the unfinished object is removed");
        let (again, created) =
            Shared::<[u8], S>::options().open_or_create_slice_with_status("partial", 2, |_| 1).unwrap();
        assert!(created);
        drop(again);
    }
}

#[test]
fn review_every_element_is_dropped_once_by_the_last_holder_whoever_it_is() {
    arena_space!(S, 1 << 20);
    let other = Arena::<S>::spawn();
    let mut counters = Vec::new();
    let table = Shared::<[Counted], S>::create_slice_with("table", 5, |i| {
        let c = Counted::new(i as u64);
        counters.push(c.counter);
        c
    })
    .unwrap();
    let theirs = as_process::<S, _>(other, || Shared::<[Counted], S>::open("table").unwrap());
    drop(table);
    assert!(counters.iter().all(|&c| Counted::drops(c) == 0), "a holder remains");
    as_process::<S, _>(other, || drop(theirs));
    assert!(counters.iter().all(|&c| Counted::drops(c) == 1));

    // A Unique frame: released with its mapping kept, claimed and dropped by the
    // other process; the kept mapping's drop drops nothing.
    let mut counters = Vec::new();
    let frame = Unique::<[Counted], S>::create_slice_with("frame", 4, |i| {
        let c = Counted::new(i as u64);
        counters.push(c.counter);
        c
    })
    .unwrap();
    let parked = Unique::release_mapped(frame);
    as_process::<S, _>(other, || drop(Unique::<[Counted], S>::claim("frame").unwrap()));
    assert!(counters.iter().all(|&c| Counted::drops(c) == 1));
    assert_eq!(parked.claim().unwrap_err().kind(), ErrorKind::NotFound);
    assert!(counters.iter().all(|&c| Counted::drops(c) == 1), "a dead mapping drops nothing");
}
