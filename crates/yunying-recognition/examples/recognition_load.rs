//! Measures recognition at scale on a real index (SQLite by default, or
//! the database URL given as the first argument):
//!
//! - statistics for a year: `ROWS` candidates (default 1,200,000) and as
//!   many decisions spread over 12 months, 300 institutions, 20
//!   departments, 6,000 doctors and 300 items, written with SQL (the shape
//!   `Recognition` writes), then the statistics a dashboard asks for;
//! - candidates for an order: `PERSONS` persons (default 2,000) with five
//!   chest CTs each stored through the index, then for each person the
//!   study facts of its studies plus `Recognition::offer` (select and
//!   store), p50/p95/max.
//!
//! `cargo run -p yunying-recognition --example recognition_load [URL]`
//! with `ROWS` and `PERSONS` in the environment.

use std::time::{Duration, Instant};

use sqlx::Connection;
use yunying_index::{DuplicatePolicy, Index, InstanceRecord};
use yunying_recognition::{Order, Recognition, RecognitionConfig, StatsDimension, StatsQuery};

const CONFIG: &str = r#"
[recognition]
region = "330100"
[[recognition.items]]
code = "CT-CHEST"
name = "胸部CT平扫"
modality = "CT"
body_parts = ["CHEST"]
keywords = ["胸部"]
window_days = 30
price_fen = 24000
[[recognition.marks]]
institution = "HOSP-1"
item = "CT-CHEST"
scope = "330000"
valid_from = "2026-01-01"
valid_to = "2026-12-31"
"#;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::args().nth(1).unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("index.sqlite").display()));
    let rows = env("ROWS", 1_200_000);
    let persons = env("PERSONS", 2_000);
    let index = Index::open(&url).await.unwrap();
    let config = RecognitionConfig::from_toml(CONFIG).unwrap();
    let r = Recognition::new(index.clone(), &config).unwrap();
    r.seed(&config, 1).await.unwrap();

    let t = Instant::now();
    fill(&url, rows).await;
    println!("filled {rows} candidates and decisions in {:.1} s", t.elapsed().as_secs_f64());
    let year = |group_by: Vec<StatsDimension>, filters: Vec<(StatsDimension, String)>| StatsQuery {
        from_month: "2026-01".into(),
        to_month: "2026-12".into(),
        filters,
        group_by,
    };
    let region = vec![(StatsDimension::Region, "330100".to_string())];
    let queries = [
        ("region, by month", year(vec![StatsDimension::Month], region.clone())),
        ("region, by institution and month", year(vec![StatsDimension::Institution, StatsDimension::Month], region.clone())),
        ("region, by item", year(vec![StatsDimension::Item], region.clone())),
        ("one institution, by department, doctor and month", {
            year(
                vec![StatsDimension::Department, StatsDimension::Doctor, StatsDimension::Month],
                vec![(StatsDimension::Institution, "HOSP-7".to_string())],
            )
        }),
    ];
    for (name, q) in &queries {
        let mut best = Duration::MAX;
        let mut groups = 0;
        for _ in 0..3 {
            let t = Instant::now();
            groups = r.statistics(q).await.unwrap().len();
            best = best.min(t.elapsed());
        }
        println!("statistics for a year, {name}: {groups} groups, best of 3 {:.0} ms", best.as_secs_f64() * 1e3);
    }

    let t = Instant::now();
    for p in 0..persons {
        for s in 0..5 {
            store(&index, p, s).await;
        }
    }
    r.reclassify(1_000).await.unwrap();
    println!("stored and classified {} studies in {:.1} s", persons * 5, t.elapsed().as_secs_f64());
    let mut times = Vec::with_capacity(persons as usize);
    for p in 0..persons {
        let t = Instant::now();
        let uids: Vec<String> = (0..5).map(|s| format!("1.2.826.0.1.{p}.{s}")).collect();
        let facts = r.study_facts(&uids).await.unwrap();
        let order = Order {
            his_order_id: format!("HIS-{p}"),
            item_code: "CT-CHEST".into(),
            order_date: "20260320".into(),
            institution: "HOSP-2".into(),
            department: "呼吸内科".into(),
            doctor: "person:dr".into(),
        };
        let offer = r.offer(&order, &facts, 1).await.unwrap();
        assert!(!offer.candidates.is_empty());
        times.push(t.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    println!(
        "candidates for an order (facts + select + store), {persons} orders: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.95),
        at(1.0)
    );
    index.close().await;
}

async fn store(index: &Index, p: i64, s: i64) {
    let uid = format!("1.2.826.0.1.{p}.{s}");
    let record = InstanceRecord {
        issuer: format!("HOSP-{}", s % 3),
        patient_id: format!("P{p}"),
        study_instance_uid: uid.clone(),
        study_date: format!("202603{:02}", 1 + s * 4),
        study_description: "胸部CT平扫".into(),
        series_instance_uid: format!("{uid}.1"),
        modality: "CT".into(),
        body_part_examined: "CHEST".into(),
        sop_instance_uid: format!("{uid}.1.1"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        received_at_ms: 1,
        size_bytes: 1,
        digest: "0".repeat(64),
        object_key: format!("originals/{uid}"),
        ..InstanceRecord::default()
    };
    index.insert(record, DuplicatePolicy::KeepFirst).await.unwrap();
}

/// `rows` candidates and decisions (the same order and study), written by
/// the database itself from a counter.
async fn fill(url: &str, rows: i64) {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let series = format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})");
    let month = "'2026-' || CASE WHEN i % 12 < 9 THEN '0' ELSE '' END || CAST(i % 12 + 1 AS TEXT)";
    let cols = format!(
        "'330100', 'HOSP-' || CAST(i % 300 AS TEXT), 'DEPT-' || CAST(i % 20 AS TEXT), 'person:dr-' || CAST(i % 6000 AS TEXT), \
         'ITEM-' || CAST(i % 300 AS TEXT), {month}, 10000 + i % 50000"
    );
    let statements = [
        format!(
            "INSERT INTO recognition_orders (order_id, his_order_id, region, item_code, order_date, institution, department, doctor, created_ms)
             {series} SELECT 'ro_' || CAST(i AS TEXT), '', '330100', 'ITEM-1', '20260101', 'HOSP-1', 'D', 'person:dr', 0 FROM n"
        ),
        format!(
            "INSERT INTO recognition_candidates (order_id, study_instance_uid, offer_rank, source_institution, study_date, age_days, hr, hr_scope,
             region, institution, department, doctor, item_code, month, price_fen)
             {series} SELECT 'ro_' || CAST(i AS TEXT), '1.2.' || CAST(i AS TEXT), 0, 'HOSP-X', '20260101', 3, 1, '330000', {cols} FROM n"
        ),
        format!(
            "INSERT INTO recognition_decisions (order_id, study_instance_uid, version, is_current, outcome, reason, note, patient_informed,
             reexam_order_id, doctor, department, institution, region, item_code, month, price_fen, opened_ms, decided_ms, amend_note)
             {series} SELECT 'ro_' || CAST(i AS TEXT), '1.2.' || CAST(i AS TEXT), 1, 1,
             CASE WHEN i % 10 < 7 THEN 'recognised' WHEN i % 10 = 7 THEN 'partial' ELSE 'not-recognised' END,
             CASE WHEN i % 10 < 7 THEN '' ELSE CAST(i % 6 + 1 AS TEXT) END, '', 1, '',
             'person:dr-' || CAST(i % 6000 AS TEXT), 'DEPT-' || CAST(i % 20 AS TEXT), 'HOSP-' || CAST(i % 300 AS TEXT), '330100',
             'ITEM-' || CAST(i % 300 AS TEXT), {month}, 10000 + i % 50000, (i % 4) * 1000, 0, '' FROM n"
        ),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
    // What autovacuum does after a bulk insert: statistics, and on
    // PostgreSQL the visibility map index-only scans rely on.
    let analyze = if url.starts_with("postgres") { "VACUUM ANALYZE" } else { "ANALYZE" };
    sqlx::query(analyze).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}
