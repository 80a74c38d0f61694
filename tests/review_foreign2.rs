//! Second review of the foreign marks (`Region::foreign_marked`), and of the
//! arena's identity machinery around them (crash points, other platforms on one
//! space). Each test asserts what the documentation promises.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use shmptr::{CrashPoint, ErrorKind, Liveness, Platform, ProcessId};
use shmptr_arena::cortex_m::{Board, CortexM};
use shmptr_arena::{arena_space, Arena, Shared};

mod common;
use common::as_process;

/// A one-core `Board` of its own (each has its own boot counter).
macro_rules! board {
    ($name:ident) => {
        struct $name;
        // SAFETY: one core, number 0, from the test thread alone; one counter of
        // its own; a clock that never moves never goes back.
        unsafe impl Board for $name {
            const CORES: u32 = 1;
            fn core() -> u32 {
                0
            }
            fn now_nanos() -> u64 {
                0
            }
            fn boots() -> &'static [AtomicU32] {
                static BOOTS: [AtomicU32; 1] = [AtomicU32::new(0)];
                &BOOTS
            }
        }
    };
}

// ---------------------------------------------------------------------------
// 1. `crash_at` packed `process << 8 | point` into a u32: a process number whose
//    low 24 bits are 1 planned a crash of process 1. Now `crash_at` takes only
//    the space's own processes.
// ---------------------------------------------------------------------------

#[test]
fn a_crash_planned_for_another_process_never_kills_process_1() {
    arena_space!(S, 1 << 16, objects = 8, mappings = 8);
    let p1 = Arena::<S>::current();
    let a = Shared::<AtomicU64, S>::create("rf2.cc.a", AtomicU64::new(7)).unwrap();
    let a2 = a.clone();
    // A process number no code ever acts as: the contract of `crash_at` (every
    // use of the space as that process is ready for the crash) holds trivially.
    let nobody = ProcessId::new((1 << 24) | 1).unwrap();
    // SAFETY: nothing acts as `nobody`.
    let refused = catch_unwind(|| unsafe { Arena::<S>::crash_at(nobody, CrashPoint::CreateSized) });
    assert!(refused.is_err(), "a crash planned for a number that is no process of the space");
    let fired = catch_unwind(AssertUnwindSafe(|| Shared::<AtomicU64, S>::create("rf2.cc.b", AtomicU64::new(1))));
    Arena::<S>::cancel_crash();
    let alive = <Arena<S> as Platform>::liveness(p1);
    assert!(fired.is_ok(), "process 1 crashed at a point planned for process {:#x}", nobody.get());
    assert_eq!(alive, Liveness::Alive);
    drop((a, a2));
}

/// What the crash above lets safe code do next: process 1's mapping records are
/// swept under its live handles, a new mapping shares their count, and the
/// object's memory goes to another object while `a` still reads it.
#[test]
fn a_crash_planned_for_another_process_frees_memory_under_a_live_handle() {
    arena_space!(S, 1 << 16, objects = 8, mappings = 8);
    let a = Shared::<AtomicU64, S>::create("rf2.cu.a", AtomicU64::new(7)).unwrap();
    let nobody = ProcessId::new((1 << 24) | 1).unwrap();
    // SAFETY: nothing acts as `nobody` (refused: no process of the space).
    let _ = catch_unwind(|| unsafe { Arena::<S>::crash_at(nobody, CrashPoint::CreateSized) });
    let _ = catch_unwind(AssertUnwindSafe(|| Shared::<AtomicU64, S>::create("rf2.cu.x", AtomicU64::new(1))));
    Arena::<S>::cancel_crash();
    // Safe code from here on, all of it as process 1, which the caller never
    // planned to crash.
    let _ = Arena::<S>::remove("rf2.cu.x");
    let _ = Arena::<S>::remove("rf2.cu.a");
    let z = Shared::<AtomicU64, S>::create("rf2.cu.z", AtomicU64::new(99)).unwrap();
    z.store(99, Ordering::Relaxed);
    assert_eq!(a.load(Ordering::Relaxed), 7, "`a`'s memory was handed to another object while `a` lives");
    std::mem::forget((a, z));
}

// 2. `CortexM::boot` was a safe function: a second call in one life declared the
//    life whose handles were still in use dead. It is `unsafe` now (its
//    `compile_fail` doctest in `shmptr_arena::cortex_m`).

// ---------------------------------------------------------------------------
// 3. Two platforms on one space (`Arena<S>` and `Arena<S, CortexM<..>>`), safe
//    code only ("use one platform per space" is advice in `Arena`'s docs).
// ---------------------------------------------------------------------------

board!(Mixed);

board!(Mixed2);

/// New with the marks: `Arena::<S>::enter` marks every record of the space,
/// also those another platform's regions made and check by identity.
#[test]
fn simulated_enter_marks_records_of_another_platform_on_the_space() {
    arena_space!(S, 1 << 16);
    type C = Arena<S, CortexM<Mixed>>;
    // SAFETY: this board's first boot: no earlier life made anything.
    unsafe { CortexM::<Mixed>::boot() };
    let c = shmptr::Shared::<u64, C>::create("rf2.mix.c", 5).unwrap();
    let p2 = Arena::<S>::spawn();
    as_process::<S, _>(p2, || {});
    let cloned = catch_unwind(AssertUnwindSafe(|| c.clone()));
    let ok = cloned.is_ok();
    if let Ok(c2) = cloned {
        drop(c2);
    }
    assert!(ok, "a clone of a CortexM handle panicked (overflow) after a simulated enter");
    assert_eq!(shmptr::Shared::strong_count(&c), 1);
    drop(c);
}

/// Older than the marks: another platform's sweep judged the simulation's records
/// by its own identities (process 1 is core 0's life 0: dead after `boot`). A
/// space has one platform now, the first that maps an object in it: the other's
/// create is `Unsupported`, and its queries free nothing.
#[test]
fn another_platforms_sweep_frees_a_live_simulated_record() {
    arena_space!(S, 1 << 16, objects = 8, mappings = 2);
    type C = Arena<S, CortexM<Mixed2>>;
    // SAFETY: this board's first boot: no earlier life made anything.
    unsafe { CortexM::<Mixed2>::boot() };
    let a = Shared::<AtomicU64, S>::create("rf2.sw.a", AtomicU64::new(7)).unwrap(); // record 0, process 1
    let c = shmptr::Shared::<AtomicU64, C>::create("rf2.sw.c", AtomicU64::new(1));
    assert_eq!(c.map(drop).unwrap_err().kind(), ErrorKind::Unsupported, "a second platform on the space");
    let c2 = shmptr::Shared::<AtomicU64, C>::open("rf2.sw.a");
    assert_eq!(c2.map(drop).unwrap_err().kind(), ErrorKind::Unsupported);
    let _ = Arena::<S>::remove("rf2.sw.a");
    let z = Shared::<AtomicU64, S>::create("rf2.sw.z", AtomicU64::new(99));
    let seen = a.load(Ordering::Relaxed);
    drop((a, z));
    assert_eq!(seen, 7, "`a`'s record was swept and its memory reused while `a` lives");
}

// ---------------------------------------------------------------------------
// 4. `kill` promises that `enter` refuses the killed process from then on; it
//    does not for numbers above MAX_PROCESSES (kill is a no-op for them).
// ---------------------------------------------------------------------------

#[test]
fn enter_refuses_a_killed_process_whatever_its_number() {
    arena_space!(S, 1 << 12);
    let big = ProcessId::new(1000).unwrap();
    // SAFETY: nothing acts as or was made by `big`.
    let killed = catch_unwind(|| unsafe { Arena::<S>::kill(big) });
    assert!(killed.is_err(), "kill takes only the space's own processes");
    // SAFETY: only this thread uses `S`.
    let entered = catch_unwind(|| unsafe { Arena::<S>::enter(big) });
    if let Ok(previous) = entered {
        // SAFETY: as above.
        unsafe { Arena::<S>::enter(previous) };
    }
    assert!(entered.is_err(), "entered process 1000 after killing it");
}

// ---------------------------------------------------------------------------
// 5. Marks: attacks that should hold.
// ---------------------------------------------------------------------------

/// `init` of `create_with` switches to another process, handles the maker's
/// handles there, and comes back.
#[test]
fn init_that_enters_another_process_and_comes_back() {
    arena_space!(S, 1 << 16);
    let p2 = Arena::<S>::spawn();
    let a = Shared::<u64, S>::create("rf2.init.a", 1).unwrap();
    let a2 = a.clone();
    let b = Shared::<u64, S>::create_with("rf2.init.b", |v| {
        as_process::<S, _>(p2, || {
            let c = a.clone(); // re-open as p2
            assert_eq!(Shared::process_count(&c), 2);
            drop(c);
        });
        *v = 3;
    })
    .unwrap();
    assert_eq!(Shared::strong_count(&a), 2);
    drop(a2);
    assert_eq!(Shared::strong_count(&a), 1);
    assert_eq!(*b, 3);
    drop((a, b));
    assert!(!Arena::<S>::exists("rf2.init.a"));
    assert!(!Arena::<S>::exists("rf2.init.b"));
}

/// `init` enters another process and stays there (the fork case of `create`).
#[test]
fn init_that_stays_in_another_process() {
    arena_space!(S, 1 << 16);
    let p1 = Arena::<S>::current();
    let p2 = Arena::<S>::spawn();
    let a = Shared::<u64, S>::create("rf2.stay.a", 1).unwrap();
    let r = Shared::<u64, S>::create_with("rf2.stay.b", |_| {
        // SAFETY: only this thread uses `S`; no other thread is inside an operation.
        unsafe { Arena::<S>::enter(p2) };
    });
    assert_eq!(r.unwrap_err().kind(), shmptr::ErrorKind::Unsupported);
    // As p2 now: p1's handles are foreign.
    let c = a.clone();
    assert_eq!(Shared::process_count(&c), 2);
    drop(c);
    drop(a.clone());
    // SAFETY: as above.
    unsafe { Arena::<S>::enter(p1) };
    assert_eq!(Shared::strong_count(&a), 1);
    drop(a);
    assert!(!Arena::<S>::exists("rf2.stay.a"));
}

/// A value's `Drop` (run by the last handle's drop) enters another process.
#[test]
fn a_values_drop_that_switches_process() {
    use std::sync::atomic::AtomicBool;
    static SWITCH: AtomicU32 = AtomicU32::new(0);
    static DROPPED: AtomicBool = AtomicBool::new(false);
    arena_space!(Sp, 1 << 16);
    #[repr(C)]
    struct V {
        x: u64,
    }
    shmptr::shm_safe!(V { x });
    impl Drop for V {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::Relaxed);
            let to = SWITCH.load(Ordering::Relaxed);
            if to != 0 {
                // SAFETY: only this thread uses `Sp`.
                unsafe { Arena::<Sp>::enter(ProcessId::new(to.into()).unwrap()) };
            }
        }
    }
    let p1 = Arena::<Sp>::current();
    let p2 = Arena::<Sp>::spawn();
    let keep = Shared::<u64, Sp>::create("rf2.vd.keep", 1).unwrap();
    let keep2 = keep.clone();
    let v = Shared::<V, Sp>::create("rf2.vd.v", V { x: 1 }).unwrap();
    assert_eq!(v.x, 1);
    SWITCH.store(p2.get() as u32, Ordering::Relaxed);
    drop(v);
    assert!(DROPPED.load(Ordering::Relaxed));
    assert_eq!(Arena::<Sp>::current(), p2);
    // Now p2: p1's handles are marked.
    drop(keep2); // refused: a leak of p1's count
    assert!(!Arena::<Sp>::exists("rf2.vd.v"));
    // SAFETY: only this thread uses `Sp`.
    unsafe { Arena::<Sp>::enter(p1) };
    assert_eq!(Shared::strong_count(&keep), 2, "the foreign drop left p1's count");
    std::mem::forget(keep);
}

/// Slices: the maker's handles cloned and dropped as another process.
#[test]
fn slices_across_processes() {
    arena_space!(S, 1 << 16);
    let p2 = Arena::<S>::spawn();
    let s = Shared::<[u32], S>::from_slice("rf2.sl", &[1, 2, 3]).unwrap();
    let s2 = s.clone();
    as_process::<S, _>(p2, || {
        let c = s2.clone();
        assert_eq!(&*c, &[1, 2, 3]);
        assert_eq!(Shared::strong_count(&s2), 3);
        drop(s2); // refused: leaked
        assert_eq!(Shared::strong_count(&c), 3);
        drop(c);
    });
    assert_eq!(Shared::strong_count(&s), 2);
    drop(s);
    assert!(Arena::<S>::exists("rf2.sl"), "leaked by p2's drop: stays");
}

/// `into_inner` and `try_unwrap` of the maker's handles as another process.
#[test]
fn into_inner_try_unwrap_across_processes() {
    arena_space!(S, 1 << 16);
    let (p1, p2) = (Arena::<S>::current(), Arena::<S>::spawn());
    let s = Shared::<u32, S>::create("rf2.ii", 5).unwrap();
    let s2 = s.clone();
    let s3 = s.clone();
    let s3 = as_process::<S, _>(p2, || {
        assert_eq!(Shared::into_inner(s2), None);
        let s3 = Shared::try_unwrap(s3).unwrap_err();
        let c = s3.clone();
        assert_eq!(*c, 5);
        assert_eq!(Shared::strong_count(&s3), 4, "3 of p1 (one leaked) + p2's clone");
        assert_eq!(Shared::into_inner(c), None, "p1 still holds");
        s3
    });
    assert_eq!(Arena::<S>::current(), p1);
    assert_eq!(Shared::strong_count(&s), 3, "p1's 3 (one leaked by p2's into_inner)");
    drop(s3);
    assert_eq!(Shared::strong_count(&s), 2);
    assert_eq!(Shared::into_inner(s), None, "the leaked one holds");
    assert!(Arena::<S>::exists("rf2.ii"));
}

/// A crash of the maker inside its drop, while a thread of it holds clones; then
/// another process enters and drops the dead maker's nothing (only the live ones).
#[test]
fn many_switches_with_counts_on_every_record() {
    arena_space!(S, 1 << 18);
    let procs: Vec<ProcessId> = (0..4).map(|_| Arena::<S>::spawn()).collect();
    let objs: Vec<Shared<u64, S>> = (0..4)
        .map(|i| as_process::<S, _>(procs[i], || Shared::<u64, S>::create(&format!("rf2.many.{i}"), i as u64).unwrap()))
        .collect();
    let mut clones: Vec<Vec<Shared<u64, S>>> = vec![Vec::new(); 4];
    for round in 0..50 {
        let who = round % 4;
        as_process::<S, _>(procs[who], || {
            for (i, o) in objs.iter().enumerate() {
                let c = o.clone();
                if i == who {
                    clones[i].push(c);
                } else {
                    // A foreign re-open; dropped at once (p's own attachment).
                    drop(c);
                    // A foreign drop of one of i's clones: refused (leak).
                    if let Some(c) = clones[i].pop() {
                        drop(c);
                    }
                }
            }
        });
    }
    for (i, o) in objs.iter().enumerate() {
        as_process::<S, _>(procs[i], || {
            // Its own: 1 + the clones it still has + the ones others leaked.
            let held = 1 + clones[i].len() as u64;
            assert!(Shared::strong_count(o) >= held, "obj {i}: {} < {held}", Shared::strong_count(o));
            assert_eq!(Shared::process_count(o), 1, "obj {i}");
        });
    }
    std::mem::forget(clones);
    std::mem::forget(objs);
}

board!(Mixed3);

/// The unmarked drop path decrements through a mark a simulated `enter` wrote:
/// the last CortexM handle's drop leaves a count of `FOREIGN_HANDLES` alone (no
/// detach), and the object never goes.
#[test]
fn simulated_enter_then_the_last_cortex_m_drop_leaks_the_object() {
    arena_space!(S, 1 << 16);
    type C = Arena<S, CortexM<Mixed3>>;
    // SAFETY: this board's first boot: no earlier life made anything.
    unsafe { CortexM::<Mixed3>::boot() };
    let c = shmptr::Shared::<u64, C>::create("rf2.mix3", 5).unwrap();
    let p2 = Arena::<S>::spawn();
    as_process::<S, _>(p2, || {});
    let strong = shmptr::Shared::strong_count(&c);
    drop(c);
    assert_eq!(strong, 1, "strong_count of the only handle");
    assert!(!Arena::<S>::exists("rf2.mix3"), "the last handle's drop left the object");
}
