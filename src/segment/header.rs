//! Header and slot layout, creation and validation.

use core::cell::UnsafeCell;
use core::mem::{align_of, size_of, MaybeUninit};

use crate::backend::ProcessId;
use crate::error::{Error, ErrorKind, Result};
use crate::name::{Name, NAME_MAX};
use crate::primitive::{AtomicU32, AtomicWord, Ordering};
use crate::shm_safe::fingerprint;

use super::lifecycle::State;
use super::MAX_SLOTS;

/// "SHMP": the first word of every segment.
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"SHMP");
/// The segment format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The value is aligned to at least this much, so it never shares a cache line
/// with a slot.
pub(crate) const VALUE_MIN_ALIGN: usize = 64;

/// Which ownership type a segment holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Kind {
    Shared = 1,
    Unique = 2,
}

impl Kind {
    /// The kind a raw word names; `None` for any other value (garbage).
    pub(crate) fn from_raw(raw: u32) -> Option<Kind> {
        // A `match`, not a search of `[Kind::Shared, Kind::Unique]`: less code.
        match raw {
            r if r == Kind::Shared as u32 => Some(Kind::Shared),
            r if r == Kind::Unique as u32 => Some(Kind::Unique),
            _ => None,
        }
    }
}

/// Whether a segment holds one value or a slice of them (`Fixed::shape`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Shape {
    /// One value of `value_size` bytes; `length` is 0.
    One = 0,
    /// `length` elements, `value_size` bytes in all; the fingerprint is the
    /// element's.
    Slice = 1,
}

impl Shape {
    /// The shape a raw word names; `None` for any other value (garbage).
    pub(crate) fn from_raw(raw: u32) -> Option<Shape> {
        match raw {
            0 => Some(Shape::One),
            1 => Some(Shape::Slice),
            _ => None,
        }
    }
}

/// The fields written once, before `Ready`, and covered by the checksum. They are
/// read with one volatile copy and validated as a whole. Aligned to 8 on every
/// target (`u64` alone is 4-aligned on i686), as their place in the header is.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub(crate) struct Fixed {
    pub kind: u32,
    pub slot_count: u32,
    pub total_len: u64,
    pub value_offset: u64,
    pub value_size: u64,
    pub value_align: u64,
    /// The value's fingerprint; a slice's element's.
    pub fingerprint: u64,
    pub name_len: u32,
    /// A [`Shape`].
    pub shape: u32,
    /// A slice's element count; 0 for one value.
    pub length: u64,
    pub name: [u8; NAME_MAX],
}

/// The write-once fields before the name: the first 64 bytes of [`Fixed`], the
/// same fields at the same offsets (pinned below). What [`Header::read_checked`]
/// copies: inspection needs the name only compared, never copied.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Head {
    pub kind: u32,
    pub slot_count: u32,
    pub total_len: u64,
    pub value_offset: u64,
    pub value_size: u64,
    pub value_align: u64,
    pub fingerprint: u64,
    pub name_len: u32,
    pub shape: u32,
    pub length: u64,
}

/// The segment header. Fields that change after creation, or are read before the
/// creator publishes `Ready`, are atomics; the rest is [`Fixed`].
#[repr(C, align(64))]
pub(crate) struct Header {
    pub magic: AtomicU32,
    pub version: AtomicU32,
    /// A [`State`]; the futex word openers wait on while it is `Initializing`.
    pub state: AtomicU32,
    /// Zero; a non-zero value is `Corrupt`.
    pub reserved: AtomicU32,
    /// The creating process, for "creator died before `Ready`".
    pub creator: AtomicWord,
    pub fixed: UnsafeCell<Fixed>,
    pub checksum: UnsafeCell<u64>,
    /// Bit `i` set: slot `i` holds a live attachment. Never goes from zero to
    /// non-zero: zero means the object is being destroyed.
    pub members: AtomicWord,
    /// `Unique`: the owning process, 0 when released.
    pub owner: AtomicWord,
    /// The process that won the right to destroy (and unlink), 0 before.
    pub destroyer: AtomicWord,
    /// One past the highest slot ever reserved: slots at or above it have never had
    /// an owner, so scans stop here (a fresh object touches one page, not two).
    pub slots_used: AtomicU32,
    /// Non-zero once an opener sleeps on `state`: the creator wakes only then.
    pub waiting: AtomicU32,
}

/// One attachment: the process that holds it and how many handles share it. Each
/// slot has its own cache line, so clone/drop never bounce a line another process
/// writes.
#[repr(C, align(64))]
pub(crate) struct Slot {
    /// The holding process; 0 when free; [`RECLAIMING`](super::members::RECLAIMING) |
    /// reclaimer while a survivor reclaims it.
    pub holder: AtomicWord,
    /// Handles of the attachment (clones in the holding process).
    pub count: AtomicWord,
}

#[cfg(all(not(loom), target_has_atomic = "64"))]
mod pinned {
    use super::*;
    use core::mem::offset_of;
    use static_assertions::const_assert_eq;
    const_assert_eq!(size_of::<Fixed>(), 256);
    const_assert_eq!(offset_of!(Fixed, shape), 52);
    const_assert_eq!(offset_of!(Fixed, length), 56);
    const_assert_eq!(offset_of!(Fixed, name), 64);
    const_assert_eq!(offset_of!(Header, magic), 0);
    const_assert_eq!(offset_of!(Header, version), 4);
    const_assert_eq!(offset_of!(Header, state), 8);
    const_assert_eq!(offset_of!(Header, creator), 16);
    const_assert_eq!(offset_of!(Header, fixed), 24);
    const_assert_eq!(offset_of!(Header, checksum), 280);
    const_assert_eq!(offset_of!(Header, members), 288);
    const_assert_eq!(offset_of!(Header, owner), 296);
    const_assert_eq!(offset_of!(Header, destroyer), 304);
    const_assert_eq!(offset_of!(Header, slots_used), 312);
    const_assert_eq!(offset_of!(Header, waiting), 316);
    const_assert_eq!(size_of::<Header>(), 320);
    const_assert_eq!(align_of::<Header>(), 64);
    const_assert_eq!(size_of::<Slot>(), 64);
    const_assert_eq!(align_of::<Slot>(), 64);
}

/// What create and open say of a value too large to map: one string for both.
const SIZING: &str = "computing the segment size (too large for this target)";

/// Where things are in a segment of a given type and slot count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentLayout {
    pub slot_count: u32,
    pub value_offset: usize,
    pub value_size: usize,
    pub value_align: usize,
    pub total_len: usize,
    /// A slice's element count (0 for one value), kept beside the pointer.
    pub length: usize,
}

impl SegmentLayout {
    /// The layout for a value of `size`/`align` with `slot_count` slots; `None` on
    /// arithmetic overflow.
    #[inline(always)]
    pub(crate) fn new(slot_count: u32, size: usize, align: usize) -> Option<Self> {
        let slots_end = size_of::<Header>().checked_add(size_of::<Slot>().checked_mul(slot_count as usize)?)?;
        let value_align = align.max(VALUE_MIN_ALIGN);
        let value_offset = slots_end.checked_next_multiple_of(value_align)?;
        let total_len = value_offset.checked_add(size)?;
        // Mappings are at most isize::MAX bytes.
        if total_len > isize::MAX as usize {
            return None;
        }
        Some(SegmentLayout { slot_count, value_offset, value_size: size, value_align, total_len, length: 0 })
    }

    /// The layout for a value of type `ty` (a slice: of `length` elements) with
    /// `slot_count` slots; `Unsupported` if its size overflows.
    #[inline(always)]
    pub(crate) fn of(slot_count: u32, ty: &ValueType, length: usize) -> Result<Self> {
        ty.value_size(length)
            .and_then(|size| Self::new(slot_count, size, ty.align))
            .map(|layout| SegmentLayout { length, ..layout })
            .ok_or(Error::new(ErrorKind::Unsupported, SIZING))
    }
}

/// What an opener expects a segment to hold: its kind, shape, and the value's
/// (a slice's: the element's) size, alignment and fingerprint
/// ([`Header::inspect`]'s expectations, as one value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ValueType {
    pub kind: Kind,
    pub shape: Shape,
    pub size: usize,
    pub align: usize,
    pub fingerprint: u64,
}

impl ValueType {
    /// The value's size in bytes: a slice's of `length` elements; `None` if it
    /// overflows.
    #[inline(always)]
    pub(crate) fn value_size(&self, length: usize) -> Option<usize> {
        match self.shape {
            Shape::One => Some(self.size),
            Shape::Slice => self.size.checked_mul(length),
        }
    }

    /// What the untyped operations validate a header against when it names no
    /// type (blank, being written, or garbage): an unfinished header is still
    /// "not ready" (the type is checked only once `Ready`), a finished one fails.
    #[cfg(not(loom))] // only the untyped inspection uses it
    pub(crate) const NONE: ValueType =
        ValueType { kind: Kind::Shared, shape: Shape::One, size: 0, align: VALUE_MIN_ALIGN, fingerprint: 0 };
}

/// The result of looking at a mapped segment.
#[derive(Debug)]
pub(crate) enum Inspection {
    /// Valid, `Ready`, of the expected kind and type.
    Ready(SegmentLayout),
    /// Well-formed but not finished yet (`Blank` or `Initializing`, the state
    /// seen); wait on the state word (bounded) and look again.
    NotReady(State),
    /// Past `Ready`: being destroyed or destroyed.
    Destroying,
}

impl Fixed {
    /// The checksum over the creator word and these fields (FORMAT.md §3.5):
    /// FNV-1a over 32-bit little-endian words, not bytes, so that it costs the
    /// same on 32- and 64-bit cores (a 64-bit multiply per word; per byte it was
    /// ~430 instructions per open on a Cortex-M4): the creator's two words (the
    /// header word just before these fields), the 16 words of the fields before
    /// the name, then the name field's words up to the one `name_len` ends in
    /// (whole words as stored: the bytes past `name_len` must be zero, which
    /// `inspect` checks).
    fn checksum(&self, creator: u64) -> u64 {
        // The seed is a constant: computed at compile time, not on every call.
        const SEED: u64 = fingerprint::start("shmptr.fixed", 0, 0);
        let mut h = mix_word(mix_word(SEED, creator as u32), (creator >> 32) as u32);
        #[cfg(target_endian = "little")]
        let fields = &self.words()[..FIELD_WORDS];
        #[cfg(target_endian = "big")]
        let fields = &self.head().field_words_from_values();
        for &word in fields {
            h = mix_word(h, word);
        }
        let name_words = (self.name_len as usize).min(NAME_MAX).div_ceil(4);
        for &word in &self.words()[FIELD_WORDS..FIELD_WORDS + name_words] {
            // The name's bytes, 4 at a time, little-endian on any target.
            h = mix_word(h, u32::from_le(word));
        }
        h
    }

    /// The fields before the name.
    #[cfg(any(test, target_endian = "big", target_pointer_width = "64"))]
    fn head(&self) -> Head {
        let f = self;
        #[rustfmt::skip]
        let head = Head {
            kind: f.kind, slot_count: f.slot_count, total_len: f.total_len, value_offset: f.value_offset,
            value_size: f.value_size, value_align: f.value_align, fingerprint: f.fingerprint,
            name_len: f.name_len, shape: f.shape, length: f.length,
        };
        head
    }

    /// The fields' bytes as 32-bit words, in memory order.
    fn words(&self) -> &[u32; size_of::<Fixed>() / 4] {
        // SAFETY: `Fixed` is `repr(C)`, 4-aligned or more, of integer fields with
        // no padding (its size is the sum of theirs, pinned below), so its bytes
        // are exactly `size_of::<Fixed>() / 4` initialised words; every bit
        // pattern is a valid `u32`, and the borrow of `self` covers them.
        unsafe { &*(self as *const Fixed).cast::<[u32; size_of::<Fixed>() / 4]>() }
    }

    /// Whether the stored name is `name` followed by zeros to the end of the
    /// field, a byte at a time.
    #[cfg(any(test, target_pointer_width = "64"))]
    fn holds_name_by_bytes(&self, name: &[u8]) -> bool {
        let Some(stored) = self.name.get(..self.name_len as usize) else { return false };
        stored == name && self.name[stored.len()..].iter().all(|&b| b == 0)
    }
}

impl Head {
    /// These fields as the checksum's words: each `u32` field, and each `u64`
    /// field's low word, then its high one. On a little-endian target that is
    /// their memory; a big-endian one builds them from the values.
    #[cfg(any(all(test, not(loom)), target_endian = "big"))]
    fn field_words_from_values(&self) -> [u32; FIELD_WORDS] {
        let [a, b, c, d, e, f] =
            [self.total_len, self.value_offset, self.value_size, self.value_align, self.fingerprint, self.length]
                .map(|v| [v as u32, (v >> 32) as u32]);
        #[rustfmt::skip]
        let words = [
            self.kind, self.slot_count, a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1], e[0], e[1],
            self.name_len, self.shape, f[0], f[1],
        ];
        words
    }
}

// `read_checked` reads the name field's zero tail 8 bytes at a time.
const _: () = assert!(NAME_MAX % 32 == 0 && core::mem::offset_of!(Fixed, name) % 8 == 0 && align_of::<Fixed>() >= 8);

/// The words of `Fixed` before the name, in the checksum whatever the name.
const FIELD_WORDS: usize = core::mem::offset_of!(Fixed, name) / 4;

// What `Fixed::words` rests on: no padding anywhere (the fields' sizes add up to
// the struct's), 4-aligned, and the name at a word boundary.
const _: () = assert!(
    size_of::<Fixed>() == 4 + 4 + 8 * 5 + 4 + 4 + 8 + NAME_MAX
        && size_of::<Fixed>() % 4 == 0
        && align_of::<Fixed>() >= 4
        && core::mem::offset_of!(Fixed, name) == 64
);

// `Head` is `Fixed` up to the name, field for field.
const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<Head>() == offset_of!(Fixed, name) && align_of::<Head>() <= align_of::<Fixed>());
    assert!(offset_of!(Head, kind) == offset_of!(Fixed, kind));
    assert!(offset_of!(Head, slot_count) == offset_of!(Fixed, slot_count));
    assert!(offset_of!(Head, total_len) == offset_of!(Fixed, total_len));
    assert!(offset_of!(Head, value_offset) == offset_of!(Fixed, value_offset));
    assert!(offset_of!(Head, value_size) == offset_of!(Fixed, value_size));
    assert!(offset_of!(Head, value_align) == offset_of!(Fixed, value_align));
    assert!(offset_of!(Head, fingerprint) == offset_of!(Fixed, fingerprint));
    assert!(offset_of!(Head, name_len) == offset_of!(Fixed, name_len));
    assert!(offset_of!(Head, shape) == offset_of!(Fixed, shape));
    assert!(offset_of!(Head, length) == offset_of!(Fixed, length));
};

/// The name field's 32-bit words.
#[cfg(any(all(test, not(loom)), not(target_pointer_width = "64")))]
const NAME_WORDS: usize = NAME_MAX / 4;

/// One step of FNV-1a over a 32-bit word: `(h ^ word) * PRIME`, the 64-bit
/// FNV-1a step (`fingerprint`'s) with a word where FNV-1a has a byte.
#[inline(always)]
fn mix_word(h: u64, word: u32) -> u64 {
    (h ^ word as u64).wrapping_mul(PRIME)
}

/// FNV-1a's 64-bit prime (as `fingerprint`'s).
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A volatile copy of `*src`, one `u64` at a time (a volatile read of the whole
/// struct compiles to one load per byte: 256 of them, ~10 KiB of code).
///
/// # Safety
/// `src` must be valid for reads of a `Fixed` (which is 8-aligned).
const _: () = assert!(size_of::<Fixed>() % 8 == 0 && align_of::<Fixed>() >= 8);

pub(crate) unsafe fn read_fixed(src: *const Fixed) -> Fixed {
    let mut out = core::mem::MaybeUninit::<Fixed>::uninit();
    let (from, to) = (src.cast::<u64>(), out.as_mut_ptr().cast::<u64>());
    for i in 0..size_of::<Fixed>() / 8 {
        // SAFETY: `i` stays within both 8-aligned, `size_of::<Fixed>()`-byte objects.
        unsafe { to.add(i).write(from.add(i).read_volatile()) };
    }
    // SAFETY: every byte was written (`Fixed` is a multiple of 8 bytes, pinned
    // above), and every bit pattern is a valid `Fixed`.
    unsafe { out.assume_init() }
}

/// A volatile copy of `*src` to `dst`, one `u64` at a time (as [`read_fixed`]).
///
/// # Safety
/// `dst` must be valid for writes of a `Fixed`.
#[cfg(any(test, target_pointer_width = "64"))]
unsafe fn write_fixed(dst: *mut Fixed, src: &Fixed) {
    let (from, to) = ((src as *const Fixed).cast::<u64>(), dst.cast::<u64>());
    for i in 0..size_of::<Fixed>() / 8 {
        // SAFETY: `i` stays within both 8-aligned, `size_of::<Fixed>()`-byte objects.
        unsafe { to.add(i).write_volatile(from.add(i).read()) };
    }
}

impl Header {
    /// Reads the write-once fields (and the creator word) in one pass, each word
    /// once, volatile (a peer may write them at any time): returns a copy of the
    /// fields before the name (written to `out` and borrowed from there: returned
    /// by value, it was copied to other stack slots, ~40 instructions of an open
    /// on a Cortex-M4), the checksum of what was read (FORMAT.md §3.5: the
    /// value [`Fixed::checksum`] gives for a whole copy), and whether the name
    /// field holds `name` followed by zeros (FORMAT.md §3.6, step 12). The name
    /// field is compared where it lies, not copied: a copy of all 256 bytes, then
    /// a second pass to hash and a third to compare, cost ~1,000 instructions of
    /// an open on a Cortex-M4.
    ///
    /// # Safety
    /// The header must be mapped (readable).
    #[inline(always)]
    pub(crate) unsafe fn read_checked<'h>(&self, name: &[u8], out: &'h mut MaybeUninit<Head>) -> (&'h Head, u64, bool) {
        // SAFETY: the caller's promise.
        #[cfg(not(target_pointer_width = "64"))]
        return unsafe { self.read_checked_in_place(name, out) };
        // On 64-bit targets a copy, then the hash and the compare, is the smaller
        // code (the 16 KiB budget of `examples/constrained`); the tests check both
        // against each other and the definitions.
        // SAFETY: the caller's promise.
        #[cfg(target_pointer_width = "64")]
        return unsafe { self.read_checked_by_copy(name, out) };
    }

    /// [`read_checked`](Self::read_checked) from a copy of all the fields.
    ///
    /// # Safety
    /// As for `read_checked`.
    #[cfg(any(test, target_pointer_width = "64"))]
    unsafe fn read_checked_by_copy<'h>(&self, name: &[u8], out: &'h mut MaybeUninit<Head>) -> (&'h Head, u64, bool) {
        // SAFETY: the header is mapped (the caller's promise); a volatile copy
        // tolerates a peer writing meanwhile, and any bytes are a `Fixed`.
        let f = unsafe { read_fixed(self.fixed.get()) };
        // Relaxed: as in `inspect`, ordered after its Acquire load of `state`.
        let creator = crate::primitive::widen(self.creator.load(Ordering::Relaxed));
        (out.write(f.head()), f.checksum(creator), f.holds_name_by_bytes(name))
    }

    /// [`read_checked`](Self::read_checked) in one pass over the fields where
    /// they lie, each word read once: no copy of the name field.
    ///
    /// # Safety
    /// As for `read_checked`.
    #[cfg(any(all(test, not(loom)), not(target_pointer_width = "64")))]
    #[inline(always)]
    unsafe fn read_checked_in_place<'h>(&self, name: &[u8], out: &'h mut MaybeUninit<Head>) -> (&'h Head, u64, bool) {
        const SEED: u64 = fingerprint::start("shmptr.fixed", 0, 0);
        let at = self.fixed.get().cast::<u32>();
        // SAFETY (each `read`): `i` is below `size_of::<Fixed>() / 4` (callers
        // below), the field is mapped (the caller's promise) and 8-aligned; a
        // volatile read tolerates a peer writing meanwhile.
        let read = |i: usize| {
            // SAFETY: as just said.
            u32::from_le(unsafe { at.add(i).read_volatile() })
        };
        // Relaxed: as in `inspect`, ordered after its Acquire load of `state`.
        let creator = crate::primitive::widen(self.creator.load(Ordering::Relaxed));
        let mut h = mix_word(mix_word(SEED, creator as u32), (creator >> 32) as u32);
        let to = out.as_mut_ptr().cast::<u32>();
        for i in 0..FIELD_WORDS {
            let word = read(i);
            // SAFETY: `Head` is `FIELD_WORDS` words (pinned above), 4-aligned.
            unsafe { to.add(i).write(u32::to_le(word)) };
            #[cfg(target_endian = "little")]
            {
                h = mix_word(h, word);
            }
        }
        // SAFETY: every word was written; any bits are a valid `Head`.
        let head = unsafe { out.assume_init_ref() };
        #[cfg(target_endian = "big")]
        for word in head.field_words_from_values() {
            h = mix_word(h, word);
        }
        // The stored name's words are in the checksum; `name`'s are compared.
        let stored = (head.name_len as usize).min(NAME_MAX).div_ceil(4);
        let mut diff = (head.name_len as usize != name.len() || name.len() > NAME_MAX) as u32;
        let name = &name[..name.len().min(NAME_MAX)];
        let mut i = 0;
        let mut chunks = name.chunks_exact(4);
        for chunk in &mut chunks {
            let word = read(FIELD_WORDS + i);
            if i < stored {
                h = mix_word(h, word);
            }
            diff |= word ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            i += 1;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The word the name ends in: its bytes past the name must be zero.
            let expected = rest.iter().rev().fold(0, |w, &b| w << 8 | b as u32);
            let word = read(FIELD_WORDS + i);
            if i < stored {
                h = mix_word(h, word);
            }
            diff |= word ^ expected;
            i += 1;
        }
        // Words a longer stored `name_len` covers: hashed, and must be zero here.
        while i < stored {
            let word = read(FIELD_WORDS + i);
            h = mix_word(h, word);
            diff |= word;
            i += 1;
        }
        // The rest of the field must be zero: to an 8-byte boundary, then 8 bytes
        // at a time (`Fixed` is 8-aligned, the name at a multiple of 8 in it).
        if i % 2 == 1 && i < NAME_WORDS {
            diff |= read(FIELD_WORDS + i);
            i += 1;
        }
        let mut tail = 0u64;
        let tail_at = |i: usize| {
            // SAFETY: as `read`, 8 bytes at an 8-aligned offset within `Fixed`:
            // `FIELD_WORDS + i` is even, and `i + 1 < NAME_WORDS` (below, `i` is
            // even and below NAME_WORDS, a multiple of 8; in the rounds, a
            // multiple of 8 itself, so `i + 7 < NAME_WORDS`).
            unsafe { at.add(FIELD_WORDS + i).cast::<u64>().read_volatile() }
        };
        while i % 8 != 0 {
            tail |= tail_at(i);
            i += 2;
        }
        // 32 bytes a round (NAME_WORDS is a multiple of 8).
        while i < NAME_WORDS {
            tail |= tail_at(i) | tail_at(i + 2) | tail_at(i + 4) | tail_at(i + 6);
            i += 8;
        }
        (head, h, diff == 0 && tail == 0)
    }

    /// Writes the identity words, the write-once fields and their checksum into a
    /// fresh, zeroed segment: the first part of [`lifecycle::initialize`], which
    /// then publishes `Initializing`. The caller owns the segment exclusively (it
    /// just created it).
    ///
    /// [`lifecycle::initialize`]: super::lifecycle::initialize
    pub(crate) fn write_once_fields(
        &self,
        kind: Kind,
        creator: ProcessId,
        name: Name<'_>,
        layout: &SegmentLayout,
        ty: &ValueType,
    ) {
        let name = name.as_bytes();
        let head = Head {
            kind: kind as u32,
            slot_count: layout.slot_count,
            total_len: layout.total_len as u64,
            value_offset: layout.value_offset as u64,
            value_size: layout.value_size as u64,
            value_align: layout.value_align as u64,
            fingerprint: ty.fingerprint,
            name_len: name.len() as u32,
            shape: ty.shape as u32,
            length: layout.length as u64,
        };
        // Relaxed: these identity words are published by the Release store of
        // `Initializing` that follows (`lifecycle::initialize`); openers read them
        // after an Acquire load of `state`.
        self.magic.store(MAGIC, Ordering::Relaxed);
        self.version.store(FORMAT_VERSION, Ordering::Relaxed);
        self.creator.store(creator.word(), Ordering::Relaxed);
        // The fields written where they lie, a word at a time, and hashed in the
        // same pass on 32-bit targets; on 64-bit ones a whole copy, written out,
        // then hashed (the hash shared with `read_checked`'s copy) is the smaller
        // code (the 16 KiB budget of `examples/constrained`); a test checks both
        // give the same bytes.
        // SAFETY: the caller created this segment exclusively, and nobody reads
        // the fixed fields before the Release store of `Ready` that the creator
        // does later; `fixed` and `checksum` are `UnsafeCell`s, valid for writes.
        #[cfg(not(target_pointer_width = "64"))]
        unsafe {
            self.write_fields_in_place(&head, name, creator.get())
        };
        // SAFETY: as just above.
        #[cfg(target_pointer_width = "64")]
        unsafe {
            self.write_fields_by_copy(&head, name, creator.get())
        };
    }

    /// The write-once fields `head` and `name` (and their checksum for `creator`)
    /// written where they lie, a word at a time, and hashed in the same pass (the
    /// checksum `Fixed::checksum` gives for them): building a whole `Fixed` first
    /// (its name field zeroed, then the name copied in), copying it out, then
    /// hashing it linked `memset` and `memcpy` into a Cortex-M4 firmware (~900
    /// bytes) and cost 256 bytes of stack.
    ///
    /// # Safety
    /// The fields and the checksum must be valid for writes, and not read
    /// meanwhile.
    #[cfg(any(all(test, not(loom)), not(target_pointer_width = "64")))]
    unsafe fn write_fields_in_place(&self, head: &Head, name: &[u8], creator: u64) {
        const SEED: u64 = fingerprint::start("shmptr.fixed", 0, 0);
        let mut h = mix_word(mix_word(SEED, creator as u32), (creator >> 32) as u32);
        let to = self.fixed.get().cast::<u32>();
        // SAFETY (each `write`): `i` is below `size_of::<Fixed>() / 4` (the
        // callers below), and the field 8-aligned, valid for writes (the caller's
        // promise).
        let write = |i: usize, word: u32| {
            // SAFETY: as just said.
            unsafe { to.add(i).write_volatile(word) };
        };
        // SAFETY: `Head` is `FIELD_WORDS` words (pinned above), 4-aligned, integers
        // with no padding: every word is initialized.
        let words = unsafe { &*(head as *const Head).cast::<[u32; FIELD_WORDS]>() };
        for (i, &word) in words.iter().enumerate() {
            write(i, word);
            #[cfg(target_endian = "little")]
            {
                h = mix_word(h, word);
            }
        }
        #[cfg(target_endian = "big")]
        for word in head.field_words_from_values() {
            h = mix_word(h, word);
        }
        // The name's words (the last one zero past the name), little-endian on any
        // target, in the checksum; then zeros to the end of the field (a fresh
        // segment is zero already; written anyway, as the name field's bytes).
        let mut i = 0;
        for chunk in name[..name.len().min(NAME_MAX)].chunks(4) {
            let word = chunk.iter().rev().fold(0, |w, &b| w << 8 | b as u32);
            write(FIELD_WORDS + i, u32::to_le(word));
            h = mix_word(h, word);
            i += 1;
        }
        while i < NAME_WORDS {
            write(FIELD_WORDS + i, 0);
            i += 1;
        }
        // SAFETY: valid for writes (the caller's promise).
        unsafe { self.checksum.get().write_volatile(h) };
    }

    /// [`write_fields_in_place`](Self::write_fields_in_place) through a whole
    /// copy of the fields.
    ///
    /// # Safety
    /// As for `write_fields_in_place`.
    #[cfg(any(test, target_pointer_width = "64"))]
    unsafe fn write_fields_by_copy(&self, head: &Head, name: &[u8], creator: u64) {
        let h = *head;
        #[rustfmt::skip]
        let mut fixed = Fixed {
            kind: h.kind, slot_count: h.slot_count, total_len: h.total_len, value_offset: h.value_offset,
            value_size: h.value_size, value_align: h.value_align, fingerprint: h.fingerprint,
            name_len: h.name_len, shape: h.shape, length: h.length, name: [0; NAME_MAX],
        };
        fixed.name[..name.len()].copy_from_slice(name);
        // SAFETY: the caller's promise.
        unsafe {
            write_fixed(self.fixed.get(), &fixed);
            self.checksum.get().write_volatile(fixed.checksum(creator));
        }
    }

    /// Looks at a mapped segment of `len` bytes as an opener: garbage is `Corrupt` at
    /// once, a well-formed header still being written (or still blank) is
    /// `NotReady`, whether or not its creator lives (the caller judges that, see
    /// `Backend::creator_liveness`), a finished one is validated against the
    /// expected kind, type and name. `len` is how many bytes are mapped from the
    /// header on.
    pub(crate) fn inspect(&self, len: usize, name: Name<'_>, ty: ValueType) -> Result<Inspection> {
        const DURING: &str = "validating the segment";
        let corrupt = Error::new(ErrorKind::Corrupt, DURING);
        // Acquire: pairs with the creator's Release stores of `Initializing`/`Ready`,
        // so the identity words and (when `Ready`) the fixed fields are visible.
        let raw_state = self.state.load(Ordering::Acquire);
        let magic = self.magic.load(Ordering::Relaxed);
        let version = self.version.load(Ordering::Relaxed);
        // A finished segment, the common case, in three compares on 32-bit targets:
        // the state is decoded only otherwise (25 instructions less of an open on a
        // Cortex-M4). Not on 64-bit ones, where it cost `examples/constrained` 48
        // bytes (`inspect` is inlined there).
        let finished = cfg!(not(target_pointer_width = "64"))
            && raw_state == State::Ready as u32
            && magic == MAGIC
            && version == FORMAT_VERSION;
        if !finished {
            let Some(state) = State::from_raw(raw_state) else { return Err(corrupt) };
            if state == State::Blank {
                // Between create and the store of `Initializing` the creator writes the
                // magic and the version (Relaxed), so an opener may see either, both or
                // neither of them already written: all are "not ready yet".
                return if (magic == 0 || magic == MAGIC) && (version == 0 || version == FORMAT_VERSION) {
                    Ok(Inspection::NotReady(State::Blank))
                } else {
                    Err(corrupt)
                };
            }
            if magic != MAGIC || version != FORMAT_VERSION {
                return Err(corrupt);
            }
            match state {
                State::Initializing => {
                    // A header being written names its creator.
                    return match ProcessId::from_word(self.creator.load(Ordering::Relaxed)) {
                        Some(_) => Ok(Inspection::NotReady(State::Initializing)),
                        None => Err(corrupt),
                    };
                }
                State::Destroying | State::Destroyed => return Ok(Inspection::Destroying),
                State::Blank | State::Ready => {}
            }
        }
        // Two statements, not a tuple: building one copied the 256 bytes again.
        let mut head = MaybeUninit::uninit();
        // SAFETY: the header is mapped (the caller checked the length); the reads
        // are volatile, made for bytes another process may write meanwhile, and
        // every bit pattern is a valid `Head` and `u64`.
        let (f, sum, named) = unsafe { self.read_checked(name.as_bytes(), &mut head) };
        // SAFETY: as just above, for the checksum word.
        let checksum = unsafe { self.checksum.get().read_volatile() };
        // Relaxed: `creator` and `reserved` were written before the Release store of
        // `Initializing`, which our Acquire load of `state` saw.
        if sum != checksum || self.reserved.load(Ordering::Relaxed) != 0 {
            return Err(corrupt);
        }
        let Some(found_kind) = Kind::from_raw(f.kind) else { return Err(corrupt) };
        // A slice's byte size, from its element count: never wrapped. A length
        // whose size overflows is no slice this target can map (`Unsupported`).
        // One value has none (its expected length is 0).
        let length = match ty.shape {
            Shape::One => 0,
            Shape::Slice => usize::try_from(f.length).unwrap_or(usize::MAX),
        };
        let size = ty.value_size(length);
        // Another kind, shape (a garbage one is left to the check below) or type,
        // decided before the size: a slice of another element is TypeMismatch even
        // if its length, sized as this element, would overflow.
        if found_kind != ty.kind
            || (f.shape != ty.shape as u32 && f.shape <= Shape::Slice as u32)
            || f.fingerprint != ty.fingerprint
            || f.value_align != ty.align.max(VALUE_MIN_ALIGN) as u64
        {
            return Err(Error::type_mismatch(size.map_or(u64::MAX, |s| s as u64), f.value_size));
        }
        let Some(size) = size else {
            return Err(Error::new(ErrorKind::Unsupported, SIZING));
        };
        // The right type, and a size it contradicts (the fingerprint covers one
        // value's size, the length a slice's), one value with a length, or a
        // garbage shape.
        if f.value_size != size as u64 || f.length != length as u64 || f.shape != ty.shape as u32 {
            return Err(corrupt);
        }
        // `name_len` above NAME_MAX, another name, or a non-zero byte after it.
        if !named {
            return Err(corrupt);
        }
        if f.slot_count > MAX_SLOTS || (ty.kind == Kind::Shared && f.slot_count == 0) {
            return Err(corrupt);
        }
        let Some(layout) = SegmentLayout::new(f.slot_count, size, ty.align) else { return Err(corrupt) };
        if layout.value_offset as u64 != f.value_offset
            || layout.total_len as u64 != f.total_len
            || layout.total_len > len
        {
            return Err(corrupt);
        }
        Ok(Inspection::Ready(SegmentLayout { length, ..layout }))
    }

    /// A copy of the write-once fields, if their checksum (and the reserved words)
    /// say a creator wrote them whole; `None` otherwise. Nothing else is checked.
    #[cfg(not(loom))] // only the untyped inspection uses it
    pub(crate) fn checked_fixed(&self) -> Option<Fixed> {
        // SAFETY: the caller maps at least a header (as for `inspect`); a volatile
        // copy tolerates a peer writing meanwhile, and any bytes are a `Fixed`.
        let (f, checksum) = unsafe { (read_fixed(self.fixed.get()), self.checksum.get().read_volatile()) };
        // Relaxed: untrusted words; the caller ordered its reads after the state's.
        let creator = crate::primitive::widen(self.creator.load(Ordering::Relaxed));
        let whole = f.checksum(creator) == checksum && self.reserved.load(Ordering::Relaxed) == 0;
        whole.then_some(f)
    }

    /// The kind and value type the checksummed write-once fields name, for the
    /// untyped operations (`crate::inspect`), which then validate the header
    /// against it with [`inspect`](Self::inspect) like any opener: `None` if the
    /// checksum fails, or the fields name no kind or sizes a real create never
    /// writes (an alignment that is not a power of two of at least 64). Only a
    /// hint: [`inspect`](Self::inspect) reads the fields again and checks all.
    #[cfg(not(loom))] // only the untyped inspection uses it
    pub(crate) fn value_type(&self) -> Option<ValueType> {
        let f = self.checked_fixed()?;
        let kind = Kind::from_raw(f.kind)?;
        let shape = Shape::from_raw(f.shape)?;
        let value_size = usize::try_from(f.value_size).ok()?;
        let align = usize::try_from(f.value_align).ok()?;
        if !align.is_power_of_two() || align < VALUE_MIN_ALIGN {
            return None;
        }
        // A slice's element size, from its byte size and length (none if empty).
        let size = match (shape, usize::try_from(f.length).ok()?) {
            (Shape::One, _) => value_size,
            (Shape::Slice, 0) => 0,
            (Shape::Slice, length) if value_size % length == 0 => value_size / length,
            (Shape::Slice, _) => return None,
        };
        Some(ValueType { kind, shape, size, align, fingerprint: f.fingerprint })
    }
}

/// A private copy of a segment's first bytes: the header and a whole slot table
/// (zeros past the end of the object). Inspection reads only such a copy, never a
/// peer's live bytes, so what it reports is one consistent snapshot and reading
/// it can never fault.
#[cfg(not(loom))]
#[repr(C)]
pub(crate) struct Snapshot {
    pub header: Header,
    pub slots: [Slot; MAX_SLOTS as usize],
}

#[cfg(not(loom))]
impl Snapshot {
    /// Copies `bytes` (a segment's first bytes; any more than a snapshot holds are
    /// ignored, any fewer leave zeros).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        let mut out = core::mem::MaybeUninit::<Snapshot>::zeroed();
        let n = bytes.len().min(size_of::<Snapshot>());
        // SAFETY: `n` bytes fit in both the source slice and the snapshot, which do
        // not overlap (the snapshot is a fresh local).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), n) };
        // SAFETY: every byte is initialised (zeroed, then copied), and any bytes are
        // a valid `Snapshot`: atomics and `UnsafeCell`s of plain integers only.
        unsafe { out.assume_init() }
    }

    /// Copies the first `len` bytes at `src` (at most a snapshot's worth), one
    /// volatile read at a time, since other processes may write them meanwhile.
    ///
    /// # Safety
    /// `src` must be 8-aligned and valid for reads of `len` bytes.
    pub(crate) unsafe fn from_shared(src: *const u8, len: usize) -> Self {
        let mut out = core::mem::MaybeUninit::<Snapshot>::zeroed();
        let n = len.min(size_of::<Snapshot>());
        let to = out.as_mut_ptr().cast::<u8>();
        let words = n / 8;
        for i in 0..words {
            // SAFETY: word `i` lies within the first `n` bytes of both, 8-aligned
            // (`src` by the caller, the snapshot by its alignment of 64).
            unsafe { to.cast::<u64>().add(i).write(src.cast::<u64>().add(i).read_volatile()) };
        }
        for i in words * 8..n {
            // SAFETY: byte `i` lies within the first `n` bytes of both.
            unsafe { to.add(i).write(src.add(i).read_volatile()) };
        }
        // SAFETY: as in `from_bytes`.
        unsafe { out.assume_init() }
    }
}

/// How many bytes of a segment inspection reads: a header and a full slot table.
#[cfg(not(loom))]
pub(crate) const SNAPSHOT_LEN: usize = size_of::<Snapshot>();

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// FORMAT.md §3.5 as written there, from the fields' values: FNV-1a over
    /// 32-bit words, the creator's two, each field's (a 64-bit one: its low word,
    /// then its high one), then the stored name field's bytes, 4 at a time,
    /// little-endian, through the word `name_len` ends in.
    fn checksum_as_specified(f: &Fixed, creator: u64) -> u64 {
        let mut h = fingerprint::start("shmptr.fixed", 0, 0);
        let mut mix = |w: u32| h = (h ^ u64::from(w)).wrapping_mul(0x0000_0100_0000_01b3);
        let mix64 = |v: u64, mix: &mut dyn FnMut(u32)| {
            mix(v as u32);
            mix((v >> 32) as u32);
        };
        mix64(creator, &mut mix);
        mix(f.kind);
        mix(f.slot_count);
        for v in [f.total_len, f.value_offset, f.value_size, f.value_align, f.fingerprint] {
            mix64(v, &mut mix);
        }
        mix(f.name_len);
        mix(f.shape);
        mix64(f.length, &mut mix);
        let end = (f.name_len as usize).min(NAME_MAX).div_ceil(4) * 4;
        for chunk in f.name[..end].chunks(4) {
            mix(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        }
        h
    }

    fn fixed(name: &[u8]) -> Fixed {
        let mut f = Fixed {
            kind: 1,
            slot_count: 4,
            total_len: 584,
            value_offset: 576,
            value_size: 8,
            value_align: 64,
            fingerprint: 0xaf4c_548b_cc96_4472,
            name_len: name.len() as u32,
            shape: 0,
            length: 0,
            name: [0; NAME_MAX],
        };
        f.name[..name.len()].copy_from_slice(name);
        f
    }

    #[test]
    fn the_checksum_is_the_one_format_md_specifies_for_every_field_value() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Fewer under Miri, which runs this about a thousand times slower.
        let rounds = if cfg!(miri) { 40 } else { 2_000 };
        for round in 0..rounds {
            let mut f = fixed(b"victim");
            // Values with zero and non-zero high halves, and garbage lengths.
            let pick = |v: u64, r: u64| if r % 3 == 0 { v & 0xffff_ffff } else { v };
            f.kind = next() as u32;
            f.slot_count = next() as u32;
            f.total_len = pick(next(), next());
            f.value_offset = pick(next(), next());
            f.value_size = pick(next(), next());
            f.value_align = pick(next(), next());
            f.fingerprint = pick(next(), next());
            f.name_len = (next() % 260) as u32;
            f.shape = if round % 2 == 0 { 0 } else { next() as u32 };
            f.length = pick(next(), next());
            for b in f.name.iter_mut() {
                *b = next() as u8;
            }
            let creator = pick(next(), next());
            assert_eq!(f.checksum(creator), checksum_as_specified(&f, creator));
            // What a big-endian target hashes for the fields, from their values.
            #[cfg(target_endian = "little")]
            assert_eq!(f.head().field_words_from_values()[..], f.words()[..FIELD_WORDS]);
        }
        // FORMAT.md's worked value.
        let f = fixed(b"victim");
        assert_eq!(f.checksum(0x07a4_0000_0000_7173), 0x1e3e_b0f8_4e9f_4beb);
    }

    #[test]
    fn a_stored_name_matches_only_itself_followed_by_zeros() {
        // Every length natively; under Miri (about a thousand times slower) the
        // lengths around each 8-byte word edge and the ends, and every byte.
        let lengths = (1..=NAME_MAX).filter(|&len| !cfg!(miri) || len % 8 <= 1 && !(24..=190).contains(&len));
        for len in lengths {
            let name: [u8; NAME_MAX] = core::array::from_fn(|i| b'a' + (i % 26) as u8);
            let name = &name[..len];
            let f = fixed(name);
            let holds = |f: &Fixed, name: &[u8]| read_checked_agrees(f, name);
            assert!(holds(&f, name), "length {len}");
            assert!(!holds(&f, &name[..len - 1]), "a prefix, length {len}");
            for at in 0..NAME_MAX {
                // Every byte of the field, in the name or in its zero tail.
                let mut g = fixed(name);
                g.name[at] ^= 0x20;
                assert!(!holds(&g, name), "byte {at} changed, length {len}");
            }
            let mut g = fixed(name);
            g.name_len += 1;
            assert!(!holds(&g, name), "a longer name_len, length {len}");
            g.name_len = u32::MAX;
            assert!(!holds(&g, name), "a garbage name_len, length {len}");
        }
    }

    /// A header holding `f` and a creator word.
    fn header_with(f: &Fixed, creator: u64) -> Header {
        // SAFETY: all zeros is a valid `Header` (atomics and `UnsafeCell`s of
        // integers).
        let header: Header = unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        // SAFETY: `header` is ours alone; the field is valid for writes.
        unsafe { write_fixed(header.fixed.get(), f) };
        header.creator.store(creator as crate::primitive::Word, Ordering::Relaxed);
        header
    }

    /// `Header::read_checked` over a header holding `f`, against the
    /// definitions: a copy of the fields before the name, `Fixed::checksum`, and
    /// the byte-by-byte name compare. Returns whether it says `name` is held.
    fn read_checked_agrees(f: &Fixed, name: &[u8]) -> bool {
        let creator = crate::primitive::widen(0x07a4_0000_0000_7173u64 as crate::primitive::Word);
        let header = header_with(f, creator);
        let (mut a, mut b) = (MaybeUninit::uninit(), MaybeUninit::uninit());
        // SAFETY: `header` is a whole header in our memory.
        let (head, sum, named) = unsafe { header.read_checked_in_place(name, &mut a) };
        // SAFETY: as just above.
        let by_copy = unsafe { header.read_checked_by_copy(name, &mut b) };
        assert_eq!(
            (by_copy.0.field_words_from_values(), by_copy.1, by_copy.2),
            (head.field_words_from_values(), sum, named)
        );
        assert_eq!(head.field_words_from_values(), f.head().field_words_from_values(), "the fields");
        assert_eq!(sum, f.checksum(creator), "the checksum");
        assert_eq!(named, f.holds_name_by_bytes(name), "the name compare");
        named
    }

    #[test]
    fn read_checked_gives_the_checksum_of_the_whole_fields_for_any_name_len() {
        // A stored `name_len` other than the name's (shorter, longer, garbage):
        // the checksum still covers the stored length's words.
        let name = b"victim.of.a.rather.long.name";
        for stored in [0u32, 1, 3, 4, 5, 6, 27, 28, 29, 100, 191, 192, 193, 4096, u32::MAX] {
            let mut f = fixed(name);
            f.name_len = stored;
            for (i, b) in f.name.iter_mut().enumerate().skip(name.len()) {
                *b = (i % 7) as u8;
            }
            assert!(!read_checked_agrees(&f, name), "stored name_len {stored}");
            assert!(!read_checked_agrees(&f, &name[..6]), "stored name_len {stored}");
        }
    }

    #[test]
    fn both_ways_of_writing_the_fields_write_the_same_bytes_and_checksum() {
        let creator = 0x07a4_0000_0000_7173;
        let lengths = (1..=NAME_MAX).filter(|&len| !cfg!(miri) || len % 8 <= 1 && !(24..=190).contains(&len));
        for len in lengths {
            let name: [u8; NAME_MAX] = core::array::from_fn(|i| b'a' + (i % 26) as u8);
            let f = fixed(&name[..len]);
            // Garbage where the fields go: both must write every byte of them.
            let mut garbage = fixed(&[0xa5; NAME_MAX]);
            garbage.name_len = 7;
            let (a, b) = (header_with(&garbage, 1), header_with(&garbage, 1));
            // SAFETY: the headers are ours alone, whole, in our memory.
            unsafe {
                a.write_fields_in_place(&f.head(), &name[..len], creator);
                b.write_fields_by_copy(&f.head(), &name[..len], creator);
            }
            // SAFETY: as above.
            let (fa, fb) = unsafe { (read_fixed(a.fixed.get()), read_fixed(b.fixed.get())) };
            assert_eq!(fa.words(), fb.words(), "length {len}");
            assert_eq!(fa.words(), f.words(), "length {len}");
            // SAFETY: as above.
            let (ca, cb) = unsafe { (a.checksum.get().read(), b.checksum.get().read()) };
            assert_eq!(
                (ca, cb),
                (checksum_as_specified(&f, creator), checksum_as_specified(&f, creator)),
                "length {len}"
            );
        }
    }
}
