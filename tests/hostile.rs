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

/// The open timeout used throughout (arena time is simulated: waiting is instant).
const TIMEOUT: Duration = Duration::from_millis(20);
/// The name every planted object lives under.
const VICTIM: &str = "victim";
/// The value real segments hold.
const VALUE: u64 = 0x1122_3344_5566_7788;

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
    let value_offset = (HEADER_BYTES as u64 + SLOT_BYTES as u64 * slots).next_multiple_of(VALUE_MIN_ALIGN);
    (value_offset, value_offset + 8)
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

/// Runs `f` as `process`.
///
/// Safe here: every space in this file is declared inside one test function and
/// used by that test's thread alone (the proptest runner runs cases on it), so no
/// other thread is inside an operation on it when the identity changes (all that
/// `Arena::enter` needs; it checks itself that the process is alive).
fn as_process<S: Space, R>(process: ProcessId, f: impl FnOnce() -> R) -> R {
    // SAFETY: see above: only this thread uses `S`.
    let previous = unsafe { Arena::<S>::enter(process) };
    let result = f();
    // SAFETY: as above.
    unsafe { Arena::<S>::enter(previous) };
    result
}

// ---- What an operation on a planted object did ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// A handle was handed out; it read this value.
    Handle(u64),
    /// `reclaim` returned this count.
    Reclaimed(u32),
    Failed(ErrorKind),
}

impl Outcome {
    fn is_handle(self) -> bool {
        matches!(self, Outcome::Handle(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Open,
    Reclaim,
    Claim,
}

const OPS: [Op; 3] = [Op::Open, Op::Reclaim, Op::Claim];

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
fn arbitrary_bytes_never_panic_and_never_open() {
    arena_space!(S, 1 << 20);
    live_and_dead::<S>();
    let total = Arena::<S>::free_bytes();
    let mut runner = TestRunner::new(config());
    runner
        .run(&planted(), |planted| {
            let bytes = planted.materialise();
            for op in OPS {
                let (outcome, elapsed) = on_planted::<S>(&bytes, op)?;
                // The checksum of random write-once fields never matches (2^-64).
                prop_assert!(!outcome.is_handle(), "{:?} handed out a handle: {:?}", op, outcome);
                if let Outcome::Reclaimed(n) = outcome {
                    prop_assert_eq!(n, 0, "reclaimed holders of a segment that never validated");
                }
                if bytes.len() < HEADER_BYTES {
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

/// Checks what `op` did on `mutated`, a changed copy of `original` (a real segment
/// of kind `kind` whose value lives at `value_at`).
fn check_mutated(
    original: &[u8],
    mutated: &[u8],
    kind: u32,
    value_at: usize,
    op: Op,
    outcome: Outcome,
) -> Result<(), TestCaseError> {
    let changed = |r: Range<usize>| original[r.clone()] != mutated[r];
    let other_kind = match op {
        Op::Open | Op::Reclaim => kind != KIND_SHARED,
        Op::Claim => kind != KIND_UNIQUE,
    };
    if other_kind {
        // A copy that looks like the other kind has a broken checksum.
        prop_assert!(!outcome.is_handle(), "{:?} of the other kind: {:?}", op, outcome);
        if !changed(IDENTITY) && op != Op::Reclaim {
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
    if let Outcome::Handle(value) = outcome {
        if !changed(value_at..value_at + 8) {
            prop_assert_eq!(value, VALUE, "{:?} read another value than the segment holds", op);
        }
    }
    if original == mutated && !other_kind {
        prop_assert!(
            matches!(outcome, Outcome::Handle(VALUE) | Outcome::Reclaimed(0)),
            "{:?} of an unchanged copy: {:?}",
            op,
            outcome
        );
    }
    Ok(())
}

fn mutated_real_segments_never_panic<S: Space>(kind: u32) {
    let (live, _dead) = live_and_dead::<S>();
    let (shared, unique) = real_segments::<S>(live);
    let (original, value_at) = match kind {
        KIND_SHARED => (shared, layout(SHARED_SLOTS).0 as usize),
        _ => (unique, layout(0).0 as usize),
    };
    let total = Arena::<S>::free_bytes();
    let mut runner = TestRunner::new(config());
    runner
        .run(&mutations(original.len()), |changes| {
            let mut mutated = original.clone();
            for &(at, byte) in &changes {
                mutated[at] = byte;
            }
            for op in OPS {
                let (outcome, _) = on_planted::<S>(&mutated, op)?;
                check_mutated(&original, &mutated, kind, value_at, op, outcome)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(Arena::<S>::free_bytes(), total);
}

#[test]
fn mutated_shared_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_SHARED);
}

#[test]
fn mutated_unique_segments_never_panic_and_reject_changed_write_once_fields() {
    arena_space!(S, 1 << 20);
    mutated_real_segments_never_panic::<S>(KIND_UNIQUE);
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
        }
    }

    /// The checksum over the write-once fields and the creator word, as
    /// src/segment/header.rs computes it.
    fn correct_checksum(&self) -> u64 {
        let mut h = fingerprint::start("shmptr.fixed", 0, 0);
        for w in [
            self.kind as u64,
            self.slot_count as u64,
            self.total_len,
            self.value_offset,
            self.value_size,
            self.value_align,
            self.fingerprint,
            self.name_len as u64,
            self.shape as u64,
            self.length,
            self.creator,
        ] {
            h = fingerprint::word(h, w);
        }
        fingerprint::bytes(h, &self.name[..(self.name_len as usize).min(NAME_MAX)])
    }

    /// `len` bytes: the header, slot 0, and `VALUE` at `value_offset` if it fits.
    fn bytes(&self, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len.max(HEADER_BYTES + SLOT_BYTES)];
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
        if let Ok(at) = usize::try_from(self.value_offset) {
            if at <= 1 << 20 {
                put(at, &VALUE.to_le_bytes());
            }
        }
        b.truncate(len);
        b
    }

    /// Whether the write-once fields say exactly what a real create of a `u64`
    /// segment of `kind` with this slot count writes, and `len` bytes hold it all:
    /// the only headers a handle may be handed out for.
    fn describes_a_real_segment(&self, kind: u32, len: usize) -> bool {
        let slots_ok = match kind {
            KIND_SHARED => (1..=MAX_SLOTS).contains(&self.slot_count),
            _ => self.slot_count <= MAX_SLOTS,
        };
        let (value_offset, total_len) = layout(self.slot_count.into());
        self.checksum.is_none_or(|c| c == self.correct_checksum())
            && self.kind == kind
            && slots_ok
            && self.value_offset == value_offset
            && self.total_len == total_len
            && total_len <= len as u64
            && self.value_size == 8
            && self.value_align == VALUE_MIN_ALIGN
            && self.shape == 0
            && self.length == 0
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
        prop_oneof![Just(0u32), Just(1), any::<u32>()].prop_map(Lie::Shape),
        prop_oneof![Just(0u64), Just(1), Just(u64::MAX), any::<u64>()].prop_map(Lie::Length),
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
                    (self.value_offset, self.total_len) = layout(n.into());
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

fn forged_headers_hand_out_only_what_they_describe<S: Space>(kind: u32) {
    let (live, _dead) = live_and_dead::<S>();
    let total = Arena::<S>::free_bytes();
    let handles = Cell::new(0u32);
    let mut runner = TestRunner::new(config());
    runner
        .run(&(proptest::collection::vec(lie(), 0..4), length()), |(lies, length)| {
            let mut forge = Forge::real(kind, live.get());
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
            let real = forge.describes_a_real_segment(kind, len);
            let (op, other) = match kind {
                KIND_SHARED => (Op::Open, Op::Claim),
                _ => (Op::Claim, Op::Open),
            };
            let (outcome, _) = on_planted::<S>(&bytes, op)?;
            if outcome.is_handle() {
                handles.set(handles.get() + 1);
                prop_assert!(real, "{:?} handed out a handle for a lying header: {:?}", op, forge);
                prop_assert_eq!(outcome, Outcome::Handle(VALUE));
            }
            if real && !Forge::lied_about_holders(&lies) {
                // Only the holder words can still refuse a truthful header. With
                // slot 0 held by a live process, one slot is a full table.
                let expected = match (kind, forge.slot_count) {
                    (KIND_SHARED, 1) => Outcome::Failed(ErrorKind::TooManyProcesses),
                    _ => Outcome::Handle(VALUE),
                };
                prop_assert_eq!(outcome, expected, "{:?} of a truthful header", op);
            }
            if !real && forge.kind == kind && forge.checksum.is_none() && len as u64 >= forge.total_len.min(8192) {
                prop_assert!(
                    matches!(outcome, Outcome::Failed(ErrorKind::Corrupt | ErrorKind::TypeMismatch)),
                    "{:?} of a lying header: {:?}",
                    op,
                    outcome
                );
            }
            // The other kind never takes it.
            let (outcome, _) = on_planted::<S>(&bytes, other)?;
            prop_assert!(!outcome.is_handle(), "{:?} took a segment of the other kind", other);
            let (outcome, _) = on_planted::<S>(&bytes, Op::Reclaim)?;
            if kind == KIND_SHARED && real && !Forge::lied_about_holders(&lies) {
                prop_assert_eq!(outcome, Outcome::Reclaimed(0), "reclaim with a live holder");
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
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_SHARED);
}

#[test]
fn forged_unique_headers_are_claimed_only_when_they_describe_the_segment() {
    arena_space!(S, 1 << 20);
    forged_headers_hand_out_only_what_they_describe::<S>(KIND_UNIQUE);
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
        let differ: Vec<(usize, u8, u8)> =
            forged.iter().zip(&real).enumerate().filter(|(_, (f, r))| f != r).map(|(i, (f, r))| (i, *f, *r)).collect();
        assert_eq!((forged.len(), &differ[..]), (real.len(), &[][..]), "(offset, forged, real) of differing bytes");
    }
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

#[test]
fn a_zero_length_object_is_corrupt_after_the_timeout() {
    arena_space!(S, 1 << 20);
    for op in OPS {
        let (outcome, elapsed) = planted_outcome::<S>(&[], op);
        assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?}");
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
            for op in OPS {
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
    let reserved_in_fixed = FIXED_AT + 52;
    for at in [RESERVED_AT, RESERVED_AT + 3, CREATOR_AT, CREATOR_AT + 7, reserved_in_fixed] {
        for (original, op) in [(&shared, Op::Open), (&shared, Op::Reclaim), (&unique, Op::Claim)] {
            let mut bytes = original.clone();
            bytes[at] ^= 0x04;
            let (outcome, elapsed) = planted_outcome::<S>(&bytes, op);
            assert_eq!(outcome, Outcome::Failed(ErrorKind::Corrupt), "{op:?}, byte {at}");
            assert_eq!(elapsed, 0);
        }
    }
}
