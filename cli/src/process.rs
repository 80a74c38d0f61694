//! Processes named in an object: their pid, and their command name from `/proc`.

use shmptr::ProcessId;

/// Bits of a Linux process identity that hold the pid: `shmptr-linux` packs the pid
/// in the low 22 bits (Linux's `PID_MAX_LIMIT`), then the pid namespace (29 bits),
/// then the start time (12 bits); see `backends/linux/src/identity.rs`. A pid field
/// of 0 marks an identity its process could not complete (no `/proc`): no pid.
const PID_BITS: u32 = 22;

/// The pid in the Linux identity `id`, if it has one.
pub fn pid(id: ProcessId) -> Option<u32> {
    let pid = (id.get() & ((1 << PID_BITS) - 1)) as u32;
    (pid != 0).then_some(pid)
}

/// The command name of the process `pid` (`/proc/<pid>/comm`), if readable.
pub fn command(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim_end_matches('\n');
    (!comm.is_empty()).then(|| comm.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_is_the_low_22_bits_of_an_identity() {
        // The identity of FORMAT.md's worked example: pid 0x7173.
        assert_eq!(pid(ProcessId::new(0x07a4_0000_0000_7173).unwrap()), Some(0x7173));
        // An incomplete identity (pid field 0) has no pid.
        assert_eq!(pid(ProcessId::new(5 << PID_BITS).unwrap()), None);
    }

    #[test]
    fn this_process_has_a_command_name() {
        assert!(command(std::process::id()).is_some());
    }
}
