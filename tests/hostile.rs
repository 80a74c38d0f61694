//! Untrusted segment bytes on the arena backend.
//!
//! A hostile or buggy process can put any bytes under a name. `open`, `reclaim` and
//! `claim` must then return an error or a valid handle: never panic, never hand out
//! a handle to a value the bytes do not really describe, never leak a mapping.
//!
//! Three properties (proptest) and a set of precise, deterministic cases:
//! - arbitrary bytes of arbitrary length (biased towards the header size and the
//!   real segment lengths, and towards a plausible magic/version/state prefix);
//! - real segments with a few bytes changed: a change to the checksummed
//!   write-once fields is always an error;
//! - forged headers whose checksum is *valid* but whose fields may lie: a handle is
//!   only ever handed out for a header that describes exactly what a real create
//!   would have written, and whose object is long enough for it.
//!
//! Each is run on one `u64` and on slices `[u64]` of run-time length (format
//! version 2: `shape`, `length`), and every planted object is tried as both: a
//! slice handle must have exactly the header's length and see exactly the planted
//! bytes, and a slice is never opened as one value nor one value as a slice.
//!
//! Copies of real segments are planted under the name they were created with: the
//! segment stores its name and `open` checks it, so a copy of the right kind and
//! type under any other name is `Corrupt` (a deterministic test below shows that;
//! the kind and type are checked first, so another kind or type is `TypeMismatch`),
//! which would make the mutation property vacuous.
//!
//! The forger writes segments by hand following `FORMAT.md`, the byte-level
//! specification of the segment format.

use std::cell::Cell;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shmptr::{
    fingerprint, ErrorKind, Options, Platform, ProcessId, ShmSafe, HEADER_BYTES, MAX_SLOTS, NAME_MAX, SLOT_BYTES,
};
use shmptr_arena::{arena_space, Arena, Shared, Space, Unique};

mod common;
use common::as_process;

/// The open timeout used throughout (arena time is simulated: waiting is instant).
const TIMEOUT: Duration = Duration::from_millis(20);
/// The name every planted object lives under.
const VICTIM: &str = "victim";
/// The value real segments hold; element `i` of a real slice holds `VALUE + i`.
const VALUE: u64 = 0x1122_3344_5566_7788;
/// How many elements the real slice segments of the mutation properties hold.
const SLICE_LEN: u64 = 5;

// Segment format, from src/segment/header.rs (pinned there with static assertions).
const MAGIC: &[u8; 4] = b"SHMP";
const VERSION: u32 = 2;
const BLANK: u32 = 0;
const INITIALIZING: u32 = 0x494e_4954;
const READY: u32 = 0x5245_4459;
const DESTROYING: u32 = 0x4453_5459;
const DESTROYED: u32 = 0x4445_4144;
const STATES: [u32; 5] = [BLANK, INITIALIZING, READY, DESTROYING, DESTROYED];
/// Magic, version and state: the identity words checked before anything else.
const IDENTITY: Range<usize> = 0..12;
/// A reserved word that must be zero.
const RESERVED_AT: usize = 12;
const CREATOR_AT: usize = 16;
/// The write-once fields (`Fixed`, 24..280) and their checksum (280..288).
const WRITE_ONCE: Range<usize> = 24..288;
/// What a `Ready` segment's validation covers besides the identity words: the
/// reserved word (must be zero), the creator (in the checksum) and the write-once
/// fields with their checksum.
const VALIDATED: Range<usize> = RESERVED_AT..288;
const FIXED_AT: usize = 24;
const CHECKSUM_AT: usize = 280;
const MEMBERS_AT: usize = 288;
const OWNER_AT: usize = 296;
const DESTROYER_AT: usize = 304;
const SLOTS_USED_AT: usize = 312;
const WAITING_AT: usize = 316;
const KIND_SHARED: u32 = 1;
const KIND_UNIQUE: u32 = 2;
const VALUE_MIN_ALIGN: u64 = 64;

/// 256 cases per property (4 under Miri); `PROPTEST_CASES` overrides it for a
/// longer hunt.
fn config() -> Config {
    let base = Config::default();
    let cases = if cfg!(miri) {
        4
    } else if std::env::var_os("PROPTEST_CASES").is_some() {
        base.cases
    } else {
        256
    };
    Config { cases, failure_persistence: None, ..base }
}

fn short<H>(options: Options<H>) -> Options<H> {
    options.timeout(TIMEOUT)
}

/// Where the value of a `u64` segment with `slots` slots lives, and the total length.
fn layout(slots: u64) -> (u64, u64) {
    layout_of(slots, 8)
}

/// Where a value of `size` bytes aligned to at most 64 (one `u64`, or a slice of
/// them) lives with `slots` slots, and the total length (wrapping, as a forger may).
fn layout_of(slots: u64, size: u64) -> (u64, u64) {
    let value_offset = (HEADER_BYTES as u64 + SLOT_BYTES as u64 * slots).next_multiple_of(VALUE_MIN_ALIGN);
    (value_offset, value_offset.wrapping_add(size))
}

/// Element `i` of a real slice.
fn element(i: u64) -> u64 {
    VALUE.wrapping_add(i)
}

/// A digest of a slice's elements, in order.
fn digest(items: impl IntoIterator<Item = u64>) -> u64 {
    items.into_iter().fold(fingerprint::start("elements", 0, 0), fingerprint::word)
}

/// What a handle to the `u64`s stored (little-endian) in `bytes` must read.
fn digest_of(bytes: &[u8]) -> u64 {
    digest(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())))
}

const SHARED_SLOTS: u64 = MAX_SLOTS as u64;

fn shared_len() -> usize {
    layout(SHARED_SLOTS).1 as usize
}

fn unique_len() -> usize {
    layout(0).1 as usize
}

fn now<S: Space>() -> u64 {
    <Arena<S> as Platform>::now_nanos()
}

// ---- What an operation on a planted object did ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A handle to one `u64` was handed out; it read this value.
    Handle(u64),
    /// A handle to a `[u64]` was handed out: its length and the [`digest`] of the
    /// elements it read.
    Elements(u64, u64),
    /// `reclaim` returned this count.
    Reclaimed(u32),
    Failed(ErrorKind),
}

impl Outcome {
    fn is_handle(self) -> bool {
        matches!(self, Outcome::Handle(_) | Outcome::Elements(..))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Open,
    Reclaim,
    Claim,
    /// `Shared::<[u64]>::open`.
    OpenSlice,
    /// `Shared::<[u64]>::reclaim`.
    ReclaimSlice,
    /// `Unique::<[u64]>::claim`.
    ClaimSlice,
}

const ALL_OPS: [Op; 6] = [Op::Open, Op::Reclaim, Op::Claim, Op::OpenSlice, Op::ReclaimSlice, Op::ClaimSlice];

impl Op {
    /// The kind of object the operation takes.
    fn kind(self) -> u32 {
        match self {
            Op::Claim | Op::ClaimSlice => KIND_UNIQUE,
            _ => KIND_SHARED,
        }
    }

    /// Whether it takes a `[u64]` rather than one `u64`.
    fn slice(self) -> bool {
        matches!(self, Op::OpenSlice | Op::ReclaimSlice | Op::ClaimSlice)
    }

    fn reclaims(self) -> bool {
        matches!(self, Op::Reclaim | Op::ReclaimSlice)
    }

    /// The operation that takes `kind`, one value or a slice.
    fn taking(kind: u32, slice: bool) -> Op {
        match (kind, slice) {
            (KIND_SHARED, false) => Op::Open,
            (KIND_SHARED, true) => Op::OpenSlice,
            (_, false) => Op::Claim,
            (_, true) => Op::ClaimSlice,
        }
    }
}

/// What a handle taken by `op` must read from a planted `bytes` whose header says
/// the value is at `value_offset` (a slice: of `length` elements).
fn handle_reading(op: Op, bytes: &[u8], value_offset: u64, length: u64) -> Outcome {
    let at = value_offset as usize;
    if op.slice() {
        Outcome::Elements(length, digest_of(&bytes[at..at + 8 * length as usize]))
    } else {
        Outcome::Handle(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()))
    }
}

/// Runs `op` on `VICTIM` and uses what it returns the way a program would. `Err`
/// for a broken invariant of a handle that was handed out.
fn run_op<S: Space>(op: Op) -> Result<Outcome, String> {
    match op {
        Op::Open => match Shared::<u64, S>::options().timeout(TIMEOUT).open(VICTIM) {
            Ok(handle) => {
                let value = *handle;
                let clone = handle.clone();
                let strong = Shared::strong_count(&clone);
                let processes = Shared::process_count(&handle);
                drop(clone);
                drop(handle);
                if strong < 2 {
                    return Err(format!("strong_count {strong} with two handles alive"));
                }
                if processes < 1 {
                    return Err(format!("process_count {processes} while this process holds it"));
                }
                Ok(Outcome::Handle(value))
            }
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
        Op::Reclaim => match Shared::<u64, S>::options().timeout(TIMEOUT).reclaim(VICTIM) {
            Ok(n) if n > MAX_SLOTS => Err(format!("reclaimed {n} holders of at most {MAX_SLOTS} slots")),
            Ok(n) => Ok(Outcome::Reclaimed(n)),
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
        Op::Claim => match short(Unique::<u64, S>::options()).claim(VICTIM) {
            Ok(mut handle) => {
                let value = *handle;
                *handle = value.wrapping_add(1);
                if *handle != value.wrapping_add(1) {
                    return Err("a claimed value does not keep what was written".into());
                }
                drop(handle);
                Ok(Outcome::Handle(value))
            }
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
        Op::OpenSlice => match Shared::<[u64], S>::options().timeout(TIMEOUT).open(VICTIM) {
            Ok(handle) => {
                // Every element is read: under Miri, a slice that reached past the
                // object would be an out-of-bounds read.
                let (length, read) = (handle.len() as u64, digest(handle.iter().copied()));
                let clone = handle.clone();
                if clone.len() != handle.len() || digest(clone.iter().copied()) != read {
                    return Err("a clone sees another slice".into());
                }
                let strong = Shared::strong_count(&clone);
                drop(clone);
                drop(handle);
                if strong < 2 {
                    return Err(format!("strong_count {strong} with two handles alive"));
                }
                Ok(Outcome::Elements(length, read))
            }
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
        Op::ReclaimSlice => match Shared::<[u64], S>::options().timeout(TIMEOUT).reclaim(VICTIM) {
            Ok(n) if n > MAX_SLOTS => Err(format!("reclaimed {n} holders of at most {MAX_SLOTS} slots")),
            Ok(n) => Ok(Outcome::Reclaimed(n)),
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
        Op::ClaimSlice => match short(Unique::<[u64], S>::options()).claim(VICTIM) {
            Ok(mut handle) => {
                let (length, read) = (handle.len() as u64, digest(handle.iter().copied()));
                for item in handle.iter_mut() {
                    *item = item.wrapping_add(1);
                }
                if digest(handle.iter().map(|x| x.wrapping_sub(1))) != read {
                    return Err("a claimed slice does not keep what was written".into());
                }
                drop(handle);
                Ok(Outcome::Elements(length, read))
            }
            Err(e) => Ok(Outcome::Failed(e.kind())),
        },
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".into())
}

/// Plants `bytes` under `VICTIM`, runs `op` on it (a panic fails the case), then
/// removes the name and checks that every byte of the arena is free again: no
/// mapping was leaked. Returns what `op` did and how much simulated time it took.
fn on_planted<S: Space>(bytes: &[u8], op: Op) -> Result<(Outcome, u64), TestCaseError> {
    let free = Arena::<S>::free_bytes();
    Arena::<S>::plant(VICTIM, bytes).map_err(|e| TestCaseError::fail(format!("planting: {e}")))?;
    let start = now::<S>();
    let outcome = catch_unwind(AssertUnwindSafe(|| run_op::<S>(op)));
    let elapsed = now::<S>() - start;
    match Arena::<S>::remove(VICTIM) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(TestCaseError::fail(format!("removing: {e}"))),
    }
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(broken)) => return Err(TestCaseError::fail(format!("{op:?} misbehaved: {broken}"))),
        Err(payload) => {
            return Err(TestCaseError::fail(format!("{op:?} panicked: {}", panic_message(&*payload))));
        }
    };
    prop_assert_eq!(Arena::<S>::free_bytes(), free, "{:?} -> {:?} leaked a mapping", op, outcome);
    Ok((outcome, elapsed))
}

// ---- Arbitrary bytes ----

/// Arbitrary bytes, optionally with a plausible prefix so that the deeper checks
/// (state, creator, checksum) are reached, not only the magic check.
#[derive(Clone, Debug)]
struct Planted {
    bytes: Vec<u8>,
    /// `(magic, version, state, creator)` written over the start.
    prefix: Option<([u8; 4], u32, u32, u64)>,
}

impl Planted {
    fn materialise(&self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        if let Some((magic, version, state, creator)) = self.prefix {
            let mut header = Vec::new();
            header.extend_from_slice(&magic);
            header.extend_from_slice(&version.to_le_bytes());
            header.extend_from_slice(&state.to_le_bytes());
            header.extend_from_slice(&[0; 4]);
            header.extend_from_slice(&creator.to_le_bytes());
            let n = header.len().min(bytes.len());
            bytes[..n].copy_from_slice(&header[..n]);
        }
        bytes
    }
}

fn planted() -> impl Strategy<Value = Planted> {
    let shared = shared_len();
    let unique = unique_len();
    let len = prop_oneof![
        4 => 0..=2048usize,
        2 => (HEADER_BYTES - 16)..=(HEADER_BYTES + 16),
        1 => (shared - 16)..=(shared + 16),
        1 => (unique - 16)..=(unique + 16),
    ];
    let state = prop_oneof![3 => proptest::sample::select(STATES.to_vec()), 1 => any::<u32>()];
    // 1 is this process, 2 a live one, 3 a dead one, 200 one the arena never made.
    let creator = prop_oneof![proptest::sample::select(vec![0u64, 1, 2, 3, 200]), any::<u64>()];
    let magic = prop_oneof![3 => Just(*MAGIC), 1 => any::<[u8; 4]>()];
    let version = prop_oneof![3 => Just(VERSION), 1 => Just(0u32), 1 => any::<u32>()];
    let prefix = proptest::option::weighted(0.5, (magic, version, state, creator));
    (len.prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n)), prefix)
        .prop_map(|(bytes, prefix)| Planted { bytes, prefix })
}

/// Spawns process 2 (left alive) and process 3 (killed), the ids the strategies use.
fn live_and_dead<S: Space>() -> (ProcessId, ProcessId) {
    let live = Arena::<S>::spawn();
    let dead = Arena::<S>::spawn();
    // SAFETY: `dead` was just spawned: it made nothing, and nothing runs as it.
    unsafe { Arena::<S>::kill(dead) };
    assert_eq!((live.get(), dead.get()), (2, 3), "the strategies name these ids");
    (live, dead)
}

#[test]
fn arbitrary_bytes_never_panic_and_never_open_as_a_value_or_a_slice() {
    arena_space!(S, 1 << 20);
    live_and_dead::<S>();
    let total = Arena::<S>::free_bytes();
    let mut runner = TestRunner::new(config());
    runner
        .run(&planted(), |planted| {
            let bytes = planted.materialise();
            for op in ALL_OPS {
                let (outcome, elapsed) = on_planted::<S>(&bytes, op)?;
                // The checksum of random write-once fields never matches (2^-64).
                prop_assert!(!outcome.is_handle(), "{:?} handed out a handle: {:?}", op, outcome);
                if let Outcome::Reclaimed(n) = outcome {
                    prop_assert_eq!(n, 0, "reclaimed holders of a segment that never validated");
                }
                if bytes.is_empty() {
                    // A creator that died before sizing its file (issue 13).
                    prop_assert_eq!(outcome, empty_file_outcome(op), "{:?}: empty object", op);
                } else if bytes.len() < HEADER_BYTES {
                    prop_assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{:?}: short object", op);
                } else {
                    let state = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
                    let magic_ok = &bytes[0..4] == MAGIC && bytes[4..8] == VERSION.to_le_bytes();
                    if !STATES.contains(&state) || (state != BLANK && !magic_ok) {
                        // Garbage is recognised at once, without waiting.
                        prop_assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{:?}: garbage", op);
                        prop_assert_eq!(elapsed, 0, "{:?}: garbage must be Corrupt at once", op);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(Arena::<S>::free_bytes(), total);
}

// ---- Real segments, a few bytes changed ----

/// The bytes of a real `Shared<u64>` holding `VALUE`, whose only holder is `holder`
/// (left alive), and of a released `Unique<u64>` holding `VALUE`. The real objects
/// are destroyed afterwards: only the copies remain.
fn real_segments<S: Space>(holder: ProcessId) -> (Vec<u8>, Vec<u8>) {
    let shared = as_process::<S, _>(holder, || {
        let handle = Shared::<u64, S>::create(VICTIM, VALUE).unwrap();
        // SAFETY: single-threaded, and no reference into the object is held across it.
        let bytes = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.to_vec()) }.unwrap();
        drop(handle);
        bytes
    });
    assert!(!Arena::<S>::exists(VICTIM));
    let handle = Unique::<u64, S>::create(VICTIM, VALUE).unwrap();
    Unique::release(handle);
    // SAFETY: as above.
    let unique = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.to_vec()) }.unwrap();
    drop(Unique::<u64, S>::claim(VICTIM).unwrap());
    assert!(!Arena::<S>::exists(VICTIM));
    assert_eq!((shared.len(), unique.len()), (shared_len(), unique_len()));
    (shared, unique)
}

/// As [`real_segments`], for a `Shared<[u64]>` and a `Unique<[u64]>` of `length`
/// elements, element `i` holding [`element`]`(i)`.
fn real_slice_segments<S: Space>(holder: ProcessId, length: u64) -> (Vec<u8>, Vec<u8>) {
    let items: Vec<u64> = (0..length).map(element).collect();
    let shared = as_process::<S, _>(holder, || {
        let handle = Shared::<[u64], S>::from_slice(VICTIM, &items).unwrap();
        // SAFETY: single-threaded, and no reference into the object is held across it.
        let bytes = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.to_vec()) }.unwrap();
        drop(handle);
        bytes
    });
    assert!(!Arena::<S>::exists(VICTIM));
    let handle = Unique::<[u64], S>::from_slice(VICTIM, &items).unwrap();
    Unique::release(handle);
    // SAFETY: as above.
    let unique = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.to_vec()) }.unwrap();
    drop(Unique::<[u64], S>::claim(VICTIM).unwrap());
    assert!(!Arena::<S>::exists(VICTIM));
    assert_eq!(
        (shared.len() as u64, unique.len() as u64),
        (layout_of(SHARED_SLOTS, 8 * length).1, layout_of(0, 8 * length).1)
    );
    (shared, unique)
}

fn mutations(len: usize) -> impl Strategy<Value = Vec<(usize, u8)>> {
    let offset = prop_oneof![
        3 => 0..len,
        3 => WRITE_ONCE,
        1 => VALIDATED,
        1 => IDENTITY,
        1 => MEMBERS_AT..HEADER_BYTES,
        1 => (len - 8)..len,
    ];
    proptest::collection::vec((offset, any::<u8>()), 1..8)
}

/// A real segment the mutation property starts from.
struct Original {
    bytes: Vec<u8>,
    kind: u32,
    /// `Some(length)` for a slice.
    slice: Option<u64>,
    value_at: usize,
}

/// Checks what `op` did on `mutated`, a changed copy of `original`.
fn check_mutated(original: &Original, mutated: &[u8], op: Op, outcome: Outcome) -> Result<(), TestCaseError> {
    let Original { bytes: ref original, kind, slice, value_at } = *original;
    let changed = |r: Range<usize>| original[r.clone()] != mutated[r];
    // Another kind, or the other shape: one value taken as a slice or a slice as
    // one value.
    let other_kind = op.kind() != kind || op.slice() != slice.is_some();
    if other_kind {
        // A copy that looks like the other kind or shape has a broken checksum.
        prop_assert!(!outcome.is_handle(), "{:?} of the other kind: {:?}", op, outcome);
        if !changed(IDENTITY) && !op.reclaims() {
            prop_assert!(
                matches!(outcome, Outcome::Failed(ErrorKind::Corrupt | ErrorKind::TypeMismatch)),
                "{:?} of the other kind: {:?}",
                op,
                outcome
            );
        }
    }
    if changed(WRITE_ONCE) {
        prop_assert!(!outcome.is_handle(), "{:?} handed out a handle for changed write-once fields", op);
    }
    if changed(VALIDATED) && !changed(IDENTITY) {
        // Still `Ready`: validated in full, so refused at once.
        prop_assert!(
            matches!(outcome, Outcome::Failed(ErrorKind::Corrupt | ErrorKind::TypeMismatch)),
            "{:?} with changed write-once fields, creator or reserved word: {:?}",
            op,
            outcome
        );
    }
    if outcome.is_handle() {
        // Only unchanged write-once fields get here: the header's own length, and
        // the value bytes as planted (changed or not).
        let expected = handle_reading(op, mutated, value_at as u64, slice.unwrap_or(0));
        prop_assert_eq!(outcome, expected, "{:?} read another value than the segment holds", op);
    }
    if original == mutated && !other_kind {
        let value = handle_reading(op, original, value_at as u64, slice.unwrap_or(0));
        prop_assert!(
            outcome == value || outcome == Outcome::Reclaimed(0),
            "{:?} of an unchanged copy: {:?}",
            op,
            outcome
        );
    }
    Ok(())
}

/// The mutation property on a real segment of `kind`: one `u64`, or (`slice`) a
/// `[u64]` of [`SLICE_LEN`] elements. Every operation, of either kind and shape,
/// is tried on every mutated copy.
fn mutated_real_segments_never_panic<S: Space>(kind: u32, slice: bool) {
    let (live, _dead) = live_and_dead::<S>();
    let (shared, unique) = if slice { real_slice_segments::<S>(live, SLICE_LEN) } else { real_segments::<S>(live) };
    let slots = if kind == KIND_SHARED { SHARED_SLOTS } else { 0 };
    let original = Original {
        bytes: if kind == KIND_SHARED { shared } else { unique },
        kind,
        slice: slice.then_some(SLICE_LEN),
        value_at: layout(slots).0 as usize,
    };
    let total = Arena::<S>::free_bytes();
    let mut runner = TestRunner::new(config());
    runner
        .run(&mutations(original.bytes.len()), |changes| {
            let mut mutated = original.bytes.clone();
            for &(at, byte) in &changes {
                mutated[at] = byte;
            }
            for op in ALL_OPS {
                let (outcome, _) = on_planted::<S>(&mutated, op)?;
                check_mutated(&original, &mutated, op, outcome)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(Arena::<S>::free_bytes(), total);
}

#[test]
fn mutated_shared_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_SHARED, false);
}

#[test]
fn mutated_unique_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_UNIQUE, false);
}

#[test]
fn mutated_shared_slice_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_SHARED, true);
}

#[test]
fn mutated_unique_slice_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_UNIQUE, true);
}

// ---- Forged headers with a valid checksum ----

/// Every field of a segment header plus slot 0, to write any header we like.
#[derive(Clone, Debug)]
struct Forge {
    state: u32,
    /// The header's reserved word (must be zero).
    header_reserved: u32,
    creator: u64,
    kind: u32,
    slot_count: u32,
    total_len: u64,
    value_offset: u64,
    value_size: u64,
    value_align: u64,
    fingerprint: u64,
    name_len: u32,
    /// 0: one value; 1: a slice of `length` elements.
    shape: u32,
    /// A slice's element count; 0 for one value.
    length: u64,
    name: [u8; NAME_MAX],
    /// `None`: the correct checksum.
    checksum: Option<u64>,
    members: u64,
    owner: u64,
    destroyer: u64,
    /// One past the highest slot ever reserved (untrusted: only bounds scans).
    slots_used: u32,
    /// Non-zero once an opener sleeps on the state word.
    waiting: u32,
    /// Slot 0's owner and handle count.
    slot0: (u64, u64),
    /// How many `u64`s to plant at `value_offset`: [`element`]`(i)` for each `i`
    /// (not a header field: lies leave it alone).
    elements: u64,
}

impl Forge {
    /// What a real create of a `u64` writes for `kind` by `creator`.
    fn real(kind: u32, creator: u64) -> Self {
        let slot_count = if kind == KIND_SHARED { MAX_SLOTS } else { 0 };
        let (value_offset, total_len) = layout(slot_count.into());
        let mut name = [0; NAME_MAX];
        name[..VICTIM.len()].copy_from_slice(VICTIM.as_bytes());
        Forge {
            state: READY,
            header_reserved: 0,
            creator,
            kind,
            slot_count,
            total_len,
            value_offset,
            value_size: 8,
            value_align: VALUE_MIN_ALIGN,
            fingerprint: <u64 as ShmSafe>::FINGERPRINT,
            name_len: VICTIM.len() as u32,
            shape: 0,
            length: 0,
            name,
            checksum: None,
            members: if kind == KIND_SHARED { 1 } else { 0 },
            owner: 0,
            destroyer: 0,
            slots_used: if kind == KIND_SHARED { 1 } else { 0 },
            waiting: 0,
            slot0: if kind == KIND_SHARED { (creator, 1) } else { (0, 0) },
            elements: 1,
        }
    }

    /// What a real create of a `[u64]` of `length` elements writes for `kind` by
    /// `creator`: shape 1, the element's fingerprint, `value_size = 8 * length`.
    fn real_slice(kind: u32, creator: u64, length: u64) -> Self {
        let mut forge = Forge::real(kind, creator);
        forge.shape = 1;
        forge.length = length;
        forge.value_size = 8 * length;
        (forge.value_offset, forge.total_len) = layout_of(forge.slot_count.into(), forge.value_size);
        forge.elements = length;
        forge
    }

    /// The checksum over the write-once fields and the creator word, as
    /// src/segment/header.rs computes it.
    fn correct_checksum(&self) -> u64 {
        // FNV-1a over 32-bit words: the creator's, the fields' (a u64 as its low
        // word, then its high one), then the name field's through the word
        // `name_len` ends in, 4 stored bytes each, little-endian.
        let mut words = vec![self.creator as u32, (self.creator >> 32) as u32, self.kind, self.slot_count];
        for v in [self.total_len, self.value_offset, self.value_size, self.value_align, self.fingerprint] {
            words.extend([v as u32, (v >> 32) as u32]);
        }
        words.extend([self.name_len, self.shape, self.length as u32, (self.length >> 32) as u32]);
        let end = (self.name_len as usize).min(NAME_MAX).div_ceil(4) * 4;
        words.extend(self.name[..end].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())));
        let start = fingerprint::start("shmptr.fixed", 0, 0);
        words.into_iter().fold(start, |h, w| (h ^ u64::from(w)).wrapping_mul(0x0000_0100_0000_01b3))
    }

    /// `len` bytes: the header, slot 0, and `elements` values from `value_offset`
    /// as far as they fit.
    fn bytes(&self, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len.max(HEADER_BYTES + SLOT_BYTES)];
        let room = b.len() as u64;
        let mut put = |at: usize, bytes: &[u8]| {
            let end = at + bytes.len();
            if end <= b.len() {
                b[at..end].copy_from_slice(bytes);
            }
        };
        put(0, MAGIC);
        put(4, &VERSION.to_le_bytes());
        put(8, &self.state.to_le_bytes());
        put(RESERVED_AT, &self.header_reserved.to_le_bytes());
        put(CREATOR_AT, &self.creator.to_le_bytes());
        let f = FIXED_AT;
        put(f, &self.kind.to_le_bytes());
        put(f + 4, &self.slot_count.to_le_bytes());
        put(f + 8, &self.total_len.to_le_bytes());
        put(f + 16, &self.value_offset.to_le_bytes());
        put(f + 24, &self.value_size.to_le_bytes());
        put(f + 32, &self.value_align.to_le_bytes());
        put(f + 40, &self.fingerprint.to_le_bytes());
        put(f + 48, &self.name_len.to_le_bytes());
        put(f + 52, &self.shape.to_le_bytes());
        put(f + 56, &self.length.to_le_bytes());
        put(f + 64, &self.name);
        put(CHECKSUM_AT, &self.checksum.unwrap_or_else(|| self.correct_checksum()).to_le_bytes());
        put(MEMBERS_AT, &self.members.to_le_bytes());
        put(OWNER_AT, &self.owner.to_le_bytes());
        put(DESTROYER_AT, &self.destroyer.to_le_bytes());
        put(SLOTS_USED_AT, &self.slots_used.to_le_bytes());
        put(WAITING_AT, &self.waiting.to_le_bytes());
        put(HEADER_BYTES, &self.slot0.0.to_le_bytes());
        put(HEADER_BYTES + 8, &self.slot0.1.to_le_bytes());
        if self.value_offset <= 1 << 20 {
            for i in 0..self.elements.min(room / 8) {
                put((self.value_offset + 8 * i) as usize, &element(i).to_le_bytes());
            }
        }
        b.truncate(len);
        b
    }

    /// Whether the write-once fields say exactly what a real create of a `u64`
    /// segment (`slice`: a `[u64]` segment of the stored length) of `kind` with this
    /// slot count writes, and `len` bytes hold it all: the only headers a handle
    /// may be handed out for.
    fn describes_a_real_segment(&self, kind: u32, len: usize, slice: bool) -> bool {
        let slots_ok = match kind {
            KIND_SHARED => (1..=MAX_SLOTS).contains(&self.slot_count),
            _ => self.slot_count <= MAX_SLOTS,
        };
        let (shape, size) = match slice {
            false => (0, Some(8)),
            true => (1, self.length.checked_mul(8)),
        };
        let Some(size) = size else { return false };
        let (value_offset, total_len) = layout_of(self.slot_count.into(), size);
        self.checksum.is_none_or(|c| c == self.correct_checksum())
            && self.kind == kind
            && slots_ok
            && self.value_offset == value_offset
            && total_len >= value_offset
            && self.total_len == total_len
            && total_len <= len as u64
            && self.value_size == size
            && self.value_align == VALUE_MIN_ALIGN
            && self.shape == shape
            && (slice || self.length == 0)
            && self.header_reserved == 0
            && self.fingerprint == <u64 as ShmSafe>::FINGERPRINT
            && self.name.get(..self.name_len as usize) == Some(VICTIM.as_bytes())
            && self.name[VICTIM.len()..].iter().all(|&b| b == 0)
    }
}

/// A change to one field of a forged header.
#[derive(Clone, Debug)]
enum Lie {
    Kind(u32),
    /// Another slot count; with `true`, the lengths are recomputed to match it.
    Slots(u32, bool),
    TotalLen(u64),
    ValueOffset(u64),
    ValueSize(u64),
    ValueAlign(u64),
    Fingerprint(u64),
    NameLen(u32),
    NameByte(usize, u8),
    Shape(u32),
    Length(u64),
    /// Another slice length, with `value_size` and `total_len` made to match it: a
    /// consistent header of a slice of another length.
    Resize(u64),
    HeaderReserved(u32),
    /// Another creator; the checksum is computed with it, so still valid.
    Creator(u64),
    Checksum(u64),
    Members(u64),
    Owner(u64),
    Destroyer(u64),
    SlotsUsed(u32),
    Waiting(u32),
    Slot0(u64, u64),
}

fn near(x: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(x),
        (x.saturating_sub(72)..x.saturating_add(72)),
        proptest::sample::select(vec![0, 1, 8, 63, 64, 320, u64::MAX, u64::MAX - 7, 1 << 63, isize::MAX as u64]),
        any::<u64>(),
    ]
}

fn lie() -> impl Strategy<Value = Lie> {
    let (shared_offset, shared_total) = layout(SHARED_SLOTS);
    let pid = || proptest::sample::select(vec![0u64, 1, 2, 3, 200, 1 << 62, 1 << 63, u64::MAX]);
    prop_oneof![
        prop_oneof![Just(0u32), Just(3), any::<u32>()].prop_map(Lie::Kind),
        (prop_oneof![0..=70u32, any::<u32>()], any::<bool>()).prop_map(|(n, relayout)| Lie::Slots(n, relayout)),
        near(shared_total).prop_map(Lie::TotalLen),
        near(shared_offset).prop_map(Lie::ValueOffset),
        near(8).prop_map(Lie::ValueSize),
        near(64).prop_map(Lie::ValueAlign),
        prop_oneof![Just(<u32 as ShmSafe>::FINGERPRINT), Just(<i64 as ShmSafe>::FINGERPRINT), any::<u64>()]
            .prop_map(Lie::Fingerprint),
        prop_oneof![0..=(NAME_MAX as u32 + 8), any::<u32>()].prop_map(Lie::NameLen),
        (0..NAME_MAX, any::<u8>()).prop_map(|(i, b)| Lie::NameByte(i, b)),
        prop_oneof![Just(0u32), Just(1), Just(2), any::<u32>()].prop_map(Lie::Shape),
        prop_oneof![
            Just(0u64),
            Just(1),
            0..=600u64,
            Just(u64::MAX),
            Just(u64::MAX / 8 + 1),
            Just(1 << 61),
            any::<u64>()
        ]
        .prop_map(Lie::Length),
        prop_oneof![0..=8u64, 0..=600u64].prop_map(Lie::Resize),
        prop_oneof![Just(0u32), any::<u32>()].prop_map(Lie::HeaderReserved),
        pid().prop_map(Lie::Creator),
        any::<u64>().prop_map(Lie::Checksum),
        prop_oneof![Just(0u64), Just(2), Just(u64::MAX), any::<u64>()].prop_map(Lie::Members),
        pid().prop_map(Lie::Owner),
        pid().prop_map(Lie::Destroyer),
        prop_oneof![Just(0u32), Just(2), Just(65), any::<u32>()].prop_map(Lie::SlotsUsed),
        any::<u32>().prop_map(Lie::Waiting),
        (pid(), prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>()]).prop_map(|(o, c)| Lie::Slot0(o, c)),
    ]
}

impl Forge {
    fn tell(&mut self, lie: &Lie) {
        match *lie {
            Lie::Kind(k) => self.kind = k,
            Lie::Slots(n, relayout) => {
                self.slot_count = n;
                if relayout {
                    (self.value_offset, self.total_len) = layout_of(n.into(), self.value_size);
                }
            }
            Lie::TotalLen(x) => self.total_len = x,
            Lie::ValueOffset(x) => self.value_offset = x,
            Lie::ValueSize(x) => self.value_size = x,
            Lie::ValueAlign(x) => self.value_align = x,
            Lie::Fingerprint(x) => self.fingerprint = x,
            Lie::NameLen(x) => self.name_len = x,
            Lie::NameByte(i, b) => self.name[i] = b,
            Lie::Shape(x) => self.shape = x,
            Lie::Length(x) => self.length = x,
            Lie::Resize(n) => {
                self.length = n;
                self.value_size = n.wrapping_mul(8);
                (self.value_offset, self.total_len) = layout_of(self.slot_count.into(), self.value_size);
            }
            Lie::HeaderReserved(x) => self.header_reserved = x,
            Lie::Creator(x) => self.creator = x,
            Lie::Checksum(x) => self.checksum = Some(x),
            Lie::Members(x) => self.members = x,
            Lie::Owner(x) => self.owner = x,
            Lie::Destroyer(x) => self.destroyer = x,
            Lie::SlotsUsed(x) => self.slots_used = x,
            Lie::Waiting(x) => self.waiting = x,
            Lie::Slot0(o, c) => self.slot0 = (o, c),
        }
    }

    /// Whether a lie touched the words that decide *whether a valid segment can be
    /// taken* (members, owner, destroyer, slot 0) rather than its validity.
    fn lied_about_holders(lies: &[Lie]) -> bool {
        lies.iter().any(|l| {
            matches!(l, Lie::Members(_) | Lie::Owner(_) | Lie::Destroyer(_) | Lie::SlotsUsed(_) | Lie::Slot0(..))
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Length {
    Exact,
    Shorter(u64),
    Longer(u64),
    Any(usize),
}

fn length() -> impl Strategy<Value = Length> {
    prop_oneof![
        4 => Just(Length::Exact),
        1 => (1..72u64).prop_map(Length::Shorter),
        1 => (1..128u64).prop_map(Length::Longer),
        1 => (0..6000usize).prop_map(Length::Any),
    ]
}

/// How many elements a forged slice starts with (its header then describes
/// exactly them, before any lie).
fn slice_length() -> impl Strategy<Value = u64> {
    // At most 472 elements keep a 64-slot segment within the 8,192 bytes planted.
    prop_oneof![3 => 0..=4u64, 2 => 5..=64u64, 1 => 65..=472u64]
}

/// Whether a slice opener sizing this header's length overflows (`Unsupported`).
fn length_overflows(forge: &Forge) -> bool {
    usize::try_from(forge.length).ok().and_then(|n| n.checked_mul(8)).is_none()
}

/// The forged-header property for `kind`: headers start as a real `u64` segment,
/// or (`slice`) a real `[u64]` one, and get up to 3 lies. Every operation, of
/// either kind and shape, is tried on each.
fn forged_headers_hand_out_only_what_they_describe<S: Space>(kind: u32, slice: bool) {
    let (live, _dead) = live_and_dead::<S>();
    let total = Arena::<S>::free_bytes();
    let handles = Cell::new(0u32);
    let main = Op::taking(kind, slice);
    let mut runner = TestRunner::new(config());
    runner
        .run(&(proptest::collection::vec(lie(), 0..4), length(), slice_length()), |(lies, length, elements)| {
            let mut forge =
                if slice { Forge::real_slice(kind, live.get(), elements) } else { Forge::real(kind, live.get()) };
            for lie in &lies {
                forge.tell(lie);
            }
            let len = match length {
                Length::Exact => forge.total_len.min(8192) as usize,
                Length::Shorter(d) => forge.total_len.min(8192).saturating_sub(d) as usize,
                Length::Longer(d) => (forge.total_len.min(8192) + d) as usize,
                Length::Any(n) => n,
            };
            let bytes = forge.bytes(len);
            for op in ALL_OPS {
                let real = forge.describes_a_real_segment(op.kind(), len, op.slice());
                let (outcome, _) = on_planted::<S>(&bytes, op)?;
                if outcome.is_handle() {
                    prop_assert!(real, "{:?} handed out a handle for a lying header: {:?}", op, forge);
                    // Exactly the stored length, at exactly the stored place.
                    let expected = handle_reading(op, &bytes, forge.value_offset, forge.length);
                    prop_assert_eq!(outcome, expected, "{:?} read another value than the header describes", op);
                    if op == main {
                        handles.set(handles.get() + 1);
                    }
                }
                if op.kind() != kind {
                    // The other kind never takes it (a lie may make it that kind:
                    // then `real` above decided).
                    continue;
                }
                let truthful = forge.describes_a_real_segment(kind, len, slice);
                if op.slice() != slice && truthful {
                    // A slice opened as one value, or one value as a slice.
                    prop_assert_eq!(
                        outcome,
                        Outcome::Failed(ErrorKind::TypeMismatch),
                        "{:?} of a truthful header of the other shape",
                        op
                    );
                }
                if op.slice() != slice {
                    continue;
                }
                if real && !Forge::lied_about_holders(&lies) {
                    // Only the holder words can still refuse a truthful header. With
                    // slot 0 held by a live process, one slot is a full table.
                    let expected = match (op, forge.slot_count) {
                        (Op::Reclaim | Op::ReclaimSlice, _) => Outcome::Reclaimed(0),
                        (Op::Open | Op::OpenSlice, 1) => Outcome::Failed(ErrorKind::TooManyProcesses),
                        _ => handle_reading(op, &bytes, forge.value_offset, forge.length),
                    };
                    prop_assert_eq!(outcome, expected, "{:?} of a truthful header", op);
                }
                if op == main
                    && !real
                    && forge.kind == kind
                    && forge.checksum.is_none()
                    && len as u64 >= forge.total_len.min(8192)
                {
                    prop_assert!(
                        matches!(outcome, Outcome::Failed(ErrorKind::Corrupt | ErrorKind::TypeMismatch))
                            // An empty file is a creator's that died before sizing it.
                            || (len == 0 && empty_file_outcome(op) == outcome)
                            || (op.slice()
                                && length_overflows(&forge)
                                && outcome == Outcome::Failed(ErrorKind::Unsupported)),
                        "{:?} of a lying header: {:?}",
                        op,
                        outcome
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(Arena::<S>::free_bytes(), total);
    if !cfg!(miri) {
        assert!(handles.get() > 0, "no case reached a handle: the property checked nothing");
    }
}

#[test]
fn forged_shared_headers_open_only_when_they_describe_the_segment() {
    arena_space!(S, 1 << 20);
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_SHARED, false);
}

#[test]
fn forged_unique_headers_are_claimed_only_when_they_describe_the_segment() {
    arena_space!(S, 1 << 20);
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_UNIQUE, false);
}

#[test]
fn forged_shared_slice_headers_open_only_when_they_describe_the_segment_with_its_length() {
    arena_space!(S, 1 << 20);
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_SHARED, true);
}

#[test]
fn forged_unique_slice_headers_are_claimed_only_when_they_describe_the_segment_with_its_length() {
    arena_space!(S, 1 << 20);
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_UNIQUE, true);
}

/// The offsets and bytes at which `forged` and `real` differ.
fn differing(forged: &[u8], real: &[u8]) -> Vec<(usize, u8, u8)> {
    forged.iter().zip(real).enumerate().filter(|(_, (f, r))| f != r).map(|(i, (f, r))| (i, *f, *r)).collect()
}

#[test]
fn a_forged_header_of_a_real_create_is_byte_for_byte_a_real_segment() {
    // Without this the forged-header properties could test a format that is not the
    // real one.
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    let mut released = Forge::real(KIND_UNIQUE, 1);
    released.owner = 0;
    for (forged, real) in
        [(Forge::real(KIND_SHARED, live.get()).bytes(shared.len()), shared), (released.bytes(unique.len()), unique)]
    {
        let differ = differing(&forged, &real);
        assert_eq!((forged.len(), &differ[..]), (real.len(), &[][..]), "(offset, forged, real) of differing bytes");
    }
}

#[test]
fn a_forged_slice_header_of_a_real_create_is_byte_for_byte_a_real_segment() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    for length in [0, 1, SLICE_LEN, 100] {
        let (shared, unique) = real_slice_segments::<S>(live, length);
        let shared_forge = Forge::real_slice(KIND_SHARED, live.get(), length);
        let unique_forge = Forge::real_slice(KIND_UNIQUE, 1, length);
        for (forged, real) in [(shared_forge.bytes(shared.len()), shared), (unique_forge.bytes(unique.len()), unique)] {
            let differ = differing(&forged, &real);
            assert_eq!(
                (forged.len(), &differ[..]),
                (real.len(), &[][..]),
                "length {length}: (offset, forged, real) of differing bytes"
            );
        }
    }
}

/// The hex dumps in FORMAT.md (`text` blocks of `offset  bytes  comment` rows, a
/// `*` for repeated zero rows), in order.
fn format_md_dumps() -> Vec<Vec<u8>> {
    let mut dumps: Vec<Vec<u8>> = Vec::new();
    let mut elided = false;
    for line in include_str!("../FORMAT.md").lines() {
        if line == "*" {
            elided = true;
            continue;
        }
        let Some(offset) = line.get(..4).and_then(|o| usize::from_str_radix(o, 16).ok()) else { continue };
        if line.get(4..6) != Some("  ") {
            continue;
        }
        // The bytes are in the columns before the comment (16 of them, 8 + 8).
        let row: Vec<u8> = line[6..line.len().min(54)]
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("FORMAT.md row {line:?}")))
            .collect();
        if offset == 0 {
            dumps.push(Vec::new());
        }
        let dump = dumps.last_mut().expect("a dump starts at offset 0000");
        if elided {
            // Zero rows up to this one.
            dump.resize(offset, 0);
            elided = false;
        }
        assert_eq!(dump.len(), offset, "FORMAT.md row {line:?} does not follow the previous one");
        dump.extend_from_slice(&row);
    }
    dumps
}

#[test]
fn format_md_hex_dumps_are_what_real_creates_write() {
    // FORMAT.md's worked examples, checked against the forger (itself checked
    // against real creates just above and below).
    let dumps = format_md_dumps();
    assert_eq!(dumps.len(), 2, "FORMAT.md has the Unique<u64> and the Shared<[u32]> dumps");
    const CREATOR: u64 = 0x07a4_0000_0000_7173;
    // The 328-byte `Unique<u64>`, owned by its creator.
    let mut unique = Forge::real(KIND_UNIQUE, CREATOR);
    unique.owner = CREATOR;
    let forged = unique.bytes(unique_len());
    assert_eq!((dumps[0].len(), &differing(&dumps[0], &forged)[..]), (328, &[][..]), "Unique<u64> dump");
    assert_eq!(unique.correct_checksum(), 0x9f3b_5e82_f651_0320, "FORMAT.md §3.5's value");
    // The `Shared<[u32]>` of `[1, 2, 3]` with 4 slots.
    let slice = slice_u32_forge(CREATOR);
    let mut forged = slice.bytes(588);
    for (i, x) in [1u32, 2, 3].into_iter().enumerate() {
        forged[576 + 4 * i..580 + 4 * i].copy_from_slice(&x.to_le_bytes());
    }
    assert_eq!((dumps[1].len(), &differing(&dumps[1], &forged)[..]), (588, &[][..]), "Shared<[u32]> dump");
    assert_eq!(slice.correct_checksum(), 0xc4d8_3edf_1378_367c, "FORMAT.md §3.5's value");
    assert_eq!(<u32 as ShmSafe>::FINGERPRINT, 0x9764_b957_2e2e_ab91, "FORMAT.md §3.4's value");
}

/// What FORMAT.md says a `Shared<[u32]>` of length 3 with 4 slots holds, made by
/// `creator`: 576 + 12 = 588 bytes.
fn slice_u32_forge(creator: u64) -> Forge {
    let mut forge = Forge::real(KIND_SHARED, creator);
    forge.slot_count = 4;
    (forge.value_offset, forge.total_len) = (576, 588);
    forge.value_size = 12;
    forge.fingerprint = <u32 as ShmSafe>::FINGERPRINT;
    (forge.shape, forge.length) = (1, 3);
    forge.elements = 0;
    forge
}

#[test]
fn format_md_slice_example_is_what_a_real_create_writes() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let real = as_process::<S, _>(live, || {
        let handle = Shared::<[u32], S>::options().slots(4).from_slice(VICTIM, &[1, 2, 3]).unwrap();
        // SAFETY: single-threaded, and no reference into the object is held across it.
        let bytes = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.to_vec()) }.unwrap();
        drop(handle);
        bytes
    });
    let mut forged = slice_u32_forge(live.get()).bytes(588);
    for (i, x) in [1u32, 2, 3].into_iter().enumerate() {
        forged[576 + 4 * i..580 + 4 * i].copy_from_slice(&x.to_le_bytes());
    }
    assert_eq!((real.len(), &differing(&forged, &real)[..]), (588, &[][..]));
}

// ---- Precise error kinds ----

/// Plants `bytes` under `VICTIM`, runs `op`, removes it; returns the outcome and
/// how much simulated time passed.
fn planted_outcome<S: Space>(bytes: &[u8], op: Op) -> (Outcome, u64) {
    on_planted::<S>(bytes, op).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn unchanged_copies_of_real_segments_open_and_hold_the_value() {
    // The mutation properties start from these copies: they must be valid.
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    assert_eq!(planted_outcome::<S>(&shared, Op::Open).0, Outcome::Handle(VALUE));
    assert_eq!(planted_outcome::<S>(&shared, Op::Reclaim).0, Outcome::Reclaimed(0));
    assert_eq!(planted_outcome::<S>(&unique, Op::Claim).0, Outcome::Handle(VALUE));
}

/// What a typed operation makes of an empty file once the timeout has passed: a
/// creator sizes the file before writing a byte, so it is one that died before
/// that. Open and claim report it abandoned; reclaim removes it (issue 13: a
/// creator killed mid-create leaves nothing that blocks the name).
fn empty_file_outcome(op: Op) -> Outcome {
    match op {
        Op::Reclaim | Op::ReclaimSlice => Outcome::Reclaimed(0),
        _ => Outcome::Failed(ErrorKind::Abandoned),
    }
}

#[test]
fn a_zero_length_object_is_abandoned_after_the_timeout() {
    arena_space!(S, 1 << 20);
    for op in ALL_OPS {
        let (outcome, elapsed) = planted_outcome::<S>(&[], op);
        assert_eq!(outcome, empty_file_outcome(op), "{op:?}");
        assert!(elapsed >= TIMEOUT.as_nanos() as u64, "{op:?}: a creator may still size it, so wait first");
    }
}

#[test]
fn an_object_shorter_than_the_header_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    for len in [1, 8, 12, 24, HEADER_BYTES / 2, HEADER_BYTES - 1] {
        for (bytes, op) in [(&shared, Op::Open), (&shared, Op::Reclaim), (&unique, Op::Claim)] {
            let (outcome, _) = planted_outcome::<S>(&bytes[..len], op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?} of {len} bytes");
        }
    }
}

#[test]
fn garbage_is_corrupt_at_once() {
    arena_space!(S, 1 << 20);
    for fill in [0xa5u8, 0xff, 0x01] {
        for len in [HEADER_BYTES, unique_len(), shared_len(), 4096] {
            for op in ALL_OPS {
                let (outcome, elapsed) = planted_outcome::<S>(&vec![fill; len], op);
                assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?}: {len} bytes of {fill:#x}");
                assert_eq!(elapsed, 0, "{op:?}: garbage must not be waited on");
            }
        }
    }
    // Default options (2 s timeout) too: no wait at all.
    Arena::<S>::plant(VICTIM, &[0x5a; 512]).unwrap();
    let start = now::<S>();
    assert_eq!(Shared::<u64, S>::open(VICTIM).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(Unique::<u64, S>::claim(VICTIM).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(Shared::<u64, S>::reclaim(VICTIM).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(now::<S>(), start);
    Arena::<S>::remove(VICTIM).unwrap();
}

#[test]
fn wrong_magic_or_version_before_a_valid_header_is_corrupt_at_once() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, _) = real_segments::<S>(live);
    for at in [0, 3, 4, 7] {
        let mut bytes = shared.clone();
        bytes[at] ^= 0x20;
        let (outcome, elapsed) = planted_outcome::<S>(&bytes, Op::Open);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "byte {at}");
        assert_eq!(elapsed, 0);
    }
}

#[test]
fn an_all_zero_object_is_abandoned_after_the_timeout() {
    // All zeros is a segment whose creator never wrote the header: worth waiting
    // for, then reported as abandoned (not corrupt, not a timeout).
    arena_space!(S, 1 << 20);
    for op in [Op::Open, Op::Claim] {
        let (outcome, elapsed) = planted_outcome::<S>(&vec![0; shared_len()], op);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Abandoned), "{op:?}");
        assert!(elapsed >= TIMEOUT.as_nanos() as u64, "{op:?}");
    }
}

#[test]
fn a_blank_header_with_magic_and_version_already_written_is_waited_on_not_corrupt() {
    // A creator stores the magic and the version (Relaxed) before `Initializing`:
    // an opener can see them while the state still reads `Blank`. That is a header
    // being written, so it is waited on (then abandoned: nobody creates it here),
    // never `Corrupt` at once.
    arena_space!(S, 1 << 20);
    for (magic, version) in [(*b"SHMP", 0u32), (*b"SHMP", VERSION), ([0; 4], VERSION)] {
        let mut bytes = vec![0; shared_len()];
        bytes[..4].copy_from_slice(&magic);
        bytes[4..8].copy_from_slice(&version.to_ne_bytes());
        for op in [Op::Open, Op::Claim] {
            let (outcome, elapsed) = planted_outcome::<S>(&bytes, op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::Abandoned), "{op:?}: magic {magic:?}, version {version}");
            assert!(elapsed >= TIMEOUT.as_nanos() as u64, "{op:?}: waited on");
        }
    }
    // Another version is not this format's: `Corrupt` at once.
    let mut bytes = vec![0; shared_len()];
    bytes[..4].copy_from_slice(b"SHMP");
    bytes[4..8].copy_from_slice(&(VERSION + 1).to_ne_bytes());
    assert_eq!(planted_outcome::<S>(&bytes, Op::Open), (Outcome::Failed(ErrorKind::Corrupt), 0));
}

#[test]
fn a_zero_timeout_never_judges_a_file_that_names_no_creator() {
    // Found by review: with a zero timeout, a blank object (a creator may have just
    // made it, before it could mark it as its own) was judged at once, and the
    // arena answers `Dead` for a blank object's unnamed creator: `open_or_create`
    // removed and replaced it. Now a file naming no creator is judged only after one
    // poll interval (5 ms), whatever the timeout.
    arena_space!(S, 1 << 20);
    for bytes in [vec![0u8; shared_len()], vec![0u8; 16]] {
        Arena::<S>::plant(VICTIM, &bytes).unwrap();
        for timeout in [Duration::ZERO, Duration::from_nanos(1), Duration::from_millis(1)] {
            let made = Shared::<u64, S>::options().timeout(timeout).open_or_create(VICTIM, || 9);
            assert_eq!(made.err().map(|e| e.kind()), Some(ErrorKind::Timeout), "{timeout:?}, {} bytes", bytes.len());
            let opened = Shared::<u64, S>::options().timeout(timeout).open(VICTIM);
            assert_eq!(opened.err().map(|e| e.kind()), Some(ErrorKind::Timeout), "{timeout:?}, {} bytes", bytes.len());
        }
        // The planted bytes are still there, untouched.
        // SAFETY: single-threaded, and no reference into the object is held.
        let len = unsafe { Arena::<S>::with_bytes(VICTIM, |b| b.len()) }.unwrap();
        assert_eq!(len, bytes.len());
        Arena::<S>::remove(VICTIM).unwrap();
    }
}

#[test]
fn valid_magic_with_a_wrong_checksum_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    for at in [CHECKSUM_AT, CHECKSUM_AT + 7] {
        for (original, op) in [(&shared, Op::Open), (&shared, Op::Reclaim), (&unique, Op::Claim)] {
            let mut bytes = original.clone();
            bytes[at] ^= 1;
            let (outcome, elapsed) = planted_outcome::<S>(&bytes, op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?}, checksum byte {at}");
            assert_eq!(elapsed, 0);
        }
    }
    // A header that is all zeros after a valid identity: the checksum of zeros is
    // not zero.
    let mut bytes = vec![0u8; shared_len()];
    bytes[..12].copy_from_slice(&shared[..12]);
    assert_eq!(planted_outcome::<S>(&bytes, Op::Open).0, Outcome::Failed(ErrorKind::Corrupt));
}

#[test]
fn a_recorded_length_beyond_the_object_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    for cut in [1, 8, 64, shared.len() - HEADER_BYTES] {
        let (outcome, elapsed) = planted_outcome::<S>(&shared[..shared.len() - cut], Op::Open);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "shared cut by {cut}");
        assert_eq!(elapsed, 0);
        let (outcome, _) = planted_outcome::<S>(&shared[..shared.len() - cut], Op::Reclaim);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "reclaim, shared cut by {cut}");
    }
    for cut in [1, 8] {
        let (outcome, _) = planted_outcome::<S>(&unique[..unique.len() - cut], Op::Claim);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "unique cut by {cut}");
    }
    // Longer than recorded is fine (a backend may round up).
    let mut longer = shared.clone();
    longer.extend_from_slice(&[0xee; 100]);
    assert_eq!(planted_outcome::<S>(&longer, Op::Open).0, Outcome::Handle(VALUE));
}

#[test]
fn unique_opened_as_shared_and_shared_claimed_as_unique_are_type_mismatch() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    assert_eq!(planted_outcome::<S>(&unique, Op::Open).0, Outcome::Failed(ErrorKind::TypeMismatch));
    assert_eq!(planted_outcome::<S>(&unique, Op::Reclaim).0, Outcome::Failed(ErrorKind::TypeMismatch));
    assert_eq!(planted_outcome::<S>(&shared, Op::Claim).0, Outcome::Failed(ErrorKind::TypeMismatch));
    // And on live objects, not only on copies.
    let s = Shared::<u64, S>::create("live-shared", 1).unwrap();
    let u = Unique::<u64, S>::create("live-unique", 2).unwrap();
    Unique::release(u);
    assert_eq!(Unique::<u64, S>::claim("live-shared").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<u64, S>::open("live-unique").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<u64, S>::reclaim("live-unique").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::strong_count(&s), 1, "a failed claim left no trace");
    assert_eq!(*Unique::<u64, S>::claim("live-unique").unwrap(), 2, "a failed open left it claimable");
    drop(s);
}

#[test]
fn another_value_type_is_type_mismatch() {
    arena_space!(S, 1 << 20);
    let s64 = Shared::<u64, S>::create("s64", 1).unwrap();
    let s32 = Shared::<u32, S>::create("s32", 1).unwrap();
    assert_eq!(Shared::<u32, S>::open("s64").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<u64, S>::open("s32").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<i64, S>::open("s64").unwrap_err().kind(), ErrorKind::TypeMismatch, "same size");
    assert_eq!(Shared::<u32, S>::reclaim("s64").unwrap_err().kind(), ErrorKind::TypeMismatch);
    let u64_ = Unique::<u64, S>::create("u64", 1).unwrap();
    Unique::release(u64_);
    let u32_ = Unique::<u32, S>::create("u32", 1).unwrap();
    Unique::release(u32_);
    assert_eq!(Unique::<u32, S>::claim("u64").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Unique::<u64, S>::claim("u32").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::strong_count(&s64), 1);
    assert_eq!(Shared::strong_count(&s32), 1);
    drop(Unique::<u64, S>::claim("u64").unwrap());
    drop(Unique::<u32, S>::claim("u32").unwrap());
}

#[test]
fn a_slice_opened_as_one_value_and_one_value_opened_as_a_slice_are_type_mismatch() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    // Copies, of every length a real create writes, including one element (the
    // same byte size as one `u64`) and none.
    for length in [0, 1, SLICE_LEN] {
        let (shared, unique) = real_slice_segments::<S>(live, length);
        for (bytes, op) in [(&shared, Op::Open), (&shared, Op::Reclaim), (&unique, Op::Claim)] {
            let (outcome, elapsed) = planted_outcome::<S>(bytes, op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::TypeMismatch), "{op:?} of a [u64] of {length}");
            assert_eq!(elapsed, 0);
        }
    }
    let (shared, unique) = real_segments::<S>(live);
    for (bytes, op) in [(&shared, Op::OpenSlice), (&shared, Op::ReclaimSlice), (&unique, Op::ClaimSlice)] {
        assert_eq!(planted_outcome::<S>(bytes, op).0, Outcome::Failed(ErrorKind::TypeMismatch), "{op:?} of a u64");
    }
    // And on live objects, which a failed open leaves as they were.
    let one = Shared::<u64, S>::create("one", 7).unwrap();
    let many = Shared::<[u64], S>::from_slice("many", &[7]).unwrap();
    assert_eq!(Shared::<[u64], S>::open("one").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<u64, S>::open("many").unwrap_err().kind(), ErrorKind::TypeMismatch);
    let u = Unique::<[u64], S>::create_slice_zeroed("unique-many", 3).unwrap();
    Unique::release(u);
    assert_eq!(Unique::<u64, S>::claim("unique-many").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Unique::<[u64], S>::claim("unique-many").unwrap().len(), 3, "a failed claim left it claimable");
    assert_eq!((Shared::strong_count(&one), Shared::strong_count(&many)), (1, 1));
}

#[test]
fn a_slice_of_another_element_type_is_type_mismatch() {
    arena_space!(S, 1 << 20);
    let words = Shared::<[u32], S>::from_slice("words", &[1, 2, 3, 4]).unwrap();
    let signed = Shared::<[i64], S>::from_slice("signed", &[1, 2]).unwrap();
    for name in ["words", "signed"] {
        assert_eq!(Shared::<[u64], S>::open(name).unwrap_err().kind(), ErrorKind::TypeMismatch, "{name}");
    }
    // The same bytes as an array of the element type are one value, not a slice.
    assert_eq!(Shared::<[u32; 4], S>::open("words").unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(&*Shared::<[u32], S>::open("words").unwrap(), &[1, 2, 3, 4]);
    drop((words, signed));
}

/// What `op` does on `forge`'s bytes, planted as long as its `total_len` says
/// (at most 8,192 bytes).
fn slice_outcome<S: Space>(forge: &Forge, op: Op) -> Outcome {
    planted_outcome::<S>(&forge.bytes(forge.total_len.min(8192) as usize), op).0
}

#[test]
fn an_unknown_shape_in_a_header_of_the_right_kind_and_type_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    for shape in [2, 3, 0x100, u32::MAX] {
        let mut slice = Forge::real_slice(KIND_SHARED, live.get(), 2);
        slice.shape = shape;
        let mut one = Forge::real(KIND_SHARED, live.get());
        one.shape = shape;
        for forge in [&slice, &one] {
            for op in [Op::Open, Op::OpenSlice, Op::Reclaim, Op::ReclaimSlice] {
                assert_eq!(slice_outcome::<S>(forge, op), Outcome::Failed(ErrorKind::Corrupt), "{op:?}, shape {shape}");
            }
        }
    }
}

#[test]
fn a_slice_length_whose_size_overflows_is_unsupported_never_wrapped() {
    // 2^61 elements of 8 bytes are 2^64 bytes: 0 if wrapped, which with a
    // `value_size` and `total_len` of an empty slice would describe the file.
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    for length in [1u64 << 61, (1 << 61) + 1, u64::MAX / 8 + 1, u64::MAX] {
        for kind in [KIND_SHARED, KIND_UNIQUE] {
            let mut forge = Forge::real_slice(kind, live.get(), 0);
            forge.length = length;
            let op = Op::taking(kind, true);
            assert_eq!(slice_outcome::<S>(&forge, op), Outcome::Failed(ErrorKind::Unsupported), "{op:?}, {length}");
            // The same header opened as one value: a slice is not one value.
            let op = Op::taking(kind, false);
            assert_eq!(slice_outcome::<S>(&forge, op), Outcome::Failed(ErrorKind::TypeMismatch), "{op:?}, {length}");
        }
    }
}

#[test]
fn a_real_slice_of_another_element_is_type_mismatch_even_when_its_length_would_overflow_the_opener() {
    // Issue 13: opening a `[T]` object as `[U]` is `TypeMismatch`; `Unsupported` is
    // for a length whose size overflows. A `Shared<[()]>` of `usize::MAX` elements
    // is a real, valid object of 4,416 bytes (its elements take none), but opened
    // as `[u64]` its length is sized as `u64`s first (`Header::inspect` sizes the
    // slice before it compares the type), so the opener is told `Unsupported`,
    // as if the object were too large for this target, not that it holds another
    // type. The same happens with real files on 32-bit targets (a `[u8]` of more
    // than 512 MiB opened as `[u64]`).
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let mut units = Forge::real_slice(KIND_SHARED, live.get(), 0);
    units.fingerprint = <() as ShmSafe>::FINGERPRINT;
    units.length = usize::MAX as u64;
    Arena::<S>::plant(VICTIM, &units.bytes(units.total_len as usize)).unwrap();
    // It is a real object: a `[()]` opener takes it, with the whole length.
    let opened = Shared::<[()], S>::options().timeout(TIMEOUT).open(VICTIM).map(|h| h.len());
    assert_eq!(opened.map_err(|e| e.kind()), Ok(usize::MAX));
    let as_u64s = Shared::<[u64], S>::options().timeout(TIMEOUT).open(VICTIM).map(|h| h.len());
    Arena::<S>::remove(VICTIM).unwrap();
    assert_eq!(as_u64s.map_err(|e| e.kind()), Err(ErrorKind::TypeMismatch), "a [()] opened as [u64]");
}

#[test]
fn a_slice_length_the_stored_sizes_contradict_or_the_file_cannot_hold_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let real = Forge::real_slice(KIND_SHARED, live.get(), 4);
    assert_eq!(
        slice_outcome::<S>(&real, Op::OpenSlice),
        Outcome::Elements(4, digest((0..4).map(element))),
        "the truthful header"
    );
    // The length alone changed: the stored value size (and total length) say 4.
    for length in [0, 1, 3, 5, 8, 1 << 32, (1 << 61) - 1] {
        let mut forge = real.clone();
        forge.length = length;
        // On a 32-bit target a length whose bytes (8 each) no `usize` holds is
        // `Unsupported` before anything is compared, as at create.
        let expected = match usize::try_from(length).ok().and_then(|n| n.checked_mul(8)) {
            Some(_) => ErrorKind::Corrupt,
            None => ErrorKind::Unsupported,
        };
        assert_eq!(slice_outcome::<S>(&forge, Op::OpenSlice), Outcome::Failed(expected), "length {length}");
    }
    // The value size alone changed.
    for value_size in [0, 8, 31, 33, 40, u64::MAX] {
        let mut forge = real.clone();
        forge.value_size = value_size;
        let outcome = slice_outcome::<S>(&forge, Op::OpenSlice);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "value_size {value_size}");
    }
    // Length, value size and total length agree, but the file ends before the
    // last element: the header describes another file.
    let mut longer = real.clone();
    longer.tell(&Lie::Resize(5));
    for len in [real.total_len, longer.total_len - 1] {
        let (outcome, _) = planted_outcome::<S>(&longer.bytes(len as usize), Op::OpenSlice);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "a [u64] of 5 in {len} bytes");
    }
    let (outcome, _) = planted_outcome::<S>(&longer.bytes(longer.total_len as usize), Op::OpenSlice);
    assert!(matches!(outcome, Outcome::Elements(5, _)), "the file holds all 5: {outcome:?}");
}

#[test]
fn one_value_with_a_non_zero_length_is_corrupt() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    for kind in [KIND_SHARED, KIND_UNIQUE] {
        for length in [1, 2, u64::MAX] {
            let mut forge = Forge::real(kind, live.get());
            forge.length = length;
            let op = Op::taking(kind, false);
            assert_eq!(slice_outcome::<S>(&forge, op), Outcome::Failed(ErrorKind::Corrupt), "{op:?}, {length}");
        }
    }
}

#[test]
fn an_empty_slice_opens_with_no_elements_and_a_value_at_the_end_of_the_file() {
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_slice_segments::<S>(live, 0);
    assert_eq!((shared.len(), unique.len()), (layout(SHARED_SLOTS).0 as usize, HEADER_BYTES));
    let empty = Outcome::Elements(0, digest([]));
    assert_eq!(planted_outcome::<S>(&shared, Op::OpenSlice).0, empty);
    assert_eq!(planted_outcome::<S>(&shared, Op::ReclaimSlice).0, Outcome::Reclaimed(0));
    assert_eq!(planted_outcome::<S>(&unique, Op::ClaimSlice).0, empty);
    // One byte short is short.
    assert_eq!(planted_outcome::<S>(&shared[..shared.len() - 1], Op::OpenSlice).0, Outcome::Failed(ErrorKind::Corrupt));
}

#[test]
fn a_real_segment_copied_under_another_name_is_corrupt() {
    // The segment records its name: a copy (or a rename) is not that object.
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    for (bytes, name) in [(&shared, "victiM"), (&shared, "victim2"), (&unique, "other")] {
        Arena::<S>::plant(name, bytes).unwrap();
    }
    assert_eq!(Shared::<u64, S>::open("victiM").unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(Shared::<u64, S>::open("victim2").unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(Unique::<u64, S>::claim("other").unwrap_err().kind(), ErrorKind::Corrupt);
    for name in ["victiM", "victim2", "other"] {
        Arena::<S>::remove(name).unwrap();
    }
}

#[test]
fn a_planted_segment_being_destroyed_is_not_found_and_is_removed() {
    arena_space!(S, 1 << 20);
    let (live, dead) = live_and_dead::<S>();
    let (shared, _) = real_segments::<S>(live);
    for state in [DESTROYING, DESTROYED] {
        for destroyer in [live, dead] {
            let mut bytes = shared.clone();
            bytes[8..12].copy_from_slice(&state.to_le_bytes());
            bytes[MEMBERS_AT..MEMBERS_AT + 8].copy_from_slice(&0u64.to_le_bytes());
            bytes[DESTROYER_AT..DESTROYER_AT + 8].copy_from_slice(&destroyer.get().to_le_bytes());
            Arena::<S>::plant(VICTIM, &bytes).unwrap();
            let e = Shared::<u64, S>::options().timeout(TIMEOUT).open(VICTIM).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{state:#x}");
            if destroyer == dead {
                assert!(!Arena::<S>::exists(VICTIM), "{state:#x}: the opener finishes a dead destroyer's unlink");
            } else {
                assert!(Arena::<S>::exists(VICTIM), "{state:#x}: a live destroyer's unlink is left to it");
                Arena::<S>::remove(VICTIM).unwrap();
            }
        }
    }
}

#[test]
fn a_changed_creator_or_a_non_zero_reserved_word_is_corrupt() {
    // The creator word is covered by the checksum, and reserved words must be zero,
    // so a Ready segment's every header byte before the members word is validated.
    arena_space!(S, 1 << 20);
    let (live, _) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    // `Fixed.shape` (format version 1's reserved word) and `Fixed.length`.
    let (shape, length) = (FIXED_AT + 52, FIXED_AT + 56);
    for at in [RESERVED_AT, RESERVED_AT + 3, CREATOR_AT, CREATOR_AT + 7, shape, length, length + 7] {
        for (original, op) in [(&shared, Op::Open), (&shared, Op::Reclaim), (&unique, Op::Claim)] {
            let mut bytes = original.clone();
            bytes[at] ^= 0x04;
            let (outcome, elapsed) = planted_outcome::<S>(&bytes, op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?}, byte {at}");
            assert_eq!(elapsed, 0);
        }
    }
}
