//! Review of the speed and size changes since 244dce4 (session 17), on the arena:
//! the stored name copied and unlinked by that copy (`destroy`), a handle's slot
//! kept as a pointer (Stacked Borrows, with a peer writing the slot table), and
//! the arena's `is_current_process` with `Arena::enter`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use shmptr::{ErrorKind, HEADER_BYTES, NAME_MAX, SLOT_BYTES};
use shmptr_arena::{arena_space, Arena, Shared, Space};

mod common;
use common::as_process;

/// Where the write-once fields' `name_len` and name field lie (FORMAT.md: `Fixed`
/// at 24, `name_len` at +48, the name at +64, `NAME_MAX` bytes).
const NAME_LEN_AT: usize = 24 + 48;
const NAME_AT: usize = 24 + 64;

/// Writes `name_len` and `name` (then zeros) into the stored name of `object`.
fn forge_name<S: Space>(object: &str, name_len: u32, name: &[u8]) {
    // SAFETY: single-threaded; no reference into the object is used across the call.
    unsafe {
        Arena::<S>::with_bytes(object, |b| {
            b[NAME_LEN_AT..NAME_LEN_AT + 4].copy_from_slice(&name_len.to_ne_bytes());
            b[NAME_AT..NAME_AT + NAME_MAX].fill(0);
            b[NAME_AT..NAME_AT + name.len()].copy_from_slice(name);
        })
    }
    .unwrap();
}

#[test]
fn a_peer_storing_another_objects_name_never_makes_the_last_drop_unlink_that_object() {
    arena_space!(S, 1 << 16);
    let victim = Shared::<u64, S>::create("s17.victim", 7).unwrap();
    let a = Shared::<u64, S>::create("s17.a", 1).unwrap();
    forge_name::<S>("s17.a", 10, b"s17.victim");
    drop(a);
    assert!(Arena::<S>::exists("s17.victim"), "the last drop of s17.a unlinked s17.victim, the name a peer stored");
    assert_eq!(*Shared::<u64, S>::open("s17.victim").unwrap(), 7);
    assert_eq!(*victim, 7);
}

#[test]
fn a_forged_stored_name_never_panics_the_last_drop() {
    let l = NAME_MAX as u32;
    let long = [b'a'; NAME_MAX];
    let mut bad = [b'a'; NAME_MAX];
    bad[NAME_MAX - 1] = b'/';
    // name_len, bytes: beyond the field (capped), zero, one invalid byte at the end,
    // a leading '.', a length past the bytes (zeros are invalid).
    let cases: [(u32, &[u8]); 6] =
        [(u32::MAX, &long), (l + 1, &long), (0, &long), (l, &bad), (3, b".ab"), (9, b"s17.b")];
    arena_space!(S, 1 << 16);
    for (len, bytes) in cases {
        let a = Shared::<u64, S>::create("s17.b", 1).unwrap();
        let b = Shared::<u64, S>::open("s17.b").unwrap();
        forge_name::<S>("s17.b", len, bytes);
        drop(a);
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(b)));
        assert!(dropped.is_ok(), "name_len {len}: the last drop panicked");
        // The name the object was created with is not what the header says: it
        // stays (leaked), never another one removed. A fresh create of another
        // name still works (the arena's table is consistent).
        assert!(Arena::<S>::exists("s17.b"), "name_len {len}: no name was validated, none unlinked");
        drop(Shared::<u64, S>::create("s17.c", 2).unwrap());
        Arena::<S>::remove("s17.b").unwrap();
    }
}

#[test]
fn the_last_drop_unlinks_a_name_of_every_length() {
    // `stored_name` copies the words the name ends in: every length modulo the
    // word, and the full field.
    let lengths: Vec<usize> = if cfg!(miri) {
        vec![1, 7, 8, 9, 15, 16, 17, NAME_MAX - 9, NAME_MAX - 8, NAME_MAX - 1, NAME_MAX]
    } else {
        (1..=NAME_MAX).collect()
    };
    arena_space!(S, 1 << 16);
    for len in lengths {
        let name: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let a = Shared::<u64, S>::create(&name, 1).unwrap();
        let b = a.clone();
        drop(a);
        drop(b);
        assert!(!Arena::<S>::exists(&name), "length {len}: the last drop left the name");
    }
}

#[test]
fn a_peer_writing_the_whole_slot_table_between_clones_never_breaks_the_kept_slot_pointer() {
    // The handle keeps a pointer to its slot; a peer's writes to every byte of
    // the table (padding included) between its clones and drops must leave it
    // usable (Stacked Borrows under Miri: ac8c5e0's bug was a reference there).
    arena_space!(S, 1 << 16);
    let a = Shared::<u64, S>::options().slots(3).create("s17.slots", 5).unwrap();
    let p = Arena::<S>::spawn();
    let other = as_process::<S, _>(p, || Shared::<u64, S>::open("s17.slots").unwrap());
    for fill in [0xa5u8, 0x00, 0xff] {
        // SAFETY: single-threaded; no reference into the object is used across it.
        unsafe { Arena::<S>::with_bytes("s17.slots", |b| b[HEADER_BYTES..HEADER_BYTES + 3 * SLOT_BYTES].fill(fill)) }
            .unwrap();
        let c = a.clone();
        let d = as_process::<S, _>(p, || other.clone());
        assert_eq!((*c, *d), (5, 5));
        // Counts are read from a forged table: any number, never a panic.
        let _ = (Shared::strong_count(&c), Shared::process_count(&c));
        as_process::<S, _>(p, || drop(d));
        drop(c);
    }
    as_process::<S, _>(p, || drop(other));
    assert_eq!(*a, 5);
    drop(a);
}

#[test]
fn a_handle_used_as_another_arena_process_is_that_process_inheritance() {
    arena_space!(S, 1 << 16);
    let p1 = Arena::<S>::spawn();
    let p2 = Arena::<S>::spawn();
    let a = as_process::<S, _>(p1, || Shared::<u64, S>::create("s17.enter", 3).unwrap());
    let a2 = as_process::<S, _>(p1, || a.clone());
    assert_eq!(Shared::strong_count(&a), 2);
    // As p2, `a` is inherited: a clone is p2's own attachment, a drop releases nothing.
    let own = as_process::<S, _>(p2, || {
        let own = a.clone();
        assert_eq!(Shared::process_count(&own), 2);
        drop(a2);
        own
    });
    as_process::<S, _>(p1, || {
        assert_eq!(Shared::strong_count(&a), 3, "p2's drop of p1's handle released p1's count");
    });
    // p1 dies holding `a`: p2's attachment reclaims it on its last drop.
    // SAFETY: nothing p1 made is used again (forgotten).
    unsafe { Arena::<S>::kill(p1) };
    std::mem::forget(a);
    as_process::<S, _>(p2, || {
        assert_eq!(*own, 3);
        drop(own);
    });
    assert!(!Arena::<S>::exists("s17.enter"));
    assert_eq!(Shared::<u64, S>::open("s17.enter").unwrap_err().kind(), ErrorKind::NotFound);
}

/// A clone is a handle on the same object. As another process (a forked child
/// on Linux), a clone re-opens by the stored name, which a peer can make another
/// object's: the clone must then be refused (a panic, as documented), never be a
/// handle on that other object (before `reopen_inherited` checked `same_object`,
/// it read the other object's 2).
#[test]
fn a_clone_made_as_another_process_is_never_a_handle_on_another_object() {
    arena_space!(S, 1 << 16);
    let p1 = Arena::<S>::spawn();
    let p2 = Arena::<S>::spawn();
    let (a, b) = as_process::<S, _>(p1, || {
        (Shared::<u64, S>::create("s17.same.a", 1).unwrap(), Shared::<u64, S>::create("s17.same.b", 2).unwrap())
    });
    forge_name::<S>("s17.same.a", 10, b"s17.same.b");
    let clone = as_process::<S, _>(p2, || catch_unwind(AssertUnwindSafe(|| a.clone())).ok());
    let read = clone.as_ref().map(|c| **c);
    if let Some(clone) = clone {
        as_process::<S, _>(p2, || drop(clone));
    }
    forge_name::<S>("s17.same.a", 10, b"s17.same.a");
    as_process::<S, _>(p1, || drop((a, b)));
    assert!(!Arena::<S>::exists("s17.same.a") && !Arena::<S>::exists("s17.same.b"));
    assert!(
        read.is_none() || read == Some(1),
        "a clone of the handle on s17.same.a made as another process reads {read:?}: a handle on s17.same.b"
    );
}
