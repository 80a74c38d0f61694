//! Process identity that survives pid reuse, and liveness from `/proc`.
//!
//! An identity packs, in 63 bits: the pid (22 bits, Linux's `PID_MAX_LIMIT`), a
//! tag of the pid namespace (8 bits), and the process's start time in clock ticks
//! since boot, modulo 2^33 (field 22 of `/proc/<pid>/stat`). A pid that was reused
//! has another start time, so a dead holder is never mistaken for a live one; a
//! holder from another pid namespace has another tag and is judged `Unknown`, which
//! shmptr treats as alive.
//!
//! The calling process's identity is computed once and cached in a page advised
//! `MADV_WIPEONFORK`: a child created by `fork()` sees zeros there and computes its
//! own, so the cache costs two loads and no syscall per call.

use core::ffi::CStr;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode, OFlags, CWD};
use rustix::mm::{self, Advice, MapFlags, ProtFlags};
use rustix::{io, process};

use shmptr::{Liveness, ProcessId};

const PID_BITS: u32 = 22;
const TAG_BITS: u32 = 8;
const START_BITS: u32 = 63 - PID_BITS - TAG_BITS;

/// The page that caches this process's identity; null until first use.
static CACHE: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());

/// This process's identity (cached; recomputed after `fork`).
pub(crate) fn current() -> ProcessId {
    let cache = cache_page();
    if let Some(cache) = cache {
        // Relaxed: the word is only ever written with this process's identity, by
        // this process (a forked child starts from a wiped, zero page).
        if let Some(id) = ProcessId::new(cache.load(Ordering::Relaxed)) {
            return id;
        }
    }
    let id = compute_current();
    if let Some(cache) = cache {
        cache.store(id.get(), Ordering::Relaxed);
    }
    id
}

/// The cache word, mapping its page on first use. `None` if the page cannot be
/// had (then every call computes the identity afresh: correct, only slower).
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

fn compute_current() -> ProcessId {
    let pid = process::getpid().as_raw_nonzero().get() as u32;
    let start = read_stat(pid).map(|s| s.start).unwrap_or(0);
    pack(pid, namespace_tag(), start)
}

fn pack(pid: u32, tag: u64, start: u64) -> ProcessId {
    let raw = (pid as u64 & ((1 << PID_BITS) - 1))
        | ((tag & ((1 << TAG_BITS) - 1)) << PID_BITS)
        | ((start & ((1 << START_BITS) - 1)) << (PID_BITS + TAG_BITS));
    ProcessId::new(raw).expect("a pid is never zero")
}

/// Whether the process `id` names is alive. Never reports a live process dead.
pub(crate) fn liveness(id: ProcessId) -> Liveness {
    let raw = id.get();
    let pid = (raw & ((1 << PID_BITS) - 1)) as u32;
    let tag = (raw >> PID_BITS) & ((1 << TAG_BITS) - 1);
    let start = raw >> (PID_BITS + TAG_BITS);
    if pid == 0 || tag != namespace_tag() {
        return Liveness::Unknown;
    }
    match read_stat(pid) {
        Ok(stat) if stat.zombie => Liveness::Dead,
        Ok(stat) if stat.start & ((1 << START_BITS) - 1) != start => Liveness::Dead,
        Ok(_) => Liveness::Alive,
        Err(io::Errno::NOENT) | Err(io::Errno::SRCH) => Liveness::Dead,
        Err(_) => Liveness::Unknown,
    }
}

/// An 8-bit tag of this process's pid namespace (the inode of `/proc/self/ns/pid`),
/// or 0 if it cannot be read.
fn namespace_tag() -> u64 {
    static TAG: AtomicU64 = AtomicU64::new(u64::MAX);
    // Relaxed: any thread computes the same value.
    let cached = TAG.load(Ordering::Relaxed);
    if cached != u64::MAX {
        return cached;
    }
    let tag = fs::statat(CWD, c"/proc/self/ns/pid", fs::AtFlags::empty()).map(|st| st.st_ino % 251 + 1).unwrap_or(0);
    TAG.store(tag, Ordering::Relaxed);
    tag
}

struct Stat {
    zombie: bool,
    start: u64,
}

/// Reads state and start time from `/proc/<pid>/stat`.
fn read_stat(pid: u32) -> io::Result<Stat> {
    let mut path = [0u8; 32];
    let len = proc_path(&mut path, pid);
    let path = CStr::from_bytes_until_nul(&path[..len]).map_err(|_| io::Errno::INVAL)?;
    let fd: OwnedFd = fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = [0u8; 1024];
    let mut filled = 0;
    while filled < buf.len() {
        let n = io::read(&fd, &mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    parse_stat(&buf[..filled]).ok_or(io::Errno::INVAL)
}

/// `/proc/<pid>/stat\0` into `buf`; returns the length including the NUL.
fn proc_path(buf: &mut [u8; 32], pid: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut n = pid;
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
    for &b in b"/proc/" {
        buf[at] = b;
        at += 1;
    }
    for i in (0..count).rev() {
        buf[at] = digits[i];
        at += 1;
    }
    for &b in b"/stat\0" {
        buf[at] = b;
        at += 1;
    }
    at
}

/// Fields after the command name (which may hold spaces and parentheses, so we
/// split after the last `)`): state is the first, start time the 20th.
fn parse_stat(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let start = fields.nth(18)?;
    let mut value: u64 = 0;
    for &d in start {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(Stat { zombie: matches!(state, b'Z' | b'X' | b'x'), start: value })
}
