"""Fixtures for tests/it/retention.rs, built with pydicom.

  retention.py date DIR STUDYDATE [--inpatient]
      rewrite every file under DIR: StudyDate (empty: removed) and, with
      --inpatient, an Admission ID (the ingest's inpatient hint)
  retention.py kos OUT CODE FILE...
      write a Key Object Selection rejection note (DCM CODE) into OUT that
      rejects the instances FILE..., in their study, for their patient
"""
import sys
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import dcmread
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

KOS = "1.2.840.10008.5.1.4.1.1.88.59"
MEANINGS = {
    "113001": "Rejected for Quality Reasons",
    "113037": "Rejected for Patient Safety Reasons",
    "113038": "Incorrect Modality Worklist Entry",
    "113039": "Data Retention Policy Expired",
}


def set_date(directory, date, inpatient):
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file():
            continue
        ds = dcmread(path)
        if date:
            ds.StudyDate = date
        elif "StudyDate" in ds:
            del ds.StudyDate
        if inpatient:
            ds.AdmissionID = "ADM-1"
        ds.save_as(path, enforce_file_format=True)


def code(value, meaning):
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = "DCM"
    c.CodeMeaning = meaning
    return c


def kos(out, value, files):
    refs = [dcmread(f, stop_before_pixels=True) for f in files]
    first = refs[0]
    ds = Dataset()
    ds.SOPClassUID = KOS
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "KO"
    ds.PatientID = first.PatientID
    ds.PatientName = first.PatientName
    ds.StudyInstanceUID = first.StudyInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.ContentDate = "20260101"
    ds.ContentTime = "120000"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = [code(value, MEANINGS[value])]
    series = {}
    for r in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = r.SOPClassUID
        item.ReferencedSOPInstanceUID = r.SOPInstanceUID
        series.setdefault(r.SeriesInstanceUID, []).append(item)
    study = Dataset()
    study.StudyInstanceUID = first.StudyInstanceUID
    study.ReferencedSeriesSequence = []
    for uid, items in series.items():
        s = Dataset()
        s.SeriesInstanceUID = uid
        s.ReferencedSOPSequence = items
        study.ReferencedSeriesSequence.append(s)
    ds.CurrentRequestedProcedureEvidenceSequence = [study]
    content = []
    for r in refs:
        c = Dataset()
        c.RelationshipType = "CONTAINS"
        c.ValueType = "IMAGE"
        ref = Dataset()
        ref.ReferencedSOPClassUID = r.SOPClassUID
        ref.ReferencedSOPInstanceUID = r.SOPInstanceUID
        c.ReferencedSOPSequence = [ref]
        content.append(c)
    ds.ContentSequence = content
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = KOS
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(out, enforce_file_format=True)


if __name__ == "__main__":
    if sys.argv[1] == "date":
        set_date(sys.argv[2], sys.argv[3], "--inpatient" in sys.argv[4:])
    elif sys.argv[1] == "kos":
        kos(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
