//! What `std`'s and `parking_lot`'s `Mutex` and `Condvar` offer, on shmptr's (issue
//! 15, items 2 and 5), on the arena: `Debug`, `Default`, `From`, `into_inner`, a
//! `Sync` guard, `Display`, mapped guards, unwind safety, `LockError` as an
//! `Error`, `wait_timeout_while`, notify counts, and `lock_or_repair`.

use std::error::Error;
use std::panic::{catch_unwind, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::time::Duration;

use shmptr::{ErrorKind, MappedMutexGuard, MutexGuard, WaitTimeoutResult};
use shmptr_arena::{arena_space, Arena, Condvar, Mutex, Semaphore, Shared, Space};

mod common;
use common::as_process;

/// A new simulated process locks `m`, lets `update` write through the guard, and
/// is killed holding the lock (its guard leaked, as a killed process runs no
/// destructor).
fn killed_holding<T, S: Space>(m: &Mutex<T, S>, update: impl FnOnce(&mut T)) {
    let victim = Arena::<S>::spawn();
    as_process::<S, _>(victim, || {
        let mut guard = m.lock().unwrap();
        update(&mut guard);
        std::mem::forget(guard);
    });
    // SAFETY: all `victim` made, its guard, is leaked just above; nothing runs as
    // `victim` again.
    unsafe { Arena::<S>::kill(victim) };
}

#[test]
fn mutex_debug_shows_the_value_when_free_and_locked_otherwise_without_blocking() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(5)).unwrap();
    assert_eq!(format!("{:?}", *m), r#"Mutex { data: 5, state: "consistent", .. }"#);
    assert!(m.try_lock().is_ok(), "Debug released the lock it took");

    // Held by this process (the arena has no threads: `Busy`, not `Deadlock`).
    let guard = m.lock().unwrap();
    assert_eq!(format!("{:?}", *m), r#"Mutex { data: <locked>, state: "consistent", .. }"#);
    // Held by another process.
    let other = Arena::<S>::spawn();
    let text = as_process::<S, _>(other, || format!("{:?}", *m));
    assert_eq!(text, r#"Mutex { data: <locked>, state: "consistent", .. }"#);
    drop(guard);
    assert_eq!(format!("{:#?}", *m).lines().nth(1).unwrap().trim(), "data: 5,");
}

#[test]
fn mutex_debug_of_a_dead_holders_lock_leaves_it_owner_died_for_the_next_locker() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, u32), S>, S>::create("m", Mutex::new((0, 0))).unwrap();
    killed_holding::<_, S>(&m, |value| value.0 = 1);
    // `try_lock` takes the dead holder's lock over; Debug hands it back unrepaired
    // and unchanged (neither repaired nor made `NotRecoverable`).
    assert_eq!(format!("{:?}", *m), r#"Mutex { data: <locked>, state: "owner died", .. }"#);
    assert_eq!(format!("{:?}", *m), r#"Mutex { data: <locked>, state: "owner died", .. }"#);
    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied, "still the next locker's to repair");
    let mut guard = error.into_guard().unwrap();
    assert_eq!(*guard, (1, 0));
    guard.1 = 1;
    MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert_eq!(format!("{:?}", *m), r#"Mutex { data: (1, 1), state: "consistent", .. }"#);
}

#[test]
fn condvar_and_semaphore_have_debug() {
    arena_space!(S, 1 << 20);
    let c = Condvar::<S>::new();
    assert_eq!(format!("{c:?}"), "Condvar { waiters: 0 }");
    let s = Semaphore::<S>::new(3);
    assert_eq!(format!("{s:?}"), "Semaphore { available: 3, waiters: 0 }");
}

#[test]
fn mutex_default_from_and_into_inner() {
    arena_space!(S, 1 << 20);
    let m: Mutex<u32, S> = Mutex::default();
    assert_eq!(m.into_inner(), 0);
    let m: Mutex<u32, S> = Mutex::from(3);
    *m.lock().unwrap() += 1;
    assert_eq!(m.into_inner(), 4);
    let m: Mutex<(u8, u16), S> = (7, 9).into();
    assert_eq!(m.into_inner(), (7, 9));
    let shared = Shared::<Mutex<u64, S>, S>::create("d", Mutex::default()).unwrap();
    assert_eq!(*shared.lock().unwrap(), 0);
}

#[test]
fn a_guard_is_sync_when_the_value_is_and_displays_it() {
    fn sync<T: Sync>() {}
    arena_space!(S, 1 << 20);
    sync::<MutexGuard<'static, u32, Arena<S>>>();
    sync::<MappedMutexGuard<'static, (u32, u32), u32, Arena<S>>>();

    let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(42)).unwrap();
    let guard = m.lock().unwrap();
    assert_eq!(guard.to_string(), "42");
    assert_eq!(format!("{guard:>4}"), "  42", "formatting flags reach the value");
    // Shared with another thread, which reads through `&MutexGuard`.
    std::thread::scope(|scope| {
        let guard = &guard;
        scope.spawn(move || assert_eq!(**guard, 42)).join().unwrap();
    });
    drop(guard);
    assert!(m.try_lock().is_ok());
}

#[test]
fn a_mapped_guard_writes_the_part_and_unlocks_once() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, [u8; 4]), S>, S>::create("m", Mutex::new((1, [0; 4]))).unwrap();
    let mut bytes = MutexGuard::map(m.lock().unwrap(), |value| &mut value.1);
    bytes[2] = 9;
    let mut byte = MappedMutexGuard::map(bytes, |bytes| &mut bytes[2]);
    *byte += 1;
    assert_eq!(format!("{byte:?} {byte}"), "10 10");
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Busy, "the mapped guard holds the lock");
    drop(byte);
    assert_eq!(*m.try_lock().unwrap(), (1, [0, 0, 10, 0]), "unlocked on drop");
    // An unsized part.
    let mut slice = MutexGuard::map(m.lock().unwrap(), |value| &mut value.1[..]);
    slice.fill(3);
    drop(slice);
    assert_eq!(m.lock().unwrap().1, [3; 4]);
    let before = Arena::<S>::futex_calls();
    for _ in 0..100 {
        *MutexGuard::map(m.lock().unwrap(), |value| &mut value.0) += 1;
    }
    assert_eq!(m.lock().unwrap().0, 101);
    assert_eq!(Arena::<S>::futex_calls(), before, "one lock, one unlock each: no wait, no wake");
}

#[test]
fn a_mapped_guard_in_a_forked_child_panics_and_releases_nothing() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, u32), S>, S>::create("m", Mutex::new((1, 2))).unwrap();
    let mut part = MutexGuard::map(m.lock().unwrap(), |value| &mut value.1);
    let child = Arena::<S>::spawn();
    // What a fork()ed child does with an inherited guard: it is the parent's.
    as_process::<S, _>(child, || {
        assert!(catch_unwind(AssertUnwindSafe(|| *part)).is_err(), "deref panics");
        assert!(catch_unwind(AssertUnwindSafe(|| *part += 1)).is_err(), "deref_mut panics");
    });
    *part += 40;
    drop(part);
    assert_eq!(*m.lock().unwrap(), (1, 42), "the parent's guard still works, and unlocked");

    let inherited = MutexGuard::map(m.lock().unwrap(), |value| &mut value.0);
    as_process::<S, _>(child, || drop(inherited));
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Busy, "the child's drop released nothing");
}

#[test]
fn a_guard_mapped_in_a_forked_child_panics() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, u32), S>, S>::create("m", Mutex::new((1, 2))).unwrap();
    let guard = m.lock().unwrap();
    let child = Arena::<S>::spawn();
    as_process::<S, _>(child, || {
        assert!(catch_unwind(AssertUnwindSafe(|| drop(MutexGuard::map(guard, |v| &mut v.0)))).is_err());
    });
    // The panic dropped the guard in the child: the lock stays the parent's.
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Busy);
}

#[test]
fn mutex_is_unwind_safe_as_std_s() {
    fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
    arena_space!(S, 1 << 20);
    unwind_safe::<Mutex<std::cell::Cell<u32>, S>>();
    unwind_safe::<MutexGuard<'static, u32, Arena<S>>>();
    unwind_safe::<&Mutex<u32, S>>();

    let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(0)).unwrap();
    let mutex: &Mutex<u32, S> = &m;
    // No `AssertUnwindSafe` needed.
    let result = catch_unwind(|| {
        *mutex.lock().unwrap() += 1;
        let _guard = mutex.lock().unwrap();
        panic!("with the guard held");
    });
    assert!(result.is_err());
    // The arena cannot tell it unwound (`Platform::panicking` is false there), so
    // the mutex is not poisoned; shmptr-linux's tests check the `OwnerDied`.
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn lock_error_is_an_error_for_question_mark() {
    arena_space!(S, 1 << 20);
    fn read<'a>(m: &'a Mutex<u32, S>) -> Result<u32, Box<dyn Error + 'a>> {
        Ok(*m.lock()?)
    }
    let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(3)).unwrap();
    assert_eq!(read(&m).unwrap(), 3);

    killed_holding::<_, S>(&m, |_| {});
    let error = read(&m).unwrap_err();
    assert_eq!(error.to_string(), shmptr::Error::new(ErrorKind::OwnerDied, "locking a mutex").to_string());
    assert!(error.source().is_none());
    // The boxed error held the guard: dropped unrepaired, as documented.
    drop(error);
    assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
}

#[test]
fn wait_timeout_while_reports_a_timeout_only_if_the_condition_still_holds() {
    arena_space!(S, 1 << 20);
    type Pair = (Mutex<u32, S>, Condvar<S>);
    let pair = Shared::<Pair, S>::create("p", (Mutex::new(0), Condvar::new())).unwrap();

    let (guard, result) =
        pair.1.wait_timeout_while(pair.0.lock().unwrap(), Duration::from_millis(2), |r| *r == 0).unwrap();
    assert!(result.timed_out());
    assert_eq!(result, WaitTimeoutResult::clone(&result));
    assert_eq!(*guard, 0);
    drop(guard);

    // A condition already false: no wait, not timed out, even with no time.
    *pair.0.lock().unwrap() = 1;
    let (guard, result) = pair.1.wait_timeout_while(pair.0.lock().unwrap(), Duration::ZERO, |r| *r == 0).unwrap();
    assert!(!result.timed_out());
    assert_eq!(*guard, 1);
    drop(guard);

    // False when looked at again after a wait (the arena's simulated clock ran the
    // whole timeout out meanwhile): the condition decides, not the clock.
    let mut looks = 0;
    let (guard, result) = pair
        .1
        .wait_timeout_while(pair.0.lock().unwrap(), Duration::from_millis(1), |_| {
            looks += 1;
            looks == 1
        })
        .unwrap();
    assert!(!result.timed_out());
    assert_eq!((*guard, looks), (1, 2));
}

#[test]
fn notify_returns_whether_and_how_many_waiters_were_counted() {
    arena_space!(S, 1 << 20);
    type Pair = (Mutex<u32, S>, Condvar<S>);
    let pair = Shared::<Pair, S>::create("p", (Mutex::new(0), Condvar::new())).unwrap();
    assert!(!pair.1.notify_one(), "nobody waits");
    assert_eq!(pair.1.notify_all(), 0);
    std::thread::scope(|scope| {
        scope.spawn(|| drop(pair.1.wait_while(pair.0.lock().unwrap(), |ready| *ready == 0).unwrap()));
        // The waiter is counted once it sleeps (it may also be woken for nothing).
        while pair.1.notify_all() != 1 {
            std::thread::yield_now();
        }
        while !pair.1.notify_one() {
            std::thread::yield_now();
        }
        *pair.0.lock().unwrap() = 1;
        pair.1.notify_all();
    });
    assert!(!pair.1.notify_one());
    assert_eq!(pair.1.notify_all(), 0);
}

#[test]
fn lock_or_repair_repairs_only_after_an_owner_died() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, u32), S>, S>::create("m", Mutex::new((0, 0))).unwrap();
    let mut repairs = 0;
    let mut guard = m.lock_or_repair(|_| repairs += 1).unwrap();
    guard.0 += 1;
    guard.1 += 1;
    drop(guard);
    assert_eq!(repairs, 0, "nobody died");

    // Half an update: (2, 1) breaks the invariant a == b.
    killed_holding::<_, S>(&m, |value| value.0 = 2);
    let guard = m
        .lock_or_repair(|value| {
            repairs += 1;
            value.1 = value.0;
        })
        .unwrap();
    assert_eq!(*guard, (2, 2));
    drop(guard);
    assert_eq!(repairs, 1);
    assert_eq!(*m.lock().unwrap(), (2, 2), "consistent again: later lockers succeed");

    // Other errors are returned: a mutex left unrepaired is `NotRecoverable`.
    killed_holding::<_, S>(&m, |_| {});
    drop(m.lock().unwrap_err().into_guard());
    let error = m.lock_or_repair(|_| repairs += 1).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotRecoverable);
    assert_eq!(repairs, 1);
}
