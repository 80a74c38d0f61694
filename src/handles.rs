//! The handle count of one attachment: how many `Shared` handles in this process
//! share one mapping. It lives in process-private memory ([`Region::handles`]), so
//! no peer can make this process unmap memory that a handle still uses; the slot's
//! count in the segment is only a copy for other processes to read.
//!
//! The protocol is `std::sync::Arc`'s (`library/alloc/src/sync.rs`), orderings and
//! their reasons included. After each change, the new count is copied to the slot
//! with a plain store: one read-modify-write per clone or drop, as with `Arc`. The
//! price is that the copies of clones and drops racing in several threads of one
//! process may land out of order, so the slot may show a count that is off until
//! that attachment's next clone or drop; `Shared::strong_count` reads the caller's
//! own attachment from here, not from the slot. (A compare-exchange loop that
//! copies before each change keeps the copies in order, but cost 3.5 ns more per
//! clone and drop, 1.18 times `Arc` instead of 0.93, in the peers benchmark.)
//!
//! [`Region::handles`]: crate::Region::handles

use crate::primitive::{fence, AtomicUsize, Ordering};

/// A mapping's count while its first handle joins the object (before and during
/// the member set's compare-exchange): a destroyer in this process waits for it to
/// settle to 1 (joined) or 0 (refused). A bit above every count of handles, so the
/// OR of several mappings' counts (`Region::others`) still tells it apart.
pub(crate) const JOINING: usize = 1 << (usize::BITS - 1);

/// A mapping's count while this process destroys the object through it: another
/// mapping of the object here then neither joins (it leaves again) nor drops the
/// value a second time. A bit of its own, as [`JOINING`].
pub(crate) const DESTROYING: usize = 1 << (usize::BITS - 2);

/// Beside a count of 1, while the attachment's one handle lends out the value
/// exclusively (`Shared::get_mut`): another mapping of the object here then does
/// not join (`Busy`), and does not drop the value (it counts as holding). A bit of
/// its own, as [`JOINING`].
pub(crate) const SOLE: usize = 1 << (usize::BITS - 3);

/// The most handles one attachment may have. As with `Arc`, going past it means
/// clones are leaked in a loop; shmptr panics before the count could wrap.
/// Below [`SOLE`], [`DESTROYING`] and [`JOINING`], so they never mix.
pub(crate) const MAX_HANDLES: usize = SOLE - 1;

/// One more handle, made from an existing one; `publish` then copies the new count
/// to the segment, for other processes. Returns the new count.
pub(crate) fn acquire(count: &AtomicUsize, publish: impl Fn(usize)) -> usize {
    // Relaxed, as in `Arc::clone`: a new handle is made from an existing one, so the
    // count is already above zero, and passing a handle to another thread already
    // synchronizes; nothing needs ordering here.
    let old = count.fetch_add(1, Ordering::Relaxed);
    if old >= MAX_HANDLES {
        panic!("shmptr: handle count overflow (clones leaked in a loop)");
    }
    publish(old + 1);
    old + 1
}

/// One handle fewer; `publish` then copies the new count to the segment. Returns how
/// many remain. At
/// zero, every other handle's uses of the value happen before the caller's next
/// steps (which may destroy it).
pub(crate) fn release(count: &AtomicUsize, publish: impl Fn(usize)) -> usize {
    // Release, as in `Arc::drop`: this handle's uses of the value happen before the
    // decrement; the Acquire fence below makes every other handle's visible to the
    // thread that took the count to zero, which goes on to detach and may destroy.
    let old = count.fetch_sub(1, Ordering::Release);
    publish(old - 1);
    if old == 1 {
        fence(Ordering::Acquire);
    }
    old - 1
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_count_at_its_limit_panics_instead_of_wrapping() {
        let count = AtomicUsize::new(MAX_HANDLES);
        let outcome = std::panic::catch_unwind(|| acquire(&count, |_| {}));
        assert!(outcome.is_err(), "a clone past the limit must panic");
        // Like `Arc`, which aborts there: the count stays past the limit (leaked,
        // never wrapped), so every later clone panics too.
        assert!(std::panic::catch_unwind(|| acquire(&count, |_| {})).is_err());
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
        assert_eq!(published.get(), 1, "the copy follows the count");
        assert_eq!(release(&count, publish), 0);
        assert_eq!(published.get(), 0);
    }
}
