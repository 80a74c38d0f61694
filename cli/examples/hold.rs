//! Holds a `Shared<AtomicU64>` until killed: a process for `shmptr` to look at.
//!
//! ```sh
//! cargo run -p shmptr-cli --example hold -- app.counter &   # creates or opens it
//! kill -KILL %1                                             # a crash: no Drop runs
//! shmptr ls                                                 # 1 dead holder
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use shmptr_linux::Shared;

fn main() -> Result<(), shmptr_linux::Error> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "app.counter".to_owned());
    let counter = Shared::<AtomicU64>::open_or_create(&name, || AtomicU64::new(0))?;
    let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
    println!("pid {} holds {name} (count {count}) until killed", std::process::id());
    loop {
        std::thread::park();
    }
}
