//! shmptr against its peers, each pair measured in the same run:
//! `cargo bench -p shmptr-bench --bench peers` (about 120 s),
//! `cargo bench -p shmptr-bench --bench peers -- --quick` (about 13 s); any other
//! non-flag argument runs only the comparisons whose name contains it (`-- handoff`).
//!
//! Every comparison alternates batches of ours and the peer's (ours first in even
//! rounds, the peer first in odd ones) and takes the median of the per-batch
//! nanoseconds per operation of each side, so drift on the host hits both sides
//! alike. Work that never sleeps is timed in thread CPU time, the hand-off and the
//! 4-process mutex (whose cost is sleeping and waking) on the wall clock; see
//! `harness::Clock`. The owner-death comparison (`blocking.rs`) alternates rounds
//! instead of batches: one kill of a lock holder each, timed on the wall clock.
//!
//! Printed on stdout:
//! - `RATIO <name> <ours_ns> <peer_ns> <ours/peer>`, one line per comparison;
//! - `IDLE mutex_blocked_switches_per_s <n>`: the context switches per second of a
//!   thread blocked in `Mutex::lock` while another process holds the lock (its CPU
//!   time per second on stderr); selected by that name as the comparisons are;
//! - a `targets` block: which of the DESIGN.md / issue 7 targets are met;
//! - `ALLOCS <operation> <count>`: heap calls one operation made (worst of several);
//! - `OVERHEAD_BYTES <what> <bytes>`: the per-object cost in shared memory.
//!
//! Progress, the host's load and the spread of the batches go to stderr.
//! Multi-process comparisons re-execute this binary with a role (see
//! `children.rs`); every object is named `shmptr-bench.<pid>.<what>`;
//! `/dev/shm` is left clean and children are killed also when the run panics or a
//! child dies.

#[cfg(all(target_os = "linux", not(loom)))]
mod allocs;
#[cfg(all(target_os = "linux", not(loom)))]
mod blocking;
#[cfg(all(target_os = "linux", not(loom)))]
mod children;
#[cfg(all(target_os = "linux", not(loom)))]
mod comparisons;
#[cfg(all(target_os = "linux", not(loom)))]
mod frames;
#[cfg(all(target_os = "linux", not(loom)))]
mod harness;
#[cfg(all(target_os = "linux", not(loom)))]
mod posix;

#[cfg(all(target_os = "linux", not(loom)))]
fn main() {
    use harness::{Settings, Target};

    if let Some(child) = children::ChildArgs::from_env() {
        if frames::is_frames_role(&child.role) {
            frames::run_child(&child);
        } else {
            comparisons::run_child(&child);
        }
        return;
    }
    let started = std::time::Instant::now();
    let settings = Settings::from_args(std::env::args());
    // Declared first, dropped last: after every child is killed and every handle
    // dropped, it removes whatever this run left in /dev/shm (also on panic).
    let cleanup = children::Cleanup::new();
    let prefix = cleanup.prefix().to_owned();
    eprintln!("peers: {settings}; objects /dev/shm/{prefix}.*");

    let allocations = allocs::measure(&prefix);
    let overhead = allocs::overhead(&prefix);

    type Comparison = fn(&Settings, &str) -> harness::Ratio;
    let comparisons: [(&str, Comparison); 15] = [
        ("shared_clone_drop_vs_arc", comparisons::shared_clone_drop_vs_arc),
        ("shared_contended_2proc_vs_arc_2thread", comparisons::shared_contended_2proc_vs_arc_2thread),
        ("mutex_uncontended_vs_pthread_robust", comparisons::mutex_uncontended_vs_pthread_robust),
        ("mutex_contended_4proc_vs_pthread_robust", comparisons::mutex_contended_4proc_vs_pthread_robust),
        ("mutex_owner_death_vs_pthread_robust", blocking::mutex_owner_death_vs_pthread_robust),
        ("mutex_handoff_vs_pthread_condvar", comparisons::mutex_handoff_vs_pthread_condvar),
        // Not targets: the hand-off with the scheduler's placement taken out.
        ("mutex_handoff_same_cpu_vs_pthread_condvar", comparisons::mutex_handoff_same_cpu_vs_pthread_condvar),
        ("mutex_handoff_two_cpus_vs_pthread_condvar", comparisons::mutex_handoff_two_cpus_vs_pthread_condvar),
        ("segment_cycle_vs_shared_memory", comparisons::segment_cycle_vs_shared_memory),
        ("segment_cycle_vs_raw_rustix", comparisons::segment_cycle_vs_raw_rustix),
        // Not a target: tells the memory work the targets' peers skip apart from
        // the cost of shmptr's own code.
        ("segment_cycle_vs_raw_rustix_same_work", comparisons::segment_cycle_vs_raw_rustix_same_work),
        // Runtime-sized frames between two processes (`frames.rs`).
        ("frame_1mib_reused_vs_pipe", frames::frame_1mib_reused_vs_pipe),
        ("frame_16mib_reused_vs_pipe", frames::frame_16mib_reused_vs_pipe),
        ("frame_1mib_create_per_frame_vs_raw_same_work", frames::frame_1mib_create_per_frame_vs_raw_same_work),
        // Not a target.
        ("slice_create_open_4kib_vs_shared_memory", frames::slice_create_open_4kib_vs_shared_memory),
    ];
    let ratios: Vec<_> = comparisons
        .iter()
        .filter(|(name, _)| settings.selects(name))
        .filter(|(name, _)| {
            let cpus = comparisons::allowed_cpus();
            let runs = !name.contains("two_cpus") || cpus >= 2;
            if !runs {
                println!("SKIPPED: {name} needs two CPUs, this process may use {cpus}");
            }
            runs
        })
        .map(|(name, compare)| {
            let ratio = compare(&settings, &prefix);
            assert_eq!(ratio.name, *name);
            ratio
        })
        .collect();
    let idle =
        settings.selects("mutex_blocked_switches_per_s").then(|| blocking::mutex_blocked_idle(&settings, &prefix));

    let ratio = |name: &str| ratios.iter().find(|r| r.name == name).map(harness::Ratio::ratio);
    let ours_us = |name: &str| ratios.iter().find(|r| r.name == name).map(|r| r.ours / 1000.0);
    let worst_allocs = allocations.iter().map(|&(_, count)| count).max().unwrap_or(0);
    let targets = [
        ("clone+drop <= 1.2x Arc", ratio("shared_clone_drop_vs_arc"), 1.2),
        ("contended 2proc <= 1.0x Arc 2 threads", ratio("shared_contended_2proc_vs_arc_2thread"), 1.0),
        ("uncontended mutex <= 1.1x pthread robust", ratio("mutex_uncontended_vs_pthread_robust"), 1.1),
        ("contended 4proc <= 0.5x pthread robust", ratio("mutex_contended_4proc_vs_pthread_robust"), 0.5),
        ("owner death median <= 200 us", ours_us("mutex_owner_death_vs_pthread_robust"), 200.0),
        ("blocked lock <= 10 switches/s", idle.as_ref().map(|i| i.switches_per_s), 10.0),
        ("blocked lock CPU <= 0.1%", idle.as_ref().map(|i| i.cpu_percent), 0.1),
        ("hand-off <= 1.0x pthread", ratio("mutex_handoff_vs_pthread_condvar"), 1.0),
        ("segment cycle <= 1.0x shared_memory", ratio("segment_cycle_vs_shared_memory"), 1.0),
        ("segment cycle <= 1.3x raw rustix", ratio("segment_cycle_vs_raw_rustix"), 1.3),
        ("1 MiB frames reused <= 0.3x pipe", ratio("frame_1mib_reused_vs_pipe"), 0.3),
        ("16 MiB frames reused <= 0.15x pipe", ratio("frame_16mib_reused_vs_pipe"), 0.15),
        ("frame per object <= 1.1x raw same work", ratio("frame_1mib_create_per_frame_vs_raw_same_work"), 1.1),
        ("heap allocations per operation == 0", Some(worst_allocs as f64), 0.0),
    ];
    // Only the targets whose comparison ran (all of them without a filter).
    let targets: Vec<_> =
        targets.into_iter().filter_map(|(what, value, limit)| Some(Target::at_most(what, value?, limit))).collect();
    println!("targets:");
    for target in &targets {
        println!("  {target}");
    }
    let met = targets.iter().filter(|t| t.met()).count();
    println!("  {met}/{} met", targets.len());

    for (operation, count) in &allocations {
        println!("ALLOCS {operation} {count}");
    }
    for (what, bytes) in &overhead {
        println!("OVERHEAD_BYTES {what} {bytes}");
    }

    let left = cleanup.finish();
    assert!(left.is_empty(), "the benchmark left {left:?} in /dev/shm");
    eprintln!(
        "peers: done in {:.1} s, load average {}, /dev/shm clean",
        started.elapsed().as_secs_f64(),
        harness::load_average()
    );
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn main() {
    eprintln!("the peers benchmark needs Linux (/dev/shm, futexes, glibc pthreads)");
}
