//! The discrepancy log writes only files it owns (issue 12, item 3): it never follows a link,
//! creates a directory, or writes to, renames or replaces a device, a named pipe, a directory
//! or someone else's file, neither at `open` nor when it rotates; refusing is an `OpenError` at
//! construction that says what to do. Unix only (devices, FIFOs, symbolic links).
#![cfg(unix)]

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use parallel_run::publish::{JsonLinesLog, OpenError, Publisher};
use parallel_run::{Discrepancy, Outcome};

struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(test: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("pr-log-files-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn discrepancy(i: usize) -> Discrepancy {
    Discrepancy {
        experiment: "log_files::e",
        context: vec![("i", i.to_string())],
        outcome: Outcome::Mismatch,
        detail: format!("$.n: {i} -> 0"),
        primary: Some(i.to_string()),
        candidate: Some("0".into()),
        primary_duration: Duration::ZERO,
        candidate_duration: Duration::ZERO,
        primary_cpu: None,
        candidate_cpu: None,
        at: SystemTime::now(),
        served_by_candidate: false,
        candidate_ran_first: false,
        key: None,
        inputs: None,
    }
}

/// A line of the log, as a previous run would have left it.
const LOG_LINE: &str = r#"{"v":1,"kind":"discrepancy","experiment":"old","outcome":"mismatch"}"#;

fn refused(path: &Path) -> OpenError {
    match JsonLinesLog::open(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    }
}

fn is_char_device(p: &str) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device())
}

#[test]
fn devices_are_refused_and_left_alone() {
    for dev in ["/dev/null", "/dev/full"] {
        if !is_char_device(dev) {
            continue;
        }
        let e = refused(Path::new(dev));
        assert!(
            matches!(
                e,
                OpenError::NotAFile {
                    found: "a character device",
                    ..
                }
            ),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains(dev) && msg.contains("from_writer"), "{msg}");
        assert!(is_char_device(dev), "{dev} is still the device");
        // The same through `create`, which empties a log.
        assert!(JsonLinesLog::create(dev).is_err());
        assert!(is_char_device(dev));
    }
}

#[test]
fn a_named_pipe_is_refused_without_blocking() {
    let d = dir("fifo");
    let fifo = d.join("pipe.jsonl");
    if !std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    // Opening a pipe for writing blocks until a reader comes; nobody reads this one.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(JsonLinesLog::open(&p).map(|_| ()));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("open returned");
    let e = r.unwrap_err();
    assert!(e.to_string().contains("a named pipe"), "{e}");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn links_directories_and_foreign_files_are_refused() {
    let d = dir("links");
    // A symbolic link to someone's file: neither is touched.
    let theirs = d.join("theirs.txt");
    std::fs::write(&theirs, "keep me\n").unwrap();
    let link = d.join("link.jsonl");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    let e = refused(&link);
    assert!(e.to_string().contains("a symbolic link"), "{e}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // Even a link to a log: rotation would rename the link and leave a file in its place.
    let log = d.join("real.jsonl");
    std::fs::write(&log, format!("{LOG_LINE}\n")).unwrap();
    let link_to_log = d.join("link2.jsonl");
    std::os::unix::fs::symlink(&log, &link_to_log).unwrap();
    assert!(JsonLinesLog::open(&link_to_log).is_err());
    // A dangling link: its target is not created.
    let dangling = d.join("dangling.jsonl");
    std::os::unix::fs::symlink(d.join("nowhere.jsonl"), &dangling).unwrap();
    assert!(JsonLinesLog::open(&dangling).is_err());
    assert!(!d.join("nowhere.jsonl").exists());

    let sub = d.join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    assert!(refused(&sub).to_string().contains("a directory"));

    // A regular file that is not a log: not appended to, not rotated away.
    let e = refused(&theirs);
    assert!(matches!(e, OpenError::NotALog { .. }), "{e:?}");
    assert!(e.to_string().contains("move the file"), "{e}");
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "keep me\n");
}

#[test]
fn a_missing_directory_is_not_created() {
    let d = dir("missing");
    let path = d.join("no").join("such").join("d.jsonl");
    let e = refused(&path);
    assert!(matches!(e, OpenError::MissingDirectory { .. }), "{e:?}");
    assert!(e.to_string().contains("create it first"), "{e}");
    assert!(!d.join("no").exists());
    // As an io::Error, for callers in an io::Result.
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn new_empty_and_log_files_are_accepted() {
    let d = dir("accepted");
    let new = d.join("new.jsonl");
    let log = JsonLinesLog::open(&new).unwrap();
    log.publish(&discrepancy(1));
    log.flush();
    assert_eq!(std::fs::read_to_string(&new).unwrap().lines().count(), 1);
    drop(log);

    let empty = d.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert!(JsonLinesLog::open(&empty).is_ok());

    // A previous run's log is appended to; `create` empties it instead.
    let previous = d.join("previous.jsonl");
    std::fs::write(&previous, format!("{LOG_LINE}\n")).unwrap();
    let log = JsonLinesLog::open(&previous).unwrap();
    log.publish(&discrepancy(2));
    log.flush();
    let text = std::fs::read_to_string(&previous).unwrap();
    assert!(
        text.starts_with(LOG_LINE) && text.lines().count() == 2,
        "{text}"
    );
    let log = JsonLinesLog::create(&previous).unwrap();
    log.publish(&discrepancy(3));
    log.flush();
    assert_eq!(
        std::fs::read_to_string(&previous).unwrap().lines().count(),
        1
    );
}

#[test]
fn a_rotation_target_the_log_did_not_write_is_refused_at_open() {
    let d = dir("target");
    let path = d.join("d.jsonl");
    let rotated = d.join("d.jsonl.1");
    std::fs::write(&rotated, "someone's notes\n").unwrap();
    let e = refused(&path);
    assert!(matches!(e, OpenError::RotationTarget { .. }), "{e:?}");
    assert!(e.to_string().contains("d.jsonl.1"), "{e}");
    assert!(!path.exists(), "nothing created when refused");
    std::fs::remove_file(&rotated).unwrap();

    std::os::unix::fs::symlink("/dev/null", &rotated).unwrap();
    assert!(refused(&path).to_string().contains("a symbolic link"));
    std::fs::remove_file(&rotated).unwrap();

    // A previous run's rotated log is the log's own: replaced on rotation.
    std::fs::write(&rotated, format!("{LOG_LINE}\n")).unwrap();
    let log = JsonLinesLog::open(&path).unwrap().max_bytes(200);
    for i in 0..10 {
        log.publish(&discrepancy(i));
    }
    log.flush();
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(
        !old.contains("\"old\""),
        "the previous run's rotated file was replaced"
    );
}

#[test]
fn rotation_replaces_nothing_that_appeared_after_open() {
    let cap = common::capture();
    let d = dir("late");
    let path = d.join("d.jsonl");
    let rotated = d.join("d.jsonl.1");
    let log = JsonLinesLog::open(&path).unwrap().max_bytes(300);
    // Someone puts their file where rotation would go.
    std::fs::write(&rotated, "mine\n").unwrap();
    for i in 0..20 {
        log.publish(&discrepancy(i));
    }
    log.flush();
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "mine\n");
    // Nothing is lost: the file grows past max_bytes instead.
    let lines = std::fs::read_to_string(&path).unwrap();
    let discrepancies = lines
        .lines()
        .filter(|l| l.contains("\"discrepancy\""))
        .count();
    assert_eq!(discrepancies, 20);
    assert_eq!(log.dropped(), 0);
    let warned = cap
        .events()
        .iter()
        .any(|e| e.text.contains("not rotated") && e.text.contains("d.jsonl.1"));
    assert!(warned, "{:?}", cap.events());

    // The log's file moved away and replaced by a link: rotation does not rename the link.
    let path2 = d.join("e.jsonl");
    let log = JsonLinesLog::open(&path2).unwrap().max_bytes(300);
    std::fs::rename(&path2, d.join("moved.jsonl")).unwrap();
    std::os::unix::fs::symlink("/dev/null", &path2).unwrap();
    for i in 0..20 {
        log.publish(&discrepancy(i));
    }
    log.flush();
    assert!(std::fs::symlink_metadata(&path2)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!d.join("e.jsonl.1").exists());
    assert!(is_char_device("/dev/null"));
}
