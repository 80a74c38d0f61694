//! Mutex, Condvar and Semaphore semantics on the arena: deterministic owner death
//! (a simulated process killed while holding the lock) and a count of what would be
//! futex system calls.

use std::time::Duration;

use shmptr::ErrorKind;
use shmptr_arena::{arena_space, Arena, Condvar, Mutex, Semaphore, Shared, Space};

/// A new simulated process locks `m`, lets `update` write through the guard, and
/// is killed holding the lock (its guard leaked, as a killed process runs no
/// destructor). The caller's process is current again afterwards.
fn killed_holding<T, S: Space>(m: &Mutex<T, S>, update: impl FnOnce(&mut T)) {
    let victim = Arena::<S>::spawn();
    // SAFETY: only the calling test's thread uses `S` (each test declares its own),
    // and `victim` is alive.
    let previous = unsafe { Arena::<S>::enter(victim) };
    let mut guard = m.lock().unwrap();
    update(&mut guard);
    std::mem::forget(guard);
    // SAFETY: as above; `previous` is alive.
    unsafe { Arena::<S>::enter(previous) };
    // SAFETY: all `victim` made, its guard, is leaked just above (`m` belongs to the
    // caller's process); nothing runs as `victim` again.
    unsafe { Arena::<S>::kill(victim) };
}

#[test]
fn uncontended_lock_and_unlock_make_no_futex_call() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<u64, S>, S>::create("m", Mutex::new(0)).unwrap();
    let before = Arena::<S>::futex_calls();
    for _ in 0..1000 {
        *m.lock().unwrap() += 1;
        *m.try_lock().unwrap() += 1;
    }
    assert_eq!(*m.lock().unwrap(), 2000);
    assert_eq!(Arena::<S>::futex_calls(), before, "no wait, no wake");
}

#[test]
fn a_held_lock_is_busy_for_try_lock_and_times_out_for_lock_timeout() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<u64, S>, S>::create("m", Mutex::new(0)).unwrap();
    let guard = m.lock().unwrap();
    let other = Arena::<S>::spawn();
    // SAFETY: only this thread uses `S` (declared in this test), and `other` is alive.
    let previous = unsafe { Arena::<S>::enter(other) };
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Busy);
    assert_eq!(m.lock_timeout(Duration::from_millis(5)).unwrap_err().kind(), ErrorKind::Timeout);
    // SAFETY: as above; `previous` is alive.
    unsafe { Arena::<S>::enter(previous) };
    drop(guard);
    assert!(m.try_lock().is_ok());
}

#[test]
fn a_dead_owner_is_reported_with_the_guard_and_can_be_repaired() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<(u32, u32), S>, S>::create("m", Mutex::new((0, 0))).unwrap();
    // Half an update: (1, 0) breaks the invariant a == b.
    killed_holding::<_, S>(&m, |value| value.0 = 1);

    let error = m.lock().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OwnerDied);
    let mut guard = error.into_guard().expect("OwnerDied carries the guard");
    assert_eq!(*guard, (1, 0));
    guard.1 = 1; // repair
    shmptr::MutexGuard::make_consistent(&mut guard);
    drop(guard);
    assert_eq!(*m.lock().unwrap(), (1, 1), "later lockers succeed");
}

#[test]
fn a_dead_owner_not_repaired_makes_the_mutex_not_recoverable() {
    arena_space!(S, 1 << 20);
    let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(0)).unwrap();
    killed_holding::<_, S>(&m, |_| {});
    let guard = m.try_lock().unwrap_err().into_guard().unwrap();
    drop(guard); // no make_consistent
    for _ in 0..3 {
        assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
        assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::NotRecoverable);
    }
}

#[test]
fn semaphore_counts_permits() {
    arena_space!(S, 1 << 20);
    let s = Shared::<Semaphore<S>, S>::create("s", Semaphore::new(2)).unwrap();
    s.acquire();
    s.try_acquire().unwrap();
    assert_eq!(s.available(), 0);
    assert_eq!(s.try_acquire().unwrap_err().kind(), ErrorKind::Busy);
    assert_eq!(s.acquire_timeout(Duration::from_millis(3)).unwrap_err().kind(), ErrorKind::Timeout);
    s.release();
    assert_eq!(s.available(), 1);
    s.acquire_timeout(Duration::from_millis(3)).unwrap();
}

#[test]
fn condvar_wait_timeout_reports_the_timeout_and_relocks() {
    arena_space!(S, 1 << 20);
    let state = Shared::<(Mutex<u32, S>, Condvar<S>), S>::create("c", (Mutex::new(0), Condvar::new())).unwrap();
    let guard = state.0.lock().unwrap();
    let (guard, timed_out) = state.1.wait_timeout(guard, Duration::from_millis(2)).unwrap();
    assert!(timed_out);
    drop(guard);
    assert!(state.0.try_lock().is_ok(), "the wait unlocked and relocked");
}

#[test]
fn condvar_hands_items_between_threads_without_losing_any() {
    arena_space!(S, 1 << 20);
    type Queue = (Mutex<shmptr::ShmDeque<u32, 8>, S>, Condvar<S>);
    let q = Shared::<Queue, S>::create("q", (Mutex::new(shmptr::ShmDeque::new()), Condvar::new())).unwrap();
    const ITEMS: u32 = 2_000;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..ITEMS {
                let mut g = q.1.wait_while(q.0.lock().unwrap(), |d| d.is_full()).unwrap();
                g.push_back(i).unwrap();
                drop(g);
                q.1.notify_all();
            }
        });
        let mut next = 0;
        while next < ITEMS {
            let mut g = q.1.wait_while(q.0.lock().unwrap(), |d| d.is_empty()).unwrap();
            while let Some(item) = g.pop_front() {
                assert_eq!(item, next, "in order, none lost");
                next += 1;
            }
            drop(g);
            q.1.notify_all();
        }
    });
}

#[test]
fn a_zero_or_tiny_timeout_still_takes_over_a_dead_owner() {
    // Found by review: `lock_timeout(0)` (and 1 µs) ran out before ever looking at
    // the owner, so a provably dead owner's lock stayed `Timeout` forever while
    // `try_lock` recovered it at once.
    for timeout in [Duration::ZERO, Duration::from_micros(1)] {
        arena_space!(S, 1 << 20);
        let m = Shared::<Mutex<u32, S>, S>::create("m", Mutex::new(0)).unwrap();
        killed_holding::<_, S>(&m, |_| {});
        let error = m.lock_timeout(timeout).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OwnerDied, "{timeout:?}");
        let mut guard = error.into_guard().expect("OwnerDied carries the guard");
        shmptr::MutexGuard::make_consistent(&mut guard);
    }
}

#[test]
fn a_lock_word_no_thread_could_have_written_is_corrupt_not_held_forever() {
    // Found by review: a lock word that names no holder can never be proven dead
    // nor unlocked, so the mutex stayed "held" for good (`Busy`, `Timeout`). It is
    // `Corrupt`, as a garbage `Unique` owner word is. In the arena (no lock domain)
    // every holder stores the foreign tid 0x3fff_ffff and names itself beside it.
    arena_space!(S, 1 << 20);
    type M = Mutex<u32, S>;
    let m = Shared::<M, S>::options().slots(1).create("m", Mutex::new(0)).unwrap();
    // With one slot the value starts at 320 + 64 = 384: the lock word (u32), the
    // domain (u32), then the holder (u64).
    let write = |offset: usize, bytes: &[u8]| {
        // SAFETY: single-threaded, and no reference into the object is held across it.
        unsafe { Arena::<S>::with_bytes("m", |b| b[384 + offset..384 + offset + bytes.len()].copy_from_slice(bytes)) }
            .unwrap();
    };
    // A tid in a mutex that never had a domain: no thread of any domain wrote it.
    for garbage in [5u32, 0x8000_0005, 0x3fff_fffe, 0xc000_0001] {
        write(0, &garbage.to_ne_bytes());
        assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Corrupt, "{garbage:#x}");
        assert_eq!(m.lock_timeout(Duration::from_millis(5)).unwrap_err().kind(), ErrorKind::Corrupt, "{garbage:#x}");
        assert_eq!(m.lock().unwrap_err().kind(), ErrorKind::Corrupt, "{garbage:#x}");
    }
    // A foreign word whose holder is not named is what a locker between taking the
    // word and naming itself looks like (and a holder killed there): a wedge a
    // peer can forge, waited on, bounded only by a timeout (README, guarantees).
    write(0, &0x3fff_ffffu32.to_ne_bytes());
    write(8, &0u64.to_ne_bytes());
    assert_eq!(m.try_lock().unwrap_err().kind(), ErrorKind::Busy);
    assert_eq!(m.lock_timeout(Duration::from_millis(50)).unwrap_err().kind(), ErrorKind::Timeout);
    write(0, &0u32.to_ne_bytes());
    assert!(m.try_lock().is_ok(), "a zero lock word is an unlocked mutex again");
}
