//! Fuzzes header validation: arbitrary bytes planted as an object are opened as a
//! `Shared`, claimed as a `Unique` and reclaimed. Every outcome must be an error or
//! a valid handle; a panic, a hang or an out-of-bounds access is a bug.
//!
//! Run: `cargo install cargo-fuzz && cd fuzz && cargo +nightly fuzz run open_segment`
#![no_main]

use core::time::Duration;

use libfuzzer_sys::fuzz_target;
use shmptr_arena::{arena_space, Arena, Shared, Unique};

arena_space!(Space, 1 << 20);

const NAME: &str = "fuzzed";

fuzz_target!(|bytes: &[u8]| {
    if Arena::<Space>::plant(NAME, bytes).is_err() {
        return;
    }
    let quick = Duration::from_millis(1);
    if let Ok(handle) = Shared::<u64, Space>::options().timeout(quick).open(NAME) {
        let _ = (Shared::strong_count(&handle), Shared::process_count(&handle), *handle);
    }
    let _ = Shared::<u64, Space>::options().timeout(quick).reclaim(NAME);
    let options = shmptr::Options { timeout: quick, ..shmptr::Options::DEFAULT };
    if let Ok(mut job) = Unique::<[u32; 4], Space>::claim_with_options(NAME, &options) {
        job[0] = job[0].wrapping_add(1);
        job.release();
    }
    let _ = Arena::<Space>::remove(NAME);
});
