//! Objects no index row refers to, as `yunying verify` reports them and as
//! the ledger records what was done to them (by `verify` and by the
//! sweep): an `unreferenced-objects` event per 1,000 objects adopted or
//! deleted, naming their keys (UIDs only, no patient data), results and
//! sizes, and the studies the keys name.

use std::time::Duration;

use serde::Serialize;
use yunying_archive::Archive;
use yunying_archive::orphans::{LIST_PAGE, OrphanAction, Outcome, cutoff, handle, scan_page};
use yunying_audit::Event;

/// Objects one event names at most.
const OBJECTS_PER_EVENT: usize = 1_000;

/// Unreferenced objects older than the grace period, and what was done.
#[derive(Debug, Default, Serialize)]
pub struct UnreferencedReport {
    pub grace_secs: u64,
    /// `report`, `adopt` or `delete`.
    pub action: &'static str,
    /// Every unreferenced object found, and their size.
    pub count: usize,
    pub bytes: u64,
    /// Those handled (at most `--max-unreferenced`), in key order.
    pub objects: Vec<Outcome>,
    /// Found beyond `--max-unreferenced`: counted, neither listed nor
    /// handled (run again).
    pub not_handled: usize,
}

impl UnreferencedReport {
    pub fn tally(&self, result: &str) -> usize {
        self.objects.iter().filter(|o| o.result == result).count()
    }

    pub fn summary(&self) -> String {
        let mut text = format!("{} unreferenced objects ({:.1} MB) older than {} s", self.count, self.bytes as f64 / 1e6, self.grace_secs);
        let done: Vec<String> =
            Outcome::RESULTS.iter().filter(|r| **r != "reported" && self.tally(r) > 0).map(|r| format!("{} {r}", self.tally(r))).collect();
        if !done.is_empty() {
            text += &format!(": {}", done.join(", "));
        }
        if self.not_handled > 0 {
            text += &format!("; {} beyond --max-unreferenced not handled (run again)", self.not_handled);
        }
        text
    }

    pub fn print_objects(&self) {
        for o in &self.objects {
            let detail = if o.detail.is_empty() { String::new() } else { format!(" ({})", o.detail) };
            eprintln!("unreferenced {} {} ({} bytes): {}{detail}", o.object.object, o.object.key, o.object.size, o.result);
        }
    }
}

/// Walk the whole store a page at a time; apply `action` to the first
/// `max` unreferenced objects older than `grace`, count the rest.
pub async fn walk(archive: &Archive, grace: Duration, action: OrphanAction, max: usize) -> anyhow::Result<UnreferencedReport> {
    let mut report = UnreferencedReport { grace_secs: grace.as_secs(), action: action.as_str(), ..Default::default() };
    let cutoff = cutoff(grace);
    let mut after: Option<String> = None;
    loop {
        let page = scan_page(archive.index(), archive.store(), after.as_deref(), cutoff, LIST_PAGE).await?;
        report.count += page.unreferenced.len();
        report.bytes += page.unreferenced.iter().map(|u| u.size).sum::<u64>();
        let mut found = page.unreferenced;
        let room = max.saturating_sub(report.objects.len());
        if found.len() > room {
            report.not_handled += found.len() - room;
            found.truncate(room);
        }
        report.objects.extend(handle(archive, found, action).await);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(report),
        }
    }
}

/// The studies an object key names (`originals/{study}/…`,
/// `renditions/{study}/…`).
fn study_of(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    let (_space, study) = (parts.next()?, parts.next()?);
    parts.next().map(|_| study)
}

/// The ledger events of what `outcomes` changed (none when nothing was
/// adopted or deleted). `principal`: `cli` or `system`; `face`: `verify`
/// or `sweep`.
pub fn events(principal: &str, face: &str, action: OrphanAction, outcomes: &[Outcome]) -> Vec<Event> {
    let changed: Vec<&Outcome> = outcomes.iter().filter(|o| o.changed()).collect();
    let failed = outcomes.iter().filter(|o| o.result == "failed").count();
    let left = outcomes.len() - changed.len();
    changed
        .chunks(OBJECTS_PER_EVENT)
        .map(|chunk| {
            let mut studies: Vec<String> = chunk.iter().filter_map(|o| study_of(&o.object.key)).map(str::to_string).collect();
            studies.sort();
            studies.dedup();
            let count = |r: &str| chunk.iter().filter(|o| o.result == r).count();
            let objects: Vec<serde_json::Value> = chunk
                .iter()
                .map(|o| serde_json::json!({"key": o.object.key, "object": o.object.object, "result": o.result, "size": o.object.size}))
                .collect();
            Event::new("unreferenced-objects", principal, if failed > 0 { "failed" } else { "ok" })
                .studies(&studies)
                .detail(&format!("{} adopted, {} deleted, {left} left, {failed} failed", count("adopted"), count("deleted")))
                .fact("face", face)
                .fact("action", action.as_str())
                .fact("adopted", count("adopted"))
                .fact("deleted", count("deleted"))
                .fact("objects", objects)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunying_archive::orphans::Unreferenced;

    fn outcome(key: &str, result: &'static str) -> Outcome {
        let object = if key.starts_with("originals/") { "original" } else { "rendition" };
        Outcome { object: Unreferenced { key: key.into(), object, size: 7, indexed_as: None }, result, detail: String::new() }
    }

    #[test]
    fn events_name_what_changed_and_nothing_else() {
        let outcomes = [
            outcome("originals/1.2/1.2.3/1.2.3.4.0123456789abcdef.dcm", "adopted"),
            outcome("originals/1.9/1.9.3/1.9.3.4.0123456789abcdef.dcm", "invalid"),
            outcome("renditions/1.5/1.5.3/1.5.3.4/thumbnail.jpg", "deleted"),
        ];
        let recorded = events("cli", "verify", OrphanAction::Delete, &outcomes);
        assert_eq!(recorded.len(), 1);
        let e = &recorded[0];
        assert_eq!((e.event.as_str(), e.principal.as_str(), e.result.as_str()), ("unreferenced-objects", "cli", "ok"));
        assert_eq!(e.studies, ["1.2", "1.5"]);
        assert_eq!(e.facts["adopted"], 1);
        assert_eq!(e.facts["deleted"], 1);
        let keys: Vec<&str> = e.facts["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap()).collect();
        assert_eq!(keys, [outcomes[0].object.key.as_str(), outcomes[2].object.key.as_str()]);
        assert!(events("system", "sweep", OrphanAction::Adopt, &outcomes[1..2]).is_empty(), "nothing changed, nothing recorded");
        let many: Vec<Outcome> = (0..2_500).map(|i| outcome(&format!("renditions/1/1.1/1.1.{i}/thumbnail.jpg"), "deleted")).collect();
        let chunked = events("system", "sweep", OrphanAction::Delete, &many);
        assert_eq!(chunked.iter().map(|e| e.facts["deleted"].as_u64().unwrap()).collect::<Vec<_>>(), [1000, 1000, 500]);
    }
}
