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
//! - **The kernel's priority-inheritance lock is emulated too**, for the threads a
//!   model puts in [`KERNEL_DOMAIN`] ([`use_kernel`], [`spawn_in_kernel`]); every
//!   other thread has no lock domain and locks a `Mutex` portably, as before. A
//!   thread's tid is the number of the process it plays. The kernel knows the
//!   domain's running threads: [`use_kernel`] and [`become_process`] start one,
//!   [`exit_thread`] ends one (a thread that dies holding a lock), which is then
//!   dead for `thread_liveness` whatever its process ([`vanish_thread`]: unknown);
//!   a running one is alive, even as [`DEAD`] (a holder that is about to die).
//!   `lock_wait` and `unlock_wake` follow `FUTEX_LOCK_PI2` and `FUTEX_UNLOCK_PI`
//!   (kernel/futex/pi.c): a free word is taken keeping its owner-died bit; the
//!   caller's own tid is `HeldByCaller` (`EDEADLK`); a tid no running thread has
//!   (one that exited, or the foreign tid) gets the waiters bit and `NoSuchHolder`
//!   (`ESRCH`); a running holder's gets the waiters bit and the caller sleeps, in
//!   the same queue as `wait`'s sleepers, until the holder's `unlock_wake` hands
//!   it the word (the oldest sleeper first; like the kernel, the word keeps the
//!   waiters bit even when no sleeper is left, so the next unlock comes to the
//!   kernel too), or the holder exits (the kernel hands the word to the oldest
//!   sleeper with the owner-died bit), or, within a thread's granted expiries,
//!   the timeout passes (`Again`, unless the word was handed over first). A word
//!   that disagrees with the holder its sleepers wait for is `Unsupported`
//!   (`EINVAL`).
//!
//! [`Model`] is that platform.
// `unsafe impl Platform for Model`: its contract, argued where it is.
#![allow(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::time::Duration;
use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use loom::model::Builder;
use loom::thread;

use crate::backend::{CrashPoint, Liveness, LockWait, Platform, ProcessId, ThreadId};
use crate::primitive::{AtomicU32, Ordering};

/// The one process every model treats as dead; every other process is alive.
pub(crate) const DEAD: u64 = 9;

/// The lock domain of the threads that lock through the emulated kernel
/// ([`use_kernel`]); the others have none (0).
pub(crate) const KERNEL_DOMAIN: u32 = 1;

/// The lock word's tid bits, its owner-died and waiters bits (the kernel's
/// `FUTEX_TID_MASK`, `FUTEX_OWNER_DIED`, `FUTEX_WAITERS`).
const TID_MASK: u32 = 0x3fff_ffff;
const OWNER_DIED: u32 = 1 << 30;
const WAITERS: u32 = 1 << 31;

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
    /// This thread's lock domain: 0, or [`KERNEL_DOMAIN`] once [`use_kernel`] ran.
    static DOMAIN: Cell<u32> = Cell::new(0);
}

/// Puts the current loom thread in [`KERNEL_DOMAIN`], for good: a `Mutex` it locks
/// afterwards (one no thread of another domain locked first) holds its tid and it
/// sleeps in the emulated `FUTEX_LOCK_PI2`. The emulated kernel knows it from now
/// on, by the tid of the process it plays (see [`become_process`]).
pub(crate) fn use_kernel() {
    DOMAIN.with(|d| d.set(KERNEL_DOMAIN));
    FUTEX.became(None, my_tid());
}

/// The current thread's tid: the number of the process it plays.
fn my_tid() -> u32 {
    ME.with(Cell::get) as u32
}

/// Makes the current loom thread play process `pid`, whose timed waits never expire.
pub(crate) fn play(pid: u64) {
    become_process(pid, 0);
}

/// Makes the current loom thread play process `pid`, whose first `expiries` timed
/// waits may expire.
///
/// In [`KERNEL_DOMAIN`], the thread of the process played so far is gone (it holds
/// no lock: see [`exit_thread`] for one that does) and a thread with the new tid
/// runs, as far as the emulated kernel knows.
pub(crate) fn become_process(pid: u64, expiries: u32) {
    let before = ME.with(|me| me.replace(pid)) as u32;
    EXPIRIES.with(|e| e.set(expiries));
    if DOMAIN.with(Cell::get) != 0 {
        FUTEX.became(Some(before), my_tid());
    }
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
/// sleeper under it; `wake`, `unlock_wake` and a holder's exit dequeue under it).
pub(crate) struct Futex {
    sleepers: loom::sync::Mutex<Sleepers>,
    /// Notified when sleepers were dequeued (woken, or handed a lock word).
    woken: loom::sync::Condvar,
    /// Notified when a sleeper queued (for [`Futex::await_sleepers`]).
    queued: loom::sync::Condvar,
}

/// One thread asleep in the futex.
struct Sleeper {
    /// The word's address.
    key: usize,
    ticket: u64,
    /// For a sleeper in `lock_wait`, the priority-inheritance side.
    pi: Option<Pi>,
}

/// A sleeper in `lock_wait`: its tid, and the holder it waits for (the kernel's
/// `pi_state` owner, one for all the sleepers on a word).
#[derive(Clone, Copy)]
struct Pi {
    tid: u32,
    holder: u32,
}

/// The queue of sleepers (oldest first), and the kernel's record of exited threads.
#[derive(Default)]
struct Sleepers {
    next_ticket: u64,
    queue: Vec<Sleeper>,
    /// The word of every sleeper ever queued.
    history: Vec<usize>,
    /// The tids of the threads of [`KERNEL_DOMAIN`] that run.
    running: Vec<u32>,
    /// The tids of the threads of [`KERNEL_DOMAIN`] that exited ([`exit_thread`])
    /// and were not given to another thread since, and whether the platform can
    /// tell (`thread_liveness`).
    exited: Vec<(u32, bool)>,
}

impl Sleepers {
    /// Queues a sleeper on `key`: its ticket.
    fn enqueue(&mut self, key: usize, pi: Option<Pi>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queue.push(Sleeper { key, ticket, pi });
        self.history.push(key);
        ticket
    }

    fn queued(&self, ticket: u64) -> bool {
        self.queue.iter().any(|s| s.ticket == ticket)
    }

    fn dequeue(&mut self, ticket: u64) {
        self.queue.retain(|s| s.ticket != ticket);
    }

    /// The holder the `lock_wait` sleepers on `key` wait for, if any sleep there
    /// (the kernel has a `pi_state` for the word while a waiter is attached).
    fn pi_holder(&self, key: usize) -> Option<u32> {
        self.queue.iter().find(|s| s.key == key).and_then(|s| s.pi).map(|pi| pi.holder)
    }

    /// Whether a thread has tid `tid` (the kernel's `find_get_task_by_vpid`): never
    /// 0, nor the foreign tid a `Mutex` holder outside the domain stores.
    fn alive(&self, tid: u32) -> bool {
        self.running.contains(&tid)
    }

    /// Hands `word`, seen as `uval`, to its oldest `lock_wait` sleeper: its tid
    /// with the waiters bit, which the kernel always sets in a word it hands over
    /// (`wake_futex_pi`: "The WAITERS bit is always kept enabled while there is PI
    /// state around"), and the owner-died bit if the holder exited
    /// (`fixup_pi_state_owner`). The sleepers left wait for the new holder. False
    /// if the word no longer holds `uval`.
    fn hand_over(&mut self, word: &AtomicU32, uval: u32, owner_died: bool) -> bool {
        let key = address(word);
        let Some(top) = self.queue.iter().find(|s| s.key == key) else { return false };
        let (ticket, tid) = (top.ticket, top.pi.expect("a futex sleeper on a lock word").tid);
        let flags = if owner_died { WAITERS | OWNER_DIED } else { WAITERS };
        if !cmpxchg(word, uval, tid | flags) {
            return false;
        }
        self.dequeue(ticket);
        for sleeper in self.queue.iter_mut().filter(|s| s.key == key) {
            if let Some(pi) = sleeper.pi.as_mut() {
                pi.holder = tid;
            }
        }
        true
    }
}

/// The kernel's read of a futex word: the latest value.
///
/// The kernel reads the word under the bucket lock, after a full barrier; a waker
/// changes the word before it takes that lock to wake. A SeqCst load would be the
/// natural model, but loom lets a SeqCst load return a store older than a newer
/// SeqCst one if the older is not SeqCst (tokio-rs/loom#180; e.g. a semaphore's
/// Acquire CAS, or `initialize`'s Release store of `Initializing` before
/// `publish`'s SeqCst `Ready`), which the C++ rules for SeqCst forbid here: it then
/// reports a sleeper that a real futex would not put to sleep. A read-modify-write
/// returns the latest value, but one that writes (even what it read) is wrong for a
/// word its protocol writes with plain stores: loom orders a store after another
/// thread's write only if the storer has seen it, so `publish`'s `Ready` would not
/// be ordered after an opener's write-back of `Initializing`, and the woken opener
/// could read its own stale write-back again. So the read is a compare-exchange
/// that fails (nothing holds `UNHELD` in the models): it reads the latest value and
/// writes nothing, as the kernel does.
fn read(word: &AtomicU32) -> u32 {
    const UNHELD: u32 = 0x7fff_fffe;
    // SeqCst: see above.
    let now = word.compare_exchange(UNHELD, UNHELD, Ordering::SeqCst, Ordering::SeqCst).unwrap_or_else(|now| now);
    assert_ne!(now, UNHELD, "a futex word held the models' unheld value");
    now
}

/// The kernel's compare-exchange of a lock word (`futex_cmpxchg_value_locked`).
fn cmpxchg(word: &AtomicU32, uval: u32, newval: u32) -> bool {
    // SeqCst: the kernel's cmpxchg is a full barrier, and the lock word's users
    // order their own accesses to it with SeqCst.
    word.compare_exchange(uval, newval, Ordering::SeqCst, Ordering::SeqCst).is_ok()
}

loom::lazy_static! {
    /// One futex per loom execution.
    pub(crate) static ref FUTEX: Futex = Futex {
        sleepers: loom::sync::Mutex::new(Sleepers::default()),
        woken: loom::sync::Condvar::new(),
        queued: loom::sync::Condvar::new(),
    };
}

/// How a sleep in the futex ended.
enum Slept {
    /// Dequeued by another thread (woken, or handed a lock word).
    Dequeued,
    /// The timeout passed (the thread had an expiry left).
    Expired,
}

impl Futex {
    /// `FUTEX_WAIT`: sleeps while `word` holds `expected`, until a `wake` picks this
    /// sleeper or, if the thread has an expiry left and `timeout` is set, the timeout
    /// passes.
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let key = address(word);
        let mut sleepers = self.sleepers.lock().unwrap();
        if read(word) != expected {
            return;
        }
        let ticket = sleepers.enqueue(key, None);
        self.sleep(sleepers, key, ticket, timeout);
    }

    /// Sleeps as the queued sleeper `ticket` (on `key`) until another thread
    /// dequeues it or, if the thread has an expiry left and `timeout` is set, the
    /// timeout passes, which advances the thread's clock by `timeout`.
    fn sleep(
        &self,
        mut sleepers: loom::sync::MutexGuard<'_, Sleepers>,
        key: usize,
        ticket: u64,
        timeout: Option<Duration>,
    ) -> Slept {
        self.queued.notify_all();
        let expires = timeout.is_some() && EXPIRIES.with(|e| e.replace(e.get().saturating_sub(1)) > 0);
        if expires {
            // Sleep until the timeout, while another thread may still dequeue this
            // sleeper.
            drop(sleepers);
            thread::yield_now();
            let mut sleepers = self.sleepers.lock().unwrap();
            if sleepers.queued(ticket) {
                sleepers.dequeue(ticket);
                let nanos = timeout.unwrap().as_nanos().min(u64::MAX as u128) as u64;
                CLOCK.with(|c| c.set(c.get().saturating_add(nanos)));
                return Slept::Expired;
            }
        } else {
            while sleepers.queued(ticket) {
                sleepers = self.woken.wait(sleepers).unwrap();
            }
        }
        SLEPT.with(|s| s.borrow_mut().push(key));
        Slept::Dequeued
    }

    /// `FUTEX_LOCK_PI2` for the thread with tid `me` (see the module docs): as
    /// `futex_lock_pi` and `futex_lock_pi_atomic`, with the retries the kernel makes
    /// when the word changes under it (`-EAGAIN`).
    fn lock_pi(&self, word: &AtomicU32, me: u32, timeout: Option<Duration>) -> LockWait {
        let key = address(word);
        let mut sleepers = self.sleepers.lock().unwrap();
        let ticket = loop {
            let uval = read(word);
            let tid = uval & TID_MASK;
            if tid == me {
                return LockWait::HeldByCaller; // -EDEADLK
            }
            if let Some(holder) = sleepers.pi_holder(key) {
                // attach_to_pi_state: the word must name the holder its sleepers
                // wait for, else a peer rewrote it (-EINVAL).
                if tid != holder {
                    return LockWait::Unsupported;
                }
                break sleepers.enqueue(key, Some(Pi { tid: me, holder }));
            }
            if tid == 0 {
                // Nobody holds it and nobody sleeps on it: take it over, keeping
                // the owner-died bit.
                if cmpxchg(word, uval, me | (uval & OWNER_DIED)) {
                    return LockWait::Acquired;
                }
                continue;
            }
            // The first sleeper: the waiters bit first, then look for the holder.
            if !cmpxchg(word, uval, uval | WAITERS) {
                continue;
            }
            if !sleepers.alive(tid) {
                // attach_to_pi_owner, handle_exit_race: no thread has the tid;
                // -ESRCH if the word still holds what we wrote, else look again.
                if read(word) != uval | WAITERS {
                    continue;
                }
                return LockWait::NoSuchHolder;
            }
            break sleepers.enqueue(key, Some(Pi { tid: me, holder: tid }));
        };
        match self.sleep(sleepers, key, ticket, timeout) {
            // Dequeued by `hand_over` only: the word holds our tid.
            Slept::Dequeued => LockWait::Acquired,
            Slept::Expired => LockWait::Again, // -ETIMEDOUT
        }
    }

    /// `FUTEX_UNLOCK_PI` for the thread with tid `me`: hands the word to its oldest
    /// sleeper, or clears it (flags and all); false (`-EPERM`, `-EINVAL`) if the word
    /// does not hold `me`, or its sleepers wait for another holder.
    fn unlock_pi(&self, word: &AtomicU32, me: u32) -> bool {
        let key = address(word);
        let mut sleepers = self.sleepers.lock().unwrap();
        loop {
            let uval = read(word);
            if uval & TID_MASK != me {
                return false;
            }
            match sleepers.pi_holder(key) {
                Some(holder) if holder != me => return false,
                Some(_) => {
                    if sleepers.hand_over(word, uval, false) {
                        self.woken.notify_all();
                        return true;
                    }
                }
                None => {
                    if cmpxchg(word, uval, 0) {
                        return true;
                    }
                }
            }
        }
    }

    /// A thread of [`KERNEL_DOMAIN`] now has tid `now`, and none has `before`.
    fn became(&self, before: Option<u32>, now: u32) {
        assert!(now != 0 && now <= ThreadId::TID_MAX, "a tid no thread can have: {now}");
        let mut sleepers = self.sleepers.lock().unwrap();
        sleepers.running.retain(|t| Some(*t) != before && *t != now);
        sleepers.running.push(now);
        sleepers.exited.retain(|t| t.0 != now);
    }

    /// The liveness of the thread of [`KERNEL_DOMAIN`] with tid `tid`: `None` if
    /// the kernel never knew it.
    fn liveness(&self, tid: u32) -> Option<Liveness> {
        let sleepers = self.sleepers.lock().unwrap();
        if sleepers.running.contains(&tid) {
            return Some(Liveness::Alive);
        }
        sleepers.exited.iter().find(|t| t.0 == tid).map(|t| if t.1 { Liveness::Dead } else { Liveness::Unknown })
    }

    /// The thread with tid `me` exits (`exit_pi_state_list`): each lock word whose
    /// sleepers wait for it goes to its oldest sleeper, with the owner-died bit; no
    /// thread has its tid any more. A word it holds with nobody asleep keeps its tid.
    fn exit(&self, me: u32, seen: bool) {
        let mut sleepers = self.sleepers.lock().unwrap();
        sleepers.running.retain(|t| *t != me);
        sleepers.exited.push((me, seen));
        let mut keys: Vec<usize> =
            sleepers.queue.iter().filter(|s| s.pi.is_some_and(|pi| pi.holder == me)).map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        for &key in &keys {
            // SAFETY: `key` is the address of a lock word a thread sleeps on in
            // `lock_pi` (a `lock_wait` sleeper: `pi` is set), which holds the
            // `&AtomicU32` it was given until it returns, and it returns only once
            // dequeued, which happens here, under the lock we hold; the reference
            // is not used past that.
            let word = unsafe { &*(key as *const AtomicU32) };
            while !sleepers.hand_over(word, read(word), true) {}
        }
        if !keys.is_empty() {
            self.woken.notify_all();
        }
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
        // The kernel refuses (-EINVAL) to wake a word with `lock_wait` sleepers.
        assert!(sleepers.pi_holder(key).is_none(), "FUTEX_WAKE on a lock word with sleepers");
        let mut woken = 0;
        sleepers.queue.retain(|s| {
            let wake = s.key == key && woken < count;
            woken += wake as u32;
            !wake
        });
        if woken > 0 {
            self.woken.notify_all();
        }
    }
}

/// The current thread, in [`KERNEL_DOMAIN`], exits, as far as the emulated kernel
/// knows: the lock words it holds with sleepers go to them, marked owner-died, no
/// thread has its tid any more (a `lock_wait` on a word it still holds returns
/// `NoSuchHolder`), and its thread is dead ([`Platform::thread_liveness`]), until
/// a thread plays its process again ([`become_process`]). Outside the domain, the
/// kernel knows nothing of the thread: nothing happens.
pub(crate) fn exit_thread() {
    if DOMAIN.with(Cell::get) != 0 {
        FUTEX.exit(my_tid(), true);
    }
}

/// As [`exit_thread`], but the platform cannot tell that the thread is dead:
/// `thread_liveness` answers `Unknown` for it (as Linux may for a thread it cannot
/// inspect), so only the kernel (`NoSuchHolder`, a hand-over) gives its lock away.
pub(crate) fn vanish_thread() {
    if DOMAIN.with(Cell::get) != 0 {
        FUTEX.exit(my_tid(), false);
    }
}

/// The models' platform: processes are loom threads, [`DEAD`] is dead, waiting goes
/// through [`FUTEX`] (and, for the threads in [`KERNEL_DOMAIN`], locking too), crash
/// points are counted per thread.
pub(crate) struct Model;

// SAFETY: each loom thread plays one fixed process (`play`, `become_process`), and
// only the model's dead process is reported dead. A thread is its process: the
// thread identity is the process number (tid and id), one process is played by one
// thread at a time in the models that lock a `Mutex` (the segment models, which
// run two threads as one process, never ask for a thread), and the main thread
// changes process only where the simulation's thread of the old one is gone.
// `lock_wait` returns `Acquired` only once the futex wrote the caller's tid into
// the word (a compare-exchange from a free word, or a hand-over to it as the
// oldest sleeper, under the bucket lock), `NoSuchHolder` only for a tid no running
// thread of the domain has, and `unlock_wake` releases only a word holding the
// caller's tid. A thread of the domain is reported dead only once it exited
// (`exit_thread`; not even then after `vanish_thread`), a thread outside it only
// if its process is the dead one.
unsafe impl Platform for Model {
    const THREADS: bool = true;

    fn current_thread() -> ThreadId {
        let me = ME.with(Cell::get);
        ThreadId::new(me as u32, me).expect("a loom thread that plays no process")
    }

    /// A holder outside the lock's domain (tid 0): its process's liveness. One in
    /// [`KERNEL_DOMAIN`] is alive while its thread runs, dead once it exited
    /// ([`exit_thread`]; unknown after [`vanish_thread`]), whatever its process.
    fn thread_liveness(thread: ThreadId) -> Liveness {
        let process = Self::liveness(ProcessId::new(thread.id()).expect("a thread of a process"));
        match thread.tid() {
            0 => process,
            _ => FUTEX.liveness(thread.id() as u32).unwrap_or(process),
        }
    }

    fn lock_domain() -> u32 {
        DOMAIN.with(Cell::get)
    }

    fn lock_wait(word: &AtomicU32, timeout: Option<Duration>) -> LockWait {
        match DOMAIN.with(Cell::get) {
            0 => LockWait::Unsupported,
            _ => FUTEX.lock_pi(word, my_tid(), timeout),
        }
    }

    fn unlock_wake(word: &AtomicU32) -> bool {
        DOMAIN.with(Cell::get) != 0 && FUTEX.unlock_pi(word, my_tid())
    }

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
    // Each outcome, and how many executions ended in it.
    let seen = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
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
            *seen.lock().unwrap().entry(outcome).or_default() += 1;
        });
    }
    let seen = seen.lock().unwrap();
    // Shown with `--nocapture`: the executions behind each outcome.
    std::println!("outcomes (executions): {seen:?}");
    for outcome in seen.keys() {
        assert!(expected.contains(&outcome.as_str()), "unexpected outcome {outcome:?}; seen {seen:?}");
    }
    if bound.is_none_or(|b| b >= 3) {
        for outcome in expected {
            assert!(seen.contains_key(*outcome), "outcome {outcome:?} was never explored; seen {seen:?}");
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
    spawn(false, pid, expiries, shared, f)
}

/// As [`spawn_as`], with the thread in [`KERNEL_DOMAIN`] ([`use_kernel`]).
pub(crate) fn spawn_in_kernel<S: Send + Sync + 'static, R: Send + 'static>(
    pid: u64,
    expiries: u32,
    shared: &loom::sync::Arc<S>,
    f: impl FnOnce(&S) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    spawn(true, pid, expiries, shared, f)
}

fn spawn<S: Send + Sync + 'static, R: Send + 'static>(
    kernel: bool,
    pid: u64,
    expiries: u32,
    shared: &loom::sync::Arc<S>,
    f: impl FnOnce(&S) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let shared = shared.clone();
    thread::spawn(move || {
        become_process(pid, expiries);
        if kernel {
            use_kernel();
        }
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
