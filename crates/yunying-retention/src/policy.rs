//! How long a study is kept: patient classes, the policy table, a study's
//! age and when it expires.
//!
//! Chinese rules keep outpatient records 15 years and inpatient records
//! 30. The table has rows (institution or `*`, class, years); for a
//! study the most specific row wins (its institution's before `*`'s,
//! either before the configured default). A study of unknown class is
//! kept the longest any class would keep it at its institution.
//!
//! A study's age counts from its StudyDate; when that is missing or not a
//! date, from the day its first instance arrived. Days are China Standard
//! Time (UTC+8). A study kept N years is expired from the Nth anniversary
//! of that day on (29 February counts as 1 March in other years).

use serde::{Deserialize, Serialize};
use yunying_index::{PolicyRow, RetentionCandidate};

/// A patient class for retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatientClass {
    Outpatient,
    Inpatient,
    Unknown,
}

impl PatientClass {
    pub const ALL: [PatientClass; 3] = [PatientClass::Outpatient, PatientClass::Inpatient, PatientClass::Unknown];

    /// The name in the API, the CLI and the policy table.
    pub fn name(self) -> &'static str {
        match self {
            PatientClass::Outpatient => "outpatient",
            PatientClass::Inpatient => "inpatient",
            PatientClass::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<PatientClass> {
        PatientClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The value of a study row's `patient_class` (`''` is unknown).
    pub fn of_study(column: &str) -> PatientClass {
        PatientClass::parse(column).unwrap_or(PatientClass::Unknown)
    }

    /// The value stored in a study row.
    pub fn column(self) -> &'static str {
        match self {
            PatientClass::Unknown => "",
            other => other.name(),
        }
    }
}

/// Years kept when no row of the table applies (`[retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Defaults {
    pub outpatient_years: i64,
    pub inpatient_years: i64,
    pub unknown_years: i64,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { outpatient_years: 15, inpatient_years: 30, unknown_years: 30 }
    }
}

/// The policy table with the defaults behind it.
#[derive(Debug, Clone)]
pub struct Policies {
    rows: Vec<PolicyRow>,
    defaults: Defaults,
}

impl Policies {
    pub fn new(rows: Vec<PolicyRow>, defaults: Defaults) -> Policies {
        Policies { rows, defaults }
    }

    /// The row or default for exactly this class (no unknown widening).
    fn direct(&self, institution: &str, class: PatientClass) -> i64 {
        let row = |inst: &str| self.rows.iter().find(|r| r.institution == inst && r.patient_class == class.name()).map(|r| r.keep_years);
        row(institution).or_else(|| row("*")).unwrap_or(match class {
            PatientClass::Outpatient => self.defaults.outpatient_years,
            PatientClass::Inpatient => self.defaults.inpatient_years,
            PatientClass::Unknown => self.defaults.unknown_years,
        })
    }

    /// Years a study of this institution and class is kept.
    pub fn keep_years(&self, institution: &str, class: PatientClass) -> i64 {
        match class {
            PatientClass::Unknown => PatientClass::ALL.into_iter().map(|c| self.direct(institution, c)).max().unwrap_or(30),
            known => self.direct(institution, known),
        }
    }
}

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYYMMDD`, a real day of a year from 1900 on.
    pub fn parse_da(text: &str) -> Option<Date> {
        let t = text.trim();
        if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, month, day) = (t[..4].parse().ok()?, t[4..6].parse().ok()?, t[6..].parse().ok()?);
        (year >= 1900 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(Date { year, month, day })
    }

    /// The day (China Standard Time) of a Unix time in milliseconds.
    pub fn of_ms(ms: i64) -> Date {
        let days = (ms + 8 * 3_600_000).div_euclid(86_400_000);
        civil_from_days(days)
    }

    /// The same day `years` later (29 February becomes 1 March).
    pub fn plus_years(self, years: i64) -> Date {
        let year = self.year + years;
        if self.month == 2 && self.day == 29 && days_in_month(year, 2) == 28 {
            Date { year, month: 3, day: 1 }
        } else {
            Date { year, ..self }
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    Date { year, month, day }
}

/// The day a study's age counts from: its StudyDate, else the day its
/// first instance arrived; `None` if neither is known.
pub fn age_base(study: &RetentionCandidate) -> Option<Date> {
    Date::parse_da(&study.study_date).or_else(|| study.first_received_ms.map(Date::of_ms))
}

/// Whether a study kept `keep_years` from `base` is expired on `today`.
pub fn is_expired(base: Date, keep_years: i64, today: Date) -> bool {
    today >= base.plus_years(keep_years)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(institution: &str, class: &str, years: i64) -> PolicyRow {
        PolicyRow { institution: institution.into(), patient_class: class.into(), keep_years: years, set_by: "t".into(), set_ms: 0 }
    }

    #[test]
    fn the_most_specific_row_wins_and_unknown_keeps_longest() {
        let p =
            Policies::new(vec![row("*", "outpatient", 20), row("H1", "outpatient", 16), row("H2", "inpatient", 40)], Defaults::default());
        assert_eq!(p.keep_years("H1", PatientClass::Outpatient), 16);
        assert_eq!(p.keep_years("H9", PatientClass::Outpatient), 20);
        assert_eq!(p.keep_years("H1", PatientClass::Inpatient), 30, "default");
        assert_eq!(p.keep_years("H2", PatientClass::Unknown), 40, "the longest at H2");
        assert_eq!(p.keep_years("H1", PatientClass::Unknown), 30);
        let none = Policies::new(Vec::new(), Defaults::default());
        assert_eq!(none.keep_years("X", PatientClass::Outpatient), 15);
        assert_eq!(none.keep_years("X", PatientClass::Unknown), 30);
    }

    #[test]
    fn dates_and_anniversaries() {
        assert_eq!(Date::parse_da("20100315"), Some(Date { year: 2010, month: 3, day: 15 }));
        for bad in ["", "2010031", "20101315", "20100230", "1899123 ", "abcdefgh", "20230229"] {
            assert_eq!(Date::parse_da(bad), None, "{bad}");
        }
        assert_eq!(Date::of_ms(0), Date { year: 1970, month: 1, day: 1 });
        // 2024-02-29 16:00 UTC is 1 March in Beijing.
        assert_eq!(Date::of_ms(1_709_222_400_000), Date { year: 2024, month: 3, day: 1 });
        let leap = Date { year: 2008, month: 2, day: 29 };
        assert_eq!(leap.plus_years(15), Date { year: 2023, month: 3, day: 1 });
        let base = Date { year: 2010, month: 3, day: 15 };
        assert!(!is_expired(base, 15, Date { year: 2025, month: 3, day: 14 }));
        assert!(is_expired(base, 15, Date { year: 2025, month: 3, day: 15 }));
    }
}
