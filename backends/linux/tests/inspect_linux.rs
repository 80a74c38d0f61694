//! Untyped inspection on Linux with real processes: `shmptr_linux::{inspect,
//! reclaim, remove, list}` see holders killed with SIGKILL as dead, reclaim and
//! remove them without the value type (never running its drop), and report
//! hostile files in `/dev/shm` without ever changing them. Every test uses names
//! unique to it and this run, and leaves `/dev/shm` as it found it.
#![cfg(target_os = "linux")]

mod linux_support;

use std::sync::atomic::Ordering;

use linux_support::{role, Control, Scope, Tracked};
use shmptr_linux::inspect::{ObjectKind, ObjectState, Owner};
use shmptr_linux::{ErrorKind, Liveness, Shared, Unique};

/// In the test: the control object, the `Tracked` value named `value` created here
/// (`None`: created by the child), and a child holding it, killed with SIGKILL
/// once it holds it. In the child: holds it until killed.
fn killed_holder(test: &str, scope: &Scope, create_here: bool) -> Option<(Shared<Control>, Option<Shared<Tracked>>)> {
    let (control_name, name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = match create_here {
            true => Shared::<Tracked>::open(&name).unwrap(),
            false => Shared::<Tracked>::create(&name, Tracked::new(&control_name)).unwrap(),
        };
        control.ready_then_wait_for_go();
        drop(value);
        unreachable!("killed first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = create_here.then(|| Shared::<Tracked>::create(&name, Tracked::new(&control_name)).unwrap());
    scope.spawn_ready(test, "holder", &control.ready).kill();
    Some((control, value))
}

#[test]
fn a_holder_killed_with_sigkill_shows_dead_and_goes_after_reclaim() {
    const TEST: &str = "a_holder_killed_with_sigkill_shows_dead_and_goes_after_reclaim";
    let scope = Scope::new(TEST);
    let Some((control, Some(value))) = killed_holder(TEST, &scope, true) else { return };
    let name = scope.name("value");

    let info = shmptr_linux::inspect(&name).unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
    assert_eq!(info.holders.len(), 2);
    assert_eq!(info.holders[0].liveness, Liveness::Alive);
    assert_eq!(info.holders[0].process.get() & 0x3f_ffff, std::process::id() as u64, "pid in the low 22 bits");
    assert_eq!(info.holders[1].liveness, Liveness::Dead);
    assert_eq!((info.live_holders(), info.dead_holders()), (1, 1));

    let done = shmptr_linux::reclaim(&name).unwrap();
    assert_eq!((done.holders, done.destroyed), (1, false));
    let info = shmptr_linux::inspect(&name).unwrap();
    assert_eq!((info.holders.len(), info.dead_holders()), (1, 0));
    drop(value);
    assert_eq!(control.drops.load(Ordering::SeqCst), 1, "the typed drop ran once");
    assert!(scope.leftovers().iter().all(|n| n.ends_with("control")));
}

#[test]
fn reclaim_of_an_object_whose_holders_all_died_destroys_it_without_its_drop_and_unlinks_it() {
    const TEST: &str = "reclaim_of_an_object_whose_holders_all_died_destroys_it_without_its_drop_and_unlinks_it";
    let scope = Scope::new(TEST);
    let Some((control, None)) = killed_holder(TEST, &scope, false) else { return };
    let name = scope.name("value");
    assert_eq!(shmptr_linux::inspect(&name).unwrap().dead_holders(), 1);

    let done = shmptr_linux::reclaim(&name).unwrap();
    assert_eq!((done.holders, done.destroyed), (1, true));
    assert!(!Scope::exists(&name), "unlinked");
    assert_eq!(control.drops.load(Ordering::SeqCst), 0, "untyped: the value's drop never ran");
}

#[test]
fn remove_refuses_while_a_live_holder_exists_and_works_after() {
    const TEST: &str = "remove_refuses_while_a_live_holder_exists_and_works_after";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let _value = Shared::<Tracked>::create(&name, Tracked::new(&control_name)).unwrap();
        control.ready_then_wait_for_go();
        unreachable!("killed first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let busy = shmptr_linux::remove(&name).unwrap_err();
    assert_eq!(busy.kind(), ErrorKind::Busy);
    assert!(busy.during().contains("holder"), "{busy}");
    assert!(Scope::exists(&name));
    assert!(shmptr_linux::inspect(&name).unwrap().held());
    kid.kill();
    shmptr_linux::remove(&name).unwrap();
    assert!(!Scope::exists(&name));
    assert_eq!(control.drops.load(Ordering::SeqCst), 0, "untyped: no drop");
}

#[test]
fn a_unique_shows_released_owned_and_a_dead_owner_and_reclaim_removes_only_the_dead_owners() {
    const TEST: &str = "a_unique_shows_released_owned_and_a_dead_owner_and_reclaim_removes_only_the_dead_owners";
    let scope = Scope::new(TEST);
    let (control_name, job) = (scope.name("control"), scope.name("job"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let _job = Unique::<Tracked>::create(&job, Tracked::new(&control_name)).unwrap();
        control.ready_then_wait_for_go();
        unreachable!("killed first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let mine = scope.name("mine");
    let u = Unique::<u64>::create(&mine, 3).unwrap();
    let info = shmptr_linux::inspect(&mine).unwrap();
    assert_eq!((info.kind, info.slot_capacity), (ObjectKind::Unique, 0));
    assert!(matches!(info.owner, Some(Owner::Process { liveness: Liveness::Alive, .. })));
    assert_eq!(shmptr_linux::remove(&mine).unwrap_err().kind(), ErrorKind::Busy);
    Unique::release(u);
    assert_eq!(shmptr_linux::inspect(&mine).unwrap().owner, Some(Owner::Released));
    assert!(!shmptr_linux::reclaim(&mine).unwrap().destroyed, "kept for its hand-off");
    shmptr_linux::remove(&mine).unwrap();
    assert!(!Scope::exists(&mine));

    scope.spawn_ready(TEST, "owner", &control.ready).kill();
    let info = shmptr_linux::inspect(&job).unwrap();
    assert!(matches!(info.owner, Some(Owner::Process { liveness: Liveness::Dead, .. })));
    assert!(shmptr_linux::reclaim(&job).unwrap().destroyed);
    assert!(!Scope::exists(&job));
    assert_eq!(control.drops.load(Ordering::SeqCst), 0);
}

#[test]
fn an_object_whose_creator_was_killed_mid_init_shows_abandoned_and_reclaim_removes_it() {
    const TEST: &str = "an_object_whose_creator_was_killed_mid_init_shows_abandoned_and_reclaim_removes_it";
    let scope = Scope::new(TEST);
    let (_control, name) = scope.creator_killed_mid_init(TEST);
    let info = shmptr_linux::inspect(&name).unwrap();
    assert_eq!(info.state, ObjectState::Abandoned);
    assert_eq!(info.creator_liveness, Liveness::Dead);
    assert!(shmptr_linux::reclaim(&name).unwrap().destroyed);
    assert!(!Scope::exists(&name));
}

#[test]
fn hostile_files_give_errors_are_listed_and_are_never_changed() {
    let scope = Scope::new("hostile_files_give_errors_are_listed_and_are_never_changed");
    let valid_name = scope.name("valid");
    let valid = {
        let a = Shared::<u64>::options().slots(4).create(&valid_name, 9).unwrap();
        let bytes = std::fs::read(format!("/dev/shm/{valid_name}")).unwrap();
        drop(a);
        bytes
    };
    let named = |tag: &str, bytes: &[u8]| {
        // A valid header under another name is "damaged" (the stored name differs).
        let mut b = bytes.to_vec();
        let name = scope.name(tag);
        if b.len() >= 280 {
            b[80..280].fill(0);
            b[80..80 + name.len()].copy_from_slice(name.as_bytes());
            b[72..76].copy_from_slice(&(name.len() as u32).to_ne_bytes());
        }
        (name, b)
    };
    let mut bad_checksum = valid.clone();
    bad_checksum[280] ^= 1;
    let mut huge = valid.clone();
    huge[28..32].copy_from_slice(&u32::MAX.to_ne_bytes());
    huge[32..40].copy_from_slice(&u64::MAX.to_ne_bytes());
    let cases = [
        (
            named("random", &(0..4424u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<_>>()),
            "not a shmptr object",
        ),
        (named("text", &b"just a text file\n".repeat(40)), "not a shmptr object"),
        (named("empty", b""), "not a shmptr object"),
        (named("short", &valid[..100]), "not a shmptr object"),
        (named("checksum", &bad_checksum), "damaged"),
        (named("huge", &huge), "damaged"),
    ];
    for ((name, bytes), _) in &cases {
        std::fs::write(format!("/dev/shm/{name}"), bytes).unwrap();
    }
    let mut listed = std::collections::HashMap::new();
    shmptr_linux::list(|entry, info| {
        if entry.starts_with(&scope.prefix) {
            listed.insert(entry.to_owned(), info.map_err(|e| (e.kind(), e.during())));
        }
    })
    .unwrap();
    for ((name, bytes), says) in &cases {
        let error = shmptr_linux::inspect(name).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Corrupt, "{name}");
        assert!(error.during().contains(says), "{name}: {error}");
        let Err((kind, during)) = &listed[name] else { panic!("{name} listed as ours") };
        assert!(*kind == ErrorKind::Corrupt && during.contains(says), "{name}: {during}");
        assert_eq!(shmptr_linux::reclaim(name).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
        assert_eq!(shmptr_linux::remove(name).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
        assert_eq!(&std::fs::read(format!("/dev/shm/{name}")).unwrap(), bytes, "{name}: never changed");
        std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    }
    assert!(scope.leftovers().is_empty());
}
