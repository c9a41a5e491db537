//! The original DICOM files of a film, as a file set: the download right,
//! which instances (the film's studies, in series and instance order,
//! those whose objects the archive holds), their names in the set
//! (`DICOM/ST000001/SE000001/IM000001`, PS3.10 file IDs) and the
//! DICOMDIR that indexes them, and the download on the film's record.
//! Writing the archive (ZIP, streamed) is the face's.

use std::collections::HashMap;

use yunying_archive::InstanceData;
use yunying_archive::dicomdir::{self, DirEntry};
use yunying_index::Film;

use crate::contents::{integer_of, text_of};
use crate::{FilmError, Films, Result, no_download, viewer_actor};

/// What a film's download holds.
#[derive(Debug, Clone)]
pub struct DownloadPlan {
    /// The DICOMDIR, first in the set.
    pub directory: Vec<u8>,
    /// Each instance's name in the set and its object key, in order.
    pub objects: Vec<(String, String)>,
}

/// The file ID of the `image`th instance of the `series`th series of the
/// `study`th study (each from 1), as DICOMDIR and ZIP name it.
pub(crate) fn file_id(study: usize, series: usize, image: usize) -> Vec<String> {
    vec!["DICOM".to_string(), format!("ST{study:06}"), format!("SE{series:06}"), format!("IM{image:06}")]
}

impl Films {
    /// Plan the download of a film's originals, refused (and recorded so)
    /// when the film does not allow it; the start is recorded.
    pub async fn download_plan(&self, film: &Film, client: &str) -> Result<DownloadPlan> {
        if !film.download {
            self.record(film, viewer_actor(film), "downloaded", client, "refused", "download not allowed").await?;
            return Err(no_download());
        }
        let mut entries = Vec::new();
        let mut objects = Vec::new();
        for (study_no, uid) in film.studies.iter().enumerate() {
            let stored: HashMap<String, InstanceData> =
                self.archive.instances(uid, None, None).await?.into_iter().map(|d| (d.stored.sop_instance_uid.clone(), d)).collect();
            let (mut series_no, mut last_series, mut image_no) = (0, String::new(), 0);
            for m in self.study_instances(uid).await? {
                let sop = text_of(&m, 0x0008_0018);
                let Some(data) = stored.get(&sop) else { continue };
                let series = text_of(&m, 0x0020_000E);
                if series != last_series {
                    series_no += 1;
                    image_no = 0;
                    last_series = series.clone();
                }
                image_no += 1;
                let file_id = file_id(study_no + 1, series_no, image_no);
                entries.push(DirEntry {
                    patient_id: text_of(&m, 0x0010_0020),
                    patient_name: text_of(&m, 0x0010_0010),
                    study_uid: uid.clone(),
                    study_date: text_of(&m, 0x0008_0020),
                    study_time: text_of(&m, 0x0008_0030),
                    accession_number: text_of(&m, 0x0008_0050),
                    study_description: text_of(&m, 0x0008_1030),
                    study_id: text_of(&m, 0x0020_0010),
                    series_uid: series,
                    modality: text_of(&m, 0x0008_0060),
                    series_number: integer_of(&m, 0x0020_0011),
                    sop_class_uid: data.stored.sop_class_uid.clone(),
                    sop_instance_uid: sop,
                    transfer_syntax_uid: data.stored.transfer_syntax_uid.clone(),
                    instance_number: integer_of(&m, 0x0020_0013),
                    file_id: file_id.clone(),
                });
                objects.push((file_id.join("/"), data.stored.object_key.clone()));
            }
        }
        if objects.is_empty() {
            return Err(FilmError::NotFound("the film's studies hold no instances".into()));
        }
        let media_uid = format!("2.25.{}", rand::random::<u128>());
        let directory = dicomdir::encode(&entries, &media_uid, "YUNYING");
        self.record(film, viewer_actor(film), "downloaded", client, "started", format!("{} instances", objects.len())).await?;
        Ok(DownloadPlan { directory, objects })
    }

    /// The download ended: `Ok(bytes)` written, or why it stopped.
    pub async fn download_finished(&self, film: &Film, client: &str, instances: usize, written: &Result<u64, String>) {
        let (outcome, detail) = match written {
            Ok(bytes) => ("ok", format!("{instances} instances, {bytes} bytes")),
            Err(e) => ("failed", e.clone()),
        };
        if let Err(e) = self.record(film, viewer_actor(film), "downloaded", client, outcome, detail).await {
            tracing::warn!(error = %e, "film download: event not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_are_eight_character_components() {
        assert_eq!(file_id(1, 2, 30).join("/"), "DICOM/ST000001/SE000002/IM000030");
        assert!(file_id(999_999, 1, 1).iter().all(|c| c.len() <= 8), "PS3.10: at most 8 characters a component");
    }
}
