//! Which objects this process owns exclusively (its `Unique`s), in memory no other
//! process can write: a static table of `(device, inode)` keys under a small lock.
//!
//! A claim consults it before the object's shared owner word, which any peer that
//! can write the object may forge: two owners of one object in one address space
//! (two `&mut T`) must never rest on that word.
//!
//! After `fork()` the child inherits a copy of the table (and perhaps of a lock some
//! other thread held at that instant). Each entry and the lock record the process
//! that wrote them, so the child treats the parent's as free: what the parent owns
//! is not the child's.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use shmptr::{Error, ErrorKind, Result};

use crate::identity;

/// How many objects one process may own at once.
pub(crate) const CAPACITY: usize = 128;

#[derive(Clone, Copy)]
struct Entry {
    /// The owning process's identity; an entry of another process (inherited
    /// across `fork`) or 0 is free.
    process: u64,
    dev: u64,
    ino: u64,
}

struct Table {
    /// The process whose thread holds the lock, 0 when free.
    lock: AtomicU64,
    entries: UnsafeCell<[Entry; CAPACITY]>,
}

// SAFETY: `entries` is only reached under `lock`.
unsafe impl Sync for Table {}

static TABLE: Table =
    Table { lock: AtomicU64::new(0), entries: UnsafeCell::new([Entry { process: 0, dev: 0, ino: 0 }; CAPACITY]) };

/// Runs `f` on the entries under the lock, as process `me`.
fn locked<R>(me: u64, f: impl FnOnce(&mut [Entry; CAPACITY]) -> R) -> R {
    loop {
        // Relaxed: only decides whom to compete with; the CAS below orders.
        let held = TABLE.lock.load(Ordering::Relaxed);
        // Free, or held by another process: inherited across `fork` from a thread
        // that does not exist here, so free for us.
        let free = held != me;
        // Acquire: pairs with the Release in the unlock below, so the previous
        // holder's writes to the entries are visible.
        if free && TABLE.lock.compare_exchange_weak(held, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            break;
        }
        core::hint::spin_loop();
    }
    // SAFETY: the lock is held by this process's calling thread, so this is the
    // only reference to the entries.
    let result = f(unsafe { &mut *TABLE.entries.get() });
    // Release: publishes our changes to the next holder.
    TABLE.lock.store(0, Ordering::Release);
    result
}

/// Records that this process owns the object `(dev, ino)`; `Busy` if it already
/// does, `TooManyProcesses` if it owns [`CAPACITY`] objects already.
pub(crate) fn own(dev: u64, ino: u64) -> Result<()> {
    let me = identity::current().get();
    locked(me, |entries| {
        if entries.iter().any(|e| e.process == me && e.dev == dev && e.ino == ino) {
            return Err(Error::new(ErrorKind::Busy, "claiming an object this process owns already"));
        }
        let free = entries.iter_mut().find(|e| e.process != me).ok_or(Error::new(
            ErrorKind::TooManyProcesses,
            "owning more objects at once than this process's table holds (128)",
        ))?;
        *free = Entry { process: me, dev, ino };
        Ok(())
    })
}

/// Ends this process's ownership of `(dev, ino)`.
pub(crate) fn disown(dev: u64, ino: u64) {
    let me = identity::current().get();
    locked(me, |entries| {
        if let Some(e) = entries.iter_mut().find(|e| e.process == me && e.dev == dev && e.ino == ino) {
            e.process = 0;
        }
    });
}
