//! loom models of the Mutex, Semaphore and Condvar protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmptr --lib --release`. Under
//! `--cfg loom`, [`crate::primitive`] hands the sync code loom's atomics, so these
//! models drive the real [`Mutex`], [`Semaphore`] and [`Condvar`], not copies.
//! Processes are loom threads; a loom thread-local holds each one's process id, and
//! [`DEAD`] is the one dead process.
//!
//! **The futex is emulated, not yielded** ([`Futex`]): `wait` queues the caller if
//! the word still holds the expected value and blocks it (a loom condition variable)
//! until a `wake` on that word dequeues it; `wake(n)` dequeues the n oldest. Waits
//! never return spuriously, so a lost wake-up is a thread blocked for good, which
//! loom reports as a deadlock. A `wait` that merely yields (as the trait allows)
//! would make every wake-up model vacuous: a mutex whose `unlock` never wakes
//! anyone passes with it, and fails here. Timed waits do not expire either, except
//! the first `expiries` ones of a thread ([`become_process`]): only the dead-owner
//! models give a locker one, since noticing a dead owner takes a whole
//! [`OWNER_CHECK_INTERVAL`](super::OWNER_CHECK_INTERVAL) slice without a wake-up.
//! Everywhere else, progress may never rest on the mutex's timed slices. The clock
//! (`now_nanos`) is per thread and advances by the timeout on each expiry.
//!
//! The protected data is a loom `UnsafeCell` (loom fails a model on two accesses
//! not ordered by happens-before: a lock or semaphore that excludes but does not
//! publish) beside a holder count that must be below the limit on entry (one that
//! does not exclude).
//!
//! Each model labels every run's outcome, including how often each thread slept in
//! the futex and was woken; it fails on an outcome it does not list and, with a
//! preemption bound of 3 or more, on a listed outcome never explored. So a "slept"
//! in a label is a sleep that only a wake-up ended, and it was explored.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`mutex_exclusion`]: two processes lock, take a turn, unlock: never two
//!   holders, each sees the previous one's write, the count is exact, and a locker
//!   that sleeps is woken by the unlock.
//! - [`mutex_exclusion_three`]: process 1 holds the lock, process 2 sleeps on it,
//!   process 1 unlocks (waking it) and process 3 arrives: process 3 may take the lock
//!   first (process 2 then sleeps again) or sleep until process 2 unlocks; each
//!   unlock wakes the one left; the same checks.
//! - [`mutex_owner_died_try_lock`], [`mutex_owner_died_lock`]: the owner died
//!   holding the lock; two processes take it, with `try_lock` (then `lock` if
//!   `Busy`, or `try_lock` again), or with `lock`, which notices the death after one
//!   slice. Exactly one gets `OwnerDied` with the guard; the other then locks
//!   normally (after sleeping, if it was in `lock`) if the first called
//!   `make_consistent`, or gets `NotRecoverable`, as does every later `lock` and
//!   `try_lock`, if it did not; never two holders.
//! - [`semaphore_one_permit`]: the releaser hands out the one permit while two
//!   processes acquire, take a turn and release: never two holders, each sees the
//!   previous one's write, `available` ends at 1, and an acquirer that sleeps (even
//!   twice, when the other takes the permit first) is woken by a release.
//! - [`condvar_notify_one`]: a producer raises a flag under the mutex and notifies
//!   one (under the lock, or after unlocking); the consumer's `wait_while(!flag)`
//!   always returns, having seen the flag, whether the notify came before it read
//!   the sequence, before it slept, or after.
//! - [`condvar_notify_all`]: two consumers sleep on the condition variable; one
//!   `notify_all` wakes both, and both return having seen the flag.
//!
//! Limits, all for loom's sake:
//! - The mutex retries a few times (yielding) before it sleeps, and every retry is
//!   a loom step: two lockers retrying at once, or one retrying while another locks
//!   and unlocks more than once, make the models much slower. So the three-process and
//!   `notify_all` models let a thread in only once another sleeps
//!   ([`Futex::await_sleepers`], model scaffolding), and in the dead-owner models one
//!   process retries `try_lock` instead of spinning.
//! - loom models SeqCst too weakly (tokio-rs/loom#180): see [`warm_up`], and the
//!   futex's read of the word in [`Futex::wait`].
//! - As in the segment models, a model runs a second time with the main thread
//!   yielding first ([`main_turn`]) against loom's DPOR gaps, unless the main thread
//!   waits for a sleeper before its part or the run costs more than a few seconds.
//! - Not covered: `lock_timeout`, `acquire_timeout` and `wait_timeout` running out
//!   (a timeout is a clock this model advances only by expiries), a semaphore with
//!   more than one permit, and a thread that dies while its process lives.

use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::format;
use std::string::String;
use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::{Condvar, LockError, Mutex, Semaphore};
use crate::backend::{Liveness, Platform, ProcessId};
use crate::error::ErrorKind;
use crate::loom_support::{self, main_turn, which, DEAD};
use crate::primitive::{AtomicU32, Ordering};

loom::thread_local! {
    /// How many more timed waits of this thread may expire.
    static EXPIRIES: Cell<u32> = Cell::new(0);
    /// This thread's clock, in nanoseconds: advanced by each expired wait.
    static CLOCK: Cell<u64> = Cell::new(0);
    /// The futex words (addresses) this thread slept on and was woken from.
    static SLEPT: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// Makes the current loom thread play process `pid`, whose first `expiries` timed
/// waits may expire.
fn become_process(pid: u64, expiries: u32) {
    loom_support::play(pid);
    EXPIRIES.with(|e| e.set(expiries));
}

/// How many times the current thread slept on `word` (any word for `None`) and was
/// woken.
fn slept_on(word: Option<usize>) -> usize {
    SLEPT.with(|s| s.borrow().iter().filter(|w| word.is_none_or(|word| **w == word)).count())
}

/// The futex word of `value` when it is its first field (`Condvar` is `repr(C)`).
fn address<T>(value: &T) -> usize {
    value as *const T as usize
}

/// The kernel's futex, for the models: the sleepers on every word, behind a lock
/// that plays the futex hash bucket's (the kernel checks the word and queues the
/// sleeper under it; `wake` dequeues under it).
struct Futex {
    sleepers: loom::sync::Mutex<Sleepers>,
    /// Notified when a `wake` dequeued sleepers.
    woken: loom::sync::Condvar,
    /// Notified when a sleeper queued (for [`Futex::await_sleepers`]).
    queued: loom::sync::Condvar,
}

/// The queue of sleepers: (word address, ticket), oldest first.
#[derive(Default)]
struct Sleepers {
    next_ticket: u64,
    queue: Vec<(usize, u64)>,
    /// The word of every sleeper ever queued.
    history: Vec<usize>,
}

loom::lazy_static! {
    /// One futex per loom execution.
    static ref FUTEX: Futex = Futex {
        sleepers: loom::sync::Mutex::new(Sleepers::default()),
        woken: loom::sync::Condvar::new(),
        queued: loom::sync::Condvar::new(),
    };
}

impl Futex {
    /// `FUTEX_WAIT`: sleeps while `word` holds `expected`, until a `wake` picks this
    /// sleeper or, if the thread has an expiry left and `timeout` is set, the timeout
    /// passes.
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let key = address(word);
        let mut sleepers = self.sleepers.lock().unwrap();
        // The kernel reads the word under the bucket lock, after a full barrier; a
        // waker changes the word before it takes that lock to wake. A SeqCst load
        // would be the natural model, but loom lets a SeqCst load return a store
        // older than a newer SeqCst one if the older is not SeqCst (tokio-rs/loom#180;
        // e.g. a semaphore's Acquire CAS), which the C++ rules for SeqCst forbid
        // here: it then reports a sleeper that a real futex would not put to sleep.
        // A read-modify-write that writes back what it read returns the latest value
        // and changes nothing the protocols see.
        if word.fetch_add(0, Ordering::SeqCst) != expected {
            return;
        }
        let ticket = sleepers.next_ticket;
        sleepers.next_ticket += 1;
        sleepers.queue.push((key, ticket));
        sleepers.history.push(key);
        self.queued.notify_all();
        let queued = |sleepers: &Sleepers| sleepers.queue.iter().any(|s| s.1 == ticket);

        let expires = timeout.is_some() && EXPIRIES.with(|e| e.replace(e.get().saturating_sub(1)) > 0);
        if expires {
            // Sleep until the timeout, while a wake may still pick this sleeper.
            drop(sleepers);
            thread::yield_now();
            let mut sleepers = self.sleepers.lock().unwrap();
            if queued(&sleepers) {
                sleepers.queue.retain(|s| s.1 != ticket);
                let nanos = timeout.unwrap().as_nanos().min(u64::MAX as u128) as u64;
                CLOCK.with(|c| c.set(c.get().saturating_add(nanos)));
            } else {
                SLEPT.with(|s| s.borrow_mut().push(key));
            }
            return;
        }
        while queued(&sleepers) {
            sleepers = self.woken.wait(sleepers).unwrap();
        }
        SLEPT.with(|s| s.borrow_mut().push(key));
    }

    /// Blocks the calling thread (model scaffolding, not a futex operation) until
    /// `count` sleepers have queued on `word` (any word for `None`), whether or not
    /// they still sleep.
    fn await_sleepers(&self, word: Option<usize>, count: usize) {
        let mut sleepers = self.sleepers.lock().unwrap();
        while sleepers.history.iter().filter(|w| word.is_none_or(|word| **w == word)).count() < count {
            sleepers = self.queued.wait(sleepers).unwrap();
        }
    }

    /// Forgets who queued so far (model scaffolding): [`Futex::await_sleepers`]
    /// then counts only later sleepers.
    fn forget_history(&self) {
        self.sleepers.lock().unwrap().history.clear();
    }

    /// `FUTEX_WAKE`: wakes up to `count` sleepers on `word`, oldest first.
    fn wake(&self, word: &AtomicU32, count: u32) {
        let key = address(word);
        let mut sleepers = self.sleepers.lock().unwrap();
        let mut woken = 0;
        sleepers.queue.retain(|s| {
            let wake = s.0 == key && woken < count;
            woken += wake as u32;
            !wake
        });
        if woken > 0 {
            self.woken.notify_all();
        }
    }
}

/// The models' platform: processes are loom threads, [`DEAD`] is dead, waiting goes
/// through [`FUTEX`].
struct Model;

// SAFETY: each loom thread plays one fixed process (`loom_support::play`), and
// only the model's dead process is reported dead.
unsafe impl Platform for Model {
    fn current_process() -> ProcessId {
        loom_support::current_process()
    }

    fn liveness(process: ProcessId) -> Liveness {
        loom_support::liveness(process)
    }

    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        FUTEX.wait(word, expected, timeout);
    }

    fn wake(word: &AtomicU32, count: u32) {
        FUTEX.wake(word, count);
    }

    fn now_nanos() -> u64 {
        CLOCK.with(Cell::get)
    }

    // `yield_now` keeps the default, a processor hint: a yield promises nothing, and
    // a loom yield would let loom run the lock holder first, so a locker would never
    // get to sleep while the holder is preempted.
}

/// What a model's lock protects: a value loom checks, and a holder count.
struct Protected {
    value: UnsafeCell<u32>,
    holders: AtomicUsize,
}

// SAFETY: the value cell is only touched through loom, which fails the model on any
// access that is not ordered with every other one.
unsafe impl Sync for Protected {}

impl Protected {
    fn new() -> Self {
        Protected { value: UnsafeCell::new(0), holders: AtomicUsize::new(0) }
    }

    /// One holder's turn, with at most `limit` holders at once: increments the value
    /// and returns what it was (how many turns came before).
    fn turn(&self, limit: usize) -> u32 {
        // Relaxed: an RMW sees every earlier one, so too many holders at once show
        // here without the count itself ordering anything.
        assert!(self.holders.fetch_add(1, Ordering::Relaxed) < limit, "more holders at once than allowed");
        let before = self.value.with_mut(|value| {
            // SAFETY: the cell lives as long as `self`; loom fails the model if the
            // previous holder's write is not ordered before this access.
            unsafe {
                *value += 1;
                *value - 1
            }
        });
        self.holders.fetch_sub(1, Ordering::Relaxed);
        before
    }

    /// The value, once every other thread is joined.
    fn value(&self) -> u32 {
        // SAFETY: as in `turn`.
        self.value.with(|value| unsafe { *value })
    }
}

/// Runs `f` under loom once for each `main_last` in `runs` (see
/// [`loom_support::model`]): `[false, true]` unless the main thread waits for the
/// others to sleep before its part, which makes the yield moot.
fn model(runs: &[bool], expected: &'static [&'static str], f: impl Fn(bool) -> String + Sync + Send + 'static) {
    // One of these models at a time: loom maps and unmaps a stack for every thread
    // of every execution, and two models doing that at once on two cores spend
    // most of their time in the kernel (the suite ran 1.6 times slower in parallel
    // than one test at a time). The segment models still run beside one of these.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loom_support::model(runs, expected, move |main_last| {
        // Create the futex before any thread is spawned: loom orders its lazy
        // initialization before every later use, which must add no ordering
        // between the model's threads.
        let _ = &*FUTEX;
        f(main_last)
    });
}

/// Spawns a loom thread that plays process `pid` (with `expiries` timed waits that
/// may expire) and runs `f` on `shared`.
fn spawn_as<S: Send + Sync + 'static, R: Send + 'static>(
    pid: u64,
    expiries: u32,
    shared: &Arc<S>,
    f: impl FnOnce(&S) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let shared = shared.clone();
    thread::spawn(move || {
        become_process(pid, expiries);
        f(&shared)
    })
}

type TestMutex = Mutex<Protected, Model>;

/// Locks `mutex` as the dead process [`DEAD`] and forgets the guard: the owner died
/// holding it. The main thread then plays process 1.
fn lock_as_dead<T>(mutex: &Mutex<T, Model>) {
    become_process(DEAD, 0);
    core::mem::forget(mutex.lock().map_err(|e| e.kind()).expect("locking an unlocked mutex"));
    become_process(1, 0);
}

/// Runs the slow path of `lock` once on a fresh `mutex`, in the main thread as
/// process 1 before it spawns anything, so that the mutex's `waiters` word holds a
/// SeqCst store; the mutex ends unlocked and consistent.
///
/// loom records an atomic's initial value as a Release store, and lets a SeqCst load
/// return an older store unless a newer one is also SeqCst (tokio-rs/loom#180). So
/// without this, `unlock`'s SeqCst load of `waiters` can still read the initial 0
/// after a waiter's SeqCst increment and failed CAS, which the C++ memory model
/// forbids (the increment, the CAS, `unlock`'s store and its load are all SeqCst:
/// store buffering), and the model reports a lost wake-up that cannot happen. After
/// this, every store to `waiters` is SeqCst.
fn warm_up<T>(mutex: &Mutex<T, Model>) {
    lock_as_dead(mutex);
    // One expiry: `lock` notices the dead owner after one whole slice.
    become_process(1, 1);
    let Err(error) = mutex.lock() else { panic!("locked a dead owner's mutex without OwnerDied") };
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    error.into_guard().expect("the guard of an OwnerDied lock").make_consistent();
    become_process(1, 0);
    FUTEX.forget_history();
}

/// A fresh mutex, warmed up ([`warm_up`]).
fn warmed_mutex() -> Arc<TestMutex> {
    let mutex = TestMutex::new(Protected::new());
    warm_up(&mutex);
    Arc::new(mutex)
}

/// Locks `mutex` (whose owner is alive), takes a turn and unlocks: (turns before
/// this one, how many times this thread slept and was woken).
fn lock_turn(mutex: &TestMutex) -> (u32, usize) {
    let guard = mutex.lock().expect("locking a mutex with live owners");
    let before = guard.turn(1);
    drop(guard);
    (before, slept_on(None))
}

/// A label for how many times each `(pid, sleeps)` slept: "P2 slept 1x, P3 slept 0x".
fn sleeps(counts: &[(u64, usize)]) -> String {
    counts.iter().map(|(pid, n)| format!("P{pid} slept {n}x")).collect::<Vec<_>>().join(", ")
}

#[test]
fn mutex_exclusion() {
    const OUTCOMES: &[&str] = &["first P1, slept -", "first P1, slept P2", "first P2, slept -", "first P2, slept P1"];
    model(&[false, true], OUTCOMES, |main_last| {
        let mutex = warmed_mutex();
        let other = spawn_as(2, 0, &mutex, lock_turn);
        main_turn(main_last);
        let (before1, slept1) = lock_turn(&mutex);
        let (before2, slept2) = other.join().unwrap();
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 2, "a turn was lost");
        let slept = which(&[(1, slept1 > 0), (2, slept2 > 0)]);
        format!("first {}, slept {slept}", which(&[(1, before1 == 0), (2, before2 == 0)]))
    });
}

/// What a locker of a dead owner's mutex got.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Got {
    Normal,
    OwnerDied,
    NotRecoverable,
}

/// How a model's process takes a dead owner's mutex.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// `lock`.
    Lock,
    /// `try_lock`, then `lock` if that was `Busy`.
    TryThenLock,
    /// `try_lock` until it is not `Busy`, yielding in between.
    TryUntilFree,
}

/// Takes a mutex whose owner died, takes a turn if it got the lock, and repairs it
/// (`make_consistent`) if it got `OwnerDied` and `repair` is set: (what it got,
/// whether it slept and was woken).
fn lock_dead_owned(mutex: &TestMutex, take: Take, repair: bool) -> (Got, bool) {
    let busy = |result: &Result<_, LockError<'_, _, _>>| result.as_ref().is_err_and(|e| e.kind() == ErrorKind::Busy);
    let mut result = if take == Take::Lock { mutex.lock() } else { mutex.try_lock() };
    if take == Take::TryThenLock && busy(&result) {
        result = mutex.lock();
    }
    while take == Take::TryUntilFree && busy(&result) {
        thread::yield_now();
        result = mutex.try_lock();
    }
    assert!(!busy(&result), "lock returned Busy");
    let got = match result {
        Ok(guard) => {
            guard.turn(1);
            Got::Normal
        }
        Err(error) => match error.kind() {
            ErrorKind::OwnerDied => {
                let mut guard = error.into_guard().expect("OwnerDied carries the guard");
                guard.turn(1);
                if repair {
                    guard.make_consistent();
                }
                Got::OwnerDied
            }
            ErrorKind::NotRecoverable => {
                assert!(error.into_guard().is_none(), "NotRecoverable carried a guard");
                Got::NotRecoverable
            }
            kind => panic!("lock failed with {kind:?}"),
        },
    };
    (got, slept_on(None) > 0)
}

/// The outcomes of a race of process 1 (which may sleep in `lock`) and process 2
/// (which retries `try_lock`) for a dead owner's mutex: who got `OwnerDied`, and
/// what the other got.
fn dead_owned_outcomes(repair: bool) -> &'static [&'static str] {
    if repair {
        &["OwnerDied P1, Normal P2", "Normal P1, OwnerDied P2", "Normal P1 slept, OwnerDied P2"]
    } else {
        &["OwnerDied P1, NotRecoverable P2", "NotRecoverable P1, OwnerDied P2", "NotRecoverable P1 slept, OwnerDied P2"]
    }
}

/// Checks the end of a race of processes 1 and 2 for a dead owner's mutex, and labels it.
fn dead_owned_outcome(
    mutex: &TestMutex,
    repair: bool,
    (got1, slept1): (Got, bool),
    (got2, slept2): (Got, bool),
) -> String {
    become_process(1, 0);
    let died = [got1, got2].iter().filter(|g| **g == Got::OwnerDied).count();
    assert_eq!(died, 1, "not exactly one OwnerDied: {got1:?}, {got2:?}");
    let after = if repair { Got::Normal } else { Got::NotRecoverable };
    assert!(got1 == after || got2 == after, "after OwnerDied: {got1:?}, {got2:?}");
    if repair {
        let guard = mutex.lock().expect("locking a repaired mutex");
        assert_eq!(guard.value(), 2, "a turn was lost");
    } else {
        for result in [mutex.lock(), mutex.try_lock()] {
            assert_eq!(result.map(drop).unwrap_err().kind(), ErrorKind::NotRecoverable);
        }
    }
    let slept = |slept| if slept { " slept" } else { "" };
    format!("{got1:?} P1{}, {got2:?} P2{}", slept(slept1), slept(slept2))
}

#[test]
fn mutex_owner_died_try_lock() {
    for repair in [true, false] {
        // One run only, for time: 4 to 5 s each.
        model(&[false], dead_owned_outcomes(repair), move |main_last| {
            let mutex = warmed_mutex();
            lock_as_dead(&mutex);
            let other = spawn_as(2, 0, &mutex, move |mutex| lock_dead_owned(mutex, Take::TryUntilFree, repair));
            main_turn(main_last);
            let got1 = lock_dead_owned(&mutex, Take::TryThenLock, repair);
            let got2 = other.join().unwrap();
            dead_owned_outcome(&mutex, repair, got1, got2)
        });
    }
}

#[test]
fn mutex_owner_died_lock() {
    for repair in [true, false] {
        model(&[false], dead_owned_outcomes(repair), move |_| {
            let mutex = warmed_mutex();
            lock_as_dead(&mutex);
            // One expiry: noticing the dead owner in `lock` takes a whole slice
            // without a wake-up; anything after that must come from a wake-up.
            let locker = spawn_as(1, 1, &mutex, move |mutex| lock_dead_owned(mutex, Take::Lock, repair));
            // Process 2 comes once process 1 sleeps, past its spinning: two lockers
            // spinning at once make the model too big for loom.
            FUTEX.await_sleepers(None, 1);
            become_process(2, 0);
            let got2 = lock_dead_owned(&mutex, Take::TryUntilFree, repair);
            let got1 = locker.join().unwrap();
            dead_owned_outcome(&mutex, repair, got1, got2)
        });
    }
}

#[test]
fn mutex_exclusion_three() {
    // Process 3 may take the lock before the woken process 2 (which then sleeps
    // again), or sleep until process 2 unlocks.
    const OUTCOMES: &[&str] = &[
        "first P2, P2 slept 1x, P3 slept 0x",
        "first P2, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 1x, P3 slept 0x",
        "first P3, P2 slept 2x, P3 slept 0x",
    ];
    model(&[false], OUTCOMES, |_| {
        let mutex = warmed_mutex();
        let guard = mutex.lock().expect("locking an unlocked mutex");
        let second = spawn_as(2, 0, &mutex, lock_turn);
        FUTEX.await_sleepers(None, 1);
        assert_eq!(guard.turn(1), 0);
        drop(guard);
        // Process 3 comes once process 2 sleeps and process 1 unlocked (waking it):
        // two lockers spinning at once, or many stores while one spins, make the
        // model too big for loom.
        let third = spawn_as(3, 0, &mutex, lock_turn);
        let (before2, slept2) = second.join().unwrap();
        let (before3, slept3) = third.join().unwrap();
        assert!(slept2 > 0, "process 2 did not sleep");
        assert_eq!(before2 + before3, 3, "a turn was lost");
        assert_eq!(mutex.lock().expect("locking an unlocked mutex").value(), 3, "a turn was lost");
        format!("first P{}, {}", if before2 == 1 { 2 } else { 3 }, sleeps(&[(2, slept2), (3, slept3)]))
    });
}

/// A semaphore and what its permit protects.
struct Permits {
    semaphore: Semaphore<Model>,
    data: Protected,
}

/// A semaphore with no permits on which the main thread (process 1) already ran the
/// slow path of `acquire` once (a timed-out `acquire_timeout`), so that its
/// `waiters` word holds a SeqCst store, for `release`'s load of it: see [`warm_up`].
fn warmed_semaphore() -> Arc<Permits> {
    let permits = Permits { semaphore: Semaphore::new(0), data: Protected::new() };
    become_process(1, 1);
    let error = permits.semaphore.acquire_timeout(Duration::from_nanos(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    become_process(1, 0);
    FUTEX.forget_history();
    Arc::new(permits)
}

/// Acquires a permit, takes a turn (alone: there is one permit) and releases it.
fn acquire_turn(permits: &Permits) -> (u32, usize) {
    permits.semaphore.acquire();
    let before = permits.data.turn(1);
    permits.semaphore.release();
    (before, slept_on(None))
}

#[test]
fn semaphore_one_permit() {
    // An acquirer may sleep until the release, or be woken and lose the permit to
    // the other acquirer and sleep again; the first acquirer sleeps at most once.
    const OUTCOMES: &[&str] = &[
        "first P2, P2 slept 0x, P3 slept 0x",
        "first P2, P2 slept 0x, P3 slept 1x",
        "first P2, P2 slept 0x, P3 slept 2x",
        "first P2, P2 slept 1x, P3 slept 0x",
        "first P2, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 0x, P3 slept 0x",
        "first P3, P2 slept 0x, P3 slept 1x",
        "first P3, P2 slept 1x, P3 slept 0x",
        "first P3, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 2x, P3 slept 0x",
    ];
    model(&[false, true], OUTCOMES, |main_last| {
        let permits = warmed_semaphore();
        let acquirers: Vec<_> = [2, 3].into_iter().map(|p| spawn_as(p, 0, &permits, acquire_turn)).collect();
        main_turn(main_last);
        // The releaser hands out the one permit.
        permits.semaphore.release();
        let results: Vec<(u32, usize)> = acquirers.into_iter().map(|a| a.join().unwrap()).collect();
        assert_eq!(permits.semaphore.available(), 1, "the permit count did not return to 1");
        assert_eq!(permits.data.value(), 2, "a turn was lost");
        format!("first P{}, {}", if results[0].0 == 0 { 2 } else { 3 }, sleeps(&[(2, results[0].1), (3, results[1].1)]))
    });
}

/// A flag guarded by a mutex, and a condition variable to wait for it.
struct Signal {
    mutex: Mutex<Flag, Model>,
    condvar: Condvar<Model>,
}

/// A flag loom checks: written and read only under the mutex.
struct Flag(UnsafeCell<bool>);

impl Flag {
    fn get(&self) -> bool {
        // SAFETY: the cell lives as long as `self`; loom fails the model if this read
        // is not ordered with the write.
        self.0.with(|flag| unsafe { *flag })
    }

    fn set(&self) {
        // SAFETY: as in `get`.
        self.0.with_mut(|flag| unsafe { *flag = true });
    }
}

/// A signal with the flag down, its mutex warmed up ([`warm_up`]), and its
/// condition variable too: the main thread (process 1) already waited on it once
/// with a zero timeout, so that its `waiters` word holds a SeqCst store, for the
/// notifiers' load of it.
fn warmed_signal() -> Arc<Signal> {
    let mutex = Mutex::new(Flag(UnsafeCell::new(false)));
    warm_up(&mutex);
    let signal = Signal { mutex, condvar: Condvar::new() };
    let guard = signal.mutex.lock().expect("locking an unlocked mutex");
    let (guard, timed_out) = signal.condvar.wait_timeout(guard, Duration::ZERO).expect("relocking a mutex");
    assert!(timed_out && !guard.get());
    drop(guard);
    FUTEX.forget_history();
    Arc::new(signal)
}

/// Waits for the flag: (waited on the condition variable at least once, slept on
/// the condition variable's word, slept on the mutex's).
fn wait_for_flag(signal: &Signal) -> (bool, bool, bool) {
    let mut checks = 0;
    let guard = signal.mutex.lock().expect("locking a mutex with live owners");
    let guard = signal
        .condvar
        .wait_while(guard, |flag| {
            checks += 1;
            !flag.get()
        })
        .expect("relocking a mutex with live owners");
    assert!(guard.get(), "wait_while returned with the flag down");
    drop(guard);
    let on_condvar = slept_on(Some(address(&signal.condvar)));
    (checks > 1, on_condvar > 0, slept_on(None) > on_condvar)
}

/// Raises the flag and notifies, under the lock or after unlocking.
fn raise_flag(signal: &Signal, under_lock: bool, all: bool) {
    let guard = signal.mutex.lock().expect("locking a mutex with live owners");
    guard.set();
    let notify = || if all { signal.condvar.notify_all() } else { signal.condvar.notify_one() };
    if under_lock {
        notify();
        drop(guard);
    } else {
        drop(guard);
        notify();
    }
}

fn wait_label(pid: u64, (waited, on_condvar, on_mutex): (bool, bool, bool)) -> String {
    format!(
        "P{pid} {}{}{}",
        if waited { "waited" } else { "did not wait" },
        if on_condvar { ", slept on condvar" } else { "" },
        if on_mutex { ", slept on mutex" } else { "" }
    )
}

#[test]
fn condvar_notify_one() {
    // The consumer may find the flag up at once; or wait, and then either see the
    // notify before it sleeps or sleep until it; and sleep on the mutex while the
    // producer holds it. After a notify under the lock, the consumer may sleep on
    // the mutex on its way back.
    let notified_under_lock: &[&str] = &[
        "P2 did not wait",
        "P2 did not wait, slept on mutex",
        "P2 waited",
        "P2 waited, slept on condvar",
        "P2 waited, slept on condvar, slept on mutex",
        "P2 waited, slept on mutex",
    ];
    let after_unlock: &[&str] =
        &["P2 did not wait", "P2 did not wait, slept on mutex", "P2 waited", "P2 waited, slept on condvar"];
    // One run only for the notify under the lock, for time: 5 s each.
    let runs_under_lock: &[bool] = &[false];
    for (under_lock, runs, outcomes) in
        [(true, runs_under_lock, notified_under_lock), (false, &[false, true][..], after_unlock)]
    {
        model(runs, outcomes, move |main_last| {
            let signal = warmed_signal();
            let consumer = spawn_as(2, 0, &signal, wait_for_flag);
            main_turn(main_last);
            raise_flag(&signal, under_lock, false);
            wait_label(2, consumer.join().unwrap())
        });
    }
}

#[test]
fn condvar_notify_all() {
    // Both wake; either may sleep on the mutex while the other holds it.
    const OUTCOMES: &[&str] = &[
        "P2 waited, slept on condvar; P3 waited, slept on condvar",
        "P2 waited, slept on condvar, slept on mutex; P3 waited, slept on condvar",
        "P2 waited, slept on condvar; P3 waited, slept on condvar, slept on mutex",
    ];
    model(&[false], OUTCOMES, |_| {
        let signal = warmed_signal();
        // Each consumer comes once the one before sleeps on the condition variable,
        // and the flag is raised once both do: a consumer spinning on the mutex while
        // others lock and unlock it makes the model too big for loom.
        let consumers: Vec<_> = [2, 3]
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let consumer = spawn_as(p, 0, &signal, wait_for_flag);
                FUTEX.await_sleepers(Some(address(&signal.condvar)), i + 1);
                consumer
            })
            .collect();
        raise_flag(&signal, false, true);
        let labels: Vec<String> =
            consumers.into_iter().zip([2, 3]).map(|(c, p)| wait_label(p, c.join().unwrap())).collect();
        labels.join("; ")
    });
}
