//! Zero heap allocations on the Linux backend: a counting global allocator (counting
//! only on the thread under test) around every operation of `Shared`, `Unique`,
//! `Mutex`, `Condvar` and `Semaphore`.
#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use shmptr_linux::{Condvar, Mutex, Semaphore, Shared, Unique};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counters are thread-local cells
// with const initialisers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's layout contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many heap allocations it made on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.with(Cell::get))
}

/// Asserts `f` allocates nothing and records the operation's name.
fn zero<R>(checked: &mut Vec<&'static str>, what: &'static str, f: impl FnOnce() -> R) -> R {
    let (r, n) = allocations(f);
    assert_eq!(n, 0, "{what} made {n} heap allocation(s)");
    checked.push(what);
    r
}

#[test]
fn every_operation_on_linux_makes_zero_heap_allocations() {
    let prefix = format!("shmptr-t.{}.alloc", std::process::id());
    // Names are built before counting (format! allocates; the library must not).
    let (a, b, c, u, m, s, q) = (
        format!("{prefix}.a"),
        format!("{prefix}.b"),
        format!("{prefix}.c"),
        format!("{prefix}.u"),
        format!("{prefix}.m"),
        format!("{prefix}.s"),
        format!("{prefix}.q"),
    );
    let mut checked = Vec::with_capacity(64);
    let ck = &mut checked;
    // The counter works: a heap allocation on this thread is seen.
    let (_, control) = allocations(|| std::hint::black_box(Vec::<u8>::with_capacity(10)));
    assert_eq!(control, 1, "the counting allocator must see this thread's allocations");

    let shared = zero(ck, "Shared::create", || Shared::<AtomicU64>::create(&a, AtomicU64::new(1)).unwrap());
    let opened = zero(ck, "Shared::open", || Shared::<AtomicU64>::open(&a).unwrap());
    let clone = zero(ck, "Shared::clone", || opened.clone());
    zero(ck, "Shared::strong_count", || Shared::strong_count(&shared));
    zero(ck, "Shared::process_count", || Shared::process_count(&shared));
    zero(ck, "Shared::reclaim", || Shared::<AtomicU64>::reclaim(&a).unwrap());
    zero(ck, "Shared::drop (not last)", || drop(clone));
    zero(ck, "Shared::drop (attachment)", || drop(opened));
    zero(ck, "Shared::drop (last: destroy, unlink)", || drop(shared));
    zero(ck, "Shared::open (missing)", || Shared::<AtomicU64>::open(&a).unwrap_err());
    zero(ck, "Shared::open (bad name)", || Shared::<AtomicU64>::open("../x").unwrap_err());
    let ooc = zero(ck, "Shared::open_or_create", || Shared::<u64>::open_or_create(&b, || 5).unwrap());
    zero(ck, "Shared::drop (open_or_create)", || drop(ooc));
    let big = zero(ck, "Shared::create_zeroed", || Shared::<[u64; 1 << 16]>::create_zeroed(&c).unwrap());
    zero(ck, "Shared::drop (zeroed)", || drop(big));

    let unique = zero(ck, "Unique::create", || Unique::<[u32; 4]>::create(&u, [1, 2, 3, 4]).unwrap());
    zero(ck, "Unique::release", || Unique::release(unique));
    let mut claimed = zero(ck, "Unique::claim", || Unique::<[u32; 4]>::claim(&u).unwrap());
    zero(ck, "Unique::deref_mut", || claimed[0] = 10);
    zero(ck, "Unique::drop", || drop(claimed));

    let mutex = zero(ck, "Shared<Mutex>::create", || Shared::<Mutex<u64>>::create(&m, Mutex::new(0)).unwrap());
    zero(ck, "Mutex::lock + unlock", || *mutex.lock().unwrap() += 1);
    zero(ck, "Mutex::try_lock + unlock", || *mutex.try_lock().unwrap() += 1);
    zero(ck, "Mutex::lock_timeout + unlock", || *mutex.lock_timeout(Duration::from_millis(1)).unwrap() += 1);
    let held = mutex.lock().unwrap();
    zero(ck, "Mutex::try_lock (busy)", || mutex.try_lock().unwrap_err().kind());
    drop(held);

    let sem = zero(ck, "Shared<Semaphore>::create", || Shared::<Semaphore>::create(&s, Semaphore::new(1)).unwrap());
    zero(ck, "Semaphore::acquire", || sem.acquire());
    zero(ck, "Semaphore::try_acquire (none)", || sem.try_acquire().unwrap_err());
    zero(ck, "Semaphore::acquire_timeout (timeout)", || sem.acquire_timeout(Duration::from_millis(1)).unwrap_err());
    zero(ck, "Semaphore::release", || sem.release());
    zero(ck, "Semaphore::available", || sem.available());

    let queue = Shared::<(Mutex<u32>, Condvar)>::create(&q, (Mutex::new(0), Condvar::new())).unwrap();
    zero(ck, "Condvar::notify_one", || queue.1.notify_one());
    zero(ck, "Condvar::notify_all", || queue.1.notify_all());
    zero(ck, "Condvar::wait_timeout (timeout)", || {
        let guard = queue.0.lock().unwrap();
        queue.1.wait_timeout(guard, Duration::from_millis(1)).unwrap().1
    });
    zero(ck, "drop of sync objects", || drop((mutex, sem, queue)));

    println!("checked, 0 allocations each: {}", checked.join(", "));
    assert!(checked.len() >= 30);
}
