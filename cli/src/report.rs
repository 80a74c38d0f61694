//! What the commands report: plain data with stable field names. The JSON output
//! is these structs serialized; the text output (`text.rs`) renders the same
//! structs, so both carry the same facts. The field names are documented in the
//! README's "Operating shmptr" section: renaming one is a breaking change.

use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};
use shmptr::inspect::{Destroyer, Holder, Info, ObjectKind, ObjectState, Owner};
use shmptr::{Error, ErrorKind, Liveness, ProcessId};

use crate::process;

/// Where the objects live: the object `n` is the file `/dev/shm/n`.
pub const DIR: &str = "/dev/shm";

/// The path of the object (or file) `name`.
pub fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// A process named in an object: a holder, the creator, a `Unique`'s owner or
/// the destroyer.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The pid stored in the identity (if it has one), as the process's own pid
    /// namespace numbers it: the same process here only when `pid_namespace` is
    /// `same`.
    pub pid: Option<u32>,
    /// `same` (this command's pid namespace: `pid` is its pid here), `other`
    /// (another pid namespace: `pid` means nothing here) or `unknown` (an
    /// identity whose namespace could not be read, or no `/proc` here).
    pub pid_namespace: &'static str,
    /// The raw identity stored in the object (pid, pid namespace and start time on
    /// Linux), as `0x` and 16 hex digits: JSON numbers lose precision above 2^53.
    pub identity: String,
    /// `alive`, `dead` or `unknown` (treated as alive: never reclaimed).
    pub liveness: &'static str,
    /// The command name (`/proc/<pid>/comm`), read only for a process judged alive
    /// in this pid namespace (a dead process's pid may belong to another process
    /// by now, and another namespace's pid to another process here).
    pub command: Option<String>,
}

impl Process {
    pub fn new(id: ProcessId, liveness: Liveness) -> Self {
        let pid = process::pid(id);
        let pid_namespace = pid_namespace(id);
        let command = match (pid, liveness, pid_namespace) {
            (Some(pid), Liveness::Alive, "same") => process::command(pid),
            _ => None,
        };
        Process {
            pid,
            pid_namespace,
            identity: format!("{:#018x}", id.get()),
            liveness: liveness_name(liveness),
            command,
        }
    }
}

/// `same`, `other` or `unknown`: whether `id`'s pid is a pid of this command's
/// pid namespace.
pub fn pid_namespace(id: ProcessId) -> &'static str {
    match shmptr_linux::same_pid_namespace(id) {
        Some(true) => "same",
        Some(false) => "other",
        None => "unknown",
    }
}

/// `alive`, `dead` or `unknown`.
pub fn liveness_name(liveness: Liveness) -> &'static str {
    match liveness {
        Liveness::Alive => "alive",
        Liveness::Dead => "dead",
        Liveness::Unknown => "unknown",
    }
}

fn kind_name(kind: &ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Shared => "shared",
        ObjectKind::Unique => "unique",
        // The creator has not written the kind yet (or died before it did).
        ObjectKind::Unknown => "unknown",
        #[allow(unreachable_patterns)] // `#[non_exhaustive]`: a newer library may add kinds.
        _ => "other",
    }
}

fn state_name(state: &ObjectState) -> &'static str {
    match state {
        ObjectState::Initializing => "initializing",
        ObjectState::Ready => "ready",
        ObjectState::Destroying => "destroying",
        ObjectState::Abandoned => "abandoned",
        #[allow(unreachable_patterns)] // `#[non_exhaustive]`: a newer library may add states.
        _ => "other",
    }
}

/// The file behind a name, from `lstat` (a symbolic link is not followed).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The permission bits in octal, e.g. `"0600"`.
    pub mode: String,
    /// The owner's user id.
    pub uid: u32,
    /// The file's size in bytes.
    pub size: u64,
}

impl File {
    /// The file `name` in [`DIR`], if it (still) exists.
    pub fn of(name: &str) -> Option<Self> {
        let meta = std::fs::symlink_metadata(path(name)).ok()?;
        Some(File { mode: format!("{:04o}", meta.mode() & 0o7777), uid: meta.uid(), size: meta.len() })
    }
}

/// An error from the library (or a worker process that died), as reported.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error kind, as `shmptr::ErrorKind` spells it (`NotFound`, `Corrupt`,
    /// ...), or `Killed`: the worker process that reclaimed or removed the object
    /// died of a signal (see `worker.rs`).
    pub kind: String,
    /// What the library was doing.
    pub during: String,
    /// The full sentence, with advice for a user of this command.
    pub message: String,
}

impl Failure {
    /// The library's error `e` about the object `name`.
    pub fn of(name: &str, e: &Error) -> Self {
        Failure { kind: format!("{:?}", e.kind()), during: e.during().to_owned(), message: message(name, e) }
    }

    /// Whether this is the library's error `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == format!("{kind:?}")
    }

    /// Whether the file is not a shmptr object (as opposed to a damaged one).
    pub fn not_shmptr(&self) -> bool {
        self.is(ErrorKind::Corrupt) && self.during.contains("not a shmptr object")
    }
}

/// The library's sentence for `e` (what went wrong while doing what), with
/// advice for a user of this command in place of the library's advice to a
/// programmer ("opt in to foreign owners" means nothing here).
pub fn message(name: &str, e: &Error) -> String {
    let full = e.to_string();
    let Some(base) = full.strip_suffix(&format!("; {}.", e.kind().advice())) else { return full };
    let meta = std::fs::symlink_metadata(path(name)).ok();
    let advice = match e.kind() {
        ErrorKind::PermissionDenied if meta.as_ref().is_some_and(|m| m.file_type().is_symlink()) => {
            "a symbolic link (never followed), not created by shmptr; left alone".to_owned()
        }
        ErrorKind::PermissionDenied => match meta {
            // Root is refused too: shmptr never writes another user's object
            // unless a program opts in.
            Some(m) => format!("run shmptr as the file's owner (uid {})", m.uid()),
            None => "run shmptr as the file's owner".to_owned(),
        },
        ErrorKind::Corrupt if e.during().contains("not a shmptr object") => {
            "not created by shmptr; left alone".to_owned()
        }
        ErrorKind::Corrupt => {
            "a damaged shmptr object, left alone; `shmptr rm --force` unlinks it once no process uses it".to_owned()
        }
        // A file `shmptr ls --all` found under a name shmptr never makes.
        ErrorKind::InvalidName if meta.is_some() && !name.contains('/') => {
            "not created by shmptr; left alone".to_owned()
        }
        ErrorKind::NotFound => "check the name (`shmptr ls` lists the objects)".to_owned(),
        ErrorKind::Abandoned => "`shmptr reclaim` removes it".to_owned(),
        _ => return full,
    };
    format!("{base}; {advice}.")
}

/// One holder slot (`shmptr inspect`).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct HolderReport {
    /// The slot's index in the holder table.
    pub slot: u32,
    /// The holding process.
    #[serde(flatten)]
    pub process: Process,
    /// Its handle count (the copy published in the object).
    pub handles: u64,
    /// Whether the slot is in the member set (false while attaching or leaving).
    pub member: bool,
    /// Whether a survivor is reclaiming the slot right now.
    pub reclaiming: bool,
}

impl From<&Holder> for HolderReport {
    fn from(h: &Holder) -> Self {
        HolderReport {
            slot: h.slot,
            process: Process::new(h.process, h.liveness),
            handles: h.handles,
            member: h.member,
            reclaiming: h.reclaiming,
        }
    }
}

/// A `Unique`'s owner.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct OwnerReport {
    /// Released (parked under its name for a `claim`), so no process owns it.
    pub released: bool,
    /// The owning process, unless released.
    pub process: Option<Process>,
}

impl From<&Owner> for OwnerReport {
    fn from(owner: &Owner) -> Self {
        match owner {
            Owner::Released => OwnerReport { released: true, process: None },
            Owner::Process { process, liveness } => {
                OwnerReport { released: false, process: Some(Process::new(*process, *liveness)) }
            }
            #[allow(unreachable_patterns)] // `#[non_exhaustive]`.
            _ => OwnerReport { released: false, process: None },
        }
    }
}

/// Everything `shmptr inspect NAME` reports.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    pub name: String,
    /// `shared` or `unique`.
    pub kind: &'static str,
    /// `initializing`, `ready`, `destroying` or `abandoned`.
    pub state: &'static str,
    pub format_version: u32,
    /// The value's size in bytes; a slice's in all (`length * element_size`).
    pub value_size: u64,
    pub value_align: u64,
    /// The value type's layout fingerprint, `0x` and 16 hex digits; a slice's
    /// element type's.
    pub fingerprint: String,
    /// A slice's element count (`Shared<[T]>`, `Unique<[T]>`; 0 for an empty
    /// one); `null` for one value (and while the kind is unknown).
    pub length: Option<u64>,
    /// A slice's element size in bytes; `null` for one value and for an empty
    /// slice (the header stores only the total).
    pub element_size: Option<u64>,
    /// The segment's length in bytes (header, slots, value).
    pub total_len: u64,
    /// The file, if it still exists.
    pub file: Option<File>,
    /// The creating process, if the header names one.
    pub creator: Option<Process>,
    /// The holder table's capacity (0 for a `Unique`).
    pub slot_capacity: u32,
    /// Member holders alive or unknown (treated as alive): what `rm` refuses over.
    pub holders_live: u32,
    /// Holders proven dead: what `reclaim` frees.
    pub holders_dead: u32,
    /// The occupied holder slots (a slot that is neither live nor dead above is
    /// a live process attaching or leaving: `member` is false).
    pub holders: Vec<HolderReport>,
    /// For a `Unique`, its owner; `null` for a `Shared`.
    pub owner: Option<OwnerReport>,
    /// The process that won the right to destroy it (a `destroying` object's),
    /// if the header names one; `null` otherwise.
    pub destroyer: Option<Process>,
}

impl ObjectReport {
    pub fn new(name: &str, info: &Info) -> Self {
        ObjectReport {
            name: name.to_owned(),
            kind: kind_name(&info.kind),
            state: state_name(&info.state),
            format_version: info.format_version,
            value_size: info.value_size,
            value_align: info.value_align,
            fingerprint: format!("{:#018x}", info.fingerprint),
            length: info.length,
            element_size: info.element_size,
            total_len: info.total_len,
            file: File::of(name),
            creator: info.creator.map(|id| Process::new(id, info.creator_liveness)),
            slot_capacity: info.slot_capacity,
            holders_live: info.live_holders(),
            holders_dead: info.dead_holders(),
            holders: info.holders.iter().map(HolderReport::from).collect(),
            owner: info.owner.as_ref().map(OwnerReport::from),
            destroyer: info.destroyer.as_ref().map(|d: &Destroyer| Process::new(d.process, d.liveness)),
        }
    }
}

/// A `Unique`'s owner in a listing.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct OwnerBrief {
    pub released: bool,
    pub pid: Option<u32>,
    /// As for a process: `same`, `other` or `unknown`; `null` when released.
    pub pid_namespace: Option<&'static str>,
    /// `null` when released.
    pub liveness: Option<&'static str>,
}

/// One row of `shmptr ls`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    /// Whether the file is a shmptr object whose header could be read; if not,
    /// `error` says why and the object's fields are `null`.
    pub shmptr: bool,
    pub kind: Option<&'static str>,
    pub state: Option<&'static str>,
    /// The value's size in bytes (a slice's in all).
    pub value_size: Option<u64>,
    /// A slice's element count; `null` for one value (or not an object).
    pub length: Option<u64>,
    /// A slice's element size in bytes; `null` for one value, an empty slice (or
    /// not an object).
    pub element_size: Option<u64>,
    /// Member holders judged alive or unknown (shmptr treats unknown as alive).
    pub holders_live: Option<u32>,
    /// Holders proven dead: `shmptr reclaim` frees their slots.
    pub holders_dead: Option<u32>,
    /// For a `Unique`, its owner; `null` for a `Shared`.
    pub owner: Option<OwnerBrief>,
    /// The permission bits in octal, e.g. `"0600"` (`null` if the file is gone).
    pub mode: Option<String>,
    /// The file owner's user id.
    pub uid: Option<u32>,
    /// Why this entry is not shown as a shmptr object.
    pub error: Option<Failure>,
}

impl Row {
    pub fn new(name: &str, info: Result<&Info, &Error>) -> Self {
        let file = File::of(name);
        let (mode, uid) = match file {
            Some(f) => (Some(f.mode), Some(f.uid)),
            None => (None, None),
        };
        match info {
            Ok(info) => {
                let owner = info.owner.as_ref().map(|owner| match owner {
                    Owner::Process { process: id, liveness } => OwnerBrief {
                        released: false,
                        pid: process::pid(*id),
                        pid_namespace: Some(pid_namespace(*id)),
                        liveness: Some(liveness_name(*liveness)),
                    },
                    _ => OwnerBrief { released: true, pid: None, pid_namespace: None, liveness: None },
                });
                Row {
                    name: name.to_owned(),
                    shmptr: true,
                    kind: Some(kind_name(&info.kind)),
                    state: Some(state_name(&info.state)),
                    value_size: Some(info.value_size),
                    length: info.length,
                    element_size: info.element_size,
                    holders_live: Some(info.live_holders()),
                    holders_dead: Some(info.dead_holders()),
                    owner,
                    mode,
                    uid,
                    error: None,
                }
            }
            Err(e) => Row {
                name: name.to_owned(),
                shmptr: false,
                kind: None,
                state: None,
                value_size: None,
                length: None,
                element_size: None,
                holders_live: None,
                holders_dead: None,
                owner: None,
                mode,
                uid,
                error: Some(Failure::of(name, e)),
            },
        }
    }
}

/// `shmptr ls`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// One row per entry, sorted by name.
    pub objects: Vec<Row>,
}

/// What `shmptr reclaim` did to one object.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Reclaim {
    pub name: String,
    /// Dead holders whose slots were freed.
    pub holders_reclaimed: u32,
    /// Whether the object was removed (no live holder left, or its creator died
    /// before finishing it); its value's `Drop` did not run.
    pub destroyed: bool,
    /// With `--all`: the object was left alone because it went away or stopped
    /// being a shmptr object meanwhile, belongs to another user, or is still being
    /// created (`error` says which).
    pub skipped: bool,
    /// Why the object was not reclaimed; `null` if it was (or had nothing to reclaim).
    pub error: Option<Failure>,
}

/// `shmptr reclaim --all`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ReclaimAll {
    /// One entry per shmptr object found, sorted by name.
    pub objects: Vec<Reclaim>,
    /// Dead holders reclaimed, over all objects.
    pub holders_reclaimed: u64,
    /// Objects removed.
    pub destroyed: u64,
    /// Objects skipped (gone or replaced meanwhile, another user's, or being created).
    pub skipped: u64,
    /// Objects whose reclaim failed otherwise.
    pub failed: u64,
}

/// What `shmptr rm` did.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    /// Always true in a report (a refusal is an error, exit status 1).
    pub removed: bool,
    /// Whether `--force` unlinked the file after the library refused.
    pub forced: bool,
    /// With `--force`, what was bypassed: the library's refusal, then each live
    /// holder or owner, one sentence each; empty otherwise.
    pub bypassed: Vec<String>,
}
