//! The arena over its own simulated platform marks the mappings of every process
//! but the current one (`Region::foreign_marked`, `shmptr::FOREIGN_HANDLES`), so that a
//! clone or drop tells another process's handle from the count it changes, with no
//! look at the identity on its fast path. What must hold, whatever the interleaving:
//! a handle used as another process neither changes nor publishes its maker's
//! count (it is that process's inheritance, as after `fork`), the maker's count is
//! exact again when it runs, and the marks do not hide a loan or a holder.

use std::sync::atomic::AtomicU32;

use shmptr::ErrorKind;
use shmptr_arena::{arena_space, Arena, Shared};

mod common;
use common::as_process;

#[test]
fn another_process_neither_changes_nor_publishes_the_makers_count() {
    arena_space!(S, 1 << 16);
    let (p1, p2, p3) = (Arena::<S>::spawn(), Arena::<S>::spawn(), Arena::<S>::spawn());
    let (a, a2) = as_process::<S, _>(p1, || {
        let a = Shared::<u64, S>::create("marks.count", 7).unwrap();
        let a2 = a.clone();
        (a, a2)
    });
    let watcher = as_process::<S, _>(p3, || Shared::<u64, S>::open("marks.count").unwrap());
    as_process::<S, _>(p2, || {
        for _ in 0..100 {
            // A clone is p2's own attachment; dropping it leaves again.
            let own = a.clone();
            assert_eq!((*own, Shared::process_count(&own)), (7, 3));
            drop(own);
        }
        // p1's handle dropped as p2: refused, nothing released or published.
        drop(a2);
        assert_eq!(Shared::strong_count(&a), 3, "p1's 2 (read privately) and p3's 1");
    });
    as_process::<S, _>(p3, || {
        assert_eq!(Shared::strong_count(&watcher), 3, "p1's published count is still 2");
        assert_eq!(Shared::process_count(&watcher), 2);
    });
    as_process::<S, _>(p1, || {
        assert_eq!(Shared::strong_count(&a), 3, "p1's own count is exact again (2)");
        // The handle p2 dropped is leaked: p1 stays attached after its last drop.
        drop(a);
    });
    as_process::<S, _>(p3, || {
        assert_eq!(Shared::process_count(&watcher), 2, "p1 still holds the handle p2 dropped");
        assert_eq!(Shared::strong_count(&watcher), 2);
    });
    // p1 dies; p3's last drop reclaims it and destroys the object.
    // SAFETY: nothing p1 made is used again (its handles are dropped or leaked).
    unsafe { Arena::<S>::kill(p1) };
    as_process::<S, _>(p3, || drop(watcher));
    assert!(!Arena::<S>::exists("marks.count"));
}

#[test]
fn threads_of_another_process_racing_on_the_makers_handles_leave_its_count_exact() {
    arena_space!(S, 1 << 16);
    let (p1, p2) = (Arena::<S>::spawn(), Arena::<S>::spawn());
    const HANDLES: usize = 64;
    let (a, mut clones) = as_process::<S, _>(p1, || {
        let a = Shared::<AtomicU32, S>::create("marks.threads", AtomicU32::new(0)).unwrap();
        let clones: Vec<_> = (0..HANDLES).map(|_| a.clone()).collect();
        (a, clones)
    });
    let second = clones.split_off(HANDLES / 2);
    as_process::<S, _>(p2, || {
        std::thread::scope(|s| {
            for half in [clones, second] {
                let a = &a;
                s.spawn(move || {
                    for (i, handle) in half.into_iter().enumerate() {
                        // Each thread's drops and clones of p1's handles, and
                        // p2's own clones, interleave with the other thread's.
                        if i % 4 == 0 {
                            let own = a.clone();
                            drop(own.clone());
                            drop(own);
                        }
                        drop(handle);
                    }
                });
            }
        });
    });
    as_process::<S, _>(p1, || {
        assert_eq!(
            Shared::strong_count(&a),
            1 + HANDLES as u64,
            "p2's refused drops each took back exactly what they took"
        );
        assert_eq!(Shared::process_count(&a), 1, "p2's own attachments all left");
    });
    // The 64 handles p2 dropped are leaked: p1 never detaches by itself.
    // SAFETY: nothing p1 made is used again (`a` is forgotten).
    unsafe { Arena::<S>::kill(p1) };
    std::mem::forget(a);
    as_process::<S, _>(p2, || Shared::<AtomicU32, S>::reclaim("marks.threads").unwrap());
    assert!(!Arena::<S>::exists("marks.threads"));
}

#[test]
fn a_loan_marked_foreign_still_keeps_other_processes_out() {
    arena_space!(S, 1 << 16);
    let (p1, p2) = (Arena::<S>::spawn(), Arena::<S>::spawn());
    as_process::<S, _>(p1, || {
        let mut a = Shared::<u64, S>::create("marks.loan", 1).unwrap();
        {
            let mut lent = Shared::get_mut(&mut a).expect("the only handle");
            *lent = 2;
            // While p1's loan lives, its mapping is marked foreign for p2 too.
            as_process::<S, _>(p2, || {
                let e = Shared::<u64, S>::open("marks.loan").unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Busy, "the loan's mark survives the foreign one");
            });
            *lent = 3;
        }
        // The loan ended as p1: p2 joins and reads what it wrote.
        let b = as_process::<S, _>(p2, || Shared::<u64, S>::open("marks.loan").unwrap());
        assert_eq!(*b, 3);
        assert_eq!(Shared::strong_count(&a), 2);
        assert!(Shared::get_mut(&mut a).is_none(), "p2 holds it");
        as_process::<S, _>(p2, || drop(b));
        assert!(Shared::get_mut(&mut a).is_some(), "p2 left");
        drop(a);
    });
    assert!(!Arena::<S>::exists("marks.loan"));
}
