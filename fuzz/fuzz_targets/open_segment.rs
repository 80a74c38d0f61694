//! Fuzzes header validation: arbitrary bytes planted as an object are opened as a
//! `Shared`, claimed as a `Unique` and reclaimed, each as one value and as a slice
//! of run-time length (format version 2's `shape` and `length`). Every outcome
//! must be an error or a valid handle; a panic, a hang or an out-of-bounds access
//! (a slice reaching past the object: every element is read) is a bug.
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
    if let Ok(handle) = Shared::<[u64], Space>::options().timeout(quick).open(NAME) {
        let _ = handle.iter().fold(0u64, |sum, x| sum.wrapping_add(*x));
    }
    let _ = Shared::<[u64], Space>::options().timeout(quick).reclaim(NAME);
    if let Ok(mut job) = Unique::<[u32; 4], Space>::options().timeout(quick).claim(NAME) {
        job[0] = job[0].wrapping_add(1);
        Unique::release(job);
    }
    if let Ok(mut frame) = Unique::<[u8], Space>::options().timeout(quick).claim(NAME) {
        for byte in frame.iter_mut() {
            *byte = byte.wrapping_add(1);
        }
        Unique::release(frame);
    }
    let _ = Arena::<Space>::remove(NAME);
});
