//! [`Backend`] for Linux: objects are files in `/dev/shm`, opened the way
//! `shm_open(3)` does it (`open("/dev/shm/<name>")`), but never through a symbolic
//! link, and checked before they are mapped.

use core::ffi::CStr;
use core::ptr::{self, NonNull};
use core::sync::atomic::AtomicUsize;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, AtFlags, FallocateFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mm::{self, MapFlags, ProtFlags};
use rustix::process;

use shmptr::{Backend, Error, ErrorKind, Name, Options, Region, Result, NAME_MAX};

use crate::mappings::{self, Record};
use crate::{ownership, Linux};

const DIR: &[u8] = b"/dev/shm/";

/// One `mmap` of a `/dev/shm` object, with this process's record of it (see
/// `mappings`); dropping it unmaps (`munmap`) and gives the record back.
pub struct LinuxRegion {
    ptr: NonNull<u8>,
    len: usize,
    dev: u64,
    ino: u64,
    record: &'static Record,
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
    fn others_attached(&self) -> bool {
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
}

// SAFETY: a mapping may be used and unmapped from any thread.
unsafe impl Send for LinuxRegion {}
// SAFETY: as above; the region itself is immutable.
unsafe impl Sync for LinuxRegion {}

impl Drop for LinuxRegion {
    /// Unmaps and gives the record back.
    /// [munmap(2)](https://man7.org/linux/man-pages/man2/munmap.2.html)
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: `ptr`/`len` are exactly what `mmap` returned, and the `Region`
            // contract guarantees this is the one copy that unmaps.
            let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
        mappings::give_back(self.record);
    }
}

/// `/dev/shm/<name>\0` on the stack.
struct Path([u8; DIR.len() + NAME_MAX + 1]);

impl Path {
    fn new(name: Name<'_>) -> Self {
        let mut path = [0; DIR.len() + NAME_MAX + 1];
        path[..DIR.len()].copy_from_slice(DIR);
        path[DIR.len()..DIR.len() + name.as_bytes().len()].copy_from_slice(name.as_bytes());
        Path(path)
    }

    fn as_c_str(&self) -> &CStr {
        // The name is validated (no NUL inside) and the buffer ends with NUL.
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"/dev/shm/")
    }
}

fn os_error(during: &'static str, errno: Errno) -> Error {
    let kind = match errno {
        Errno::EXIST => ErrorKind::AlreadyExists,
        Errno::NOENT => ErrorKind::NotFound,
        Errno::ACCESS | Errno::PERM | Errno::ROFS => ErrorKind::PermissionDenied,
        // A symbolic link planted at the name.
        Errno::LOOP => ErrorKind::PermissionDenied,
        Errno::NOSPC | Errno::NOMEM | Errno::FBIG | Errno::DQUOT => ErrorKind::OutOfMemory,
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

impl Linux {
    fn create_region(fd: &OwnedFd, len: usize, options: &Options) -> Result<LinuxRegion> {
        let stat = fs::fstat(fd).map_err(|e| os_error("checking the object (fstat)", e))?;
        // The mode given to open is masked by the umask; set it exactly when that
        // changed it (the common 0600 under umask 022 needs no call).
        let mode = options.mode & 0o777;
        if stat.st_mode & 0o777 != mode {
            fs::fchmod(fd, Mode::from_bits_truncate(mode)).map_err(|e| os_error("setting the mode (fchmod)", e))?;
        }
        fs::ftruncate(fd, len as u64).map_err(|e| os_error("sizing the object (ftruncate)", e))?;
        // Reserve the pages now: a full tmpfs is OutOfMemory here, not SIGBUS later.
        match fs::fallocate(fd, FallocateFlags::empty(), 0, len as u64) {
            Ok(()) | Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => {}
            Err(e) => return Err(os_error("reserving the object's memory (fallocate)", e)),
        }
        map(fd, len, stat.st_dev, stat.st_ino)
    }
}

impl Backend for Linux {
    type Region = LinuxRegion;

    /// `open(O_CREAT | O_EXCL | O_NOFOLLOW)`, `fstat` (and `fchmod` if the umask
    /// changed the mode), `ftruncate`, `fallocate`, `mmap(MAP_SHARED)`; the
    /// descriptor is closed once mapped. On failure after the file exists, the file
    /// is removed again.
    fn create(name: Name<'_>, len: usize, options: &Options) -> Result<LinuxRegion> {
        let path = Path::new(name);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = fs::openat(CWD, path.as_c_str(), flags, Mode::from_bits_truncate(options.mode & 0o777))
            .map_err(|e| os_error("creating the object (open O_CREAT|O_EXCL)", e))?;
        Self::create_region(&fd, len, options).inspect_err(|_| {
            let _ = fs::unlinkat(CWD, path.as_c_str(), AtFlags::empty());
        })
    }

    /// `open(O_RDWR | O_NOFOLLOW)` (a symbolic link at the name is refused), `fstat`
    /// (a non-regular file, or one owned by another user unless allowed, is refused),
    /// then `mmap` of exactly the size the file has now. Never resizes.
    // Outlined: inlined into `Object::open`'s retry loop it costs 64 bytes more in
    // `examples/constrained`.
    #[inline(never)]
    fn open(name: Name<'_>, options: &Options) -> Result<LinuxRegion> {
        let path = Path::new(name);
        let fd = fs::openat(CWD, path.as_c_str(), OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| os_error("opening the object (open O_NOFOLLOW)", e))?;
        let stat = fs::fstat(&fd).map_err(|e| os_error("checking the object (fstat)", e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Error::new(ErrorKind::Corrupt, "checking the object (not a regular file)"));
        }
        if stat.st_uid != process::geteuid().as_raw() && !options.allow_foreign_owner {
            return Err(Error::new(ErrorKind::PermissionDenied, "checking the object's owner (another user's)"));
        }
        let len = usize::try_from(stat.st_size).map_err(|_| Error::new(ErrorKind::Corrupt, "checking the size"))?;
        map(&fd, len, stat.st_dev, stat.st_ino)
    }

    /// `unlink("/dev/shm/<name>")`, only if the name still refers to the file
    /// `region` maps (same device and inode, checked with `stat` just before), so a
    /// newer object under the same name is left alone.
    fn unlink(name: Name<'_>, region: &LinuxRegion) -> Result<()> {
        let path = Path::new(name);
        let stat = fs::statat(CWD, path.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| os_error("checking the name before unlinking (stat)", e))?;
        if stat.st_dev != region.dev || stat.st_ino != region.ino {
            return Err(Error::new(ErrorKind::NotFound, "unlinking a name that now names another object"));
        }
        fs::unlinkat(CWD, path.as_c_str(), AtFlags::empty()).map_err(|e| os_error("unlinking the object", e))
    }
}
