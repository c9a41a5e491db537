//! A signed version as what leaves: the DICOM objects (`yunying-report`)
//! and the HL7 ORU^R01 (`yunying-hl7`), made from what the index holds
//! (the request, the version with its signature and UIDs, the study's
//! metadata), so every delivery of a version sends the same bytes.

use std::io::Read;
use std::sync::Arc;

use yunying_index::{ReadingRequestRow, ReportRow};
use yunying_report::{Built, DateTimeParts, ImageRef, Person, Predecessor, ReportInput, ReportUids, SignatureInfo, StudyIdentity};

use crate::ReadingError;
use crate::model::ReportContent;
use crate::service::Reading;
use crate::workflow::Objects;

/// Most bytes of a study's metadata read.
const MAX_METADATA: u64 = 16 << 20;

/// A version's files, in the order sent: SR, KOS (when any), PDF.
pub(crate) struct Files {
    built: Arc<Built>,
    uids: Vec<String>,
}

impl Files {
    pub fn files(&self) -> Vec<Vec<u8>> {
        let mut out = vec![self.built.sr.clone()];
        if let Some(kos) = &self.built.kos {
            out.push(kos.clone());
        }
        out.push(self.built.pdf_dicom.clone());
        if let Some(gsps) = &self.built.gsps {
            out.push(gsps.clone());
        }
        out
    }

    /// Their SOP Instance UIDs, in the same order.
    pub fn sop_instance_uids(&self) -> Vec<String> {
        self.uids.clone()
    }
}

impl Reading {
    /// The DICOM objects of a signed version (kept for the last version made).
    pub(crate) async fn objects_of(&self, r: &ReadingRequestRow, version: i64) -> Result<Files, ReadingError> {
        if let Some(files) = self.cached(&r.request_id, version) {
            return Ok(files);
        }
        let (input, uids) = self.input_of(r, version).await?;
        self.build_objects(&r.request_id, version, input, uids).await
    }

    fn cached(&self, request_id: &str, version: i64) -> Option<Files> {
        let guard = self.built.lock().unwrap();
        let ((id, v), built, uids) = guard.as_ref()?;
        (id == request_id && *v == version).then(|| Files { built: built.clone(), uids: uids.clone() })
    }

    /// Make a version's objects (on the blocking pool: the PDF) and keep
    /// them as the last made.
    pub(crate) async fn build_objects(
        &self,
        request_id: &str,
        version: i64,
        input: ReportInput,
        uids: ReportUids,
    ) -> Result<Files, ReadingError> {
        let fonts = self.fonts.clone().ok_or_else(|| ReadingError::Unavailable("no font for report PDFs is loaded".into()))?;
        let ids = uids.clone();
        let built = tokio::task::spawn_blocking(move || yunying_report::build(&input, &ids, &fonts))
            .await
            .map_err(|e| ReadingError::Unavailable(e.to_string()))?
            .map_err(|e| ReadingError::Unavailable(format!("building the report's DICOM objects: {e}")))?;
        let mut sop_uids = vec![uids.sr_sop_instance_uid.clone()];
        if built.kos.is_some() {
            sop_uids.push(uids.kos_sop_instance_uid.clone());
        }
        sop_uids.push(uids.pdf_sop_instance_uid.clone());
        if built.gsps.is_some() {
            sop_uids.push(uids.gsps_sop_instance_uid.clone());
        }
        let built = Arc::new(built);
        *self.built.lock().unwrap() = Some(((request_id.to_string(), version), built.clone(), sop_uids.clone()));
        Ok(Files { built, uids: sop_uids })
    }

    /// The ORU^R01 of a version: final (`F`), corrected (`C`, an
    /// amendment), or for a critical finding before signing, preliminary.
    pub(crate) async fn oru_of(
        &self,
        r: &ReadingRequestRow,
        version: i64,
        critical_notice: bool,
        delivery: i64,
    ) -> Result<String, ReadingError> {
        let reports = self.index.reading_reports(&r.request_id).await?;
        let report =
            reports.iter().find(|x| x.version == version).ok_or_else(|| ReadingError::Unavailable("report version gone".into()))?;
        let content: ReportContent = serde_json::from_str(&report.body).unwrap_or_default();
        let study = self.study_identity(&r.study_instance_uid).await?;
        let signed = report.signed_ms.is_some();
        let pdf = if signed && !critical_notice { Some(self.objects_of(r, version).await?.built.pdf.clone()) } else { None };
        let (date, time, tz) = crate::workflow::local_time(report.signed_ms.unwrap_or(report.updated_ms), self.config.utc_offset_minutes);
        let (alphabetic, ideographic) = split_pn(&study.patient_name);
        let status = if critical_notice && !signed {
            yunying_hl7::ResultStatus::Preliminary
        } else if version > 1 {
            yunying_hl7::ResultStatus::Corrected
        } else {
            yunying_hl7::ResultStatus::Final
        };
        let message = yunying_hl7::ReportMessage {
            sending_application: "YUNYING".into(),
            sending_facility: r.reading.clone(),
            receiving_application: "HIS".into(),
            receiving_facility: r.requesting.clone(),
            control_id: format!("YY{delivery}"),
            message_time: format!("{date}{time}{tz}"),
            patient: yunying_hl7::ReportPatient {
                patient_id: study.patient_id.clone(),
                issuer: if study.issuer_of_patient_id.is_empty() { r.requesting.clone() } else { study.issuer_of_patient_id.clone() },
                name_alphabetic: alphabetic,
                name_ideographic: ideographic,
                birth_date: study.patient_birth_date.clone(),
                sex: study.patient_sex.clone(),
            },
            placer_order_number: r.his_order_id.clone(),
            filler_order_number: r.request_id.clone(),
            accession_number: study.accession_number.clone(),
            study_instance_uid: r.study_instance_uid.clone(),
            procedure_code: format!("{}{}", r.modality, if r.body_part.is_empty() { String::new() } else { format!("-{}", r.body_part) }),
            procedure_text: self.template_name(&content.template_id).await,
            observation_time: if study.study_date.is_empty() {
                date.clone()
            } else {
                format!("{}{}", study.study_date, digits(&study.study_time, 6))
            },
            result_status: status,
            result_time: format!("{date}{time}{tz}"),
            findings: if critical_notice { String::new() } else { content.findings.clone() },
            impression: content.impression.clone(),
            critical: content.critical,
            principal_interpreter: yunying_hl7::Interpreter { id: person_id(&report.verifier), name: report.verifier_name.clone() },
            assistant_interpreter: if report.author != report.verifier {
                yunying_hl7::Interpreter { id: person_id(&report.author), name: report.author_name.clone() }
            } else {
                yunying_hl7::Interpreter::default()
            },
            pdf,
            report_url: String::new(),
        };
        yunying_hl7::build_oru(&message).map_err(|e| ReadingError::Unavailable(format!("building the ORU^R01: {e}")))
    }

    async fn template_name(&self, id: &str) -> String {
        let templates = self.templates().await.unwrap_or_default();
        templates.into_iter().find(|t| t.id == id).map(|t| t.name).unwrap_or_else(|| "影像诊断报告".to_string())
    }

    async fn input_of(&self, r: &ReadingRequestRow, version: i64) -> Result<(ReportInput, ReportUids), ReadingError> {
        let reports = self.index.reading_reports(&r.request_id).await?;
        let report = reports
            .iter()
            .find(|x| x.version == version && x.signed_ms.is_some())
            .ok_or_else(|| ReadingError::Unavailable("no such signed version".into()))?;
        let objects: Objects = serde_json::from_str(&report.objects)
            .map_err(|e| ReadingError::Unavailable(format!("stored report objects unreadable: {e}")))?;
        self.input_from(r, report, &reports, &objects).await
    }

    /// What `yunying-report` makes a version's objects of: the version
    /// (`report`, being signed or signed, its signature carried when it
    /// has one), the versions before it (an amendment names the last
    /// signed one), the UIDs and time chosen at signing.
    pub(crate) async fn input_from(
        &self,
        r: &ReadingRequestRow,
        report: &ReportRow,
        reports: &[ReportRow],
        objects: &Objects,
    ) -> Result<(ReportInput, ReportUids), ReadingError> {
        let version = report.version;
        let content: ReportContent =
            serde_json::from_str(&report.body).map_err(|e| ReadingError::Unavailable(format!("stored report unreadable: {e}")))?;
        let predecessor = predecessor_of(reports, version);
        let image = |k: &crate::KeyImage| ImageRef {
            sop_class_uid: k.sop_class_uid.clone(),
            sop_instance_uid: k.sop_instance_uid.clone(),
            series_instance_uid: k.series_instance_uid.clone(),
            frame: k.frame,
            rows: k.rows,
            columns: k.columns,
        };
        let input = ReportInput {
            study: self.study_identity(&r.study_instance_uid).await?,
            requesting_institution: self.institution_name(&r.requesting),
            reading_institution: self.institution_name(&r.reading),
            modality: r.modality.clone(),
            body_part: r.body_part.clone(),
            clinical_info: r.clinical_info.clone(),
            template_name: self.template_name(&content.template_id).await,
            findings: content.findings.clone(),
            impression: content.impression.clone(),
            critical: content.critical,
            measurements: content
                .measurements
                .iter()
                .map(|m| yunying_report::Measurement {
                    label: m.label.clone(),
                    value: m.value,
                    unit: m.unit.clone(),
                    image: m.image.as_ref().map(image),
                    points: m.points.iter().map(|p| (p[0], p[1])).collect(),
                })
                .collect(),
            key_images: content.key_images.iter().map(image).collect(),
            author: Person { name: report.author_name.clone(), id: report.author.clone() },
            verifier: (report.verifier != report.author)
                .then(|| Person { name: report.verifier_name.clone(), id: report.verifier.clone() }),
            signed_at: DateTimeParts { date: objects.date.clone(), time: objects.time.clone(), tz_offset: objects.tz.clone() },
            version: version as u32,
            predecessor,
            amend_reason: report.amend_reason.clone(),
            request_id: r.request_id.clone(),
            signature: signature_of(report, objects),
        };
        let uids = ReportUids {
            series_instance_uid: objects.sr_series.clone(),
            sr_sop_instance_uid: objects.sr.clone(),
            kos_series_instance_uid: objects.kos_series.clone(),
            kos_sop_instance_uid: objects.kos.clone(),
            pdf_series_instance_uid: objects.pdf_series.clone(),
            pdf_sop_instance_uid: objects.pdf.clone(),
            series_number: objects.series_number,
            kos_series_number: objects.series_number + 1,
            pdf_series_number: objects.series_number + 2,
            gsps_series_instance_uid: objects.gsps_series.clone(),
            gsps_sop_instance_uid: objects.gsps.clone(),
            gsps_series_number: objects.series_number + 3,
        };
        Ok((input, uids))
    }

    /// The patient and study attributes of a stored study, from one of
    /// its instances' metadata.
    pub(crate) async fn study_identity(&self, study: &str) -> Result<StudyIdentity, ReadingError> {
        let rows = self.index.recognition_studies(&[study.to_string()], true).await?;
        let row = rows.into_iter().next().ok_or_else(|| ReadingError::Unavailable(format!("study {study} is not stored")))?;
        let mut json = Vec::new();
        flate2::read::DeflateDecoder::new(row.metadata.as_slice())
            .take(MAX_METADATA)
            .read_to_end(&mut json)
            .map_err(|e| ReadingError::Unavailable(format!("study metadata unreadable: {e}")))?;
        let meta: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| ReadingError::Unavailable(format!("study metadata unreadable: {e}")))?;
        let text = |tag: &str| -> String {
            let v = &meta[tag]["Value"][0];
            match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Object(pn) => {
                    let parts: Vec<&str> = ["Alphabetic", "Ideographic", "Phonetic"]
                        .iter()
                        .map(|k| pn.get(*k).and_then(|x| x.as_str()).unwrap_or(""))
                        .collect();
                    parts.join("=").trim_end_matches('=').to_string()
                }
                _ => String::new(),
            }
        };
        Ok(StudyIdentity {
            patient_name: text("00100010"),
            patient_id: text("00100020"),
            issuer_of_patient_id: text("00100021"),
            patient_birth_date: text("00100030"),
            patient_sex: text("00100040"),
            study_instance_uid: study.to_string(),
            study_id: text("00200010"),
            accession_number: text("00080050"),
            study_date: text("00080020"),
            study_time: text("00080030"),
            referring_physician_name: text("00080090"),
            study_description: text("00081030"),
        })
    }
}

/// What the objects carry of a version's signature (none before signing).
pub(crate) fn signature_of(report: &ReportRow, objects: &Objects) -> Option<SignatureInfo> {
    (!report.signature.is_empty()).then(|| SignatureInfo {
        algorithm: objects.algorithm.clone(),
        key_id: objects.key_id.clone(),
        content_digest_hex: report.content_digest.clone(),
        // The signed-note line is `— NAME BASE64`.
        signature_b64: report.signature.rsplit(' ').next().unwrap_or("").to_string(),
    })
}

/// The signed version before `version`, whose SR this one amends.
fn predecessor_of(reports: &[ReportRow], version: i64) -> Option<Predecessor> {
    let before = reports.iter().filter(|x| x.version < version && x.signed_ms.is_some()).max_by_key(|x| x.version)?;
    let objects: Objects = serde_json::from_str(&before.objects).ok()?;
    Some(Predecessor { sop_instance_uid: objects.sr, series_instance_uid: objects.sr_series })
}

/// A PN's alphabetic and ideographic groups.
fn split_pn(pn: &str) -> (String, String) {
    let mut groups = pn.split('=');
    (groups.next().unwrap_or("").to_string(), groups.next().unwrap_or("").to_string())
}

/// The user id of `person:ID` (the id itself otherwise).
fn person_id(principal: &str) -> String {
    principal.strip_prefix("person:").unwrap_or(principal).to_string()
}

/// The leading digits of a DICOM TM, at most `n`.
fn digits(tm: &str, n: usize) -> String {
    tm.chars().take_while(char::is_ascii_digit).take(n).collect()
}
