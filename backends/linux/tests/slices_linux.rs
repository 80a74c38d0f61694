//! Runtime-sized objects with real processes (issue 13): a `Shared<[u32]>` of a
//! run-time length opened by another process; a `Unique<[u8]>` frame handed back
//! and forth by `release`/`claim` and by `release_mapped`/`Released::claim`;
//! creators killed, aborted or panicking inside their initializer leave nothing
//! that blocks the name; a file whose size or header a peer changes is `Corrupt`
//! (or `TypeMismatch`), never a slice longer than the file; and objects of
//! 256 MiB built on a thread with a 64 KiB stack. Every test uses names unique to
//! it and this run, and leaves `/dev/shm` as it found it.
#![cfg(target_os = "linux")]

mod linux_support;

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use linux_support::{role, wait_for, Scope};
use shmptr_linux::{ErrorKind, Shared, Unique};

/// A hand-shake object: whose turn it is, and the length the parent chose.
#[repr(C)]
struct Turns {
    turn: AtomicU32,
    ready: AtomicU32,
    length: AtomicU64,
}
shmptr::shm_safe!(Turns { turn, ready, length });

impl Turns {
    fn new(length: usize) -> Self {
        Turns { turn: AtomicU32::new(0), ready: AtomicU32::new(0), length: AtomicU64::new(length as u64) }
    }

    fn length(&self) -> usize {
        self.length.load(Ordering::Relaxed) as usize
    }

    /// Hands the turn to the other side.
    fn pass(&self, turn: u32) {
        self.turn.store(turn, Ordering::Release);
    }
}

/// A run-time length the compiler cannot see through.
fn runtime(length: usize) -> usize {
    std::hint::black_box(length)
}

/// Runs this test binary again as `role` in test `test` and waits (bounded) for
/// its exit status: for children expected to die or fail.
fn run_child(scope: &Scope, test: &str, role: &str) -> ExitStatus {
    scope.spawn(test, role).status()
}

// ---- Another process opens and claims slices ----

#[test]
fn a_child_opens_a_shared_slice_whose_length_the_parent_chose_at_run_time() {
    const TEST: &str = "a_child_opens_a_shared_slice_whose_length_the_parent_chose_at_run_time";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("table"));
    if role().is_some() {
        let control = Shared::<Turns>::open(&control_name).unwrap();
        let table = Shared::<[u32]>::open(&name).unwrap();
        assert_eq!(table.len(), control.length(), "the length is read from the header");
        assert!(table.iter().enumerate().all(|(i, &v)| v == i as u32 * 3 + 1), "the parent's contents");
        assert_eq!(Shared::strong_count(&table), 2);
        assert_eq!(Shared::process_count(&table), 2);
        assert_eq!(Shared::<[u64]>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
        assert_eq!(Shared::<u32>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
        return;
    }
    // Not a page multiple, and different each run.
    let length = runtime(100_003 + std::process::id() as usize % 1000);
    let control = Shared::<Turns>::create(&control_name, Turns::new(length)).unwrap();
    let table = Shared::<[u32]>::create_slice_with(&name, length, |i| i as u32 * 3 + 1).unwrap();
    scope.spawn(TEST, "reader").succeeds();
    assert_eq!(Shared::strong_count(&table), 1, "the child's handle went with it");
    drop((control, table));
    assert!(scope.leftovers().is_empty());
}

/// Whether every byte of `frame` is `byte`.
fn all(frame: &[u8], byte: u8) -> bool {
    frame.iter().all(|&b| b == byte)
}

const ROUNDS: u32 = 6;

#[test]
fn a_unique_frame_goes_back_and_forth_between_processes_by_release_and_claim() {
    const TEST: &str = "a_unique_frame_goes_back_and_forth_between_processes_by_release_and_claim";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("frame"));
    if role().is_some() {
        let control = Shared::<Turns>::open(&control_name).unwrap();
        for round in 0..ROUNDS {
            wait_for(&control.turn, 2 * round + 1);
            let mut frame = Unique::<[u8]>::claim(&name).unwrap();
            assert_eq!(frame.len(), control.length(), "round {round}: claim reads the length");
            assert!(all(&frame, (2 * round + 1) as u8), "round {round}: the parent's bytes");
            frame.fill((2 * round + 2) as u8);
            Unique::release(frame);
            control.pass(2 * round + 2);
        }
        return;
    }
    let length = runtime((1 << 20) + 123);
    let control = Shared::<Turns>::create(&control_name, Turns::new(length)).unwrap();
    let kid = scope.spawn(TEST, "consumer");
    let mut frame = Unique::<[u8]>::create_slice_zeroed(&name, length).unwrap();
    for round in 0..ROUNDS {
        frame.fill((2 * round + 1) as u8);
        Unique::release(frame);
        control.pass(2 * round + 1);
        wait_for(&control.turn, 2 * round + 2);
        frame = Unique::<[u8]>::claim(&name).unwrap();
        assert_eq!(frame.len(), length);
        assert!(all(&frame, (2 * round + 2) as u8), "round {round}: the child's bytes");
    }
    kid.succeeds();
    drop(frame);
    assert!(!Scope::exists(&name), "the last owner's drop removes it");
    drop(control);
    assert!(scope.leftovers().is_empty());
}

#[test]
fn a_unique_frame_goes_back_and_forth_between_processes_through_kept_mappings() {
    const TEST: &str = "a_unique_frame_goes_back_and_forth_between_processes_through_kept_mappings";
    let scope = Scope::new(TEST);
    let (control_name, name) = (scope.name("control"), scope.name("frame"));
    if role().is_some() {
        let control = Shared::<Turns>::open(&control_name).unwrap();
        wait_for(&control.turn, 1);
        let mut frame = Unique::<[u8]>::claim(&name).unwrap();
        assert!(all(&frame, 1));
        control.pass(2); // the parent now tries to claim a frame this live process owns
        wait_for(&control.turn, 3);
        frame.fill(2);
        let mut parked = Unique::release_mapped(frame);
        control.pass(4);
        for round in 1..ROUNDS {
            wait_for(&control.turn, 2 * round + 3);
            let mut frame = parked.claim().expect("the parent released it");
            assert_eq!(frame.len(), control.length());
            assert!(all(&frame, (2 * round + 1) as u8), "round {round}: the parent's bytes");
            frame.fill((2 * round + 2) as u8);
            parked = Unique::release_mapped(frame);
            control.pass(2 * round + 4);
        }
        drop(parked); // unmaps; the object stays, parked
        return;
    }
    let length = runtime((1 << 20) - 7);
    let control = Shared::<Turns>::create(&control_name, Turns::new(length)).unwrap();
    let kid = scope.spawn(TEST, "consumer");
    let mut frame = Unique::<[u8]>::create_slice_zeroed(&name, length).unwrap();
    frame.fill(1);
    let parked = Unique::release_mapped(frame);
    control.pass(1);
    wait_for(&control.turn, 2);
    let refused = parked.claim().expect_err("a live process owns it");
    assert_eq!(refused.kind(), ErrorKind::Busy, "{refused}");
    let mut parked = refused.into_released();
    control.pass(3);
    for round in 1..ROUNDS {
        wait_for(&control.turn, 2 * round + 2);
        let mut frame = parked.claim().expect("the child released it");
        assert_eq!(frame.len(), length);
        assert!(all(&frame, (2 * round) as u8), "round {round}: the child's bytes");
        frame.fill((2 * round + 1) as u8);
        parked = Unique::release_mapped(frame);
        control.pass(2 * round + 3);
    }
    wait_for(&control.turn, 2 * ROUNDS + 2);
    kid.succeeds();
    let frame = parked.claim().expect("the child has gone");
    assert!(all(&frame, (2 * ROUNDS) as u8));
    drop(frame);
    assert!(!Scope::exists(&name));
    drop(control);
    assert!(scope.leftovers().is_empty());
}

// ---- Creators that die or fail inside their initializer ----

#[test]
fn a_creator_killed_inside_create_slice_with_leaves_nothing_that_blocks_the_name() {
    const TEST: &str = "a_creator_killed_inside_create_slice_with_leaves_nothing_that_blocks_the_name";
    let scope = Scope::new(TEST);
    let (control_name, shared, unique) = (scope.name("control"), scope.name("shared"), scope.name("unique"));
    if let Some(role) = role() {
        let control = Shared::<Turns>::open(&control_name).unwrap();
        let stop = |i: usize| {
            if i == 500 {
                control.ready.store(1, Ordering::Release);
                wait_for(&control.turn, 1); // killed here, mid-initialisation
            }
            i as u32
        };
        match role.as_str() {
            "shared" => drop(Shared::<[u32]>::create_slice_with(&shared, runtime(1000), stop)),
            _ => drop(Unique::<[u32]>::create_slice_with(&unique, runtime(1000), stop)),
        }
        unreachable!("killed first");
    }
    let control = Shared::<Turns>::create(&control_name, Turns::new(0)).unwrap();
    scope.spawn_ready(TEST, "shared", &control.ready).kill();
    assert!(Scope::exists(&shared), "the killed creator's file is there");
    let (table, created) =
        Shared::<[u32]>::options().open_or_create_slice_with_status(&shared, runtime(7), |i| i as u32 * 2).unwrap();
    assert!(created, "the abandoned object is replaced, not opened");
    assert_eq!(&*table, &[0, 2, 4, 6, 8, 10, 12]);
    drop(table);
    assert!(!Scope::exists(&shared));

    control.ready.store(0, Ordering::Release);
    scope.spawn_ready(TEST, "unique", &control.ready).kill();
    let reclaimed = shmptr_linux::reclaim(&unique).unwrap();
    assert!(reclaimed.destroyed, "an abandoned Unique is removed by reclaim");
    let frame = Unique::<[u32]>::create_slice_zeroed(&unique, runtime(3)).unwrap();
    assert_eq!(frame.len(), 3);
    drop((frame, control));
    assert!(scope.leftovers().is_empty());
}

#[test]
fn an_opener_waiting_for_an_initializer_that_panics_finds_the_object_gone() {
    // The opener maps the unfinished object and waits for `Ready`; the creator's
    // initializer then panics, and the creator lives on. The opener must not wait
    // out its timeout for it (`Timeout`): the object is withdrawn (state
    // `Destroyed`, waiters woken) and its name removed, and the opener, which
    // looks the name up again on every round, finds it gone.
    let scope = Scope::new("an_opener_waiting_for_an_initializer_that_panics_finds_the_object_gone");
    let name = scope.name("p");
    let (inside, wait_inside) = std::sync::mpsc::channel();
    let creator = {
        let name = name.clone();
        std::thread::spawn(move || {
            std::panic::catch_unwind(move || {
                Shared::<[u32]>::create_slice_with(&name, runtime(4), |i| {
                    if i == 2 {
                        inside.send(()).unwrap();
                        // Long enough for the opener to map it and sleep on it.
                        std::thread::sleep(Duration::from_millis(300));
                        panic!("the initializer fails");
                    }
                    i as u32
                })
            })
        })
    };
    wait_inside.recv().unwrap();
    let opened = Shared::<[u32]>::options().timeout(Duration::from_secs(20)).open(&name).unwrap_err();
    assert_eq!(opened.kind(), ErrorKind::NotFound, "{opened}");
    assert!(creator.join().unwrap().is_err(), "the initializer panicked");
    let (table, created) = Shared::<[u32]>::options().open_or_create_slice_with_status(&name, 1, |_| 7).unwrap();
    assert!(created && table[0] == 7);
    drop(table);
    assert!(scope.leftovers().is_empty());
}

#[test]
fn an_empty_file_a_creator_left_before_sizing_it_is_replaced_by_open_or_create() {
    // A creator killed between creating its file and sizing it leaves an empty
    // file that nobody's creation lock holds (found by the frames example's kill
    // loop: 2 of 40 kills). Typed openers wait the whole timeout (a creator may
    // still size it), then take it for abandoned: `open` reports it,
    // `open_or_create` and `reclaim` remove it. The untyped operations, never told
    // which object to expect, leave it alone: it need not be shmptr's.
    let scope = Scope::new("an_empty_file_a_creator_left_before_sizing_it_is_replaced_by_open_or_create");
    let short = std::time::Duration::from_millis(50);
    let (table, frame) = (scope.name("table"), scope.name("frame"));
    for name in [&table, &frame] {
        std::fs::File::create(Scope::path(name)).unwrap().set_permissions(PermissionsExt::from_mode(0o600)).unwrap();
    }
    let opened = Shared::<[u32]>::options().timeout(short).open(&table).unwrap_err();
    assert_eq!(opened.kind(), ErrorKind::Abandoned, "{opened}");
    assert!(Scope::exists(&table), "open only reports it");
    let untyped = shmptr_linux::reclaim(&table);
    assert!(untyped.is_err() || !untyped.unwrap().destroyed, "untyped reclaim never removes a file without the magic");
    assert!(Scope::exists(&table));
    let (replaced, created) = Shared::<[u32]>::options()
        .timeout(short)
        .open_or_create_slice_with_status(&table, runtime(2), |i| i as u32)
        .unwrap();
    assert!(created, "replaced, not opened");
    assert_eq!(&*replaced, &[0, 1]);
    drop(replaced);

    assert_eq!(Shared::<u64>::options().timeout(short).reclaim(&frame).unwrap(), 0);
    assert!(!Scope::exists(&frame), "typed reclaim removed the empty file");
    assert!(scope.leftovers().is_empty());
}

#[test]
fn a_creator_that_aborts_or_panics_inside_create_slice_with_leaves_nothing_that_blocks_the_name() {
    const TEST: &str = "a_creator_that_aborts_or_panics_inside_create_slice_with_leaves_nothing_that_blocks_the_name";
    let scope = Scope::new(TEST);
    let name = scope.name("table");
    if let Some(role) = role() {
        let fail = |i: usize| -> u32 {
            if i == 3 {
                match role.as_str() {
                    "abort" => std::process::abort(),
                    _ => panic!("the initializer fails at element 3"),
                }
            }
            i as u32
        };
        if role == "panic-caught" {
            let caught = std::panic::catch_unwind(|| drop(Shared::<[u32]>::create_slice_with(&name, runtime(8), fail)));
            assert!(caught.is_err());
            assert!(!Scope::exists(&name), "removed as the panic unwound");
            return;
        }
        let _ = Shared::<[u32]>::create_slice_with(&name, runtime(8), fail);
        unreachable!("aborted or panicked first");
    }
    for (role, succeeds) in [("panic-caught", true), ("panic-uncaught", false), ("abort", false)] {
        let status = run_child(&scope, TEST, role);
        assert_eq!(status.success(), succeeds, "{role}: {status}");
        if role != "abort" {
            assert!(!Scope::exists(&name), "{role}: the unwinding creator removed its object");
        }
        let (table, created) =
            Shared::<[u32]>::options().open_or_create_slice_with_status(&name, runtime(2), |i| i as u32 + 40).unwrap();
        assert!(created, "{role}: nothing blocked the name");
        assert_eq!(&*table, &[40, 41]);
        drop(table);
        assert!(!Scope::exists(&name));
    }
    assert!(scope.leftovers().is_empty());
}

// ---- A file whose size or header a peer changes ----

/// The file of the object `name`, for reading and writing.
fn file(name: &str) -> std::fs::File {
    OpenOptions::new().read(true).write(true).open(Scope::path(name)).unwrap()
}

const FIXED_AT: u64 = 24;
const CHECKSUM_AT: u64 = 280;
const CREATOR_AT: u64 = 16;

/// A slice object's write-once header fields (FORMAT.md, version 2).
#[derive(Clone, Copy, Debug)]
struct Fixed {
    bytes: [u8; 256],
    creator: u64,
}

impl Fixed {
    fn read(name: &str) -> Fixed {
        let f = file(name);
        let mut bytes = [0; 256];
        f.read_exact_at(&mut bytes, FIXED_AT).unwrap();
        let mut creator = [0; 8];
        f.read_exact_at(&mut creator, CREATOR_AT).unwrap();
        Fixed { bytes, creator: u64::from_le_bytes(creator) }
    }

    fn word(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    fn set_word(&mut self, at: usize, value: u64) {
        self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn half(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }

    fn total_len(&self) -> u64 {
        self.word(8)
    }

    fn value_offset(&self) -> u64 {
        self.word(16)
    }

    fn length(&self) -> u64 {
        self.word(56)
    }

    /// The checksum over these fields and the creator (FORMAT.md §3.5): FNV-1a
    /// over 32-bit little-endian words, the creator's two, the 16 of the fields
    /// before the name, then the name field's through the word `name_len` ends in.
    fn checksum(&self) -> u64 {
        use shmptr::fingerprint;
        let name_len = (self.half(48) as usize).min(192);
        let mut bytes = self.creator.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.bytes[..64 + name_len.div_ceil(4) * 4]);
        let start = fingerprint::start("shmptr.fixed", 0, 0);
        bytes.chunks(4).fold(start, |h, w| {
            (h ^ u64::from(u32::from_le_bytes(w.try_into().unwrap()))).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// Writes the fields into the file, with the checksum `checksum` (`None`:
    /// the correct one).
    fn write(&self, name: &str, checksum: Option<u64>) {
        let f = file(name);
        f.write_all_at(&self.bytes, FIXED_AT).unwrap();
        f.write_all_at(&checksum.unwrap_or_else(|| self.checksum()).to_le_bytes(), CHECKSUM_AT).unwrap();
    }
}

#[test]
fn a_slice_whose_file_a_peer_shortened_is_corrupt_never_a_sigbus() {
    let scope = Scope::new("a_slice_whose_file_a_peer_shortened_is_corrupt_never_a_sigbus");
    let (shared, unique) = (scope.name("shared"), scope.name("unique"));
    let length = runtime(100_000);
    let table = Shared::<[u64]>::create_slice_with(&shared, length, |i| i as u64).unwrap();
    let full = std::fs::metadata(Scope::path(&shared)).unwrap().len();
    let fixed = Fixed::read(&shared);
    assert_eq!(fixed.total_len(), full, "the file is as long as its header says");
    assert_eq!(fixed.length(), length as u64);
    let value_offset = fixed.value_offset();
    for short in [full - 1, full - 8, full - 4096, value_offset + 8, value_offset, 4096] {
        // No access to `table`'s value while its file is shorter.
        file(&shared).set_len(short).unwrap();
        let error = Shared::<[u64]>::open(&shared).expect_err("a length that does not fit the file");
        assert_eq!(error.kind(), ErrorKind::Corrupt, "file of {short} bytes: {error}");
        assert_eq!(table.len(), length, "this process's length is its own");
        file(&shared).set_len(full).unwrap();
    }
    // A longer file: the slice is still the header's length, never the file's.
    file(&shared).set_len(full + 65536).unwrap();
    let opened = Shared::<[u64]>::open(&shared).unwrap();
    assert_eq!(opened.len(), length);
    assert_eq!(opened[length / 2], 0, "zeroed by the shortening above");
    drop((opened, table));
    assert!(!Scope::exists(&shared));

    let frame = Unique::<[u8]>::create_slice_zeroed(&unique, runtime(1 << 20)).unwrap();
    Unique::release(frame);
    let full = std::fs::metadata(Scope::path(&unique)).unwrap().len();
    for short in [full - 1, full / 2] {
        file(&unique).set_len(short).unwrap();
        let error = Unique::<[u8]>::claim(&unique).expect_err("a length that does not fit the file");
        assert_eq!(error.kind(), ErrorKind::Corrupt, "file of {short} bytes: {error}");
        file(&unique).set_len(full).unwrap();
    }
    let frame = Unique::<[u8]>::claim(&unique).unwrap();
    assert_eq!(frame.len(), 1 << 20);
    drop(frame);
    assert!(scope.leftovers().is_empty());
}

/// The lies a peer writes into a slice header's length; see the test below.
const LIES: [&str; 7] = ["same", "raw+1", "signed*2", "consistent*2", "consistent/2", "overflow", "shape-one"];

#[test]
fn a_slice_length_a_peer_rewrites_is_corrupt_or_a_mismatch_never_a_slice_past_the_file() {
    const TEST: &str = "a_slice_length_a_peer_rewrites_is_corrupt_or_a_mismatch_never_a_slice_past_the_file";
    let scope = Scope::new(TEST);
    let name = scope.name("table");
    if let Some(lie) = role() {
        // The peer: rewrites the header through its own descriptor.
        let mut f = Fixed::read(&name);
        let (length, value_offset) = (f.length(), f.value_offset());
        match lie.as_str() {
            "same" => f.write(&name, None),
            "raw+1" => {
                // A plain write of the length word, the checksum left as it was.
                let mut checksum = [0; 8];
                file(&name).read_exact_at(&mut checksum, CHECKSUM_AT).unwrap();
                f.set_word(56, length + 1);
                f.write(&name, Some(u64::from_le_bytes(checksum)));
            }
            "signed*2" => {
                f.set_word(56, length * 2);
                f.write(&name, None);
            }
            "consistent*2" | "consistent/2" => {
                let forged = if lie == "consistent*2" { length * 2 } else { length / 2 };
                f.set_word(56, forged);
                f.set_word(24, forged * 4); // value_size
                f.set_word(8, value_offset + forged * 4); // total_len
                f.write(&name, None);
            }
            "overflow" => {
                f.set_word(56, u64::MAX / 2);
                f.write(&name, None);
            }
            _ => {
                f.bytes[52..56].copy_from_slice(&0u32.to_le_bytes()); // shape: one value
                f.set_word(56, 0);
                f.write(&name, None);
            }
        }
        return;
    }
    let length = runtime(10_000);
    let table = Shared::<[u32]>::create_slice_with(&name, length, |i| i as u32).unwrap();
    let original = Fixed::read(&name);
    let original_checksum = {
        let mut word = [0; 8];
        file(&name).read_exact_at(&mut word, CHECKSUM_AT).unwrap();
        u64::from_le_bytes(word)
    };
    assert_eq!(original.checksum(), original_checksum, "this test computes the checksum as the core does");
    let file_len = std::fs::metadata(Scope::path(&name)).unwrap().len();
    for lie in LIES {
        scope.spawn(TEST, lie).succeeds();
        match Shared::<[u32]>::open(&name) {
            Ok(opened) => {
                assert!(matches!(lie, "same" | "consistent/2"), "{lie}: opened a header that contradicts itself");
                let end = original.value_offset() + opened.len() as u64 * 4;
                assert!(end <= file_len, "{lie}: a slice of {} elements past the file's end", opened.len());
                if lie == "same" {
                    assert_eq!(opened.len(), length);
                    assert_eq!(opened[length - 1], length as u32 - 1);
                }
            }
            Err(error) => {
                assert_ne!(lie, "same", "a header rewritten as it was opens: {error}");
                let expected = [ErrorKind::Corrupt, ErrorKind::TypeMismatch, ErrorKind::Unsupported];
                assert!(expected.contains(&error.kind()), "{lie}: {error}");
                if lie == "raw+1" || lie == "signed*2" || lie == "consistent*2" {
                    assert_eq!(error.kind(), ErrorKind::Corrupt, "{lie}: {error}");
                }
                if lie == "shape-one" {
                    assert_eq!(error.kind(), ErrorKind::TypeMismatch, "{lie}: {error}");
                }
            }
        }
        assert_eq!(table.len(), length, "{lie}: a handle's length is its own, never re-read");
        assert_eq!(table[length - 1], length as u32 - 1);
        original.write(&name, Some(original_checksum));
        assert_eq!(Shared::<[u32]>::open(&name).unwrap().len(), length, "{lie}: restored");
    }
    drop(table);
    assert!(scope.leftovers().is_empty());
}

// ---- Builders on Linux ----

#[test]
fn unique_options_mode_sets_the_files_permissions() {
    let scope = Scope::new("unique_options_mode_sets_the_files_permissions");
    let (a, b) = (scope.name("a"), scope.name("b"));
    let frame = Unique::<[u8]>::options().mode(0o640).create_slice_zeroed(&a, runtime(10)).unwrap();
    let job = Unique::<[u64; 4]>::options().mode(0o600).create_with(&b, |j| j[3] = 3).unwrap();
    let mode = |name: &str| std::fs::metadata(Scope::path(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&a), mode(&b)), (0o640, 0o600));
    assert_eq!((frame.len(), job[3]), (10, 3));
    drop((frame, job));
    assert!(scope.leftovers().is_empty());
}

// ---- Large objects on a small stack ----

/// Bytes free in `/dev/shm`.
fn shm_free_bytes() -> u64 {
    let stat = rustix::fs::statvfs("/dev/shm").expect("statvfs /dev/shm");
    stat.f_bavail.saturating_mul(stat.f_frsize)
}

type Big = [u8; 256 << 20];
type Mid = [u8; 64 << 20];

#[test]
fn objects_of_256_mib_are_created_on_a_thread_with_a_64_kib_stack() {
    let scope = Scope::new("objects_of_256_mib_are_created_on_a_thread_with_a_64_kib_stack");
    let free = shm_free_bytes();
    if free < 700 << 20 {
        println!("SKIPPED: /dev/shm has {} MiB free, this test needs 700", free >> 20);
        return;
    }
    let names: Vec<String> = (0..8).map(|i| scope.name(&format!("big{i}"))).collect();
    let small_stack = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        let (big, mid) = (256 << 20, 64 << 20);
        let u = Unique::<Big>::create_zeroed(&names[0]).unwrap();
        assert_eq!((u[0], u[big - 1]), (0, 0));
        let s = Shared::<Big>::create_zeroed(&names[1]).unwrap();
        let opened = Shared::<Big>::open(&names[1]).unwrap();
        assert_eq!((s[big - 1], opened[0]), (0, 0));
        drop((u, s, opened));

        let mut w = Unique::<Mid>::create_with(&names[2], |v| {
            v[0] = 1;
            v[mid - 1] = 2;
        })
        .unwrap();
        w[1] = 3;
        Unique::release(w);
        let w = Unique::<Mid>::claim(&names[2]).unwrap();
        assert_eq!((w[0], w[1], w[mid - 1]), (1, 3, 2));
        let sw = Shared::<Mid>::options().mode(0o600).create_with(&names[3], |v| v[mid - 1] = 4).unwrap();
        assert_eq!(sw[mid - 1], 4);
        let uo = Unique::<Mid>::options().mode(0o600).create_zeroed(&names[4]).unwrap();
        assert_eq!(uo[mid - 1], 0);
        drop((w, sw, uo));

        let us = Unique::<[u8]>::create_slice_zeroed(&names[5], runtime(big)).unwrap();
        let ss = Shared::<[u8]>::create_slice_zeroed(&names[6], runtime(big)).unwrap();
        assert_eq!((us.len(), us[big - 1], ss.len(), ss[big - 1]), (big, 0, big, 0));
        drop((us, ss));
        let sw = Shared::<[u64]>::create_slice_with(&names[7], runtime(mid / 8), |i| i as u64).unwrap();
        assert_eq!((sw.len(), sw[mid / 8 - 1]), (mid / 8, (mid / 8 - 1) as u64));
        drop(sw);
        let uw = Unique::<[u8]>::create_slice_with(&names[7], runtime(mid), |i| i as u8).unwrap();
        assert_eq!((uw[255], uw[mid - 1]), (255, 255));
    });
    small_stack.expect("spawning the thread").join().expect("no stack overflow, no failure");
    assert!(scope.leftovers().is_empty());
}
