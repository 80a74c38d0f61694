//! Kill storm: 100 rounds of 4–8 processes cloning and dropping one `Shared`
//! object while a random subset of them is SIGKILLed at random moments. After each
//! round: `T`'s drop ran exactly once (counted in a second object), the name is
//! gone, `/dev/shm` holds nothing of ours, and no survivor hung.
#![cfg(target_os = "linux")]

mod linux_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use linux_support::{role, wait_for, Control, Scope, Tracked};
use shmptr_linux::Shared;

const ROUNDS: u32 = 100;
const CYCLES: u32 = 1_000;

/// xorshift64*: reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn kill_storm_leaves_exactly_one_drop_and_nothing_behind() {
    const TEST: &str = "kill_storm_leaves_exactly_one_drop_and_nothing_behind";
    let scope = Scope::new(TEST);
    if let Some(round) = role() {
        let control = Shared::<Control>::open(&scope.name(&format!("control{round}"))).unwrap();
        let value = Shared::<Tracked>::open(&scope.name(&format!("value{round}"))).unwrap();
        control.ready.fetch_add(1, Ordering::AcqRel);
        wait_for(&control.go, 1);
        // Hammer until the parent is done killing (bounded), at least CYCLES times.
        let deadline = Instant::now() + linux_support::BOUND;
        let mut cycles = 0u32;
        while (cycles < CYCLES || control.done.load(Ordering::Acquire) == 0) && Instant::now() < deadline {
            let clone = value.clone();
            clone.value.fetch_add(1, Ordering::Relaxed);
            cycles += 1;
        }
        return;
    }
    let seed = std::env::var("SHMPTR_STORM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("kill storm seed: {seed} (set SHMPTR_STORM_SEED to replay)");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut killed_total, mut children_total) = (0, 0);
    for round in 0..ROUNDS {
        let control_name = scope.name(&format!("control{round}"));
        let value_name = scope.name(&format!("value{round}"));
        let control = Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let value = Shared::<Tracked>::create(&value_name, Tracked::new(&control_name)).unwrap();
        let children = 4 + rng.below(5) as u32;
        children_total += children;
        let mut kids: Vec<_> = (0..children).map(|_| Some(scope.spawn(TEST, &round.to_string()))).collect();
        wait_for(&control.ready, children);
        control.go.store(1, Ordering::Release);
        // Kill a random subset at random moments while they hammer; the parent still
        // holds its handle, so no destruction is under way when a child dies.
        std::thread::sleep(Duration::from_micros(rng.below(1500)));
        for kid in kids.iter_mut() {
            if rng.below(2) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(300)));
                kid.take().unwrap().kill();
                killed_total += 1;
            }
        }
        control.done.store(1, Ordering::Release);
        // Half the rounds the parent leaves before the survivors, so a child is the
        // last holder and must reclaim its killed siblings and destroy.
        let parent_first = rng.below(2) == 0;
        let mut value = Some(value);
        if parent_first {
            drop(value.take());
        }
        kids.into_iter().flatten().for_each(|kid| kid.succeeds());
        drop(value);
        assert_eq!(control.drops.load(Ordering::SeqCst), 1, "round {round} (seed {seed}): T dropped exactly once");
        assert!(!Scope::exists(&value_name), "round {round} (seed {seed}): the name is gone");
        drop(control);
        assert!(scope.leftovers().is_empty(), "round {round}: /dev/shm is clean");
    }
    println!("{ROUNDS} rounds, {children_total} children, {killed_total} SIGKILLed, in {:?}", started.elapsed());
}
