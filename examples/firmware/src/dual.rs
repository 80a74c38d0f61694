//! Two real cores (the Cortex-M33 pair of QEMU's `mps2-an521`, an SSE-200) share
//! one arena through the [`CortexM`] platform: each core's life is a process, the
//! clock is the SSE-200's timer 0, a multi-core critical section guards the
//! arena's books. Core 0 starts core 1; both count in a `Shared<Mutex<u32>>` and
//! a `Shared<AtomicU32>`; a timed lock times out in real time; core 1 "resets"
//! holding the lock (a new life by `CortexM::boot`), and core 0 takes the lock
//! over as `OwnerDied`.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

use cortex_m_semihosting::hprintln;
use shmptr::{ErrorKind, Liveness, MutexGuard, Platform};
use shmptr_arena::cortex_m::{Board, CortexM};
use shmptr_arena::{arena_space, Arena};

/// The SSE-200's system control block (secure alias): core 1's initial vector
/// table and the register that holds it in reset.
const INITSVTOR1: *mut u32 = 0x5002_1114 as *mut u32;
const CPUWAIT: *mut u32 = 0x5002_1118 as *mut u32;
/// CMSDK APB timer 0 (secure alias): control, current value (counting down),
/// reload. Both cores read it.
const TIMER_CTRL: *mut u32 = 0x5000_0000 as *mut u32;
const TIMER_VALUE: *mut u32 = 0x5000_0004 as *mut u32;
const TIMER_RELOAD: *mut u32 = 0x5000_0008 as *mut u32;
/// The timer counts at the board's 20 MHz system clock: 50 ns a tick.
const NANOS_PER_TICK: u64 = 50;
/// Each core's own vector table offset register.
const VTOR: *const u32 = 0xE000_ED08 as *const u32;

/// The two cores of the SSE-200.
pub struct An521;

static BOOTS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

// SAFETY: `core` reads the calling core's own VTOR (each core's vector table
// differs), 0 or 1; `BOOTS` has one counter per core, in RAM both see; timer 0
// counts up without going back (`now_nanos`).
unsafe impl Board for An521 {
    const CORES: u32 = 2;

    fn core() -> u32 {
        // SAFETY: VTOR is a readable register of each core's own SCB.
        let vtor = unsafe { VTOR.read_volatile() };
        u32::from(vtor == core::ptr::addr_of!(CORE1_VECTORS) as u32)
    }

    /// Timer 0, started by core 0 before core 1 runs; a 32-bit count of 50 ns
    /// ticks, so this firmware's clock runs for 214 s before it wraps.
    fn now_nanos() -> u64 {
        // SAFETY: a read-only look at the timer's current value.
        let value = unsafe { TIMER_VALUE.read_volatile() };
        u64::from(u32::MAX - value) * NANOS_PER_TICK
    }

    /// In `.bss`: zeroed once by core 0's reset handler, before core 1 starts.
    fn boots() -> &'static [AtomicU32] {
        &BOOTS
    }
}

type Chip = CortexM<An521>;
arena_space!(pub Space, 16 * 1024, objects = 8, mappings = 16);
type Shared<T> = shmptr::Shared<T, Arena<Space, Chip>>;
type Mutex<T> = shmptr::Mutex<T, Arena<Space, Chip>>;

/// How many increments each core makes.
const ROUNDS: u32 = 20_000;

/// Core 1's progress, for core 0 to wait on: 1 counted, 2 holds the lock, 3 reset
/// and open again, 4 done.
static STAGE: AtomicU32 = AtomicU32::new(0);
/// Core 0 has checked the timed lock and the increments: core 1 may "reset".
static GO_RESET: AtomicBool = AtomicBool::new(false);
/// Core 0's timed lock has returned: core 1 may stop holding the lock.
static TIMED: AtomicBool = AtomicBool::new(false);
/// Core 0 has taken the lock over: core 1 may finish.
static GO_FINISH: AtomicBool = AtomicBool::new(false);

fn wait_for(stage: u32) {
    while STAGE.load(Ordering::Acquire) < stage {
        core::hint::spin_loop();
    }
}

fn count(m: &Shared<Mutex<u32>>, counter: &Shared<AtomicU32>) {
    for _ in 0..ROUNDS {
        *m.lock().unwrap() += 1;
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Core 0: starts the timer and core 1, then checks what they do together.
pub fn run() {
    // SAFETY: first thing at core 0's only boot: no earlier life.
    unsafe { Chip::boot() };
    // SAFETY: the timer's registers; core 1 is not running yet.
    unsafe {
        TIMER_RELOAD.write_volatile(u32::MAX);
        TIMER_VALUE.write_volatile(u32::MAX);
        TIMER_CTRL.write_volatile(1);
    }
    let m = Shared::<Mutex<u32>>::options().slots(4).create("dual.m", Mutex::new(0)).unwrap();
    let counter = Shared::<AtomicU32>::options().slots(4).create("dual.counter", AtomicU32::new(0)).unwrap();
    // SAFETY: the system control registers that start core 1 at its vector
    // table (aligned as VTOR needs); it runs `core1_main` on its own stack.
    unsafe {
        INITSVTOR1.write_volatile(core::ptr::addr_of!(CORE1_VECTORS) as u32);
        CPUWAIT.write_volatile(0);
    }
    count(&m, &counter);
    wait_for(1);
    assert_eq!(*m.lock().unwrap(), 2 * ROUNDS, "a lost increment under the mutex");
    assert_eq!(counter.load(Ordering::Relaxed), 2 * ROUNDS);
    assert_eq!(Shared::process_count(&m), 2);
    hprintln!("firmware: dual core ok (two cores, {} increments each under one Mutex, none lost)", ROUNDS);

    GO_RESET.store(true, Ordering::Release);
    wait_for(2);
    // Core 1 holds the lock and is alive: a timed lock waits its time, in real time.
    let start = An521::now_nanos();
    let kind = m.lock_timeout(Duration::from_millis(5)).err().map(|e| e.kind());
    let waited = An521::now_nanos() - start;
    // Release: core 1 reads it (Acquire) before it lets go of the lock.
    TIMED.store(true, Ordering::Release);
    // The kind seen (`None`: the lock was taken) and the stage core 1 was at, for
    // a failure to say what happened.
    assert!(
        kind == Some(ErrorKind::Timeout),
        "the lock of a live core must time out: got {:?} after {} ns, core 1 at stage {}",
        kind,
        waited,
        STAGE.load(Ordering::Relaxed)
    );
    assert!(waited >= 5_000_000, "timed out after {waited} ns");
    hprintln!("firmware: dual core timed lock ok (timed out after {} us of real time)", waited / 1000);

    wait_for(3);
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied, "core 1 reset holding the lock");
    let mut guard = error.into_guard().unwrap();
    assert_eq!(*guard, 2 * ROUNDS + 1, "the dead life's last write");
    MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert_eq!(Shared::process_count(&m), 2, "core 1's old life reclaimed, its new one counted");
    GO_FINISH.store(true, Ordering::Release);
    wait_for(4);
    drop((m, counter));
    assert!(!Arena::<Space>::exists("dual.m") && !Arena::<Space>::exists("dual.counter"));
    hprintln!("firmware: dual core reset ok (lock OwnerDied, the old life's holdings reclaimed)");
}

/// Core 1, from its reset (`core1_reset`, which enabled its FPU).
#[no_mangle]
extern "C" fn core1_main() -> ! {
    // SAFETY: first thing at core 1's first boot: no earlier life.
    unsafe { Chip::boot() };
    let first_life = Chip::current_process();
    let m = Shared::<Mutex<u32>>::open("dual.m").unwrap();
    let counter = Shared::<AtomicU32>::open("dual.counter").unwrap();
    count(&m, &counter);
    STAGE.store(1, Ordering::Release);
    while !GO_RESET.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let mut guard = m.lock().unwrap();
    *guard += 1;
    STAGE.store(2, Ordering::Release);
    // Hold the lock until core 0's timed lock has returned. (Not for a fixed
    // time: QEMU runs each core on a host thread, and on a loaded host core 0's
    // thread could wait longer than that, then find this life already ended.)
    while !TIMED.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    // A reset: this life ends here, holding the guard and both handles (a reset
    // runs no destructor); the core starts a new life.
    core::mem::forget(guard);
    core::mem::forget(m);
    core::mem::forget(counter);
    // SAFETY: the "reset": the first life's guard and handles are forgotten
    // above, and nothing of that life runs on.
    unsafe { Chip::boot() };
    assert_eq!(Chip::liveness(first_life), Liveness::Dead);
    assert_ne!(Chip::current_process(), first_life);
    let m = Shared::<Mutex<u32>>::open("dual.m").unwrap();
    STAGE.store(3, Ordering::Release);
    while !GO_FINISH.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    drop(m);
    STAGE.store(4, Ordering::Release);
    loop {
        cortex_m::asm::wfe();
    }
}

/// A multi-core critical section: interrupts masked on this core, and a spin lock
/// that keeps the other core out (nested sections on one core pass).
struct DualCore;
critical_section::set_impl!(DualCore);

/// The core (plus one) inside a critical section; 0 for none.
static SECTION_OWNER: AtomicU32 = AtomicU32::new(0);
/// In the restore state: interrupts were enabled before.
const WAS_ENABLED: u32 = 1;
/// In the restore state: this section was nested, the lock stays.
const NESTED: u32 = 2;

// SAFETY: `acquire` masks this core's interrupts and takes `SECTION_OWNER` (or
// finds it is this core's already, for a nested section), so no other code runs
// a section at the same time, on this core or the other; `release` undoes exactly
// what its `acquire` did.
unsafe impl critical_section::Impl for DualCore {
    unsafe fn acquire() -> u32 {
        let was_enabled = cortex_m::register::primask::read().is_active();
        cortex_m::interrupt::disable();
        let me = An521::core() + 1;
        let mut state = if was_enabled { WAS_ENABLED } else { 0 };
        // Relaxed: only this core stores its own number.
        if SECTION_OWNER.load(Ordering::Relaxed) == me {
            state |= NESTED;
        } else {
            // Acquire: pairs with the Release in `release`.
            while SECTION_OWNER.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
                core::hint::spin_loop();
            }
        }
        state
    }

    unsafe fn release(state: u32) {
        if state & NESTED == 0 {
            // Release: the section's writes before the next owner's.
            SECTION_OWNER.store(0, Ordering::Release);
        }
        if state & WAS_ENABLED != 0 {
            // SAFETY: interrupts were enabled when the section began.
            unsafe { cortex_m::interrupt::enable() };
        }
    }
}

/// Core 1's stack.
static mut CORE1_STACK: [u64; 2048] = [0; 2048];

/// Core 1's vector table: its initial stack pointer, its reset handler, and its
/// faults (which end the run).
#[repr(C, align(512))]
struct Vectors {
    stack: *const u64,
    reset: unsafe extern "C" fn() -> !,
    exceptions: [unsafe extern "C" fn() -> !; 14],
}

// SAFETY: read by the hardware only; nothing in it changes.
unsafe impl Sync for Vectors {}

extern "C" {
    /// Core 1's reset handler (assembly below).
    fn core1_reset() -> !;
}

/// Core 1 faulted: the run fails.
unsafe extern "C" fn core1_fault() -> ! {
    hprintln!("firmware: FAILED: core 1 faulted");
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfe();
    }
}

static CORE1_VECTORS: Vectors = Vectors {
    stack: core::ptr::addr_of!(CORE1_STACK).cast::<u64>().wrapping_add(2048),
    reset: core1_reset,
    exceptions: [core1_fault; 14],
};

// Core 1's reset: enable its FPU (CPACR: full access to CP10 and CP11), as
// cortex-m-rt does for core 0, since the hard-float code may use it, then Rust.
core::arch::global_asm!(
    ".section .text.core1_reset,\"ax\",%progbits",
    ".global core1_reset",
    ".type core1_reset,%function",
    ".thumb_func",
    "core1_reset:",
    "ldr r0, =0xE000ED88",
    "ldr r1, [r0]",
    "orr r1, r1, #(0xF << 20)",
    "str r1, [r0]",
    "dsb",
    "isb",
    "bl core1_main",
    "b .",
    ".ltorg",
);
