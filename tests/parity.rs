//! `Shared` and `Unique` implement what `Arc` and `Box` do, forwarded to the value
//! the same way (comparisons, hashing, `Display`, `AsRef`, `Borrow`), so a struct
//! holding them derives the usual traits; `fmt::Pointer` prints the value's
//! address; `Shared::ptr_eq` is identity. On the arena backend (the Linux test of
//! `ptr_eq` across two mappings of one object is `backends/linux/tests/parity_linux.rs`).

use std::borrow::{Borrow, BorrowMut};
use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

use shmptr_arena::{arena_space, Arena, Shared, Unique};

mod common;
use common::as_process;

fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

// Used only by `a_struct_holding_both_derives_the_usual_traits`.
arena_space!(DeriveSpace, 1 << 20);

#[derive(PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Job {
    counter: Shared<u32, DeriveSpace>,
    payload: Unique<[u8; 4], DeriveSpace>,
}

#[test]
fn a_struct_holding_both_derives_the_usual_traits() {
    let job = |tag: &str, counter: u32, payload: [u8; 4]| Job {
        counter: Shared::create(&format!("derive.{tag}.counter"), counter).unwrap(),
        payload: Unique::create(&format!("derive.{tag}.payload"), payload).unwrap(),
    };
    let a = job("a", 1, *b"aaaa");
    let a2 = job("a2", 1, *b"aaaa");
    let b = job("b", 1, *b"bbbb");
    let c = job("c", 2, *b"aaaa");

    // PartialEq / Eq: the values, not the objects.
    assert_eq!(a, a2);
    assert_ne!(a, b);
    assert!(!Shared::ptr_eq(&a.counter, &a2.counter), "equal values, two objects");
    // PartialOrd / Ord: field by field, by value.
    assert_eq!(a.cmp(&a2), Ordering::Equal);
    assert!(a < b && b < c);
    assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
    // Hash: equal values hash equally.
    assert_eq!(hash_of(&a), hash_of(&a2));
    assert_eq!(hash_of(&a), hash_of(&(1u32, *b"aaaa")), "the fields' values, in order");
    // Debug: the values.
    assert_eq!(format!("{a:?}"), "Job { counter: 1, payload: [97, 97, 97, 97] }");

    let mut set = HashSet::new();
    assert!(set.insert(a));
    assert!(!set.insert(a2), "an equal value is already in the set");
    assert!(set.insert(b));
    let sorted: BTreeSet<Job> = [c, job("d", 0, *b"zzzz")].into_iter().collect();
    let counters: Vec<u32> = sorted.iter().map(|j| *j.counter).collect();
    assert_eq!(counters, [0, 2]);
}

#[test]
fn shared_compares_hashes_and_displays_its_value() {
    arena_space!(S, 1 << 20);
    let one = Shared::<u32, S>::create("one", 1).unwrap();
    let also_one = Shared::<u32, S>::create("also_one", 1).unwrap();
    let two = Shared::<u32, S>::create("two", 2).unwrap();

    assert!(one == also_one && one != two);
    assert!(one < two);
    assert!(one <= also_one);
    assert!(two > one);
    assert!(two >= one);
    assert!(!one.lt(&also_one) && !one.gt(&also_one));
    assert_eq!(one.cmp(&two), Ordering::Less);
    assert_eq!(two.cmp(&one), Ordering::Greater);
    assert_eq!(one.partial_cmp(&also_one), Some(Ordering::Equal));
    assert_eq!(std::cmp::max(&one, &two), &two);
    assert_eq!(hash_of(&one), hash_of(&1u32));
    assert_eq!(hash_of(&one), hash_of(&also_one));
    assert_eq!(one.to_string(), "1");
    assert_eq!(format!("{two:>3}|{:?}", one), "  2|1", "Display honours the formatter's flags");

    // PartialOrd forwards `partial_cmp` and the operators: NaN compares as NaN does.
    let nan = Shared::<f64, S>::create("nan", f64::NAN).unwrap();
    let zero = Shared::<f64, S>::create("zero", 0.0).unwrap();
    assert_eq!(nan.partial_cmp(&zero), None);
    assert_eq!([nan.lt(&zero), nan.le(&zero), nan.gt(&zero), nan.ge(&zero)], [false; 4]);
    assert!(nan != nan.clone(), "NaN != NaN, even through one object");
    assert_eq!(format!("{zero:.1}"), "0.0");
}

#[test]
fn shared_borrows_as_its_value_in_maps_and_sets() {
    arena_space!(S, 1 << 20);
    let mut set = HashSet::new();
    set.insert(Shared::<u32, S>::create("seven", 7).unwrap());
    set.insert(Shared::<u32, S>::create("eight", 8).unwrap());
    // `Borrow<u32>` with `Hash` and `Eq` consistent with `u32`'s: look up by value.
    assert!(set.contains(&7u32) && set.contains(&8u32) && !set.contains(&9u32));
    let mut map = HashMap::new();
    map.insert(Shared::<u32, S>::create("key", 3).unwrap(), "three");
    assert_eq!(map.get(&3u32), Some(&"three"));
    let ordered: BTreeSet<Shared<u32, S>> = set.into_iter().collect();
    assert!(ordered.contains(&8u32));
    assert_eq!(ordered.iter().map(|s| **s).collect::<Vec<_>>(), [7, 8]);

    fn read<R: AsRef<u32>>(r: &R) -> u32 {
        *r.as_ref()
    }
    fn borrowed<R: Borrow<u32>>(r: &R) -> u32 {
        *r.borrow()
    }
    let x = Shared::<u32, S>::create("x", 5).unwrap();
    assert_eq!((read(&x), borrowed(&x)), (5, 5));
    assert!(std::ptr::eq(x.as_ref(), &*x), "AsRef is the mapped value itself");
    assert!(std::ptr::eq(Borrow::<u32>::borrow(&x), &*x));
}

#[test]
fn pointer_formatting_prints_the_mapped_address() {
    arena_space!(S, 1 << 20);
    let shared = Shared::<u64, S>::create("p.shared", 1).unwrap();
    let unique = Unique::<u64, S>::create("p.unique", 1).unwrap();
    assert_eq!(format!("{shared:p}"), format!("{:p}", &*shared));
    assert_eq!(format!("{unique:p}"), format!("{:p}", &*unique));
    assert_eq!(format!("{shared:p}"), format!("{:p}", shared.clone()), "clones share the mapping");
    assert_ne!(format!("{shared:p}"), format!("{unique:p}"));
    assert!(format!("{shared:p}").starts_with("0x"));
    assert_eq!(format!("{shared:#p}"), format!("{:#p}", &*shared), "flags are honoured");
}

#[test]
fn unique_compares_hashes_displays_and_lends_its_value() {
    arena_space!(S, 1 << 20);
    let mut a = Unique::<i32, S>::create("a", -1).unwrap();
    let b = Unique::<i32, S>::create("b", 4).unwrap();
    let also_b = Unique::<i32, S>::create("also_b", 4).unwrap();

    assert!(b == also_b && a != b);
    assert!(a < b);
    assert!(a <= b);
    assert!(b > a);
    assert!(b >= also_b);
    assert!(!b.gt(&also_b));
    assert_eq!(a.cmp(&b), Ordering::Less);
    assert_eq!(b.partial_cmp(&also_b), Some(Ordering::Equal));
    assert_eq!(hash_of(&b), hash_of(&4i32));
    assert_eq!(a.to_string(), "-1");
    assert_eq!(format!("{a:?}"), "-1");

    fn read<R: AsRef<i32> + Borrow<i32>>(r: &R) -> (i32, i32) {
        (*r.as_ref(), *r.borrow())
    }
    fn add<R: AsMut<i32>>(r: &mut R, n: i32) {
        *r.as_mut() += n;
    }
    fn sub<R: BorrowMut<i32>>(r: &mut R, n: i32) {
        *r.borrow_mut() -= n;
    }
    assert_eq!(read(&a), (-1, -1));
    add(&mut a, 10);
    assert_eq!(*a, 9);
    sub(&mut a, 2);
    assert_eq!(*a, 7);
    assert!(std::ptr::eq(a.as_mut(), &*a), "AsMut is the mapped value itself");
    assert!(std::ptr::eq(BorrowMut::<i32>::borrow_mut(&mut a), &*a));

    let mut set = HashSet::new();
    set.insert(b);
    assert!(set.contains(&4i32), "Borrow<i32> for lookups by value");
    assert!(!set.insert(also_b));
}

#[test]
fn as_mut_and_borrow_mut_check_ownership_as_deref_mut_does() {
    // What a fork()ed child does with an inherited `Unique`: its parent owns it,
    // and every way to a `&mut T` refuses (panics) alike.
    arena_space!(S, 1 << 20);
    let mut job = Unique::<[u32; 2], S>::create("owned", [1, 2]).unwrap();
    let child = Arena::<S>::spawn();
    type Job = Unique<[u32; 2], S>;
    let mut refused = |f: &mut dyn FnMut(&mut Job)| {
        as_process::<S, _>(child, || catch_unwind(AssertUnwindSafe(|| f(&mut job))).is_err())
    };
    assert!(refused(&mut |j| j[0] = 9), "DerefMut");
    assert!(refused(&mut |j| j.as_mut()[0] = 9), "AsMut");
    assert!(refused(&mut |j| BorrowMut::<[u32; 2]>::borrow_mut(j)[0] = 9), "BorrowMut");
    assert_eq!(*job, [1, 2], "nothing was written");
    // Reading is not refused: the child may read, as from any peer.
    assert_eq!(as_process::<S, _>(child, || (*job.as_ref(), *Borrow::<[u32; 2]>::borrow(&job))), ([1, 2], [1, 2]));
    job.as_mut()[0] = 9;
    assert_eq!(*job, [9, 2], "the owner writes");
}

#[test]
fn ptr_eq_is_identity_not_equality() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u32, S>::create("a", 7).unwrap();
    let same_value = Shared::<u32, S>::create("same_value", 7).unwrap();
    let opened = Shared::<u32, S>::open("a").unwrap();
    assert!(Shared::ptr_eq(&a, &a));
    assert!(Shared::ptr_eq(&a, &a.clone()));
    assert!(Shared::ptr_eq(&a, &opened), "a second open of the same object");
    assert!(Shared::ptr_eq(&opened, &a), "symmetric");
    assert!(!Shared::ptr_eq(&a, &same_value), "equal values, different objects");
    assert_eq!(a, same_value);

    // A handle of another (simulated) process on the same object.
    let p = Arena::<S>::spawn();
    let theirs = as_process::<S, _>(p, || Shared::<u32, S>::open("a").unwrap());
    assert!(Shared::ptr_eq(&a, &theirs));
    assert!(!Shared::ptr_eq(&same_value, &theirs));
    as_process::<S, _>(p, || drop(theirs));

    // Created again under the same name after the last handle went: its handles
    // are one object with each other, and never with a different one.
    drop((a, opened));
    let again = Shared::<u32, S>::create("a", 7).unwrap();
    assert!(!Shared::ptr_eq(&again, &same_value));
    assert!(Shared::ptr_eq(&again, &Shared::<u32, S>::open("a").unwrap()));
}

// Sole-holder operations: `Shared::get_mut`, `try_unwrap`, `into_inner`,
// `Unique::into_inner`. The Linux tests with real processes, fork and a forged
// member word are in `backends/linux/tests/sole_linux.rs`.

#[test]
fn get_mut_lends_only_the_only_handle_in_any_process() {
    arena_space!(S, 1 << 20);
    let mut a = Shared::<[u32; 2], S>::create("x", [1, 2]).unwrap();
    Shared::get_mut(&mut a).expect("the only handle")[0] = 10;
    assert_eq!(*a, [10, 2]);

    let clone = a.clone();
    assert!(Shared::get_mut(&mut a).is_none(), "a clone shares the attachment");
    drop(clone);
    let second = Shared::<[u32; 2], S>::open("x").unwrap();
    assert!(Shared::get_mut(&mut a).is_none(), "a second open in this process");
    drop(second);

    // A holder in another (simulated) process, alive then dead.
    let p = Arena::<S>::spawn();
    let theirs = as_process::<S, _>(p, || Shared::<[u32; 2], S>::open("x").unwrap());
    assert!(Shared::get_mut(&mut a).is_none(), "another process holds it");
    std::mem::forget(theirs); // a killed process runs no destructor
                              // SAFETY: `p` is not the process this thread acts as, and its handle is leaked.
    unsafe { Arena::<S>::kill(p) };
    let mut guard = Shared::get_mut(&mut a).expect("the dead holder is reclaimed first");
    guard[1] = 20;
    assert_eq!(format!("{guard:?}"), "[10, 20]");

    // While the guard lives, an open here would alias it: refused, not waited for.
    let opened = Shared::<[u32; 2], S>::open("x").unwrap_err();
    assert_eq!(opened.kind(), shmptr::ErrorKind::Busy, "{opened}");
    drop(guard);
    let reopened = Shared::<[u32; 2], S>::open("x").unwrap();
    assert_eq!(*reopened, [10, 20]);
    assert_eq!(Shared::strong_count(&a), 2, "the loan left the count as it was");
    drop((a, reopened));
    assert!(!Arena::<S>::exists("x"));
}

#[test]
fn try_unwrap_takes_the_value_and_the_name_only_from_the_only_handle() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("x", 7).unwrap();
    let clone = a.clone();
    let a = Shared::try_unwrap(a).expect_err("a clone shares it");
    drop(clone);
    let p = Arena::<S>::spawn();
    let theirs = as_process::<S, _>(p, || Shared::<u64, S>::open("x").unwrap());
    let a = Shared::try_unwrap(a).expect_err("another process holds it");
    assert_eq!(*a, 7, "the handle comes back unchanged");
    assert_eq!(Shared::strong_count(&a), 2);
    as_process::<S, _>(p, || drop(theirs));

    assert_eq!(Shared::try_unwrap(a).ok(), Some(7));
    assert!(!Arena::<S>::exists("x"), "the name went with it");
    assert_eq!(Shared::<u64, S>::open("x").unwrap_err().kind(), shmptr::ErrorKind::NotFound);
    // The name is free for a new object.
    let again = Shared::<u64, S>::create("x", 8).unwrap();
    assert_eq!(*again, 8);
}

#[test]
fn into_inner_gives_the_value_to_the_last_handle_only() {
    arena_space!(S, 1 << 20);
    let a = Shared::<u64, S>::create("x", 7).unwrap();
    let b = a.clone();
    let p = Arena::<S>::spawn();
    let theirs = as_process::<S, _>(p, || Shared::<u64, S>::open("x").unwrap());
    assert_eq!(Shared::into_inner(a), None, "b and another process hold it");
    assert_eq!(Shared::into_inner(b), None, "another process holds it");
    assert!(Arena::<S>::exists("x"));
    assert_eq!(as_process::<S, _>(p, || Shared::into_inner(theirs)), Some(7), "the last handle anywhere");
    assert!(!Arena::<S>::exists("x"));
}

#[test]
fn unique_into_inner_moves_the_value_out_and_removes_the_name() {
    arena_space!(S, 1 << 20);
    let mut job = Unique::<[u32; 3], S>::create("job", [1, 2, 3]).unwrap();
    job[2] = 30;
    assert_eq!(Unique::into_inner(job), [1, 2, 30]);
    assert!(!Arena::<S>::exists("job"));
    assert_eq!(Unique::<[u32; 3], S>::claim("job").unwrap_err().kind(), shmptr::ErrorKind::NotFound);

    // A claimed object, too; in another process than its creator.
    let job = Unique::<u32, S>::create("job", 5).unwrap();
    Unique::release(job);
    let p = Arena::<S>::spawn();
    assert_eq!(as_process::<S, _>(p, || Unique::into_inner(Unique::<u32, S>::claim("job").unwrap())), 5);
    assert!(!Arena::<S>::exists("job"));

    // In a forked child (simulated: another process using the parent's handle)
    // the parent owns the value: refused, as DerefMut is.
    let job = Unique::<u32, S>::create("job", 6).unwrap();
    let child = Arena::<S>::spawn();
    let taken = as_process::<S, _>(child, || catch_unwind(AssertUnwindSafe(|| Unique::into_inner(job))));
    assert!(taken.is_err(), "a child's into_inner of the parent's Unique must panic");
    assert!(Arena::<S>::exists("job"), "the parent's object stays");
    let job = Unique::<u32, S>::claim("job").unwrap_err();
    assert_eq!(job.kind(), shmptr::ErrorKind::Busy, "the parent still owns it");
}

#[test]
fn writes_through_get_mut_happen_before_a_later_open_in_another_thread() {
    // Under Miri this is a data-race check: the end of the loan (a Release store
    // of the private count) must be acquired by the thread whose open it lets in.
    arena_space!(S, 1 << 16);
    let mut value = Shared::<[u64; 2], S>::create("x", [0, 0]).unwrap();
    let mut guard = Shared::get_mut(&mut value).expect("the only handle");
    let started = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            started.store(true, std::sync::atomic::Ordering::Relaxed);
            loop {
                match Shared::<[u64; 2], S>::open("x") {
                    Ok(opened) => return opened[0] + opened[1], // plain reads of the value
                    Err(e) => assert_eq!(e.kind(), shmptr::ErrorKind::Busy, "{e}"),
                }
                std::thread::yield_now();
            }
        });
        while !started.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::yield_now();
        }
        guard[0] = 40; // plain writes through the `&mut`, while the reader tries
        guard[1] = 2;
        drop(guard);
        assert_eq!(reader.join().unwrap(), 42);
    });
}

// ---- Slices: `Shared<[T]>` is `Arc<[T]>`, `Unique<[T]>` is `Box<[T]>` (issue 13).
// Small, so that Miri runs the slice pointer code quickly. ----

#[test]
fn shared_slices_deref_compare_and_hash_as_arc_slices_do() {
    arena_space!(S, 1 << 16);
    let a = Shared::<[u64], S>::from_slice("a", &[1, 2, 3]).unwrap();
    let b = Shared::<[u64], S>::create_slice_with("b", 3, |i| i as u64 + 1).unwrap();
    let arc: std::sync::Arc<[u64]> = std::sync::Arc::from(&[1u64, 2, 3][..]);
    assert_eq!(&*a, &*arc);
    assert_eq!(a, b, "equal values");
    assert!(!Shared::ptr_eq(&a, &b), "two objects");
    assert_eq!(hash_of(&a), hash_of(&arc), "hashes as the slice does");
    assert_eq!(format!("{a:?}"), format!("{arc:?}"));
    let as_ref: &[u64] = a.as_ref();
    let borrowed: &[u64] = a.borrow();
    assert_eq!((as_ref, borrowed.len()), (&[1, 2, 3][..], 3));
    let p = Arena::<S>::spawn();
    let sum = as_process::<S, _>(p, || {
        let theirs = Shared::<[u64], S>::open("a").unwrap();
        assert_eq!(Shared::strong_count(&theirs), 2);
        theirs.iter().sum::<u64>()
    });
    assert_eq!(sum, 6);
    let zeroed = Shared::<[u64], S>::create_slice_zeroed("z", 0).unwrap();
    assert!(zeroed.is_empty() && Shared::<[u64], S>::open("z").unwrap().is_empty());
}

#[test]
fn shared_slice_get_mut_writes_the_elements_in_place() {
    arena_space!(S, 1 << 16);
    let mut a = Shared::<[u32], S>::create_slice_zeroed("a", 4).unwrap();
    Shared::get_mut(&mut a).expect("the only handle").copy_from_slice(&[4, 3, 2, 1]);
    let b = Shared::<[u32], S>::open("a").unwrap();
    assert_eq!(&*b, &[4, 3, 2, 1]);
    assert!(Shared::get_mut(&mut a).is_none());
    drop(b);
    Shared::get_mut(&mut a).unwrap().sort_unstable();
    assert_eq!(&*a, &[1, 2, 3, 4]);
}

static SLICE_DROPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// An element that counts its drops (for the one test that uses it).
#[repr(C)]
struct Element {
    value: u32,
}
shmptr::shm_safe!(Element { value });

impl Drop for Element {
    fn drop(&mut self) {
        SLICE_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn the_last_handle_drops_every_element_once() {
    use std::sync::atomic::Ordering::SeqCst;
    arena_space!(S, 1 << 16);
    let a = Shared::<[Element], S>::create_slice_with("a", 5, |i| Element { value: i as u32 }).unwrap();
    assert_eq!(SLICE_DROPS.load(SeqCst), 0, "made in place: nothing dropped");
    let b = Shared::<[Element], S>::open("a").unwrap();
    assert_eq!(b[4].value, 4);
    drop(a);
    assert_eq!(SLICE_DROPS.load(SeqCst), 0);
    drop(b);
    assert_eq!(SLICE_DROPS.load(SeqCst), 5, "each element once");

    let mut u = Unique::<[Element], S>::create_slice_with("u", 3, |i| Element { value: i as u32 }).unwrap();
    u[2].value = 20;
    Unique::release(u);
    let p = Arena::<S>::spawn();
    as_process::<S, _>(p, || {
        let u = Unique::<[Element], S>::claim("u").unwrap();
        assert_eq!((u.len(), u[2].value), (3, 20));
    });
    assert_eq!(SLICE_DROPS.load(SeqCst), 8, "and the Unique's three, by the process that claimed it");
    assert!(!Arena::<S>::exists("u"));
}

/// An element that counts its drops, for the panicking initializer test alone.
#[repr(C)]
struct Made {
    value: u32,
}
shmptr::shm_safe!(Made { value });
static MADE_DROPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
impl Drop for Made {
    fn drop(&mut self) {
        MADE_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_slice_initializer_drops_the_elements_it_made_once_as_array_from_fn_does() {
    use std::sync::atomic::Ordering::SeqCst;
    arena_space!(S, 1 << 16);
    let made = catch_unwind(AssertUnwindSafe(|| {
        Shared::<[Made], S>::create_slice_with("p", 10, |i| {
            assert!(i < 4, "element {i} fails");
            Made { value: i as u32 }
        })
    }));
    assert!(made.is_err());
    assert_eq!(MADE_DROPS.load(SeqCst), 4, "the four made elements, not the zero bytes of the others");
    assert!(!Arena::<S>::exists("p"), "the unfinished object is removed");
    let again = Unique::<[Made], S>::create_slice_with("p", 2, |i| Made { value: i as u32 }).unwrap();
    drop(again);
    assert_eq!(MADE_DROPS.load(SeqCst), 6);
}

#[test]
fn a_unique_slice_is_released_mapped_and_claimed_back() {
    arena_space!(S, 1 << 16);
    let mut frame = Unique::<[u8], S>::create_slice_with("f", 16, |i| i as u8).unwrap();
    frame[15] = 150;
    let parked = Unique::release_mapped(frame);
    let mut frame = parked.claim().expect("nobody owns it");
    assert_eq!((frame.len(), frame[14], frame[15]), (16, 14, 150));
    frame.fill(7);
    Unique::release(frame);
    let p = Arena::<S>::spawn();
    let sum = as_process::<S, _>(p, || Unique::<[u8], S>::claim("f").unwrap().iter().map(|&b| b as u32).sum::<u32>());
    assert_eq!(sum, 7 * 16);
    assert!(!Arena::<S>::exists("f"), "the claiming process's drop destroyed it");
}

#[test]
fn a_frame_released_with_its_mapping_kept_is_claimed_by_another_process_and_back() {
    arena_space!(S, 1 << 16);
    let mut frame = Unique::<[u8], S>::create_slice_zeroed("f", 8).unwrap();
    frame.fill(1);
    let parked = Unique::release_mapped(frame);
    let p = Arena::<S>::spawn();
    let theirs = as_process::<S, _>(p, || {
        let mut frame = Unique::<[u8], S>::claim("f").expect("released: another process claims it");
        assert!(frame.iter().all(|&b| b == 1));
        frame.fill(2);
        Unique::release_mapped(frame)
    });
    let frame = parked.claim().expect("released again by the other process");
    assert!(frame.iter().all(|&b| b == 2));
    let theirs = as_process::<S, _>(p, || theirs.claim().expect_err("this process owns it").into_released());
    drop(frame);
    as_process::<S, _>(p, || drop(theirs));
    assert!(!Arena::<S>::exists("f"));
}
