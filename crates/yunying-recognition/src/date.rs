//! Calendar dates as DICOM writes them (`YYYYMMDD`), with the day
//! arithmetic recognition windows need. Proleptic Gregorian, no time zone:
//! a study date and an order date are both local dates of the region.

use std::fmt;

/// A calendar date, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

impl Date {
    /// Parses `YYYYMMDD` or `YYYY-MM-DD` (a real date, year 1900–9999).
    pub fn parse(text: &str) -> Option<Date> {
        let t = text.trim();
        let digits: String = match t.len() {
            8 => t.to_string(),
            10 if t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => format!("{}{}{}", &t[..4], &t[5..7], &t[8..]),
            _ => return None,
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let y: i64 = digits[..4].parse().ok()?;
        let m: i64 = digits[4..6].parse().ok()?;
        let d: i64 = digits[6..].parse().ok()?;
        Date::from_ymd(y, m, d)
    }

    /// The date of a year, month and day, if it exists.
    pub fn from_ymd(y: i64, m: i64, d: i64) -> Option<Date> {
        if !(1900..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y2 = if m <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date(era * 146_097 + doe - 719_468))
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.0 - self.0
    }

    /// `YYYY-MM`, the statistics' month.
    pub fn month_key(self) -> String {
        let (y, m, _) = self.ymd();
        format!("{y:04}-{m:02}")
    }

    /// `YYYYMMDD`.
    pub fn to_dicom(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}{m:02}{d:02}")
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_counts_days_across_months_and_leap_years() {
        let a = Date::parse("20240228").unwrap();
        let b = Date::parse("2024-03-01").unwrap();
        assert_eq!(a.days_until(b), 2);
        assert_eq!(b.to_dicom(), "20240301");
        assert_eq!(Date::parse("19700101").unwrap().0, 0);
        assert_eq!(Date::parse("20231231").unwrap().days_until(Date::parse("20250101").unwrap()), 367);
        assert!(Date::parse("20230229").is_none());
        assert!(Date::parse("2023022").is_none());
        assert!(Date::parse("2023-0228").is_none());
        assert_eq!(a.month_key(), "2024-02");
    }
}
