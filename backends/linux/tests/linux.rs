//! The behaviour suite on the Linux backend: real `/dev/shm` objects. Every test
//! uses a name prefix unique to it and this run, and checks that it leaves nothing
//! behind.
#![cfg(target_os = "linux")]

mod linux_support;

use linux_support::Scope;
use shmptr_linux::Linux;
use shmptr_suite as suite;
use shmptr_suite::{behaviour_suite, slices_suite};

macro_rules! on_linux {
    ($test:ident) => {
        #[test]
        fn $test() {
            let scope = Scope::new(stringify!($test));
            suite::$test::<Linux>(&suite::Ctx::new(scope.prefix.clone()));
        }
    };
    ($test:ident, $n:expr) => {
        #[test]
        fn $test() {
            let scope = Scope::new(stringify!($test));
            suite::$test::<Linux, $n>(&suite::Ctx::new(scope.prefix.clone()));
        }
    };
}

// 256 MiB: create_zeroed never builds the value on the stack.
behaviour_suite!(on_linux, 32 * 1024 * 1024);
// Runtime-sized objects: slices, the builders, `Released`.
slices_suite!(on_linux);
