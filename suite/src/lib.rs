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

// ---- Runtime-sized objects: `Shared<[T]>` and `Unique<[T]>` (issue 13) ----

/// A run-time length the compiler cannot see through.
fn runtime(length: usize) -> usize {
    std::hint::black_box(length)
}

/// Runs `f`, which must panic, and swallows the panic.
fn panics(what: &str, f: impl FnOnce()) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    assert!(caught.is_err(), "{what}: expected a panic");
}

pub fn shared_slices_are_made_three_ways_and_open_with_their_own_length<B: Backend>(ctx: &Ctx) {
    let (copied, zeroed, made) = (ctx.name("sl-copy"), ctx.name("sl-zero"), ctx.name("sl-with"));
    let items: Vec<u32> = (0..runtime(37) as u32).map(|i| i * 7 + 1).collect();
    let a = Shared::<[u32], B>::from_slice(&copied, &items).unwrap();
    assert_eq!(a.len(), 37);
    assert_eq!(&*a, &items[..], "a copy of the items");
    let b = Shared::<[u32], B>::open(&copied).unwrap();
    assert_eq!(b.len(), 37, "the length comes from the header");
    assert_eq!(&b[..], &items[..]);
    assert!(Shared::ptr_eq(&a, &b));

    let z = Shared::<[u64], B>::create_slice_zeroed(&zeroed, runtime(1000)).unwrap();
    assert_eq!(z.len(), 1000);
    assert!(z.iter().all(|&w| w == 0));
    assert_eq!(Shared::<[u64], B>::open(&zeroed).unwrap().len(), 1000);

    let mut seen = Vec::new();
    let w = Shared::<[u16], B>::create_slice_with(&made, runtime(300), |i| {
        seen.push(i);
        (i as u16).wrapping_mul(3)
    })
    .unwrap();
    assert_eq!(seen, (0..300).collect::<Vec<_>>(), "make runs once per element, in order");
    let opened = Shared::<[u16], B>::open(&made).unwrap();
    assert_eq!(opened.len(), 300);
    assert!(opened.iter().enumerate().all(|(i, &v)| v == (i as u16).wrapping_mul(3)));
    drop((a, b, z, w, opened));
    for name in [&copied, &zeroed, &made] {
        assert_eq!(Shared::<[u32], B>::open(name).unwrap_err().kind(), ErrorKind::NotFound, "the last drop removes it");
    }
}

pub fn writes_through_one_shared_slice_are_seen_through_another<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("sl-atomic");
    let a = Shared::<[AtomicU64], B>::create_slice_with(&name, runtime(64), |i| AtomicU64::new(i as u64)).unwrap();
    let b = Shared::<[AtomicU64], B>::open(&name).unwrap();
    b[63].fetch_add(100, Ordering::Relaxed);
    a[0].store(9, Ordering::Relaxed);
    assert_eq!((a[63].load(Ordering::Relaxed), b[0].load(Ordering::Relaxed)), (163, 9));
    let opened_late = Shared::<[AtomicU64], B>::open(&name).unwrap();
    assert_eq!(opened_late[1].load(Ordering::Relaxed), 1);
}

pub fn unique_slices_are_made_three_ways_written_in_place_and_claimed_with_their_length<B: Backend>(ctx: &Ctx) {
    let (copied, zeroed, made) = (ctx.name("usl-copy"), ctx.name("usl-zero"), ctx.name("usl-with"));
    let mut a = Unique::<[u8], B>::from_slice(&copied, b"frame of bytes").unwrap();
    assert_eq!(&*a, b"frame of bytes");
    a[0] = b'F';
    a.as_mut()[1] = b'R';
    assert_eq!(Unique::<[u8], B>::claim(&copied).unwrap_err().kind(), ErrorKind::Busy, "owned, even by us");
    Unique::release(a);
    let a = Unique::<[u8], B>::claim(&copied).unwrap();
    assert_eq!(&*a, b"FRame of bytes", "claim reads the length from the header");

    let mut z = Unique::<[u32], B>::create_slice_zeroed(&zeroed, runtime(4096)).unwrap();
    assert_eq!(z.len(), 4096);
    assert!(z.iter().all(|&w| w == 0));
    z.iter_mut().enumerate().for_each(|(i, w)| *w = i as u32);
    Unique::release(z);
    let z = Unique::<[u32], B>::claim(&zeroed).unwrap();
    assert_eq!((z.len(), z[4095]), (4096, 4095));

    let w = Unique::<[i64], B>::create_slice_with(&made, runtime(10), |i| -(i as i64)).unwrap();
    assert_eq!(&*w, &[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
    Unique::release(w);
    let w = Unique::<[i64], B>::claim(&made).unwrap();
    assert_eq!(w.len(), 10);
    drop((a, z, w));
    for name in [&copied, &zeroed, &made] {
        assert_eq!(Unique::<[u8], B>::claim(name).unwrap_err().kind(), ErrorKind::NotFound, "the drop removes it");
    }
}

pub fn a_zero_length_slice_works<B: Backend>(ctx: &Ctx) {
    let (s1, s2, s3, u1) = (ctx.name("z-copy"), ctx.name("z-zero"), ctx.name("z-with"), ctx.name("z-unique"));
    let a = Shared::<[u64], B>::from_slice(&s1, &[]).unwrap();
    let b = Shared::<[u64], B>::create_slice_zeroed(&s2, runtime(0)).unwrap();
    let c = Shared::<[u64], B>::create_slice_with(&s3, runtime(0), |_| unreachable!("no element to make")).unwrap();
    assert!(a.is_empty() && b.is_empty() && c.is_empty());
    let opened = Shared::<[u64], B>::open(&s3).unwrap();
    assert_eq!(&*opened, &[] as &[u64]);
    assert_eq!(Shared::strong_count(&opened), 2);
    assert_eq!(Shared::<[u32], B>::open(&s1).unwrap_err().kind(), ErrorKind::TypeMismatch, "still typed");
    assert_eq!(Shared::<u64, B>::open(&s1).unwrap_err().kind(), ErrorKind::TypeMismatch, "still a slice");

    let u = Unique::<[u8], B>::create_slice_zeroed(&u1, runtime(0)).unwrap();
    assert!(u.is_empty());
    let parked = Unique::release_mapped(u);
    let u = parked.claim().unwrap();
    Unique::release(u);
    let mut u = Unique::<[u8], B>::claim(&u1).unwrap();
    assert_eq!(u.len(), 0);
    assert!(u.iter_mut().next().is_none());
    drop((a, b, c, opened, u));
    assert_eq!(Unique::<[u8], B>::claim(&u1).unwrap_err().kind(), ErrorKind::NotFound);
}

pub fn slices_open_only_as_slices_of_the_same_element<B: Backend>(ctx: &Ctx) {
    let (slice, array, one, unique) =
        (ctx.name("ty-slice"), ctx.name("ty-array"), ctx.name("ty-one"), ctx.name("ty-u"));
    let mismatch = ErrorKind::TypeMismatch;
    let _s = Shared::<[u32], B>::from_slice(&slice, &[1, 2, 3]).unwrap();
    assert_eq!(Shared::<[u64], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as [u64]");
    assert_eq!(Shared::<[i32], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as [i32]: same size");
    assert_eq!(Shared::<[u8], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as [u8]");
    assert_eq!(Shared::<[AtomicU32], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as [AtomicU32]");
    assert_eq!(Shared::<[[u32; 3]], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as [[u32; 3]]");
    assert_eq!(Shared::<u32, B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] as u32");
    assert_eq!(Shared::<[u32; 3], B>::open(&slice).unwrap_err().kind(), mismatch, "[u32] of 3 as [u32; 3]");
    assert_eq!(Unique::<[u32], B>::claim(&slice).unwrap_err().kind(), mismatch, "a Shared slice as a Unique one");

    let _a = Shared::<[u32; 3], B>::create(&array, [1, 2, 3]).unwrap();
    assert_eq!(Shared::<[u32], B>::open(&array).unwrap_err().kind(), mismatch, "[u32; 3] as [u32]");
    assert_eq!(Shared::<[[u32; 3]], B>::open(&array).unwrap_err().kind(), mismatch, "[u32; 3] as [[u32; 3]]");
    let _o = Shared::<u32, B>::create(&one, 1).unwrap();
    assert_eq!(Shared::<[u32], B>::open(&one).unwrap_err().kind(), mismatch, "u32 as [u32]");

    let u = Unique::<[u16], B>::create_slice_zeroed(&unique, runtime(8)).unwrap();
    Unique::release(u);
    assert_eq!(Unique::<[u8], B>::claim(&unique).unwrap_err().kind(), mismatch, "[u16] as [u8]");
    assert_eq!(Unique::<[u16; 8], B>::claim(&unique).unwrap_err().kind(), mismatch, "[u16] of 8 as [u16; 8]");
    assert_eq!(Unique::<u16, B>::claim(&unique).unwrap_err().kind(), mismatch, "[u16] as u16");
    assert_eq!(Shared::<[u16], B>::open(&unique).unwrap_err().kind(), mismatch, "a Unique slice as a Shared one");

    // None of the refused opens changed anything.
    assert_eq!(&*Shared::<[u32], B>::open(&slice).unwrap(), &[1, 2, 3]);
    assert_eq!(*Shared::<[u32; 3], B>::open(&array).unwrap(), [1, 2, 3]);
    assert_eq!(Unique::<[u16], B>::claim(&unique).unwrap().len(), 8);
}

pub fn a_slice_length_whose_size_overflows_is_unsupported_and_leaves_nothing<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("overflow");
    let unsupported = ErrorKind::Unsupported;
    // 8 * (usize::MAX / 4) wraps; an unchecked product would be a small object.
    let huge = runtime(usize::MAX / 4);
    assert_eq!(Shared::<[u64], B>::create_slice_zeroed(&name, huge).unwrap_err().kind(), unsupported);
    assert_eq!(Unique::<[u64], B>::create_slice_zeroed(&name, huge).unwrap_err().kind(), unsupported);
    let never = |_: usize| -> u64 { unreachable!("no element is made for a length that overflows") };
    assert_eq!(Shared::<[u64], B>::create_slice_with(&name, huge, never).unwrap_err().kind(), unsupported);
    assert_eq!(Unique::<[u64], B>::create_slice_with(&name, huge, never).unwrap_err().kind(), unsupported);
    assert_eq!(Shared::<[u64], B>::open_or_create_slice_with(&name, huge, never).unwrap_err().kind(), unsupported);
    // Exactly usize::MAX + 1 bytes (wraps to 0), and sizes that fit a usize only
    // without the header, or exceed isize::MAX (no mapping is that large).
    let wraps_to_zero = runtime(usize::MAX / 8 + 1);
    assert_eq!(Shared::<[u64], B>::create_slice_zeroed(&name, wraps_to_zero).unwrap_err().kind(), unsupported);
    assert_eq!(Shared::<[u8], B>::create_slice_zeroed(&name, runtime(usize::MAX)).unwrap_err().kind(), unsupported);
    assert_eq!(
        Unique::<[u8], B>::create_slice_zeroed(&name, runtime(usize::MAX - 64)).unwrap_err().kind(),
        unsupported
    );
    let over_isize = runtime(isize::MAX as usize);
    assert_eq!(Shared::<[u8], B>::create_slice_zeroed(&name, over_isize).unwrap_err().kind(), unsupported);
    assert_eq!(Unique::<[[u8; 2]], B>::create_slice_zeroed(&name, over_isize / 2 + 1).unwrap_err().kind(), unsupported);
    // Nothing was left under the name: it opens as missing and creates at once.
    assert_eq!(Shared::<[u64], B>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(Unique::<[u64], B>::claim(&name).unwrap_err().kind(), ErrorKind::NotFound);
    let fine = Shared::<[u64], B>::create_slice_zeroed(&name, runtime(3)).unwrap();
    assert_eq!(fine.len(), 3);
}

pub fn open_or_create_slice_keeps_an_existing_objects_length_and_says_who_created_it<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("ooc-slice");
    let made = AtomicU32::new(0);
    let make = |i: usize| {
        made.fetch_add(1, Ordering::Relaxed);
        i as u32 + 10
    };
    let (a, created) = Shared::<[u32], B>::options().open_or_create_slice_with_status(&name, runtime(5), make).unwrap();
    assert!(created, "the first call creates");
    assert_eq!(&*a, &[10, 11, 12, 13, 14]);
    assert_eq!(made.load(Ordering::Relaxed), 5);
    let (b, created) = Shared::<[u32], B>::options().open_or_create_slice_with_status(&name, runtime(9), make).unwrap();
    assert!(!created, "the second opens");
    assert_eq!(b.len(), 5, "an existing object keeps its own length");
    let c = Shared::<[u32], B>::open_or_create_slice_with(&name, runtime(1), make).unwrap();
    assert_eq!(&*c, &[10, 11, 12, 13, 14]);
    assert_eq!(made.load(Ordering::Relaxed), 5, "make runs only when creating");
    assert_eq!(Shared::strong_count(&a), 3);
    assert_eq!(
        Shared::<[u64], B>::open_or_create_slice_with(&name, runtime(5), |_| 0).unwrap_err().kind(),
        ErrorKind::TypeMismatch,
        "an existing object of another element type is not replaced"
    );
    drop((a, b, c));
    let (d, created) = Shared::<[u32], B>::options().open_or_create_slice_with_status(&name, runtime(2), make).unwrap();
    assert!(created, "gone with its last handle: created again, with the new length");
    assert_eq!(&*d, &[10, 11]);
}

pub fn open_or_create_with_status_says_who_created_it<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("ooc-status");
    let (a, created) = Shared::<u64, B>::open_or_create_with_status(&name, || 7).unwrap();
    assert!(created);
    let (b, created) = Shared::<u64, B>::open_or_create_with_status(&name, || unreachable!("it exists")).unwrap();
    assert!(!created);
    assert_eq!((*a, *b), (7, 7));
    let (c, created) = Shared::<u64, B>::options().slots(2).open_or_create_with_status(&name, || 8).unwrap();
    assert!(!created && *c == 7);
    drop((a, b, c));
    let (d, created) = Shared::<u64, B>::options().slots(2).open_or_create_with_status(&name, || 8).unwrap();
    assert!(created && *d == 8);
    let _e = Shared::<u64, B>::open(&name).unwrap();
    assert_eq!(Shared::<u64, B>::open(&name).unwrap_err().kind(), ErrorKind::TooManyProcesses, "slots(2) applied");
}

pub fn unique_builders_create_in_place_with_the_shared_settings<B: Backend>(ctx: &Ctx) {
    let names: Vec<String> = (0..8).map(|i| ctx.name(&format!("ub{i}"))).collect();
    let a = Unique::<[u32; 256], B>::create_with(&names[0], |v| v[255] = 255).unwrap();
    assert_eq!((a[0], a[255]), (0, 255));
    let b = Unique::<[u64; 512], B>::create_zeroed(&names[1]).unwrap();
    assert!(b.iter().all(|&w| w == 0));
    let c = Unique::<u64, B>::options().mode(0o600).create_with(&names[2], |v| *v = 3).unwrap();
    let d = Unique::<[u8; 64], B>::options().mode(0o600).create_zeroed(&names[3]).unwrap();
    let e = Unique::<u64, B>::options().mode(0o600).create(&names[4], 4).unwrap();
    let f = Unique::<[u8], B>::options().mode(0o600).from_slice(&names[5], b"abc").unwrap();
    let g = Unique::<[u8], B>::options().mode(0o600).create_slice_zeroed(&names[6], runtime(5)).unwrap();
    let h = Unique::<[u8], B>::options().mode(0o600).create_slice_with(&names[7], runtime(3), |i| i as u8).unwrap();
    assert_eq!((*c, d.len(), *e, &*f, &*g, &*h), (3, 64, 4, &b"abc"[..], &[0u8; 5][..], &[0u8, 1, 2][..]));
    assert_eq!(Unique::<u64, B>::create_with(&names[2], |_| {}).unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(Unique::<[u8], B>::create_slice_zeroed(&names[5], 1).unwrap_err().kind(), ErrorKind::AlreadyExists);
    Unique::release(a);
    assert_eq!(Unique::<[u32; 256], B>::claim(&names[0]).unwrap()[255], 255);
    Unique::release(h);
    assert_eq!(&*Unique::<[u8], B>::options().claim(&names[7]).unwrap(), &[0, 1, 2]);
    drop((b, c, d, e, f, g));
    for name in &names {
        assert!(Shared::<u64, B>::open(name).is_err());
        assert_eq!(Unique::<u64, B>::claim(name).unwrap_err().kind(), ErrorKind::NotFound, "{name}");
    }
    // The Shared slice builder keeps the Shared settings.
    let s = Shared::<[u8], B>::options()
        .mode(0o600)
        .slots(2)
        .create_slice_with(&names[0], runtime(4), |i| i as u8)
        .unwrap();
    let _t = Shared::<[u8], B>::open(&names[0]).unwrap();
    assert_eq!(Shared::<[u8], B>::open(&names[0]).unwrap_err().kind(), ErrorKind::TooManyProcesses, "slots(2)");
    assert_eq!(&*s, &[0, 1, 2, 3]);
}

pub fn a_panicking_initializer_leaves_nothing_that_blocks_the_name<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("panicky");
    let boom = |i: usize| -> u32 {
        if i == 3 {
            panic!("the initializer fails at element 3");
        }
        i as u32
    };
    let quick = Shared::<[u32], B>::options().timeout(std::time::Duration::from_millis(20));
    panics("Shared::create_slice_with", || drop(Shared::<[u32], B>::create_slice_with(&name, runtime(8), boom)));
    assert_eq!(quick.open(&name).unwrap_err().kind(), ErrorKind::NotFound, "removed as the panic unwound");
    drop(Shared::<[u32], B>::create_slice_with(&name, runtime(2), |i| i as u32).unwrap());

    panics("Unique::create_slice_with", || drop(Unique::<[u32], B>::create_slice_with(&name, runtime(8), boom)));
    assert_eq!(Unique::<[u32], B>::claim(&name).unwrap_err().kind(), ErrorKind::NotFound);
    drop(Unique::<[u32], B>::create_slice_zeroed(&name, runtime(8)).unwrap());

    panics("Shared::open_or_create_slice_with", || {
        drop(Shared::<[u32], B>::open_or_create_slice_with(&name, runtime(8), boom))
    });
    let (after, created) =
        Shared::<[u32], B>::options().open_or_create_slice_with_status(&name, runtime(4), |i| i as u32 * 2).unwrap();
    assert!(created, "nothing was left to open");
    assert_eq!(&*after, &[0, 2, 4, 6]);
    drop(after);

    panics("Shared::create_with", || drop(Shared::<[u64; 16], B>::create_with(&name, |_| panic!("no"))));
    let (after, created) = Shared::<[u64; 16], B>::open_or_create_with_status(&name, || [5; 16]).unwrap();
    assert!(created && after[15] == 5);
    drop(after);

    panics("Unique::create_with", || drop(Unique::<[u64; 16], B>::create_with(&name, |_| panic!("no"))));
    let again = Unique::<[u64; 16], B>::create_with(&name, |v| v[0] = 1).unwrap();
    assert_eq!(again[0], 1);
    drop(again);

    panics("Unique::options().create_slice_with", || {
        drop(Unique::<[u32], B>::options().mode(0o600).create_slice_with(&name, runtime(8), boom))
    });
    let (after, created) = Shared::<[u32], B>::options().open_or_create_slice_with_status(&name, 1, |_| 9).unwrap();
    assert!(created && after[0] == 9);
}

pub fn release_mapped_hands_over_and_claims_back_without_the_name<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("mapped");
    let mut frame = Unique::<[u8], B>::create_slice_zeroed(&name, runtime(4096)).unwrap();
    frame.fill(1);
    let parked = Unique::release_mapped(frame);
    // The other side (claiming by name) owns it now.
    let mut other = Unique::<[u8], B>::claim(&name).unwrap();
    assert!(other.iter().all(|&b| b == 1), "the released bytes are the other side's");
    let refused = parked.claim().expect_err("another handle owns it");
    assert_eq!(refused.kind(), ErrorKind::Busy, "{refused}");
    assert_eq!(refused.error().kind(), ErrorKind::Busy);
    assert!(!format!("{refused:?}").is_empty() && !refused.to_string().is_empty());
    let parked = refused.into_released();
    assert_eq!(Unique::<[u8], B>::claim(&name).unwrap_err().kind(), ErrorKind::Busy);
    other.fill(2);
    Unique::release(other);
    let mut frame = parked.claim().expect("released again: claimed through the kept mapping");
    assert_eq!(frame.len(), 4096);
    assert!(frame.iter().all(|&b| b == 2), "the other side's writes");
    frame[4095] = 3;
    // Rounds of hand-over, each side writing, the other checking.
    let mut parked = Unique::release_mapped(frame);
    for round in 0..5u8 {
        let mut other = Unique::<[u8], B>::claim(&name).unwrap();
        assert_eq!(other[4095], 3 + 2 * round, "round {round}");
        other[4095] += 1;
        let other_parked = Unique::release_mapped(other);
        let mut frame = parked.claim().unwrap();
        assert_eq!(frame[4095], 4 + 2 * round);
        frame[4095] += 1;
        parked = Unique::release_mapped(frame);
        drop(other_parked); // only unmaps: the object stays
    }
    // Dropping a Released leaves the object parked under its name.
    drop(parked);
    let last = Unique::<[u8], B>::claim(&name).unwrap();
    assert_eq!(last[4095], 13);
}

pub fn a_released_mapping_of_a_destroyed_object_claims_nothing<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("stale");
    let frame = Unique::<[u8], B>::from_slice(&name, &[1, 2, 3]).unwrap();
    let stale = Unique::release_mapped(frame);
    let last = Unique::<[u8], B>::claim(&name).unwrap();
    drop(last); // destroys the object, by a live process
    assert_eq!(Unique::<[u8], B>::claim(&name).unwrap_err().kind(), ErrorKind::NotFound);
    let gone = stale.claim().expect_err("the object was destroyed");
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    // A new object under the name is never reached through the stale mapping.
    let fresh = Unique::<[u8], B>::create_slice_zeroed(&name, runtime(16)).unwrap();
    Unique::release(fresh);
    let gone = gone.into_released().claim().expect_err("still the destroyed object");
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    drop(gone);
    assert_eq!(Unique::<[u8], B>::claim(&name).unwrap().len(), 16, "the new object is untouched and free");

    // A sized value: dropped once, by the handle that destroyed it.
    let value = Counted::new(1);
    let counter = value.counter;
    let stale = Unique::release_mapped(Unique::<Counted, B>::create(&ctx.name("stale-one"), value).unwrap());
    drop(Unique::<Counted, B>::claim(&ctx.name("stale-one")).unwrap());
    assert_eq!(Counted::drops(counter), 1);
    assert_eq!(stale.claim().expect_err("destroyed").kind(), ErrorKind::NotFound);
    assert_eq!(Counted::drops(counter), 1, "a stale Released drops nothing");
}

pub fn release_mapped_works_for_sized_values_too<B: Backend>(ctx: &Ctx) {
    let name = ctx.name("mapped-one");
    let value = Counted::new(1);
    let counter = value.counter;
    let u = Unique::<Counted, B>::create(&name, value).unwrap();
    let parked = Unique::release_mapped(u);
    assert_eq!(Counted::drops(counter), 0, "released, not dropped");
    let mut u = parked.claim().unwrap();
    *u.value.get_mut() = 2;
    let parked = Unique::release_mapped(u);
    let mut held = Unique::<Counted, B>::claim(&name).unwrap();
    assert_eq!(*held.value.get_mut(), 2);
    let refused = parked.claim().expect_err("held by name");
    assert_eq!(refused.kind(), ErrorKind::Busy);
    let parked = refused.into_released();
    Unique::release(held);
    let mut u = parked.claim().expect("released again");
    assert_eq!(*u.value.get_mut(), 2);
    drop(u);
    assert_eq!(Counted::drops(counter), 1, "dropped once, by the last owner");
}

pub fn shared_slices_count_compare_and_lend_like_arc<B: Backend>(ctx: &Ctx) {
    let (name, other) = (ctx.name("arc-slice"), ctx.name("arc-other"));
    let mut a = Shared::<[u32], B>::from_slice(&name, &[1, 2, 3, 4]).unwrap();
    let mut guard = Shared::get_mut(&mut a).expect("the only handle");
    guard[0] = 10;
    guard.copy_from_slice(&[10, 20, 30, 40]);
    assert_eq!(guard.len(), 4);
    assert_eq!(Shared::<[u32], B>::open(&name).unwrap_err().kind(), ErrorKind::Busy, "would alias the guard");
    drop(guard);
    let b = Shared::<[u32], B>::open(&name).unwrap();
    assert_eq!(&*b, &[10, 20, 30, 40]);
    let c = a.clone();
    assert_eq!(Shared::strong_count(&a), 3);
    assert!(Shared::ptr_eq(&a, &b) && Shared::ptr_eq(&b, &c));
    let d = Shared::<[u32], B>::from_slice(&other, &[10, 20, 30, 40]).unwrap();
    assert!(!Shared::ptr_eq(&a, &d), "equal values, two objects");
    assert_eq!(&*a, &*d);
    assert!(Shared::get_mut(&mut a).is_none(), "a clone and another open share it");
    drop((b, c));
    assert_eq!(Shared::strong_count(&a), 1);
    Shared::get_mut(&mut a).expect("the only handle again")[3] = 41;
    assert_eq!(a[3], 41);
}

/// Instantiates the tests of runtime-sized objects (slices, the builders, and
/// `Released`) for a backend, as [`behaviour_suite!`] does.
#[macro_export]
macro_rules! slices_suite {
    ($make:ident) => {
        $make!(shared_slices_are_made_three_ways_and_open_with_their_own_length);
        $make!(writes_through_one_shared_slice_are_seen_through_another);
        $make!(unique_slices_are_made_three_ways_written_in_place_and_claimed_with_their_length);
        $make!(a_zero_length_slice_works);
        $make!(slices_open_only_as_slices_of_the_same_element);
        $make!(a_slice_length_whose_size_overflows_is_unsupported_and_leaves_nothing);
        $make!(open_or_create_slice_keeps_an_existing_objects_length_and_says_who_created_it);
        $make!(open_or_create_with_status_says_who_created_it);
        $make!(unique_builders_create_in_place_with_the_shared_settings);
        $make!(a_panicking_initializer_leaves_nothing_that_blocks_the_name);
        $make!(release_mapped_hands_over_and_claims_back_without_the_name);
        $make!(release_mapped_works_for_sized_values_too);
        $make!(a_released_mapping_of_a_destroyed_object_claims_nothing);
        $make!(shared_slices_count_compare_and_lend_like_arc);
    };
}
