//! The peers built by hand: raw rustix `/dev/shm` mappings, and a process-shared
//! robust glibc pthread mutex with a process-shared condition variable inside one.

use std::ffi::{CStr, CString};
use std::hint::black_box;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{self, AtFlags, Mode, OFlags, CWD};
use rustix::mm::{self, MapFlags, ProtFlags};

/// `/dev/shm/<name>` as a C string.
pub fn shm_path(name: &str) -> CString {
    CString::new(format!("/dev/shm/{name}")).expect("bench names have no NUL")
}

/// One 4 KiB object through raw syscalls, the floor under every library:
/// `open(O_CREAT|O_EXCL)`, `ftruncate`, `mmap`, a second `open` + `mmap`, `munmap`
/// both, `close` both, `unlink`.
pub fn raw_segment_cycle(path: &CStr) {
    const LEN: usize = 4096;
    let creator = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let fd = fs::openat(CWD, path, creator, Mode::RUSR | Mode::WUSR).expect("raw create");
    fs::ftruncate(&fd, LEN as u64).expect("raw ftruncate");
    // SAFETY: a fresh shared mapping chosen by the kernel of a file we hold open.
    let a = unsafe { mm::mmap(ptr::null_mut(), LEN, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0) }
        .expect("raw mmap");
    let fd2 = fs::openat(CWD, path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).expect("raw open");
    // SAFETY: as above.
    let b = unsafe { mm::mmap(ptr::null_mut(), LEN, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd2, 0) }
        .expect("raw mmap");
    // SAFETY: `a` and `b` are the mappings made above, of `LEN` bytes, not used again.
    unsafe {
        mm::munmap(a, LEN).expect("raw munmap");
        mm::munmap(b, LEN).expect("raw munmap");
    }
    drop((fd, fd2));
    fs::unlinkat(CWD, path, AtFlags::empty()).expect("raw unlink");
}

/// The same raw cycle doing the system work shmptr's contract needs, on an object
/// of `len` bytes (what shmptr makes for a 4 KiB value): create with `O_NOFOLLOW`,
/// `fstat` (mode, identity), `fallocate` (a full tmpfs is an error now, not SIGBUS
/// later), write a 320-byte header; open with `O_NOFOLLOW`, `fstat` + `geteuid`
/// (size, owner), read the header and write a slot; `stat` before `unlink` (the
/// name still names this object). What is left between this and shmptr is
/// shmptr's own code.
pub fn raw_segment_cycle_same_work(path: &CStr, len: usize) {
    const HEADER: usize = 320;
    let creator = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = fs::openat(CWD, path, creator, Mode::RUSR | Mode::WUSR).expect("raw create");
    let created = fs::fstat(&fd).expect("raw fstat");
    fs::ftruncate(&fd, len as u64).expect("raw ftruncate");
    fs::fallocate(&fd, fs::FallocateFlags::empty(), 0, len as u64).expect("raw fallocate");
    // SAFETY: a fresh shared mapping chosen by the kernel of a file we hold open.
    let a = unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0) }
        .expect("raw mmap");
    drop(fd);
    // SAFETY: `a` maps `len` >= HEADER writable bytes nobody else uses yet.
    unsafe { ptr::write_bytes(a.cast::<u8>(), 0x5a, HEADER) };
    let fd2 =
        fs::openat(CWD, path, OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).expect("raw open");
    let opened = fs::fstat(&fd2).expect("raw fstat");
    assert!(opened.st_uid == rustix::process::geteuid().as_raw() && opened.st_size as usize == len);
    // SAFETY: as above.
    let b = unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd2, 0) }
        .expect("raw mmap");
    drop(fd2);
    // SAFETY: `b` maps the same `len` bytes; only this thread touches them.
    unsafe {
        let header = std::slice::from_raw_parts(b.cast::<u8>(), HEADER);
        black_box(header.iter().map(|&byte| u64::from(byte)).sum::<u64>());
        ptr::write_volatile(b.cast::<u64>().add(HEADER / 8 + 8), 1);
    }
    // SAFETY: `a` and `b` are the mappings made above, of `len` bytes, not used again.
    unsafe { mm::munmap(b, len).expect("raw munmap") };
    let named = fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW).expect("raw stat");
    assert!(named.st_dev == created.st_dev && named.st_ino == created.st_ino);
    fs::unlinkat(CWD, path, AtFlags::empty()).expect("raw unlink");
    // SAFETY: as above.
    unsafe { mm::munmap(a, len).expect("raw munmap") };
}

/// A shared mapping of a whole `/dev/shm` file; the creator's also unlinks on drop.
struct ShmFile {
    path: CString,
    ptr: NonNull<u8>,
    len: usize,
    creator: bool,
}

impl ShmFile {
    fn create(name: &str, len: usize) -> Self {
        let path = shm_path(name);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let fd = fs::openat(CWD, &path, flags, Mode::RUSR | Mode::WUSR).expect("creating a peer object");
        fs::ftruncate(&fd, len as u64).expect("sizing a peer object");
        Self::map(path, &fd, len, true)
    }

    fn open(name: &str) -> Self {
        let path = shm_path(name);
        let fd = fs::openat(CWD, &path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).expect("opening a peer object");
        let len = fs::fstat(&fd).expect("fstat of a peer object").st_size as usize;
        Self::map(path, &fd, len, false)
    }

    fn map(path: CString, fd: &rustix::fd::OwnedFd, len: usize, creator: bool) -> Self {
        // SAFETY: a fresh shared mapping chosen by the kernel of a file we hold open.
        let ptr =
            unsafe { mm::mmap(ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0) }
                .expect("mapping a peer object");
        ShmFile { path, ptr: NonNull::new(ptr.cast()).expect("mmap is never null"), len, creator }
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`; nothing refers to it any more.
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        if self.creator {
            let _ = fs::unlinkat(CWD, &self.path, AtFlags::empty());
        }
    }
}

/// What lives in the pthread peer's mapping.
#[repr(C)]
struct Block {
    mutex: libc::pthread_mutex_t,
    /// Beside the mutex, as `shmptr::Mutex<u64>` keeps its value beside its lock word.
    counter: u64,
    cond: libc::pthread_cond_t,
    /// 1: A handed over to B; 0: B handed back. Changed only under the mutex.
    turn: AtomicU32,
}

/// A `PTHREAD_PROCESS_SHARED` + `PTHREAD_MUTEX_ROBUST` mutex and a
/// `PTHREAD_PROCESS_SHARED` condvar in a `/dev/shm` mapping.
pub struct PthreadPeer {
    file: ShmFile,
}

// SAFETY: the block holds process-shared pthread objects and an atomic, all made for
// use from any thread of any process; the counter is touched under the mutex only.
unsafe impl Sync for PthreadPeer {}
// SAFETY: the mapping belongs to the value, not to a thread: any thread may use,
// unmap and unlink it (and destroy the process-shared objects in it).
unsafe impl Send for PthreadPeer {}

impl PthreadPeer {
    /// Creates the object `name` and initialises the mutex and condvar in it.
    pub fn create(name: &str) -> Self {
        let file = ShmFile::create(name, 4096);
        assert!(size_of::<Block>() <= file.len);
        let peer = PthreadPeer { file };
        let block = peer.block();
        // SAFETY: `block` points into our fresh, zeroed, exclusively owned mapping,
        // suitably aligned (page start); the attribute objects live on our stack and
        // are initialised before use and destroyed after.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_mutexattr_init(&mut attr), 0);
            assert_eq!(libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED), 0);
            assert_eq!(libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST), 0);
            assert_eq!(libc::pthread_mutex_init(&raw mut (*block).mutex, &attr), 0);
            libc::pthread_mutexattr_destroy(&mut attr);
            let mut cattr: libc::pthread_condattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_condattr_init(&mut cattr), 0);
            assert_eq!(libc::pthread_condattr_setpshared(&mut cattr, libc::PTHREAD_PROCESS_SHARED), 0);
            assert_eq!(libc::pthread_cond_init(&raw mut (*block).cond, &cattr), 0);
            libc::pthread_condattr_destroy(&mut cattr);
        }
        peer
    }

    /// Maps the object `name` another process created.
    pub fn open(name: &str) -> Self {
        let file = ShmFile::open(name);
        assert!(size_of::<Block>() <= file.len);
        PthreadPeer { file }
    }

    fn block(&self) -> *mut Block {
        self.file.ptr.as_ptr().cast()
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: `block` is inside our live mapping; no reference is formed.
        unsafe { &raw mut (*self.block()).mutex }
    }

    fn cond(&self) -> *mut libc::pthread_cond_t {
        // SAFETY: as in `mutex`.
        unsafe { &raw mut (*self.block()).cond }
    }

    fn turn(&self) -> &AtomicU32 {
        // SAFETY: inside our live mapping, 4-aligned, and only used atomically.
        unsafe { &(*self.block()).turn }
    }

    fn lock(&self) {
        // SAFETY: an initialised process-shared mutex in our live mapping.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex()) };
        if rc != 0 {
            self.lock_failed(rc);
        }
    }

    #[cold]
    fn lock_failed(&self, rc: i32) {
        assert_eq!(rc, libc::EOWNERDEAD, "pthread_mutex_lock");
        // SAFETY: we hold the mutex (EOWNERDEAD hands it to us).
        assert_eq!(unsafe { libc::pthread_mutex_consistent(self.mutex()) }, 0);
    }

    fn unlock(&self) {
        // SAFETY: we hold the mutex.
        let rc = unsafe { libc::pthread_mutex_unlock(self.mutex()) };
        debug_assert_eq!(rc, 0);
    }

    fn wait(&self) {
        // SAFETY: we hold the mutex; both objects are initialised and process-shared.
        let rc = unsafe { libc::pthread_cond_wait(self.cond(), self.mutex()) };
        if rc != 0 {
            self.lock_failed(rc);
        }
    }

    fn signal(&self) {
        // SAFETY: an initialised process-shared condvar in our live mapping.
        unsafe { libc::pthread_cond_signal(self.cond()) };
    }

    /// Lock, increment the counter beside the mutex, unlock.
    #[inline]
    pub fn increment(&self) {
        self.lock();
        // SAFETY: the counter is inside our mapping and we hold the mutex that guards it.
        unsafe { (*self.block()).counter += 1 };
        self.unlock();
    }

    /// `pthread_mutex_lock`'s result as it is: 0, or `EOWNERDEAD` (the lock is
    /// held, not yet repaired: see [`make_consistent`](Self::make_consistent)), or
    /// an error (not held).
    pub fn lock_reporting(&self) -> i32 {
        // SAFETY: an initialised process-shared mutex in our live mapping.
        unsafe { libc::pthread_mutex_lock(self.mutex()) }
    }

    /// `pthread_mutex_consistent`, after [`lock_reporting`](Self::lock_reporting)
    /// returned `EOWNERDEAD`.
    pub fn make_consistent(&self) {
        // SAFETY: we hold the mutex (EOWNERDEAD hands it to us).
        let rc = unsafe { libc::pthread_mutex_consistent(self.mutex()) };
        assert_eq!(rc, 0, "pthread_mutex_consistent");
    }

    /// Unlocks what [`lock_reporting`](Self::lock_reporting) locked.
    pub fn release(&self) {
        self.unlock();
    }

    /// The counter [`increment`](Self::increment) counts, read under the mutex.
    pub fn counter(&self) -> u64 {
        self.lock();
        // SAFETY: as in `increment`.
        let value = unsafe { (*self.block()).counter };
        self.unlock();
        value
    }

    /// Side A of the hand-off: `n` times, set turn = 1 and wait for turn == 0.
    pub fn ping(&self, n: u64) {
        self.lock();
        for _ in 0..n {
            // Relaxed: the turn changes only under the mutex, which orders it.
            self.turn().store(1, Ordering::Relaxed);
            self.signal();
            while self.turn().load(Ordering::Relaxed) != 0 {
                self.wait();
            }
        }
        self.unlock();
    }

    /// Side B of the hand-off: `n` times, wait for turn == 1 and set turn = 0.
    pub fn pong(&self, n: u64) {
        self.lock();
        for _ in 0..n {
            // Relaxed: as in `ping`.
            while self.turn().load(Ordering::Relaxed) != 1 {
                self.wait();
            }
            self.turn().store(0, Ordering::Relaxed);
            self.signal();
        }
        self.unlock();
    }
}

impl Drop for PthreadPeer {
    fn drop(&mut self) {
        // Not while unwinding: glibc's `pthread_cond_destroy` waits for waiters
        // to leave, and a killed child never will. The memory goes with the file.
        if self.file.creator && !std::thread::panicking() {
            // SAFETY: every user is done (children have exited); the objects were
            // initialised by `create`.
            unsafe {
                libc::pthread_cond_destroy(self.cond());
                libc::pthread_mutex_destroy(self.mutex());
            }
        }
    }
}
