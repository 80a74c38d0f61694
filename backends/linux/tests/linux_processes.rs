//! `Shared` and `Unique` between real processes: the test binary re-executes itself
//! with a role (see `linux_support`), every test has its own name prefix, every wait
//! is bounded, and `/dev/shm` is left as it was found, also when a test fails.
#![cfg(target_os = "linux")]

mod linux_support;

use std::sync::atomic::{AtomicU64, Ordering};

use linux_support::{role, wait_for, Control, Scope, Tracked};
use shmptr_linux::{ErrorKind, Shared, Unique};

const HAMMERERS: u32 = 8;
const CYCLES: u64 = 10_000;

#[test]
fn eight_processes_clone_and_drop_with_an_exact_count() {
    const TEST: &str = "eight_processes_clone_and_drop_with_an_exact_count";
    let scope = Scope::new(TEST);
    let (control_name, value_name) = (scope.name("control"), scope.name("value"));
    if let Some(role) = role() {
        assert_eq!(role, "hammer");
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<Tracked>::open(&value_name).unwrap();
        control.ready.fetch_add(1, Ordering::AcqRel);
        wait_for(&control.go, 1);
        for _ in 0..CYCLES {
            let clone = value.clone();
            clone.value.fetch_add(1, Ordering::Relaxed);
            drop(clone);
        }
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<Tracked>::create(&value_name, Tracked::new(&control_name)).unwrap();
    let kids: Vec<_> = (0..HAMMERERS).map(|_| scope.spawn(TEST, "hammer")).collect();
    wait_for(&control.ready, HAMMERERS);
    assert_eq!(Shared::strong_count(&value), u64::from(HAMMERERS) + 1);
    assert_eq!(Shared::process_count(&value), HAMMERERS + 1);
    drop(value); // the creator leaves first: the last holder is a child
    control.go.store(1, Ordering::Release);
    kids.into_iter().for_each(|kid| kid.succeeds());
    assert_eq!(control.drops.load(Ordering::SeqCst), 1, "T dropped exactly once, by whichever child was last");
    assert!(!Scope::exists(&value_name), "the last holder unlinked the name");
    let again = Shared::<u64>::create(&value_name, 1).unwrap();
    assert_eq!(*again, 1);
}

#[test]
fn the_last_holder_unlinks_even_when_it_is_not_the_creator() {
    const TEST: &str = "the_last_holder_unlinks_even_when_it_is_not_the_creator";
    let scope = Scope::new(TEST);
    let (control_name, value_name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<Tracked>::open(&value_name).unwrap();
        value.value.store(7, Ordering::Relaxed);
        control.ready_then_wait_for_go();
        assert!(Scope::exists(&value_name), "the creator's exit must not unlink under us");
        assert_eq!(Shared::process_count(&value), 1);
        drop(value);
        assert!(!Scope::exists(&value_name));
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<Tracked>::create(&value_name, Tracked::new(&control_name)).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    assert_eq!(value.value.load(Ordering::Relaxed), 7);
    drop(value);
    assert_eq!(control.drops.load(Ordering::SeqCst), 0);
    control.go.store(1, Ordering::Release);
    kid.succeeds();
    assert_eq!(control.drops.load(Ordering::SeqCst), 1);
    assert!(!Scope::exists(&value_name));
}

#[test]
fn unique_hands_off_and_survives_its_owner_being_killed() {
    const TEST: &str = "unique_hands_off_and_survives_its_owner_being_killed";
    let scope = Scope::new(TEST);
    let (control_name, job_name) = (scope.name("control"), scope.name("job"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let mut job = Unique::<[u64; 4]>::claim(&job_name).unwrap();
        job[1] = 42;
        control.ready.store(1, Ordering::Release);
        // Hold the job until killed.
        wait_for(&control.go, 1);
        unreachable!("the parent kills us first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    Unique::release(Unique::<[u64; 4]>::create(&job_name, [1, 2, 3, 4]).unwrap());
    let kid = scope.spawn_ready(TEST, "claimer", &control.ready);
    assert_eq!(Unique::<[u64; 4]>::claim(&job_name).unwrap_err().kind(), ErrorKind::Busy);
    kid.kill(); // SIGKILL while owning it
    let job = Unique::<[u64; 4]>::claim(&job_name).expect("a dead owner's object can be claimed");
    assert_eq!(*job, [1, 42, 3, 4]);
    drop(job);
    assert!(!Scope::exists(&job_name));
}

#[test]
fn a_killed_holder_is_reclaimed_and_the_object_destroyed() {
    const TEST: &str = "a_killed_holder_is_reclaimed_and_the_object_destroyed";
    let scope = Scope::new(TEST);
    let (control_name, value_name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<Tracked>::open(&value_name).unwrap();
        let _clones: Vec<_> = (0..5).map(|_| value.clone()).collect();
        control.ready_then_wait_for_go();
        unreachable!("the parent kills us first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<Tracked>::create(&value_name, Tracked::new(&control_name)).unwrap();
    let kid = scope.spawn_ready(TEST, "victim", &control.ready);
    assert_eq!(Shared::strong_count(&value), 7);
    kid.kill();
    assert_eq!(Shared::process_count(&value), 1, "a dead process is not counted");
    drop(value);
    assert_eq!(control.drops.load(Ordering::SeqCst), 1, "the last live holder destroys at once");
    assert!(!Scope::exists(&value_name));
}

#[test]
fn a_stopped_holder_keeps_its_slot() {
    const TEST: &str = "a_stopped_holder_keeps_its_slot";
    let scope = Scope::new(TEST);
    let (control_name, value_name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<u64>::open(&value_name).unwrap();
        control.ready_then_wait_for_go();
        drop(value);
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<u64>::create(&value_name, 5).unwrap();
    let kid = scope.spawn_ready(TEST, "sleeper", &control.ready);
    kid.signal(libc::SIGSTOP);
    assert_eq!(Shared::<u64>::reclaim(&value_name).unwrap(), 0, "a stopped process is alive");
    assert_eq!(Shared::process_count(&value), 2);
    drop(value);
    assert!(Scope::exists(&value_name), "the stopped holder still holds it");
    kid.signal(libc::SIGCONT);
    control.go.store(1, Ordering::Release);
    kid.succeeds();
    assert!(!Scope::exists(&value_name));
}

#[test]
fn an_inherited_handle_belongs_to_the_parent_after_fork() {
    let scope = Scope::new("an_inherited_handle_belongs_to_the_parent_after_fork");
    let name = scope.name("value");
    let value = Shared::<AtomicU64>::create(&name, AtomicU64::new(1)).unwrap();
    let inherited = value.clone();
    // SAFETY: the child only touches shared memory, makes syscalls through rustix and
    // leaves with _exit; it takes no lock another thread may hold.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut ok = inherited.load(Ordering::Relaxed) == 1;
        let own = inherited.clone(); // a fresh attachment of the child
        ok &= Shared::process_count(&own) == 2;
        own.store(2, Ordering::Relaxed);
        drop(inherited); // releases nothing of the parent's
        drop(own);
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child saw wrong counts");
    assert_eq!(value.load(Ordering::Relaxed), 2);
    assert_eq!(Shared::strong_count(&value), 2, "the child's drops did not touch the parent's attachment");
    assert_eq!(Shared::process_count(&value), 1);
    drop((value, inherited));
    assert!(!Scope::exists(&name));
}

#[test]
fn objects_are_private_to_their_user_by_default() {
    use std::os::unix::fs::PermissionsExt;
    let scope = Scope::new("objects_are_private_to_their_user_by_default");
    let name = scope.name("private");
    let a = Shared::<u64>::create(&name, 1).unwrap();
    let mode = std::fs::metadata(format!("/dev/shm/{name}")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(a);
    let wider = scope.name("wider");
    let b = Shared::<u64>::options().mode(0o640).create(&wider, 1).unwrap();
    let mode = std::fs::metadata(format!("/dev/shm/{wider}")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    drop(b);
}

#[test]
fn objects_get_the_mode_asked_for_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    const TEST: &str = "objects_get_the_mode_asked_for_whatever_the_umask";
    let scope = Scope::new(TEST);
    if role().is_some() {
        // A child of its own: the umask is the whole process's.
        // SAFETY: umask(2) only sets this process's file-creation mask.
        unsafe { libc::umask(0o077) };
        for (what, asked) in [("group-writable", 0o660), ("world-readable", 0o644), ("default", 0o600)] {
            let name = scope.name(what);
            let object = Shared::<u64>::options().mode(asked).create(&name, 1).unwrap();
            let mode = std::fs::metadata(format!("/dev/shm/{name}")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, asked, "{what} under umask 077");
            drop(object);
        }
        return;
    }
    scope.spawn(TEST, "umask-077").succeeds();
}

#[test]
fn a_symlink_at_the_name_is_refused() {
    let scope = Scope::new("a_symlink_at_the_name_is_refused");
    let target = scope.name("target");
    let link = scope.name("link");
    let real = Shared::<u64>::create(&target, 1).unwrap();
    std::os::unix::fs::symlink(format!("/dev/shm/{target}"), format!("/dev/shm/{link}")).unwrap();
    assert_eq!(Shared::<u64>::open(&link).unwrap_err().kind(), ErrorKind::PermissionDenied);
    assert_eq!(Shared::<u64>::create(&link, 2).unwrap_err().kind(), ErrorKind::AlreadyExists);
    std::fs::remove_file(format!("/dev/shm/{link}")).unwrap();
    drop(real);
}

#[test]
fn liveness_judges_zombies_and_reused_pids_dead_and_foreign_namespaces_unknown() {
    use shmptr::{Liveness, Platform, ProcessId};
    use shmptr_linux::Linux;
    const TEST: &str = "liveness_judges_zombies_and_reused_pids_dead_and_foreign_namespaces_unknown";
    let scope = Scope::new(TEST);
    let control_name = scope.name("control");
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let me = Linux::current_process().get();
        control.drops.store((me & 0xffff_ffff) as u32, Ordering::Relaxed);
        control.done.store((me >> 32) as u32, Ordering::Relaxed);
        control.ready_then_wait_for_go();
        return;
    }
    let me = Linux::current_process();
    assert_eq!(Linux::liveness(me), Liveness::Alive);
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "subject", &control.ready);
    let raw =
        u64::from(control.drops.load(Ordering::Relaxed)) | (u64::from(control.done.load(Ordering::Relaxed)) << 32);
    let child = ProcessId::new(raw).unwrap();
    assert_eq!(Linux::liveness(child), Liveness::Alive);
    assert_eq!(raw & ((1 << 22) - 1), u64::from(kid.pid()), "the identity carries the pid");
    // Layout: pid (22 bits), pid namespace (29 bits, 0 = unknown), start time.
    // The same pid with another start time: a reused pid, so a dead holder.
    let reused = ProcessId::new(raw ^ (1 << 51)).unwrap();
    assert_eq!(Linux::liveness(reused), Liveness::Dead);
    // Another pid namespace, or an unknown one: cannot be judged.
    let foreign = ProcessId::new(raw ^ (1 << 22)).unwrap();
    assert_eq!(Linux::liveness(foreign), Liveness::Unknown);
    let unknown = ProcessId::new(raw & !(((1 << 29) - 1) << 22)).unwrap();
    assert_eq!(Linux::liveness(unknown), Liveness::Unknown);
    // A zombie (exited, not yet reaped) is dead.
    control.go.store(1, Ordering::Release);
    let deadline = std::time::Instant::now() + linux_support::BOUND;
    while Linux::liveness(child) != Liveness::Dead {
        assert!(std::time::Instant::now() < deadline, "the exited child never looked dead");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let state = std::fs::read_to_string(format!("/proc/{}/stat", kid.pid())).unwrap_or_default();
    kid.succeeds();
    assert!(state.is_empty() || state.contains(") Z "), "judged dead only once a zombie: {state}");
    assert_eq!(Linux::liveness(child), Liveness::Dead, "reaped");
}
