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

#[test]
fn every_slice_and_builder_operation_on_linux_makes_zero_heap_allocations() {
    let prefix = format!("shmptr-t.{}.alloc-slices", std::process::id());
    let names: Vec<String> = (0..12).map(|i| format!("{prefix}.{i}")).collect();
    let n = |i: usize| names[i].as_str();
    let mut checked = Vec::with_capacity(64);
    let ck = &mut checked;
    let length = std::hint::black_box(100_000);
    let items = [5u32; 256];

    let a = zero(ck, "Shared::from_slice", || Shared::<[u32]>::from_slice(n(0), &items).unwrap());
    let b = zero(ck, "Shared::create_slice_zeroed", || Shared::<[u64]>::create_slice_zeroed(n(1), length).unwrap());
    let c = zero(ck, "Shared::create_slice_with", || {
        Shared::<[u16]>::create_slice_with(n(2), length, |i| i as u16).unwrap()
    });
    let opened = zero(ck, "Shared::open of a slice", || Shared::<[u16]>::open(n(2)).unwrap());
    let (d, created) = zero(ck, "Options::open_or_create_slice_with_status (creates)", || {
        Shared::<[u32]>::options().open_or_create_slice_with_status(n(3), length, |i| i as u32).unwrap()
    });
    let e = zero(ck, "Shared::open_or_create_slice_with (opens)", || {
        Shared::<[u32]>::open_or_create_slice_with(n(3), 1, |i| i as u32).unwrap()
    });
    let (f, status) = zero(ck, "Shared::open_or_create_with_status", || {
        Shared::<u64>::open_or_create_with_status(n(4), || 9).unwrap()
    });
    zero(ck, "Shared::open of a slice as another element (TypeMismatch)", || Shared::<[u8]>::open(n(0)).unwrap_err());
    zero(ck, "Shared::create_slice_zeroed of an overflowing length (Unsupported)", || {
        Shared::<[u64]>::create_slice_zeroed(n(5), usize::MAX / 4).unwrap_err()
    });
    assert!(created && status);
    assert_eq!((a[255], b.len(), c[9], opened.len(), d.len(), e.len(), *f), (5, length, 9, length, length, length, 9));
    zero(ck, "drop of slices (destroy, unlink)", || drop((a, b, c, opened, d, e, f)));

    let w = zero(ck, "Unique::create_with", || Unique::<[u32; 1024]>::create_with(n(6), |v| v[1] = 1).unwrap());
    let z = zero(ck, "Unique::options().mode(..).create_zeroed", || {
        Unique::<[u64; 1 << 16]>::options().mode(0o600).create_zeroed(n(7)).unwrap()
    });
    let u = zero(ck, "Unique::from_slice", || Unique::<[u8]>::from_slice(n(8), &[1; 64]).unwrap());
    let mut frame =
        zero(ck, "Unique::create_slice_zeroed", || Unique::<[u8]>::create_slice_zeroed(n(9), length).unwrap());
    let made =
        zero(ck, "Unique::create_slice_with", || Unique::<[u8]>::create_slice_with(n(10), 10, |i| i as u8).unwrap());
    zero(ck, "Unique<[u8]>::deref_mut", || frame.fill(7));
    let parked = zero(ck, "Unique::release_mapped", || Unique::release_mapped(frame));
    let mut other = zero(ck, "Unique::claim of a slice", || Unique::<[u8]>::claim(n(9)).unwrap());
    let refused = zero(ck, "Released::claim (Busy)", || parked.claim().unwrap_err());
    let parked = zero(ck, "ClaimError::into_released", || refused.into_released());
    other[0] = 8;
    zero(ck, "Unique::release of a slice", || Unique::release(other));
    let frame = zero(ck, "Released::claim", || parked.claim().unwrap());
    assert_eq!((frame[0], frame[1], frame.len(), w[1], z.len(), u[63], made[9]), (8, 7, length, 1, 1 << 16, 1, 9));
    let parked = Unique::release_mapped(frame);
    zero(ck, "drop of a Released (unmaps only)", || drop(parked));
    zero(ck, "drop of Uniques (destroy, unlink)", || drop((w, z, u, made, Unique::<[u8]>::claim(n(9)).unwrap())));

    println!("checked, 0 allocations each: {}", checked.join(", "));
    assert!(checked.len() >= 24);
    for name in &names {
        assert!(std::fs::symlink_metadata(format!("/dev/shm/{name}")).is_err(), "{name} left behind");
    }
}
