//! The file recorder: chain, checkpoints, seal, tamper and truncation detection, write failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_core::event::{Event, Stream};
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::keys::KeyStore;
use hoop_core::record::{Body, Control, FileRecorder, FileRecorderConfig, Recorder, asciicast};
use hoop_core::session::{Protocol, Session, SessionId, TargetInfo};
use std::time::Duration;

fn session(id: &str) -> Session {
    Session {
        id: SessionId(id.into()),
        identity: Identity::new("agent-1", IdentityKind::Agent),
        protocol: Protocol::Ssh,
        target: TargetInfo { name: "web".into(), ..TargetInfo::default() },
        client_addr: None,
        started_at: 1_700_000_000,
    }
}

fn recorder(dir: &std::path::Path, fsync_ms: u64) -> FileRecorder {
    let keys = KeyStore::open(dir.join("keys")).unwrap();
    FileRecorder::new(
        FileRecorderConfig { dir: dir.join("rec"), fsync_interval: Duration::from_millis(fsync_ms) },
        &keys,
    )
    .unwrap()
}

fn write_session(r: &FileRecorder, id: &str) {
    let log = r.open(&session(id)).unwrap();
    log.record(&Event::Resize { t: 0.0, cols: 100, rows: 30 }).unwrap();
    log.record(&Event::terminal(0.1, Stream::Stdout, b"$ ")).unwrap();
    log.record(&Event::terminal(0.5, Stream::Stdin, b"ls\r")).unwrap();
    log.record(&Event::terminal(0.6, Stream::Stdout, b"ls\r\na b\r\n")).unwrap();
    log.record(&Event::SessionEnd { reason: "client closed".into() }).unwrap();
    log.close().unwrap();
}

#[test]
fn sealed_recording_verifies_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 1000);
    write_session(&r, "s1");
    let id = SessionId("s1".into());
    let report = r.verify(&id).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, 7);
    let events = r.read(&id).unwrap();
    assert!(matches!(events.first().unwrap().body, Body::Event(Event::SessionStart { .. })));
    assert!(matches!(events.last().unwrap().body, Body::Control(Control::Seal { .. })));
    assert_eq!(r.list().unwrap(), std::slice::from_ref(&id));

    let cast = asciicast::export(&events);
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 100);
    assert_eq!(header["height"], 30);
    let frames: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(frames[0], serde_json::json!([0.0, "r", "100x30"]));
    assert_eq!(frames[1], serde_json::json!([0.1, "o", "$ "]));
    assert_eq!(frames[2], serde_json::json!([0.5, "i", "ls\r"]));
}

#[test]
fn tampering_and_truncation_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 1000);
    write_session(&r, "s2");
    let path = dir.path().join("rec/s2.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    let id = SessionId("s2".into());

    // Edit one value in line 4.
    let edited = original.replacen("a b", "a c", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();
    let rep = r.verify(&id).unwrap();
    assert_eq!(rep.first_error.as_ref().map(|e| e.0), Some(5), "{rep:?}");
    assert!(!rep.is_ok());

    // Drop a line in the middle.
    let mut lines: Vec<&str> = original.lines().collect();
    lines.remove(2);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let rep = r.verify(&id).unwrap();
    assert_eq!(rep.first_error.as_ref().map(|e| e.0), Some(3), "{rep:?}");

    // Cut off the tail (seal included): an intact chain, but the seal index says it was
    // sealed, so it was cut.
    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(&path, lines[..4].join("\n") + "\n").unwrap();
    let rep = r.verify(&id).unwrap();
    assert!(rep.first_error.as_ref().is_some_and(|e| e.1.contains("cut after its seal")), "{rep:?}");
    assert!(!rep.sealed);
    assert!(!rep.is_ok());

    // Re-hash an edited line with a valid chain: the seal's signature no longer matches.
    std::fs::write(&path, &original).unwrap();
    assert!(r.verify(&id).unwrap().is_ok());
}

#[test]
fn checkpoints_are_written_at_each_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 10);
    let log = r.open(&session("s3")).unwrap();
    log.record(&Event::Note { message: "one".into() }).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let events = r.read(&SessionId("s3".into())).unwrap();
    assert!(events.iter().any(|e| matches!(e.body, Body::Control(Control::Checkpoint { .. }))), "{events:?}");
    // Unsealed but intact while live; the checkpoint is signed.
    let rep = r.verify(&SessionId("s3".into())).unwrap();
    assert!(rep.first_error.is_none() && !rep.sealed && rep.last_signed >= 3, "{rep:?}");
    drop(log);
    assert!(r.verify(&SessionId("s3".into())).unwrap().is_ok(), "dropped logs are sealed");
}

#[test]
fn write_failure_is_an_error_not_a_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 1000);
    // Disk full: the session's file is /dev/full.
    std::os::unix::fs::symlink("/dev/full", dir.path().join("rec/full.jsonl")).unwrap();
    assert!(r.open(&session("full")).is_err(), "the session-start record cannot be written");
    assert!(r.read(&SessionId("../keys".into())).is_err(), "ids cannot escape the directory");
}

/// A listing's summary: the session start and the record count, without parsing the rest.
#[test]
fn summary_gives_the_start_and_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 1000);
    write_session(&r, "s9");
    let id = SessionId("s9".into());
    let all = r.read(&id).unwrap();
    let sum = r.summary(&id).unwrap();
    assert_eq!(sum.records, all.len() as u64);
    assert_eq!(sum.head.as_ref(), all.first());
    assert_eq!(sum.ending, hoop_core::record::Ending::Sealed);
}

/// A live session's listing: a partly written last line is not counted, a last line longer
/// than the tail read still is, and a damaged last line falls back to counting lines.
#[test]
fn summary_reads_the_count_from_the_end() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let r = recorder(dir.path(), 1000);
    let log = r.open(&session("s10")).unwrap();
    log.record(&Event::terminal(0.1, Stream::Stdout, &vec![b'x'; 200 * 1024])).unwrap();
    log.record(&Event::terminal(0.2, Stream::Stdout, &vec![b'y'; 100 * 1024])).unwrap();
    let id = SessionId("s10".into());
    let sum = r.summary(&id).unwrap();
    assert!(sum.head.is_some());
    assert_eq!((sum.records, sum.ending), (3, hoop_core::record::Ending::Open), "start and two long records");

    let path = dir.path().join("rec/s10.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"seq\":4,\"ts\":\"2026-").unwrap();
    assert_eq!(r.summary(&id).unwrap().records, 3, "a partly written line is not a record yet");
    f.write_all(b"garbage\nnot a record\n").unwrap();
    assert_eq!(r.summary(&id).unwrap().records, 5, "a damaged end is counted line by line");
    drop(log);
}
