//! Heap calls per operation (a counting global allocator) and bytes of overhead per
//! object.
//!
//! The allocator counts only on a thread that switched counting on, through
//! `const`-initialised thread-locals without destructors, so the counter itself
//! never allocates and no other thread disturbs a count. Every call into the heap
//! counts: `alloc`, `alloc_zeroed`, `realloc` and `dealloc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shmptr_linux::{Mutex, Shared, Unique};

use crate::children::name;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: during thread teardown the thread-locals may be gone.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = CALLS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only
// `const`-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with counting on; returns its result and the heap calls it made.
fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    CALLS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    (result, CALLS.with(Cell::get))
}

/// The operations reported, in order.
const OPERATIONS: [&str; 8] = ["create", "open", "clone", "drop", "lock", "unlock", "claim", "release"];

/// The worst count per operation so far.
struct Worst([u64; OPERATIONS.len()]);

impl Worst {
    fn note<R>(&mut self, operation: &str, (result, calls): (R, u64)) -> R {
        let i = OPERATIONS.iter().position(|o| *o == operation).expect("a known operation");
        self.0[i] = self.0[i].max(calls);
        result
    }
}

/// Heap calls per operation on the Linux backend: the most any single run of the
/// operation made, over several rounds (the first round includes first-use work
/// such as computing this process's identity). Every kind of drop counts as `drop`:
/// of a clone, of an attachment, of the last handle (destroys and unlinks), of a
/// `Unique` (destroys and unlinks).
pub fn measure(prefix: &str) -> Vec<(&'static str, u64)> {
    const ROUNDS: usize = 5;
    let (shared, mutex, unique) =
        (name(prefix, "allocs-shared"), name(prefix, "allocs-mutex"), name(prefix, "allocs-unique"));
    let mut worst = Worst([0; OPERATIONS.len()]);
    for _ in 0..ROUNDS {
        let a = worst.note("create", counted(|| Shared::<u64>::create(&shared, 1).expect("create")));
        let b = worst.note("open", counted(|| Shared::<u64>::open(&shared).expect("open")));
        let c = worst.note("clone", counted(|| a.clone()));
        worst.note("drop", counted(|| drop(c)));
        worst.note("drop", counted(|| drop(b)));
        worst.note("drop", counted(|| drop(a)));

        let m = Shared::<Mutex<u64>>::create(&mutex, Mutex::new(0)).expect("create a mutex");
        let mut guard = worst.note("lock", counted(|| m.lock().expect("lock")));
        *guard += 1;
        worst.note("unlock", counted(|| drop(guard)));
        drop(m);

        let u = Unique::<u64>::create(&unique, 1).expect("create a Unique");
        worst.note("release", counted(|| Unique::release(u)));
        let u = worst.note("claim", counted(|| Unique::<u64>::claim(&unique).expect("claim")));
        worst.note("drop", counted(|| drop(u)));
    }
    OPERATIONS.iter().copied().zip(worst.0).collect()
}

/// Bytes of overhead per object: the segment header, one holder slot, the file size
/// of a `Shared<u64>` with the default 64 slots, and an `Arc<u64>`'s allocation.
pub fn overhead(prefix: &str) -> Vec<(&'static str, u64)> {
    let object = name(prefix, "overhead");
    let shared = Shared::<u64>::create(&object, 0).expect("create");
    let file_len = std::fs::metadata(format!("/dev/shm/{object}")).expect("the object's file").len();
    drop(shared);
    vec![
        ("header", shmptr::HEADER_BYTES as u64),
        ("slot", shmptr::SLOT_BYTES as u64),
        ("shared_u64_64_slots", file_len),
        // Strong and weak counts, then the value.
        ("arc_u64", (2 * size_of::<usize>() + size_of::<u64>()) as u64),
    ]
}
