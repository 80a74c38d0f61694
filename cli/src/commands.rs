//! The commands: each asks `shmptr-linux` and returns a report (`report.rs`), or
//! a [`Refusal`] naming the object.

use std::fmt;
use std::os::unix::fs::MetadataExt;

use shmptr::inspect::{Info, ObjectState};
use shmptr::{Error, ErrorKind, Liveness};

use crate::report::{self, Failure, Listing, ObjectReport, Reclaim, ReclaimAll, Removal, Row};
use crate::text::escape;
use crate::worker::{self, Op, Outcome};

/// Why a command failed: one line for standard error, naming the object.
#[derive(Debug)]
pub struct Refusal {
    /// What the command tried: `inspect`, `reclaim`, `remove`, `list`.
    pub action: &'static str,
    /// The object (or directory) it tried it on.
    pub name: String,
    /// Why, as a sentence.
    pub why: String,
}

impl Refusal {
    fn new(action: &'static str, name: &str, why: impl fmt::Display) -> Self {
        Refusal { action, name: name.to_owned(), why: why.to_string() }
    }

    /// The library's error `e`, with advice for a user of this command.
    fn library(action: &'static str, name: &str, e: &Error) -> Self {
        Refusal::new(action, name, report::message(name, e))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and sentences may carry what a peer wrote (a file name, a command
        // name): control characters are escaped (`{:?}` does so for the name).
        write!(f, "cannot {} {:?}: {}", self.action, self.name, escape(&self.why))
    }
}

/// `shmptr ls [--all] [PREFIX]`: every entry of `/dev/shm` whose name starts with
/// `prefix`, sorted by name; entries that are not shmptr objects only with `all`.
pub fn ls(all: bool, prefix: Option<&str>) -> Result<Listing, Refusal> {
    let mut objects = Vec::new();
    shmptr_linux::list(|name, info| {
        if prefix.is_some_and(|p| !name.starts_with(p)) {
            return;
        }
        let row = Row::new(name, info.as_ref());
        if row.shmptr || all {
            objects.push(row);
        }
    })
    .map_err(|e| Refusal::library("list", report::DIR, &e))?;
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { objects })
}

/// `shmptr inspect NAME`.
pub fn inspect(name: &str) -> Result<ObjectReport, Refusal> {
    let info = shmptr_linux::inspect(name).map_err(|e| Refusal::library("inspect", name, &e))?;
    Ok(ObjectReport::new(name, &info))
}

/// `shmptr reclaim NAME`, in a worker process (`worker.rs`).
pub fn reclaim(name: &str) -> Result<Reclaim, Refusal> {
    match worker::run(Op::Reclaim, name) {
        Outcome::Reclaimed { holders, destroyed } => {
            Ok(Reclaim { name: name.to_owned(), holders_reclaimed: holders, destroyed, skipped: false, error: None })
        }
        Outcome::Failed(f) => Err(Refusal::new("reclaim", name, f.message)),
        Outcome::Removed => Err(Refusal::new("reclaim", name, "the worker process answered for another command")),
    }
}

/// `shmptr reclaim --all`: every shmptr object in `/dev/shm`, each in its own
/// worker process. An object that is still being created, that went away or
/// stopped being a shmptr object meanwhile, or that this user may not touch is
/// skipped; other failures (a worker killed by SIGBUS among them) are reported
/// per object, and make the exit status 1 once every object was tried.
pub fn reclaim_all() -> Result<ReclaimAll, Refusal> {
    let mut found = Vec::new();
    shmptr_linux::list(|name, info| {
        if let Ok(info) = info {
            found.push((name.to_owned(), being_created(&info)));
        }
    })
    .map_err(|e| Refusal::library("list", report::DIR, &e))?;
    found.sort();
    let mut all = ReclaimAll { objects: Vec::new(), holders_reclaimed: 0, destroyed: 0, skipped: 0, failed: 0 };
    for (name, creating) in found {
        if let Some(creator) = creating {
            all.skipped += 1;
            let message = format!("it is being created (initializing) by {creator}; left alone");
            let error = Failure { kind: "Busy".to_owned(), during: "listing it".to_owned(), message };
            all.objects.push(Reclaim {
                name,
                holders_reclaimed: 0,
                destroyed: false,
                skipped: true,
                error: Some(error),
            });
            continue;
        }
        let entry = match worker::run(Op::Reclaim, &name) {
            Outcome::Reclaimed { holders, destroyed } => {
                all.holders_reclaimed += u64::from(holders);
                all.destroyed += u64::from(destroyed);
                Reclaim { name, holders_reclaimed: holders, destroyed, skipped: false, error: None }
            }
            Outcome::Failed(f) => {
                // Gone, replaced by a file that is not (yet) an object, or another
                // user's: nothing this user may reclaim there.
                let skipped = f.is(ErrorKind::NotFound) || f.is(ErrorKind::PermissionDenied) || f.not_shmptr();
                if skipped {
                    all.skipped += 1;
                } else {
                    all.failed += 1;
                }
                Reclaim { name, holders_reclaimed: 0, destroyed: false, skipped, error: Some(f) }
            }
            Outcome::Removed => {
                all.failed += 1;
                let error = Failure {
                    kind: "Os".to_owned(),
                    during: "reclaiming it (in a worker process)".to_owned(),
                    message: "the worker process answered for another command".to_owned(),
                };
                Reclaim { name, holders_reclaimed: 0, destroyed: false, skipped: false, error: Some(error) }
            }
        };
        all.objects.push(entry);
    }
    Ok(all)
}

/// For an object still being created by a process that may finish it, that
/// process (`pid 1234 (alive, app)`, or `a process` when the header names none
/// yet); `None` for any other object.
fn being_created(info: &Info) -> Option<String> {
    if info.state != ObjectState::Initializing || info.creator_liveness == Liveness::Dead {
        return None;
    }
    Some(match info.creator {
        Some(id) => format!("pid {}", describe(&report::Process::new(id, info.creator_liveness))),
        None => "a process that holds its creation lock".to_owned(),
    })
}

/// `1234 (alive, app)`, `1 (unknown, another pid namespace)`: as the text output
/// shows a process.
fn describe(p: &report::Process) -> String {
    crate::text::process(p)
}

/// The live holders, owner and destroyer of `name` (and a creator still at
/// work), one sentence each: what `rm` refuses over and `rm --force` bypasses.
fn live_processes(name: &str) -> Vec<String> {
    let Ok(object) = inspect(name) else { return Vec::new() };
    let mut live = Vec::new();
    let describe = |p: &report::Process| format!("pid {}", describe(p));
    for h in object.holders.iter().filter(|h| h.process.liveness != "dead") {
        // A slot out of the member set: its process is attaching or leaving (a
        // destroyer's own slot, while it destroys).
        let member = if h.member { "" } else { " (attaching or leaving)" };
        live.push(format!("holder in slot {}{member}: {}", h.slot, describe(&h.process)));
    }
    if let Some(p) = object.owner.as_ref().and_then(|o| o.process.as_ref()).filter(|p| p.liveness != "dead") {
        live.push(format!("owner: {}", describe(p)));
    }
    if let Some(p) = object.creator.as_ref().filter(|p| object.state == "initializing" && p.liveness != "dead") {
        live.push(format!("creator, still initializing it: {}", describe(p)));
    }
    if let Some(p) = object.destroyer.as_ref().filter(|p| p.liveness != "dead") {
        live.push(format!("destroyer, still destroying it (its value's drop may be running): {}", describe(p)));
    }
    live
}

/// Whether `name` can only mean a file directly in `/dev/shm`.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// The file `name` names now: device and inode (`lstat`), if it exists.
fn file_id(name: &str) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(report::path(name)).ok().map(|m| (m.dev(), m.ino()))
}

/// `shmptr rm NAME [--force]`: removes the object (in a worker process) when no
/// live (or unknown) holder, owner or destroyer has it, and says so only once the
/// name is gone or names another file; with `force`, unlinks the file even so,
/// and says what it bypassed.
pub fn rm(name: &str, force: bool) -> Result<Removal, Refusal> {
    let before = file_id(name);
    let refused = match worker::run(Op::Remove, name) {
        Outcome::Removed => match file_id(name) {
            Some(now) if Some(now) == before => Failure {
                kind: "Busy".to_owned(),
                during: "removing it".to_owned(),
                message: format!("it is still there after its removal ({} names the same file)", report::path(name)),
            },
            _ => return Ok(Removal { name: name.to_owned(), removed: true, forced: false, bypassed: Vec::new() }),
        },
        Outcome::Failed(f) => f,
        Outcome::Reclaimed { .. } => Failure {
            kind: "Os".to_owned(),
            during: "removing it (in a worker process)".to_owned(),
            message: "the worker process answered for another command".to_owned(),
        },
    };
    let live = live_processes(name);
    if !force || refused.is(ErrorKind::NotFound) || !plain_file_name(name) {
        let why = if refused.is(ErrorKind::Busy) && !live.is_empty() {
            format!("a process that may be alive has it: {}; `shmptr rm --force` unlinks it anyway.", live.join("; "))
        } else if refused.is(ErrorKind::NotFound)
            || refused.is(ErrorKind::InvalidName)
            || refused.is(ErrorKind::PermissionDenied)
            || refused.is(ErrorKind::Corrupt)
        {
            // Their messages say what to do (a file that is not a shmptr object is
            // left alone: no advice to remove it).
            refused.message
        } else {
            format!("{} `shmptr rm --force` unlinks it anyway.", refused.message)
        };
        return Err(Refusal::new("remove", name, why));
    }
    std::fs::remove_file(report::path(name)).map_err(|e| Refusal::new("remove", name, e))?;
    let mut bypassed = vec![refused.message];
    bypassed.extend(live);
    Ok(Removal { name: name.to_owned(), removed: true, forced: true, bypassed })
}
