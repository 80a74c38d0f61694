//! loom model of [`Semaphore`]: one permit handed out and passed on.
//!
//! What the model proves, over every interleaving loom explores:
//! - [`semaphore_one_permit`]: the releaser hands out the one permit while two
//!   processes acquire, take a turn and release: never two holders, each sees the
//!   previous one's write, `available` ends at 1, and an acquirer that sleeps (even
//!   twice, when the other takes the permit first) is woken by a release.

use core::time::Duration;
use std::format;
use std::vec::Vec;

use loom::sync::Arc;

use super::{model, sleeps, Protected};
use crate::error::ErrorKind;
use crate::loom_support::{become_process, main_turn, slept_on, spawn_as, Model, FUTEX};
use crate::sync::Semaphore;

/// A semaphore and what its permit protects.
struct Permits {
    semaphore: Semaphore<Model>,
    data: Protected,
}

/// A semaphore with no permits on which the main thread (process 1) already ran the
/// slow path of `acquire` once (a timed-out `acquire_timeout`), so that its
/// `waiters` word holds a SeqCst store, for `release`'s load of it: see
/// [`warm_up`](super::warm_up).
fn warmed_semaphore() -> Arc<Permits> {
    let permits = Permits { semaphore: Semaphore::new(0), data: Protected::new() };
    become_process(1, 1);
    let error = permits.semaphore.acquire_timeout(Duration::from_nanos(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    become_process(1, 0);
    FUTEX.forget_history();
    Arc::new(permits)
}

/// Acquires a permit, takes a turn (alone: there is one permit) and releases it.
fn acquire_turn(permits: &Permits) -> (u32, usize) {
    permits.semaphore.acquire();
    let before = permits.data.turn(1);
    permits.semaphore.release();
    (before, slept_on(None))
}

#[test]
fn semaphore_one_permit() {
    // An acquirer may sleep until the release, or be woken and lose the permit to
    // the other acquirer and sleep again; the first acquirer sleeps at most once.
    const OUTCOMES: &[&str] = &[
        "first P2, P2 slept 0x, P3 slept 0x",
        "first P2, P2 slept 0x, P3 slept 1x",
        "first P2, P2 slept 0x, P3 slept 2x",
        "first P2, P2 slept 1x, P3 slept 0x",
        "first P2, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 0x, P3 slept 0x",
        "first P3, P2 slept 0x, P3 slept 1x",
        "first P3, P2 slept 1x, P3 slept 0x",
        "first P3, P2 slept 1x, P3 slept 1x",
        "first P3, P2 slept 2x, P3 slept 0x",
    ];
    model(&[false, true], OUTCOMES, |main_last| {
        let permits = warmed_semaphore();
        let acquirers: Vec<_> = [2, 3].into_iter().map(|p| spawn_as(p, 0, &permits, acquire_turn)).collect();
        main_turn(main_last);
        // The releaser hands out the one permit.
        permits.semaphore.release();
        let results: Vec<(u32, usize)> = acquirers.into_iter().map(|a| a.join().unwrap()).collect();
        assert_eq!(permits.semaphore.available(), 1, "the permit count did not return to 1");
        assert_eq!(permits.data.value(), 2, "a turn was lost");
        format!("first P{}, {}", if results[0].0 == 0 { 2 } else { 3 }, sleeps(&[(2, results[0].1), (3, results[1].1)]))
    });
}
