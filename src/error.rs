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
    /// The name is not 1..=200 bytes of `[A-Za-z0-9._-]` or starts with `.`.
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
    /// The object is owned by a live process (a `Unique` that is not released).
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
            ErrorKind::InvalidName => "the name is not 1 to 200 bytes of [A-Za-z0-9._-] not starting with '.'",
            ErrorKind::AlreadyExists => "an object with this name already exists",
            ErrorKind::NotFound => "no object with this name exists (or it is being destroyed)",
            ErrorKind::TypeMismatch => "the object holds another type or is of the other kind (Unique/Shared)",
            ErrorKind::Corrupt => "the object's bytes are not a valid shmptr segment",
            ErrorKind::Abandoned => "the object's creator died before finishing it",
            ErrorKind::Busy => "the object is owned by a live process",
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
            ErrorKind::Busy => "wait until its owner releases it, or until the owner exits",
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

/// The error of every shmptr operation: a kind, the operation that failed and, for
/// OS failures, the raw error code. It is `Copy` and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    during: &'static str,
    os_code: i32,
}

impl Error {
    /// An error of `kind` raised while doing `during` (a short phrase such as
    /// `"opening the segment"`).
    pub const fn new(kind: ErrorKind, during: &'static str) -> Self {
        Error { kind, during, os_code: 0 }
    }

    /// An error carrying the OS error code `code` (an errno value).
    pub const fn with_os_code(kind: ErrorKind, during: &'static str, code: i32) -> Self {
        Error { kind, during, os_code: code }
    }

    /// What went wrong.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What the operation was doing when it failed.
    pub const fn during(&self) -> &'static str {
        self.during
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
        d.field("kind", &self.kind).field("during", &self.during);
        if let Some(code) = self.os_code() {
            d.field("os_code", &code);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} while {}", self.kind.description(), self.during)?;
        if let Some(code) = self.os_code() {
            write!(f, " (OS error {code})")?;
        }
        write!(f, "; {}.", self.kind.advice())
    }
}

impl core::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
