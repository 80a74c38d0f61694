//! Per-object memory overhead, measured on real objects, and checked against the
//! README's "Footprint" table so that the table is never typed in by hand.
#![cfg(target_os = "linux")]

use shmptr_linux::{Mutex, Shared, Unique};

fn file_size(name: &str) -> u64 {
    std::fs::metadata(format!("/dev/shm/{name}")).unwrap().len()
}

#[test]
fn the_readme_footprint_table_matches_measured_overheads() {
    let prefix = format!("shmptr-t.{}.footprint", std::process::id());
    let mut rows = Vec::new();
    let mut row = |what: &str, name: &str, value_bytes: usize| {
        let size = file_size(name);
        let overhead = size - value_bytes as u64;
        rows.push(format!("| {what} | {value_bytes} | {size} | {overhead} |"));
    };
    {
        let name = format!("{prefix}.a");
        let _o = Shared::<u64>::create(&name, 1).unwrap();
        row("`Shared<u64>`, 64 slots (default)", &name, 8);
    }
    {
        let name = format!("{prefix}.b");
        let _o = Shared::<u64>::options().slots(4).create(&name, 1).unwrap();
        row("`Shared<u64>`, 4 slots", &name, 8);
    }
    {
        let name = format!("{prefix}.c");
        let _o = Shared::<Mutex<u64>>::options().slots(8).create(&name, Mutex::new(0)).unwrap();
        row("`Shared<Mutex<u64>>`, 8 slots", &name, std::mem::size_of::<Mutex<u64>>());
    }
    {
        let name = format!("{prefix}.d");
        let _o = Unique::<u64>::create(&name, 1).unwrap();
        row("`Unique<u64>`", &name, 8);
    }
    {
        // A slice's length lives in the header: no bytes beside the elements.
        let name = format!("{prefix}.e");
        let frame = Unique::<[u8]>::create_slice_zeroed(&name, 1 << 20).unwrap();
        assert_eq!(frame.len(), 1 << 20);
        row("`Unique<[u8]>`, 1 MiB (a length chosen at run time)", &name, 1 << 20);
    }
    {
        let name = format!("{prefix}.f");
        let _o = Shared::<[u32]>::options().slots(4).from_slice(&name, &[1, 2, 3]).unwrap();
        row("`Shared<[u32]>` of 3 elements, 4 slots", &name, 12);
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for r in &rows {
        println!("{r}");
        assert!(readme.contains(r.as_str()), "README.md's Footprint table lacks the measured row:\n{r}");
    }
    assert_eq!(shmptr::HEADER_BYTES, 320);
    assert_eq!(shmptr::SLOT_BYTES, 64);
}
