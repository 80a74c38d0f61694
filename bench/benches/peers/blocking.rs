//! A `lock()` that blocks: what it costs while it waits (the `IDLE` line), and how
//! soon it returns once the holder is killed (`mutex_owner_death_vs_pthread_robust`).
//!
//! A child process (role `hold.<what>`) locks and keeps the lock; a thread of this
//! process then blocks in `lock()`. Both figures are of that thread: its context
//! switches and CPU time while blocked (`getrusage(RUSAGE_THREAD)`,
//! `CLOCK_THREAD_CPUTIME_ID`), and the `CLOCK_MONOTONIC` time from just before the
//! holder's `kill(SIGKILL)` to just after its lock call returns.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use shmptr_linux::{ErrorKind, Mutex, MutexGuard, Shared};

use crate::children::{name, ChildArgs, Control, Kid, HOLD_OURS, HOLD_PEER, RELEASE, STOP};
use crate::harness::{median, Clock, Ratio, Settings};
use crate::posix::PthreadPeer;

/// How long the waiter sleeps in its lock call before the holder is killed (or,
/// for `IDLE`, before its measured stretch): past its few yields, asleep in the
/// kernel.
const SETTLE: Duration = Duration::from_millis(20);

/// How long the holder keeps the lock while `IDLE` watches the waiter.
const IDLE_HOLD: Duration = Duration::from_secs(2);

/// How long a waiter may take to return once it should: longer is reported as a
/// hang (the run fails with what was waited for).
const HANG: Duration = Duration::from_secs(10);

/// The line a worst owner-death wake-up should stay under (printed on stderr).
const WORST_DEATH: Duration = Duration::from_millis(1);

/// A holder child and the objects it locks: ours and the peer's, and the control
/// that tells it what to lock. Named after `role` (`hold.<what>`), which the child
/// gets too.
struct Stage {
    role: &'static str,
    prefix: String,
    control: Shared<Control>,
    ours: Shared<Mutex<u64>>,
    peer: Arc<PthreadPeer>,
    /// Holder children started so far (each attaches once).
    holders: u32,
    /// Reports the holders made so far (one per command).
    reports: u32,
}

impl Stage {
    fn create(prefix: &str, role: &'static str) -> Stage {
        let control = Shared::<Control>::create(&name(prefix, &format!("{role}-control")), Control::new())
            .expect("create the control");
        let ours = Shared::<Mutex<u64>>::create(&name(prefix, role), Mutex::new(0)).expect("create the mutex");
        let peer = Arc::new(PthreadPeer::create(&name(prefix, &format!("{role}-pthread"))));
        Stage { role, prefix: prefix.to_owned(), control, ours, peer, holders: 0, reports: 0 }
    }

    /// Starts a holder child and has it lock (`HOLD_OURS` or `HOLD_PEER`); returns
    /// it holding the lock.
    fn holder(&mut self, mode: u32) -> Kid {
        let mut kids = [Kid::spawn(self.role, 0, &self.prefix)];
        self.holders += 1;
        self.control.wait_ready(self.holders, &mut kids);
        self.command(mode, &mut kids);
        let [kid] = kids;
        kid
    }

    /// Has the holder in `kids` run `mode` and waits until it did.
    fn command(&mut self, mode: u32, kids: &mut [Kid; 1]) {
        self.control.start(mode, 0);
        self.reports += 1;
        self.control.wait_done(self.reports, kids);
    }
}

/// Child side: lock what the parent says and keep it, until told to release it,
/// to stop, or killed.
pub fn hold_child(child: &ChildArgs) {
    let role = child.role.as_str();
    let control = Shared::<Control>::open(&name(&child.prefix, &format!("{role}-control"))).expect("open the control");
    let ours = Shared::<Mutex<u64>>::open(&name(&child.prefix, role)).expect("open the mutex");
    let peer = PthreadPeer::open(&name(&child.prefix, &format!("{role}-pthread")));
    // Holders come one after another on one control: wait after the current batch.
    let mut seen = control.join();
    let mut guard = None;
    let mut peer_held = false;
    loop {
        let (batch, mode, _) = control.next_batch(seen);
        seen = batch;
        match mode {
            HOLD_OURS => {
                // The last holder was killed holding it and the waiter repaired it:
                // a plain `Ok` now, anything else is the mutex's fault.
                let mut held = ours.lock().expect("the holder locks a mutex repaired after the last death");
                *held += 1;
                guard = Some(held);
            }
            HOLD_PEER => {
                let rc = peer.lock_reporting();
                assert_eq!(rc, 0, "the holder locks the pthread mutex repaired after the last death");
                peer_held = true;
            }
            RELEASE => {
                drop(guard.take());
                if std::mem::take(&mut peer_held) {
                    peer.release();
                }
            }
            STOP => return,
            other => panic!("unknown holder mode {other}"),
        }
        control.report(child.index, (0.0, 0.0));
    }
}

/// A thread of this process that blocks (or is about to) in a lock call.
struct Waiter<R> {
    /// Its kernel thread id, once it runs (0 before).
    tid: Arc<AtomicI32>,
    result: mpsc::Receiver<R>,
    /// Joined once it sent its result, so that its handles on the objects are gone
    /// before the objects are.
    thread: std::thread::JoinHandle<()>,
}

impl<R: Send + 'static> Waiter<R> {
    /// Starts a thread that runs `lock` and sends back what it returns.
    fn spawn(lock: impl FnOnce() -> R + Send + 'static) -> Self {
        let tid = Arc::new(AtomicI32::new(0));
        let (send, result) = mpsc::channel();
        let published = tid.clone();
        // Joined only after it returned: a waiter that never returns must not hang
        // the run (see `result`).
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid(2) takes no arguments and cannot fail.
            published.store(unsafe { libc::gettid() }, Ordering::Release);
            let _ = send.send(lock());
        });
        Waiter { tid, result, thread }
    }

    /// The thread's scheduler state (`/proc/self/task/<tid>/stat`, `S` when
    /// asleep) and where in the kernel it sleeps (`wchan`, if the kernel says).
    fn state(&self) -> (char, String) {
        let tid = self.tid.load(Ordering::Acquire);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        // "tid (comm) S ...": the name may hold spaces and parentheses.
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()).unwrap_or('?');
        let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default();
        (state, wchan)
    }

    /// Waits until the thread runs and sleeps, then `SETTLE` more; returns where it
    /// sleeps then (state, wchan).
    fn wait_asleep(&self) -> (char, String) {
        let since = Clock::Wall.now();
        while self.tid.load(Ordering::Acquire) == 0 || self.state().0 != 'S' {
            assert!(Clock::Wall.now() - since < HANG, "the waiter never went to sleep in its lock call");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(SETTLE);
        self.state()
    }

    /// What the lock call came to; panics with `what` if it does not return
    /// within `HANG` (or the thread panicked).
    fn result(self, what: &str) -> R {
        match self.result.recv_timeout(HANG) {
            Ok(result) => {
                self.thread.join().expect("the waiter thread, after it returned");
                result
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{what}: the waiter's lock call did not return within {HANG:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the waiter thread panicked"),
        }
    }
}

// ---- IDLE: a blocked lock's cost while it waits ----

/// What one blocked `lock()` cost its thread.
pub struct Idle {
    pub switches_per_s: f64,
    /// CPU time over wall time while blocked, in percent.
    pub cpu_percent: f64,
}

/// The calling thread's context switches so far: (voluntary, involuntary).
fn thread_switches() -> (i64, i64) {
    // SAFETY: a zeroed rusage is valid; getrusage writes exactly one.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable; RUSAGE_THREAD is the calling thread.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD)");
    (usage.ru_nvcsw as i64, usage.ru_nivcsw as i64)
}

/// A holder child locks our `Mutex` and keeps it `IDLE_HOLD`; a thread here blocks
/// in `lock()` meanwhile. Prints `IDLE mutex_blocked_switches_per_s <n>`: the
/// waiter's context switches (voluntary + involuntary, `getrusage(RUSAGE_THREAD)`
/// around its lock call, so including going to sleep and the final wake-up) per
/// second blocked, and on stderr its CPU time per second. The waiter first makes
/// one `try_lock` (`Busy`), so that its thread's first-use setup (its identity,
/// read from `/proc` once per thread) is not counted.
pub fn mutex_blocked_idle(_settings: &Settings, prefix: &str) -> Idle {
    let mut stage = Stage::create(prefix, "hold.idle");
    let mut kid = [stage.holder(HOLD_OURS)];
    let ours = stage.ours.clone();
    let waiter = Waiter::spawn(move || {
        let busy = ours.try_lock().map(drop).map_err(|e| e.kind());
        assert_eq!(busy, Err(ErrorKind::Busy), "IDLE: try_lock while the holder child holds the lock");
        let (switches, cpu, wall) = (thread_switches(), Clock::Cpu.now(), Clock::Wall.now());
        let locked = ours.lock().map(drop).map_err(|e| e.kind());
        let (switches_after, cpu_after, wall_after) = (thread_switches(), Clock::Cpu.now(), Clock::Wall.now());
        let switches = (switches_after.0 - switches.0, switches_after.1 - switches.1);
        (locked, switches, cpu_after - cpu, wall_after - wall)
    });
    let (state, wchan) = waiter.wait_asleep();
    std::thread::sleep(IDLE_HOLD.saturating_sub(SETTLE));
    stage.command(RELEASE, &mut kid);
    let (locked, (voluntary, involuntary), cpu, wall) = waiter.result("IDLE, after the holder unlocked");
    assert_eq!(locked, Ok(()), "IDLE: the waiter's lock after a plain unlock");
    stage.control.start(STOP, 0);
    let [kid] = kid;
    kid.finish();
    let seconds = wall.as_secs_f64();
    let idle = Idle {
        switches_per_s: (voluntary + involuntary) as f64 / seconds,
        cpu_percent: 100.0 * cpu.as_secs_f64() / seconds,
    };
    eprintln!(
        "  mutex_blocked_switches_per_s: blocked {seconds:.2} s (asleep as {state:?} in {:?}), {voluntary} voluntary + \
         {involuntary} involuntary switches, {:.1} us CPU per second ({:.4}% of a CPU)",
        wchan.trim(),
        cpu.as_secs_f64() * 1e6 / seconds,
        idle.cpu_percent,
    );
    println!("IDLE mutex_blocked_switches_per_s {:.1}", idle.switches_per_s);
    idle
}

// ---- Owner death: from the kill to the waiter's return ----

/// One round with our `Mutex`: a holder child locks it, a thread here blocks in
/// `lock()`, the child is SIGKILLed; the time from the kill to the lock's return,
/// which must be `OwnerDied` (the waiter repairs the value and unlocks).
fn owner_death_ours(stage: &mut Stage) -> Duration {
    let kid = stage.holder(HOLD_OURS);
    let ours = stage.ours.clone();
    let waiter = Waiter::spawn(move || {
        let locked = ours.lock();
        let woke = Clock::Wall.now();
        let kind = match locked {
            Ok(_unlocked_on_drop) => None,
            Err(error) => {
                let kind = error.kind();
                if let Some(mut guard) = error.into_guard() {
                    MutexGuard::make_consistent(&mut guard);
                }
                Some(kind)
            }
        };
        (woke, kind)
    });
    let (state, wchan) = waiter.wait_asleep();
    let killed = Clock::Wall.now();
    kid.sigkill();
    let (woke, kind) = waiter.result("owner death (ours), after SIGKILL of the holder");
    drop(kid); // reaps it
    assert_eq!(
        kind,
        Some(ErrorKind::OwnerDied),
        "owner death (ours): the waiter (asleep as {state:?} in {:?}) got {kind:?} after the holder was killed",
        wchan.trim()
    );
    woke.saturating_sub(killed)
}

/// The same round with the robust pshared pthread mutex: `EOWNERDEAD`, then
/// `pthread_mutex_consistent` and unlock.
fn owner_death_peer(stage: &mut Stage) -> Duration {
    let kid = stage.holder(HOLD_PEER);
    let peer = stage.peer.clone();
    let waiter = Waiter::spawn(move || {
        let rc = peer.lock_reporting();
        let woke = Clock::Wall.now();
        if rc == libc::EOWNERDEAD {
            peer.make_consistent();
        }
        if rc == 0 || rc == libc::EOWNERDEAD {
            peer.release();
        }
        (woke, rc)
    });
    waiter.wait_asleep();
    let killed = Clock::Wall.now();
    kid.sigkill();
    let (woke, rc) = waiter.result("owner death (pthread), after SIGKILL of the holder");
    drop(kid);
    assert_eq!(rc, libc::EOWNERDEAD, "owner death (pthread): pthread_mutex_lock returned {rc}");
    woke.saturating_sub(killed)
}

/// `values` sorted: (median, 90th percentile, max).
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    let middle = median(values); // sorts
    let p90 = values[(values.len() * 9).div_ceil(10).saturating_sub(1)];
    (middle, p90, values[values.len() - 1])
}

/// Time from `kill(SIGKILL)` of a holder process to the return of a lock call
/// already asleep on the lock, ours (`OwnerDied`) vs a robust pshared pthread
/// mutex (`EOWNERDEAD`): alternating rounds, a fresh holder each, one mutex of each
/// repaired after every death; medians, and p90 and max on stderr.
pub fn mutex_owner_death_vs_pthread_robust(settings: &Settings, prefix: &str) -> Ratio {
    const NAME: &str = "mutex_owner_death_vs_pthread_robust";
    let rounds = if settings.quick { 15 } else { 31 };
    let mut stage = Stage::create(prefix, "hold.death");
    let (mut ours, mut peer) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    let ns = |d: Duration| d.as_nanos() as f64;
    for round in 0..rounds {
        if round % 2 == 0 {
            ours.push(ns(owner_death_ours(&mut stage)));
            peer.push(ns(owner_death_peer(&mut stage)));
        } else {
            peer.push(ns(owner_death_peer(&mut stage)));
            ours.push(ns(owner_death_ours(&mut stage)));
        }
    }
    // Every holder added one before it was killed, and each repair kept the value.
    let value = *stage.ours.lock().expect("the mutex after the last repair");
    assert_eq!(value, rounds as u64, "owner death (ours): the holders' increments");
    let ((ours_median, ours_p90, ours_max), (peer_median, peer_p90, peer_max)) = (spread(&mut ours), spread(&mut peer));
    let us = |ns: f64| ns / 1000.0;
    eprintln!(
        "  {NAME}: wall clock, kill(SIGKILL) to the waiter's return, {rounds} rounds each; \
         ours median {:.0} p90 {:.0} max {:.0} us, peer median {:.0} p90 {:.0} max {:.0} us",
        us(ours_median),
        us(ours_p90),
        us(ours_max),
        us(peer_median),
        us(peer_p90),
        us(peer_max),
    );
    let worst = Duration::from_nanos(ours_max as u64);
    eprintln!(
        "    owner death worst <= {WORST_DEATH:?}: {} ({worst:?})",
        if worst <= WORST_DEATH { "met" } else { "MISSED" }
    );
    let ratio = Ratio { name: NAME, ours: ours_median, peer: peer_median };
    println!("{ratio}");
    ratio
}
