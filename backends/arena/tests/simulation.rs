//! What the arena's simulation promises beyond the behaviour suite: a dead
//! process's mappings are freed, the simulated clock never runs out, its
//! critical sections hold under threads, and a fresh object reads as zeros.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use shmptr::{Backend, ErrorKind, Mutex, Name, Platform, Region};
use shmptr_arena::{arena_space, Arena, Shared};

fn name(s: &str) -> Name<'_> {
    Name::new(s).unwrap()
}

#[test]
fn a_killed_process_mapping_of_an_unlinked_object_gives_its_memory_back() {
    arena_space!(S, 64 * 1024);
    let total = Arena::<S>::free_bytes();
    let mine = <Arena<S> as Backend>::create(name("obj"), 4096, &Default::default()).unwrap();
    let b = Arena::<S>::spawn();
    // SAFETY: one thread uses `S`; `b` is alive.
    let me = unsafe { Arena::<S>::enter(b) };
    let theirs = <Arena<S> as Backend>::open(name("obj"), &Default::default()).unwrap();
    // SAFETY: as above; `me` is alive.
    unsafe { Arena::<S>::enter(me) };
    // `b` is killed holding its mapping: it never drops it.
    core::mem::forget(theirs);
    // SAFETY: nothing `b` made is used again (its region is forgotten).
    unsafe { Arena::<S>::kill(b) };
    <Arena<S> as Backend>::unlink(name("obj"), &mine).unwrap();
    drop(mine);
    assert_eq!(Arena::<S>::free_bytes(), total, "the dead process's mapping still holds the object's memory");
}

#[test]
fn an_object_whose_last_live_holder_leaves_after_a_holder_died_is_freed() {
    arena_space!(S, 64 * 1024);
    let total = Arena::<S>::free_bytes();
    let a = Shared::<AtomicU64, S>::create("obj", AtomicU64::new(1)).unwrap();
    for _ in 0..50 {
        let b = Arena::<S>::spawn();
        // SAFETY: one thread uses `S`; `b` is alive.
        let me = unsafe { Arena::<S>::enter(b) };
        let theirs = Shared::<AtomicU64, S>::open("obj").unwrap();
        theirs.fetch_add(1, Ordering::Relaxed);
        core::mem::forget(theirs);
        // SAFETY: as above; `me` is alive.
        unsafe { Arena::<S>::enter(me) };
        // SAFETY: `b`'s only handle is forgotten.
        unsafe { Arena::<S>::kill(b) };
    }
    assert_eq!(a.load(Ordering::Relaxed), 51);
    // Its holders' slots are reclaimed by the core, their mappings by the arena.
    assert_eq!(Shared::process_count(&a), 1);
    drop(a);
    assert!(!Arena::<S>::exists("obj"));
    assert_eq!(Arena::<S>::free_bytes(), total, "50 dead processes' mappings leaked");
}

#[test]
fn a_wait_for_duration_max_does_not_exhaust_the_clock() {
    arena_space!(S, 64 * 1024);
    let word = AtomicU32::new(0);
    let before = Arena::<S>::now_nanos();
    Arena::<S>::wait(&word, 0, Some(Duration::MAX));
    let after = Arena::<S>::now_nanos();
    assert!(after > before, "a timed wait lets simulated time pass");
    assert!(after - before <= 1_000_000_000, "one wait advanced the clock by {} ns", after - before);
    // Time still passes afterwards.
    Arena::<S>::wait(&word, 0, Some(Duration::from_millis(5)));
    assert_eq!(Arena::<S>::now_nanos() - after, 5_000_000);
}

#[test]
fn timed_locks_still_time_out_and_take_over_after_a_wait_for_duration_max() {
    arena_space!(S, 64 * 1024);
    let m = Shared::<Mutex<u32, Arena<S>>, S>::create("m", Mutex::new(7)).unwrap();
    Arena::<S>::wait(&AtomicU32::new(0), 0, Some(Duration::MAX));
    let b = Arena::<S>::spawn();
    // SAFETY: one thread uses `S`; `b` is alive.
    let me = unsafe { Arena::<S>::enter(b) };
    let theirs = Shared::<Mutex<u32, Arena<S>>, S>::open("m").unwrap();
    let guard = theirs.lock().unwrap();
    // SAFETY: as above; `me` is alive.
    unsafe { Arena::<S>::enter(me) };
    // Held by a live process: a timed lock waits its time, then times out.
    let start = Arena::<S>::now_nanos();
    assert_eq!(m.lock_timeout(Duration::from_millis(3)).unwrap_err().kind(), ErrorKind::Timeout);
    assert!(Arena::<S>::now_nanos() - start >= 3_000_000);
    core::mem::forget(guard);
    core::mem::forget(theirs);
    // SAFETY: `b`'s handle and guard are forgotten.
    unsafe { Arena::<S>::kill(b) };
    let error = m.lock_timeout(Duration::from_secs(5)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    assert_eq!(*error.into_guard().unwrap(), 7);
}

#[test]
fn threads_creating_opening_and_dropping_at_once_never_corrupt_the_table() {
    arena_space!(S, 256 * 1024);
    let total = Arena::<S>::free_bytes();
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                let own = format!("own.{t}");
                for i in 0..200u64 {
                    let a = Shared::<AtomicU64, S>::create(&own, AtomicU64::new(i)).unwrap();
                    let b = Shared::<AtomicU64, S>::open(&own).unwrap();
                    assert_eq!(b.load(Ordering::Relaxed), i);
                    // Four threads replacing "common" at once may get Busy
                    // (the core's bounded retries); the table never breaks.
                    let c = loop {
                        match Shared::<AtomicU64, S>::open_or_create("common", || AtomicU64::new(0)) {
                            Ok(c) => break c,
                            Err(e) => assert_eq!(e.kind(), ErrorKind::Busy, "{e}"),
                        }
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                    drop((a, b, c));
                }
            });
        }
    });
    assert!(!Arena::<S>::exists("common"));
    assert_eq!(Arena::<S>::free_bytes(), total);
}

#[test]
fn objects_never_share_a_place_and_freed_gaps_are_reused() {
    use shmptr::Region;
    arena_space!(S, 64 * 1024, objects = 8, mappings = 16);
    let create = |n: &str, len| <Arena<S> as Backend>::create(name(n), len, &Default::default()).unwrap();
    let empty = create("empty", 0);
    let a = create("a", 100);
    assert_ne!(empty.as_ptr(), a.as_ptr(), "an empty object still has a place of its own");
    let b = create("b", 4096);
    let c = create("c", 100);
    let b_at = b.as_ptr();
    <Arena<S> as Backend>::unlink(name("b"), &b).unwrap();
    drop(b);
    let d = create("d", 2000);
    assert_eq!(d.as_ptr(), b_at, "first fit: the gap b left");
    assert!(d.as_ptr() > a.as_ptr() && d.as_ptr() < c.as_ptr());
    for (n, r) in [("empty", empty), ("a", a), ("c", c), ("d", d)] {
        <Arena<S> as Backend>::unlink(name(n), &r).unwrap();
    }
    assert_eq!(Arena::<S>::free_bytes(), 64 * 1024);
    // Eight records: the ninth object is OutOfMemory, not a corrupt table.
    let all: Vec<_> = (0..8).map(|i| create(&format!("o{i}"), 64)).collect();
    let ninth = <Arena<S> as Backend>::create(name("o8"), 64, &Default::default());
    assert_eq!(ninth.unwrap_err().kind(), ErrorKind::OutOfMemory);
    drop(all);
}

#[test]
fn a_fresh_object_reads_as_zeros_over_the_bytes_an_old_one_left_for_every_length() {
    arena_space!(S, 4 * 1024);
    for len in 1..=70 {
        let dirty = <Arena<S> as Backend>::create(name("dirty"), 128, &Default::default()).unwrap();
        // SAFETY: the region is ours alone, 128 bytes long.
        unsafe { dirty.as_ptr().as_ptr().write_bytes(0xa5, 128) };
        <Arena<S> as Backend>::unlink(name("dirty"), &dirty).unwrap();
        drop(dirty);
        let fresh = <Arena<S> as Backend>::create(name("fresh"), len, &Default::default()).unwrap();
        // SAFETY: the region is mapped, `len` bytes long; nobody writes it meanwhile.
        let bytes = unsafe { core::slice::from_raw_parts(fresh.as_ptr().as_ptr(), len) };
        assert!(bytes.iter().all(|&b| b == 0), "length {len}: {bytes:?}");
        // The byte just past it is the old object's, still dirty: not written.
        // SAFETY: within the old object's 128 bytes, in the arena.
        assert_eq!(unsafe { fresh.as_ptr().as_ptr().add(len).read() }, 0xa5, "length {len}");
        <Arena<S> as Backend>::unlink(name("fresh"), &fresh).unwrap();
    }
}
