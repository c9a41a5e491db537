//! Views batched into sittings: every metadata request, rendered image and
//! frame a viewer fetches of one study is noted here, and one
//! `study-viewed` event per (principal, study, grant, client) is recorded
//! once the views have been quiet for `view_batch_secs` (or have gone on
//! for ten times that, or the node shuts down).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use crate::event::Event;

/// Most sittings held at once; beyond it, every sitting is recorded at
/// the next tick (memory stays bounded under any load).
pub const MAX_SITTINGS: usize = 10_000;

/// Most series UIDs named in one sitting's event.
pub const MAX_SERIES_NAMED: usize = 100;

/// One look at a study.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub principal: String,
    pub institution: Option<String>,
    /// `grant:ID` when a grant opened the study, else "".
    pub via: String,
    pub client: String,
    pub study: String,
    /// The series looked at, when the request names one.
    pub series: Option<String>,
    /// What was fetched: `metadata`, `rendered`, `thumbnail`, `frames`,
    /// `instances`, `bulkdata`, `series`, `study`.
    pub what: &'static str,
    /// How many items (instances, frames) the request returned.
    pub items: u64,
}

#[derive(Hash, PartialEq, Eq, Clone)]
struct Key {
    principal: String,
    study: String,
    via: String,
    client: String,
}

struct Sitting {
    institution: Option<String>,
    first_ms: i64,
    last_ms: i64,
    requests: u64,
    items: BTreeMap<&'static str, u64>,
    series: BTreeSet<String>,
}

/// The sittings in progress.
pub struct Batcher {
    quiet_ms: i64,
    sittings: Mutex<HashMap<Key, Sitting>>,
}

impl Batcher {
    pub fn new(quiet_secs: u64) -> Batcher {
        Batcher { quiet_ms: (quiet_secs.max(1) * 1000) as i64, sittings: Mutex::default() }
    }

    /// Note one look.
    pub fn add(&self, seen: Seen) {
        self.add_at(seen, crate::now_ms())
    }

    fn add_at(&self, seen: Seen, now: i64) {
        let key = Key { principal: seen.principal, study: seen.study, via: seen.via, client: seen.client };
        let mut sittings = self.sittings.lock().expect("batcher lock");
        let s = sittings.entry(key).or_insert_with(|| Sitting {
            institution: seen.institution,
            first_ms: now,
            last_ms: now,
            requests: 0,
            items: BTreeMap::new(),
            series: BTreeSet::new(),
        });
        s.last_ms = now;
        s.requests += 1;
        *s.items.entry(seen.what).or_default() += seen.items;
        if let Some(series) = seen.series
            && s.series.len() < MAX_SERIES_NAMED
        {
            s.series.insert(series);
        }
    }

    /// The events of sittings that are over at `now` (all of them when
    /// `all`, or when too many are held).
    pub fn take(&self, all: bool, now: i64) -> Vec<Event> {
        let all = all || self.sittings.lock().expect("batcher lock").len() > MAX_SITTINGS;
        self.take_where(|_, s| all || now - s.last_ms >= self.quiet_ms || now - s.first_ms >= 10 * self.quiet_ms)
    }

    /// The events of `principal`'s sittings of `study`, over or not (a
    /// decision about what was seen ends the sitting).
    pub fn take_of(&self, principal: &str, study: &str) -> Vec<Event> {
        self.take_where(|k, _| k.principal == principal && k.study == study)
    }

    fn take_where(&self, over: impl Fn(&Key, &Sitting) -> bool) -> Vec<Event> {
        let mut sittings = self.sittings.lock().expect("batcher lock");
        let over: Vec<Key> = sittings.iter().filter(|(k, s)| over(k, s)).map(|(k, _)| k.clone()).collect();
        over.into_iter()
            .filter_map(|k| {
                let s = sittings.remove(&k)?;
                let mut e = Event::new("study-viewed", &k.principal, "ok")
                    .institution(s.institution.as_deref())
                    .via(&k.via)
                    .client(&k.client)
                    .studies(std::slice::from_ref(&k.study))
                    .fact("first_ms", s.first_ms)
                    .fact("last_ms", s.last_ms)
                    .fact("requests", s.requests)
                    .fact("items", serde_json::to_value(&s.items).unwrap_or_default());
                if !s.series.is_empty() {
                    e = e.fact("series", s.series.into_iter().collect::<Vec<_>>());
                }
                e.at_ms = s.first_ms;
                Some(e)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(study: &str, series: &str) -> Seen {
        Seen {
            principal: "person:u1".into(),
            study: study.into(),
            series: Some(series.into()),
            what: "frames",
            items: 1,
            client: "10.0.0.9".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_series_scrolled_through_is_one_event() {
        let b = Batcher::new(10);
        for i in 0..300 {
            b.add_at(look("1.2.3", "1.2.3.4"), 1_000 + i * 10);
        }
        assert!(b.take(false, 5_000).is_empty(), "still viewing");
        let events = b.take(false, 1_000 + 299 * 10 + 10_000);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.event, "study-viewed");
        assert_eq!(e.studies, vec!["1.2.3".to_string()]);
        assert_eq!(e.facts["requests"], 300);
        assert_eq!(e.facts["items"]["frames"], 300);
        assert_eq!(e.facts["series"][0], "1.2.3.4");
        assert!(b.take(true, i64::MAX).is_empty(), "recorded once");
    }

    #[test]
    fn different_studies_and_principals_are_different_events() {
        let b = Batcher::new(10);
        b.add_at(look("1.2.3", "a"), 0);
        b.add_at(look("1.2.4", "b"), 0);
        let mut other = look("1.2.3", "a");
        other.principal = "person:u2".into();
        b.add_at(other, 0);
        assert_eq!(b.take(true, 0).len(), 3);
    }

    #[test]
    fn a_long_sitting_is_cut_into_events() {
        let b = Batcher::new(1);
        for i in 0..30 {
            b.add_at(look("1.2.3", "a"), i * 500);
        }
        assert_eq!(b.take(false, 30 * 500).len(), 1, "ten quiet periods at most");
    }

    #[test]
    fn a_sitting_is_taken_early_for_its_principal_and_study_only() {
        let b = Batcher::new(10);
        b.add_at(look("1.2.3", "a"), 0);
        b.add_at(look("1.2.3", "a"), 700);
        b.add_at(look("1.2.4", "b"), 0);
        let taken = b.take_of("person:u1", "1.2.3");
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].facts["first_ms"].as_i64(), taken[0].facts["last_ms"].as_i64()), (Some(0), Some(700)));
        assert!(b.take_of("person:u1", "1.2.3").is_empty(), "taken once");
        assert!(b.take_of("person:u2", "1.2.4").is_empty(), "another principal's sitting is not theirs");
        assert_eq!(b.take(true, 0).len(), 1, "the other study's sitting stays until it is over");
    }
}
