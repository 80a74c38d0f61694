//! Sole-holder operations with real processes: `Shared::get_mut`, `try_unwrap` and
//! `into_inner` count every holder in every process (dead ones are reclaimed
//! first), take the object's name with its value, and give the value to exactly
//! one of several processes racing to drop the last handles. The fork and
//! forged-member cases are in `sound_linux.rs`. Every test uses names unique to it
//! and this run, and leaves `/dev/shm` as it found it.
#![cfg(target_os = "linux")]

mod linux_support;

use std::sync::atomic::{AtomicU64, Ordering};

use linux_support::{role, wait_for, Control, Kid, Scope, Tracked};
use shmptr_linux::{ErrorKind, Shared};

/// In the test: creates the control object and a `Tracked` value, and starts a
/// child of `test` that holds the value until told to go (returned, with the child,
/// once it holds it). In that child: holds the value, then returns `None`.
fn with_a_holder(test: &str) -> Option<(Scope, Shared<Control>, Shared<Tracked>, Kid)> {
    let scope = Scope::new(test);
    let (control_name, name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<Tracked>::open(&name).unwrap();
        control.ready_then_wait_for_go();
        drop(value);
        return None;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<Tracked>::create(&name, Tracked::new(&control_name)).unwrap();
    let kid = scope.spawn_ready(test, "holder", &control.ready);
    Some((scope, control, value, kid))
}

#[test]
fn get_mut_and_try_unwrap_wait_for_a_holder_in_another_process_to_go() {
    let Some((scope, control, mut value, kid)) =
        with_a_holder("get_mut_and_try_unwrap_wait_for_a_holder_in_another_process_to_go")
    else {
        return;
    };

    assert!(Shared::get_mut(&mut value).is_none(), "a live process holds it");
    let Err(value) = Shared::try_unwrap(value) else { panic!("try_unwrap took a value a live process holds") };
    assert_eq!(Shared::strong_count(&value), 2);
    control.go.store(1, Ordering::Release);
    kid.succeeds();

    let mut value = value;
    Shared::get_mut(&mut value).expect("the holder has gone").value.store(5, Ordering::Relaxed);
    let taken = Shared::try_unwrap(value).ok().expect("the only handle left");
    assert!(!Scope::exists(&scope.name("value")), "the name went with the value");
    assert_eq!(control.drops.load(Ordering::SeqCst), 0, "moved out, not dropped");
    assert_eq!(taken.value.load(Ordering::Relaxed), 5);
    drop(taken);
    assert_eq!(control.drops.load(Ordering::SeqCst), 1, "dropped once, by its new owner");
}

#[test]
fn a_killed_holder_is_reclaimed_so_the_survivor_becomes_the_only_holder() {
    let Some((scope, control, mut value, kid)) =
        with_a_holder("a_killed_holder_is_reclaimed_so_the_survivor_becomes_the_only_holder")
    else {
        return;
    };
    kid.kill();
    // The dead holder is still a member until someone reclaims it: get_mut does.
    let lent = Shared::get_mut(&mut value).expect("the killed holder is reclaimed first");
    lent.value.store(9, Ordering::Relaxed);
    drop(lent);
    assert_eq!(Shared::strong_count(&value), 1);
    assert_eq!(Shared::into_inner(value).map(|v| v.value.load(Ordering::Relaxed)), Some(9));
    assert_eq!(control.drops.load(Ordering::SeqCst), 1, "the taken value, dropped here once");
    assert!(!Scope::exists(&scope.name("value")));
}

const RACERS: u32 = 4;

#[test]
fn into_inner_racing_in_several_processes_gives_the_value_to_exactly_one() {
    const TEST: &str = "into_inner_racing_in_several_processes_gives_the_value_to_exactly_one";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<Tracked>::open(&name).unwrap();
        let clone = value.clone();
        control.ready.fetch_add(1, Ordering::AcqRel);
        wait_for(&control.go, 1);
        // Two handles per process: the first into_inner only drops a handle.
        assert!(Shared::into_inner(clone).is_none(), "this process still holds `value`");
        if let Some(taken) = Shared::into_inner(value) {
            control.done.fetch_add(1, Ordering::AcqRel);
            assert_eq!(taken.value.load(Ordering::Relaxed), 77);
        }
        return;
    }
    for round in 0..5 {
        let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let value = Shared::<Tracked>::create(&name, Tracked::new(&control_name)).unwrap();
        value.value.store(77, Ordering::Relaxed);
        let kids: Vec<_> = (0..RACERS).map(|_| scope.spawn(TEST, "racer")).collect();
        wait_for(&control.ready, RACERS);
        assert!(Shared::into_inner(value).is_none(), "round {round}: the racers hold it");
        control.go.store(1, Ordering::Release);
        kids.into_iter().for_each(|kid| kid.succeeds());
        assert_eq!(control.done.load(Ordering::Acquire), 1, "round {round}: exactly one racer gets the value");
        assert_eq!(control.drops.load(Ordering::SeqCst), 1, "round {round}: and it is dropped once, by that racer");
        assert!(!Scope::exists(&name), "round {round}: the name went with it");
        drop(control);
    }
}

#[test]
fn a_thread_opening_the_object_during_get_mut_is_busy_until_the_loan_ends() {
    let scope = Scope::new("a_thread_opening_the_object_during_get_mut_is_busy_until_the_loan_ends");
    let name = scope.name("value");
    let mut value = Shared::<AtomicU64>::create(&name, AtomicU64::new(0)).unwrap();
    let mut lent = Shared::get_mut(&mut value).expect("the only handle");
    *lent.get_mut() = 1;
    let refused = std::thread::scope(|s| s.spawn(|| Shared::<AtomicU64>::open(&name).map(drop)).join().unwrap());
    let error = refused.expect_err("an open here while the value is lent as &mut would alias it");
    assert_eq!(error.kind(), ErrorKind::Busy, "{error}");
    drop(lent);
    let opened = std::thread::scope(|s| {
        s.spawn(|| Shared::<AtomicU64>::open(&name).unwrap().load(Ordering::Relaxed)).join().unwrap()
    });
    assert_eq!(opened, 1);
    assert_eq!(Shared::strong_count(&value), 1, "the thread's handle is gone");
    drop(value);
    assert!(scope.leftovers().is_empty());
}
