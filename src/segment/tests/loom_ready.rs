//! loom models of the create/open handshake on the header's state word: the
//! creator's [`lifecycle::initialize`] and
//! [`lifecycle::publish`], openers' [`Header::inspect`](crate::segment::Header::inspect)
//! and [`lifecycle::wait_for_creator`], all the real functions, as `Mapping::create`
//! and `Mapping::open` (mapping.rs) call them.
//!
//! The creator (process 1, the main thread) initializes a zeroed header, writes the
//! value (a loom `UnsafeCell`) and publishes `Ready`. Each opener loops as `open`
//! does: inspect; on `NotReady(state)`, wait for the creator with the state it saw;
//! on `Ready`, read the value. The futex is the models' emulation: a wait ends only
//! through a wake (the slice never expires), so an opener that sleeps through the
//! publish is a thread blocked for good, which loom reports as a deadlock.
//!
//! What each model proves, over every interleaving loom explores:
//! - [`opener_sees_value_once_ready`]: one opener, arriving before `initialize`
//!   (it sees `Blank`), between `initialize` and `publish` (`Initializing`), or after
//!   `publish` (`Ready`), and sleeping or not: it always ends with `Ready`, never
//!   sees the header as `Corrupt` while it is being written (`inspect` of a
//!   half-written `Blank` header), sees the layout the creator wrote, and reads the
//!   value the creator wrote (loom fails the model if that read is not ordered
//!   after the write: `Ready`'s Release store and `inspect`'s Acquire load). No
//!   wake-up is lost: `publish`'s SeqCst store and load of `waiting` against the
//!   opener's SeqCst store of `waiting` and the futex's check of the word.
//! - [`two_openers_both_woken`]: two openers at once; `publish` wakes every sleeper
//!   (`u32::MAX`), so neither is left asleep, whichever states they saw (all 25
//!   pairs of the one-opener outcomes are explored).
//!
//! What they do not prove: the fixed fields and the checksum are read with volatile
//! copies that loom does not track, so their visibility rides on the same
//! Release/Acquire pair as the value, which loom checks only for the value; a
//! creator that dies before `Ready` (the opener's `creator_liveness` verdict and the
//! `Abandoned` path) and a timeout running out are not modelled (waits never expire);
//! the backend's `published` hook and the length check of the mapping are not part of
//! the handshake here. An opener that looks after `Destroying` is the member models'.

use core::mem::{align_of, size_of};
use core::time::Duration;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::{model, spawn_as, Segment, VALUE};
use crate::backend::Platform;
use crate::loom_support::{self, address, main_turn, slept_on, Model};
use crate::name::Name;
use crate::primitive::Ordering;
use crate::segment::lifecycle::{self, State};
use crate::segment::{Inspection, Kind, SegmentLayout, Shape, ValueType};

/// The object's name.
const NAME: &str = "ready";
/// The value type's fingerprint (any constant: creator and openers agree).
const FINGERPRINT: u64 = 0x5eed_f00d;
/// One wait's bound, as `Mapping::open` passes it; it never expires here.
const SLICE: Duration = Duration::from_millis(5);

/// The layout of the model's object: one slot, a `u64`.
fn layout() -> SegmentLayout {
    SegmentLayout::new(1, size_of::<u64>(), align_of::<u64>()).expect("a small layout")
}

/// What creator and openers agree the object holds.
fn value_type() -> ValueType {
    ValueType {
        kind: Kind::Shared,
        shape: Shape::One,
        size: size_of::<u64>(),
        align: align_of::<u64>(),
        fingerprint: FINGERPRINT,
    }
}

fn name() -> Name<'static> {
    Name::new(NAME).expect("a valid name")
}

/// `Mapping::create` (mapping.rs) for the current process, past the backend's
/// create: the header, the value, `Ready`.
#[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
fn create(seg: &Segment) {
    lifecycle::initialize(&seg.header, Kind::Shared, Model::current_process(), name(), &layout(), &value_type());
    seg.value.with_mut(|value| {
        // SAFETY: the cell lives as long as `seg`; loom fails the model if an
        // opener's read of it is not ordered after this write.
        unsafe { *value = VALUE }
    });
    lifecycle::publish::<Model>(&seg.header);
}

/// `Mapping::open` (mapping.rs) for the current process, once mapped: inspect until
/// `Ready`, waiting for the creator meanwhile, then read the value. A label: the
/// state it saw first, and whether it slept (and was woken).
fn open(seg: &Segment) -> String {
    let layout = layout();
    let mut first = None;
    loop {
        let inspected = seg.header.inspect(layout.total_len, name(), value_type());
        match inspected {
            Ok(Inspection::Ready(found)) => {
                assert_eq!(found, layout, "the opener found another layout than the creator's");
                first.get_or_insert(State::Ready);
                break;
            }
            Ok(Inspection::NotReady(state)) => {
                assert!(matches!(state, State::Blank | State::Initializing));
                first.get_or_insert(state);
                lifecycle::wait_for_creator::<Model>(&seg.header, state as u32, SLICE);
            }
            other => panic!("an opener of an object being created got {other:?}"),
        }
    }
    seg.use_value();
    let slept = slept_on(Some(address(&seg.header.state)));
    // A sleep ends only through `publish`'s wake, after which the state is `Ready`.
    assert!(slept <= 1, "an opener slept twice");
    let me = Model::current_process().get();
    format!("P{me} saw {:?}{}", first.unwrap(), if slept > 0 { ", slept" } else { "" })
}

/// A fresh, all-zero segment, with the `waiting` word's zero stored SeqCst: loom
/// takes an atomic's initial value for a non-SeqCst store and lets `publish`'s SeqCst
/// load of `waiting` return it even after an opener's SeqCst store of 1 that comes
/// first in the SeqCst order (tokio-rs/loom#180; the C++ rules forbid it, since
/// the zero happens before that store). Without this, loom reports a lost wake-up
/// that cannot happen; with it, the load sees what the SeqCst order says.
fn blank_segment() -> loom::sync::Arc<Segment> {
    let seg = Segment::blank(1);
    seg.header.waiting.store(0, Ordering::SeqCst);
    seg
}

/// What one opener may see first, and whether it slept, for process `P{pid}`.
fn opener_outcomes(pid: u64) -> Vec<String> {
    ["Blank", "Blank, slept", "Initializing", "Initializing, slept", "Ready"]
        .iter()
        .map(|o| format!("P{pid} saw {o}"))
        .collect()
}

/// `labels` as the `'static` list `model` takes (a test leaks it once).
fn leak(labels: Vec<String>) -> &'static [&'static str] {
    labels.into_iter().map(|l| &*String::leak(l)).collect::<Vec<_>>().leak()
}

#[test]
fn opener_sees_value_once_ready() {
    model(leak(opener_outcomes(2)), |main_last| {
        let seg = blank_segment();
        let opener = spawn_as(2, &seg, open);
        main_turn(main_last);
        loom_support::play(1);
        create(&seg);
        opener.join().unwrap()
    });
}

#[test]
fn two_openers_both_woken() {
    // Each opener independently: every pair of what they may see is explored.
    let pairs = opener_outcomes(2)
        .into_iter()
        .flat_map(|a| opener_outcomes(3).into_iter().map(move |b| format!("{a}; {b}")))
        .collect();
    model(leak(pairs), |main_last| {
        let seg = blank_segment();
        let openers: Vec<_> = [2, 3].into_iter().map(|p| spawn_as(p, &seg, open)).collect();
        main_turn(main_last);
        loom_support::play(1);
        create(&seg);
        openers.into_iter().map(|o| o.join().unwrap()).collect::<Vec<_>>().join("; ")
    });
}
