//! A mutex between processes that reports its holder's death.
//!
//! # The lock word
//!
//! `word` is a Linux priority-inheritance futex word: the holder's tid in bits
//! 0–29, [`OWNER_DIED`] (bit 30, set by the kernel when it hands a dead holder's
//! lock to a sleeping waiter) and [`WAITERS`] (bit 31, set by the kernel while a
//! thread sleeps in it). One compare-exchange takes a free word and one releases
//! it, with no system call; a contended locker sleeps in the kernel
//! ([`Platform::lock_wait`], `FUTEX_LOCK_PI2`), which wakes it when the holder
//! unlocks and hands it the lock at once when the holder dies, so a blocked `lock`
//! costs nothing while it waits.
//!
//! A kernel resolves tids in the caller's pid namespace, so a tid means something
//! only to threads of the namespace that wrote it. `domain` records the first
//! [`lock domain`](Platform::lock_domain) to lock the mutex, for good; only its
//! threads store their tid and sleep in the kernel. Any other thread (another
//! namespace, a platform without a domain such as the arena) stores [`FOREIGN`], a
//! tid no thread has, and waits portably: it sleeps on `sequence` with a timeout
//! that grows from [`OWNER_CHECK_INTERVAL`] to [`UNTIMED_RECHECK`], and judges the
//! holder with [`Platform::thread_liveness`] after each sleep that no unlock ended.
//! Its liveness answers `Unknown` across namespaces, so such a holder is never
//! judged dead. A domain thread never calls the kernel on a `FOREIGN` word.
//!
//! `holder` names the holding thread ([`ThreadId::id`]): stored just after the word
//! is taken, cleared just before it is released, so a reader that sees one tid in
//! the word before and after reading `holder` reads that holder's identity, or 0
//! (see [`Mutex::holder_of`]).
//!
//! # Who takes a dead holder's lock
//!
//! - The kernel, for a domain waiter asleep in it: the waiter wakes holding the
//!   lock, with `OWNER_DIED` set ([`LockWait::Acquired`]).
//! - A domain waiter whose kernel finds no thread with the word's tid
//!   ([`LockWait::NoSuchHolder`]: the holder exited, or died with nobody asleep).
//! - Any waiter whose [`Platform::thread_liveness`] proves the holder dead: a
//!   portable waiter after a sleep no unlock ended, and a domain waiter after a whole
//!   [`UNTIMED_RECHECK`] in the kernel, which bounds how long a reused tid (another
//!   thread given the dead holder's number) can keep it asleep.
//!
//! A survivor's takeover is decided by one compare-exchange of `holder` from the
//! dead identity to its own ([`Mutex::take_dead`]): a dead thread never names
//! itself again, so of several survivors one wins, and one that judged long ago
//! fails even if the word has since been released and taken to the same value (as
//! foreign words all are). The winner then puts its tid in the word and marks the
//! data suspect (`state`). A word the kernel handed over carries `OWNER_DIED` until
//! its new holder has named itself, and `holder_of` names nobody for it, so the
//! dead holder's identity, still in `holder`, is never paired with the new tid.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::panic::{RefUnwindSafe, UnwindSafe};
use core::ptr::NonNull;
use core::time::Duration;

use crate::backend::{Liveness, LockWait, Platform, ProcessId, ThreadId};
use crate::error::{Error, ErrorKind};
use crate::primitive::{widen, AtomicU32, AtomicWord, Ordering, Word};
use crate::shm_safe::{fingerprint, ShmSafe, Zeroable};

use super::{deadline, remaining, OWNER_CHECK_INTERVAL, UNTIMED_RECHECK};

/// How many times `lock` yields the CPU (and retries) before it sleeps. A holder
/// on this CPU (preempted by its waiter) then gets to unlock, and one on another
/// CPU gets a few microseconds, without a futex sleep. No `spin_loop` retries: on
/// the 2-vCPU VM here, 100 of them before the yields made the peers benchmark's
/// same-CPU hand-off 1.5x slower (1.87 vs 1.25 times pthread's), and a program of
/// two processes incrementing one counter 3x slower (100 vs 33 ns an increment);
/// 10 still cost 2.3x on the counter.
const YIELDS: u32 = 4;

/// The tid bits of the lock word.
const TID_MASK: u32 = 0x3fff_ffff;
/// Set by the kernel in a word it handed over from a dead holder.
const OWNER_DIED: u32 = 1 << 30;
/// Set by the kernel while a thread sleeps on the word: the holder's unlock must
/// go through the kernel, which hands the word to the sleeper.
const WAITERS: u32 = 1 << 31;
/// The tid a holder outside the mutex's domain stores: above [`ThreadId::TID_MAX`],
/// so no thread has it (Linux tids stop at 2^22), and a kernel asked to wait on it
/// finds no holder.
const FOREIGN: u32 = TID_MASK;

const CONSISTENT: u32 = 0;
/// The owner died; the current owner got `OwnerDied` and has not called
/// `make_consistent` yet.
const INCONSISTENT: u32 = 1;
const NOT_RECOVERABLE: u32 = 2;

/// A mutual-exclusion lock that works between processes and survives its owner's
/// death, as POSIX robust mutexes do.
///
/// Uncontended `lock` and `unlock` are one atomic read-modify-write each and make no
/// system call. A contended locker yields the CPU a few times, then sleeps in the
/// kernel (on Linux a priority-inheritance futex: no wake-ups while it waits, and
/// the kernel hands it the lock as soon as the holder dies).
///
/// If the owning thread dies holding the lock (its process killed, or on Linux the
/// thread alone exiting), or unwinds from a panic with the guard held (where the
/// platform can tell: [`Platform::panicking`], `shmptr-linux` with its default
/// `std` feature), the next `lock` returns a [`LockError`] of kind
/// [`ErrorKind::OwnerDied`] that carries the guard: repair the data, then call
/// [`MutexGuard::make_consistent`]. Dropping that guard without it makes the mutex
/// [`ErrorKind::NotRecoverable`] for everyone, for good.
///
/// Where the platform tells threads apart ([`Platform::THREADS`], Linux), the lock
/// is owned by a thread: locking it again from the thread that holds it is
/// [`ErrorKind::Deadlock`], not a hang. Elsewhere it is owned by a process, and
/// locking twice from one thread waits for ever, as with `std::sync::Mutex`.
///
/// The module docs (`sync::mutex`, in the source) describe the protocol.
///
/// `P` is the platform; use your backend's alias (`shmptr_linux::Mutex<T>`).
#[repr(C)]
pub struct Mutex<T, P> {
    /// The lock: 0 when free, else the holder's tid (or [`FOREIGN`]) with the
    /// kernel's [`OWNER_DIED`] and [`WAITERS`] bits.
    word: AtomicU32,
    /// The lock domain whose tids `word` holds; 0 until a thread with one locks.
    domain: AtomicU32,
    /// The holder's [`ThreadId::id`], or 0 (just before and after it holds).
    holder: AtomicWord,
    /// Bumped by an unlock when portable waiters sleep; the word they sleep on.
    sequence: AtomicU32,
    /// How many portable waiters sleep (or are about to).
    waiters: AtomicU32,
    /// `CONSISTENT`, `INCONSISTENT` or `NOT_RECOVERABLE`.
    state: AtomicU32,
    value: UnsafeCell<T>,
    _platform: PhantomData<fn() -> P>,
}

#[allow(unsafe_code)]
// SAFETY: the lock hands out `&mut T` to one holder at a time, so `T: Send` is
// enough for sharing the mutex, as for `std::sync::Mutex`.
unsafe impl<T: Send, P> Sync for Mutex<T, P> {}
#[allow(unsafe_code)]
// SAFETY: the mutex owns a `T` and atomics.
unsafe impl<T: Send, P> Send for Mutex<T, P> {}

#[allow(unsafe_code)]
// SAFETY: atomics and a `ShmSafe` value; the fingerprint covers `T`'s. Any bytes
// are a mutex: a word the kernel or the protocol cannot make sense of is waited on
// (boundedly), taken over or refused, never trusted (see the module docs).
unsafe impl<T: ShmSafe, P: Platform> ShmSafe for Mutex<T, P> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::start("shmptr::Mutex/pi", core::mem::size_of::<Self>(), core::mem::align_of::<Self>()),
        T::FINGERPRINT,
    );
}
#[allow(unsafe_code)]
// SAFETY: all-zero is an unlocked, consistent mutex with no domain and no waiters
// around a zero `T`.
unsafe impl<T: Zeroable, P: Platform> Zeroable for Mutex<T, P> {}

/// As `std`'s `Mutex`, which is unwind-safe because a panic with the guard held
/// poisons it: ours then reports [`ErrorKind::OwnerDied`] to the next locker (see
/// [`Mutex`]). That needs a platform that can tell it is unwinding
/// ([`Platform::panicking`]: `shmptr-linux` with its default `std` feature); on one
/// that cannot (the default, the arena), the data a panic left half-updated is not
/// flagged.
impl<T, P> UnwindSafe for Mutex<T, P> {}
/// As for [`UnwindSafe`].
impl<T, P> RefUnwindSafe for Mutex<T, P> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks on drop.
///
/// A guard belongs to the thread that locked (`!Send`): in a child created by
/// `fork()`, an inherited guard panics when dereferenced (its value is the
/// parent's, locked by the parent) and does nothing when dropped (the lock stays
/// the parent's).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T, P: Platform> {
    mutex: &'a Mutex<T, P>,
    /// The process that locked.
    locked_by: ProcessId,
    /// Not `Send`: the lock belongs to the locking thread.
    _not_send: PhantomData<*const ()>,
}

#[allow(unsafe_code)]
// SAFETY: through a `&MutexGuard` another thread gets only `&T` (`Deref`, `Debug`,
// `Display`) and reads the guard's `locked_by` (a plain number): everything that
// writes the value or releases the lock takes the guard by `&mut` or by value,
// which stay with the locking thread (the guard is not `Send`). So sharing the
// guard is sharing a `&T`, sound when `T: Sync`, as for `std`'s guard.
unsafe impl<T: Sync, P: Platform> Sync for MutexGuard<'_, T, P> {}

/// A [`MutexGuard`] narrowed by [`MutexGuard::map`] to a `U` inside the locked
/// value (`T` stays in the type: this guard holds the original, which unlocks
/// once, on drop).
///
/// Like the guard it came from, it belongs to the locking thread (`!Send`), and in
/// a child created by `fork()` it panics when dereferenced and releases nothing
/// when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MappedMutexGuard<'a, T, U: ?Sized + 'a, P: Platform> {
    /// The original guard: its drop unlocks (and poisons, while unwinding).
    guard: MutexGuard<'a, T, P>,
    /// The projected part of the value, valid while `guard` holds the lock.
    value: NonNull<U>,
    /// Borrows the value exclusively, as the `&mut U` it came from did.
    _value: PhantomData<&'a mut U>,
}

#[allow(unsafe_code)]
// SAFETY: as for `MutexGuard`: through a `&MappedMutexGuard` another thread gets
// only `&U` and reads the inner guard's `locked_by`; writing and unlocking need
// `&mut` or ownership, which stay with the locking thread (not `Send`).
unsafe impl<T, U: ?Sized + Sync, P: Platform> Sync for MappedMutexGuard<'_, T, U, P> {}

/// The result of [`Condvar::wait_timeout_while`](super::Condvar::wait_timeout_while),
/// as `std`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(pub(super) bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because the timeout elapsed (with the condition
    /// still holding).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// Why `lock` did not simply succeed. For [`ErrorKind::OwnerDied`] it carries the
/// guard: the lock *is* held, the data may be half-updated.
///
/// It is a [`core::error::Error`], so `?` turns it into a `Box<dyn Error + 'a>`.
/// It borrows the mutex (and, for `OwnerDied`, holds its lock until the box is
/// dropped, which then leaves the mutex [`ErrorKind::NotRecoverable`]): a
/// `Box<dyn Error>` (`'static`) takes it only for a mutex borrowed for
/// `'static`; otherwise name the lifetime, or call
/// [`into_error`](LockError::into_error) for an owned [`Error`].
///
/// ```
/// use std::error::Error;
/// use shmptr_arena::{arena_space, Mutex, Shared};
///
/// arena_space!(S, 1 << 16);
/// fn increment<'a>(counter: &'a Mutex<u32, S>) -> Result<u32, Box<dyn Error + 'a>> {
///     let mut guard = counter.lock()?;
///     *guard += 1;
///     Ok(*guard)
/// }
/// let counter = Shared::<Mutex<u32, S>, S>::create("error-doc", Mutex::new(0)).unwrap();
/// assert_eq!(increment(&counter).unwrap(), 1);
/// ```
pub struct LockError<'a, T, P: Platform> {
    kind: ErrorKind,
    guard: Option<MutexGuard<'a, T, P>>,
}

/// The calling thread, as this mutex's lock word will name it.
#[derive(Clone, Copy)]
struct Locker {
    thread: ThreadId,
    /// Its tid inside the mutex's domain, [`FOREIGN`] outside.
    tid: u32,
}

/// A lock attempt's end, before the guard is made.
#[derive(Clone, Copy)]
enum Taken {
    /// Taken free.
    Free,
    /// Taken from a dead holder.
    FromDead,
}

impl<T, P: Platform> Mutex<T, P> {
    const_unless_loom! {
        /// An unlocked mutex around `value`.
        pub fn new(value: T) -> Self {
            Mutex {
                word: AtomicU32::new(0),
                domain: AtomicU32::new(0),
                holder: AtomicWord::new(0),
                sequence: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
                state: AtomicU32::new(CONSISTENT),
                value: UnsafeCell::new(value),
                _platform: PhantomData,
            }
        }
    }

    /// Locks, waiting as long as it takes.
    pub fn lock(&self) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        self.lock_until(None)
    }

    /// Locks, waiting at most `timeout`; `Timeout` after that.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        self.lock_until(deadline::<P>(Some(timeout)))
    }

    /// Locks only if nobody (alive) holds it: `Busy` otherwise, `Deadlock` if the
    /// calling thread holds it, `Corrupt` if the word names a holder no thread
    /// could have written.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        let me = self.locker();
        if self.try_acquire(me) {
            return self.acquired(Taken::Free);
        }
        // Relaxed: a look; the compare-exchanges below decide.
        let seen = self.word.load(Ordering::Relaxed);
        if seen & TID_MASK == 0 {
            if self.take_free(me, seen) {
                return self.acquired(Taken::Free);
            }
        } else if let Err(kind) = self.judge(me, seen) {
            return Err(LockError { kind, guard: None });
        } else if let Some(dead) = self.holder_dead(seen, me) {
            if self.take_dead(me, seen, dead, false) {
                return self.acquired(Taken::FromDead);
            }
            // A sleeper may be queued in the kernel: ask it, without waiting.
            if me.tid != FOREIGN && seen & WAITERS != 0 {
                if let Ok(Some(taken)) = self.wait_in_kernel(me, seen, Some(Duration::ZERO)) {
                    return self.acquired(taken);
                }
            }
        }
        Err(LockError { kind: ErrorKind::Busy, guard: None })
    }

    /// The value, through `&mut self`: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// The value, consuming the mutex: no locking needed. The repair state is not
    /// reported (a mutex owned by value has no other user); use
    /// [`get_mut`](Mutex::get_mut) and your own check if a dead owner may have left
    /// the value half-updated.
    ///
    /// ```
    /// use shmptr_arena::{arena_space, Mutex};
    ///
    /// arena_space!(S, 1 << 16);
    /// let m: Mutex<u32, S> = Mutex::new(7);
    /// assert_eq!(m.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Locks, repairing the value if its owner died: on [`ErrorKind::OwnerDied`],
    /// calls `repair` on the value, then [`MutexGuard::make_consistent`], and
    /// returns the guard. Other errors (`NotRecoverable`, `Deadlock`, `Corrupt`)
    /// are returned as [`lock`](Mutex::lock) returns them. If `repair` panics, the
    /// guard is dropped unrepaired while unwinding: the next locker gets
    /// `OwnerDied` again where the platform can tell it unwound
    /// ([`Platform::panicking`]), else `NotRecoverable`.
    ///
    /// ```
    /// use shmptr_arena::{arena_space, Mutex, Shared};
    ///
    /// arena_space!(S, 1 << 16);
    /// // Invariant: both halves are equal.
    /// let m = Shared::<Mutex<(u32, u32), S>, S>::create("repair-doc", Mutex::new((0, 0))).unwrap();
    /// let mut guard = m.lock_or_repair(|pair| pair.1 = pair.0).unwrap();
    /// guard.0 += 1;
    /// guard.1 += 1;
    /// ```
    pub fn lock_or_repair(&self, repair: impl FnOnce(&mut T)) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        match self.lock() {
            Err(LockError { kind: ErrorKind::OwnerDied, guard: Some(mut guard) }) => {
                repair(&mut guard);
                MutexGuard::make_consistent(&mut guard);
                Ok(guard)
            }
            other => other,
        }
    }

    /// The calling thread and what it stores in this mutex's word.
    #[inline]
    fn locker(&self) -> Locker {
        let thread = P::current_thread();
        let tid = match P::lock_domain() {
            0 => FOREIGN,
            mine => match self.in_domain(mine) {
                true => thread.tid(),
                false => FOREIGN,
            },
        };
        Locker { thread, tid }
    }

    /// Whether `mine` is the mutex's domain, recording it if the mutex has none.
    #[inline]
    fn in_domain(&self, mine: u32) -> bool {
        // Relaxed: the domain is written once, 0 to its value, so all threads
        // agree on it (one location's modification order); a tid read from the
        // word with Acquire was stored by a thread that had read the domain before
        // (its compare-exchange released that), so the reader sees it too.
        match self.domain.load(Ordering::Relaxed) {
            0 => match self.domain.compare_exchange(0, mine, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => true,
                Err(domain) => domain == mine,
            },
            domain => domain == mine,
        }
    }

    /// One compare-exchange: free → held by `me`.
    #[inline]
    fn try_acquire(&self, me: Locker) -> bool {
        // SeqCst: Acquire for the data the last holder released, and the sleeper's
        // check in "No lost wake-up" (`sync`) for portable waiters. Release on
        // success: a reader that sees our tid sees the previous holder's clearing
        // of `holder` (see `holder_of`).
        let taken = self.word.compare_exchange(0, me.tid, Ordering::SeqCst, Ordering::Relaxed).is_ok();
        if taken {
            self.set_holder(me);
        }
        taken
    }

    /// Records the holder beside the word we just took.
    #[inline]
    fn set_holder(&self, me: Locker) {
        // Relaxed: readers check the word around it (`holder_of`).
        self.holder.store(me.thread.id() as Word, Ordering::Relaxed);
    }

    /// Takes the free word `seen` (tid 0, with flags left in it). Keeps the waiters
    /// bit: a thread may sleep in the kernel.
    fn take_free(&self, me: Locker, seen: u32) -> bool {
        if seen & WAITERS != 0 && me.tid != FOREIGN {
            // A sleeper may be queued in the kernel: let it decide (in
            // `lock_contended`); `try_lock` reports `Busy`.
            return false;
        }
        // SeqCst: as `try_acquire`; only one thread takes one value.
        let taken =
            self.word.compare_exchange(seen, me.tid | (seen & WAITERS), Ordering::SeqCst, Ordering::Relaxed).is_ok();
        if taken {
            self.set_holder(me);
        }
        taken
    }

    /// Takes the lock from the dead holder `dead` (an identity, 0 if it never
    /// named itself) of the word value `seen`. The decision is one
    /// compare-exchange of `holder` from `dead` to us: a dead thread never names
    /// itself again, so of all the survivors that judged it, one wins, and one that
    /// judged long ago (the word since released and taken again, even to the same
    /// value, as a foreign word is) fails. Then the word, if it still holds
    /// `seen`'s tid, takes ours; if not (the kernel handed it to a sleeper
    /// meanwhile), `holder` gets `dead` back unless that sleeper named itself.
    ///
    /// Never from a domain word with the waiters bit unless `no_sleeper` (the
    /// kernel just found no thread with its tid, so none can sleep on it): a thread
    /// may sleep on it in the kernel, which, when the holder's task exits, hands
    /// it the word by overwriting whatever tid is there, ours included (found by
    /// review: two holders). Such a word is the kernel's to hand over.
    fn take_dead(&self, me: Locker, seen: u32, dead: Word, no_sleeper: bool) -> bool {
        let mine = me.thread.id() as Word;
        // SeqCst: the decision, in the one order with the word's changes.
        if self.holder.compare_exchange(dead, mine, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return false;
        }
        loop {
            // SeqCst: as in `try_acquire`.
            let now = self.word.load(Ordering::SeqCst);
            let kernels = now & WAITERS != 0 && now & TID_MASK != FOREIGN && !no_sleeper;
            if now & TID_MASK != seen & TID_MASK || kernels {
                // SeqCst: as the decision.
                let _ = self.holder.compare_exchange(mine, dead, Ordering::SeqCst, Ordering::Relaxed);
                return false;
            }
            // SeqCst: as in `try_acquire` (a foreign word taken by a foreign
            // thread keeps its value: the compare-exchange just checks it).
            let ours = me.tid | (now & WAITERS);
            if self.word.compare_exchange(now, ours, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return true;
            }
        }
    }

    /// The holder of the word value `seen` (held), if it can be told: `holder`,
    /// read between two loads of the word that show the same tid. The holder
    /// clears `holder` before releasing the word and the next one stores it after
    /// taking it, so that read is the holder's identity, or 0 (`None`) while it
    /// takes or releases (or if it died in between), or while a word the kernel
    /// handed over from a dead holder carries the owner-died bit.
    fn holder_of(&self, seen: u32) -> Option<ThreadId> {
        // Acquire, the three loads: each after the one before, and the first after
        // the word's compare-exchange that stored `seen`'s tid (Release), which
        // came after the previous holder cleared `holder`.
        let before = self.word.load(Ordering::Acquire);
        let id = self.holder.load(Ordering::Acquire);
        let after = self.word.load(Ordering::Acquire);
        let tid = seen & TID_MASK;
        // The kernel's owner-died bit: it handed the word from a dead holder to a
        // sleeper that has not named itself yet (`holder` is still the dead one's).
        if before & TID_MASK != tid || after & TID_MASK != tid || (before | after) & OWNER_DIED != 0 {
            return None;
        }
        ThreadId::read_back(if tid == FOREIGN { 0 } else { tid }, widen(id))
    }

    /// Errors a held word `seen` gives at once: `Deadlock` if the calling thread
    /// holds it, `Corrupt` if no thread could have written its tid (a tid other
    /// than [`FOREIGN`] in a mutex that has no domain).
    fn judge(&self, me: Locker, seen: u32) -> Result<(), ErrorKind> {
        let tid = seen & TID_MASK;
        if P::THREADS && tid == me.tid && self.holder_of(seen).is_some_and(|h| h.id() == me.thread.id()) {
            return Err(ErrorKind::Deadlock);
        }
        // Relaxed: written once (see `in_domain`).
        if tid != FOREIGN && self.domain.load(Ordering::Relaxed) == 0 {
            return Err(ErrorKind::Corrupt);
        }
        Ok(())
    }

    /// The identity of the holder of `seen`, if it is provably dead (never the
    /// calling thread).
    fn holder_dead(&self, seen: u32, me: Locker) -> Option<Word> {
        match self.holder_of(seen) {
            Some(holder) if holder.id() != me.thread.id() && P::thread_liveness(holder) == Liveness::Dead => {
                Some(holder.id() as Word)
            }
            _ => None,
        }
    }

    #[inline]
    fn lock_until(&self, deadline: Option<u64>) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        let me = self.locker();
        if self.try_acquire(me) {
            return self.acquired(Taken::Free);
        }
        match self.lock_contended(me, deadline) {
            Ok(taken) => self.acquired(taken),
            Err(kind) => Err(LockError { kind, guard: None }),
        }
    }

    // Outlined: a program that locks pays for the slow path once, not at each call.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self, me: Locker, deadline: Option<u64>) -> Result<Taken, ErrorKind> {
        // Relaxed: a hint; `acquired` reads it again under the lock.
        if self.state.load(Ordering::Relaxed) == NOT_RECOVERABLE {
            return Err(ErrorKind::NotRecoverable);
        }
        // The holder may be waiting for this CPU (a notifier about to unlock, say),
        // or about to unlock on another: give it a few turns before sleeping; not
        // when the deadline has passed already (`lock_timeout(0)`).
        let turns = match remaining::<P>(deadline) {
            Some(left) if left.is_zero() => 0,
            _ => YIELDS,
        };
        for _ in 0..turns {
            P::yield_now();
            // Relaxed: a look before the compare-exchange.
            if self.word.load(Ordering::Relaxed) == 0 && self.try_acquire(me) {
                return Ok(Taken::Free);
            }
        }
        // How long a portable sleep lasts: growing, so that a dead holder is
        // noticed soon in a short wait and a long wait costs a wake-up a second.
        // In microseconds: `Duration` arithmetic carries a panic path.
        let mut slice = OWNER_CHECK_INTERVAL.as_micros() as u32;
        // Whether to sleep in the kernel: a domain thread does once a portable
        // sleep ran out with no unlock (a holder that keeps the lock a while), not
        // before: an unlock in the kernel hands the lock to its sleeper strictly,
        // which stalls a busy lock (every hand-over waits for a sleeper to be
        // scheduled), while a portable sleeper is only woken and competes.
        let mut in_kernel = false;
        loop {
            // SeqCst: as in `try_acquire`.
            let seen = self.word.load(Ordering::SeqCst);
            if seen & TID_MASK == 0 {
                if self.take_free(me, seen) {
                    return Ok(Taken::Free);
                }
                if seen & WAITERS == 0 || me.tid == FOREIGN {
                    continue; // another thread took it first: look again
                }
                // A free word with the waiters bit: a sleeper may be queued in the
                // kernel, which decides.
                in_kernel = true;
            } else {
                self.judge(me, seen)?;
            }
            let left = remaining::<P>(deadline);
            let out_of_time = left.is_some_and(|left| left.is_zero());
            // Sleep, unless out of time (a provably dead holder's lock is still
            // taken over then, as `try_lock` would, before giving up).
            // Whether to look at the holder after this round: out of time, or after
            // a sleep no unlock ended (not after each wake-up of a busy lock: a
            // look reads `/proc`).
            let mut look = true;
            if !out_of_time {
                let kernel = in_kernel && me.tid != FOREIGN && seen & TID_MASK != FOREIGN;
                match kernel.then(|| self.wait_in_kernel(me, seen, left)) {
                    Some(Ok(Some(taken))) => return Ok(taken),
                    Some(Ok(None)) => {}
                    // Refused, or our own tid (see `wait_in_kernel`): sleep
                    // portably, never spin.
                    _ => {
                        let this = Duration::from_micros(slice as u64);
                        let unlocked = self.wait_portably(seen, left.map_or(this, |left| left.min(this)));
                        in_kernel |= !unlocked && !kernel;
                        look = !unlocked;
                        slice = (slice * 2).min(UNTIMED_RECHECK.as_micros() as u32);
                    }
                }
            }
            // Look at the holder, if the word still holds `seen`'s tid: after a
            // sleep in the kernel that did not hand us the lock, that tid may name
            // another thread than the holder (reused after its death).
            // SeqCst: as in `try_acquire`.
            let now = self.word.load(Ordering::SeqCst);
            // A held word with no holder named (0: between a locker's taking the
            // word and naming itself, or a release's two steps) is waited on: it is
            // also what a holder killed between those two steps leaves, and what
            // a peer can forge, and no time bound tells those apart from a holder
            // preempted there (a simulated platform's waits take no time at all).
            if look && now & TID_MASK == seen & TID_MASK {
                if let Some(dead) = self.holder_dead(now, me) {
                    if self.take_dead(me, now, dead, false) {
                        return Ok(Taken::FromDead);
                    }
                    // The kernel's to hand over (see `take_dead`).
                    in_kernel = true;
                }
            }
            if out_of_time {
                return Err(ErrorKind::Timeout);
            }
        }
    }

    /// One sleep in the kernel ([`Platform::lock_wait`]) while the word holds
    /// `seen`, a domain thread's tid, at most [`UNTIMED_RECHECK`]. `Some` if the
    /// lock is ours, `Err` if the platform refused or the word holds our own tid
    /// (not our hold: `judge` said so; a dead thread's that had our number), when
    /// the caller sleeps portably instead.
    fn wait_in_kernel(&self, me: Locker, seen: u32, left: Option<Duration>) -> Result<Option<Taken>, ()> {
        match P::lock_wait(&self.word, Some(left.map_or(UNTIMED_RECHECK, |left| left.min(UNTIMED_RECHECK)))) {
            LockWait::Acquired => {
                self.set_holder(me);
                // Relaxed: our own word now; the kernel's bit says how we got it.
                if self.word.load(Ordering::Relaxed) & OWNER_DIED == 0 {
                    return Ok(Some(Taken::Free));
                }
                // Named now: clear the bit that kept readers from pairing our tid
                // with the dead holder's identity (`holder_of`). SeqCst: after our
                // `holder` store, for every reader that sees the bit gone.
                self.word.fetch_and(!OWNER_DIED, Ordering::SeqCst);
                Ok(Some(Taken::FromDead))
            }
            LockWait::NoSuchHolder => {
                // No thread has the tid we saw (or one since): take it from a word
                // with that tid only, from whoever `holder` names (0 if the dead
                // one never named itself; the dead one before it if the kernel had
                // handed it the word and it died before naming itself).
                // Acquire: as in `holder_of`.
                let now = self.word.load(Ordering::Acquire);
                let dead = self.holder.load(Ordering::Acquire);
                let same = |word: u32| word & TID_MASK == seen & TID_MASK;
                let taken = same(now) && same(self.word.load(Ordering::Acquire)) && self.take_dead(me, now, dead, true);
                Ok(taken.then_some(Taken::FromDead))
            }
            // Woken without the lock: the caller looks at the holder.
            LockWait::Again => Ok(None),
            LockWait::HeldByCaller | LockWait::Unsupported => Err(()),
        }
    }

    /// One portable sleep on `sequence` while the word holds `seen`, at most
    /// `slice`: true if an unlock came meanwhile (the sequence moved), or the word
    /// changed before the sleep.
    fn wait_portably(&self, seen: u32, slice: Duration) -> bool {
        // SeqCst: the sleeper's count (i) and read (ii); see "No lost wake-up".
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let sequence = self.sequence.load(Ordering::SeqCst);
        // (iii): still held as we saw it? An unlock after this bumps `sequence`.
        // SeqCst: as in `try_acquire`.
        let held = self.word.load(Ordering::SeqCst) == seen;
        if held {
            P::wait(&self.sequence, sequence, Some(slice));
        }
        // SeqCst: as the count.
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        // Relaxed: a hint for when to sleep in the kernel.
        !held || self.sequence.load(Ordering::Relaxed) != sequence
    }

    /// We hold the lock: report the state it is in.
    #[inline]
    fn acquired(&self, taken: Taken) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        // The guard is two words: `unlock` reads the value we stored back from the
        // lock word (a third field made every lock 1.5x slower here: the result
        // was copied in pieces, and loads that span two stores stall).
        let guard = MutexGuard { mutex: self, locked_by: P::current_process(), _not_send: PhantomData };
        // Relaxed: the state is written only by owners, ordered by the lock itself.
        match (taken, self.state.load(Ordering::Relaxed)) {
            (Taken::Free, CONSISTENT) => Ok(guard),
            _ => self.suspect(guard, taken),
        }
    }

    /// We hold the lock, taken from a dead holder or in a state other than
    /// consistent.
    #[cold]
    #[inline(never)]
    fn suspect<'a>(
        &'a self,
        guard: MutexGuard<'a, T, P>,
        taken: Taken,
    ) -> Result<MutexGuard<'a, T, P>, LockError<'a, T, P>> {
        if let Taken::FromDead = taken {
            // Relaxed: read by the owner only (us now, and later owners after our
            // unlock's Release).
            if self.state.load(Ordering::Relaxed) == CONSISTENT {
                self.state.store(INCONSISTENT, Ordering::Relaxed);
            }
        }
        // Relaxed: as in `acquired`.
        match self.state.load(Ordering::Relaxed) {
            CONSISTENT => Ok(guard),
            INCONSISTENT => Err(LockError { kind: ErrorKind::OwnerDied, guard: Some(guard) }),
            _ => {
                drop(guard);
                Err(LockError { kind: ErrorKind::NotRecoverable, guard: None })
            }
        }
    }

    /// Releases the word we hold, then wakes a portable waiter.
    #[inline]
    fn unlock(&self) {
        // Relaxed: before the word's release below, which orders it.
        self.holder.store(0, Ordering::Relaxed);
        // Relaxed: our own word (our tid or `FOREIGN`, perhaps with the kernel's
        // waiters bit); the compare-exchange decides.
        let held = self.word.load(Ordering::Relaxed);
        // SeqCst: Release, our writes to the value before the next holder's
        // Acquire; and the waker's step (a) in "No lost wake-up" (`sync`).
        if held & WAITERS != 0 || self.word.compare_exchange(held, 0, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            self.unlock_contended(held & TID_MASK);
        }
        // SeqCst, the load and the bump: the waker's steps (c) and (b).
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.sequence.fetch_add(1, Ordering::SeqCst);
            P::wake(&self.sequence, 1);
        }
    }

    /// The word carries a flag: a sleeper in the kernel (hand it over there), or a
    /// bit left by a waiter that found no holder.
    #[cold]
    #[inline(never)]
    fn unlock_contended(&self, tid: u32) {
        loop {
            // Relaxed: a look; the compare-exchange or the kernel decides.
            let current = self.word.load(Ordering::Relaxed);
            if current & TID_MASK != tid {
                // A peer rewrote the word: it is not ours to release.
                return;
            }
            if tid != FOREIGN && current & WAITERS != 0 && P::unlock_wake(&self.word) {
                return;
            }
            // No sleeper can be queued on a FOREIGN word (no thread has its tid),
            // nor without the waiters bit: clear it here.
            // SeqCst: as in `unlock`.
            if self.word.compare_exchange(current, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return;
            }
        }
    }
}

impl<'a, T, P: Platform> MutexGuard<'a, T, P> {
    /// The mutex this guard holds.
    pub(crate) fn mutex(&self) -> &'a Mutex<T, P> {
        self.mutex
    }

    /// Declares the data repaired after [`ErrorKind::OwnerDied`]; the mutex is then
    /// usable again after this guard unlocks.
    ///
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    ///
    /// An associated function, as `std`'s guard helpers are: a method would shadow
    /// one of `T`'s through `Deref`.
    pub fn make_consistent(this: &mut Self) {
        this.check_owner();
        // Relaxed: we own the lock; the unlock's Release publishes it.
        this.mutex.state.store(CONSISTENT, Ordering::Relaxed);
    }

    /// Makes a guard for a part of the value, as `std`'s and `parking_lot`'s
    /// `MutexGuard::map`: the mapped guard keeps the lock (and unlocks it once, on
    /// drop) and dereferences to what `f` returns.
    ///
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]); the mapped
    /// guard panics likewise when dereferenced in such a child.
    ///
    /// ```
    /// use shmptr::MutexGuard;
    /// use shmptr_arena::{arena_space, Mutex, Shared};
    ///
    /// arena_space!(S, 1 << 16);
    /// let m = Shared::<Mutex<(u32, u32), S>, S>::create("map-doc", Mutex::new((1, 2))).unwrap();
    /// let mut second = MutexGuard::map(m.lock().unwrap(), |pair| &mut pair.1);
    /// *second += 40;
    /// drop(second);
    /// assert_eq!(*m.lock().unwrap(), (1, 42));
    /// ```
    pub fn map<U: ?Sized + 'a>(mut this: Self, f: impl FnOnce(&mut T) -> &mut U) -> MappedMutexGuard<'a, T, U, P> {
        // `deref_mut` checks the owner.
        let value = NonNull::from(f(&mut *this));
        MappedMutexGuard { guard: this, value, _value: PhantomData }
    }

    /// Unlocks leaving the repair state as it is: neither poisoned (as a guard
    /// dropped while unwinding is) nor made `NotRecoverable` (as an unrepaired
    /// `OwnerDied` guard is). For a lock taken only to look at the value
    /// (`Mutex`'s `Debug`): an `OwnerDied` taken so stays for the next locker, as
    /// after a poisoning.
    fn release_unchanged(this: Self) {
        let mutex = this.mutex;
        let here = this.held_here();
        core::mem::forget(this);
        if here {
            mutex.unlock();
        }
    }

    /// Whether the calling process locked: false in a child created by `fork()`
    /// while this guard was held (the child's identity is its own, read from a page
    /// that `fork` wipes: no system call).
    fn held_here(&self) -> bool {
        P::current_process() == self.locked_by
    }

    /// Panics in a forked child: the lock and the value are the parent's.
    pub(crate) fn check_owner(&self) {
        if !self.held_here() {
            panic!(
                "shmptr: using a MutexGuard inherited across fork(): the parent holds the lock; lock it in the child"
            );
        }
    }
}

impl<T, P: Platform> Drop for MutexGuard<'_, T, P> {
    fn drop(&mut self) {
        if !self.held_here() {
            // Inherited across `fork()`: the parent holds the lock; leave it so.
            return;
        }
        // Relaxed, the state: we own the lock; the unlock's Release publishes it.
        let state = self.mutex.state.load(Ordering::Relaxed);
        if P::panicking() {
            // Unwinding with the guard held: the update may be half done, as when
            // a holder dies, and the next holder is told so (`OwnerDied`), as
            // `std` poisons its mutex. A state already suspect stays so.
            if state == CONSISTENT {
                self.mutex.state.store(INCONSISTENT, Ordering::Relaxed);
            }
        } else if state == INCONSISTENT {
            // Not repaired: nobody may trust the data again.
            self.mutex.state.store(NOT_RECOVERABLE, Ordering::Relaxed);
        }
        self.mutex.unlock();
    }
}

impl<T, P: Platform> Deref for MutexGuard<'_, T, P> {
    type Target = T;
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    #[allow(unsafe_code)] // the value cell: see the SAFETY comment
    fn deref(&self) -> &T {
        self.check_owner();
        // SAFETY: this process locked (checked just above: not a forked child's
        // inherited guard), and a thread of this process holds the guard; other
        // threads here wait for the lock word to be released. Known limit (README,
        // guarantees): a peer that forges that word back to 0 while we hold it lets
        // a second thread here lock as well. Any bytes are a valid `T` when
        // `T: ShmSafe`, whatever a peer writes meanwhile.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T, P: Platform> DerefMut for MutexGuard<'_, T, P> {
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    #[allow(unsafe_code)] // the value cell: see the SAFETY comment
    fn deref_mut(&mut self) -> &mut T {
        self.check_owner();
        // SAFETY: as in `deref`, and `&mut self` excludes other uses of this guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<'a, T, P: Platform> LockError<'a, T, P> {
    /// What happened: `OwnerDied`, `NotRecoverable`, `Timeout`, `Busy`, `Deadlock`
    /// (the calling thread holds the lock), or `Corrupt` (the lock word names a
    /// holder no thread could have written: a peer wrote it).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The guard, for `OwnerDied` (the lock is held); `None` otherwise.
    pub fn into_guard(self) -> Option<MutexGuard<'a, T, P>> {
        self.guard
    }

    /// The error, as an [`Error`]; the guard, if any, stays in `self`.
    pub fn error(&self) -> Error {
        Error::new(self.kind, "locking a mutex")
    }

    /// Gives up the lock: the error, as an [`Error`], after dropping the guard.
    /// For [`ErrorKind::OwnerDied`] that leaves the data unrepaired, so the mutex
    /// becomes [`ErrorKind::NotRecoverable`] for every process, for good. There is
    /// no `From<LockError> for Error`, so that `?` cannot do this unawares.
    pub fn into_error(self) -> Error {
        self.error()
    }
}

impl<T, P: Platform> fmt::Debug for LockError<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockError").field("kind", &self.kind).field("has_guard", &self.guard.is_some()).finish()
    }
}

impl<T, P: Platform> fmt::Display for LockError<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error(), f)
    }
}

impl<T: fmt::Debug, P: Platform> fmt::Debug for Mutex<T, P> {
    /// Like `std`'s: the value if [`try_lock`](Mutex::try_lock) takes the lock
    /// (never blocking), else `<locked>`; and the repair state. A lock taken so
    /// is released with the state unchanged: a dead holder's lock that `try_lock`
    /// took over shows `<locked>` and stays `OwnerDied` for the next locker.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                out.field("data", &&*guard);
                MutexGuard::release_unchanged(guard);
            }
            Err(error) => {
                if let Some(guard) = error.into_guard() {
                    MutexGuard::release_unchanged(guard);
                }
                out.field("data", &format_args!("<locked>"));
            }
        }
        // Relaxed: a snapshot for display.
        let state = match self.state.load(Ordering::Relaxed) {
            CONSISTENT => "consistent",
            INCONSISTENT => "owner died",
            _ => "not recoverable",
        };
        out.field("state", &state).finish_non_exhaustive()
    }
}

impl<T: Default, P: Platform> Default for Mutex<T, P> {
    /// An unlocked mutex around `T::default()`.
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T, P: Platform> From<T> for Mutex<T, P> {
    /// An unlocked mutex around `value`.
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T, P: Platform> core::error::Error for LockError<'_, T, P> {}

impl<T: fmt::Display, P: Platform> fmt::Display for MutexGuard<'_, T, P> {
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<'a, T, U: ?Sized + 'a, P: Platform> MappedMutexGuard<'a, T, U, P> {
    /// Narrows further, as [`MutexGuard::map`].
    ///
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    pub fn map<V: ?Sized + 'a>(mut this: Self, f: impl FnOnce(&mut U) -> &mut V) -> MappedMutexGuard<'a, T, V, P> {
        // `deref_mut` checks the owner.
        let value = NonNull::from(f(&mut *this));
        MappedMutexGuard { guard: this.guard, value, _value: PhantomData }
    }
}

impl<T, U: ?Sized, P: Platform> Deref for MappedMutexGuard<'_, T, U, P> {
    type Target = U;
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    #[allow(unsafe_code)] // the projected pointer: see the SAFETY comment
    fn deref(&self) -> &U {
        self.guard.check_owner();
        // SAFETY: `value` came from a `&mut U` borrowed from the locked value (or
        // outliving it) for `'a`; `guard` holds the lock meanwhile, in this process
        // (checked just above), and is not used for the value again, so this is the
        // only path to it, as `MutexGuard::deref` argues for the whole value.
        unsafe { self.value.as_ref() }
    }
}

impl<T, U: ?Sized, P: Platform> DerefMut for MappedMutexGuard<'_, T, U, P> {
    /// # Panics
    /// Through a guard inherited across `fork()` (see [`MutexGuard`]).
    #[allow(unsafe_code)] // the projected pointer: see the SAFETY comment
    fn deref_mut(&mut self) -> &mut U {
        self.guard.check_owner();
        // SAFETY: as in `deref`, and `&mut self` excludes other uses of this guard.
        unsafe { self.value.as_mut() }
    }
}

impl<T, U: ?Sized + fmt::Debug, P: Platform> fmt::Debug for MappedMutexGuard<'_, T, U, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, U: ?Sized + fmt::Display, P: Platform> fmt::Display for MappedMutexGuard<'_, T, U, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: fmt::Debug, P: Platform> fmt::Debug for MutexGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
