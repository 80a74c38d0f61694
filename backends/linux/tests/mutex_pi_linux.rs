//! The `Mutex` on a priority-inheritance futex word (src/sync/mutex.rs), with real
//! threads and processes on Linux: a blocked `lock` costs no wake-ups, a thread that
//! exits holding the lock is reported while its process lives, locking twice from
//! one thread is `Deadlock`, a holder in another pid namespace is waited for and
//! never judged dead, a dead holder's tid on an unrelated live process delays a
//! waiter by a bounded time only, hostile lock words give an answer within a
//! bounded time, and a holder killed while a thread sleeps in the kernel on its
//! lock is never also taken over by `try_lock` or `lock_timeout`.
//!
//! Children are this test binary re-executed with a role (see `linux_support`); the
//! pid-namespace tests fork a grandchild that is pid 1 of a new pid namespace with
//! its own `/proc`. Every wait is bounded (a hang fails the test instead of
//! hanging it), every child is killed on the way out, and `/dev/shm` is left as it
//! was found. A test that lacks a privilege prints one `SKIPPED:` line.
//!
//! Some tests forge the mutex's first fields through their addresses: `Mutex` is
//! `#[repr(C)]` with the lock word (`u32`) at offset 0, its lock domain (`u32`) at
//! 4 and its holder's identity (`u64`) at 8; [`check_layout`] confirms that on a
//! real lock before any forgery.
#![cfg(target_os = "linux")]

mod linux_support;

use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use linux_support::{role, Control, Scope, BOUND};
use shmptr::{Liveness, Platform, ThreadId};
use shmptr_linux::{ErrorKind, Linux, Mutex, MutexGuard, Shared};

// ---------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------

/// The lock word's tid bits, and its flags (src/sync/mutex.rs).
const TID_MASK: u32 = 0x3fff_ffff;
const OWNER_DIED: u32 = 1 << 30;
const WAITERS: u32 = 1 << 31;
/// What a holder outside the mutex's lock domain stores as its tid.
const FOREIGN: u32 = TID_MASK;

/// The variables `linux_support` reads in a re-executed child.
const ROLE: &str = "SHMPTR_TEST_ROLE";
const PREFIX: &str = "SHMPTR_TEST_PREFIX";

/// How long a single step of these tests may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(10);

type M = Mutex<u32>;

/// The mutex's first three fields, as atomics at their addresses.
struct Raw<'a> {
    word: &'a AtomicU32,
    domain: &'a AtomicU32,
    holder: &'a AtomicU64,
}

/// The lock word, domain and holder of `m`.
fn raw(m: &M) -> Raw<'_> {
    const _: () = assert!(std::mem::align_of::<M>() >= 8 && std::mem::size_of::<M>() >= 16);
    let base = (m as *const M).cast::<u8>();
    // SAFETY: `Mutex` is `#[repr(C)]` and starts with `word: AtomicU32` (offset 0),
    // `domain: AtomicU32` (4) and `holder: AtomicU64` (8) (src/sync/mutex.rs,
    // confirmed by `check_layout`); the mutex is at least 16 bytes and 8-aligned
    // (asserted above). These references alias those atomic fields, which are only
    // ever accessed atomically, for no longer than `m` is borrowed.
    unsafe {
        Raw {
            word: &*base.cast::<AtomicU32>(),
            domain: &*base.add(4).cast::<AtomicU32>(),
            holder: &*base.add(8).cast::<AtomicU64>(),
        }
    }
}

/// Writes the three fields of `m` (which nobody holds or waits on), holder first.
fn forge(m: &M, word: u32, domain: u32, holder: u64) {
    let r = raw(m);
    r.domain.store(domain, Ordering::SeqCst);
    r.holder.store(holder, Ordering::SeqCst);
    r.word.store(word, Ordering::SeqCst);
}

/// Locks `m` (free) on this thread and checks that the fields sit where [`raw`]
/// reads them: our tid in the word, our lock domain, our identity as holder.
fn check_layout(m: &M) {
    let guard = m.lock().expect("a free mutex");
    let r = raw(m);
    // SAFETY: gettid(2) has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    let me = Linux::current_thread();
    assert_eq!(r.word.load(Ordering::SeqCst), tid, "the lock word at offset 0 holds the holder's tid");
    assert_eq!(r.domain.load(Ordering::SeqCst), Linux::lock_domain(), "the domain at offset 4");
    assert_ne!(Linux::lock_domain(), 0, "this process has a lock domain (a complete identity)");
    assert_eq!(r.holder.load(Ordering::SeqCst), me.id(), "the holder's identity at offset 8");
    assert_eq!(me.tid(), tid);
    drop(guard);
    assert_eq!(r.word.load(Ordering::SeqCst), 0);
    assert_eq!(r.holder.load(Ordering::SeqCst), 0);
}

/// What a lock call gave, its guard dropped: the value, or the error's kind and
/// the value its guard held (for `OwnerDied`).
type Got = Result<u32, (ErrorKind, Option<u32>)>;

fn got(result: Result<MutexGuard<'_, u32>, shmptr::LockError<'_, u32, Linux>>) -> Got {
    match result {
        Ok(guard) => Ok(*guard),
        Err(e) => {
            let kind = e.kind();
            Err((kind, e.into_guard().map(|guard| *guard)))
        }
    }
}

/// Runs `f` on a thread of its own and returns its result, or fails the test if it
/// gives none within `limit` (the thread, hung, is left behind).
fn bounded<R: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {limit:?}: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the thread panicked (its message is above)"),
    }
}

/// Joins `handle`, failing the test if it has not finished within `limit`.
fn join_within<R>(handle: JoinHandle<R>, limit: Duration, what: &str) -> R {
    let deadline = Instant::now() + limit;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "{what}: not finished within {limit:?}: a hang");
        std::thread::sleep(Duration::from_millis(1));
    }
    handle.join().unwrap_or_else(|_| panic!("{what}: the thread panicked (its message is above)"))
}

/// Waits (at most `limit`) until `done` holds.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Waits (bounded) until the thread `tid` is gone from `/proc` (fully exited, not
/// just past the join's tid wake-up).
fn wait_gone(tid: u32) {
    wait_until(HANG, &format!("thread {tid} to leave /proc"), || std::fs::metadata(format!("/proc/{tid}")).is_err());
}

/// The calling thread's context switches, voluntary and involuntary.
fn context_switches() -> u64 {
    let usage = thread_usage();
    (usage.ru_nvcsw + usage.ru_nivcsw) as u64
}

/// The CPU time the calling thread has used.
fn cpu_time() -> Duration {
    let usage = thread_usage();
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn thread_usage() -> libc::rusage {
    // SAFETY: `rusage` is plain integers, valid all-zero; getrusage(2) fills it
    // for the calling thread.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0, "{}", io::Error::last_os_error());
        usage
    }
}

/// A thread that exited: its tid and its identity, as the holder field of a mutex
/// it locked recorded it (checked against `Linux::current_thread`). Returns once
/// the thread is gone from `/proc` and judged dead.
fn dead_thread(probe: &M) -> (u32, u64) {
    let (tid, id) = std::thread::scope(|s| {
        s.spawn(|| {
            let guard = probe.lock().expect("a free mutex");
            let r = raw(probe);
            let (tid, id) = (r.word.load(Ordering::SeqCst), r.holder.load(Ordering::SeqCst));
            let me = Linux::current_thread();
            assert_eq!((tid, id), (me.tid(), me.id()), "the holder fields name the locking thread");
            drop(guard);
            (tid, id)
        })
        .join()
        .unwrap()
    });
    wait_gone(tid);
    let thread = ThreadId::new(tid, id).unwrap();
    assert_eq!(Linux::thread_liveness(thread), Liveness::Dead, "an exited thread is judged dead");
    (tid, id)
}

/// A child this test started, with its exit status available: SIGKILLed and
/// reaped on drop if still running.
struct Proc {
    child: Option<Child>,
    what: String,
}

impl Proc {
    /// Starts this test binary again as `role` of `test`.
    fn spawn(scope: &Scope, test: &str, role: &str) -> Proc {
        let child = Command::new(std::env::current_exe().expect("the test binary's path"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(PREFIX, &scope.prefix)
            .stdout(Stdio::null())
            .spawn()
            .expect("re-executing the test binary");
        Proc { child: Some(child), what: format!("the {role} child") }
    }

    /// The exit status, if it has exited (reaped then).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap();
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Waits (bounded) for the exit status.
    fn status(mut self) -> ExitStatus {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not finish within {BOUND:?}", self.what);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits (bounded) until `word` is at least `value`, or the child exits: its
    /// exit status then.
    fn ready_or_exit(&mut self, word: &AtomicU32, value: u32) -> Option<ExitStatus> {
        let deadline = Instant::now() + BOUND;
        loop {
            if word.load(Ordering::Acquire) >= value {
                return None;
            }
            if let Some(status) = self.exited() {
                return Some(status);
            }
            assert!(Instant::now() < deadline, "waited {BOUND:?} for {}", self.what);
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A process killed and reaped on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------
// 1. A blocked lock costs nothing while it waits.
// ---------------------------------------------------------------------------------

/// A thread blocked in `lock` on a holder in another process sleeps in the kernel:
/// at most 10 context switches per second of blocking (counted with
/// `getrusage(RUSAGE_THREAD)` inside the thread), and it gets the lock normally
/// (`Ok`, with the holder's write) once the holder unlocks.
#[test]
fn a_lock_blocked_on_another_process_sleeps_with_at_most_ten_context_switches_a_second() {
    const TEST: &str = "a_lock_blocked_on_another_process_sleeps_with_at_most_ten_context_switches_a_second";
    let scope = Scope::new(TEST);
    let (control_name, m_name) = (scope.name("control"), scope.name("mutex"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let m = Shared::<M>::open(&m_name).unwrap();
        let mut guard = m.lock().unwrap();
        *guard = 7;
        control.ready_then_wait_for_go();
        drop(guard);
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let m = Shared::<M>::create(&m_name, Mutex::new(0)).unwrap();
    let holder = scope.spawn_ready(TEST, "holder", &control.ready);
    let waiter = {
        let m = m.clone();
        std::thread::spawn(move || {
            let before = context_switches();
            let started = Instant::now();
            let result = got(m.lock());
            let blocked = started.elapsed();
            (result, blocked, context_switches() - before)
        })
    };
    // The kernel sets the waiters bit once the waiter sleeps in FUTEX_LOCK_PI2.
    wait_until(HANG, "the waiter to sleep in the kernel", || raw(&m).word.load(Ordering::SeqCst) & WAITERS != 0);
    std::thread::sleep(Duration::from_millis(1500));
    control.go.store(1, Ordering::Release);
    let (result, blocked, switches) = join_within(waiter, HANG, "the waiter");
    holder.succeeds();
    println!("blocked {blocked:?} in lock(): {switches} context switches");
    assert_eq!(result, Ok(7), "the waiter gets the lock, and the holder's write, after the unlock");
    assert!(blocked >= Duration::from_millis(1500), "the waiter blocked for the whole hold: {blocked:?}");
    let allowed = 10.0 * blocked.as_secs_f64();
    assert!(
        switches as f64 <= allowed,
        "a blocked lock() should cost at most 10 context switches a second: {switches} in {blocked:?}"
    );
    assert_eq!(raw(&m).word.load(Ordering::SeqCst), 0, "free again, no flag left");
}

// ---------------------------------------------------------------------------------
// 2. A thread that dies holding the lock while its process lives.
// ---------------------------------------------------------------------------------

/// A thread that exits holding the lock, while its process lives on, hands it to a
/// waiter already asleep in the kernel: the waiter gets `OwnerDied` with the guard
/// and the holder's half update; repaired, the mutex is usable again.
#[test]
fn a_thread_exiting_while_holding_hands_the_lock_to_a_sleeping_waiter_as_owner_died() {
    let scope = Scope::new("a_thread_exiting_while_holding_hands_the_lock_to_a_sleeping_waiter_as_owner_died");
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    check_layout(&m);
    let (locked_tx, locked_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let holder = {
        let m = m.clone();
        std::thread::spawn(move || {
            let mut guard = m.lock().unwrap();
            *guard = 7; // half an update
            locked_tx.send(()).unwrap();
            let _ = exit_rx.recv_timeout(HANG);
            std::mem::forget(guard); // the thread ends holding the lock
        })
    };
    locked_rx.recv_timeout(HANG).expect("the holder locked");
    let holder_tid = raw(&m).word.load(Ordering::SeqCst) & TID_MASK;
    let waiter = {
        let m = m.clone();
        std::thread::spawn(move || {
            let error = m.lock().expect_err("the holder died holding it");
            let kind = error.kind();
            let Some(mut guard) = error.into_guard() else { return (kind, None, got(m.try_lock())) };
            let value = *guard;
            *guard = 8;
            MutexGuard::make_consistent(&mut guard);
            drop(guard);
            (kind, Some(value), got(m.lock()))
        })
    };
    wait_until(HANG, "the waiter to sleep in the kernel", || raw(&m).word.load(Ordering::SeqCst) & WAITERS != 0);
    exit_tx.send(()).unwrap();
    join_within(holder, HANG, "the holder thread");
    let (kind, value, after) = join_within(waiter, HANG, "the waiter");
    assert_eq!(kind, ErrorKind::OwnerDied, "the kernel handed over a dead thread's lock");
    assert_eq!(value, Some(7), "with the guard and the dead holder's write");
    assert_eq!(after, Ok(8), "repaired, the mutex locks normally");
    wait_gone(holder_tid);
    assert_eq!(got(m.try_lock()), Ok(8));
}

/// A thread that exited holding the lock with nobody waiting (its process lives on)
/// is reported too: `try_lock` is `OwnerDied` at once, and so is `lock` (each on a
/// fresh mutex), both with the guard and the dead holder's write.
#[test]
fn a_thread_that_exited_holding_with_nobody_waiting_is_owner_died_for_try_lock_and_lock() {
    let scope = Scope::new("a_thread_that_exited_holding_with_nobody_waiting_is_owner_died_for_try_lock_and_lock");
    for (i, op) in ["try_lock", "lock"].into_iter().enumerate() {
        let m = Shared::<M>::create(&scope.name(&format!("mutex{i}")), Mutex::new(0)).unwrap();
        check_layout(&m);
        let tid = std::thread::scope(|s| {
            s.spawn(|| {
                let mut guard = m.lock().unwrap();
                *guard = 7;
                std::mem::forget(guard); // the thread ends holding the lock
                Linux::current_thread().tid()
            })
            .join()
            .unwrap()
        });
        wait_gone(tid);
        assert_eq!(raw(&m).word.load(Ordering::SeqCst), tid, "{op}: the word still names the exited thread");
        let handle = m.clone();
        let (result, took) = bounded(HANG, op, move || {
            let started = Instant::now();
            let result = match op {
                "try_lock" => handle.try_lock(),
                _ => handle.lock(),
            };
            (got(result), started.elapsed())
        });
        println!("{op}: {result:?} after {took:?}");
        assert_eq!(result, Err((ErrorKind::OwnerDied, Some(7))), "{op} on a lock whose holder thread exited");
        assert!(took < Duration::from_secs(3), "{op} took {took:?}");
    }
}

/// Across processes: a thread of a child process exits holding two mutexes while
/// the child's main thread lives on. A waiter here already asleep in the kernel on
/// the first gets `OwnerDied` (the kernel's hand-over), and `try_lock` and `lock`
/// on the others are `OwnerDied` too, all with the guard.
#[test]
fn a_thread_of_a_live_process_that_exits_holding_is_owner_died_in_another_process() {
    const TEST: &str = "a_thread_of_a_live_process_that_exits_holding_is_owner_died_in_another_process";
    let scope = Scope::new(TEST);
    let names = [scope.name("m0"), scope.name("m1"), scope.name("m2")];
    let control_name = scope.name("control");
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let ms: Vec<_> = names.iter().map(|n| Shared::<M>::open(n).unwrap()).collect();
        std::thread::scope(|s| {
            s.spawn(|| {
                let guards: Vec<_> = ms
                    .iter()
                    .map(|m| {
                        let mut guard = m.lock().unwrap();
                        *guard = 7;
                        guard
                    })
                    .collect();
                control.ready_then_wait_for_go();
                std::mem::forget(guards); // the thread ends holding all three
            });
        });
        control.done.store(1, Ordering::Release);
        // The main thread lives on until the parent is done.
        linux_support::wait_for(&control.go, 2);
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let ms: Vec<_> = names.iter().map(|n| Shared::<M>::create(n, Mutex::new(0)).unwrap()).collect();
    check_layout(&ms[0]);
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let tid = raw(&ms[0]).word.load(Ordering::SeqCst) & TID_MASK;
    assert_ne!(tid, kid.pid(), "the holder is not the child's main thread");
    let waiter = {
        let m = ms[0].clone();
        std::thread::spawn(move || got(m.lock()))
    };
    wait_until(HANG, "the waiter to sleep in the kernel", || raw(&ms[0]).word.load(Ordering::SeqCst) & WAITERS != 0);
    control.go.store(1, Ordering::Release);
    let handed = join_within(waiter, HANG, "the waiter");
    linux_support::wait_for(&control.done, 1);
    wait_gone(tid);
    let state = std::fs::read_to_string(format!("/proc/{}/stat", kid.pid())).unwrap_or_default();
    let alive = state.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']));
    assert!(alive, "the child process lives on: {state}");
    let (m1, m2) = (ms[1].clone(), ms[2].clone());
    let tried = bounded(HANG, "try_lock", move || got(m1.try_lock()));
    let locked = bounded(HANG, "lock", move || got(m2.lock()));
    control.go.store(2, Ordering::Release);
    kid.succeeds();
    assert_eq!(handed, Err((ErrorKind::OwnerDied, Some(7))), "the waiter asleep in the kernel");
    assert_eq!(tried, Err((ErrorKind::OwnerDied, Some(7))), "try_lock with nobody waiting");
    assert_eq!(locked, Err((ErrorKind::OwnerDied, Some(7))), "lock with nobody waiting");
}

// ---------------------------------------------------------------------------------
// 3. Locking twice from one thread.
// ---------------------------------------------------------------------------------

/// Locking again from the thread that holds the lock is `Deadlock` for `lock`,
/// `try_lock` and `lock_timeout`, at once and not a hang, however the lock was
/// taken; another thread of the same process gets `Busy` and `Timeout`, never
/// `Deadlock`; and the holder's unlock then frees the mutex as usual.
#[test]
fn locking_twice_from_one_thread_is_deadlock_and_another_thread_gets_busy_or_timeout() {
    let scope = Scope::new("locking_twice_from_one_thread_is_deadlock_and_another_thread_gets_busy_or_timeout");
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    check_layout(&m);
    let handle = m.clone();
    let report = bounded(HANG, "locking twice from one thread", move || {
        let m = &*handle;
        let mut report = Vec::new();
        for how in ["lock", "try_lock", "lock_timeout"] {
            let guard = match how {
                "lock" => m.lock(),
                "try_lock" => m.try_lock(),
                _ => m.lock_timeout(Duration::from_secs(1)),
            }
            .unwrap();
            let started = Instant::now();
            let again = [
                ("lock", got(m.lock())),
                ("try_lock", got(m.try_lock())),
                ("lock_timeout(5 s)", got(m.lock_timeout(Duration::from_secs(5)))),
            ];
            let took = started.elapsed();
            let others = std::thread::scope(|s| {
                s.spawn(|| {
                    [
                        ("try_lock", got(m.try_lock())),
                        ("lock_timeout(50 ms)", got(m.lock_timeout(Duration::from_millis(50)))),
                    ]
                })
                .join()
                .unwrap()
            });
            drop(guard);
            let word_after = raw(m).word.load(Ordering::SeqCst);
            let relocked = got(m.try_lock());
            report.push((how, again, took, others, word_after, relocked));
        }
        report
    });
    for (how, again, took, others, word_after, relocked) in report {
        for (call, result) in again {
            assert_eq!(result, Err((ErrorKind::Deadlock, None)), "held through {how}, then {call} on the same thread");
        }
        assert!(took < Duration::from_secs(1), "held through {how}: the three Deadlocks took {took:?}");
        assert_eq!(others[0], ("try_lock", Err((ErrorKind::Busy, None))), "held through {how}: another thread");
        assert_eq!(
            others[1],
            ("lock_timeout(50 ms)", Err((ErrorKind::Timeout, None))),
            "held through {how}: another thread"
        );
        assert_eq!(word_after, 0, "held through {how}: the unlock frees the word");
        assert_eq!(relocked, Ok(0), "held through {how}: locks again after the unlock");
    }
}

// ---------------------------------------------------------------------------------
// 4. A holder in another pid namespace.
// ---------------------------------------------------------------------------------

/// Exit statuses of the namespace child: it could not make a pid namespace, or its
/// grandchild could not mount its own `/proc` in a private mount namespace.
const NO_PID_NAMESPACE: i32 = 77;
const NO_OWN_PROC: i32 = 78;

/// In a role process: `unshare(CLONE_NEWPID)`, then fork a grandchild, pid 1 of the
/// new pid namespace, that mounts its own `/proc` (in a private mount namespace,
/// so that its identity is complete, of that namespace) and runs `body`. The
/// grandchild's pid, as seen here and by the test process, goes to the control
/// object's `drops`. Exits with the grandchild's status (128 + signal if killed).
fn in_a_new_pid_namespace(scope: &Scope, body: fn(&Scope) -> Result<(), String>) -> ! {
    // SAFETY: unshare(2): only this process's later children are affected.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        skip_with(scope, NO_PID_NAMESPACE);
    }
    // SAFETY: fork(2) in a re-executed role process whose other thread is the test
    // harness's, blocked waiting for this test; the child runs system calls and
    // Rust code that is fine after fork (it allocates, as glibc allows) and ends
    // with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(|| grandchild(scope, body)).unwrap_or(1);
        // SAFETY: _exit(2) ends the forked child at once, running nothing else.
        unsafe { libc::_exit(code) }
    }
    let control = Shared::<Control>::open(&scope.name("control")).unwrap();
    control.drops.store(pid as u32, Ordering::Release);
    drop(control);
    let mut status = 0;
    // SAFETY: waitpid(2) on our own child with a valid status pointer. Unbounded
    // here: the test process kills this process if it hangs, and the grandchild
    // then dies of its parent-death signal.
    let got = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(got, pid, "waitpid: {}", io::Error::last_os_error());
    std::process::exit(match libc::WIFEXITED(status) {
        true => libc::WEXITSTATUS(status),
        false => 128 + libc::WTERMSIG(status),
    })
}

/// Records the last OS error in the control object's `done` (the test process
/// prints it in its one `SKIPPED:` line) and exits with `status`, printing nothing.
fn skip_with(scope: &Scope, status: i32) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    if let Ok(control) = Shared::<Control>::open(&scope.name("control")) {
        control.done.store(errno as u32, Ordering::Release);
    }
    // SAFETY: _exit(2) ends this process (a role process or its forked child) at
    // once, running nothing else.
    unsafe { libc::_exit(status) }
}

/// The grandchild's life: its own `/proc`, then `body`; its exit status.
fn grandchild(scope: &Scope, body: fn(&Scope) -> Result<(), String>) -> i32 {
    // SAFETY: prctl(2), unshare(2) and mount(2) with static NUL-terminated strings.
    let setup = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0
            && libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), 0, std::ptr::null()) == 0
    };
    if !setup {
        skip_with(scope, NO_OWN_PROC);
    }
    if std::process::id() != 1 {
        eprintln!("[grandchild] pid {} in the new namespace, not 1", std::process::id());
        return 1;
    }
    match body(scope) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("[grandchild] {why}");
            1
        }
    }
}

/// In the test process: starts `role` (which calls [`in_a_new_pid_namespace`]) and
/// waits until its grandchild sets `ready`; `None` after printing one `SKIPPED:`
/// line if namespaces cannot be had.
fn start_in_a_new_pid_namespace(scope: &Scope, test: &str, role: &str, control: &Control) -> Option<Proc> {
    let mut kid = Proc::spawn(scope, test, role);
    match kid.ready_or_exit(&control.ready, 1) {
        None => Some(kid),
        Some(status) => match status.code() {
            Some(code @ (NO_PID_NAMESPACE | NO_OWN_PROC)) => {
                let why = io::Error::from_raw_os_error(control.done.load(Ordering::Acquire) as i32);
                match code {
                    NO_PID_NAMESPACE => println!("SKIPPED: cannot unshare(CLONE_NEWPID) in a child: {why}"),
                    _ => println!("SKIPPED: cannot mount a procfs of its own in a new pid namespace: {why}"),
                }
                None
            }
            _ => panic!("the namespace child failed before it was ready: {status} (its message is above)"),
        },
    }
}

/// The liveness this process finds for a holder identity read from a mutex.
fn liveness_of_holder(id: u64) -> Liveness {
    Linux::thread_liveness(ThreadId::new(1, id).expect("a holder identity"))
}

/// A holder in another pid namespace (pid 1 there, with its own `/proc`) locks a
/// mutex whose lock domain is this namespace: it stores the foreign tid, this
/// process judges it neither dead nor alive (`Unknown`), and a waiter here gets
/// the lock (`Ok`, with the holder's write, never `OwnerDied`) once it unlocks.
#[test]
fn a_holder_in_another_pid_namespace_is_waited_for_and_its_unlock_lets_a_waiter_in() {
    const TEST: &str = "a_holder_in_another_pid_namespace_is_waited_for_and_its_unlock_lets_a_waiter_in";
    let scope = Scope::new(TEST);
    if role().is_some() {
        in_a_new_pid_namespace(&scope, |scope| {
            let control = Shared::<Control>::open(&scope.name("control")).map_err(|e| e.to_string())?;
            let m = Shared::<M>::open(&scope.name("mutex")).map_err(|e| e.to_string())?;
            let mut guard = m.lock().map_err(|e| format!("lock: {e}"))?;
            *guard = 7;
            let word = raw(&m).word.load(Ordering::SeqCst);
            if word != FOREIGN {
                return Err(format!("holding a mutex of another lock domain, the word is {word:#x}, not FOREIGN"));
            }
            control.ready.store(1, Ordering::Release);
            std::thread::sleep(Duration::from_secs(1));
            drop(guard);
            Ok(())
        });
    }
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    check_layout(&m); // locked and unlocked once: the mutex's domain is ours
    let Some(kid) = start_in_a_new_pid_namespace(&scope, TEST, "holder", &control) else { return };
    let r = raw(&m);
    assert_eq!(r.word.load(Ordering::SeqCst), FOREIGN, "the holder in another pid namespace stores the foreign tid");
    assert_eq!(r.domain.load(Ordering::SeqCst), Linux::lock_domain(), "the domain stays ours");
    let holder = r.holder.load(Ordering::SeqCst);
    assert_eq!(liveness_of_holder(holder), Liveness::Unknown, "a holder in another pid namespace cannot be judged");
    let handle = m.clone();
    let (result, waited) = bounded(HANG, "the waiter", move || {
        let started = Instant::now();
        (got(handle.lock_timeout(Duration::from_secs(8))), started.elapsed())
    });
    let status = kid.status();
    println!("waited {waited:?} for the holder in another pid namespace");
    assert_eq!(result, Ok(7), "the waiter gets the lock once the foreign holder unlocks (never OwnerDied)");
    assert!(waited >= Duration::from_millis(500), "it did wait for the holder: {waited:?}");
    assert!(status.success(), "the namespace child: {status} (its message is above)");
}

/// A holder in another pid namespace that is SIGKILLed holding the lock is never
/// judged dead from here (its liveness is `Unknown`): a waiter blocked across its
/// death, and later `lock_timeout`s, end in `Timeout`, and `try_lock` is `Busy`,
/// never `OwnerDied`. The lock is leaked, by design: a leak, never a live holder
/// misjudged dead. (Its handles on the objects leak likewise: the test removes the
/// files.)
#[test]
fn a_killed_holder_in_another_pid_namespace_is_never_judged_dead_only_timed_out() {
    const TEST: &str = "a_killed_holder_in_another_pid_namespace_is_never_judged_dead_only_timed_out";
    let scope = Scope::new(TEST);
    if role().is_some() {
        in_a_new_pid_namespace(&scope, |scope| {
            let control = Shared::<Control>::open(&scope.name("control")).map_err(|e| e.to_string())?;
            let m = Shared::<M>::open(&scope.name("mutex")).map_err(|e| e.to_string())?;
            let _guard = m.lock().map_err(|e| format!("lock: {e}"))?;
            control.ready.store(1, Ordering::Release);
            linux_support::wait_for(&control.go, 1); // killed first
            Err("not killed".to_owned())
        });
    }
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    check_layout(&m);
    let Some(kid) = start_in_a_new_pid_namespace(&scope, TEST, "holder", &control) else { return };
    assert_eq!(raw(&m).word.load(Ordering::SeqCst), FOREIGN, "the foreign holder stores the foreign tid");
    let holder = raw(&m).holder.load(Ordering::SeqCst);
    wait_until(HANG, "the grandchild's pid", || control.drops.load(Ordering::Acquire) != 0);
    let grandchild = control.drops.load(Ordering::Acquire) as i32;
    let handle = m.clone();
    let across_death = std::thread::spawn(move || got(handle.lock_timeout(Duration::from_millis(2500))));
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2): the grandchild, pid 1 of its namespace; SIGKILL from an
    // ancestor namespace is delivered.
    assert_eq!(unsafe { libc::kill(grandchild, libc::SIGKILL) }, 0, "{}", io::Error::last_os_error());
    let status = kid.status(); // the namespace child reaped the grandchild
    assert_eq!(status.code(), Some(128 + libc::SIGKILL), "the grandchild died of SIGKILL");
    assert_eq!(liveness_of_holder(holder), Liveness::Unknown, "a dead holder of another pid namespace stays Unknown");
    let blocked_across = join_within(across_death, HANG, "the waiter blocked across the holder's death");
    let handle = m.clone();
    let later =
        bounded(HANG, "lock_timeout after the death", move || got(handle.lock_timeout(Duration::from_millis(1200))));
    let handle = m.clone();
    let tried = bounded(HANG, "try_lock after the death", move || got(handle.try_lock()));
    assert_eq!(blocked_across, Err((ErrorKind::Timeout, None)), "a waiter blocked across the foreign holder's death");
    assert_eq!(later, Err((ErrorKind::Timeout, None)), "lock_timeout after the foreign holder's death");
    assert_eq!(tried, Err((ErrorKind::Busy, None)), "try_lock after the foreign holder's death");
    assert_eq!(raw(&m).word.load(Ordering::SeqCst), FOREIGN, "the lock is leaked, as documented");
    drop((m, control));
    for name in scope.leftovers() {
        // The dead grandchild's handles cannot be reclaimed from here either.
        std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    }
}

/// A mutex first locked in another pid namespace has that namespace as its lock
/// domain; from here it works both ways: this process (foreign to it now) waits
/// for that holder (whose word holds tid 1, a number that means our init here) and
/// gets `Ok` once it unlocks, and that holder waits for us and gets `Ok` after our
/// unlock.
#[test]
fn a_mutex_first_locked_in_another_pid_namespace_works_both_ways_from_this_one() {
    const TEST: &str = "a_mutex_first_locked_in_another_pid_namespace_works_both_ways_from_this_one";
    let scope = Scope::new(TEST);
    if role().is_some() {
        in_a_new_pid_namespace(&scope, |scope| {
            let control = Shared::<Control>::open(&scope.name("control")).map_err(|e| e.to_string())?;
            let m = Shared::<M>::open(&scope.name("mutex")).map_err(|e| e.to_string())?;
            drop(m.lock().map_err(|e| format!("first lock: {e}"))?);
            let domain = raw(&m).domain.load(Ordering::SeqCst);
            if domain == 0 || domain != Linux::lock_domain() {
                return Err(format!(
                    "the first locker's domain is {domain:#x}, not its own {:#x}",
                    Linux::lock_domain()
                ));
            }
            let mut guard = m.lock().map_err(|e| format!("lock: {e}"))?;
            *guard = 7;
            let word = raw(&m).word.load(Ordering::SeqCst);
            if word != 1 {
                return Err(format!("pid 1 of its domain holds the word as {word:#x}, not 1"));
            }
            control.ready.store(1, Ordering::Release);
            std::thread::sleep(Duration::from_secs(1));
            drop(guard);
            linux_support::wait_for(&control.go, 1); // the test process holds it now
            let word = raw(&m).word.load(Ordering::SeqCst);
            if word & TID_MASK != FOREIGN {
                return Err(format!("the test process holds it as {word:#x}, not FOREIGN"));
            }
            match got(m.lock_timeout(Duration::from_secs(8))) {
                Ok(8) => Ok(()),
                other => Err(format!("waiting for the test process's unlock: {other:?}, not Ok(8)")),
            }
        });
    }
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    let Some(kid) = start_in_a_new_pid_namespace(&scope, TEST, "first", &control) else { return };
    let r = raw(&m);
    let domain = r.domain.load(Ordering::SeqCst);
    assert!(domain != 0 && domain != Linux::lock_domain(), "the domain is the other namespace's: {domain:#x}");
    assert_eq!(r.word.load(Ordering::SeqCst), 1, "the holder's own tid (pid 1 of its namespace)");
    assert_eq!(liveness_of_holder(r.holder.load(Ordering::SeqCst)), Liveness::Unknown);
    let handle = m.clone();
    let (result, waited) = bounded(HANG, "the waiter", move || {
        let started = Instant::now();
        let result = match handle.lock_timeout(Duration::from_secs(8)) {
            Ok(mut guard) => {
                let value = *guard;
                let word = raw(&handle).word.load(Ordering::SeqCst);
                *guard = 8;
                control.go.store(1, Ordering::Release);
                std::thread::sleep(Duration::from_millis(300)); // the grandchild waits for us
                drop(guard);
                Ok((value, word))
            }
            Err(e) => Err(e.kind()),
        };
        (result, started.elapsed())
    });
    let status = kid.status();
    println!("waited {waited:?} for the holder that owns the lock domain");
    assert_eq!(result, Ok((7, FOREIGN)), "the waiter here gets the lock (Ok, never OwnerDied) and holds it as FOREIGN");
    assert!(status.success(), "the namespace child (waiting for us in turn): {status} (its message is above)");
}

// ---------------------------------------------------------------------------------
// 5. A dead holder's tid on an unrelated live process.
// ---------------------------------------------------------------------------------

/// A dead holder whose tid now names an unrelated live process (as when the tid is
/// reused) keeps a waiter asleep a bounded time only: `lock` re-judges the holder
/// after each second asleep in the kernel and takes the lock over (`OwnerDied`)
/// within ~1 s (asserted under 3 s), and `try_lock` at once; the unrelated process
/// is left alone. The holder field names a thread that exited, or, as a reused tid
/// would, the word's own tid with a start time that process does not have.
#[test]
fn a_dead_holders_tid_on_an_unrelated_live_process_delays_lock_by_a_bounded_time() {
    let scope = Scope::new("a_dead_holders_tid_on_an_unrelated_live_process_delays_lock_by_a_bounded_time");
    let mut sleeper = KillOnDrop(Command::new("sleep").arg("30").spawn().expect("starting `sleep 30`"));
    let unrelated = sleeper.0.id();
    let probe = Shared::<M>::create(&scope.name("probe"), Mutex::new(0)).unwrap();
    check_layout(&probe);
    let (dead_tid, dead_id) = dead_thread(&probe);
    assert_ne!(dead_tid, unrelated);

    // The same identity format with the unrelated process's tid: the tid in bits
    // 0-21, the start time (mod 2^11) in bits 52-62 (backends/linux/src/identity.rs).
    let stat = std::fs::read_to_string(format!("/proc/{unrelated}/stat")).unwrap();
    let start: u64 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(19).unwrap().parse().unwrap();
    let with_start =
        |start: u64| (dead_id & !((1 << 22) - 1) & ((1 << 52) - 1)) | u64::from(unrelated) | ((start & 0x7ff) << 52);
    let genuine = ThreadId::new(unrelated, with_start(start)).unwrap();
    let reused = ThreadId::new(unrelated, with_start(start + 1)).unwrap();
    assert_eq!(Linux::thread_liveness(genuine), Liveness::Alive, "the identity format is as assumed (genuine)");
    assert_eq!(Linux::thread_liveness(reused), Liveness::Dead, "the identity format is as assumed (other start)");

    let cases = [("an exited thread", dead_id), ("the word's own tid, reused", reused.id())];
    for (i, (holder, holder_id)) in cases.into_iter().enumerate() {
        for op in ["lock", "try_lock"] {
            let m = Shared::<M>::create(&scope.name(&format!("m{i}{op}")), Mutex::new(7)).unwrap();
            check_layout(&m); // the domain is ours
            forge(&m, unrelated, Linux::lock_domain(), holder_id);
            let handle = m.clone();
            let (result, took) = bounded(HANG, op, move || {
                let started = Instant::now();
                let result = match op {
                    "lock" => handle.lock(),
                    _ => handle.try_lock(),
                };
                (got(result), started.elapsed())
            });
            println!("holder {holder}, word naming live pid {unrelated}: {op} gave {result:?} after {took:?}");
            assert_eq!(result, Err((ErrorKind::OwnerDied, Some(7))), "{op}, holder {holder}");
            // Two sleeps of a second in the kernel at most (the first attaches to
            // the unrelated process and sets the waiters bit), and slack.
            let limit = if op == "lock" { Duration::from_millis(3500) } else { Duration::from_millis(500) };
            assert!(took < limit, "{op}, holder {holder}: took {took:?}, more than {limit:?}");
            assert_eq!(raw(&m).word.load(Ordering::SeqCst), 0, "{op}: the guard's drop freed the word");
        }
    }
    assert!(sleeper.0.try_wait().unwrap().is_none(), "the unrelated process still runs");
}

// ---------------------------------------------------------------------------------
// 6. Hostile lock words.
// ---------------------------------------------------------------------------------

/// What a hostile case may use: the calling thread, our lock domain, a dead
/// thread's identity.
#[derive(Clone, Copy)]
struct Ctx {
    me: ThreadId,
    ours: u32,
    dead: u64,
    /// The test's own thread (alive, not holding), blocked waiting for the case.
    live: ThreadId,
}

/// A forged `(word, domain, holder)`.
type Forgery = fn(Ctx) -> (u32, u32, u64);

/// Garbage in the lock word, domain and holder fields gives `try_lock` and
/// `lock_timeout(200 ms)` an answer within a bounded time: `Ok` or an error
/// (`OwnerDied`, `Corrupt`, `Deadlock`, `Busy`, `Timeout`), never UB or a hang.
/// Each case's outcomes, times and CPU time are printed and in the messages.
#[test]
fn hostile_lock_words_give_try_lock_and_lock_timeout_an_answer_within_a_bounded_time() {
    let scope = Scope::new("hostile_lock_words_give_try_lock_and_lock_timeout_an_answer_within_a_bounded_time");
    let probe = Shared::<M>::create(&scope.name("probe"), Mutex::new(0)).unwrap();
    check_layout(&probe);
    let (_, dead) = dead_thread(&probe);
    let kthreadd = std::fs::read_to_string("/proc/2/comm").unwrap_or_default();
    let live = Linux::current_thread();
    let cases: [(&str, Forgery); 18] = [
        ("a tid no thread has (0x3fff_fff0), no holder", |c| (0x3fff_fff0, c.ours, 0)),
        ("a tid no thread has (0x3fff_fff0), a dead holder", |c| (0x3fff_fff0, c.ours, c.dead)),
        ("WAITERS with tid 0", |c| (WAITERS, c.ours, 0)),
        ("OWNER_DIED only", |c| (OWNER_DIED, c.ours, 0)),
        ("WAITERS | OWNER_DIED with tid 0", |c| (WAITERS | OWNER_DIED, c.ours, 0)),
        ("our own tid while we hold nothing, no holder", |c| (c.me.tid(), c.ours, 0)),
        ("our own tid | WAITERS, no holder", |c| (c.me.tid() | WAITERS, c.ours, 0)),
        ("our own tid and identity (a forged 'me')", |c| (c.me.tid(), c.ours, c.me.id())),
        ("our own tid, a live thread as holder", |c| (c.me.tid(), c.ours, c.live.id())),
        ("a live thread's tid that holds nothing, no holder", |c| (c.live.tid(), c.ours, 0)),
        ("kthreadd's tid (2), no holder", |c| (2, c.ours, 0)),
        ("kthreadd's tid (2), a dead holder", |c| (2, c.ours, c.dead)),
        ("kthreadd's tid (2), holder u64::MAX", |c| (2, c.ours, u64::MAX)),
        ("FOREIGN, no holder", |c| (FOREIGN, c.ours, 0)),
        ("all bits set", |c| (u32::MAX, c.ours, u64::MAX)),
        ("a tid (5) in a mutex with no domain", |_| (5, 0, 0)),
        ("free, in another domain (0xdead_beef)", |_| (0, 0xdead_beef, 0)),
        ("a tid (5) of another domain (0xdead_beef), a dead holder", |c| (5, 0xdead_beef, c.dead)),
    ];
    let allowed = [
        ErrorKind::OwnerDied,
        ErrorKind::Corrupt,
        ErrorKind::Deadlock,
        ErrorKind::Busy,
        ErrorKind::Timeout,
        ErrorKind::NotRecoverable,
    ];
    let timeout = Duration::from_millis(200);
    let mut table = Vec::new();
    for (i, (case, forgery)) in cases.into_iter().enumerate() {
        for op in ["try_lock", "lock_timeout(200 ms)"] {
            let m = Shared::<M>::create(&scope.name(&format!("m{i}.{}", op.len())), Mutex::new(7)).unwrap();
            let handle = m.clone();
            let what = format!("{case}: {op}");
            let (result, took, cpu) = bounded(HANG, &what, move || {
                let ctx = Ctx { me: Linux::current_thread(), ours: Linux::lock_domain(), dead, live };
                let (word, domain, holder) = forgery(ctx);
                forge(&handle, word, domain, holder);
                let (started, cpu_before) = (Instant::now(), cpu_time());
                let result = match op {
                    "try_lock" => handle.try_lock(),
                    _ => handle.lock_timeout(timeout),
                };
                let (took, cpu) = (started.elapsed(), cpu_time() - cpu_before);
                (got(result), took, cpu) // the guard, if any, unlocks here
            });
            let line = format!("{what} -> {result:?} in {took:?} ({cpu:?} CPU)");
            println!("{line}");
            match result {
                Ok(_) => {}
                Err((kind, _)) => assert!(allowed.contains(&kind), "{line}: an unexpected error kind"),
            }
            let limit = match op {
                "try_lock" => Duration::from_millis(500),
                _ => timeout + Duration::from_millis(800),
            };
            assert!(took <= limit, "{line}: more than {limit:?}");
            table.push(line);
        }
    }
    println!("(pid 2 is {})", kthreadd.trim());
    assert_eq!(table.len(), 2 * cases.len());
}

/// A word forged to name the calling thread's own tid, with a live thread of
/// another identity as holder, is waited on asleep, as any live holder is: the
/// kernel answers "your own tid" (`EDEADLK`) at once, the holder is alive, so the
/// waiter must sleep before it looks again, not call the kernel in a loop. Checked
/// through `lock_timeout(500 ms)`: `Timeout` (or another allowed answer) using at
/// most a quarter of the wait in CPU time. (An untimed `lock` on such a word would
/// spin for as long as the word stays.)
#[test]
fn a_forged_word_naming_the_caller_with_a_live_holder_is_waited_on_asleep_not_spinning() {
    let scope = Scope::new("a_forged_word_naming_the_caller_with_a_live_holder_is_waited_on_asleep_not_spinning");
    let m = Shared::<M>::create(&scope.name("mutex"), Mutex::new(0)).unwrap();
    check_layout(&m);
    let live = Linux::current_thread(); // this thread: alive, holding nothing
    let handle = m.clone();
    let wait = Duration::from_millis(500);
    let (result, took, cpu) = bounded(HANG, "lock_timeout on a word naming the caller", move || {
        let me = Linux::current_thread();
        forge(&handle, me.tid(), Linux::lock_domain(), live.id());
        let (started, cpu_before) = (Instant::now(), cpu_time());
        let result = got(handle.lock_timeout(wait));
        (result, started.elapsed(), cpu_time() - cpu_before)
    });
    println!("our tid, a live holder: lock_timeout({wait:?}) -> {result:?} in {took:?}, {cpu:?} CPU");
    assert!(
        matches!(result, Err((ErrorKind::Timeout | ErrorKind::Busy | ErrorKind::Corrupt, None))),
        "never the lock of a live holder: {result:?}"
    );
    assert!(took <= wait + Duration::from_millis(800), "bounded: {took:?}");
    assert!(
        cpu <= wait / 4,
        "BUG: a waiter on a word naming its own tid (a live holder named beside it) spins instead of sleeping: \
         {cpu:?} of CPU in a {took:?} lock_timeout (FUTEX_LOCK_PI2 answers EDEADLK at once, the live holder is \
         not taken over, and the loop calls the kernel again without sleeping; an untimed lock() spins for good)"
    );
}

// ---------------------------------------------------------------------------------
// 7. A holder killed while a thread sleeps in the kernel on its lock.
// ---------------------------------------------------------------------------------

/// What the lockers of [`a_holder_killed_while_a_thread_sleeps_in_the_kernel_on_its_lock_is_never_also_taken_over`]
/// share besides the mutex: which round's mutex to open, the CPUs to pin to, the
/// in-lock flag, and counts.
#[repr(C)]
struct Board {
    /// The round: the lockers open the mutex `m<round>`.
    round: AtomicU32,
    /// The CPU the sleeper and the spinner share, and the trier's.
    shared_cpu: AtomicU32,
    trier_cpu: AtomicU32,
    /// The holder holds the lock; the trier is about to try.
    held: AtomicU32,
    trier_ready: AtomicU32,
    /// How many threads are inside the lock now, and how often one found another
    /// inside.
    inside: AtomicU32,
    overlaps: AtomicU32,
    /// Successful lock calls (each adds 1 to the value under the lock).
    holders: AtomicU32,
    /// Lock calls that gave what they never may (printed by the locker).
    errors: AtomicU32,
    /// 1 + the ErrorKind-or-Ok of each locker's acquisition, for the report.
    sleeper_got: AtomicU32,
    trier_got: AtomicU32,
}
shmptr::shm_safe!(Board {
    round,
    shared_cpu,
    trier_cpu,
    held,
    trier_ready,
    inside,
    overlaps,
    holders,
    errors,
    sleeper_got,
    trier_got
});

impl Board {
    fn new() -> Self {
        let zero = || AtomicU32::new(0);
        Board {
            round: zero(),
            shared_cpu: zero(),
            trier_cpu: zero(),
            held: zero(),
            trier_ready: zero(),
            inside: zero(),
            overlaps: zero(),
            holders: zero(),
            errors: zero(),
            sleeper_got: zero(),
            trier_got: zero(),
        }
    }

    /// Clears everything for round `round`.
    fn reset(&self, round: u32) {
        for field in [
            &self.held,
            &self.trier_ready,
            &self.inside,
            &self.overlaps,
            &self.holders,
            &self.errors,
            &self.sleeper_got,
            &self.trier_got,
        ] {
            field.store(0, Ordering::SeqCst);
        }
        self.round.store(round, Ordering::SeqCst);
    }
}

/// How long each locker holds the lock (read, sleep, write + 1).
const RACE_HOLD: Duration = Duration::from_millis(60);
/// Acquisitions as recorded in `Board::sleeper_got`/`trier_got`.
const GOT_OK: u32 = 1;
const GOT_OWNER_DIED: u32 = 2;

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<u32> {
    // SAFETY: `cpu_set_t` is plain bits, valid all-zero; sched_getaffinity(2) fills
    // it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as u32).filter(|&cpu| libc::CPU_ISSET(cpu as usize, &set)).collect()
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: u32) {
    // SAFETY: as in `allowed_cpus`; sched_setaffinity(2) on the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "pinning to CPU {cpu}: {}", io::Error::last_os_error());
    }
}

/// The lock `result` as a guard (`OwnerDied` repaired) and how it was had, or the
/// error's kind.
fn held_or_kind<'a>(
    result: Result<MutexGuard<'a, u32>, shmptr::LockError<'a, u32, Linux>>,
) -> Result<(MutexGuard<'a, u32>, u32), ErrorKind> {
    match result {
        Ok(guard) => Ok((guard, GOT_OK)),
        Err(e) if e.kind() == ErrorKind::OwnerDied => {
            let mut guard = e.into_guard().expect("OwnerDied comes with the guard");
            MutexGuard::make_consistent(&mut guard);
            Ok((guard, GOT_OWNER_DIED))
        }
        Err(e) => Err(e.kind()),
    }
}

/// Inside the lock: flags itself inside (counting an overlap if another thread
/// is), reads the value, sleeps, writes it + 1, and counts itself a holder.
fn critical_section(board: &Board, guard: &mut MutexGuard<'_, u32>) {
    if board.inside.fetch_add(1, Ordering::SeqCst) != 0 {
        board.overlaps.fetch_add(1, Ordering::SeqCst);
        eprintln!("[{}] inside the lock while another thread is", std::process::id());
    }
    let value = **guard;
    std::thread::sleep(RACE_HOLD);
    **guard = value + 1;
    board.holders.fetch_add(1, Ordering::SeqCst);
    board.inside.fetch_sub(1, Ordering::SeqCst);
}

/// The roles of the race test, in a re-executed child.
fn race_role(scope: &Scope, role: &str) {
    let board = Shared::<Board>::open(&scope.name("board")).unwrap();
    let m = Shared::<M>::open(&scope.name(&format!("m{}", board.round.load(Ordering::SeqCst)))).unwrap();
    match role {
        "holder" => {
            let guard = m.lock().unwrap();
            board.held.store(1, Ordering::SeqCst);
            std::thread::sleep(HANG); // SIGKILLed first
            drop(guard);
        }
        "spinner" => {
            pin_to(board.shared_cpu.load(Ordering::SeqCst));
            let started = Instant::now();
            while started.elapsed() < HANG {
                for _ in 0..100_000 {
                    std::hint::spin_loop();
                }
            }
        }
        "sleeper" => {
            pin_to(board.shared_cpu.load(Ordering::SeqCst));
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: sched_setscheduler(2) on the calling thread, with a valid
            // parameter; lowering one's own policy needs no privilege.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            assert_eq!(rc, 0, "SCHED_IDLE: {}", io::Error::last_os_error());
            match held_or_kind(m.lock()) {
                Ok((mut guard, how)) => {
                    board.sleeper_got.store(how, Ordering::SeqCst);
                    critical_section(&board, &mut guard);
                }
                Err(kind) => {
                    eprintln!("[sleeper] lock() gave {kind:?}");
                    board.errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        "trier-try_lock" | "trier-lock_timeout" => {
            pin_to(board.trier_cpu.load(Ordering::SeqCst));
            board.trier_ready.store(1, Ordering::SeqCst);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                let result = match role {
                    "trier-try_lock" => m.try_lock(),
                    _ => m.lock_timeout(Duration::from_millis(1)),
                };
                match held_or_kind(result) {
                    Ok((mut guard, how)) => {
                        board.trier_got.store(how, Ordering::SeqCst);
                        critical_section(&board, &mut guard);
                        return;
                    }
                    Err(ErrorKind::Busy | ErrorKind::Timeout) => {}
                    Err(kind) => {
                        eprintln!("[{role}] gave {kind:?}");
                        board.errors.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A holder SIGKILLed while a thread of another process sleeps in the kernel on
/// its lock: the kernel hands the lock to that sleeper (`OwnerDied`) when the
/// holder's task exits, so `try_lock` and `lock_timeout` in a third process, which
/// see the dead holder meanwhile, must never also take it over in user space (the
/// review found two holders that way). To make the window wide, the sleeper runs
/// `SCHED_IDLE` on a CPU it shares with a spinning process (it is slow to run once
/// woken), and the trier loops on `try_lock` (even rounds) or `lock_timeout(1 ms)`
/// (odd rounds) on another CPU. Each locker that gets the lock checks an in-lock
/// flag, reads the value, sleeps and writes it + 1: no round may find two inside,
/// and the value must equal the number of holders. Ten rounds at most, within
/// about 8 s; fewer than 2 CPUs: `SKIPPED`.
#[test]
fn a_holder_killed_while_a_thread_sleeps_in_the_kernel_on_its_lock_is_never_also_taken_over() {
    const TEST: &str = "a_holder_killed_while_a_thread_sleeps_in_the_kernel_on_its_lock_is_never_also_taken_over";
    let scope = Scope::new(TEST);
    if let Some(role) = role() {
        race_role(&scope, &role);
        return;
    }
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        println!("SKIPPED: the race needs 2 CPUs, this process may use {cpus:?}");
        return;
    }
    let board = Shared::<Board>::create(&scope.name("board"), Board::new()).unwrap();
    board.shared_cpu.store(cpus[0], Ordering::SeqCst);
    board.trier_cpu.store(cpus[1], Ordering::SeqCst);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut rounds = 0;
    while rounds < 10 && started.elapsed() < Duration::from_secs(8) {
        let round = rounds;
        rounds += 1;
        board.reset(round);
        let m = Shared::<M>::create(&scope.name(&format!("m{round}")), Mutex::new(0)).unwrap();
        let mut holder = Proc::spawn(&scope, TEST, "holder");
        if let Some(status) = holder.ready_or_exit(&board.held, 1) {
            panic!("the holder exited before it locked: {status} (its message is above)");
        }
        let spinner = Proc::spawn(&scope, TEST, "spinner");
        let sleeper = Proc::spawn(&scope, TEST, "sleeper");
        // The kernel sets the waiters bit once the sleeper sleeps in FUTEX_LOCK_PI2.
        wait_until(HANG, "the sleeper to sleep in the kernel", || raw(&m).word.load(Ordering::SeqCst) & WAITERS != 0);
        let trier_role = if round % 2 == 0 { "trier-try_lock" } else { "trier-lock_timeout" };
        let mut trier = Proc::spawn(&scope, TEST, trier_role);
        if let Some(status) = trier.ready_or_exit(&board.trier_ready, 1) {
            panic!("the trier exited before it tried: {status} (its message is above)");
        }
        std::thread::sleep(Duration::from_millis(5)); // the trier is in its loop
        let word_before = raw(&m).word.load(Ordering::SeqCst);
        drop(holder); // SIGKILL, reaped
        std::thread::sleep(Duration::from_millis(100));
        drop(spinner);
        let sleeper_status = sleeper.status();
        let trier_status = trier.status();
        let how = |got: u32| match got {
            GOT_OK => "Ok",
            GOT_OWNER_DIED => "OwnerDied",
            _ => "nothing",
        };
        let (overlaps, holders, errors) = (
            board.overlaps.load(Ordering::SeqCst),
            board.holders.load(Ordering::SeqCst),
            board.errors.load(Ordering::SeqCst),
        );
        let handle = m.clone();
        let value = bounded(HANG, "locking after the round", move || match held_or_kind(handle.lock_timeout(HANG)) {
            Ok((guard, _)) => Ok(*guard),
            Err(kind) => Err(kind),
        });
        let line = format!(
            "round {round} ({trier_role}): word before the kill {word_before:#x}; sleeper {} ({sleeper_status}), \
             trier {} ({trier_status}); {holders} holders, {overlaps} overlaps, value {value:?}",
            how(board.sleeper_got.load(Ordering::SeqCst)),
            how(board.trier_got.load(Ordering::SeqCst)),
        );
        println!("{line}");
        if overlaps != 0 || value != Ok(holders) || errors != 0 || !sleeper_status.success() || !trier_status.success()
        {
            failures.push(line);
        }
    }
    println!("{rounds} rounds in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "BUG: a dead holder's lock, which the kernel hands to the thread asleep on it, was also taken over in user \
         space (two holders, or a lost update):\n{}",
        failures.join("\n")
    );
}
