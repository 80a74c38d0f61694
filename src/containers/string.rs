//! [`ShmString`]: a string of at most `N` bytes, inline, that a peer cannot break.

use core::fmt::{self, Write as _};
use core::mem;
use core::str::Utf8Error;

use super::{CapacityError, Length};
use crate::shm_safe::{fingerprint, ShmSafe, Zeroable};

/// A string of at most `N` bytes stored inline, safe to keep in shared memory.
///
/// `#[repr(C)]`: a 32-bit length (clamped to `N` on every read), then `N` bytes.
/// Another process may write any bytes, so the content is not trusted to be UTF-8:
/// there is no `&str` into shared memory (a peer could break the UTF-8 after the
/// check, and `str`'s methods would then read out of bounds). Reading copies:
/// [`get`](Self::get) copies the bytes into a local `heapless::String` and validates
/// the copy, [`get_lossy`](Self::get_lossy) replaces what is not UTF-8, and
/// [`as_bytes`](Self::as_bytes) gives the raw bytes. `Display` and `Debug` are lossy.
///
/// ```
/// use shmptr::ShmString;
///
/// let mut name = ShmString::<16>::try_from("sensor").unwrap();
/// name.push_str(".7").unwrap();
/// assert_eq!(name.get().unwrap(), "sensor.7");      // a local, validated copy
/// assert_eq!(name.as_bytes(), b"sensor.7");
/// assert!(name.push_str(" is far too long").is_err()); // unchanged when it does not fit
/// assert_eq!(name, "sensor.7");
/// name.set("other").unwrap();
/// assert_eq!(name.len(), 5);
/// assert_eq!(format!("{name}"), "other");
/// name.clear();
/// assert!(name.is_empty());
/// ```
#[repr(C)]
pub struct ShmString<const N: usize> {
    len: Length<N>,
    bytes: [u8; N],
}

impl<const N: usize> ShmString<N> {
    /// An empty string (all of its bytes zero).
    pub const fn new() -> Self {
        ShmString { len: Length::new(), bytes: [0; N] }
    }

    /// The length in bytes: the stored length clamped to `N`.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most bytes the string can hold: `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The bytes (of the clamped length); not necessarily UTF-8 if another process
    /// wrote them.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.len.get();
        &self.bytes[..len]
    }

    /// A local copy of the bytes: read from shared memory once, so that validating
    /// it means something.
    fn copy(&self) -> heapless::Vec<u8, N> {
        // Cannot fail: `as_bytes` is at most `N` bytes.
        heapless::Vec::from_slice(self.as_bytes()).unwrap_or_default()
    }

    /// A local copy of the string, if its bytes are UTF-8.
    ///
    /// The bytes are copied first and the copy is validated, so a peer that changes
    /// them meanwhile cannot make the result invalid.
    pub fn get(&self) -> Result<heapless::String<N>, Utf8Error> {
        heapless::String::from_utf8(self.copy())
    }

    /// A local copy of the string, with every sequence of bytes that is not UTF-8
    /// replaced by U+FFFD (`�`), as [`String::from_utf8_lossy`] does.
    ///
    /// U+FFFD takes three bytes: if the replacements make the result longer than `N`
    /// bytes, it ends with the last character that fits.
    ///
    /// [`String::from_utf8_lossy`]: https://doc.rust-lang.org/std/string/struct.String.html#method.from_utf8_lossy
    pub fn get_lossy(&self) -> heapless::String<N> {
        let mut out = heapless::String::new();
        // Stops at the first character that does not fit.
        let _ = write_lossy(&self.copy(), |s| {
            if out.push_str(s).is_err() {
                for c in s.chars() {
                    out.push(c).map_err(|_| fmt::Error)?;
                }
            }
            Ok(())
        });
        out
    }

    /// Replaces the content with `s`, if it fits; otherwise leaves the string unchanged.
    pub fn set(&mut self, s: &str) -> Result<(), CapacityError> {
        if s.len() > N {
            return Err(CapacityError::new(N));
        }
        self.bytes[..s.len()].copy_from_slice(s.as_bytes());
        self.len.set(s.len());
        Ok(())
    }

    /// Appends `s`, if it fits; otherwise leaves the string unchanged.
    pub fn push_str(&mut self, s: &str) -> Result<(), CapacityError> {
        let len = self.len.get();
        if s.len() > N - len {
            return Err(CapacityError::new(N));
        }
        self.bytes[len..len + s.len()].copy_from_slice(s.as_bytes());
        self.len.set(len + s.len());
        Ok(())
    }

    /// Appends `c`, if it fits; otherwise leaves the string unchanged.
    pub fn push(&mut self, c: char) -> Result<(), CapacityError> {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// Empties the string.
    pub fn clear(&mut self) {
        self.len.set(0);
    }
}

/// Writes `bytes` through `write`, with U+FFFD for each sequence that is not UTF-8.
fn write_lossy(bytes: &[u8], mut write: impl FnMut(&str) -> fmt::Result) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        write(chunk.valid())?;
        if !chunk.invalid().is_empty() {
            write("\u{FFFD}")?;
        }
    }
    Ok(())
}

// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: `#[repr(C)]`: an atomic length and `N` bytes. Every bit pattern is valid
// and safe: the length is clamped to `N` on every read, and the bytes are never
// trusted to be UTF-8 (never handed out as `&str`, validated after a copy). No
// pointers. The fingerprint records name, size, alignment and `N`.
unsafe impl<const N: usize> ShmSafe for ShmString<N> {
    const FINGERPRINT: u64 = fingerprint::word(
        fingerprint::start("shmptr::ShmString", mem::size_of::<Self>(), mem::align_of::<Self>()),
        N as u64,
    );
}
// a validity claim: see the SAFETY comment
#[allow(unsafe_code)]
// SAFETY: all-zero is the empty string.
unsafe impl<const N: usize> Zeroable for ShmString<N> {}

impl<const N: usize> Default for ShmString<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Clone for ShmString<N> {
    fn clone(&self) -> Self {
        let mut copy = Self::new();
        let len = self.len.get();
        copy.bytes[..len].copy_from_slice(&self.bytes[..len]);
        copy.len.set(len);
        copy
    }
}

impl<const N: usize> fmt::Display for ShmString<N> {
    /// Lossy: U+FFFD for each sequence that is not UTF-8.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_lossy(&self.copy(), |s| f.write_str(s))
    }
}

impl<const N: usize> fmt::Debug for ShmString<N> {
    /// Quoted and escaped like `str`'s, lossy like `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write_lossy(&self.copy(), |s| write!(f, "{}", s.escape_debug()))?;
        f.write_char('"')
    }
}

impl<const N: usize, const M: usize> PartialEq<ShmString<M>> for ShmString<N> {
    fn eq(&self, other: &ShmString<M>) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for ShmString<N> {}

impl<const N: usize> PartialEq<str> for ShmString<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for ShmString<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> TryFrom<&str> for ShmString<N> {
    type Error = CapacityError;

    /// Copies `s`, if it fits in `N` bytes.
    fn try_from(s: &str) -> Result<Self, CapacityError> {
        let mut string = Self::new();
        string.set(s)?;
        Ok(string)
    }
}

impl<const N: usize> From<&heapless::String<N>> for ShmString<N> {
    /// Copies a heapless string of the same capacity (it always fits).
    fn from(s: &heapless::String<N>) -> Self {
        let mut string = Self::new();
        // Cannot fail: at most `N` bytes.
        let _ = string.set(s);
        string
    }
}

impl<const N: usize> TryFrom<&ShmString<N>> for heapless::String<N> {
    type Error = Utf8Error;

    /// [`ShmString::get`]: a local copy, if the bytes are UTF-8.
    fn try_from(s: &ShmString<N>) -> Result<Self, Utf8Error> {
        s.get()
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // tests write bytes as a peer would
mod tests {
    use super::*;

    /// What a peer does: writes `len` into the length word, through a raw pointer.
    fn forge_len<const N: usize>(s: &mut ShmString<N>, len: u32) {
        let word = (s as *mut ShmString<N>).cast::<u8>().wrapping_add(mem::offset_of!(ShmString<N>, len));
        // SAFETY: the length word of a live, exclusively borrowed string, 4-aligned
        // (`repr(C)`, an `AtomicU32`); any u32 is a valid length.
        unsafe { word.cast::<u32>().write(len) };
    }

    /// What a peer does: writes `bytes` into the byte array, through a raw pointer.
    fn forge_bytes<const N: usize>(s: &mut ShmString<N>, bytes: &[u8]) {
        assert!(bytes.len() <= N);
        let start = (s as *mut ShmString<N>).cast::<u8>().wrapping_add(mem::offset_of!(ShmString<N>, bytes));
        // SAFETY: at most `N` bytes into the `N`-byte array of a live, exclusively
        // borrowed string; any byte is valid there.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len()) };
    }

    #[test]
    fn a_forged_length_is_clamped_to_the_capacity() {
        let mut s = ShmString::<4>::try_from("ab").unwrap();
        forge_len(&mut s, u32::MAX);
        assert_eq!(s.len(), 4);
        assert_eq!(s.as_bytes(), b"ab\0\0");
        assert_eq!(s.get().unwrap(), "ab\0\0");
        assert_eq!(s.push_str("c"), Err(CapacityError::new(4)));
        assert_eq!(s.push('c'), Err(CapacityError::new(4)));
        s.set("xyz").unwrap();
        assert_eq!(s, "xyz");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_or_replaced_never_trusted() {
        let mut s = ShmString::<12>::try_from("héllo").unwrap();
        // Cut "é" (0xC3 0xA9) in half, then add a stray continuation byte.
        forge_bytes(&mut s, &[b'h', 0xC3, b'x', 0xA9, b'o']);
        forge_len(&mut s, 5);
        let error = s.get().unwrap_err();
        assert_eq!(error.valid_up_to(), 1);
        assert_eq!(s.get_lossy(), "h\u{FFFD}x\u{FFFD}o");
        assert_eq!(format!("{s}"), "h\u{FFFD}x\u{FFFD}o");
        assert_eq!(format!("{s:?}"), "\"h\u{FFFD}x\u{FFFD}o\"");
        assert_eq!(heapless::String::try_from(&s), Err(error));
    }

    #[test]
    fn a_lossy_copy_that_grows_past_the_capacity_ends_with_the_last_character_that_fits() {
        let mut s = ShmString::<4>::new();
        forge_bytes(&mut s, &[0xFF, b'a', 0xFF, b'b']);
        forge_len(&mut s, 4);
        // U+FFFD is 3 bytes: "\u{FFFD}a" is 4, the next one does not fit.
        assert_eq!(s.get_lossy(), "\u{FFFD}a");
        assert_eq!(format!("{s}"), "\u{FFFD}a\u{FFFD}b", "Display has no capacity limit");
    }

    #[test]
    fn any_bytes_are_a_valid_string() {
        for byte in [0x00, 0x41, 0x7f, 0x80, 0xc3, 0xff] {
            let mut s = ShmString::<5>::new();
            // SAFETY: writes bytes over a live `ShmString<5>`, whose every bit pattern
            // is valid (the claim under test); a peer can do the same.
            unsafe { core::ptr::write_bytes(&mut s as *mut ShmString<5>, byte, 1) };
            assert!(s.len() <= 5);
            let _ = (s.get(), s.get_lossy(), format!("{s} {s:?}"), s.clone());
            s.clear();
            s.push_str("ok").unwrap();
            assert_eq!(s.get().unwrap(), "ok");
        }
    }

    #[test]
    fn zero_capacity_and_full_strings() {
        let mut empty = ShmString::<0>::new();
        forge_len(&mut empty, 7);
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.push('a'), Err(CapacityError::new(0)));
        assert_eq!(empty.get().unwrap(), "");
        assert!(empty.set("").is_ok());

        let mut full = ShmString::<3>::try_from("abc").unwrap();
        assert_eq!(full.push_str(""), Ok(()));
        assert_eq!(full.push('d'), Err(CapacityError::new(3)));
        assert_eq!(full.set("abcd"), Err(CapacityError::new(3)));
        assert_eq!(full, "abc", "unchanged");
        assert!(ShmString::<3>::try_from("é").is_ok());
        assert!(ShmString::<1>::try_from("é").is_err());
    }

    #[test]
    fn converts_to_and_from_heapless() {
        let local = heapless::String::<8>::try_from("ünï").unwrap();
        let shared = ShmString::from(&local);
        assert_eq!(shared.len(), local.len());
        assert_eq!(heapless::String::try_from(&shared).unwrap(), local);
        assert_eq!(shared.clone(), shared);
        assert_eq!(ShmString::<8>::default(), ShmString::<2>::new());
    }

    #[test]
    fn the_capacity_is_part_of_the_fingerprint() {
        assert_ne!(<ShmString<8> as ShmSafe>::FINGERPRINT, <ShmString<9> as ShmSafe>::FINGERPRINT);
        let s: ShmString<8> = crate::shm_safe::zeroed();
        assert!(s.is_empty());
    }
}
