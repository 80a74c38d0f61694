//! [`CortexM`]: a [`Platform`] for the cores of one microcontroller sharing an
//! arena, with real identities and a real clock, in place of the arena's
//! simulation: `Arena<S, CortexM<B>>`.
//!
//! - A *process* is one life of one core: its number and its boot count. A core
//!   that resets starts a new life ([`CortexM::boot`]), so it never reuses an
//!   identity, and what its previous life held (slots, locks, a `Unique`,
//!   mappings) is reclaimed by the others: that life is
//!   [`Dead`](Liveness::Dead).
//! - A *thread* is an execution context of a core: thread mode, or the exception
//!   (interrupt) running, by its number (`IPSR`). A `Mutex` is owned by one, so an
//!   interrupt handler's `try_lock` of a lock the code it interrupted holds is
//!   `Busy`.
//! - Waits are `WFE`, wakes are `SEV` (after a `DSB`): a core sleeps until
//!   another core signals, or an interrupt comes. A waiter re-checks its word and
//!   its deadline on each return, so a timed wait needs the core to be woken now
//!   and then (a periodic interrupt such as SysTick) to notice its deadline.
//! - Time is the board's clock ([`Board::now_nanos`]): timeouts are real time.
//!
//! Off ARM (host tests), `WFE`/`SEV` become spin hints and the exception number
//! is 0.
//!
//! ```
//! use core::sync::atomic::AtomicU32;
//! use shmptr_arena::cortex_m::{Board, CortexM};
//! use shmptr_arena::{arena_space, Arena};
//!
//! struct TwoCores;
//! static BOOTS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
//! // SAFETY: this example runs on one core, number 0 (a real part reads its
//! // CPUID); one counter per core in `BOOTS`; a clock that never moves never
//! // goes back.
//! unsafe impl Board for TwoCores {
//!     const CORES: u32 = 2;
//!     fn core() -> u32 { 0 } // a CPUID or VTOR register on a real part
//!     fn now_nanos() -> u64 { 0 } // a hardware timer on a real part
//!     fn boots() -> &'static [AtomicU32] { &BOOTS }
//! }
//! arena_space!(Space, 16 * 1024);
//! type Shared<T> = shmptr::Shared<T, Arena<Space, CortexM<TwoCores>>>;
//!
//! // SAFETY: first thing at this boot; nothing an earlier life made is used.
//! unsafe { CortexM::<TwoCores>::boot() }; // first thing on each core, at every boot
//! let x = Shared::<AtomicU32>::create("x", AtomicU32::new(1)).unwrap();
//! assert_eq!(Shared::process_count(&x), 1);
//! ```

use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use core::time::Duration;

#[cfg(target_has_atomic = "32")]
use core::sync::atomic::AtomicU32;
// Targets without compare-and-swap (thumbv6m): the atomics the core takes there.
#[cfg(not(target_has_atomic = "32"))]
use portable_atomic::AtomicU32;

use shmptr::{Liveness, Platform, ProcessId, ThreadId};

/// What [`CortexM`] needs from the firmware: the calling core's number, a clock
/// every core reads alike, and one boot counter per core.
///
/// # Safety
/// [`CortexM`]'s identities and liveness rest on these answers, and shmptr's
/// exclusion on those (a `Unique` owner, a `Mutex` holder, a mapping kept until
/// its last handle goes): [`core`](Board::core) is the calling core's own number,
/// below [`CORES`](Board::CORES), the same for every call on that core;
/// [`boots`](Board::boots) is the same `CORES` counters for every call on every
/// core, written by [`CortexM::boot`] alone; [`now_nanos`](Board::now_nanos)
/// never goes back. An implementation that cannot promise them takes `unsafe`:
/// ```compile_fail,E0200
/// use core::sync::atomic::AtomicU32;
/// struct Liar;
/// static BOOTS: [AtomicU32; 1] = [AtomicU32::new(0)];
/// impl shmptr_arena::cortex_m::Board for Liar {
///     const CORES: u32 = 1;
///     fn core() -> u32 { 0 }
///     fn now_nanos() -> u64 { 0 }
///     fn boots() -> &'static [AtomicU32] { &BOOTS }
/// }
/// ```
pub unsafe trait Board: 'static {
    /// How many cores share the arena: 1 to 15.
    const CORES: u32;

    /// The calling core's number, `0..CORES` (from a CPUID or VTOR register, or
    /// a hardware ID register such as the RP2040's SIO `CPUID`).
    fn core() -> u32;

    /// A monotonic clock, in nanoseconds, that every core reads alike (a
    /// hardware timer).
    fn now_nanos() -> u64;

    /// One boot counter per core (`CORES` of them), in memory every core sees,
    /// which a core's own reset does not clear: zeroed once when the whole chip
    /// starts (its RAM, the arena included, is new then), for example in an
    /// `.uninit` section that the first core zeroes on a power-on reset. Only
    /// [`CortexM::boot`] writes them.
    fn boots() -> &'static [core::sync::atomic::AtomicU32];
}

/// The [`Platform`] of one microcontroller's cores: see the [module](self).
pub struct CortexM<B>(PhantomData<B>);

impl<B> core::fmt::Debug for CortexM<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CortexM")
    }
}

/// Bits of a process identity that hold the core number plus one.
const CORE_BITS: u32 = 4;

impl<B: Board> CortexM<B> {
    /// Starts a new life of the calling core: call it first thing at every boot
    /// of each core, before the core uses the arena. From then on, the
    /// identities of the core's previous life are dead to every core, which
    /// reclaims what it held.
    ///
    /// # Safety
    /// Nothing the core's previous life made is used again: no handle, guard or
    /// reference (a reset core's RAM starts anew; one kept in memory that
    /// survives the reset is leaked, never dereferenced, cloned or dropped), and
    /// no code of that life runs on (call it once per boot, first). Otherwise
    /// the others, or this core's new life, take over what that life held while
    /// it still uses it: a `Unique` claimed a second time, a lock's owner
    /// declared dead, a mapping's memory given to another object.
    ///
    /// ```compile_fail,E0133
    /// # use core::sync::atomic::AtomicU32;
    /// # struct One;
    /// # static BOOTS: [AtomicU32; 1] = [AtomicU32::new(0)];
    /// # unsafe impl shmptr_arena::cortex_m::Board for One {
    /// #     const CORES: u32 = 1;
    /// #     fn core() -> u32 { 0 }
    /// #     fn now_nanos() -> u64 { 0 }
    /// #     fn boots() -> &'static [AtomicU32] { &BOOTS }
    /// # }
    /// shmptr_arena::cortex_m::CortexM::<One>::boot();
    /// ```
    pub unsafe fn boot() {
        let boots = B::boots();
        let counter = &boots[B::core() as usize];
        // A load and a store: only this core writes its counter (no
        // read-modify-write, which thumbv6m lacks). Release: pairs with the
        // Acquire in `liveness`.
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
    }

    /// The identity of core `core` in its life `boot`.
    fn identity(core: u32, boot: u32) -> ProcessId {
        let raw = u64::from(boot) << CORE_BITS | u64::from(core + 1);
        ProcessId::new(raw).expect("shmptr-arena: a boot count past what an identity holds")
    }
}

/// The active exception's number (`IPSR`): 0 in thread mode.
#[inline]
fn exception_number() -> u32 {
    #[cfg(target_arch = "arm")]
    {
        let ipsr: u32;
        // SAFETY: reads a special register; no memory, no side effect.
        unsafe { core::arch::asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
        ipsr & 0x1ff
    }
    #[cfg(not(target_arch = "arm"))]
    {
        0
    }
}

/// Sleeps until an event (`WFE`): another core's `SEV`, or an interrupt.
#[inline]
fn wait_for_event() {
    #[cfg(target_arch = "arm")]
    // SAFETY: a hint instruction; no memory, no register.
    unsafe {
        core::arch::asm!("wfe", options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "arm"))]
    core::hint::spin_loop();
}

/// Wakes every core sleeping in `WFE` (`SEV`), after the stores before it are
/// visible (`DSB`).
#[inline]
fn send_event() {
    #[cfg(target_arch = "arm")]
    // SAFETY: a barrier and a hint; they touch no memory of ours.
    unsafe {
        core::arch::asm!("dsb", "sev", options(nostack, preserves_flags))
    };
}

// SAFETY:
// - an identity is one core's number with its boot count (`Board`'s contract:
//   a true core number, one set of counters), and `boot` (called at every boot,
//   before the core uses the arena) makes each life's count new: distinct cores
//   and distinct lives of one core never share one;
// - `liveness` says `Dead` only for a core's earlier life, which the core's reset
//   ended (a count below the core's current one), and of which nothing is used
//   again (`boot`'s contract);
// - threads are the exception contexts of one core (thread mode is 0): two
//   contexts that live at once on one core have different numbers, and a core's
//   threads share its identity as their `id`;
// - `wait` returns at once if the word differs when it looks; a `wake` (`SEV`)
//   after that look sets the event register, so the `WFE` that follows returns:
//   no wake-up is lost. It also returns early (any interrupt), as allowed.
unsafe impl<B: Board> Platform for CortexM<B> {
    const THREADS: bool = true;

    #[inline]
    fn current_process() -> ProcessId {
        let core = B::core();
        // Relaxed: this core's own counter, written only by this core.
        Self::identity(core, B::boots()[core as usize].load(Ordering::Relaxed))
    }

    fn liveness(process: ProcessId) -> Liveness {
        let raw = process.get();
        let core = (raw & ((1 << CORE_BITS) - 1)) as u32;
        let boot = raw >> CORE_BITS;
        if core == 0 || core > B::CORES {
            return Liveness::Unknown;
        }
        // Acquire: pairs with the Release in `boot`.
        let current = u64::from(B::boots()[(core - 1) as usize].load(Ordering::Acquire));
        match boot.cmp(&current) {
            core::cmp::Ordering::Less => Liveness::Dead,
            core::cmp::Ordering::Equal => Liveness::Alive,
            // A life that has not begun: a peer wrote the number.
            core::cmp::Ordering::Greater => Liveness::Unknown,
        }
    }

    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        if word.load(Ordering::Acquire) != expected || timeout == Some(Duration::ZERO) {
            return;
        }
        // One sleep until an event: the caller re-checks the word and its
        // deadline (from `now_nanos`), and calls again.
        wait_for_event();
    }

    fn wake(_word: &AtomicU32, _count: u32) {
        send_event();
    }

    fn now_nanos() -> u64 {
        B::now_nanos()
    }

    #[inline]
    fn current_thread() -> ThreadId {
        ThreadId::new(exception_number() + 1, Self::current_process().get()).expect("an exception number and a core")
    }
}
