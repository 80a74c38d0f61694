//! The comparisons but the blocked-lock ones (`blocking.rs`), and the children's
//! sides of the multi-process ones.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use shared_memory::ShmemConf;
use shmptr_linux::{Condvar, Mutex, Shared};

use crate::children::{name, ChildArgs, Control, Kid, Watchdog, RUN_OURS, RUN_PEER, STOP};
use crate::harness::{ns_per_op, time_running, Clock, Ratio, Settings};
use crate::posix::{raw_segment_cycle, raw_segment_cycle_same_work, shm_path, PthreadPeer};

/// One clone and one drop of a `Shared`.
#[inline(always)]
fn shared_clone_drop(shared: &Shared<AtomicU64>) {
    let clone = black_box(shared).clone();
    drop(black_box(clone));
}

/// One clone and one drop of an `Arc`.
#[inline(always)]
fn arc_clone_drop(arc: &Arc<AtomicU64>) {
    let clone = Arc::clone(black_box(arc));
    drop(black_box(clone));
}

// Every comparison but the hand-off and the 4-process mutex never sleeps and is
// timed in thread CPU time (see `Clock`); those two's cost is sleeping and waking,
// timed on the wall clock.

/// `Shared<AtomicU64>` clone+drop vs `Arc` clone+drop, one thread.
pub fn shared_clone_drop_vs_arc(settings: &Settings, prefix: &str) -> Ratio {
    let shared = Shared::<AtomicU64>::create(&name(prefix, "clone-drop"), AtomicU64::new(0)).expect("create");
    let arc = Arc::new(AtomicU64::new(0));
    settings.compare_ops("shared_clone_drop_vs_arc", Clock::Cpu, || shared_clone_drop(&shared), || arc_clone_drop(&arc))
}

/// Two processes, each clone+dropping its own attachment of one `Shared`, vs two
/// threads clone+dropping one `Arc`; per-op time per process (thread), averaged
/// over the two. Also reports (stderr) how much of each batch the two workers were
/// on a CPU: on a busy host they seldom run at once, and then neither side contends.
pub fn shared_contended_2proc_vs_arc_2thread(settings: &Settings, prefix: &str) -> Ratio {
    let control = Shared::<Control>::create(&name(prefix, "contend-control"), Control::new()).expect("create");
    let value = Shared::<AtomicU64>::create(&name(prefix, "contend-value"), AtomicU64::new(0)).expect("create");
    let mut kids = [Kid::spawn("contend", 0, prefix), Kid::spawn("contend", 1, prefix)];
    control.wait_ready(2, &mut kids);
    let arc = Arc::new(AtomicU64::new(0));
    let (mut ours_running, mut peer_running) = (Vec::new(), Vec::new());
    let ratio = settings.compare(
        "shared_contended_2proc_vs_arc_2thread",
        Clock::Cpu,
        |n| {
            let batch = control.start(RUN_OURS, n);
            control.wait_done(2 * batch, &mut kids);
            let ((a, a_ran), (b, b_ran)) = (control.result(0), control.result(1));
            ours_running.push(a_ran.min(b_ran));
            (a + b) / 2.0
        },
        |n| {
            let ((a, a_ran), (b, b_ran)) = arc_two_threads(&arc, n);
            peer_running.push(a_ran.min(b_ran));
            (a + b) / 2.0
        },
    );
    let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
    eprintln!(
        "    the less-running worker was on a CPU {:.0}% (ours) / {:.0}% (Arc) of its batch's wall time",
        mean(&ours_running),
        mean(&peer_running)
    );
    control.start(STOP, 0);
    kids.into_iter().for_each(Kid::finish);
    assert_eq!(Shared::strong_count(&value), 1, "the children's handles are gone");
    ratio
}

/// Child side: clone+drop our own attachment in step with the sibling.
fn contend_child(child: &ChildArgs) {
    let control = Shared::<Control>::open(&name(&child.prefix, "contend-control")).expect("open the control");
    let value = Shared::<AtomicU64>::open(&name(&child.prefix, "contend-value")).expect("open the value");
    control.attach();
    let mut seen = 0;
    loop {
        let (batch, mode, n) = control.next_batch(seen);
        seen = batch;
        if mode == STOP {
            return;
        }
        control.barrier(batch, 2);
        control.report(child.index, time_running(n, || shared_clone_drop(&value)));
    }
}

/// Two threads clone+drop one `Arc` `n` times each; (ns per op, share of the time
/// on a CPU) of each.
fn arc_two_threads(arc: &Arc<AtomicU64>, n: u64) -> ((f64, f64), (f64, f64)) {
    let started = AtomicU32::new(0);
    let worker = || {
        started.fetch_add(1, Ordering::AcqRel);
        while started.load(Ordering::Acquire) < 2 {
            std::hint::spin_loop();
        }
        time_running(n, || arc_clone_drop(arc))
    };
    std::thread::scope(|scope| {
        let (a, b) = (scope.spawn(worker), scope.spawn(worker));
        (a.join().expect("an Arc thread"), b.join().expect("an Arc thread"))
    })
}

/// `shmptr_linux::Mutex<u64>` lock+increment+unlock in a `Shared` vs a robust,
/// process-shared pthread mutex in a `/dev/shm` mapping.
pub fn mutex_uncontended_vs_pthread_robust(settings: &Settings, prefix: &str) -> Ratio {
    let mutex = Shared::<Mutex<u64>>::create(&name(prefix, "mutex"), Mutex::new(0)).expect("create");
    let pthread = PthreadPeer::create(&name(prefix, "mutex-pthread"));
    settings.compare_ops(
        "mutex_uncontended_vs_pthread_robust",
        Clock::Cpu,
        || {
            let mut guard = black_box(&mutex).lock().expect("lock");
            *guard += 1;
            drop(guard);
        },
        || black_box(&pthread).increment(),
    )
}

/// The processes of [`mutex_contended_4proc_vs_pthread_robust`].
const CONTENDERS: usize = 4;

/// Four processes each lock, increment the counter and unlock, over and over, on
/// one `Mutex<u64>` in a `Shared` vs one robust pshared pthread mutex with a
/// counter beside it; ns per increment: wall time from the first process's start
/// to the last one's end, over all four processes' increments (on 2 CPUs at most
/// two run at once; the others wait for a CPU or sleep on the lock). A batch of `n`
/// is `n / 4` (rounded up) increments in each process. Afterwards both counters
/// must hold every increment made.
pub fn mutex_contended_4proc_vs_pthread_robust(settings: &Settings, prefix: &str) -> Ratio {
    let control = Shared::<Control>::create(&name(prefix, "contend4-control"), Control::new()).expect("create");
    let ours = Shared::<Mutex<u64>>::create(&name(prefix, "contend4"), Mutex::new(0)).expect("create");
    let pthread = PthreadPeer::create(&name(prefix, "contend4-pthread"));
    let mut kids: Vec<Kid> = (0..CONTENDERS).map(|index| Kid::spawn("contend4", index, prefix)).collect();
    control.wait_ready(CONTENDERS as u32, &mut kids);
    // Both closures drive the same children; cells keep the borrow checker content.
    let kids = RefCell::new(kids);
    let (ours_made, peer_made) = (Cell::new(0u64), Cell::new(0u64));
    let run = |mode: u32, n: u64, made: &Cell<u64>| {
        let each = n.div_ceil(CONTENDERS as u64);
        let batch = control.start(mode, each);
        control.wait_done(CONTENDERS as u32 * batch, &mut kids.borrow_mut());
        let total = each * CONTENDERS as u64;
        made.set(made.get() + total);
        ns_per_op(control.span(CONTENDERS), total)
    };
    let ratio = settings.compare(
        "mutex_contended_4proc_vs_pthread_robust",
        Clock::Wall,
        |n| run(RUN_OURS, n, &ours_made),
        |n| run(RUN_PEER, n, &peer_made),
    );
    control.start(STOP, 0);
    kids.into_inner().into_iter().for_each(Kid::finish);
    let counted = *ours.lock().expect("lock");
    assert_eq!(counted, ours_made.get(), "4 processes on our Mutex: increments lost or invented");
    assert_eq!(pthread.counter(), peer_made.get(), "4 processes on the pthread mutex: increments lost or invented");
    ratio
}

/// Child side: `n` increments under the lock, after the others started too.
fn contend4_child(child: &ChildArgs) {
    let control = Shared::<Control>::open(&name(&child.prefix, "contend4-control")).expect("open the control");
    let ours = Shared::<Mutex<u64>>::open(&name(&child.prefix, "contend4")).expect("open the mutex");
    let pthread = PthreadPeer::open(&name(&child.prefix, "contend4-pthread"));
    control.attach();
    let mut seen = 0;
    loop {
        let (batch, mode, n) = control.next_batch(seen);
        seen = batch;
        if mode == STOP {
            return;
        }
        control.barrier(batch, CONTENDERS as u32);
        let began = Clock::Wall.now();
        match mode {
            RUN_OURS => (0..n).for_each(|_| *ours.lock().expect("lock") += 1),
            _ => (0..n).for_each(|_| pthread.increment()),
        }
        control.report_span(child.index, began, Clock::Wall.now());
    }
}

/// The hand-off pair: a turn under a mutex, and a condvar to wait for it.
#[repr(C)]
struct HandOff {
    turn: Mutex<u32>,
    changed: Condvar,
}
shmptr::shm_safe!(HandOff { turn, changed });

impl HandOff {
    /// Side A: `n` times, set turn = 1 and wait for turn == 0.
    fn ping(&self, n: u64) {
        let mut turn = self.turn.lock().expect("lock");
        for _ in 0..n {
            *turn = 1;
            self.changed.notify_one();
            while *turn != 0 {
                turn = self.changed.wait(turn).expect("wait");
            }
        }
    }

    /// Side B: `n` times, wait for turn == 1 and set turn = 0.
    fn pong(&self, n: u64) {
        let mut turn = self.turn.lock().expect("lock");
        for _ in 0..n {
            while *turn != 1 {
                turn = self.changed.wait(turn).expect("wait");
            }
            *turn = 0;
            self.changed.notify_one();
        }
    }
}

/// Where the two sides of the hand-off run.
#[derive(Clone, Copy)]
enum Placement {
    /// Wherever the scheduler puts them.
    Free,
    /// Both pinned to the first CPU this process may use: each wake-up is a
    /// context switch on that CPU.
    SameCpu,
    /// Side A pinned to the first CPU this process may use, side B to the second:
    /// each wake-up crosses CPUs.
    TwoCpus,
}

impl Placement {
    /// The CPUs of sides A and B, if pinned.
    fn cpus(self) -> Option<(usize, usize)> {
        let allowed = Pinned::allowed();
        match self {
            Placement::Free => None,
            Placement::SameCpu => Some((allowed[0], allowed[0])),
            Placement::TwoCpus => Some((allowed[0], *allowed.get(1).expect("a second CPU"))),
        }
    }
}

/// Two processes ping-pong a turn through `Mutex` + `Condvar` vs through a robust
/// pshared pthread mutex + pshared `pthread_cond_t`; ns per round trip. This
/// process is side A, a child side B; both wherever the scheduler puts them.
pub fn mutex_handoff_vs_pthread_condvar(settings: &Settings, prefix: &str) -> Ratio {
    handoff("mutex_handoff_vs_pthread_condvar", Placement::Free, settings, prefix)
}

/// The hand-off with both sides pinned to one CPU (not a target: shows what the
/// scheduler's placement does to the free-running figure).
pub fn mutex_handoff_same_cpu_vs_pthread_condvar(settings: &Settings, prefix: &str) -> Ratio {
    handoff("mutex_handoff_same_cpu_vs_pthread_condvar", Placement::SameCpu, settings, prefix)
}

/// The hand-off with the sides pinned to two CPUs (not a target, as above).
pub fn mutex_handoff_two_cpus_vs_pthread_condvar(settings: &Settings, prefix: &str) -> Ratio {
    handoff("mutex_handoff_two_cpus_vs_pthread_condvar", Placement::TwoCpus, settings, prefix)
}

fn handoff(comparison: &'static str, placement: Placement, settings: &Settings, prefix: &str) -> Ratio {
    let cpus = placement.cpus();
    // The child's role says where side B runs (and names this pair's objects).
    let role = &cpus.map_or("handoff".to_owned(), |(_, b)| format!("handoff-cpu{b}"));
    let control = Shared::<Control>::create(&name(prefix, &format!("{role}-control")), Control::new()).expect("create");
    let ours = Shared::<HandOff>::create(&name(prefix, role), HandOff { turn: Mutex::new(0), changed: Condvar::new() })
        .expect("create");
    let pthread = PthreadPeer::create(&name(prefix, &format!("{role}-pthread")));
    let _pinned = cpus.map(|(a, _)| Pinned::to(a));
    let mut kids = [Kid::spawn(role, 0, prefix)];
    let watchdog = Watchdog::watch(&kids, prefix);
    control.wait_ready(1, &mut kids);
    // Both closures drive the one child; a cell keeps the borrow checker content.
    let kids = std::cell::RefCell::new(kids);
    let run = |mode: u32, n: u64, side_a: &dyn Fn(u64)| {
        let batch = control.start(mode, n);
        let start = Clock::Wall.now();
        side_a(n);
        let elapsed = Clock::Wall.now() - start;
        control.wait_done(batch, &mut *kids.borrow_mut());
        ns_per_op(elapsed, n)
    };
    let ratio = settings.compare(
        comparison,
        Clock::Wall,
        |n| run(RUN_OURS, n, &|n| ours.ping(n)),
        |n| run(RUN_PEER, n, &|n| pthread.ping(n)),
    );
    watchdog.stop();
    control.start(STOP, 0);
    kids.into_inner().into_iter().for_each(Kid::finish);
    ratio
}

/// How many CPUs this process may run on (the pinned hand-offs use the first two).
pub fn allowed_cpus() -> usize {
    Pinned::allowed().len()
}

/// This thread pinned to one CPU until dropped, then free to run anywhere again.
struct Pinned(libc::cpu_set_t);

impl Pinned {
    /// The CPUs this thread may run on, in order.
    fn allowed() -> Vec<usize> {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes
        // exactly one set of the size given, for this thread (0).
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set), 0);
            set
        };
        // SAFETY: CPU_ISSET reads the set, for CPU numbers below CPU_SETSIZE.
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
    }

    fn to(cpu: usize) -> Pinned {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_{get,set}affinity
        // read and write exactly one set of the size given, for this thread (0).
        unsafe {
            let mut before: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut before), 0);
            let mut only: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut only);
            let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &only);
            assert_eq!(rc, 0, "pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
            Pinned(before)
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: as in `to`, with the set saved there.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &self.0) };
    }
}

/// Child side B of the hand-off, pinned as its role says.
fn handoff_child(child: &ChildArgs) {
    let role = child.role.as_str();
    let _pinned = role.strip_prefix("handoff-cpu").map(|cpu| Pinned::to(cpu.parse().expect("a CPU number")));
    let control = Shared::<Control>::open(&name(&child.prefix, &format!("{role}-control"))).expect("open the control");
    let ours = Shared::<HandOff>::open(&name(&child.prefix, role)).expect("open the hand-off");
    let pthread = PthreadPeer::open(&name(&child.prefix, &format!("{role}-pthread")));
    control.attach();
    let mut seen = 0;
    loop {
        let (batch, mode, n) = control.next_batch(seen);
        seen = batch;
        match mode {
            RUN_OURS => ours.pong(n),
            RUN_PEER => pthread.pong(n),
            _ => return,
        }
        control.report(child.index, (0.0, 0.0));
    }
}

/// `Shared<[u8; 4096]>::create_zeroed` + `Shared::open` + drop both.
fn shmptr_segment_cycle(object: &str) {
    let created = Shared::<[u8; 4096]>::create_zeroed(object).expect("create_zeroed");
    let opened = Shared::<[u8; 4096]>::open(object).expect("open");
    drop(black_box(opened));
    drop(black_box(created)); // the last holder: unlinks
}

/// 4 KiB create + open + close + unlink vs the `shared_memory` crate.
///
/// `shared_memory` hands its `os_id` to `shm_open(3)`, which (glibc) strips the
/// leading `/` and uses `/dev/shm/<rest>`; the creating `Shmem` unlinks on drop
/// (it is the owner), the opener only unmaps and closes.
pub fn segment_cycle_vs_shared_memory(settings: &Settings, prefix: &str) -> Ratio {
    let ours = name(prefix, "cycle");
    let os_id = format!("/{}", name(prefix, "cycle-shared_memory"));
    settings.compare_ops(
        "segment_cycle_vs_shared_memory",
        Clock::Cpu,
        || shmptr_segment_cycle(&ours),
        || {
            let created = ShmemConf::new().size(4096).os_id(&os_id).create().expect("shared_memory create");
            let opened = ShmemConf::new().os_id(&os_id).open().expect("shared_memory open");
            drop(black_box(opened));
            drop(black_box(created)); // the owner: shm_unlink
        },
    )
}

/// The same cycle vs raw rustix syscalls: the floor.
pub fn segment_cycle_vs_raw_rustix(settings: &Settings, prefix: &str) -> Ratio {
    let ours = name(prefix, "cycle");
    let raw = shm_path(&name(prefix, "cycle-raw"));
    settings.compare_ops(
        "segment_cycle_vs_raw_rustix",
        Clock::Cpu,
        || shmptr_segment_cycle(&ours),
        || raw_segment_cycle(&raw),
    )
}

/// The same cycle vs raw rustix syscalls doing the same system work (see
/// `raw_segment_cycle_same_work`): what shmptr's own code costs on top.
pub fn segment_cycle_vs_raw_rustix_same_work(settings: &Settings, prefix: &str) -> Ratio {
    let ours = name(prefix, "cycle");
    let raw = shm_path(&name(prefix, "cycle-raw-same-work"));
    let len = {
        let probe = Shared::<[u8; 4096]>::create_zeroed(&ours).expect("create_zeroed");
        let len = std::fs::metadata(format!("/dev/shm/{ours}")).expect("the object's size").len();
        drop(probe);
        len as usize
    };
    settings.compare_ops(
        "segment_cycle_vs_raw_rustix_same_work",
        Clock::Cpu,
        || shmptr_segment_cycle(&ours),
        || raw_segment_cycle_same_work(&raw, len),
    )
}

/// Runs this process's part as a re-executed child.
pub fn run_child(child: &ChildArgs) {
    match child.role.as_str() {
        "contend" => contend_child(child),
        "contend4" => contend4_child(child),
        role if role.starts_with("hold.") => crate::blocking::hold_child(child),
        role if role.starts_with("handoff") => handoff_child(child),
        other => panic!("unknown bench role {other:?}"),
    }
}
