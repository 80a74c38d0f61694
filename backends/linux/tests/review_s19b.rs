//! Review s19b: attacks with real processes on the fixes of review s19 (the
//! creator's `O_TMPFILE` + `linkat(AT_EMPTY_PATH)`, `O_NONBLOCK` opens, the
//! judge's self-check). Each test asserts the contract's behaviour and fails while
//! the weakness it names exists. Names are unique per test and run; `/dev/shm` and
//! the host's mounts are left as found (mounts are made only in private mount
//! namespaces of child processes).
#![cfg(target_os = "linux")]

mod linux_support;

use std::io;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use linux_support::{role, Scope, BOUND};
use shmptr_linux::{ErrorKind, Shared};

// ---------------------------------------------------------------------------------
// Support: a creator under ptrace (the technique of review_s19.rs), optionally
// under a seccomp filter that answers `linkat(.., AT_EMPTY_PATH)` as kernels before
// 6.10 answer an unprivileged process.
// ---------------------------------------------------------------------------------

const CREATOR_KEPT: i32 = 0;
const CREATOR_REPLACED: i32 = 1;
const CREATOR_FAILED: i32 = 2;
const CREATOR_REFUSED: i32 = 3;
const CREATOR_NO_SECCOMP: i32 = 4;

/// Installs, in the calling (single-threaded, forked) process, a seccomp filter
/// that fails `linkat` with `ENOENT` whenever its flags hold `AT_EMPTY_PATH`: what
/// every kernel before 6.10 answers a process without `CAP_DAC_READ_SEARCH`
/// (`fs/namei.c`: "flink" needs that capability). Everything else is allowed,
/// `linkat(AT_FDCWD, "/proc/self/fd/N", .., AT_SYMLINK_FOLLOW)` included (the
/// way open(2) documents to name an `O_TMPFILE` file without that capability).
#[cfg(target_arch = "x86_64")]
fn refuse_flink() -> bool {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JSET_K: u16 = 0x45;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code, k| libc::sock_filter { code, jt: 0, jf: 0, k };
    let jump = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    let filter = [
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, ALLOW),
        stmt(LD_W_ABS, 0),
        jump(JEQ_K, libc::SYS_linkat as u32, 0, 3),
        // args[4] (flags), low half: offset 16 + 8 * 4.
        stmt(LD_W_ABS, 48),
        jump(JSET_K, libc::AT_EMPTY_PATH as u32, 0, 1),
        stmt(RET_K, ERRNO | libc::ENOENT as u32),
        stmt(RET_K, ALLOW),
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
    // SAFETY: prctl(2) with a valid filter program that outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const libc::sock_fprog) == 0
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn refuse_flink() -> bool {
    false
}

/// Forks a creator of `name` (`Shared::<u64>::create(name, 7)`, then an open by
/// name to see whether its object is the one the name refers to), under the
/// `refuse_flink` filter if `old_kernel`, and runs it under ptrace until it enters
/// its `nth` system call (from 1, counted from the start of its `create`); returns
/// it stopped there, alive, or its exit code if it finished first.
fn creator_stopped_at(name: &str, nth: usize, old_kernel: bool) -> Result<libc::pid_t, i32> {
    // SAFETY: the child runs only shmptr and raw system calls, and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        if old_kernel && !refuse_flink() {
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(CREATOR_NO_SECCOMP) };
        }
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
    if libc::WIFEXITED(status) {
        return Err(libc::WEXITSTATUS(status));
    }
    assert!(libc::WIFSTOPPED(status), "the child stops for its tracer: {status:#x}");
    let options = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
    // SAFETY: ptrace(2) requests on our stopped tracee.
    assert_eq!(unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) }, 0);
    let deadline = Instant::now() + BOUND;
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
        // SAFETY: all-zero is a valid `ptrace_syscall_info`.
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

// ---------------------------------------------------------------------------------
// 1. The fallback: a kernel that refuses linkat(AT_EMPTY_PATH).
// ---------------------------------------------------------------------------------

/// DESIGN: "A slow or stopped creator keeps its object", and `create` is
/// exclusive. Review s19's fix names the creator's file only once it is locked,
/// but only where `linkat(fd, "", .., AT_EMPTY_PATH)` is allowed: on kernels
/// before 6.10 (5.15, 6.1, 6.6 LTS: most deployments) that needs
/// `CAP_DAC_READ_SEARCH`, so every unprivileged creator there falls back to
/// `open(O_CREAT | O_EXCL)` then `flock`, the very window review s19 found. Yet
/// open(2) documents a way that needs no capability on any kernel with
/// `O_TMPFILE`: `linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, path,
/// AT_SYMLINK_FOLLOW)`. Here a seccomp filter makes this 6.18 kernel answer
/// `linkat(AT_EMPTY_PATH)` with `ENOENT` as an old one does (nothing else is
/// refused), and the creator is stopped at each of its system calls in turn while
/// another process calls `open_or_create` with a 100 ms timeout. Expected, as in
/// review_s19.rs: the creator keeps its object or comes second. Found: stopped
/// between its `open(O_CREAT | O_EXCL)` and its `flock`, it loses the name to the
/// opener, and its `create` then succeeds too, on a file no name refers to: two
/// creators of one name both succeed.
#[test]
fn where_linkat_empty_path_is_refused_a_stopped_creator_still_keeps_its_object() {
    let scope = Scope::new("where_linkat_empty_path_is_refused_a_stopped_creator_still_keeps_its_object");
    let mut failures = Vec::new();
    for nth in 1.. {
        let name = scope.name(&format!("x{nth}"));
        let pid = match creator_stopped_at(&name, nth, true) {
            Ok(pid) => pid,
            Err(CREATOR_NO_SECCOMP) => {
                println!("SKIPPED: no seccomp filter could be installed");
                return;
            }
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
        let good = match (&opened, code) {
            (Ok((value, true)), CREATOR_REFUSED) => **value == 9,
            (Err(e), CREATOR_KEPT) => matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Busy),
            (Ok((value, false)), CREATOR_KEPT) => **value == 7,
            (Ok((value, true)), CREATOR_KEPT) => **value == 9, // after its last drop
            _ => false,
        };
        if !good {
            failures.push(format!(
                "stopped at system call {nth}: the opener got {outcome}; creator exit {code} (0 kept, \
                 1 replaced: its create succeeded on a file the name no longer refers to, 2 failed, \
                 3 AlreadyExists)"
            ));
        }
        drop(opened);
    }
    assert!(failures.is_empty(), "a stopped creator lost its object:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// 2. The judge: a /proc/<pid> that shows another process.
// ---------------------------------------------------------------------------------

const JUDGE_RECLAIMED_LIVE: i32 = 1;
const JUDGE_DESTROYED_LIVE: i32 = 2;
const JUDGE_SKIPPED: i32 = 64;

/// Enters a private mount namespace (this process only; nothing propagates to
/// the host).
fn private_mount_namespace() -> bool {
    // SAFETY: unshare(2) and mount(2) with valid arguments.
    unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    }
}

/// The judge's own `/proc` is its pid namespace's procfs and its own entry shows
/// itself (so review s19's self-check passes), but the holder's entry,
/// `/proc/<holder>`, shows another process: another process's entry is bind
/// mounted over it (in the judge's private mount namespace; the way a process is
/// hidden from `ps`, and what a container runtime or a tool that masks paths may
/// leave). `judge` reads `/proc/<holder>/stat` and compares only the start time:
/// it never checks that the stat line's own pid field (field 1) is the pid it
/// asked about, so it takes pid 1's start time for the holder's and judges the
/// live holder dead. Expected: `reclaim` reclaims nothing and the judge's last
/// drop leaves the object to the live holder (a live process is never judged
/// dead); `/proc/<holder>/stat` saying `1 (init) ...` is no proof about `holder`.
#[test]
fn a_proc_entry_that_shows_another_process_never_makes_a_live_holder_dead() {
    const TEST: &str = "a_proc_entry_that_shows_another_process_never_makes_a_live_holder_dead";
    let scope = Scope::new(TEST);
    let name = scope.name("held");
    if role().is_some() {
        std::process::exit(overmount_judge(&name));
    }
    let held = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    let status = scope.spawn(TEST, "judge").status();
    let code = status.code();
    if code == Some(JUDGE_SKIPPED) {
        println!("SKIPPED: the judge could not set up its mount namespace");
        return;
    }
    let alive = Scope::exists(&name);
    let count = Shared::strong_count(&held);
    assert!(
        code == Some(0) && alive,
        "a live holder (this test process, pid {}) was judged dead by a judge whose /proc/<holder> shows \
         another process (pid 1): judge status {status} (bit {JUDGE_RECLAIMED_LIVE}: reclaim reclaimed the \
         live holder; bit {JUDGE_DESTROYED_LIVE}: its last drop destroyed the object), the name still exists: \
         {alive}, strong_count now {count}",
        std::process::id()
    );
}

fn overmount_judge(name: &str) -> i32 {
    let holder = std::os::unix::process::parent_id();
    let held = Shared::<AtomicU64>::open(name).unwrap();
    assert_eq!(Shared::process_count(&held), 2, "the holder is alive and counted before");
    if !private_mount_namespace() {
        eprintln!("[judge] unshare/mount: {}", io::Error::last_os_error());
        return JUDGE_SKIPPED;
    }
    let target = std::ffi::CString::new(format!("/proc/{holder}")).unwrap();
    // SAFETY: mount(2) with valid paths, in our private mount namespace.
    if unsafe { libc::mount(c"/proc/1".as_ptr(), target.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) }
        != 0
    {
        eprintln!("[judge] bind mount: {}", io::Error::last_os_error());
        return JUDGE_SKIPPED;
    }
    let shown = std::fs::read_to_string(format!("/proc/{holder}/stat")).unwrap_or_default();
    eprintln!("[judge] /proc/{holder}/stat now reads {:?}", shown.split(')').next().unwrap_or(""));
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
    bits
}

// ---------------------------------------------------------------------------------
// 3. The judge's self-check, met by a planted process.
// ---------------------------------------------------------------------------------

/// `clone3(2)`'s arguments (kernel ABI, 11 × u64).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A fork (`clone3` without flags) whose child gets `pid` in the pid namespace
/// its children are made in; in the child 0. Only raw system calls in the child.
fn fork_with_pid(pid: libc::pid_t) -> libc::pid_t {
    let tid = [pid];
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: clone3(2) without CLONE_VM is a fork; `args` and `tid` outlive it.
    unsafe {
        libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) as libc::pid_t
    }
}

/// Field 22 of `/proc/<pid>/stat` (host procfs): the start time in ticks.
fn start_ticks(pid: libc::pid_t) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// A child that waits for a byte on `go`, then (if `mount`) mounts its pid
/// namespace's proc on /proc and writes a byte to `done`; then pauses. Raw
/// system calls only (it may come from `clone3`).
fn planted(go: i32, done: i32, mount: bool) -> ! {
    let mut byte = 0u8;
    // SAFETY: raw system calls on our own descriptors and static strings.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if mount {
            libc::read(go, (&mut byte as *mut u8).cast(), 1);
            let ok = libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), 0, std::ptr::null()) == 0;
            byte = if ok { b'M' } else { b'F' };
            libc::write(done, (&byte as *const u8).cast(), 1);
        }
        loop {
            libc::pause();
        }
    }
}

/// Review s19's self-check (the judge must find its own start time at
/// `/proc/<own pid>`) assumes "a procfs of another namespace has no such pid, or
/// another process, whose start time differs but for a 1 in 2^START_BITS
/// chance". The start time is kept modulo 2^12 ticks (41 s at 100 Hz), and
/// whoever runs the other pid namespace (a container's root, any user with a user
/// namespace) chooses both: `clone3(set_tid)` picks the pid, and forking within
/// the same tick as the judge (or 4096 ticks later) picks the start time. Here,
/// in a new pid namespace whose proc is then mounted over the judge's `/proc`
/// (its private mount namespace; as in review_s19.rs), a process is planted with
/// the judge's pid number and start tick, and another with the live holder's pid
/// number: the self-check passes and the live holder is judged dead. Expected:
/// never (DESIGN: a live process is never judged dead); e.g. the judge could
/// check `/proc/self` (absent in another namespace's procfs, as
/// `identity::complete` does) or the procfs's own pid namespace
/// (`/proc/<pid>/ns/pid` of its own entry) rather than a 12-bit start time.
#[test]
fn a_planted_process_with_the_judges_pid_and_start_tick_never_makes_a_live_holder_dead() {
    const TEST: &str = "a_planted_process_with_the_judges_pid_and_start_tick_never_makes_a_live_holder_dead";
    let scope = Scope::new(TEST);
    let name = scope.name("held");
    if role().is_some() {
        std::process::exit(planting_judge(&name));
    }
    let held = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    let status = scope.spawn(TEST, "judge").status();
    let code = status.code();
    if code == Some(JUDGE_SKIPPED) {
        println!("SKIPPED: the judge could not set up its namespaces (printed above)");
        return;
    }
    let alive = Scope::exists(&name);
    let count = Shared::strong_count(&held);
    assert!(
        code == Some(0) && alive,
        "a live holder (this test process, pid {}) was judged dead by a judge whose /proc became another pid \
         namespace's, in which a process with the judge's pid and start tick was planted: judge status {status} \
         (bit {JUDGE_RECLAIMED_LIVE}: reclaim reclaimed the live holder; bit {JUDGE_DESTROYED_LIVE}: its last \
         drop destroyed the object), the name still exists: {alive}, strong_count now {count}",
        std::process::id()
    );
}

/// Sets up the namespaces and forks the judge (in the host pid namespace) in the
/// same tick as its double (in the new one); returns the judge's exit bits.
fn planting_judge(name: &str) -> i32 {
    let holder = std::os::unix::process::parent_id() as libc::pid_t;
    // Some ticks after the holder started, so that processes started now show
    // another start time than the holder's.
    std::thread::sleep(Duration::from_millis(50));
    if !private_mount_namespace() {
        eprintln!("[setup] unshare/mount: {}", io::Error::last_os_error());
        return JUDGE_SKIPPED;
    }
    // SAFETY: open(2) of our own pid namespace, to fork in it again after unshare.
    let host_ns = unsafe { libc::open(c"/proc/self/ns/pid".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    assert!(host_ns >= 0);
    let pipe = || {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) into a two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        fds
    };
    let (settled, go, mounted) = (pipe(), pipe(), pipe());
    let deadline = Instant::now() + BOUND;
    for attempt in 1.. {
        if Instant::now() > deadline {
            eprintln!("[setup] never forked the judge and its double in one tick");
            return JUDGE_SKIPPED;
        }
        // SAFETY: setns(2) on our own descriptor: children in the host pid namespace.
        assert_eq!(unsafe { libc::setns(host_ns, libc::CLONE_NEWPID) }, 0);
        // SAFETY: the judge child runs shmptr, then leaves with _exit.
        let judge = unsafe { libc::fork() };
        assert!(judge >= 0);
        if judge == 0 {
            let mut byte = 0u8;
            // SAFETY: reading one byte from our pipe.
            unsafe { libc::read(go[0], (&mut byte as *mut u8).cast(), 1) };
            if byte != b'J' {
                // SAFETY: leaving the forked child.
                unsafe { libc::_exit(0) };
            }
            // SAFETY: leaving the forked child with the judge's bits.
            unsafe { libc::_exit(judge_with_planted_double(name, holder, settled[1], mounted[0])) };
        }
        // SAFETY: unshare(2): our next children go into a new pid namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            eprintln!("[setup] unshare(CLONE_NEWPID): {}", io::Error::last_os_error());
            // SAFETY: kill(2)/waitpid(2) on our own child.
            unsafe {
                libc::kill(judge, libc::SIGKILL);
                libc::waitpid(judge, std::ptr::null_mut(), 0);
            }
            return JUDGE_SKIPPED;
        }
        // SAFETY: a fork (pid 1 of the new namespace) that only pauses.
        let init = unsafe { libc::fork() };
        if init == 0 {
            planted(-1, -1, false);
        }
        let double = fork_with_pid(judge);
        if double == 0 {
            planted(settled[0], mounted[1], true);
        }
        let other = fork_with_pid(holder);
        if other == 0 {
            planted(-1, -1, false);
        }
        let (a, b) = (start_ticks(judge), start_ticks(double));
        // The holder's double must show another start time than the holder's.
        let differs = start_ticks(other).map(|o| o % 4096) != start_ticks(holder).map(|h| h % 4096);
        let matched = double > 0 && other > 0 && differs && a.is_some() && a.map(|a| a % 4096) == b.map(|b| b % 4096);
        eprintln!("[setup] attempt {attempt}: judge {judge} starts at {a:?}, its double {double} at {b:?}; holder's double {other}");
        if matched {
            // SAFETY: one byte to the judge: go.
            unsafe { libc::write(go[1], b"J".as_ptr().cast(), 1) };
            let mut status = 0;
            // SAFETY: waitpid(2) on our own child (bounded by the judge's own waits).
            unsafe { libc::waitpid(judge, &mut status, 0) };
            for pid in [other, double, init] {
                // SAFETY: kill(2)/waitpid(2) on our own children.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
            return if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { JUDGE_SKIPPED };
        }
        for pid in [judge, other, double, init] {
            if pid > 0 {
                // SAFETY: kill(2)/waitpid(2) on our own children.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
        }
    }
    unreachable!()
}

/// The judge: opens the object (its identity settled with the host's /proc), has
/// its double mount the new namespace's proc over /proc, then reclaims and drops.
fn judge_with_planted_double(name: &str, holder: libc::pid_t, settled: i32, mounted: i32) -> i32 {
    let held = Shared::<AtomicU64>::open(name).unwrap();
    if Shared::process_count(&held) != 2 {
        return JUDGE_SKIPPED;
    }
    let mut byte = 0u8;
    // SAFETY: one byte each way on our pipes.
    unsafe {
        libc::write(settled, b"S".as_ptr().cast(), 1);
        libc::read(mounted, (&mut byte as *mut u8).cast(), 1);
    }
    if byte != b'M' {
        eprintln!("[judge] the double could not mount its proc");
        return JUDGE_SKIPPED;
    }
    let me = std::process::id();
    let show = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    eprintln!("[judge] /proc/{me}/stat: {:?}", show(me).split(')').next().unwrap_or(""));
    eprintln!("[judge] /proc/{holder}/stat: {:?}", show(holder as u32).split(')').next().unwrap_or(""));
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
    bits
}
