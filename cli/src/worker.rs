//! `reclaim` and `remove` of one object, each in a child process.
//!
//! `shmptr_linux::reclaim` and `shmptr_linux::remove` map the object's file. A
//! peer that can write the file can shrink it meanwhile, and touching a mapped
//! page past the new end kills the process with SIGBUS: no library can catch
//! that. So the command runs each object's reclaim or remove in a child (this
//! very binary, re-executed with the hidden subcommand `__worker`), which prints
//! its [`Outcome`] as JSON on its standard output; a child killed by a signal
//! is reported as a failure for that object only, and `reclaim --all` goes on.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, Stdio};

use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use crate::report::Failure;

/// The hidden subcommand a worker runs: `shmptr __worker OP -- NAME`.
pub const SUBCOMMAND: &str = "__worker";

/// What a worker does to its one object.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `shmptr_linux::reclaim`.
    Reclaim,
    /// `shmptr_linux::remove`.
    Remove,
}

impl Op {
    fn arg(self) -> &'static str {
        match self {
            Op::Reclaim => "reclaim",
            Op::Remove => "remove",
        }
    }

    /// `reclaiming` or `removing`.
    fn doing(self) -> &'static str {
        match self {
            Op::Reclaim => "reclaiming",
            Op::Remove => "removing",
        }
    }
}

/// A worker's answer: what the library returned.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `reclaim` returned `Ok`.
    Reclaimed { holders: u32, destroyed: bool },
    /// `remove` returned `Ok`.
    Removed,
    /// The library returned an error, or the worker died (kind `Killed`).
    Failed(Failure),
}

/// In the worker: does `op` on `name`, prints the outcome, exits 0 (a failure
/// of the library is an outcome too).
pub fn serve(op: Op, name: &str) -> ExitCode {
    // A worker killed by SIGBUS is an expected outcome, not a crash to keep a
    // core of. Lowering its own soft limit needs no privilege.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit { current: Some(0), maximum: limit.maximum },
    );
    let outcome = match op {
        Op::Reclaim => match shmptr_linux::reclaim(name) {
            Ok(done) => Outcome::Reclaimed { holders: done.holders, destroyed: done.destroyed },
            Err(e) => Outcome::Failed(Failure::of(name, &e)),
        },
        Op::Remove => match shmptr_linux::remove(name) {
            Ok(()) => Outcome::Removed,
            Err(e) => Outcome::Failed(Failure::of(name, &e)),
        },
    };
    let mut out = std::io::stdout().lock();
    match serde_json::to_writer(&mut out, &outcome).map_err(std::io::Error::from).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// In the command: runs `op` on `name` in a worker and returns its outcome; a
/// worker that could not start, died or answered nothing readable is a
/// [`Outcome::Failed`].
pub fn run(op: Op, name: &str) -> Outcome {
    let failed = |kind: &str, message: String| {
        Outcome::Failed(Failure {
            kind: kind.to_owned(),
            during: format!("{} it (in a worker process)", op.doing()),
            message,
        })
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed("Os", format!("cannot find this program to start a worker process: {e}")),
    };
    let output = match Command::new(&exe)
        .args([SUBCOMMAND, op.arg(), "--", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(output) => output,
        Err(e) => return failed("Os", format!("cannot start a worker process ({}): {e}", exe.display())),
    };
    if let Some(signal) = output.status.signal() {
        let message = match signal {
            s if s == Signal::BUS.as_raw() => {
                format!("killed by SIGBUS while {}: the file shrank under it (a peer truncated it)", op.doing())
            }
            s if s == Signal::SEGV.as_raw() => format!("killed by SIGSEGV while {}", op.doing()),
            _ => format!("killed by signal {signal} while {}", op.doing()),
        };
        return failed("Killed", message);
    }
    match serde_json::from_slice::<Outcome>(&output.stdout) {
        Ok(outcome) if output.status.success() => outcome,
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            failed("Os", format!("the worker process {} failed ({}): {last}", op.doing(), output.status))
        }
    }
}
