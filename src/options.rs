//! The uncommon settings of create and open: one builder for `Shared` and
//! `Unique`, like `std::fs::OpenOptions`.

use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use crate::segment::MAX_SLOTS;

/// What a [`Backend`](crate::Backend) receives when it creates or opens an object:
/// who may open it, and whose objects this process accepts. The settings only the
/// core uses (slot count, timeout) stay in [`Options`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Permission bits of a created object (Linux: the file mode, masked with
    /// `0o777`). Default `0o600`: only the creating user may open it.
    pub mode: u32,
    /// Whether to open objects owned by another user. Default `false`: such an
    /// object is `PermissionDenied`, since its owner can change it under you.
    pub allow_foreign_owner: bool,
}

impl Access {
    /// Mode `0o600`, own objects only.
    pub const DEFAULT: Access = Access { mode: 0o600, allow_foreign_owner: false };
}

impl Default for Access {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Settings for creating, opening or claiming an object of handle type `H`
/// ([`Shared`](crate::Shared) or [`Unique`](crate::Unique)); made by
/// `Shared::<T>::options()` or `Unique::<T>::options()`, ended by the same
/// constructors the handle type has (`create`, `open`, `claim`, ...).
///
/// ```
/// # shmptr_arena::arena_space!(Space, 64 * 1024);
/// use shmptr_arena::Shared;
/// let counter = Shared::<u64, Space>::options()
///     .mode(0o640)                                  // group may read and write
///     .slots(8)                                     // at most 8 attachments
///     .timeout(core::time::Duration::from_millis(100))
///     .create("counter", 0)?;
/// # Ok::<(), shmptr::Error>(())
/// ```
#[must_use = "options do nothing until a constructor (create, open, claim...) is called"]
pub struct Options<H> {
    pub(crate) access: Access,
    /// How many attachments a `Shared` object holds at once (`Shared` only).
    pub(crate) slots: u32,
    /// How long `open` (and `claim`) wait for an object still being initialised.
    pub(crate) timeout: Duration,
    _handle: PhantomData<fn() -> H>,
}

impl<H> Options<H> {
    /// The defaults: mode `0o600`, own objects only, [`MAX_SLOTS`] slots, a 2 s
    /// timeout.
    pub(crate) const fn new() -> Self {
        Options { access: Access::DEFAULT, slots: MAX_SLOTS, timeout: Duration::from_secs(2), _handle: PhantomData }
    }

    /// Permission bits of a created object (Linux: file mode, masked with
    /// `0o777`). Default `0o600`: only the creating user may open it.
    pub fn mode(mut self, mode: u32) -> Self {
        self.access.mode = mode;
        self
    }

    /// Whether to open objects that belong to another user. Default `false`: such
    /// an object is `PermissionDenied`, since its owner can change it under you.
    pub fn allow_foreign_owner(mut self, allow: bool) -> Self {
        self.access.allow_foreign_owner = allow;
        self
    }

    /// How long `open` (or `claim`) waits for an object whose creator is still
    /// initialising it. Default 2 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What the backend receives.
    pub fn access(&self) -> &Access {
        &self.access
    }
}

impl<H> Clone for Options<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Options<H> {}

impl<H> fmt::Debug for Options<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("access", &self.access)
            .field("slots", &self.slots)
            .field("timeout", &self.timeout)
            .finish()
    }
}
