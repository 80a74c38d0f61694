//! Frames handed from a producer (this process) to a consumer (a child) that
//! reads every cache line of each, by shmptr and by its peers, between the same
//! two processes (issue 13, item 4); and a 4 KiB `Shared<[u8]>` cycle vs the
//! `shared_memory` crate.
//!
//! The reused-frame comparisons are timed on the wall clock (their cost includes
//! waiting for the other process): from the batch's start until the consumer has
//! read the batch's last frame, over the batch's frames; the per-frame one in both
//! processes' CPU time (see there). Both sides fill a frame with one
//! byte value (`memset`) and the consumer checks one byte of each 64-byte line.
//!
//! This module's comparisons take 31 batches of ~50 ms per side in full mode (not
//! ~150 ms as the others: four more 10-second lines would double the run; short
//! batches, finely interleaved, let a burst of load on the host hit both sides
//! alike), the quick mode's settings in quick mode.

use std::cell::RefCell;
use std::ffi::CString;
use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

use rustix::fs::{self, AtFlags, FallocateFlags, Mode, OFlags, CWD};
use rustix::mm::{self, MapFlags, ProtFlags};
use shared_memory::ShmemConf;
use shmptr_linux::{Released, Semaphore, Shared, Unique};

use crate::children::{name, ChildArgs, Control, Kid, Watchdog, RUN_OURS, RUN_PEER, STOP};
use crate::harness::{ns_per_op, Clock, Ratio, Settings};
use crate::posix::shm_path;

/// Frames in flight: the ring's length (double buffering: the producer fills one
/// while the consumer reads the other; 4 measured slower here, 4 MiB of 1 MiB frames
/// no longer fitting in a 2 MiB L2), and how many per-frame objects exist at once.
const RING: usize = 2;
/// The consumer reads one byte of each line of this many bytes.
const LINE: usize = 64;
/// How long a side waits for the other before the run fails.
const BOUND: Duration = Duration::from_secs(60);
const MIB: usize = 1 << 20;

/// The two semaphores of a hand-off: frames full (for the consumer) and free (for
/// the producer). Counts carry over from batch to batch: each batch moves as many
/// frames on both sides, so a batch ends with `full` 0 and `free` at [`RING`].
#[repr(C)]
struct Link {
    full: Semaphore,
    free: Semaphore,
}
shmptr::shm_safe!(Link { full, free });

impl Link {
    fn new() -> Self {
        Link { full: Semaphore::new(0), free: Semaphore::new(RING as u32) }
    }
}

/// Takes a permit of `semaphore`, failing the run after [`BOUND`].
fn take(semaphore: &Semaphore) {
    semaphore.acquire_timeout(BOUND).expect("the other side of a frame hand-off stopped");
}

/// Checks one byte of every cache line of `frame`: all were set to `expected`.
#[inline(never)]
fn read_lines(frame: &[u8], expected: u8) {
    let differing = frame.iter().step_by(LINE).filter(|&&byte| byte != expected).count();
    assert_eq!(black_box(differing), 0, "a frame's cache lines differ from what the producer wrote");
}

/// The settings of the frame comparisons: see the module's doc.
fn frame_settings(settings: &Settings) -> Settings {
    // No filters: `main` already chose the comparisons to run.
    let mut frames = Settings::from_args(["peers".to_owned()].into_iter());
    frames.quick = settings.quick;
    if settings.quick {
        (frames.rounds, frames.batch) = (settings.rounds, settings.batch);
    } else {
        (frames.rounds, frames.batch) = (31, Duration::from_millis(50));
    }
    frames
}

/// A pipe whose read end a child inherits: the parent keeps the write end (closed
/// on exec), the read end (inheritable) is closed here once the child started.
struct Pipe {
    write: File,
    read: Option<OwnedFd>,
}

impl Pipe {
    fn new() -> Pipe {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2(2) writes two descriptors into the array we pass.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl(F_SETFD) on a descriptor we own: the read end survives exec.
        let rc = unsafe { libc::fcntl(fds[0], libc::F_SETFD, 0) };
        assert_eq!(rc, 0, "fcntl(F_SETFD): {}", std::io::Error::last_os_error());
        Pipe { write: File::from(write), read: Some(read) }
    }

    /// The read end's number, for the child's role.
    fn read_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.read.as_ref().expect("before the child started").as_raw_fd()
    }

    /// The child has its copy: closes ours, so that only the child reads.
    fn started(&mut self) {
        self.read = None;
    }
}

// ---- frame_1mib_reused_vs_pipe, frame_16mib_reused_vs_pipe ----

/// Object names of the reused-frame comparison of `bytes`-byte frames.
fn reused_names(prefix: &str, bytes: usize) -> (String, String, Vec<String>) {
    let tag = format!("frames-{}mib", bytes / MIB);
    let ring = (0..RING).map(|slot| name(prefix, &format!("{tag}-ring{slot}"))).collect();
    (name(prefix, &format!("{tag}-control")), name(prefix, &format!("{tag}-link")), ring)
}

/// 1 MiB frames: a ring of long-lived `Unique<[u8]>` handed over with
/// `release_mapped` / `Released::claim` vs a pipe.
pub fn frame_1mib_reused_vs_pipe(settings: &Settings, prefix: &str) -> Ratio {
    reused_vs_pipe("frame_1mib_reused_vs_pipe", MIB, settings, prefix)
}

/// The same with 16 MiB frames.
pub fn frame_16mib_reused_vs_pipe(settings: &Settings, prefix: &str) -> Ratio {
    reused_vs_pipe("frame_16mib_reused_vs_pipe", 16 * MIB, settings, prefix)
}

/// Ours: the producer claims ring frame `k % RING` back (an atomic, no system
/// call), fills it in place and lets go keeping its mapping (`release_mapped`);
/// the consumer does the same and reads it in place; two semaphores signal. Peer:
/// the producer fills a buffer and writes it into a pipe (default size, 64 KiB);
/// the consumer reads all of it into its buffer and reads that.
///
/// Ours costs about the producer's fill (the consumer reads meanwhile); the pipe
/// adds two copies of the frame and a wake-up per 64 KiB. Once frames leave the
/// caches (16 MiB) the fill, which both sides do, is a large share of the pipe's
/// time too, and bounds the ratio from below: on a 2-CPU host where a 16 MiB
/// `memset` takes 1.6 ms and a 16 MiB copy 2.4 ms, about 0.3.
fn reused_vs_pipe(comparison: &'static str, bytes: usize, settings: &Settings, prefix: &str) -> Ratio {
    let (control_name, link_name, ring_names) = reused_names(prefix, bytes);
    let control = Shared::<Control>::create(&control_name, Control::new()).expect("create");
    let link = Shared::<Link>::create(&link_name, Link::new()).expect("create");
    let mut ring: Vec<Option<Released<[u8]>>> = ring_names
        .iter()
        .map(|ring_name| {
            let frame = Unique::<[u8]>::create_slice_zeroed(ring_name, bytes).expect("create_slice_zeroed");
            Some(Unique::release_mapped(frame))
        })
        .collect();
    let mut pipe = Pipe::new();
    let mut kids = [Kid::spawn(&format!("frames-reused.{bytes}.{}", pipe.read_fd()), 0, prefix)];
    pipe.started();
    let watchdog = Watchdog::watch(&kids, prefix);
    control.wait_ready(1, &mut kids);

    // Both closures drive the one child; a cell keeps the borrow checker content.
    let kids = RefCell::new(kids);
    let mut buffer = vec![0u8; bytes];
    let (mut ours_next, mut peer_next) = (0u64, 0u64);
    let run = |mode: u32, n: u64, producer: &mut dyn FnMut(u64)| {
        let batch = control.start(mode, n);
        let start = Clock::Wall.now();
        producer(n);
        control.wait_done(batch, &mut *kids.borrow_mut());
        ns_per_op(Clock::Wall.now() - start, n)
    };
    let ratio = frame_settings(settings).compare(
        comparison,
        Clock::Wall,
        |n| {
            run(RUN_OURS, n, &mut |n| {
                for _ in 0..n {
                    take(&link.free);
                    let slot = &mut ring[ours_next as usize % RING];
                    let mapped = slot.take().expect("the producer keeps every ring frame mapped");
                    let mut frame = mapped.claim().map_err(|e| e.kind()).expect("claiming a ring frame back");
                    frame.fill(ours_next as u8);
                    *slot = Some(Unique::release_mapped(frame));
                    link.full.release();
                    ours_next += 1;
                }
            })
        },
        |n| {
            run(RUN_PEER, n, &mut |n| {
                for _ in 0..n {
                    buffer.fill(peer_next as u8);
                    pipe.write.write_all(&buffer).expect("writing a frame into the pipe");
                    peer_next += 1;
                }
            })
        },
    );
    watchdog.stop();
    control.start(STOP, 0);
    kids.into_inner().into_iter().for_each(Kid::finish);
    // The child unmapped its copies; destroy the frames.
    for mapped in ring.iter_mut() {
        let frame = mapped.take().expect("a ring frame").claim().map_err(|e| e.kind()).expect("claiming a frame");
        drop(frame);
    }
    ratio
}

/// Child side of [`reused_vs_pipe`]: the consumer.
fn reused_child(child: &ChildArgs, bytes: usize, pipe_fd: RawFd) {
    let (control_name, link_name, ring_names) = reused_names(&child.prefix, bytes);
    let control = Shared::<Control>::open(&control_name).expect("open the control");
    let link = Shared::<Link>::open(&link_name).expect("open the link");
    // SAFETY: the parent made `pipe_fd` for this child to inherit; nothing else here owns it.
    let mut pipe = unsafe { File::from_raw_fd(pipe_fd) };
    // Map every frame once: claimed by name (the parent released them), let go mapped.
    let mut ring: Vec<Option<Released<[u8]>>> = ring_names
        .iter()
        .map(|ring_name| Some(Unique::release_mapped(Unique::<[u8]>::claim(ring_name).expect("claim a ring frame"))))
        .collect();
    let mut buffer = vec![0u8; bytes];
    let (mut ours_next, mut peer_next) = (0u64, 0u64);
    control.attach();
    let mut seen = 0;
    loop {
        let (batch, mode, n) = control.next_batch(seen);
        seen = batch;
        match mode {
            RUN_OURS => {
                for _ in 0..n {
                    take(&link.full);
                    let slot = &mut ring[ours_next as usize % RING];
                    let mapped = slot.take().expect("the consumer keeps every ring frame mapped");
                    let frame = mapped.claim().map_err(|e| e.kind()).expect("claiming a full frame");
                    read_lines(&frame, ours_next as u8);
                    *slot = Some(Unique::release_mapped(frame));
                    link.free.release();
                    ours_next += 1;
                }
            }
            RUN_PEER => {
                for _ in 0..n {
                    pipe.read_exact(&mut buffer).expect("reading a frame from the pipe");
                    read_lines(&buffer, peer_next as u8);
                    peer_next += 1;
                }
            }
            _ => return, // STOP: the mappings go with `ring`
        }
        control.report(child.index, (0.0, 0.0));
    }
}

// ---- frame_1mib_create_per_frame_vs_raw_same_work ----

const PER_FRAME_BYTES: usize = MIB;

/// Object names of the per-frame comparison: control, link, ours, raw (the raw
/// ones as `/dev/shm` paths).
fn per_frame_names(prefix: &str) -> (String, String, Vec<String>, Vec<CString>) {
    let ours = (0..RING).map(|slot| name(prefix, &format!("frames-new{slot}"))).collect();
    let raw = (0..RING).map(|slot| shm_path(&name(prefix, &format!("frames-new-raw{slot}")))).collect();
    (name(prefix, "frames-new-control"), name(prefix, "frames-new-link"), ours, raw)
}

/// 1 MiB frames, a new object each. Ours: `Unique::<[u8]>::create_slice_zeroed`,
/// fill, `Unique::release` in the producer; `Unique::claim`, read, drop in the
/// consumer. Peer, raw rustix doing the same system work: create
/// (`O_CREAT|O_EXCL|O_NOFOLLOW`), `ftruncate`, `fallocate`, `mmap`, fill,
/// `munmap` in the producer; open, `fstat` (its size), `mmap`, read, `munmap`,
/// `unlink` in the consumer, on a file as long as shmptr's (header included), all
/// of which both sides touch. The same semaphores signal both; object `k` reuses
/// name `k % RING` (the producer makes it after the consumer removed the last
/// one of that name: `free` counts removals).
///
/// Timed as the CPU time (user + system) of both processes per frame, not the
/// wall clock: the work is the same kernel work on both sides (allocating and
/// zeroing 256 pages, 256 faults in each process, unmapping, freeing), and on a
/// loaded 2-CPU host the wall clock adds whatever time either process waited for
/// a CPU (batches spread 0.5 to 1.5 ms per frame on both sides).
pub fn frame_1mib_create_per_frame_vs_raw_same_work(settings: &Settings, prefix: &str) -> Ratio {
    let (control_name, link_name, ours_names, raw_paths) = per_frame_names(prefix);
    let control = Shared::<Control>::create(&control_name, Control::new()).expect("create");
    let link = Shared::<Link>::create(&link_name, Link::new()).expect("create");
    // The raw object is as long as shmptr's (its header's page included).
    let file_len = {
        let probe = Unique::<[u8]>::create_slice_zeroed(&ours_names[0], PER_FRAME_BYTES).expect("create_slice_zeroed");
        let len = std::fs::metadata(format!("/dev/shm/{}", ours_names[0])).expect("the object's size").len();
        drop(probe);
        len as usize
    };
    eprintln!("    a {PER_FRAME_BYTES}-byte Unique<[u8]> is a {file_len}-byte file; the raw objects are as long");
    let mut kids = [Kid::spawn(&format!("frames-new.{file_len}"), 0, prefix)];
    let watchdog = Watchdog::watch(&kids, prefix);
    control.wait_ready(1, &mut kids);

    let kids = RefCell::new(kids);
    let (mut ours_next, mut peer_next) = (0u64, 0u64);
    // Both processes' CPU time per frame: the producer's here, the consumer's
    // from its report.
    let run = |mode: u32, n: u64, producer: &mut dyn FnMut(u64)| {
        let batch = control.start(mode, n);
        let start = Clock::Cpu.now();
        producer(n);
        let produced = ns_per_op(Clock::Cpu.now() - start, n);
        control.wait_done(batch, &mut *kids.borrow_mut());
        produced + control.result(0).0
    };
    let ratio = frame_settings(settings).compare(
        "frame_1mib_create_per_frame_vs_raw_same_work",
        Clock::Cpu,
        |n| {
            run(RUN_OURS, n, &mut |n| {
                for _ in 0..n {
                    take(&link.free);
                    let object = &ours_names[ours_next as usize % RING];
                    let mut frame =
                        Unique::<[u8]>::create_slice_zeroed(object, PER_FRAME_BYTES).expect("create_slice_zeroed");
                    frame.fill(ours_next as u8);
                    Unique::release(frame);
                    link.full.release();
                    ours_next += 1;
                }
            })
        },
        |n| {
            run(RUN_PEER, n, &mut |n| {
                for _ in 0..n {
                    take(&link.free);
                    raw_produce(&raw_paths[peer_next as usize % RING], file_len, peer_next as u8);
                    link.full.release();
                    peer_next += 1;
                }
            })
        },
    );
    watchdog.stop();
    control.start(STOP, 0);
    kids.into_inner().into_iter().for_each(Kid::finish);
    ratio
}

/// The raw producer's frame: create, size, allocate, map, fill, unmap.
fn raw_produce(path: &CString, len: usize, value: u8) {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = fs::openat(CWD, path, flags, Mode::RUSR | Mode::WUSR).expect("raw create");
    fs::ftruncate(&fd, len as u64).expect("raw ftruncate");
    fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64).expect("raw fallocate");
    // SAFETY: a fresh shared mapping chosen by the kernel of a file we hold open.
    let map = unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0) }
        .expect("raw mmap");
    drop(fd);
    // SAFETY: `map` is `len` writable bytes of a file nobody else opened yet.
    unsafe { std::slice::from_raw_parts_mut(map.cast::<u8>(), len) }.fill(value);
    // SAFETY: the mapping made above, of `len` bytes; the slice is gone.
    unsafe { mm::munmap(map, len) }.expect("raw munmap");
}

/// The raw consumer's frame: open, size, map, read, unmap, unlink.
fn raw_consume(path: &CString, expected: u8) {
    let fd = fs::openat(CWD, path, OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).expect("raw open");
    let len = fs::fstat(&fd).expect("raw fstat").st_size as usize;
    // SAFETY: a fresh shared mapping chosen by the kernel of a file we hold open.
    let map = unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0) }
        .expect("raw mmap");
    drop(fd);
    // SAFETY: `map` is `len` bytes the producer finished writing (it signalled
    // after unmapping) and nobody writes now.
    read_lines(unsafe { std::slice::from_raw_parts(map.cast::<u8>(), len) }, expected);
    // SAFETY: the mapping made above, of `len` bytes; the slice is gone.
    unsafe { mm::munmap(map, len) }.expect("raw munmap");
    fs::unlinkat(CWD, path, AtFlags::empty()).expect("raw unlink");
}

/// Child side of [`frame_1mib_create_per_frame_vs_raw_same_work`]: the consumer.
fn per_frame_child(child: &ChildArgs) {
    let (control_name, link_name, ours_names, raw_paths) = per_frame_names(&child.prefix);
    let control = Shared::<Control>::open(&control_name).expect("open the control");
    let link = Shared::<Link>::open(&link_name).expect("open the link");
    let (mut ours_next, mut peer_next) = (0u64, 0u64);
    control.attach();
    let mut seen = 0;
    loop {
        let (batch, mode, n) = control.next_batch(seen);
        seen = batch;
        let start = Clock::Cpu.now();
        match mode {
            RUN_OURS => {
                for _ in 0..n {
                    take(&link.full);
                    let frame = Unique::<[u8]>::claim(&ours_names[ours_next as usize % RING]).expect("claim a frame");
                    read_lines(&frame, ours_next as u8);
                    drop(frame); // the name goes
                    link.free.release();
                    ours_next += 1;
                }
            }
            RUN_PEER => {
                for _ in 0..n {
                    take(&link.full);
                    raw_consume(&raw_paths[peer_next as usize % RING], peer_next as u8);
                    link.free.release();
                    peer_next += 1;
                }
            }
            _ => return,
        }
        control.report(child.index, (ns_per_op(Clock::Cpu.now() - start, n), 0.0));
    }
}

// ---- slice_create_open_4kib_vs_shared_memory ----

/// `Shared::<[u8]>::create_slice_zeroed(name, 4096)` + `Shared::<[u8]>::open` +
/// drop both vs the `shared_memory` crate creating a 4 KiB object, opening it and
/// dropping both (its owner unlinks), one thread; not a target.
pub fn slice_create_open_4kib_vs_shared_memory(settings: &Settings, prefix: &str) -> Ratio {
    let ours = name(prefix, "slice-cycle");
    let os_id = format!("/{}", name(prefix, "slice-cycle-shared_memory"));
    frame_settings(settings).compare_ops(
        "slice_create_open_4kib_vs_shared_memory",
        Clock::Cpu,
        || {
            let created = Shared::<[u8]>::create_slice_zeroed(&ours, 4096).expect("create_slice_zeroed");
            let opened = Shared::<[u8]>::open(&ours).expect("open");
            assert_eq!(opened.len(), 4096);
            drop(black_box(opened));
            drop(black_box(created)); // the last holder: unlinks
        },
        || {
            let created = ShmemConf::new().size(4096).os_id(&os_id).create().expect("shared_memory create");
            let opened = ShmemConf::new().os_id(&os_id).open().expect("shared_memory open");
            drop(black_box(opened));
            drop(black_box(created)); // the owner: shm_unlink
        },
    )
}

// ---- Children ----

/// Whether `role` is one of this module's children.
pub fn is_frames_role(role: &str) -> bool {
    role.starts_with("frames-")
}

/// Runs this process's part as a re-executed child (`frames-reused.<bytes>.<fd>`
/// or `frames-new.<file length>`).
pub fn run_child(child: &ChildArgs) {
    let mut parts = child.role.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("frames-reused"), Some(bytes), Some(fd)) => {
            reused_child(child, bytes.parse().expect("frame bytes"), fd.parse().expect("a pipe's descriptor"))
        }
        (Some("frames-new"), Some(_), None) => per_frame_child(child),
        _ => panic!("unknown frames role {:?}", child.role),
    }
}
