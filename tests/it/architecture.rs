//! ARCHITECTURE.md's layering, checked: "Crates are layered; each depends
//! only on those above it in this list." A crate that reaches down (the
//! index calling the access layer, DIMSE calling HTTP) fails here.

use std::path::Path;

use crate::harness::ROOT;

/// The crates in the order ARCHITECTURE.md's code map lists them.
fn layers() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("### `crates/")).map(|l| l.trim_end_matches('`').to_string()).collect()
}

/// The workspace crates a crate's Cargo.toml depends on (normal
/// dependencies; dev-dependencies may reach anywhere).
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("crates").join(krate).join("Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if section == "[dependencies]"
            && let Some(name) = line.split(['=', '.', ' ']).next().filter(|n| n.starts_with("yunying-"))
        {
            deps.push(name.to_string());
        }
    }
    deps
}

#[test]
fn every_crate_depends_only_on_crates_above_it_in_architecture_md() {
    let layers = layers();
    let mut on_disk: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| Path::new(ROOT).join("crates").join(n).join("Cargo.toml").is_file())
        .collect();
    on_disk.sort();
    let mut listed = layers.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "ARCHITECTURE.md's code map lists every crate, once");
    for (i, krate) in layers.iter().enumerate() {
        for dep in dependencies(krate) {
            let at = layers.iter().position(|l| *l == dep).unwrap_or_else(|| panic!("{krate} depends on unlisted {dep}"));
            assert!(at < i, "{krate} depends on {dep}, which ARCHITECTURE.md lists below it");
        }
    }
}
