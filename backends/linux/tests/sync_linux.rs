//! Mutex, Condvar and Semaphore between real processes on Linux.
#![cfg(target_os = "linux")]

mod linux_support;

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use linux_support::{role, wait_for, Control, Scope, BOUND};
use shmptr::{Liveness, Platform, ProcessId};
use shmptr_linux::{Condvar, ErrorKind, Linux, Mutex, Semaphore, Shared};

const PROCESSES: u32 = 4;
const INCREMENTS: u64 = 100_000;

#[test]
fn four_processes_increment_a_plain_u64_exactly() {
    const TEST: &str = "four_processes_increment_a_plain_u64_exactly";
    let scope = Scope::new(TEST);
    let (control_name, counter_name) = (scope.name("control"), scope.name("counter"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let counter = Shared::<Mutex<u64>>::open(&counter_name).unwrap();
        control.ready.fetch_add(1, Ordering::AcqRel);
        wait_for(&control.go, 1);
        for _ in 0..INCREMENTS {
            *counter.lock().unwrap() += 1;
        }
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let counter = Shared::<Mutex<u64>>::create(&counter_name, Mutex::new(0)).unwrap();
    let kids: Vec<_> = (0..PROCESSES).map(|_| scope.spawn(TEST, "incrementer")).collect();
    wait_for(&control.ready, PROCESSES);
    control.go.store(1, Ordering::Release);
    kids.into_iter().for_each(|k| k.succeeds());
    assert_eq!(*counter.lock().unwrap(), u64::from(PROCESSES) * INCREMENTS);
}

/// Kills a child while it holds the lock with the pair half-updated.
fn child_dies_holding_the_lock(test: &str, scope: &Scope, m: &Mutex<(u64, u64)>, control: &Control) -> Instant {
    let kid = scope.spawn_ready(test, "holder", &control.ready);
    let killed = Instant::now();
    kid.kill();
    let _ = m;
    killed
}

fn holder_role(scope: &Scope) {
    let control = Shared::<Control>::open(&scope.name("control")).unwrap();
    let m = Shared::<Mutex<(u64, u64)>>::open(&scope.name("mutex")).unwrap();
    let mut guard = m.lock().unwrap();
    guard.0 += 1; // half an update
    control.ready_then_wait_for_go();
    unreachable!("killed first");
}

#[test]
fn a_killed_owner_is_reported_and_the_data_repaired() {
    const TEST: &str = "a_killed_owner_is_reported_and_the_data_repaired";
    let scope = Scope::new(TEST);
    if role().is_some() {
        return holder_role(&scope);
    }
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let m = Shared::<Mutex<(u64, u64)>>::create(&scope.name("mutex"), Mutex::new((0, 0))).unwrap();
    let killed = child_dies_holding_the_lock(TEST, &scope, &m, &control);
    let error = m.lock().unwrap_err();
    let noticed = killed.elapsed();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    println!("dead owner noticed {noticed:?} after SIGKILL returned");
    let mut guard = error.into_guard().unwrap();
    assert_eq!(*guard, (1, 0));
    guard.1 = guard.0;
    shmptr::MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert_eq!(*m.lock().unwrap(), (1, 1));
    assert_eq!(*m.try_lock().unwrap(), (1, 1));
}

#[test]
fn a_killed_owner_never_repaired_leaves_the_mutex_not_recoverable() {
    const TEST: &str = "a_killed_owner_never_repaired_leaves_the_mutex_not_recoverable";
    let scope = Scope::new(TEST);
    if role().is_some() {
        return holder_role(&scope);
    }
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let m = Shared::<Mutex<(u64, u64)>>::create(&scope.name("mutex"), Mutex::new((0, 0))).unwrap();
    child_dies_holding_the_lock(TEST, &scope, &m, &control);
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    drop(error); // the guard goes without make_consistent
    assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
    assert_eq!(m.lock_timeout(Duration::from_millis(10)).unwrap_err().kind(), ErrorKind::NotRecoverable);
}

const ITEMS: u32 = 1_000_000;
type Queue = (Mutex<shmptr::ShmDeque<u32, 64>>, Condvar);

#[test]
fn a_producer_and_a_consumer_move_a_million_items_in_order() {
    const TEST: &str = "a_producer_and_a_consumer_move_a_million_items_in_order";
    let scope = Scope::new(TEST);
    let name = scope.name("queue");
    if role().is_some() {
        let q = Shared::<Queue>::open(&name).unwrap();
        for i in 0..ITEMS {
            let mut g = q.1.wait_while(q.0.lock().unwrap(), |d| d.is_full()).unwrap();
            g.push_back(i).unwrap();
            let was_empty = g.len() == 1;
            drop(g);
            if was_empty {
                q.1.notify_all();
            }
        }
        return;
    }
    let q = Shared::<Queue>::create(&name, (Mutex::new(shmptr::ShmDeque::new()), Condvar::new())).unwrap();
    let producer = scope.spawn(TEST, "producer");
    let mut next = 0;
    let deadline = Instant::now() + linux_support::BOUND;
    while next < ITEMS {
        assert!(Instant::now() < deadline, "stalled at item {next}");
        let mut g = q.1.wait_while(q.0.lock().unwrap(), |d| d.is_empty()).unwrap();
        let was_full = g.is_full();
        while let Some(item) = g.pop_front() {
            assert_eq!(item, next, "in order, none lost, none doubled");
            next += 1;
        }
        drop(g);
        if was_full {
            q.1.notify_all();
        }
    }
    producer.succeeds();
    assert!(q.0.lock().unwrap().is_empty());
}

#[test]
fn timeouts_return_timeout_within_a_bounded_overshoot() {
    const TEST: &str = "timeouts_return_timeout_within_a_bounded_overshoot";
    let scope = Scope::new(TEST);
    let (control_name, m_name) = (scope.name("control"), scope.name("mutex"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let m = Shared::<Mutex<u32>>::open(&m_name).unwrap();
        let _held = m.lock().unwrap();
        control.ready_then_wait_for_go();
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let m = Shared::<Mutex<u32>>::create(&m_name, Mutex::new(0)).unwrap();
    let s = Shared::<Semaphore>::create(&scope.name("sem"), Semaphore::new(0)).unwrap();
    let c = Shared::<Condvar>::create(&scope.name("cond"), Condvar::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let limit = Duration::from_millis(20);
    // Generous: the bound is about the protocol (no lost deadline), not the scheduler.
    let overshoot = Duration::from_millis(200);
    let t = Instant::now();
    assert_eq!(m.lock_timeout(limit).unwrap_err().kind(), ErrorKind::Timeout);
    let took = t.elapsed();
    assert!(took >= limit && took < limit + overshoot, "mutex: {took:?}");
    let t = Instant::now();
    assert_eq!(s.acquire_timeout(limit).unwrap_err().kind(), ErrorKind::Timeout);
    let took = t.elapsed();
    assert!(took >= limit && took < limit + overshoot, "semaphore: {took:?}");
    let local = Shared::<Mutex<u32>>::create(&scope.name("local"), Mutex::new(0)).unwrap();
    let t = Instant::now();
    let (_guard, timed_out) = c.wait_timeout(local.lock().unwrap(), limit).unwrap();
    let took = t.elapsed();
    assert!(timed_out && took >= limit && took < limit + overshoot, "condvar: {took:?}");
    control.go.store(1, Ordering::Release);
    kid.succeeds();
}

std::thread_local! {
    /// The futex waits and wakes this thread made through [`Counting`].
    static WAITS: Cell<u32> = const { Cell::new(0) };
    static WAKES: Cell<u32> = const { Cell::new(0) };
}

/// (waits, wakes) this thread made through [`Counting`].
fn futex_calls() -> (u32, u32) {
    (WAITS.with(Cell::get), WAKES.with(Cell::get))
}

/// The Linux platform, counting each thread's futex calls.
struct Counting;

// SAFETY: identity and liveness are the Linux platform's own.
unsafe impl Platform for Counting {
    fn current_process() -> ProcessId {
        Linux::current_process()
    }
    fn liveness(p: ProcessId) -> Liveness {
        Linux::liveness(p)
    }
    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        WAITS.with(|w| w.set(w.get() + 1));
        Linux::wait(word, expected, timeout)
    }
    fn wake(word: &AtomicU32, count: u32) {
        WAKES.with(|w| w.set(w.get() + 1));
        Linux::wake(word, count)
    }
    fn now_nanos() -> u64 {
        Linux::now_nanos()
    }
}

#[test]
fn uncontended_lock_unlock_make_no_futex_call_on_linux() {
    let scope = Scope::new("uncontended_lock_unlock_make_no_futex_call_on_linux");
    let m = Shared::<shmptr::Mutex<u64, Counting>>::create(&scope.name("m"), shmptr::Mutex::new(0)).unwrap();
    for _ in 0..100_000 {
        *m.lock().unwrap() += 1;
    }
    assert_eq!(*m.lock().unwrap(), 100_000);
    assert_eq!(futex_calls(), (0, 0));
}

#[test]
fn a_notify_makes_a_futex_call_only_when_somebody_waits() {
    let scope = Scope::new("a_notify_makes_a_futex_call_only_when_somebody_waits");
    let flag = Shared::<shmptr::Mutex<u8, Counting>>::create(&scope.name("flag"), shmptr::Mutex::new(0)).unwrap();
    let changed = Shared::<shmptr::Condvar<Counting>>::create(&scope.name("changed"), shmptr::Condvar::new()).unwrap();
    for _ in 0..100_000 {
        changed.notify_one();
        changed.notify_all();
    }
    assert_eq!(futex_calls(), (0, 0), "nobody waits: no wake");

    // A waiter that says so while it still holds the lock: once we get the lock
    // after that, it is waiting (counted before it unlocked).
    let waiting = AtomicU32::new(0);
    std::thread::scope(|threads| {
        let waiter = threads.spawn(|| {
            let mut guard = flag.lock().unwrap();
            waiting.store(1, Ordering::Release);
            while *guard == 0 {
                let (relocked, timed_out) = changed.wait_timeout(guard, BOUND).unwrap();
                assert!(!timed_out, "the notify was lost");
                guard = relocked;
            }
        });
        wait_for(&waiting, 1);
        let mut guard = flag.lock().unwrap();
        *guard = 1;
        changed.notify_one();
        // Counted before unlocking: the unlock may wake the waiter once more, if it
        // woke, found the lock held and went to sleep on the mutex.
        let wakes = futex_calls().1;
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(wakes, 1, "a waiter: one wake");
    });
}

/// A mutex and its condition variable in one object, at known offsets.
#[repr(C)]
struct Pair {
    flag: Mutex<u32>,
    changed: Condvar,
}
shmptr::shm_safe!(Pair { flag, changed });

#[test]
fn a_zeroed_waiter_count_delays_a_condvar_wake_up_by_at_most_a_second() {
    // Found by review: a third process that zeroes a `Condvar`'s waiter count makes
    // the next notify skip its wake, and an untimed wait slept for good. An untimed
    // wait now looks again every `UNTIMED_RECHECK` (1 s): it returns, at worst
    // that much later, and idle waiting costs one wake-up a second.
    use std::os::unix::fs::FileExt;
    let scope = Scope::new("a_zeroed_waiter_count_delays_a_condvar_wake_up_by_at_most_a_second");
    let name = scope.name("pair");
    let pair = Shared::<Pair>::options()
        .slots(1)
        .create(&name, Pair { flag: Mutex::new(0), changed: Condvar::new() })
        .unwrap();
    // The value starts after the header (320 bytes) and one slot (64): the waiter
    // count is the condition variable's second word (FORMAT.md).
    let waiters_at = 384 + std::mem::offset_of!(Pair, changed) as u64 + 4;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(format!("/dev/shm/{name}")).unwrap();
    let read_waiters = || {
        let mut word = [0u8; 4];
        file.read_exact_at(&mut word, waiters_at).unwrap();
        u32::from_ne_bytes(word)
    };
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let guard = pair.changed.wait_while(pair.flag.lock().unwrap(), |flag| *flag == 0).unwrap();
            assert_eq!(*guard, 1);
        });
        // The waiter counted itself and sleeps (or is about to).
        let deadline = Instant::now() + BOUND;
        while read_waiters() == 0 {
            assert!(Instant::now() < deadline, "the waiter never counted itself");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        // A third process zeroes the count; the notify then sees nobody waiting.
        file.write_all_at(&0u32.to_ne_bytes(), waiters_at).unwrap();
        let notified = Instant::now();
        *pair.flag.lock().unwrap() = 1;
        pair.changed.notify_one();
        while !waiter.is_finished() {
            if notified.elapsed() > Duration::from_secs(5) {
                // Unblock it for good before failing, so the test ends.
                file.write_all_at(&1u32.to_ne_bytes(), waiters_at).unwrap();
                pair.changed.notify_all();
                panic!("the waiter slept on after a notify its count hid from (more than 5 s)");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let late = notified.elapsed();
        eprintln!("the waiter returned {late:?} after the notify");
        assert!(late <= shmptr::sync::UNTIMED_RECHECK + Duration::from_millis(500), "{late:?}");
        waiter.join().unwrap();
    });
    drop(pair);
    assert!(!Scope::exists(&name));
}

/// A thread unwinding from a panic with the guard held leaves the mutex as a dead
/// owner would (issue 15, poisoning): the next `lock` gets `OwnerDied` with the
/// half-done value, in this process and in another.
#[test]
fn a_thread_that_panics_holding_the_lock_leaves_it_owner_died() {
    let scope = Scope::new("a_thread_that_panics_holding_the_lock_leaves_it_owner_died");
    if role().is_some() {
        return;
    }
    let m = Shared::<Mutex<(u64, u64)>>::create(&scope.name("mutex"), Mutex::new((0, 0))).unwrap();
    std::thread::scope(|s| {
        let panicked = s
            .spawn(|| {
                let mut guard = m.lock().unwrap();
                guard.0 = 1; // half an update
                panic!("panicking with the guard held (expected by the test)");
            })
            .join();
        assert!(panicked.is_err(), "the thread panicked");
    });
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    let mut guard = error.into_guard().expect("OwnerDied carries the guard");
    assert_eq!(*guard, (1, 0));
    guard.1 = 1;
    shmptr::MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert_eq!(*m.lock().unwrap(), (1, 1), "repaired, usable again");
    // A guard dropped normally, even while another thread panics elsewhere, does not
    // poison: only the unwinding thread's own guard does.
    drop(m.lock().unwrap());
    assert!(m.try_lock().is_ok());
}

#[test]
fn a_process_that_panics_and_unwinds_holding_the_lock_leaves_it_owner_died() {
    const TEST: &str = "a_process_that_panics_and_unwinds_holding_the_lock_leaves_it_owner_died";
    let scope = Scope::new(TEST);
    if role().is_some() {
        let m = Shared::<Mutex<(u64, u64)>>::open(&scope.name("mutex")).unwrap();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut guard = m.lock().unwrap();
            guard.0 = 7; // half an update
            panic!("panicking with the guard held (expected by the test)");
        }));
        assert!(unwound.is_err(), "the closure panicked and unwound");
        return; // exits 0, its handles dropped normally
    }
    let m = Shared::<Mutex<(u64, u64)>>::create(&scope.name("mutex"), Mutex::new((0, 0))).unwrap();
    scope.spawn(TEST, "panicker").succeeds();
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied, "the other process's unwinding poisons it");
    let guard = error.into_guard().expect("OwnerDied carries the guard");
    assert_eq!(*guard, (7, 0));
    drop(guard); // not repaired: NotRecoverable for every process, as after a death
    assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
}
