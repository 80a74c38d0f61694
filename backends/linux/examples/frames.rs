//! Zero-copy frames between two processes.
//!
//! A producer process fills frames whose size is chosen at run time in place, in
//! shared memory, and hands them to a consumer process that checks each in place:
//! no byte of a frame is copied from one process to the other. Run it with
//!
//! ```text
//! cargo run --release -p shmptr-linux --example frames -- [--bytes 1M] [--frames 2000] [--fresh] [--prefix P]
//! ```
//!
//! This process is the consumer; it starts itself again as the producer.
//!
//! - Default, the fast path: a ring of [`RING`] long-lived `Unique<[u8]>` frames.
//!   Each process maps each frame once. A frame changes hands with
//!   `Unique::release_mapped` (the owner lets go, its mapping stays) and
//!   `Released::claim` (an atomic on the object's owner word, no system call);
//!   two `Semaphore`s in a `Shared` object count the frames that are full and
//!   the ones that are free.
//! - `--fresh`, the simple form: a new `Unique<[u8]>` per frame. The producer makes
//!   it (`create_slice_zeroed`), fills it and lets go (`Unique::release`); the
//!   consumer takes it by name (`Unique::claim`), checks it and drops it (the name
//!   goes). Each frame then costs page allocation, zeroing and page faults on both
//!   sides, which dominate: streams should reuse frames.
//!
//! Every frame starts with three words: its sequence number, its length and the
//! sum of its pattern; the pattern depends on both. The consumer checks all of it.
//!
//! If either process dies (SIGKILL included), the other notices within
//! [`POLL`] (a semaphore wait times out and `Shared::process_count` shows it
//! alone), takes back every frame that is left (a released frame, or one whose
//! owner died, can be claimed), drops them, and exits with status 3. Nothing stays
//! in `/dev/shm`.
//!
//! The last line of a complete run is the summary:
//! `frames: N frames of B bytes, X frames/s, Y MiB/s`.

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use shmptr_linux::{shm_safe, ErrorKind, Released, Semaphore, Shared, Unique};

/// Frames in flight: the ring's length (and, with `--fresh`, how many frames
/// exist at once at most). Two is double buffering: the producer fills one frame
/// while the consumer checks the other. More frames only smooth out a consumer
/// that is sometimes slower; here 4 ran slower than 2 (more memory, fewer cache hits).
const RING: u64 = 2;
/// How often a waiting process checks that the other one is still there.
const POLL: Duration = Duration::from_millis(20);
/// The longest the stream may stand still before a process gives up.
const STALL: Duration = Duration::from_secs(10);
/// Bytes at the start of every frame: sequence number, length, sum of the pattern.
const HEADER: usize = 24;
/// Exit status of a process whose peer died mid-stream.
const PEER_GONE: u8 = 3;

/// The two processes' meeting point: how many frames are full and how many free.
#[repr(C)]
struct Stream {
    /// Frames the producer filled and let go, not yet taken by the consumer.
    full: Semaphore,
    /// Frames the consumer is done with: one permit per frame the producer may
    /// refill (ring) or make (`--fresh`).
    free: Semaphore,
}
shm_safe!(Stream { full, free });

/// The command line.
#[derive(Clone, Debug)]
struct Args {
    bytes: usize,
    frames: u64,
    fresh: bool,
    prefix: String,
    producer: bool,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            bytes: 1 << 20,
            frames: 2000,
            fresh: false,
            prefix: format!("shmptr-frames.{}", std::process::id()),
            producer: false,
        };
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            let mut value = || given.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--bytes" => args.bytes = parse_size(&value()?)?,
                "--frames" => args.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?,
                "--fresh" => args.fresh = true,
                "--prefix" => args.prefix = value()?,
                "--producer" => args.producer = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if args.bytes < HEADER {
            return Err(format!("a frame needs at least {HEADER} bytes (its header)"));
        }
        Ok(args)
    }

    /// This command line for the producer.
    fn producer_args(&self) -> Vec<String> {
        let mut args = vec![
            "--producer".to_owned(),
            "--bytes".to_owned(),
            self.bytes.to_string(),
            "--frames".to_owned(),
            self.frames.to_string(),
            "--prefix".to_owned(),
            self.prefix.clone(),
        ];
        if self.fresh {
            args.push("--fresh".to_owned());
        }
        args
    }

    fn stream_name(&self) -> String {
        format!("{}.stream", self.prefix)
    }

    /// The name of ring slot `slot`, or (`--fresh`) of frame `seq`.
    fn frame_name(&self, index: u64) -> String {
        format!("{}.frame{index}", self.prefix)
    }
}

/// `123`, `64K`, `1M`, `16MiB`: bytes.
fn parse_size(text: &str) -> Result<usize, String> {
    let upper = text.to_ascii_uppercase();
    let digits = upper.trim_end_matches("IB").trim_end_matches('B');
    let (digits, unit) = match digits.as_bytes().last() {
        Some(b'K') => (&digits[..digits.len() - 1], 1 << 10),
        Some(b'M') => (&digits[..digits.len() - 1], 1 << 20),
        Some(b'G') => (&digits[..digits.len() - 1], 1 << 30),
        _ => (digits, 1),
    };
    let count: usize = digits.parse().map_err(|_| format!("{text:?} is not a size (123, 64K, 1M, 16MiB)"))?;
    count.checked_mul(unit).ok_or_else(|| format!("{text:?} is too large"))
}

/// Why a stream ended early.
#[derive(Debug)]
enum Stop {
    /// The other process is gone (killed, or exited) with frames still due.
    PeerGone,
    /// Anything else: a bad frame, an error, a stall.
    Failed(String),
}

impl From<shmptr_linux::Error> for Stop {
    fn from(error: shmptr_linux::Error) -> Self {
        Stop::Failed(error.to_string())
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("frames: {message}");
            eprintln!("usage: frames [--bytes 1M] [--frames 2000] [--fresh] [--prefix NAME]");
            return ExitCode::from(2);
        }
    };
    if args.producer {
        producer(&args)
    } else {
        consumer(&args)
    }
}

// ---- The frames' content ----

/// Word `i` of frame `seq`'s pattern (after the header).
#[inline(always)]
fn pattern(seq: u64, i: usize) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64
}

/// Byte `i` of the tail (a length that is not a multiple of 8).
fn tail(seq: u64, i: usize) -> u8 {
    (seq as u8) ^ (i as u8) ^ 0xa5
}

/// Writes frame `seq` in place: header, then the pattern over every byte.
fn fill(frame: &mut [u8], seq: u64) {
    let len = frame.len() as u64;
    let (header, body) = frame.split_at_mut(HEADER);
    let mut sum = 0u64;
    let mut words = body.chunks_exact_mut(8);
    for (i, word) in (&mut words).enumerate() {
        let value = pattern(seq, i);
        word.copy_from_slice(&value.to_ne_bytes());
        sum = sum.wrapping_add(value);
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte = tail(seq, i);
        sum = sum.wrapping_add(u64::from(*byte));
    }
    header[0..8].copy_from_slice(&seq.to_ne_bytes());
    header[8..16].copy_from_slice(&len.to_ne_bytes());
    header[16..24].copy_from_slice(&sum.to_ne_bytes());
}

/// Checks in place that `frame` is frame `seq`, `bytes` long, every byte as
/// [`fill`] wrote it.
fn check(frame: &[u8], seq: u64, bytes: usize) -> Result<(), Stop> {
    let bad = |what: String| Err(Stop::Failed(format!("frame {seq}: {what}")));
    if frame.len() != bytes {
        return bad(format!("{} bytes, expected {bytes}", frame.len()));
    }
    let word = |at: usize| u64::from_ne_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
    let (got_seq, got_len, got_sum) = (word(0), word(8), word(16));
    if (got_seq, got_len) != (seq, bytes as u64) {
        return bad(format!("header says frame {got_seq} of {got_len} bytes"));
    }
    let mut sum = 0u64;
    let mut mismatches = 0usize;
    let mut words = frame[HEADER..].chunks_exact(8);
    for (i, bytes) in (&mut words).enumerate() {
        let value = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
        mismatches += usize::from(value != pattern(seq, i));
        sum = sum.wrapping_add(value);
    }
    for (i, &byte) in words.remainder().iter().enumerate() {
        mismatches += usize::from(byte != tail(seq, i));
        sum = sum.wrapping_add(u64::from(byte));
    }
    if mismatches != 0 || sum != got_sum {
        return bad(format!("{mismatches} words differ from the pattern; sum {sum:#x}, header says {got_sum:#x}"));
    }
    Ok(())
}

// ---- Waiting for each other ----

/// Takes a permit of `semaphore` (one of `stream`'s), looking every [`POLL`]
/// whether the other process is still there. `PeerGone` once it is not (and no
/// permit came meanwhile); `Failed` after [`STALL`] without a permit.
fn take(stream: &Shared<Stream>, semaphore: &Semaphore) -> Result<(), Stop> {
    let since = Instant::now();
    loop {
        match semaphore.acquire_timeout(POLL) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => return Err(e.into()),
        }
        // Dead holders count nothing, even before anyone reclaims their slot.
        if Shared::process_count(stream) < 2 {
            // It may have given the permit just before it left.
            return semaphore.try_acquire().map_err(|_| Stop::PeerGone);
        }
        if since.elapsed() > STALL {
            return Err(Stop::Failed(format!("no frame moved for {STALL:?}")));
        }
    }
}

/// Destroys the frame `name` if it is still there: claims it (it is released, or
/// its owner died) and drops it. `mapped` is this process's mapping of it, if it
/// kept one (the claim then needs no system call). While the other process owns
/// the frame (it is destroying it too, at the end of the stream), waits until the
/// frame is gone or that process is.
///
/// A frame whose creator was killed inside `create_slice_zeroed` cannot be
/// claimed (`Abandoned`, or `Corrupt` for a file it had not even stamped yet):
/// `Shared::reclaim` removes what a dead creator left unfinished (but an empty
/// file, see below). It waits
/// [`POLL`], not the default 2 s, before it judges a file that names no creator:
/// by now no live process is making this frame.
fn destroy(name: &str, mut mapped: Option<Released<[u8]>>, stream: &Shared<Stream>) -> Result<(), Stop> {
    let since = Instant::now();
    loop {
        let claimed = match mapped.take() {
            Some(frame) => match frame.claim() {
                Ok(frame) => Ok(frame),
                // Destroyed already, or the other process has it: ask by name
                // (`NotFound` once the name is gone), without this mapping.
                Err(_) => continue,
            },
            None => Unique::<[u8]>::options().timeout(POLL).claim(name).map_err(|e| e.kind()),
        };
        match claimed {
            Ok(frame) => {
                drop(frame); // the last owner: the name goes
                return Ok(());
            }
            Err(ErrorKind::NotFound) => return Ok(()),
            Err(ErrorKind::Busy) if Shared::process_count(stream) >= 2 && since.elapsed() < STALL => {
                std::thread::sleep(POLL);
            }
            Err(ErrorKind::Abandoned | ErrorKind::Corrupt | ErrorKind::Timeout) => {
                return match Shared::<[u8]>::options().timeout(POLL).reclaim(name) {
                    Ok(_) => Ok(()),
                    // Killed between making the file and sizing it: an empty file,
                    // which shmptr will not remove (it cannot tell it from somebody
                    // else's) and says so: "remove it once no process uses it". The
                    // name is this run's own and its only creator is dead.
                    Err(e) if e.kind() == ErrorKind::Corrupt => std::fs::remove_file(format!("/dev/shm/{name}"))
                        .map_err(|io| Stop::Failed(format!("removing the empty frame {name} ({e}): {io}"))),
                    Err(e) => Err(Stop::Failed(format!("removing the unfinished frame {name}: {e}"))),
                };
            }
            Err(kind) => return Err(Stop::Failed(format!("taking back the frame {name}: {kind:?}"))),
        }
    }
}

/// Destroys every frame that may be left: the ring's slots (with this process's
/// mappings), or (`--fresh`) the frames around sequence number `at`, which are
/// the only ones that can exist (at most [`RING`] at once).
fn destroy_frames(
    args: &Args,
    ring: &mut [Option<Released<[u8]>>],
    at: u64,
    stream: &Shared<Stream>,
) -> Result<(), Stop> {
    if args.fresh {
        for seq in at.saturating_sub(RING + 2)..at + RING + 2 {
            destroy(&args.frame_name(seq), None, stream)?;
        }
    } else {
        for (slot, mapped) in ring.iter_mut().enumerate() {
            destroy(&args.frame_name(slot as u64), mapped.take(), stream)?;
        }
    }
    Ok(())
}

/// After the other process died: takes back every frame, removes the stream
/// (reclaiming the dead process's hold on it first) and says so.
fn survive(args: &Args, ring: &mut [Option<Released<[u8]>>], at: u64, stream: Shared<Stream>, peer: &str) -> ExitCode {
    let frames = destroy_frames(args, ring, at, &stream);
    let dead = Shared::<Stream>::reclaim(&args.stream_name());
    drop(stream); // the last live holder: the name goes
    match (frames, dead) {
        (Ok(()), Ok(dead)) => {
            println!("frames: the {peer} is gone after {at} frames; took back every frame, reclaimed {dead} dead holder(s), /dev/shm is clean");
            ExitCode::from(PEER_GONE)
        }
        (Err(e), _) => failed(&format!("cleaning up after the {peer}: {e:?}")),
        (_, Err(e)) => failed(&format!("reclaiming the stream after the {peer}: {e}")),
    }
}

fn failed(message: &str) -> ExitCode {
    eprintln!("frames: {message}");
    ExitCode::FAILURE
}

// ---- The producer ----

fn producer(args: &Args) -> ExitCode {
    let stream = match Shared::<Stream>::open(&args.stream_name()) {
        Ok(stream) => stream,
        Err(e) => return failed(&format!("producer: opening the stream: {e}")),
    };
    let mut ring: [Option<Released<[u8]>>; RING as usize] = [const { None }; RING as usize];
    let mut seq = 0;
    let outcome = produce(args, &stream, &mut ring, &mut seq).and_then(|()| {
        // Every frame is out. Stay until the consumer is done and gone, so that
        // whatever it leaves if it is killed now is still taken back.
        let since = Instant::now();
        while Shared::process_count(&stream) >= 2 {
            if since.elapsed() > STALL {
                return Err(Stop::Failed(format!("the consumer stayed {STALL:?} after the last frame")));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    });
    match outcome {
        // It destroyed the frames; any left are a dead consumer's.
        Ok(()) => match destroy_frames(args, &mut ring, seq, &stream) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(&format!("producer: {e:?}")),
        },
        Err(Stop::PeerGone) => survive(args, &mut ring, seq, stream, "consumer"),
        Err(Stop::Failed(why)) => {
            let _ = destroy_frames(args, &mut ring, seq, &stream);
            failed(&format!("producer: {why}"))
        }
    }
}

/// Fills and hands over every frame; `seq` is the next frame's number.
fn produce(
    args: &Args,
    stream: &Shared<Stream>,
    ring: &mut [Option<Released<[u8]>>],
    seq: &mut u64,
) -> Result<(), Stop> {
    while *seq < args.frames {
        take(stream, &stream.free)?;
        let name = args.frame_name(if args.fresh { *seq } else { *seq % RING });
        if args.fresh {
            let mut frame = Unique::<[u8]>::create_slice_zeroed(&name, args.bytes)?;
            fill(&mut frame, *seq);
            Unique::release(frame); // parked under its name; this mapping goes
        } else {
            let slot = &mut ring[(*seq % RING) as usize];
            let mut frame = match slot.take() {
                // The consumer let go of it: no system call, no page fault.
                Some(mapped) => mapped.claim().map_err(|refused| Stop::Failed(refused.error().to_string()))?,
                // The first lap makes the frame.
                None => Unique::<[u8]>::create_slice_zeroed(&name, args.bytes)?,
            };
            fill(&mut frame, *seq);
            *slot = Some(Unique::release_mapped(frame)); // parked, still mapped here
        }
        stream.full.release();
        *seq += 1;
    }
    Ok(())
}

// ---- The consumer ----

fn consumer(args: &Args) -> ExitCode {
    let stream = match Shared::<Stream>::create(
        &args.stream_name(),
        Stream { full: Semaphore::new(0), free: Semaphore::new(RING as u32) },
    ) {
        Ok(stream) => stream,
        Err(e) => return failed(&format!("creating the stream: {e}")),
    };
    let exe = std::env::current_exe().expect("this program's path");
    let mut producer = match Command::new(exe).args(args.producer_args()).spawn() {
        Ok(child) => child,
        Err(e) => return failed(&format!("starting the producer: {e}")),
    };
    // The producer holds the stream from here on.
    let since = Instant::now();
    while Shared::process_count(&stream) < 2 {
        if let Ok(Some(status)) = producer.try_wait() {
            return failed(&format!("the producer ended before it opened the stream: {status}"));
        }
        if since.elapsed() > STALL {
            let _ = producer.kill();
            let _ = producer.wait();
            return failed("the producer did not open the stream");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mode = match args.fresh {
        true => "a fresh Unique<[u8]> per frame".to_owned(),
        false => format!("a ring of {RING} reused Unique<[u8]> frames"),
    };
    println!("frames: consumer {}, producer {}, {mode}", std::process::id(), producer.id());

    let mut ring: [Option<Released<[u8]>>; RING as usize] = [const { None }; RING as usize];
    let mut seq = 0;
    let started = Instant::now();
    let outcome = consume(args, &stream, &mut ring, &mut seq);
    let elapsed = started.elapsed();
    match outcome {
        Ok(()) => {
            // Done: this process destroys the frames (the producer takes back
            // only what a killed consumer leaves) and leaves the stream.
            if let Err(e) = destroy_frames(args, &mut ring, seq, &stream) {
                return failed(&format!("destroying the frames: {e:?}"));
            }
            drop(stream);
            let status = wait_for(&mut producer);
            let secs = elapsed.as_secs_f64().max(1e-9);
            println!(
                "frames: {} frames of {} bytes, {:.0} frames/s, {:.1} MiB/s",
                args.frames,
                args.bytes,
                args.frames as f64 / secs,
                args.frames as f64 * args.bytes as f64 / secs / (1 << 20) as f64
            );
            match status {
                Some(status) if status.success() => ExitCode::SUCCESS,
                // Killed after its last frame: the frames are checked and gone.
                Some(status) => {
                    println!("frames: the producer ended with {status} after its last frame; /dev/shm is clean");
                    ExitCode::from(PEER_GONE)
                }
                None => failed("the producer did not exit"),
            }
        }
        Err(Stop::PeerGone) => {
            let code = survive(args, &mut ring, seq, stream, "producer");
            wait_for(&mut producer);
            code
        }
        Err(Stop::Failed(why)) => {
            let _ = destroy_frames(args, &mut ring, seq, &stream);
            drop(stream);
            let _ = producer.kill();
            let _ = producer.wait();
            failed(&why)
        }
    }
}

/// Takes and checks every frame; `seq` is the next frame's number.
fn consume(
    args: &Args,
    stream: &Shared<Stream>,
    ring: &mut [Option<Released<[u8]>>],
    seq: &mut u64,
) -> Result<(), Stop> {
    while *seq < args.frames {
        take(stream, &stream.full)?;
        let name = args.frame_name(if args.fresh { *seq } else { *seq % RING });
        if args.fresh {
            let frame = Unique::<[u8]>::claim(&name)?;
            check(&frame, *seq, args.bytes)?;
            drop(frame); // the name goes
        } else {
            let slot = &mut ring[(*seq % RING) as usize];
            let frame = match slot.take() {
                Some(mapped) => mapped.claim().map_err(|refused| Stop::Failed(refused.error().to_string()))?,
                // The first lap maps the frame.
                None => Unique::<[u8]>::claim(&name)?,
            };
            let checked = check(&frame, *seq, args.bytes);
            *slot = Some(Unique::release_mapped(frame));
            checked?;
        }
        stream.free.release();
        *seq += 1;
    }
    Ok(())
}

/// Waits (at most [`STALL`]) for the producer to exit; its status, or `None`
/// (then it is killed).
fn wait_for(producer: &mut Child) -> Option<std::process::ExitStatus> {
    let since = Instant::now();
    loop {
        if let Ok(Some(status)) = producer.try_wait() {
            return Some(status);
        }
        if since.elapsed() > STALL {
            let _ = producer.kill();
            let _ = producer.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
