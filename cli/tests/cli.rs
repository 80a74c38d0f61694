//! The `shmptr` binary against real processes and real `/dev/shm` files: holders
//! killed with SIGKILL, live holders, foreign and corrupt files. Each test uses
//! names unique to it and this process, and leaves `/dev/shm` as it found it.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};

use predicates::prelude::*;
use serde_json::Value;
use shmptr_linux::{Shared, Unique};
use support::{cells, json_of, json_row, setup, shmptr, stdout_of, text_row, Control, Scope};

/// The holders in `shmptr inspect --json NAME` as `(pid, liveness)`.
fn holders(name: &str) -> Vec<(Option<u64>, String)> {
    let object = json_of(&["inspect", name]);
    object["holders"]
        .as_array()
        .expect("holders is an array")
        .iter()
        .map(|h| (h["pid"].as_u64(), h["liveness"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_killed_holder_shows_dead_in_ls_and_inspect_and_reclaim_frees_its_slot() {
    const TEST: &str = "a_killed_holder_shows_dead_in_ls_and_inspect_and_reclaim_frees_its_slot";
    let Some((scope, name)) = setup("killed") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let ours = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let pid = u64::from(kid.pid());
    kid.kill();

    // ls: one live holder (this test), one dead (the child).
    let row = json_row(false, &scope.prefix, &name).expect("ls lists the object");
    assert_eq!((row["holders_live"].as_u64(), row["holders_dead"].as_u64()), (Some(1), Some(1)), "{row}");
    assert_eq!((row["kind"].as_str(), row["state"].as_str()), (Some("shared"), Some("ready")));
    assert_eq!(text_row(false, &scope.prefix, &name).unwrap()[4], "1 live, 1 dead");

    // inspect: the child's pid, dead; ours alive, with our command name.
    let mut seen = holders(&name);
    seen.sort();
    let mut expected = vec![(Some(pid), "dead".to_owned()), (Some(u64::from(std::process::id())), "alive".to_owned())];
    expected.sort();
    assert_eq!(seen, expected);
    let text = stdout_of(&["inspect", &name]);
    let line = text.lines().find(|l| cells(l).get(1) == Some(&pid.to_string())).expect("a line for the dead holder");
    assert_eq!(cells(line)[2..4], ["-".to_owned(), "dead".to_owned()], "{text}");

    // reclaim: says it freed one dead holder; the object stays (we hold it).
    shmptr().args(["reclaim", &name]).assert().success().stdout(format!("{name}: reclaimed 1 dead holder\n"));
    assert_eq!(holders(&name), vec![(Some(u64::from(std::process::id())), "alive".to_owned())]);
    let row = json_row(false, &scope.prefix, &name).unwrap();
    assert_eq!((row["holders_live"].as_u64(), row["holders_dead"].as_u64()), (Some(1), Some(0)));
    let again = json_of(&["reclaim", &name]);
    assert_eq!((again["holders_reclaimed"].as_u64(), again["destroyed"].as_bool()), (Some(0), Some(false)));
    assert_eq!(ours.load(Ordering::Relaxed), 7);
}

#[test]
fn reclaim_removes_an_object_whose_holders_all_died() {
    const TEST: &str = "reclaim_removes_an_object_whose_holders_all_died";
    let Some((scope, name)) = setup("alldead") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    scope.spawn_ready(TEST, "holder", &control.ready).kill();
    let row = json_row(false, &scope.prefix, &name).expect("ls lists the object");
    assert_eq!((row["holders_live"].as_u64(), row["holders_dead"].as_u64()), (Some(0), Some(1)), "{row}");

    let done = json_of(&["reclaim", &name]);
    assert_eq!(done["name"], name.as_str());
    assert_eq!((done["holders_reclaimed"].as_u64(), done["destroyed"].as_bool()), (Some(1), Some(true)), "{done}");
    assert!(!Scope::exists(&name), "reclaim removed the object");
    shmptr()
        .args(["reclaim", &name])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!("shmptr: cannot reclaim \"{name}\": ")))
        .stderr(predicate::str::contains("no object with this name"));
}

#[test]
fn the_text_of_reclaim_says_it_removed_the_object() {
    const TEST: &str = "the_text_of_reclaim_says_it_removed_the_object";
    let Some((scope, name)) = setup("reclaimtext") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    scope.spawn_ready(TEST, "holder", &control.ready).kill();
    shmptr()
        .args(["reclaim", &name])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!("{name}: reclaimed 1 dead holder; removed the object")));
    assert!(!Scope::exists(&name));
}

#[test]
fn rm_refuses_while_a_live_holder_exists_and_removes_once_it_died() {
    const TEST: &str = "rm_refuses_while_a_live_holder_exists_and_removes_once_it_died";
    let Some((scope, name)) = setup("rmlive") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    for json in [false, true] {
        let mut rm = shmptr();
        if json {
            rm.arg("--json");
        }
        rm.args(["rm", &name])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(format!("shmptr: cannot remove \"{name}\": ")))
            .stderr(predicate::str::contains("a process that may be alive has it: "))
            .stderr(predicate::str::contains(format!("holder in slot 0: pid {} (alive", kid.pid())))
            .stderr(predicate::str::contains("`shmptr rm --force` unlinks it anyway."))
            .stderr(predicate::function(|e: &str| e.trim_end().lines().count() == 1));
        assert!(Scope::exists(&name), "rm left the object of a live holder alone");
    }
    kid.kill();
    shmptr().args(["rm", &name]).assert().success().stdout(format!("{name}: removed\n"));
    assert!(!Scope::exists(&name));
}

#[test]
fn rm_force_unlinks_despite_a_live_holder_and_says_what_it_bypassed() {
    const TEST: &str = "rm_force_unlinks_despite_a_live_holder_and_says_what_it_bypassed";
    let Some((scope, name)) = setup("rmforce") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let kid = scope.spawn_ready(TEST, "holder", &control.ready);
    let done = json_of(&["rm", "--force", &name]);
    assert_eq!((done["removed"].as_bool(), done["forced"].as_bool()), (Some(true), Some(true)), "{done}");
    let bypassed: Vec<&str> = done["bypassed"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert!(bypassed[0].contains("owned by a live process") || bypassed[0].contains("live"), "{bypassed:?}");
    assert!(bypassed.iter().any(|b| b.starts_with(&format!("holder in slot 0: pid {} (alive", kid.pid()))));
    assert!(!Scope::exists(&name));
    // The holder keeps its mapping and leaves cleanly: the name is simply gone.
    control.go.store(1, Ordering::Release);
    kid.succeeds();
    assert!(!Scope::exists(&name));
}

/// Bytes that are not a shmptr object, and bytes that start like one but are not.
const FOREIGN: &[u8] = b"not a shmptr object: somebody else's shared memory\n";

fn corrupt_bytes() -> Vec<u8> {
    let mut bytes = vec![0xA5; 4096];
    bytes[..8].copy_from_slice(&[0x53, 0x48, 0x4d, 0x50, 0x01, 0, 0, 0]); // magic "SHMP", version 1
    bytes
}

#[test]
fn a_foreign_or_corrupt_file_is_reported_and_never_touched() {
    let scope = Scope::new("foreign");
    let _alone = support::every_object(); // runs `reclaim --all`
    let files = [(scope.name("foreign"), FOREIGN.to_vec()), (scope.name("corrupt"), corrupt_bytes())];
    for (name, bytes) in &files {
        std::fs::write(Scope::path(name), bytes).unwrap();
    }
    let mtimes: Vec<_> =
        files.iter().map(|(n, _)| std::fs::metadata(Scope::path(n)).unwrap().modified().unwrap()).collect();

    // Plain `ls` lists only shmptr objects; `--all` lists both, with the reason.
    assert!(json_of(&["ls", &scope.prefix])["objects"].as_array().unwrap().is_empty());
    assert!(!stdout_of(&["ls", &scope.prefix]).contains(&scope.prefix));
    for (name, _) in &files {
        let row = json_row(true, &scope.prefix, name).expect("ls --all lists it");
        assert_eq!(row["shmptr"], false);
        assert_eq!(row["kind"], Value::Null);
        assert_eq!(row["error"]["kind"], "Corrupt", "{row}");
        let text = text_row(true, &scope.prefix, name).unwrap();
        assert_eq!(text[1..8], ["-", "-", "-", "-", "-", row["mode"].as_str().unwrap(), &row["uid"].to_string()]);
        assert!(text[8].starts_with("Corrupt: "), "{text:?}");

        for args in [&["inspect", name.as_str()][..], &["reclaim", name], &["rm", name]] {
            let verb = match args[0] {
                "rm" => "remove",
                verb => verb,
            };
            shmptr()
                .args(args)
                .assert()
                .code(1)
                .stdout("")
                .stderr(predicate::str::starts_with(format!("shmptr: cannot {verb} \"{name}\": ")));
        }
    }
    let all = json_of(&["reclaim", "--all"]);
    assert!(all["objects"].as_array().unwrap().iter().all(|o| !o["name"].as_str().unwrap().starts_with(&scope.prefix)));
    for ((name, bytes), mtime) in files.iter().zip(mtimes) {
        assert_eq!(&std::fs::read(Scope::path(name)).unwrap(), bytes, "{name} is unchanged");
        assert_eq!(std::fs::metadata(Scope::path(name)).unwrap().modified().unwrap(), mtime);
    }
    // Only `rm --force` unlinks such a file, and says why it needed force.
    for (name, _) in &files {
        let done = json_of(&["rm", "--force", name]);
        assert_eq!(done["forced"], true);
        assert!(done["bypassed"][0].as_str().unwrap().contains("not a valid shmptr segment"), "{done}");
        assert!(!Scope::exists(name));
    }
}

#[test]
fn reclaim_all_reclaims_every_dead_holder_and_reports_each_object() {
    const TEST: &str = "reclaim_all_reclaims_every_dead_holder_and_reports_each_object";
    let Some((scope, name)) = setup("sweep") else { return };
    let _alone = support::every_object();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let _ours = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    scope.spawn_ready(TEST, "holder", &control.ready).kill();

    let all = json_of(&["reclaim", "--all"]);
    let objects = all["objects"].as_array().unwrap();
    let entry = |n: &str| objects.iter().find(|o| o["name"] == n).cloned().expect("reclaim --all reports the object");
    let (x, ctl) = (entry(&name), entry(&scope.name("control")));
    assert_eq!((x["holders_reclaimed"].as_u64(), x["destroyed"].as_bool()), (Some(1), Some(false)), "{x}");
    assert_eq!((ctl["holders_reclaimed"].as_u64(), ctl["destroyed"].as_bool()), (Some(1), Some(false)), "{ctl}");
    assert!(all["holders_reclaimed"].as_u64().unwrap() >= 2);
    assert_eq!(holders(&name).len(), 1);

    let text = stdout_of(&["reclaim", "--all"]);
    assert!(text.lines().any(|l| l == format!("{name}: nothing to reclaim")), "{text}");
    assert!(text.lines().last().unwrap().starts_with("reclaimed 0 dead holders and removed 0 objects of "), "{text}");
}

#[test]
fn the_json_of_ls_and_inspect_carries_the_facts_of_the_text() {
    const TEST: &str = "the_json_of_ls_and_inspect_carries_the_facts_of_the_text";
    let Some((scope, name)) = setup("json") else { return };
    let _own = support::own_objects_only();
    let control = Shared::<Control>::create(&scope.name("control"), Control::new()).unwrap();
    let _ours = Shared::<AtomicU64>::create(&name, AtomicU64::new(7)).unwrap();
    // The live holder first: an open reclaims dead holders it finds.
    let live = scope.spawn_ready(TEST, "holder", &control.ready);
    control.ready.store(0, Ordering::Release);
    let dead = scope.spawn_ready(TEST, "holder", &control.ready);
    let dead_pid = dead.pid();
    dead.kill();
    let job = Unique::<u64>::create(&scope.name("job"), 1).unwrap();
    Unique::release(job);

    // ls: every JSON row is its text row, cell for cell.
    let rows = json_of(&["ls", &scope.prefix]);
    let text = stdout_of(&["ls", &scope.prefix]);
    let mut lines = text.lines();
    assert_eq!(cells(lines.next().unwrap()), ["NAME", "KIND", "STATE", "VALUE", "HOLDERS", "OWNER", "MODE", "UID"]);
    let rows = rows["objects"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, line) in rows.iter().zip(lines) {
        let owner = match &row["owner"] {
            Value::Null => "-".to_owned(),
            owner if owner["released"] == true => "released".to_owned(),
            owner => format!("{} ({})", owner["pid"], owner["liveness"].as_str().unwrap()),
        };
        let expected = [
            row["name"].as_str().unwrap().to_owned(),
            row["kind"].as_str().unwrap().to_owned(),
            row["state"].as_str().unwrap().to_owned(),
            format!("{} B", row["value_size"]),
            format!("{} live, {} dead", row["holders_live"], row["holders_dead"]),
            owner,
            row["mode"].as_str().unwrap().to_owned(),
            row["uid"].to_string(),
        ];
        assert_eq!(cells(line), expected);
        assert_eq!(row["error"], Value::Null);
    }
    let job = rows.iter().find(|r| r["name"] == scope.name("job").as_str()).unwrap();
    assert_eq!((job["kind"].as_str(), job["owner"]["released"].as_bool()), (Some("unique"), Some(true)));
    assert_eq!(job["mode"], "0600");

    // inspect: each JSON fact appears in the text, each holder on its own line.
    let object = json_of(&["inspect", &name]);
    let text = stdout_of(&["inspect", &name]);
    let fact = |key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key).map(str::trim)).unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    assert_eq!(fact("name"), name);
    assert_eq!(fact("kind"), object["kind"]);
    assert_eq!(fact("state"), object["state"]);
    assert_eq!(fact("format version"), object["format_version"].to_string());
    assert_eq!(fact("value"), format!("{} bytes, align {}", object["value_size"], object["value_align"]));
    assert_eq!(fact("fingerprint"), object["fingerprint"]);
    assert_eq!(fact("total length"), format!("{} bytes", object["total_len"]));
    let file = &object["file"];
    assert_eq!(
        fact("file"),
        format!(
            "/dev/shm/{name}, mode {}, uid {}, {} bytes",
            file["mode"].as_str().unwrap(),
            file["uid"],
            file["size"]
        )
    );
    assert_eq!(fact("slot capacity"), object["slot_capacity"].to_string());
    assert!(fact("creator").starts_with(&format!("pid {} (alive", std::process::id())), "{text}");
    assert_eq!(fact("owner"), "- (a shared object has no owner)");
    assert_eq!(object["owner"], Value::Null);
    let holders = object["holders"].as_array().unwrap();
    assert_eq!((object["holders_live"].as_u64(), object["holders_dead"].as_u64()), (Some(2), Some(1)));
    assert_eq!(fact("holders"), format!("{} (2 live, 1 dead)", holders.len()));
    for h in holders {
        let yes_no = |v: &Value| if v == true { "yes" } else { "no" }.to_owned();
        let expected = vec![
            h["slot"].to_string(),
            h["pid"].to_string(),
            h["command"].as_str().unwrap_or("-").to_owned(),
            h["liveness"].as_str().unwrap().to_owned(),
            h["handles"].to_string(),
            yes_no(&h["member"]),
            yes_no(&h["reclaiming"]),
            h["identity"].as_str().unwrap().to_owned(),
        ];
        assert!(text.lines().any(|l| cells(l) == expected), "no line {expected:?} in\n{text}");
        if h["pid"] == dead_pid {
            assert_eq!((h["liveness"].as_str(), &h["command"]), (Some("dead"), &Value::Null));
        } else {
            assert_eq!(h["liveness"], "alive");
            assert!(h["command"].is_string(), "a live holder's command name is read from /proc: {h}");
        }
    }
    assert!(holders.iter().any(|h| h["pid"] == live.pid()));

    // A released Unique: its owner says so in both forms.
    let job = json_of(&["inspect", &scope.name("job")]);
    assert_eq!(job["owner"], serde_json::json!({ "released": true, "process": null }));
    assert!(stdout_of(&["inspect", &scope.name("job")])
        .lines()
        .any(|l| cells(l) == ["owner", "released (parked for a claim)"]));
    drop(Unique::<u64>::claim(&scope.name("job")).unwrap());
    control.go.store(1, Ordering::Release);
    live.succeeds();
}

#[test]
fn a_slice_shows_its_length_and_element_size_in_ls_and_inspect_as_text_and_json() {
    let scope = Scope::new("slices");
    let (words, empty, one) = (scope.name("words"), scope.name("empty"), scope.name("one"));
    // Lengths chosen at run time.
    let items: Vec<u32> = (0..std::hint::black_box(37)).collect();
    let _words = Shared::<[u32]>::from_slice(&words, &items).unwrap();
    let _empty = Unique::<[u8]>::create_slice_zeroed(&empty, std::hint::black_box(0)).unwrap();
    let _one = Shared::<u64>::create(&one, 7).unwrap();

    // ls: `length` and `element_size` (null for one value), and the VALUE cell.
    let row = json_row(false, &scope.prefix, &words).expect("ls lists the slice");
    assert_eq!(
        (row["value_size"].as_u64(), row["length"].as_u64(), row["element_size"].as_u64()),
        (Some(148), Some(37), Some(4))
    );
    assert_eq!(text_row(false, &scope.prefix, &words).unwrap()[3], "148 B (37 × 4 B)");
    let row = json_row(false, &scope.prefix, &empty).unwrap();
    assert_eq!(
        (row["value_size"].as_u64(), row["length"].as_u64(), &row["element_size"]),
        (Some(0), Some(0), &Value::Null)
    );
    assert_eq!(text_row(false, &scope.prefix, &empty).unwrap()[3], "0 B (0 elements)");
    let row = json_row(false, &scope.prefix, &one).unwrap();
    assert_eq!((&row["length"], &row["element_size"]), (&Value::Null, &Value::Null), "one value: {row}");
    assert_eq!(text_row(false, &scope.prefix, &one).unwrap()[3], "8 B");

    // inspect: the same keys; the text's value and fingerprint lines.
    let fact = |name: &str, key: &str| {
        let text = stdout_of(&["inspect", name]);
        text.lines()
            .map(cells)
            .find(|c| c.first().is_some_and(|k| k == key))
            .and_then(|c| c.get(1).cloned())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    let object = json_of(&["inspect", &words]);
    assert_eq!((object["length"].as_u64(), object["element_size"].as_u64()), (Some(37), Some(4)), "{object}");
    assert_eq!(object["value_size"].as_u64(), Some(148));
    let element = format!("{:#018x}", <u32 as shmptr_linux::ShmSafe>::FINGERPRINT);
    assert_eq!(object["fingerprint"], element.as_str(), "the element's");
    assert_eq!(fact(&words, "value"), "[37 elements × 4 bytes] = 148 bytes, align 64");
    assert_eq!(fact(&words, "fingerprint"), format!("{element} (the element type's)"));

    let object = json_of(&["inspect", &empty]);
    assert_eq!((object["length"].as_u64(), &object["element_size"]), (Some(0), &Value::Null), "{object}");
    assert_eq!(fact(&empty, "value"), "[0 elements] = 0 bytes, align 64");

    let object = json_of(&["inspect", &one]);
    assert_eq!((&object["length"], &object["element_size"]), (&Value::Null, &Value::Null), "{object}");
    assert_eq!(fact(&one, "value"), "8 bytes, align 64");
    assert_eq!(fact(&one, "fingerprint"), object["fingerprint"].as_str().unwrap());
}

#[test]
fn bad_usage_exits_2_and_help_shows_examples() {
    for args in
        [&[][..], &["ls", "--bogus"], &["frobnicate"], &["reclaim"], &["reclaim", "x", "--all"], &["inspect"], &["rm"]]
    {
        shmptr().args(args).assert().code(2).stdout("").stderr(predicate::str::is_empty().not());
    }
    shmptr().arg("--help").assert().success().stdout(predicate::str::contains("Examples:"));
    for command in ["ls", "inspect", "reclaim", "rm"] {
        shmptr().args([command, "--help"]).assert().success().stdout(predicate::str::contains("Examples:"));
    }
}

#[test]
fn inspect_of_a_missing_object_exits_1_naming_it() {
    let scope = Scope::new("missing");
    let name = scope.name("nothing");
    for args in
        [&["inspect", name.as_str()][..], &["--json", "inspect", &name], &["rm", &name], &["rm", "--force", &name]]
    {
        shmptr()
            .args(args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with("shmptr: cannot "))
            .stderr(predicate::str::contains(format!("\"{name}\": no object with this name")))
            .stderr(predicate::function(|e: &str| e.trim_end().lines().count() == 1));
    }
}
