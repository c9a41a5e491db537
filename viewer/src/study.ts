// What the viewer knows of a study: its series, their instances in display
// order and the Cornerstone image ids of their frames, plus the patient's
// other studies (priors).

import { wadors } from '@cornerstonejs/dicom-image-loader';
import { api } from './api';
import { DicomJson, DicomWeb, STUDY_FIELDS, T, num, nums, str, values } from './dicomweb';

export interface Series {
  study: string;
  uid: string;
  number: number | undefined;
  description: string;
  modality: string;
  /** Body Part Examined (hanging protocols match on it). */
  bodyPart: string;
  count: number;
  /** Instances in display order; empty until `loadSeries`. */
  instances: DicomJson[];
  imageIds: string[];
  /** For each image id: its instance and frame number. */
  frames: { instance: DicomJson; frame: number }[];
}

export interface Study {
  uid: string;
  json: DicomJson;
  series: Series[];
}

const SERIES_INCLUDE = [T.SeriesDescription, '00080021', T.NumberOfSeriesRelatedInstances, '00180015'].join(',');

/** Non-image SOP classes the stack viewer does not display. */
const NOT_IMAGES = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88\.|104\.|11\.|66|481\.|9\.)/;

export async function loadStudy(web: DicomWeb, uid: string): Promise<Study> {
  const [studies, series] = await Promise.all([
    web.search('/studies', { StudyInstanceUID: uid, includefield: STUDY_FIELDS }),
    web.search(`/studies/${uid}/series`, { includefield: SERIES_INCLUDE }),
  ]);
  if (!studies.length) throw new Error(`study ${uid} not found`);
  const list = series
    .map((s): Series => ({
      study: uid,
      uid: str(s, T.SeriesInstanceUID),
      number: num(s, T.SeriesNumber),
      description: str(s, T.SeriesDescription),
      modality: str(s, T.Modality),
      bodyPart: str(s, '00180015'),
      count: num(s, T.NumberOfSeriesRelatedInstances) ?? 0,
      instances: [],
      imageIds: [],
      frames: [],
    }))
    .sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9));
  return { uid, json: studies[0], series: list };
}

/** Fetch a series' metadata, order its instances and register their frames with the loader. */
export async function loadSeries(web: DicomWeb, series: Series): Promise<Series> {
  if (series.imageIds.length) return series;
  const instances = (await web.seriesMetadata(series.study, series.uid)).filter(
    (i) => !NOT_IMAGES.test(str(i, T.SOPClassUID)) && num(i, '00280010') !== undefined,
  );
  series.instances = sortInstances(instances);
  const imageIds: string[] = [];
  const frames: Series['frames'] = [];
  for (const instance of series.instances) {
    const sop = str(instance, T.SOPInstanceUID);
    const count = num(instance, T.NumberOfFrames) ?? 1;
    for (let frame = 1; frame <= count; frame++) {
      const id = web.frameImageId(series.study, series.uid, sop, frame);
      if (frame === 1) wadors.metaDataManager.add(id, instance as never);
      imageIds.push(id);
      frames.push({ instance, frame });
    }
  }
  series.imageIds = imageIds;
  series.frames = frames;
  series.count = series.instances.length;
  return series;
}

/** Along the slice normal when the geometry is there, else by InstanceNumber. */
export function sortInstances(instances: DicomJson[]): DicomJson[] {
  const position = (i: DicomJson) => nums(i, T.ImagePositionPatient);
  const orientation = nums(instances[0], T.ImageOrientationPatient);
  const geometric = orientation.length === 6 && instances.every((i) => position(i).length === 3);
  if (geometric) {
    const [a, b, c, d, e, f] = orientation;
    const normal = [b * f - c * e, c * d - a * f, a * e - b * d];
    const along = (i: DicomJson) => position(i).reduce((s, p, k) => s + p * normal[k], 0);
    // Head first: the highest position along the normal is shown first.
    return [...instances].sort((x, y) => along(y) - along(x));
  }
  return [...instances].sort((x, y) => (num(x, T.InstanceNumber) ?? 0) - (num(y, T.InstanceNumber) ?? 0));
}

export interface Prior {
  json: DicomJson;
  uid: string;
  /** Found by demographics at another institution, not by identifier. */
  otherInstitution: boolean;
  /** The same person at another institution, as the patient index links them. */
  linkedInstitution?: boolean;
}

/** `/api/studies/{uid}/priors`. */
interface PersonPriors {
  linked: boolean;
  studies: { study_instance_uid: string; institution: string; study_date: string; modalities: string; description: string }[];
}

/**
 * The patient's other studies: the same PatientID from the same issuer
 * (institution), and, from other institutions, studies whose patient has
 * the same name and birth date (no identity index links them yet, so they
 * are marked as such).
 */
/**
 * The patient's other studies, newest first: the patient index's person
 * (every institution's identity) when it links this study's patient; else
 * the same Patient ID and issuer, and the same name and birth date at
 * other institutions (marked as such).
 */
export async function findPriors(web: DicomWeb, study: Study): Promise<Prior[]> {
  try {
    const person = await api<PersonPriors>('GET', `/api/studies/${encodeURIComponent(study.uid)}/priors`);
    if (person.linked) {
      const issuer = str(study.json, T.IssuerOfPatientID);
      return person.studies.map((s) => ({
        uid: s.study_instance_uid,
        otherInstitution: false,
        linkedInstitution: s.institution !== issuer,
        json: {
          [T.StudyInstanceUID]: { vr: 'UI', Value: [s.study_instance_uid] },
          [T.StudyDate]: { vr: 'DA', Value: [s.study_date] },
          [T.StudyDescription]: { vr: 'LO', Value: [s.description] },
          [T.IssuerOfPatientID]: { vr: 'LO', Value: [s.institution] },
        } as DicomJson,
      }));
    }
  } catch {
    // No patient index on this server (or not reachable): by identifiers and demographics.
  }
  return findPriorsByDemographics(web, study);
}

async function findPriorsByDemographics(web: DicomWeb, study: Study): Promise<Prior[]> {
  const j = study.json;
  const pid = str(j, T.PatientID);
  const issuer = str(j, T.IssuerOfPatientID);
  const birth = str(j, T.PatientBirthDate);
  const nameValue = values(j, T.PatientName)[0] as { Alphabetic?: string; Ideographic?: string } | undefined;
  const searches: Promise<DicomJson[]>[] = [];
  if (pid) searches.push(web.search('/studies', { PatientID: pid, IssuerOfPatientID: issuer || undefined, includefield: STUDY_FIELDS, limit: 200 }));
  const name = nameValue?.Ideographic || nameValue?.Alphabetic;
  if (name && birth) searches.push(web.search('/studies', { PatientName: name, PatientBirthDate: birth, includefield: STUDY_FIELDS, limit: 200 }));
  const found = (await Promise.allSettled(searches)).flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  const seen = new Set([study.uid]);
  const priors: Prior[] = [];
  for (const s of found) {
    const uid = str(s, T.StudyInstanceUID);
    if (seen.has(uid)) continue;
    seen.add(uid);
    const samePatient = str(s, T.PatientID) === pid && str(s, T.IssuerOfPatientID) === issuer;
    priors.push({ json: s, uid, otherInstitution: !samePatient });
  }
  return priors.sort((a, b) => str(b.json, T.StudyDate).localeCompare(str(a.json, T.StudyDate)));
}
