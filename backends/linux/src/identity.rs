//! Process identity that survives pid reuse, and liveness you can trust.
//!
//! An identity packs, in 63 bits: the pid (22 bits, Linux's `PID_MAX_LIMIT`), the
//! pid namespace exactly (29 bits, see [`namespace_field`]; 0 when it could not be
//! read), and the process's start time in clock ticks since boot, modulo 2^12
//! (field 22 of `/proc/<pid>/stat`).
//!
//! [`liveness`] answers `Dead` only with proof that this exact process is gone:
//! - same pid namespace as ours (compared exactly), and
//! - `/proc/<pid>/stat` names another process (its start time differs: the pid was
//!   reused), or a zombie whose threads are all gone (a thread-group leader whose
//!   other threads still run is a zombie too, and is alive), or
//! - `/proc/<pid>` is missing *and* `kill(pid, 0)` says no such process (ESRCH).
//!
//! Anything else — another or an unknown namespace, no `/proc`, `hidepid`, EACCES,
//! EMFILE, a kernel that answers unexpectedly — is `Unknown`, which shmptr treats
//! as alive. The start time is kept to 12 bits to make room for the namespace: two
//! processes of one pid whose start times agree modulo 2^12 ticks make a dead holder
//! look alive (a leak, never a live process judged dead).
//!
//! The calling process's identity is computed once and cached in a page advised
//! `MADV_WIPEONFORK`: a child created by `fork()` sees zeros there and computes its
//! own, so the cache costs two loads and no syscall per call. (Where the kernel
//! lacks `MADV_WIPEONFORK`, it is cached beside the pid it belongs to, checked with
//! `getpid()`.) An identity whose start time or namespace could not be read says so
//! (pid field 0, the other bits a hash of the pid and the clock, unique per process),
//! so that no peer ever judges this process dead from it;
//! [`ensure`], which runs before every create and open, refuses to start with one
//! when the cause may pass (no free descriptor), so that such an identity is cached
//! only where nothing better can ever be had (no `/proc`) or was already handed out.

use core::ffi::CStr;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode, OFlags, CWD};
use rustix::mm::{self, Advice, MapFlags, ProtFlags};
use rustix::{io, process};

use shmptr::{Error, ErrorKind, Liveness, ProcessId, Result, ThreadId};

const PID_BITS: u32 = 22;
const NS_BITS: u32 = 29;
const START_BITS: u32 = 63 - PID_BITS - NS_BITS;

/// The pid in a process identity made by this backend (the low bits; see the
/// module docs and FORMAT.md), as the process's own pid namespace numbers it; `None`
/// for an identity its process could not complete (its pid field is 0).
///
/// ```
/// let me = shmptr_linux::Shared::<u64>::create("identity.pid.doc", 0)?;
/// let info = shmptr_linux::inspect("identity.pid.doc")?;
/// let creator = info.creator.expect("a finished object names its creator");
/// assert_eq!(shmptr_linux::pid(creator), Some(std::process::id()));
/// # drop(me);
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
pub fn pid(id: ProcessId) -> Option<u32> {
    let pid = (id.get() & ((1 << PID_BITS) - 1)) as u32;
    (pid != 0).then_some(pid)
}

/// Whether the process identity `id` (made by this backend) belongs to this
/// process's pid namespace, so that its [`pid`] names the same process here (in
/// `/proc`, to `kill`); `None` if either identity is incomplete (its namespace
/// could not be read).
///
/// ```
/// let me = shmptr_linux::Shared::<u64>::create("identity.ns.doc", 0)?;
/// let creator = shmptr_linux::inspect("identity.ns.doc")?.creator.unwrap();
/// assert_eq!(shmptr_linux::same_pid_namespace(creator), Some(true));
/// # drop(me);
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
pub fn same_pid_namespace(id: ProcessId) -> Option<bool> {
    let (pid, namespace, _) = unpack(id);
    let (own_pid, ours, _) = unpack(current());
    (pid != 0 && own_pid != 0).then_some(namespace == ours)
}

/// The page that caches this process's identity; null until first use.
static CACHE: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());

/// Where the kernel has no `MADV_WIPEONFORK`: the identity and the pid it is for.
static FALLBACK_PID: AtomicU64 = AtomicU64::new(0);
static FALLBACK_ID: AtomicU64 = AtomicU64::new(0);

/// This process's identity: cached, stable for the life of the process, recomputed
/// after `fork`. Two loads on the fast path.
#[inline]
pub(crate) fn current() -> ProcessId {
    // Acquire: pairs with the Release CAS that installs the page.
    let page = CACHE.load(Ordering::Acquire);
    if !page.is_null() {
        // SAFETY: an installed page is never unmapped, is zero-filled (a valid
        // `AtomicU64`) and aligned; it is private to this process.
        // Relaxed: the word is only ever written with this process's identity, by
        // this process (a forked child starts from a wiped, zero page).
        if let Some(id) = ProcessId::new(unsafe { &*page }.load(Ordering::Relaxed)) {
            return id;
        }
    }
    settle(false).unwrap_or_else(|(id, _)| id)
}

/// This process's identity, refusing to settle on an incomplete one whose cause may
/// pass (no free descriptor to read `/proc`): create and open call it first, so an
/// object is never made or joined under an identity peers cannot judge, when a
/// retry could have given a complete one.
pub(crate) fn ensure() -> Result<ProcessId> {
    settle(true).map_err(|(_, errno)| {
        Error::with_os_code(ErrorKind::Os, "reading this process's identity", errno.raw_os_error())
    })
}

/// Finds this process's identity and caches it. With `strict`, an identity that is
/// incomplete for a passing reason is neither cached nor returned: `Err` with it
/// and the reason instead.
#[cold]
fn settle(strict: bool) -> core::result::Result<ProcessId, (ProcessId, io::Errno)> {
    let pid = process::getpid().as_raw_nonzero().get() as u32;
    let cache = cache_page();
    let cached = match cache {
        // Relaxed: as in `current`.
        Some(cache) => cache.load(Ordering::Relaxed),
        // Acquire: pairs with the Release store of the pid below, after the id.
        None if FALLBACK_PID.load(Ordering::Acquire) == u64::from(pid) => FALLBACK_ID.load(Ordering::Relaxed),
        None => 0,
    };
    if let Some(id) = ProcessId::new(cached) {
        return Ok(id);
    }
    let (id, passing) = compute(pid, cache.is_some());
    match passing {
        Some(errno) if strict => return Err((id, errno)),
        _ => {}
    }
    // Publish, or take the one another thread published first: one identity per
    // process, whatever the races.
    Ok(match cache {
        // Relaxed: the word is private to this process; the value is all there is.
        Some(cache) => match cache.compare_exchange(0, id.get(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => id,
            Err(winner) => ProcessId::new(winner).unwrap_or(id),
        },
        None => {
            // Racing threads compute the same identity here (see `incomplete`).
            FALLBACK_ID.store(id.get(), Ordering::Relaxed);
            // Release: the id above happens before a reader's Acquire of the pid.
            FALLBACK_PID.store(u64::from(pid), Ordering::Release);
            id
        }
    })
}

/// The cache word, mapping its page on first use. `None` if the page cannot be
/// had or the kernel cannot wipe it on fork.
fn cache_page() -> Option<&'static AtomicU64> {
    // Acquire: pairs with the Release CAS below, so the page's advice is in place.
    let mut page = CACHE.load(Ordering::Acquire);
    if page.is_null() {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let fresh =
            unsafe { mm::mmap_anonymous(ptr::null_mut(), 4096, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE) };
        let fresh = fresh.ok()?;
        // SAFETY: `fresh` is the page just mapped, 4096 bytes.
        if unsafe { mm::madvise(fresh, 4096, Advice::LinuxWipeOnFork) }.is_err() {
            // Without wipe-on-fork a cached identity would survive into a child.
            // SAFETY: unmapping the page we just mapped and never shared.
            let _ = unsafe { mm::munmap(fresh, 4096) };
            return None;
        }
        // AcqRel: publish our page, or see the winner's.
        match CACHE.compare_exchange(ptr::null_mut(), fresh.cast(), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => page = fresh.cast(),
            Err(winner) => {
                // SAFETY: another thread installed its page first; ours was never shared.
                let _ = unsafe { mm::munmap(fresh, 4096) };
                page = winner;
            }
        }
    }
    // SAFETY: the page is mapped for the life of the process (never unmapped once
    // installed), zero-filled (a valid `AtomicU64`) and 4096-aligned.
    Some(unsafe { &*page })
}

/// This process's identity, and, if it is incomplete for a reason that may pass,
/// that reason.
///
/// Complete only if `/proc` is provably ours (`/proc/self/stat` names our pid: a
/// procfs of another pid namespace shows another number, or no `self`), and our
/// time namespace does not shift the boot clock (see [`boot_clock_unshifted`]).
fn compute(pid: u32, wiped_on_fork: bool) -> (ProcessId, Option<io::Errno>) {
    match complete(pid) {
        Ok(id) => (id, None),
        Err(e) => {
            // No `/proc`, not ours, or not ours to read: nothing better will come.
            // Only running out of descriptors or memory may pass.
            let passing = matches!(e, io::Errno::MFILE | io::Errno::NFILE | io::Errno::NOMEM | io::Errno::INTR);
            (incomplete(pid, wiped_on_fork), passing.then_some(e))
        }
    }
}

/// The complete identity of this process, `pid`, if `/proc` allows.
fn complete(pid: u32) -> io::Result<ProcessId> {
    let mut buf = [0; 1024];
    let stat = parse_stat(read_file(c"/proc/self/stat", &mut buf)?).ok_or(io::Errno::INVAL)?;
    if stat.pid != u64::from(pid) || !boot_clock_unshifted()? {
        return Err(io::Errno::INVAL);
    }
    let namespace = namespace_field(fs::statat(CWD, c"/proc/self/ns/pid", fs::AtFlags::empty()).map(|st| st.st_ino))?;
    Ok(pack(pid, namespace, stat.start))
}

/// An identity that peers never judge (pid field 0), unique all the same: a hash of
/// the pid and, where the identity is cached in a page that `fork` wipes (so that
/// racing threads agree through that page), the clock fills the other 41 bits. So
/// a process and its forked child never share one even when both lack `/proc` and
/// have the same pid number (a pid 1 that forks into a new pid namespace). Without
/// that page (kernels before 4.14) only the pid, so that racing threads agree.
fn incomplete(pid: u32, wiped_on_fork: bool) -> ProcessId {
    let clock = if wiped_on_fork { crate::platform::monotonic_nanos() } else { 0 };
    let hash = (u64::from(pid) ^ clock).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ProcessId::new((hash >> (64 - NS_BITS - START_BITS)).max(1) << PID_BITS).expect("within 63 bits, not zero")
}

/// Whether `/proc` is our pid namespace's procfs now: its `self` is this process,
/// pid `pid` with start time `start` (modulo 2^[`START_BITS`]). Another pid
/// namespace's procfs has no `self` for a process outside it (whatever pids and
/// start times its owner arranges there, found by review); an ancestor
/// namespace's shows our pid there, another number.
fn proc_shows_us(pid: u32, start: u64) -> bool {
    let mut buf = [0; 1024];
    match read_file(c"/proc/self/stat", &mut buf).ok().and_then(parse_stat) {
        Some(me) => me.pid == u64::from(pid) && me.start & ((1 << START_BITS) - 1) == start,
        None => false,
    }
}

/// Whether this process's time namespace leaves the boot clock alone: a zero
/// `boottime` line in `/proc/self/timens_offsets`, or no such file (a kernel without
/// time namespaces). The kernel shifts the start times every reader sees by the
/// reader's own offset, so only processes whose offset is zero agree on them; any
/// other identity is left incomplete, never judged. A process may `setns` into
/// another time namespace later, so a judge checks its own clock again each time
/// (`judge`), and a thread's start time is recorded only while it is unshifted.
/// [time_namespaces(7)](https://man7.org/linux/man-pages/man7/time_namespaces.7.html)
fn boot_clock_unshifted() -> io::Result<bool> {
    let mut buf = [0; 1024];
    let text = match read_file(c"/proc/self/timens_offsets", &mut buf) {
        Ok(text) => text,
        Err(io::Errno::NOENT) => return Ok(true),
        Err(e) => return Err(e),
    };
    // The kernel writes each line as `"%-10s %10lld %9ld\n"`, boottime last: an
    // unshifted one reads exactly so. Any other text (a shift, another format)
    // counts as shifted: the identity is left incomplete, which is safe.
    Ok(text.ends_with(b"boottime            0         0\n"))
}

/// The pid namespace, exactly, in [`NS_BITS`] bits: the inode of
/// `/proc/self/ns/pid`, which identifies the namespace among all of one boot (nsfs
/// has one device). Kernels before 6.x number namespaces from `0xEFFFFFFC` up
/// (`PROC_PID_INIT_INO`, then `PROC_DYNAMIC_FIRST`), newer ones from small numbers:
/// both ranges map one-to-one into 29 bits; an inode outside both is `INVAL`, and
/// the caller records "unknown" (0), which peers never judge.
fn namespace_field(ino: io::Result<u64>) -> io::Result<u64> {
    const LOW: u64 = 1 << (NS_BITS - 1);
    const OLD_FIRST: u64 = 0xEFFF_FFFC;
    match ino? {
        0 => Err(io::Errno::INVAL),
        ino if ino < LOW => Ok(ino),
        ino if (OLD_FIRST..OLD_FIRST + LOW).contains(&ino) => Ok(LOW | (ino - OLD_FIRST)),
        _ => Err(io::Errno::INVAL),
    }
}

fn pack(pid: u32, namespace: u64, start: u64) -> ProcessId {
    let raw = (pid as u64 & ((1 << PID_BITS) - 1))
        | ((namespace & ((1 << NS_BITS) - 1)) << PID_BITS)
        | ((start & ((1 << START_BITS) - 1)) << (PID_BITS + NS_BITS));
    ProcessId::new(raw).expect("a pid is never zero")
}

/// `(pid, namespace field, start time bits)` of an identity.
fn unpack(id: ProcessId) -> (u32, u64, u64) {
    let raw = id.get();
    let pid = (raw & ((1 << PID_BITS) - 1)) as u32;
    let namespace = (raw >> PID_BITS) & ((1 << NS_BITS) - 1);
    let start = raw >> (PID_BITS + NS_BITS);
    (pid, namespace, start)
}

/// Whether the process `id` names is alive. `Dead` only with proof (see the module
/// docs); never for a live process.
pub(crate) fn liveness(id: ProcessId) -> Liveness {
    let (pid, namespace, start) = unpack(id);
    judge(pid, namespace, Some((start, START_BITS)), false)
}

/// Whether the task `pid` of pid namespace field `namespace` is alive, if its
/// start time modulo 2^bits is `start` (`None`: unknown, so a reused pid looks
/// alive); a process if not `thread` (its zombie leader with threads still
/// running is alive), a thread if `thread` (any zombie is dead).
// Outlined: processes and threads share it.
#[inline(never)]
fn judge(pid: u32, namespace: u64, start: Option<(u64, u32)>, thread: bool) -> Liveness {
    let (own_pid, ours, own_start) = unpack(current());
    // Another namespace, or one that could not be read on either side (an
    // incomplete identity has pid field 0): its pid means nothing here. Ours being
    // complete means our `/proc` was our pid namespace's, and our boot clock
    // unshifted, when it was settled; both must still hold *now*. A process can
    // `setns` into a time namespace after that, and would then read every start
    // time shifted; or into a mount namespace whose `/proc` is another pid
    // namespace's (or have one mounted over its own), where `/proc/<pid>` is
    // another process or none (found by reviews: a live holder judged dead).
    if pid == 0
        || own_pid == 0
        || namespace != ours
        || !boot_clock_unshifted().unwrap_or(false)
        || !proc_shows_us(own_pid, own_start)
    {
        return Liveness::Unknown;
    }
    // Both identities complete: both boot clocks unshifted, so both see start
    // times alike. `/proc/<tid>` answers for any thread, listed or not.
    match read_stat(pid) {
        // Another process's entry (one bind-mounted over it, found by review):
        // it proves nothing about `pid`.
        Ok(stat) if stat.pid != u64::from(pid) => Liveness::Unknown,
        Ok(stat) if start.is_some_and(|(start, bits)| stat.start & ((1 << bits) - 1) != start) => Liveness::Dead,
        // A process: a zombie whose threads are all gone (a leader that exited
        // while its other threads run shows `Z` too, with more than one thread).
        // A thread: any zombie has exited.
        Ok(stat) if stat.zombie && (thread || stat.threads <= 1) => Liveness::Dead,
        Ok(_) => Liveness::Alive,
        // No `/proc/<pid>` (or no `/proc`, or `hidepid`): only the kernel's "no such
        // process" for this pid in our namespace proves it gone.
        Err(io::Errno::NOENT) | Err(io::Errno::SRCH) => match pid_exists(pid) {
            Some(false) => Liveness::Dead,
            _ => Liveness::Unknown,
        },
        Err(_) => Liveness::Unknown,
    }
}

/// This process's pid namespace field, its lock domain (see
/// `Platform::lock_domain`); 0 if its identity is incomplete.
#[inline]
pub(crate) fn namespace() -> u32 {
    match unpack(current()) {
        (0, _, _) => 0,
        (_, namespace, _) => namespace as u32,
    }
}

// A thread's lock identity packs, in 63 bits: its tid (22 bits), the pid namespace
// (29 bits, as in a process identity), whether the start time is known (1 bit) and
// the thread's start time in clock ticks since boot, modulo 2^11.
const THREAD_KNOWN: u64 = 1 << (PID_BITS + NS_BITS);
const THREAD_START_SHIFT: u32 = PID_BITS + NS_BITS + 1;
const THREAD_START_BITS: u32 = 63 - THREAD_START_SHIFT;

/// The calling thread as a lock holder. With the `std` feature, computed once per
/// thread (and again in a forked child) and kept in a thread-local; without it,
/// `gettid()` on each call, and the start time unknown.
#[inline]
pub(crate) fn thread() -> ThreadId {
    #[cfg(feature = "std")]
    {
        use core::cell::Cell;
        std::thread_local! {
            /// The process it was computed in (a forked child's thread starts with
            /// its parent's), and the thread.
            static THREAD: Cell<(u64, Option<ThreadId>)> = const { Cell::new((0, None)) };
        }
        let process = current().get();
        match THREAD.with(Cell::get) {
            (cached_for, Some(thread)) if cached_for == process => thread,
            _ => {
                let thread = compute_thread(true);
                THREAD.with(|cell| cell.set((process, Some(thread))));
                thread
            }
        }
    }
    #[cfg(not(feature = "std"))]
    compute_thread(false)
}

/// The calling thread's identity, reading its start time from `/proc` if `start`.
#[cold]
fn compute_thread(start: bool) -> ThreadId {
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    let (pid, namespace, _) = unpack(current());
    // Our namespace only if our own identity is complete (its pid field is set).
    let namespace = if pid == 0 { 0 } else { namespace };
    // Not in a shifted time namespace (a `setns` after the process identity was
    // settled): the start time would read shifted; it is then unknown.
    let started = match start && namespace != 0 && boot_clock_unshifted().unwrap_or(false) {
        true => read_file(c"/proc/thread-self/stat", &mut [0; 1024]).ok().and_then(parse_stat),
        false => None,
    };
    let known = match started {
        Some(stat) if stat.pid == u64::from(tid) => {
            THREAD_KNOWN | ((stat.start & ((1 << THREAD_START_BITS) - 1)) << THREAD_START_SHIFT)
        }
        _ => 0,
    };
    let id = u64::from(tid) | (namespace << PID_BITS) | known;
    // A tid is at most 2^22 and not zero, the identity at most 63 bits: always
    // `Some`; the process stands in otherwise, with no panic path.
    ThreadId::new(tid, id).unwrap_or(ThreadId::of_process(current()))
}

/// Whether the thread `thread` names is alive: `Dead` only with proof that this
/// exact thread is gone, as [`liveness`] for processes.
pub(crate) fn thread_liveness(thread: ThreadId) -> Liveness {
    let id = thread.id();
    let tid = (id & ((1 << PID_BITS) - 1)) as u32;
    let namespace = (id >> PID_BITS) & ((1 << NS_BITS) - 1);
    let start = (id & THREAD_KNOWN != 0).then_some((id >> THREAD_START_SHIFT, THREAD_START_BITS));
    // Namespace 0: unknown (see `compute_thread`), never ours.
    match namespace {
        0 => Liveness::Unknown,
        _ => judge(tid, namespace, start, true),
    }
}

/// `kill(pid, 0)`: `Some(false)` when no process has this pid in our namespace,
/// `Some(true)` when one does (EPERM: someone else's), `None` when unsure.
/// [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html)
fn pid_exists(pid: u32) -> Option<bool> {
    let pid = process::Pid::from_raw(pid as i32)?;
    match process::test_kill_process(pid) {
        Ok(()) | Err(io::Errno::PERM) => Some(true),
        Err(io::Errno::SRCH) => Some(false),
        Err(_) => None,
    }
}

struct Stat {
    /// Field 1, the pid, as the procfs's pid namespace numbers it.
    pid: u64,
    zombie: bool,
    /// Field 20, `num_threads`.
    threads: u64,
    start: u64,
}

/// Reads pid, state, thread count and start time from `/proc/<pid>/stat`.
fn read_stat(pid: u32) -> io::Result<Stat> {
    let mut path = [0u8; 32];
    let len = proc_path(&mut path, b"/proc/", pid, b"/stat\0");
    // SAFETY: `proc_path` wrote `/proc/`, decimal digits and `/stat`, none of them
    // NUL, then the NUL at `len - 1`, all within the 32-byte buffer.
    let path = unsafe { CStr::from_bytes_with_nul_unchecked(&path[..len]) };
    parse_stat(read_file(path, &mut [0; 1024])?).ok_or(io::Errno::INVAL)
}

/// The first KiB of a small `/proc` file, in one read: procfs hands out such a
/// file whole (a stat line is under 1 KiB, even with a 64-byte command name); a
/// short one just fails to parse. Into the caller's buffer: returning one by
/// value cost a 1 KiB copy per call (and 600 bytes of code in
/// `examples/constrained`).
fn read_file<'b>(path: &CStr, buf: &'b mut [u8; 1024]) -> io::Result<&'b [u8]> {
    let fd: OwnedFd = fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let len = io::read(&fd, &mut buf[..])?;
    Ok(&buf[..len.min(1024)])
}

/// `prefix`, the decimal digits of `n`, then `suffix` (which ends with the NUL)
/// into `buf`; returns the length including the NUL. For `/proc/<pid>/stat` and
/// `/proc/self/fd/<fd>`; callers keep `prefix` and `suffix` within 32 bytes with
/// the ten digits.
// Outlined: 24 bytes less in `examples/constrained`.
#[inline(never)]
pub(crate) fn proc_path(buf: &mut [u8; 32], prefix: &[u8], n: u32, suffix: &[u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = n;
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut at = 0;
    for &b in prefix {
        buf[at] = b;
        at += 1;
    }
    for i in (0..count).rev() {
        buf[at] = digits[i];
        at += 1;
    }
    for &b in suffix {
        buf[at] = b;
        at += 1;
    }
    at
}

/// Fields after the command name (which may hold spaces and parentheses, so we
/// split after the last `)`): state is the first, `num_threads` the 18th, start
/// time the 20th; the pid comes before the name.
fn parse_stat(text: &[u8]) -> Option<Stat> {
    let pid = parse_u64(field(text, 0)?)?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = &text[close + 1..];
    let state = *field(rest, 0)?.first()?;
    let threads = parse_u64(field(rest, 17)?)?;
    let start = parse_u64(field(rest, 19)?)?;
    Some(Stat { pid, zombie: matches!(state, b'Z' | b'X' | b'x'), threads, start })
}

/// The `n`th run of non-space bytes in `text` (a loop, not `split`: 120 bytes
/// less in `examples/constrained`).
fn field(text: &[u8], n: usize) -> Option<&[u8]> {
    let mut at = 0;
    let mut index = 0;
    loop {
        while *text.get(at)? == b' ' {
            at += 1;
        }
        let from = at;
        while text.get(at).is_some_and(|&b| b != b' ') {
            at += 1;
        }
        if index == n {
            return Some(&text[from..at]);
        }
        index += 1;
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(value)
}
