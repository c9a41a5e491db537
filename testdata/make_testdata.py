#!/usr/bin/env python3
"""Deterministic generator for Yunying's small DICOM test fixtures.

Writes a handful of small DICOM Part 10 files (one per transfer syntax, plus
Chinese character-set cases) into ``testdata/dicom/``.  Every file is made from
synthetic data drawn by this script: no real patient, no downloaded data set.

Usage
-----
    python3 testdata/make_testdata.py              # (re)write testdata/dicom/*.dcm
    python3 testdata/make_testdata.py --check      # regenerate into a temp dir and
                                                   # compare bytes with the committed files
    python3 testdata/make_testdata.py --verify     # dcmdump +E / pixel decode / charset checks
                                                   # of the committed files
    python3 testdata/make_testdata.py --regen-video
                                                   # re-encode testdata/video_src/* with ffmpeg
                                                   # (imageio-ffmpeg's binary), then generate

Determinism: fixed UIDs under ROOT, fixed dates/times, no randomness except a
hash-based integer noise field computed with plain numpy integer arithmetic.
Byte-identical output additionally needs the same external encoders that made
the committed files (see README.md, "Toolchain"): DCMTK 3.6.7 (dcmconv,
dcmcjpeg, dcmcjpls, dcmcrle), pydicom 3.0.x, pylibjpeg-openjpeg 2.6.0
(JPEG 2000) and imagecodecs 2026.3.6 / OpenJPH 0.26.3 (HTJ2K).  The video
elementary streams are committed in testdata/video_src/ so that generating
the DICOM files does not need ffmpeg at all.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import UID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_ct_series  # noqa: E402  (the shared noise field)
OUT_DIR = HERE / "dicom"
VIDEO_SRC = HERE / "video_src"

# ---------------------------------------------------------------------------
# Fixed identifiers
# ---------------------------------------------------------------------------
ROOT = "1.2.826.0.1.3680043.10.1467."
IMPL_CLASS_UID = ROOT + "0.1"          # used by the files pydicom writes itself
IMPL_VERSION = "YUNYING_TD_1"

TS = {
    "implicit": "1.2.840.10008.1.2",
    "explicit": "1.2.840.10008.1.2.1",
    "deflated": "1.2.840.10008.1.2.1.99",
    "big": "1.2.840.10008.1.2.2",
    "jpeg_baseline": "1.2.840.10008.1.2.4.50",
    "jpeg_extended": "1.2.840.10008.1.2.4.51",
    "jpeg_lossless_sv1": "1.2.840.10008.1.2.4.70",
    "jpegls_lossless": "1.2.840.10008.1.2.4.80",
    "jpegls_near": "1.2.840.10008.1.2.4.81",
    "j2k_lossless": "1.2.840.10008.1.2.4.90",
    "j2k": "1.2.840.10008.1.2.4.91",
    "mpeg2_mpml": "1.2.840.10008.1.2.4.100",
    "h264_hp41": "1.2.840.10008.1.2.4.102",
    "hevc_mp51": "1.2.840.10008.1.2.4.107",
    "rle": "1.2.840.10008.1.2.5",
    "htj2k_lossless": "1.2.840.10008.1.2.4.201",
}

SOP = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SC": "1.2.840.10008.5.1.4.1.1.7",
    "VIDEO_ES": "1.2.840.10008.5.1.4.1.1.77.1.1.1",   # Video Endoscopic Image Storage
    "VIDEO_XC": "1.2.840.10008.5.1.4.1.1.77.1.4.1",   # Video Photographic Image Storage
}

PATIENTS = {
    "ct": dict(PatientName="Zhou^Ming", PatientID="YY0001",
               PatientBirthDate="19650412", PatientSex="M"),
    "mr": dict(PatientName="Sun^Li", PatientID="YY0002",
               PatientBirthDate="19780923", PatientSex="F"),
    "us": dict(PatientName="Chen^Jie", PatientID="YY0003",
               PatientBirthDate="19910203", PatientSex="F"),
    "es": dict(PatientName="Qian^Bo", PatientID="YY0004",
               PatientBirthDate="19580716", PatientSex="M"),
    # Chinese-name patients: PatientName is set per file (raw bytes)
    "zh_gb18030": dict(PatientID="YY0101", PatientBirthDate="19700101", PatientSex="M"),
    "zh_utf8": dict(PatientID="YY0102", PatientBirthDate="19850520", PatientSex="F"),
    "zh_ir58": dict(PatientID="YY0103", PatientBirthDate="19620808", PatientSex="M"),
    "zh_gbk": dict(PatientID="YY0104", PatientBirthDate="19930315", PatientSex="M"),
    "zh_5c": dict(PatientID="YY0105", PatientBirthDate="19751130", PatientSex="M"),
}

# study number -> fixed study-level attributes (ASCII only; Chinese ones are patched per file)
STUDIES = {
    1: dict(StudyDate="20240315", StudyTime="093012", AccessionNumber="A20240315001",
            StudyID="1001", StudyDescription="CT PHANTOM TRANSFER SYNTAXES",
            ReferringPhysicianName="Ma^Hua", InstitutionName="Yunying Test Hospital"),
    3: dict(StudyDate="20240317", StudyTime="160245", AccessionNumber="A20240317013",
            StudyID="2001", StudyDescription="MR HEAD",
            ReferringPhysicianName="Gao^Yan", InstitutionName="Yunying Test Hospital"),
    4: dict(StudyDate="20240318", StudyTime="081530", AccessionNumber="A20240318021",
            StudyID="3001", StudyDescription="US ABDOMEN",
            ReferringPhysicianName="Gao^Yan", InstitutionName="Yunying Test Hospital"),
    5: dict(StudyDate="20240319", StudyTime="103000", AccessionNumber="A20240319002",
            StudyID="4001", StudyDescription="GASTROSCOPY",
            ReferringPhysicianName="Xu^Bo", InstitutionName="Yunying Test Hospital"),
    6: dict(StudyDate="20240320", StudyTime="090000", AccessionNumber="A20240320101",
            StudyID="5001"),
    7: dict(StudyDate="20240321", StudyTime="090000", AccessionNumber="A20240321102",
            StudyID="5002"),
    8: dict(StudyDate="20240322", StudyTime="090000", AccessionNumber="A20240322103",
            StudyID="5003"),
    9: dict(StudyDate="20240323", StudyTime="090000", AccessionNumber="A20240323104",
            StudyID="5004"),
    10: dict(StudyDate="20240324", StudyTime="090000", AccessionNumber="A20240324105",
             StudyID="5005"),
}


def study_uid(st: int) -> str:
    return f"{ROOT}1.{st}"


def series_uid(st: int, se: int) -> str:
    return f"{ROOT}2.{st}.{se}"


def instance_uid(st: int, se: int, i: int) -> str:
    return f"{ROOT}3.{st}.{se}.{i}"


def for_uid(st: int) -> str:
    return f"{ROOT}4.{st}"


# ---------------------------------------------------------------------------
# Deterministic synthetic pixel content (plain IEEE arithmetic only)
# ---------------------------------------------------------------------------
def hash_noise(shape, seed: int, amp: int) -> np.ndarray:
    """Integer noise in [-amp, amp] (int32): gen_ct_series.py's noise field."""
    return gen_ct_series.hash_noise(*shape, seed, amp).astype(np.int32)


def norm_grid(n: int):
    """Pixel-centre coordinates in [-1, 1]."""
    c = (np.arange(n, dtype=np.float64) + 0.5) / n * 2.0 - 1.0
    return np.meshgrid(c, c)  # X (cols), Y (rows)


def ellipse(X, Y, cx, cy, a, b):
    dx = (X - cx) / a
    dy = (Y - cy) / b
    return dx * dx + dy * dy <= 1.0


def ct_phantom_hu(n: int, z: int) -> np.ndarray:
    """Water-phantom-like CT slice in HU: air -1000, soft tissue ~40 HU,
    bone ring ~1000 HU and a few inserts (fat, water, lung, bone).
    `z` changes the insert sizes a little so slices differ."""
    X, Y = norm_grid(n)
    hu = np.full((n, n), -1000.0)
    hu[ellipse(X, Y, 0.0, 0.0, 0.86, 0.80)] = 1000.0          # bone ring (outer)
    hu[ellipse(X, Y, 0.0, 0.0, 0.78, 0.72)] = 40.0            # soft tissue
    # mild smooth variation inside soft tissue (beam-hardening-like cupping)
    inside = ellipse(X, Y, 0.0, 0.0, 0.78, 0.72)
    hu[inside] += (-8.0 * (1.0 - (X * X + Y * Y)))[inside]
    k = 1.0 + 0.04 * z
    hu[ellipse(X, Y, -0.38, -0.30, 0.13 * k, 0.13 * k)] = -100.0   # fat
    hu[ellipse(X, Y, 0.38, -0.30, 0.13, 0.13)] = 0.0               # water
    hu[ellipse(X, Y, -0.38, 0.32, 0.14, 0.14 * k)] = -800.0        # lung
    hu[ellipse(X, Y, 0.38, 0.32, 0.12 * k, 0.12)] = 400.0          # trabecular bone
    hu[ellipse(X, Y, 0.0, 0.0, 0.06, 0.06)] = 1200.0               # dense bone rod
    hu = hu + hash_noise((n, n), 1000 + z, 10)
    return np.clip(np.rint(hu), -1024, 3071)


def mr_phantom(n: int, z: int) -> np.ndarray:
    """T2-ish axial head: bright scalp fat, dark skull, GM/WM, bright CSF."""
    X, Y = norm_grid(n)
    img = np.zeros((n, n))
    img[ellipse(X, Y, 0, 0, 0.80, 0.92)] = 900.0      # scalp
    img[ellipse(X, Y, 0, 0, 0.74, 0.86)] = 60.0       # skull
    img[ellipse(X, Y, 0, 0, 0.70, 0.82)] = 1300.0     # CSF rim
    img[ellipse(X, Y, 0, 0, 0.66, 0.78)] = 700.0      # grey matter
    img[ellipse(X, Y, 0, 0, 0.52, 0.64)] = 480.0      # white matter
    s = 1.0 + 0.05 * z
    img[ellipse(X, Y, -0.12, -0.05, 0.07 * s, 0.25)] = 1500.0   # lateral ventricles
    img[ellipse(X, Y, 0.12, -0.05, 0.07 * s, 0.25)] = 1500.0
    img[ellipse(X, Y, 0.0, 0.35, 0.05, 0.05)] = 1450.0          # 4th ventricle-ish
    bias = 1.0 + 0.12 * X - 0.06 * Y                              # coil bias field
    img = img * bias + hash_noise((n, n), 2000 + z, 15)
    return np.clip(np.rint(img), 0, 65535).astype(np.uint16)


def us_rgb(n: int) -> np.ndarray:
    """Ultrasound sector (greyscale speckle) with a colour-Doppler blob and a
    yellow annotation marker; returns (n, n, 3) uint8 RGB."""
    yy, xx = np.indices((n, n), dtype=np.float64)
    x = (xx + 0.5) / n - 0.5          # -0.5 .. 0.5
    y = (yy + 0.5) / n                # 0 .. 1 (apex at top)
    r2 = x * x + y * y
    tan35 = 0.7002075382097097
    sector = (np.abs(x) <= tan35 * y) & (r2 >= 0.01) & (r2 <= 0.9025)
    speckle = (hash_noise((n, n), 3000, 60) + 60) / 120.0      # 0..1
    grey = (150.0 - 90.0 * y) * (0.55 + 0.45 * speckle)
    cyst = ellipse(x, y, 0.05, 0.55, 0.12, 0.08)
    grey[cyst] = 8.0 + 6.0 * speckle[cyst]
    capsule = ellipse(x, y, 0.0, 0.75, 0.5, 0.03)
    grey[capsule] = 220.0
    grey = np.where(sector, grey, 0.0)
    rgb = np.repeat(np.clip(np.rint(grey), 0, 255)[:, :, None], 3, axis=2)
    # colour Doppler: red towards, blue away
    vessel = ellipse(x, y, -0.12, 0.42, 0.05, 0.025) & sector
    flow = np.clip(np.rint(255.0 - 400.0 * np.abs(x + 0.12)), 0, 255)
    rgb[vessel & (x < -0.12)] = 0
    rgb[vessel & (x < -0.12), 0] = flow[vessel & (x < -0.12)]
    rgb[vessel & (x >= -0.12)] = 0
    rgb[vessel & (x >= -0.12), 2] = flow[vessel & (x >= -0.12)]
    # annotation: yellow depth marker ticks on the right
    for k in range(1, 9):
        r0 = int(k * n / 9)
        rgb[r0:r0 + 1, n - 6:n - 2] = (255, 255, 0)
    return rgb.astype(np.uint8)


def endoscopy_frames(w: int, h: int, nframes: int) -> np.ndarray:
    """Reddish mucosa with a moving specular highlight inside a circular
    endoscope mask; returns (frames, h, w, 3) uint8 RGB."""
    yy, xx = np.indices((h, w), dtype=np.float64)
    R = min(w, h) * 0.48
    dx = (xx - w / 2) / R
    dy = (yy - h / 2) / R
    r2 = dx * dx + dy * dy
    frames = []
    for f in range(nframes):
        fold = 0.5 + 0.5 * ((dx * 3 + f * 0.05) % 1.0)
        base = np.clip(1.0 - 0.6 * r2, 0, 1)
        hx = dx - (-0.2 + 0.02 * f)
        hy = dy + 0.25
        hl = np.clip(1 - (hx * hx + hy * hy) * 40, 0, 1)
        rgb = np.stack([
            np.clip(150 * base + 40 * fold + 200 * hl, 0, 255),
            np.clip(60 * base + 20 * fold + 200 * hl, 0, 255),
            np.clip(50 * base + 15 * fold + 200 * hl, 0, 255)], -1)
        rgb[r2 > 1] = 0
        frames.append(rgb.astype(np.uint8))
    return np.stack(frames)


# ---------------------------------------------------------------------------
# Dataset helpers
# ---------------------------------------------------------------------------
def new_ds(sop_class: str, patient: str, st: int, se: int, inst: int,
           modality: str, ts: str) -> Dataset:
    ds = Dataset()
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = UID(sop_class)
    fm.MediaStorageSOPInstanceUID = UID(instance_uid(st, se, inst))
    fm.TransferSyntaxUID = UID(ts)
    fm.ImplementationClassUID = UID(IMPL_CLASS_UID)
    fm.ImplementationVersionName = IMPL_VERSION
    ds.file_meta = fm

    s = STUDIES[st]
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if modality in ("CT", "MR") \
        else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = UID(instance_uid(st, se, inst))
    ds.StudyDate = s["StudyDate"]
    ds.SeriesDate = s["StudyDate"]
    ds.ContentDate = s["StudyDate"]
    ds.StudyTime = s["StudyTime"]
    ds.SeriesTime = s["StudyTime"]
    ds.ContentTime = s["StudyTime"]
    ds.AccessionNumber = s["AccessionNumber"]
    ds.Modality = modality
    ds.Manufacturer = "Yunying Synthetic"
    if "InstitutionName" in s:
        ds.InstitutionName = s["InstitutionName"]
    ds.ReferringPhysicianName = s.get("ReferringPhysicianName", "")
    if "StudyDescription" in s:
        ds.StudyDescription = s["StudyDescription"]
    for k, v in PATIENTS[patient].items():
        setattr(ds, k, v)
    ds.StudyInstanceUID = UID(study_uid(st))
    ds.SeriesInstanceUID = UID(series_uid(st, se))
    ds.StudyID = s["StudyID"]
    ds.SeriesNumber = se
    ds.InstanceNumber = inst
    return ds


def set_raw(ds: Dataset, tag: int, vr: str, value: bytes) -> None:
    """Store `value` byte-exact (padded with a space to even length)."""
    if len(value) % 2:
        value += b" "
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


def add_image_pixel(ds: Dataset, arr: np.ndarray, *, photometric: str,
                    bits_stored: int, signed: bool) -> None:
    if arr.ndim == 3 and arr.shape[2] == 3:
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        rows, cols = arr.shape[:2]
    else:
        ds.SamplesPerPixel = 1
        rows, cols = arr.shape
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 8 if arr.dtype.itemsize == 1 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"


def add_ct_attrs(ds: Dataset, st: int, z: float, n: int, spacing: float = 1.5) -> None:
    ds.FrameOfReferenceUID = UID(for_uid(st))
    ds.PositionReferenceIndicator = ""
    ds.KVP = "120"
    ds.SliceThickness = "5"
    ds.ImagePositionPatient = [f"{-n * spacing / 2:g}", f"{-n * spacing / 2:g}", f"{z:g}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{z:g}"
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "CHEST"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.ConvolutionKernel = "STANDARD"


def ct_dataset(st, se, inst, ts, *, n=128, z_index=0, bits12=False,
               patient="ct", series_desc="") -> tuple[Dataset, np.ndarray]:
    ds = new_ds(SOP["CT"], patient, st, se, inst, "CT", ts)
    ds.SeriesDescription = series_desc
    add_ct_attrs(ds, st, -5.0 * z_index, n)
    hu = ct_phantom_hu(n, z_index)
    if bits12:
        stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        add_image_pixel(ds, stored, photometric="MONOCHROME2", bits_stored=12, signed=False)
    else:
        stored = (hu + 1024).astype(np.int16)
        add_image_pixel(ds, stored, photometric="MONOCHROME2", bits_stored=16, signed=True)
    ds.SmallestImagePixelValue = int(stored.min())
    ds.LargestImagePixelValue = int(stored.max())
    ds["SmallestImagePixelValue"].VR = "SS" if not bits12 else "US"
    ds["LargestImagePixelValue"].VR = "SS" if not bits12 else "US"
    return ds, stored


# ---------------------------------------------------------------------------
# External tools
# ---------------------------------------------------------------------------
def run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or "E:" in r.stderr:
        raise RuntimeError(f"command failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")


def need_tool(name: str) -> str:
    p = shutil.which(name)
    if not p:
        sys.exit(f"error: '{name}' not found; install DCMTK (apt-get install -y dcmtk)")
    return p


def save(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def dcmtk(tool: str, args: list[str], src: Path, dst: Path) -> None:
    run([need_tool(tool), *args, str(src), str(dst)])


def j2k_compress(ds: Dataset, ts: str, **kw) -> None:
    ds.compress(UID(ts), encoding_plugin="pylibjpeg", generate_instance_uid=False, **kw)


def htj2k_encapsulate(ds: Dataset, arr: np.ndarray) -> None:
    import imagecodecs  # HTJ2K encoder (OpenJPH)
    stream = imagecodecs.htj2k_encode(arr, reversible=True)
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = UID(TS["htj2k_lossless"])


# ---------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------
VIDEOS = {
    # name: (width, height, frames, rate string, ffmpeg codec args, file)
    "mpeg2": (720, 480, 10, "30000/1001",
              ["-c:v", "mpeg2video", "-profile:v", "main", "-level:v", "main",
               "-g", "10", "-bf", "2", "-q:v", "6", "-threads", "1",
               "-f", "mpeg2video"], "endoscopy_720x480_mpeg2_mpml.m2v"),
    "h264": (640, 480, 10, "30",
             ["-c:v", "libx264", "-profile:v", "high", "-level:v", "4.1",
              "-g", "10", "-bf", "2", "-crf", "28", "-threads", "1",
              "-x264-params", "threads=1:lookahead-threads=1", "-f", "h264"],
             "endoscopy_640x480_h264_hp41.h264"),
    "hevc": (640, 480, 10, "30",
             ["-c:v", "libx265", "-profile:v", "main", "-crf", "30",
              "-x265-params",
              "pools=none:frame-threads=1:level-idc=5.1:log-level=error:info=0:keyint=10",
              "-f", "hevc"], "endoscopy_640x480_hevc_mp51.hevc"),
}


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        p = shutil.which("ffmpeg")
        if not p:
            sys.exit("error: need ffmpeg (pip install imageio-ffmpeg) for --regen-video")
        return p


def regen_video() -> None:
    VIDEO_SRC.mkdir(exist_ok=True)
    exe = ffmpeg_exe()
    for name, (w, h, nf, rate, args, fname) in VIDEOS.items():
        frames = endoscopy_frames(w, h, nf)
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", rate,
               "-i", "-", "-pix_fmt", "yuv420p", *args,
               "-flags", "+bitexact", "-fflags", "+bitexact", str(VIDEO_SRC / fname)]
        subprocess.run(cmd, input=frames.tobytes(), check=True)
        print(f"video {fname}: {(VIDEO_SRC / fname).stat().st_size} bytes")


def video_dataset(st, se, sop, modality, ts, name, method) -> Dataset:
    w, h, nf, rate, _args, fname = VIDEOS[name]
    stream = (VIDEO_SRC / fname).read_bytes()
    ds = new_ds(sop, "es", st, se, 1, modality, ts)
    ds.SeriesDescription = f"VIDEO {name.upper()}"
    ds.AcquisitionDateTime = STUDIES[st]["StudyDate"] + STUDIES[st]["StudyTime"]
    ds.AnatomicRegionSequence = Sequence([Dataset()])
    ar = ds.AnatomicRegionSequence[0]
    ar.CodeValue = "69695003"
    ar.CodingSchemeDesignator = "SCT"
    ar.CodeMeaning = "Stomach"
    fps = 30000 / 1001 if rate == "30000/1001" else float(rate)
    ds.CineRate = round(fps)
    ds.FrameTime = f"{1000.0 / fps:.4f}"
    ds.RecommendedDisplayFrameRate = round(fps)
    ds.StartTrim = 1
    ds.StopTrim = nf
    ds.FrameIncrementPointer = Tag(0x00181063)
    ds.NumberOfFrames = nf
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows = h
    ds.Columns = w
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = method
    # non-fragmentable video TS: whole stream in one fragment, empty Basic Offset Table
    ds.PixelData = encapsulate([stream], has_bot=False)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


# ---------------------------------------------------------------------------
# Chinese character sets
# ---------------------------------------------------------------------------
ESC_IR58 = b"\x1b$)A"


def ir58(text: str) -> bytes:
    """ISO 2022 IR 58: ESC $ ) A before every GB2312 run (ASCII stays in G0)."""
    out = bytearray()
    run_ = ""
    for ch in text + "\0":
        if ch != "\0" and ord(ch) > 0x7F:
            run_ += ch
            continue
        if run_:
            out += ESC_IR58 + run_.encode("gb2312")
            run_ = ""
        if ch != "\0":
            out += ch.encode("ascii")
    return bytes(out)


def ir58_pn(pn: str) -> bytes:
    """PN: encode each component group separately (state resets at ^ and =)."""
    groups = pn.split("=")
    return b"=".join(b"^".join(ir58(c) for c in g.split("^")) for g in groups)


def find_5c_chars() -> list[str]:
    return [chr(c) for c in range(0x4E00, 0xA000)
            if len(enc := _try_gbk(chr(c))) == 2 and enc[1] == 0x5C]


def _try_gbk(ch: str) -> bytes:
    try:
        return ch.encode("gbk")
    except UnicodeEncodeError:
        return b""


def zh_dataset(st: int, patient: str, ts: str = TS["explicit"]) -> Dataset:
    ds, _ = ct_dataset(st, 1, 1, ts, n=64, z_index=st, patient=patient)
    return ds


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------
PIP_DEPS = "pip install pydicom numpy pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg " \
           "pyjpegls imagecodecs imageio-ffmpeg"


def check_deps() -> None:
    missing = []
    for mod, pkg in (("openjpeg", "pylibjpeg-openjpeg"), ("imagecodecs", "imagecodecs")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    for tool in ("dcmconv", "dcmcjpeg", "dcmcjpls", "dcmcrle", "dcmdump"):
        if not shutil.which(tool):
            missing.append(f"{tool} (apt-get install -y dcmtk)")
    if missing:
        sys.exit("error: missing " + ", ".join(missing) + f"\nPython packages: {PIP_DEPS}")


def generate(out: Path) -> dict[str, dict]:
    """Write every fixture into `out`; return {file: info} for verification."""
    check_deps()
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="yy_td_"))
    try:
        def src(name: str, ds: Dataset) -> Path:
            p = tmp / name
            save(ds, p)
            return p

        # --- study 1: CT phantom, series 1 lossless, series 2 lossy ---------
        lossless = "CT PHANTOM LOSSLESS"
        ds, px = ct_dataset(1, 1, 1, TS["implicit"], z_index=0, series_desc=lossless)
        save(ds, out / "ct_implicit_le.dcm")
        info["ct_implicit_le.dcm"] = dict(ref=px, lossless=True)

        ds, px = ct_dataset(1, 1, 2, TS["explicit"], z_index=1, series_desc=lossless)
        dcmtk("dcmcjpeg", ["+e1"], src("ct2.dcm", ds), out / "ct_jpeg_lossless_sv1.dcm")
        info["ct_jpeg_lossless_sv1.dcm"] = dict(ref=px, lossless=True)

        ds, px = ct_dataset(1, 1, 3, TS["explicit"], z_index=2, series_desc=lossless)
        dcmtk("dcmcjpls", ["+el"], src("ct3.dcm", ds), out / "ct_jpegls_lossless.dcm")
        info["ct_jpegls_lossless.dcm"] = dict(ref=px, lossless=True)

        ds, px = ct_dataset(1, 1, 4, TS["explicit"], z_index=3, series_desc=lossless)
        dcmtk("dcmcrle", [], src("ct4.dcm", ds), out / "ct_rle.dcm")
        info["ct_rle.dcm"] = dict(ref=px, lossless=True)

        ds, px = ct_dataset(1, 1, 5, TS["explicit"], z_index=4, series_desc=lossless)
        j2k_compress(ds, TS["j2k_lossless"])
        save(ds, out / "ct_j2k_lossless.dcm")
        info["ct_j2k_lossless.dcm"] = dict(ref=px, lossless=True)

        ds, px = ct_dataset(1, 1, 6, TS["explicit"], z_index=5, series_desc=lossless)
        htj2k_encapsulate(ds, px)
        save(ds, out / "ct_htj2k_lossless.dcm")
        info["ct_htj2k_lossless.dcm"] = dict(ref=px, lossless=True, htj2k=True)

        lossy = "CT PHANTOM LOSSY"
        ds, px = ct_dataset(1, 2, 1, TS["explicit"], z_index=6, bits12=True, series_desc=lossy)
        dcmtk("dcmcjpeg", ["+ee", "+un", "+sr"], src("ct21.dcm", ds),
              out / "ct_jpeg_extended12.dcm")
        info["ct_jpeg_extended12.dcm"] = dict(ref=px, lossless=False)

        # DCMTK's near-lossless JPEG-LS encoder takes unsigned pixels only
        ds, px = ct_dataset(1, 2, 2, TS["explicit"], z_index=7, bits12=True, series_desc=lossy)
        dcmtk("dcmcjpls", ["+en", "+un"], src("ct22.dcm", ds),
              out / "ct_jpegls_near_lossless.dcm")
        info["ct_jpegls_near_lossless.dcm"] = dict(ref=px, lossless=False, max_err=2)

        ds, px = ct_dataset(1, 2, 3, TS["explicit"], z_index=8, series_desc=lossy)
        j2k_compress(ds, TS["j2k"], j2k_cr=[10])
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = "10"
        ds.LossyImageCompressionMethod = "ISO_15444_1"
        ds.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
        ds.DerivationDescription = "Lossy compression with JPEG 2000 (openjpeg), ratio 10"
        save(ds, out / "ct_j2k.dcm")
        info["ct_j2k.dcm"] = dict(ref=px, lossless=False)

        # --- study 3: MR head, three slices in LE / BE / deflated ----------
        for inst, (fname, conv) in enumerate([
                ("mr_explicit_le.dcm", None),
                ("mr_explicit_be.dcm", "+tb"),
                ("mr_deflated.dcm", "+td")], start=1):
            ds = new_ds(SOP["MR"], "mr", 3, 1, inst, "MR", TS["explicit"])
            ds.SeriesDescription = "T2 TSE AXIAL"
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "SK"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.SliceThickness = "5"
            ds.RepetitionTime = "4000"
            ds.EchoTime = "100"
            ds.EchoTrainLength = 16
            ds.MagneticFieldStrength = "3"
            ds.ImagingFrequency = "123.2"
            ds.FrameOfReferenceUID = UID(for_uid(3))
            ds.PositionReferenceIndicator = ""
            z = 20.0 + 6.0 * inst
            ds.ImagePositionPatient = ["-115", "-115", f"{z:g}"]
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.SliceLocation = f"{z:g}"
            ds.PixelSpacing = ["1.796875", "1.796875"]
            ds.PatientPosition = "HFS"
            # a nested sequence so BE / deflate readers must walk items
            ds.ReferencedPerformedProcedureStepSequence = Sequence([Dataset()])
            ref = ds.ReferencedPerformedProcedureStepSequence[0]
            ref.ReferencedSOPClassUID = UID("1.2.840.10008.3.1.2.3.3")
            ref.ReferencedSOPInstanceUID = UID(f"{ROOT}5.3.1")
            px = mr_phantom(128, inst)
            add_image_pixel(ds, px, photometric="MONOCHROME2", bits_stored=16, signed=False)
            ds.SmallestImagePixelValue = int(px.min())
            ds.LargestImagePixelValue = int(px.max())
            ds["SmallestImagePixelValue"].VR = "US"
            ds["LargestImagePixelValue"].VR = "US"
            ds.WindowCenter = "800"
            ds.WindowWidth = "1600"
            if conv is None:
                save(ds, out / fname)
            else:
                dcmtk("dcmconv", [conv], src(f"mr{inst}.dcm", ds), out / fname)
            info[fname] = dict(ref=px, lossless=True)

        # --- study 4: US RGB -----------------------------------------------
        px = us_rgb(128)
        for inst, (fname, tool, args, lossless_) in enumerate([
                ("us_jpeg_baseline.dcm", "dcmcjpeg", ["+eb", "+un"], False),
                ("sc_rgb_rle.dcm", "dcmcrle", [], True)], start=1):
            if inst == 1:
                ds = new_ds(SOP["US"], "us", 4, 1, inst, "US", TS["explicit"])
                ds.SeriesDescription = "LIVER"
                ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
            else:  # a screen capture of the same ultrasound view
                ds = new_ds(SOP["SC"], "us", 4, 2, 1, "US", TS["explicit"])
                ds.SeriesDescription = "LIVER SCREEN CAPTURE"
                ds.ImageType = ["DERIVED", "SECONDARY"]
                ds.ConversionType = "WSD"
            add_image_pixel(ds, px, photometric="RGB", bits_stored=8, signed=False)
            dcmtk(tool, args, src(f"us{inst}.dcm", ds), out / fname)
            info[fname] = dict(ref=px, lossless=lossless_)

        # --- study 5: endoscopy video --------------------------------------
        for se, (fname, name, sop, mod, ts, method) in enumerate([
                ("video_mpeg2.dcm", "mpeg2", SOP["VIDEO_ES"], "ES", TS["mpeg2_mpml"],
                 "ISO_13818_2"),
                ("video_h264.dcm", "h264", SOP["VIDEO_ES"], "ES", TS["h264_hp41"],
                 "ISO_14496_10"),
                ("video_hevc.dcm", "hevc", SOP["VIDEO_ES"], "ES", TS["hevc_mp51"],
                 "ISO_23008_2")], start=1):
            ds = video_dataset(5, se, sop, mod, ts, name, method)
            save(ds, out / fname)
            info[fname] = dict(video=VIDEOS[name])

        # --- studies 6..10: Chinese character sets -------------------------
        # 6: GB18030
        ds = zh_dataset(6, "zh_gb18030")
        ds.SpecificCharacterSet = "GB18030"
        set_raw(ds, 0x00100010, "PN", "Wang^XiaoDong=王^小东".encode("gb18030"))
        set_raw(ds, 0x00081030, "LO", "胸部CT平扫".encode("gb18030"))
        set_raw(ds, 0x00080080, "LO", "天津市第一中心医院".encode("gb18030"))
        set_raw(ds, 0x0008103E, "LO", "肺窗 1.25mm".encode("gb18030"))
        set_raw(ds, 0x00080090, "PN", "Li^Ming=李^明".encode("gb18030"))
        # four-byte GB18030 sequences (CJK Ext-A) and the euro sign
        set_raw(ds, 0x00204000, "LT", "四字节：㐀䶵 €".encode("gb18030"))
        save_charset(ds, out / "zh_gb18030.dcm")
        info["zh_gb18030.dcm"] = dict(dcmtk_utf8=True, charset=("gb18030", {
            0x00100010: "Wang^XiaoDong=王^小东", 0x00081030: "胸部CT平扫",
            0x00080080: "天津市第一中心医院", 0x00204000: "四字节：㐀䶵 €"}),
            must_contain=[bytes.fromhex("CDF55ED0A1B6AB")])

        # 7: UTF-8
        ds = zh_dataset(7, "zh_utf8")
        ds.SpecificCharacterSet = "ISO_IR 192"
        set_raw(ds, 0x00100010, "PN", "Li^Na=李^娜".encode("utf-8"))
        set_raw(ds, 0x00081030, "LO", "头颅CT平扫".encode("utf-8"))
        set_raw(ds, 0x00080080, "LO", "天津市第一中心医院".encode("utf-8"))
        set_raw(ds, 0x0008103E, "LO", "脑窗".encode("utf-8"))
        save_charset(ds, out / "zh_utf8.dcm")
        info["zh_utf8.dcm"] = dict(dcmtk_utf8=True, charset=("utf-8", {
            0x00100010: "Li^Na=李^娜", 0x00081030: "头颅CT平扫"}),
            must_contain=["李^娜".encode("utf-8")])

        # 8: ISO 2022 IR 58 (PS3.5 Annex K example 2 style)
        ds = zh_dataset(8, "zh_ir58")
        ds.SpecificCharacterSet = ["", "ISO 2022 IR 58"]
        pn = ir58_pn("Zhang^XiaoDong=张^小东=")
        assert pn == (b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=")
        set_raw(ds, 0x00100010, "PN", pn)
        set_raw(ds, 0x00081030, "LO", ir58("胸部CT平扫"))
        set_raw(ds, 0x00080080, "LO", ir58("天津市第一中心医院"))
        save_charset(ds, out / "zh_iso2022_ir58.dcm")
        info["zh_iso2022_ir58.dcm"] = dict(must_contain=[pn], dcmtk_utf8={
            0x00100010: "Zhang^XiaoDong=张^小东=", 0x00081030: "胸部CT平扫",
            0x00080080: "天津市第一中心医院"})

        # 9: GBK bytes, no Specific Character Set at all
        ds = zh_dataset(9, "zh_gbk")
        del ds.SpecificCharacterSet
        set_raw(ds, 0x00100010, "PN", "Zhao^Lei=赵^磊".encode("gbk"))
        set_raw(ds, 0x00081030, "LO", "腹部CT增强".encode("gbk"))
        set_raw(ds, 0x00080080, "LO", "北京市示例人民医院".encode("gbk"))
        save_charset(ds, out / "zh_gbk_no_charset.dcm")
        info["zh_gbk_no_charset.dcm"] = dict(no_charset=True, charset=("gbk", {
            0x00100010: "Zhao^Lei=赵^磊", 0x00081030: "腹部CT增强"}),
            must_contain=["赵^磊".encode("gbk")])

        # 10: GB18030 with a 0x5C trail byte inside multi-valued elements
        c5c = find_5c_chars()
        assert c5c[0] == "乗" and "錦" in c5c and "誠" in c5c and "運" in c5c
        ds = zh_dataset(10, "zh_5c")
        ds.SpecificCharacterSet = "GB18030"
        # PatientName (VM 1!) whose GB18030 bytes contain 0x5C twice
        set_raw(ds, 0x00100010, "PN", "Sun^乗=孙^乗".encode("gb18030"))
        other = ["Sun^JinCheng=孙^錦誠", "Suen^KamShing=孫^錦誠"]
        set_raw(ds, 0x00101001, "PN", b"\\".join(v.encode("gb18030") for v in other))
        diag = ["肺結節", "運動後胸痛"]
        set_raw(ds, 0x00081080, "LO", b"\\".join(v.encode("gb18030") for v in diag))
        set_raw(ds, 0x00081030, "LO", "胸部CT平扫".encode("gb18030"))
        set_raw(ds, 0x00080080, "LO", "天津市第一中心医院".encode("gb18030"))
        set_raw(ds, 0x00081040, "LO", "放射科".encode("gb18030"))
        save_charset(ds, out / "zh_gb18030_5c.dcm")
        info["zh_gb18030_5c.dcm"] = dict(dcmtk_utf8=True,
            charset=("gb18030", {0x00100010: "Sun^乗=孙^乗"}),
            multi=("gb18030", {0x00101001: other, 0x00081080: diag}),
            must_contain=[bytes.fromhex("815c"), "錦誠".encode("gb18030"), "運".encode("gb18030")])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def save_charset(ds: Dataset, path: Path) -> None:
    """Save a dataset holding RawDataElements byte-exact.

    pydicom re-encodes raw elements whenever the dataset's 'original'
    character set differs from its current one, so declare them equal."""
    ds.set_original_encoding(False, True, ds._character_set)
    save(ds, path)


# ---------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------
def verify(out: Path, info: dict[str, dict]) -> bool:
    ok_all = True
    dcmdump = shutil.which("dcmdump")
    for fname in sorted(info):
        path = out / fname
        meta = info[fname]
        notes = []
        ok = True
        size = path.stat().st_size
        # 1. dcmdump +E: parse whole file, report errors on stderr
        if dcmdump:
            r = subprocess.run([dcmdump, "+E", "-q", str(path)], capture_output=True)
            bad = [ln for ln in r.stderr.decode("latin-1").splitlines()
                   if ln.startswith(("E:", "W:", "F:"))]
            if r.returncode != 0 or bad:
                ok = False
                notes.append(f"dcmdump rc={r.returncode} {bad[:2]}")
            else:
                notes.append("dcmdump ok")
        ds = pydicom.dcmread(path)
        ts = ds.file_meta.TransferSyntaxUID
        # 2. pixel decode
        if "ref" in meta:
            try:
                arr = ds.pixel_array      # pydicom 3 returns YBR_FULL_422 JPEG as RGB
                ref = meta["ref"]
                diff = np.abs(arr.astype(np.int64) - ref.astype(np.int64))
                if meta["lossless"]:
                    if diff.max() != 0:
                        ok = False
                    notes.append(f"pixel_array exact={diff.max() == 0}")
                else:
                    lim = meta.get("max_err")
                    if lim is not None and diff.max() > lim:
                        ok = False
                    notes.append(f"pixel_array decoded, max|err|={diff.max()}")
            except Exception as e:  # noqa: BLE001
                ok = False
                notes.append(f"pixel_array FAILED: {e}")
        if meta.get("htj2k"):
            from pydicom.encaps import generate_fragments
            cs = list(generate_fragments(ds.PixelData))[-1]
            main_header = cs[:cs.find(b"\xff\x90")]          # up to the first SOT
            cap = b"\xff\x50" in main_header                  # CAP marker: Part 15 (HT)
            notes.append("CAP marker present (HTJ2K, Part 15)" if cap else "no CAP marker")
            ok &= cap
        # 3. video: decode the single fragment with ffmpeg if available
        if "video" in meta:
            from pydicom.encaps import generate_fragments
            items = list(generate_fragments(ds.PixelData))
            # first item = empty Basic Offset Table, then exactly one fragment
            bot, stream = items[0], items[-1]
            if len(items) != 2 or bot:
                ok = False
            notes.append(f"empty BOT + {len(items) - 1} fragment of {len(stream)} B")
            n = video_frames(stream)
            if n is not None:
                notes.append(f"ffmpeg decoded {n} frames (NumberOfFrames={ds.NumberOfFrames})")
                if n != int(ds.NumberOfFrames):
                    ok = False
        # 4. charset: exact bytes present, decode matches
        raw = path.read_bytes()
        for b in meta.get("must_contain", []):
            if b not in raw:
                ok = False
                notes.append(f"missing bytes {b.hex()}")
        if "charset" in meta:
            codec, expect = meta["charset"]
            for tag, text in expect.items():
                v = ds.get_item(tag).value
                got = v.rstrip(b" ").decode(codec)
                if got != text:
                    ok = False
                    notes.append(f"{Tag(tag)} decodes to {got!r}")
            notes.append(f"raw {codec} bytes ok")
        if "multi" in meta:
            codec, expect = meta["multi"]
            for tag, values in expect.items():
                v = ds.get_item(tag).value.rstrip(b" ")
                naive = len(v.split(b"\\"))
                proper = v.decode(codec).split("\\")
                if proper != values:
                    ok = False
                notes.append(f"{Tag(tag)} VM={len(proper)} (naive byte split gives {naive})")
        if meta.get("dcmtk_utf8") and shutil.which("dcmconv"):
            ok &= dcmtk_utf8_check(path, meta, notes)
        if meta.get("no_charset") and "SpecificCharacterSet" in ds:
            ok = False
        print(f"{'OK  ' if ok else 'FAIL'} {fname:32s} {size:7d} B  {ts}  " + "; ".join(notes))
        ok_all &= ok
    return ok_all


def dcmtk_utf8_check(path: Path, meta: dict, notes: list[str]) -> bool:
    """Independent decoder: DCMTK converts the file to UTF-8 (dcmconv +U8);
    the converted values must equal the expected text."""
    expect = meta["dcmtk_utf8"]
    if expect is True:
        expect = dict(meta["charset"][1])
        for tag, values in meta.get("multi", (None, {}))[1].items():
            expect[tag] = "\\".join(values)
    with tempfile.TemporaryDirectory() as t:
        conv = Path(t) / "utf8.dcm"
        r = subprocess.run(["dcmconv", "+U8", str(path), str(conv)], capture_output=True)
        if r.returncode != 0:
            notes.append(f"dcmconv +U8 failed: {r.stderr[:200]!r}")
            return False
        ds = pydicom.dcmread(conv)
        bad = [f"{Tag(t_)}" for t_, text in expect.items()
               if ds.get_item(t_).value.rstrip(b" ").decode("utf-8") != text]
    notes.append("dcmconv +U8 agrees" if not bad else f"dcmconv +U8 differs in {bad}")
    return not bad


def video_frames(stream: bytes) -> int | None:
    try:
        exe = ffmpeg_exe_quiet()
    except Exception:  # noqa: BLE001
        return None
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(stream)
        f.flush()
        r = subprocess.run([exe, "-hide_banner", "-i", f.name, "-f", "null", "-"],
                           capture_output=True, text=True)
    frames = [ln for ln in r.stderr.replace("\r", "\n").splitlines() if ln.startswith("frame=")]
    if not frames:
        return None
    return int(frames[-1].split("=")[1].split()[0])


def ffmpeg_exe_quiet() -> str | None:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        return shutil.which("ffmpeg")


# ---------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and byte-compare with testdata/dicom")
    ap.add_argument("--verify", action="store_true",
                    help="run dcmdump/pixel/charset checks on the committed files")
    ap.add_argument("--regen-video", action="store_true",
                    help="re-encode testdata/video_src/* with ffmpeg first")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    a = ap.parse_args()

    if a.regen_video:
        regen_video()

    if a.check:
        with tempfile.TemporaryDirectory(prefix="yy_check_") as t:
            tdir = Path(t)
            generate(tdir)
            bad = 0
            names = sorted({p.name for p in tdir.glob("*.dcm")}
                           | {p.name for p in OUT_DIR.glob("*.dcm")})
            for n in names:
                a_, b_ = tdir / n, OUT_DIR / n
                if not b_.exists():
                    print(f"MISSING-COMMITTED {n}")
                    bad += 1
                elif not a_.exists():
                    print(f"EXTRA-COMMITTED   {n}")
                    bad += 1
                elif a_.read_bytes() == b_.read_bytes():
                    print(f"OK   {n}")
                else:
                    print(f"DIFF {n}")
                    bad += 1
            if bad:
                print(f"{bad} file(s) differ; see README.md 'Toolchain' for the encoder "
                      "versions the committed files were made with")
                return 1
            print(f"all {len(names)} files identical")
            return 0

    if a.verify:
        with tempfile.TemporaryDirectory(prefix="yy_verify_") as t:
            info = generate(Path(t))   # reference pixels / expectations
        return 0 if verify(OUT_DIR, info) else 1

    info = generate(a.out)
    total = sum(p.stat().st_size for p in a.out.glob("*.dcm"))
    print(f"wrote {len(info)} files to {a.out} ({total} bytes)")
    return 0 if verify(a.out, info) else 1


if __name__ == "__main__":
    sys.exit(main())
