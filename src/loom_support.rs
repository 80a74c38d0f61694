//! What the loom models of the segment protocol (`segment::loom_models`) and of the
//! synchronization primitives (`sync::loom_models`) share: which process a loom
//! thread plays and which one is dead, running a model with its outcomes checked,
//! the main thread's turn, and outcome labels.

use core::cell::Cell;
use std::collections::BTreeSet;
use std::format;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use loom::model::Builder;
use loom::thread;

use crate::backend::{Liveness, ProcessId};

/// The one process every model treats as dead; every other process is alive.
pub(crate) const DEAD: u64 = 9;

loom::thread_local! {
    /// The process the current loom thread plays.
    static ME: Cell<u64> = Cell::new(0);
}

/// Makes the current loom thread play process `pid`.
pub(crate) fn play(pid: u64) {
    ME.with(|me| me.set(pid));
}

/// The process the current loom thread plays (a models' `Platform::current_process`).
pub(crate) fn current_process() -> ProcessId {
    ProcessId::new(ME.with(Cell::get)).expect("a loom thread that plays no process")
}

/// [`DEAD`] is dead, every other process alive (a models' `Platform::liveness`).
pub(crate) fn liveness(process: ProcessId) -> Liveness {
    if process.get() == DEAD {
        Liveness::Dead
    } else {
        Liveness::Alive
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

/// The process among `(pid, flag)` whose flag is set, as a label; "-" for none.
pub(crate) fn which(flags: &[(u64, bool)]) -> String {
    let set: Vec<String> = flags.iter().filter(|f| f.1).map(|f| format!("P{}", f.0)).collect();
    if set.is_empty() {
        "-".to_string()
    } else {
        set.join("+")
    }
}
