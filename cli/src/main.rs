//! `shmptr`: list, inspect, reclaim and remove shmptr objects in `/dev/shm`.
//!
//! Every command reads an object's header as untrusted input (through
//! `shmptr_linux::inspect`, `list`, `reclaim` and `remove`): a corrupt or foreign
//! file is reported, never written. `--json` prints the same facts as the text
//! output, with the field names documented in the README ("Operating shmptr").
//!
//! Exit status: 0 on success, 1 on an error (one line on standard error naming
//! the object), 2 on bad usage.

mod commands;
mod process;
mod report;
mod text;
mod worker;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use commands::Refusal;

const EXAMPLES: &str = "\
Examples:
  shmptr ls                      shmptr objects in /dev/shm: kind, state, holders live/dead
  shmptr ls --all app.           also other files, only names starting with \"app.\"
  shmptr inspect app.counter     every fact of one object, a holder a line
  shmptr reclaim app.counter     free dead holders' slots; remove it if none is left alive
  shmptr reclaim --all           the same for every object
  shmptr rm app.counter          remove it, unless a live process holds it
  shmptr rm --force app.counter  unlink it even so, and say what was bypassed
  shmptr --json ls | jq '.objects[].name'

Exit status: 0 on success, 1 on an error (one line on standard error naming the
object), 2 on bad usage. JSON field names are listed in the README, section
\"Operating shmptr\".";

/// Operate shmptr objects: list, inspect, reclaim and remove what processes left
/// in /dev/shm.
#[derive(Parser, Debug)]
#[command(name = "shmptr", version, after_help = EXAMPLES, arg_required_else_help = true)]
struct Cli {
    /// Print JSON (the same facts as the text, stable field names) instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the shmptr objects in /dev/shm, one row each.
    ///
    /// Columns: name, kind (shared/unique), state, value size (a slice's with
    /// its element count and size: "12 B (3 × 4 B)"), holders (live counts
    /// "unknown" too: shmptr never reclaims what it cannot prove dead), a unique
    /// object's owner, the file's mode and owner uid. Files that are not
    /// shmptr objects are listed only with --all, with the reason in NOTE.
    #[command(after_help = "Examples:\n  shmptr ls\n  shmptr ls --all\n  shmptr ls --json app.")]
    Ls {
        /// Also list files that are not shmptr objects (never opened for write).
        #[arg(long)]
        all: bool,
        /// Only names that start with PREFIX.
        prefix: Option<String>,
    },
    /// Show everything the header of one object says, holders one a line.
    ///
    /// A slice (Shared<[T]>, Unique<[T]>) shows its element count and size
    /// ("[3 elements × 4 bytes] = 12 bytes"); its fingerprint is the element
    /// type's. A holder's command name comes from /proc/PID/comm, read only for a
    /// process judged alive.
    #[command(after_help = "Examples:\n  shmptr inspect app.counter\n  shmptr inspect --json app.counter")]
    Inspect {
        /// The object's name (the file /dev/shm/NAME).
        name: String,
    },
    /// Free the slots of holders proven dead; remove objects no live process holds.
    ///
    /// An object whose holders are all dead, or whose creator died before finishing
    /// it, is removed without running its value's drop. A holder whose liveness is
    /// unknown counts as alive.
    #[command(after_help = "Examples:\n  shmptr reclaim app.counter\n  shmptr reclaim --all --json")]
    Reclaim {
        /// The object's name.
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        /// Every shmptr object in /dev/shm (other users' objects are skipped).
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Remove an object that no live process holds or owns.
    #[command(after_help = "Examples:\n  shmptr rm app.counter\n  shmptr rm --force app.counter")]
    Rm {
        /// The object's name.
        name: String,
        /// Unlink the file even if a live holder or owner has it (or it is not a
        /// shmptr object), and say what was bypassed. Processes that have it mapped
        /// keep their mapping, but nobody can open it by name any more.
        #[arg(long)]
        force: bool,
    },
    /// Internal: reclaims or removes one object and prints the outcome as JSON
    /// (`reclaim` and `rm` run each object in such a child process, so that a
    /// SIGBUS kills only the child).
    #[command(name = worker::SUBCOMMAND, hide = true)]
    Worker { op: worker::Op, name: String },
}

/// Writes the report as JSON or as its text rendering.
fn print<R: Serialize>(json: bool, report: &R, render: impl FnOnce(&R) -> String) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
    } else {
        out.write_all(render(report).as_bytes())?;
    }
    out.flush()
}

fn run(cli: &Cli) -> Result<(), Refusal> {
    let json = cli.json;
    let printed = match &cli.command {
        Command::Ls { all, prefix } => print(json, &commands::ls(*all, prefix.as_deref())?, text::listing),
        Command::Inspect { name } => print(json, &commands::inspect(name)?, text::object),
        Command::Reclaim { name: Some(name), .. } => print(json, &commands::reclaim(name)?, text::reclaim),
        Command::Reclaim { name: None, .. } => {
            let all = commands::reclaim_all()?;
            print(json, &all, text::reclaim_all).or_else(ignore_broken_pipe).map_err(write_refusal)?;
            let mut failed = all.objects.iter().filter(|o| o.error.is_some() && !o.skipped);
            return match failed.next() {
                None => Ok(()),
                Some(first) => Err(Refusal {
                    action: "reclaim",
                    name: first.name.clone(),
                    why: format!(
                        "{} ({} object(s) failed in all)",
                        first.error.as_ref().map_or("", |e| e.message.as_str()),
                        all.failed
                    ),
                }),
            };
        }
        Command::Rm { name, force } => print(json, &commands::rm(name, *force)?, text::removal),
        Command::Worker { .. } => unreachable!("main serves the worker"),
    };
    printed.or_else(ignore_broken_pipe).map_err(write_refusal)
}

/// A reader that stopped early (`shmptr ls | head`) is not an error.
fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

fn write_refusal(e: io::Error) -> Refusal {
    Refusal { action: "write", name: "standard output".to_owned(), why: e.to_string() }
}

fn main() -> ExitCode {
    // Bad usage: clap prints the problem and exits with status 2 (0 for --help).
    let cli = Cli::parse();
    if let Command::Worker { op, name } = &cli.command {
        return worker::serve(*op, name);
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(refusal) => {
            eprintln!("shmptr: {refusal}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
