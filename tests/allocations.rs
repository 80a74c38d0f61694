//! Every operation runs without touching the heap (arena backend).
//!
//! A counting global allocator wraps the system one. It counts only on the thread
//! that switched counting on (a `const`-initialised thread-local, so the allocator
//! itself never allocates), so the test harness's other threads cannot disturb a
//! count. Each test names the operations it measures; each measured operation must
//! make exactly zero allocations and zero deallocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use shmptr::ErrorKind;
use shmptr_arena::{arena_space, Arena, Shared, Unique};

mod common;
use common::as_process;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static DEALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    // `try_with`: during thread teardown the thread-locals may be gone.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only
// `const`-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&DEALLOCATIONS);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with counting on; returns its result and the (allocations,
/// deallocations) made on this thread meanwhile.
fn counted<R>(f: impl FnOnce() -> R) -> (R, (u64, u64)) {
    ALLOCATIONS.with(|n| n.set(0));
    DEALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    (result, (ALLOCATIONS.with(Cell::get), DEALLOCATIONS.with(Cell::get)))
}

/// Runs the operation `what`, failing the test if it touched the heap.
fn heap_free<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (result, (allocations, deallocations)) = counted(f);
    assert_eq!((allocations, deallocations), (0, 0), "{what}: (allocations, deallocations)");
    result
}

/// A fixed buffer to format into without the heap.
struct StackText {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// ---- The counter itself ----

#[test]
fn the_counter_sees_allocations_and_deallocations_on_its_own_thread() {
    let (boxed, (allocations, _)) = counted(|| Box::new(7u64));
    assert_eq!(allocations, 1, "Box::new");
    let ((), (_, deallocations)) = counted(|| drop(boxed));
    assert_eq!(deallocations, 1, "dropping a Box");
    let ((), counts) = counted(|| {
        let mut v = Vec::with_capacity(1);
        v.extend_from_slice(&[1u8, 2, 3]);
    });
    assert_eq!(counts, (2, 1), "Vec::with_capacity then a growing extend");
}

#[test]
fn the_counter_ignores_other_threads() {
    let start = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let (s, d) = (start.clone(), done.clone());
    let other = std::thread::spawn(move || {
        s.wait();
        for i in 0..100u64 {
            drop(std::hint::black_box(vec![i; 16]));
        }
        d.wait();
    });
    let ((), counts) = counted(|| {
        start.wait();
        done.wait();
    });
    other.join().unwrap();
    assert_eq!(counts, (0, 0), "another thread's 100 allocations");
}

// ---- Shared ----

#[test]
fn create_and_create_with_options_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let a = heap_free("Shared::create", || Shared::<u64, S>::create("a", 1).unwrap());
    let b = heap_free("Shared::options().slots(4).create", || {
        Shared::<AtomicU64, S>::options().slots(4).create("b", AtomicU64::new(2)).unwrap()
    });
    assert_eq!((*a, b.load(Ordering::Relaxed)), (1, 2));
}

#[test]
fn create_zeroed_and_create_with_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let zeroed = heap_free("Shared::create_zeroed", || Shared::<[u64; 1024], S>::create_zeroed("zeroed").unwrap());
    let with = heap_free("Shared::create_with", || {
        Shared::<[u32; 16], S>::create_with("with", |v| v.iter_mut().for_each(|w| *w = 5)).unwrap()
    });
    assert!(zeroed.iter().all(|&w| w == 0));
    assert_eq!(with[15], 5);
}

#[test]
fn open_in_this_and_another_process_allocates_nothing() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("o", 3).unwrap();
    let same = heap_free("Shared::open (second attachment, same process)", || Shared::<u64, S>::open("o").unwrap());
    let p = Arena::<S>::spawn();
    let other =
        heap_free("Shared::open (another process)", || as_process::<S, _>(p, || Shared::<u64, S>::open("o").unwrap()));
    let timed = heap_free("Shared::options().timeout(..).open", || {
        Shared::<u64, S>::options().timeout(std::time::Duration::from_millis(1)).open("o").unwrap()
    });
    assert_eq!(Shared::strong_count(&a), 4);
    as_process::<S, _>(p, || drop(other));
    drop((same, timed));
}

#[test]
fn clone_and_a_drop_that_is_not_the_last_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("c", 1).unwrap();
    let b = heap_free("Shared::clone", || a.clone());
    assert_eq!(Shared::strong_count(&a), 2);
    heap_free("drop of a clone (attachment stays)", || drop(b));
    let other = Shared::<u64, S>::open("c").unwrap();
    heap_free("drop of an attachment's last handle (object stays)", || drop(other));
    assert_eq!(Shared::strong_count(&a), 1);
    assert!(Arena::<S>::exists("c"));
    // A forked child: its clone of an inherited handle re-opens the object by name.
    let p = Arena::<S>::spawn();
    let inherited = a.clone();
    let childs = heap_free("clone of an inherited handle in another process (re-opens)", || {
        as_process::<S, _>(p, || inherited.clone())
    });
    assert_eq!(Shared::process_count(&a), 2);
    heap_free("drop of the child's own clone", || as_process::<S, _>(p, || drop(childs)));
    heap_free("drop of an inherited handle in another process", || as_process::<S, _>(p, || drop(inherited)));
}

#[test]
fn the_last_drop_destroys_without_allocating() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("last", 1).unwrap();
    heap_free("drop of the last handle (drops T, unlinks)", || drop(a));
    assert!(!Arena::<S>::exists("last"));
    // The last live holder, with a dead one to reclaim on the way out.
    let a = Shared::<u64, S>::create("last2", 1).unwrap();
    let p = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(p, || Shared::<u64, S>::open("last2").unwrap()));
    // SAFETY: `p`'s only handle is leaked; nothing runs as `p`.
    unsafe { Arena::<S>::kill(p) };
    heap_free("drop of the last live handle (reclaims the dead, destroys)", || drop(a));
    assert!(!Arena::<S>::exists("last2"));
}

#[test]
fn strong_count_and_process_count_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("n", 1).unwrap();
    let p = Arena::<S>::spawn();
    let b = as_process::<S, _>(p, || Shared::<u64, S>::open("n").unwrap());
    assert_eq!(heap_free("Shared::strong_count", || Shared::strong_count(&a)), 2);
    assert_eq!(heap_free("Shared::process_count", || Shared::process_count(&a)), 2);
    as_process::<S, _>(p, || drop(b));
}

#[test]
fn reclaim_allocates_nothing() {
    arena_space!(S, 1 << 20);
    let creator = Arena::<S>::spawn();
    let a = as_process::<S, _>(creator, || Shared::<u64, S>::create("r", 1).unwrap());
    assert_eq!(heap_free("Shared::reclaim (nothing dead)", || Shared::<u64, S>::reclaim("r").unwrap()), 0);
    let p = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(p, || Shared::<u64, S>::open("r").unwrap()));
    // SAFETY: `p`'s only handle is leaked; nothing runs as `p`.
    unsafe { Arena::<S>::kill(p) };
    assert_eq!(heap_free("Shared::reclaim (one dead holder)", || Shared::<u64, S>::reclaim("r").unwrap()), 1);
    std::mem::forget(a);
    // SAFETY: `creator`'s only handle is leaked just above; nothing runs as it.
    unsafe { Arena::<S>::kill(creator) };
    let reclaimed =
        heap_free("Shared::reclaim (every holder dead: destroys)", || Shared::<u64, S>::reclaim("r").unwrap());
    assert_eq!(reclaimed, 1);
    assert!(!Arena::<S>::exists("r"));
    assert_eq!(heap_free("Shared::reclaim (missing name)", || Shared::<u64, S>::reclaim("r").unwrap()), 0);
}

#[test]
fn open_or_create_allocates_nothing_when_creating_or_opening() {
    arena_space!(S, 1 << 20);
    let a = heap_free("Shared::open_or_create (creates)", || Shared::<u64, S>::open_or_create("ooc", || 4).unwrap());
    let b = heap_free("Shared::open_or_create (opens)", || Shared::<u64, S>::open_or_create("ooc", || 5).unwrap());
    assert_eq!((*a, *b), (4, 4));
}

// ---- Unique ----

#[test]
fn unique_create_release_claim_and_drop_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let u = heap_free("Unique::create", || Unique::<u64, S>::create("u", 1).unwrap());
    heap_free("Unique::release", || Unique::release(u));
    let p = Arena::<S>::spawn();
    let mut claimed = heap_free("Unique::claim (another process)", || {
        as_process::<S, _>(p, || Unique::<u64, S>::claim("u").unwrap())
    });
    // Written as its owner: a `Unique` used by another process counts as inherited.
    as_process::<S, _>(p, || *claimed = 2);
    heap_free("drop of a Unique (drops T, unlinks)", || as_process::<S, _>(p, || drop(claimed)));
    assert!(!Arena::<S>::exists("u"));
    // A dead owner's object is claimed, also heap-free.
    let owner = Arena::<S>::spawn();
    std::mem::forget(as_process::<S, _>(owner, || Unique::<u64, S>::create("u2", 3).unwrap()));
    // SAFETY: `owner`'s only handle is leaked; nothing runs as `owner`.
    unsafe { Arena::<S>::kill(owner) };
    let taken = heap_free("Unique::claim (dead owner)", || Unique::<u64, S>::claim("u2").unwrap());
    assert_eq!(*taken, 3);
}

// ---- Error paths ----

#[test]
fn error_paths_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let kind = |what: &str, f: &dyn Fn() -> Option<ErrorKind>| heap_free(what, f).expect(what);
    assert_eq!(
        kind("Shared::open of a missing name", &|| Shared::<u64, S>::open("none").err().map(|e| e.kind())),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind("Unique::claim of a missing name", &|| Unique::<u64, S>::claim("none").err().map(|e| e.kind())),
        ErrorKind::NotFound
    );
    for bad in ["", "../x", ".hidden", "a b", "é"] {
        assert_eq!(
            kind("Shared::open of a bad name", &|| Shared::<u64, S>::open(bad).err().map(|e| e.kind())),
            ErrorKind::InvalidName
        );
        assert_eq!(
            kind("Shared::create of a bad name", &|| Shared::<u64, S>::create(bad, 1).err().map(|e| e.kind())),
            ErrorKind::InvalidName
        );
        assert_eq!(
            kind("Unique::create of a bad name", &|| Unique::<u64, S>::create(bad, 1).err().map(|e| e.kind())),
            ErrorKind::InvalidName
        );
        assert_eq!(
            kind("Shared::reclaim of a bad name", &|| Shared::<u64, S>::reclaim(bad).err().map(|e| e.kind())),
            ErrorKind::InvalidName
        );
    }
    let long = "a".repeat(201);
    assert_eq!(
        kind("Shared::open of a 201-byte name", &|| Shared::<u64, S>::open(&long).err().map(|e| e.kind())),
        ErrorKind::InvalidName
    );

    let _a = Shared::<u64, S>::options().slots(1).create("full", 1).unwrap();
    assert_eq!(
        kind("Shared::create of an existing name", &|| Shared::<u64, S>::create("full", 2).err().map(|e| e.kind())),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind("Shared::open with another type", &|| Shared::<u32, S>::open("full").err().map(|e| e.kind())),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        kind("Unique::claim of a Shared", &|| Unique::<u64, S>::claim("full").err().map(|e| e.kind())),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        kind("Shared::open of a full slot table", &|| Shared::<u64, S>::open("full").err().map(|e| e.kind())),
        ErrorKind::TooManyProcesses
    );
    let _u = Unique::<u64, S>::create("owned", 1).unwrap();
    assert_eq!(
        kind("Unique::claim of a live owner's object", &|| Unique::<u64, S>::claim("owned").err().map(|e| e.kind())),
        ErrorKind::Busy
    );
    Arena::<S>::plant("garbage", &[0xa5; 512]).unwrap();
    assert_eq!(
        kind("Shared::open of garbage", &|| Shared::<u64, S>::open("garbage").err().map(|e| e.kind())),
        ErrorKind::Corrupt
    );
    Arena::<S>::plant("short", &[0; 8]).unwrap();
    assert_eq!(
        kind("Shared::open of a too-short object (waits, then fails)", &|| Shared::<u64, S>::open("short")
            .err()
            .map(|e| e.kind())),
        ErrorKind::Corrupt
    );
    assert_eq!(
        kind("Shared::options().slots(0).create", &|| Shared::<u64, S>::options()
            .slots(0)
            .create("zero", 1)
            .err()
            .map(|e| e.kind())),
        ErrorKind::Unsupported
    );

    let e = Shared::<u64, S>::open("none").unwrap_err();
    let mut text = StackText { buf: [0; 512], len: 0 };
    heap_free("Display of an Error", || write!(text, "{e}").unwrap());
    assert!(text.len > 0);
}

// ---- Runtime-sized objects, the builders, `Released` (issue 13) ----

#[test]
fn slice_constructors_and_opens_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let items = [7u32; 100];
    let length = std::hint::black_box(1000);
    let a = heap_free("Shared::from_slice", || Shared::<[u32], S>::from_slice("s.copy", &items).unwrap());
    let b =
        heap_free("Shared::create_slice_zeroed", || Shared::<[u64], S>::create_slice_zeroed("s.zero", length).unwrap());
    let c = heap_free("Shared::create_slice_with", || {
        Shared::<[u16], S>::create_slice_with("s.with", length, |i| i as u16).unwrap()
    });
    let d = heap_free("Shared::options().slots(4).create_slice_zeroed", || {
        Shared::<[u8], S>::options().slots(4).create_slice_zeroed("s.opts", length).unwrap()
    });
    let opened = heap_free("Shared::open of a slice", || Shared::<[u16], S>::open("s.with").unwrap());
    let p = Arena::<S>::spawn();
    let other = heap_free("Shared::open of a slice (another process)", || {
        as_process::<S, _>(p, || Shared::<[u32], S>::open("s.copy").unwrap())
    });
    let (e, created) = heap_free("Options::open_or_create_slice_with_status (creates)", || {
        Shared::<[u32], S>::options().open_or_create_slice_with_status("s.ooc", length, |i| i as u32).unwrap()
    });
    assert!(created);
    let f = heap_free("Shared::open_or_create_slice_with (opens)", || {
        Shared::<[u32], S>::open_or_create_slice_with("s.ooc", 1, |i| i as u32).unwrap()
    });
    let empty = heap_free("Shared::create_slice_zeroed (empty)", || {
        Shared::<[u64], S>::create_slice_zeroed("s.empty", 0).unwrap()
    });
    assert_eq!(
        (a.len(), b.len(), c[999], d.len(), opened.len(), other[99], f.len(), empty.len()),
        (100, 1000, 999, 1000, 1000, 7, 1000, 0)
    );
    assert_eq!(
        heap_free("Shared::open of a slice as another element", || Shared::<[u64], S>::open("s.copy")
            .err()
            .map(|e| e.kind())),
        Some(ErrorKind::TypeMismatch)
    );
    assert_eq!(
        heap_free("Shared::create_slice_zeroed of an overflowing length", || {
            Shared::<[u64], S>::create_slice_zeroed("s.huge", usize::MAX / 4).err().map(|e| e.kind())
        }),
        Some(ErrorKind::Unsupported)
    );
    heap_free("Shared::strong_count / ptr_eq of a slice", || {
        assert_eq!(Shared::strong_count(&c), 2);
        assert!(Shared::ptr_eq(&c, &opened));
    });
    as_process::<S, _>(p, || heap_free("drop of a slice handle (another process)", || drop(other)));
    heap_free("drop of slices (the last handles: destroy)", || drop((a, b, c, d, opened, e, f, empty)));
    assert!(!Arena::<S>::exists("s.with"));
}

#[test]
fn open_or_create_with_status_allocates_nothing() {
    arena_space!(S, 1 << 20);
    let (a, created) = heap_free("Shared::open_or_create_with_status (creates)", || {
        Shared::<u64, S>::open_or_create_with_status("st", || 4).unwrap()
    });
    let (b, opened) = heap_free("Shared::open_or_create_with_status (opens)", || {
        Shared::<u64, S>::options().open_or_create_with_status("st", || 5).unwrap()
    });
    assert_eq!((*a, *b, created, opened), (4, 4, true, false));
}

#[test]
fn unique_builders_slices_and_released_allocate_nothing() {
    arena_space!(S, 1 << 20);
    let w = heap_free("Unique::create_with", || Unique::<[u32; 64], S>::create_with("u.with", |v| v[63] = 63).unwrap());
    let z = heap_free("Unique::create_zeroed", || Unique::<[u64; 1024], S>::create_zeroed("u.zero").unwrap());
    let o = heap_free("Unique::options().mode(..).create_with", || {
        Unique::<u64, S>::options().mode(0o600).create_with("u.opts", |v| *v = 2).unwrap()
    });
    let oz = heap_free("Unique::options().mode(..).create_zeroed", || {
        Unique::<u64, S>::options().mode(0o600).create_zeroed("u.optz").unwrap()
    });
    assert_eq!((w[63], z[1023], *o, *oz), (63, 0, 2, 0));
    let length = std::hint::black_box(4096);
    let copy = heap_free("Unique::from_slice", || Unique::<[u8], S>::from_slice("f.copy", &[1; 64]).unwrap());
    let made = heap_free("Unique::create_slice_with", || {
        Unique::<[u8], S>::create_slice_with("f.with", length, |i| i as u8).unwrap()
    });
    let mut frame =
        heap_free("Unique::create_slice_zeroed", || Unique::<[u8], S>::create_slice_zeroed("f.zero", length).unwrap());
    heap_free("Unique<[u8]>::deref_mut", || frame.fill(3));
    heap_free("Unique::release of a slice", || Unique::release(frame));
    let p = Arena::<S>::spawn();
    let claimed = heap_free("Unique::claim of a slice (another process)", || {
        as_process::<S, _>(p, || Unique::<[u8], S>::claim("f.zero").unwrap())
    });
    assert_eq!((claimed.len(), claimed[4095]), (4096, 3));
    as_process::<S, _>(p, || heap_free("drop of a claimed slice (destroys)", || drop(claimed)));

    let parked = heap_free("Unique::release_mapped", || Unique::release_mapped(made));
    let made = heap_free("Released::claim", || parked.claim().unwrap());
    assert_eq!(made[255], 255);
    let parked = Unique::release_mapped(made);
    heap_free("drop of a Released (unmaps only)", || drop(parked));
    let made = heap_free("Unique::claim of a parked slice", || Unique::<[u8], S>::claim("f.with").unwrap());
    heap_free("drop of Uniques (destroy)", || drop((w, z, o, oz, copy, made)));
    assert!(!Arena::<S>::exists("f.with"));
}
