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
    /// Hex SM3 (GB/T 32905) of the stored object; `None` for instances
    /// indexed before SM3 was recorded (unknown, not absent).
    pub sm3: Option<String>,
}

type Row = (String, String, String, String, String, String, String, i64, Option<String>);

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
            sm3: r.8,
        }
    }
}

const STORED_INSTANCE: &str = "SELECT i.sop_instance_uid, i.sop_class_uid, se.series_instance_uid,
    st.study_instance_uid, i.transfer_syntax_uid, i.object_key, i.digest, i.size_bytes, i.sm3
    FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk";

impl Index {
    /// One trivial round trip: the database answers (health checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
        Ok(sqlx::query_as("SELECT num_series, num_instances, modalities_in_study FROM studies WHERE study_instance_uid = $1")
            .bind(study_instance_uid)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every indexed object key with its digest (small archives and tests;
    /// `verify` pages with [`objects_page`](Self::objects_page)).
    pub async fn all_objects(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT object_key, digest FROM instances ORDER BY object_key").fetch_all(&self.pool).await?)
    }

    /// Up to `limit` indexed originals with a row id above `after_id`, in id
    /// order (pass the last id to get the next page), each with the
    /// renditions recorded for it. Walks the primary keys only, so a page
    /// costs the same at 100M instances.
    pub async fn objects_page(&self, after_id: i64, limit: i64) -> Result<Vec<IndexedObject>> {
        let rows: Vec<(i64, String, String, i64, Option<String>)> =
            sqlx::query_as("SELECT id, object_key, digest, size_bytes, sm3 FROM instances WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
            return Ok(Vec::new());
        };
        let renditions: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT instance_pk, object_key, size_bytes FROM renditions WHERE instance_pk BETWEEN $1 AND $2 ORDER BY instance_pk",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut objects: Vec<IndexedObject> = rows
            .into_iter()
            .map(|(id, key, digest, size, sm3)| IndexedObject { id, key, digest, size: size as u64, sm3, renditions: Vec::new() })
            .collect();
        for (pk, key, size) in renditions {
            if let Ok(i) = objects.binary_search_by_key(&pk, |o| o.id) {
                objects[i].renditions.push((key, size as u64));
            }
        }
        Ok(objects)
    }
}

/// An indexed original and its recorded renditions (`yunying verify`).
#[derive(Debug, Clone)]
pub struct IndexedObject {
    pub id: i64,
    pub key: String,
    /// SHA-256 of the stored object, hex.
    pub digest: String,
    pub size: u64,
    /// SM3 of the stored object, hex; `None` for rows from before SM3 was
    /// recorded (checked on SHA-256 only).
    pub sm3: Option<String>,
    /// (key, size) of each recorded rendition.
    pub renditions: Vec<(String, u64)>,
}

/// An instance with what retrieval needs: its location, its metadata
/// (deflated DICOM JSON) and its pixel layout.
#[derive(Debug, Clone)]
pub struct InstanceData {
    pub stored: StoredInstance,
    pub metadata: Vec<u8>,
    pub pixel_layout: String,
}

type DataRow = (String, String, String, String, String, String, String, i64, Option<String>, Option<Vec<u8>>, Option<String>);

const INSTANCE_DATA: &str = "SELECT i.sop_instance_uid, i.sop_class_uid, se.series_instance_uid,
    st.study_instance_uid, i.transfer_syntax_uid, i.object_key, i.digest, i.size_bytes, i.sm3, d.metadata, d.pixel_layout
    FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = se.study_pk
    LEFT JOIN instance_data d ON d.instance_pk = i.id";

impl Index {
    /// The instances of a study, or of one of its series, or one instance,
    /// in series then instance order, with their metadata. Empty when the
    /// scope names nothing.
    pub async fn instances_in(
        &self,
        study_instance_uid: &str,
        series_instance_uid: Option<&str>,
        sop_instance_uid: Option<&str>,
    ) -> Result<Vec<InstanceData>> {
        let mut sql = format!("{INSTANCE_DATA} WHERE st.study_instance_uid = $1");
        if series_instance_uid.is_some() {
            sql.push_str(" AND se.series_instance_uid = $2");
        }
        if sop_instance_uid.is_some() {
            sql.push_str(if series_instance_uid.is_some() { " AND i.sop_instance_uid = $3" } else { " AND i.sop_instance_uid = $2" });
        }
        sql.push_str(" ORDER BY se.series_number, se.id, i.instance_number, i.id");
        let mut q = sqlx::query_as::<_, DataRow>(AssertSqlSafe(sql)).bind(study_instance_uid);
        if let Some(series) = series_instance_uid {
            q = q.bind(series);
        }
        if let Some(sop) = sop_instance_uid {
            q = q.bind(sop);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| InstanceData {
                stored: StoredInstance::from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8)),
                metadata: r.9.unwrap_or_default(),
                pixel_layout: r.10.unwrap_or_default(),
            })
            .collect())
    }
}

impl Index {
    /// Instances by primary key (as [`crate::search::Match::instance_pk`]),
    /// in series then instance order.
    pub async fn instances_by_pk(&self, pks: &[i64]) -> Result<Vec<InstanceData>> {
        Ok(self.instance_data_by_pk(pks).await?.into_iter().map(|(_, d)| d).collect())
    }

    /// Like [`Index::instances_by_pk`], each with its primary key.
    pub async fn instance_data_by_pk(&self, pks: &[i64]) -> Result<Vec<(i64, InstanceData)>> {
        type KeyedRow = (i64, String, String, String, String, String, String, String, i64, Option<String>, Option<Vec<u8>>, Option<String>);
        let select = INSTANCE_DATA.replacen("SELECT i.sop_instance_uid", "SELECT i.id, i.sop_instance_uid", 1);
        let mut out = Vec::with_capacity(pks.len());
        for chunk in pks.chunks(500) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let sql =
                format!("{select} WHERE i.id IN ({}) ORDER BY st.id, se.series_number, se.id, i.instance_number, i.id", list.join(","));
            let rows: Vec<KeyedRow> = sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
            out.extend(rows.into_iter().map(|r| {
                (
                    r.0,
                    InstanceData {
                        stored: StoredInstance::from((r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9)),
                        metadata: r.10.unwrap_or_default(),
                        pixel_layout: r.11.unwrap_or_default(),
                    },
                )
            }));
        }
        Ok(out)
    }

    /// Number of studies, series and instances of a patient (issuer, ID).
    pub async fn patient_counts(&self, issuer: &str, patient_id: &str) -> Result<(i64, i64, i64)> {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(DISTINCT st.id), COUNT(DISTINCT se.id), COUNT(i.id)
             FROM patients p JOIN studies st ON st.patient_pk = p.id JOIN series se ON se.study_pk = st.id
             JOIN instances i ON i.series_pk = se.id WHERE p.issuer = $1 AND p.patient_id = $2",
        )
        .bind(issuer)
        .bind(patient_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }
}
