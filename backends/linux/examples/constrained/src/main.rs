//! shmptr in a constrained environment: a `#![no_std]`, `#![no_main]` static Linux
//! binary with no libc and no heap, built on stable Rust.
//!
//! ```text
//! shmptr-constrained NAME [COUNT]
//! ```
//!
//! Opens (or creates) the `Shared<Mutex<u64>>` counter `NAME` (`/dev/shm/NAME`),
//! adds 1 to it `COUNT` times (default 100000) under its mutex, prints
//! `constrained: +COUNT -> VALUE` and exits 0. Any error is printed to stderr and
//! the exit status is non-zero (1 for a shmptr error, 2 for bad arguments, 101 for
//! a panic). A mutex whose previous owner died is taken over: a `u64` has nothing to
//! repair, so the guard is declared consistent at once.
//!
//! Everything the program needs from the OS goes through rustix's raw syscalls
//! (`shmptr-linux`), except the entry point and `exit_group`, which are a few lines
//! of assembly below. Build it with
//! `cargo build --release --manifest-path examples/constrained/Cargo.toml`; the link
//! arguments are in `build.rs` (and `link.ld`, which drops the unwind tables), the
//! profile (`panic = "abort"`, size-optimised, stripped) in `Cargo.toml`.
#![no_std]
#![no_main]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("shmptr-constrained has its own entry point for x86_64 Linux only");

use core::arch::{asm, global_asm};
use core::ffi::{c_char, CStr};
use core::panic::PanicInfo;

use rustix::fd::{BorrowedFd, RawFd};
use rustix::io::Errno;
use shmptr_linux::{Error, Mutex, MutexGuard, Name, Shared};

/// How many increments without a `COUNT` argument.
const DEFAULT_COUNT: u64 = 100_000;

const STDOUT: RawFd = 1;
const STDERR: RawFd = 2;

const USAGE: &str = "usage: shmptr-constrained NAME [COUNT]\n\
    Adds 1 to the counter /dev/shm/NAME, COUNT times (default 100000).\n";

// The process entry point. The kernel starts us with `rsp` pointing at `argc`,
// followed by the `argv` pointers, a null, the environment and the auxiliary vector
// (System V x86-64 ABI, 3.4.1). `rbp` is zeroed to mark the outermost frame; `rsp`
// is 16-byte aligned (it already is, the `and` is belt and braces) before the call,
// as the ABI requires at a call site. `entry` never returns.
global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    ".size _start, . - _start",
    entry = sym entry,
);

/// Called once, by `_start`, with the kernel's initial stack pointer.
///
/// # Safety
///
/// `stack` must point at the process's initial stack as the kernel laid it out.
unsafe extern "C" fn entry(stack: *const usize) -> ! {
    // SAFETY: `_start` passes the initial stack pointer unchanged, as required.
    let args = unsafe { Args::from_stack(stack) };
    // SAFETY: the environment block follows `argv`'s terminating null on the
    // kernel's initial stack, and no rustix function has run yet. Handing rustix
    // the auxiliary vector (behind the environment) spares it reading
    // `/proc/self/auxv` to find the vDSO: about 1 KiB of code.
    unsafe { rustix::param::init(args.argv.add(args.argc + 1).cast_mut().cast()) };
    exit(main(&args))
}

/// The command line, as the kernel left it on the initial stack.
struct Args {
    argc: usize,
    argv: *const *const c_char,
}

impl Args {
    /// # Safety
    ///
    /// `stack` must point at the initial stack: `argc`, then `argc` pointers to
    /// NUL-terminated strings that stay valid and unchanged for the life of the
    /// process (they sit above `_start`'s frame, which never returns).
    unsafe fn from_stack(stack: *const usize) -> Self {
        // SAFETY: the caller promises `stack` points at `argc`, and the `argv`
        // array follows it directly.
        unsafe { Args { argc: *stack, argv: stack.add(1).cast() } }
    }

    /// Argument `i`, if there are that many.
    fn get(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: `i < argc`, so `argv[i]` is one of the kernel's argument pointers,
        // a NUL-terminated string valid for the life of the process (`from_stack`).
        Some(unsafe { CStr::from_ptr(*self.argv.add(i)) })
    }
}

fn main(args: &Args) -> i32 {
    let Some(name) = args.get(1) else {
        write_all(STDERR, USAGE.as_bytes());
        return 2;
    };
    let count = match args.get(2).map(|count| parse_u64(count.to_bytes())) {
        None => DEFAULT_COUNT,
        Some(Some(count)) => count,
        Some(None) => {
            write_all(STDERR, b"constrained: COUNT must be a number from 0 to 2^64-1\n");
            write_all(STDERR, USAGE.as_bytes());
            return 2;
        }
    };
    // Validated here as shmptr validates names (`Name::new` does the same), which
    // also makes it UTF-8 without linking `str::from_utf8`.
    let name = match Name::from_bytes(name.to_bytes()) {
        Ok(name) => name.as_str(),
        Err(error) => {
            report(&error);
            return 1;
        }
    };
    match run(name, count) {
        Ok(value) => {
            let mut line = Line::new();
            line.push("constrained: +").push_u64(count).push(" -> ").push_u64(value);
            if write_all(STDOUT, line.finish()) {
                0
            } else {
                1
            }
        }
        Err(error) => {
            report(&error);
            1
        }
    }
}

/// A decimal number of 1 to 20 digits that fits a `u64` (what `str::parse` accepts,
/// without a sign, in a tenth of the code).
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    Some(n)
}

/// The work: `count` increments under the mutex; returns the counter's value once
/// they are done. The handle is dropped on return (before `exit_group`, which runs
/// no destructors), so this process's slot is released and, if it was the last
/// holder, the object is destroyed and its name unlinked.
fn run(name: &str, count: u64) -> Result<u64, Error> {
    let counter = Shared::<Mutex<u64>>::open_or_create(name, || Mutex::new(0))?;
    // `count` increments, then one more lock to read the result: one call site of
    // `lock` (which inlines the mutex's fast path) instead of two.
    let mut left = count;
    loop {
        let mut guard = lock(&counter)?;
        if left == 0 {
            return Ok(*guard);
        }
        *guard = guard.wrapping_add(1);
        left -= 1;
    }
}

/// Locks `counter`, taking it over if its owner died while holding it.
fn lock(counter: &Mutex<u64>) -> Result<MutexGuard<'_, u64>, Error> {
    let e = match counter.lock() {
        Ok(guard) => return Ok(guard),
        Err(e) => e,
    };
    let error = e.error();
    // Only `OwnerDied` comes with the guard (`LockError::into_guard`).
    let mut guard = e.into_guard().ok_or(error)?;
    // A u64 is written in one store: whatever the dead owner left is a valid count
    // (at most the one increment it was making is lost).
    MutexGuard::make_consistent(&mut guard);
    Ok(guard)
}

/// Prints `error` to stderr as `constrained: error while <what it was doing>` and
/// the OS error code, if any: the short form of `Error`'s `Display`.
///
/// The text is put together from `Error`'s accessors rather than with `write!`:
/// `core::fmt` would add about 3 KiB, and the kind's two sentences
/// (`ErrorKind::description`/`advice`) about 2 KiB, to a binary whose budget is
/// 17 KiB. `tests/constrained.rs` checks the output byte for byte.
fn report(error: &Error) {
    let mut line = Line::new();
    line.push("constrained: error while ").push(error.during());
    if let Some(code) = error.os_code() {
        line.push(" (OS error ").push_i32(code).push(")");
    }
    write_all(STDERR, line.finish());
}

/// How many bytes a [`Line`] holds, its newline included.
const LINE_MAX: usize = 512;

/// A line of text put together on the stack; what does not fit is cut off.
struct Line {
    bytes: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line { bytes: [0; LINE_MAX], len: 0 }
    }

    /// Appends `s` (or as much of it as fits).
    fn push(&mut self, s: &str) -> &mut Self {
        self.push_bytes(s.as_bytes());
        self
    }

    /// Appends `bytes` (or as many as fit). Only `push_u64` passes bytes that are
    /// not a `&str`: ASCII digits.
    fn push_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // Keep the last byte for `finish`'s newline.
            if let Some(slot) = self.bytes[..LINE_MAX - 1].get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
        }
    }

    /// Appends `n` in decimal: the digits before the last one (recursively, at
    /// most 19 deep), then the last.
    fn push_u64(&mut self, n: u64) -> &mut Self {
        if n >= 10 {
            self.push_u64(n / 10);
        }
        self.push_bytes(&[b'0' + (n % 10) as u8]);
        self
    }

    /// Appends `n` in decimal, with a `-` if it is negative.
    fn push_i32(&mut self, n: i32) -> &mut Self {
        if n < 0 {
            self.push("-");
        }
        self.push_u64(u64::from(n.unsigned_abs()))
    }

    /// The text, ending in exactly one newline (which always fits).
    fn finish(&mut self) -> &[u8] {
        let end = self.len.min(self.bytes.len() - 1);
        self.bytes[end] = b'\n';
        &self.bytes[..=end]
    }
}

/// Writes all of `bytes` to `fd`; false if the descriptor refuses them.
fn write_all(fd: RawFd, mut bytes: &[u8]) -> bool {
    // SAFETY: 1 and 2 are the standard streams this process was started with, and
    // it never closes a descriptor it did not open. Were one closed by our parent,
    // `write` fails with EBADF: a raw syscall, it touches no memory but `bytes`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Ends the process with `code` (`exit_group(2)`): runs no destructors.
fn exit(code: i32) -> ! {
    // SAFETY: `exit_group` (x86-64 syscall 231) takes one integer argument, touches
    // no memory of ours and never returns, so clobbered registers do not matter.
    unsafe { asm!("syscall", in("rax") 231, in("edi") code, options(noreturn, nostack)) }
}

/// Says that the program panicked and exits with 101. The panic's message and
/// location are not printed: reading anything from `PanicInfo` keeps every panic
/// site's `core::fmt` arguments and the formatting code alive (6 KiB, measured).
#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    write_all(STDERR, b"constrained: panicked (a bug in shmptr or in this program)\n");
    exit(101)
}

// The C memory functions that LLVM emits calls to. `compiler_builtins` does not
// provide them on `*-linux-gnu`, where libc normally does. Each is one string
// instruction in inline assembly, which LLVM cannot turn back into a call to
// itself (as it could a plain Rust loop). The System V ABI guarantees the
// direction flag is clear on function entry, so `rep movsb`/`stosb`/`cmpsb` go
// forward.

/// `memcpy(3)`.
///
/// # Safety
///
/// `dest` must be valid for writes and `src` for reads of `n` bytes, and the two
/// ranges must not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller promises both ranges are valid for `n` bytes and disjoint;
    // `rep movsb` copies exactly `n` bytes forward from `rsi` to `rdi`.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// `memmove(3)`: like `memcpy`, but the ranges may overlap.
///
/// # Safety
///
/// `dest` must be valid for writes and `src` for reads of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // `dest` is below `src` or past its end: a forward copy never overwrites a
        // byte before reading it.
        // SAFETY: the caller promises both ranges are valid for `n` bytes; copying
        // forward is correct for this overlap (see above).
        unsafe {
            asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dest => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags),
            );
        }
    } else {
        // `dest` starts inside `src`'s range (so `n >= 1`): copy backward, from the
        // last byte down, with the direction flag set, then clear it again as the
        // ABI requires.
        // SAFETY: both ranges are valid for `n >= 1` bytes, so `dest + n - 1` and
        // `src + n - 1` are their last bytes; `std; rep movsb` copies exactly `n`
        // bytes downward from there and `cld` restores the direction flag.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dest.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack),
            );
        }
    }
    dest
}

/// `memset(3)`.
///
/// # Safety
///
/// `dest` must be valid for writes of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller promises `dest` is valid for `n` bytes; `rep stosb` stores
    // `al` (the low byte of `c`, as C specifies) into exactly `n` bytes forward.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    dest
}

/// `memcmp(3)`: the difference of the first differing bytes, as `u8`s, or 0.
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let (a_end, b_end): (*const u8, *const u8);
    // SAFETY: the caller promises both ranges are valid for `n >= 1` bytes;
    // `repe cmpsb` reads forward and stops after the first differing pair or after
    // `n` pairs, leaving `rsi`/`rdi` one past the last pair it compared.
    unsafe {
        asm!(
            "repe cmpsb",
            inout("rcx") n => _,
            inout("rsi") a => a_end,
            inout("rdi") b => b_end,
            options(nostack, readonly),
        );
    }
    // SAFETY: the last pair compared lies within both ranges (at least one pair
    // was compared, and never more than `n`). It differs if any pair did.
    unsafe { i32::from(*a_end.sub(1)) - i32::from(*b_end.sub(1)) }
}

/// `strlen(3)` (`CStr::from_ptr` calls it).
///
/// # Safety
///
/// `s` must point at a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    let left: usize;
    // SAFETY: the caller promises a NUL byte at or after `s`, all readable;
    // `repne scasb` reads forward from `s` up to and including the first byte equal
    // to `al` (0), counting `rcx` down from usize::MAX once per byte read.
    unsafe {
        asm!(
            "repne scasb",
            inout("rcx") usize::MAX => left,
            inout("rdi") s => _,
            in("al") 0u8,
            options(nostack, readonly),
        );
    }
    // `usize::MAX - left` bytes were read, the NUL among them.
    usize::MAX - left - 1
}

/// `bcmp(3)`: zero if the ranges are equal (LLVM emits it for equality tests).
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's promise is `memcmp`'s.
    unsafe { memcmp(a, b, n) }
}

/// Never called: with `panic = "abort"` nothing unwinds. `core` comes precompiled
/// with unwinding glue that names this symbol; an optimised build (LTO) drops that
/// glue, an unoptimised one (`cargo build`) still links it.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
