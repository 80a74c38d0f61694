//! The one model of the platform that every loom model runs on (the segment's in
//! `segment::tests`, the synchronization primitives' in `sync::tests`), and running
//! a model with its outcomes checked.
//!
//! - **Processes are loom threads**: a loom thread-local holds the process each one
//!   plays ([`play`], [`become_process`]); [`DEAD`] is the one dead process, every
//!   other one is alive.
//! - **The futex is emulated, not yielded** ([`Futex`]): `wait` queues the caller if
//!   the word still holds the expected value and blocks it (a loom condition
//!   variable) until a `wake` on that word dequeues it; `wake(n)` dequeues the n
//!   oldest. Waits never return spuriously, so a lost wake-up is a thread blocked for
//!   good, which loom reports as a deadlock. A `wait` that merely yields (as the
//!   trait allows) would make every wake-up model vacuous: a mutex whose `unlock`
//!   never wakes anyone, or a creator whose `publish` wakes nobody, passes with it,
//!   and fails here. Timed waits do not expire either, except the first `expiries`
//!   ones of a thread ([`become_process`]): only the models that must notice a dead
//!   owner give a thread one, since that takes a whole slice without a wake-up.
//!   Everywhere else, progress may never rest on a timed slice. The clock
//!   (`now_nanos`) is per thread and advances by the timeout on each expiry.
//! - **Crash points are counted**, per thread ([`crossed`]), so that a model can
//!   tell which process did a step that leaves no other trace (a reclaim mark).
//!
//! [`Model`] is that platform.
// `unsafe impl Platform for Model`: its contract, argued where it is.
#![allow(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::collections::BTreeSet;
use std::format;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use loom::model::Builder;
use loom::thread;

use crate::backend::{CrashPoint, Liveness, Platform, ProcessId};
use crate::primitive::{AtomicU32, Ordering};

/// The one process every model treats as dead; every other process is alive.
pub(crate) const DEAD: u64 = 9;

loom::thread_local! {
    /// The process the current loom thread plays.
    static ME: Cell<u64> = Cell::new(0);
    /// How many more timed waits of this thread may expire.
    static EXPIRIES: Cell<u32> = Cell::new(0);
    /// This thread's clock, in nanoseconds: advanced by each expired wait.
    static CLOCK: Cell<u64> = Cell::new(0);
    /// The futex words (addresses) this thread slept on and was woken from.
    static SLEPT: RefCell<Vec<usize>> = RefCell::new(Vec::new());
    /// The crash points this thread passed, in order.
    static CROSSED: RefCell<Vec<CrashPoint>> = RefCell::new(Vec::new());
}

/// Makes the current loom thread play process `pid`, whose timed waits never expire.
pub(crate) fn play(pid: u64) {
    become_process(pid, 0);
}

/// Makes the current loom thread play process `pid`, whose first `expiries` timed
/// waits may expire.
pub(crate) fn become_process(pid: u64, expiries: u32) {
    ME.with(|me| me.set(pid));
    EXPIRIES.with(|e| e.set(expiries));
}

/// The process id `raw`.
pub(crate) fn pid(raw: u64) -> ProcessId {
    ProcessId::new(raw).expect("a valid process id")
}

/// How many times the current thread slept on `word` (any word for `None`) and was
/// woken.
pub(crate) fn slept_on(word: Option<usize>) -> usize {
    SLEPT.with(|s| s.borrow().iter().filter(|w| word.is_none_or(|word| **w == word)).count())
}

/// How many times the current thread passed the crash point `point`.
pub(crate) fn crossed(point: CrashPoint) -> u32 {
    CROSSED.with(|c| c.borrow().iter().filter(|p| **p == point).count() as u32)
}

/// The futex word of `value` when it is its first field (`Condvar` is `repr(C)`), or
/// the word itself.
pub(crate) fn address<T>(value: &T) -> usize {
    value as *const T as usize
}

/// The kernel's futex, for the models: the sleepers on every word, behind a lock
/// that plays the futex hash bucket's (the kernel checks the word and queues the
/// sleeper under it; `wake` dequeues under it).
pub(crate) struct Futex {
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
    pub(crate) static ref FUTEX: Futex = Futex {
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
        // e.g. a semaphore's Acquire CAS, or `initialize`'s Release store of
        // `Initializing` before `publish`'s SeqCst `Ready`), which the C++ rules for
        // SeqCst forbid here: it then reports a sleeper that a real futex would not
        // put to sleep. A read-modify-write returns the latest value, but one that
        // writes (even what it read) is wrong for a word its protocol writes with
        // plain stores: loom orders a store after another thread's write only if
        // the storer has seen it, so `publish`'s `Ready` would not be ordered after
        // an opener's write-back of `Initializing`, and the woken opener could read
        // its own stale write-back again. So the read is a compare-exchange that
        // fails (nothing holds `UNHELD` in the models): it reads the latest value
        // and writes nothing, as the kernel does.
        const UNHELD: u32 = 0x7fff_fffe;
        let now = word.compare_exchange(UNHELD, UNHELD, Ordering::SeqCst, Ordering::SeqCst).unwrap_or_else(|now| now);
        assert_ne!(now, UNHELD, "a futex word held the models' unheld value");
        if now != expected {
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
    pub(crate) fn await_sleepers(&self, word: Option<usize>, count: usize) {
        let mut sleepers = self.sleepers.lock().unwrap();
        while sleepers.history.iter().filter(|w| word.is_none_or(|word| **w == word)).count() < count {
            sleepers = self.queued.wait(sleepers).unwrap();
        }
    }

    /// Forgets who queued so far (model scaffolding): [`Futex::await_sleepers`]
    /// then counts only later sleepers.
    pub(crate) fn forget_history(&self) {
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
/// through [`FUTEX`], crash points are counted per thread.
pub(crate) struct Model;

// SAFETY: each loom thread plays one fixed process (`play`, `become_process`), and
// only the model's dead process is reported dead.
unsafe impl Platform for Model {
    fn current_process() -> ProcessId {
        ProcessId::new(ME.with(Cell::get)).expect("a loom thread that plays no process")
    }

    fn liveness(process: ProcessId) -> Liveness {
        if process.get() == DEAD {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
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

    fn crash_point(point: CrashPoint) {
        CROSSED.with(|c| c.borrow_mut().push(point));
    }
}

/// Runs `f` under loom once for each `main_last` in `runs`. The preemption bound
/// is `LOOM_MAX_PREEMPTIONS`, or 3 if that is unset.
///
/// loom's DPOR remembers only the last access to each atomic, so a thread's own
/// loads can hide another thread's earlier load of the same word, and the schedules
/// that run them the other way round are never tried (tokio-rs/loom#166, #392). So
/// a model runs a second time (`runs` = `[false, true]`) with the main thread
/// yielding ([`main_turn`]) before its part, and exploration also starts from "the
/// spawned threads first".
///
/// Each run of `f` returns a label for its outcome. Every label must be in
/// `expected`. With a preemption bound of at least 3 (or none), every label in
/// `expected` must also have been seen, so a model that explores too little fails
/// instead of passing vacuously.
pub(crate) fn model(
    runs: &[bool],
    expected: &'static [&'static str],
    f: impl Fn(bool) -> String + Sync + Send + 'static,
) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let f = Arc::new(f);
    let mut bound = None;
    for &main_last in runs {
        let mut builder = Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        bound = builder.preemption_bound;
        let (f, seen) = (f.clone(), seen.clone());
        builder.check(move || {
            // Create the futex before any thread is spawned: loom orders its lazy
            // initialization before every later use, which must add no ordering
            // between the model's threads.
            let _ = &*FUTEX;
            let outcome = f(main_last);
            seen.lock().unwrap().insert(outcome);
        });
    }
    let seen = seen.lock().unwrap();
    for outcome in seen.iter() {
        assert!(expected.contains(&outcome.as_str()), "unexpected outcome {outcome:?}; seen {seen:?}");
    }
    if bound.is_none_or(|b| b >= 3) {
        for outcome in expected {
            assert!(seen.contains(*outcome), "outcome {outcome:?} was never explored; seen {seen:?}");
        }
    }
}

/// Where the main thread starts its part of a model: with `main_last`, it first
/// lets the spawned threads run.
pub(crate) fn main_turn(main_last: bool) {
    if main_last {
        thread::yield_now();
    }
}

/// Spawns a loom thread that plays process `pid` (with `expiries` timed waits that
/// may expire) and runs `f` on `shared`.
pub(crate) fn spawn_as<S: Send + Sync + 'static, R: Send + 'static>(
    pid: u64,
    expiries: u32,
    shared: &loom::sync::Arc<S>,
    f: impl FnOnce(&S) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let shared = shared.clone();
    thread::spawn(move || {
        become_process(pid, expiries);
        f(&shared)
    })
}

/// The process among `(pid, flag)` whose flag is set, as a label; "-" for none.
pub(crate) fn which(flags: &[(u64, bool)]) -> String {
    let set: Vec<String> = flags.iter().filter(|f| f.1).map(|f| format!("P{}", f.0)).collect();
    if set.is_empty() {
        "-".to_string()
    } else {
        set.join("+")
    }
}
