//! Errors: one concrete, allocation-free error type with a matchable kind.

use core::fmt;

/// What went wrong, in a form generic code can match on.
///
/// Backends keep their detail (the OS error code, which call failed) in [`Error`];
/// the kind is what callers branch on.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
// Four bytes, beside `Error`'s `i32`: `Error` then has no padding. A `Result<T,
// Error>` whose `Ok` bytes overlap padding of the `Err` is copied in pieces around
// it, which cost `examples/constrained` over 500 bytes of code. (Layout only: the
// discriminants' values are not part of the API.)
#[repr(u32)]
pub enum ErrorKind {
    /// The name is not 1..=192 bytes of `[A-Za-z0-9._-]` or starts with `.`.
    InvalidName,
    /// An object with this name already exists.
    AlreadyExists,
    /// No object with this name exists, or it is being destroyed.
    NotFound,
    /// The object exists but holds another type, or is of the other kind
    /// (`Unique` opened as `Shared` or the reverse).
    TypeMismatch,
    /// The object's bytes are not a valid segment: wrong magic, bad checksum,
    /// impossible lengths, or a file too small for what it claims.
    Corrupt,
    /// The object's creator died before finishing initialisation.
    Abandoned,
    /// A live process has the object: it owns it (a `Unique` that is not
    /// released), holds it where that excludes the caller, or is destroying it.
    Busy,
    /// A bounded wait ran out.
    Timeout,
    /// The OS refused access, or the object belongs to another user.
    PermissionDenied,
    /// The object's holder table is full.
    TooManyProcesses,
    /// The backend has no memory (or no space) left for the object.
    OutOfMemory,
    /// A mutex's owner died while holding it; the data may be inconsistent.
    OwnerDied,
    /// A mutex whose owner died was never made consistent; it is unusable for good.
    NotRecoverable,
    /// The request is outside what the object or backend supports (for example a
    /// value larger than the backend can map).
    Unsupported,
    /// Any other error from the operating system; [`Error::os_code`] has the code.
    Os,
    /// The calling thread already holds the mutex: waiting would never end.
    Deadlock,
}

impl ErrorKind {
    /// A sentence saying what this kind means.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorKind::InvalidName => "the name is not 1 to 192 bytes of [A-Za-z0-9._-] not starting with '.'",
            ErrorKind::AlreadyExists => "an object with this name already exists",
            ErrorKind::NotFound => "no object with this name exists (or it is being destroyed)",
            ErrorKind::TypeMismatch => "the object holds another type or is of the other kind (Unique/Shared)",
            ErrorKind::Corrupt => "the object's bytes are not a valid shmptr segment",
            ErrorKind::Abandoned => "the object's creator died before finishing it",
            ErrorKind::Busy => "a live process has the object (owns, holds or destroys it)",
            ErrorKind::Timeout => "a bounded wait ran out",
            ErrorKind::PermissionDenied => "access was refused",
            ErrorKind::TooManyProcesses => "the object's holder table is full",
            ErrorKind::OutOfMemory => "there is not enough memory for the object",
            ErrorKind::OwnerDied => "the mutex's owner died while holding it",
            ErrorKind::NotRecoverable => "the mutex's owner died and it was never made consistent",
            ErrorKind::Unsupported => "the request is outside what the object or backend supports",
            ErrorKind::Os => "the operating system reported an error",
            ErrorKind::Deadlock => "the calling thread already holds the mutex",
        }
    }

    /// A sentence saying what the caller can do about it.
    pub const fn advice(self) -> &'static str {
        match self {
            ErrorKind::InvalidName => "use a plain name such as \"app.counter\"",
            ErrorKind::AlreadyExists => "open it instead, or pick another name",
            ErrorKind::NotFound => "create it first, or check the name",
            ErrorKind::TypeMismatch => "open it with the type and kind it was created with",
            ErrorKind::Corrupt => "do not trust it; remove it once no process uses it",
            ErrorKind::Abandoned => "use open_or_create or reclaim to replace it",
            ErrorKind::Busy => "wait until that process lets it go or exits",
            ErrorKind::Timeout => "retry, or raise the timeout",
            ErrorKind::PermissionDenied => "check the object's owner and mode, or opt in to foreign owners",
            ErrorKind::TooManyProcesses => "create the object with more slots, or close handles in other processes",
            ErrorKind::OutOfMemory => "free memory or shrink the object",
            ErrorKind::OwnerDied => "repair the data through the guard, then call MutexGuard::make_consistent",
            ErrorKind::NotRecoverable => "destroy the object and create it anew",
            ErrorKind::Unsupported => "shrink the request",
            ErrorKind::Os => "see the OS error code",
            ErrorKind::Deadlock => "use the guard you hold, or drop it before locking again",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The error of every shmptr operation: a kind, the operation that failed, for
/// OS failures the raw error code, and for a [`TypeMismatch`](ErrorKind::TypeMismatch)
/// the value sizes expected and found. It is `Copy` and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error {
    detail: Detail,
    kind: ErrorKind,
    os_code: i32,
}

/// What an [`Error`] says beyond its kind. The sizes share the bytes of the phrase
/// (the enum is as large as a `&str`: its null pointer tells them apart), so that
/// `Error` stays 24 bytes: eight bytes more per `Error` cost `examples/constrained`
/// about 300 bytes of code in stores and copies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    During(&'static str),
    /// A type mismatch found in a header: the value sizes expected and found, each
    /// saturated to `u32::MAX` ("4 GiB or more").
    Sizes {
        expected: u32,
        found: u32,
    },
}

// On 64-bit targets; a 32-bit one has no room for the sizes beside the null
// pointer, and pays four bytes.
#[cfg(target_pointer_width = "64")]
static_assertions::assert_eq_size!(Error, [u64; 3]);

impl Error {
    /// An error of `kind` raised while doing `during` (a short phrase such as
    /// `"opening the segment"`).
    pub const fn new(kind: ErrorKind, during: &'static str) -> Self {
        Error { detail: Detail::During(during), kind, os_code: 0 }
    }

    /// An error carrying the OS error code `code` (an errno value).
    pub const fn with_os_code(kind: ErrorKind, during: &'static str, code: i32) -> Self {
        Error { detail: Detail::During(during), kind, os_code: code }
    }

    /// A [`TypeMismatch`](ErrorKind::TypeMismatch) found while checking an object's
    /// type: the caller asked for a value of `expected` bytes, and the object holds
    /// one of `found` bytes (equal sizes: another type of the same size, or the other
    /// kind of object). Sizes above `u32::MAX` are kept as `u32::MAX`.
    pub const fn type_mismatch(expected: u64, found: u64) -> Self {
        const fn saturate(size: u64) -> u32 {
            if size > u32::MAX as u64 {
                u32::MAX
            } else {
                size as u32
            }
        }
        let detail = Detail::Sizes { expected: saturate(expected), found: saturate(found) };
        Error { detail, kind: ErrorKind::TypeMismatch, os_code: 0 }
    }

    /// For a [`TypeMismatch`](ErrorKind::TypeMismatch) found in an object's header,
    /// the value sizes `(expected, found)` in bytes, each at most `u32::MAX` (which
    /// stands for "4 GiB or more"); `None` for any other error.
    ///
    /// ```
    /// use shmptr::ErrorKind;
    /// use shmptr_arena::Shared;
    /// let _made = Shared::<u64>::create("mismatch.sizes", 7)?;
    /// let error = Shared::<[u64; 4]>::open("mismatch.sizes").unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::TypeMismatch);
    /// assert_eq!(error.sizes(), Some((32, 8)));
    /// assert!(error.to_string().contains("expected a value of 32 bytes, found 8 bytes"), "{error}");
    /// # Ok::<(), shmptr::Error>(())
    /// ```
    pub const fn sizes(&self) -> Option<(u64, u64)> {
        match self.detail {
            Detail::Sizes { expected, found } => Some((expected as u64, found as u64)),
            Detail::During(_) => None,
        }
    }

    /// What went wrong.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What the operation was doing when it failed.
    pub const fn during(&self) -> &'static str {
        match self.detail {
            Detail::During(during) => during,
            Detail::Sizes { .. } => "checking the object's type",
        }
    }

    /// The OS error code (errno), if the OS reported this error.
    pub const fn os_code(&self) -> Option<i32> {
        if self.os_code == 0 {
            None
        } else {
            Some(self.os_code)
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("during", &self.during());
        if let Some(code) = self.os_code() {
            d.field("os_code", &code);
        }
        if let Some((expected, found)) = self.sizes() {
            d.field("expected_size", &expected).field("found_size", &found);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} while {}", self.kind.description(), self.during())?;
        if let Some(code) = self.os_code() {
            write!(f, " (OS error {code})")?;
        }
        match self.sizes() {
            Some((expected, found)) if expected == found => write!(
                f,
                " (expected a value of {}, found one of that size but another type or kind)",
                Bytes(expected)
            )?,
            Some((expected, found)) => write!(f, " (expected a value of {}, found {})", Bytes(expected), Bytes(found))?,
            None => {}
        }
        write!(f, "; {}.", self.kind.advice())
    }
}

impl core::error::Error for Error {}

/// A size from [`Error::sizes`], where `u32::MAX` stands for "4 GiB or more".
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u32::MAX as u64 {
            f.write_str("4 GiB or more")
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
