//! What the arena-backed test files share.

use shmptr::ProcessId;
use shmptr_arena::{Arena, Space};

/// Runs `f` as `process`, then as the caller's process again.
///
/// Safe for the tests that call it: each of their spaces is declared inside one
/// test function, and only that test's thread operates on it while the identity
/// changes (threads a test starts run inside `f` and are joined before `f`
/// returns; a proptest runner runs its cases on that thread). That is all
/// `Arena::enter` needs; it checks itself that the process is alive.
pub fn as_process<S: Space, R>(process: ProcessId, f: impl FnOnce() -> R) -> R {
    // SAFETY: see above: no other thread is inside an operation on `S`.
    let previous = unsafe { Arena::<S>::enter(process) };
    let result = f();
    // SAFETY: as above; `previous` was alive when it was left, and nothing here
    // kills it.
    unsafe { Arena::<S>::enter(previous) };
    result
}
