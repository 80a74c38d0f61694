//! Untyped inspection of `/dev/shm` ([`shmptr::inspect`] on Linux): [`inspect`]
//! and [`list`] read objects through a read-only descriptor with `pread` (never
//! mapped, never opened for writing), so a file that is not a shmptr object is
//! never changed, and a file truncated meanwhile cannot fault the reader;
//! [`reclaim`] and [`remove`] check the file that way first, then go through the
//! core's protocols with a read-write open.
//!
//! The types are the core's, re-exported here.

use core::mem::MaybeUninit;

use rustix::fd::OwnedFd;
use rustix::fs::{self, FileType, Mode, OFlags, RawDir, CWD};
use rustix::io::{self, Errno};

pub use shmptr::inspect::{
    Destroyer, Holder, Info, ObjectKind, ObjectState, Owner, Reclaimed, MAX_SLOTS, SNAPSHOT_BYTES,
};
use shmptr::{Error, ErrorKind, Liveness, Name, Result};

use crate::region::{creator_verdict, locked_by_creator, os_error, Path};
use crate::Linux;

/// The object `name` (`/dev/shm/name`), described without its value type: kind,
/// state, value size and alignment, fingerprint (a slice's element's), a slice's
/// length and element size, creator, slot capacity, every occupied slot with its
/// holder's pid and liveness, a `Unique`'s owner (see [`shmptr::inspect::Info`]).
/// Changes nothing.
///
/// `open(O_RDONLY | O_NOFOLLOW | O_NONBLOCK)`, `fstat`, then `pread` of at most
/// [`SNAPSHOT_BYTES`] into a buffer on the stack: never opened for writing, never
/// mapped. Objects of other users are inspected too (if readable). For an
/// unfinished object, the creation lock (`flock(LOCK_SH | LOCK_NB)` on the same
/// descriptor) tells whether its creator may still finish it.
///
/// Errors: `InvalidName`; `NotFound`; `PermissionDenied` (unreadable); `Corrupt`
/// for a file that is not a shmptr object (a symbolic link or anything else that is
/// not a regular file, shorter than a header, wrong magic: its `during` says "not
/// a shmptr object") and for a shmptr object whose header does not validate
/// ("damaged"). A file shorter than a header, or still blank, whose creator holds
/// its creation lock is an object being created: `Ok`, kind `Unknown`, state
/// `Initializing`.
///
/// ```
/// use shmptr_linux::{inspect, Shared};
/// use shmptr_linux::inspect::{ObjectKind, ObjectState};
///
/// # let name = format!("doc.inspect.{}", std::process::id());
/// let a = Shared::<[u64; 4]>::create(&name, [1, 2, 3, 4])?;
/// let info = inspect(&name)?;
/// assert_eq!((info.kind, info.state, info.value_size), (ObjectKind::Shared, ObjectState::Ready, 32));
/// assert_eq!(info.holders[0].process.get() & 0x3f_ffff, std::process::id() as u64);
/// assert_eq!(info.length, None);                              // one value
///
/// # let frame = format!("doc.inspect.frame.{}", std::process::id());
/// let b = Shared::<[u16]>::create_slice_zeroed(&frame, 5)?;   // a slice
/// let info = inspect(&frame)?;
/// assert_eq!((info.length, info.element_size, info.value_size), (Some(5), Some(2), 10));
/// # drop((a, b));
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
/// [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html)
pub fn inspect(name: &str) -> Result<Info> {
    let checked = Name::new(name)?;
    let path = Path::new(checked);
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match fs::openat(CWD, path.as_c_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        // A symbolic link (`O_NOFOLLOW`), a socket or a device without a driver:
        // things a shmptr object never is.
        Err(Errno::LOOP | Errno::NXIO | Errno::NODEV | Errno::OPNOTSUPP) => return Err(NOT_A_FILE),
        Err(e) => return Err(os_error("inspecting it (open O_RDONLY)", e)),
    };
    let stat = match fs::fstat(&fd) {
        Ok(stat) => stat,
        Err(e) => return Err(os_error("inspecting it (fstat)", e)),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(NOT_A_FILE);
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    let mut buf = [0u8; SNAPSHOT_BYTES];
    let want = usize::try_from(size).unwrap_or(usize::MAX).min(SNAPSHOT_BYTES);
    let got = match read_at(&fd, &mut buf[..want], 0) {
        Ok(got) => got,
        Err(e) => return Err(os_error("inspecting it (pread)", e)),
    };
    // Shrunk meanwhile: judge the bytes there are.
    let len = if got < want { got as u64 } else { size };
    let state_seen = state_word(&buf[..got]);
    shmptr::inspect::inspect_bytes::<Linux>(name, len, &buf[..got], |creator| {
        let verdict = creator_verdict(locked_by_creator(&fd), creator);
        // A creator that published meanwhile ends its lock after `Ready`: read the
        // state again, so that it is never taken for a dead one.
        let mut again = [0u8; 12];
        let now = read_at(&fd, &mut again, 0).ok().and_then(|n| state_word(&again[..n]));
        match verdict == Liveness::Dead && now != state_seen {
            true => Liveness::Alive,
            false => verdict,
        }
    })
}

/// Reclaims what dead processes left in the object `name`, without its value type
/// ([`shmptr::inspect::reclaim`] on Linux): dead holders' slots, a dead owner's
/// `Unique`, an object whose creator died before finishing it. **An object it
/// destroys is removed without running its value's drop.** The file is checked
/// read-only first ([`inspect`]): a file that is not a shmptr object is `Corrupt`
/// and never opened for writing.
///
/// Unlike [`inspect`], it maps the object (the protocols work on the shared
/// words), so a peer that can write the file and shrinks it meanwhile can make
/// this process fault (SIGBUS), as with any shared memory (README, "Guarantees and
/// limits"). A tool sweeping many objects should isolate each call, as the
/// `shmptr` command does (a child process per object).
///
/// ```
/// # let name = format!("doc.reclaim.{}", std::process::id());
/// let a = shmptr_linux::Shared::<u64>::create(&name, 1)?;
/// let done = shmptr_linux::reclaim(&name)?;          // nobody died: nothing to do
/// assert_eq!((done.holders, done.destroyed), (0, false));
/// # drop(a);
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
pub fn reclaim(name: &str) -> Result<Reclaimed> {
    inspect(name)?;
    shmptr::inspect::reclaim::<Linux>(name)
}

/// Removes the object `name` if no process that may be alive holds or owns it,
/// without its value type ([`shmptr::inspect::remove`] on Linux): the object is
/// destroyed **without running its value's drop**, and its name unlinked (only if
/// it still names that file). `Busy` while a live (or unjudgeable) holder, owner
/// or creator has it, or while a process that is not dead is destroying it. The
/// file is checked read-only first, and then mapped, as by [`reclaim`] (with the
/// same exposure to a peer that shrinks it).
///
/// ```
/// # let name = format!("doc.remove.{}", std::process::id());
/// let a = shmptr_linux::Shared::<u64>::create(&name, 1)?;
/// let busy = shmptr_linux::remove(&name).unwrap_err();
/// assert_eq!(busy.kind(), shmptr_linux::ErrorKind::Busy);  // we hold it
/// drop(a);
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
pub fn remove(name: &str) -> Result<()> {
    inspect(name)?;
    shmptr::inspect::remove::<Linux>(name)
}

/// Calls `each` with every entry of `/dev/shm` (but `.` and `..`), in directory
/// order, and what [`inspect`] says of it: `Ok(info)` for a shmptr object, an
/// error for anything else, so that a caller can skip or show others. Entries
/// whose name is not a valid shmptr name (`[A-Za-z0-9._-]`, 1..=200 bytes, not
/// starting with `.`) get `InvalidName` without being opened; directories,
/// FIFOs and other non-regular files get `Corrupt` ("not a shmptr object: not a
/// regular file"); files that are not shmptr objects get `Corrupt` ("not a
/// shmptr object"); damaged shmptr objects get `Corrupt` ("damaged"). A name that
/// is not UTF-8 (it can be no shmptr name) is skipped.
///
/// Reads the directory with `getdents64` into a buffer on the stack (no heap),
/// and each file as [`inspect`] does: read-only. Returns an error only if
/// `/dev/shm` cannot be read.
///
/// ```
/// # let name = format!("doc.list.{}", std::process::id());
/// let a = shmptr_linux::Shared::<u64>::create(&name, 1)?;
/// let mut found = false;
/// shmptr_linux::list(|entry, info| found |= entry == name && info.is_ok())?;
/// assert!(found);
/// # drop(a);
/// # Ok::<(), shmptr_linux::Error>(())
/// ```
/// [getdents64(2)](https://man7.org/linux/man-pages/man2/getdents64.2.html)
pub fn list(mut each: impl FnMut(&str, Result<Info>)) -> Result<()> {
    // "/dev/shm", without the trailing slash.
    let dir = &crate::region::DIR[..crate::region::DIR.len() - 1];
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match fs::openat(CWD, dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return Err(os_error("listing /dev/shm (open)", e)),
    };
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(&fd, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Err(os_error("listing /dev/shm (getdents64)", e)),
        };
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let Ok(name) = core::str::from_utf8(bytes) else { continue };
        // `inspect` checks the name before it opens anything.
        each(name, inspect(name));
    }
    Ok(())
}

/// What [`inspect`] says of a symbolic link, FIFO, socket, directory or device.
const NOT_A_FILE: Error = Error::new(ErrorKind::Corrupt, "inspecting it (not a shmptr object: not a regular file)");

/// `pread` until `buf` is full or the file ends; returns how many bytes were read.
fn read_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match io::pread(fd, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The state word (offset 8) of a header's first bytes, if they reach it.
fn state_word(bytes: &[u8]) -> Option<[u8; 4]> {
    bytes.get(8..12).and_then(|b| b.try_into().ok())
}
