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
//! The high bits of a count are marks ([`JOINING`], [`DESTROYING`], [`SOLE`],
//! [`FOREIGN`]), all above [`MAX_HANDLES`]. A clone changes only a count of
//! handles: one that finds a mark takes its change back and is [`Refused`]; so
//! does a drop over marked regions (`release` with `marked`). That one compare,
//! which a clone needs anyway for the limit, is what tells a handle whose mapping
//! another process made on a backend that marks such mappings
//! ([`Region::foreign_marked`]): there, a clone or drop asks no other question
//! about the process on its fast path. Elsewhere the caller asks the platform
//! first (after `fork`, a child's copy of a count is a plain count), and a drop
//! only tells the last handle apart: a mark there is `SOLE`, left by a loan that
//! ended in another process, and the decrement leaves the attachment leaked,
//! never ended early.
//!
//! [`Region::foreign_marked`]: crate::Region::foreign_marked
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

/// Set by a backend in the count of every mapping with handles that another
/// process than the current one made, where its regions promise so
/// ([`Region::foreign_marked`](crate::Region::foreign_marked)): public as
/// [`FOREIGN_HANDLES`](crate::FOREIGN_HANDLES). A bit of its own, as [`JOINING`].
pub(crate) const FOREIGN: usize = 1 << (usize::BITS - 4);

/// The bits of a count of handles, below every mark.
pub(crate) const COUNT: usize = FOREIGN - 1;

/// The most handles one attachment may have. As with `Arc`, going past it means
/// clones are leaked in a loop; shmptr panics before the count could reach a mark.
/// An 8-bit number shifted, below [`FOREIGN`]: each check against it is one
/// compare with an immediate on Arm.
pub(crate) const MAX_HANDLES: usize = 0xff << (usize::BITS - 12);

// The marks are four distinct bits, all above every count, and a count at the limit
// has no mark.
static_assertions::const_assert_eq!((JOINING | DESTROYING | SOLE | FOREIGN).count_ones(), 4);
static_assertions::const_assert!(COUNT & (JOINING | DESTROYING | SOLE | FOREIGN) == 0);
static_assertions::const_assert!(MAX_HANDLES < COUNT);

/// A count that a clone or drop found outside the counts its fast path changes
/// (the count before the change): the caller's slow path hands it to
/// [`acquire_slow`] or [`release_slow`], which decide. Nothing was published.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outside(usize);

/// A clone that [`acquire_slow`] refused: the count is as it was. The mapping is
/// another process's (the platform marked it [`FOREIGN`]), or the attachment is
/// at [`MAX_HANDLES`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused;

/// One more handle, made from an existing one; `publish` then copies the new count
/// to the segment, for other processes. Returns the new count, or, if the count
/// was not one of `1..MAX_HANDLES`, what [`acquire_slow`] needs (call it first).
#[inline(always)]
pub(crate) fn acquire(count: &AtomicUsize, publish: impl Fn(usize)) -> Result<usize, Outside> {
    // Relaxed, as in `Arc::clone`: a new handle is made from an existing one, so the
    // count is already above zero, and passing a handle to another thread already
    // synchronizes; nothing needs ordering here.
    let old = count.fetch_add(1, Ordering::Relaxed);
    // One compare covers the limit and every mark (all above it): the fast path
    // needs no other test of whose mapping this is on a platform that marks.
    if old >= MAX_HANDLES {
        return Err(Outside(old));
    }
    publish(old + 1);
    Ok(old + 1)
}

/// The rest of an [`acquire`] that found the count outside: takes its increment
/// back.
pub(crate) fn acquire_slow(count: &AtomicUsize, _outside: Outside) -> Refused {
    // Relaxed: nothing was published, and a count outside the range decides nothing
    // for this process (another process's, or one that only panics from now on).
    count.fetch_sub(1, Ordering::Relaxed);
    Refused
}

/// What a drop did ([`release_slow`], [`release_all`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// Handles remain.
    Kept,
    /// That was the attachment's last handle (the count is 0): every other handle's
    /// uses of the value happen before the caller's next steps (which may destroy
    /// it).
    Last,
    /// The count was not a count of this process's handles (a mark, or 0): the
    /// change is undone, nothing published.
    Refused,
}

/// One handle fewer; `publish` then copies the new count to the segment. `Ok` if
/// handles remain; else what [`release_slow`] needs to finish (call it next).
/// `marked`: whether the backend marks other processes' mappings
/// ([`Region::foreign_marked`]); if not, the caller checked that the mapping is
/// this process's, and only the last handle goes the slow way.
///
/// [`Region::foreign_marked`]: crate::Region::foreign_marked
#[inline(always)]
pub(crate) fn release(count: &AtomicUsize, marked: bool, publish: impl Fn(usize)) -> Result<(), Outside> {
    // Release, as in `Arc::drop`: this handle's uses of the value happen before the
    // decrement; the Acquire fence (`release_slow`) makes every other handle's
    // visible to the thread that took the count to zero, which goes on to detach and
    // may destroy.
    let old = count.fetch_sub(1, Ordering::Release);
    // One compare: 2 to MAX_HANDLES handles (one remains afterwards). The last
    // handle (1), an empty count (0) and every mark go the slow way. Unmarked, the
    // count is one of this process's handles: only the last goes (a compare with 1,
    // the smaller code).
    let kept = match marked {
        true => old.wrapping_sub(2) < MAX_HANDLES,
        false => old != 1,
    };
    if kept {
        publish(old - 1);
        return Ok(());
    }
    Err(Outside(old))
}

/// The rest of a [`release`] that found the count outside its fast path: the last
/// handle, or a count that is not this process's (undone).
pub(crate) fn release_slow(count: &AtomicUsize, outside: Outside, publish: impl Fn(usize)) -> Released {
    if outside.0 != 1 {
        // Relaxed: as in `acquire_slow`.
        count.fetch_add(1, Ordering::Relaxed);
        return Released::Refused;
    }
    publish(0);
    fence(Ordering::Acquire);
    Released::Last
}

/// [`release`], then [`release_slow`] if needed: for callers off the fast path.
pub(crate) fn release_all(count: &AtomicUsize, marked: bool, publish: impl Fn(usize)) -> Released {
    match release(count, marked, &publish) {
        Ok(()) => Released::Kept,
        Err(outside) => release_slow(count, outside, publish),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A clone as `SharedHandle::clone` makes it: the fast path, then the slow one.
    fn clone(count: &AtomicUsize, publish: impl Fn(usize)) -> Result<usize, Refused> {
        acquire(count, publish).map_err(|outside| acquire_slow(count, outside))
    }

    #[test]
    fn a_count_at_its_limit_is_refused_and_stays_there() {
        let count = AtomicUsize::new(MAX_HANDLES);
        assert_eq!(clone(&count, |_| panic!("nothing is published")), Err(Refused));
        // Like `Arc`, which aborts there: the count stays at the limit (leaked, never
        // wrapped), so every later clone is refused too (`Shared::clone` panics).
        assert_eq!(count.load(Ordering::Relaxed), MAX_HANDLES);
        assert_eq!(clone(&count, |_| {}), Err(Refused));
        let count = AtomicUsize::new(MAX_HANDLES - 1);
        assert_eq!(clone(&count, |_| {}), Ok(MAX_HANDLES), "the last count below the limit is fine");
        assert_eq!(release_all(&count, true, |_| {}), Released::Kept, "and a drop from the limit too");
    }

    #[test]
    fn release_reports_the_last_handle() {
        // Marked or not (whether the caller checked the process first), the same.
        for marked in [true, false] {
            let count = AtomicUsize::new(1);
            let published = core::cell::Cell::new(0);
            let publish = |n| published.set(n);
            assert_eq!(clone(&count, publish), Ok(2));
            assert_eq!(published.get(), 2);
            assert_eq!(release_all(&count, marked, publish), Released::Kept);
            assert_eq!(published.get(), 1, "the copy follows the count");
            assert_eq!(release_all(&count, marked, publish), Released::Last);
            assert_eq!(published.get(), 0);
        }
    }

    #[test]
    fn marked_and_empty_counts_are_refused_and_left_as_they_were() {
        for marked in [FOREIGN | 3, FOREIGN | 1, FOREIGN, SOLE | 1, DESTROYING, JOINING, FOREIGN | SOLE | 1, 0] {
            let count = AtomicUsize::new(marked);
            let never = |n| panic!("published {n:#x} for a count of {marked:#x}");
            if marked != 0 {
                assert_eq!(clone(&count, never), Err(Refused), "{marked:#x}");
            }
            assert_eq!(count.load(Ordering::Relaxed), marked);
            assert_eq!(release_all(&count, true, never), Released::Refused, "{marked:#x}");
            assert_eq!(count.load(Ordering::Relaxed), marked);
        }
    }
}
