//! This process's record of each of its mappings, in static memory that no other
//! process can write: the handle count shmptr decides the unmap from
//! ([`Region::handles`](shmptr::Region::handles)).
//!
//! A record is taken when a mapping is made and given back when it is dropped. Each
//! records the process that took it: after `fork()` the child inherits a copy of
//! the table, and the parent's records are free for the child (the handles that
//! point at them are inert in the child: they never count, unmap or release).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
}

static RECORDS: [Record; MAX_MAPPINGS] = [const {
    Record { process: AtomicU64::new(0), handles: AtomicUsize::new(0), dev: AtomicU64::new(0), ino: AtomicU64::new(0) }
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
            USED.fetch_max(index + 1, Ordering::Relaxed);
            return Ok(record);
        }
    }
    Err(Error::new(ErrorKind::TooManyProcesses, "mapping the object (this process has 2048 mappings already)"))
}

/// Whether another mapping of `(dev, ino)` in this process than `mine` has handles.
pub(crate) fn others(mine: &Record, dev: u64, ino: u64) -> bool {
    let me = identity::current().get();
    // Relaxed: a record taken after this load is a mapping made after the caller
    // decided to destroy, which cannot have reached the value through the segment.
    let used = USED.load(Ordering::Relaxed).min(MAX_MAPPINGS);
    RECORDS[..used].iter().any(|r| {
        // Relaxed: see `Region::others_attached`: the counts that matter were
        // written before their mappings' last acquire-release on the segment.
        !core::ptr::eq(r, mine)
            && r.process.load(Ordering::Relaxed) == me
            && r.handles.load(Ordering::Relaxed) != 0
            && r.dev.load(Ordering::Relaxed) == dev
            && r.ino.load(Ordering::Relaxed) == ino
    })
}

/// Gives a record back once its mapping is gone.
pub(crate) fn give_back(record: &Record) {
    // Release: our uses of the record happen before its next taker's.
    record.process.store(0, Ordering::Release);
}
