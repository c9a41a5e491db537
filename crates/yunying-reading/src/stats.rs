//! Reading statistics: turnaround (request → signed) by requesting
//! institution, reading institution, modality or radiologist; the
//! backlog; critical findings and how long their notice took. API, CSV
//! and the statistics page show the same lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yunying_access::{Action, Denied, Principal};
use yunying_index::{MAX_STATS_ROWS, ReadingStatsQuery, ReadingStatsRow};

use crate::ReadingError;
use crate::service::{Reading, now_ms};

/// What statistics are asked for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsRequest {
    /// `requesting`, `reading`, `modality` or `radiologist`.
    pub by: String,
    /// `reading` (requests to the principal's institution, the default)
    /// or `requesting` (those it sent).
    pub side: String,
    /// Created from (inclusive) and to (exclusive), ms since the epoch
    /// (default: the last 30 days).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// One line of statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsLine {
    /// The institution, modality or radiologist.
    pub key: String,
    /// What people call it: the institution's name, the radiologist's
    /// display name (else user name); the key itself for a modality.
    pub name: String,
    pub requests: u64,
    pub signed: u64,
    /// Open requests (not signed, not cancelled).
    pub backlog: u64,
    /// Open requests past their target.
    pub overdue: u64,
    /// Of the signed ones, how many within their target.
    pub within_target: u64,
    /// Turnaround of the signed ones, minutes (median and 90th percentile).
    pub turnaround_p50_min: Option<f64>,
    pub turnaround_p90_min: Option<f64>,
    pub critical: u64,
    /// Critical findings whose notice was delivered.
    pub critical_notified: u64,
    /// Median minutes from flagging a critical finding to its notice delivered.
    pub notify_p50_min: Option<f64>,
}

/// Statistics of a period.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub by: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub lines: Vec<StatsLine>,
    pub total: StatsLine,
    /// Whether more requests matched than one query reads.
    pub truncated: bool,
}

/// The last millisecond of the year 9999.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Longest period one query covers.
const MAX_PERIOD_MS: i64 = 400 * 86_400_000;

impl Reading {
    /// Statistics of the principal's institution (either side), or of the
    /// whole platform for the system administrator.
    pub async fn stats_as(&self, who: &Principal, q: &StatsRequest) -> Result<Stats, ReadingError> {
        let by_requesting = match q.side.as_str() {
            "" | "reading" => false,
            "requesting" => true,
            other => return Err(ReadingError::Invalid(format!("side is reading or requesting, not {other:?}"))),
        };
        let institution = if who.may(Action::ManageSystem) {
            who.institution.clone()
        } else {
            if !(who.may(Action::Reading) || who.may(Action::RequestReading)) {
                return Err(Denied::Forbidden("reading statistics need a reading or requesting role".into()).into());
            }
            Some(who.institution.clone().ok_or_else(|| Denied::Forbidden("statistics are an institution's".into()))?)
        };
        let by = if q.by.is_empty() { "requesting" } else { q.by.as_str() };
        let key: fn(&ReadingStatsRow) -> String = match by {
            "requesting" => |r| r.requesting.clone(),
            "reading" => |r| r.reading.clone(),
            "modality" => |r| r.modality.clone(),
            "radiologist" => |r| r.signer.clone(),
            other => return Err(ReadingError::Invalid(format!("by is requesting, reading, modality or radiologist, not {other:?}"))),
        };
        let now = now_ms();
        // Times from 1970 to the year 9999: nothing below overflows.
        if [q.from_ms, q.to_ms].into_iter().flatten().any(|t| !(0..=MAX_TIME_MS).contains(&t)) {
            return Err(ReadingError::Invalid("from_ms and to_ms are milliseconds since 1970, before the year 10000".into()));
        }
        let to_ms = q.to_ms.unwrap_or(now);
        let from_ms = q.from_ms.unwrap_or((to_ms - 30 * 86_400_000).max(0));
        if from_ms >= to_ms || to_ms - from_ms > MAX_PERIOD_MS {
            return Err(ReadingError::Invalid("the period is from before to, at most 400 days".into()));
        }
        let rows = self.index.reading_stats_rows(&ReadingStatsQuery { institution, by_requesting, from_ms, to_ms }).await?;
        let truncated = rows.len() as i64 >= MAX_STATS_ROWS;
        let mut groups: BTreeMap<String, Vec<&ReadingStatsRow>> = BTreeMap::new();
        for r in &rows {
            let k = key(r);
            let k = if by == "radiologist" && k.is_empty() { "(unsigned)".to_string() } else { k };
            groups.entry(k).or_default().push(r);
        }
        let mut lines = Vec::with_capacity(groups.len());
        for (k, rs) in groups {
            let name = self.name_of(by, &k).await;
            lines.push(line(k, name, &rs, now));
        }
        let all: Vec<&ReadingStatsRow> = rows.iter().collect();
        Ok(Stats { by: by.to_string(), from_ms, to_ms, lines, total: line("total".into(), "total".into(), &all, now), truncated })
    }

    /// What a line's key is called.
    async fn name_of(&self, by: &str, key: &str) -> String {
        match by {
            "requesting" | "reading" => self.institution_name(key),
            "radiologist" => match key.strip_prefix("person:") {
                Some(id) => self.person_name(id).await.unwrap_or_else(|| key.to_string()),
                None => key.to_string(),
            },
            _ => key.to_string(),
        }
    }
}

fn line(key: String, name: String, rows: &[&ReadingStatsRow], now: i64) -> StatsLine {
    let mut turnaround: Vec<f64> = Vec::new();
    let mut notify: Vec<f64> = Vec::new();
    let mut l = StatsLine {
        key,
        name,
        requests: rows.len() as u64,
        signed: 0,
        backlog: 0,
        overdue: 0,
        within_target: 0,
        turnaround_p50_min: None,
        turnaround_p90_min: None,
        critical: 0,
        critical_notified: 0,
        notify_p50_min: None,
    };
    for r in rows {
        match r.signed_ms {
            Some(s) => {
                l.signed += 1;
                turnaround.push((s - r.created_ms) as f64 / 60_000.0);
                if s <= r.due_ms {
                    l.within_target += 1;
                }
            }
            None if r.status != "cancelled" => {
                l.backlog += 1;
                if now > r.due_ms {
                    l.overdue += 1;
                }
            }
            None => {}
        }
        if r.critical {
            l.critical += 1;
            if let (Some(at), Some(told)) = (r.critical_ms, r.critical_notified_ms) {
                l.critical_notified += 1;
                notify.push((told - at) as f64 / 60_000.0);
            }
        }
    }
    l.turnaround_p50_min = percentile(&mut turnaround, 0.5);
    l.turnaround_p90_min = percentile(&mut turnaround, 0.9);
    l.notify_p50_min = percentile(&mut notify, 0.5);
    l
}

/// The nearest-rank percentile, rounded to 0.1.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some((values[rank - 1] * 10.0).round() / 10.0)
}

/// Statistics as CSV (UTF-8 with a byte-order mark, for spreadsheets).
pub fn to_csv(s: &Stats) -> String {
    let mut out = String::from(
        "\u{feff}key,name,requests,signed,backlog,overdue,within_target,turnaround_p50_min,turnaround_p90_min,critical,critical_notified,notify_p50_min\n",
    );
    let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let quoted = |v: &str| if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() };
    for l in s.lines.iter().chain(std::iter::once(&s.total)) {
        let (key, name) = (quoted(&l.key), quoted(&l.name));
        out.push_str(&format!(
            "{key},{name},{},{},{},{},{},{},{},{},{},{}\n",
            l.requests,
            l.signed,
            l.backlog,
            l.overdue,
            l.within_target,
            f(l.turnaround_p50_min),
            f(l.turnaround_p90_min),
            l.critical,
            l.critical_notified,
            f(l.notify_p50_min)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(created: i64, signed: Option<i64>, due: i64) -> ReadingStatsRow {
        ReadingStatsRow {
            requesting: "T1".into(),
            status: if signed.is_some() { "signed" } else { "new" }.into(),
            created_ms: created,
            due_ms: due,
            signed_ms: signed,
            ..Default::default()
        }
    }

    #[test]
    fn a_line_counts_turnaround_backlog_and_targets() {
        let m = 60_000;
        let rows = [row(0, Some(30 * m), 60 * m), row(0, Some(90 * m), 60 * m), row(0, None, 60 * m), row(0, None, 1_000 * m)];
        let refs: Vec<&ReadingStatsRow> = rows.iter().collect();
        let l = line("T1".into(), "青山镇卫生院".into(), &refs, 100 * m);
        assert_eq!((l.requests, l.signed, l.backlog, l.overdue, l.within_target), (4, 2, 2, 1, 1));
        assert_eq!(l.turnaround_p50_min, Some(30.0));
        assert_eq!(l.turnaround_p90_min, Some(90.0));
    }

    #[test]
    fn csv_quotes_keys_and_starts_with_a_bom() {
        let rows = [row(0, Some(60_000), 120_000)];
        let refs: Vec<&ReadingStatsRow> = rows.iter().collect();
        let s = Stats {
            by: "requesting".into(),
            from_ms: 0,
            to_ms: 1,
            lines: vec![line("a,b".into(), "王\"医生\"".into(), &refs, 0)],
            total: line("total".into(), "total".into(), &refs, 0),
            truncated: false,
        };
        let csv = to_csv(&s);
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.starts_with("\u{feff}key,name,requests,"), "{csv}");
        assert!(csv.contains("\"a,b\",\"王\"\"医生\"\"\",1,1,0,0,1,1,1,0,0,\n"), "{csv}");
    }
}
