//! Support for tests with real processes on Linux: unique names, cleanup of
//! `/dev/shm` (also when a test fails), and children that are the test binary
//! itself re-executed with a role.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long any wait in these tests may last before the test fails.
pub const BOUND: Duration = Duration::from_secs(60);

/// Environment variables that tell a re-executed test binary its role.
const ROLE: &str = "SHMPTR_TEST_ROLE";
const PREFIX: &str = "SHMPTR_TEST_PREFIX";

/// A test's unique name prefix; removes every `/dev/shm` entry it made on drop,
/// even when the test panics.
pub struct Scope {
    pub prefix: String,
}

impl Scope {
    /// A prefix unique to this test and process (or the parent's, in a child).
    pub fn new(test: &str) -> Self {
        let prefix = std::env::var(PREFIX).unwrap_or_else(|_| format!("shmptr-t.{}.{}", std::process::id(), test));
        Scope { prefix }
    }

    pub fn name(&self, tag: &str) -> String {
        format!("{}.{}", self.prefix, tag)
    }

    /// The path of the object `name`.
    pub fn path(name: &str) -> String {
        format!("/dev/shm/{name}")
    }

    /// Whether `/dev/shm` holds the object `name`.
    pub fn exists(name: &str) -> bool {
        std::fs::symlink_metadata(Self::path(name)).is_ok()
    }

    /// The entries of `/dev/shm` this test made.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    // With the dot: another test's prefix may extend this one.
                    .filter(|n| n.starts_with(&format!("{}.", self.prefix)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Starts this test binary again as a child running `test` with `role`.
    pub fn spawn(&self, test: &str, role: &str) -> Kid {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(PREFIX, &self.prefix)
            .stdout(Stdio::null())
            .spawn()
            .expect("re-executing the test binary");
        Kid(Some(child))
    }

    /// Starts a child as [`Scope::spawn`] does and waits (bounded) until it sets
    /// `ready` to 1.
    pub fn spawn_ready(&self, test: &str, role: &str, ready: &AtomicU32) -> Kid {
        let kid = self.spawn(test, role);
        wait_for(ready, 1);
        kid
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if role().is_some() {
            return; // the parent cleans up
        }
        let left = self.leftovers();
        for name in &left {
            let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("the test left {left:?} in /dev/shm");
        }
    }
}

/// This process's role, if it is a re-executed child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A child process, SIGKILLed and reaped on drop if still running.
pub struct Kid(Option<Child>);

impl Kid {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits (bounded) and asserts a zero exit status.
    pub fn succeeds(self) {
        let pid = self.pid();
        let status = self.status();
        assert!(status.success(), "child {pid} failed: {status}");
    }

    /// Waits (bounded) for the exit status, for children expected to die or fail.
    pub fn status(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child {} did not finish within {BOUND:?}", child.id());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        let mut child = self.0.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) until `word` reaches at least `value`.
pub fn wait_for(word: &AtomicU32, value: u32) {
    let deadline = Instant::now() + BOUND;
    while word.load(Ordering::Acquire) < value {
        assert!(Instant::now() < deadline, "waited {BOUND:?} for a signal from another process");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A control block for parent/child hand-shakes.
#[repr(C)]
pub struct Control {
    pub ready: AtomicU32,
    pub go: AtomicU32,
    pub done: AtomicU32,
    pub drops: AtomicU32,
}
shmptr::shm_safe!(Control { ready, go, done, drops });

impl Control {
    pub fn new() -> Self {
        Control { ready: AtomicU32::new(0), go: AtomicU32::new(0), done: AtomicU32::new(0), drops: AtomicU32::new(0) }
    }

    /// In a child: tells the parent it is ready (`ready` = 1) and waits (bounded)
    /// for `go`.
    pub fn ready_then_wait_for_go(&self) {
        self.ready.store(1, Ordering::Release);
        wait_for(&self.go, 1);
    }
}

impl Scope {
    /// Runs test `test` as a creator of a `Shared<[u64; 8]>` named `self.name("x")`
    /// that is SIGKILLed inside its `create_with` initializer (before `Ready`); in
    /// the test process, returns once the creator is dead, with the control object
    /// (keep it) and the object's name. In the creator's role it never returns.
    pub fn creator_killed_mid_init(&self, test: &str) -> (shmptr_linux::Shared<Control>, String) {
        let (control_name, name) = (self.name("control"), self.name("x"));
        if role().is_some() {
            let control = shmptr_linux::Shared::<Control>::open(&control_name).unwrap();
            let _ = shmptr_linux::Shared::<[u64; 8]>::create_with(&name, |_| {
                control.ready_then_wait_for_go(); // killed here, mid-initialisation
            });
            unreachable!("killed first");
        }
        let control = shmptr_linux::Shared::<Control>::create(&control_name, Control::new()).unwrap();
        let kid = self.spawn_ready(test, "creator", &control.ready);
        kid.kill();
        (control, name)
    }
}

/// A value whose drop is counted in a [`Control`] object, so that the count is seen
/// whichever process runs the drop.
#[repr(C)]
pub struct Tracked {
    pub control: shmptr::ShmString<220>,
    pub value: std::sync::atomic::AtomicU64,
}
shmptr::shm_safe!(Tracked { control, value });

impl Tracked {
    /// A value reporting its drop to the control object `control`.
    pub fn new(control: &str) -> Self {
        Tracked {
            control: shmptr::ShmString::try_from(control).expect("a control name fits in 220 bytes"),
            value: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let name = self.control.get().expect("the control name is UTF-8");
        let control = shmptr_linux::Shared::<Control>::open(&name).expect("the control object outlives the value");
        control.drops.fetch_add(1, Ordering::SeqCst);
    }
}
