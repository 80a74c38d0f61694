//! The seed's processA/processB, done right.
//!
//! The seed wraps `shm_open` + `mmap` in a C++ `shared_ptr` whose deleter unmaps and
//! unlinks: its count is per process, so process A's exit unlinks the name under
//! process B. Here the count lives in the segment: A leaves first, B keeps using the
//! object, and only B — the last holder in any process — destroys it and removes
//! the name.
//!
//! Run it with `cargo run -p shmptr-linux --example seed`; it starts itself again as process B.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

use shmptr_linux::Shared;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("b") => process_b(&std::env::args().nth(2).ok_or("process B needs the object's name")?),
        _ => process_a(),
    }
}

fn holders(label: &str, handle: &Shared<AtomicI32>) {
    println!(
        "[{label}] holders: {} handle(s) in {} process(es)",
        Shared::strong_count(handle),
        Shared::process_count(handle)
    );
}

fn process_a() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("shmptr-seed.{}", std::process::id());
    let a = Shared::<AtomicI32>::create(&name, AtomicI32::new(0))?;
    a.store(42, Ordering::Release);
    println!("[A] created /dev/shm/{name} (mode 0600) and stored 42");
    holders("A", &a);

    let mut b = Command::new(std::env::current_exe()?)
        .args(["b", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_b = b.stdin.take().ok_or("no pipe to B")?;
    let mut from_b = BufReader::new(b.stdout.take().ok_or("no pipe from B")?).lines();
    // Relay B's lines until it says it holds the object.
    for line in from_b.by_ref() {
        let line = line?;
        println!("{line}");
        if line.ends_with("holding") {
            break;
        }
    }
    holders("A", &a);
    drop(a);
    println!(
        "[A] dropped my handle first; /dev/shm/{name} exists: {}",
        Path::new(&format!("/dev/shm/{name}")).exists()
    );
    writeln!(to_b, "go")?;
    for line in from_b {
        println!("{}", line?);
    }
    let status = b.wait()?;
    println!("[A] B exited with {status}; /dev/shm/{name} exists: {}", Path::new(&format!("/dev/shm/{name}")).exists());
    assert!(status.success());
    assert!(!Path::new(&format!("/dev/shm/{name}")).exists(), "the last holder removes the name");
    println!("seed: ok");
    Ok(())
}

fn process_b(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let b = Shared::<AtomicI32>::open(name)?;
    println!("[B] opened {name}, read {}", b.load(Ordering::Acquire));
    b.fetch_add(1, Ordering::AcqRel);
    println!("[B] added 1 -> {}; holding", b.load(Ordering::Acquire));
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?; // A drops its handle meanwhile
    println!("[B] A has left; the object is still here: {}", b.load(Ordering::Acquire));
    holders("B", &b);
    drop(b);
    println!("[B] dropped the last handle: T destroyed and the name unlinked, by B");
    Ok(())
}
