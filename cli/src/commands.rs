//! The commands: each asks `shmptr-linux` and returns a report (`report.rs`), or
//! a [`Refusal`] naming the object.

use std::fmt;

use shmptr::ErrorKind;

use crate::report::{self, Failure, Listing, ObjectReport, Reclaim, ReclaimAll, Removal, Row};

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
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {:?}: {}", self.action, self.name, self.why)
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
    .map_err(|e| Refusal::new("list", report::DIR, e))?;
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { objects })
}

/// `shmptr inspect NAME`.
pub fn inspect(name: &str) -> Result<ObjectReport, Refusal> {
    let info = shmptr_linux::inspect(name).map_err(|e| Refusal::new("inspect", name, e))?;
    Ok(ObjectReport::new(name, &info))
}

/// `shmptr reclaim NAME`.
pub fn reclaim(name: &str) -> Result<Reclaim, Refusal> {
    let done = shmptr_linux::reclaim(name).map_err(|e| Refusal::new("reclaim", name, e))?;
    Ok(Reclaim {
        name: name.to_owned(),
        holders_reclaimed: done.holders,
        destroyed: done.destroyed,
        skipped: false,
        error: None,
    })
}

/// `shmptr reclaim --all`: every shmptr object in `/dev/shm`. An object that went
/// away meanwhile or that this user may not touch is skipped; other failures are
/// reported per object (and make the exit status 1).
pub fn reclaim_all() -> Result<ReclaimAll, Refusal> {
    let mut names = Vec::new();
    shmptr_linux::list(|name, info| {
        if info.is_ok() {
            names.push(name.to_owned());
        }
    })
    .map_err(|e| Refusal::new("list", report::DIR, e))?;
    names.sort();
    let mut all = ReclaimAll { objects: Vec::new(), holders_reclaimed: 0, destroyed: 0, skipped: 0, failed: 0 };
    for name in names {
        let entry = match shmptr_linux::reclaim(&name) {
            Ok(done) => {
                all.holders_reclaimed += u64::from(done.holders);
                all.destroyed += u64::from(done.destroyed);
                Reclaim {
                    name,
                    holders_reclaimed: done.holders,
                    destroyed: done.destroyed,
                    skipped: false,
                    error: None,
                }
            }
            Err(e) => {
                let skipped = matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied);
                if skipped {
                    all.skipped += 1;
                } else {
                    all.failed += 1;
                }
                Reclaim { name, holders_reclaimed: 0, destroyed: false, skipped, error: Some(Failure::from(&e)) }
            }
        };
        all.objects.push(entry);
    }
    Ok(all)
}

/// The live holders and owner of `name` (and a creator still at work), one
/// sentence each: what `rm` refuses over and `rm --force` bypasses.
fn live_processes(name: &str) -> Vec<String> {
    let Ok(object) = inspect(name) else { return Vec::new() };
    let mut live = Vec::new();
    let describe = |p: &report::Process| {
        let pid = p.pid.map_or_else(|| "?".to_owned(), |pid| pid.to_string());
        match &p.command {
            Some(command) => format!("pid {pid} ({}, {command})", p.liveness),
            None => format!("pid {pid} ({})", p.liveness),
        }
    };
    for h in object.holders.iter().filter(|h| h.process.liveness != "dead") {
        live.push(format!("holder in slot {}: {}", h.slot, describe(&h.process)));
    }
    if let Some(p) = object.owner.as_ref().and_then(|o| o.process.as_ref()).filter(|p| p.liveness != "dead") {
        live.push(format!("owner: {}", describe(p)));
    }
    if let Some(p) = object.creator.as_ref().filter(|p| object.state == "initializing" && p.liveness != "dead") {
        live.push(format!("creator, still initializing it: {}", describe(p)));
    }
    live
}

/// Whether `name` can only mean a file directly in `/dev/shm`.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// `shmptr rm NAME [--force]`: removes the object when no live (or unknown) holder
/// or owner has it; with `force`, unlinks the file even so, and says what it
/// bypassed.
pub fn rm(name: &str, force: bool) -> Result<Removal, Refusal> {
    let refused = match shmptr_linux::remove(name) {
        Ok(()) => return Ok(Removal { name: name.to_owned(), removed: true, forced: false, bypassed: Vec::new() }),
        Err(e) => e,
    };
    let live = live_processes(name);
    if !force || refused.kind() == ErrorKind::NotFound || !plain_file_name(name) {
        let why = match refused.kind() {
            ErrorKind::Busy if !live.is_empty() => {
                format!(
                    "a process that may be alive has it: {}; `shmptr rm --force` unlinks it anyway.",
                    live.join("; ")
                )
            }
            ErrorKind::NotFound | ErrorKind::InvalidName => refused.to_string(),
            _ => format!("{refused} `shmptr rm --force` unlinks it anyway."),
        };
        return Err(Refusal::new("remove", name, why));
    }
    std::fs::remove_file(report::path(name)).map_err(|e| Refusal::new("remove", name, e))?;
    let mut bypassed = vec![refused.to_string()];
    bypassed.extend(live);
    Ok(Removal { name: name.to_owned(), removed: true, forced: true, bypassed })
}
