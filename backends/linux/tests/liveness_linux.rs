//! "A live process is never judged dead" (issue 12), with real processes on Linux:
//! one test per finding, each asserting the sound behaviour. A process out of
//! descriptors at its first shmptr call, processes without `/proc`, under `hidepid`,
//! in hundreds of pid namespaces, a holder that execs, a process whose main thread
//! exited, the counts of a killed holder, and a process that setns into a shifted
//! time namespace after its identity was settled.
//!
//! Children are this test binary re-executed with a role (see `linux_support`),
//! some through `unshare` or with a mount namespace, `/proc` and user ids set up
//! between fork and exec. A test that lacks a privilege prints one `SKIPPED:` line.
//! Every wait is bounded, every child is killed on the way out, and `/dev/shm` is
//! left as it was found (the parent is root and removes what children made).
#![cfg(target_os = "linux")]

mod linux_support;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linux_support::{role, wait_for, Control, Scope, BOUND};
use shmptr_linux::{ErrorKind, Mutex, Shared, Unique};

// ---------------------------------------------------------------------------------
// Support: children started with a launcher or a pre-exec setup, bounded waits.
// ---------------------------------------------------------------------------------

/// The variables `linux_support` reads in a re-executed child.
const ROLE: &str = "SHMPTR_TEST_ROLE";
const PREFIX: &str = "SHMPTR_TEST_PREFIX";
/// The pid (as seen from the host) of the process whose objects a claimer tries.
const OWNER_PID: &str = "SHMPTR_TEST_OWNER_PID";
/// The exit status of a child that refused cleanly (a clear error, nothing taken).
const REFUSED: i32 = 3;

/// This test binary re-executed as `role` of `test`, through `launcher` (a program
/// and its arguments, the binary's path appended) if not empty.
fn command(scope: &Scope, launcher: &[&str], test: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = match launcher.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PREFIX, &scope.prefix)
        .stdout(Stdio::null());
    cmd
}

/// A child this test started: SIGKILLed and reaped on drop if still running.
struct Proc {
    child: Option<Child>,
    what: String,
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> io::Result<Proc> {
        cmd.spawn().map(|child| Proc { child: Some(child), what: what.to_owned() })
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The exit status, if it has exited (reaped then).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Waits (bounded) for the exit status.
    fn status(mut self) -> ExitStatus {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not finish within {BOUND:?}", self.what);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !done() {
        assert!(Instant::now() < deadline, "waited {BOUND:?} for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (bounded) until `word` reaches `value`, polling slowly: for hundreds of
/// waiting processes at once.
fn wait_slowly(word: &AtomicU32, value: u32) {
    let deadline = Instant::now() + BOUND;
    while word.load(Ordering::Acquire) < value {
        assert!(Instant::now() < deadline, "waited {BOUND:?} for a signal from the host");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded) until `word` reaches `value` or `kid` exits; the exit status then.
fn ready_or_exit(word: &AtomicU32, value: u32, kid: &mut Proc) -> Option<ExitStatus> {
    let deadline = Instant::now() + BOUND;
    loop {
        if word.load(Ordering::Acquire) >= value {
            return None;
        }
        if let Some(status) = kid.exited() {
            kid.child = None;
            return Some(status);
        }
        assert!(Instant::now() < deadline, "waited {BOUND:?} for {}", kid.what);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `role` of `test` (a plain re-execution) and waits (bounded) until
/// `word` reaches `value`; a child that exits first fails the test at once.
fn start(scope: &Scope, test: &str, role: &str, word: &AtomicU32, value: u32) -> Proc {
    let mut kid = Proc::spawn(command(scope, &[], test, role), &format!("the {role}")).unwrap();
    if let Some(status) = ready_or_exit(word, value, &mut kid) {
        panic!("the {role} exited before it was ready: {status} (its message is above)");
    }
    kid
}

/// Waits (bounded) and asserts a zero exit status.
fn succeeds(kid: Proc) {
    let what = kid.what.clone();
    let status = kid.status();
    assert!(status.success(), "{what} failed: {status} (its message is above)");
}

/// The state letter of `/proc/<pid>/stat` (after the command name's last `)`).
fn state_of(pid: &str) -> Option<u8> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 2).copied()
}

/// The kind of a failed claim, or `None` if it succeeded (the handle is released,
/// so that its real owner still finds it).
fn claim_kind(claimed: shmptr_linux::Result<Unique<u64>>) -> Option<ErrorKind> {
    match claimed {
        Ok(unique) => {
            Unique::release(unique);
            None
        }
        Err(e) => Some(e.kind()),
    }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Between fork and exec: a mount namespace of the child's own, propagating
/// nothing back to the host's.
fn private_mount_namespace() -> io::Result<()> {
    // SAFETY: unshare(2) and mount(2) are async-signal-safe system calls; the
    // strings are static and NUL-terminated.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(ptr::null(), c"/".as_ptr(), ptr::null(), libc::MS_REC | libc::MS_PRIVATE, ptr::null()))
    }
}

/// The child runs with an empty tmpfs over `/proc`, in its own mount namespace.
fn without_proc(cmd: &mut Command) {
    // SAFETY: the closure makes system calls only (no allocation, no lock).
    unsafe {
        cmd.pre_exec(|| {
            private_mount_namespace()?;
            // SAFETY: as above.
            check(libc::mount(c"none".as_ptr(), c"/proc".as_ptr(), c"tmpfs".as_ptr(), 0, ptr::null()))
        });
    }
}

/// The child runs as `uid` (and gid `uid`), with a procfs mounted `hidepid=2` in its
/// own mount namespace: it sees no other user's process.
fn under_hidepid(cmd: &mut Command, uid: u32) {
    // SAFETY: the closure makes system calls only (no allocation, no lock).
    unsafe {
        cmd.pre_exec(move || {
            private_mount_namespace()?;
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            // SAFETY: as above; the data string is static and NUL-terminated.
            check(libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                flags,
                c"hidepid=2".as_ptr().cast(),
            ))?;
            // SAFETY: dropping privileges, system calls only.
            check(libc::setgroups(0, ptr::null()))?;
            check(libc::setgid(uid))?;
            check(libc::setuid(uid))
        });
    }
}

/// Why `setup` cannot be had here (run on `true`), if it cannot.
fn unavailable(setup: impl FnOnce(&mut Command)) -> Option<String> {
    let mut probe = Command::new("true");
    probe.stdout(Stdio::null()).stderr(Stdio::null());
    setup(&mut probe);
    match probe.status() {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("the probe exited with {status}")),
        Err(e) => Some(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------
// 1. Out of descriptors at the first shmptr call.
// ---------------------------------------------------------------------------------

/// Descriptors taken until `EMFILE` under a lowered `RLIMIT_NOFILE`, less `free`;
/// the limit and the descriptors are given back on drop.
struct Starved {
    files: Vec<File>,
    saved: libc::rlimit,
}

fn starve(free: usize) -> Starved {
    let mut saved = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit(2) into a local.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) }).unwrap();
    let low = libc::rlimit { rlim_cur: saved.rlim_cur.min(64), rlim_max: saved.rlim_max };
    // SAFETY: setrlimit(2) from a local.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }).unwrap();
    let mut files = Vec::with_capacity(64);
    loop {
        match File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("filling the descriptor table: {e}"),
        }
    }
    for _ in 0..free {
        files.pop();
    }
    Starved { files, saved }
}

impl Drop for Starved {
    fn drop(&mut self) {
        // SAFETY: setrlimit(2) from a field.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.saved) }).unwrap();
        self.files.clear();
    }
}

const SHORT_ROLES: [&str; 2] = ["create", "lock"];

#[test]
fn a_process_out_of_descriptors_at_its_first_shmptr_call_is_never_judged_dead() {
    const TEST: &str = "a_process_out_of_descriptors_at_its_first_shmptr_call_is_never_judged_dead";
    let scope = Scope::new(TEST);
    let (control_name, held_name) = (scope.name("control"), scope.name("held"));
    if let Some(role) = role() {
        let owned_name = scope.name(&format!("owned-{role}"));
        // No shmptr call before this point in this process.
        let owned = match role.as_str() {
            // The first call is a create, with 0, 1, 2, ... descriptors free: it fails
            // (cleanly, leaving no object) until it has what it needs.
            "create" => {
                let mut refusals = Vec::new();
                let mut owned = None;
                for free in 0..=8 {
                    let starved = starve(free);
                    let created = Unique::<u64>::create(&owned_name, 7);
                    drop(starved);
                    match created {
                        Ok(unique) => {
                            owned = Some(unique);
                            break;
                        }
                        Err(e) => {
                            assert!(!Scope::exists(&owned_name), "a failed create left its object behind");
                            refusals.push(format!("{free} free: {e}"));
                        }
                    }
                }
                eprintln!("[create] refused first: {refusals:?}");
                Some(owned.expect("create succeeds once it has descriptors"))
            }
            // The first call needs the identity but no descriptor of its own: a lock.
            "lock" => {
                let starved = starve(0);
                let local = Mutex::<u64>::new(0);
                let locked = local.try_lock().map(|_| ()).map_err(|e| e.kind());
                drop(starved);
                eprintln!("[lock] the first lock, out of descriptors: {locked:?}");
                match Unique::<u64>::create(&owned_name, 7) {
                    Ok(unique) => Some(unique),
                    Err(e) => {
                        eprintln!("[lock] create refused after the starved lock: {e}");
                        assert!(!Scope::exists(&owned_name), "a failed create left its object behind");
                        None
                    }
                }
            }
            other => panic!("unknown role {other}"),
        };
        let control = Shared::<Control>::open(&control_name).unwrap();
        let held = Shared::<u64>::open(&held_name).unwrap();
        control.ready.fetch_add(1, Ordering::AcqRel);
        wait_for(&control.go, 1);
        drop((held, owned));
        return;
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let held = Shared::<u64>::create(&held_name, 1).unwrap();
    let kids: Vec<_> = (1..).zip(SHORT_ROLES).map(|(n, role)| start(&scope, TEST, role, &control.ready, n)).collect();
    let mut failures = Vec::new();
    for role in SHORT_ROLES {
        let name = scope.name(&format!("owned-{role}"));
        if !Scope::exists(&name) {
            println!("[{role}] refused cleanly: no Unique to claim");
            continue;
        }
        let kind = claim_kind(Unique::<u64>::claim(&name));
        if kind != Some(ErrorKind::Busy) {
            failures
                .push(format!("[{role}] claiming the live starved owner's Unique gave {kind:?} (None = Ok), not Busy"));
        }
    }
    let reclaimed = Shared::<u64>::reclaim(&held_name);
    if reclaimed != Ok(0) {
        failures.push(format!("reclaim of an object held by the two live children reclaimed {reclaimed:?}"));
    }
    let (handles, processes) = (Shared::strong_count(&held), Shared::process_count(&held));
    if (handles, processes) != (3, 3) {
        failures.push(format!("held: {handles} handles in {processes} processes, not 3 in 3"));
    }
    control.go.store(1, Ordering::Release);
    kids.into_iter().for_each(succeeds);
    assert!(failures.is_empty(), "a process out of descriptors was judged dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 2. No /proc.
// ---------------------------------------------------------------------------------

/// What a claimer found, bit by bit: its exit status.
const TOOK_OWNERS: u32 = 1;
const TOOK_PARENTS: u32 = 2;
const RECLAIMED_LIVE: u32 = 4;
const UNEXPECTED: u32 = 8;
const NOT_ISOLATED: u32 = 16;

fn describe(bits: u32) -> Vec<&'static str> {
    [
        (TOOK_OWNERS, "claimed the live owner child's Unique"),
        (TOOK_PARENTS, "claimed the live parent's Unique"),
        (RECLAIMED_LIVE, "reclaimed live holders of an object the owner child and the parent hold"),
        (UNEXPECTED, "got an unexpected error (printed above)"),
        (NOT_ISOLATED, "found its /proc not as the test set it up (the test would not test its claim)"),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, text)| text)
    .collect()
}

/// The owner child of tests 2 and 3: its first shmptr call creates the `Unique`
/// `owned`; then it creates `held` (which the parent joins) and the control object,
/// all with `mode`, and holds them until told. Exits `REFUSED` if the first create
/// fails (cleanly: nothing left behind).
fn owner_role(owned: &str, held: &str, control: &str, mode: u32) {
    let owned_handle = match Unique::<u64>::options().mode(mode).create(owned, 7) {
        Ok(unique) => unique,
        Err(e) => {
            eprintln!("[owner] create refused: {e}");
            assert!(!Scope::exists(owned), "a failed create left its object behind");
            std::process::exit(REFUSED);
        }
    };
    let held = Shared::<u64>::options().mode(mode).create(held, 1).unwrap();
    let control = Shared::<Control>::options().mode(mode).create(control, Control::new()).unwrap();
    control.ready_then_wait_for_go();
    drop((control, held, owned_handle));
}

/// The claimer child of tests 2 and 3: tries to take the live owner's `Unique`, the
/// live parent's, and to reclaim `held` (held by both); exits with its findings.
fn claimer_role(owned: &str, parents: &str, held: &str, foreign: bool, isolated: bool) -> ! {
    let mut bits = if isolated { 0 } else { NOT_ISOLATED };
    let mut expect_busy =
        |name: &str, bit: u32| match claim_kind(Unique::<u64>::options().allow_foreign_owner(foreign).claim(name)) {
            Some(ErrorKind::Busy) => {}
            None => bits |= bit,
            Some(other) => {
                eprintln!("[claimer] claiming {name}: {other:?}, not Busy");
                bits |= UNEXPECTED;
            }
        };
    expect_busy(owned, TOOK_OWNERS);
    expect_busy(parents, TOOK_PARENTS);
    match Shared::<u64>::options().allow_foreign_owner(foreign).reclaim(held) {
        Ok(0) => {}
        Ok(n) => {
            eprintln!("[claimer] reclaim of {held} reclaimed {n} live holders");
            bits |= RECLAIMED_LIVE;
        }
        Err(e) => {
            eprintln!("[claimer] reclaim of {held}: {e}");
            bits |= UNEXPECTED;
        }
    }
    std::process::exit(bits as i32)
}

/// The parent's side of tests 2 and 3: starts the owner, joins its `held` and
/// control objects, holds the `Unique` `parents`, runs the claimer, and judges the
/// owner itself too. Findings go to `failures`.
fn owner_and_claimer(scope: &Scope, mut owner: Proc, mut claimer: Command, failures: &mut Vec<String>) {
    let (control_name, held_name) = (scope.name("control"), scope.name("held"));
    let (owned_name, parents_name) = (scope.name("owned"), scope.name("parents"));
    let parents = Unique::<u64>::options().mode(0o666).create(&parents_name, 1).unwrap();
    let deadline = Instant::now() + BOUND;
    let control = loop {
        if let Some(status) = owner.exited() {
            owner.child = None;
            match status.code() {
                Some(REFUSED) => println!("[owner] refused cleanly at its first call: no Unique of its to claim"),
                _ => failures.push(format!("{} failed: {status} (its message is above)", owner.what)),
            }
            return;
        }
        if Scope::exists(&control_name) {
            if let Ok(control) = Shared::<Control>::options().allow_foreign_owner(true).open(&control_name) {
                break control;
            }
        }
        assert!(Instant::now() < deadline, "waited {BOUND:?} for {}", owner.what);
        std::thread::sleep(Duration::from_millis(1));
    };
    if let Some(status) = ready_or_exit(&control.ready, 1, &mut owner) {
        failures.push(format!("{} failed: {status} (its message is above)", owner.what));
        return;
    }
    let held = match Shared::<u64>::options().allow_foreign_owner(true).open(&held_name) {
        Ok(held) => Some(held),
        Err(e) => {
            failures.push(format!("the parent could not join the live owner's object: {e}"));
            None
        }
    };
    // The parent judges the owner as well (first: a claimer that took the owner's
    // Unique releases it, which would make the parent's claim succeed too).
    let kind = claim_kind(Unique::<u64>::options().allow_foreign_owner(true).claim(&owned_name));
    if kind != Some(ErrorKind::Busy) {
        failures.push(format!("the parent's claim of the live owner's Unique gave {kind:?} (None = Ok)"));
    }
    let reclaimed = Shared::<u64>::options().allow_foreign_owner(true).reclaim(&held_name);
    if reclaimed != Ok(0) {
        failures.push(format!("the parent's reclaim of the object it and the live owner hold reclaimed {reclaimed:?}"));
    }
    claimer.env(OWNER_PID, owner.pid().to_string());
    let status = Proc::spawn(claimer, "the claimer").unwrap().status();
    match status.code() {
        Some(0) => {}
        Some(bits) if (1..32).contains(&bits) => failures.push(format!("the claimer {:?}", describe(bits as u32))),
        _ => failures.push(format!("the claimer failed: {status} (its message is above)")),
    }
    control.go.store(1, Ordering::Release);
    let what = owner.what.clone();
    let status = owner.status();
    if !status.success() {
        failures.push(format!("{what} failed at its end: {status}"));
    }
    drop((held, control, parents));
}

#[test]
fn without_proc_no_process_is_judged_dead() {
    const TEST: &str = "without_proc_no_process_is_judged_dead";
    let scope = Scope::new(TEST);
    let (control_name, held_name) = (scope.name("control"), scope.name("held"));
    let (owned_name, parents_name) = (scope.name("owned"), scope.name("parents"));
    if let Some(role) = role() {
        let isolated = std::fs::metadata("/proc/self/stat").is_err();
        match role.as_str() {
            "owner" => {
                assert!(isolated, "the owner runs without /proc");
                owner_role(&owned_name, &held_name, &control_name, 0o600);
            }
            "claimer" => claimer_role(&owned_name, &parents_name, &held_name, false, isolated),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    if let Some(why) = unavailable(without_proc) {
        println!("SKIPPED: cannot mount a tmpfs over /proc in a mount namespace of a child: {why}");
        return;
    }
    let mut owner = command(&scope, &[], TEST, "owner");
    without_proc(&mut owner);
    let owner = Proc::spawn(owner, "the owner without /proc").unwrap();
    let mut claimer = command(&scope, &[], TEST, "claimer");
    without_proc(&mut claimer);
    let mut failures = Vec::new();
    owner_and_claimer(&scope, owner, claimer, &mut failures);
    assert!(failures.is_empty(), "without /proc, a live process was judged dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 3. hidepid=2 and two users.
// ---------------------------------------------------------------------------------

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (got_major, got_minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (got_major, got_minor) >= (major, minor)
}

/// Whether every directory above `path`, and `path`, can be executed by others.
fn others_can_execute(path: &std::path::Path) -> bool {
    path.ancestors()
        .all(|p| p.as_os_str() == OsStr::new("") || std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o001 != 0))
}

/// Whether the host's `/proc` is mounted with `hidepid` (it must never be, by us).
fn host_proc_hides() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|line| line.split(' ').nth(4) == Some("/proc") && line.contains("hidepid"))
}

const OWNER_UID: u32 = 65534;
const CLAIMER_UID: u32 = 65533;

#[test]
fn hidepid_never_makes_another_users_process_dead() {
    const TEST: &str = "hidepid_never_makes_another_users_process_dead";
    let scope = Scope::new(TEST);
    let (control_name, held_name) = (scope.name("control"), scope.name("held"));
    let (owned_name, parents_name) = (scope.name("owned"), scope.name("parents"));
    if let Some(role) = role() {
        match role.as_str() {
            "owner" => owner_role(&owned_name, &held_name, &control_name, 0o666),
            "claimer" => {
                // The test tests its claim only if the owner and the parent are hidden
                // from this process, and its own /proc works.
                let owner = std::env::var(OWNER_PID).unwrap();
                let parent = std::os::unix::process::parent_id().to_string();
                let hidden = |pid: &str| std::fs::metadata(format!("/proc/{pid}")).is_err();
                let isolated = hidden(&owner) && hidden(&parent) && state_of("self").is_some();
                claimer_role(&owned_name, &parents_name, &held_name, true, isolated);
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    if !kernel_at_least(5, 8) {
        // Before 5.8 every procfs mount of a pid namespace shares one superblock:
        // hidepid on a private mount would hide processes on the host's /proc too.
        println!("SKIPPED: procfs mounts are per-instance only from Linux 5.8");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    if !others_can_execute(&exe) {
        println!("SKIPPED: uids {OWNER_UID} and {CLAIMER_UID} cannot execute {}", exe.display());
        return;
    }
    if let Some(why) = unavailable(|cmd| under_hidepid(cmd, OWNER_UID)) {
        println!("SKIPPED: cannot mount procfs hidepid=2 in a mount namespace and switch user: {why}");
        return;
    }
    assert!(!host_proc_hides(), "the host's /proc hides processes before the test");
    let mut owner = command(&scope, &[], TEST, "owner");
    under_hidepid(&mut owner, OWNER_UID);
    let owner = Proc::spawn(owner, "the owner (uid 65534, hidepid=2)").unwrap();
    let mut claimer = command(&scope, &[], TEST, "claimer");
    under_hidepid(&mut claimer, CLAIMER_UID);
    let mut failures = Vec::new();
    owner_and_claimer(&scope, owner, claimer, &mut failures);
    assert!(!host_proc_hides(), "the test changed the host's /proc");
    assert!(
        failures.is_empty(),
        "under hidepid, another user's live process was judged dead:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------
// 4. Holders in hundreds of pid namespaces.
// ---------------------------------------------------------------------------------

/// More pid namespaces than any 8-bit tag has values: two of them share a tag
/// whatever the scheme, and (with their inodes nearly consecutive) one shares the
/// host's under any scheme that reduces the inode modulo at most this.
const NAMESPACES: usize = 300;
const BATCH: usize = 50;

/// One object per namespace: the host creates it, the namespaced child holds it
/// and reports through it (a shared control object would need a slot per child).
#[repr(C)]
struct Holder {
    /// The inode of the child's pid namespace.
    ns: AtomicU64,
    /// The child's pid in its namespace.
    pid: AtomicU32,
    ready: AtomicU32,
    go: AtomicU32,
    done: AtomicU32,
    /// Holders the child reclaimed from the other objects (all live: must be 0).
    reclaimed: AtomicU32,
    /// Reclaims that failed.
    errors: AtomicU32,
}
shmptr::shm_safe!(Holder { ns, pid, ready, go, done, reclaimed, errors });

impl Holder {
    fn new() -> Self {
        Holder {
            ns: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            ready: AtomicU32::new(0),
            go: AtomicU32::new(0),
            done: AtomicU32::new(0),
            reclaimed: AtomicU32::new(0),
            errors: AtomicU32::new(0),
        }
    }
}

const UNSHARE: [&str; 5] = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"];

#[test]
fn holders_in_many_pid_namespaces_are_never_reclaimed_while_alive() {
    const TEST: &str = "holders_in_many_pid_namespaces_are_never_reclaimed_while_alive";
    let scope = Scope::new(TEST);
    let name = |i: usize| scope.name(&format!("ns{i}"));
    if let Some(role) = role() {
        let mut parts = role.split('.').skip(1).map(|p| p.parse::<usize>().unwrap());
        let (index, count) = (parts.next().unwrap(), parts.next().unwrap());
        let me = match Shared::<Holder>::open(&name(index)) {
            Ok(me) => me,
            Err(e) => {
                eprintln!("[ns{index}] opening the object the live host holds: {e}");
                std::process::exit(REFUSED);
            }
        };
        me.ns.store(std::fs::metadata("/proc/self/ns/pid").unwrap().ino(), Ordering::Relaxed);
        me.pid.store(std::process::id(), Ordering::Relaxed);
        me.ready.store(1, Ordering::Release);
        wait_slowly(&me.go, 1);
        // The reverse direction: this namespaced process judges the host's holder and
        // every other namespace's holder of every other object.
        for j in (0..count).filter(|&j| j != index) {
            match Shared::<Holder>::reclaim(&name(j)) {
                Ok(n) => {
                    me.reclaimed.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    eprintln!("[ns{index}] reclaim of ns{j}: {e}");
                    me.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        me.done.store(1, Ordering::Release);
        wait_slowly(&me.go, 2);
        return;
    }
    let probe = Command::new(UNSHARE[0]).args(&UNSHARE[1..]).arg("true").stderr(Stdio::null()).status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `unshare --pid --fork --mount-proc`: {probe:?}");
        return;
    }
    let started = Instant::now();
    let holders: Vec<Shared<Holder>> =
        (0..NAMESPACES).map(|i| Shared::create(&name(i), Holder::new()).unwrap()).collect();
    let mut kids = Vec::with_capacity(NAMESPACES);
    let mut failures = Vec::new();
    // A holder that exited (on a refusal or a failure) is left out of what follows.
    let mut alive = vec![true; NAMESPACES];
    let left = |i: usize, status: ExitStatus, when: &str, alive: &mut Vec<bool>, failures: &mut Vec<String>| {
        alive[i] = false;
        failures.push(match status.code() {
            Some(REFUSED) => format!("ns{i}'s holder {when}: could not open the object the live host holds"),
            _ => format!("ns{i}'s holder {when}: failed, {status} (its message is above)"),
        });
    };
    for batch in (0..NAMESPACES).step_by(BATCH) {
        let end = (batch + BATCH).min(NAMESPACES);
        for i in batch..end {
            let cmd = command(&scope, &UNSHARE, TEST, &format!("holder.{i}.{NAMESPACES}"));
            kids.push(Proc::spawn(cmd, &format!("the holder in namespace {i}")).unwrap());
        }
        for i in batch..end {
            if let Some(status) = ready_or_exit(&holders[i].ready, 1, &mut kids[i]) {
                left(i, status, "at its start", &mut alive, &mut failures);
            }
        }
    }
    let spawned = started.elapsed();

    // The namespaces are distinct, none is the host's, and each holder is pid 1 of
    // its own: more namespaces than 8 bits can tell apart.
    let host_ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let reporting: Vec<u64> =
        (0..NAMESPACES).filter(|&i| alive[i]).map(|i| holders[i].ns.load(Ordering::Relaxed)).collect();
    let inodes: HashSet<u64> = reporting.iter().copied().collect();
    assert_eq!(inodes.len(), reporting.len(), "every holder in a pid namespace of its own");
    assert!(!inodes.contains(&host_ns), "no holder in the host's pid namespace");
    assert!(
        (0..NAMESPACES).filter(|&i| alive[i]).all(|i| holders[i].pid.load(Ordering::Relaxed) == 1),
        "each holder is pid 1 of its namespace"
    );
    let like_host = |ns: u64| ns % 251 == host_ns % 251;
    println!(
        "{} namespaces started in {spawned:?}; {} share the host's inode modulo 251",
        reporting.len(),
        reporting.iter().filter(|&&ns| like_host(ns)).count()
    );

    let verdict = |i: usize, holder: &Shared<Holder>, what: &str, failures: &mut Vec<String>| {
        let (handles, processes) = (Shared::strong_count(holder), Shared::process_count(holder));
        if (handles, processes) != (2, 2) || !Scope::exists(&name(i)) {
            let ns = holder.ns.load(Ordering::Relaxed);
            failures.push(format!(
                "ns{i} (inode {ns}, host's modulo 251: {}) {what}: {handles} handles in {processes} processes, exists: {}",
                like_host(ns),
                Scope::exists(&name(i))
            ));
        }
    };
    // The host judges every namespaced holder: reclaim, open, counts.
    for (i, holder) in holders.iter().enumerate().filter(|&(i, _)| alive[i]) {
        let reclaimed = Shared::<Holder>::reclaim(&name(i));
        if reclaimed != Ok(0) {
            failures.push(format!("ns{i}: the host's reclaim reclaimed {reclaimed:?} of a live holder"));
        }
        match Shared::<Holder>::open(&name(i)) {
            Ok(opened) if Shared::strong_count(&opened) == 3 => {}
            Ok(opened) => failures.push(format!("ns{i}: opened, {} handles, not 3", Shared::strong_count(&opened))),
            Err(e) => failures.push(format!("ns{i}: the host's open failed: {e}")),
        }
        verdict(i, holder, "after the host's reclaim and open", &mut failures);
    }
    // Every namespaced holder judges the host's and every other namespace's.
    let judged = Instant::now();
    holders.iter().for_each(|h| h.go.store(1, Ordering::Release));
    for i in 0..NAMESPACES {
        if alive[i] {
            if let Some(status) = ready_or_exit(&holders[i].done, 1, &mut kids[i]) {
                left(i, status, "while reclaiming", &mut alive, &mut failures);
            }
        }
    }
    let cross = judged.elapsed();
    for (i, holder) in holders.iter().enumerate().filter(|&(i, _)| alive[i]) {
        let (reclaimed, errors) = (holder.reclaimed.load(Ordering::Relaxed), holder.errors.load(Ordering::Relaxed));
        if reclaimed != 0 || errors != 0 {
            failures
                .push(format!("ns{i}'s holder reclaimed {reclaimed} live holders of other objects ({errors} errors)"));
        }
        verdict(i, holder, "after every namespace's reclaims", &mut failures);
    }
    println!("{} reclaims across namespaces in {cross:?}", NAMESPACES * (NAMESPACES - 1));
    holders.iter().for_each(|h| h.go.store(2, Ordering::Release));
    for (i, kid) in kids.into_iter().enumerate() {
        if alive[i] {
            let status = kid.status();
            if !status.success() {
                failures.push(format!("ns{i}'s holder failed at its end: {status}"));
            }
        }
    }
    drop(holders);
    println!("{} failures; whole test {:?}", failures.len(), started.elapsed());
    failures.truncate(40);
    assert!(failures.is_empty(), "a live holder in another pid namespace was judged dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 6. A holder that execs.
// ---------------------------------------------------------------------------------

/// The documented limit: a holder that execs keeps its slots and its locks until the
/// new program exits (nothing the kernel does at exec reaches shmptr's words); once
/// it exits, it is dead like any other holder.
#[test]
fn a_holder_that_execs_releases_its_slot_or_the_limit_is_documented() {
    const TEST: &str = "a_holder_that_execs_releases_its_slot_or_the_limit_is_documented";
    let scope = Scope::new(TEST);
    let (control_name, held_name, mutex_name) = (scope.name("control"), scope.name("held"), scope.name("mutex"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let held = Shared::<u64>::open(&held_name).unwrap();
        let mutex = Shared::<Mutex<u64>>::open(&mutex_name).unwrap();
        let mut guard = mutex.lock().unwrap();
        *guard = 1;
        // `drops` is unused here: it carries the locking thread's tid.
        control.drops.store(rustix::thread::gettid().as_raw_nonzero().get() as u32, Ordering::Release);
        control.ready.store(1, Ordering::Release);
        let error = Command::new("sleep").arg("30").exec();
        drop((guard, held));
        panic!("exec sleep: {error}");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let held = Shared::<u64>::create(&held_name, 1).unwrap();
    let mutex = Shared::<Mutex<u64>>::create(&mutex_name, Mutex::new(0)).unwrap();
    let kid = start(&scope, TEST, "execer", &control.ready, 1);
    let pid = kid.pid();
    wait_until("the holder to exec sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "sleep")
    });
    let mut failures = Vec::new();
    let reclaimed = Shared::<u64>::reclaim(&held_name);
    if reclaimed != Ok(0) {
        failures.push(format!("while the exec'd program runs, reclaim reclaimed {reclaimed:?}"));
    }
    let (handles, processes) = (Shared::strong_count(&held), Shared::process_count(&held));
    if (handles, processes) != (2, 2) {
        failures.push(format!("while the exec'd program runs: {handles} handles in {processes} processes, not 2 in 2"));
    }
    // The lock is a thread's. The holder locked on a test-harness thread, not the
    // main one: exec ends every other thread and gives the exec'ing one the main
    // thread's tid, so the holding thread (its tid) is gone and the lock is
    // `OwnerDied` at once. Had it locked on the main thread, its tid would live on
    // and the lock stay held (`Timeout`) until the exec'd program exits; either way
    // it is reported exactly once.
    let holder_on_main = kid.pid() == control.drops.load(Ordering::Acquire);
    let mut reported = false;
    match mutex.lock_timeout(Duration::from_millis(300)) {
        Err(e) if e.kind() == ErrorKind::Timeout && holder_on_main => {}
        Err(e) if e.kind() == ErrorKind::OwnerDied && !holder_on_main => {
            let mut guard = e.into_guard().unwrap();
            assert_eq!(*guard, 1);
            shmptr::MutexGuard::make_consistent(&mut guard);
            reported = true;
        }
        Ok(_) => failures.push("while the exec'd program runs, its lock was taken: Ok".into()),
        Err(e) => failures.push(format!(
            "while the exec'd program runs, lock_timeout gave {:?} (holder on the main thread: {holder_on_main})",
            e.kind()
        )),
    }
    drop(kid); // SIGKILL the exec'd program, and reap it
    match mutex.lock_timeout(BOUND) {
        Err(e) if e.kind() == ErrorKind::OwnerDied && !reported => {
            let mut guard = e.into_guard().unwrap();
            assert_eq!(*guard, 1);
            shmptr::MutexGuard::make_consistent(&mut guard);
        }
        Ok(_) if reported => {}
        Ok(_) => failures.push("after the exec'd program died, the lock was free without OwnerDied".into()),
        Err(e) => failures.push(format!("after the exec'd program died, lock gave {:?}", e.kind())),
    }
    let processes = Shared::process_count(&held);
    if processes != 1 {
        failures.push(format!("after the exec'd program died: {processes} processes, not 1"));
    }
    drop((held, mutex, control));
    assert!(failures.is_empty(), "a holder that execs, against the documented limit:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 7. A live process whose main thread exited.
// ---------------------------------------------------------------------------------

/// Set once the worker holds the lock.
static LOCKED: AtomicBool = AtomicBool::new(false);

/// SIGUSR1 on the main thread: it exits (only it: exit(2), not exit_group), as
/// `pthread_exit` in `main` does, without unwinding through the harness's frames.
extern "C" fn exit_this_thread(_: libc::c_int) {
    // SAFETY: SYS_exit ends the calling thread only; it never returns.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
}

/// The worker thread: holds the lock and keeps writing under it until told to stop,
/// then ends the whole process (whose main thread is gone).
fn worker(control_name: &str, mutex_name: &str) -> ! {
    let control = Shared::<Control>::open(control_name).unwrap();
    let mutex = Shared::<Mutex<u64>>::open(mutex_name).unwrap();
    let mut guard = mutex.lock().unwrap();
    *guard = 50;
    LOCKED.store(true, Ordering::Release);
    let deadline = Instant::now() + BOUND;
    while state_of("self") != Some(b'Z') {
        if Instant::now() > deadline {
            eprintln!("[worker] the main thread never exited");
            // SAFETY: ends the process.
            unsafe { libc::_exit(2) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    control.ready.store(1, Ordering::Release);
    let mut intruded = false;
    while control.go.load(Ordering::Acquire) == 0 && Instant::now() < deadline {
        intruded |= *guard != 50;
        *guard = 50;
        control.done.fetch_add(1, Ordering::Release);
        std::thread::sleep(Duration::from_millis(1));
    }
    if intruded {
        eprintln!("[worker] another process wrote under my guard");
    }
    drop(guard);
    drop((mutex, control));
    // SAFETY: ends the process: the main thread is gone, nobody else would.
    unsafe { libc::_exit(if intruded { 1 } else { 0 }) }
}

#[test]
fn a_process_whose_main_thread_exited_is_alive() {
    const TEST: &str = "a_process_whose_main_thread_exited_is_alive";
    let scope = Scope::new(TEST);
    let (control_name, mutex_name) = (scope.name("control"), scope.name("mutex"));
    if role().is_some() {
        let (c, m) = (control_name.clone(), mutex_name.clone());
        let work = std::thread::spawn(move || worker(&c, &m));
        wait_until("the worker to lock", || LOCKED.load(Ordering::Acquire));
        // SAFETY: getpid(2) and gettid(2) only read.
        let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        if pid == tid {
            // This test runs on the main thread itself: it exits.
            exit_this_thread(0);
        }
        // SAFETY: installs a handler that only makes a system call, then directs
        // the signal at the main thread (thread id = process id) of this process.
        unsafe {
            libc::signal(libc::SIGUSR1, exit_this_thread as extern "C" fn(libc::c_int) as libc::sighandler_t);
            libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGUSR1);
        }
        let _ = work.join(); // never returns: the worker ends the process
        unreachable!();
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let mutex = Shared::<Mutex<u64>>::create(&mutex_name, Mutex::new(0)).unwrap();
    let kid = start(&scope, TEST, "orphaned-worker", &control.ready, 1);
    // The test tests what it claims: the process shows Z and its worker still runs.
    let pid = kid.pid().to_string();
    assert_eq!(state_of(&pid), Some(b'Z'), "/proc/{pid}/stat shows its main thread exited");
    let beat = control.done.load(Ordering::Acquire);
    wait_until("the worker's next write", || control.done.load(Ordering::Acquire) > beat);
    let mut failures = Vec::new();
    match mutex.lock_timeout(Duration::from_millis(500)) {
        Err(e) if e.kind() == ErrorKind::Timeout => {}
        Ok(guard) => failures.push(format!("lock_timeout took the live worker's lock: Ok, value {}", *guard)),
        Err(e) => failures.push(format!("lock_timeout gave {:?} while the worker holds the lock", e.kind())),
    }
    let reclaimed = Shared::<Mutex<u64>>::reclaim(&mutex_name);
    if reclaimed != Ok(0) {
        failures.push(format!("reclaim reclaimed {reclaimed:?} of a live process whose main thread exited"));
    }
    let processes = Shared::process_count(&mutex);
    if processes != 2 {
        failures.push(format!("{processes} processes hold the mutex object, not 2"));
    }
    assert_eq!(state_of(&pid), Some(b'Z'), "still Z while judged");
    control.go.store(1, Ordering::Release);
    succeeds(kid);
    if failures.is_empty() {
        assert_eq!(*mutex.try_lock().expect("released by the worker"), 50);
    }
    assert!(failures.is_empty(), "a live process whose main thread exited was judged dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 8. strong_count and process_count agree about a killed holder.
// ---------------------------------------------------------------------------------

#[test]
fn strong_count_and_process_count_judge_dead_holders_alike() {
    const TEST: &str = "strong_count_and_process_count_judge_dead_holders_alike";
    let scope = Scope::new(TEST);
    let (control_name, value_name) = (scope.name("control"), scope.name("value"));
    if role().is_some() {
        let control = Shared::<Control>::open(&control_name).unwrap();
        let value = Shared::<u64>::open(&value_name).unwrap();
        let _clones: Vec<_> = (0..4).map(|_| value.clone()).collect();
        control.ready_then_wait_for_go();
        unreachable!("the parent kills us first");
    }
    let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
    let value = Shared::<u64>::create(&value_name, 1).unwrap();
    let kid = start(&scope, TEST, "victim", &control.ready, 1);
    assert_eq!((Shared::strong_count(&value), Shared::process_count(&value)), (6, 2), "before the kill");
    drop(kid); // SIGKILL, reaped; nobody opens, detaches or reclaims after it
    let (handles, processes) = (Shared::strong_count(&value), Shared::process_count(&value));
    assert_eq!(
        (handles, processes),
        (1, 1),
        "after SIGKILL of a holder of 5 handles, {handles} handles in {processes} processes: the dead holder's handles must count as little as the dead holder"
    );
    drop(value);
    assert!(!Scope::exists(&value_name), "the last live holder destroyed it");
}

// ---------------------------------------------------------------------------------
// 9. Holders in another time namespace.
// ---------------------------------------------------------------------------------

/// Boot clock offsets (seconds) of the owner's and the claimer's time namespaces:
/// neither they nor their difference is a multiple of 40.96 s, so the start times
/// the host and the two namespaces see differ modulo the 2^12 ticks an identity
/// keeps.
const OWNER_BOOTTIME: &str = "100";
const CLAIMER_BOOTTIME: &str = "300";

/// The `boottime` offset of this process's time namespace in whole seconds, as
/// `/proc/self/timens_offsets` shows it.
fn boottime_offset() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/timens_offsets").ok()?;
    let line = text.lines().find(|line| line.starts_with("boottime"))?;
    line.split_whitespace().nth(1).map(str::to_owned)
}

/// `unshare` running its one child in a new time namespace whose boot clock is
/// `secs` ahead (the child is SIGKILLed when `unshare` dies).
fn in_time_namespace(secs: &str) -> [&str; 6] {
    ["unshare", "--time", "--boottime", secs, "--fork", "--kill-child"]
}

#[test]
fn a_holder_in_another_time_namespace_is_never_judged_dead() {
    const TEST: &str = "a_holder_in_another_time_namespace_is_never_judged_dead";
    let scope = Scope::new(TEST);
    let (parents_name, ready_name, go_name) = (scope.name("parents"), scope.name("ready"), scope.name("go"));
    // The owner's objects: one pair for the host to judge, one for the claimer. No
    // process opens an object of the other's time namespace but to judge it (the
    // hand-shake is by the names of Uniques nobody claims).
    let owned = |judge: &str| scope.name(&format!("owned.{judge}"));
    let held = |judge: &str| scope.name(&format!("held.{judge}"));
    if let Some(role) = role() {
        let offset = boottime_offset();
        match role.as_str() {
            "owner" => {
                assert_eq!(offset.as_deref(), Some(OWNER_BOOTTIME), "the owner's boot clock is shifted");
                let uniques = ["host", "claimer"].map(|judge| Unique::<u64>::create(&owned(judge), 7).unwrap());
                let shareds = ["host", "claimer"].map(|judge| Shared::<u64>::create(&held(judge), 1).unwrap());
                let ready = Unique::<u64>::create(&ready_name, 1).unwrap();
                wait_until("the host's go", || Scope::exists(&go_name));
                drop((ready, shareds, uniques));
            }
            "claimer" => {
                let isolated = offset.as_deref() == Some(CLAIMER_BOOTTIME);
                claimer_role(&owned("claimer"), &parents_name, &held("claimer"), false, isolated);
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let probe = Command::new("unshare")
        .args(in_time_namespace(OWNER_BOOTTIME))
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `unshare --time --boottime` (Linux 5.6+ with CONFIG_TIME_NS, root): {probe:?}");
        return;
    }
    let parents = Unique::<u64>::create(&parents_name, 1).unwrap();
    let owner = command(&scope, &in_time_namespace(OWNER_BOOTTIME), TEST, "owner");
    let mut owner = Proc::spawn(owner, "the owner (boot clock +100 s)").unwrap();
    wait_until("the owner's objects", || {
        if let Some(status) = owner.exited() {
            panic!("the owner exited before it was ready: {status} (its message is above)");
        }
        Scope::exists(&ready_name)
    });
    let mut failures = Vec::new();
    // The host (this process) judges the owner in a time namespace.
    let kind = claim_kind(Unique::<u64>::claim(&owned("host")));
    if kind != Some(ErrorKind::Busy) {
        failures.push(format!("the host's claim of the live owner's Unique gave {kind:?} (None = Ok), not Busy"));
    }
    let reclaimed = Shared::<u64>::reclaim(&held("host"));
    if reclaimed != Ok(0) {
        failures.push(format!("the host's reclaim of an object the live owner holds reclaimed {reclaimed:?}"));
    }
    // A claimer in a third time namespace judges the owner and the host, which
    // holds a Unique of its own and joins the owner's object.
    let joined = match Shared::<u64>::open(&held("claimer")) {
        Ok(joined) => Some(joined),
        Err(e) => {
            failures.push(format!("the host could not join an object the live owner holds: {e}"));
            None
        }
    };
    let claimer = command(&scope, &in_time_namespace(CLAIMER_BOOTTIME), TEST, "claimer");
    let status = Proc::spawn(claimer, "the claimer (boot clock +300 s)").unwrap().status();
    match status.code() {
        Some(0) => {}
        Some(bits) if (1..32).contains(&bits) => failures.push(format!("the claimer {:?}", describe(bits as u32))),
        _ => failures.push(format!("the claimer failed: {status} (its message is above)")),
    }
    // The owner's objects are whole: its handle and this process's in each.
    for joined in [Shared::<u64>::open(&held("host")).map(Some), Ok(joined)] {
        match joined {
            Ok(Some(joined)) if (Shared::strong_count(&joined), Shared::process_count(&joined)) == (2, 2) => {}
            Ok(Some(joined)) => failures.push(format!(
                "an object the live owner holds: {} handles in {} processes, not 2 in 2",
                Shared::strong_count(&joined),
                Shared::process_count(&joined)
            )),
            Ok(None) => {}
            Err(e) => failures.push(format!("the host could not open an object the live owner holds: {e}")),
        }
    }
    let go = Unique::<u64>::create(&go_name, 1).unwrap();
    let status = owner.status();
    if !status.success() {
        failures.push(format!("the owner failed at its end: {status} (its message is above)"));
    }
    drop((go, parents));
    assert!(failures.is_empty(), "a live holder in another time namespace was judged dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 10. Processes of one pid namespace, one with the host's /proc.
// ---------------------------------------------------------------------------------

/// The command name of `/proc/<pid>/comm`.
fn comm_of(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|comm| comm.trim().to_owned())
}

/// The parent pid in `/proc/<pid>/stat` (the second field after the command name).
fn parent_of(pid: &str) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// The pid (the host's number) of a child of `parent` that runs `sleep`.
fn sleeping_child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(
        |&pid| parent_of(&pid.to_string()) == Some(parent) && comm_of(&pid.to_string()).as_deref() == Some("sleep"),
    )
}

/// Whether this process, in the pid namespace whose init is `sleep`, sees `which`
/// `/proc`: `own` (its namespace's: `/proc/self/stat` names its pid, `/proc/1` is
/// the `sleep`) or `host` (`/proc/self/stat` names another pid, `/proc/1` is in
/// another pid namespace).
fn sees_proc(which: &str) -> bool {
    let stat_pid = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| stat.split(' ').next().and_then(|pid| pid.parse::<u32>().ok()));
    let pid_ns = |pid: &str| std::fs::metadata(format!("/proc/{pid}/ns/pid")).ok().map(|m| m.ino());
    let me = std::process::id();
    match which {
        "own" => stat_pid == Some(me) && comm_of("1").as_deref() == Some("sleep"),
        "host" => stat_pid.is_some_and(|pid| pid != me) && pid_ns("self").is_some() && pid_ns("self") != pid_ns("1"),
        _ => false,
    }
}

#[test]
fn a_proc_of_another_pid_namespace_never_makes_a_live_process_dead() {
    const TEST: &str = "a_proc_of_another_pid_namespace_never_makes_a_live_process_dead";
    if let Some(role) = role() {
        let scope = Scope::new(TEST);
        let (control_name, held_name) = (scope.name("control"), scope.name("held"));
        let (owned_name, parents_name) = (scope.name("owned"), scope.name("parents"));
        let (what, which) = role.split_once('.').expect("a role is <what>.<which /proc>");
        let isolated = sees_proc(which);
        match what {
            "owner" => {
                assert!(isolated, "the owner in the pid namespace sees the {which} /proc");
                owner_role(&owned_name, &held_name, &control_name, 0o600);
            }
            "claimer" => claimer_role(&owned_name, &parents_name, &held_name, false, isolated),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let probe = Command::new(UNSHARE[0]).args(&UNSHARE[1..]).arg("true").stderr(Stdio::null()).status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `unshare --pid --fork --mount-proc`: {probe:?}");
        return;
    }
    let probe = Command::new("nsenter").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `nsenter`: {probe:?}");
        return;
    }
    let mut failures = Vec::new();
    // Kept to the end: their cleanup must not hide the failures.
    let mut scopes = Vec::new();
    // The owner sees the host's /proc and the claimer its namespace's, then the other
    // way round; the host judges the owner too.
    for (owners, claimers) in [("host", "own"), ("own", "host")] {
        let scope = Scope::new(&format!("{TEST}.{owners}"));
        // A pid namespace S with its own /proc, whose init sleeps; killing `unshare`
        // kills the init, and the kernel every other process of S with it.
        let mut init = Command::new(UNSHARE[0]);
        init.args(&UNSHARE[1..]).args(["sleep", "300"]);
        let mut namespace = Proc::spawn(init, "the pid namespace's init").unwrap();
        let mut sleeper = None;
        wait_until("the pid namespace's init to run sleep", || {
            if let Some(status) = namespace.exited() {
                panic!("`unshare --pid --fork --mount-proc sleep 300` exited: {status}");
            }
            sleeper = sleeping_child_of(namespace.pid());
            sleeper.is_some()
        });
        let sleeper = sleeper.unwrap().to_string();
        // `nsenter -p` runs its child in S with the host's /proc; `-m` adds S's mounts.
        let enter = |which: &str| match which {
            "own" => ["nsenter", "-t", &sleeper, "-p", "-m"].to_vec(),
            _ => ["nsenter", "-t", &sleeper, "-p"].to_vec(),
        };
        let owner = command(&scope, &enter(owners), TEST, &format!("owner.{owners}"));
        let owner = Proc::spawn(owner, &format!("the owner in a pid namespace, with the {owners} /proc")).unwrap();
        let claimer = command(&scope, &enter(claimers), TEST, &format!("claimer.{claimers}"));
        let mut found = Vec::new();
        owner_and_claimer(&scope, owner, claimer, &mut found);
        let setup = format!("[owner with the {owners} /proc, claimer with the {claimers} /proc]");
        failures.extend(found.into_iter().map(|failure| format!("{setup} {failure}")));
        drop(namespace);
        // Its init dies of `--kill-child` once `unshare` is reaped: wait until it is
        // a zombie or gone (its exit waits for every other process of S to end).
        wait_until("the pid namespace's init to end", || {
            comm_of(&sleeper).as_deref() != Some("sleep") || state_of(&sleeper).is_none_or(|state| state == b'Z')
        });
        scopes.push(scope);
    }
    assert!(failures.is_empty(), "a /proc of another pid namespace made a live process dead:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 11. and 12. fork() in a role process: into a new pid namespace, and inside
// create_with's initializer.
// ---------------------------------------------------------------------------------

/// What a forking role and its child found, bit by bit: the role's exit status.
const FORK_WROTE: i32 = 1;
const FORK_DESTROYED: i32 = 2;
const FORK_GOT_OK: i32 = 4;
const FORK_WRONG_ERROR: i32 = 8;
const FORK_PARENT_HARMED: i32 = 16;
const FORK_SETUP_WRONG: i32 = 32;
const FORK_CHILD_FAILED: i32 = 64;

fn describe_fork(bits: i32) -> Vec<&'static str> {
    [
        (FORK_WROTE, "the child wrote through the Unique its parent holds"),
        (FORK_DESTROYED, "the child's drop destroyed the parent's object"),
        (FORK_GOT_OK, "create_with returned Ok in the child forked inside its initializer"),
        (FORK_WRONG_ERROR, "create_with returned another error than Unsupported in the child"),
        (FORK_PARENT_HARMED, "the parent found its objects changed by the child (printed above)"),
        (FORK_SETUP_WRONG, "the processes were not set up as the test needs (the test would not test its claim)"),
        (FORK_CHILD_FAILED, "the child panicked, was killed or did not finish"),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, text)| text)
    .collect()
}

/// Fails the test unless the forking role ended with status 0.
fn forker_succeeds(status: ExitStatus) {
    match status.code() {
        Some(0) => {}
        // 101 is a panic (libtest's status); no combination of the bits makes it.
        Some(bits) if (1..128).contains(&bits) && bits != 101 => panic!("the forking role: {:?}", describe_fork(bits)),
        _ => panic!("the forking role failed: {status} (its message is above)"),
    }
}

/// `fork()` in a role process.
fn fork_role() -> libc::pid_t {
    // SAFETY: called only in a re-executed role process whose only other thread is
    // the test harness's main thread, blocked waiting for this test; the child only
    // runs Rust code that is fine after fork (it allocates, as glibc allows).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", io::Error::last_os_error());
    pid
}

/// In a forked child: exits with the bits `body` finds (`FORK_CHILD_FAILED` if it
/// panics), running nothing else of this process (no destructors, no harness).
fn forked_child_exits_with(body: impl FnOnce() -> i32) -> ! {
    let bits = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(FORK_CHILD_FAILED);
    // SAFETY: _exit(2) ends the forked child at once.
    unsafe { libc::_exit(bits) }
}

/// Waits (bounded, then SIGKILL) for the forked child `pid`: its exit status, or
/// `FORK_CHILD_FAILED` if it did not exit by itself.
fn reap_forked(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + BOUND;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child, with a valid status pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(got >= 0, "waitpid: {}", io::Error::last_os_error());
        if got == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            eprintln!("[parent] the forked child ended by signal {}", libc::WTERMSIG(status));
            return FORK_CHILD_FAILED;
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) and waitpid(2) on our own, still unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            eprintln!("[parent] the forked child did not finish within {BOUND:?}: killed");
            return FORK_CHILD_FAILED;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In the forking role, after its child: `FORK_PARENT_HARMED` if `harms` lists any.
fn harmed(harms: &[String]) -> i32 {
    if harms.is_empty() {
        return 0;
    }
    eprintln!("[parent] after its child: {}", harms.join("; "));
    FORK_PARENT_HARMED
}

/// A pid 1 without `/proc` forks a child into a new pid namespace: pid 1 there too,
/// without `/proc` too. Nothing the parent holds may become the child's.
#[test]
fn a_child_forked_into_a_new_pid_namespace_is_never_its_parent() {
    const TEST: &str = "a_child_forked_into_a_new_pid_namespace_is_never_its_parent";
    let scope = Scope::new(TEST);
    let (shared_name, unique_name) = (scope.name("shared"), scope.name("unique"));
    if role().is_some() {
        let without_proc = || std::fs::metadata("/proc/self/stat").is_err();
        let mut bits = if std::process::id() == 1 && without_proc() { 0 } else { FORK_SETUP_WRONG };
        let shared = Shared::<u64>::create(&shared_name, 5).unwrap();
        let mut unique = Unique::<u64>::create(&unique_name, 1).unwrap();
        *unique = 10;
        // SAFETY: unshare(2): this process's later children start a new pid namespace.
        check(unsafe { libc::unshare(libc::CLONE_NEWPID) }).expect("unshare(CLONE_NEWPID)");
        bits |= match fork_role() {
            0 => forked_child_exits_with(move || {
                let mut bits = if std::process::id() == 1 && without_proc() { 0 } else { FORK_SETUP_WRONG };
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *unique = 666)).is_ok() {
                    eprintln!("[child] wrote through the Unique of its parent (pid 1 as well)");
                    bits |= FORK_WROTE;
                }
                // Its parent's: dropping it would be no better than writing.
                std::mem::forget(unique);
                drop(shared);
                if !Scope::exists(&shared_name) {
                    eprintln!("[child] dropping the inherited Shared destroyed the parent's object");
                    bits |= FORK_DESTROYED;
                }
                bits
            }),
            pid => reap_forked(pid),
        };
        let mut harms = Vec::new();
        if *unique != 10 {
            harms.push(format!("its Unique reads {}, not 10", *unique));
        }
        if !Scope::exists(&shared_name) {
            harms.push("its Shared's object is gone".to_owned());
        }
        let (value, handles) = (*shared, Shared::strong_count(&shared));
        if (value, handles) != (5, 1) {
            harms.push(format!("its Shared reads {value} with {handles} handles, not 5 with 1"));
        }
        match Shared::<u64>::open(&shared_name) {
            Ok(again) if Shared::strong_count(&again) == 2 => {}
            Ok(again) => harms.push(format!("reopened, {} handles, not 2", Shared::strong_count(&again))),
            Err(e) => harms.push(format!("reopening its Shared's object: {e}")),
        }
        bits |= harmed(&harms);
        if bits != 0 {
            std::process::exit(bits); // the objects are left to the test's cleanup
        }
        drop((shared, unique));
        return;
    }
    let mut probe = Command::new("unshare");
    probe.args(["--pid", "--fork", "--kill-child", "true"]).stdout(Stdio::null()).stderr(Stdio::null());
    without_proc(&mut probe);
    let probe = probe.status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `unshare --pid --fork` with a tmpfs over /proc in a mount namespace: {probe:?}");
        return;
    }
    let mut forker = command(&scope, &["unshare", "--pid", "--fork", "--kill-child"], TEST, "forker");
    without_proc(&mut forker);
    let forker = Proc::spawn(forker, "the forking role (pid 1 of a pid namespace, without /proc)").unwrap();
    forker_succeeds(forker.status());
    assert!(!Scope::exists(&shared_name) && !Scope::exists(&unique_name), "the parent's drops destroyed its objects");
}

/// `fork()` inside `create_with`'s initializer: the child's call fails and leaves
/// the object to the parent, whose call succeeds.
#[test]
fn a_child_forked_inside_create_with_returns_an_error_and_leaves_the_object() {
    const TEST: &str = "a_child_forked_inside_create_with_returns_an_error_and_leaves_the_object";
    let scope = Scope::new(TEST);
    let name = scope.name("value");
    if role().is_some() {
        let mut child = -1;
        let created = Shared::<u64>::create_with(&name, |value| {
            child = fork_role();
            *value = 7;
        });
        if child == 0 {
            forked_child_exits_with(move || match created {
                Err(e) if e.kind() == ErrorKind::Unsupported => 0,
                Err(e) => {
                    eprintln!("[child] create_with: {e}, not Unsupported");
                    FORK_WRONG_ERROR
                }
                Ok(handle) => {
                    eprintln!("[child] create_with returned Ok; dropping the handle, as a program would");
                    drop(handle);
                    FORK_GOT_OK | if Scope::exists(&name) { 0 } else { FORK_DESTROYED }
                }
            });
        }
        let shared = created.expect("the parent's create_with");
        let mut bits = reap_forked(child);
        let mut harms = Vec::new();
        let (value, handles, processes) = (*shared, Shared::strong_count(&shared), Shared::process_count(&shared));
        if (value, handles, processes) != (7, 1, 1) {
            harms.push(format!("it reads {value}, {handles} handles in {processes} processes, not 7, 1 in 1"));
        }
        if !Scope::exists(&name) {
            harms.push("its object is gone".to_owned());
        }
        match Shared::<u64>::open(&name) {
            Ok(again) if (*again, Shared::strong_count(&again)) == (7, 2) => {}
            Ok(again) => harms.push(format!("reopened, reads {}, {} handles", *again, Shared::strong_count(&again))),
            Err(e) => harms.push(format!("reopening its object: {e}")),
        }
        bits |= harmed(&harms);
        if bits != 0 {
            std::process::exit(bits); // the object is left to the test's cleanup
        }
        drop(shared);
        if Scope::exists(&name) {
            eprintln!("[parent] its last handle is dropped, and the object still exists");
            std::process::exit(FORK_PARENT_HARMED);
        }
        return;
    }
    let forker = Proc::spawn(command(&scope, &[], TEST, "forker"), "the forking role").unwrap();
    forker_succeeds(forker.status());
    assert!(!Scope::exists(&name), "the parent's drop destroyed the object");
}

// ---------------------------------------------------------------------------------
// 13. setns into a shifted time namespace after the identity was settled.
// ---------------------------------------------------------------------------------

/// The host pid of a process in a time namespace whose boot clock is
/// `OWNER_BOOTTIME` ahead: a role joins it with setns(2).
const TIMENS_PID: &str = "SHMPTR_TEST_TIMENS_PID";
/// Exit statuses of a role whose forked child setns into that time namespace (any
/// other nonzero status is a failure, its message printed by the child).
const SETNS_REFUSED: i32 = 77;
const SETNS_TOOK_LIVE_LOCK: i32 = 1;
const SETNS_UNEXPECTED: i32 = 2;
const SETNS_NOT_SHIFTED: i32 = 4;

fn describe_setns(bits: i32) -> Vec<&'static str> {
    [
        (SETNS_TOOK_LIVE_LOCK, "the shifted process took the lock of a live holder (judged it dead)"),
        (SETNS_UNEXPECTED, "the shifted process got an unexpected answer (printed above)"),
        (SETNS_NOT_SHIFTED, "after setns the boot clock was not shifted (the test would not test its claim)"),
        (FORK_CHILD_FAILED, "the forked child panicked, was killed or did not finish"),
    ]
    .into_iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, text)| text)
    .collect()
}

/// In a forked (so single-threaded) child whose shmptr identity is settled: joins
/// the time namespace of `TIMENS_PID` with setns(2) and checks that its boot clock
/// now reads `OWNER_BOOTTIME` ahead. Exits with `SETNS_REFUSED` if the kernel
/// refuses, `SETNS_NOT_SHIFTED` if the clock is not shifted.
fn setns_into_the_shifted_time_namespace() {
    let pid = std::env::var(TIMENS_PID).expect("the time namespace's pid");
    let path = format!("/proc/{pid}/ns/time");
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("[child] opening {path}: {e}");
            // SAFETY: _exit(2) ends the forked child at once.
            unsafe { libc::_exit(SETNS_REFUSED) }
        }
    };
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) with a descriptor of a time namespace we keep open; this
    // forked child is single-threaded, as setns into a time namespace requires.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWTIME) } != 0 {
        eprintln!("[child] setns(CLONE_NEWTIME): {}", io::Error::last_os_error());
        // SAFETY: as above.
        unsafe { libc::_exit(SETNS_REFUSED) }
    }
    let offset = boottime_offset();
    if offset.as_deref() != Some(OWNER_BOOTTIME) {
        eprintln!("[child] after setns the boottime offset is {offset:?}, not {OWNER_BOOTTIME}");
        // SAFETY: as above.
        unsafe { libc::_exit(SETNS_NOT_SHIFTED) }
    }
}

/// A lock call's error kind, or `None` for `Ok` (the guard is dropped).
fn lock_kind(
    result: Result<shmptr_linux::MutexGuard<'_, u32>, shmptr::LockError<'_, u32, shmptr_linux::Linux>>,
) -> Option<ErrorKind> {
    result.err().map(|e| e.kind())
}

/// A process may setns(2) into a time namespace with a shifted boot clock after its
/// shmptr identity was settled (unshifted): every start time it reads from `/proc`
/// is then shifted. That must never make a live holder dead, either way round:
/// a holder that locks after such a setns (its thread's start time read shifted)
/// is `Busy` for `try_lock` and `Timeout` for `lock_timeout` here, and a process
/// that judges after such a setns finds this process's live holder `Busy` and
/// `Timeout` too (found by review: `try_lock` took a live holder's lock,
/// `OwnerDied`). The setns is made in a forked, single-threaded child of a role
/// process, into the time namespace of an `unshare --time --boottime 100` child.
/// Without time namespaces or the privilege: `SKIPPED`.
#[test]
fn setns_into_a_shifted_time_namespace_after_the_identity_is_settled_never_makes_a_live_holder_dead() {
    const TEST: &str =
        "setns_into_a_shifted_time_namespace_after_the_identity_is_settled_never_makes_a_live_holder_dead";
    let scope = Scope::new(TEST);
    let (holder_control, holder_mutex) = (scope.name("holder.control"), scope.name("holder.mutex"));
    let judge_mutex = scope.name("judge.mutex");
    if let Some(role) = role() {
        // Nothing of shmptr is touched before the fork: the child settles its own
        // identity, unshifted, by opening the objects.
        let child = fork_role();
        if child == 0 {
            forked_child_exits_with(|| {
                // SAFETY: prctl(2): this child dies with the thread that forked it.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                match role.as_str() {
                    "shifted-holder" => {
                        let control = Shared::<Control>::open(&holder_control).unwrap();
                        let m = Shared::<Mutex<u32>>::open(&holder_mutex).unwrap();
                        setns_into_the_shifted_time_namespace();
                        let mut guard = m.lock().unwrap();
                        *guard = 7;
                        control.ready.store(1, Ordering::Release);
                        wait_for(&control.go, 1);
                        drop(guard);
                        0
                    }
                    "shifted-judge" => {
                        let m = Shared::<Mutex<u32>>::open(&judge_mutex).unwrap();
                        setns_into_the_shifted_time_namespace();
                        let tried = lock_kind(m.try_lock());
                        let timed = lock_kind(m.lock_timeout(Duration::from_millis(300)));
                        eprintln!("[shifted judge] try_lock: {tried:?}, lock_timeout(300 ms): {timed:?}");
                        let mut bits = 0;
                        for (call, got, expected) in
                            [("try_lock", tried, ErrorKind::Busy), ("lock_timeout", timed, ErrorKind::Timeout)]
                        {
                            match got {
                                Some(kind) if kind == expected => {}
                                None | Some(ErrorKind::OwnerDied) => bits |= SETNS_TOOK_LIVE_LOCK,
                                Some(kind) => {
                                    eprintln!("[shifted judge] {call} gave {kind:?}, not {expected:?}");
                                    bits |= SETNS_UNEXPECTED;
                                }
                            }
                        }
                        bits
                    }
                    other => panic!("unknown role {other}"),
                }
            });
        }
        std::process::exit(reap_forked(child));
    }
    let probe = Command::new("unshare")
        .args(in_time_namespace(OWNER_BOOTTIME))
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.as_ref().is_ok_and(ExitStatus::success) {
        println!("SKIPPED: cannot run `unshare --time --boottime` (Linux 5.6+ with CONFIG_TIME_NS, root): {probe:?}");
        return;
    }
    let started = Instant::now();
    // A process in the shifted time namespace, for the roles to setns into.
    let mut namespace = Command::new("unshare");
    namespace.args(in_time_namespace(OWNER_BOOTTIME)).args(["sleep", "30"]).stdout(Stdio::null());
    let namespace = Proc::spawn(namespace, "the time namespace's `unshare`").unwrap();
    let mut sleeper = None;
    wait_until("the `sleep` in the time namespace", || {
        sleeper = sleeping_child_of(namespace.pid());
        sleeper.is_some()
    });
    let sleeper = sleeper.unwrap().to_string();
    let role_command = |role: &str| {
        let mut cmd = command(&scope, &[], TEST, role);
        cmd.env(TIMENS_PID, &sleeper);
        cmd
    };
    let skipped = |status: &ExitStatus| {
        let refused = status.code() == Some(SETNS_REFUSED);
        if refused {
            println!("SKIPPED: setns(CLONE_NEWTIME) into another time namespace is refused here (printed above)");
        }
        refused
    };
    let role_failed = |role: &str, status: ExitStatus| match status.code() {
        Some(bits) if (1..128).contains(&bits) && bits != 101 => format!("the {role}: {:?}", describe_setns(bits)),
        _ => format!("the {role} failed: {status} (its message is above)"),
    };
    let mut failures = Vec::new();

    // A holder that locks after its setns, judged from here (unshifted).
    let control = Shared::<Control>::create(&holder_control, Control::new()).unwrap();
    let m = Shared::<Mutex<u32>>::create(&holder_mutex, Mutex::new(0)).unwrap();
    let mut holder = Proc::spawn(role_command("shifted-holder"), "the shifted holder").unwrap();
    if let Some(status) = ready_or_exit(&control.ready, 1, &mut holder) {
        if skipped(&status) {
            return;
        }
        panic!("{}", role_failed("shifted holder, before it was ready", status));
    }
    let tried = lock_kind(m.try_lock());
    let timed = lock_kind(m.lock_timeout(Duration::from_millis(300)));
    println!("a live holder that setns after settling: try_lock {tried:?}, lock_timeout(300 ms) {timed:?}");
    if tried != Some(ErrorKind::Busy) {
        failures.push(format!("try_lock on the live shifted holder's lock gave {tried:?} (None = Ok), not Busy"));
    }
    if timed != Some(ErrorKind::Timeout) {
        failures
            .push(format!("lock_timeout on the live shifted holder's lock gave {timed:?} (None = Ok), not Timeout"));
    }
    control.go.store(1, Ordering::Release);
    let status = holder.status();
    if !status.success() {
        failures.push(role_failed("shifted holder", status));
    }

    // A process that judges after its setns, a live holder here (this thread).
    let judged = Shared::<Mutex<u32>>::create(&judge_mutex, Mutex::new(0)).unwrap();
    let mut guard = judged.lock().unwrap();
    *guard = 7;
    let status = Proc::spawn(role_command("shifted-judge"), "the shifted judge").unwrap().status();
    if !status.success() && !skipped(&status) {
        failures.push(role_failed("shifted judge", status));
    }
    drop(guard);
    drop(namespace);
    println!("both ways in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "BUG: a process that setns into a shifted time namespace after its identity was settled judged a live \
         holder dead:\n{}",
        failures.join("\n")
    );
}
