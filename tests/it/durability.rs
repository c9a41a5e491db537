//! The order of flushes that makes a stored original durable, checked on
//! the system calls the embedded backend really makes (issue 25: the
//! benchmarks count these flushes; this keeps their order honest).

use std::collections::HashMap;
use std::process::Command;

use crate::harness::*;

/// Under `strace`, each original's spool file is flushed and that flush
/// has returned before the file is renamed to its key; the key's directory is
/// flushed after the rename, all before the row is committed (the row's
/// statements run meanwhile; its commit waits for `put` to return;
/// `crash.rs` kills ingest and finds no row without its object). A flush
/// missing or moved after the rename, or a commit before the directory's
/// flush, would let a crash leave a row's object torn or unnamed.
#[test]
fn an_original_is_flushed_then_named_then_its_directory_flushed() {
    if distributed_backend() {
        return; // The filesystem store only.
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 3, 64, 7, &["-q"]);
    let data = tmp.path().join("data");
    let log = tmp.path().join("strace.log");
    let mut cmd = Command::new("strace");
    // `pwrite64` with whole pages: the WAL frames that carry each row.
    // Each rename returns 0.2 s late: a row committed while its object is
    // still being named would show here, whatever the machine's speed.
    cmd.args(["-f", "-y", "-qq", "-s", "8192", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,pwrite64"]);
    cmd.args(["-e", "inject=rename,renameat,renameat2:delay_exit=200000", "-o"]).arg(&log).arg(BIN);
    cmd.arg("--data-dir").arg(&data).env("YUNYING_LOG", "warn").args(["import", "--quiet", "--jobs", "1"]).arg(&src);
    run(&mut cmd);
    let text = std::fs::read_to_string(&log).unwrap();
    let calls = calls_of(&text);
    let renames: Vec<&Call> = calls.iter().filter(|c| c.text.starts_with("rename") && c.text.contains("/originals/")).collect();
    let mut originals = 0;
    for (k, rename) in renames.iter().enumerate() {
        originals += 1;
        assert!(rename.text.trim_end_matches(" (DELAYED)").ends_with("= 0"), "{}", rename.text);
        let (spool, target) = (rename.text.split('"').nth(1).unwrap(), rename.text.split('"').nth(3).unwrap());
        // A traced thread stops at each system call's return until strace
        // has printed it, so a flush that returned before the rename began
        // ends earlier in the log.
        assert!(
            calls.iter().any(|c| c.ended < rename.began && is_flush_of(&c.text, spool)),
            "{spool} is flushed before it is named:\n{text}"
        );
        let dir = format!("{}>", target.rsplit_once('/').unwrap().0);
        let next = calls.iter().find(|c| c.pid == rename.pid && c.began > rename.ended);
        assert!(next.is_some_and(|c| is_flush_of(&c.text, &dir)), "{} is followed by the flush of {dir}:\n{text}", rename.text);
        // Then the row's commit: the row's statements may run while the
        // object is flushed, but its page reaches the WAL (SQLite writes
        // a transaction's pages at commit) only after the directory's
        // flush, and a WAL flush follows in the same thread, before the
        // next original is named (`--jobs 1`: the import waits for each
        // instance's success before it sends the next).
        let dir_flushed = next.unwrap().ended;
        let next_named = renames.get(k + 1).map_or(usize::MAX, |r| r.began);
        let sop = target.rsplit('/').next().unwrap().split(".dcm").next().unwrap().rsplit_once('.').unwrap().0;
        let row = calls
            .iter()
            .find(|c| c.text.starts_with("pwrite64(") && c.text.contains("index.sqlite-wal>") && c.text.contains(sop))
            .unwrap_or_else(|| panic!("no WAL frame carries {sop}:\n{text}"));
        assert!(row.began > dir_flushed, "the row of {sop} is written to the WAL before its object's directory is flushed:\n{text}");
        assert!(
            calls
                .iter()
                .any(|c| c.pid == row.pid && c.began > row.ended && c.ended < next_named && is_flush_of(&c.text, "index.sqlite-wal>")),
            "the WAL is flushed after the row of {sop} is written, before the next original is named:\n{text}"
        );
    }
    assert_eq!(originals, 3, "one rename for each original");
}

/// One traced system call: its thread, the log lines where it began and
/// ended, and its whole text (an `<unfinished ...>` line joined with its
/// `<... resumed>` line).
struct Call {
    pid: String,
    began: usize,
    ended: usize,
    text: String,
}

fn calls_of(log: &str) -> Vec<Call> {
    let mut open: HashMap<String, (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (at, line) in log.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else { continue };
        let rest = rest.trim_start();
        if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            open.insert(pid.to_string(), (at, start.to_string()));
        } else if rest.starts_with("<... ") {
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            if let Some((began, start)) = open.remove(pid) {
                calls.push(Call { pid: pid.to_string(), began, ended: at, text: format!("{start}{tail}") });
            }
        } else {
            calls.push(Call { pid: pid.to_string(), began: at, ended: at, text: rest.to_string() });
        }
    }
    calls
}

/// A successful `fsync` or `fdatasync` of the file `path` names (`-y`
/// prints the path each descriptor is open on).
fn is_flush_of(line: &str, path: &str) -> bool {
    (line.starts_with("fsync(") || line.starts_with("fdatasync(")) && line.contains(path) && line.trim_end().ends_with("= 0")
}
