//! The handle count of one attachment: how many `Shared` handles in this process
//! share one mapping. It lives in process-private memory ([`Region::handles`]), so
//! no peer can make this process unmap memory that a handle still uses; the slot's
//! count in the segment is only a copy for other processes to read.
//!
//! The protocol is `std::sync::Arc`'s (`library/alloc/src/sync.rs`), orderings and
//! their reasons included, with one change: the copy for other processes is
//! written before each change of the count (see [`acquire`]).
//!
//! [`Region::handles`]: crate::Region::handles

use crate::primitive::{fence, AtomicUsize, Ordering};

/// The most handles one attachment may have. As with `Arc`, going past it means
/// clones are leaked in a loop; shmptr panics before the count could wrap.
const MAX_HANDLES: usize = isize::MAX as usize;

/// One more handle, made from an existing one; `publish` copies the new count to
/// the segment (for other processes). Returns the new count.
///
/// A compare-exchange loop rather than `fetch_add`, so that the copy is written
/// *before* the count changes: the copies of concurrent clones and drops in several
/// threads land in the order of their changes, and the last copy is the count.
pub(crate) fn acquire(count: &AtomicUsize, publish: impl Fn(usize)) -> usize {
    // Acquire (load and failed exchange): see the copy published by whoever made
    // the count we build on, so that ours lands after it.
    let mut current = count.load(Ordering::Acquire);
    loop {
        if current >= MAX_HANDLES {
            panic!("shmptr: handle count overflow (clones leaked in a loop)");
        }
        publish(current + 1);
        // Release: our copy happens before the next change's. Nothing else needs
        // ordering, as in `Arc::clone`: a new handle is made from an existing one,
        // so the count is already above zero.
        match count.compare_exchange_weak(current, current + 1, Ordering::Release, Ordering::Acquire) {
            Ok(_) => return current + 1,
            Err(now) => current = now,
        }
    }
}

/// One handle fewer; `publish` copies the new count to the segment first (see
/// [`acquire`]). Returns how many remain. At zero, every other handle's uses of the
/// value happen before the caller's next steps (which may destroy it).
pub(crate) fn release(count: &AtomicUsize, publish: impl Fn(usize)) -> usize {
    // Acquire: as in `acquire`.
    let mut current = count.load(Ordering::Acquire);
    loop {
        // The caller holds a handle, and no peer can write this count: at least 1.
        let left = current.saturating_sub(1);
        publish(left);
        // Release, as in `Arc::drop`: this handle's uses of the value happen before
        // the decrement; the Acquire fence below makes every other handle's visible
        // to the thread that took the count to zero, which goes on to detach and
        // may destroy.
        match count.compare_exchange_weak(current, left, Ordering::Release, Ordering::Acquire) {
            Ok(_) => {
                if left == 0 {
                    fence(Ordering::Acquire);
                }
                return left;
            }
            Err(now) => current = now,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_count_at_its_limit_panics_instead_of_wrapping() {
        let count = AtomicUsize::new(MAX_HANDLES);
        let outcome = std::panic::catch_unwind(|| acquire(&count, |_| {}));
        assert!(outcome.is_err(), "a clone past the limit must panic");
        assert_eq!(count.load(Ordering::Relaxed), MAX_HANDLES, "the count did not move");
        let count = AtomicUsize::new(MAX_HANDLES - 1);
        assert_eq!(acquire(&count, |_| {}), MAX_HANDLES, "the last count below the limit is fine");
    }

    #[test]
    fn release_reports_the_last_handle() {
        let count = AtomicUsize::new(1);
        let published = core::cell::Cell::new(0);
        let publish = |n| published.set(n);
        assert_eq!(acquire(&count, publish), 2);
        assert_eq!(published.get(), 2);
        assert_eq!(release(&count, publish), 1);
        assert_eq!(release(&count, publish), 0);
        assert_eq!(published.get(), 0, "the copy follows the count");
    }
}
