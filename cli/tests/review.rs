//! The `shmptr` binary against what an adversarial review of issue 14 tried: a
//! peer that shrinks a file under `reclaim`/`rm` (SIGBUS), a destroyer caught in
//! its value's drop, hostile names, a holder in another pid namespace, an object
//! being created, and messages for files that are not shmptr objects. Real
//! processes and real `/dev/shm` files; each test uses names unique to it and
//! this process, and leaves `/dev/shm` as it found it.

mod support;

use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;
use shmptr_linux::Shared;
use support::{cells, json_of, role, setup, shmptr, stdout_of, wait_for, Control, Scope, BOUND};

#[test]
fn a_peer_that_shrinks_the_file_kills_only_a_worker_and_reclaim_all_goes_on() {
    const TEST: &str = "a_peer_that_shrinks_the_file_kills_only_a_worker_and_reclaim_all_goes_on";
    let Some((scope, name)) = setup("shrink") else { return };
    let _alone = support::every_object(); // runs `reclaim --all`
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    // The holder is the child: this process never maps the file it shrinks.
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let path = Scope::path(&name);
    let bytes = std::fs::read(&path).unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let _after = Shared::<u64>::create(&scope.name("z"), 3).unwrap();

    // The peer shrinks the file to nothing between the worker's `mmap` and its
    // first read (the worker is held there under ptrace), then restores it for
    // the next command.
    let killed = |stderr: &str, doing: &str| {
        stderr.contains(&format!("killed by SIGBUS while {doing}: the file shrank under it (a peer truncated it)"))
    };
    for (args, doing) in [
        (&["reclaim", name.as_str()][..], "reclaiming"),
        (&["rm", &name], "removing"),
        (&["--json", "reclaim", "--all"], "reclaiming"),
    ] {
        let run = support::trace::shmptr_stopped_at_map(args, &name, || file.set_len(0).unwrap());
        file.set_len(bytes.len() as u64).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        let (out, shrunk) = match run {
            Ok(run) => run,
            Err(e) => {
                println!("SKIPPED: {TEST}: this process may not ptrace its children ({e})");
                break;
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(shrunk, "the worker of `shmptr {args:?}` never mapped {name}: {stderr}");
        // The command reports the worker's death and ends with status 1, not a signal.
        assert_eq!(out.status.code(), Some(1), "shmptr {args:?} ended with {}: {stderr}", out.status);
        assert!(killed(&stderr, doing), "shmptr {args:?}: {stderr}");
        if args.len() == 3 {
            // --all: the report names the killed worker's object as failed, and
            // went on with the others (`z` sorts after it).
            let all: Value = serde_json::from_slice(&out.stdout).unwrap();
            let objects = all["objects"].as_array().unwrap();
            let entry = |n: &str| objects.iter().find(|o| o["name"] == n).cloned().unwrap();
            let x = entry(&name);
            assert_eq!((x["skipped"].as_bool(), x["error"]["kind"].as_str()), (Some(false), Some("Killed")), "{x}");
            assert!(killed(x["error"]["message"].as_str().unwrap(), doing), "{x}");
            assert_eq!(entry(&scope.name("control"))["error"], Value::Null);
            assert_eq!(entry(&scope.name("z"))["error"], Value::Null);
            assert_eq!(all["failed"].as_u64(), Some(1), "{all}");
        }
        // The object is whole again and still held.
        assert!(Scope::exists(&name));
    }

    // Shrinks at any moment (a peer thread, over and over, for 2 s): every run
    // ends with status 0 or 1, never with a signal, whether or not a shrink lands
    // in a worker's reads.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                file.set_len(0).unwrap();
                file.set_len(bytes.len() as u64).unwrap();
                file.write_all_at(&bytes, 0).unwrap();
            }
        });
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            for args in [&["reclaim", name.as_str()][..], &["rm", &name], &["--json", "reclaim", "--all"]] {
                let out = shmptr().args(args).output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    matches!(out.status.code(), Some(0 | 1)),
                    "shmptr {args:?} ended with {}: {stderr}",
                    out.status
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    kid.kill();
    drop(control);
    let _ = std::fs::remove_file(&path);
}

/// A value whose drop tells the parent it is running, then waits (bounded) to
/// be told to go on.
#[repr(C)]
struct SlowDrop {
    v: u64,
}
shmptr::shm_safe!(SlowDrop { v });

impl Drop for SlowDrop {
    fn drop(&mut self) {
        let control = Shared::<Control>::open(&Scope::new("destroyer").name("control")).unwrap();
        control.ready_then_wait_for_go();
    }
}

#[test]
fn rm_names_a_destroyer_caught_in_the_drop_and_reclaim_says_it_removed_the_object_once_it_died() {
    const TEST: &str = "rm_names_a_destroyer_caught_in_the_drop_and_reclaim_says_it_removed_the_object_once_it_died";
    let scope = Scope::new("destroyer");
    let name = scope.name("x");
    if role().is_some() {
        // The last handle: dropping it destroys the object and runs the drop.
        drop(Shared::<SlowDrop>::create(&name, SlowDrop { v: 1 }).unwrap());
        return;
    }
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "destroyer", &control.ready);
    let pid = kid.pid();

    // inspect: the destroyer, alive, in this pid namespace, with its command.
    let object = json_of(&["inspect", &name]);
    assert_eq!(object["state"], "destroying", "{object}");
    let destroyer = &object["destroyer"];
    assert_eq!(destroyer["pid"], pid, "{object}");
    assert_eq!((destroyer["liveness"].as_str(), destroyer["pid_namespace"].as_str()), (Some("alive"), Some("same")));
    assert!(destroyer["command"].is_string(), "{destroyer}");
    assert!(destroyer["identity"].as_str().unwrap().starts_with("0x"));
    let text = stdout_of(&["inspect", &name]);
    let line = text.lines().find(|l| l.starts_with("destroyer")).expect("a destroyer line");
    assert!(cells(line)[1].starts_with(&format!("pid {pid} (alive, ")), "{text}");

    // rm: refused, naming the destroyer; the file stays.
    shmptr()
        .args(["rm", &name])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!("shmptr: cannot remove \"{name}\": ")))
        .stderr(predicate::str::contains(format!(
            "destroyer, still destroying it (its value's drop may be running): pid {pid} (alive"
        )));
    assert!(Scope::exists(&name), "rm left the object of a live destroyer alone");

    // The destroyer dies inside the drop: reclaim finishes its work and says so.
    kid.kill();
    let object = json_of(&["inspect", &name]);
    assert_eq!(object["destroyer"]["liveness"], "dead", "{object}");
    assert_eq!(object["destroyer"]["command"], Value::Null);
    shmptr()
        .args(["reclaim", &name])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!("{name}: removed the object, which a dead process left behind")));
    assert!(!Scope::exists(&name));
    drop(control);
}

#[test]
fn hostile_names_are_escaped_and_long_ones_cut_in_text_and_exact_in_json() {
    let scope = Scope::new("names");
    let names = [
        scope.name("e\u{1b}]0;P\u{7}\u{1b}[31m"),
        scope.name("nl\nFAKE-ROW  shared  ready"),
        scope.name("bidi\u{202e}txt.exe"),
        scope.name(&"a".repeat(200)),
    ];
    for name in &names {
        std::fs::write(Scope::path(name), b"x").unwrap();
    }
    let text = stdout_of(&["ls", "--all", &scope.prefix]);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'), "{text:?}");
    assert_eq!(text.lines().count(), 1 + names.len(), "a header and one line per entry: {text}");
    assert!(!text.lines().any(|l| l.starts_with("FAKE-ROW")), "{text}");
    assert!(text.contains(&scope.name("e\\u{1b}]0;P\\u{7}\\u{1b}[31m")), "{text}");
    assert!(text.contains(&scope.name("nl\\nFAKE-ROW")), "{text}");
    assert!(text.contains(&scope.name("bidi\\u{202e}txt.exe")), "{text}");
    // The long name is cut to 64 characters in its column.
    let long = text.lines().find(|l| l.contains("aaaa")).unwrap();
    let cell = &cells(long)[0];
    assert_eq!(cell.chars().count(), 64, "{cell}");
    assert!(cell.ends_with('…') && names[3].starts_with(cell.trim_end_matches('…')), "{cell}");
    assert!(long.find("  -").unwrap() < 70, "the other columns follow the cut name: {long}");
    // JSON: the names exactly.
    let rows = json_of(&["ls", "--all", &scope.prefix]);
    let mut got: Vec<&str> = rows["objects"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    // A name shmptr never makes is a file it leaves alone.
    assert!(rows["objects"][0]["error"]["message"].as_str().unwrap().ends_with("not created by shmptr; left alone."));
    // Errors name the object escaped, on one line.
    shmptr()
        .args(["inspect", &names[1]])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nl\\nFAKE-ROW"))
        .stderr(predicate::function(|e: &str| e.trim_end().lines().count() == 1 && !e.contains('\u{1b}')));
    for name in &names {
        std::fs::remove_file(Scope::path(name)).unwrap();
    }
}

#[test]
fn a_holder_in_another_pid_namespace_is_shown_as_such() {
    const TEST: &str = "a_holder_in_another_pid_namespace_is_shown_as_such";
    let Some((scope, name)) = setup("pidns") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    // This test binary again, as pid 1 of a new pid namespace (needs unshare(1)
    // and the right to make one: root, or unprivileged user namespaces).
    let probe = Command::new("unshare").args(["-p", "-f", "-m", "--mount-proc", "true"]).stderr(Stdio::null()).status();
    if !probe.is_ok_and(|s| s.success()) {
        println!("SKIPPED: a_holder_in_another_pid_namespace_is_shown_as_such: `unshare -p -f` does not work here");
        return;
    }
    let mut kid = Command::new("unshare")
        .args(["-p", "-f", "-m", "--mount-proc", "--kill-child"])
        .arg(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("SHMPTR_TEST_ROLE", "holder")
        .env("SHMPTR_TEST_PREFIX", &scope.prefix)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&control.ready, 1);

    let object = json_of(&["inspect", &name]);
    let holder = &object["holders"][0];
    assert_eq!(holder["pid_namespace"], "other", "{object}");
    assert_eq!(holder["pid"], 1, "pid 1 of its namespace: {object}");
    assert_eq!(holder["command"], Value::Null, "no /proc/1/comm of this namespace: {object}");
    assert_eq!(object["creator"]["pid_namespace"], "other");
    let text = stdout_of(&["inspect", &name]);
    let line = text.lines().find(|l| cells(l).first().is_some_and(|c| c == "0")).expect("a holder line");
    assert_eq!(cells(line)[1], "1 (another pid namespace)", "{text}");
    assert!(text
        .lines()
        .any(|l| l.starts_with("creator") && l.contains("pid 1 (") && l.contains("another pid namespace")));
    assert!(!text.contains("pid 1 (alive, systemd") && !text.contains("init"), "{text}");
    // Every process object carries the field: this process's own control slot.
    let ours = json_of(&["inspect", &scope.name("control")]);
    assert!(ours["holders"].as_array().unwrap().iter().any(|h| h["pid_namespace"] == "same"), "{ours}");

    control.go.store(1, Ordering::Release);
    let deadline = Instant::now() + BOUND;
    while kid.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the holder did not leave");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(control);
    assert!(!Scope::exists(&name));
}

#[test]
fn an_object_being_created_is_initializing_and_skipped_by_reclaim_all() {
    let scope = Scope::new("newborn");
    let _alone = support::every_object(); // runs `reclaim --all`
    let name = scope.name("x");
    // A creator between creating its file and writing the header: a blank file,
    // its creation lock held.
    let file = std::fs::File::create_new(Scope::path(&name)).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();

    let row = support::json_row(false, &scope.prefix, &name).expect("ls lists an object being created");
    assert_eq!((row["state"].as_str(), row["kind"].as_str()), (Some("initializing"), Some("unknown")), "{row}");
    let out = shmptr().args(["--json", "reclaim", "--all"]).output().unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = all["objects"].as_array().unwrap().iter().find(|o| o["name"] == name.as_str()).cloned().unwrap();
    assert_eq!((entry["skipped"].as_bool(), entry["destroyed"].as_bool()), (Some(true), Some(false)), "{entry}");
    assert!(entry["error"]["message"].as_str().unwrap().contains("being created"), "{entry}");
    // Other objects of other tests may fail; this one is never why.
    if !out.status.success() {
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&name));
    }
    let text = stdout_of(&["reclaim", "--all"]);
    assert!(text.lines().any(|l| l.starts_with(&format!("{name}: skipped: it is being created"))), "{text}");
    assert!(Scope::exists(&name) && std::fs::metadata(Scope::path(&name)).unwrap().len() == 0);
    drop(file);
    std::fs::remove_file(Scope::path(&name)).unwrap();
}

#[test]
fn a_file_that_is_not_a_shmptr_object_is_left_alone_without_advice_to_remove_it() {
    let scope = Scope::new("notours");
    let name = scope.name("text");
    std::fs::write(Scope::path(&name), b"somebody else's shared memory, long enough to be read as a header?").unwrap();
    let link = scope.name("link");
    std::os::unix::fs::symlink("/etc/passwd", Scope::path(&link)).unwrap();
    for target in [&name, &link] {
        for args in [&["inspect", target.as_str()][..], &["reclaim", target], &["rm", target]] {
            shmptr()
                .args(args)
                .assert()
                .code(1)
                .stderr(predicate::str::contains("not created by shmptr; left alone."))
                .stderr(predicate::str::contains("remove it").not())
                .stderr(predicate::str::contains("--force").not())
                .stderr(predicate::str::contains("foreign owners").not());
        }
    }
    assert!(std::fs::symlink_metadata(Scope::path(&link)).unwrap().file_type().is_symlink());
    for n in [&name, &link] {
        std::fs::remove_file(Scope::path(n)).unwrap();
    }
}

#[test]
fn another_users_object_gets_advice_for_a_command_line_user() {
    let scope = Scope::new("otheruser");
    let name = scope.name("x");
    let object = Shared::<u64>::create(&name, 1).unwrap();
    // Only root may give a file away.
    if std::os::unix::fs::chown(Scope::path(&name), Some(65534), None).is_err() {
        println!("SKIPPED: another_users_object_gets_advice_for_a_command_line_user: cannot chown (not root)");
        return;
    }
    for args in [&["reclaim", name.as_str()][..], &["rm", &name]] {
        shmptr()
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("run shmptr as the file's owner (uid 65534)"))
            .stderr(predicate::str::contains("foreign owners").not());
    }
    drop(object);
    let _ = std::fs::remove_file(Scope::path(&name));
}
