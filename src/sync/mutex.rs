//! A mutex between processes that reports its owner's death.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

use crate::backend::{Liveness, Platform, ProcessId};
use crate::error::{Error, ErrorKind};
use crate::primitive::{AtomicU32, AtomicWord, Ordering};
use crate::shm_safe::{fingerprint, ShmSafe, Zeroable};

use super::{deadline, remaining, OWNER_CHECK_INTERVAL};

/// How many times `lock` yields the CPU (and retries) before it sleeps. A holder
/// on this CPU (preempted by its waiter) then gets to unlock, and one on another
/// CPU gets a few microseconds, without a futex sleep: a sleep with a sub-tick
/// timeout (ours, to notice a dead owner) costs ~7 µs more than an untimed one, and
/// a round trip across CPUs ~60 µs on a virtual machine. No `spin_loop` retries: on
/// the 2-vCPU VM here, 100 of them before the yields made the peers benchmark's
/// same-CPU hand-off 1.5x slower (1.87 vs 1.25 times pthread's), and a program of
/// two processes incrementing one counter 3x slower (100 vs 33 ns an increment);
/// 10 still cost 2.3x on the counter.
const YIELDS: u32 = 4;

const CONSISTENT: u32 = 0;
/// The owner died; the current owner got `OwnerDied` and has not called
/// `make_consistent` yet.
const INCONSISTENT: u32 = 1;
const NOT_RECOVERABLE: u32 = 2;

/// A mutual-exclusion lock that works between processes and survives its owner's
/// death, as POSIX robust mutexes do.
///
/// Uncontended `lock` and `unlock` are one atomic read-modify-write each and make no
/// system call. Contended waiters yield the CPU a few times, then sleep on a futex
/// (through the [`Platform`]); a waiter that sleeps a whole [`OWNER_CHECK_INTERVAL`]
/// without being woken checks whether the owner died: a dead owner is noticed
/// within that interval plus one liveness check ([`try_lock`](Mutex::try_lock)
/// checks at once).
///
/// If the owning process dies holding the lock, the next `lock` returns a
/// [`LockError`] of kind [`ErrorKind::OwnerDied`] that carries the guard: repair the
/// data, then call [`MutexGuard::make_consistent`]. Dropping that guard without it
/// makes the mutex [`ErrorKind::NotRecoverable`] for everyone, for good.
///
/// Ownership is per process: two threads of one process exclude each other, but a
/// thread that dies while its process lives is not detected, and locking twice from
/// one thread deadlocks (as with `std::sync::Mutex`).
///
/// `P` is the platform; use your backend's alias (`shmptr_linux::Mutex<T>`).
#[repr(C)]
pub struct Mutex<T, P> {
    /// The owning process; 0 when unlocked. The lock itself: one CAS takes it, so
    /// "locked" and "who holds it" can never be seen apart.
    owner: AtomicWord,
    /// Bumped by every unlock that has waiters; the futex word they sleep on.
    sequence: AtomicU32,
    /// How many lockers sleep (or are about to).
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
// SAFETY: atomics and a `ShmSafe` value; the fingerprint covers `T`'s.
unsafe impl<T: ShmSafe, P: Platform> ShmSafe for Mutex<T, P> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::start("shmptr::Mutex", core::mem::size_of::<Self>(), core::mem::align_of::<Self>()),
        T::FINGERPRINT,
    );
}
#[allow(unsafe_code)]
// SAFETY: all-zero is an unlocked, consistent mutex with no waiters around a zero `T`.
unsafe impl<T: Zeroable, P: Platform> Zeroable for Mutex<T, P> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks on drop.
///
/// A guard belongs to the process that locked: in a child created by `fork()`, an
/// inherited guard panics when dereferenced (its value is the parent's, locked by
/// the parent) and does nothing when dropped (the lock stays the parent's).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T, P: Platform> {
    mutex: &'a Mutex<T, P>,
    /// The process that locked.
    locked_by: ProcessId,
    /// Not `Send`: the lock belongs to the locking process.
    _not_send: PhantomData<*const ()>,
}

/// Why `lock` did not simply succeed. For [`ErrorKind::OwnerDied`] it carries the
/// guard: the lock *is* held, the data may be half-updated.
pub struct LockError<'a, T, P: Platform> {
    kind: ErrorKind,
    guard: Option<MutexGuard<'a, T, P>>,
}

impl<T, P: Platform> Mutex<T, P> {
    const_unless_loom! {
        /// An unlocked mutex around `value`.
        pub fn new(value: T) -> Self {
            Mutex {
                owner: AtomicWord::new(0),
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

    /// Locks only if nobody (alive) holds it; `Busy` otherwise (`Corrupt` if the owner
    /// word names no process).
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        let me = P::current_process();
        if self.try_acquire(me) || self.take_from_dead(me) {
            return self.acquired(me);
        }
        Err(LockError { kind: self.busy_or_corrupt(), guard: None })
    }

    /// The value, through `&mut self`: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// One CAS: unlocked → owned by `me`.
    fn try_acquire(&self, me: ProcessId) -> bool {
        // SeqCst: the sleeper's check in "No lost wake-up" (`sync`), ordered after
        // its count in `waiters`. Acquire alone would do for the data, which the
        // unlocker's release publishes.
        self.owner.compare_exchange(0, me.word(), Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// Why the lock could not be taken: `Corrupt` if the owner word names no
    /// process at all (a peer's garbage: it would otherwise stay "held" forever,
    /// since nobody can ever be proven dead or unlock it), `Busy` otherwise.
    fn busy_or_corrupt(&self) -> ErrorKind {
        // Relaxed: a look at the word, as any failed attempt's.
        let current = self.owner.load(Ordering::Relaxed);
        match current != 0 && ProcessId::from_word(current).is_none() {
            true => ErrorKind::Corrupt,
            false => ErrorKind::Busy,
        }
    }

    /// Takes the lock from a dead owner and marks the data suspect.
    fn take_from_dead(&self, me: ProcessId) -> bool {
        // Acquire: see the dead owner's last writes before we judge it.
        let current = self.owner.load(Ordering::Acquire);
        let Some(owner) = ProcessId::from_word(current) else { return false };
        if owner == me || P::liveness(owner) != Liveness::Dead {
            return false;
        }
        // SeqCst: as in `try_acquire`; only one survivor wins the dead owner's lock.
        if self.owner.compare_exchange(current, me.word(), Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return false;
        }
        // Relaxed: read by the owner only (us now, and later owners after our unlock's Release).
        if self.state.load(Ordering::Relaxed) == CONSISTENT {
            self.state.store(INCONSISTENT, Ordering::Relaxed);
        }
        true
    }

    fn lock_until(&self, deadline: Option<u64>) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        let me = P::current_process();
        if self.try_acquire(me) {
            return self.acquired(me);
        }
        if self.state.load(Ordering::Relaxed) == NOT_RECOVERABLE {
            return Err(LockError { kind: ErrorKind::NotRecoverable, guard: None });
        }
        // The holder may be waiting for this CPU (a notifier about to unlock, say),
        // or about to unlock on another: give it a few turns before paying for a
        // timed sleep; not when the deadline has passed already (`lock_timeout(0)`).
        let turns = match remaining::<P>(deadline) {
            Some(left) if left.is_zero() => 0,
            _ => YIELDS,
        };
        for _ in 0..turns {
            P::yield_now();
            if self.owner.load(Ordering::Relaxed) == 0 && self.try_acquire(me) {
                return self.acquired(me);
            }
        }
        // SeqCst: the sleeper's count; see "No lost wake-up" (`sync`).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Whether to look at the owner's liveness: only after a whole slice passed
        // without a wake-up (the check reads `/proc` on Linux: microseconds, which a
        // lock that is merely busy should not pay on every attempt).
        let mut owner_suspect = false;
        let outcome = loop {
            // Read the sequence before the attempt: an unlock after the attempt
            // bumps it, so the wait below cannot miss it.
            let sequence = self.sequence.load(Ordering::SeqCst);
            if self.try_acquire(me) || (owner_suspect && self.take_from_dead(me)) {
                break Ok(());
            }
            if self.busy_or_corrupt() == ErrorKind::Corrupt {
                break Err(ErrorKind::Corrupt);
            }
            let slice = match remaining::<P>(deadline) {
                // Out of time: a provably dead owner's lock is still taken over, as
                // `try_lock` would, before giving up.
                Some(left) if left.is_zero() => match self.take_from_dead(me) {
                    true => break Ok(()),
                    false => break Err(ErrorKind::Timeout),
                },
                Some(left) => left.min(OWNER_CHECK_INTERVAL),
                None => OWNER_CHECK_INTERVAL,
            };
            let slept_from = P::now_nanos();
            P::wait(&self.sequence, sequence, Some(slice));
            owner_suspect = P::now_nanos().saturating_sub(slept_from) >= slice.as_nanos() as u64;
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        match outcome {
            Ok(()) => self.acquired(me),
            Err(kind) => Err(LockError { kind, guard: None }),
        }
    }

    /// We hold the lock: report the state it is in.
    fn acquired(&self, me: ProcessId) -> Result<MutexGuard<'_, T, P>, LockError<'_, T, P>> {
        let guard = MutexGuard { mutex: self, locked_by: me, _not_send: PhantomData };
        // Relaxed: the state is written only by owners, ordered by the lock itself.
        match self.state.load(Ordering::Relaxed) {
            CONSISTENT => Ok(guard),
            INCONSISTENT => Err(LockError { kind: ErrorKind::OwnerDied, guard: Some(guard) }),
            _ => {
                drop(guard);
                Err(LockError { kind: ErrorKind::NotRecoverable, guard: None })
            }
        }
    }

    fn unlock(&self) {
        // Release: our writes to the value happen before the next owner's acquire.
        // SeqCst, the store, the bump and the `waiters` load: the waker's steps in
        // "No lost wake-up" (`sync`).
        self.owner.store(0, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.sequence.fetch_add(1, Ordering::SeqCst);
            P::wake(&self.sequence, 1);
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
        // Relaxed: we own the lock.
        if self.mutex.state.load(Ordering::Relaxed) == INCONSISTENT {
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
        // threads here wait for the owner word to return to 0. Known limit (README,
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
    /// What happened: `OwnerDied`, `NotRecoverable`, `Timeout`, `Busy`, or `Corrupt`
    /// (the owner word names no process: a peer wrote it).
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

impl<T, P: Platform> fmt::Debug for Mutex<T, P> {
    /// The lock word and the repair state, not the value (reading it would need the
    /// lock).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display.
        let state = match self.state.load(Ordering::Relaxed) {
            CONSISTENT => "consistent",
            INCONSISTENT => "owner died",
            _ => "not recoverable",
        };
        let locked = self.owner.load(Ordering::Relaxed) != 0;
        f.debug_struct("Mutex").field("locked", &locked).field("state", &state).finish_non_exhaustive()
    }
}

impl<T: fmt::Debug, P: Platform> fmt::Debug for MutexGuard<'_, T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
