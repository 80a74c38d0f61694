//! Runs `shmptr` under `ptrace(2)` and stops its worker process for one object
//! right after the `mmap` that maps it, before it reads a byte: there a test
//! truncates the file, which makes the worker's first read fault with SIGBUS
//! every time instead of by luck (a peer thread shrinking the file in a loop hit
//! that window in none of 18,648 runs on a loaded CI machine).
//!
//! Only the worker whose last argument is the object's name is stopped; the
//! command and every other process it starts run untouched (their signals are
//! passed on). `PTRACE_O_EXITKILL` kills them all if the test dies.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Instant;

use super::BOUND;

/// The `mmap` system calls of this target (rustix calls `mmap2` on 32-bit x86).
#[cfg(target_pointer_width = "64")]
const MMAP: [libc::c_long; 1] = [libc::SYS_mmap];
#[cfg(target_pointer_width = "32")]
const MMAP: [libc::c_long; 2] = [libc::SYS_mmap, libc::SYS_mmap2];

/// What a traced process is to the tracer.
#[derive(Clone, Copy, PartialEq)]
enum Tracee {
    /// The `shmptr` command, or a process it started that is not the worker.
    Other,
    /// Just attached: its first stop is the SIGSTOP that attaching sends.
    New,
    /// The worker for the object; `in_mmap` once it entered a shared file `mmap`.
    Worker { in_mmap: bool },
}

/// Runs `shmptr ARGS` and calls `at_map` once, when the worker for `name`
/// returns from mapping it. Returns the command's output and whether `at_map`
/// ran, or `Err` when this process may not trace its child (no `CAP_SYS_PTRACE`
/// in a container, a seccomp policy): the caller then prints `SKIPPED:`.
pub fn shmptr_stopped_at_map(args: &[&str], name: &str, at_map: impl FnOnce()) -> io::Result<(Output, bool)> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shmptr"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and makes one
    // system call, which is async-signal-safe; it touches no memory the parent
    // could have left locked.
    unsafe {
        command.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).map(|_| bytes)
    });

    // The child stops with SIGTRAP at its exec.
    let Waited::Status(status) = wait(pid, 0) else { panic!("the traced command vanished before its exec") };
    assert!(stopped(status) == Some(libc::SIGTRAP), "the traced command stopped with {status:#x}");
    let options = libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC
        | libc::PTRACE_O_TRACESYSGOOD
        | libc::PTRACE_O_EXITKILL;
    request(libc::PTRACE_SETOPTIONS, pid, options as usize).expect("PTRACE_SETOPTIONS");
    request(libc::PTRACE_CONT, pid, 0).expect("PTRACE_CONT");

    let mut at_map = Some(at_map);
    let mut tracees = vec![(pid, Tracee::Other)];
    let start = Instant::now();
    let exit = 'trace: loop {
        assert!(start.elapsed() < BOUND, "the traced `shmptr {args:?}` ran for over {BOUND:?}");
        let mut idle = true;
        let worker = tracees.iter().any(|&(_, t)| matches!(t, Tracee::Worker { .. }));
        let mut i = 0;
        while i < tracees.len() {
            let (who, what) = tracees[i];
            // While the worker runs under PTRACE_SYSCALL it stops at every system
            // call and the command only waits for it: poll the worker alone.
            if worker && !matches!(what, Tracee::Worker { .. }) {
                i += 1;
                continue;
            }
            let status = match wait(who, libc::WNOHANG) {
                Waited::Status(status) => status,
                Waited::Running => {
                    i += 1;
                    continue;
                }
                Waited::Gone => {
                    // Not ours to wait for any more (reaped by its parent).
                    tracees.swap_remove(i);
                    continue;
                }
            };
            i += 1;
            idle = false;
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                if who == pid {
                    break 'trace ExitStatus::from_raw(status);
                }
                tracees.swap_remove(i - 1);
                i -= 1;
                continue;
            }
            let Some(signal) = stopped(status) else { continue };
            let event = status >> 16;
            let mut resume_with = 0;
            let mut next = what;
            if event != 0 {
                if matches!(event, libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE) {
                    let mut new: libc::c_ulong = 0;
                    request(libc::PTRACE_GETEVENTMSG, who, &mut new as *mut _ as usize).expect("PTRACE_GETEVENTMSG");
                    tracees.push((new as libc::pid_t, Tracee::New));
                } else if event == libc::PTRACE_EVENT_EXEC {
                    let line = std::fs::read(format!("/proc/{who}/cmdline")).unwrap_or_default();
                    let worker = line.split(|&b| b == 0).rfind(|a| !a.is_empty()) == Some(name.as_bytes())
                        && line.windows(8).any(|w| w == b"__worker");
                    next = if worker && at_map.is_some() { Tracee::Worker { in_mmap: false } } else { Tracee::Other };
                }
            } else if signal == libc::SIGTRAP | 0x80 {
                if let Tracee::Worker { in_mmap } = what {
                    let call = syscall(who);
                    if call.op == libc::PTRACE_SYSCALL_INFO_ENTRY {
                        // SAFETY: `op` says the kernel filled the `entry` member.
                        let entry = unsafe { call.u.entry };
                        let shared_file = entry.args[3] & libc::MAP_SHARED as u64 != 0 && entry.args[4] as i32 >= 0;
                        next = Tracee::Worker { in_mmap: MMAP.contains(&(entry.nr as libc::c_long)) && shared_file };
                    } else if in_mmap && call.op == libc::PTRACE_SYSCALL_INFO_EXIT {
                        // SAFETY: `op` says the kernel filled the `exit` member.
                        let exit = unsafe { call.u.exit };
                        assert_eq!(exit.is_error, 0, "the worker's mmap failed: {}", exit.sval);
                        (at_map.take().unwrap())();
                        request(libc::PTRACE_DETACH, who, 0).expect("PTRACE_DETACH");
                        tracees.swap_remove(i - 1);
                        i -= 1;
                        continue;
                    }
                }
            } else if !(signal == libc::SIGSTOP && what == Tracee::New) {
                resume_with = signal; // a signal for the tracee: pass it on
            }
            if what == Tracee::New {
                next = if next == Tracee::New { Tracee::Other } else { next };
            }
            tracees[i - 1].1 = next;
            let how = if matches!(next, Tracee::Worker { .. }) { libc::PTRACE_SYSCALL } else { libc::PTRACE_CONT };
            // A tracee killed meanwhile (ESRCH) is seen as gone at its next wait.
            let _ = request(how, who, resume_with as usize);
        }
        if idle && worker {
            std::thread::yield_now();
        } else if idle {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    let output = Output {
        status: exit,
        stdout: out.join().unwrap().expect("reading the command's stdout"),
        stderr: err.join().unwrap().expect("reading the command's stderr"),
    };
    // The command was reaped above; `child` must not wait for it again.
    drop(child);
    Ok((output, at_map.is_none()))
}

/// What `waitpid` found.
enum Waited {
    /// A stop or an end, as `waitpid` encodes it (0 is an exit with status 0).
    Status(libc::c_int),
    /// `WNOHANG` and nothing to report.
    Running,
    /// `pid` is no longer ours to wait for.
    Gone,
}

/// `waitpid(pid, flags | __WALL)`.
fn wait(pid: libc::pid_t, flags: libc::c_int) -> Waited {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    match unsafe { libc::waitpid(pid, &mut status, flags | libc::__WALL) } {
        -1 => Waited::Gone,
        0 => Waited::Running,
        _ => Waited::Status(status),
    }
}

/// The stop signal of a stopped status (with the `PTRACE_O_TRACESYSGOOD` bit).
fn stopped(status: libc::c_int) -> Option<libc::c_int> {
    libc::WIFSTOPPED(status).then_some((status >> 8) & 0xff)
}

/// One `ptrace` request with `data` (an address or a value, as the request wants).
fn request(request: libc::c_uint, pid: libc::pid_t, data: usize) -> io::Result<()> {
    // SAFETY: every caller passes as `data` either a plain value or the address
    // of a live local of the size the request writes.
    match unsafe { libc::ptrace(request, pid, 0usize, data) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// The system call a tracee stopped in (`PTRACE_GET_SYSCALL_INFO`).
fn syscall(pid: libc::pid_t) -> libc::ptrace_syscall_info {
    // SAFETY: all-zero bytes are a valid `ptrace_syscall_info` (integers and a
    // union of integers).
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of_val(&info);
    // SAFETY: the kernel writes at most `size` bytes to `info`.
    let r = unsafe { libc::ptrace(libc::PTRACE_GET_SYSCALL_INFO, pid, size, &mut info as *mut _) };
    assert!(r > 0, "PTRACE_GET_SYSCALL_INFO: {}", io::Error::last_os_error());
    info
}
