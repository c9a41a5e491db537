//! `yunying-proof-check`: the separate small verifier an auditor runs. It
//! reads only files and prints whether a tlog-proof bundle shows that the
//! given entry is in the log under a checkpoint signed by the log's key and
//! cosigned by enough of the given witnesses.
//!
//! ```text
//! yunying-proof-check --log-key KEYFILE [--witness-key KEY|KEYFILE]... [--min-cosignatures N] [--hash sm3|sha256] BUNDLE LEAF
//! ```
//!
//! By default every witness key given must have cosigned. Exit status 0:
//! verified; 1: not verified; 2: usage or unreadable input.

use std::process::ExitCode;

use yunying_ledger::{HashAlg, VerifierKey, open_bundle};

const USAGE: &str =
    "usage: yunying-proof-check --log-key KEYFILE [--witness-key KEY|KEYFILE]... [--min-cosignatures N] [--hash sm3|sha256] BUNDLE LEAF";
/// Input files larger than this are refused (the bundle format caps at ~1 MiB).
const MAX_FILE_BYTES: u64 = 4 << 20;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, (u8, String)> {
    let meta = std::fs::metadata(path).map_err(|e| (2, format!("{path}: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err((2, format!("{path}: larger than {MAX_FILE_BYTES} bytes")));
    }
    std::fs::read(path).map_err(|e| (2, format!("{path}: {e}")))
}

fn key(arg: &str) -> Result<VerifierKey, (u8, String)> {
    let text = if std::path::Path::new(arg).is_file() {
        String::from_utf8(read(arg)?).map_err(|_| (2, format!("{arg}: not UTF-8")))?
    } else {
        arg.to_string()
    };
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    VerifierKey::parse(line).map_err(|e| (2, format!("{arg}: {e}")))
}

fn run(args: Vec<String>) -> Result<String, (u8, String)> {
    let usage = || (2, USAGE.to_string());
    let (mut log_key, mut witnesses, mut min, mut hash, mut positional) = (None, Vec::new(), None, HashAlg::Sm3, Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--log-key" => log_key = Some(key(&it.next().ok_or_else(usage)?)?),
            "--witness-key" => witnesses.push(key(&it.next().ok_or_else(usage)?)?),
            "--min-cosignatures" => min = Some(it.next().and_then(|n| n.parse::<usize>().ok()).ok_or_else(usage)?),
            "--hash" => hash = it.next().and_then(|h| h.parse().ok()).ok_or_else(usage)?,
            "-h" | "--help" => return Err(usage()),
            _ if a.starts_with("--") => return Err(usage()),
            _ => positional.push(a),
        }
    }
    let [bundle, leaf] = positional.as_slice() else { return Err(usage()) };
    let log_key = log_key.ok_or_else(usage)?;
    let min = min.unwrap_or(witnesses.len());
    let bundle = String::from_utf8(read(bundle)?).map_err(|_| (2, format!("{bundle}: not UTF-8")))?;
    let leaf = read(leaf)?;
    let v = open_bundle(&bundle, &leaf, hash, &log_key, &witnesses, min).map_err(|e| (1, format!("NOT VERIFIED: {e}")))?;
    let (index, size) = (v.index, v.checkpoint.checkpoint.size);
    let mut out = format!(
        "OK: entry {index} of {size} in log {} (hash {}), cosigned by at least {min} of {} witnesses",
        log_key.name(),
        hash.name(),
        witnesses.len()
    );
    if let Some(t) = v.checkpoint.log_time {
        out.push_str(&format!("\n  checkpoint signed by the log at {t} (POSIX seconds)"));
    }
    for c in &v.checkpoint.cosignatures {
        out.push_str(&format!("\n  cosigned by {} at {}", c.name, c.timestamp.map_or("?".to_string(), |t| t.to_string())));
    }
    Ok(out)
}
