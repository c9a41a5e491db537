//! Searching the index with DICOM matching: the engine behind QIDO-RS and
//! C-FIND.
//!
//! A [`Query`] names a level, optional study / series scope and matching
//! keys by tag. Matching follows PS3.4 C.2.2.2: single value, universal
//! (empty), wildcard `*` `?`, list of UIDs, date and time ranges (open ranges
//! included). Person names match case- and accent-insensitively against
//! each component group; fuzzy matching is a prefix match on any name word,
//! Pinyin or Hanzi. Every result row carries the indexed attributes of its
//! level and the levels above it.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::matching::{fold, has_wildcards, like_pattern, range, time_upper, valid_date, valid_time};
use crate::{Index, Result};

/// Query/retrieve level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Patient,
    Study,
    Series,
    Instance,
}

/// How a query value is matched against an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uid,
    Text,
    Name {
        prefix: &'static str,
    },
    Date,
    Time,
    Integer,
    /// Backslash-separated multi-valued code string (Modalities in Study).
    MultiCode,
}

/// One attribute the index can match and return.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub tag: u32,
    pub keyword: &'static str,
    pub vr: &'static str,
    pub level: Level,
    /// SQL expression over the aliases `p`, `st`, `se`, `i`.
    column: &'static str,
    kind: Kind,
    /// Integer-valued (returned as a number).
    integer: bool,
}

const fn attr(tag: u32, keyword: &'static str, vr: &'static str, level: Level, column: &'static str, kind: Kind) -> Attribute {
    let integer = matches!(kind, Kind::Integer);
    Attribute { tag, keyword, vr, level, column, kind, integer }
}

use Kind::*;
use Level::{Instance as I, Patient as P, Series as SE, Study as ST};

/// Every attribute the index keeps, by level.
pub const ATTRIBUTES: &[Attribute] = &[
    attr(0x0010_0010, "PatientName", "PN", P, "p.patient_name", Name { prefix: "p.name_" }),
    attr(0x0010_0020, "PatientID", "LO", P, "p.patient_id", Text),
    attr(0x0010_0021, "IssuerOfPatientID", "LO", P, "p.issuer", Text),
    attr(0x0010_0030, "PatientBirthDate", "DA", P, "p.patient_birth_date", Date),
    attr(0x0010_0040, "PatientSex", "CS", P, "p.patient_sex", Text),
    attr(0x0020_000D, "StudyInstanceUID", "UI", ST, "st.study_instance_uid", Uid),
    attr(0x0008_0020, "StudyDate", "DA", ST, "st.study_date", Date),
    attr(0x0008_0030, "StudyTime", "TM", ST, "st.study_time", Time),
    attr(0x0008_0050, "AccessionNumber", "SH", ST, "st.accession_number", Text),
    attr(0x0020_0010, "StudyID", "SH", ST, "st.study_id", Text),
    attr(0x0008_1030, "StudyDescription", "LO", ST, "st.study_description", Text),
    attr(0x0008_0090, "ReferringPhysicianName", "PN", ST, "st.referring_physician_name", Name { prefix: "st.referring_" }),
    attr(0x0008_0080, "InstitutionName", "LO", ST, "st.institution_name", Text),
    attr(0x0008_0061, "ModalitiesInStudy", "CS", ST, "st.modalities_in_study", MultiCode),
    attr(0x0020_1206, "NumberOfStudyRelatedSeries", "IS", ST, "st.num_series", Integer),
    attr(0x0020_1208, "NumberOfStudyRelatedInstances", "IS", ST, "st.num_instances", Integer),
    attr(0x0020_000E, "SeriesInstanceUID", "UI", SE, "se.series_instance_uid", Uid),
    attr(0x0008_0060, "Modality", "CS", SE, "se.modality", Text),
    attr(0x0020_0011, "SeriesNumber", "IS", SE, "se.series_number", Integer),
    attr(0x0008_103E, "SeriesDescription", "LO", SE, "se.series_description", Text),
    attr(0x0018_0015, "BodyPartExamined", "CS", SE, "se.body_part_examined", Text),
    attr(0x0008_0021, "SeriesDate", "DA", SE, "se.series_date", Date),
    attr(0x0008_0031, "SeriesTime", "TM", SE, "se.series_time", Time),
    attr(0x0020_1209, "NumberOfSeriesRelatedInstances", "IS", SE, "se.num_instances", Integer),
    attr(0x0008_0018, "SOPInstanceUID", "UI", I, "i.sop_instance_uid", Uid),
    attr(0x0008_0016, "SOPClassUID", "UI", I, "i.sop_class_uid", Uid),
    attr(0x0020_0013, "InstanceNumber", "IS", I, "i.instance_number", Integer),
    attr(0x0028_0008, "NumberOfFrames", "IS", I, "i.number_of_frames", Integer),
    attr(0x0028_0010, "Rows", "US", I, "i.rows_", Integer),
    attr(0x0028_0011, "Columns", "US", I, "i.columns_", Integer),
    attr(0x0008_0023, "ContentDate", "DA", I, "i.content_date", Date),
    attr(0x0008_0033, "ContentTime", "TM", I, "i.content_time", Time),
    attr(0x0008_3002, "AvailableTransferSyntaxUID", "UI", I, "i.transfer_syntax_uid", Uid),
];

/// Look up an attribute by tag.
pub fn attribute(tag: u32) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.tag == tag)
}

/// Look up an attribute by keyword.
pub fn attribute_by_keyword(keyword: &str) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.keyword == keyword)
}

/// Set on a date attribute's tag in [`Query::keys`] for combined date-time
/// matching (PS3.4 C.2.2.2.5): the value is a range of `YYYYMMDDhhmmss`
/// date-times (either bound may be empty) matched against the date and the
/// time attribute of the same entity together.
pub const COMBINED_DATETIME: u32 = 0x8000_0000;

/// A search.
#[derive(Debug, Clone)]
pub struct Query {
    pub level: Level,
    /// Matching keys: (tag, DICOM query value). Empty values match everything.
    pub keys: Vec<(u32, String)>,
    /// Fuzzy person-name matching.
    pub fuzzy: bool,
    /// Most rows to return (`None`: no limit).
    pub limit: Option<u64>,
    pub offset: u64,
    /// What the asker may reach (its institutions' studies, a film's or a
    /// grant's studies): the search is intersected with it in SQL, whatever
    /// the keys ask, so paging stays correct. `None`: no restriction.
    pub scope: Option<Scope>,
}

/// The studies a principal may reach: every study of a patient whose issuer
/// is one of `issuers` (an institution's own), and the studies listed
/// (granted, or a film's). Empty in both: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub issuers: Vec<String>,
    pub studies: Vec<String>,
}

impl Scope {
    /// Exactly these studies.
    pub fn studies(studies: Vec<String>) -> Scope {
        Scope { issuers: Vec::new(), studies }
    }
}

impl Query {
    /// A search at `level` with these keys, unpaged and unrestricted.
    pub fn new(level: Level, keys: Vec<(u32, String)>) -> Query {
        Query { level, keys, fuzzy: false, limit: None, offset: 0, scope: None }
    }
}

/// Why a query cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{keyword} cannot be matched at the {level:?} level")]
    WrongLevel { keyword: &'static str, level: Level },
    #[error("invalid value for {keyword}: {value:?} ({why})")]
    InvalidValue { keyword: &'static str, value: String, why: &'static str },
}

/// A value in a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Text(String),
    Integer(i64),
    Null,
}

/// One matching entity.
#[derive(Debug, Clone)]
pub struct Match {
    /// Values of the attributes of [`Match::attributes`], in order.
    pub values: Vec<Field>,
    pub attributes: &'static [Attribute],
    /// Primary key of one instance of the entity (to read its metadata).
    pub instance_pk: i64,
}

impl Match {
    pub fn get(&self, tag: u32) -> Option<&Field> {
        self.attributes.iter().position(|a| a.tag == tag).map(|i| &self.values[i])
    }

    pub fn text(&self, tag: u32) -> &str {
        match self.get(tag) {
            Some(Field::Text(s)) => s,
            _ => "",
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub matches: Vec<Match>,
    /// More entities matched than the limit allowed.
    pub truncated: bool,
}

/// Attributes returned at a level: the level's own and those above it.
pub fn attributes_for(level: Level) -> &'static [Attribute] {
    // ATTRIBUTES is ordered patient, study, series, instance.
    let end = ATTRIBUTES.iter().position(|a| a.level > level).unwrap_or(ATTRIBUTES.len());
    &ATTRIBUTES[..end]
}

impl Index {
    /// Run a search.
    pub async fn search(&self, query: &Query) -> Result<std::result::Result<SearchResult, QueryError>> {
        let (sql, binds) = match build(query) {
            Ok(built) => built,
            Err(e) => return Ok(Err(e)),
        };
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows: Vec<AnyRow> = q.fetch_all(&self.pool).await?;
        let attributes = attributes_for(query.level);
        let limit = query.limit.map(|l| l as usize);
        let truncated = limit.is_some_and(|l| rows.len() > l);
        let mut matches = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit.unwrap_or(usize::MAX)) {
            let mut values = Vec::with_capacity(attributes.len());
            for (i, a) in attributes.iter().enumerate() {
                values.push(if a.integer {
                    row.try_get::<Option<i64>, _>(i)?.map_or(Field::Null, Field::Integer)
                } else {
                    let s: String = row.try_get(i)?;
                    if s.is_empty() { Field::Null } else { Field::Text(s) }
                });
            }
            let instance_pk: i64 = row.try_get(attributes.len())?;
            matches.push(Match { values, attributes, instance_pk });
        }
        Ok(Ok(SearchResult { matches, truncated }))
    }

    /// The studies of one patient by exact identity: issuer and Patient ID
    /// compared as values, never as patterns (`*`, `?`, `%` are characters
    /// like any other). An empty Patient ID names nobody: no studies.
    /// Newest first.
    pub async fn studies_of_patient(&self, issuer: &str, patient_id: &str) -> Result<Vec<String>> {
        if patient_id.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "SELECT st.study_instance_uid FROM studies st JOIN patients p ON p.id = st.patient_pk
             WHERE p.issuer = $1 AND p.patient_id = $2 ORDER BY st.id DESC",
        )
        .bind(issuer)
        .bind(patient_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stored metadata (deflated DICOM JSON) of instances by primary key.
    pub async fn metadata_by_pk(&self, pks: &[i64]) -> Result<Vec<(i64, Vec<u8>)>> {
        if pks.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = pks.iter().map(i64::to_string).collect();
        let sql = format!("SELECT instance_pk, metadata FROM instance_data WHERE instance_pk IN ({})", list.join(","));
        Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?)
    }
}

/// SQL text and its bind values (all text).
fn build(query: &Query) -> std::result::Result<(String, Vec<String>), QueryError> {
    let attributes = attributes_for(query.level);
    let mut binds: Vec<String> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    for (tag, value) in &query.keys {
        if tag & COMBINED_DATETIME != 0 {
            conditions.push(combined_datetime(*tag & !COMBINED_DATETIME, value, query.level, &mut binds)?);
            continue;
        }
        let Some(a) = attribute(*tag) else { continue };
        if a.level > query.level {
            return Err(QueryError::WrongLevel { keyword: a.keyword, level: query.level });
        }
        if let Some(c) = condition(a, value, query.fuzzy, &mut binds)? {
            conditions.push(c);
        }
    }
    if let Some(scope) = &query.scope {
        conditions.push(within(scope, query.level, &mut binds));
    }
    let columns: Vec<String> =
        attributes.iter().map(|a| if a.integer { format!("CAST({} AS BIGINT)", a.column) } else { a.column.to_string() }).collect();
    let (from, representative, order) = match query.level {
        Level::Patient => (
            "patients p",
            "(SELECT MIN(i.id) FROM studies st JOIN series se ON se.study_pk = st.id JOIN instances i ON i.series_pk = se.id WHERE st.patient_pk = p.id)",
            "p.id DESC",
        ),
        Level::Study => (
            "studies st JOIN patients p ON p.id = st.patient_pk",
            "(SELECT MIN(i.id) FROM series se JOIN instances i ON i.series_pk = se.id WHERE se.study_pk = st.id)",
            "st.id DESC",
        ),
        Level::Series => (
            "series se JOIN studies st ON st.id = se.study_pk JOIN patients p ON p.id = st.patient_pk",
            "(SELECT MIN(i.id) FROM instances i WHERE i.series_pk = se.id)",
            "st.id DESC, se.series_number, se.id",
        ),
        Level::Instance => (
            "instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk JOIN patients p ON p.id = st.patient_pk",
            "i.id",
            "st.id DESC, se.series_number, se.id, i.instance_number, i.id",
        ),
    };
    let mut sql = format!("SELECT {}, {representative} FROM {from}", columns.join(", "));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order);
    if let Some(limit) = query.limit {
        sql.push_str(&format!(" LIMIT {}", limit.saturating_add(1).min(i64::MAX as u64)));
    } else if query.offset > 0 {
        sql.push_str(&format!(" LIMIT {}", i64::MAX));
    }
    if query.offset > 0 {
        sql.push_str(&format!(" OFFSET {}", query.offset.min(i64::MAX as u64)));
    }
    Ok((sql, binds))
}

/// Only rows of these studies (patients: with one of them); no study at
/// all matches nothing.
fn within(scope: &Scope, level: Level, binds: &mut Vec<String>) -> String {
    let mut list = |values: &[String]| {
        let mut placeholders = Vec::with_capacity(values.len());
        for v in values {
            binds.push(v.clone());
            placeholders.push(format!("${}", binds.len()));
        }
        placeholders.join(", ")
    };
    let mut either = Vec::new();
    if !scope.issuers.is_empty() {
        // Below the patient level, the study's own copy of its patient's
        // issuer: a plain filter on the rows the query walks anyway (the
        // patients' issuer index would lead the planner to walk patients
        // and sort, several times slower for a page of recent studies).
        let column = if level == Level::Patient { "p.issuer" } else { "st.issuer" };
        either.push(format!("{column} IN ({})", list(&scope.issuers)));
    }
    if !scope.studies.is_empty() {
        let studies = list(&scope.studies);
        either.push(match level {
            Level::Patient => {
                format!("EXISTS (SELECT 1 FROM studies st WHERE st.patient_pk = p.id AND st.study_instance_uid IN ({studies}))")
            }
            _ => format!("st.study_instance_uid IN ({studies})"),
        });
    }
    if either.is_empty() { "1 = 0".into() } else { format!("({})", either.join(" OR ")) }
}

/// The condition of a combined date-time range on a date attribute and the
/// time attribute that goes with it.
fn combined_datetime(date_tag: u32, value: &str, level: Level, binds: &mut Vec<String>) -> std::result::Result<String, QueryError> {
    let (Some(date), Some(time)) = (attribute(date_tag), attribute(date_tag + 0x10)) else {
        return Err(QueryError::InvalidValue { keyword: "date-time", value: value.to_string(), why: "no such date and time pair" });
    };
    if date.kind != Date || time.kind != Time || date.level > level {
        return Err(QueryError::WrongLevel { keyword: date.keyword, level });
    }
    let invalid = || QueryError::InvalidValue { keyword: date.keyword, value: value.to_string(), why: "not a date-time range" };
    let (lo, hi) = value.split_once('-').ok_or_else(invalid)?;
    let valid = |b: &str| b.len() >= 14 && b.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let joined = format!("({} || SUBSTR(REPLACE({}, ':', '') || '000000', 1, 6))", date.column, time.column);
    let mut parts = vec![format!("{} <> ''", date.column)];
    for (bound, op) in [(lo, ">="), (hi, "<=")] {
        if bound.is_empty() {
            continue;
        }
        if !valid(bound) {
            return Err(invalid());
        }
        binds.push(bound.to_string());
        parts.push(format!("{joined} {op} ${}", binds.len()));
    }
    if parts.len() == 1 {
        return Err(invalid());
    }
    Ok(format!("({})", parts.join(" AND ")))
}

/// UIDs one matching key may list (list of UID matching: a C-MOVE of a
/// key-image selection names each instance). Each is a bind parameter;
/// SQLite takes 32,766 in one statement, with the scope's beside them.
pub const MAX_UIDS_PER_KEY: usize = 4096;

/// Values any other matching key may list (`CT\MR\…`). Modalities in
/// Study become one `OR` term each, and SQLite refuses an expression more
/// than 1,000 deep: a query string of backslashes found that (fuzz target
/// `search`).
pub const MAX_VALUES_PER_KEY: usize = 256;

/// The SQL condition of one matching key; `None` for universal matching.
fn condition(a: &Attribute, value: &str, fuzzy: bool, binds: &mut Vec<String>) -> std::result::Result<Option<String>, QueryError> {
    let value = value.trim_matches([' ', '\0']);
    if value.is_empty() || value == "*" {
        return Ok(None);
    }
    let invalid = |why: &'static str| QueryError::InvalidValue { keyword: a.keyword, value: value.to_string(), why };
    let mut bind = |v: String| {
        binds.push(v);
        format!("${}", binds.len())
    };
    let c = a.column;
    let listed = if a.kind == Uid { value.split(['\\', ',']).count() } else { value.split('\\').count() };
    if a.kind == Uid && listed > MAX_UIDS_PER_KEY {
        return Err(invalid("a list of more than 4096 UIDs"));
    }
    if a.kind != Uid && listed > MAX_VALUES_PER_KEY {
        return Err(invalid("a list of more than 256 values"));
    }
    Ok(Some(match a.kind {
        Uid => {
            let uids: Vec<&str> = value.split(['\\', ',']).map(str::trim).filter(|u| !u.is_empty()).collect();
            if uids.iter().any(|u| u.len() > 64 || !u.bytes().all(|b| b.is_ascii_digit() || b == b'.')) {
                return Err(invalid("not a UID or list of UIDs"));
            }
            let placeholders: Vec<String> = uids.into_iter().map(|u| bind(u.to_string())).collect();
            format!("{c} IN ({})", placeholders.join(", "))
        }
        Text if has_wildcards(value) => format!("{c} LIKE {} ESCAPE '\\'", bind(like_pattern(value))),
        Text => {
            let values: Vec<String> = value.split('\\').map(|v| bind(v.to_string())).collect();
            format!("{c} IN ({})", values.join(", "))
        }
        Integer => {
            let n: i64 = value.parse().map_err(|_| invalid("not an integer"))?;
            format!("{c} = {n}")
        }
        MultiCode => {
            let codes: Vec<String> = value
                .split('\\')
                .map(|v| format!("('\\' || {c} || '\\') LIKE {} ESCAPE '\\'", bind(format!("%\\\\{}\\\\%", like_pattern(v)))))
                .collect();
            format!("({})", codes.join(" OR "))
        }
        Date => {
            if let Some((lo, hi)) = range(value) {
                let lo = lo.map(|d| valid_date(d).ok_or_else(|| invalid("not a date range"))).transpose()?;
                let hi = hi.map(|d| valid_date(d).ok_or_else(|| invalid("not a date range"))).transpose()?;
                let mut parts = vec![format!("{c} <> ''")];
                if let Some(lo) = lo {
                    parts.push(format!("{c} >= {}", bind(lo)));
                }
                if let Some(hi) = hi {
                    parts.push(format!("{c} <= {}", bind(hi)));
                }
                format!("({})", parts.join(" AND "))
            } else if has_wildcards(value) {
                format!("{c} LIKE {} ESCAPE '\\'", bind(like_pattern(value)))
            } else {
                let dates: Vec<String> = value
                    .split('\\')
                    .map(|d| valid_date(d).map(&mut bind).ok_or_else(|| invalid("not a date")))
                    .collect::<std::result::Result<_, _>>()?;
                format!("{c} IN ({})", dates.join(", "))
            }
        }
        Time => {
            let (lo, hi) = match range(value) {
                Some((lo, hi)) => (lo, hi),
                None => (Some(value), Some(value)),
            };
            let lo = lo.map(|t| valid_time(t).ok_or_else(|| invalid("not a time or time range"))).transpose()?;
            let hi = hi.map(|t| valid_time(t).ok_or_else(|| invalid("not a time or time range"))).transpose()?;
            // Stored times may carry colons (legacy); compare without them.
            let col = format!("REPLACE({c}, ':', '')");
            let mut parts = vec![format!("{c} <> ''")];
            if let Some(lo) = lo {
                parts.push(format!("{col} >= {}", bind(lo)));
            }
            if let Some(hi) = hi {
                parts.push(format!("{col} <= {}", bind(time_upper(&hi))));
            }
            format!("({})", parts.join(" AND "))
        }
        Name { prefix } if fuzzy => {
            let words: Vec<String> = fold(value)
                .split(['^', '=', ' ', ','])
                .map(|w| w.trim_matches('*'))
                .filter(|w| !w.is_empty())
                .map(|w| format!("{prefix}words LIKE {} ESCAPE '\\'", bind(format!("% {}%", like_pattern(w)))))
                .collect();
            if words.is_empty() {
                return Ok(None);
            }
            format!("({})", words.join(" AND "))
        }
        Name { prefix } => {
            let folded = fold(value);
            let groups: Vec<&str> = folded.splitn(3, '=').collect();
            let matcher = |column: &str, v: &str, bind: &mut dyn FnMut(String) -> String| -> String {
                let v = v.trim_end_matches('^');
                if has_wildcards(v) {
                    format!("{column} LIKE {} ESCAPE '\\'", bind(like_pattern(v)))
                } else {
                    format!("{column} = {}", bind(v.to_string()))
                }
            };
            if groups.len() == 1 {
                // One group given: it may match any component group.
                let v = groups[0];
                let ors: Vec<String> =
                    ["alphabetic", "ideographic", "phonetic"].iter().map(|g| matcher(&format!("{prefix}{g}"), v, &mut bind)).collect();
                format!("({})", ors.join(" OR "))
            } else {
                let ands: Vec<String> = groups
                    .iter()
                    .zip(["alphabetic", "ideographic", "phonetic"])
                    .filter(|(v, _)| !v.is_empty() && **v != "*")
                    .map(|(v, g)| matcher(&format!("{prefix}{g}"), v, &mut bind))
                    .collect();
                if ands.is_empty() {
                    return Ok(None);
                }
                format!("({})", ands.join(" AND "))
            }
        }
    }))
}
