//! Child processes (this binary re-executed with a role), the control object that
//! drives their batches, and the cleanup of `/dev/shm`.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shmptr::Platform as _;
use shmptr_linux::Linux;

const ROLE: &str = "SHMPTR_BENCH_ROLE";
const PREFIX: &str = "SHMPTR_BENCH_PREFIX";
const INDEX: &str = "SHMPTR_BENCH_INDEX";
const PARENT: &str = "SHMPTR_BENCH_PARENT";

/// How long any wait for another process may take before the run fails.
const BOUND: Duration = Duration::from_secs(60);

/// `<prefix>.<what>`: the name of one bench object.
pub fn name(prefix: &str, what: &str) -> String {
    format!("{prefix}.{what}")
}

/// What a re-executed child is asked to do.
pub struct ChildArgs {
    pub role: String,
    pub prefix: String,
    pub index: usize,
}

impl ChildArgs {
    /// The role from the environment, if this process is a child.
    pub fn from_env() -> Option<Self> {
        let role = std::env::var(ROLE).ok()?;
        let prefix = std::env::var(PREFIX).expect("a child knows its parent's prefix");
        let index = std::env::var(INDEX).ok().and_then(|i| i.parse().ok()).unwrap_or(0);
        // Die with the parent, whatever kills it. PDEATHSIG fires when the thread
        // that forked us exits: the parent spawns children from its main thread only.
        // SAFETY: prctl(PR_SET_PDEATHSIG) reads only its integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        let parent: u32 = std::env::var(PARENT).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        if std::os::unix::process::parent_id() != parent {
            // The parent died before the prctl above: nobody will drive us.
            std::process::exit(3);
        }
        Some(ChildArgs { role, prefix, index })
    }
}

/// A child process; SIGKILLed and reaped on drop unless it finished.
pub struct Kid(Option<Child>);

impl Kid {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Starts this binary again as child `index` with `role`.
    pub fn spawn(role: &str, index: usize, prefix: &str) -> Kid {
        let child = Command::new(std::env::current_exe().expect("the bench binary's path"))
            .env(ROLE, role)
            .env(PREFIX, prefix)
            .env(INDEX, index.to_string())
            .env(PARENT, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("re-executing the bench binary");
        Kid(Some(child))
    }

    /// Panics if the child already exited (it can only do so after `STOP`).
    fn check(&mut self) {
        if let Some(child) = self.0.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("bench child {} exited early: {status}", child.id());
            }
        }
    }

    /// Sends SIGKILL now, without waiting (the drop reaps it): `kill(2)` and nothing
    /// else, so that a timestamp taken just before the call is the kill's.
    pub fn sigkill(&self) {
        let pid = self.id() as libc::pid_t;
        assert!(pid > 0, "a running child");
        // SAFETY: kill(2) on our own child, not yet reaped (so the pid is still its).
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill({pid}, SIGKILL): {}", std::io::Error::last_os_error());
    }

    /// Waits (bounded) for a successful exit.
    pub fn finish(mut self) {
        let mut child = self.0.take().expect("a running child");
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for a bench child") {
                assert!(status.success(), "bench child {} failed: {status}", child.id());
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bench child {} did not exit within {BOUND:?}", child.id());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Batch modes a child runs.
pub const RUN_OURS: u32 = 1;
pub const RUN_PEER: u32 = 2;
pub const STOP: u32 = 3;
/// Modes of the lock-holding child (`blocking.rs`): lock ours / the peer's and
/// keep it; release what it holds.
pub const HOLD_OURS: u32 = 4;
pub const HOLD_PEER: u32 = 5;
pub const RELEASE: u32 = 6;

/// The most children one [`Control`] drives.
pub const MAX_CHILDREN: usize = 4;

/// The parent's handle on its children: a batch counter they sleep on, what to run,
/// and where they report. Lives in a `Shared` object.
#[repr(C)]
pub struct Control {
    /// Children that attached and wait for batches.
    ready: AtomicU32,
    /// Bumped by the parent to start a batch (futex word the children sleep on).
    batch: AtomicU32,
    /// Batches finished, summed over children (futex word the parent sleeps on).
    done: AtomicU32,
    /// Children that began the current batch; a start barrier.
    started: AtomicU32,
    /// `RUN_OURS`, `RUN_PEER` or `STOP`.
    mode: AtomicU32,
    /// Operations per batch.
    iters: AtomicU64,
    /// Each child's last batch, in nanoseconds per operation (`f64` bits).
    ns_per_op: [AtomicU64; MAX_CHILDREN],
    /// Each child's share of its last batch's wall time spent on a CPU (`f64` bits).
    running: [AtomicU64; MAX_CHILDREN],
    /// When each child's last batch began and ended (`CLOCK_MONOTONIC` ns), for
    /// work timed across children (see [`Control::span`]).
    began: [AtomicU64; MAX_CHILDREN],
    ended: [AtomicU64; MAX_CHILDREN],
}
shmptr::shm_safe!(Control { ready, batch, done, started, mode, iters, ns_per_op, running, began, ended });

impl Control {
    pub fn new() -> Self {
        Control {
            ready: AtomicU32::new(0),
            batch: AtomicU32::new(0),
            done: AtomicU32::new(0),
            started: AtomicU32::new(0),
            mode: AtomicU32::new(0),
            iters: AtomicU64::new(0),
            ns_per_op: [const { AtomicU64::new(0) }; MAX_CHILDREN],
            running: [const { AtomicU64::new(0) }; MAX_CHILDREN],
            began: [const { AtomicU64::new(0) }; MAX_CHILDREN],
            ended: [const { AtomicU64::new(0) }; MAX_CHILDREN],
        }
    }

    // ---- Parent side ----

    /// Waits until `count` children are attached.
    pub fn wait_ready(&self, count: u32, kids: &mut [Kid]) {
        wait_until(&self.ready, count, kids);
    }

    /// Starts batch `mode` of `iters` operations in every child; returns its number.
    pub fn start(&self, mode: u32, iters: u64) -> u32 {
        // Relaxed: published by the Release increment of `batch`.
        self.mode.store(mode, Ordering::Relaxed);
        self.iters.store(iters, Ordering::Relaxed);
        let batch = self.batch.fetch_add(1, Ordering::Release) + 1;
        Linux::wake(&self.batch, u32::MAX);
        batch
    }

    /// Waits until the children finished `total` batches between them.
    pub fn wait_done(&self, total: u32, kids: &mut [Kid]) {
        wait_until(&self.done, total, kids);
    }

    /// Child `index`'s last result: ns per op, share of the time it ran.
    pub fn result(&self, index: usize) -> (f64, f64) {
        // Relaxed: read after `wait_done`, whose Acquire load saw the child's
        // Release increment of `done`.
        let load = |word: &AtomicU64| f64::from_bits(word.load(Ordering::Relaxed));
        (load(&self.ns_per_op[index]), load(&self.running[index]))
    }

    /// From the first child's start of its last batch to the last one's end, over
    /// `children` children (read after `wait_done`, as `result`).
    pub fn span(&self, children: usize) -> Duration {
        // Relaxed: as in `result`.
        let first = self.began[..children].iter().map(|w| w.load(Ordering::Relaxed)).min().unwrap_or(0);
        let last = self.ended[..children].iter().map(|w| w.load(Ordering::Relaxed)).max().unwrap_or(0);
        Duration::from_nanos(last.saturating_sub(first))
    }

    // ---- Child side ----

    /// Announces a child.
    pub fn attach(&self) {
        self.ready.fetch_add(1, Ordering::Release);
        Linux::wake(&self.ready, u32::MAX);
    }

    /// Announces a child that joins after others came and went (one per round, as
    /// the lock holders that get killed): returns the batch it should wait after,
    /// the current one. The parent starts the next only after seeing it attached.
    pub fn join(&self) -> u32 {
        // Acquire: pairs with the parent's Release increment in `start`.
        let seen = self.batch.load(Ordering::Acquire);
        self.attach();
        seen
    }

    /// Waits for the batch after `seen`; returns (batch, mode, iters).
    pub fn next_batch(&self, seen: u32) -> (u32, u32, u64) {
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the parent's Release increment in `start`.
            let batch = self.batch.load(Ordering::Acquire);
            if batch != seen {
                return (batch, self.mode.load(Ordering::Relaxed), self.iters.load(Ordering::Relaxed));
            }
            if spins < 1000 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                Linux::wait(&self.batch, seen, Some(Duration::from_millis(20)));
            }
        }
    }

    /// Spins until `children` children began batch `batch` (batches are numbered
    /// from 1 and every child passes each barrier once). After a while it yields
    /// between looks: with more children than CPUs, a spinner would otherwise keep
    /// a late sibling off its CPU until the tick.
    pub fn barrier(&self, batch: u32, children: u32) {
        self.started.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        while self.started.load(Ordering::Acquire) < batch * children {
            if spins < 10_000 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Reports child `index`'s batch result.
    pub fn report(&self, index: usize, (ns_per_op, running): (f64, f64)) {
        self.ns_per_op[index].store(ns_per_op.to_bits(), Ordering::Relaxed);
        self.running[index].store(running.to_bits(), Ordering::Relaxed);
        // Release: publishes the result to the parent's Acquire load in `wait_done`.
        self.done.fetch_add(1, Ordering::Release);
        Linux::wake(&self.done, u32::MAX);
    }

    /// Reports when child `index`'s batch began and ended (`CLOCK_MONOTONIC` ns).
    pub fn report_span(&self, index: usize, began: Duration, ended: Duration) {
        self.began[index].store(began.as_nanos() as u64, Ordering::Relaxed);
        self.ended[index].store(ended.as_nanos() as u64, Ordering::Relaxed);
        self.report(index, (0.0, 0.0));
    }
}

/// Sleeps until `word` reaches `value`, failing if a kid exits or `BOUND` passes.
fn wait_until(word: &AtomicU32, value: u32, kids: &mut [Kid]) {
    let deadline = Instant::now() + BOUND;
    loop {
        // Acquire: pairs with the children's Release increments.
        let now = word.load(Ordering::Acquire);
        if now >= value {
            return;
        }
        Linux::wait(word, now, Some(Duration::from_millis(2)));
        kids.iter_mut().for_each(Kid::check);
        assert!(Instant::now() < deadline, "waited {BOUND:?} for bench children");
    }
}

/// Ends the run if a child dies while this process waits for it without a bound
/// (side A of the hand-off sleeps in an untimed condvar wait, as a user would; a
/// dead side B would leave it asleep for good). A thread polls the children's
/// pidfds; if one exits before [`Watchdog::stop`], it kills the others, removes this
/// run's objects and exits the process with an error.
pub struct Watchdog {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn watch(kids: &[Kid], prefix: &str) -> Self {
        let pids: Vec<i32> = kids.iter().map(|k| k.id() as i32).collect();
        let pidfds: Vec<OwnedFd> = pids
            .iter()
            .map(|&pid| {
                // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
                assert!(fd >= 0, "pidfd_open({pid}): {}", std::io::Error::last_os_error());
                // SAFETY: `fd` is a fresh descriptor that nothing else owns.
                unsafe { OwnedFd::from_raw_fd(fd as i32) }
            })
            .collect();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let prefix = prefix.to_owned();
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let mut polled: Vec<libc::pollfd> =
                pidfds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
            while !stop.load(Ordering::Acquire) {
                // SAFETY: `polled` is a valid array of pollfds over descriptors we own.
                let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 50) };
                if ready > 0 && !stop.load(Ordering::Acquire) {
                    eprintln!("peers: a bench child died mid-batch; killing the others and cleaning up");
                    for &pid in &pids {
                        // SAFETY: kill(2) on our own children's pids (not yet reaped).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    remove_objects(&prefix);
                    std::process::exit(2);
                }
            }
        });
        Watchdog { stopping, thread: Some(thread) }
    }

    /// The children are about to exit on purpose.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Removes every `/dev/shm/<prefix>.*`; returns what it found.
fn remove_objects(prefix: &str) -> Vec<String> {
    let start = format!("{prefix}.");
    let found: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&start))
                .collect()
        })
        .unwrap_or_default();
    for name in &found {
        let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
    }
    found
}

/// Owns this run's name prefix; removes every `/dev/shm/<prefix>.*` on drop, so a
/// panic anywhere still leaves `/dev/shm` clean.
pub struct Cleanup {
    prefix: String,
}

impl Cleanup {
    pub fn new() -> Self {
        Cleanup { prefix: format!("shmptr-bench.{}", std::process::id()) }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Ends the run: returns what it left behind (and removes it).
    pub fn finish(self) -> Vec<String> {
        remove_objects(&self.prefix)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_objects(&self.prefix);
    }
}
