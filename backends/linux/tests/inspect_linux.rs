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
use shmptr_linux::{ErrorKind, Liveness, Shared, ShmSafe, Unique};

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
fn slices_show_their_length_and_element_size_in_inspect_and_list_also_when_their_owner_was_killed() {
    const TEST: &str = "slices_show_their_length_and_element_size_in_inspect_and_list_also_when_their_owner_was_killed";
    let scope = Scope::new(TEST);
    let (control_name, frame) = (scope.name("control"), scope.name("frame"));
    // A length chosen at run time: three pages and 5 bytes.
    let frame_len = std::hint::black_box(3 * 4096 + 5);
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let _frame = Unique::<[u8]>::create_slice_with(&frame, frame_len, |i| i as u8).unwrap();
        control.ready_then_wait_for_go();
        unreachable!("killed first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let words_name = scope.name("words");
    let words = Shared::<[u32]>::create_slice_with(&words_name, std::hint::black_box(37), |i| i as u32).unwrap();
    let info = shmptr_linux::inspect(&words_name).unwrap();
    assert_eq!((info.kind, info.state), (ObjectKind::Shared, ObjectState::Ready));
    assert_eq!((info.length, info.element_size, info.value_size), (Some(37), Some(4), 148));
    assert_eq!(info.fingerprint, <u32 as ShmSafe>::FINGERPRINT, "the element's");
    assert!(info.is_slice() && info.total_len >= 148);

    let empty_name = scope.name("empty");
    let empty = Unique::<[u64]>::create_slice_zeroed(&empty_name, 0).unwrap();
    let info = shmptr_linux::inspect(&empty_name).unwrap();
    assert_eq!((info.kind, info.length, info.element_size, info.value_size), (ObjectKind::Unique, Some(0), None, 0));

    // One value: no length.
    let info = shmptr_linux::inspect(&control_name).unwrap();
    assert_eq!((info.length, info.element_size), (None, None));
    assert!(!info.is_slice());

    // `list` reads each object as `inspect` does: the same facts.
    let mut listed = Vec::new();
    shmptr_linux::list(|entry, info| {
        if entry.starts_with(&format!("{}.", scope.prefix)) {
            let info = info.unwrap();
            listed.push((entry.to_owned(), info.length, info.element_size));
        }
    })
    .unwrap();
    listed.sort();
    let expected =
        [(control_name.clone(), None, None), (empty_name.clone(), Some(0), None), (words_name, Some(37), Some(4))];
    assert_eq!(listed, expected);

    // A frame whose owner was killed: its length read back from the header, and
    // reclaim removes it without its type.
    scope.spawn_ready(TEST, "owner", &control.ready).kill();
    let info = shmptr_linux::inspect(&frame).unwrap();
    assert!(matches!(info.owner, Some(Owner::Process { liveness: Liveness::Dead, .. })));
    let frame_len = frame_len as u64;
    assert_eq!((info.length, info.element_size, info.value_size), (Some(frame_len), Some(1), frame_len));
    assert_eq!(info.fingerprint, <u8 as ShmSafe>::FINGERPRINT);
    assert!(shmptr_linux::reclaim(&frame).unwrap().destroyed);
    assert!(!Scope::exists(&frame));
    assert_eq!(words.len(), 37);
    drop((words, empty));
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

/// A value whose drop, in whichever process runs it, says so in the control
/// object and then waits (bounded) for `go`: a destroyer caught mid-drop.
#[repr(C)]
struct SlowDrop {
    control: shmptr::ShmString<220>,
}
shmptr::shm_safe!(SlowDrop { control });

impl Drop for SlowDrop {
    fn drop(&mut self) {
        let name = self.control.get().expect("the control name is UTF-8");
        let control = Shared::<Control>::open(&name).expect("the control object outlives the value");
        control.drops.fetch_add(1, Ordering::SeqCst);
        linux_support::wait_for(&control.go, 1);
    }
}

#[test]
fn an_object_a_live_process_is_destroying_is_busy_for_remove_and_gone_once_that_process_dies() {
    // A process drops the last handle and is inside the value's drop: the object
    // is Destroying, its destroyer alive. `remove` must not say it removed it (the
    // name is still there); once the destroyer is killed, `remove` (or `reclaim`)
    // finishes its work: the name goes, and the value is not dropped again.
    const TEST: &str = "an_object_a_live_process_is_destroying_is_busy_for_remove_and_gone_once_that_process_dies";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value =
            Shared::<SlowDrop>::create(&name, SlowDrop { control: control_name.as_str().try_into().unwrap() }).unwrap();
        control.ready.store(1, Ordering::Release);
        drop(value); // waits in the drop until killed
        unreachable!("killed first");
    }
    for finisher in ["remove", "reclaim"] {
        let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let kid = scope.spawn(TEST, "destroyer");
        linux_support::wait_for(&control.drops, 1); // inside the drop
        let info = shmptr_linux::inspect(&name).unwrap();
        assert_eq!(info.state, ObjectState::Destroying);
        let destroyer = info.destroyer.expect("a destroying object names its destroyer");
        assert_eq!(shmptr_linux::pid(destroyer.process), Some(kid.pid()));
        assert_eq!(destroyer.liveness, Liveness::Alive);
        let busy = shmptr_linux::remove(&name).unwrap_err();
        assert_eq!(busy.kind(), ErrorKind::Busy, "{busy}");
        assert!(!shmptr_linux::reclaim(&name).unwrap().destroyed, "a live destroyer's object is its own");
        assert!(Scope::exists(&name), "a live destroyer is still at work");

        kid.kill();
        match finisher {
            "remove" => shmptr_linux::remove(&name).unwrap(),
            _ => assert!(shmptr_linux::reclaim(&name).unwrap().destroyed, "reclaim finished the dead destroyer's work"),
        }
        assert!(!Scope::exists(&name), "{finisher}: the dead destroyer's object is gone");
        assert_eq!(control.drops.load(Ordering::SeqCst), 1, "{finisher}: the value's drop is not run twice");
        drop(control);
    }
}

#[test]
fn a_blank_file_is_being_created_while_its_creation_lock_is_held_and_not_ours_after() {
    // A creator makes the file, locks it, then sizes and writes it: in between,
    // `inspect` must say "being created", never "not a shmptr object".
    let scope = Scope::new("a_blank_file_is_being_created_while_its_creation_lock_is_held_and_not_ours_after");
    let name = scope.name("newborn");
    for len in [0u64, 64, 4096] {
        let file = std::fs::OpenOptions::new().create_new(true).write(true).open(format!("/dev/shm/{name}")).unwrap();
        file.set_len(len).unwrap();
        // SAFETY: flock(2) on a descriptor we own.
        assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) }, 0);
        let info = shmptr_linux::inspect(&name).expect("a locked blank file is an object being created");
        assert_eq!((info.kind, info.state, info.total_len), (ObjectKind::Unknown, ObjectState::Initializing, len));
        let mut seen = false;
        shmptr_linux::list(|entry, info| seen |= entry == name && info.is_ok()).unwrap();
        assert!(seen, "list says the same");
        // Unlocked explicitly: a child that another test of this binary forks may
        // hold a copy of the descriptor until it execs, and closing ours alone
        // would leave the lock held by that copy (flock(2)).
        // SAFETY: flock(2) on a descriptor we own.
        assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_UN) }, 0);
        drop(file);
        let error = shmptr_linux::inspect(&name).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Corrupt, "len {len}: {error}");
        assert!(error.during().contains("not a shmptr object"), "{error}");
        std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    }
}

#[test]
fn a_symbolic_link_is_not_a_shmptr_object() {
    let scope = Scope::new("a_symbolic_link_is_not_a_shmptr_object");
    let (name, target) = (scope.name("link"), scope.name("target"));
    let value = Shared::<u64>::create(&target, 1).unwrap();
    std::os::unix::fs::symlink(format!("/dev/shm/{target}"), format!("/dev/shm/{name}")).unwrap();
    let error = shmptr_linux::inspect(&name).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert!(error.during().contains("not a regular file"), "{error}");
    assert_eq!(shmptr_linux::remove(&name).unwrap_err().kind(), ErrorKind::Corrupt);
    assert!(std::fs::symlink_metadata(format!("/dev/shm/{name}")).is_ok(), "never removed");
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    drop(value);
}
