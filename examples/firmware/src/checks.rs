//! The checks the firmware runs, each printing the line `run-qemu.sh` requires.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_semihosting::hprintln;
use shmptr::ErrorKind;
use shmptr_arena::{arena_space, Arena};

use crate::{bump, Board, MUTEX, STRESS};

/// The arena's memory: what the objects of this firmware use at most.
#[cfg(target_has_atomic = "32")]
pub const ARENA_BYTES: usize = 16 * 1024;
/// The micro:bit has 16 KiB of RAM in all.
#[cfg(not(target_has_atomic = "32"))]
pub const ARENA_BYTES: usize = 6 * 1024;

/// How many objects and mappings the arena tracks at once: the books it keeps
/// in `.bss` beside its memory (about 220 and 12 bytes each).
const OBJECTS: usize = 8;
const MAPPINGS: usize = 32;

arena_space!(pub Space, ARENA_BYTES, objects = OBJECTS, mappings = MAPPINGS);

/// How many attachments (a `create` or `open` each, shared by its clones) an
/// object here takes at once: a few, so 8 slots rather than the default
/// `shmptr::MAX_SLOTS` (32 here); each slot costs arena memory.
const SLOTS: u32 = 8;

/// `Shared::create` with [`SLOTS`] slots.
fn create<T: shmptr::ShmSafe>(name: &str, value: T) -> shmptr::Result<Shared<T>> {
    Shared::<T>::options().slots(SLOTS).create(name, value)
}

/// `counter += n`, atomically also against the SysTick handler: `fetch_add` where
/// the target has it, a critical section on thumbv6m (no read-modify-write
/// atomics there; the core gets them from portable-atomic).
fn add(counter: &AtomicU32, n: u32) {
    #[cfg(target_has_atomic = "32")]
    counter.fetch_add(n, Ordering::Relaxed);
    #[cfg(not(target_has_atomic = "32"))]
    critical_section::with(|_| counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed));
}

/// `counter -= n`, as [`add`].
fn sub(counter: &AtomicU32, n: u32) {
    add(counter, n.wrapping_neg());
}

type Shared<T> = shmptr_arena::Shared<T, Space>;
type Unique<T> = shmptr_arena::Unique<T, Space>;
type Mutex<T> = shmptr_arena::Mutex<T, Space>;

/// Handler `try_lock`s that got the lock, and that found it held.
static IRQ_LOCKED: AtomicU32 = AtomicU32::new(0);
static IRQ_BUSY: AtomicU32 = AtomicU32::new(0);
/// Handler rounds of the stress check.
static IRQ_ROUNDS: AtomicU32 = AtomicU32::new(0);
/// Handler operations that failed (each one a bug).
static IRQ_ERRORS: AtomicU32 = AtomicU32::new(0);

/// Runs every check in order.
pub fn run(board: &mut Board) {
    let total = Arena::<Space>::free_bytes();
    shared();
    unique_hand_off();
    mutex_with_interrupt(board);
    owner_death();
    interrupt_stress(board);
    assert_eq!(Arena::<Space>::free_bytes(), total, "the arena did not get all its memory back");
    hprintln!("firmware: arena memory all free again ({} bytes)", total);
    measure(board);
}

fn shared() {
    let a = create::<AtomicU32>("fw.shared", AtomicU32::new(41)).unwrap();
    let b = Shared::<AtomicU32>::open("fw.shared").unwrap();
    add(&b, 1);
    let c = b.clone();
    assert_eq!(a.load(Ordering::Relaxed), 42);
    assert_eq!(Shared::strong_count(&a), 3);
    assert!(Shared::ptr_eq(&b, &c));
    drop((a, b, c));
    assert!(!Arena::<Space>::exists("fw.shared"), "the last handle removes the object");
    let free = Arena::<Space>::free_bytes();
    let one = create::<AtomicU32>("fw.size", AtomicU32::new(0)).unwrap();
    let object = free - Arena::<Space>::free_bytes();
    drop(one);
    hprintln!("firmware: shared ok (a Shared<AtomicU32> takes {} bytes of the arena)", object);
}

/// A `Unique` made by one process, released, claimed by another.
fn unique_hand_off() {
    let mut job = Unique::<[u32; 4]>::create("fw.job", [0; 4]).unwrap();
    job[0] = 7;
    Unique::release(job);
    let worker = Arena::<Space>::spawn();
    // SAFETY: no interrupt handler uses the arena now (SysTick is quiet) and
    // `worker` is alive.
    let boss = unsafe { Arena::<Space>::enter(worker) };
    let mut job = Unique::<[u32; 4]>::claim("fw.job").unwrap();
    assert_eq!(job[0], 7);
    job[1] = 8;
    Unique::release(job);
    // SAFETY: as above; `boss` is alive.
    unsafe { Arena::<Space>::enter(boss) };
    let job = Unique::<[u32; 4]>::claim("fw.job").unwrap();
    assert_eq!(*job, [7, 8, 0, 0]);
    drop(job);
    assert!(!Arena::<Space>::exists("fw.job"));
    hprintln!("firmware: unique hand-off ok");
}

/// The SysTick handler of the mutex check: `try_lock`, never `lock` (the main
/// loop, which may hold the lock, cannot run until the handler returns).
pub fn on_tick_mutex() {
    let Ok(m) = Shared::<Mutex<u32>>::open("fw.mutex") else {
        return bump(&IRQ_ERRORS);
    };
    let counter = match m.try_lock() {
        Ok(mut guard) => {
            *guard += 1;
            &IRQ_LOCKED
        }
        // Held by the interrupted main loop: the same (simulated) process, so
        // `Deadlock` (a process-owned mutex) or `Busy`.
        Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::Deadlock) => &IRQ_BUSY,
        Err(_) => &IRQ_ERRORS,
    };
    bump(counter);
}

fn mutex_with_interrupt(board: &mut Board) {
    const ROUNDS: u32 = 5_000;
    let m = create::<Mutex<u32>>("fw.mutex", Mutex::new(0)).unwrap();
    board.interrupts(MUTEX, 300);
    for _ in 0..ROUNDS {
        let mut guard = m.lock().unwrap();
        let before = *guard;
        // Work while holding the lock, so that ticks come both while it is held
        // and while it is free.
        for _ in 0..200 {
            core::hint::black_box(before);
        }
        *guard = before + 1;
        drop(guard);
        for _ in 0..200 {
            core::hint::black_box(0);
        }
    }
    board.quiet();
    let (locked, busy) = (IRQ_LOCKED.load(Ordering::Relaxed), IRQ_BUSY.load(Ordering::Relaxed));
    let value = *m.lock().unwrap();
    assert_eq!(IRQ_ERRORS.load(Ordering::Relaxed), 0, "the handler's open or try_lock failed");
    assert_eq!(value, ROUNDS + locked, "an increment was lost");
    assert!(locked > 0 && busy > 0, "ticks must find the lock both free ({locked}) and held ({busy})");
    drop(m);
    hprintln!("firmware: mutex with interrupt ok (main {}, handler {} locked, {} busy)", ROUNDS, locked, busy);
}

/// A process dies holding a `Shared`, the mutex's lock and a `Unique`; the
/// survivor reclaims each.
fn owner_death() {
    let m = create::<Mutex<u32>>("fw.death", Mutex::new(5)).unwrap();
    let doomed = Arena::<Space>::spawn();
    // SAFETY: no interrupt handler uses the arena now; `doomed` is alive.
    let me = unsafe { Arena::<Space>::enter(doomed) };
    let theirs = Shared::<Mutex<u32>>::open("fw.death").unwrap();
    let mut guard = theirs.lock().unwrap();
    *guard = 6;
    let owned = Unique::<u32>::create("fw.owned", 9).unwrap();
    // Killed: it runs no destructor.
    core::mem::forget(guard);
    core::mem::forget(theirs);
    core::mem::forget(owned);
    // SAFETY: as above; `me` is alive.
    unsafe { Arena::<Space>::enter(me) };
    // SAFETY: nothing `doomed` made is used again (forgotten above).
    unsafe { Arena::<Space>::kill(doomed) };

    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    let mut guard = error.into_guard().unwrap();
    assert_eq!(*guard, 6, "the dead owner's last write");
    shmptr::MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert!(m.lock().is_ok(), "consistent again");
    assert_eq!(Shared::process_count(&m), 1, "the dead holder's slot is reclaimed");
    drop(m);
    assert!(!Arena::<Space>::exists("fw.death"));

    // The dead owner's `Unique` goes to the next claimer.
    let owned = Unique::<u32>::claim("fw.owned").unwrap();
    assert_eq!(*owned, 9);
    drop(owned);
    assert!(!Arena::<Space>::exists("fw.owned"));
    hprintln!("firmware: owner death ok (lock OwnerDied, repaired; holder and owner reclaimed)");
}

/// One round of create/open/clone/drop on `own`, and open/drop of the object the
/// main loop keeps (`fw.common`). Used by both contexts.
fn churn(own: &str, round: u32) -> bool {
    let Ok(a) = create::<AtomicU32>(own, AtomicU32::new(round)) else {
        return false;
    };
    let Ok(b) = Shared::<AtomicU32>::open(own) else {
        return false;
    };
    let c = b.clone();
    let Ok(common) = Shared::<AtomicU32>::open("fw.common") else {
        return false;
    };
    add(&common, 1);
    let same = c.load(Ordering::Relaxed) == round && Shared::strong_count(&a) == 3;
    drop((a, b, c, common));
    same && !Arena::<Space>::exists(own)
}

/// The SysTick handler of the stress check.
pub fn on_tick_stress() {
    let round = IRQ_ROUNDS.load(Ordering::Relaxed);
    if !churn("fw.irq", round) {
        bump(&IRQ_ERRORS);
    }
    bump(&IRQ_ROUNDS);
}

fn interrupt_stress(board: &mut Board) {
    const ROUNDS: u32 = 3_000;
    const IRQ_ROUNDS_MIN: u32 = 1_000;
    let common = create::<AtomicU32>("fw.common", AtomicU32::new(0)).unwrap();
    IRQ_ERRORS.store(0, Ordering::Relaxed);
    // A tick every ~40,000 instructions: longer than one handler round, so the
    // main loop runs between them.
    board.interrupts(STRESS, 1_000);
    // At least ROUNDS rounds, and on (boundedly) until the handler has had its
    // share of them too: the faster a round, the fewer ticks fall within ROUNDS.
    let mut rounds = 0;
    while rounds < ROUNDS || (IRQ_ROUNDS.load(Ordering::Relaxed) < IRQ_ROUNDS_MIN && rounds < 20 * ROUNDS) {
        assert!(churn("fw.main", rounds), "main round {rounds} failed");
        rounds += 1;
    }
    board.quiet();
    let irq = IRQ_ROUNDS.load(Ordering::Relaxed);
    assert_eq!(IRQ_ERRORS.load(Ordering::Relaxed), 0, "a handler round failed");
    assert_eq!(common.load(Ordering::Relaxed), rounds + irq, "an increment was lost");
    assert_eq!(Shared::strong_count(&common), 1);
    assert!(irq >= IRQ_ROUNDS_MIN, "only {irq} handler rounds");
    drop(common);
    hprintln!("firmware: interrupt stress ok (main {} rounds, handler {} rounds, no deadlock)", rounds, irq);
}

/// Instruction counts of the common operations.
fn measure(board: &mut Board) {
    let word = AtomicU32::new(0);
    let bare = board.instructions(1_000, |_| {
        add(&word, 1);
        sub(&word, 1);
    });
    let a = create::<AtomicU32>("fw.measure", AtomicU32::new(0)).unwrap();
    let clone_drop = board.instructions(1_000, |_| drop(core::hint::black_box(a.clone())));
    let open_drop = board.instructions(200, |_| drop(core::hint::black_box(Shared::<AtomicU32>::open("fw.measure"))));
    let name = shmptr::Name::new("fw.measure").unwrap();
    let access = shmptr::Access::DEFAULT;
    let backend_open_drop = board
        .instructions(200, |_| drop(core::hint::black_box(<Arena<Space> as shmptr::Backend>::open(name, &access))));
    let m = create::<Mutex<u32>>("fw.measure.m", Mutex::new(0)).unwrap();
    let lock_unlock = board.instructions(1_000, |_| drop(core::hint::black_box(m.try_lock())));
    let lock_unlock_blocking = board.instructions(1_000, |_| drop(core::hint::black_box(m.lock())));
    Unique::release(Unique::<u32>::create("fw.measure.u", 0).unwrap());
    let claim_release = board.instructions(200, |_| Unique::release(Unique::<u32>::claim("fw.measure.u").unwrap()));
    let create_drop = board
        .instructions(200, |_| drop(core::hint::black_box(create::<AtomicU32>("fw.measure.c", AtomicU32::new(0)))));
    drop(Unique::<u32>::claim("fw.measure.u").unwrap());
    drop((a, m));
    hprintln!("INSTRUCTIONS fetch_add+fetch_sub {}", bare);
    hprintln!("INSTRUCTIONS shared_clone_drop {}", clone_drop);
    hprintln!("INSTRUCTIONS mutex_try_lock_unlock {}", lock_unlock);
    hprintln!("INSTRUCTIONS mutex_lock_unlock {}", lock_unlock_blocking);
    hprintln!("INSTRUCTIONS shared_open_drop {}", open_drop);
    hprintln!("INSTRUCTIONS backend_open_drop {}", backend_open_drop);
    hprintln!("INSTRUCTIONS shared_create_drop {}", create_drop);
    hprintln!("INSTRUCTIONS unique_claim_release {}", claim_release);
}
