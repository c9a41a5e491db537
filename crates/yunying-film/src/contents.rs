//! What a film shows: the patient masked, its studies with their image
//! series and instances in order, and its reports (the study's PDF and SR
//! documents apart from the image series, and one uploaded for the film).
//! The face decides how to address each (URLs are its business).

use yunying_index::Film;
use yunying_index::search::{Field, Level, Match, Query};

use crate::mask::mask_person_name;
use crate::report::ENCAPSULATED_PDF;
use crate::{FilmError, Films, Result};

/// The film's patient, masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub name: String,
    pub sex: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyContents {
    pub uid: String,
    pub date: String,
    pub description: String,
    pub institution: String,
    pub modalities: String,
    pub series: Vec<SeriesContents>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesContents {
    pub uid: String,
    pub number: Option<i64>,
    pub description: String,
    pub modality: String,
    /// SOP Instance UIDs in order, with their number of frames.
    pub instances: Vec<(String, i64)>,
}

/// A report the film shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilmReport {
    /// Uploaded for the film (or the film it was shared from).
    Uploaded { media_type: String },
    /// A document in one of the film's studies.
    Instance { study: String, sop: String, title: String, pdf: bool },
}

/// The film page's view of a film.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilmContents {
    /// `None` when none of its studies is in the archive (any more).
    pub patient: Option<Patient>,
    pub studies: Vec<StudyContents>,
    pub reports: Vec<FilmReport>,
}

/// Key Object Selection: a document of the SR family that lists key
/// images; it is no report.
const KEY_OBJECT_SELECTION: &str = "1.2.840.10008.5.1.4.1.1.88.59";

/// Whether a SOP class is a report (Encapsulated PDF, any SR but a Key
/// Object Selection), shown apart from the image series.
pub fn is_report_class(sop_class: &str) -> bool {
    sop_class == ENCAPSULATED_PDF || (sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.") && sop_class != KEY_OBJECT_SELECTION)
}

/// Objects of the SR family shown neither as a report nor as images.
fn is_hidden_document(sop_class: &str) -> bool {
    sop_class == KEY_OBJECT_SELECTION
}

pub(crate) fn text_of(m: &Match, tag: u32) -> String {
    m.text(tag).to_string()
}

pub(crate) fn integer_of(m: &Match, tag: u32) -> Option<i64> {
    match m.get(tag) {
        Some(Field::Integer(n)) => Some(*n),
        Some(Field::Text(t)) => t.trim().parse().ok(),
        _ => None,
    }
}

impl Films {
    /// Studies matching `keys` (at most 1000).
    pub(crate) async fn studies_matching(&self, keys: Vec<(u32, String)>) -> Result<Vec<Match>> {
        let query = Query { limit: Some(1000), ..Query::new(Level::Study, keys) };
        match self.index().search(&query).await? {
            Ok(r) => Ok(r.matches),
            Err(e) => Err(FilmError::Invalid(e.to_string())),
        }
    }

    /// Every instance of a study, in series and instance order.
    pub(crate) async fn study_instances(&self, study: &str) -> Result<Vec<Match>> {
        let query = Query { limit: Some(1_000_000), ..Query::new(Level::Instance, vec![(0x0020_000D, study.to_string())]) };
        let mut matches = match self.index().search(&query).await? {
            Ok(r) => r.matches,
            Err(e) => return Err(FilmError::Internal(e.to_string())),
        };
        matches.sort_by_key(|m| {
            (
                integer_of(m, 0x0020_0011).unwrap_or(i64::MAX),
                text_of(m, 0x0020_000E),
                integer_of(m, 0x0020_0013).unwrap_or(i64::MAX),
                text_of(m, 0x0008_0018),
            )
        });
        Ok(matches)
    }

    /// What the film page shows of `film`.
    pub async fn contents(&self, film: &Film) -> Result<FilmContents> {
        let mut out = FilmContents { patient: None, studies: Vec::new(), reports: Vec::new() };
        if film.report && !film.report_key.is_empty() {
            out.reports.push(FilmReport::Uploaded { media_type: film.report_type.clone() });
        }
        for uid in &film.studies {
            let Some(study) = self.studies_matching(vec![(0x0020_000D, uid.clone())]).await?.into_iter().next() else { continue };
            if out.patient.is_none() {
                out.patient = Some(Patient { name: mask_person_name(study.text(0x0010_0010)), sex: study.text(0x0010_0040).to_string() });
            }
            let mut series: Vec<SeriesContents> = Vec::new();
            // A remote reading report an amendment replaced stays in the
            // archive; the film shows the report in force.
            let superseded = self.index().superseded_report_objects(uid).await?;
            for m in self.study_instances(uid).await? {
                let sop_class = text_of(&m, 0x0008_0016);
                let sop = text_of(&m, 0x0008_0018);
                if is_hidden_document(&sop_class) {
                    continue;
                }
                if is_report_class(&sop_class) {
                    if film.report && !superseded.contains(&sop) {
                        let description = text_of(&m, 0x0008_103E);
                        out.reports.push(FilmReport::Instance {
                            study: uid.clone(),
                            sop,
                            title: if description.is_empty() { "报告 / Report".to_string() } else { description },
                            pdf: sop_class == ENCAPSULATED_PDF,
                        });
                    }
                    continue;
                }
                let se = text_of(&m, 0x0020_000E);
                if series.last().is_none_or(|last| last.uid != se) {
                    series.push(SeriesContents {
                        uid: se,
                        number: integer_of(&m, 0x0020_0011),
                        description: text_of(&m, 0x0008_103E),
                        modality: text_of(&m, 0x0008_0060),
                        instances: Vec::new(),
                    });
                }
                let frames = integer_of(&m, 0x0028_0008).unwrap_or(1).max(1);
                series.last_mut().expect("pushed above").instances.push((sop, frames));
            }
            out.studies.push(StudyContents {
                uid: uid.clone(),
                date: study.text(0x0008_0020).to_string(),
                description: study.text(0x0008_1030).to_string(),
                institution: study.text(0x0008_0080).to_string(),
                modalities: study.text(0x0008_0061).to_string(),
                series,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_pdf_and_sr_documents() {
        assert!(is_report_class(ENCAPSULATED_PDF));
        assert!(is_report_class("1.2.840.10008.5.1.4.1.1.88.11"), "Basic Text SR");
        assert!(!is_report_class("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage");
        assert!(!is_report_class("1.2.840.10008.5.1.4.1.1.104.2"), "Encapsulated CDA is not shown as a report");
        assert!(!is_report_class(KEY_OBJECT_SELECTION), "key images are not a report");
    }
}
