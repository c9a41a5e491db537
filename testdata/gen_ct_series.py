#!/usr/bin/env python3
"""Generate large synthetic CT series for tests, demos and benchmarks.

Pixel data is realistic and compressible, not random bytes: an axial
chest/upper-abdomen phantom (body ellipse with subcutaneous fat and muscle,
two lungs at about -850 HU with vessels, heart, aorta, vertebrae with discs,
ribs, liver and a stomach with an air-fluid level below the diaphragm, the
scanner table) whose anatomy changes smoothly from slice to slice, plus mild
deterministic noise (+-10 HU inside the body). CT Image Storage, Explicit VR
Little Endian, 16-bit signed, Rescale Intercept -1024, full geometry
(ImagePositionPatient advancing by SliceThickness, ImageOrientationPatient,
PixelSpacing, SliceLocation, FrameOfReferenceUID), WindowCenter/Width 40/400.

Deterministic: the same arguments give byte-identical files. UIDs are
2.25.<int> derived from a hash of (seed, patient, study, ...), so they are
unique per study/series/instance and stable for a seed. No numpy RNG is used
(its streams are not guaranteed across numpy versions): the noise is a
hash of the pixel index.

  gen_ct_series.py --out DIR --slices N [--rows 512 --cols 512]
                   [--patients P --studies-per-patient S] [--seed K]
                   [--patient-name "Wang^Wei=王^伟"] [--charset "ISO_IR 192"]
                   [--patient-id ID] [--thickness MM] [--scout]
  gen_ct_series.py --out DIR --multiframe MB [--rows R --cols C] [--seed K]

Series files go to DIR/<study-index>/<slice>.dcm (study index from 0, slice
file names 00000.dcm, 00001.dcm, ...; with --scout also scout.dcm, a coronal
localizer of the study in series 1). --multiframe writes one Enhanced CT
instance DIR/multiframe.dcm whose pixel data is about MB MiB (100 -> 200
frames of 512x512x2 bytes), streamed to disk one frame at a time.

Speed: about 10 ms per 512x512 slice on one core (1,000 slices in ~10 s;
writing ~0.5 GB is usually the limit). Needs numpy and pydicom only.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import struct
import sys
import time

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
IMPL_CLASS_UID = "1.2.826.0.1.3680043.10.1467.0.2"
IMPL_VERSION = "YUNYING_GENCT_1"

SURNAMES = [("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"),
            ("Yang", "杨"), ("Zhao", "赵"), ("Huang", "黄"), ("Zhou", "周"), ("Wu", "吴"),
            ("Xu", "徐"), ("Sun", "孙"), ("Hu", "胡"), ("Zhu", "朱"), ("Gao", "高")]
GIVEN = [("Wei", "伟"), ("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"),
         ("Lei", "磊"), ("Qiang", "强"), ("Yang", "洋"), ("Jie", "杰"), ("Tao", "涛"),
         ("XiaoDong", "小东"), ("Hua", "华"), ("Ping", "平"), ("Hong", "红")]


# ---------------------------------------------------------------------------
# identifiers
# ---------------------------------------------------------------------------
def uid(*parts) -> str:
    """Deterministic 2.25 UID from the given parts (< 64 characters)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def default_name(seed: int, patient: int, ideographic: bool) -> str:
    h = hashlib.sha256(f"name/{seed}/{patient}".encode()).digest()
    fam = SURNAMES[h[0] % len(SURNAMES)]
    giv = GIVEN[h[1] % len(GIVEN)]
    name = f"{fam[0]}^{giv[0]}"
    return f"{name}={fam[1]}^{giv[1]}" if ideographic else name


# ---------------------------------------------------------------------------
# phantom
# ---------------------------------------------------------------------------
def hash_noise(rows: int, cols: int, seed: int, amp: int) -> np.ndarray:
    """Integer noise in [-amp, amp]; a pure function of (pixel, seed)."""
    y, x = np.indices((rows, cols), dtype=np.uint32)
    with np.errstate(over="ignore"):
        h = (x * np.uint32(0x9E3779B1)) ^ (y * np.uint32(0x85EBCA77)) \
            ^ np.uint32((seed * 0xC2B2AE3D + 0x27D4EB2F) & 0xFFFFFFFF)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
        h *= np.uint32(0x297A2D39)
        h ^= h >> np.uint32(15)
    return ((h % np.uint32(2 * amp + 1)).astype(np.int16) - np.int16(amp))


def bump(u: float, centre: float, half_width: float) -> float:
    """Smooth 0..1 bump (a half ellipse) used for organ extents along z."""
    t = (u - centre) / half_width
    return math.sqrt(1.0 - t * t) if abs(t) < 1.0 else 0.0


class Phantom:
    """Precomputes coordinate grids, textures and noise once; `slice_hu(u, z)`
    then costs a handful of vectorised operations on bounding boxes."""

    def __init__(self, rows: int, cols: int, seed: int):
        self.rows, self.cols = rows, cols
        half = cols / 2.0
        # x, y in units of half the field of view (width); square pixels
        self.x = ((np.arange(cols, dtype=np.float32) + 0.5) - cols / 2.0) / half
        self.y = ((np.arange(rows, dtype=np.float32) + 0.5) - rows / 2.0) / half
        self.x2 = self.x * self.x
        self.noise = [hash_noise(rows, cols, seed * 16 + k, 10) for k in range(8)]
        # lung vessel texture: small bright dots at seed-dependent positions
        tex = np.zeros((rows, cols), dtype=np.float32)
        h = hashlib.sha256(f"vessels/{seed}".encode()).digest() * 8
        for k in range(90):
            cx = (h[2 * k] / 255.0) * 1.4 - 0.7
            cy = (h[2 * k + 1] / 255.0) * 1.0 - 0.5
            r = 0.008 + 0.012 * (h[(2 * k + 7) % len(h)] / 255.0)
            self._ellipse_into(tex, cx, cy, r, r, 800.0, add=False)
        self.vessels = tex

    # -- helpers -----------------------------------------------------------
    def _box(self, cx, cy, a, b):
        n_half = self.cols / 2.0
        c0 = max(0, int((cx - a) * n_half + self.cols / 2.0) - 1)
        c1 = min(self.cols, int((cx + a) * n_half + self.cols / 2.0) + 2)
        r0 = max(0, int((cy - b) * n_half + self.rows / 2.0) - 1)
        r1 = min(self.rows, int((cy + b) * n_half + self.rows / 2.0) + 2)
        return r0, r1, c0, c1

    def _mask(self, cx, cy, a, b):
        """(row slice, col slice, boolean mask) of an ellipse's bounding box."""
        if a <= 0 or b <= 0:
            return None
        r0, r1, c0, c1 = self._box(cx, cy, a, b)
        if r0 >= r1 or c0 >= c1:
            return None
        dx = (self.x[c0:c1] - np.float32(cx)) / np.float32(a)
        dy = (self.y[r0:r1] - np.float32(cy)) / np.float32(b)
        m = (dy * dy)[:, None] + (dx * dx)[None, :] <= 1.0
        return slice(r0, r1), slice(c0, c1), m

    def _ellipse_into(self, img, cx, cy, a, b, value, add=False):
        r = self._mask(cx, cy, a, b)
        if r is None:
            return
        rs, cs, m = r
        if add:
            img[rs, cs][m] += value
        else:
            img[rs, cs][m] = value

    # -- one slice ---------------------------------------------------------
    def slice_hu(self, u: float, z_mm: float, index: int) -> np.ndarray:
        """HU image (float32) at relative position u in [0, 1] (0 = lung
        apex, 1 = upper abdomen) and table position z_mm."""
        hu = np.full((self.rows, self.cols), -1000.0, dtype=np.float32)
        E = self._ellipse_into
        # table (carbon fibre sandwich)
        r0 = int((0.70 * self.cols / 2.0) + self.rows / 2.0)
        if 0 <= r0 < self.rows:
            c0, c1 = int(self.cols * 0.08), int(self.cols * 0.92)
            hu[r0:min(self.rows, r0 + max(1, self.rows // 100)), c0:c1] = 250.0
            hu[min(self.rows - 1, r0 + max(1, self.rows // 100)):
               min(self.rows, r0 + max(2, self.rows // 40)), c0:c1] = -250.0
        # body: fat shell, muscle layer, soft tissue
        ba = 0.80 + 0.03 * math.sin(math.pi * u)
        bb = 0.55 + 0.04 * u
        E(hu, 0.0, 0.04, ba, bb, -100.0)
        E(hu, 0.0, 0.04, ba - 0.05, bb - 0.05, 55.0)
        E(hu, 0.0, 0.04, ba - 0.09, bb - 0.09, 35.0)
        body = self._mask(0.0, 0.04, ba, bb)
        # liver (below the diaphragm, grows towards the abdomen)
        lv = bump(u, 1.0, 0.45)
        E(hu, -0.28, 0.06, 0.40 * lv, 0.33 * lv, 62.0)
        # stomach with an air-fluid level
        st = bump(u, 1.0, 0.30)
        m = self._mask(0.33, -0.02, 0.17 * st, 0.14 * st)
        if m is not None:
            rs, cs, mm = m
            air = (self.y[rs] < np.float32(-0.02))[:, None] & mm
            hu[rs, cs][mm] = 15.0
            hu[rs, cs][air] = -960.0
        # lungs with vessels and a gravity-dependent density gradient
        lf = bump(u, 0.40, 0.58)
        vessels = np.roll(self.vessels, int(round(z_mm * 0.7)) % self.rows, axis=0)
        for cx in (-0.37, 0.37):
            m = self._mask(cx, -0.02, 0.25 * lf, 0.37 * lf)
            if m is None:
                continue
            rs, cs, mm = m
            grad = -870.0 + 90.0 * (self.y[rs] - np.float32(-0.02 - 0.37 * lf)) / np.float32(
                max(1e-3, 0.74 * lf))
            vessel = vessels[rs, cs]
            val = np.broadcast_to(grad[:, None], mm.shape) + vessel
            hu[rs, cs][mm] = val[mm]
        # heart and great vessels (mediastinum)
        hf = bump(u, 0.58, 0.30)
        E(hu, 0.08, 0.06, 0.25 * hf, 0.21 * hf, 42.0)
        E(hu, 0.13, 0.09, 0.10 * hf, 0.08 * hf, 55.0)          # LV blood pool
        af = bump(u, 0.30, 0.22)
        E(hu, 0.02, -0.14, 0.055 * af, 0.055 * af, 180.0)      # ascending aorta (contrast)
        E(hu, 0.10, 0.24, 0.055, 0.055, 180.0)                  # descending aorta
        # spine: vertebral body alternating with discs every ~25 mm
        vert = 0.5 + 0.5 * math.cos(2.0 * math.pi * z_mm / 25.0)
        E(hu, 0.0, 0.34, 0.095, 0.085, 400.0 + 500.0 * vert)   # cortex / annulus
        E(hu, 0.0, 0.34, 0.080, 0.070, 90.0 + 170.0 * vert)    # cancellous / nucleus
        E(hu, 0.0, 0.465, 0.035, 0.032, 25.0)                    # spinal canal
        E(hu, -0.07, 0.50, 0.05, 0.022, 650.0 * vert + 40.0)    # laminae
        E(hu, 0.07, 0.50, 0.05, 0.022, 650.0 * vert + 40.0)
        E(hu, 0.0, 0.545, 0.018, 0.045, 700.0 * vert + 40.0)      # spinous process
        # ribs: small cortical ellipses along the body wall, sliding with z
        rf = bump(u, 0.40, 0.65)
        if rf > 0.05:
            phase = 2.0 * math.pi * z_mm / 30.0
            for k in range(12):
                th = -2.6 + 5.2 * k / 11.0 + 0.06 * math.sin(phase + k)
                if abs(th) < 0.35:          # no ribs over the sternum
                    continue
                cx = 0.86 * (ba - 0.07) * math.sin(th)
                cy = 0.04 + 0.86 * (bb - 0.07) * -math.cos(th)
                on = 0.5 + 0.5 * math.sin(phase + 0.7 * k)
                if on < 0.25:
                    continue
                E(hu, cx, cy, 0.035 * rf, 0.018 * rf, 750.0 + 350.0 * on)
        # sternum
        E(hu, 0.0, 0.04 - (bb - 0.08), 0.05, 0.022, 600.0 * vert + 200.0)
        # noise inside the body only
        if body is not None:
            rs, cs, mm = body
            nz = self.noise[(index * 5) % len(self.noise)][rs, cs]
            hu[rs, cs][mm] += nz[mm]
        return hu


def to_stored(hu: np.ndarray) -> np.ndarray:
    """HU -> stored value (intercept -1024), int16."""
    return np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.int16)


# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------
def base_dataset(args, patient: int, study: int, sop_class: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = args.charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = UID(sop_class)
    date = f"2026{1 + (study + args.seed) % 12:02d}{1 + (patient * 7 + study) % 28:02d}"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = f"{8 + study % 10:02d}3000"
    ds.AcquisitionTime = ds.ContentTime = ds.StudyTime
    ds.AccessionNumber = f"A{args.seed % 1000:03d}{patient:04d}{study:02d}"
    ds.Modality = "CT"
    ds.Manufacturer = "Yunying"
    ds.ManufacturerModelName = "gen_ct_series.py"
    ds.InstitutionName = "Yunying Synthetic Hospital"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "CT CHEST SYNTHETIC"
    ds.SeriesDescription = f"Axial {args.thickness:g}mm"
    ideographic = args.charset.strip().upper() in ("ISO_IR 192", "GB18030", "GBK")
    if args.patient_name is not None and patient == 0:
        ds.PatientName = args.patient_name
    else:
        ds.PatientName = default_name(args.seed, patient, ideographic)
    pid = args.patient_id or f"SYN{args.seed:04d}{patient:04d}"
    if args.patient_id and patient:
        pid += f"-{patient}"
    ds.PatientID = pid
    ds.PatientBirthDate = f"19{40 + (args.seed + patient) % 60:02d}0{1 + patient % 9}15"
    ds.PatientSex = "MF"[(args.seed + patient) % 2]
    ds.BodyPartExamined = "CHEST"
    ds.KVP = "120"
    ds.SliceThickness = f"{args.thickness:g}"
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = UID(uid(args.seed, patient, study, "study"))
    ds.SeriesInstanceUID = UID(uid(args.seed, patient, study, "series"))
    ds.StudyID = str(study + 1)
    ds.SeriesNumber = 2
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = UID(uid(args.seed, patient, study, "for"))
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = args.rows
    ds.Columns = args.cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def hounsfield(ds: Dataset, center: int, width: int) -> None:
    """Stored values to HU (intercept -1024, to_stored's), and a window."""
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = str(center)
    ds.WindowWidth = str(width)


def file_meta(ds: Dataset) -> FileMetaDataset:
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = ds.SOPClassUID
    fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = UID(IMPL_CLASS_UID)
    fm.ImplementationVersionName = IMPL_VERSION
    return fm


def spacing_mm(args) -> float:
    return round(350.0 / max(args.rows, args.cols), 6)


def write_series(args) -> int:
    ph = Phantom(args.rows, args.cols, args.seed)
    ps = spacing_mm(args)
    n = args.slices
    count = 0
    for patient in range(args.patients):
        for s in range(args.studies_per_patient):
            study_index = patient * args.studies_per_patient + s
            out = os.path.join(args.out, str(study_index))
            os.makedirs(out, exist_ok=True)
            ds = base_dataset(args, patient, s, CT_IMAGE_STORAGE)
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.PixelSpacing = [f"{ps:g}", f"{ps:g}"]
            hounsfield(ds, 40, 400)
            x0 = -ps * args.cols / 2.0
            y0 = -ps * args.rows / 2.0
            z_top = -50.0 - 10.0 * s  # different studies start at different table heights
            profiles = []
            for i in range(n):
                u = i / (n - 1) if n > 1 else 0.5
                z = z_top - i * args.thickness     # head-first: towards the feet
                hu = ph.slice_hu(u, z, i)
                if args.scout:
                    profiles.append(hu.mean(axis=0))
                stored = to_stored(hu)
                ds.SOPInstanceUID = UID(uid(args.seed, patient, s, "instance", i))
                ds.InstanceNumber = i + 1
                ds.ImagePositionPatient = [f"{x0:g}", f"{y0:g}", f"{z:g}"]
                ds.SliceLocation = f"{z:g}"
                ds.PixelData = stored.tobytes()
                ds["PixelData"].VR = "OW"
                ds.file_meta = file_meta(ds)
                ds.save_as(os.path.join(out, f"{i:05d}.dcm"), enforce_file_format=True)
                count += 1
            if args.scout:
                write_scout(args, patient, s, np.array(profiles), x0, z_top, ps, os.path.join(out, "scout.dcm"))
    return count


def write_scout(args, patient: int, study: int, profiles: np.ndarray, x0: float, z_top: float, ps: float, path: str) -> None:
    """A coronal localizer of the study: each row the slice's attenuation
    averaged front to back, top row at the first slice, in the series'
    frame of reference (a projection, as a CT scout is)."""
    ds = base_dataset(args, patient, study, CT_IMAGE_STORAGE)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SeriesInstanceUID = UID(uid(args.seed, patient, study, "scout-series"))
    ds.SOPInstanceUID = UID(uid(args.seed, patient, study, "scout"))
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = "Scout"
    ds.Rows, ds.Columns = profiles.shape
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
    ds.ImagePositionPatient = [f"{x0:g}", "0", f"{z_top:g}"]
    ds.PixelSpacing = [f"{args.thickness:g}", f"{ps:g}"]
    hounsfield(ds, -300, 1200)
    ds.PixelData = to_stored(profiles).tobytes()
    ds["PixelData"].VR = "OW"
    ds.file_meta = file_meta(ds)
    ds.save_as(path, enforce_file_format=True)


def write_multiframe(args) -> str:
    rows, cols = args.rows, args.cols
    frame_bytes = rows * cols * 2
    frames = max(1, int(round(args.multiframe * 1024 * 1024 / frame_bytes)))
    total = frames * frame_bytes
    if total > 0xFFFFFFFE:
        sys.exit(f"--multiframe {args.multiframe}: {total} bytes exceed the 4 GiB limit "
                 "of a defined-length Pixel Data element")
    os.makedirs(args.out, exist_ok=True)
    ph = Phantom(rows, cols, args.seed)
    ps = spacing_mm(args)
    ds = base_dataset(args, 0, 0, ENHANCED_CT_IMAGE_STORAGE)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    del ds.SliceThickness
    del ds.KVP
    del ds.ConvolutionKernel
    ds.SOPInstanceUID = UID(uid(args.seed, "multiframe", args.multiframe, rows, cols))
    ds.SeriesInstanceUID = UID(uid(args.seed, "multiframe-series", args.multiframe))
    ds.InstanceNumber = 1
    dt = ds.StudyDate + ds.StudyTime
    ds.AcquisitionDateTime = dt
    ds.ContentQualification = "PRODUCT"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.NumberOfFrames = frames
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime

    dim_org = uid(args.seed, "multiframe-dim", args.multiframe)
    ds.DimensionOrganizationSequence = Sequence([Dataset()])
    ds.DimensionOrganizationSequence[0].DimensionOrganizationUID = dim_org
    ds.DimensionOrganizationType = "3D"
    dims = []
    for ptr, grp in ((0x00209056, 0x00209111), (0x00209057, 0x00209111)):  # StackID, InStackPos
        d = Dataset()
        d.DimensionOrganizationUID = dim_org
        d.DimensionIndexPointer = ptr
        d.FunctionalGroupPointer = grp
        dims.append(d)
    ds.DimensionIndexSequence = Sequence(dims)

    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [f"{ps:g}", f"{ps:g}"]
    pm.SliceThickness = f"{args.thickness:g}"
    shared.PixelMeasuresSequence = Sequence([pm])
    po = Dataset()
    po.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    shared.PlaneOrientationSequence = Sequence([po])
    pvt = Dataset()
    pvt.RescaleIntercept = "-1024"
    pvt.RescaleSlope = "1"
    pvt.RescaleType = "HU"
    shared.PixelValueTransformationSequence = Sequence([pvt])
    voi = Dataset()
    voi.WindowCenter = "40"
    voi.WindowWidth = "400"
    shared.FrameVOILUTSequence = Sequence([voi])
    ft = Dataset()
    ft.FrameType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ft.PixelPresentation = "MONOCHROME"
    ft.VolumetricProperties = "VOLUME"
    ft.VolumeBasedCalculationTechnique = "NONE"
    shared.CTImageFrameTypeSequence = Sequence([ft])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    x0 = -ps * cols / 2.0
    y0 = -ps * rows / 2.0
    zs = [-50.0 - f * args.thickness for f in range(frames)]
    per = []
    for f in range(frames):
        item = Dataset()
        fc = Dataset()
        fc.StackID = "1"
        fc.InStackPositionNumber = f + 1
        fc.DimensionIndexValues = [1, f + 1]
        fc.FrameAcquisitionDateTime = dt
        fc.FrameReferenceDateTime = dt
        fc.FrameAcquisitionDuration = 500.0
        item.FrameContentSequence = Sequence([fc])
        pp = Dataset()
        pp.ImagePositionPatient = [f"{x0:g}", f"{y0:g}", f"{zs[f]:g}"]
        item.PlanePositionSequence = Sequence([pp])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.file_meta = file_meta(ds)

    path = os.path.join(args.out, "multiframe.dcm")
    with open(path, "wb") as fp:
        ds.save_as(fp, enforce_file_format=True)   # everything except Pixel Data
        # Pixel Data is the last element: write its header, then stream frames
        fp.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, total))
        for f in range(frames):
            u = f / (frames - 1) if frames > 1 else 0.5
            fp.write(to_stored(ph.slice_hu(u, zs[f], f)).tobytes())
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--slices", type=int, default=100, help="slices per study (default 100)")
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--cols", type=int, default=512)
    p.add_argument("--patients", type=int, default=1)
    p.add_argument("--studies-per-patient", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patient-name", default=None,
                   help="PatientName of the first patient (others get generated names); "
                        "default: a generated Chinese name, e.g. 'Wang^Wei=王^伟'")
    p.add_argument("--charset", default="ISO_IR 192", help="Specific Character Set")
    p.add_argument("--patient-id", help="PatientID (default SYN<seed><patient>); "
                                        "patients after the first get '-<n>' appended")
    p.add_argument("--thickness", type=float, default=1.0, help="slice thickness/spacing in mm")
    p.add_argument("--multiframe", type=float, metavar="MB",
                   help="instead of a series, write one Enhanced CT instance of about MB MiB")
    p.add_argument("--scout", action="store_true",
                   help="also a coronal localizer (scout.dcm, series 1) of each study")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args()
    if args.rows < 16 or args.cols < 16:
        p.error("--rows/--cols must be at least 16")
    t0 = time.monotonic()
    if args.multiframe:
        path = write_multiframe(args)
        if not args.quiet:
            print(f"wrote {path} ({os.path.getsize(path)} bytes) in {time.monotonic() - t0:.1f}s",
                  file=sys.stderr)
    else:
        if args.slices < 1:
            p.error("--slices must be >= 1")
        n = write_series(args)
        if not args.quiet:
            print(f"wrote {n} files under {args.out} in {time.monotonic() - t0:.1f}s",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
