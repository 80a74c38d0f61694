//! shmptr on a Cortex-M microcontroller: `cortex-m-rt` firmware over
//! `shmptr-arena`, printing through semihosting, run under `qemu-system-arm` by
//! `run-qemu.sh` (beside this crate).
//!
//! The simulated processes of the arena stand for the parts of a system that
//! share memory (cores, a bootloader and an application, tasks); here the main
//! loop and the SysTick handler are two contexts of one process, as two threads
//! of a program are. What it checks, each ending in a line the script requires:
//! - `Shared`: create, open, clone, counts; `Unique` hand-off between processes;
//! - a `Mutex` the main loop locks while the SysTick handler `try_lock`s it
//!   (the handler's call: it never waits for the main loop, which cannot run);
//! - owner death: a process that dies holding the lock, a `Shared` and a
//!   `Unique`; the survivors take them over and the arena gets its memory back;
//! - thousands of create/open/clone/drop iterations in the main loop while the
//!   SysTick handler does the same, never deadlocking (the arena's critical
//!   sections mask the interrupt);
//! - instruction counts of the common operations (`-icount shift=0`: SysTick
//!   then counts instructions).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};

#[cfg(not(any(feature = "baseline", feature = "minimal", feature = "dual")))]
mod checks;
#[cfg(feature = "dual")]
mod dual;
#[cfg(feature = "minimal")]
mod minimal;

/// Prints `firmware: FAILED: ...` and exits QEMU with a failure status.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("firmware: FAILED: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

/// What the SysTick handler does on each tick (set by the main loop).
static MODE: AtomicU32 = AtomicU32::new(IDLE);
/// The handler does nothing.
const IDLE: u32 = 0;
/// The handler `try_lock`s the shared mutex.
#[cfg_attr(any(feature = "baseline", feature = "minimal", feature = "dual"), allow(dead_code))]
const MUTEX: u32 = 1;
/// The handler creates, opens, clones and drops handles.
#[cfg_attr(any(feature = "baseline", feature = "minimal", feature = "dual"), allow(dead_code))]
const STRESS: u32 = 2;

/// Counters only the handler writes (a load and a store: no read-modify-write,
/// which thumbv6m lacks).
static TICKS: AtomicU32 = AtomicU32::new(0);

fn bump(counter: &AtomicU32) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

#[exception]
fn SysTick() {
    bump(&TICKS);
    match MODE.load(Ordering::Relaxed) {
        #[cfg(not(any(feature = "baseline", feature = "minimal", feature = "dual")))]
        MUTEX => checks::on_tick_mutex(),
        #[cfg(not(any(feature = "baseline", feature = "minimal", feature = "dual")))]
        STRESS => checks::on_tick_stress(),
        _ => {}
    }
}

/// Runs SysTick as an interrupt every `period` ticks of the core clock.
fn start_ticks(syst: &mut SYST, period: u32) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(period - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// SysTick as a free-running counter (no interrupt), for measuring.
fn free_running(syst: &mut SYST) {
    syst.disable_counter();
    syst.disable_interrupt();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00ff_ffff);
    syst.clear_current();
    syst.enable_counter();
}

/// Ticks elapsed while `f` runs (SysTick free-running, counting down, 24 bits).
fn ticks_of(f: impl FnOnce()) -> u32 {
    let start = SYST::get_current();
    f();
    let end = SYST::get_current();
    start.wrapping_sub(end) & 0x00ff_ffff
}

/// Instructions per 1,000 SysTick ticks, from a loop of a known count of
/// instructions (`subs` + `bne`: two per round).
fn calibrate() -> u32 {
    const ROUNDS: u32 = 200_000;
    let ticks = ticks_of(|| {
        // SAFETY: a counting loop on one register; touches no memory.
        unsafe {
            core::arch::asm!("2:", "subs {0}, #1", "bne 2b", inout(reg) ROUNDS => _, options(nomem, nostack));
        }
    });
    (2 * ROUNDS as u64 * 1000 / ticks.max(1) as u64) as u32
}

/// How deep the stack goes: painted below the stack pointer, then looked at.
#[cfg_attr(not(any(feature = "baseline", feature = "minimal")), allow(dead_code))]
mod stack {
    /// What unused stack holds while it is measured.
    const PAINT: u32 = 0x5a5a_5a5a;

    extern "C" {
        /// The end of `.bss` and `.uninit`: the lowest address the stack may reach
        /// (cortex-m-rt's link script).
        static __sheap: u32;
        /// The top of the stack (cortex-m-rt's link script).
        static _stack_start: u32;
    }

    /// The most bytes of stack in use while `f` ran, counted from the top.
    #[inline(never)]
    pub fn deepest<R>(f: impl FnOnce() -> R) -> u32 {
        let bottom = core::ptr::addr_of!(__sheap) as usize;
        let top = core::ptr::addr_of!(_stack_start) as usize;
        // Leave the words just below the current frame alone.
        let sp = cortex_m::register::msp::read() as usize - 64;
        let mut at = bottom;
        while at < sp {
            // SAFETY: between the end of the statics and below the stack pointer:
            // memory no Rust object uses now (the stack grows into it later).
            unsafe { (at as *mut u32).write_volatile(PAINT) };
            at += 4;
        }
        core::hint::black_box(f());
        let mut at = bottom;
        // SAFETY: as above; reading back what was painted or what the calls left.
        while at < sp && unsafe { (at as *const u32).read_volatile() } == PAINT {
            at += 4;
        }
        (top - at) as u32
    }
}

/// Context the checks need from the entry point.
pub struct Board {
    syst: SYST,
    /// Instructions per 1,000 ticks.
    per_kilotick: u32,
}

impl Board {
    /// Instructions per call of `f`, over `rounds` calls, less the loop's own
    /// cost (measured with an empty body).
    pub fn instructions(&mut self, rounds: u32, mut f: impl FnMut(u32)) -> u32 {
        free_running(&mut self.syst);
        let empty = ticks_of(|| {
            for i in 0..rounds {
                core::hint::black_box(i);
            }
        });
        let full = ticks_of(|| {
            for i in 0..rounds {
                f(core::hint::black_box(i));
            }
        });
        let ticks = full.saturating_sub(empty) as u64;
        (ticks * self.per_kilotick as u64 / 1000 / rounds as u64) as u32
    }

    /// Lets SysTick interrupt every `period` ticks, with the handler doing `mode`.
    pub fn interrupts(&mut self, mode: u32, period: u32) {
        MODE.store(mode, Ordering::Relaxed);
        start_ticks(&mut self.syst, period);
    }

    /// No more SysTick interrupts.
    pub fn quiet(&mut self) {
        self.syst.disable_interrupt();
        MODE.store(IDLE, Ordering::Relaxed);
    }

    /// SysTick interrupts so far.
    pub fn ticks(&self) -> u32 {
        TICKS.load(Ordering::Relaxed)
    }
}

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("the core peripherals, once");
    let mut board = Board { syst: peripherals.SYST, per_kilotick: 0 };
    free_running(&mut board.syst);
    board.per_kilotick = calibrate();
    hprintln!("firmware: start ({} instructions per 1000 SysTick ticks)", board.per_kilotick);
    #[cfg(not(any(feature = "baseline", feature = "minimal", feature = "dual")))]
    checks::run(&mut board);
    #[cfg(feature = "dual")]
    dual::run();
    #[cfg(feature = "minimal")]
    minimal::run();
    #[cfg(feature = "baseline")]
    {
        let stack = stack::deepest(|| core::hint::black_box(board.ticks()));
        hprintln!("STACK baseline {}", stack);
    }
    hprintln!("firmware: all checks passed");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
