//! The uncommon settings of create and open.

use core::time::Duration;

/// The uncommon settings of create and open; [`Options::DEFAULT`] fits most uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Permission bits of a created object (Linux: the file mode). Default `0o600`:
    /// only the creating user may open it.
    pub mode: u32,
    /// How many attachments (one per `create`/`open`, shared by its clones) a
    /// `Shared` object can hold at once, 1..=64. Default 64.
    pub slots: u32,
    /// How long `open` waits for an object that is still being initialised.
    /// Default 2 s.
    pub timeout: Duration,
    /// Whether to open objects owned by another user. Default `false`: such an
    /// object is `PermissionDenied`, since its owner can change it under you.
    pub allow_foreign_owner: bool,
}

impl Options {
    /// The defaults: mode `0o600`, 64 slots, 2 s timeout, own objects only.
    pub const DEFAULT: Options = Options {
        mode: 0o600,
        slots: crate::segment::MAX_SLOTS,
        timeout: Duration::from_secs(2),
        allow_foreign_owner: false,
    };
}

impl Default for Options {
    fn default() -> Self {
        Self::DEFAULT
    }
}
