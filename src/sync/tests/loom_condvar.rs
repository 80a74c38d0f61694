//! loom models of [`Condvar`]: a notify is never lost.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`condvar_notify_one`]: a producer raises a flag under the mutex and notifies
//!   one (under the lock, or after unlocking); the consumer's `wait_while(!flag)`
//!   always returns, having seen the flag, whether the notify came before it read
//!   the sequence, before it slept, or after.
//! - [`condvar_notify_all`]: two consumers sleep on the condition variable; one
//!   `notify_all` wakes both, and both return having seen the flag.
//! - [`condvar_notify_one_kernel`]: as `condvar_notify_one` with the notify under
//!   the lock, both processes in the kernel's lock domain: the consumer relocks
//!   portably or through the kernel (`FUTEX_LOCK_PI2`), asleep there until the
//!   producer's unlock hands it the word, and returns having seen the flag.

use core::time::Duration;
use std::format;
use std::string::String;
use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::Arc;

use super::{model, warm_up};
use crate::loom_support::{
    address, become_process, main_turn, slept_on, spawn_as, spawn_in_kernel, use_kernel, Model, FUTEX,
};
use crate::sync::{Condvar, Mutex};

/// A flag guarded by a mutex, and a condition variable to wait for it.
struct Signal {
    mutex: Mutex<Flag, Model>,
    condvar: Condvar<Model>,
}

/// A flag loom checks: written and read only under the mutex.
struct Flag(UnsafeCell<bool>);

impl Flag {
    fn get(&self) -> bool {
        // SAFETY: the cell lives as long as `self`; loom fails the model if this read
        // is not ordered with the write.
        self.0.with(|flag| unsafe { *flag })
    }

    fn set(&self) {
        // SAFETY: as in `get`.
        self.0.with_mut(|flag| unsafe { *flag = true });
    }
}

/// A signal with the flag down, its mutex warmed up ([`warm_up`]), and its
/// condition variable too: the main thread (process 1) already waited on it once
/// with a zero timeout, so that its `waiters` word holds a SeqCst store, for the
/// notifiers' load of it.
///
/// With `kernel`, the main thread is in the kernel's lock domain ([`use_kernel`])
/// and so is the mutex; its warm-up is not needed (no portable waiter counts
/// itself in its `waiters`).
fn warmed_signal(kernel: bool) -> Arc<Signal> {
    let mutex = Mutex::new(Flag(UnsafeCell::new(false)));
    if kernel {
        become_process(1, 0);
        use_kernel();
    } else {
        warm_up(&mutex);
    }
    let signal = Signal { mutex, condvar: Condvar::new() };
    let guard = signal.mutex.lock().expect("locking an unlocked mutex");
    let (guard, timed_out) = signal.condvar.wait_timeout(guard, Duration::ZERO).expect("relocking a mutex");
    assert!(timed_out && !guard.get());
    drop(guard);
    FUTEX.forget_history();
    Arc::new(signal)
}

/// Waits for the flag: (waited on the condition variable at least once, slept on
/// the condition variable's word, slept on the mutex's).
fn wait_for_flag(signal: &Signal) -> (bool, bool, bool) {
    let mut checks = 0;
    let guard = signal.mutex.lock().expect("locking a mutex with live owners");
    let guard = signal
        .condvar
        .wait_while(guard, |flag| {
            checks += 1;
            !flag.get()
        })
        .expect("relocking a mutex with live owners");
    assert!(guard.get(), "wait_while returned with the flag down");
    drop(guard);
    let on_condvar = slept_on(Some(address(&signal.condvar)));
    (checks > 1, on_condvar > 0, slept_on(None) > on_condvar)
}

/// Raises the flag and notifies, under the lock or after unlocking.
fn raise_flag(signal: &Signal, under_lock: bool, all: bool) {
    let guard = signal.mutex.lock().expect("locking a mutex with live owners");
    guard.set();
    let notify = || if all { signal.condvar.notify_all() != 0 } else { signal.condvar.notify_one() };
    if under_lock {
        notify();
        drop(guard);
    } else {
        drop(guard);
        notify();
    }
}

fn wait_label(pid: u64, (waited, on_condvar, on_mutex): (bool, bool, bool)) -> String {
    format!(
        "P{pid} {}{}{}",
        if waited { "waited" } else { "did not wait" },
        if on_condvar { ", slept on condvar" } else { "" },
        if on_mutex { ", slept on mutex" } else { "" }
    )
}

#[test]
fn condvar_notify_one() {
    // The consumer may find the flag up at once; or wait, and then either see the
    // notify before it sleeps or sleep until it; and sleep on the mutex while the
    // producer holds it. After a notify under the lock, the consumer may sleep on
    // the mutex on its way back.
    let notified_under_lock: &[&str] = &[
        "P2 did not wait",
        "P2 did not wait, slept on mutex",
        "P2 waited",
        "P2 waited, slept on condvar",
        "P2 waited, slept on condvar, slept on mutex",
        "P2 waited, slept on mutex",
    ];
    let after_unlock: &[&str] =
        &["P2 did not wait", "P2 did not wait, slept on mutex", "P2 waited", "P2 waited, slept on condvar"];
    // One run only for the notify under the lock, for time: 5 s each.
    let runs_under_lock: &[bool] = &[false];
    for (under_lock, runs, outcomes) in
        [(true, runs_under_lock, notified_under_lock), (false, &[false, true][..], after_unlock)]
    {
        model(runs, outcomes, move |main_last| {
            let signal = warmed_signal(false);
            let consumer = spawn_as(2, 0, &signal, wait_for_flag);
            main_turn(main_last);
            raise_flag(&signal, under_lock, false);
            wait_label(2, consumer.join().unwrap())
        });
    }
}

#[test]
fn condvar_notify_all() {
    // Both wake; either may sleep on the mutex while the other holds it.
    const OUTCOMES: &[&str] = &[
        "P2 waited, slept on condvar; P3 waited, slept on condvar",
        "P2 waited, slept on condvar, slept on mutex; P3 waited, slept on condvar",
        "P2 waited, slept on condvar; P3 waited, slept on condvar, slept on mutex",
    ];
    model(&[false], OUTCOMES, |_| {
        let signal = warmed_signal(false);
        // Each consumer comes once the one before sleeps on the condition variable,
        // and the flag is raised once both do: a consumer spinning on the mutex while
        // others lock and unlock it makes the model too big for loom.
        let consumers: Vec<_> = [2, 3]
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let consumer = spawn_as(p, 0, &signal, wait_for_flag);
                FUTEX.await_sleepers(Some(address(&signal.condvar)), i + 1);
                consumer
            })
            .collect();
        raise_flag(&signal, false, true);
        let labels: Vec<String> =
            consumers.into_iter().zip([2, 3]).map(|(c, p)| wait_label(p, c.join().unwrap())).collect();
        labels.join("; ")
    });
}

#[test]
fn condvar_notify_one_kernel() {
    // As `condvar_notify_one` with the notify under the lock, both processes in
    // the kernel's lock domain. The consumer has two expiries: one may end its
    // sleep on the condition variable early (a spurious wake-up, as
    // `UNTIMED_RECHECK` allows), and one a portable sleep on the mutex, after which
    // it relocks in the kernel ("in kernel"), handed the word by the producer's
    // unlock.
    const OUTCOMES: &[&str] = &[
        "P2 did not wait",
        "P2 did not wait, slept on mutex",
        "P2 did not wait, slept on mutex (in kernel)",
        "P2 waited",
        "P2 waited, slept on condvar",
        "P2 waited, slept on condvar, slept on mutex",
        "P2 waited, slept on condvar, slept on mutex (in kernel)",
        "P2 waited, slept on mutex",
        "P2 waited, slept on mutex (in kernel)",
    ];
    model(&[false, true], OUTCOMES, |main_last| {
        let signal = warmed_signal(true);
        let consumer =
            spawn_in_kernel(2, 2, &signal, |signal| (wait_for_flag(signal), slept_on(Some(address(&signal.mutex)))));
        main_turn(main_last);
        raise_flag(&signal, true, false);
        let (waited, in_kernel) = consumer.join().unwrap();
        format!("{}{}", wait_label(2, waited), if in_kernel > 0 { " (in kernel)" } else { "" })
    });
}
