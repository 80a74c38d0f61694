//! Processes named in an object: their pid, and their command name from `/proc`.

pub use shmptr_linux::pid;

/// The command name of the process `pid` (`/proc/<pid>/comm`), if readable.
pub fn command(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim_end_matches('\n');
    (!comm.is_empty()).then(|| comm.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmptr::ProcessId;

    #[test]
    fn the_pid_is_the_low_22_bits_of_an_identity() {
        // The identity of FORMAT.md's worked example: pid 0x7173.
        assert_eq!(pid(ProcessId::new(0x07a4_0000_0000_7173).unwrap()), Some(0x7173));
        // An incomplete identity (pid field 0, the low 22 bits) has no pid.
        assert_eq!(pid(ProcessId::new(5 << 22).unwrap()), None);
    }

    #[test]
    fn this_process_has_a_command_name() {
        assert!(command(std::process::id()).is_some());
    }
}
