//! Hostile and broken segments on Linux: each gets a precise error, never a panic,
//! a hang or SIGBUS. Files are planted in `/dev/shm` as a squatter or a crashed
//! peer would leave them.
#![cfg(target_os = "linux")]

mod linux_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use linux_support::Scope;
use shmptr_linux::{ErrorKind, Shared, Unique};

fn path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

/// Writes `bytes` as the object `name`, mode 0600.
fn plant(name: &str, bytes: &[u8]) {
    std::fs::write(path(name), bytes).unwrap();
    std::fs::set_permissions(path(name), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The bytes of a real, ready `Shared<u64>` segment named `name` (removed again).
fn real_segment(name: &str) -> Vec<u8> {
    let object = Shared::<u64>::create(name, 7).unwrap();
    let bytes = std::fs::read(path(name)).unwrap();
    drop(object);
    bytes
}

fn open_kind(name: &str) -> ErrorKind {
    Shared::<u64>::options().timeout(Duration::from_millis(20)).open(name).unwrap_err().kind()
}

#[test]
fn empty_files_are_abandoned_and_short_files_corrupt() {
    let scope = Scope::new("empty_files_are_abandoned_and_short_files_corrupt");
    let name = scope.name("x");
    // A creator sizes its file before writing a byte: an empty file nobody is
    // creating is one whose creator died before that (issue 13).
    plant(&name, &[]);
    assert_eq!(open_kind(&name), ErrorKind::Abandoned, "zero-length");
    plant(&name, &[0u8; 100]);
    assert_eq!(open_kind(&name), ErrorKind::Corrupt, "shorter than the header");
    std::fs::remove_file(path(&name)).unwrap();
}

#[test]
fn garbage_is_corrupt_at_once_not_a_timeout() {
    let scope = Scope::new("garbage_is_corrupt_at_once_not_a_timeout");
    let name = scope.name("x");
    plant(&name, &[0xA5u8; 4096]);
    let t = Instant::now();
    let kind = Shared::<u64>::options().timeout(Duration::from_secs(10)).open(&name).unwrap_err().kind();
    assert_eq!(kind, ErrorKind::Corrupt);
    assert!(t.elapsed() < Duration::from_secs(1), "garbage must not be waited on");
    std::fs::remove_file(path(&name)).unwrap();
}

#[test]
fn a_bad_checksum_and_a_file_shorter_than_recorded_are_corrupt() {
    let scope = Scope::new("a_bad_checksum_and_a_file_shorter_than_recorded_are_corrupt");
    let name = scope.name("x");
    let mut bytes = real_segment(&name);
    let real = bytes.clone();
    bytes[40] ^= 1; // a write-once field: the checksum no longer matches
    plant(&name, &bytes);
    assert_eq!(open_kind(&name), ErrorKind::Corrupt);
    plant(&name, &real[..real.len() - 8]); // recorded length larger than the file
    assert_eq!(open_kind(&name), ErrorKind::Corrupt);
    plant(&name, &real); // the intact copy opens
    let copy = Shared::<u64>::open(&name).unwrap();
    assert_eq!(*copy, 7);
    assert_eq!(Shared::strong_count(&copy), 2, "the copy still records its creator's handle (ours, alive)");
    drop(copy);
    assert!(Scope::exists(&name), "a recorded live holder keeps it");
    std::fs::remove_file(path(&name)).unwrap();
}

#[test]
fn every_header_byte_mutated_gives_an_error_or_a_valid_handle() {
    let scope = Scope::new("every_header_byte_mutated_gives_an_error_or_a_valid_handle");
    let name = scope.name("x");
    let real = real_segment(&name);
    let mut handles = 0;
    for offset in 0..shmptr::HEADER_BYTES + shmptr::SLOT_BYTES {
        for mutate in [|b: u8| b ^ 0x01, |b: u8| b ^ 0x80, |_| 0x00, |_| 0xff] {
            let mut bytes = real.clone();
            bytes[offset] = mutate(bytes[offset]);
            if bytes == real {
                continue;
            }
            plant(&name, &bytes);
            match Shared::<u64>::options().timeout(Duration::from_millis(5)).open(&name) {
                Ok(handle) => {
                    // Only words that change at run time may differ in a usable segment.
                    assert!(offset >= 288, "byte {offset} is validated, yet the mutation was accepted");
                    assert_eq!(*handle, 7);
                    handles += 1;
                }
                Err(e) => assert_ne!(e.kind(), ErrorKind::Os, "byte {offset}: {e}"),
            }
            let _ = Shared::<u64>::reclaim(&name);
            let _ = std::fs::remove_file(path(&name));
        }
    }
    assert!(handles > 0, "mutations of run-time words (members, owners) are tolerated");
}

#[test]
fn a_squatters_world_writable_object_is_refused_unless_allowed() {
    let scope = Scope::new("a_squatters_world_writable_object_is_refused_unless_allowed");
    let name = scope.name("x");
    let real = real_segment(&name);
    plant(&name, &real);
    std::fs::set_permissions(path(&name), std::fs::Permissions::from_mode(0o666)).unwrap();
    // SAFETY: chown(2) on our own file, with a NUL-terminated path.
    let chowned = unsafe { libc::chown(format!("{}\0", path(&name)).as_ptr().cast(), 65534, 65534) } == 0;
    if !chowned {
        println!("SKIPPED: squatter test needs root to give the file to another user");
        std::fs::remove_file(path(&name)).unwrap();
        return;
    }
    assert_eq!(open_kind(&name), ErrorKind::PermissionDenied);
    let allowed = Shared::<u64>::options().allow_foreign_owner(true).open(&name).unwrap();
    assert_eq!(*allowed, 7);
    drop(allowed);
    let _ = std::fs::remove_file(path(&name));
}

#[test]
fn a_creator_killed_before_ready_is_abandoned_then_replaced() {
    const TEST: &str = "a_creator_killed_before_ready_is_abandoned_then_replaced";
    let scope = Scope::new(TEST);
    let (_control, name) = scope.creator_killed_mid_init(TEST);
    let t = Instant::now();
    let e = Shared::<[u64; 8]>::options().timeout(Duration::from_secs(5)).open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Abandoned, "{e}");
    assert!(t.elapsed() < Duration::from_secs(1), "a dead creator is not waited on");
    let fresh = Shared::<[u64; 8]>::open_or_create(&name, || [1; 8]).unwrap();
    assert_eq!(fresh[7], 1);
    drop(fresh);
    assert!(!Scope::exists(&name));
}

#[test]
fn a_huge_object_is_out_of_memory_at_create_not_sigbus_later() {
    let scope = Scope::new("a_huge_object_is_out_of_memory_at_create_not_sigbus_later");
    let name = scope.name("huge");
    // 1 TiB: more than any tmpfs here holds; fallocate refuses it at once.
    let e = Shared::<[u64; 1 << 37]>::create_zeroed(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    assert!(!Scope::exists(&name), "a failed create leaves nothing behind");
}

#[test]
fn unique_and_shared_refuse_each_others_real_segments() {
    let scope = Scope::new("unique_and_shared_refuse_each_others_real_segments");
    let (s, u) = (scope.name("s"), scope.name("u"));
    let shared = Shared::<u64>::create(&s, 1).unwrap();
    let unique = Unique::<u64>::create(&u, 1).unwrap();
    assert_eq!(Unique::<u64>::claim(&s).unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<u64>::open(&u).unwrap_err().kind(), ErrorKind::TypeMismatch);
    drop((shared, unique));
}
