//! The behaviour suite (`shmptr-suite`) on the arena backend: one space per test.

use shmptr_arena::{arena_space, Arena};
use shmptr_suite as suite;
use shmptr_suite::{behaviour_suite, slices_suite};

macro_rules! on_arena {
    ($test:ident) => {
        #[test]
        fn $test() {
            arena_space!(S, 1 << 20);
            suite::$test::<Arena<S>>(&suite::Ctx::new("t"));
        }
    };
    ($test:ident, $n:expr) => {
        #[test]
        fn $test() {
            arena_space!(S, 1 << 20);
            suite::$test::<Arena<S>, $n>(&suite::Ctx::new("t"));
        }
    };
}

behaviour_suite!(on_arena, 64 * 1024);
// Runtime-sized objects: slices, the builders, `Released`.
slices_suite!(on_arena);
