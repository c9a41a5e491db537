#!/usr/bin/env python3
"""Write an Enhanced SR report (TID 2000 shaped: findings and impression as
text) into the study of a given DICOM file, for the viewer's prior-report
panel (tests/it/viewer_hanging.rs).

  prior_report_sr.py SOURCE.dcm OUT.dcm FINDINGS IMPRESSION
"""

import sys

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"


def code(value, scheme, meaning):
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return Sequence([c])


def text(value, meaning, words):
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = code(value, "DCM", meaning)
    item.TextValue = words
    return item


def container(value, meaning, children, relationship="CONTAINS"):
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = "CONTAINER"
    item.ConceptNameCodeSequence = code(value, "DCM", meaning)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(children)
    return item


def main():
    source, out, findings, impression = sys.argv[1:5]
    src = pydicom.dcmread(source, stop_before_pixels=True)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for kw in ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
               "StudyDate", "StudyTime", "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName"):
        if kw in src:
            setattr(ds, kw, src.data_element(kw).value)
    ds.SOPClassUID = ENHANCED_SR
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.SeriesNumber = 900
    ds.SeriesDescription = "Report"
    ds.InstanceNumber = 1
    ds.Manufacturer = "Yunying tests"
    ds.ContentDate = src.StudyDate
    ds.ContentTime = "120000"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = code("18748-4", "LN", "Diagnostic imaging report")
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentSequence = Sequence([
        container("121070", "Findings", [text("121071", "Finding", findings)]),
        container("121072", "Impressions", [text("121073", "Impression", impression)]),
    ])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(out, enforce_file_format=True)


if __name__ == "__main__":
    main()
