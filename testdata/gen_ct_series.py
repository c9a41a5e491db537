#!/usr/bin/env python3
"""Generate large synthetic CT series for tests, demos and benchmarks.

Realistic, compressible pixel data (not random bytes): a body ellipse of soft
tissue with two lungs, a spine and a few ribs that drift smoothly from slice to
slice, with mild deterministic noise. 16-bit signed, Rescale -1024, Explicit VR
Little Endian, CT Image Storage with full geometry. Deterministic for a seed.

  gen_ct_series.py --out DIR --slices N [--rows 512 --cols 512]
                   [--patients P --studies-per-patient S] [--seed K]
                   [--patient-name "Wang^Wei=王^伟"] [--charset "ISO_IR 192"] [--patient-id ID]
  gen_ct_series.py --out DIR --multiframe MB     # one multi-frame instance of ~MB megabytes

Files go to DIR/<study-index>/<slice>.dcm (a single study: DIR/0/...).
Needs numpy and pydicom.
"""
import argparse
import hashlib
import os

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"


def uid(*parts) -> str:
    """A deterministic 2.25 UID from the given parts."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def phantom(rows: int, cols: int, z: float, rng: np.random.Generator) -> np.ndarray:
    """Hounsfield units of one axial slice at relative position z in [0, 1]."""
    y, x = np.mgrid[-1:1:rows * 1j, -1:1:cols * 1j].astype(np.float32)
    hu = np.full((rows, cols), -1000.0, dtype=np.float32)  # air
    body = (x / 0.85) ** 2 + (y / (0.62 + 0.05 * np.sin(z * 3.1))) ** 2 < 1
    hu[body] = 40.0  # soft tissue
    hu[body & ((x / 0.8) ** 2 + (y / 0.57) ** 2 > 1)] = -90.0  # subcutaneous fat
    lung_r = 0.22 + 0.08 * np.sin(z * np.pi)
    for cx in (-0.38, 0.38):
        lung = ((x - cx) / lung_r) ** 2 + ((y + 0.05) / (lung_r * 1.5)) ** 2 < 1
        hu[lung] = -820.0
    hu[(x / 0.09) ** 2 + ((y - 0.42) / 0.09) ** 2 < 1] = 1100.0  # vertebral body
    hu[(x / 0.05) ** 2 + ((y - 0.42) / 0.05) ** 2 < 1] = 300.0  # marrow
    ring = np.abs(np.sqrt((x / 0.78) ** 2 + (y / 0.55) ** 2) - 1) < 0.015
    hu[ring & (np.cos(np.arctan2(y, x) * 9 + z * 4) > 0.3)] = 750.0  # ribs
    hu[((x + 0.1) / 0.07) ** 2 + ((y - 0.1) / 0.07) ** 2 < 1] = 180.0  # contrast vessel
    noise = rng.normal(0, 6, size=(rows, cols)).astype(np.float32)
    return np.clip(hu + noise * body, -1024, 3071)


def base_dataset(args, patient: int, study: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = args.charset
    ds.PatientName = args.patient_name if patient == 0 else f"{args.patient_name}{patient}"
    ds.PatientID = args.patient_id or f"SYN{args.seed:04d}{patient:04d}"
    if args.patient_id and patient:
        ds.PatientID += f"-{patient}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uid(args.seed, patient, study)
    ds.StudyDate = f"2026{1 + study % 12:02d}{1 + patient % 28:02d}"
    ds.StudyTime = "083000"
    ds.AccessionNumber = f"A{args.seed:03d}{patient:03d}{study:02d}"
    ds.StudyID = str(study + 1)
    ds.StudyDescription = "CT CHEST SYNTHETIC"
    ds.ReferringPhysicianName = ""
    ds.InstitutionName = "Yunying Synthetic Hospital"
    ds.Modality = "CT"
    ds.Manufacturer = "Yunying gen_ct_series.py"
    ds.SeriesInstanceUID = uid(args.seed, patient, study, "series")
    ds.SeriesNumber = 1
    ds.SeriesDescription = "Axial 1.0mm"
    ds.BodyPartExamined = "CHEST"
    ds.FrameOfReferenceUID = uid(args.seed, patient, study, "for")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.KVP = 120
    return ds


def save(ds: Dataset, sop_class: str, path: str) -> None:
    ds.SOPClassUID = sop_class
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "2.25.238945392867137405126870425318434815318"
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def write_series(args) -> None:
    rng = np.random.default_rng(args.seed)
    rows, cols = args.rows, args.cols
    thickness = 1.0
    spacing = 350.0 / cols
    for patient in range(args.patients):
        for s in range(args.studies_per_patient):
            study_index = patient * args.studies_per_patient + s
            out = os.path.join(args.out, str(study_index))
            os.makedirs(out, exist_ok=True)
            ds = base_dataset(args, patient, s)
            ds.Rows, ds.Columns = rows, cols
            ds.PixelSpacing = [round(spacing, 4), round(spacing, 4)]
            ds.SliceThickness = thickness
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            # A few slices of distinct anatomy, the rest interpolated: fast.
            keys = max(2, min(args.slices, 12))
            key_slices = [phantom(rows, cols, k / (keys - 1), rng) for k in range(keys)]
            for i in range(args.slices):
                t = i / max(1, args.slices - 1) * (keys - 1)
                k = min(int(t), keys - 2)
                w = t - k
                hu = (1 - w) * key_slices[k] + w * key_slices[k + 1]
                stored = np.round(hu + 1024).astype(np.int16)
                ds.SOPInstanceUID = uid(args.seed, patient, s, "instance", i)
                ds.InstanceNumber = i + 1
                z = -args.slices * thickness / 2 + i * thickness
                ds.ImagePositionPatient = [-175.0, -175.0, round(z, 3)]
                ds.SliceLocation = round(z, 3)
                ds.PixelData = stored.tobytes()
                save(ds, CT_IMAGE_STORAGE, os.path.join(out, f"{i:05d}.dcm"))


def write_multiframe(args) -> None:
    rng = np.random.default_rng(args.seed)
    rows = cols = 512
    frames = max(1, int(args.multiframe * 1e6 // (rows * cols * 2)))
    os.makedirs(args.out, exist_ok=True)
    ds = base_dataset(args, 0, 0)
    del ds.RescaleType
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = (0x0018, 0x2005)
    ds.SOPInstanceUID = uid(args.seed, "multiframe", args.multiframe)
    ds.InstanceNumber = 1
    keys = [np.round(phantom(rows, cols, k / 3, rng) + 1024).astype(np.int16) for k in range(4)]
    ds.PixelData = b"".join(keys[f % 4].tobytes() for f in range(frames))
    save(ds, MF_GRAYSCALE_WORD_SC, os.path.join(args.out, "multiframe.dcm"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--slices", type=int, default=100)
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--cols", type=int, default=512)
    p.add_argument("--patients", type=int, default=1)
    p.add_argument("--studies-per-patient", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patient-name", default="Synthetic^Patient")
    p.add_argument("--charset", default="ISO_IR 192")
    p.add_argument("--patient-id", help="PatientID to use (default: derived from the seed)")
    p.add_argument("--multiframe", type=float, help="write one multi-frame instance of about this many MB")
    args = p.parse_args()
    if args.multiframe:
        write_multiframe(args)
    else:
        write_series(args)


if __name__ == "__main__":
    main()
