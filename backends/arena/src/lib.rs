//! A shmptr backend over static memory, with simulated processes.
//!
//! Two jobs: bring-your-own-memory targets with no OS (bare metal, a window of
//! memory a hypervisor shares), and the deterministic test double on which every
//! shmptr protocol runs without syscalls, including under Miri.
//!
//! An arena lives in a [`Space`]: a zero-sized type that owns a static [`ArenaState`]
//! (a name table, a simulated process table and a simulated clock) over a block of
//! memory. [`arena_space!`] declares one over a static buffer; implement [`Space`] by
//! hand to use memory you got elsewhere.
//!
//! Processes are simulated: process 1 runs first; [`Arena::spawn`] makes another,
//! [`Arena::enter`] makes the calling code act as it, [`Arena::kill`] declares it
//! dead, and [`Arena::crash_at`] makes it die at a chosen [`CrashPoint`] of a
//! protocol (the arena then panics out of the protocol, which a test catches with
//! `std::panic::catch_unwind`). All simulated processes share one address space, so
//! the last three are `unsafe`: a process declared dead must leave no handle, guard
//! or reference in use (leak them with `core::mem::forget`, as a killed process runs
//! no destructor), and the identity must not change under a running operation. Each
//! function's `# Safety` says exactly what it needs.
//!
//! A firmware whose cores (not simulated processes) share an arena picks its own
//! platform instead: `Arena<S, P>` keeps the arena's memory with `P`'s
//! identities, liveness, waits and clock; [`cortex_m::CortexM`] is one, for the
//! cores of a Cortex-M part (a core's life is a process, an exception a thread,
//! `WFE`/`SEV`, the board's timer).
//!
//! Time is simulated too: each timed wait advances the space's clock by the time it
//! asked for (at most a second per wait, so a wait for `Duration::MAX` never
//! exhausts the clock), so timeouts are deterministic and instant.
//!
//! # Interrupts and critical sections
//!
//! The arena's own bookkeeping (its name table, mapping records and clock) changes
//! only inside a [`critical_section`], short and bounded, which never waits. On a
//! single-core microcontroller that masks interrupts, so an interrupt handler may
//! create, open, clone and drop handles, `claim` and `release` a `Unique`, and
//! `try_lock` a `Mutex` while the code it interrupted does the same. The firmware
//! links one implementation of `critical-section` (for example the `cortex-m`
//! crate's `critical-section-single-core` feature); a part with several cores that
//! share the arena (an RP2040, an SSE-200) needs a multi-core one, which also
//! excludes the other cores. On targets with an operating system (`target_os` not
//! `"none"`) the arena brings `critical-section`'s `std` implementation itself.
//!
//! What a handler must not call: anything that waits for another holder, who
//! cannot run until the handler returns. `Mutex::lock` (and `lock_timeout`) while
//! the interrupted code holds the lock never returns (or times out having
//! spun all its time); `Condvar::wait`, `Semaphore::acquire`, and an `open` of an
//! object the interrupted code is still creating (it waits for `Ready`) likewise.
//! `Mutex::try_lock` and `Semaphore::try_acquire` are the handler's calls.
//!
//! ```
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use shmptr_arena::{arena_space, Arena, Shared};
//!
//! arena_space!(Demo, 64 * 1024);
//!
//! let a = Shared::<AtomicU32, Demo>::create("demo", AtomicU32::new(41)).unwrap();
//! let b_process = Arena::<Demo>::spawn();
//! // SAFETY: only this thread uses `Demo`, and `b_process` is alive.
//! let previous = unsafe { Arena::<Demo>::enter(b_process) };
//! let b = Shared::<AtomicU32, Demo>::open("demo").unwrap();
//! b.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(Shared::process_count(&b), 2);
//! drop(b);
//! // SAFETY: as above (`previous` is process 1, alive).
//! unsafe { Arena::<Demo>::enter(previous) };
//! assert_eq!(a.load(Ordering::Relaxed), 42);
//! drop(a);
//! assert!(!Arena::<Demo>::exists("demo"));
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod cortex_m;

use core::any::TypeId;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
#[cfg(target_has_atomic = "32")]
use core::sync::atomic::{AtomicU32, AtomicUsize};

// Targets without compare-and-swap (thumbv6m): the atomics the core takes there.
use core::time::Duration;
#[cfg(not(target_has_atomic = "32"))]
use portable_atomic::{AtomicU32, AtomicUsize};

use shmptr::{
    Access, Backend, CrashPoint, Error, ErrorKind, Liveness, LockWait, Name, Platform, ProcessId, Region, Result,
    ThreadId, FOREIGN_HANDLES, NAME_MAX,
};

/// How many objects (named or still mapped) an arena tracks at once, unless its
/// [`Tables`] say otherwise (the default of [`arena_space!`]).
pub const MAX_OBJECTS: usize = 64;
/// How many simulated processes one arena can have over its lifetime.
pub const MAX_PROCESSES: u32 = 255;
/// How many mappings (regions) of its objects an arena tracks at once, unless its
/// [`Tables`] say otherwise (the default of [`arena_space!`]).
pub const MAX_MAPPINGS: usize = 256;
/// Every object starts at a multiple of this.
const ALIGN: usize = 64;
/// How long one timed wait lasts at most, in simulated time, when the caller
/// asked for no limit.
const WAIT_STEP: Duration = Duration::from_millis(1);
/// How far one timed wait advances the simulated clock at most: a wait for
/// `Duration::MAX` must not jump the clock to its end (after which no time would
/// ever pass again, and no timeout or liveness re-check would come). Callers
/// loop until their deadline, one step of at most this per wait.
const MAX_WAIT_STEP: Duration = Duration::from_secs(1);

/// Static memory for an arena: aligned to a page where there is an operating
/// system, to 64 bytes (what every object needs: `Region::ALIGN`) on bare metal,
/// where a page alignment would waste up to 4 KiB of RAM before it.
#[cfg_attr(not(target_os = "none"), repr(C, align(4096)))]
#[cfg_attr(target_os = "none", repr(C, align(64)))]
pub struct Memory<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: the bytes are only reached through an `ArenaState`, which hands out
// disjoint regions in its critical sections; shared access inside a region is the
// shmptr core's business (atomics).
unsafe impl<const N: usize> Sync for Memory<N> {}

impl<const N: usize> Memory<N> {
    /// Zeroed memory.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Memory(UnsafeCell::new([0; N]))
    }
}

/// One object of the arena, in a record of the name table. A free record is all
/// zeros. Records are written field by field where they lie and never moved, so
/// no operation copies one whole (about 220 bytes, most of them the name).
struct Entry {
    /// Whether the record holds an object.
    used: bool,
    /// Whether its name still names it.
    linked: bool,
    name_len: usize,
    offset: usize,
    len: usize,
    maps: u32,
    /// The mapping that owns the object exclusively (see `Region::own_exclusively`),
    /// as its index in `ArenaState::mappings` plus one; 0 for none.
    owned_by: usize,
    /// The first of the object's `maps` mapping records, linked through
    /// `Mapping::next` (an index plus one; 0 for none), so that the object's
    /// mappings are found without a walk of every record.
    first: usize,
    name: [u8; NAME_MAX],
}

impl Entry {
    /// A free record.
    const FREE: Entry = Entry {
        used: false,
        linked: false,
        name_len: 0,
        offset: 0,
        len: 0,
        maps: 0,
        owned_by: 0,
        first: 0,
        name: [0; NAME_MAX],
    };

    /// Whether this record holds the object linked under `name`.
    #[inline(always)]
    fn is(&self, name: Name<'_>) -> bool {
        let name = name.as_bytes();
        self.used && self.linked && self.name_len == name.len() && same_bytes(&self.name[..self.name_len], name)
    }

    /// Whether this record holds the object at `offset` (objects' places differ:
    /// even an empty one takes a byte, see `end`).
    fn at(&self, offset: usize) -> bool {
        self.used && self.offset == offset
    }

    /// Where the object's place ends: at least one byte past its start, so that no
    /// two objects share an offset, the arena's identity of an object.
    fn end(&self) -> usize {
        self.offset + self.len.max(1)
    }

    /// Ends mapping record `mapping`'s hold on this object (call in a critical
    /// section): takes the record out of the object's list and frees it, ends its
    /// exclusive ownership and one map count, and frees this record once the
    /// object is unlinked and unmapped (its memory is then free).
    #[inline]
    fn release(&mut self, mappings: &[Mapping], mapping: usize) {
        // Relaxed: `next` and the process are written and read in critical
        // sections only, which order themselves.
        let record = &mappings[mapping];
        let after = record.next.load(Ordering::Relaxed);
        if self.first == mapping + 1 {
            self.first = after;
        } else {
            let mut at = self.first;
            while let Some(m) = at.checked_sub(1).map(|i| &mappings[i]) {
                at = m.next.load(Ordering::Relaxed);
                if at == mapping + 1 {
                    m.next.store(after, Ordering::Relaxed);
                    break;
                }
            }
        }
        record.next.store(0, Ordering::Relaxed);
        record.set_process(0);
        if self.owned_by == mapping + 1 {
            self.owned_by = 0;
        }
        self.maps -= 1;
        if !self.linked && self.maps == 0 {
            self.used = false;
        }
    }
}

/// Whether `a` and `b`, of the same length, hold the same bytes: compared 4 at a
/// time, inline (a call of `memcmp` cost a Cortex-M4 ~80 instructions per open).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let (mut x, mut y) = (a.chunks_exact(4), b.chunks_exact(4));
    let word = |c: &[u8]| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q)) && x.remainder().iter().eq(y.remainder())
}

/// Zeroes the `len` bytes at `at`, which is 4-aligned: whole words through
/// `write_bytes` on `u32`s (a call of `__aeabi_memclr4` on Arm, the variant the
/// core's own zeroed values already link: one `memset` linked for both, not two,
/// ~200 bytes of a firmware), then the last 1 to 3 bytes one by one, volatile so
/// that they do not become another `memset` call.
///
/// # Safety
/// `at..at + len` must be valid for writes, `at` 4-aligned.
#[inline(always)]
unsafe fn zero(at: *mut u8, len: usize) {
    // SAFETY: the caller's promise: the words lie within `at..at + len`, aligned.
    unsafe { at.cast::<u32>().write_bytes(0, len / 4) };
    for i in len / 4 * 4..len {
        // SAFETY: as above, `i < len`.
        unsafe { at.add(i).write_volatile(0) };
    }
}

/// Copies `name` to the start of `to`, a byte at a time, with volatile writes:
/// LLVM turns a plain copy (a loop, `copy_from_slice`) into a call of `memcpy`,
/// which linked ~740 bytes of `compiler_builtins` into a firmware for this one
/// copy.
#[inline(always)]
fn copy_name(to: &mut [u8; NAME_MAX], name: &[u8]) {
    for (to, &byte) in to.iter_mut().zip(name) {
        // SAFETY: `to` is a valid, exclusive reference to one byte.
        unsafe { core::ptr::from_mut(to).write_volatile(byte) };
    }
}

/// What the arena keeps about one mapping, outside every object's memory: the
/// "process-private" memory of the simulation, which no segment write can reach.
struct Mapping {
    /// The process that made the mapping (its raw `ProcessId`, low and high
    /// halves); 0 when the record is free. Written in the arena's critical
    /// sections.
    process_lo: AtomicU32,
    process_hi: AtomicU32,
    /// The handles sharing the mapping (see `Region::handles`).
    handles: AtomicUsize,
    /// The mapped object: its offset in the arena. Written in critical sections.
    offset: AtomicUsize,
    /// The next record mapping the same object (`Entry::first`'s list), as an
    /// index plus one; 0 for none. Written in critical sections.
    next: AtomicUsize,
}

impl Mapping {
    /// The raw identity of the process that made the mapping; 0 if free. Read in
    /// a critical section (Relaxed: sections order themselves).
    #[inline]
    fn process(&self) -> u64 {
        u64::from(self.process_lo.load(Ordering::Relaxed)) | u64::from(self.process_hi.load(Ordering::Relaxed)) << 32
    }

    /// Records the mapping as `process`'s (0: free); in a critical section.
    fn set_process(&self, raw: u64) {
        self.process_lo.store(raw as u32, Ordering::Relaxed);
        self.process_hi.store((raw >> 32) as u32, Ordering::Relaxed);
    }
}

/// Whether platform `P` knows the process `raw` (a record's) to be dead.
#[inline]
fn dead<P: Platform>(raw: u64) -> bool {
    ProcessId::new(raw).is_some_and(|process| P::liveness(process) == Liveness::Dead)
}

/// What the arena changes only inside a critical section (see [`ArenaState`]).
/// `T` is the name table: an array in [`Tables`], a slice ([`Table`]) to the
/// arena.
struct Locked<T: ?Sized> {
    /// Simulated nanoseconds (not every target has 64-bit atomics).
    clock: u64,
    /// The value of `ArenaState::deaths` when the mappings of dead processes were
    /// last freed.
    swept: u32,
    /// The platform of the space's mapping records: the first one that mapped an
    /// object here (`ArenaState::mapping`). Only it judges their processes (a
    /// record names a process as its platform does) or makes more.
    platform: Option<TypeId>,
    /// The objects, in no order; free records are all zeros.
    table: T,
}

/// The name table, whatever its capacity.
type Table = [Entry];

/// The bookkeeping of one arena beside its memory: room for `OBJECTS` objects
/// (named, or unlinked and still mapped) and `MAPPINGS` mappings of them at once.
/// An object takes about 220 bytes (its name is up to [`NAME_MAX`] bytes), a
/// mapping 12 on a 32-bit target. A new one is all zeros, so a `static` of it
/// lies in `.bss`: it costs RAM, no flash. [`arena_space!`] declares one; pick
/// the sizes there (`objects = .., mappings = ..`) to fit a small RAM.
pub struct Tables<const OBJECTS: usize = MAX_OBJECTS, const MAPPINGS: usize = MAX_MAPPINGS> {
    locked: UnsafeCell<Locked<[Entry; OBJECTS]>>,
    mappings: [Mapping; MAPPINGS],
}

// SAFETY: `locked` is only reached inside the critical sections of the one
// `ArenaState` made over these tables (the contract of `ArenaState::new`);
// `mappings` is atomics.
unsafe impl<const OBJECTS: usize, const MAPPINGS: usize> Sync for Tables<OBJECTS, MAPPINGS> {}

impl<const OBJECTS: usize, const MAPPINGS: usize> Tables<OBJECTS, MAPPINGS> {
    /// Empty tables.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Tables {
            locked: UnsafeCell::new(Locked {
                clock: 0,
                swept: 0,
                platform: None,
                table: [const { Entry::FREE }; OBJECTS],
            }),
            mappings: [const {
                Mapping {
                    process_lo: AtomicU32::new(0),
                    process_hi: AtomicU32::new(0),
                    handles: AtomicUsize::new(0),
                    offset: AtomicUsize::new(0),
                    next: AtomicUsize::new(0),
                }
            }; MAPPINGS],
        }
    }
}

impl<const OBJECTS: usize, const MAPPINGS: usize> core::fmt::Debug for Tables<OBJECTS, MAPPINGS> {
    /// The capacities only: the contents belong to the arena.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tables").field("objects", &OBJECTS).field("mappings", &MAPPINGS).finish()
    }
}

/// The state of one arena: its memory, name table, simulated processes and clock.
///
/// Its table and clock change only inside a [`critical_section`]: on a
/// single-core microcontroller that masks interrupts, so an interrupt handler
/// that creates, opens or drops handles while the interrupted code does the same
/// never waits for it (a spin lock would: the holder cannot run until the
/// handler returns). Every critical section is short and bounded (a walk of the
/// name table or the mapping records); none waits for anything.
pub struct ArenaState {
    base: *mut u8,
    len: usize,
    /// Set while a critical section of this arena runs: a nested one is a bug
    /// (two `&mut` to the table), caught by an assertion.
    held: AtomicBool,
    /// In a [`Tables`] (`.bss`); the state itself is a few words.
    locked: &'static UnsafeCell<Locked<Table>>,
    mappings: &'static [Mapping],
    current: AtomicU32,
    next: AtomicU32,
    dead: [AtomicU32; 8],
    /// How many deaths were declared; the next critical section frees the dead
    /// processes' mappings when it differs from `Locked::swept`.
    deaths: AtomicU32,
    crash: AtomicU32,
    /// Calls of `Platform::wait` and `Platform::wake`: what would be futex system
    /// calls on Linux.
    futex_calls: AtomicU32,
}

// SAFETY: `locked` is only touched inside a critical section; everything else is atomic; `base`
// is shared memory handed out in disjoint regions.
unsafe impl Sync for ArenaState {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for ArenaState {}

impl ArenaState {
    /// An arena over `memory`, keeping its books in `tables`. [`arena_space!`]
    /// calls it on statics of its own; call it yourself only to build a [`Space`]
    /// by hand.
    ///
    /// # Safety
    /// `memory` and `tables` are used by this arena alone: no other `ArenaState` is
    /// ever made over either (by this function or by [`new`](ArenaState::new)), and
    /// no other code reads or writes the bytes of `memory`. A `&'static` can be
    /// copied freely, so the borrows do not prove it: two arenas over one `Memory`
    /// would hand out the same bytes as two objects, giving two `&mut` to one
    /// value; two over one `Tables` would change one table outside each other's
    /// critical sections.
    ///
    /// Calling it without `unsafe` does not compile:
    /// ```compile_fail,E0133
    /// use shmptr_arena::{ArenaState, Memory, Tables};
    /// static MEMORY: Memory<4096> = Memory::new();
    /// static TABLES: Tables<4, 16> = Tables::new();
    /// static STATE: ArenaState = ArenaState::from_memory(&MEMORY, &TABLES);
    /// ```
    pub const unsafe fn from_memory<const N: usize, const OBJECTS: usize, const MAPPINGS: usize>(
        memory: &'static Memory<N>,
        tables: &'static Tables<OBJECTS, MAPPINGS>,
    ) -> Self {
        // SAFETY: a `'static` `Memory` is valid for reads and writes of `N` bytes for
        // good, aligned to 64 (a page, or 64 on bare metal); the caller guarantees that
        // nothing but this arena uses it or `tables`.
        unsafe { Self::new(memory.0.get().cast::<u8>(), N, tables) }
    }

    /// An arena over `len` bytes at `base` (memory you got elsewhere: a linker
    /// section, a hypervisor window), keeping its books in `tables`.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes for `'static`,
    /// aligned to 64, and used by nothing but this arena; `tables` too is used by
    /// no other arena.
    pub const unsafe fn new<const OBJECTS: usize, const MAPPINGS: usize>(
        base: *mut u8,
        len: usize,
        tables: &'static Tables<OBJECTS, MAPPINGS>,
    ) -> Self {
        ArenaState {
            base,
            len,
            held: AtomicBool::new(false),
            locked: &tables.locked,
            mappings: &tables.mappings,
            current: AtomicU32::new(1),
            next: AtomicU32::new(2),
            dead: [const { AtomicU32::new(0) }; 8],
            deaths: AtomicU32::new(0),
            crash: AtomicU32::new(0),
            futex_calls: AtomicU32::new(0),
        }
    }

    fn with_table<P: Platform, R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        self.locked::<P, R>(|locked| f(&mut locked.table))
    }

    /// Unlinks the first entry that `which` picks; its memory goes with its last
    /// mapping. `NotFound` (while `during`) if none matches.
    fn unlink_where<P: Platform>(&self, which: impl Fn(&Entry) -> bool, during: &'static str) -> Result<()> {
        self.with_table::<P, _>(|table| match table.iter_mut().find(|e| which(e)) {
            Some(entry) => {
                entry.linked = false;
                if entry.maps == 0 {
                    entry.used = false;
                }
                Ok(())
            }
            None => Err(Error::new(ErrorKind::NotFound, during)),
        })
    }

    /// `process`'s number if it is one of this space's simulated processes (the
    /// first, 1, or one that `spawn` made); panics otherwise. `enter`, `kill` and
    /// `crash_at` take no other: a number `spawn` never made could be handed out
    /// later, and one past `MAX_PROCESSES` has no dead bit (nor a crash code of
    /// its own: it would name process 1).
    fn simulated(&self, process: ProcessId) -> u32 {
        match u32::try_from(process.get()) {
            // Relaxed: `spawn`'s count; a number from it was handed to the caller.
            Ok(raw) if raw < self.next.load(Ordering::Relaxed) && raw <= MAX_PROCESSES => raw,
            // No number formatted (a firmware links no formatting for it).
            _ => panic!("shmptr-arena: not a process of this space (Arena::spawn makes them)"),
        }
    }

    /// Whether simulated process `raw` was declared dead.
    fn is_dead(&self, raw: u32) -> bool {
        raw <= MAX_PROCESSES && self.dead[(raw / 32) as usize].load(Ordering::Relaxed) & (1 << (raw % 32)) != 0
    }

    /// Declares `process` dead (see [`Arena::kill`]).
    fn declare_dead(&self, process: ProcessId) {
        let raw = process.get();
        if raw <= MAX_PROCESSES.into() {
            self.dead[(raw / 32) as usize].fetch_or(1 << (raw % 32), Ordering::Relaxed);
            // Release: the critical section that sees the new count (Acquire in
            // `locked`) sees the dead bit above and frees the process's mappings.
            self.deaths.fetch_add(1, Ordering::Release);
        }
    }

    /// A free mapping record for the calling process (as `P` names it); call in a
    /// critical section. When every record is taken, the records of processes
    /// `P` knows to be dead are freed first (`sweep`).
    fn new_mapping<P: Platform>(&self, table: &mut Table, offset: usize) -> Result<(usize, &'static Mapping)> {
        let me = P::current_process().get();
        let mappings = self.mappings;
        let free = || mappings.iter().position(|m| m.process() == 0);
        let index = match free() {
            Some(index) => index,
            None => {
                self.sweep::<P>(table);
                free().ok_or(Error::new(ErrorKind::OutOfMemory, "mapping an arena object (too many mappings)"))?
            }
        };
        // One bounds check, and the record's address kept: `mappings` is a field
        // of a shared static, reloaded after every store through it otherwise.
        let m = &mappings[index];
        // Relaxed: written and read in critical sections (handles: before any
        // handle exists; the region is handed to its first user after the
        // section ends).
        m.set_process(me);
        m.handles.store(0, Ordering::Relaxed);
        m.offset.store(offset, Ordering::Relaxed);
        Ok((index, m))
    }

    /// Marks the handle count of every mapping record with handles that another
    /// process than `current` holds with [`FOREIGN_HANDLES`], and unmarks
    /// `current`'s own (the promise of [`Region::foreign_marked`] for the regions
    /// of `Arena<S>`, over its own simulation): a clone or drop of another
    /// process's handle then finds a mark in the count it changes, and gives its
    /// change back (the core's `handles::release`). A count of 0 (a `Unique`'s
    /// mapping: no handle counts on it) stays 0, so that it never looks like a
    /// mapping with handles to the core's look at the others (`Region::others`).
    /// Run by `Arena::enter` as the identity changes, while no operation runs (its
    /// contract); in a critical section all the same, against an interrupt
    /// handler that breaks that contract.
    fn mark_foreign(&self, current: u32, simulated: TypeId) {
        self.section(|locked| {
            // Another platform's records (the space's platform is not this
            // simulation) name processes its own way: no mark is theirs.
            if locked.platform.is_some_and(|p| p != simulated) {
                return;
            }
            for m in self.mappings {
                let process = m.process();
                if process == 0 {
                    continue;
                }
                // Relaxed, as `current` is: no operation runs while the identity
                // changes, and whatever orders the switch with the next one orders
                // these stores too. A load and a store (no read-modify-write,
                // which thumbv6m lacks): nobody else writes the counts meanwhile.
                let count = m.handles.load(Ordering::Relaxed);
                let marked = match process == u64::from(current) {
                    true => count & !FOREIGN_HANDLES,
                    false if count & (FOREIGN_HANDLES - 1) != 0 => count | FOREIGN_HANDLES,
                    false => count,
                };
                m.handles.store(marked, Ordering::Relaxed);
            }
        })
    }

    /// Frees the mapping records of dead processes, as the unmapping a killed
    /// process's exit does: each one no longer keeps its object's memory (an
    /// unlinked object without a live mapping goes) nor its exclusive ownership.
    /// A dead process's regions are never dropped (the contract of
    /// [`Arena::kill`]); one dropped while a crashing process unwinds finds its
    /// record already free and does nothing (`ArenaRegion::drop`).
    fn sweep<P: Platform>(&self, table: &mut Table) {
        for (index, m) in self.mappings.iter().enumerate() {
            // Relaxed: in a critical section, after the Acquire of `deaths`.
            let process = m.process();
            if process == 0 || !dead::<P>(process) {
                continue;
            }
            let offset = m.offset.load(Ordering::Relaxed);
            match table.iter_mut().find(|e| e.at(offset) && e.maps > 0) {
                Some(entry) => entry.release(self.mappings, index),
                None => m.set_process(0),
            }
        }
    }

    /// Runs `f` on the clock inside a critical section. No sweep of the dead
    /// processes' mappings first (`locked`): the clock has nothing to do with
    /// them, and without it the two clock reads of an open take 13 instructions
    /// less on a Cortex-M4 (and each inlined read fewer bytes).
    fn with_clock<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        self.section(|locked| f(&mut locked.clock))
    }

    /// Frees the mappings of processes that died (`sweep`) and records `deaths`
    /// as swept; outlined, as rare: each critical section holds a call, not a copy.
    /// Only `P` the space's platform sweeps: another would judge the records'
    /// processes by numbers that mean other processes to it.
    #[inline(never)]
    fn sweep_since<P: Platform>(&self, locked: &mut Locked<Table>, deaths: u32) {
        if locked.platform.is_none_or(|p| p == TypeId::of::<P>()) {
            self.sweep::<P>(&mut locked.table);
            locked.swept = deaths;
        }
    }

    /// Runs `f` on the table and clock inside a critical section, after freeing
    /// the mappings of simulated processes that died since the last one (`P`
    /// judges which are dead).
    /// (Only if `P` is the space's platform: `sweep_since`.)
    fn locked<P: Platform, R>(&self, f: impl FnOnce(&mut Locked<Table>) -> R) -> R {
        self.section(|locked| {
            // Acquire: pairs with the Release in `declare_dead`.
            let deaths = self.deaths.load(Ordering::Acquire);
            if deaths != locked.swept {
                self.sweep_since::<P>(locked, deaths);
            }
            f(locked)
        })
    }

    /// As `with_table`, for a call that makes a mapping record as `P` (a create or
    /// an open): the first makes `P` the space's platform, and a call with another
    /// platform after that is refused (`Unsupported`): one platform per space, as
    /// records name processes as their platform does.
    fn mapping<P: Platform, R>(&self, f: impl FnOnce(&mut Table) -> Result<R>) -> Result<R> {
        self.locked::<P, _>(|locked| {
            let platform = TypeId::of::<P>();
            match locked.platform {
                Some(bound) if bound != platform => Err(Error::new(
                    ErrorKind::Unsupported,
                    "mapping an arena object (its space has another platform: one per space)",
                )),
                _ => {
                    locked.platform = Some(platform);
                    f(&mut locked.table)
                }
            }
        })
    }

    /// Runs `f` on the table and clock inside a critical section.
    fn section<R>(&self, f: impl FnOnce(&mut Locked<Table>) -> R) -> R {
        /// Clears `held` however the section ends (`f` may panic, and
        /// `critical_section::with` releases the section then).
        struct Held<'a>(&'a AtomicBool);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Relaxed);
            }
        }
        critical_section::with(|_| {
            // Relaxed: read and written inside critical sections only, which
            // order themselves. A load and a store, not a swap: targets without
            // compare-and-swap (thumbv6m) have no atomic swap.
            if self.held.load(Ordering::Relaxed) {
                nested();
            }
            self.held.store(true, Ordering::Relaxed);
            let _held = Held(&self.held);
            // SAFETY: inside the critical section and not nested (checked above),
            // so this is the only reference to `locked`: every other use is in
            // another critical section, which excludes this one (interrupts are
            // masked on a single core; a multi-core implementation of
            // `critical-section` excludes the other cores too).
            let locked = unsafe { &mut *self.locked.get() };
            f(locked)
        })
    }
}

/// A critical section opened inside another of the same arena: a bug (two `&mut`
/// to the table). One outlined panic for every section.
#[cold]
#[inline(never)]
fn nested() -> ! {
    panic!("shmptr-arena: nested critical section")
}

/// The lowest offset, a multiple of [`ALIGN`], where `len` bytes fit in an
/// arena of `capacity` bytes beside the objects of `table`: 0 or just past one of
/// them (a gap always begins at one of those).
fn first_fit(table: &Table, len: usize, capacity: usize) -> Option<usize> {
    let fits = |start: usize| {
        start
            .checked_add(len.max(1))
            .is_some_and(|end| end <= capacity && table.iter().all(|e| !e.used || e.end() <= start || end <= e.offset))
    };
    let mut best = None;
    let starts = table.iter().filter(|e| e.used).map(|e| e.end().checked_next_multiple_of(ALIGN));
    for start in core::iter::once(Some(0)).chain(starts).flatten() {
        if best.is_none_or(|best| start < best) && fits(start) {
            best = Some(start);
        }
    }
    best
}

/// A zero-sized handle on one static [`ArenaState`]; the type parameter of [`Arena`].
///
/// # Safety
/// `state` must return the same arena every time.
pub unsafe trait Space: 'static {
    /// The arena.
    fn state() -> &'static ArenaState;
}

/// Declares a [`Space`] named `$name` over a static buffer of `$bytes` bytes,
/// with room for [`MAX_OBJECTS`] objects and [`MAX_MAPPINGS`] mappings, or as
/// many as `objects = ..` and `mappings = ..` say. The buffer and the tables are
/// zeroed statics (`.bss`): they cost RAM, no flash.
///
/// ```
/// shmptr_arena::arena_space!(pub Scratch, 16 * 1024);
/// let x = shmptr_arena::Shared::<u64, Scratch>::create("x", 7).unwrap();
/// assert_eq!(*x, 7);
///
/// // Room for 4 objects and 16 mappings (about 1 KiB of books).
/// shmptr_arena::arena_space!(pub Small, 16 * 1024, objects = 4, mappings = 16);
/// let y = shmptr_arena::Shared::<u64, Small>::create("y", 8).unwrap();
/// assert_eq!(*y, 8);
/// ```
#[macro_export]
macro_rules! arena_space {
    ($vis:vis $name:ident, $bytes:expr) => {
        $crate::arena_space!($vis $name, $bytes, objects = $crate::MAX_OBJECTS, mappings = $crate::MAX_MAPPINGS);
    };
    ($vis:vis $name:ident, $bytes:expr, objects = $objects:expr, mappings = $mappings:expr) => {
        #[doc = "An arena space over a static buffer."]
        #[derive(Debug)]
        $vis struct $name;
        // SAFETY: `state` returns the one static declared inside it.
        unsafe impl $crate::Space for $name {
            fn state() -> &'static $crate::ArenaState {
                static MEMORY: $crate::Memory<{ $bytes }> = $crate::Memory::new();
                static TABLES: $crate::Tables<{ $objects }, { $mappings }> = $crate::Tables::new();
                // SAFETY: `MEMORY` and `TABLES` are private to this function, and
                // this initializer (evaluated once, at compile time) is their only
                // use: no other arena and no other code can reach them.
                static STATE: $crate::ArenaState = unsafe { $crate::ArenaState::from_memory(&MEMORY, &TABLES) };
                &STATE
            }
        }
    };
}

arena_space!(pub DefaultSpace, 256 * 1024);

/// The arena backend over space `S`.
///
/// Besides the [`Backend`] and [`Platform`] it provides, it runs the simulation:
/// [`spawn`](Arena::spawn) a process, [`enter`](Arena::enter) it (act as it),
/// [`kill`](Arena::kill) it or make it die at a [`CrashPoint`] with
/// [`crash_at`](Arena::crash_at). Simulated processes share one address space, where
/// a real process's death or a real `fork` has no equivalent: what the simulation
/// cannot enforce, the caller of those three `unsafe` functions promises.
///
/// - A process is dead from `kill` (or its crash) on: nothing it made (handle,
///   guard, reference through them) is used again, not even dropped. Leak it with
///   [`core::mem::forget`], as a killed process runs no destructor. The arena and the
///   core treat a dead process's mappings, locks and owned objects as free.
/// - The simulated identity is global to the space: it changes only while no other
///   thread is inside an operation on the space.
/// - A handle made as one process and used while acting as another is, to the
///   core, inherited across a `fork`: it reads, and releases nothing.
///
/// `P` is the platform: [`Simulated`] (the default: all of the above), or one of
/// your own, such as [`CortexM`](crate::cortex_m::CortexM) for the cores of one
/// chip, which keeps the arena's memory and books but takes identities,
/// liveness, waits and the clock from `P`. A space has one platform: the first
/// that maps an object in it (a create or open with another is `Unsupported`), as
/// the records of its mappings name processes the way that platform does; its
/// queries (`exists`, `remove`, ...) work with any.
pub struct Arena<S, P = Simulated<S>>(PhantomData<(S, P)>);

/// The arena's own simulated platform: processes made by [`Arena::spawn`], deaths
/// by [`Arena::kill`] and crash points, a simulated clock, waits that spin. The
/// default platform of [`Arena`]; the [`Platform`] of `Arena<S>` forwards to it.
pub struct Simulated<S>(PhantomData<S>);

impl<S> core::fmt::Debug for Simulated<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Simulated")
    }
}

impl<S, P> core::fmt::Debug for Arena<S, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Arena")
    }
}

impl<const N: usize> core::fmt::Debug for Memory<N> {
    /// The size only: the bytes belong to the objects in it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memory").field("bytes", &N).finish()
    }
}

impl core::fmt::Debug for ArenaState {
    /// The bookkeeping is process-private simulation state; not shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArenaState").finish_non_exhaustive()
    }
}

impl<S: Space, P: Platform> core::fmt::Debug for ArenaRegion<S, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArenaRegion").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// `shmptr::Shared` on an arena.
pub type Shared<T, S = DefaultSpace> = shmptr::Shared<T, Arena<S>>;
/// `shmptr::Unique` on an arena.
pub type Unique<T, S = DefaultSpace> = shmptr::Unique<T, Arena<S>>;
/// `shmptr::Released` on an arena (from `Unique::release_mapped`).
pub type Released<T, S = DefaultSpace> = shmptr::Released<T, Arena<S>>;

/// `shmptr::Mutex` waiting through an arena's platform.
pub type Mutex<T, S = DefaultSpace> = shmptr::Mutex<T, Arena<S>>;
/// `shmptr::Condvar` on an arena.
pub type Condvar<S = DefaultSpace> = shmptr::Condvar<Arena<S>>;
/// `shmptr::Semaphore` on an arena.
pub type Semaphore<S = DefaultSpace> = shmptr::Semaphore<Arena<S>>;

/// A mapping of one arena object.
pub struct ArenaRegion<S: Space, P: Platform = Simulated<S>> {
    ptr: NonNull<u8>,
    len: usize,
    offset: usize,
    /// The object's record in the name table. Records are never moved, and this
    /// one holds the object while any mapping of it is recorded (its `maps` count
    /// is theirs); each use still checks that it is at `offset`.
    entry: usize,
    /// Its record in `ArenaState::mappings`.
    mapping: usize,
    /// That record's handle count (`Region::handles`, on every clone and drop:
    /// one load rather than an index into the records). A pointer into the
    /// space's static `Tables`, not a `&'static`: a reference to an atomic would
    /// make every handle look interior-mutable (clippy's `mutable_key_type` in
    /// users' maps of handles), though a handle's `Hash`/`Ord` never read it.
    handles: NonNull<AtomicUsize>,
    _space: PhantomData<(S, P)>,
}

// SAFETY: `ptr` is valid for `len` bytes while the entry's map count includes this
// region (the entry is never reused before), aligned to 64; every region of the
// entry is the same bytes; fresh entries are zeroed; a bitwise copy is fine as
// long as one copy is dropped, since only `Drop` touches the map count. `handles`
// is this region's own record in the arena's mapping table, outside every
// object's bytes, zeroed when the region is made and freed only by its `Drop` (or
// once its process is declared dead, after which its handles are never used).
// `own_exclusively` is decided in a critical section against the one mapping
// recorded as owner.
unsafe impl<S: Space, P: Platform> Region for ArenaRegion<S, P> {
    fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn handles(&self) -> &AtomicUsize {
        // SAFETY: `handles` points into the mapping records of `S`'s `Tables`, a
        // `static` (see `ArenaRegion::new`): valid for good, and only ever
        // shared.
        unsafe { self.handles.as_ref() }
    }
    /// True only over the space's own simulation (`P` is `Simulated<S>`): the
    /// identity then changes only through `Arena::<S>::enter`, which marks the
    /// records of `S` (`ArenaState::mark_foreign`; all of them are this
    /// platform's, one platform per space: `ArenaState::mapping`), and a new
    /// record is made unmarked, by the current process. Any other platform, also
    /// the simulation of another space (whose `enter` marks that space's records,
    /// not these), changes the identity without marking. A compare of two
    /// constants, folded away in an optimized build.
    #[inline(always)]
    fn foreign_marked() -> bool {
        TypeId::of::<P>() == TypeId::of::<Simulated<S>>()
    }
    fn others(&self) -> usize {
        let state = S::state();
        // One address space for every process of the arena (simulated ones, or the
        // cores of one chip): any live process's mapping counts. A dead one's
        // handles are never used again (`kill`; a reset core).
        state.with_table::<P, _>(|table| {
            // The object's own list of mapping records, not every record: each
            // one on it is in use and maps this object. No record: the object is
            // gone, and with it every mapping of it.
            let Some(entry) = self.entry_of(table) else { return 0 };
            let mappings = state.mappings;
            let mut or = 0;
            let mut at = entry.first;
            while let Some(index) = at.checked_sub(1) {
                let m = &mappings[index];
                // Relaxed: in a critical section (process, next); the counts as
                // `Region::others` requires.
                if index != self.mapping && !dead::<P>(m.process()) {
                    or |= m.handles.load(Ordering::Relaxed);
                }
                at = m.next.load(Ordering::Relaxed);
            }
            or
        })
    }
    fn own_exclusively(&self) -> Result<()> {
        let state = S::state();
        state.with_table::<P, _>(|table| {
            let entry = self.entry_of(table).ok_or(Error::new(ErrorKind::NotFound, "owning an arena object"))?;
            if let Some(other) = entry.owned_by.checked_sub(1) {
                let process = state.mappings[other].process();
                if other != self.mapping && process != 0 && !dead::<P>(process) {
                    return Err(Error::new(ErrorKind::Busy, "claiming an object a mapping here owns already"));
                }
            }
            entry.owned_by = self.mapping + 1;
            Ok(())
        })
    }
    /// Ends this mapping's ownership now, also while it stays mapped (a `Unique`
    /// released with `release_mapped`), so that another mapping here may claim.
    fn disown(&self) {
        let state = S::state();
        state.with_table::<P, _>(|table| {
            if let Some(entry) = self.entry_of(table) {
                if entry.owned_by == self.mapping + 1 {
                    entry.owned_by = 0;
                }
            }
        })
    }
    /// The same object's place in the arena (an object's memory is not reused
    /// while a region maps it; `others` uses the same identity).
    fn same_object(&self, other: &Self) -> bool {
        self.offset == other.offset
    }
}

// SAFETY: the region is a pointer into static memory plus numbers.
unsafe impl<S: Space, P: Platform> Send for ArenaRegion<S, P> {}
// SAFETY: as above.
unsafe impl<S: Space, P: Platform> Sync for ArenaRegion<S, P> {}

impl<S: Space, P: Platform> ArenaRegion<S, P> {
    /// A region of the object of `len` bytes at `offset`, for the calling process
    /// (as `P` names it); call in a critical section, with its `table`.
    fn new(state: &ArenaState, table: &mut Table, entry: usize, offset: usize, len: usize) -> Result<Self> {
        let (mapping, record) = state.new_mapping::<P>(table, offset)?;
        // SAFETY: objects lie within the arena's memory (`first_fit` checks it).
        let ptr = unsafe { NonNull::new_unchecked(state.base.add(offset)) };
        let handles = NonNull::from(&record.handles);
        // First on the object's list of mappings. Relaxed: in a critical section.
        let entry_record = &mut table[entry];
        record.next.store(entry_record.first, Ordering::Relaxed);
        entry_record.first = mapping + 1;
        Ok(ArenaRegion { ptr, len, offset, entry, mapping, handles, _space: PhantomData })
    }

    /// The object's record in `table` (call in a critical section): the one this
    /// region was made with, no walk of the table. Records never move, and the
    /// object's stays in use while this region's mapping record is counted in
    /// it; `None` only for a dead process's region whose records were freed
    /// (`ArenaState::sweep`), when the record may hold another object by now.
    #[inline]
    fn entry_of<'t>(&self, table: &'t mut Table) -> Option<&'t mut Entry> {
        table.get_mut(self.entry).filter(|e| e.at(self.offset))
    }
}

impl<S: Space, P: Platform> Drop for ArenaRegion<S, P> {
    fn drop(&mut self) {
        let state = S::state();
        state.with_table::<P, _>(|table| {
            // Relaxed: in a critical section. A record already free is one whose
            // process died while unwinding (a crash point): the critical section
            // freed it, and its map count with it.
            let record = &state.mappings[self.mapping];
            if record.process() == 0 {
                return;
            }
            match self.entry_of(table) {
                Some(entry) => entry.release(state.mappings, self.mapping),
                None => record.set_process(0),
            }
        });
    }
}

/// The simulation, and the arena's contents: on `Arena<S>`, whose platform is
/// [`Simulated`]. (The contents are the same whatever the platform: ask
/// `Arena::<S>::exists` and the like with any.)
impl<S: Space> Arena<S> {
    /// A new simulated process (alive). Panics after [`MAX_PROCESSES`].
    pub fn spawn() -> ProcessId {
        let raw = S::state().next.fetch_add(1, Ordering::Relaxed);
        assert!(raw <= MAX_PROCESSES, "shmptr-arena: more than {MAX_PROCESSES} simulated processes");
        ProcessId::new(raw.into()).expect("non-zero")
    }

    /// Makes the calling code act as `process` (for every thread using this space);
    /// returns the process it acted as before.
    ///
    /// Handles and guards made while acting as another process stay that process's.
    /// Used while acting as `process`, the core treats them as a `fork`ed child's
    /// inherited handles: they read, a clone re-opens the object for `process`, a
    /// write through a `Unique` panics, a drop or release gives nothing back (the
    /// maker's mapping then stays: a leak). That is sound, because the handle is
    /// still one object in one address space, under Rust's borrow rules; what
    /// switching needs is below. (The switch marks the other processes' mappings
    /// with [`FOREIGN_HANDLES`], so that a clone or drop tells their handles from
    /// the count it changes: no look at the identity on its fast path.)
    ///
    /// # Safety
    /// No other thread is inside an operation on this space (a call on one of its
    /// objects, handles or guards, or an `Arena` function) while the identity
    /// changes. An operation reads the current process more than once: one that saw
    /// the identity change in its middle would act as two processes at once, for
    /// example a clone whose handle records one process while its mapping is
    /// recorded as the other's; [`kill`](Arena::kill)ing that other process would
    /// then free the mapping record under a live handle. Threads that merely hold
    /// handles or references, outside any call, are no concern.
    ///
    /// Each operation in another thread is ordered with the switch: it happens
    /// before it or after it (as a thread's start or `join`, a lock or a channel
    /// order them). The identity and the marks are plain stores that such an
    /// order makes seen; a thread that raced the switch might read the old ones.
    ///
    /// (That `process` is alive is checked: see below.)
    ///
    /// # Panics
    /// If `process` was declared dead ([`kill`](Arena::kill), a crash): acting as a
    /// dead process would make mappings, locks and owners that the arena already
    /// treats as free. Panics too for a number that is not one of this space's
    /// processes (1, or one [`spawn`](Arena::spawn) made).
    ///
    /// ```compile_fail,E0133
    /// use shmptr_arena::{Arena, DefaultSpace};
    /// Arena::<DefaultSpace>::enter(Arena::<DefaultSpace>::spawn());
    /// ```
    pub unsafe fn enter(process: ProcessId) -> ProcessId {
        let state = S::state();
        let raw = state.simulated(process);
        assert!(!state.is_dead(raw), "shmptr-arena: entering process {raw}, which is dead");
        let previous = state.current.swap(raw, Ordering::Relaxed);
        state.mark_foreign(raw, TypeId::of::<Simulated<S>>());
        ProcessId::new(previous.into()).expect("non-zero")
    }

    /// The process the calling code acts as.
    pub fn current() -> ProcessId {
        <Self as Platform>::current_process()
    }

    /// Declares `process` dead: its holdings may now be reclaimed by the others (its
    /// slots, the locks it held, the objects it owned), and the arena's next
    /// operation frees its mappings, as a real process's exit unmaps: an object
    /// unlinked meanwhile whose only mappings were the dead process's gives its
    /// memory back then.
    ///
    /// # Safety
    /// Nothing that `process` made is in use or used again: no handle
    /// ([`Shared`], [`Unique`]) made while acting as `process` (by `create`, `open`,
    /// `claim`, or a clone re-opening an inherited handle), no guard it locked (a
    /// `MutexGuard`, also one carried by a `LockError`), no reference borrowed
    /// through them, on any thread. Not dereferenced, cloned, released or dropped:
    /// leak them with [`core::mem::forget`], as a killed process runs no destructor.
    /// Otherwise:
    /// - the arena frees the dead process's mapping records (a new mapping takes
    ///   them over), so one of its handles would share a handle count with another
    ///   mapping, and its drop could unmap memory that live handles still use (the
    ///   arena reuses it for another object);
    /// - its locks go to the next locker and its `Unique` objects to the next
    ///   claimer, so one of its guards or `Unique`s would be a second `&mut T`;
    /// - the last live holder may drop a value that its references still read.
    ///
    /// That no code acts as `process` follows from the check below and the contract
    /// of [`enter`](Arena::enter) (which refuses `process` from now on).
    ///
    /// # Panics
    /// If `process` is the one the calling code acts as: [`enter`](Arena::enter)
    /// another first; or if it is not one of this space's processes (1, or one
    /// [`spawn`](Arena::spawn) made).
    ///
    /// ```compile_fail,E0133
    /// use shmptr_arena::{Arena, DefaultSpace};
    /// Arena::<DefaultSpace>::kill(Arena::<DefaultSpace>::spawn());
    /// ```
    pub unsafe fn kill(process: ProcessId) {
        let state = S::state();
        state.simulated(process);
        assert!(
            process != Self::current(),
            "shmptr-arena: killing process {}, which the calling code acts as",
            process.get() as u32
        );
        state.declare_dead(process);
    }

    /// Makes `process` die when code acting as it next reaches `point`: it is
    /// declared dead there, as by [`kill`](Arena::kill), and the arena panics out of
    /// the protocol (catch it with `std::panic::catch_unwind`).
    ///
    /// # Safety
    /// The crash fires wherever code acting as `process` next reaches `point`, on
    /// whichever thread; until it fires or [`cancel_crash`](Arena::cancel_crash)
    /// cancels it, every use of the space as `process` must be ready for it:
    /// - from the moment it fires, the contract of `kill(process)` holds: nothing
    ///   `process` made outside the crashing call is used again (leak it with
    ///   [`core::mem::forget`]). What the crashing call itself holds (and the
    ///   locals of the closure it runs in) the unwinding drops, as the dying
    ///   process's last steps;
    /// - until the panic is caught, no other thread uses this space, and no
    ///   destructor that the unwinding runs creates, opens or claims an object in
    ///   it: the unwinding still unmaps regions of the dead process, whose mapping
    ///   records a new mapping would take over (the arena treats them as free);
    /// - once the panic is caught, the calling code still acts as the dead
    ///   process: [`enter`](Arena::enter) a live one before the next operation on
    ///   the space.
    ///
    /// # Panics
    /// If `process` is not one of this space's processes (1, or one
    /// [`spawn`](Arena::spawn) made).
    ///
    /// ```compile_fail,E0133
    /// use shmptr_arena::{Arena, DefaultSpace};
    /// let p = Arena::<DefaultSpace>::spawn();
    /// Arena::<DefaultSpace>::crash_at(p, shmptr::CrashPoint::CreateSized);
    /// ```
    pub unsafe fn crash_at(process: ProcessId, point: CrashPoint) {
        let state = S::state();
        let raw = state.simulated(process);
        // Relaxed: a plan is a test's setting, ordered with the code it crashes by
        // the test itself (as the load in `crash_point` says).
        state.crash.store(crash_code(raw, point), Ordering::Relaxed);
    }

    /// Cancels a pending [`crash_at`](Arena::crash_at) that was not reached.
    pub fn cancel_crash() {
        S::state().crash.store(0, Ordering::Relaxed);
    }

    /// Whether an object is linked under `name`.
    pub fn exists(name: &str) -> bool {
        let Ok(name) = Name::new(name) else {
            return false;
        };
        S::state().with_table::<Simulated<S>, _>(|table| table.iter().any(|e| e.is(name)))
    }

    /// Calls `f` with the bytes of the object `name` (linked), for tests that
    /// damage segments on purpose. Returns `None` if there is no such object.
    ///
    /// # Safety
    /// While `f` runs, no other thread may use the object, and no reference into
    /// its memory taken before the call (such as a `&T` from a handle's `Deref`) may
    /// be used after it: `f` gets a unique `&mut` to those bytes.
    pub unsafe fn with_bytes<R>(name: &str, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let name = Name::new(name).ok()?;
        let state = S::state();
        let (offset, len) = state
            .with_table::<Simulated<S>, _>(|table| table.iter().find(|e| e.is(name)).map(|e| (e.offset, e.len)))?;
        // SAFETY: the entry lies within the arena's memory; the caller guarantees
        // nothing else uses those bytes while `f` holds them.
        let bytes = unsafe { core::slice::from_raw_parts_mut(state.base.add(offset), len) };
        Some(f(bytes))
    }

    /// Creates an object of `bytes.len()` bytes holding `bytes`, as a hostile or
    /// foreign process would (no shmptr header unless `bytes` has one).
    pub fn plant(name: &str, bytes: &[u8]) -> Result<()> {
        let region = <Self as Backend>::create(Name::new(name)?, bytes.len(), &Access::DEFAULT)?;
        // SAFETY: the fresh region holds `bytes.len()` writable bytes.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), region.ptr.as_ptr(), bytes.len()) };
        Ok(())
    }

    /// Removes the name `name` whatever it holds; `NotFound` if there is none.
    pub fn remove(name: &str) -> Result<()> {
        let name = Name::new(name)?;
        S::state().unlink_where::<Simulated<S>>(|e| e.is(name), "removing an arena object")
    }

    /// How many times `wait` or `wake` was called in this space: what would be futex
    /// system calls on Linux.
    pub fn futex_calls() -> u32 {
        S::state().futex_calls.load(Ordering::Relaxed)
    }

    /// How many bytes of the arena are free in total (not necessarily contiguous).
    pub fn free_bytes() -> usize {
        let state = S::state();
        state.len
            - state.with_table::<Simulated<S>, _>(|table| table.iter().filter(|e| e.used).map(|e| e.len).sum::<usize>())
    }
}

// SAFETY: simulated identities are the space's process numbers, never reused
// (`spawn` hands out each once); the current one changes only through `Arena::enter`,
// whose `unsafe` contract covers it; `liveness` answers `Dead` only for processes
// declared dead through `kill` or a crash point, whose contracts forbid any further
// use of what they made. `wait` never sleeps for good: it returns once the word
// differs, or after a bounded spin (advancing the simulated clock), so a wake
// after its check cannot be lost; callers loop, as the contract allows.
unsafe impl<S: Space> Platform for Simulated<S> {
    fn current_process() -> ProcessId {
        match ProcessId::new(S::state().current.load(Ordering::Relaxed).into()) {
            Some(process) => process,
            None => not_a_process(),
        }
    }

    /// The number `current_process` makes its identity from, compared as it is:
    /// no check that it is a valid identity (it always is). Asked off the fast
    /// paths only (a clone or drop that found a mark, `Unique`, loans) in `Arena<S>`:
    /// clone and drop tell another process's handle by its mark
    /// (`Region::foreign_marked`).
    #[inline]
    fn is_current_process(raw: u64) -> bool {
        // Relaxed, as in `current_process`: only `enter`, on the caller's own
        // thread (its contract), changes it.
        u64::from(S::state().current.load(Ordering::Relaxed)) == raw
    }

    fn liveness(process: ProcessId) -> Liveness {
        let state = S::state();
        // Compared as the `u32` every process of the arena is (cheaper on a 32-bit
        // core than 64-bit compares).
        let raw = match u32::try_from(process.get()) {
            Ok(raw) if raw < state.next.load(Ordering::Relaxed) && raw <= MAX_PROCESSES => raw,
            // Not a process this arena ever made: cannot judge.
            _ => return Liveness::Unknown,
        };
        if state.dead[(raw / 32) as usize].load(Ordering::Relaxed) & (1 << (raw % 32)) != 0 {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
    }

    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        S::state().futex_calls.fetch_add(1, Ordering::Relaxed);
        for _ in 0..64 {
            if word.load(Ordering::Acquire) != expected {
                return;
            }
            core::hint::spin_loop();
        }
        // At most a second: the clock (u64 nanoseconds, 584 years) then never
        // saturates in any run that ends.
        let step = timeout.unwrap_or(WAIT_STEP).min(MAX_WAIT_STEP).as_nanos() as u64;
        S::state().with_clock(|clock| *clock = clock.saturating_add(step));
    }

    fn wake(_word: &AtomicU32, _count: u32) {
        // Waiters spin; nothing to wake, only to count.
        S::state().futex_calls.fetch_add(1, Ordering::Relaxed);
    }

    fn now_nanos() -> u64 {
        S::state().with_clock(|clock| *clock)
    }

    fn crash_point(point: CrashPoint) {
        let state = S::state();
        // Relaxed, as `crash_at`'s store: a plan is a test's setting, ordered with
        // the code it crashes by the test itself.
        let planned = state.crash.load(Ordering::Relaxed);
        if planned == 0 {
            return;
        }
        // Relaxed, as in `current_process`; a number `enter` accepted (or 1).
        if planned == crash_code(state.current.load(Ordering::Relaxed), point) {
            crash::<S>();
        }
    }
}

/// The current process's number is not one (never: only `spawn`'s and `enter`'s
/// are stored). Outlined and cold: `current_process` is inlined in most of the
/// arena's operations, and an `expect` cost each of them its own arguments for
/// the panic (~10 bytes of a firmware each).
#[cold]
#[inline(never)]
fn not_a_process() -> ! {
    panic!("shmptr-arena: the current process is not a process")
}

/// The crash [`Simulated::crash_point`] found planned here. Outlined, cold and
/// diverging: inlined at each of the core's crash points, it cost a firmware ~24
/// bytes each; a call that returned would cost the common path (no crash
/// planned) register moves around it.
#[cold]
#[inline(never)]
fn crash<S: Space>() -> ! {
    let state = S::state();
    state.crash.store(0, Ordering::Relaxed);
    // The caller of `crash_at` took on what this needs (its `# Safety`).
    state.declare_dead(<Simulated<S> as Platform>::current_process());
    // No arguments to format: the process and the point are the ones
    // `crash_at` named, and formatting them linked ~600 bytes of number and
    // name formatting into every firmware on the arena (a `u64` also a
    // 64-bit division, ~1 KB more, on a 32-bit core).
    panic!("shmptr-arena: simulated crash (the process and point given to Arena::crash_at)");
}

/// Simulated process `raw` (at most `MAX_PROCESSES`, so 8 bits) and `point` in one
/// word: `raw << 8 | point_code(point)`, distinct for each pair.
fn crash_code(raw: u32, point: CrashPoint) -> u32 {
    (raw << 8) | point_code(point)
}

/// The index of `point` in `CrashPoint::ALL`, plus one: a constant where `point`
/// is.
#[inline(always)]
fn point_code(point: CrashPoint) -> u32 {
    CrashPoint::ALL.iter().position(|p| *p == point).unwrap_or(0) as u32 + 1
}

// SAFETY: every promise is `P`'s, forwarded unchanged.
unsafe impl<S: Space, P: Platform> Platform for Arena<S, P> {
    const THREADS: bool = P::THREADS;

    #[inline]
    fn current_process() -> ProcessId {
        P::current_process()
    }
    #[inline]
    fn is_current_process(raw: u64) -> bool {
        P::is_current_process(raw)
    }
    #[inline]
    fn liveness(process: ProcessId) -> Liveness {
        P::liveness(process)
    }
    #[inline]
    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        P::wait(word, expected, timeout)
    }
    #[inline]
    fn wake(word: &AtomicU32, count: u32) {
        P::wake(word, count)
    }
    #[inline]
    fn now_nanos() -> u64 {
        P::now_nanos()
    }
    #[inline]
    fn yield_now() {
        P::yield_now()
    }
    #[inline]
    fn crash_point(point: CrashPoint) {
        P::crash_point(point)
    }
    #[inline]
    fn current_thread() -> ThreadId {
        P::current_thread()
    }
    #[inline]
    fn thread_liveness(thread: ThreadId) -> Liveness {
        P::thread_liveness(thread)
    }
    #[inline]
    fn lock_domain() -> u32 {
        P::lock_domain()
    }
    #[inline]
    fn lock_wait(word: &AtomicU32, timeout: Option<Duration>) -> LockWait {
        P::lock_wait(word, timeout)
    }
    #[inline]
    fn panicking() -> bool {
        P::panicking()
    }
    #[inline]
    fn unlock_wake(word: &AtomicU32) -> bool {
        P::unlock_wake(word)
    }
}

/// The arena's memory and books with the identities, liveness, waits and clock of
/// platform `P`: [`Simulated`] by default, or one of your own (a core id, a
/// hardware timer: see [`CortexM`](crate::cortex_m::CortexM)). Processes are
/// whatever `P` calls them; their mappings are freed once `P` calls them dead and
/// the records run out.
impl<S: Space, P: Platform> Backend for Arena<S, P> {
    type Region = ArenaRegion<S, P>;

    fn create(name: Name<'_>, len: usize, _access: &Access) -> Result<Self::Region> {
        let state = S::state();
        state.mapping::<P, _>(|table| {
            if table.iter().any(|e| e.is(name)) {
                return Err(Error::new(ErrorKind::AlreadyExists, "creating an arena object"));
            }
            let no_room = Error::new(ErrorKind::OutOfMemory, "creating an arena object");
            let room = |table: &Table| Some((table.iter().position(|e| !e.used)?, first_fit(table, len, state.len)?));
            // Full: free what dead processes still map, then look again.
            let Some((record, start)) = room(table).or_else(|| {
                state.sweep::<P>(table);
                room(table)
            }) else {
                return Err(no_room);
            };
            let region = ArenaRegion::new(state, table, record, start, len)?;
            // SAFETY: `start..start + len` lies within the arena and overlaps no
            // other object; `start` is a multiple of `ALIGN` (`first_fit`) from the
            // 64-aligned base: 4-aligned. Fresh objects read as zeros.
            unsafe { zero(state.base.add(start), len) };
            let entry = &mut table[record];
            copy_name(&mut entry.name, name.as_bytes());
            entry.name_len = name.as_bytes().len();
            entry.offset = start;
            entry.len = len;
            entry.linked = true;
            entry.maps = 1;
            entry.owned_by = 0;
            entry.used = true;
            Ok(region)
        })
    }

    fn open(name: Name<'_>, _access: &Access) -> Result<Self::Region> {
        let state = S::state();
        state.mapping::<P, _>(|table| match table.iter().position(|e| e.is(name)) {
            Some(i) => {
                let region = ArenaRegion::new(state, table, i, table[i].offset, table[i].len)?;
                table[i].maps += 1;
                Ok(region)
            }
            None => Err(Error::new(ErrorKind::NotFound, "opening an arena object")),
        })
    }

    fn unlink(name: Name<'_>, region: &Self::Region) -> Result<()> {
        S::state().unlink_where::<P>(|e| e.is(name) && e.offset == region.offset, "unlinking an arena object")
    }

    /// The creator's [`liveness`](Platform::liveness), as a backend without a
    /// creation mark answers. An object still blank after a whole timeout names no
    /// creator and is `Dead`: its creator died after sizing it
    /// (`CrashPoint::CreateSized`). Simulated processes are never stopped; a
    /// creator writes its header right after `create` returns.
    fn creator_liveness(_name: Name<'_>, _region: &Self::Region, creator: Option<ProcessId>) -> Liveness {
        creator.map_or(Liveness::Dead, Self::liveness)
    }
}
