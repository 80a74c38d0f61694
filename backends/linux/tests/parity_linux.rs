//! `Shared::ptr_eq` on Linux, where each `open` is its own `mmap`: two handles on
//! one object from separate opens in one process live at different addresses and
//! are still the same object (the file's device and inode, which this process
//! recorded when it mapped them); handles on different objects are not, even with
//! equal values or the same name. Every test uses names unique to it and this run,
//! and checks that it leaves nothing in `/dev/shm`.
#![cfg(target_os = "linux")]

mod linux_support;

use std::sync::atomic::{AtomicU64, Ordering};

use linux_support::Scope;
use shmptr_linux::{ErrorKind, Shared};

#[test]
fn two_opens_of_one_object_are_ptr_eq_at_different_addresses() {
    let scope = Scope::new("two_opens_of_one_object_are_ptr_eq_at_different_addresses");
    let name = scope.name("one");
    let created = Shared::<AtomicU64>::create(&name, AtomicU64::new(1)).unwrap();
    let first = Shared::<AtomicU64>::open(&name).unwrap();
    let second = Shared::<AtomicU64>::open(&name).unwrap();

    // Three mappings of one file: three addresses, one value.
    let addresses = [format!("{created:p}"), format!("{first:p}"), format!("{second:p}")];
    assert_ne!(addresses[0], addresses[1], "each open is its own mapping");
    assert_ne!(addresses[1], addresses[2], "each open is its own mapping");
    first.fetch_add(1, Ordering::Relaxed);
    assert_eq!(second.load(Ordering::Relaxed), 2, "the same bytes");

    assert!(Shared::ptr_eq(&created, &first));
    assert!(Shared::ptr_eq(&first, &second));
    assert!(Shared::ptr_eq(&second, &created), "symmetric");
    assert!(Shared::ptr_eq(&first, &first.clone()), "clones share a mapping");
    assert!(Shared::ptr_eq(&first.clone(), &second.clone()));

    drop((created, first, second));
    assert!(!Scope::exists(&name), "the last handle unlinked it");
    assert!(scope.leftovers().is_empty());
}

#[test]
fn different_objects_are_not_ptr_eq() {
    let scope = Scope::new("different_objects_are_not_ptr_eq");
    let a = Shared::<u64>::create(&scope.name("a"), 7).unwrap();
    let b = Shared::<u64>::create(&scope.name("b"), 7).unwrap();
    let a_again = Shared::<u64>::open(&scope.name("a")).unwrap();
    assert_eq!(a, b, "equal values");
    assert!(!Shared::ptr_eq(&a, &b), "but two objects");
    assert!(!Shared::ptr_eq(&a_again, &b));
    assert!(Shared::ptr_eq(&a_again, &a));
    drop((a, b, a_again));
    assert!(scope.leftovers().is_empty());
}

#[test]
fn the_same_name_on_a_new_file_is_another_object() {
    // The name is removed behind the handles' back (as `rm /dev/shm/...` would) and
    // a new object is created under it: identity is the file, not the name.
    let scope = Scope::new("the_same_name_on_a_new_file_is_another_object");
    let name = scope.name("renamed");
    let old = Shared::<u64>::create(&name, 1).unwrap();
    let old_open = Shared::<u64>::open(&name).unwrap();
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(Shared::<u64>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    let new = Shared::<u64>::create(&name, 1).unwrap();
    let new_open = Shared::<u64>::open(&name).unwrap();

    assert!(Shared::ptr_eq(&old, &old_open));
    assert!(Shared::ptr_eq(&new, &new_open));
    assert!(!Shared::ptr_eq(&old, &new), "same name and value, another file");
    assert!(!Shared::ptr_eq(&old_open, &new_open));

    drop((old, old_open));
    assert!(Scope::exists(&name), "the old object's last handle leaves the new file alone");
    drop((new, new_open));
    assert!(!Scope::exists(&name));
    assert!(scope.leftovers().is_empty());
}
