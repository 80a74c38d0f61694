//! The smallest real use, for its footprint: a `Shared<Mutex<u32>>` locked and
//! changed, and a `Unique` handed from one (simulated) process to another.

use cortex_m_semihosting::hprintln;
use shmptr_arena::{arena_space, Arena};

/// The user's arena memory (not counted as shmptr's cost).
pub const ARENA_BYTES: usize = 4 * 1024;

// Books for 2 objects and 4 mappings at once: what this use needs.
arena_space!(pub Space, ARENA_BYTES, objects = 2, mappings = 4);

type Shared<T> = shmptr_arena::Shared<T, Space>;
type Unique<T> = shmptr_arena::Unique<T, Space>;
type Mutex<T> = shmptr_arena::Mutex<T, Space>;

pub fn run() {
    let stack = crate::stack::deepest(use_it);
    hprintln!("firmware: minimal use ok");
    hprintln!("STACK minimal {}", stack);
    hprintln!("ARENA_BYTES {}", ARENA_BYTES);
}

/// The value of `result`, or the firmware fails (without formatting the error,
/// as a size-minded firmware does: `unwrap` would link `Debug` of the error).
fn must<T, E>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(_) => fail(),
    }
}

fn fail() -> ! {
    hprintln!("firmware: FAILED: minimal use");
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

fn use_it() {
    let m = must(Shared::<Mutex<u32>>::options().slots(2).create("m", Mutex::new(0)));
    *must(m.lock()) += 1;
    let job = must(Unique::<u32>::create("job", 7));
    Unique::release(job);
    let other = Arena::<Space>::spawn();
    // SAFETY: nothing else uses the arena now; `other` is alive.
    let me = unsafe { Arena::<Space>::enter(other) };
    let job = must(Unique::<u32>::claim("job"));
    if *job != 7 {
        fail();
    }
    drop(job);
    // SAFETY: as above; `me` is alive.
    unsafe { Arena::<Space>::enter(me) };
    if *must(m.lock()) != 1 {
        fail();
    }
}
