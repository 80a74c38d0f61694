//! The `CortexM` platform on the host: threads stand for cores (each thread's
//! core number is thread-local), `Instant` for the board's timer. What a reset
//! core's earlier life held is reclaimed, and timeouts are real time.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shmptr::{ErrorKind, Liveness, Platform};
use shmptr_arena::cortex_m::{Board, CortexM};
use shmptr_arena::{arena_space, Arena};

thread_local! {
    static CORE: Cell<u32> = const { Cell::new(0) };
}

static BOOTS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

struct Host;

// SAFETY: each test thread is one core, its number set before it uses the arena
// (`on_core_1`; 0 otherwise), below `CORES`; one counter per core in `BOOTS`;
// `Instant` never goes back.
unsafe impl Board for Host {
    const CORES: u32 = 2;
    fn core() -> u32 {
        CORE.with(Cell::get)
    }
    fn now_nanos() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
    fn boots() -> &'static [AtomicU32] {
        &BOOTS
    }
}

type Chip = CortexM<Host>;
arena_space!(S, 64 * 1024, objects = 8, mappings = 32);
type Shared<T> = shmptr::Shared<T, Arena<S, Chip>>;
type Mutex<T> = shmptr::Mutex<T, Arena<S, Chip>>;

/// Runs `f` as core 1 (a thread).
fn on_core_1<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                CORE.with(|c| c.set(1));
                f()
            })
            .join()
            .unwrap()
    })
}

// One test: the boot counters and the arena are statics shared by every test.
#[test]
fn two_cores_share_objects_a_reset_core_is_reclaimed_and_timeouts_are_real_time() {
    // SAFETY: the first boot of each core: no earlier life made anything.
    unsafe { Chip::boot() };
    // SAFETY: as above.
    on_core_1(|| unsafe { Chip::boot() });
    let me = Chip::current_process();
    let core_1 = on_core_1(Chip::current_process);
    assert_ne!(me, core_1);
    assert_eq!(Chip::liveness(core_1), Liveness::Alive);

    let counter = Shared::<AtomicU64>::create("counter", AtomicU64::new(0)).unwrap();
    let m = Shared::<Mutex<u32>>::create("m", Mutex::new(0)).unwrap();
    on_core_1(|| {
        let c = Shared::<AtomicU64>::open("counter").unwrap();
        c.fetch_add(1, Ordering::Relaxed);
        // Core 1 keeps its handle and the lock, then resets (runs no drop).
        let m = Shared::<Mutex<u32>>::open("m").unwrap();
        let mut guard = m.lock().unwrap();
        *guard = 5;
        std::mem::forget(guard);
        std::mem::forget(m);
        std::mem::forget(c);
    });
    assert_eq!(Shared::process_count(&counter), 2);

    // Held by a live core: a timed lock waits its time, in real time.
    let start = Instant::now();
    assert_eq!(m.lock_timeout(Duration::from_millis(30)).unwrap_err().kind(), ErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(30), "timed out after {:?}", start.elapsed());

    // Core 1 resets: its earlier life is dead, its holdings go to the others.
    // SAFETY: that life's handle and guard were forgotten, never used again.
    on_core_1(|| unsafe { Chip::boot() });
    assert_eq!(Chip::liveness(core_1), Liveness::Dead);
    assert_ne!(on_core_1(Chip::current_process), core_1, "a new life, a new identity");
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    assert_eq!(*error.into_guard().unwrap(), 5);
    assert_eq!(Shared::process_count(&counter), 1, "the dead life's slot is reclaimed");
    drop((counter, m));
    assert!(!Arena::<S>::exists("counter") && !Arena::<S>::exists("m"));
    // The dead life's mappings are freed once records are needed: fill them.
    let many: Vec<_> =
        (0..7).map(|i| Shared::<AtomicU64>::create(&format!("o{i}"), AtomicU64::new(i)).unwrap()).collect();
    drop(many);
    assert_eq!(Arena::<S>::free_bytes(), 64 * 1024, "every object's memory is back");

    // An interrupt handler is another thread of its core: here the exception
    // number is 0 off ARM, so the thread is the core's thread mode.
    assert_eq!(Chip::current_thread().id(), me.get());
}
