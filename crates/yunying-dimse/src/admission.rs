//! Admission: which connections may hold one of the association slots.
//!
//! Every connection takes a slot when it is accepted (before its
//! A-ASSOCIATE-RQ arrives) and keeps it until it ends. A slot is *idle*
//! while its connection waits for the peer: for the A-ASSOCIATE-RQ, or for
//! the next request of an established association; it is *busy* otherwise.
//! Idle associations cost a peer nothing, so they must not lock others out:
//!
//! * one address holds at most `max_associations_per_address` slots; a
//!   connection beyond that takes the slot of that address's longest-idle
//!   connection (the address only competes with itself), or is rejected
//!   when none of them is idle;
//! * when all `max_associations` slots are taken, a new connection takes
//!   the slot of an idle connection from the address holding the most
//!   slots, the longest idle first; only when no slot is idle is it
//!   rejected.
//!
//! Idle means waiting for the peer for at least `evict_idle_after` (a
//! second by default): the gaps between the requests of a working
//! association are much shorter, so a working association is never taken.
//!
//! With `evict_idle_after = 0` nothing is evicted: beyond a limit, new
//! connections are rejected.
//!
//! An evicted connection is aborted (A-ABORT) and never in the middle of a
//! request: taking the slot and starting a request are decided under one
//! lock ([`Slot::busy`] fails once the slot was taken).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    /// Least idle time of a connection evicted for another address (None:
    /// never evict).
    evict_after: Option<Duration>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    entries: HashMap<u64, Entry>,
}

struct Entry {
    ip: IpAddr,
    calling_ae: String,
    /// Since when the connection waits for its peer (None: busy).
    idle_since: Option<Instant>,
    evict: watch::Sender<bool>,
}

/// A connection that was evicted to admit another.
#[derive(Debug)]
pub struct Evicted {
    pub ip: IpAddr,
    pub calling_ae: String,
    pub idle: Duration,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds its limit and none of those is idle.
    AddressLimit,
    /// Every slot is busy.
    Full,
}

impl Admission {
    pub fn new(max_total: usize, max_per_address: usize, evict_after: Option<Duration>) -> Arc<Admission> {
        let (max_total, max_per_address) = (max_total.max(1), max_per_address.max(1));
        Arc::new(Admission { max_total, max_per_address, evict_after, table: Mutex::default() })
    }

    /// A slot for a new connection from `ip`, evicting an idle one if need
    /// be (returned, to be logged).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<(Slot, Option<Evicted>), Refusal> {
        let ip = ip.to_canonical();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let same_address = table.entries.values().filter(|e| e.ip == ip).count();
        let victim = if same_address >= self.max_per_address {
            let evict_after = self.evict_after.ok_or(Refusal::AddressLimit)?;
            let oldest = table
                .entries
                .iter()
                .filter(|(_, e)| e.ip == ip)
                .filter_map(|(id, e)| Some((*id, e.idle_since?)))
                .filter(|(_, since)| now.duration_since(*since) >= evict_after)
                .min_by_key(|(_, since)| *since);
            Some(oldest.map(|(id, _)| id).ok_or(Refusal::AddressLimit)?)
        } else if table.entries.len() >= self.max_total {
            let evict_after = self.evict_after.ok_or(Refusal::Full)?;
            let mut per_address: HashMap<IpAddr, usize> = HashMap::new();
            for e in table.entries.values() {
                *per_address.entry(e.ip).or_default() += 1;
            }
            let candidate = table
                .entries
                .iter()
                .filter_map(|(id, e)| Some((*id, e.ip, e.idle_since?)))
                .filter(|(_, _, since)| now.duration_since(*since) >= evict_after)
                .max_by_key(|(_, ip, since)| (per_address[ip], std::cmp::Reverse(*since)));
            Some(candidate.map(|(id, _, _)| id).ok_or(Refusal::Full)?)
        } else {
            None
        };
        let evicted = victim.and_then(|id| table.entries.remove(&id)).map(|e| {
            let _ = e.evict.send(true);
            Evicted { ip: e.ip, calling_ae: e.calling_ae, idle: e.idle_since.map(|s| now.duration_since(s)).unwrap_or_default() }
        });
        let id = table.next_id;
        table.next_id += 1;
        let (evict, evicted_rx) = watch::channel(false);
        table.entries.insert(id, Entry { ip, calling_ae: String::new(), idle_since: Some(now), evict });
        Ok((Slot { admission: self.clone(), id, evicted: evicted_rx }, evicted))
    }

    /// Connections holding a slot.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.table.lock().unwrap().entries.len()
    }
}

/// A connection's hold on an association slot; released when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    id: u64,
    evicted: watch::Receiver<bool>,
}

impl Slot {
    fn with<T>(&self, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let mut table = self.admission.table.lock().unwrap_or_else(|p| p.into_inner());
        table.entries.get_mut(&self.id).map(f)
    }

    /// The connection now waits for its peer: it may be evicted.
    pub fn idle(&self) {
        self.with(|e| {
            if e.idle_since.is_none() {
                e.idle_since = Some(Instant::now());
            }
        });
    }

    /// The connection starts work; false if it was evicted (it must end).
    pub fn busy(&self) -> bool {
        self.with(|e| e.idle_since = None).is_some()
    }

    /// Name the calling AE (for the log line of an eviction).
    pub fn set_calling_ae(&self, ae: &str) {
        self.with(|e| e.calling_ae = ae.to_string());
    }

    /// Completes when another connection took this slot.
    pub async fn evicted(&self) {
        let mut rx = self.evicted.clone();
        let _ = rx.wait_for(|e| *e).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.admission.table.lock().unwrap_or_else(|p| p.into_inner());
        table.entries.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn age(slot: &Slot, by: Duration) {
        slot.with(|e| e.idle_since = Some(Instant::now() - by));
    }

    #[test]
    fn an_address_at_its_limit_evicts_its_own_longest_idle_or_is_refused() {
        let a = Admission::new(10, 2, Some(Duration::from_secs(1)));
        let (first, _) = a.admit(ip(1)).unwrap();
        let (second, _) = a.admit(ip(1)).unwrap();
        // Neither has waited long enough: a third is refused (a working
        // association between two requests is never taken).
        assert_eq!(a.admit(ip(1)).err(), Some(Refusal::AddressLimit));
        age(&first, Duration::from_secs(3));
        age(&second, Duration::from_secs(2));
        let (third, evicted) = a.admit(ip(1)).unwrap();
        assert_eq!(evicted.unwrap().ip, ip(1));
        assert!(!first.busy(), "the longest idle one was taken");
        assert!(*first.evicted.borrow());
        assert!(second.busy() && third.busy());
        // Both held slots of the address are busy now: refused.
        assert_eq!(a.admit(ip(1)).err(), Some(Refusal::AddressLimit));
        assert_eq!(a.held(), 2);
        assert!(a.admit(ip(2)).is_ok(), "other addresses are not affected");
    }

    #[test]
    fn a_full_table_evicts_from_the_busiest_address_only_after_a_while() {
        let a = Admission::new(3, 3, Some(Duration::from_secs(1)));
        let (x1, _) = a.admit(ip(1)).unwrap();
        let (x2, _) = a.admit(ip(1)).unwrap();
        let (y, _) = a.admit(ip(2)).unwrap();
        // Nobody idle long enough: refused.
        assert_eq!(a.admit(ip(3)).err(), Some(Refusal::Full));
        // The other address's connection is the oldest, but address 1 holds more.
        age(&y, Duration::from_secs(50));
        age(&x1, Duration::from_secs(5));
        age(&x2, Duration::from_secs(10));
        let (_z, evicted) = a.admit(ip(3)).unwrap();
        assert_eq!(evicted.unwrap().ip, ip(1));
        assert!(!x2.busy() && x1.busy() && y.busy());
        // All busy now: refused.
        assert_eq!(a.admit(ip(4)).err(), Some(Refusal::Full));
        drop(x1);
        assert!(a.admit(ip(4)).is_ok(), "a dropped slot is free again");
    }

    #[test]
    fn without_eviction_limits_reject() {
        let a = Admission::new(2, 1, None);
        let (x, _) = a.admit(ip(1)).unwrap();
        age(&x, Duration::from_secs(100));
        assert_eq!(a.admit(ip(1)).err(), Some(Refusal::AddressLimit));
        let (_y, _) = a.admit(ip(2)).unwrap();
        assert_eq!(a.admit(ip(3)).err(), Some(Refusal::Full));
        assert!(x.busy());
    }
}
