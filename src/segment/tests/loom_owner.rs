//! loom models of the owner word of a `Unique`: claim
//! ([`owner::claim_object`]) and release ([`owner::release`]).
//!
//! The object is slotless (as a `Unique` is: `slot_count` 0), and each claim is
//! the real `claim_object` on its [`Members`](crate::segment::Members) view, as
//! `UniqueHandle::claim` (mapping.rs) calls it: the owner word, then the destroyer
//! word (free here: nobody destroys).
//!
//! What each model proves, over every interleaving loom explores:
//! - [`unique_mutual_exclusion`]: the owner releases a `Unique` while two processes
//!   try to claim it (and release it again): never two owners at once, each owner
//!   sees the previous owner's writes, and the word ends released.
//! - [`unique_single_claim`]: two processes claim a `Unique` that is released, whose
//!   owner is dead, or whose live owner releases it concurrently, and keep it: at most
//!   one claim succeeds, and exactly one when the object was free or its owner dead.
//!
//! Not covered: `give_up` and a claim of an object being destroyed (the destroyer
//! word is the member models' business, and `claim_object` only reads it here).

use std::format;
use std::vec::Vec;

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::{model, spawn_as, Segment, VALUE};
use crate::backend::Platform;
use crate::error::ErrorKind;
use crate::loom_support::{self, main_turn, pid, which, Model, DEAD};
use crate::primitive::Ordering;
use crate::segment::owner;

/// `UniqueHandle::claim` (mapping.rs) by the current process: `Ok` if it now owns
/// the object; `Busy` otherwise (nobody destroys it in these models).
fn claim(seg: &Segment) -> Result<(), ErrorKind> {
    let members = seg.members();
    owner::claim_object::<Model>(&members, Model::current_process(), owner::From::ReleasedOrDead).map_err(|refused| {
        assert!(refused.right.is_none(), "a claim got the right to destroy a live object");
        refused.error.kind()
    })
}

/// The owner loop of one claimer in [`unique_mutual_exclusion`]: up to two claims;
/// how many succeeded (0 or 1).
#[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
fn claim_use_release(seg: &Segment, owners: &AtomicUsize) -> u32 {
    let me = Model::current_process();
    for _ in 0..2 {
        match claim(seg) {
            Ok(()) => {
                // Relaxed: an RMW sees every earlier one, so two owners at once show
                // here without the counter itself ordering anything.
                assert_eq!(owners.fetch_add(1, Ordering::Relaxed), 0, "two owners at once");
                seg.value.with_mut(|value| {
                    // SAFETY: the cell lives as long as `seg`; loom fails the model if
                    // the previous owner's write is not ordered before this one.
                    unsafe { *value += 1 }
                });
                owners.fetch_sub(1, Ordering::Relaxed);
                owner::release(&seg.header.owner, me);
                return 1;
            }
            Err(kind) => {
                assert_eq!(kind, ErrorKind::Busy);
                thread::yield_now();
            }
        }
    }
    0
}

#[test]
#[allow(unsafe_code)] // a loom `UnsafeCell` access, checked by loom
fn unique_mutual_exclusion() {
    model(&["claims P2", "claims P3", "claims P2+P3", "claims -"], |main_last| {
        let seg = Segment::new(0);
        let owners = Arc::new(AtomicUsize::new(0));
        seg.header.owner.store(1, Ordering::Relaxed);

        let claimers: Vec<_> = [2, 3]
            .into_iter()
            .map(|p| {
                let owners = owners.clone();
                spawn_as(p, &seg, move |seg| claim_use_release(seg, &owners))
            })
            .collect();

        main_turn(main_last);
        loom_support::play(1);
        seg.value.with_mut(|value| {
            // SAFETY: as in `claim_use_release`; process 1 owns the object here.
            unsafe { *value += 1 }
        });
        owner::release(&seg.header.owner, pid(1));
        let claims: Vec<u32> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(seg.header.owner.load(Ordering::Acquire), 0, "the object was not left released");
        let total: u32 = claims.iter().sum();
        assert_eq!(seg.value(), VALUE + 1 + u64::from(total));
        format!("claims {}", which(&[(2, claims[0] == 1), (3, claims[1] == 1)]))
    });
}

#[test]
fn unique_single_claim() {
    // The owner word at the start, whether process 1 releases it concurrently, and
    // the possible winners.
    let cases: [(u64, bool, &'static [&'static str]); 3] = [
        (0, false, &["winner P2", "winner P3"]),
        (DEAD, false, &["winner P2", "winner P3"]),
        (1, true, &["winner P2", "winner P3", "winner -"]),
    ];
    for (start, concurrent_release, outcomes) in cases {
        model(outcomes, move |main_last| {
            let seg = Segment::new(0);
            seg.header.owner.store(start, Ordering::Relaxed);
            let claimers: Vec<_> = [2, 3]
                .into_iter()
                .map(|p| {
                    spawn_as(p, &seg, move |seg| match claim(seg) {
                        Ok(()) => true,
                        Err(kind) => {
                            assert_eq!(kind, ErrorKind::Busy);
                            false
                        }
                    })
                })
                .collect();
            if concurrent_release {
                main_turn(main_last);
                loom_support::play(1);
                owner::release(&seg.header.owner, pid(1));
            }
            let won: Vec<bool> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
            assert!(!(won[0] && won[1]), "two claims succeeded");
            if !concurrent_release {
                assert!(won[0] || won[1], "a free or dead-owned object was not claimed");
            }
            let winner = which(&[(2, won[0]), (3, won[1])]);
            let expected = if won[0] {
                2
            } else if won[1] {
                3
            } else {
                0
            };
            assert_eq!(seg.header.owner.load(Ordering::Acquire), expected);
            format!("winner {winner}")
        });
    }
}
