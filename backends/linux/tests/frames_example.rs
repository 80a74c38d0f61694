//! The `frames` example (`examples/frames.rs`) run as a user runs it: whole
//! streams in both forms, and streams whose producer or consumer is SIGKILLed
//! mid-stream, after which the survivor must leave `/dev/shm` as it found it.
//!
//! The test runs the example's own binary (`target/<profile>/examples/frames`,
//! which it asks cargo to build first) and reimplements nothing of it.

mod linux_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use linux_support::{Scope, BOUND};

/// The exit status of the example when its peer died mid-stream.
const PEER_GONE: i32 = 3;

/// `target/<profile>/examples/frames`, beside this test's `deps/` directory, built
/// first (by the cargo running this test, with the profile `cargo test` builds
/// examples with: a no-op after an unfiltered `cargo test`).
fn example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
            let target = dir.parent().expect("target/<profile>");
            let profile = match dir.file_name().and_then(|n| n.to_str()) {
                Some("release") => "bench",
                _ => "test",
            };
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "shmptr-linux", "--example", "frames", "--profile", profile])
                .arg("--manifest-path")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .arg("--target-dir")
                .arg(target)
                .status()
                .expect("running cargo to build the frames example");
            assert!(status.success(), "building the frames example: {status}");
            let path = dir.join("examples").join("frames");
            assert!(path.exists(), "{} is missing after building it", path.display());
            path
        })
        .clone()
}

/// A run of the example, its stdout lines arriving on a channel.
struct Run {
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    fn start(scope: &Scope, extra: &[&str]) -> Run {
        let mut child = Command::new(example())
            .args(["--prefix", &scope.prefix])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the frames example");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (send, lines) = mpsc::channel();
        // The producer writes to the same pipe: the reader ends when both are gone.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("  | {line}");
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Run { child: Some(child), lines, seen: Vec::new() }
    }

    /// The first line starting with `start`, waited for (bounded).
    fn line(&mut self, start: &str) -> String {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(line) = self.seen.iter().find(|l| l.starts_with(start)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(e) => panic!("no line starting with {start:?} ({e}); saw {:?}", self.seen),
            }
        }
    }

    /// The pids from the first line: (consumer, producer).
    fn pids(&mut self) -> (u32, u32) {
        let line = self.line("frames: consumer ");
        let mut numbers = line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok());
        (numbers.next().expect("the consumer's pid"), numbers.next().expect("the producer's pid"))
    }

    /// The consumer's exit status, waited for (bounded).
    fn status(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("a running consumer");
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the consumer") {
                return status;
            }
            assert!(Instant::now() < deadline, "the frames example ran over {BOUND:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILLs the consumer (this test's child) and reaps it.
    fn kill_consumer(&mut self) {
        let child = self.child.as_mut().expect("a running consumer");
        child.kill().expect("SIGKILL to the consumer");
        child.wait().expect("reaping the consumer");
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGKILLs process `pid` (the example's producer, not this test's child).
fn sigkill(pid: u32) {
    // SAFETY: kill(2) takes a pid and a signal number and touches no memory of ours.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill({pid}, SIGKILL): {}", std::io::Error::last_os_error());
}

/// Whether `pid` runs: it exists and is not a zombie (an orphaned producer's
/// zombie is reaped by whoever adopted it, maybe never in a container).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X' | 'x'))
        }
        Err(_) => false,
    }
}

/// Waits (bounded) until `pid` no longer runs.
fn wait_gone(pid: u32) {
    let deadline = Instant::now() + BOUND;
    while running(pid) {
        assert!(Instant::now() < deadline, "the producer {pid} ran over {BOUND:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a whole stream and checks its summary line and what it left.
fn whole_stream(scope: &Scope, bytes: usize, frames: u64, fresh: bool) {
    let (bytes_arg, frames_arg) = (bytes.to_string(), frames.to_string());
    let mut args = vec!["--bytes", &bytes_arg, "--frames", &frames_arg];
    if fresh {
        args.push("--fresh");
    }
    let mut run = Run::start(scope, &args);
    let (_, producer) = run.pids();
    let summary = run.line(&format!("frames: {frames} frames of "));
    let status = run.status();
    assert!(status.success(), "the stream failed: {status}; saw {:?}", run.seen);
    let expected = format!("frames: {frames} frames of {bytes} bytes, ");
    assert!(summary.starts_with(&expected), "summary {summary:?}, expected it to start with {expected:?}");
    assert!(summary.contains(" frames/s, ") && summary.ends_with(" MiB/s"), "summary {summary:?}");
    wait_gone(producer);
    assert_eq!(scope.leftovers(), Vec::<String>::new(), "a whole stream left objects behind");
}

#[test]
fn reused_frames_arrive_intact_and_the_stream_leaves_nothing() {
    let scope = Scope::new("frames-reused");
    // Not a multiple of 8: the tail bytes are checked too.
    whole_stream(&scope, 100_003, 500, false);
}

#[test]
fn fresh_frames_arrive_intact_and_the_stream_leaves_nothing() {
    let scope = Scope::new("frames-fresh");
    whole_stream(&scope, 100_003, 200, true);
}

/// Which process of a stream the test kills.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Producer,
    Consumer,
}

/// Starts an endless stream, SIGKILLs `victim` `after` it began, and checks that
/// the survivor ends on its own and leaves `/dev/shm` as it was.
fn killed_mid_stream(scope: &Scope, victim: Victim, fresh: bool, after: Duration) {
    let mut args = vec!["--bytes", "65536", "--frames", "100000000"];
    if fresh {
        args.push("--fresh");
    }
    let mut run = Run::start(scope, &args);
    let (_, producer) = run.pids();
    std::thread::sleep(after);
    match victim {
        Victim::Producer => {
            sigkill(producer);
            let status = run.status();
            assert_eq!(status.code(), Some(PEER_GONE), "the consumer after the producer's death: {status}");
            assert!(run.line("frames: the producer is gone after ").contains("/dev/shm is clean"));
        }
        Victim::Consumer => {
            run.kill_consumer();
            wait_gone(producer);
            assert!(run.line("frames: the consumer is gone after ").contains("/dev/shm is clean"));
        }
    }
    let left = scope.leftovers();
    assert!(left.is_empty(), "{victim:?} killed {after:?} into a stream (fresh: {fresh}); left {left:?}");
}

/// Kill points from the stream's first frames to well into it.
const KILL_AFTER_MS: [u64; 4] = [0, 3, 40, 200];

#[test]
fn a_killed_producer_leaves_nothing_once_the_consumer_finishes() {
    let scope = Scope::new("frames-kill-producer");
    for fresh in [false, true] {
        for ms in KILL_AFTER_MS {
            killed_mid_stream(&scope, Victim::Producer, fresh, Duration::from_millis(ms));
        }
    }
}

#[test]
fn a_killed_consumer_leaves_nothing_once_the_producer_finishes() {
    let scope = Scope::new("frames-kill-consumer");
    for fresh in [false, true] {
        for ms in KILL_AFTER_MS {
            killed_mid_stream(&scope, Victim::Consumer, fresh, Duration::from_millis(ms));
        }
    }
}
