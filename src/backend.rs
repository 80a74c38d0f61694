//! The three small traits a backend implements: [`Region`], [`Platform`], [`Backend`].
//!
//! `examples/custom_backend.rs` implements all three from scratch over a static
//! buffer and runs [`Shared`](crate::Shared) and [`Unique`](crate::Unique) on them.

use core::ptr::NonNull;
use core::time::Duration;

use crate::error::Result;
use crate::name::Name;
use crate::options::Access;
use crate::primitive::{AtomicU32, AtomicUsize};

/// A mapped, writable byte range that every process mapping the same object sees.
///
/// Dropping a region unmaps it.
///
/// # Safety
/// Implementors promise that, while the region is alive:
/// - [`as_ptr`](Region::as_ptr) is stable, aligned to at least 64 bytes, and valid for
///   reads and writes of [`len`](Region::len) bytes (a zero-length region may return
///   a dangling pointer);
/// - the same bytes are visible, at whatever address, to every other region of the
///   same object, in this process or another;
/// - a fresh object from [`Backend::create`] reads as all zeros;
/// - a region may be copied bitwise (shmptr's handles share one mapping between
///   clones) provided that exactly one of the copies is dropped;
/// - [`handles`](Region::handles) is one counter, the same for every bitwise copy,
///   that reads 0 when the region is made, lives at least as long as the region, and
///   lies in memory that no other process (and no other region) can write: no byte
///   of any shared object. shmptr decides when to unmap from it alone, so a peer that
///   writes the object cannot make this process unmap memory it still uses;
/// - [`others`](Region::others) is the bitwise OR of the `handles` counts of every
///   other region of the same object in this address space, each read (Relaxed is
///   enough) after the caller's last fence or acquire: shmptr keeps in those
///   counts, besides the number of handles, whether a region is joining the object
///   or destroying its value;
/// - if [`foreign_marked`](Region::foreign_marked) is true: whenever code runs as a
///   process, the `handles` count of every live region that another process made
///   and that has handles (a count of 1 or more) has [`FOREIGN_HANDLES`] set, the
///   counts of the current process's own regions do not, and a count of 0 (no
///   handles) is never marked. Only a simulation of several processes in one
///   address space whose identity changes between operations can promise it (the
///   arena over its own `Simulated` platform, whose `enter` sets and clears the
///   marks); after `fork()`, a child's copies of its parent's counts are not marked;
/// - after [`own_exclusively`](Region::own_exclusively) returned `Ok`, no other
///   region of the same object in this address space gets `Ok` until this region
///   calls [`disown`](Region::disown) or is dropped (or, in a simulation of several processes in one address space, until
///   the simulated process that made it is declared dead). The record of it lies in
///   memory no other process can write.
///
/// [`same_object`](Region::same_object) is not part of this contract: only
/// [`Shared::ptr_eq`](crate::Shared::ptr_eq) asks it, and nothing unsafe rests on
/// its answer.
pub unsafe trait Region: Send + Sync + Sized {
    /// The alignment [`as_ptr`](Region::as_ptr) always has: at least 64, a power of
    /// two. shmptr refuses (`Unsupported`) a value whose type needs more, since
    /// the value's offset in the segment is a multiple of its alignment.
    const ALIGN: usize = 64;

    /// The first byte of the mapping.
    fn as_ptr(&self) -> NonNull<u8>;
    /// How many bytes are mapped.
    fn len(&self) -> usize;
    /// Whether nothing is mapped.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The number of shmptr handles that share this mapping, kept in memory private
    /// to this process (see the trait's `# Safety`). Starts at 0.
    fn handles(&self) -> &AtomicUsize;

    /// Whether the backend marks the [`handles`](Region::handles) count of every
    /// region with handles that another process made with [`FOREIGN_HANDLES`], for
    /// as long as code runs as another process than the one that made it (see the
    /// trait's `# Safety`). Then a clone or drop tells another process's handle from
    /// the count it changes anyway, and asks no
    /// [`Platform::is_current_process`] on its fast path: 12 instructions fewer per
    /// clone and drop on a Cortex-M4. The default, false, asks it on every clone and
    /// drop. Constant for a type (shmptr folds it in).
    #[inline(always)]
    fn foreign_marked() -> bool {
        false
    }
    /// Makes this region the one through which this process owns its object
    /// exclusively (a `Unique`), until the region is dropped. `Busy` if another
    /// region of the same object in this process owns it already; a backend may
    /// refuse for other reasons too (a full table).
    ///
    /// A claim checks this before the object's shared owner word, which a peer can
    /// forge: two `&mut T` to one object in one address space must never rest on it.
    fn own_exclusively(&self) -> Result<()>;

    /// The bitwise OR of the [`handles`](Region::handles) counts of every other
    /// region of the same object in this address space (0 if there is none).
    /// shmptr drops a value only when no other region here has handles, joins or
    /// destroys, so that a peer forging the member set or the state word of an
    /// object this process maps twice can never make it drop a value it still
    /// reads, nor drop it twice.
    fn others(&self) -> usize;

    /// Ends what [`own_exclusively`](Region::own_exclusively) began: when a
    /// `Unique` is dropped or released, before its region is dropped, and when it
    /// is released with `Unique::release_mapped`, which keeps the region mapped.
    /// Afterwards another region of the object here may own it. shmptr calls it
    /// only from `Unique`, so that a program without one links none of the
    /// bookkeeping. The default does nothing, for a backend whose `Drop` ends the
    /// ownership: that is safe, but a `Released` handle then keeps the object
    /// owned here, so claims of it by name in this process are `Busy` until the
    /// `Released` is claimed back or dropped.
    fn disown(&self) {}

    /// Whether `other` is another mapping, in this address space, of the object this
    /// region maps. Answer from what this process recorded when it mapped them (the
    /// Linux backend: the file's device and inode; the arena: the object's place),
    /// never from bytes of the object, which a peer can write; both regions are
    /// alive, so such an identity cannot have been reused meanwhile.
    ///
    /// [`Shared::ptr_eq`](crate::Shared::ptr_eq) asks it only for two regions at
    /// different addresses (one mapping shared by clones is recognised by its
    /// address). The default, false ("cannot tell"), makes `ptr_eq` false for two
    /// separate opens of one object, never true for two different objects.
    ///
    /// A clone of a handle that a forked child inherited re-opens the object by
    /// the name stored in it, which a peer can rewrite, and keeps the new handle
    /// only if this says it is the same object; with the default, such a clone
    /// panics.
    fn same_object(&self, _other: &Self) -> bool {
        false
    }
}

/// A process identity that is never reused while anyone can still see it: on Linux
/// the pid together with the process's start time, in the arena a simulated process
/// number. It is non-zero and at most [`ProcessId::MAX`] (segments keep the top bit
/// of the target's widest atomic).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ProcessId(u64);

impl ProcessId {
    /// The largest raw identity.
    pub const MAX: u64 = crate::primitive::widen(crate::primitive::Word::MAX >> 1);

    /// A process identity from its raw value; `None` for 0 or a value above
    /// [`ProcessId::MAX`].
    pub const fn new(raw: u64) -> Option<Self> {
        if raw == 0 || raw > Self::MAX {
            None
        } else {
            Some(ProcessId(raw))
        }
    }

    /// The raw value, as stored in a segment.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The identity stored in a segment word (0 and out-of-range values are none).
    pub(crate) const fn from_word(word: crate::primitive::Word) -> Option<Self> {
        Self::new(crate::primitive::widen(word))
    }

    /// The identity as a segment word; lossless, since it is at most `MAX`.
    pub(crate) const fn word(self) -> crate::primitive::Word {
        self.0 as crate::primitive::Word
    }
}

/// Whether a process is alive, as far as the platform can judge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Liveness {
    /// The process runs (or is stopped, but exists).
    Alive,
    /// The process has exited, was killed, or is a zombie. Its holdings may be reclaimed.
    Dead,
    /// The platform cannot tell (another pid namespace, no permission). shmptr treats
    /// it as alive: it never reclaims a holder it cannot prove dead.
    Unknown,
}

/// A thread, as the holder of a [`Mutex`](crate::Mutex): the number the platform's
/// kernel knows it by ([`tid`](ThreadId::tid), what a lock word holds) and an
/// identity ([`id`](ThreadId::id)) that tells it apart from every other thread that
/// had or will have that number, as [`ProcessId`] does for processes. On Linux the
/// tid and, beside it, the pid namespace and the thread's start time; a platform
/// that does not tell threads apart uses the process identity
/// ([`Platform::THREADS`] is then false).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ThreadId {
    tid: u32,
    id: u64,
}

impl ThreadId {
    /// The largest tid: lock words keep the two top bits for flags, and the value
    /// above this one for a holder outside the lock's domain.
    pub const TID_MAX: u32 = 0x3fff_fffe;

    /// A thread from its tid (1 to [`TID_MAX`](ThreadId::TID_MAX)) and identity (not
    /// zero, at most [`ProcessId::MAX`]); `None` otherwise.
    pub const fn new(tid: u32, id: u64) -> Option<Self> {
        if tid == 0 || tid > Self::TID_MAX || id == 0 || id > ProcessId::MAX {
            None
        } else {
            Some(ThreadId { tid, id })
        }
    }

    /// The thread of a platform that does not tell threads apart: the process.
    pub const fn of_process(process: ProcessId) -> Self {
        ThreadId { tid: 1, id: process.get() }
    }

    /// A holder read back from a mutex: the word's tid (0 for one outside the
    /// mutex's domain, whose word holds no tid) and the identity beside it.
    pub(crate) const fn read_back(tid: u32, id: u64) -> Option<Self> {
        match ThreadId::new(1, id) {
            Some(_) if tid <= Self::TID_MAX => Some(ThreadId { tid, id }),
            _ => None,
        }
    }

    /// The number a lock word holds for this thread (0 in a holder read back from a
    /// lock word that holds none: see [`Platform::thread_liveness`]).
    pub const fn tid(self) -> u32 {
        self.tid
    }

    /// The identity, as stored beside the lock word.
    pub const fn id(self) -> u64 {
        self.id
    }
}

/// What [`Platform::lock_wait`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LockWait {
    /// The lock word now holds the caller's tid: the lock is the caller's. If the
    /// previous holder died, the word's owner-died bit (`1 << 30`) is set.
    Acquired,
    /// The word's tid names no thread of the caller's lock domain: its holder is
    /// gone (or a peer wrote the number).
    NoSuchHolder,
    /// The word's tid is the caller's own.
    HeldByCaller,
    /// The timeout passed, a signal came, or the word changed: look again.
    Again,
    /// The platform has no kernel-assisted lock: use the portable wait.
    Unsupported,
}

/// The steps of shmptr's protocols between which a process may die. The arena
/// backend can stop a simulated process at each of them; other platforms ignore them.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CrashPoint {
    /// Create: the object exists and is sized, no header yet.
    CreateSized,
    /// Create: the header is written and `Initializing`, the value is not.
    CreateHeaderWritten,
    /// Create: the value is written, the object is not yet `Ready`.
    CreateValueWritten,
    /// Attach: a slot is reserved (owner written), not yet a member.
    AttachReserved,
    /// Detach: the attachment's handle count reached zero, its slot is still a member.
    DetachCounted,
    /// Detach: the slot left the member set, its owner is not yet cleared.
    DetachLeft,
    /// Reclaim: a dead holder's slot is marked as being reclaimed, still a member.
    ReclaimMarked,
    /// Reclaim: the dead holder's slot left the member set, not yet freed.
    ReclaimLeft,
    /// Destroy: this process won the right to destroy, `T` not yet dropped.
    DestroyClaimed,
    /// Destroy: `T` is dropped, the name is still linked.
    DestroyDropped,
    /// Destroy: the name is unlinked, the segment not yet marked destroyed.
    DestroyUnlinked,
}

impl CrashPoint {
    /// Every crash point, in protocol order.
    pub const ALL: &'static [CrashPoint] = &[
        CrashPoint::CreateSized,
        CrashPoint::CreateHeaderWritten,
        CrashPoint::CreateValueWritten,
        CrashPoint::AttachReserved,
        CrashPoint::DetachCounted,
        CrashPoint::DetachLeft,
        CrashPoint::ReclaimMarked,
        CrashPoint::ReclaimLeft,
        CrashPoint::DestroyClaimed,
        CrashPoint::DestroyDropped,
        CrashPoint::DestroyUnlinked,
    ];
}

/// The mark a backend sets in the handle count ([`Region::handles`]) of a mapping
/// with handles that another process than the current one made, where its regions
/// promise to ([`Region::foreign_marked`]). A bit above every count of handles.
pub const FOREIGN_HANDLES: usize = crate::handles::FOREIGN;

/// What the platform provides: process identity and liveness, waiting on a shared
/// word, and time. All functions are static: a platform is a zero-sized type.
///
/// # Safety
/// shmptr's exclusion rests on these promises (a `Mutex` guard, a `Unique` owner, a
/// mapping kept until its last handle goes), so a wrong answer is unsound, not
/// merely wrong:
/// - [`current_process`](Platform::current_process) returns one identity for the
///   whole life of a process (all its threads, every call), and identities of
///   distinct processes that can reach the same objects differ; a child created by
///   `fork()` is a distinct process. Where one address space simulates several
///   processes (the arena), the identity may change only where that simulation's
///   own `unsafe` contract allows it.
/// - [`is_current_process`](Platform::is_current_process), if overridden, answers
///   exactly `current_process().get() == raw`: true for another process's identity
///   would let a forked child's drop release its parent's attachment.
/// - [`liveness`](Platform::liveness) never reports [`Liveness::Dead`] for a process
///   that may still run: only with proof that this exact process is gone. When in
///   doubt, [`Liveness::Unknown`].
/// - [`current_thread`](Platform::current_thread) returns one identity for the
///   whole life of a thread and distinct ones for threads that live at the same
///   time (all the threads of a process share one only if
///   [`THREADS`](Platform::THREADS) is false); its tid is the number the platform's
///   [`lock_wait`](Platform::lock_wait) knows the thread by in its
///   [`lock_domain`](Platform::lock_domain).
/// - [`thread_liveness`](Platform::thread_liveness) never reports
///   [`Liveness::Dead`] for a thread that may still run.
/// - [`lock_wait`](Platform::lock_wait) returns [`LockWait::Acquired`] only when the
///   lock word holds the caller's tid, set atomically by the platform when the word
///   was free or its holder gone, and [`LockWait::NoSuchHolder`] only when no
///   thread of the caller's lock domain has the word's tid;
///   [`unlock_wake`](Platform::unlock_wake) hands the word to one such waiter or
///   clears it, and only for the thread whose tid it holds.
/// - [`wait`](Platform::wait) returns at once if `word` does not hold `expected`
///   when it checks, and a [`wake`](Platform::wake) of the same word after that
///   check (in any process that maps it) ends the sleep; both hold across
///   processes. `Mutex`, `Semaphore` and `Condvar` rely on it to lose no wake-up.
///
/// A platform that calls every process dead would hand one mutex to two threads, so
/// implementing it takes `unsafe`:
/// ```compile_fail,E0200
/// struct Liar;
/// impl shmptr::Platform for Liar {
///     fn current_process() -> shmptr::ProcessId { shmptr::ProcessId::new(1).unwrap() }
///     fn liveness(_: shmptr::ProcessId) -> shmptr::Liveness { shmptr::Liveness::Dead }
///     fn wait(_: &core::sync::atomic::AtomicU32, _: u32, _: Option<core::time::Duration>) {}
///     fn wake(_: &core::sync::atomic::AtomicU32, _: u32) {}
///     fn now_nanos() -> u64 { 0 }
/// }
/// ```
pub unsafe trait Platform: 'static {
    /// The calling process's identity. Called on every clone and drop of a handle
    /// (unless [`Region::foreign_marked`]), through
    /// [`is_current_process`](Platform::is_current_process): keep it cheap (cache
    /// it; the Linux backend reads a page that `fork` wipes).
    fn current_process() -> ProcessId;

    /// Whether `raw` is the calling process's identity
    /// ([`current_process`](Platform::current_process)`().get() == raw`). Called
    /// on every clone and drop of a handle (unless [`Region::foreign_marked`]), to
    /// tell a handle this process attached from one a forked child inherited; a
    /// platform may answer it without making
    /// a [`ProcessId`] (the default does). Must be exact: true for another
    /// process's identity would let that process's handle release this one's
    /// attachment.
    #[inline]
    fn is_current_process(raw: u64) -> bool {
        Self::current_process().get() == raw
    }

    /// Whether `process` is alive. Must never report a live process as dead.
    fn liveness(process: ProcessId) -> Liveness;

    /// Sleeps while `word` holds `expected`, at most `timeout` (forever for `None`).
    /// May return early or spuriously; callers re-check.
    fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>);

    /// Wakes up to `count` waiters on `word`, in any process.
    fn wake(word: &AtomicU32, count: u32);

    /// A monotonic clock, in nanoseconds from an arbitrary origin.
    fn now_nanos() -> u64;

    /// Lets another runnable thread (perhaps the lock holder this one waits for) use
    /// the CPU. The default only hints the processor.
    fn yield_now() {
        core::hint::spin_loop();
    }

    /// Called at each [`CrashPoint`]; a test double may simulate death here. The
    /// default does nothing and compiles away.
    #[inline(always)]
    fn crash_point(_point: CrashPoint) {}

    /// Whether [`current_thread`](Platform::current_thread) tells the threads of one
    /// process apart. If so, a [`Mutex`](crate::Mutex) is owned by a thread: locking
    /// it again from the same thread is [`ErrorKind::Deadlock`](crate::ErrorKind),
    /// and a thread that dies holding it is reported as `OwnerDied` while its
    /// process lives. If not (the default), ownership is per process.
    const THREADS: bool = false;

    /// The calling thread. Called on every `lock`: keep it cheap. The default is the
    /// process ([`ThreadId::of_process`]).
    #[inline]
    fn current_thread() -> ThreadId {
        ThreadId::of_process(Self::current_process())
    }

    /// Whether `thread` is alive. Must never report a live thread as dead. Judge
    /// from [`id`](ThreadId::id): `tid` is 0 for a holder outside the mutex's lock
    /// domain. The default judges the process of [`ThreadId::of_process`].
    fn thread_liveness(thread: ThreadId) -> Liveness {
        match ProcessId::new(thread.id()) {
            Some(process) => Self::liveness(process),
            None => Liveness::Unknown,
        }
    }

    /// The calling thread's lock domain: the threads whose tids the platform's
    /// [`lock_wait`](Platform::lock_wait) resolves as it does for this one (Linux:
    /// the pid namespace). A mutex records the first domain that locks it; only
    /// threads of that domain store their tid in its lock word and sleep in
    /// `lock_wait`; others store a number no thread has and wait portably
    /// ([`wait`](Platform::wait) with liveness checks). 0, the default: no domain.
    fn lock_domain() -> u32 {
        0
    }

    /// Sleeps until the lock word `word` (tid in bits 0–29, bit 30 "owner died", bit
    /// 31 "waiters") can be given to the calling thread, then stores its tid there
    /// ([`LockWait::Acquired`]), or until `timeout`. A kernel that knows the holder
    /// (Linux's `FUTEX_LOCK_PI`) wakes the caller at once when the holder dies. The
    /// default: [`LockWait::Unsupported`].
    fn lock_wait(_word: &AtomicU32, _timeout: Option<Duration>) -> LockWait {
        LockWait::Unsupported
    }

    /// Whether the calling thread is unwinding from a panic. A `MutexGuard` dropped
    /// while it is leaves the mutex as a dead owner would (the next `lock` gets
    /// `OwnerDied`), as `std` poisons its mutex. The default: never (a platform
    /// without unwinding, or that cannot tell).
    #[inline]
    fn panicking() -> bool {
        false
    }

    /// Releases a lock word the calling thread holds and whose "waiters" bit is set:
    /// hands it to a thread sleeping in [`lock_wait`](Platform::lock_wait), or
    /// clears it. False if the platform refused (the word does not hold the
    /// caller's tid). The default refuses.
    fn unlock_wake(_word: &AtomicU32) -> bool {
        false
    }
}

/// A namespace of shared-memory objects: create, open and unlink by name.
pub trait Backend: Platform {
    /// The mapping of one object.
    type Region: Region;

    /// Creates the object `name` of `len` bytes, exclusively (fails with
    /// `AlreadyExists` if the name is taken), with every byte zero, reserving its
    /// memory now where the backend can (a full backend is `OutOfMemory` here, not a
    /// fault later), and maps it.
    fn create(name: Name<'_>, len: usize, access: &Access) -> Result<Self::Region>;

    /// Maps the existing object `name`, never more than the object holds and without
    /// resizing it. The region may be shorter than a header (the creator may not
    /// have sized it yet): shmptr checks the length before reading anything.
    fn open(name: Name<'_>, access: &Access) -> Result<Self::Region>;

    /// Removes the name, if it still names the object that `region` maps (a newer
    /// object of the same name is left alone). The memory lives on until the last
    /// region of it is dropped.
    fn unlink(name: Name<'_>, region: &Self::Region) -> Result<()>;

    /// Whether the creator of the unfinished object `name` (mapped by `region`)
    /// may still finish it. shmptr asks while the header is still being written
    /// (`creator` is the process the header names) and, once an opener's whole
    /// timeout has passed (and never less than 5 ms after it began: a shorter
    /// timeout ends in `Timeout` without asking), while it is still blank or
    /// shorter than a header (`creator` is `None`). Only `Dead` lets `open_or_create` and `reclaim`
    /// remove the object, so it must come with proof: a live creator, even a
    /// stopped one, must never be `Dead`. Shortly after [`create`](Backend::create)
    /// returned a fresh object, before shmptr wrote anything, `Dead` for `None` is
    /// allowed (shmptr asks only after a whole timeout then).
    ///
    /// The Linux backend answers from a lock that its creator holds on the file
    /// from before sizing it until [`published`](Backend::published); a backend
    /// without such a lock answers from [`Platform::liveness`] of `creator`.
    fn creator_liveness(name: Name<'_>, region: &Self::Region, creator: Option<ProcessId>) -> Liveness;

    /// Called by the creator once the object that `region` maps (the region
    /// [`create`](Backend::create) returned) is published `Ready`: a backend that
    /// marks objects being created (the Linux backend's creation lock) ends that
    /// mark here. The default does nothing.
    fn published(_region: &Self::Region) {}
}
