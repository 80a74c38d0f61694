//! The behaviour suite, written once over any backend. Each backend's tests
//! instantiate it with [`behaviour_suite!`]: `backends/arena/tests/suite.rs` on the
//! arena, `backends/linux/tests/linux.rs` on real `/dev/shm` objects.

// Each test function's name states the behaviour it checks.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use shmptr::{Backend, ErrorKind, Shared, Unique};

/// Where a test's objects live: a name prefix unique to the test (and run).
#[derive(Debug)]
pub struct Ctx {
    pub prefix: String,
}

impl Ctx {
    pub fn new(prefix: impl Into<String>) -> Self {
        Ctx { prefix: prefix.into() }
    }

    pub fn name(&self, tag: &str) -> String {
        format!("{}.{}", self.prefix, tag)
    }
}

/// Per-test drop counters, so that parallel tests do not share one.
static DROPS: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
static NEXT_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A value that counts its drops in this process.
#[derive(Debug)]
#[repr(C)]
pub struct Counted {
    pub counter: u32,
    pub value: AtomicU64,
}
shmptr::shm_safe!(Counted { counter, value });

impl Counted {
    /// A fresh counter index and a value that reports to it.
    pub fn new(value: u64) -> Self {
        Counted { counter: NEXT_COUNTER.fetch_add(1, Ordering::Relaxed) % 256, value: AtomicU64::new(value) }
    }

    pub fn drops(counter: u32) -> u32 {
        DROPS[counter as usize].load(Ordering::SeqCst)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS[self.counter as usize].fetch_add(1, Ordering::SeqCst);
    }
}

pub fn create_then_open_sees_the_value<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("value");
    let a = Shared::<AtomicU64, B>::create(&name, AtomicU64::new(41)).unwrap();
    let b = Shared::<AtomicU64, B>::open(&name).unwrap();
    b.fetch_add(1, Ordering::Relaxed);
    assert_eq!(a.load(Ordering::Relaxed), 42);
}

pub fn clones_share_one_attachment_and_are_counted<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("clones");
    let a = Shared::<u64, B>::create(&name, 7).unwrap();
    let b = a.clone();
    let c = b.clone();
    assert_eq!(Shared::strong_count(&a), 3);
    assert_eq!(Shared::process_count(&a), 1);
    let d = Shared::<u64, B>::open(&name).unwrap();
    assert_eq!(Shared::strong_count(&a), 4);
    assert_eq!(Shared::process_count(&d), 1, "two attachments of one process are one process");
    drop((b, c));
    assert_eq!(Shared::strong_count(&d), 2);
    assert_eq!((*a, *d), (7, 7));
}

pub fn last_handle_drops_the_value_once_and_removes_the_name<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("last");
    let value = Counted::new(5);
    let counter = value.counter;
    let a = Shared::<Counted, B>::create(&name, value).unwrap();
    let b = Shared::<Counted, B>::open(&name).unwrap();
    let c = a.clone();
    drop(a);
    drop(b);
    assert_eq!(Counted::drops(counter), 0, "a holder remains");
    assert_eq!(c.value.load(Ordering::Relaxed), 5);
    drop(c);
    assert_eq!(Counted::drops(counter), 1);
    assert_eq!(Shared::<Counted, B>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
}

pub fn a_destroyed_name_can_be_created_again<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("again");
    drop(Shared::<u32, B>::create(&name, 1).unwrap());
    let again = Shared::<u32, B>::create(&name, 2).unwrap();
    assert_eq!(*again, 2);
}

pub fn creating_an_existing_name_is_already_exists<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("exists");
    let _a = Shared::<u32, B>::create(&name, 1).unwrap();
    assert_eq!(Shared::<u32, B>::create(&name, 2).unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(Unique::<u32, B>::create(&name, 2).unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(*Shared::<u32, B>::open(&name).unwrap(), 1, "the first value is untouched");
}

pub fn opening_a_missing_name_is_not_found<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("missing");
    assert_eq!(Shared::<u32, B>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(Unique::<u32, B>::claim(&name).unwrap_err().kind(), ErrorKind::NotFound);
}

pub fn opening_with_another_type_is_type_mismatch<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("typed");
    let _a = Shared::<u32, B>::create(&name, 1).unwrap();
    assert_eq!(Shared::<u64, B>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<i32, B>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch, "same size, other type");
    assert_eq!(Shared::<[u8; 4], B>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
    assert_eq!(Shared::<AtomicU32, B>::open(&name).unwrap_err().kind(), ErrorKind::TypeMismatch);
}

pub fn unique_and_shared_do_not_open_each_other<B: Backend>(ctx: &Ctx) {
    let shared = ctx.name("kind-shared");
    let unique = ctx.name("kind-unique");
    let _s = Shared::<u32, B>::create(&shared, 1).unwrap();
    let u = Unique::<u32, B>::create(&unique, 1).unwrap();
    assert_eq!(Unique::<u32, B>::claim(&shared).unwrap_err().kind(), ErrorKind::TypeMismatch);
    Unique::release(u);
    assert_eq!(Shared::<u32, B>::open(&unique).unwrap_err().kind(), ErrorKind::TypeMismatch);
    drop(Unique::<u32, B>::claim(&unique).unwrap());
}

pub fn bad_names_are_invalid_never_truncated<B: Backend>(ctx: &Ctx) {
    let long = "a".repeat(255);
    let just_over = "a".repeat(shmptr::NAME_MAX + 1);
    for bad in [long.as_str(), just_over.as_str(), "../x", "a/b", "", ".hidden", "a b", "é", "a\0b"] {
        assert_eq!(Shared::<u32, B>::create(bad, 1).unwrap_err().kind(), ErrorKind::InvalidName, "{bad:?}");
        assert_eq!(Shared::<u32, B>::open(bad).unwrap_err().kind(), ErrorKind::InvalidName, "{bad:?}");
        assert_eq!(Unique::<u32, B>::claim(bad).unwrap_err().kind(), ErrorKind::InvalidName, "{bad:?}");
    }
    let longest = format!("{}{}", ctx.name("n"), "x".repeat(shmptr::NAME_MAX - ctx.name("n").len()));
    assert_eq!(longest.len(), shmptr::NAME_MAX);
    let ok = Shared::<u32, B>::create(&longest, 3).unwrap();
    assert_eq!(*Shared::<u32, B>::open(&longest).unwrap(), 3);
    drop(ok);
}

pub fn create_zeroed_builds_a_large_value_in_place<B: Backend, const N: usize>(ctx: &Ctx) {
    let name = ctx.name("zeroed");
    let big = Shared::<[u64; N], B>::create_zeroed(&name).unwrap();
    assert!(big.iter().all(|&w| w == 0));
    assert_eq!(big.len(), N);
}

pub fn create_with_initialises_in_place<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("with");
    let a = Shared::<[u32; 64], B>::create_with(&name, |v| {
        for (i, w) in v.iter_mut().enumerate() {
            *w = i as u32 * 3;
        }
    })
    .unwrap();
    let b = Shared::<[u32; 64], B>::open(&name).unwrap();
    assert_eq!(b[63], 189);
    drop(a);
}

pub fn open_or_create_makes_the_value_once<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("ooc");
    let made = AtomicU32::new(0);
    let make = || {
        made.fetch_add(1, Ordering::Relaxed);
        AtomicU64::new(10)
    };
    let a = Shared::<AtomicU64, B>::open_or_create(&name, make).unwrap();
    a.store(11, Ordering::Relaxed);
    let b = Shared::<AtomicU64, B>::open_or_create(&name, make).unwrap();
    assert_eq!(b.load(Ordering::Relaxed), 11);
    assert_eq!(made.load(Ordering::Relaxed), 1);
}

pub fn a_full_slot_table_is_too_many_processes<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("full");
    let a = Shared::<u32, B>::options().slots(2).create(&name, 1).unwrap();
    let b = Shared::<u32, B>::open(&name).unwrap();
    let clone = b.clone();
    assert_eq!(Shared::<u32, B>::open(&name).unwrap_err().kind(), ErrorKind::TooManyProcesses);
    drop(b);
    drop(clone);
    let c = Shared::<u32, B>::open(&name).unwrap();
    assert_eq!(Shared::strong_count(&c), 2);
    drop(a);
    assert_eq!(
        Shared::<u32, B>::options().slots(0).create(&ctx.name("zero"), 1).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        Shared::<u32, B>::options().slots(65).create(&ctx.name("many"), 1).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

pub fn unique_hands_off_its_value<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("unique");
    let value = Counted::new(1);
    let counter = value.counter;
    let mut u = Unique::<Counted, B>::create(&name, value).unwrap();
    *u.value.get_mut() = 2;
    assert_eq!(Unique::<Counted, B>::claim(&name).unwrap_err().kind(), ErrorKind::Busy, "owned, even by us");
    Unique::release(u);
    assert_eq!(Counted::drops(counter), 0, "release keeps the value");
    let mut again = Unique::<Counted, B>::claim(&name).unwrap();
    assert_eq!(*again.value.get_mut(), 2);
    drop(again);
    assert_eq!(Counted::drops(counter), 1, "dropping the claimed handle drops the value");
    assert_eq!(Unique::<Counted, B>::claim(&name).unwrap_err().kind(), ErrorKind::NotFound);
    drop(Unique::<Counted, B>::create(&name, Counted::new(0)).unwrap());
}

pub fn errors_say_what_happened_and_what_to_do<B: Backend>(ctx: &Ctx) {
    let e = Shared::<u32, B>::open(&ctx.name("nothing")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no object with this name"), "{text}");
    assert!(text.contains("create it first"), "{text}");
    assert!(text.ends_with('.'), "{text}");
}

pub fn reclaim_leaves_live_holders_alone<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("reclaim-live");
    let a = Shared::<u32, B>::create(&name, 9).unwrap();
    let _b = Shared::<u32, B>::open(&name).unwrap();
    assert_eq!(Shared::<u32, B>::reclaim(&name).unwrap(), 0);
    assert_eq!(Shared::strong_count(&a), 2);
    assert_eq!(*Shared::<u32, B>::open(&name).unwrap(), 9);
    assert_eq!(Shared::<u32, B>::reclaim(&ctx.name("reclaim-none")).unwrap(), 0);
}

/// Instantiates every test above for a backend: `$make` is a macro that, given a
/// test name and a generic call, wraps it in a `#[test]` with a fresh context.
#[macro_export]
macro_rules! behaviour_suite {
    ($make:ident, $big:expr) => {
        $make!(create_then_open_sees_the_value);
        $make!(clones_share_one_attachment_and_are_counted);
        $make!(last_handle_drops_the_value_once_and_removes_the_name);
        $make!(a_destroyed_name_can_be_created_again);
        $make!(creating_an_existing_name_is_already_exists);
        $make!(opening_a_missing_name_is_not_found);
        $make!(opening_with_another_type_is_type_mismatch);
        $make!(unique_and_shared_do_not_open_each_other);
        $make!(bad_names_are_invalid_never_truncated);
        $make!(create_with_initialises_in_place);
        $make!(open_or_create_makes_the_value_once);
        $make!(a_full_slot_table_is_too_many_processes);
        $make!(unique_hands_off_its_value);
        $make!(errors_say_what_happened_and_what_to_do);
        $make!(reclaim_leaves_live_holders_alone);
        $make!(create_zeroed_builds_a_large_value_in_place, { $big });
    };
}
