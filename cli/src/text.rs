//! The text output: renders the reports of `report.rs`, fact for fact.

use std::fmt::Write as _;

use crate::report::{Listing, ObjectReport, OwnerBrief, OwnerReport, Process, Reclaim, ReclaimAll, Removal};

/// `s` with every character a terminal could act on escaped as Rust writes it
/// (`\n`, `\u{1b}`, `\u{202e}`: control, format and other non-printable
/// characters), and `\` as `\\`, so that a name a peer chose (or a command
/// name it set) can neither send escape sequences nor forge lines. Quotes and
/// other printable characters stay. JSON output is never escaped this way.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\'' => out.push(c),
            c => out.extend(c.escape_debug()),
        }
    }
    out
}

/// How many characters of a name `shmptr ls` shows (escaped): a longer one is cut
/// to this with `…` at the end, so that one name cannot push the other columns
/// off the screen. `shmptr inspect` and `--json` show every name in full.
pub const NAME_COLUMN: usize = 64;

/// `name` escaped, and cut to [`NAME_COLUMN`] characters.
fn name_cell(name: &str) -> String {
    let escaped = escape(name);
    if escaped.chars().count() <= NAME_COLUMN {
        return escaped;
    }
    let mut cut: String = escaped.chars().take(NAME_COLUMN - 1).collect();
    cut.push('…');
    cut
}

/// Columns separated by two spaces, each as wide as its widest cell (the last one
/// unpadded), every line starting with `indent`.
fn table(indent: &str, rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A pid, or `?` for an identity without one.
fn pid(pid: Option<u32>) -> String {
    pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
}

/// A pid cell: the pid, `? ` for an identity without one, and a note when the
/// pid is another pid namespace's (it names no process here).
fn pid_of(p: &Process) -> String {
    match p.pid_namespace {
        "other" => format!("{} (another pid namespace)", pid(p.pid)),
        _ => pid(p.pid),
    }
}

/// `1234 (dead)`, `1234 (alive, sleep)`, `? (unknown)` for an identity without
/// pid, `1 (unknown, another pid namespace)` for a pid of another namespace.
pub fn process(p: &Process) -> String {
    let pid = pid(p.pid);
    match (&p.command, p.pid_namespace) {
        (_, "other") => format!("{pid} ({}, another pid namespace)", p.liveness),
        (Some(command), _) => format!("{pid} ({}, {})", p.liveness, escape(command)),
        (None, _) => format!("{pid} ({})", p.liveness),
    }
}

fn owner_brief(owner: Option<&OwnerBrief>) -> String {
    match owner {
        None => "-".to_owned(),
        Some(OwnerBrief { released: true, .. }) => "released".to_owned(),
        Some(OwnerBrief { pid, liveness, pid_namespace, .. }) => match pid_namespace {
            Some("other") => format!("{} ({}, another pid namespace)", self::pid(*pid), liveness.unwrap_or("unknown")),
            _ => format!("{} ({})", self::pid(*pid), liveness.unwrap_or("unknown")),
        },
    }
}

/// `shmptr ls`'s VALUE cell: `8 B` for one value; for a slice, with its element
/// count and size, `12 B (3 × 4 B)` (`0 B (0 elements)` when empty).
fn value_brief(size: u64, length: Option<u64>, element_size: Option<u64>) -> String {
    match (length, element_size) {
        (None, _) => format!("{size} B"),
        (Some(n), Some(each)) => format!("{size} B ({n} × {each} B)"),
        (Some(n), None) => format!("{size} B ({})", plural(n, "element", "elements")),
    }
}

/// `shmptr inspect`'s value line: `8 bytes, align 64` for one value;
/// `[3 elements × 4 bytes] = 12 bytes, align 64` for a slice (`[0 elements] = 0
/// bytes, align 64` when empty).
fn value_line(o: &ObjectReport) -> String {
    let elements = |n: u64| plural(n, "element", "elements");
    match (o.length, o.element_size) {
        (None, _) => format!("{} bytes, align {}", o.value_size, o.value_align),
        (Some(n), Some(each)) => {
            format!(
                "[{} × {}] = {} bytes, align {}",
                elements(n),
                plural(each, "byte", "bytes"),
                o.value_size,
                o.value_align
            )
        }
        (Some(n), None) => format!("[{}] = {} bytes, align {}", elements(n), o.value_size, o.value_align),
    }
}

/// `shmptr ls`: a header line and one row per entry; an entry that is not a
/// shmptr object shows `-` and, last, why.
pub fn listing(listing: &Listing) -> String {
    let mut rows =
        vec![["NAME", "KIND", "STATE", "VALUE", "HOLDERS", "OWNER", "MODE", "UID", "NOTE"].map(str::to_owned).to_vec()];
    // NOTE (why an entry is not shown as an object) only when some entry has one.
    let notes = listing.objects.iter().any(|row| row.error.is_some());
    if !notes {
        rows[0].pop();
    }
    for row in &listing.objects {
        let holders = match (row.holders_live, row.holders_dead) {
            (Some(live), Some(dead)) => format!("{live} live, {dead} dead"),
            _ => "-".to_owned(),
        };
        rows.push(vec![
            name_cell(&row.name),
            or_dash(row.kind),
            or_dash(row.state),
            or_dash(row.value_size.map(|s| value_brief(s, row.length, row.element_size))),
            holders,
            owner_brief(row.owner.as_ref()),
            or_dash(row.mode.as_ref()),
            or_dash(row.uid),
        ]);
        if notes {
            let note = row.error.as_ref().map_or_else(String::new, |e| format!("{}: {}", e.kind, escape(&e.message)));
            rows.last_mut().expect("just pushed").push(note);
        }
    }
    table("", &rows)
}

fn owner(owner: Option<&OwnerReport>) -> String {
    match owner {
        None => "- (a shared object has no owner)".to_owned(),
        Some(OwnerReport { released: true, .. }) => "released (parked for a claim)".to_owned(),
        Some(OwnerReport { process: Some(p), .. }) => format!("pid {}, identity {}", process(p), p.identity),
        Some(OwnerReport { process: None, .. }) => "unknown".to_owned(),
    }
}

/// `shmptr inspect NAME`: one fact a line, then the holders, one a line.
pub fn object(o: &ObjectReport) -> String {
    let path = escape(&crate::report::path(&o.name));
    let file = match &o.file {
        Some(f) => format!("{path}, mode {}, uid {}, {} bytes", f.mode, f.uid, f.size),
        None => format!("{path} (gone)"),
    };
    let named = |p: Option<&Process>| match p {
        Some(p) => format!("pid {}, identity {}", process(p), p.identity),
        None => "-".to_owned(),
    };
    let holders = format!("{} ({} live, {} dead)", o.holders.len(), o.holders_live, o.holders_dead);
    let mut out = table(
        "",
        &[
            vec!["name".into(), escape(&o.name)],
            vec!["kind".into(), o.kind.into()],
            vec!["state".into(), o.state.into()],
            vec!["format version".into(), o.format_version.to_string()],
            vec!["value".into(), value_line(o)],
            vec![
                "fingerprint".into(),
                match o.length {
                    Some(_) => format!("{} (the element type's)", o.fingerprint),
                    None => o.fingerprint.clone(),
                },
            ],
            vec!["total length".into(), format!("{} bytes", o.total_len)],
            vec!["file".into(), file],
            vec!["creator".into(), named(o.creator.as_ref())],
            vec!["slot capacity".into(), o.slot_capacity.to_string()],
            vec!["owner".into(), owner(o.owner.as_ref())],
            vec!["destroyer".into(), named(o.destroyer.as_ref())],
            vec!["holders".into(), holders],
        ],
    );
    if !o.holders.is_empty() {
        let mut rows = vec![["SLOT", "PID", "COMMAND", "LIVENESS", "HANDLES", "MEMBER", "RECLAIMING", "IDENTITY"]
            .map(str::to_owned)
            .to_vec()];
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        for h in &o.holders {
            rows.push(vec![
                h.slot.to_string(),
                pid_of(&h.process),
                or_dash(h.process.command.as_deref().map(escape)),
                h.process.liveness.to_owned(),
                h.handles.to_string(),
                yes_no(h.member),
                yes_no(h.reclaiming),
                h.process.identity.clone(),
            ]);
        }
        out.push_str(&table("  ", &rows));
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line for one object's reclaim.
pub fn reclaim(r: &Reclaim) -> String {
    let what = match (&r.error, r.skipped) {
        (Some(e), true) => format!("skipped: {}", escape(&e.message)),
        (Some(e), false) => format!("failed: {}", escape(&e.message)),
        (None, _) if r.destroyed && r.holders_reclaimed == 0 => {
            // A creator, owner or destroyer that died before it finished.
            "removed the object, which a dead process left behind (its value's drop did not run, or not to the end)"
                .to_owned()
        }
        (None, _) if r.destroyed => format!(
            "reclaimed {}; removed the object, which no live process held (its value's drop did not run)",
            plural(r.holders_reclaimed.into(), "dead holder", "dead holders")
        ),
        (None, _) if r.holders_reclaimed > 0 => {
            format!("reclaimed {}", plural(r.holders_reclaimed.into(), "dead holder", "dead holders"))
        }
        (None, _) => "nothing to reclaim".to_owned(),
    };
    format!("{}: {what}\n", escape(&r.name))
}

/// `shmptr reclaim --all`: a line per object, then the totals.
pub fn reclaim_all(all: &ReclaimAll) -> String {
    let mut out: String = all.objects.iter().map(reclaim).collect();
    let _ = writeln!(
        out,
        "reclaimed {} and removed {} of {} checked ({} skipped, {} failed)",
        plural(all.holders_reclaimed, "dead holder", "dead holders"),
        plural(all.destroyed, "object", "objects"),
        all.objects.len(),
        all.skipped,
        all.failed
    );
    out
}

/// `shmptr rm NAME`.
pub fn removal(r: &Removal) -> String {
    let name = escape(&r.name);
    if !r.forced {
        return format!("{name}: removed\n");
    }
    let mut out = format!("{name}: removed by force (unlinked); bypassed:\n");
    for what in &r.bypassed {
        let _ = writeln!(out, "  {}", escape(what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_every_column_but_the_last() {
        let rows =
            vec![vec!["A".to_owned(), "BB".to_owned(), "C".to_owned()], vec!["aaa".into(), "b".into(), "".into()]];
        assert_eq!(table("", &rows), "A    BB  C\naaa  b\n");
    }

    #[test]
    fn a_slices_value_cell_shows_its_element_count_and_size() {
        assert_eq!(value_brief(8, None, None), "8 B");
        assert_eq!(value_brief(12, Some(3), Some(4)), "12 B (3 × 4 B)");
        assert_eq!(value_brief(0, Some(0), None), "0 B (0 elements)");
    }
}
