//! The segment format: a header, a table of holder slots, the value.
//!
//! ```text
//! offset 0    Header (320 bytes, 64-aligned): magic, version, state, creator,
//!             write-once fields + checksum, members bitmap, unique owner, destroyer
//! offset 320  Slot[slot_count], 64 bytes each: { owner process, handle count }
//! offset V    T (or a slice's elements), V = align_up(320 + 64 * slot_count, max(64, align_of::<T>()))
//! ```
//! Everything read from a segment is untrusted: [`Header::inspect`] validates the
//! write-once fields once, copies them, and only the copy is used afterwards.

#[allow(unsafe_code)] // volatile reads and writes of the write-once fields
mod header;
pub(crate) mod lifecycle;
#[allow(unsafe_code)] // the one place regions become references: see its docs
mod mapping;
mod members;
pub(crate) mod owner;
#[cfg(all(test, loom))]
mod tests;

pub(crate) use header::{Header, Inspection, Kind, SegmentLayout, Shape, Slot, ValueType};
pub(crate) use mapping::{fill, put, Abandoned, Lent, ReleasedHandle, SharedHandle, UniqueHandle};
pub(crate) use members::Members;
// The untyped inspection (`crate::inspect`) reads plain copies of the header,
// which loom's atomics are not: it is left out of the loom models.
#[cfg(not(loom))]
pub(crate) use {
    header::{Snapshot, MAGIC, SNAPSHOT_LEN},
    lifecycle::State,
    mapping::{reclaim_any, remove_any},
    members::RECLAIMING,
};

/// The most slots a `Shared` object can have: one member bit each in one atomic
/// word (64 on targets with 64-bit atomics, which every Linux target has; 32 on
/// microcontrollers without them).
pub const MAX_SLOTS: u32 = crate::primitive::Word::BITS;
