//! Review s19: attacks with real processes on the liveness verdicts (a live process
//! must never be judged dead). Each test asserts the contract's behaviour and
//! fails while the weakness it names exists. Names are unique per test and run;
//! `/dev/shm` is left as found.
#![cfg(target_os = "linux")]

mod linux_support;

use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use linux_support::{role, Scope, BOUND};
use shmptr_linux::{ErrorKind, Shared};

// ---------------------------------------------------------------------------------
// 1. A judge whose /proc changes after its identity was settled.
// ---------------------------------------------------------------------------------

/// Exit bits of the judge role.
const JUDGE_RECLAIMED_LIVE: i32 = 1;
const JUDGE_DESTROYED_LIVE: i32 = 2;
const JUDGE_SKIPPED: i32 = 64;

/// A process settles its (complete) identity with the host's `/proc`, then its
/// thread enters a mount namespace whose `/proc` is the procfs of another pid
/// namespace (as a tool that `setns(CLONE_NEWNS)`s into a container without its
/// pid namespace sees it; here: `unshare(CLONE_NEWNS)`, and a child in a new pid
/// namespace mounts its proc in that shared mount namespace). In that namespace a
/// process has the pid number of the test process (the live holder), with
/// another start time. The judge's `reclaim` and last drop must still never take
/// the live holder for dead. (Found by review s19: `identity::judge` checked at
/// every call that the boot clock was unshifted, but never again that `/proc` was
/// its own pid namespace's, which `complete` checks once, when the identity is
/// settled; and `boot_clock_unshifted` takes a missing
/// `/proc/self/timens_offsets`, as in another namespace's procfs, which has no
/// `self`, for "unshifted". Now every judgment first finds its own start time at
/// `/proc/<own pid>/stat`.)
#[test]
fn a_proc_of_another_pid_namespace_mounted_after_the_identity_is_settled_never_makes_a_live_holder_dead() {
    const TEST: &str =
        "a_proc_of_another_pid_namespace_mounted_after_the_identity_is_settled_never_makes_a_live_holder_dead";
    let scope = Scope::new(TEST);
    let name = scope.name("held");
    if role().is_some() {
        std::process::exit(judge_role(&name));
    }
    let probe = Command::new("unshare").args(["--pid", "--fork", "true"]).stderr(Stdio::null()).status();
    if !probe.as_ref().is_ok_and(|s| s.success()) {
        println!("SKIPPED: cannot run `unshare --pid --fork`: {probe:?}");
        return;
    }
    // This process is the live holder.
    let held = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    let status = scope.spawn(TEST, "judge").status();
    let code = status.code();
    if code == Some(JUDGE_SKIPPED) {
        println!("SKIPPED: the judge could not set up its mount namespace (printed above)");
        return;
    }
    let alive = Scope::exists(&name);
    let count = Shared::strong_count(&held);
    assert!(
        code == Some(0) && alive,
        "a live holder (this test process, pid {}) was judged dead by a process whose /proc became another pid \
         namespace's after its identity was settled: judge status {status} (bit {JUDGE_RECLAIMED_LIVE}: its \
         reclaim reclaimed the live holder; bit {JUDGE_DESTROYED_LIVE}: its last drop destroyed the object), \
         the name still exists: {alive}, strong_count now {count}",
        std::process::id()
    );
}

/// The judge: opens the object (identity settled with the host's /proc), moves its
/// thread into a private mount namespace whose /proc is a new pid namespace's with
/// a process of the holder's pid number, then reclaims and drops.
fn judge_role(name: &str) -> i32 {
    let holder = std::os::unix::process::parent_id();
    let held = Shared::<AtomicU64>::open(name).unwrap();
    assert_eq!(Shared::process_count(&held), 2, "the holder is alive and counted before");
    // SAFETY: unshare(2) and mount(2) with valid arguments; they change only this
    // thread's mount namespace (made private, so nothing propagates to the host).
    let entered = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    };
    if !entered {
        eprintln!("[judge] unshare/mount: {}", io::Error::last_os_error());
        return JUDGE_SKIPPED;
    }
    // A new pid namespace sharing this thread's mount namespace: its init mounts
    // its proc on /proc (seen here too), then starts `sleep` as pid `holder`.
    let script = format!(
        "mount -t proc proc /proc || exit 1; echo {} > /proc/sys/kernel/ns_last_pid || exit 1; sleep 120 & wait",
        holder - 1
    );
    let mut namespace = match Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "sh", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("[judge] unshare: {e}");
            return JUDGE_SKIPPED;
        }
    };
    let comm = format!("/proc/{holder}/comm");
    let deadline = Instant::now() + BOUND;
    while std::fs::read_to_string(&comm).ok().as_deref() != Some("sleep\n") {
        if let Ok(Some(status)) = namespace.try_wait() {
            eprintln!("[judge] the pid namespace's init ended: {status}");
            return JUDGE_SKIPPED;
        }
        assert!(Instant::now() < deadline, "waited {BOUND:?} for the namespace's sleep as pid {holder}");
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("[judge] /proc/{holder} now shows another pid namespace's sleep; the holder {holder} lives");
    let mut bits = 0;
    let reclaimed = Shared::<AtomicU64>::reclaim(name).unwrap();
    if reclaimed != 0 {
        eprintln!("[judge] reclaim reclaimed {reclaimed} holder(s): the live holder {holder}");
        bits |= JUDGE_RECLAIMED_LIVE;
    }
    drop(held);
    if !Scope::exists(name) {
        eprintln!("[judge] dropping the judge's handle destroyed the object the live holder {holder} holds");
        bits |= JUDGE_DESTROYED_LIVE;
    }
    let _ = namespace.kill();
    let _ = namespace.wait();
    bits
}

// ---------------------------------------------------------------------------------
// 2. A creator stopped between creating its file and locking it.
// ---------------------------------------------------------------------------------

/// Exit codes of the traced creator.
const CREATOR_KEPT: i32 = 0;
const CREATOR_REPLACED: i32 = 1;
const CREATOR_FAILED: i32 = 2;
const CREATOR_REFUSED: i32 = 3;

/// Forks a creator of `name` (`Shared::<u64>::create`, then an open by name to see
/// whether its object is the one the name refers to) and runs it under ptrace
/// until it enters its `nth` system call (from 1, counted from the start of its
/// `create`); returns it stopped there, alive, or `None` with its exit code if it
/// finished first.
fn creator_stopped_at(name: &str, nth: usize) -> Result<libc::pid_t, i32> {
    // SAFETY: the child runs only shmptr and raw system calls, and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: ptrace(2)/raise(3) on ourselves; we stop until the parent traces.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
        }
        let code = match Shared::<u64>::create(name, 7) {
            Ok(mine) => match Shared::<u64>::options().timeout(Duration::from_millis(200)).open(name) {
                Ok(by_name) if Shared::ptr_eq(&mine, &by_name) => CREATOR_KEPT,
                _ => CREATOR_REPLACED,
            },
            Err(e) if e.kind() == ErrorKind::AlreadyExists => CREATOR_REFUSED,
            Err(_) => CREATOR_FAILED,
        };
        // SAFETY: leaving the forked child without the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waitpid(2) on our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFSTOPPED(status), "the child stops for its tracer: {status:#x}");
    let options = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
    // SAFETY: ptrace(2) requests on our stopped tracee.
    assert_eq!(unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) }, 0);
    let deadline = Instant::now() + BOUND;
    // The first entry is the end of `raise`'s own system call.
    let mut entries = 0;
    loop {
        assert!(Instant::now() < deadline, "the creator never reached system call {nth}");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, 0) }, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, libc::__WALL) }, pid);
        if libc::WIFEXITED(status) {
            return Err(libc::WEXITSTATUS(status));
        }
        assert!(libc::WIFSTOPPED(status), "the creator ended: {status:#x}");
        if (status >> 8) & 0xff != libc::SIGTRAP | 0x80 {
            continue;
        }
        // SAFETY: all-zero is a valid `ptrace_syscall_info`; the kernel writes at
        // most `size` bytes.
        let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of_val(&info);
        // SAFETY: as above.
        assert!(unsafe { libc::ptrace(libc::PTRACE_GET_SYSCALL_INFO, pid, size, &mut info as *mut _) } > 0);
        if info.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
            entries += 1;
            if entries == nth {
                return Ok(pid);
            }
        }
    }
}

/// Lets the creator `pid` go on (detached) and returns its exit code.
fn finish(pid: libc::pid_t) -> i32 {
    // SAFETY: detach, letting the creator go on.
    assert_eq!(unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) }, 0);
    let deadline = Instant::now() + BOUND;
    let mut status = 0;
    loop {
        // SAFETY: waitpid(2) on our child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid && libc::WIFEXITED(status) {
            return libc::WEXITSTATUS(status);
        }
        assert!(got == 0 || got == pid, "waitpid: {}", io::Error::last_os_error());
        assert!(Instant::now() < deadline, "the creator did not finish");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether this kernel makes a file in `/dev/shm` with `O_TMPFILE` and names it
/// with `linkat(AT_EMPTY_PATH)` for this process (6.10 and later; earlier ones
/// only with `CAP_DAC_READ_SEARCH`), which lets a creator lock its file before
/// the name refers to it.
fn named_only_once_locked(scope: &Scope) -> bool {
    let probe = std::ffi::CString::new(Scope::path(&scope.name("probe"))).unwrap();
    // SAFETY: raw system calls on a valid path and our own descriptor.
    unsafe {
        let fd = libc::open(c"/dev/shm".as_ptr(), libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC, 0o600);
        if fd < 0 {
            return false;
        }
        let linked = libc::linkat(fd, c"".as_ptr(), libc::AT_FDCWD, probe.as_ptr(), libc::AT_EMPTY_PATH) == 0;
        libc::close(fd);
        libc::unlink(probe.as_ptr());
        linked
    }
}

/// DESIGN: "A slow or stopped creator keeps its object". A creator is stopped
/// (under ptrace, deterministically) at the entry of each system call of its
/// `create`, in turn, and another process calls `open_or_create` on the name
/// meanwhile. Every round ends one of three ways: the name did not exist yet
/// (the opener creates its object, and the creator's `create` fails with
/// `AlreadyExists`, as if it came second to an `O_EXCL`); it existed and was
/// being created (the opener returns `Timeout`, the creator keeps its object); or
/// it was ready (the opener opens the creator's object), or being destroyed by
/// the creator's last drop (`Busy`), or gone (the opener creates). Never a
/// creator whose
/// object the name no longer refers to. (Before the review the name appeared,
/// by `open(O_CREAT | O_EXCL)`, before the creation lock: a creator stopped
/// between the two for longer than an opener's timeout lost its object to the
/// opener, and its `create` then returned a handle on a file no name referred
/// to. Now the file is made with `O_TMPFILE`, locked, and only then named.)
#[test]
fn a_creator_stopped_at_any_system_call_keeps_its_object_or_comes_second() {
    let scope = Scope::new("a_creator_stopped_at_any_system_call_keeps_its_object_or_comes_second");
    if !named_only_once_locked(&scope) {
        println!("SKIPPED: this kernel refuses O_TMPFILE or linkat(AT_EMPTY_PATH) in /dev/shm (the old way is used)");
        return;
    }
    let (mut before, mut during, mut ready, mut destroying, mut after) = (0, 0, 0, 0, 0);
    for nth in 1.. {
        let name = scope.name(&format!("x{nth}"));
        let pid = match creator_stopped_at(&name, nth) {
            Ok(pid) => pid,
            Err(code) => {
                assert_eq!(code, CREATOR_KEPT, "untraced after {nth} calls");
                assert!(!Scope::exists(&name));
                break;
            }
        };
        let opened =
            Shared::<u64>::options().timeout(Duration::from_millis(100)).open_or_create_with_status(&name, || 9);
        let outcome = match &opened {
            Ok((value, created)) => format!("Ok(value {}, created: {created})", **value),
            Err(e) => format!("Err({:?}: {e})", e.kind()),
        };
        let code = finish(pid);
        let round = format!("stopped at system call {nth}: the opener got {outcome}; creator exit {code} (0 kept, 1 replaced, 2 create failed, 3 AlreadyExists)");
        match (&opened, code) {
            (Ok((value, true)), CREATOR_REFUSED) if **value == 9 => before += 1,
            (Err(e), CREATOR_KEPT) if e.kind() == ErrorKind::Timeout => during += 1,
            (Ok((value, false)), CREATOR_KEPT) if **value == 7 => ready += 1,
            // Stopped in its last drop, destroying the object.
            (Err(e), CREATOR_KEPT) if e.kind() == ErrorKind::Busy => destroying += 1,
            // Stopped once its last drop had removed the name.
            (Ok((value, true)), CREATOR_KEPT) if **value == 9 => after += 1,
            _ => panic!("{round}"),
        }
        drop(opened);
        assert!(!Scope::exists(&name), "{round}: the name outlived both");
    }
    println!(
        "rounds: {before} before the name existed, {during} while being created, {ready} once ready, \
         {destroying} while destroying, {after} after"
    );
    assert!(before > 0 && during > 0 && ready > 0, "every phase was reached: {before}, {during}, {ready}");
}

// ---------------------------------------------------------------------------------
// 3. A squatter's file lease.
// ---------------------------------------------------------------------------------

/// A squatter of another user (`nobody`) plants a world-writable file at the name
/// and takes a read lease on it (`fcntl(F_SETLEASE, F_RDLCK)`: any owner may, on
/// a file nobody has open for writing). `Backend::open` opens the name with
/// `O_RDWR` and no `O_NONBLOCK`, so the kernel breaks the lease and blocks the
/// open until the squatter gives it up or `/proc/sys/fs/lease-break-time` (45 s
/// by default) runs out, whatever `.timeout(..)` the caller gave, and before the
/// owner check that refuses another user's file. Expected: `open` with a 100 ms
/// timeout answers within a few seconds; with `O_NONBLOCK` it answers at once,
/// `Busy` (a live process holds the file; its owner cannot be checked without
/// opening it, which would break the lease). (Also `claim`, `open_or_create`
/// and the CLI go through this open.)
#[test]
fn a_squatters_lease_never_makes_open_wait_past_its_timeout() {
    let scope = Scope::new("a_squatters_lease_never_makes_open_wait_past_its_timeout");
    let name = scope.name("x");
    let path = std::ffi::CString::new(Scope::path(&name)).unwrap();
    let mut pipe = [0; 2];
    // SAFETY: pipe(2) into a two-int array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child makes raw system calls only and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: raw system calls on our own descriptors and a valid path.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::signal(libc::SIGIO, libc::SIG_IGN);
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                libc::_exit(2);
            }
            let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o666);
            if fd < 0 || libc::fchmod(fd, 0o666) != 0 {
                libc::_exit(3);
            }
            libc::close(fd);
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            if fd < 0 || libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) != 0 {
                libc::_exit(4);
            }
            libc::write(pipe[1], b"L".as_ptr().cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    // SAFETY: closing our copy of the write end; reading one byte into a local.
    unsafe { libc::close(pipe[1]) };
    let mut byte = 0u8;
    // SAFETY: as above.
    let got = unsafe { libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1) };
    // SAFETY: our own descriptor.
    unsafe { libc::close(pipe[0]) };
    let kill = || {
        let mut status = 0;
        // SAFETY: kill(2)/waitpid(2) on our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        status
    };
    if got != 1 {
        let status = kill();
        println!("SKIPPED: the squatter could not plant its leased file (status {status:#x})");
        let _ = std::fs::remove_file(Scope::path(&name));
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let opener = {
        let name = name.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = Shared::<u64>::options().timeout(Duration::from_millis(100)).open(&name).map(|_| ());
            let _ = tx.send((result.map_err(|e| e.kind()), started.elapsed()));
        })
    };
    let answered = rx.recv_timeout(Duration::from_secs(5));
    // Ends the lease: a still blocked open goes on now.
    kill();
    opener.join().unwrap();
    let late = rx.try_recv().ok();
    let _ = std::fs::remove_file(Scope::path(&name));
    match answered {
        Ok((result, took)) => assert_eq!(result, Err(ErrorKind::Busy), "answered in {took:?}"),
        Err(_) => panic!(
            "open with a 100 ms timeout of a name a squatter of another user leased was still blocked in \
             open(2) after 5 s (the kernel waits lease-break-time, 45 s by default, for the squatter); it \
             returned {late:?} only once the squatter was killed"
        ),
    }
}
