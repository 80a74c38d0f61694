//! A shmptr backend written from scratch: four fixed-size objects in one static
//! buffer, for a single process with several threads (think of a memory window that
//! a hypervisor maps into guests, or a microcontroller's shared SRAM).
//!
//! It implements the three traits — `Region`, `Platform`, `Backend` — and then runs
//! `Shared` and `Unique` on them. Each region keeps its handle count and the
//! record of exclusive ownership outside the blocks, where nothing written into a
//! block can reach them (the `Region` contract). Run it with `cargo run --example custom_backend`.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shmptr::{Access, Backend, Error, ErrorKind, Liveness, Name, Platform, ProcessId, Region, Shared, Unique};

const OBJECTS: usize = 4;
const OBJECT_BYTES: usize = 16 * 1024;
/// How many regions (mappings) may exist at once.
const MAPPINGS: usize = 16;

/// The memory: four 16 KiB blocks, 64-byte aligned.
#[repr(C, align(64))]
struct Blocks(UnsafeCell<[[u8; OBJECT_BYTES]; OBJECTS]>);
// SAFETY: blocks are handed out one object each under `TABLE`'s lock; what happens
// inside one is shmptr's business (atomics).
unsafe impl Sync for Blocks {}
static BLOCKS: Blocks = Blocks(UnsafeCell::new([[0; OBJECT_BYTES]; OBJECTS]));

/// Per block: the name linked to it (if any), how many regions map it, and the
/// region that owns it exclusively (a `Unique`), if any.
#[derive(Clone, Copy, Default)]
struct Entry {
    name: Option<([u8; shmptr::NAME_MAX], usize)>,
    maps: u32,
    owned_by: Option<usize>,
}

/// The blocks, and which block each mapping record maps (`None`: free).
struct Table {
    blocks: [Entry; OBJECTS],
    mappings: [Option<usize>; MAPPINGS],
}
static TABLE: Mutex<Table> =
    Mutex::new(Table { blocks: [Entry { name: None, maps: 0, owned_by: None }; OBJECTS], mappings: [None; MAPPINGS] });

/// Each mapping's handle count: private bookkeeping, outside every block, so
/// nothing written into a block can change it.
static HANDLES: [AtomicUsize; MAPPINGS] = [const { AtomicUsize::new(0) }; MAPPINGS];

impl Table {
    /// A new region of block `index`, with a fresh mapping record.
    fn map(&mut self, index: usize) -> shmptr::Result<BlockRegion> {
        let mapping = self
            .mappings
            .iter()
            .position(Option::is_none)
            .ok_or(Error::new(ErrorKind::OutOfMemory, "mapping a block (too many mappings)"))?;
        self.mappings[mapping] = Some(index);
        HANDLES[mapping].store(0, Ordering::Relaxed);
        self.blocks[index].maps += 1;
        Ok(BlockRegion { index, mapping })
    }
}

fn named(entry: &Entry, name: Name<'_>) -> bool {
    entry.name.is_some_and(|(bytes, len)| &bytes[..len] == name.as_bytes())
}

/// One mapping of block `index`, with its record `mapping`.
struct BlockRegion {
    index: usize,
    mapping: usize,
}

// SAFETY: each block is 64-aligned, valid for OBJECT_BYTES bytes for the whole
// program, the same bytes for every region of it, zeroed on create, and only `Drop`
// touches shared bookkeeping, so bitwise copies are fine when one copy is dropped.
// `handles` is the region's own counter in `HANDLES`, outside every block, zeroed
// when the region is made and reused only after its `Drop`; `own_exclusively` is
// decided under the table's lock against the one owning region recorded there.
unsafe impl Region for BlockRegion {
    fn as_ptr(&self) -> NonNull<u8> {
        // SAFETY: `index < OBJECTS`, so the pointer stays inside `BLOCKS`.
        let block = unsafe { BLOCKS.0.get().cast::<[u8; OBJECT_BYTES]>().add(self.index) };
        NonNull::new(block.cast()).expect("static memory is not null")
    }
    fn len(&self) -> usize {
        OBJECT_BYTES
    }
    fn handles(&self) -> &AtomicUsize {
        &HANDLES[self.mapping]
    }
    fn others(&self) -> usize {
        let table = TABLE.lock().unwrap();
        (0..MAPPINGS)
            .filter(|&m| m != self.mapping && table.mappings[m] == Some(self.index))
            .fold(0, |or, m| or | HANDLES[m].load(Ordering::Relaxed))
    }
    fn own_exclusively(&self) -> shmptr::Result<()> {
        let mut table = TABLE.lock().unwrap();
        let block = &mut table.blocks[self.index];
        if block.owned_by.is_some_and(|m| m != self.mapping) {
            return Err(Error::new(ErrorKind::Busy, "owning a block another region owns"));
        }
        block.owned_by = Some(self.mapping);
        Ok(())
    }
    /// Ends the ownership, also while the region stays mapped
    /// (`Unique::release_mapped`).
    fn disown(&self) {
        let mut table = TABLE.lock().unwrap();
        let block = &mut table.blocks[self.index];
        if block.owned_by == Some(self.mapping) {
            block.owned_by = None;
        }
    }
    /// The same block: a block is not given to a new object while a region maps it.
    fn same_object(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl Drop for BlockRegion {
    fn drop(&mut self) {
        let mut table = TABLE.lock().unwrap();
        let block = &mut table.blocks[self.index];
        block.maps -= 1;
        if block.owned_by == Some(self.mapping) {
            block.owned_by = None;
        }
        table.mappings[self.mapping] = None;
    }
}

/// The backend: a zero-sized type.
struct Blocky;

static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

// SAFETY: there is one process (threads share it), so its identity is constant
// and unique; it is alive whenever anyone asks, so `liveness` never says `Dead`
// (of anyone). `wait` polls: it returns as soon as the word differs from
// `expected`, so a change made before or during the wait ends it, and `wake` has
// nothing to do (the contract asks only that a sleep end after a wake; a poll
// ends on the change itself, which every waker makes before waking).
unsafe impl Platform for Blocky {
    fn current_process() -> ProcessId {
        ProcessId::new(1).unwrap() // one process; threads share it
    }
    fn liveness(_: ProcessId) -> Liveness {
        Liveness::Alive
    }
    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let start = Instant::now();
        while word.load(Ordering::Acquire) == expected && timeout.is_none_or(|t| start.elapsed() < t) {
            std::thread::yield_now();
        }
    }
    fn wake(_: &AtomicU32, _: u32) {}
    fn now_nanos() -> u64 {
        let epoch = *EPOCH.lock().unwrap().get_or_insert_with(Instant::now);
        epoch.elapsed().as_nanos() as u64
    }
}

impl Backend for Blocky {
    type Region = BlockRegion;

    fn create(name: Name<'_>, len: usize, _: &Access) -> shmptr::Result<BlockRegion> {
        if len > OBJECT_BYTES {
            return Err(Error::new(ErrorKind::OutOfMemory, "creating a block (16 KiB at most)"));
        }
        let mut table = TABLE.lock().unwrap();
        if table.blocks.iter().any(|e| named(e, name)) {
            return Err(Error::new(ErrorKind::AlreadyExists, "creating a block"));
        }
        let index = table
            .blocks
            .iter()
            .position(|e| e.name.is_none() && e.maps == 0)
            .ok_or(Error::new(ErrorKind::OutOfMemory, "creating a block (all four in use)"))?;
        let mut bytes = [0; shmptr::NAME_MAX];
        bytes[..name.as_bytes().len()].copy_from_slice(name.as_bytes());
        let region = table.map(index)?;
        table.blocks[index].name = Some((bytes, name.as_bytes().len()));
        // SAFETY: the block is ours alone: no name and no mapping until now.
        unsafe { region.as_ptr().as_ptr().write_bytes(0, OBJECT_BYTES) };
        Ok(region)
    }

    fn open(name: Name<'_>, _: &Access) -> shmptr::Result<BlockRegion> {
        let mut table = TABLE.lock().unwrap();
        let index = table
            .blocks
            .iter()
            .position(|e| named(e, name))
            .ok_or(Error::new(ErrorKind::NotFound, "opening a block"))?;
        table.map(index)
    }

    fn unlink(name: Name<'_>, region: &BlockRegion) -> shmptr::Result<()> {
        let mut table = TABLE.lock().unwrap();
        if !named(&table.blocks[region.index], name) {
            return Err(Error::new(ErrorKind::NotFound, "unlinking a block"));
        }
        table.blocks[region.index].name = None;
        Ok(())
    }

    /// No creation mark here: the creator's liveness, and `Dead` for an object
    /// still blank after a whole timeout (it names no creator).
    fn creator_liveness(_: Name<'_>, _: &BlockRegion, creator: Option<ProcessId>) -> Liveness {
        creator.map_or(Liveness::Dead, Self::liveness)
    }
}

fn main() -> Result<(), shmptr::Error> {
    // Shared: threads stand in for processes here; the count lives in the block.
    let counter = Shared::<AtomicU64, Blocky>::create("hits", AtomicU64::new(0))?;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mine = Shared::<AtomicU64, Blocky>::open("hits").unwrap();
                for _ in 0..1000 {
                    mine.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    println!("4 threads x 1000 increments -> {}", counter.load(Ordering::Relaxed));
    assert_eq!(counter.load(Ordering::Relaxed), 4000);
    drop(counter);
    assert_eq!(Shared::<AtomicU64, Blocky>::open("hits").unwrap_err().kind(), ErrorKind::NotFound);
    println!("last handle dropped: the name is gone");

    // Unique: create, park, claim, drop.
    let job = Unique::<[u32; 4], Blocky>::create("job", [1, 2, 3, 4])?;
    Unique::release(job);
    let mut job = Unique::<[u32; 4], Blocky>::claim("job")?;
    job[0] = 10;
    println!("claimed job {:?}", *job);
    drop(job);
    assert_eq!(Unique::<[u32; 4], Blocky>::claim("job").unwrap_err().kind(), ErrorKind::NotFound);
    println!("custom backend: ok");
    Ok(())
}
