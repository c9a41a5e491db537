//! Read side of the index: look-ups used by ingest, retrieval and tools.

use sqlx::AssertSqlSafe;

use crate::{Index, Result};

/// Row counts at each level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct IndexCounts {
    pub patients: i64,
    pub studies: i64,
    pub series: i64,
    pub instances: i64,
    pub bytes: i64,
}

/// Where an indexed instance is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub series_instance_uid: String,
    pub study_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub object_key: String,
    pub digest: String,
    pub size_bytes: i64,
}

type Row = (String, String, String, String, String, String, String, i64);

impl From<Row> for StoredInstance {
    fn from(r: Row) -> Self {
        StoredInstance {
            sop_instance_uid: r.0,
            sop_class_uid: r.1,
            series_instance_uid: r.2,
            study_instance_uid: r.3,
            transfer_syntax_uid: r.4,
            object_key: r.5,
            digest: r.6,
            size_bytes: r.7,
        }
    }
}

const STORED_INSTANCE: &str = "SELECT i.sop_instance_uid, i.sop_class_uid, se.series_instance_uid,
    st.study_instance_uid, i.transfer_syntax_uid, i.object_key, i.digest, i.size_bytes
    FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk";

impl Index {
    /// Number of rows at each level and total stored bytes.
    pub async fn counts(&self) -> Result<IndexCounts> {
        let (patients, studies, series, instances, bytes): (i64, i64, i64, i64, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM studies),
                    (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instances),
                    (SELECT CAST(SUM(size_bytes) AS BIGINT) FROM instances)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(IndexCounts { patients, studies, series, instances, bytes: bytes.unwrap_or(0) })
    }

    /// Look up one instance by SOP Instance UID.
    pub async fn instance(&self, sop_instance_uid: &str) -> Result<Option<StoredInstance>> {
        let sql = format!("{STORED_INSTANCE} WHERE i.sop_instance_uid = $1");
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(sql)).bind(sop_instance_uid).fetch_optional(&self.pool).await?;
        Ok(row.map(StoredInstance::from))
    }

    /// Text attributes of an instance's patient and study, as stored (UTF-8).
    pub async fn patient_of(&self, sop_instance_uid: &str) -> Result<Option<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT p.issuer, p.patient_id, p.patient_name FROM instances i
             JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk
             JOIN patients p ON p.id = st.patient_pk WHERE i.sop_instance_uid = $1",
        )
        .bind(sop_instance_uid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Aggregates of a study: number of series, number of instances,
    /// modalities in study (backslash-separated).
    pub async fn study_aggregates(&self, study_instance_uid: &str) -> Result<Option<(i64, i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT num_series, num_instances, modalities_in_study FROM studies WHERE study_instance_uid = $1",
        )
        .bind(study_instance_uid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every indexed object key with its digest (for `verify`).
    pub async fn all_objects(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT object_key, digest FROM instances ORDER BY object_key").fetch_all(&self.pool).await?)
    }
}
