//! Timing: calibrated batches, interleaved ours/peer, medians, and the report lines.

use std::fmt;
use std::time::Duration;

/// How long and how often to measure, and which comparisons.
pub struct Settings {
    pub quick: bool,
    /// Batches of each side (odd, so the median is one batch).
    pub rounds: usize,
    /// The wall time one batch aims at.
    pub batch: Duration,
    /// Substrings of comparison names to run; empty: all.
    filters: Vec<String>,
}

impl Settings {
    /// `--quick` selects quick mode; other flags (cargo passes `--bench`) are
    /// ignored; any other argument is a filter on comparison names.
    pub fn from_args(args: impl Iterator<Item = String>) -> Self {
        let args: Vec<String> = args.skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let filters = args.into_iter().filter(|a| !a.starts_with('-')).collect();
        let (rounds, batch) = if quick { (9, Duration::from_millis(30)) } else { (31, Duration::from_millis(150)) };
        Settings { quick, rounds, batch, filters }
    }

    /// Whether the comparison `name` runs.
    pub fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Measures `ours` and `peer` in alternating batches and prints the `RATIO` line.
    /// Each closure runs `n` operations and returns nanoseconds per operation, timed
    /// on `clock` (named in the progress line).
    pub fn compare(
        &self,
        name: &'static str,
        clock: Clock,
        mut ours: impl FnMut(u64) -> f64,
        mut peer: impl FnMut(u64) -> f64,
    ) -> Ratio {
        // Calibration doubles as warm-up (page cache, branch predictors, caches).
        let n_ours = calibrate(&mut ours, self.batch);
        let n_peer = calibrate(&mut peer, self.batch);
        let mut ours_ns = Vec::with_capacity(self.rounds);
        let mut peer_ns = Vec::with_capacity(self.rounds);
        for round in 0..self.rounds {
            if round % 2 == 0 {
                ours_ns.push(ours(n_ours));
                peer_ns.push(peer(n_peer));
            } else {
                peer_ns.push(peer(n_peer));
                ours_ns.push(ours(n_ours));
            }
        }
        let ratio = Ratio { name, ours: median(&mut ours_ns), peer: median(&mut peer_ns) };
        eprintln!(
            "  {name}: {clock:?} clock, ours n={n_ours} [{:.1} .. {:.1}] ns, peer n={n_peer} [{:.1} .. {:.1}] ns, {} batches each",
            ours_ns[0],
            ours_ns[ours_ns.len() - 1],
            peer_ns[0],
            peer_ns[peer_ns.len() - 1],
            self.rounds,
        );
        println!("{ratio}");
        ratio
    }
}

impl Settings {
    /// [`compare`](Settings::compare) for operations that run in this thread:
    /// `ours` and `peer` are one operation each.
    pub fn compare_ops(
        &self,
        name: &'static str,
        clock: Clock,
        mut ours: impl FnMut(),
        mut peer: impl FnMut(),
    ) -> Ratio {
        self.compare(name, clock, |n| time_per_op(clock, n, &mut ours), |n| time_per_op(clock, n, &mut peer))
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.quick { "quick" } else { "full" };
        write!(f, "{mode} mode, {} interleaved batches of ~{:?} per side", self.rounds, self.batch)?;
        if !self.filters.is_empty() {
            write!(f, ", only {:?}", self.filters)?;
        }
        write!(f, ", load average {}", load_average())
    }
}

/// `/proc/loadavg`'s first three fields: how busy the host is (others' work skews
/// absolute numbers; interleaving keeps the ratios fair).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// How many operations make a batch of about `batch`: grow `n` until one run takes
/// a tenth of it, then scale by the faster of that run and one more (a run that
/// another process interrupted would otherwise make every batch too short).
fn calibrate(run: &mut impl FnMut(u64) -> f64, batch: Duration) -> u64 {
    const MAX: u64 = 1 << 36;
    let batch_ns = batch.as_nanos() as f64;
    let mut n = 1;
    loop {
        let per_op = run(n).max(0.01);
        if per_op * n as f64 >= batch_ns / 10.0 || n >= MAX {
            let per_op = per_op.min(run(n).max(0.01));
            return ((batch_ns / per_op) as u64).clamp(1, MAX);
        }
        // At most 8x at a time: the first runs of a cold path can be slow.
        n = (n * 8).min(((batch_ns / 10.0 / per_op) as u64).max(n * 2));
    }
}

/// What a batch is timed with.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: for work whose cost includes sleeping and waking (hand-off).
    Wall,
    /// `CLOCK_THREAD_CPUTIME_ID` (user + system time of the calling thread): for
    /// work that never sleeps. On a shared, loaded host it leaves out the time the
    /// thread waits for a CPU, which wall time would add to whichever batch the
    /// scheduler happened to interrupt.
    Cpu,
}

impl Clock {
    pub fn now(self) -> Duration {
        let id = match self {
            Clock::Wall => libc::CLOCK_MONOTONIC,
            Clock::Cpu => libc::CLOCK_THREAD_CPUTIME_ID,
        };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; both clock ids exist on Linux.
        let rc = unsafe { libc::clock_gettime(id, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime({self:?})");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

/// Nanoseconds per call of `op`, over `n` calls, on `clock`.
#[inline(always)]
pub fn time_per_op(clock: Clock, n: u64, mut op: impl FnMut()) -> f64 {
    let start = clock.now();
    for _ in 0..n {
        op();
    }
    ns_per_op(clock.now() - start, n)
}

/// Thread CPU nanoseconds per call of `op` over `n` calls, and the share of the wall
/// time meanwhile that the thread was on a CPU (for two workers meant to contend:
/// on a busy host they may seldom run at the same moment).
#[inline(always)]
pub fn time_running(n: u64, op: impl FnMut()) -> (f64, f64) {
    let wall = Clock::Wall.now();
    let cpu = time_per_op(Clock::Cpu, n, op);
    let wall = ns_per_op(Clock::Wall.now() - wall, n);
    (cpu, (cpu / wall).min(1.0))
}

/// `elapsed` spread over `n` operations, in nanoseconds.
pub fn ns_per_op(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_nanos() as f64 / n.max(1) as f64
}

/// Sorts `values` and returns their median.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One comparison's medians.
pub struct Ratio {
    pub name: &'static str,
    pub ours: f64,
    pub peer: f64,
}

impl Ratio {
    pub fn ratio(&self) -> f64 {
        self.ours / self.peer
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RATIO {} {:.1} {:.1} {:.2}", self.name, self.ours, self.peer, self.ratio())
    }
}

/// A target: a measured value that must stay at or below a limit.
pub struct Target {
    what: &'static str,
    value: f64,
    limit: f64,
}

impl Target {
    pub fn at_most(what: &'static str, value: f64, limit: f64) -> Self {
        Target { what, value, limit }
    }

    pub fn met(&self) -> bool {
        self.value <= self.limit
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.met() { "met" } else { "MISSED" };
        write!(f, "{:<42} {:>6.2} (limit {:.2})  {verdict}", self.what, self.value, self.limit)
    }
}
