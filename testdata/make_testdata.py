#!/usr/bin/env python3
"""Generate the small DICOM fixtures in testdata/dicom/ (committed).

Deterministic: fixed UIDs, no timestamps, so re-running produces the same
bytes (`--check` verifies that against the committed files).
Needs numpy, pydicom 3, pylibjpeg + pylibjpeg-openjpeg (JPEG 2000), and
DCMTK (dcmconv, dcmcjpeg, dcmcjpls, dcmcrle) under /usr/bin.

  python3 testdata/make_testdata.py            # write testdata/dicom/
  python3 testdata/make_testdata.py --check    # regenerate to a temp dir, compare
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_UID = "1.2.826.0.1.3680043.10.1467"  # fixed root for fixture UIDs
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
SC = "1.2.840.10008.5.1.4.1.1.7"
US = "1.2.840.10008.5.1.4.1.1.6.1"
VIDEO_ENDOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.1.1"
IMPL_UID = "2.25.238945392867137405126870425318434815318"


def uid(*parts):
    return ".".join([ROOT_UID] + [str(p) for p in parts])


def phantom(n=64, bits=16, signed=True):
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]
    hu = np.full((n, n), -1000.0)
    body = x ** 2 / 0.8 + y ** 2 / 0.5 < 1
    hu[body] = 40
    hu[np.abs(np.sqrt(x ** 2 / 0.8 + y ** 2 / 0.5) - 0.8) < 0.06] = 1000  # bone ring
    hu[(x + 0.3) ** 2 + y ** 2 < 0.04] = -800  # lung-like
    stored = hu + 1024
    if bits == 12:
        stored = np.clip(stored, 0, 4095)
    return stored.astype(np.int16 if signed else np.uint16)


def base(sop_class, n, patient_id, patient_name, study, series, instance, modality):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid(study, series, instance)
    ds.StudyDate = "20260115"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{study:04d}"
    ds.Modality = modality
    ds.InstitutionName = "Yunying Fixture Hospital"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"Fixture study {study}"
    ds.SeriesDescription = f"Fixture series {series}"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19800101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = uid(study)
    ds.SeriesInstanceUID = uid(study, series)
    ds.StudyID = str(study)
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.Rows = ds.Columns = n
    return ds


def grey(ds, pixels, bits_stored, signed):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8 if pixels.dtype.itemsize == 1 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.tobytes()


def rgb(ds, n):
    y, x = np.mgrid[0:n, 0:n]
    img = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], axis=-1).astype(np.uint8)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = img.tobytes()


def save(ds, path, ts=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = IMPL_UID
    meta.ImplementationVersionName = "YY_FIXTURES"
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def dcmtk(tool, *args):
    subprocess.run([f"/usr/bin/{tool}", *args], check=True, stdout=subprocess.DEVNULL)


def encapsulated(ds, fragment: bytes, ts, path):
    """Write ds with one encapsulated frame holding `fragment` (synthetic video)."""
    from pydicom.encaps import encapsulate

    if len(fragment) % 2:
        fragment += b"\x00"
    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    save(ds, path, ts)


def replace_pn(src, old_value: bytes, new_value: bytes, dst):
    """Copy src to dst with the Patient Name's raw value bytes replaced
    (explicit VR little endian; the element length is rewritten)."""
    raw = open(src, "rb").read()
    padded = old_value + b" " * (len(old_value) % 2)
    old = b"\x10\x00\x10\x00PN" + len(padded).to_bytes(2, "little") + padded
    new = b"\x10\x00\x10\x00PN" + len(new_value).to_bytes(2, "little") + new_value
    assert raw.count(old) == 1, src
    with open(dst, "wb") as f:
        f.write(raw.replace(old, new))


def make(out):
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    p = lambda name: os.path.join(out, name)  # noqa: E731
    t = lambda name: os.path.join(tmp, name)  # noqa: E731

    # Uncompressed.
    ds = base(CT, 64, "FX001", "Fixture^Implicit", 1, 1, 1, "CT")
    grey(ds, phantom(), 16, True)
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    save(ds, p("ct_implicit_le.dcm"), ImplicitVRLittleEndian)

    def source(sop_class, pid, name, study, instance, modality, pixels, bits, signed, path, **attrs):
        ds = base(sop_class, 64, pid, name, study, 1, instance, modality)
        grey(ds, pixels, bits, signed)
        for k, v in attrs.items():
            setattr(ds, k, v)
        save(ds, path)

    mr = dict(sop_class=MR, pid="FX002", name="Fixture^Explicit", study=2, modality="MR",
              pixels=phantom(signed=False), bits=16, signed=False)
    source(instance=1, path=p("mr_explicit_le.dcm"), **mr)
    for instance, flag, name in ((2, "+tb", "mr_explicit_be.dcm"), (3, "+td", "mr_deflated.dcm")):
        source(instance=instance, path=t(name), **mr)
        dcmtk("dcmconv", flag, t(name), p(name))

    # JPEG family from DCMTK (+un: keep the SOP Instance UID).
    source(US, "FX003", "Fixture^Jpeg", 3, 1, "US", (phantom() // 16).clip(0, 255).astype(np.uint8), 8, False, t("us8.dcm"))
    dcmtk("dcmcjpeg", "+eb", "+un", t("us8.dcm"), p("us_jpeg_baseline.dcm"))
    source(CT, "FX004", "Fixture^Jpeg12", 4, 1, "CT", phantom(bits=12, signed=False), 12, False, t("ct12.dcm"),
           RescaleIntercept=-1024, RescaleSlope=1)
    dcmtk("dcmcjpeg", "+ee", "+un", t("ct12.dcm"), p("ct_jpeg_extended12.dcm"))
    for instance, (tool, flags, name) in enumerate((
        ("dcmcjpeg", ["+e1", "+un"], "ct_jpeg_lossless_sv1.dcm"),
        ("dcmcjpls", ["+el", "+un"], "ct_jpegls_lossless.dcm"),
        ("dcmcjpls", ["+en", "+un"], "ct_jpegls_near_lossless.dcm"),
        ("dcmcrle", [], "ct_rle.dcm"),
    )):
        signed = "near" not in name  # DCMTK's near-lossless JPEG-LS takes unsigned pixels only
        source(CT, "FX005", "Fixture^Lossless", 5, instance + 1, "CT", phantom(signed=signed), 16, signed, t(name),
               RescaleIntercept=-1024, RescaleSlope=1)
        dcmtk(tool, *flags, t(name), p(name))

    ds = base(SC, 64, "FX006", "Fixture^Colour", 6, 1, 1, "OT")
    ds.ConversionType = "WSD"
    rgb(ds, 64)
    save(ds, t("rgb.dcm"))
    dcmtk("dcmcrle", t("rgb.dcm"), p("sc_rgb_rle.dcm"))

    # JPEG 2000 through pydicom + pylibjpeg-openjpeg.
    for i, (ts, name) in enumerate(((JPEG2000Lossless, "ct_j2k_lossless.dcm"), (JPEG2000, "ct_j2k.dcm"))):
        ds = base(CT, 64, "FX007", "Fixture^J2k", 7, 1, i + 1, "CT")
        grey(ds, phantom(signed=False), 16, False)
        kwargs = {} if ts == JPEG2000Lossless else {"j2k_cr": [20]}
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.compress(ts, encoding_plugin="pylibjpeg", generate_instance_uid=False, **kwargs)
        save(ds, p(name), ts)

    # HTJ2K lossless: no encoder on PyPI/Debian writes HT block coding here, so
    # the fragment is a JPEG 2000 Part 1 codestream (which Part 15 decoders
    # accept). It exercises storage of the transfer syntax, not HT decoding.
    ds = base(CT, 64, "FX008", "Fixture^Htj2k", 8, 1, 1, "CT")
    grey(ds, phantom(signed=False), 16, False)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    save(ds, p("ct_htj2k_lossless.dcm"), "1.2.840.10008.1.2.4.201")

    # Video: synthetic elementary-stream headers, stored byte-exact, not decodable.
    videos = (
        ("1.2.840.10008.1.2.4.100", "video_mpeg2.dcm", bytes.fromhex("000001B3 02801E 1 3 FFFFE0 18 000001B5 1484 000001B8".replace(" ", "").replace("1 3", "13"))),
        ("1.2.840.10008.1.2.4.102", "video_h264.dcm", bytes.fromhex("00000001674D401FE8802802DD80B50101014000000300400000")),
        ("1.2.840.10008.1.2.4.107", "video_hevc.dcm", bytes.fromhex("0000000140010C01FFFF016000000300B0000003000003005DAC09")),
    )
    for i, (ts, name, stream) in enumerate(videos):
        ds = base(VIDEO_ENDOSCOPIC, 32, "FX009", "Fixture^Video", 9, 1, i + 1, "ES")
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "YBR_PARTIAL_420"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.NumberOfFrames = 1
        ds.FrameTime = 33.3
        ds.FrameIncrementPointer = (0x0018, 0x1063)
        encapsulated(ds, stream, ts, p(name))

    # Chinese names in every encoding Chinese modalities send.
    ds = base(CT, 32, "ZH001", "", 10, 1, 1, "CT")
    ds.SpecificCharacterSet = "GB18030"
    ds.PatientName = "Wang^XiaoDong=王^小东"
    ds.StudyDescription = "胸部CT平扫"
    ds.InstitutionName = "天津市第一中心医院"
    grey(ds, phantom(32), 16, True)
    save(ds, p("zh_gb18030.dcm"))

    ds = base(MR, 32, "ZH002", "", 11, 1, 1, "MR")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Li^Na=李^娜"
    ds.StudyDescription = "头颅MR平扫"
    grey(ds, phantom(32, signed=False), 16, False)
    save(ds, p("zh_utf8.dcm"))

    # pydicom writes GB2312 bytes without escape sequences; write the PN as
    # PS3.5 Annex K does: ESC $ ) A designates GB2312 into G1 before each run.
    ds = base(CT, 32, "ZH003", "Zhang^XiaoDong", 12, 1, 1, "CT")
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 58"]
    grey(ds, phantom(32), 16, True)
    save(ds, t("ir58.dcm"))
    esc = b"\x1b$)A"
    name = b"Zhang^XiaoDong=" + esc + "张".encode("gb2312") + b"^" + esc + "小东".encode("gb2312") + b"="
    name += b" " * (len(name) % 2)
    replace_pn(t("ir58.dcm"), b"Zhang^XiaoDong", name, p("zh_iso2022_ir58.dcm"))

    # GBK bytes with no (0008,0005) at all; and a 0x5C second byte in GB18030.
    ds = base(CT, 32, "ZH004", "", 13, 1, 1, "CT")
    del ds.SpecificCharacterSet
    ds.PatientName = "Zhao^Lei"
    grey(ds, phantom(32), 16, True)
    save(ds, t("gbk.dcm"))
    name = "Zhao^Lei=赵^磊".encode("gbk")
    name += b" " * (len(name) % 2)
    replace_pn(t("gbk.dcm"), b"Zhao^Lei", name, p("zh_gbk_no_charset.dcm"))

    ch = next(chr(c) for c in range(0x4E00, 0xA000) if chr(c).encode("gbk")[1:2] == b"\x5c")
    ds = base(CT, 32, "ZH005", "", 14, 1, 1, "CT")
    ds.SpecificCharacterSet = "GB18030"
    ds.PatientName = f"Sun^{ch}=孙^{ch}"
    ds.InstitutionalDepartmentName = f"放射科{ch}"
    ds.OtherPatientNames = [f"Sun^A={ch}", f"Sun^B={ch}二"]
    grey(ds, phantom(32), 16, True)
    save(ds, p("zh_gb18030_5c.dcm"))
    shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    target = os.path.join(HERE, "dicom")
    if not args.check:
        make(target)
        return
    with tempfile.TemporaryDirectory() as d:
        make(d)
        bad = [f for f in sorted(os.listdir(d)) if not filecmp.cmp(os.path.join(d, f), os.path.join(target, f), shallow=False)]
        for f in sorted(os.listdir(d)):
            print(("DIFF " if f in bad else "OK   ") + f)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
