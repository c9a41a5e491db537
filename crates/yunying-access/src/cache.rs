//! A short memory of access lookups, so a request does not pay for them
//! one by one: an API key's row, a session with its account, the grants in
//! force for a grantee, a study's issuer.
//!
//! Access rules may not rest on a decision older than 10 s. Here: a change
//! made through this node (every one records an access event: a grant
//! given or revoked, a key revoked, roles changed, an account disabled, a
//! sign-out) forgets everything at once, so its next request sees it; a
//! change made elsewhere (another node, the command line) is seen within
//! [`FRESH`]. A study's issuer never changes (an instance never moves a
//! study between institutions), so it is kept until the map is full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use yunying_index::ApiKeyRow;
use yunying_index::{SessionRow, UserRow};

/// How long a remembered lookup answers for.
pub const FRESH: Duration = Duration::from_secs(2);

/// Most entries of one map; past it the map starts afresh.
const MAX_ENTRIES: usize = 50_000;

/// Grants in force by grantee (person, institution): (study, grant) pairs.
type GrantMap = HashMap<(Option<String>, Option<String>), Entry<Vec<(String, String)>>>;

struct Entry<T> {
    at: Instant,
    generation: u64,
    value: T,
}

/// Remembered lookups (see the module docs).
#[derive(Default)]
pub(crate) struct Cache {
    generation: AtomicU64,
    keys: Mutex<HashMap<String, Entry<ApiKeyRow>>>,
    sessions: Mutex<HashMap<String, Entry<(SessionRow, UserRow)>>>,
    grants: Mutex<GrantMap>,
    issuers: Mutex<HashMap<String, String>>,
}

impl Cache {
    /// Something changed through this node: forget every timed entry.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn get<K: Eq + Hash, T: Clone>(&self, map: &Mutex<HashMap<K, Entry<T>>>, key: &K) -> Option<T> {
        let generation = self.generation.load(Ordering::SeqCst);
        let map = map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).filter(|e| e.generation == generation && e.at.elapsed() < FRESH).map(|e| e.value.clone())
    }

    /// Remember `value`, fetched when the generation was `generation`
    /// (taken before the fetch, so a change during it is not hidden).
    fn put<K: Eq + Hash, T>(&self, map: &Mutex<HashMap<K, Entry<T>>>, key: K, generation: u64, value: T) {
        let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, Entry { at: Instant::now(), generation, value });
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn key(&self, key_id: &str) -> Option<ApiKeyRow> {
        self.get(&self.keys, &key_id.to_string())
    }

    pub fn put_key(&self, generation: u64, row: ApiKeyRow) {
        self.put(&self.keys, row.key_id.clone(), generation, row);
    }

    pub fn session(&self, digest: &str) -> Option<(SessionRow, UserRow)> {
        self.get(&self.sessions, &digest.to_string())
    }

    pub fn put_session(&self, generation: u64, digest: String, session: (SessionRow, UserRow)) {
        self.put(&self.sessions, digest, generation, session);
    }

    pub fn grants(&self, person: Option<&str>, institution: Option<&str>) -> Option<Vec<(String, String)>> {
        self.get(&self.grants, &(person.map(str::to_string), institution.map(str::to_string)))
    }

    pub fn put_grants(&self, generation: u64, person: Option<&str>, institution: Option<&str>, granted: Vec<(String, String)>) {
        self.put(&self.grants, (person.map(str::to_string), institution.map(str::to_string)), generation, granted);
    }

    pub fn issuer(&self, study: &str) -> Option<String> {
        self.issuers.lock().unwrap_or_else(|e| e.into_inner()).get(study).cloned()
    }

    pub fn put_issuer(&self, study: &str, issuer: &str) {
        let mut map = self.issuers.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES * 4 {
            map.clear();
        }
        map.insert(study.to_string(), issuer.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_forgets_and_time_forgets() {
        let cache = Cache::default();
        let g = cache.generation();
        cache.put_grants(g, Some("u1"), None, vec![("1.2.3".into(), "g1".into())]);
        assert!(cache.grants(Some("u1"), None).is_some());
        assert!(cache.grants(Some("u2"), None).is_none());
        cache.changed();
        assert!(cache.grants(Some("u1"), None).is_none(), "a change through this node is seen at once");
        // An answer fetched before a change is not remembered as current.
        cache.put_grants(g, Some("u1"), None, vec![]);
        assert!(cache.grants(Some("u1"), None).is_none());
        let g = cache.generation();
        cache.put_key(g, ApiKeyRow { key_id: "k".into(), ..Default::default() });
        let map = cache.keys.lock().unwrap();
        assert!(map["k"].at.elapsed() < FRESH);
    }
}
