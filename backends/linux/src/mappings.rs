//! This process's record of each of its mappings, in static memory that no other
//! process can write: the handle count shmptr decides the unmap from
//! ([`Region::handles`](shmptr::Region::handles)).
//!
//! A record is taken when a mapping is made and given back when it is dropped. Each
//! records the process that took it: after `fork()` the child inherits a copy of
//! the table, and the parent's records are free for the child (the handles that
//! point at them are inert in the child: they never count, unmap or release).

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use rustix::fd::{BorrowedFd, IntoRawFd, OwnedFd};
use rustix::fs::{flock, FlockOperation};
use shmptr::{Error, ErrorKind, Result};

use crate::identity;

/// How many mappings (one per `create` or `open`, shared by its clones) a process
/// may have at once.
pub const MAX_MAPPINGS: usize = 2048;

/// One mapping's record.
pub(crate) struct Record {
    /// The process that took the record; free when 0 or another process's.
    process: AtomicU64,
    /// The handles sharing the mapping.
    pub(crate) handles: AtomicUsize,
    /// The mapped object: device and inode of its file.
    dev: AtomicU64,
    ino: AtomicU64,
    /// While this process creates the object through this mapping: the descriptor
    /// holding its creation lock (`region::lock_for_creation`), plus one; 0 when
    /// none. (Zero, not -1, for none keeps the table in `.bss`.)
    creating: AtomicU32,
}

static RECORDS: [Record; MAX_MAPPINGS] = [const {
    Record {
        process: AtomicU64::new(0),
        handles: AtomicUsize::new(0),
        dev: AtomicU64::new(0),
        ino: AtomicU64::new(0),
        creating: AtomicU32::new(0),
    }
}; MAX_MAPPINGS];

/// One past the highest record ever taken: scans stop there.
static USED: AtomicUsize = AtomicUsize::new(0);

/// Takes a free record, with no handles, for a new mapping of this process of the
/// object `(dev, ino)`.
pub(crate) fn take(dev: u64, ino: u64) -> Result<&'static Record> {
    // Every create and open comes here first: settle this process's identity now,
    // or fail cleanly, before anything is recorded under it.
    let me = identity::ensure()?.get();
    for (index, record) in RECORDS.iter().enumerate() {
        // Relaxed: a pre-check; the exchange below decides.
        let holder = record.process.load(Ordering::Relaxed);
        // Acquire: pairs with the Release in `give_back`, so the previous user's
        // last writes to the record happen before ours.
        if holder != me && record.process.compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // Relaxed: the record is ours alone until the region is handed out,
            // which synchronizes with any other thread that gets it; `others`
            // reads these after acquiring what the mapping's user published.
            record.handles.store(0, Ordering::Relaxed);
            record.dev.store(dev, Ordering::Relaxed);
            record.ino.store(ino, Ordering::Relaxed);
            // A descriptor left here belongs to the process that made the record
            // (in a child after `fork()`, an inherited copy of it, left open).
            record.creating.store(0, Ordering::Relaxed);
            USED.fetch_max(index + 1, Ordering::Relaxed);
            return Ok(record);
        }
    }
    Err(Error::new(ErrorKind::TooManyProcesses, "mapping the object (2048 per process at most)"))
}

/// The OR of the handle counts of every other record of this process that maps the
/// object `(dev, ino)` (`Region::others`).
pub(crate) fn others(mine: &Record, dev: u64, ino: u64) -> usize {
    let me = identity::current().get();
    // Relaxed: a record taken after this load is a mapping made after the caller
    // decided to destroy, which cannot have reached the value through the segment.
    let used = USED.load(Ordering::Relaxed).min(MAX_MAPPINGS);
    let mut or = 0;
    for r in &RECORDS[..used] {
        // Relaxed: see `Region::others`: the caller's fence orders these loads.
        if !core::ptr::eq(r, mine)
            && r.process.load(Ordering::Relaxed) == me
            && r.dev.load(Ordering::Relaxed) == dev
            && r.ino.load(Ordering::Relaxed) == ino
        {
            or |= r.handles.load(Ordering::Relaxed);
        }
    }
    or
}

/// Keeps `lock`, the descriptor holding the creation lock of the object `record`
/// maps, until [`end_creation`].
pub(crate) fn creating(record: &Record, lock: OwnedFd) {
    let raw = lock.into_raw_fd();
    // Relaxed: only this process's thread that creates the object, and later its
    // `Drop`, touch the field. A descriptor is never negative: `raw + 1` is not 0.
    let old = record.creating.swap(raw as u32 + 1, Ordering::Relaxed);
    debug_assert_eq!(old, 0, "one creation lock per mapping");
}

/// Releases the creation lock, if `record` holds one, and closes its descriptor.
/// The unlock is explicit: closing alone would not release it while the mapping
/// made through the same open file description lives (a flock lock goes with the
/// description's last reference, and `mmap` holds one).
/// [flock(2)](https://man7.org/linux/man-pages/man2/flock.2.html)
/// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html)
pub(crate) fn end_creation(record: &Record) {
    // Relaxed: as in `creating`; the swap hands the descriptor to one caller.
    let raw = record.creating.swap(0, Ordering::Relaxed);
    if raw != 0 {
        let raw = (raw - 1) as i32;
        // SAFETY: `raw` came from `into_raw_fd` of a descriptor this process owned
        // (`creating`), and the swap took it out of the record: it is open, and
        // ours alone until the `close` below.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        // Cannot fail on a descriptor we own (EINTR is for blocking requests).
        let _ = flock(fd, FlockOperation::Unlock);
        // SAFETY: as above; closed once, never used again.
        unsafe { rustix::io::close(raw) };
    }
}

/// Gives a record back once its mapping is gone.
pub(crate) fn give_back(record: &Record) {
    // Zero before the record is free: its next taker names it before it can zero
    // it, and `others` must not see a stale count under that name meanwhile.
    // Relaxed: the Release below publishes it.
    record.handles.store(0, Ordering::Relaxed);
    // Release: our uses of the record happen before its next taker's.
    record.process.store(0, Ordering::Release);
}
