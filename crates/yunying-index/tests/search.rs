//! DICOM matching through `Index::search`, and the job queue, on a real
//! SQLite index and on a real PostgreSQL server: the same assertions for
//! both, so the two dialects cannot drift apart.

use yunying_index::search::{Level, Query, QueryError, Scope};
use yunying_index::{DuplicatePolicy, Index, InstanceRecord};

mod backends;
use backends::Backend;

const PATIENT_NAME: u32 = 0x0010_0010;
const PATIENT_ID: u32 = 0x0010_0020;
const STUDY_DATE: u32 = 0x0008_0020;
const STUDY_TIME: u32 = 0x0008_0030;
const STUDY_UID: u32 = 0x0020_000D;
const MODALITIES: u32 = 0x0008_0061;
const MODALITY: u32 = 0x0008_0060;
const SERIES_UID: u32 = 0x0020_000E;
const SOP_UID: u32 = 0x0008_0018;
const INSTANCE_NUMBER: u32 = 0x0020_0013;
const NUM_INSTANCES: u32 = 0x0020_1208;

fn record(study: u32, series: u32, instance: u32, name: &str, date: &str, time: &str, modality: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "LOCAL".into(),
        patient_id: format!("P{study}"),
        patient_name: name.into(),
        study_instance_uid: format!("1.2.3.{study}"),
        study_date: date.into(),
        study_time: time.into(),
        series_instance_uid: format!("1.2.3.{study}.{series}"),
        modality: modality.into(),
        series_number: Some(series as i64),
        sop_instance_uid: format!("1.2.3.{study}.{series}.{instance}"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        instance_number: Some(instance as i64),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        received_at_ms: 1,
        size_bytes: 100,
        digest: "00".into(),
        object_key: format!("k/{study}/{series}/{instance}"),
        metadata: b"{}".to_vec(),
        ..Default::default()
    }
}

async fn empty_index(backend: Backend, tag: &str) -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database(tag).await).await.unwrap(),
    };
    (dir, index)
}

async fn index(backend: Backend) -> (tempfile::TempDir, Index) {
    let (dir, index) = empty_index(backend, "search").await;
    let rows = [
        record(1, 1, 1, "Wang^Wei=王^伟", "20240105", "083000", "CT"),
        record(1, 1, 2, "Wang^Wei=王^伟", "20240105", "083000", "CT"),
        record(1, 2, 1, "Wang^Wei=王^伟", "20240105", "083000", "SR"),
        record(2, 1, 1, "Wangler^Anna", "20240210", "120030", "MR"),
        record(3, 1, 1, "MÜLLER^José", "20231231", "235959", "CT"),
        record(4, 1, 1, "张伟", "20240301", "0930", "DX"),
    ];
    for r in rows {
        index.insert(r, DuplicatePolicy::KeepFirst).await.unwrap();
    }
    (dir, index)
}

async fn studies(index: &Index, keys: &[(u32, &str)], fuzzy: bool) -> Vec<String> {
    let query = Query { fuzzy, ..Query::new(Level::Study, keys.iter().map(|(t, v)| (*t, v.to_string())).collect()) };
    let mut uids: Vec<String> =
        index.search(&query).await.unwrap().unwrap().matches.iter().map(|m| m.text(STUDY_UID).to_string()).collect();
    uids.sort();
    uids
}

async fn person_names_match_any_group_case_and_accent_insensitively(backend: Backend) {
    let (_dir, index) = index(backend).await;
    assert_eq!(studies(&index, &[(PATIENT_NAME, "Wang*")], false).await, ["1.2.3.1", "1.2.3.2"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "王*")], false).await, ["1.2.3.1"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "wang^wei")], false).await, ["1.2.3.1"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "muller*")], false).await, ["1.2.3.3"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "*ll?r*")], false).await, ["1.2.3.3"]);
    // Single value without wildcard is the whole group, not a prefix.
    assert!(studies(&index, &[(PATIENT_NAME, "Wang")], false).await.is_empty());
}

async fn fuzzy_matching_is_a_prefix_of_any_word_in_pinyin_or_hanzi(backend: Backend) {
    let (_dir, index) = index(backend).await;
    assert_eq!(studies(&index, &[(PATIENT_NAME, "wei")], true).await, ["1.2.3.1", "1.2.3.4"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "zhang")], true).await, ["1.2.3.4"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "伟")], true).await, ["1.2.3.1"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "jos")], true).await, ["1.2.3.3"]);
    assert_eq!(studies(&index, &[(PATIENT_NAME, "ann wang")], true).await, ["1.2.3.2"]);
}

async fn dates_times_uid_lists_and_modalities(backend: Backend) {
    let (_dir, index) = index(backend).await;
    assert_eq!(studies(&index, &[(STUDY_DATE, "20240101-20240228")], false).await, ["1.2.3.1", "1.2.3.2"]);
    assert_eq!(studies(&index, &[(STUDY_DATE, "20240210-")], false).await, ["1.2.3.2", "1.2.3.4"]);
    assert_eq!(studies(&index, &[(STUDY_DATE, "-20231231")], false).await, ["1.2.3.3"]);
    assert_eq!(studies(&index, &[(STUDY_DATE, "20240105")], false).await, ["1.2.3.1"]);
    assert_eq!(studies(&index, &[(STUDY_TIME, "0800-0930")], false).await, ["1.2.3.1", "1.2.3.4"]);
    assert_eq!(studies(&index, &[(STUDY_TIME, "1200")], false).await, ["1.2.3.2"]);
    assert_eq!(studies(&index, &[(STUDY_UID, "1.2.3.2\\1.2.3.3")], false).await, ["1.2.3.2", "1.2.3.3"]);
    assert_eq!(studies(&index, &[(STUDY_UID, "1.2.3.2,1.2.3.4")], false).await, ["1.2.3.2", "1.2.3.4"]);
    assert_eq!(studies(&index, &[(MODALITIES, "SR")], false).await, ["1.2.3.1"]);
    assert_eq!(studies(&index, &[(MODALITIES, "CT")], false).await, ["1.2.3.1", "1.2.3.3"]);
    assert_eq!(studies(&index, &[(MODALITIES, "MR\\DX")], false).await, ["1.2.3.2", "1.2.3.4"]);
    assert_eq!(studies(&index, &[(PATIENT_ID, "P*"), (STUDY_DATE, "2024*")], false).await.len(), 3);
}

async fn combined_date_time_ranges_span_midnight(backend: Backend) {
    use yunying_index::search::COMBINED_DATETIME;
    let (_dir, index) = index(backend).await;
    let combined = |v: &str| vec![(STUDY_DATE | COMBINED_DATETIME, v.to_string())];
    let run = |keys: Vec<(u32, String)>| {
        let index = &index;
        async move {
            let query = Query::new(Level::Study, keys);
            let mut uids: Vec<String> =
                index.search(&query).await.unwrap().unwrap().matches.iter().map(|m| m.text(STUDY_UID).to_string()).collect();
            uids.sort();
            uids
        }
    };
    // From 23:50 on 31 December to 09:00 on 5 January.
    assert_eq!(run(combined("20231231235000-20240105090000")).await, ["1.2.3.1", "1.2.3.3"]);
    // A stored time of 0930 is 09:30:00.
    assert_eq!(run(combined("20240301093000-")).await, ["1.2.3.4"]);
    assert_eq!(run(combined("-20240105083000")).await, ["1.2.3.1", "1.2.3.3"]);
    // Matched separately, the same bounds find nothing (the time range is inverted).
    assert!(studies(&index, &[(STUDY_DATE, "20231231-20240105"), (STUDY_TIME, "235000-090000")], false).await.is_empty());
    let bad = Query::new(Level::Study, combined("2024-"));
    assert!(index.search(&bad).await.unwrap().is_err(), "a date-time bound needs date and time");
}

async fn aggregates_levels_paging_and_errors(backend: Backend) {
    let (_dir, index) = index(backend).await;
    let q = |level, keys: Vec<(u32, String)>, limit, offset| Query { limit, offset, ..Query::new(level, keys) };
    let r = index.search(&q(Level::Study, vec![(STUDY_UID, "1.2.3.1".into())], None, 0)).await.unwrap().unwrap();
    assert_eq!(r.matches[0].get(NUM_INSTANCES), Some(&yunying_index::search::Field::Integer(3)));
    assert_eq!(r.matches[0].text(MODALITIES), "CT\\SR");

    let series =
        index.search(&q(Level::Series, vec![(STUDY_UID, "1.2.3.1".into()), (MODALITY, "CT".into())], None, 0)).await.unwrap().unwrap();
    assert_eq!(series.matches.len(), 1);
    assert_eq!(series.matches[0].text(SERIES_UID), "1.2.3.1.1");

    let instances = index.search(&q(Level::Instance, vec![(SERIES_UID, "1.2.3.1.1".into())], None, 0)).await.unwrap().unwrap();
    let sops: Vec<&str> = instances.matches.iter().map(|m| m.text(SOP_UID)).collect();
    assert_eq!(sops, ["1.2.3.1.1.1", "1.2.3.1.1.2"]);
    assert_eq!(instances.matches[1].get(INSTANCE_NUMBER), Some(&yunying_index::search::Field::Integer(2)));

    let page1 = index.search(&q(Level::Study, vec![], Some(3), 0)).await.unwrap().unwrap();
    let page2 = index.search(&q(Level::Study, vec![], Some(3), 3)).await.unwrap().unwrap();
    assert!(page1.truncated);
    assert!(!page2.truncated);
    assert_eq!(page1.matches.len() + page2.matches.len(), 4);

    let bad = index.search(&q(Level::Study, vec![(STUDY_DATE, "2024-01-01".into())], None, 0)).await.unwrap();
    assert!(matches!(bad, Err(QueryError::InvalidValue { .. })), "{bad:?}");
    let bad_uid = index.search(&q(Level::Study, vec![(STUDY_UID, "1.2.3' OR 1=1 --".into())], None, 0)).await.unwrap();
    assert!(bad_uid.is_err());
    let wrong_level = index.search(&q(Level::Study, vec![(SOP_UID, "1.2".into())], None, 0)).await.unwrap();
    assert!(matches!(wrong_level, Err(QueryError::WrongLevel { .. })));
    // SQL metacharacters in text values are data, not SQL.
    assert!(studies(&index, &[(PATIENT_ID, "%' OR '1'='1")], false).await.is_empty());
}

/// Film priors and scopes rest on these: identity is exact, and a scope is
/// an intersection no key can widen.
async fn exact_patient_identity_and_study_scopes(backend: Backend) {
    let (_dir, index) = empty_index(backend, "identity").await;
    let with_id = |study: u32, issuer: &str, id: &str| InstanceRecord {
        issuer: issuer.into(),
        patient_id: id.into(),
        ..record(study, 1, 1, "Zhou^Min", "20240105", "0800", "CT")
    };
    for (study, issuer, id) in [
        (1, "A", ""),
        (2, "A", ""),
        (3, "A", "*"),
        (4, "A", "?"),
        (5, "A", "%"),
        (6, "A", "P_1"),
        (7, "A", "PX1"),
        (8, "A", "P7"),
        (9, "B", "P7"),
        (10, "A", "P7"),
    ] {
        index.insert(with_id(study, issuer, id), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    let of = |issuer: &'static str, id: &'static str| {
        let index = &index;
        async move {
            let mut v = index.studies_of_patient(issuer, id).await.unwrap();
            v.sort();
            v
        }
    };
    assert!(of("A", "").await.is_empty(), "an empty Patient ID is nobody, not everybody");
    assert!(of("A", "  ").await.is_empty());
    assert_eq!(of("A", "*").await, ["1.2.3.3"], "'*' is a character, not universal matching");
    assert_eq!(of("A", "?").await, ["1.2.3.4"]);
    assert_eq!(of("A", "%").await, ["1.2.3.5"]);
    assert_eq!(of("A", "P_1").await, ["1.2.3.6"], "'_' is not a LIKE wildcard here");
    assert_eq!(of("A", "P7").await, ["1.2.3.10", "1.2.3.8"], "the same ID at another issuer is another patient");
    assert!(of("C", "P7").await.is_empty());

    // A scope restricts every level, whatever the keys ask for.
    let scope = Some(Scope::studies(vec!["1.2.3.8".to_string(), "1.2.3.10".to_string()]));
    let scoped = |level, keys: Vec<(u32, String)>, limit, offset| Query { limit, offset, scope: scope.clone(), ..Query::new(level, keys) };
    let uids = |r: yunying_index::search::SearchResult| r.matches.iter().map(|m| m.text(STUDY_UID).to_string()).collect::<Vec<_>>();
    let all = index.search(&scoped(Level::Study, vec![], None, 0)).await.unwrap().unwrap();
    assert_eq!(uids(all), ["1.2.3.10", "1.2.3.8"]);
    let asked_other = index.search(&scoped(Level::Study, vec![(STUDY_UID, "1.2.3.9\\1.2.3.8".into())], None, 0)).await.unwrap().unwrap();
    assert_eq!(uids(asked_other), ["1.2.3.8"], "asking for another study narrows, never widens");
    let other_only = index.search(&scoped(Level::Series, vec![(STUDY_UID, "1.2.3.9".into())], None, 0)).await.unwrap().unwrap();
    assert!(other_only.matches.is_empty());
    let instances = index.search(&scoped(Level::Instance, vec![(PATIENT_ID, "*".into())], None, 0)).await.unwrap().unwrap();
    assert_eq!(instances.matches.len(), 2);
    let patients = index.search(&scoped(Level::Patient, vec![], None, 0)).await.unwrap().unwrap();
    assert_eq!(patients.matches.len(), 1, "one patient (A, P7) has studies in the scope");
    // Paging under a scope counts only what the scope lets through.
    let page1 = index.search(&scoped(Level::Study, vec![], Some(1), 0)).await.unwrap().unwrap();
    let page2 = index.search(&scoped(Level::Study, vec![], Some(1), 1)).await.unwrap().unwrap();
    assert!(page1.truncated && !page2.truncated);
    assert_eq!([uids(page1), uids(page2)].concat(), ["1.2.3.10", "1.2.3.8"]);
    let empty = Query { scope: Some(Scope::default()), ..Query::new(Level::Study, vec![]) };
    assert!(index.search(&empty).await.unwrap().unwrap().matches.is_empty(), "an empty scope reaches nothing");

    // An institution's scope: its own patients' studies, plus granted ones.
    let of_b =
        |studies: Vec<String>, level| Query { scope: Some(Scope { issuers: vec!["B".into()], studies }), ..Query::new(level, vec![]) };
    assert_eq!(uids(index.search(&of_b(vec![], Level::Study)).await.unwrap().unwrap()), ["1.2.3.9"]);
    let granted = index.search(&of_b(vec!["1.2.3.3".into()], Level::Study)).await.unwrap().unwrap();
    assert_eq!(uids(granted), ["1.2.3.9", "1.2.3.3"], "own studies and the granted one, nothing else of A");
    let patients = index.search(&of_b(vec!["1.2.3.3".into()], Level::Patient)).await.unwrap().unwrap();
    assert_eq!(patients.matches.len(), 2, "B's patient P7 and A's patient '*' (through the granted study)");
    let wide = Query { limit: Some(1), offset: 1, ..of_b(vec!["1.2.3.3".into()], Level::Study) };
    let page = index.search(&wide).await.unwrap().unwrap();
    assert_eq!(uids(page), ["1.2.3.3"], "paging counts only the scope");
    assert_eq!(index.study_issuer("1.2.3.9").await.unwrap().as_deref(), Some("B"));
    assert_eq!(index.study_issuer("9.9.9").await.unwrap(), None);
}

/// A second handle on the same database, as another node would have.
async fn second_handle(backend: Backend, dir: &tempfile::TempDir, first: &Index) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(first.url()).await.unwrap(),
    }
}

fn image(study: u32, instance: u32) -> InstanceRecord {
    InstanceRecord { rows: Some(4), columns: Some(4), ..record(study, 1, instance, "Li^Na", "20240105", "0800", "CT") }
}

async fn jobs_are_claimed_once_and_leases_expire(backend: Backend) {
    let (dir, a) = empty_index(backend, "jobs").await;
    let b = second_handle(backend, &dir, &a).await;
    for i in 1..=6 {
        a.insert(image(7, i), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    // Two nodes claim at the same moment: every job goes to exactly one.
    let (ja, jb) = tokio::join!(a.claim_jobs("node-a/1", 3, 1_000, 60_000), b.claim_jobs("node-b/1", 10, 1_000, 60_000));
    let (ja, jb) = (ja.unwrap(), jb.unwrap());
    let mut all: Vec<i64> = ja.iter().chain(&jb).map(|j| j.instance_pk).collect();
    all.sort();
    all.dedup();
    assert_eq!(ja.len() + jb.len(), 6, "a: {} b: {}", ja.len(), jb.len());
    assert_eq!(all.len(), 6, "no job claimed twice");
    assert!(b.claim_jobs("node-b/2", 10, 2_000, 60_000).await.unwrap().is_empty(), "leased jobs are not handed out again");

    // A node that got jobs dies: after its lease runs out, B takes its jobs
    // over, and the dead node's late completion is refused. (Which node won
    // the race above is up to the database.)
    let (dead, dead_jobs) = if ja.is_empty() { ("node-b/1", &jb) } else { ("node-a/1", &ja) };
    let taken = b.claim_jobs("node-b/3", 10, 61_000, 120_000).await.unwrap();
    let mut expected: Vec<i64> = dead_jobs.iter().map(|j| j.instance_pk).collect();
    let mut got: Vec<i64> = taken.iter().map(|j| j.instance_pk).collect();
    // The other first claims expired too: they are offered again as well.
    got.retain(|pk| expected.contains(pk));
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    let retaken = taken.iter().find(|j| j.instance_pk == dead_jobs[0].instance_pk).unwrap();
    assert!(!a.complete_job(dead, &dead_jobs[0], &[], None, 62_000).await.unwrap(), "a lost lease cannot complete");
    assert!(b.complete_job("node-b/3", retaken, &[], None, 62_000).await.unwrap());
    assert_eq!(a.job_counts().await.unwrap().done, 1);

    // Two stages: a first stage that queues the lossless one leaves the job
    // pending, behind every first stage still waiting.
    let later = b.claim_jobs("node-b/4", 1, 130_000, 190_000).await.unwrap().remove(0);
    assert_eq!(later.stage, "previews");
    assert!(b.complete_job("node-b/4", &later, &[], Some("lossless"), 130_000).await.unwrap());
    let first: Vec<(i64, String)> =
        b.claim_jobs("node-b/5", 4, 131_000, 190_000).await.unwrap().into_iter().map(|j| (j.instance_pk, j.stage)).collect();
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|(_, stage)| stage == "previews"), "the four waiting first stages go before the lossless one: {first:?}");
    let then = b.claim_jobs("node-b/5", 4, 131_000, 190_000).await.unwrap();
    assert_eq!(then.iter().map(|j| (j.instance_pk, j.stage.as_str())).collect::<Vec<_>>(), [(later.instance_pk, "lossless")]);
}

async fn the_same_instance_from_two_writers_is_one_row(backend: Backend) {
    let (dir, a) = empty_index(backend, "dupes").await;
    let b = second_handle(backend, &dir, &a).await;
    // Every pair races on its own task, all twenty pairs at once.
    let pairs: Vec<_> = (1..=20)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let (x, y) =
                    tokio::join!(a.insert(image(8, i), DuplicatePolicy::KeepFirst), b.insert(image(8, i), DuplicatePolicy::KeepFirst));
                (x.unwrap(), y.unwrap())
            })
        })
        .collect();
    for pair in pairs {
        let (x, y) = pair.await.unwrap();
        let inserted = [&x, &y].iter().filter(|o| matches!(o, yunying_index::InsertOutcome::Inserted)).count();
        assert_eq!(inserted, 1, "exactly one writer inserts: {x:?} {y:?}");
    }
    let q = Query::new(Level::Study, vec![(STUDY_UID, "1.2.3.8".into())]);
    let r = a.search(&q).await.unwrap().unwrap();
    assert_eq!(r.matches.len(), 1);
    assert_eq!(r.matches[0].get(NUM_INSTANCES), Some(&yunying_index::search::Field::Integer(20)));
    let q = Query::new(Level::Instance, vec![(STUDY_UID, "1.2.3.8".into())]);
    assert_eq!(b.search(&q).await.unwrap().unwrap().matches.len(), 20);
    assert_eq!(a.job_counts().await.unwrap().pending, 20, "one rendition job per instance");
    assert_totals_match(&a).await;
}

/// The counters `/metrics` reads equal the rows counted one by one.
async fn assert_totals_match(index: &Index) {
    let (rows, jobs) = index.counted_rows().await.unwrap();
    assert_eq!(index.counts().await.unwrap(), rows, "index totals");
    assert_eq!(index.job_counts().await.unwrap(), jobs, "job totals");
}

async fn totals_follow_inserts_jobs_duplicates_and_clearing(backend: Backend) {
    let (dir, a) = empty_index(backend, "totals").await;
    let b = second_handle(backend, &dir, &a).await;
    // Two writers at once, two studies and a patient shared.
    let writes: Vec<_> = (1..=12)
        .map(|i| {
            let index = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { index.insert(image(20 + i % 2, i), DuplicatePolicy::KeepFirst).await.unwrap() })
        })
        .collect();
    for w in writes {
        w.await.unwrap();
    }
    // A second copy replacing the first changes the bytes, not the count.
    let mut bigger = image(20, 4);
    bigger.size_bytes += 1000;
    a.insert(bigger, DuplicatePolicy::Replace).await.unwrap();
    let counts = a.counts().await.unwrap();
    assert_eq!((counts.studies, counts.instances), (2, 12), "{counts:?}");
    assert_totals_match(&a).await;
    // Jobs move between states.
    let claimed = a.claim_jobs("node-a/1", 5, 1_000, 60_000).await.unwrap();
    assert_eq!(a.job_counts().await.unwrap().running, 5);
    for job in &claimed[..3] {
        assert!(a.complete_job("node-a/1", job, &[], None, 2_000).await.unwrap());
    }
    assert_totals_match(&a).await;
    // `reindex` clears every table.
    a.clear().await.unwrap();
    assert_eq!(a.counts().await.unwrap(), yunying_index::IndexCounts::default());
    assert_totals_match(&a).await;
}

// Each check above runs once per backend.
on_every_backend!(
    exact_patient_identity_and_study_scopes,
    person_names_match_any_group_case_and_accent_insensitively,
    fuzzy_matching_is_a_prefix_of_any_word_in_pinyin_or_hanzi,
    dates_times_uid_lists_and_modalities,
    combined_date_time_ranges_span_midnight,
    aggregates_levels_paging_and_errors,
    jobs_are_claimed_once_and_leases_expire,
    the_same_instance_from_two_writers_is_one_row,
    totals_follow_inserts_jobs_duplicates_and_clearing
);
