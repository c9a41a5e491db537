//! Statistics of recognition and their CSV form.
//!
//! The numbers are computed by the index ([`yunying_index::StatsQuery`],
//! grouped by any of region, institution, department, doctor, item and
//! month of the order). Candidates are counted per ordering doctor and
//! department; decisions per deciding doctor. Money saved is the sum of the
//! prices (as offered) of recognised items; partial recognitions save
//! nothing in this estimate.
//!
//! The CSV is UTF-8 with a byte-order mark (so Excel reads the Chinese
//! headers), CRLF line ends, RFC 4180 quoting, and cells that a
//! spreadsheet would take as a formula (`=`, `+`, `-`, `@`) prefixed with `'`.

use yunying_index::{StatsDimension, StatsRow};

use crate::decision::Reasons;

/// The zh-CN header of a grouping column.
pub fn dimension_name_zh(d: StatsDimension) -> &'static str {
    match d {
        StatsDimension::Region => "地区",
        StatsDimension::Institution => "机构",
        StatsDimension::Department => "科室",
        StatsDimension::Doctor => "医生",
        StatsDimension::Item => "项目",
        StatsDimension::Month => "月份",
    }
}

/// Recognised decisions over decisions (0 when none).
pub fn recognition_rate(row: &StatsRow) -> f64 {
    if row.decided == 0 { 0.0 } else { row.recognised as f64 / row.decided as f64 }
}

/// Decisions made without opening the images over decisions (0 when none).
pub fn unopened_share(row: &StatsRow) -> f64 {
    if row.decided == 0 { 0.0 } else { row.unopened as f64 / row.decided as f64 }
}

/// The statistics as CSV: grouping columns, counts, one column per reason
/// (every standard and local reason, then any other code found), money
/// saved in yuan and the two shares in percent.
pub fn to_csv(rows: &[StatsRow], group_by: &[StatsDimension], reasons: &Reasons) -> Vec<u8> {
    let mut codes = reasons.all();
    for row in rows {
        for code in row.reasons.keys() {
            if !codes.iter().any(|(c, _)| c == code) {
                codes.push((code.clone(), code.clone()));
            }
        }
    }
    let mut out = String::from("\u{feff}");
    let mut header: Vec<String> = group_by.iter().map(|d| dimension_name_zh(*d).to_string()).collect();
    header.extend(["候选数", "决定数", "互认数", "部分互认数", "不互认数", "互认率(%)"].map(String::from));
    header.extend(codes.iter().map(|(code, label)| format!("不互认原因:{code} {label}")));
    header.extend(["节省费用(元)", "未打开影像决定占比(%)"].map(String::from));
    push_line(&mut out, &header);
    for row in rows {
        let mut cells: Vec<String> = row.key.clone();
        cells.extend([row.offered, row.decided, row.recognised, row.partial, row.not_recognised].map(|n| n.to_string()));
        cells.push(format!("{:.1}", recognition_rate(row) * 100.0));
        cells.extend(codes.iter().map(|(code, _)| row.reasons.get(code).copied().unwrap_or(0).to_string()));
        cells.push(format!("{}.{:02}", row.saved_fen / 100, row.saved_fen % 100));
        cells.push(format!("{:.1}", unopened_share(row) * 100.0));
        push_line(&mut out, &cells);
    }
    out.into_bytes()
}

fn push_line(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn cell(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\r', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-12"), "-12");
    }
}
