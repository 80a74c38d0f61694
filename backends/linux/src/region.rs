//! [`Backend`] for Linux: objects are files in `/dev/shm`, opened the way
//! `shm_open(3)` does it (`open("/dev/shm/<name>")`), but never through a symbolic
//! link, and checked before they are mapped.

use core::ffi::CStr;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicUsize;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, AtFlags, FallocateFlags, FileType, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mm::{self, MapFlags, ProtFlags};
use rustix::process;

use shmptr::{Access, Backend, Error, ErrorKind, Liveness, Name, Platform, ProcessId, Region, Result, NAME_MAX};

use crate::mappings::{self, Record};
use crate::{ownership, Linux};

pub(crate) const DIR: &[u8] = b"/dev/shm/";

/// One `mmap` of a `/dev/shm` object, with this process's record of it (see
/// `mappings`); dropping it unmaps (`munmap`) and gives the record back.
pub struct LinuxRegion {
    ptr: NonNull<u8>,
    len: usize,
    dev: u64,
    ino: u64,
    record: &'static Record,
}

impl core::fmt::Debug for LinuxRegion {
    /// Where and how much is mapped, and which file; not the bytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinuxRegion")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

// SAFETY: `ptr` is a `MAP_SHARED` mapping of `len` bytes (page-aligned by mmap) of
// one file, so every mapping of it sees the same bytes; a fresh file reads as
// zeros; a zero-length region maps nothing and is never dereferenced. `handles`
// lives in this process's static record table (`mappings`), which no other process
// can write; the record was zeroed when taken and is given back only by `Drop`
// (a forked child never drops or counts through inherited handles). Exclusive
// ownership is recorded in this process's table (`ownership`), also static, until
// `disown` (a region dropped without it stays recorded: more exclusion). Only
// `Drop` acts on the mapping, so a bitwise copy is fine when exactly one is dropped.
unsafe impl Region for LinuxRegion {
    /// `mmap` returns page-aligned addresses, and no Linux page is under 4 KiB.
    const ALIGN: usize = 4096;

    fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn handles(&self) -> &AtomicUsize {
        &self.record.handles
    }
    fn others(&self) -> usize {
        mappings::others(self.record, self.dev, self.ino)
    }
    fn own_exclusively(&self) -> Result<()> {
        ownership::own(self.dev, self.ino)
    }
    /// Ends the ownership in this process's table. Not done by `Drop`, so that a
    /// program without a `Unique` links none of the table's code; a region dropped
    /// without it leaves its object owned here (claims of it in this process are
    /// `Busy`), which is safe, and which shmptr's `Unique` never does.
    fn disown(&self) {
        ownership::disown(self.dev, self.ino);
    }
    /// The same file: device and inode, as `fstat` gave them when it was mapped
    /// (kept in this process's memory). Both mappings hold the file, so its inode
    /// number cannot have gone to another file meanwhile.
    fn same_object(&self, other: &Self) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

// SAFETY: a mapping may be used and unmapped from any thread.
unsafe impl Send for LinuxRegion {}
// SAFETY: as above; the region itself is immutable.
unsafe impl Sync for LinuxRegion {}

impl Drop for LinuxRegion {
    /// Unmaps, releases the creation lock if this mapping still holds it (a create
    /// that failed before `Ready`), and gives the record back.
    /// [munmap(2)](https://man7.org/linux/man-pages/man2/munmap.2.html)
    fn drop(&mut self) {
        mappings::end_creation(self.record);
        if self.len > 0 {
            // SAFETY: `ptr`/`len` are exactly what `mmap` returned, and the `Region`
            // contract guarantees this is the one copy that unmaps.
            let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
        mappings::give_back(self.record);
    }
}

/// `/dev/shm/<name>\0` on the stack, and the length before the NUL.
pub(crate) struct Path([u8; DIR.len() + NAME_MAX + 1], usize);

impl Path {
    pub(crate) fn new(name: Name<'_>) -> Self {
        let mut path = [0; DIR.len() + NAME_MAX + 1];
        let end = DIR.len() + name.as_bytes().len();
        path[..DIR.len()].copy_from_slice(DIR);
        path[DIR.len()..end].copy_from_slice(name.as_bytes());
        Path(path, end)
    }

    pub(crate) fn as_c_str(&self) -> &CStr {
        // SAFETY: `..=self.1` is within the buffer (a `Name` is at most `NAME_MAX`
        // bytes), holds `DIR` and a validated name (`[A-Za-z0-9._-]`, so no NUL),
        // and ends with the NUL the zeroed buffer has at `self.1`. (The checked
        // constructors scan for the NUL again: 250 bytes of code in
        // `examples/constrained` for what `Path::new` already knows.)
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.0[..=self.1]) }
    }
}

// Callers return `Err(os_error(..))` from a `match` rather than `.map_err(..)?`:
// the error is then built in the caller's own result instead of being built,
// checked and copied (about 250 bytes less in `examples/constrained`).
pub(crate) fn os_error(during: &'static str, errno: Errno) -> Error {
    let kind = match errno {
        Errno::EXIST => ErrorKind::AlreadyExists,
        Errno::NOENT => ErrorKind::NotFound,
        Errno::ACCESS | Errno::PERM | Errno::ROFS => ErrorKind::PermissionDenied,
        // A symbolic link planted at the name.
        Errno::LOOP => ErrorKind::PermissionDenied,
        Errno::NOSPC | Errno::NOMEM | Errno::FBIG | Errno::DQUOT => ErrorKind::OutOfMemory,
        // `open(O_NONBLOCK)` of a file another process holds a lease on: the
        // kernel has told it to let go (`Backend::open`).
        Errno::WOULDBLOCK => ErrorKind::Busy,
        _ => ErrorKind::Os,
    };
    Error::with_os_code(kind, during, errno.raw_os_error())
}

fn map(fd: impl AsFd, len: usize, dev: u64, ino: u64) -> Result<LinuxRegion> {
    let record = mappings::take(dev, ino)?;
    if len == 0 {
        return Ok(LinuxRegion { ptr: NonNull::<u64>::dangling().cast(), len, dev, ino, record });
    }
    // No MAP_POPULATE: creating or opening touches the first page only (header and
    // the first slots), and one fault costs less than mapping every page now and
    // clearing every entry again at munmap (measured on the 3-page 4 KiB object).
    // SAFETY: a fresh shared mapping chosen by the kernel (null hint), of a file we
    // hold open; no existing memory is affected.
    let mapped = unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0) };
    match mapped.map(|p| NonNull::new(p.cast::<u8>())) {
        Ok(Some(ptr)) => Ok(LinuxRegion { ptr, len, dev, ino, record }),
        Ok(None) => {
            mappings::give_back(record);
            Err(Error::new(ErrorKind::Os, "mapping the object (mmap)"))
        }
        Err(e) => {
            mappings::give_back(record);
            Err(os_error("mapping the object (mmap)", e))
        }
    }
}

/// `flock(fd, LOCK_EX | LOCK_NB)` on the object its creator just made, retried
/// (yielding) while an opener's probe holds its shared lock for a moment, at most
/// [`LOCK_TRIES`] times: a peer that keeps a lock on our new file cannot make
/// `create` wait without a bound (a blocking `LOCK_EX` could). Then
/// `EWOULDBLOCK`, which the caller reports as `Timeout`. (Errors go back as the
/// `Errno`, for the caller to build its `Error` in place: less code.)
///
/// The creator holds this lock from before it sizes the file until it publishes
/// `Ready` ([`Backend::published`] unlocks it explicitly). The lock belongs to the
/// open file description, which only the creator's descriptor (`O_CLOEXEC`) and
/// its mapping of the object refer to, so the kernel drops it when the creator
/// dies and when it calls `exec` (both close the descriptor and unmap). So
/// "locked" proves a creator that may still finish, even a stopped one, without
/// `/proc` and across pid namespaces; see [`creation_locked`]. (A child forked
/// while its parent creates shares the description, so it keeps the lock until
/// it exits or execs: it keeps its parent's unfinished object, never the reverse.)
/// [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
fn lock_for_creation(fd: &OwnedFd) -> rustix::io::Result<()> {
    let mut tries = LOCK_TRIES;
    loop {
        match fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
            Err(Errno::WOULDBLOCK) if tries > 1 => Linux::yield_now(),
            done => return done,
        }
        tries -= 1;
    }
}

/// How often [`lock_for_creation`] tries: a probe holds its lock for a few
/// microseconds, and a million tries with `sched_yield` between them take about
/// half a second or more here (no clock needed, and little code).
const LOCK_TRIES: u32 = 1 << 20;

/// Whether the file `name` names, if it is still the object `region` maps, is
/// locked by its creator (see [`lock_for_creation`]): `open(O_RDONLY | O_NONBLOCK |
/// O_NOFOLLOW)` (a FIFO planted at the name does not block us), `fstat` (same
/// device and inode as `region`), then `flock(LOCK_SH | LOCK_NB)`, which fails
/// with `EWOULDBLOCK` exactly while someone holds `LOCK_EX`; a shared lock we get
/// is released at once by closing our descriptor. `None` when it cannot tell: the
/// name now names another file or none, or a call failed (`EMFILE`, ...).
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
/// [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
/// [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
fn creation_locked(name: Name<'_>, region: &LinuxRegion) -> Option<bool> {
    let path = Path::new(name);
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = fs::openat(CWD, path.as_c_str(), flags, Mode::empty()).ok()?;
    let stat = fs::fstat(&fd);
    let stat = stat.as_ref().ok()?;
    if stat.st_dev != region.dev || stat.st_ino != region.ino {
        return None;
    }
    locked_by_creator(&fd)
}

/// Whether the file `fd` is open on is locked by its creator: `flock(LOCK_SH |
/// LOCK_NB)` fails with `EWOULDBLOCK` exactly while someone holds `LOCK_EX` (see
/// [`creation_locked`]); a shared lock we get lasts until `fd` is closed. `None`
/// when the call fails otherwise.
/// [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
pub(crate) fn locked_by_creator(fd: &OwnedFd) -> Option<bool> {
    match fs::flock(fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Some(false),
        Err(Errno::WOULDBLOCK) => Some(true),
        Err(_) => None,
    }
}

/// The verdict of [`Backend::creator_liveness`] from whether the creation lock is
/// held (`locked`, `None`: cannot tell) and the creator the header names.
pub(crate) fn creator_verdict(locked: Option<bool>, creator: Option<ProcessId>) -> Liveness {
    match (locked, creator) {
        (Some(true), _) => Liveness::Alive,
        (None, _) => Liveness::Unknown,
        (Some(false), None) => Liveness::Dead,
        (Some(false), Some(creator)) => match Linux::liveness(creator) {
            Liveness::Alive => Liveness::Alive,
            Liveness::Dead | Liveness::Unknown => Liveness::Dead,
        },
    }
}

impl Linux {
    /// Locks the file its creator just made (see [`lock_for_creation`]) and sets
    /// its mode; its device and inode.
    fn lock_new(fd: &OwnedFd, access: &Access) -> Result<(u64, u64)> {
        match lock_for_creation(fd) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Err(Error::new(ErrorKind::Timeout, "locking the new object (flock)")),
            Err(e) => return Err(os_error("locking the new object (flock)", e)),
        }
        let stat = fs::fstat(fd);
        let stat = match &stat {
            Ok(stat) => stat,
            Err(e) => return Err(os_error("checking the object (fstat)", *e)),
        };
        // The mode given to open is masked by the umask; set it exactly when that
        // changed it (the common 0600 under umask 022 needs no call).
        let mode = access.mode & 0o777;
        if stat.st_mode & 0o777 != mode {
            if let Err(e) = fs::fchmod(fd, Mode::from_bits_truncate(mode)) {
                return Err(os_error("setting the mode (fchmod)", e));
            }
        }
        Ok((stat.st_dev, stat.st_ino))
    }
}

/// Names the file `fd`, made with `O_TMPFILE`: `linkat(fd, "", AT_FDCWD, path,
/// AT_EMPTY_PATH)`, which kernels before 6.10 allow only with
/// `CAP_DAC_READ_SEARCH`; if refused, `linkat(AT_FDCWD, "/proc/self/fd/<fd>",
/// AT_FDCWD, path, AT_SYMLINK_FOLLOW)`, which needs `/proc` but no capability
/// (open(2), `O_TMPFILE`). `EEXIST` if the name exists.
/// [linkat(2)](https://man7.org/linux/man-pages/man2/linkat.2.html)
fn name_anonymous(fd: &OwnedFd, path: &Path) -> rustix::io::Result<()> {
    match fs::linkat(fd, c"", CWD, path.as_c_str(), AtFlags::EMPTY_PATH) {
        Err(Errno::EXIST) => Err(Errno::EXIST),
        Err(_) => {
            let mut link = [0u8; 32];
            let len = crate::identity::proc_path(
                &mut link,
                b"/proc/self/fd/",
                rustix::fd::AsRawFd::as_raw_fd(fd) as u32,
                b"\0",
            );
            // SAFETY: `proc_path` wrote `/proc/self/fd/`, decimal digits and the
            // NUL at `len - 1` (25 bytes at most), none of the others NUL.
            let link = unsafe { CStr::from_bytes_with_nul_unchecked(&link[..len]) };
            fs::linkat(CWD, link, CWD, path.as_c_str(), AtFlags::SYMLINK_FOLLOW)
        }
        done => done,
    }
}

/// How much one `fallocate` call reserves once a signal has interrupted the whole
/// range (see [`reserve`]): about a millisecond of tmpfs's work here.
const RESERVE_STEP: u64 = 8 << 20;

/// Reserves the pages now, so that a full tmpfs is `OutOfMemory` here, not SIGBUS
/// later: `fallocate(fd, 0, 0, len)`, retried when a signal interrupts it. tmpfs
/// may give up with `EINTR` while a signal is pending (older kernels for any
/// signal; on 6.18 here, a `SIGSTOP` and `SIGCONT` in the middle did not
/// interrupt it) and undoes what it reserved; after that the rest goes one
/// [`RESERVE_STEP`] at a time, each step keeping what it reserved, so that a
/// creator that a timer signals often still finishes rather than failing (the
/// `EINTR` was an error before). The whole range first: tmpfs refuses one larger
/// than the file system at once. A file system without `fallocate` is left to
/// fault its pages in later.
/// [fallocate(2)](https://man7.org/linux/man-pages/man2/fallocate.2.html)
fn reserve(fd: &OwnedFd, len: u64) -> rustix::io::Result<()> {
    let (mut done, mut step) = (0, len);
    while done < len {
        let this = (len - done).min(step);
        match fs::fallocate(fd, FallocateFlags::empty(), done, this) {
            Ok(()) => done += this,
            Err(Errno::INTR) => step = RESERVE_STEP,
            Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Backend for Linux {
    type Region = LinuxRegion;

    /// A file no name refers to yet, `open("/dev/shm", O_TMPFILE)`; its creation
    /// lock, `flock(LOCK_EX | LOCK_NB)` (see `lock_for_creation`); `fstat` (and
    /// `fchmod` if the umask changed the mode); only then the name,
    /// `linkat(AT_EMPTY_PATH)`, which fails with `EEXIST` if the name exists
    /// (`AlreadyExists`, exclusive as `O_EXCL`); then `ftruncate`, `fallocate`,
    /// `mmap(MAP_SHARED)`. So the name never refers to a file of a live creator
    /// that is not locked: an opener that finds the lock free may judge the
    /// creator dead, and a creator stopped at any point keeps its object.
    ///
    /// Where `O_TMPFILE` is not supported, or naming the file is refused both ways
    /// (see `name_anonymous`: without `/proc` on a kernel before 6.10), the old way:
    /// `open(O_CREAT | O_EXCL | O_NOFOLLOW)`, then the lock. A creator stopped
    /// between those two calls for longer than an opener's timeout can then lose
    /// the name: the opener judges the blank unlocked file abandoned.
    ///
    /// The descriptor stays open, holding the lock, until
    /// [`published`](Backend::published) (or until the region is dropped): one
    /// descriptor per object being created. On failure after the name exists, the
    /// file is removed again, then the lock released.
    /// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
    /// [linkat(2)](https://man7.org/linux/man-pages/man2/linkat.2.html)
    // Outlined: inlined into `Mapping::create` it costs about 30 bytes more in
    // `examples/constrained`.
    #[inline(never)]
    fn create(name: Name<'_>, len: usize, access: &Access) -> Result<LinuxRegion> {
        let path = Path::new(name);
        let mode = Mode::from_bits_truncate(access.mode & 0o777);
        // First without a name (`O_TMPFILE`), then, if that is refused, the old way.
        let mut anonymous = true;
        let (fd, (dev, ino)) = loop {
            let (at, flags) = match anonymous {
                true => (c"/dev/shm", OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC),
                false => {
                    (path.as_c_str(), OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC)
                }
            };
            let fd = match fs::openat(CWD, at, flags, mode) {
                Ok(fd) => fd,
                Err(_) if anonymous => {
                    anonymous = false;
                    continue;
                }
                Err(e) => return Err(os_error("creating the object (open O_CREAT|O_EXCL)", e)),
            };
            let file = match Self::lock_new(&fd, access) {
                Ok(file) => file,
                Err(e) => {
                    if !anonymous {
                        let _ = fs::unlinkat(CWD, path.as_c_str(), AtFlags::empty());
                    }
                    return Err(e);
                }
            };
            if anonymous {
                match name_anonymous(&fd, &path) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => return Err(os_error("creating the object (linkat)", Errno::EXIST)),
                    // Refused both ways: the old way; this file, never named,
                    // goes with `fd`.
                    Err(_) => {
                        anonymous = false;
                        continue;
                    }
                }
            }
            break (fd, file);
        };
        let sized = match fs::ftruncate(&fd, len as u64) {
            Ok(()) => reserve(&fd, len as u64).map_err(|e| os_error("reserving memory (fallocate)", e)),
            Err(e) => Err(os_error("sizing the object (ftruncate)", e)),
        };
        match sized.and_then(|()| map(&fd, len, dev, ino)) {
            Ok(region) => {
                mappings::creating(region.record, fd);
                Ok(region)
            }
            Err(e) => {
                // The name is ours: it refers to the file we hold locked, which no
                // opener removes.
                let _ = fs::unlinkat(CWD, path.as_c_str(), AtFlags::empty());
                Err(e)
            }
        }
    }

    /// `open(O_RDWR | O_NOFOLLOW | O_NONBLOCK)` (a symbolic link at the name is
    /// refused; a file another process holds a lease on is `Busy` at once, where a
    /// blocking open would wait up to `/proc/sys/fs/lease-break-time`, 45 s, for
    /// whoever holds it, even a squatter of another user), `fstat` (a non-regular
    /// file, or one owned by another user unless allowed, is refused), then `mmap`
    /// of exactly the size the file has now. Never resizes.
    /// [fcntl(2), leases](https://man7.org/linux/man-pages/man2/F_SETLEASE.2const.html)
    // Outlined: inlined into `Object::open`'s retry loop it costs 64 bytes more in
    // `examples/constrained`.
    #[inline(never)]
    fn open(name: Name<'_>, access: &Access) -> Result<LinuxRegion> {
        let path = Path::new(name);
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match fs::openat(CWD, path.as_c_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) => return Err(os_error("opening the object (open O_NOFOLLOW)", e)),
        };
        let stat = fs::fstat(&fd);
        let stat = match &stat {
            Ok(stat) => stat,
            Err(e) => return Err(os_error("checking the object (fstat)", *e)),
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Error::new(ErrorKind::Corrupt, "checking the object (not a regular file)"));
        }
        if stat.st_uid != process::geteuid().as_raw() && !access.allow_foreign_owner {
            return Err(Error::new(ErrorKind::PermissionDenied, "checking the object's owner (another user's)"));
        }
        let len = usize::try_from(stat.st_size).map_err(|_| Error::new(ErrorKind::Corrupt, "checking the size"))?;
        map(&fd, len, stat.st_dev, stat.st_ino)
    }

    /// `unlink("/dev/shm/<name>")`, only if the name still refers to the file
    /// `region` maps (same device and inode, checked with `stat` just before), so a
    /// newer object under the same name is left alone.
    // Inlined: both of shmptr's callers ignore the result, so the code that builds
    // its errors goes (about 70 bytes less in `examples/constrained`).
    #[inline(always)]
    fn unlink(name: Name<'_>, region: &LinuxRegion) -> Result<()> {
        let path = Path::new(name);
        let stat = fs::statat(CWD, path.as_c_str(), AtFlags::SYMLINK_NOFOLLOW);
        let stat = match &stat {
            Ok(stat) => stat,
            Err(e) => return Err(os_error("checking the name (stat)", *e)),
        };
        if stat.st_dev != region.dev || stat.st_ino != region.ino {
            return Err(Error::new(ErrorKind::NotFound, "unlinking a name that now names another object"));
        }
        fs::unlinkat(CWD, path.as_c_str(), AtFlags::empty()).map_err(|e| os_error("unlinking the object", e))
    }

    /// Locked by its creator (`creation_locked`): `Alive`, even if that process
    /// is stopped. Not locked: no creator of this backend can still finish it (it
    /// died, exec'd, or, created the old way (see `create`), has not yet locked
    /// the fresh file it created a moment ago, which shmptr allows for by judging
    /// a blank file only after a whole timeout),
    /// so `Dead`, unless the header names a creator that `/proc` shows alive (a
    /// creator that exec'd, or one that never took the lock): then `Alive`, as a
    /// live process is never judged dead. Cannot tell: `Unknown`.
    fn creator_liveness(name: Name<'_>, region: &LinuxRegion, creator: Option<ProcessId>) -> Liveness {
        creator_verdict(creation_locked(name, region), creator)
    }

    /// Releases the creation lock (`flock(LOCK_UN)`) and closes its descriptor
    /// (`mappings::end_creation`).
    /// [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
    /// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html)
    fn published(region: &LinuxRegion) {
        mappings::end_creation(region.record);
    }
}
