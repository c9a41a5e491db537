#!/usr/bin/env python3
"""DICOMweb benchmark: Yunying vs Orthanc 1.10.1 + DICOMweb plugin, same data, same run.

Measures what an OHIF Viewer v3 user waits for, on an index of (by default)
100,000 instances:

  1. QIDO-RS study search (OHIF study-list queries): p50 / p95 latency
  2. WADO-RS series metadata of a 500-instance CT series: first (cold-ish) request, warm p50
  3. WADO-RS frame retrieval (multipart, transfer-syntax=*), several concurrent clients: frames/s
  4. WADO-RS rendered (image/jpeg): p50 latency and throughput

The dataset is generated once and cached, with both servers' loaded stores,
under ~/.cache/yunying/bench-dicomweb/<dataset key>/. See benches/README.md.

    python3 benches/dicomweb.py                          # 100,000 instances (first run: generation + loading, ~1 h)
    python3 benches/dicomweb.py --instances 3000         # small smoke configuration
    python3 benches/dicomweb.py --only orthanc           # no Yunying build needed

Needs: Debian packages orthanc, orthanc-dicomweb, dcmtk; Python packages
pydicom, numpy (requests only for --orthanc-loader rest); a release build of
Yunying (or --only orthanc).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import http.client
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (process tracking/cleanup, /proc, machine description)

from ingest import BenchError  # noqa: E402

REPO = ib.REPO
CACHE_ROOT = Path(os.environ.get("YUNYING_BENCH_CACHE", Path.home() / ".cache" / "yunying" / "bench-dicomweb"))
FORMAT_VERSION = 2  # bump when the generated dataset changes; part of the cache key
BIG_SLICES = 500
BIG_SIZE = 512
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
PLUGIN_CANDIDATES = ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7",
                     "/usr/lib/x86_64-linux-gnu/orthanc/plugins/libOrthancDicomWeb.so"]
ORTHANC_CANDIDATES = ["/usr/sbin/Orthanc", "/usr/bin/Orthanc"]

# Acceptance goals (from the DICOMweb issue): Yunying ≥ factor × Orthanc ("speed-up" = how many times faster).
GOAL_QIDO = 2.0
GOAL_METADATA = 10.0
GOAL_FRAMES = 1.5
GOAL_RENDERED = 2.0

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
# Neither server is asked to compress: we measure the server's work, not zlib's.
# (OHIF in a browser would send gzip; Orthanc would then spend CPU on deflate.)
COMMON_HEADERS = {"Accept-Encoding": "identity"}


def log(msg: str) -> None:
    print(f"[dicomweb] {msg}", file=sys.stderr, flush=True)


class EndpointError(BenchError):
    """A DICOMweb request failed or returned something a viewer could not use.
    `short` is what the results table shows (e.g. "HTTP 404"); the message names the URL."""

    def __init__(self, msg: str, short: str | None = None):
        super().__init__(msg)
        self.short = short or msg.split(": ", 1)[-1][:120]


def fmt_dur(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Prints 'what: done/total (rate/s, ETA)' at most every `every` seconds."""

    def __init__(self, what: str, total: int, every: float = 10.0):
        self.what, self.total, self.every = what, total, every
        self.t0 = self.last = time.monotonic()

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        el = now - self.t0
        rate = done / el if el > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        eta_s = fmt_dur(eta) if math.isfinite(eta) else "?"
        log(f"{self.what}: {done:,}/{self.total:,} ({rate:,.0f}/s, elapsed {fmt_dur(el)}, ETA {eta_s})")


# ==========================================================================
# Dataset
# ==========================================================================

SURNAMES = [("Wang", "王", 12), ("Li", "李", 12), ("Zhang", "张", 10), ("Liu", "刘", 8), ("Chen", "陈", 7),
            ("Yang", "杨", 5), ("Huang", "黄", 4), ("Zhao", "赵", 4), ("Wu", "吴", 3), ("Zhou", "周", 3),
            ("Xu", "徐", 3), ("Sun", "孙", 2), ("Ma", "马", 2), ("Zhu", "朱", 2), ("Hu", "胡", 2),
            ("Guo", "郭", 2), ("He", "何", 2), ("Gao", "高", 2), ("Lin", "林", 2), ("Luo", "罗", 2),
            ("Zheng", "郑", 1), ("Liang", "梁", 1), ("Xie", "谢", 1), ("Song", "宋", 1), ("Tang", "唐", 1),
            ("Han", "韩", 1), ("Feng", "冯", 1), ("Deng", "邓", 1), ("Cao", "曹", 1)]
GIVEN = [("Wei", "伟"), ("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"), ("Lei", "磊"),
         ("Qiang", "强"), ("Yang", "洋"), ("Jie", "杰"), ("Tao", "涛"), ("Ming", "明"), ("Chao", "超"),
         ("Xiuying", "秀英"), ("Guiying", "桂英"), ("Xiaodong", "小东"), ("Jianguo", "建国"), ("Haiyan", "海燕"),
         ("Yuxuan", "雨轩"), ("Zihan", "子涵"), ("Hao", "浩"), ("Lina", "丽娜"), ("Jun", "军"), ("Yan", "燕"),
         ("Hong", "红"), ("Ping", "平"), ("Hui", "慧"), ("Xin", "欣"), ("Yifan", "一帆"), ("Shu", "淑"), ("Bo", "波")]

SOP = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4", "CR": "1.2.840.10008.5.1.4.1.1.1",
       "DX": "1.2.840.10008.5.1.4.1.1.1.1", "PT": "1.2.840.10008.5.1.4.1.1.128", "US": "1.2.840.10008.5.1.4.1.1.6.1",
       "MG": "1.2.840.10008.5.1.4.1.1.1.2"}
# (profile weight, series modalities, study description, body part, whether series are "big" (volumes))
PROFILES = [
    (40, ["CT", "CT", "CT"], "CT CHEST WITH CONTRAST", "CHEST", True),
    (10, ["CT", "CT"], "CT HEAD PLAIN", "HEAD", True),
    (20, ["MR", "MR", "MR", "MR"], "MR BRAIN", "BRAIN", True),
    (6, ["MR", "MR", "MR"], "MR LUMBAR SPINE", "LSPINE", True),
    (10, ["CR", "CR"], "CR CHEST PA LAT", "CHEST", False),
    (6, ["DX"], "DX KNEE", "KNEE", False),
    (4, ["PT", "CT"], "PET-CT WHOLE BODY", "WHOLEBODY", True),
    (2, ["US"], "US ABDOMEN", "ABDOMEN", True),
    (2, ["MG", "MG"], "MG SCREENING", "BREAST", False),
]


def det_uid(*parts) -> str:
    """2.25.<38 decimal digits>, deterministic from `parts`: always 43 characters (so a
    per-series encoded template can be patched in place)."""
    h = int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:16], "big")
    return "2.25." + str(10**37 + h % (9 * 10**37))


UID_PLACEHOLDER = "2.25.1" + "0" * 36 + "7"  # 43 characters, like det_uid()
INUM_PLACEHOLDER = "+98765"  # IS, 6 characters: the instance number, left-justified, space-padded; the "+" keeps it from matching digits of a UID or an ID
Z_PLACEHOLDER = "-77777.7"  # DS, 8 characters: z of ImagePositionPatient, space-padded


def dataset_key(args) -> str:
    return f"v{FORMAT_VERSION}-n{args.instances}-st{args.studies}-px{args.small_size}-seed{args.seed}"


def plan_dataset(args) -> dict:
    """The whole dataset as a deterministic plan (no pixels): patients, studies, series, counts."""
    rnd = random.Random(args.seed)
    n_small = args.instances - BIG_SLICES
    n_studies = args.studies
    n_patients = max(1, round(n_studies / 1.6))
    sur_w = [w for _, _, w in SURNAMES]
    patients = []
    for p in range(n_patients):
        fam = rnd.choices(SURNAMES, sur_w)[0]
        giv = rnd.choice(GIVEN)
        chinese = rnd.random() < 0.6
        alpha = f"{fam[0]}^{giv[0]}"
        name = f"{alpha}={fam[1]}^{giv[1]}" if chinese else alpha
        patients.append({
            "name": name, "charset": "ISO_IR 192" if chinese else None,
            "id": f"P{args.seed:02d}{p:06d}",
            "birth": f"{rnd.randint(1935, 2020)}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}",
            "sex": rnd.choice("MF"),
        })
    prof_w = [p[0] for p in PROFILES]
    d0 = datetime.date(2015, 1, 1).toordinal()
    d1 = datetime.date(2025, 12, 31).toordinal()
    studies = []
    for s in range(n_studies):
        _, mods, desc, part, volume = rnd.choices(PROFILES, prof_w)[0]
        pat = rnd.randrange(n_patients)
        date = datetime.date.fromordinal(rnd.randint(d0, d1)).strftime("%Y%m%d")
        series = []
        for k, m in enumerate(mods):
            series.append({"uid": det_uid(args.seed, "series", s, k), "modality": m, "number": k + 1,
                           "desc": f"{desc.split()[0]} series {k + 1}", "count": 0,
                           "weight": rnd.uniform(0.5, 1.5) if volume else 0.0})
        studies.append({"uid": det_uid(args.seed, "study", s), "patient": pat, "date": date,
                        "time": f"{rnd.randint(7, 19):02d}{rnd.randint(0, 59):02d}{rnd.randint(0, 59):02d}",
                        "accession": f"ACC{args.seed:02d}{s:07d}", "desc": desc, "part": part,
                        "referring": rnd.choice(["Zhang^Hua", "Li^Ming", "Chen^Yu", ""]),
                        "series": series})
    # Radiographs: 1-2 images per series; everything else is shared among the volume series by weight.
    fixed = 0
    for st in studies:
        for se in st["series"]:
            if se["weight"] == 0.0:
                se["count"] = rnd.randint(1, 2)
                fixed += se["count"]
    vols = [se for st in studies for se in st["series"] if se["weight"] > 0]
    rest = n_small - fixed
    if rest < len(vols):
        raise BenchError(f"--instances {args.instances} is too small for --studies {n_studies}: "
                         f"give more instances or fewer studies")
    tw = sum(se["weight"] for se in vols)
    exact = [rest * se["weight"] / tw for se in vols]
    counts = [max(1, int(x)) for x in exact]
    # largest remainder, then fix any excess from the max(1, ...) floor
    order = sorted(range(len(vols)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    i = 0
    while sum(counts) < rest:
        counts[order[i % len(order)]] += 1
        i += 1
    while sum(counts) > rest:
        j = max(range(len(counts)), key=lambda k: counts[k])
        counts[j] -= 1
    for se, c in zip(vols, counts):
        se["count"] = c
    for st in studies:
        for se in st["series"]:
            del se["weight"]
    assert sum(se["count"] for st in studies for se in st["series"]) == n_small
    return {"patients": patients, "studies": studies}


def small_pixels(size: int, seed: int):
    """A smooth 12-bit pattern (disc on a gradient), uint16 little endian."""
    import numpy as np
    y, x = np.indices((size, size), dtype=np.float32)
    c = size / 2
    r = np.hypot(x - c, y - c)
    img = 200 + 6 * x + 3 * y + np.where(r < size * (0.25 + 0.1 * (seed % 5) / 5), 900, 0)
    return np.clip(img, 0, 4095).astype("<u2").tobytes()


def encode_series_template(args, plan: dict, st: dict, se: dict, pixels: bytes) -> tuple[bytes, bytes]:
    """(header bytes with placeholders, pixel data element) for one series."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import UID

    pat = plan["patients"][st["patient"]]
    m = se["modality"]
    ds = Dataset()
    if pat["charset"]:
        ds.SpecificCharacterSet = pat["charset"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if m in ("CT", "MR", "PT") else "OTHER"]
    ds.SOPClassUID = UID(SOP[m])
    ds.SOPInstanceUID = UID(UID_PLACEHOLDER)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = st["date"]
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = st["time"]
    ds.AccessionNumber = st["accession"]
    ds.Modality = m
    ds.Manufacturer = "Yunying"
    ds.InstitutionName = "Yunying Synthetic Hospital"
    ds.ReferringPhysicianName = st["referring"]
    ds.StudyDescription = st["desc"]
    ds.SeriesDescription = se["desc"]
    ds.PatientName = pat["name"]
    ds.PatientID = pat["id"]
    ds.PatientBirthDate = pat["birth"]
    ds.PatientSex = pat["sex"]
    ds.BodyPartExamined = st["part"]
    ds.StudyInstanceUID = UID(st["uid"])
    ds.SeriesInstanceUID = UID(se["uid"])
    ds.StudyID = st["accession"][-6:]
    ds.SeriesNumber = se["number"]
    ds.InstanceNumber = INUM_PLACEHOLDER
    n = args.small_size
    spacing = 3.0 if n <= 64 else 1.5
    half = -spacing * n / 2
    if m in ("CT", "MR", "PT"):
        ds.ImagePositionPatient = [f"{half:g}", f"{half:g}", Z_PLACEHOLDER]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = UID(det_uid(args.seed, "for", st["uid"]))
        ds.SliceThickness = "3"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = n
    ds.Columns = n
    ds.PixelSpacing = [f"{spacing:g}", f"{spacing:g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if m == "CT":
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = ds.SOPClassUID
    fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    fm.TransferSyntaxUID = UID(EXPLICIT_VR_LE)
    fm.ImplementationClassUID = UID("1.2.826.0.1.3680043.10.1467.0.2")
    fm.ImplementationVersionName = "YUNYING_BENCHWEB"
    ds.file_meta = fm
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    head = buf.getvalue()
    if head.count(UID_PLACEHOLDER.encode()) != 2 or head.count(INUM_PLACEHOLDER.encode()) != 1:
        raise BenchError("internal: series template placeholders not found exactly once")
    pix = struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", len(pixels)) + pixels
    return head, pix


def _gen_worker(job: tuple) -> int:
    """Writes the small studies with index ≡ worker (mod workers). Returns files written."""
    args_d, plan, root, worker, workers, counter = job
    args = argparse.Namespace(**args_d)
    pixels = [small_pixels(args.small_size, k) for k in range(5)]
    uidb, inumb, zb = UID_PLACEHOLDER.encode(), INUM_PLACEHOLDER.encode(), Z_PLACEHOLDER.encode()
    written = 0
    for s, st in enumerate(plan["studies"]):
        if s % workers != worker:
            continue
        d = Path(root) / f"s{s:05d}"
        d.mkdir(parents=True, exist_ok=True)
        for k, se in enumerate(st["series"]):
            head, pix = encode_series_template(args, plan, st, se, pixels[(s + k) % 5])
            for i in range(se["count"]):
                # Numbers first: a generated UID may itself contain the
                # instance-number placeholder's digits.
                h = head.replace(inumb, str(i + 1).ljust(6).encode())
                h = h.replace(zb, f"{-3.0 * i:.1f}".ljust(8).encode())
                h = h.replace(uidb, det_uid(args.seed, "inst", s, k, i).encode())
                with open(d / f"{k}_{i:05d}.dcm", "wb") as f:
                    f.write(h)
                    f.write(pix)
                written += 1
                if written % 500 == 0:
                    with counter.get_lock():
                        counter.value += 500
    with counter.get_lock():
        counter.value += written % 500
    return written


def generate_dataset(args, root: Path) -> dict:
    """Writes the DICOM files under root/dicom and returns the manifest."""
    import pydicom  # noqa: F401 (fail early with a clear message)

    dicom = root / "dicom"
    shutil.rmtree(dicom, ignore_errors=True)
    dicom.mkdir(parents=True)
    t0 = time.monotonic()
    plan = plan_dataset(args)
    gen = REPO / "testdata" / "gen_ct_series.py"
    if not gen.exists():
        raise BenchError(f"{gen} is missing: it generates the {BIG_SLICES}-slice CT series")
    big_dir = dicom / "big"
    log(f"generating the {BIG_SLICES}-slice {BIG_SIZE}x{BIG_SIZE} CT series with {gen.relative_to(REPO)} (background)")
    big_log = open(root / "gen_ct_series.log", "wb")
    big = ib.spawn([sys.executable, gen, "--out", big_dir, "--slices", BIG_SLICES, "--rows", BIG_SIZE,
                    "--cols", BIG_SIZE, "--seed", 7000 + args.seed, "--patient-name", "Wang^Jianguo=王^建国",
                    "--patient-id", f"BIG{args.seed:02d}", "--thickness", "1"], stdout=big_log, stderr=big_log)
    n_small = args.instances - BIG_SLICES
    log(f"generating {n_small:,} small instances ({args.small_size}x{args.small_size}) in {args.studies:,} studies "
        f"with {args.gen_procs} process(es)")
    counter = multiprocessing.Value("q", 0)
    args_d = {"seed": args.seed, "small_size": args.small_size}
    jobs = [(args_d, plan, str(dicom / "small"), w, args.gen_procs, counter) for w in range(args.gen_procs)]
    prog = Progress("generated", n_small)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_gen_worker, args=(j,), daemon=True) for j in jobs]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            prog.update(counter.value)
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise BenchError(f"a generator process exited with code {p.exitcode}")
        prog.update(counter.value, force=True)
        deadline = time.monotonic() + 1800
        while big.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if big.poll() is None:
            raise BenchError("gen_ct_series.py did not finish within 30 min")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        ib.terminate(big, grace=2)
        big_log.close()
    if big.returncode != 0:
        raise BenchError(f"gen_ct_series.py exited {big.returncode}{ib.log_tail(root / 'gen_ct_series.log')}")
    manifest = describe_generated(args, plan, dicom)
    manifest["generation_s"] = time.monotonic() - t0
    manifest["generated_at"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    log(f"dataset generated in {fmt_dur(manifest['generation_s'])}: {manifest['files']:,} files, "
        f"{manifest['bytes'] / 1e9:.2f} GB")
    return manifest


def describe_generated(args, plan: dict, dicom: Path) -> dict:
    import pydicom
    big_files = sorted((dicom / "big").rglob("*.dcm"))
    if len(big_files) != BIG_SLICES:
        raise BenchError(f"expected {BIG_SLICES} files from gen_ct_series.py, found {len(big_files)}")
    instances = []
    for f in big_files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        instances.append((int(ds.InstanceNumber), str(ds.SOPInstanceUID)))
    instances.sort()
    ds0 = pydicom.dcmread(big_files[0], stop_before_pixels=True)
    files = nbytes = 0
    for dirpath, _, names in os.walk(dicom):
        for n in names:
            if n.endswith(".dcm"):
                files += 1
                nbytes += os.path.getsize(os.path.join(dirpath, n))
    if files != args.instances:
        raise BenchError(f"generated {files} files, expected {args.instances}")
    # What a correct QIDO answer contains, from the plan (used to check both servers' answers).
    pats = plan["patients"]
    studies = [{"uid": st["uid"], "name": pats[st["patient"]]["name"], "date": st["date"],
                "modalities": sorted({se["modality"] for se in st["series"]})} for st in plan["studies"]]
    studies.append({"uid": str(ds0.StudyInstanceUID), "name": str(ds0.PatientName), "date": str(ds0.StudyDate),
                    "modalities": ["CT"]})
    return {
        "key": dataset_key(args), "instances": args.instances, "files": files, "bytes": nbytes,
        "studies": len(studies), "patients": len(pats) + 1,
        "series": sum(len(st["series"]) for st in plan["studies"]) + 1,
        "big": {"study": str(ds0.StudyInstanceUID), "series": str(ds0.SeriesInstanceUID),
                "instances": [u for _, u in instances], "patient": str(ds0.PatientName),
                "bytes": sum(f.stat().st_size for f in big_files)},
        "study_index": studies,
        "small_size": args.small_size,
    }


def dataset_description(m: dict) -> str:
    st = m["study_index"]
    chinese = sum(1 for s in st if "=" in s["name"])
    mods: dict[str, int] = {}
    for s in st:
        for mo in s["modalities"]:
            mods[mo] = mods.get(mo, 0) + 1
    mod_txt = ", ".join(f"{k} {v}" for k, v in sorted(mods.items(), key=lambda kv: -kv[1]))
    return (f"{m['instances']:,} instances ({m['bytes'] / 1e9:.2f} GB) in {m['studies']:,} studies, "
            f"{m['series']:,} series, {m['patients']:,} patients; {m['instances'] - BIG_SLICES:,} small instances "
            f"({m['small_size']}×{m['small_size']} 16-bit, Explicit VR LE) with varied names ({chinese} studies with "
            f"`Pinyin=汉字` names in ISO_IR 192, the rest Pinyin only), dates 2015–2025 and modalities "
            f"(studies containing: {mod_txt}); plus one study with a {BIG_SLICES}-instance {BIG_SIZE}×{BIG_SIZE} "
            f"CT series ({m['big']['bytes'] / 1e6:.0f} MB, testdata/gen_ct_series.py). Key `{m['key']}`")


# ==========================================================================
# Servers
# ==========================================================================


def orthanc_plugin() -> str:
    for c in PLUGIN_CANDIDATES:
        if os.path.isfile(c):
            return c
    raise BenchError("the Orthanc DICOMweb plugin was not found (looked for "
                     f"{', '.join(PLUGIN_CANDIDATES)}). Install it with `apt-get install orthanc-dicomweb`.")


def orthanc_config(store: Path, http_port: int, dicom_port: int, plugin: str, loading: bool, args) -> dict:
    """Orthanc 1.10.1 configured the way a careful administrator serving OHIF would
    (see benches/README.md, "dicomweb.py: Orthanc configuration")."""
    return {
        "Name": "YunyingBenchDicomWeb",
        "StorageDirectory": str(store / "storage"),
        "IndexDirectory": str(store / "index"),
        "TemporaryDirectory": str(store / "tmp"),
        "StorageCompression": False,
        # Answers (QIDO, metadata) are converted to this encoding; the default, Latin1, turns
        # "Wang^Wei=王^伟" into {"Alphabetic": "Wang^Wei", "Ideographic": "^"} in DICOM JSON.
        "DefaultEncoding": "Utf8",
        # Loading is not measured: skip the per-file fsync while loading only; the files
        # are the same either way (a sync runs after loading).
        "SyncStorageArea": not loading,
        "MaximumStorageCacheSize": args.orthanc_cache_mb,
        "StorageAccessOnFind": args.orthanc_storage_access,
        "Plugins": [plugin],
        "ConcurrentJobs": 2,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "HttpThreadsCount": 50,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "DicomServerEnabled": True,
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "DicomThreadsCount": 4,
        "MaximumPduLength": 131072,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "LogExportedResources": False,
        "OverwriteInstances": False,
        "SaveJobs": False,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
        "LuaScripts": [],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": False,
            "Ssl": False,
            "QidoCaseSensitive": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }


class Server:
    name = "?"
    # Sent with every request (the access-on variant's credentials).
    headers: dict = {}

    def __init__(self, binary: str):
        self.binary = binary
        self.proc = None
        self.logfile: Path | None = None
        self.http_port = 0
        self.dicom_port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def root(self) -> str:
        return f"{self.base}/dicom-web"

    def stop(self) -> None:
        if self.proc is not None:
            ib.terminate(self.proc)
            self.proc = None

    def cpu_ticks(self) -> int:
        st = ib.proc_stat(self.proc.pid) if self.proc else None
        return (st[2] + st[3]) if st else 0

    def rss_mb(self) -> float:
        return ib.vm_kb(self.proc.pid, "VmRSS") / 1024 if self.proc else 0.0


class Orthanc(Server):
    name = "Orthanc"

    def __init__(self, binary: str, store: Path, args):
        super().__init__(binary)
        self.store = store
        self.args = args
        self.plugin = orthanc_plugin()
        self.config: dict = {}

    def start(self, loading: bool = False) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port = ib.free_ports(2)
        self.config = orthanc_config(self.store, self.http_port, self.dicom_port, self.plugin, loading, self.args)
        cfg = self.store / ("orthanc-load.json" if loading else "orthanc.json")
        cfg.write_text(json.dumps(self.config, indent=2))
        self.logfile = self.store / ("orthanc-load.log" if loading else "orthanc.log")
        with open(self.logfile, "wb") as lf:
            self.proc = ib.spawn([self.binary, cfg], env=ib.ENV_NODELAY, stdout=lf, stderr=lf, new_session=True)
        ib.wait_until(lambda: ib.http_get(f"{self.base}/system", 2)[0] == 200, "Orthanc GET /system",
                      self.proc, self.logfile, 300)

    def count(self) -> int | None:
        status, body = ib.http_get(f"{self.base}/statistics", 120)
        try:
            return int(json.loads(body)["CountInstances"]) if status == 200 else None
        except (ValueError, KeyError, TypeError):
            return None

    def version(self) -> str:
        status, body = ib.http_get(f"{self.base}/system", 10)
        core = json.loads(body).get("Version", "?") if status == 200 else "?"
        status, body = ib.http_get(f"{self.base}/plugins/dicom-web", 10)
        plug = json.loads(body).get("Version", "?") if status == 200 else "?"
        return f"Orthanc {core} (Debian package), DICOMweb plugin {plug}"


class Yunying(Server):
    name = "Yunying"

    def __init__(self, binary: str, store: Path):
        super().__init__(binary)
        self.store = store

    def start(self) -> None:
        self.http_port, self.dicom_port = ib.free_ports(2)
        cfg = self.store / "bench.toml"
        # Loopback only; C-STORE from unregistered clients (as Orthanc); requests without credentials from
        # loopback reach everything (access control off: no lookups); the rest are defaults. Requests with a
        # key (YunyingScoped) go through the whole access layer on the same process.
        cfg.write_text('dicom_bind = "127.0.0.1"\n[dicom]\nunknown_callers = "demo-store"\n'
                       '[access]\nanonymous = "loopback"\n')
        self.logfile = self.store / "yunying.log"
        with open(self.logfile, "wb") as lf:
            self.proc = ib.spawn([self.binary, "serve", "--config", cfg, "--data-dir", self.store / "data",
                                  "--http-port", self.http_port, "--dicom-port", self.dicom_port],
                                 env={**ib.ENV_NODELAY, "NO_COLOR": "1"}, stdout=lf, stderr=lf, new_session=True)
        ib.wait_until(lambda: ib.http_get(f"{self.base}/healthz", 2)[0] == 200, "Yunying GET /healthz",
                      self.proc, self.logfile, 300)

    def count(self) -> int | None:
        status, body = ib.http_get(f"{self.base}/metrics", 60)
        return ib.metric(body, "yunying_index_instances") if status == 200 else None

    def version(self) -> str:
        v = ib.version_of([self.binary, "--version"])
        return f"{v} (`{self.binary}`, tree at {git_rev()})"


class YunyingScoped(Server):
    """The same Yunying process, asked as a signed-in radiologist of the institution that holds the data (LOCAL,
    the importer's default institution; a session cookie from POST /api/auth/login): every request reads the
    session and the account, QIDO-RS is narrowed to the institution's scope in SQL, every WADO-RS request checks
    its study. Compared with the anonymous loopback requests of `Yunying` (no access control), in the same run."""
    name = "Yunying (access on)"

    def __init__(self, plain: Yunying):
        super().__init__(plain.binary)
        self.plain = plain

    def start(self) -> None:
        self.proc, self.logfile = self.plain.proc, self.plain.logfile
        self.http_port, self.dicom_port = self.plain.http_port, self.plain.dicom_port
        name, password = f"bench-{os.getpid()}-{int(time.time())}", "Bench-radiologist-7-reads"
        out = subprocess.run([self.binary, "--data-dir", str(self.plain.store / "data"), "user", "add", name,
                              "--institution", "LOCAL", "--roles", "radiologist", "--password-stdin"],
                             input=password + "\n", capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise BenchError(f"`yunying user add` failed: {out.stderr.strip()[-300:]}")
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        conn.request("POST", "/api/auth/login", body=json.dumps({"username": name, "password": password}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        cookie = next((v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie"
                       and v.startswith("yy_session=")), None)
        if r.status != 200 or not cookie:
            raise BenchError(f"signing the bench radiologist in failed: HTTP {r.status}")
        self.headers = {"Cookie": cookie}

    def stop(self) -> None:
        self.proc = None  # the plain server owns the process

    def count(self) -> int | None:
        return self.plain.count()

    def version(self) -> str:
        return self.plain.version()


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return f"commit {rev}{' + uncommitted changes' if dirty else ''}"
    except Exception:  # noqa: BLE001 - only for the report header
        return "?"


# ==========================================================================
# Loading
# ==========================================================================


def all_files(dicom: Path) -> list[Path]:
    out = []
    for dirpath, _, names in os.walk(dicom):
        out.extend(Path(dirpath) / n for n in names if n.endswith(".dcm"))
    out.sort()
    return out


def load_orthanc(orthanc: Orthanc, files: list[Path], threads: int) -> dict:
    """REST POST /instances from `threads` keep-alive sessions. Returns timing info."""
    import requests
    orthanc.start(loading=True)
    try:
        errors: list[str] = []
        done = [0]
        lock = threading.Lock()
        nxt = [0]
        prog = Progress("Orthanc load", len(files), every=15)

        def worker():
            s = requests.Session()
            while not errors:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(files):
                    return
                body = files[i].read_bytes()
                try:
                    r = s.post(f"{orthanc.base}/instances", data=body,
                               headers={"Content-Type": "application/dicom", "Expect": ""}, timeout=300)
                    ok = r.status_code == 200 and r.json().get("Status") in ("Success", "AlreadyStored")
                except Exception as e:  # noqa: BLE001 - reported below
                    ok, r = False, e
                if not ok:
                    with lock:
                        errors.append(f"POST /instances {files[i]}: "
                                      f"{getattr(r, 'status_code', '')} {getattr(r, 'text', r)!s:.300}")
                    return
                with lock:
                    done[0] += 1

        t0 = time.monotonic()
        ths = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for t in ths:
            t.start()
        while any(t.is_alive() for t in ths):
            for t in ths:
                t.join(timeout=0.5)
            prog.update(done[0])
            if orthanc.proc.poll() is not None:
                raise BenchError(f"Orthanc died while loading{ib.log_tail(orthanc.logfile)}")
        wall = time.monotonic() - t0
        prog.update(done[0], force=True)
        if errors:
            raise BenchError(f"loading Orthanc failed: {errors[0]}")
        n = orthanc.count()
        if n != len(files):
            raise BenchError(f"Orthanc holds {n} instances after loading {len(files)}")
        return {"seconds": wall, "rate": len(files) / wall,
                "method": f"REST POST /instances, {threads} threads, SyncStorageArea=false while loading"}
    finally:
        orthanc.stop()
        os.sync()


def load_orthanc_storescu(orthanc: Orthanc, dicom: Path, procs: int, expected: int) -> dict:
    """DCMTK storescu (the Debian binary, not pynetdicom's script): `procs` processes, one
    association each, over interleaved lists of study directories (scanned with +sd +r)."""
    storescu = ib.find_binary(["/usr/bin/storescu"], "DCMTK storescu", "Install it with `apt-get install dcmtk`.")
    dirs = sorted([p for p in (dicom / "small").iterdir() if p.is_dir()]) + [dicom / "big"]
    chunks = [dirs[i::procs] for i in range(procs)]
    orthanc.start(loading=True)
    try:
        ps, logs = [], []
        t0 = time.monotonic()
        for i, chunk in enumerate(chunks):
            if not chunk:
                continue
            lf = orthanc.store / f"storescu-{i}.log"
            logs.append(lf)
            with open(lf, "wb") as f:
                ps.append(ib.spawn([storescu, "-aet", "BENCH", "-aec", "ORTHANC", "-xe", "-pdu", 131072,
                                    "--max-send-pdu", 131072, "-to", 60, "+sd", "+r", "+sp", "*.dcm",
                                    "127.0.0.1", orthanc.dicom_port, *chunk], env=ib.ENV_NODELAY, stdout=f, stderr=f))
        prog = Progress("Orthanc load", expected, every=15)
        last = 0.0
        while any(p.poll() is None for p in ps):
            time.sleep(0.5)
            if time.monotonic() - last > 15:
                last = time.monotonic()
                n = orthanc.count()
                if n is not None:
                    prog.update(n, force=True)
            if orthanc.proc.poll() is not None:
                raise BenchError(f"Orthanc died while loading{ib.log_tail(orthanc.logfile)}")
        wall = time.monotonic() - t0
        for p, lf in zip(ps, logs):
            if p in ib._LIVE:
                ib._LIVE.remove(p)
            if p.returncode != 0:
                raise BenchError(f"storescu exited {p.returncode} while loading Orthanc{ib.log_tail(lf)}")
        n = orthanc.count()
        if n != expected:
            raise BenchError(f"Orthanc holds {n} instances after loading {expected}")
        return {"seconds": wall, "rate": expected / wall,
                "method": f"DCMTK storescu, {procs} processes (one association each), TCP_NODELAY=1, "
                          "SyncStorageArea=false while loading"}
    finally:
        orthanc.stop()
        os.sync()


def load_yunying(binary: str, store: Path, dicom: Path, jobs: int, expected: int) -> dict:
    """`yunying import` (server not running) into store/data."""
    shutil.rmtree(store / "data", ignore_errors=True)
    store.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "import", "--quiet", "--jobs", str(jobs), "--data-dir", str(store / "data"), str(dicom)]
    log(f"Yunying load: {' '.join(cmd)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_") or k == "YUNYING_LOG"}
    out_path = store / "import.log"
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        p = ib.spawn(cmd, env=env, stdout=out, stderr=out)
        last = t0
        while p.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                log(f"Yunying import still running ({fmt_dur(last - t0)})")
    wall = time.monotonic() - t0
    if p in ib._LIVE:
        ib._LIVE.remove(p)
    text = out_path.read_text(errors="replace")
    if p.returncode != 0:
        raise BenchError(f"`yunying import` exited {p.returncode}{ib.log_tail(out_path)}")
    if f"imported {expected} instances" not in text:
        log(f"note: `yunying import` output does not say 'imported {expected} instances':{ib.log_tail(out_path, 5)}")
    return {"seconds": wall, "rate": expected / wall, "method": f"`yunying import --jobs {jobs}` (server stopped)"}


# ==========================================================================
# Requests and checks
# ==========================================================================


class Resp:
    """The parts of a response the checks use (named as in `requests`)."""

    def __init__(self, url: str, status: int, headers, content: bytes):
        self.url, self.status_code, self.headers, self.content = url, status, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class Client:
    """A keep-alive HTTP/1.1 client on http.client, one per client thread.

    Not `requests`: reading a 512 KB frame through requests/urllib3 (10 KB chunks) costs
    the client ~4.5 ms of CPU, as much as Orthanc spends serving it, on a 2-core machine
    that client and servers share; http.client reads the body in one call (~1.5 ms per
    frame, mostly the copy out of the socket). Requests on a connection the server has
    closed meanwhile (Orthanc's keep-alive timeout is 1 s) are retried once on a new one."""

    def __init__(self):
        self.conns: dict = {}

    def _conn(self, host: str, port: int, timeout: float):
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def get(self, url: str, headers: dict, timeout: float = 600) -> Resp:
        u = urllib.parse.urlsplit(url)
        key = (u.hostname, u.port or 80)
        target = u.path + ("?" + u.query if u.query else "")
        hdrs = {**COMMON_HEADERS, **headers}
        for attempt in (0, 1):
            c = self.conns.pop(key, None)
            reused = c is not None
            if c is None:
                c = self._conn(key[0], key[1], timeout)
            try:
                c.request("GET", target, headers=hdrs)
                r = c.getresponse()
                body = r.read()
            except (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest):
                c.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                c.close()
                raise
            if r.will_close:
                c.close()
            else:
                self.conns[key] = c
            return Resp(url, r.status, r.headers, body)
        raise AssertionError("unreachable")

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.conns.clear()


def session() -> Client:
    return Client()


def get(s, server: Server, what: str, url: str, accept: str, timeout: float = 600):
    """GET; returns (seconds, response). Network errors become EndpointError."""
    t0 = time.perf_counter()
    try:
        r = s.get(url, headers={"Accept": accept, **server.headers}, timeout=timeout)
    except Exception as e:  # noqa: BLE001
        raise EndpointError(f"{server.name} {what}: GET {url} failed: {e}", short=type(e).__name__) from None
    return time.perf_counter() - t0, r


def need_ok(server: Server, what: str, r, ctype_prefix: str) -> None:
    if r.status_code != 200:
        raise EndpointError(f"{server.name} {what}: GET {r.url} returned HTTP {r.status_code} "
                            f"{r.text[:200].strip()!r}", short=f"HTTP {r.status_code}")
    ct = r.headers.get("Content-Type", "")
    if not ct.lower().startswith(ctype_prefix):
        raise EndpointError(f"{server.name} {what}: GET {r.url}: Content-Type {ct!r}, expected {ctype_prefix}")


def qido_results(server: Server, what: str, r) -> list:
    if r.status_code == 204:
        return []
    need_ok(server, what, r, "application/dicom+json")
    try:
        body = r.json()
    except ValueError:
        raise EndpointError(f"{server.name} {what}: GET {r.url}: body is not JSON") from None
    if not isinstance(body, list):
        raise EndpointError(f"{server.name} {what}: GET {r.url}: body is not a JSON array")
    return body


def check_multipart_frame(server: Server, what: str, r, frame_bytes: int) -> None:
    """200, multipart/related, exactly one part with Content-Type application/octet-stream;
    transfer-syntax=..., and (for native transfer syntaxes) the expected payload size."""
    if r.status_code != 200:
        raise EndpointError(f"{server.name} {what}: GET {r.url} returned HTTP {r.status_code} "
                            f"{r.text[:200].strip()!r}", short=f"HTTP {r.status_code}")
    ct = r.headers.get("Content-Type", "")
    low = ct.lower()
    if not low.startswith("multipart/related"):
        raise EndpointError(f"{server.name} {what}: Content-Type {ct!r} is not multipart/related")
    boundary = None
    for param in ct.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.lower() == "boundary":
            boundary = v.strip().strip('"')
    if not boundary:
        raise EndpointError(f"{server.name} {what}: multipart Content-Type without boundary: {ct!r}")
    body = r.content
    delim = b"--" + boundary.encode()
    pieces = body.split(delim)
    # pieces[0] = preamble, then parts, last = "--" + epilogue
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise EndpointError(f"{server.name} {what}: malformed multipart body (no closing delimiter)")
    parts = pieces[1:-1]
    if len(parts) != 1:
        raise EndpointError(f"{server.name} {what}: {len(parts)} parts, expected 1")
    for part in parts:
        head, sep, payload = part.partition(b"\r\n\r\n")
        if not sep:
            raise EndpointError(f"{server.name} {what}: multipart part without headers")
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip():
                headers[k.strip().lower()] = v.strip()
        pct = headers.get("content-type", "")
        plow = pct.lower().replace(" ", "")
        if not plow.startswith("application/octet-stream") or "transfer-syntax=" not in plow:
            raise EndpointError(f"{server.name} {what}: part Content-Type {pct!r}: must be "
                                "'application/octet-stream; transfer-syntax=<UID>'")
        ts = plow.split("transfer-syntax=", 1)[1].split(";")[0].strip('"')
        if ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1") and len(payload) != frame_bytes:
            raise EndpointError(f"{server.name} {what}: frame payload is {len(payload)} bytes, "
                                f"expected {frame_bytes} for transfer syntax {ts}")
        if not payload:
            raise EndpointError(f"{server.name} {what}: empty frame payload")


def check_jpeg(server: Server, what: str, r) -> None:
    need_ok(server, what, r, "image/jpeg")
    if not r.content.startswith(b"\xff\xd8"):
        raise EndpointError(f"{server.name} {what}: body is not a JPEG (no SOI marker)")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(q / 100 * len(v)) - 1))]


def client_cpu() -> float:
    """CPU seconds of this (client) process so far, all threads."""
    t = os.times()
    return t.user + t.system


def timed_loop(server: Server, what: str, n: int, budget: float, fn) -> tuple[list[float], dict]:
    """Calls fn(i) -> seconds up to n times (stopping early after `budget` seconds);
    returns the latencies and server CPU / wall info."""
    lat = []
    cpu0, c0, w0 = server.cpu_ticks(), client_cpu(), time.perf_counter()
    for i in range(n):
        lat.append(fn(i))
        if time.perf_counter() - w0 > budget and len(lat) >= 3:
            log(f"  {server.name} {what}: time budget reached after {len(lat)} of {n} requests")
            break
    wall = time.perf_counter() - w0
    return lat, {"server_cpu_s": (server.cpu_ticks() - cpu0) / ib.CLK_TCK, "client_cpu_s": client_cpu() - c0,
                 "wall_s": wall, "requests": len(lat)}


def concurrent_loop(server: Server, what: str, total: int, threads: int, budget: float, fn) -> dict:
    """`threads` threads, each with its own keep-alive connection, share `total` requests;
    fn(session, i) -> seconds. Returns throughput, latencies and server CPU."""
    lock = threading.Lock()
    nxt = [0]
    lat: list[float] = []
    errors: list[BaseException] = []
    stop_at = [None]

    def worker():
        s = session()
        local = []
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= total or errors or (stop_at[0] and time.perf_counter() > stop_at[0]):
                break
            try:
                local.append(fn(s, i))
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
                break
        with lock:
            lat.extend(local)

    cpu0, c0 = server.cpu_ticks(), client_cpu()
    t0 = time.perf_counter()
    stop_at[0] = t0 + budget
    ths = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        while t.is_alive():
            t.join(timeout=0.2)
    wall = time.perf_counter() - t0
    cpu = (server.cpu_ticks() - cpu0) / ib.CLK_TCK
    ccpu = client_cpu() - c0
    if errors:
        raise errors[0]
    if len(lat) < total:
        log(f"  {server.name} {what}: time budget reached after {len(lat)} of {total} requests")
    return {"requests": len(lat), "wall_s": wall, "per_s": len(lat) / wall if wall > 0 else 0.0,
            "p50_ms": statistics.median(lat) * 1e3, "p95_ms": pct(lat, 95) * 1e3, "server_cpu_s": cpu,
            "client_cpu_s": ccpu}


# ==========================================================================
# Measurements
# ==========================================================================


def qido_queries(manifest: dict) -> list[dict]:
    """OHIF-style study-list queries and the answer a correct server gives (capped at limit)."""
    base = "limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060"
    st = manifest["study_index"]
    exp_name = sum(1 for s in st if s["name"].lower().startswith("wang"))
    exp_date = sum(1 for s in st if "20200101" <= s["date"] <= "20201231")
    exp_ct = sum(1 for s in st if "CT" in s["modalities"])
    return [
        {"id": "qido_list", "label": "study list, no filter", "query": base, "expected": min(101, len(st)),
         "match": None},
        {"id": "qido_name", "label": "PatientName=wang*", "query": base + "&PatientName=wang*",
         "expected": min(101, exp_name), "match": lambda s: s["name"].lower().startswith("wang")},
        {"id": "qido_date", "label": "StudyDate=20200101-20201231", "query": base + "&StudyDate=20200101-20201231",
         "expected": min(101, exp_date), "match": lambda s: "20200101" <= s["date"] <= "20201231"},
        {"id": "qido_mod", "label": "ModalitiesInStudy=CT", "query": base + "&ModalitiesInStudy=CT",
         "expected": min(101, exp_ct), "match": lambda s: "CT" in s["modalities"]},
    ]


def pn_string(value) -> str:
    """A DICOM JSON PN value back to its DICOM string form (Alphabetic=Ideographic=Phonetic)."""
    if not value:
        return ""
    v = value[0]
    if isinstance(v, str):
        return v
    groups = [v.get("Alphabetic", ""), v.get("Ideographic", ""), v.get("Phonetic", "")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def check_qido_answer(q: dict, found: list, manifest: dict) -> list[str]:
    """Problems with a QIDO answer: studies that do not match the query, and patient
    names that differ from the stored ones (e.g. Chinese characters lost)."""
    index = {s["uid"]: s for s in manifest["study_index"]}
    bad = []
    for item in found:
        uid = (item.get("0020000D", {}).get("Value") or ["?"])[0]
        st = index.get(uid)
        if st is None:
            bad.append(f"unknown study {uid}")
            continue
        if q["match"] and not q["match"](st):
            bad.append(f"study {uid} does not match")
        got = pn_string(item.get("00100010", {}).get("Value"))
        if got != st["name"]:
            bad.append(f"PatientName {got!r} instead of {st['name']!r}")
    return bad


def measure_metadata_cold(server: Server, manifest: dict, res: dict) -> None:
    big = manifest["big"]
    url = f"{server.root}/studies/{big['study']}/series/{big['series']}/metadata"
    s = session()
    sec, r = get(s, server, "series metadata (cold)", url, "application/dicom+json")
    check_metadata(server, r, len(big["instances"]))
    res["metadata_cold_ms"] = sec * 1e3
    res["metadata_bytes"] = len(r.content)
    log(f"  {server.name}: series metadata, first request: {sec * 1e3:.0f} ms ({len(r.content) / 1e6:.1f} MB)")


def check_metadata(server: Server, r, n: int) -> None:
    what = "series metadata"
    need_ok(server, what, r, "application/dicom+json")
    try:
        body = r.json()
    except ValueError:
        raise EndpointError(f"{server.name} {what}: body is not JSON") from None
    if not isinstance(body, list) or len(body) != n:
        raise EndpointError(f"{server.name} {what}: expected a JSON array of {n} instances, got "
                            f"{len(body) if isinstance(body, list) else type(body).__name__}")
    missing = [t for t in ("00080018", "00200032", "00280010", "00280030") if t not in body[0]]
    if missing:
        raise EndpointError(f"{server.name} {what}: first instance lacks {', '.join(missing)}")
    pix = body[0].get("7FE00010")
    if pix is not None and "InlineBinary" in pix:
        raise EndpointError(f"{server.name} {what}: Pixel Data returned inline instead of as BulkDataURI")


def measure_qido(server: Server, q: dict, manifest: dict, args, res: dict) -> None:
    url = f"{server.root}/studies?{q['query']}"
    s = session()
    what = f"QIDO {q['label']}"
    _, r = get(s, server, what, url, "application/dicom+json")
    found = qido_results(server, what, r)
    res[q["id"] + "_count"] = len(found)
    res[q["id"] + "_wrong"] = check_qido_answer(q, found, manifest)
    for _ in range(3):
        get(s, server, what, url, "application/dicom+json")

    def one(_i):
        sec, r = get(s, server, what, url, "application/dicom+json")
        if r.status_code not in (200, 204):
            qido_results(server, what, r)
        return sec

    lat, info = timed_loop(server, what, args.qido_n, args.budget, one)
    res[q["id"] + "_p50_ms"] = statistics.median(lat) * 1e3
    res[q["id"] + "_p95_ms"] = pct(lat, 95) * 1e3
    res[q["id"] + "_cpu_ms"] = info["server_cpu_s"] / info["requests"] * 1e3
    res[q["id"] + "_client_cpu_ms"] = info["client_cpu_s"] / info["requests"] * 1e3
    log(f"  {server.name} {what}: p50 {res[q['id'] + '_p50_ms']:.1f} ms, p95 {res[q['id'] + '_p95_ms']:.1f} ms, "
        f"{len(found)} studies (expected {q['expected']})")


def measure_metadata_warm(server: Server, manifest: dict, args, res: dict) -> None:
    big = manifest["big"]
    url = f"{server.root}/studies/{big['study']}/series/{big['series']}/metadata"
    s = session()
    what = "series metadata"
    _, r = get(s, server, what, url, "application/dicom+json")  # warm-up, checked
    check_metadata(server, r, len(big["instances"]))

    def one(_i):
        sec, r = get(s, server, what, url, "application/dicom+json")
        need_ok(server, what, r, "application/dicom+json")
        if len(r.content) < res.get("metadata_bytes", 0) // 2:
            raise EndpointError(f"{server.name} {what}: response shrank to {len(r.content)} bytes")
        return sec

    lat, info = timed_loop(server, what, args.metadata_n, args.budget, one)
    res["metadata_p50_ms"] = statistics.median(lat) * 1e3
    res["metadata_p95_ms"] = pct(lat, 95) * 1e3
    res["metadata_cpu_ms"] = info["server_cpu_s"] / info["requests"] * 1e3
    res["metadata_client_cpu_ms"] = info["client_cpu_s"] / info["requests"] * 1e3
    log(f"  {server.name} {what}: warm p50 {res['metadata_p50_ms']:.0f} ms over {info['requests']} requests")


def instance_url(server: Server, manifest: dict, i: int) -> str:
    big = manifest["big"]
    uids = big["instances"]
    return f"{server.root}/studies/{big['study']}/series/{big['series']}/instances/{uids[i % len(uids)]}"


def measure_frames(server: Server, manifest: dict, args, res: dict) -> None:
    frame_bytes = BIG_SIZE * BIG_SIZE * 2
    what = "frames"
    s = session()
    for i in range(min(10, len(manifest["big"]["instances"]))):  # checked warm-up
        _, r = get(s, server, what, instance_url(server, manifest, i) + "/frames/1", FRAME_ACCEPT)
        check_multipart_frame(server, what, r, frame_bytes)
        if i == 0:
            part_head = r.content.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            res["frames_part_headers"] = " | ".join(line for line in part_head.split("\r\n")
                                                    if line.lower().startswith(("content-type", "content-length")))
    offset = 1000003 % len(manifest["big"]["instances"])

    def one(sess, i):
        sec, r = get(sess, server, what, instance_url(server, manifest, i + offset) + "/frames/1", FRAME_ACCEPT)
        check_multipart_frame(server, what, r, frame_bytes)
        return sec

    out = concurrent_loop(server, what, args.frames, args.threads, args.budget, one)
    res["frames_per_s"] = out["per_s"]
    res["frames_p50_ms"] = out["p50_ms"]
    res["frames_cpu_ms"] = out["server_cpu_s"] / out["requests"] * 1e3
    res["frames_client_cpu_ms"] = out["client_cpu_s"] / out["requests"] * 1e3
    res["frames_n"] = out["requests"]
    log(f"  {server.name} frames: {out['per_s']:.0f} frames/s with {args.threads} clients "
        f"({out['requests']} frames in {out['wall_s']:.1f} s), p50 {out['p50_ms']:.1f} ms")


def measure_rendered(server: Server, manifest: dict, args, res: dict) -> None:
    what = "rendered"
    s = session()
    for i in range(5):
        _, r = get(s, server, what, instance_url(server, manifest, 250 + i) + "/rendered", "image/jpeg")
        check_jpeg(server, what, r)
        if i == 0:
            res["rendered_bytes"] = len(r.content)

    def one(i):
        sec, r = get(s, server, what, instance_url(server, manifest, i) + "/rendered", "image/jpeg")
        check_jpeg(server, what, r)
        return sec

    lat, info = timed_loop(server, what, args.rendered_n, args.budget, one)
    res["rendered_p50_ms"] = statistics.median(lat) * 1e3
    res["rendered_p95_ms"] = pct(lat, 95) * 1e3
    res["rendered_cpu_ms"] = info["server_cpu_s"] / info["requests"] * 1e3
    res["rendered_client_cpu_ms"] = info["client_cpu_s"] / info["requests"] * 1e3

    def one_c(sess, i):
        sec, r = get(sess, server, what, instance_url(server, manifest, i + 123) + "/rendered", "image/jpeg")
        check_jpeg(server, what, r)
        return sec

    out = concurrent_loop(server, what, args.rendered_n * 2, args.threads, args.budget, one_c)
    res["rendered_per_s"] = out["per_s"]
    log(f"  {server.name} rendered: p50 {res['rendered_p50_ms']:.1f} ms (1 client), "
        f"{out['per_s']:.0f}/s with {args.threads} clients")


# ==========================================================================
# Report
# ==========================================================================

# (result key, label, unit, higher is better, goal factor or None)
def metric_rows(queries: list[dict]) -> list[tuple]:
    rows = []
    for q in queries:
        rows.append((q["id"] + "_p50_ms", f"QIDO-RS {q['label']}: p50", "ms", False, GOAL_QIDO))
        rows.append((q["id"] + "_p95_ms", f"QIDO-RS {q['label']}: p95", "ms", False, None))
    rows += [
        ("metadata_cold_ms", f"Series metadata ({BIG_SLICES} instances): first request after start", "ms", False,
         GOAL_METADATA),
        ("metadata_p50_ms", f"Series metadata ({BIG_SLICES} instances): warm p50", "ms", False, GOAL_METADATA),
        ("frames_per_s", "Frames (multipart, transfer-syntax=*): throughput, {threads} clients", "frames/s", True,
         GOAL_FRAMES),
        ("frames_p50_ms", "Frames: p50 latency under that load", "ms", False, None),
        ("rendered_p50_ms", "Rendered (image/jpeg): p50, 1 client", "ms", False, GOAL_RENDERED),
        ("rendered_per_s", "Rendered (image/jpeg): throughput, {threads} clients", "images/s", True, GOAL_RENDERED),
    ]
    return rows


def fmt_val(v, unit: str) -> str:
    if v is None:
        return "–"
    if unit == "ms":
        return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def build_report(args, manifest: dict, results: dict, errors: dict, versions: dict, loads: dict,
                 queries: list[dict], started: str) -> str:
    systems = [s for s in ("Yunying", "Orthanc") if s in results]
    checked = [s for s in ("Yunying", "Yunying (access on)", "Orthanc") if s in results]
    L = [
        "# DICOMweb benchmark: Yunying vs Orthanc + DICOMweb plugin",
        "",
        "Generated by `benches/dicomweb.py`; do not edit by hand.",
        "",
        f"- Date: {started}",
        f"- Machine: {ib.machine_line()}",
        f"- Load average before the benchmark started (1/5/15 min): {ib.LOADAVG_AT_START}",
        f"- Data directory: `{CACHE_ROOT}` ({fs_of(CACHE_ROOT)})",
        f"- Dataset: {dataset_description(manifest)}",
    ]
    if manifest["instances"] < 100_000:
        L.append(f"- ⚠ {manifest['instances']:,} instances is below the 100,000 of the acceptance configuration "
                 "(`python3 benches/dicomweb.py` with no options): a development run, not the published figures")
    if float(ib.LOADAVG_AT_START.split(" / ")[0]) > 0.5:
        L.append("- ⚠ The machine was not idle when the run started (load average above): numbers are noisy")
    for name in systems:
        L.append(f"- {name}: {versions.get(name, '?')}")
    L += [
        f"- Client: Python {platform.python_version()} `http.client`, one keep-alive connection per client "
        f"thread (TCP_NODELAY), on the same machine; `Accept-Encoding: identity` to both servers",
        f"- Command: `{ib.command_line()}`",
        "",
    ]
    if loads:
        L += ["Loading (not measured against each other; each server's fastest honest loader):", ""]
        L.append(f"- Generation: {fmt_dur(manifest.get('generation_s', 0))} for {manifest['files']:,} files "
                 f"({manifest['bytes'] / 1e9:.2f} GB), {manifest.get('generated_at', '?')}")
        for name, ld in loads.items():
            L.append(f"- {name}: {fmt_dur(ld['seconds'])} ({ld['rate']:,.0f} instances/s), {ld['method']}, "
                     f"{ld.get('at', '?')}")
        L.append("")
    L += ["## Results", "",
          "Speed-up = how many times faster Yunying is (Orthanc latency ÷ Yunying latency, or Yunying "
          "throughput ÷ Orthanc throughput). Goal met = speed-up ≥ the goal.", ""]
    L += ["| Metric | Yunying | Orthanc | Unit | Speed-up | Goal | Goal met |", "|---|---:|---:|---|---:|---:|---|"]
    goal_lines = []
    for key, label, unit, higher, goal in metric_rows(queries):
        label = label.format(threads=args.threads)
        y = results.get("Yunying", {}).get(key)
        o = results.get("Orthanc", {}).get(key)
        ratio = None
        if y and o:
            ratio = (y / o) if higher else (o / y)
        goal_txt = f"≥ {goal:g}×" if goal else "–"
        if goal is None:
            met = "–"
        elif ratio is None:
            why = [f"{s}: {errors[s][metric_family(key)]['short']}" for s in ("Yunying", "Orthanc")
                   if (results.get(s, {}).get(key) is None) and s in errors and metric_family(key) in errors[s]]
            met = "no (" + "; ".join(why) + ")" if why else ("–" if len(systems) < 2 else "no (not measured)")
        else:
            met = "**yes**" if ratio >= goal else "**no**"
        if goal and ratio is not None:
            goal_lines.append(ratio >= goal)
        L.append(f"| {label} | {fmt_val(y, unit)} | {fmt_val(o, unit)} | {unit} | "
                 f"{f'{ratio:.2f}×' if ratio else '–'} | {goal_txt} | {met} |")
    L.append("")
    if len(systems) == 2:
        L += [f"Goals met: {sum(goal_lines)} of {sum(1 for r in metric_rows(queries) if r[4])}.", ""]

    if "Yunying (access on)" in results and "Yunying" in results:
        on, off = results["Yunying (access on)"], results["Yunying"]
        L += ["### Access control: on against off", "",
              "The same process and data: `Yunying` asked without credentials from loopback "
              "(`access.anonymous = \"loopback\"`, no access lookups), `Yunying (access on)` as a signed-in "
              "radiologist of the institution that holds the data (session cookie: the session and account read, "
              "QIDO-RS scoped in SQL, each WADO-RS study checked). Goal: at most 5% slower; and still ahead of "
              "Orthanc by the goals above.", "",
              "| Metric | off | on | Unit | On vs off | Goal | Goal met | On vs Orthanc |",
              "|---|---:|---:|---|---:|---:|---|---:|"]
        for key, label, unit, higher, goal in metric_rows(queries):
            if not (key.endswith("_p50_ms") and key.startswith(("q", "frames"))) and key != "frames_per_s":
                continue
            a, b = off.get(key), on.get(key)
            o = results.get("Orthanc", {}).get(key)
            if a is None or b is None:
                L.append(f"| {label.format(threads=args.threads)} | {fmt_val(a, unit)} | {fmt_val(b, unit)} | {unit} | – | ≤ 5% | – | – |")
                continue
            slower = (a / b - 1) if higher else (b / a - 1)
            vs = ((b / o) if higher else (o / b)) if o else None
            vs_txt = f"{vs:.2f}×" + ("" if not goal or vs >= goal else " ⚠") if vs else "–"
            L.append(f"| {label.format(threads=args.threads)} | {fmt_val(a, unit)} | {fmt_val(b, unit)} | {unit} | "
                     f"{slower * 100:+.1f}% | ≤ 5% | {'**yes**' if slower <= 0.05 else '**no**'} | {vs_txt} |")
        L.append("")

    L += ["### Correctness checks", "",
          "QIDO-RS: studies returned (limit 101) vs what the dataset contains (case-insensitive `wang*`, as "
          "OHIF users type it):", "",
          "| Query | Expected | " + " | ".join(checked) + " |", "|---|---:|" + "---:|" * len(checked)]
    problems = []
    for q in queries:
        cells = []
        for s in checked:
            c = results[s].get(q["id"] + "_count")
            wrong = results[s].get(q["id"] + "_wrong") or []
            cell = "–" if c is None else (f"{c}" if c == q["expected"] else f"{c} ⚠")
            if wrong:
                cell += f", {len(wrong)} wrong ⚠"
                problems.append(f"- {s}, `{q['label']}`: {len(wrong)} problem(s), e.g. {wrong[0]}")
            cells.append(cell)
        L.append(f"| `{q['label']}` | {q['expected']} | " + " | ".join(cells) + " |")
    L += ["", "Each returned study was also checked against the dataset: it matches the query, and its "
          "PatientName (all component groups, e.g. `Wang^Wei=王^伟`) is the stored one."
          + (" Problems:" if problems else " No problems."), ""] + problems
    L += ["",
          f"Every frame response was checked: HTTP 200, `multipart/related`, exactly one part whose "
          f"`Content-Type` is `application/octet-stream; transfer-syntax=<UID>`, {BIG_SIZE}×{BIG_SIZE}×2 bytes "
          "for a native transfer syntax. Every rendered response: HTTP 200, `image/jpeg`, JPEG SOI marker. "
          f"Series metadata: a JSON array of {BIG_SLICES} objects with SOP Instance UID, Image Position, Rows and "
          "Pixel Spacing, no inline Pixel Data.", ""]
    for s in systems:
        ph = results[s].get("frames_part_headers")
        if ph:
            L.append(f"- {s} frame part headers: `{ph}`")
    for s in systems:
        if results[s].get("metadata_bytes"):
            L.append(f"- {s} series metadata response: {results[s]['metadata_bytes'] / 1e6:.2f} MB; rendered JPEG: "
                     f"{results[s].get('rendered_bytes', 0) / 1e3:.0f} kB")
    L.append("")

    L += ["### CPU per request", "",
          "User + system CPU milliseconds of the server process during each timed loop ÷ requests (from /proc; "
          "10 ms ticks, so small values are coarse), and of the Python client for the same requests. On a "
          "2-core machine shared by client and server this is fairer than wall time; where the client's share "
          "is large, the client bounds the throughput.", "",
          "| Request | " + " | ".join(f"{s} server | client for {s}" for s in systems) + " |",
          "|---|" + "---:|---:|" * len(systems)]
    cpu_rows = [(q["id"] + "_cpu_ms", f"QIDO {q['label']}") for q in queries] + [
        ("metadata_cpu_ms", "series metadata (warm)"), ("frames_cpu_ms", "frame"),
        ("rendered_cpu_ms", "rendered (1 client)")]
    for key, label in cpu_rows:
        ckey = key.replace("_cpu_ms", "_client_cpu_ms")
        L.append(f"| {label} | " + " | ".join(f"{fmt_val(results[s].get(key), 'ms')} | "
                                              f"{fmt_val(results[s].get(ckey), 'ms')}" for s in systems) + " |")
    L.append("")
    if any(errors.values()):
        L += ["### Errors", ""]
        for s, errs in errors.items():
            for fam, e in errs.items():
                L.append(f"- {s}, {fam}: {e['msg']}")
        L.append("")
    L += ["### Method", "",
          "- Both servers hold the same files, loaded before the clock starts (and cached between runs); "
          "both run at the same time on loopback, measured one after the other for each metric "
          "(Orthanc first for even metrics, Yunying first for odd ones).",
          "- First request after start: the series metadata request is the first DICOMweb request each server "
          "gets after starting (its own caches are empty; the OS page cache is not dropped).",
          f"- QIDO-RS: 3 warm-up requests, then {args.qido_n} sequential; series metadata: {args.metadata_n} "
          f"sequential after one warm-up; frames: 10 checked warm-ups, then {args.frames} requests for frame 1 "
          f"of the {BIG_SLICES} instances in turn from {args.threads} client threads; rendered: 5 warm-ups, "
          f"{args.rendered_n} sequential, then {2 * args.rendered_n} from {args.threads} threads. Each loop "
          f"stops early after {args.budget:.0f} s (then fewer requests are counted).",
          "- The client runs on the same cores (see its CPU per request above): at high request rates it "
          "bounds both servers' throughput, which narrows ratios rather than widening them.",
          "- Orthanc configuration: see `orthanc_config()` in `benches/dicomweb.py` and benches/README.md.",
          ""]
    return "\n".join(L)


def metric_family(key: str) -> str:
    return key.split("_")[0] if not key.startswith("qido") else "_".join(key.split("_")[:2])


def fs_of(path: Path) -> str:
    try:
        r = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", str(path)], capture_output=True, text=True, timeout=5)
        return " ".join(r.stdout.split()) or "?"
    except Exception:  # noqa: BLE001
        return "?"


# ==========================================================================
# Main
# ==========================================================================


def prepare(args) -> tuple[Path, dict, dict]:
    """Dataset and both stores, cached. Returns (root, manifest, load info)."""
    key = dataset_key(args)
    root = CACHE_ROOT / key
    if args.fresh:
        log(f"--fresh: removing {root}")
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    mpath = root / "manifest.json"
    if mpath.exists():
        manifest = json.loads(mpath.read_text())
        log(f"reusing dataset {root} ({manifest['instances']:,} instances)")
    else:
        for stale in ("orthanc", "yunying"):
            shutil.rmtree(root / stale, ignore_errors=True)
        manifest = generate_dataset(args, root)
        mpath.write_text(json.dumps(manifest))
    loads = {}
    if args.only in ("orthanc", "both"):
        store = root / "orthanc"
        marker = store / "loaded.json"
        if "orthanc" in args.reload:
            marker.unlink(missing_ok=True)
        if not marker.exists():
            shutil.rmtree(store, ignore_errors=True)
            orthanc = Orthanc(orthanc_binary(), store, args)
            log(f"loading {manifest['instances']:,} files into Orthanc ({args.orthanc_loader}, "
                f"{args.load_threads} concurrent)")
            if args.orthanc_loader == "rest":
                info = load_orthanc(orthanc, all_files(root / "dicom"), args.load_threads)
            else:
                info = load_orthanc_storescu(orthanc, root / "dicom", args.load_threads, manifest["instances"])
            info["at"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            marker.write_text(json.dumps(info))
            log(f"Orthanc loaded in {fmt_dur(info['seconds'])} ({info['rate']:.0f} instances/s)")
        loads["Orthanc"] = json.loads(marker.read_text())
    if args.only in ("yunying", "both"):
        store = root / "yunying"
        marker = store / "loaded.json"
        if "yunying" in args.reload:
            marker.unlink(missing_ok=True)
        if not marker.exists():
            info = load_yunying(yunying_binary(args), store, root / "dicom", args.import_jobs, manifest["instances"])
            info["at"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            info["binary_version"] = ib.version_of([yunying_binary(args), "--version"])
            info["binary_mtime"] = os.path.getmtime(yunying_binary(args))
            marker.write_text(json.dumps(info))
            log(f"Yunying loaded in {fmt_dur(info['seconds'])} ({info['rate']:.0f} instances/s)")
        loads["Yunying"] = json.loads(marker.read_text())
        if loads["Yunying"].get("binary_mtime") != os.path.getmtime(yunying_binary(args)):
            log("note: the Yunying binary changed since its store was imported; if its storage format or "
                "index schema changed, rerun with --reload yunying")
    return root, manifest, loads


def orthanc_binary() -> str:
    return ib.find_binary(ORTHANC_CANDIDATES + [shutil.which("Orthanc") or ""], "Orthanc",
                          "Install it with `apt-get install orthanc orthanc-dicomweb`, or use --only yunying.")


def yunying_binary(args) -> str:
    return ib.find_binary([args.yunying or ib.default_yunying()], "Yunying binary",
                          "Build it with `cargo build --release`, pass --yunying PATH, or use --only orthanc.")


def run(args) -> tuple[str, bool]:
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        import numpy  # noqa: F401
        import pydicom  # noqa: F401
        if args.orthanc_loader == "rest":
            import requests  # noqa: F401
    except ImportError as e:
        raise BenchError(f"missing Python package: {e.name} (pip install pydicom numpy requests)") from None
    if args.only in ("orthanc", "both"):
        orthanc_binary()
        orthanc_plugin()
    if args.only in ("yunying", "both"):
        yunying_binary(args)
    root, manifest, loads = prepare(args)
    if args.load_only:
        return "dataset and stores ready", True

    servers: list[Server] = []
    if args.only in ("orthanc", "both"):
        servers.append(Orthanc(orthanc_binary(), root / "orthanc", args))
    if args.only in ("yunying", "both"):
        plain = Yunying(yunying_binary(args), root / "yunying")
        servers.append(plain)
        if not args.no_access:
            servers.append(YunyingScoped(plain))
    os.sync()
    results: dict[str, dict] = {s.name: {} for s in servers}
    errors: dict[str, dict] = {s.name: {} for s in servers}
    versions: dict[str, str] = {}
    try:
        for s in servers:
            log(f"starting {s.name}")
            try:
                s.start()
            except BenchError as e:
                raise BenchError(f"{e}\n(if the store was loaded by an older build, try --reload {s.name.lower()})") from None
            n = s.count()
            versions[s.name] = s.version()
            results[s.name]["count"] = n
            if n is not None and n != manifest["instances"]:
                raise BenchError(f"{s.name} holds {n} instances, the dataset has {manifest['instances']}: "
                                 f"rerun with --reload {s.name.lower()}")
            log(f"{s.name} ready on {s.base}: {versions[s.name]}, {n if n is not None else '?'} instances")

        def attempt(s: Server, family: str, fn, *a) -> None:
            if s.proc.poll() is not None:
                errors[s.name][family] = {"msg": f"{s.name} exited (code {s.proc.returncode})"
                                                 f"{ib.log_tail(s.logfile, 5)}", "short": "server exited"}
                return
            try:
                fn(s, *a, results[s.name])
            except EndpointError as e:
                msg = str(e).split("\n")[0]
                errors[s.name][family] = {"msg": msg, "short": e.short}
                log(f"  ERROR: {msg}")

        queries = qido_queries(manifest)
        steps = [("metadata", lambda s, r: measure_metadata_cold(s, manifest, r))]
        steps += [(q["id"], (lambda q: lambda s, r: measure_qido(s, q, manifest, args, r))(q)) for q in queries]
        steps += [("metadata", lambda s, r: measure_metadata_warm(s, manifest, args, r)),
                  ("frames", lambda s, r: measure_frames(s, manifest, args, r)),
                  ("rendered", lambda s, r: measure_rendered(s, manifest, args, r))]
        for k, (family, fn) in enumerate(steps):
            log(f"measuring {family}" if family != "metadata" or k == 0 else "measuring metadata (warm)")
            order = servers if k % 2 == 0 else list(reversed(servers))
            for s in order:
                if family in errors[s.name] and family != "metadata":
                    continue
                if family == "metadata" and k > 0 and "metadata" in errors[s.name]:
                    continue
                attempt(s, family, fn)
        for s in servers:
            results[s.name]["rss_mb_end"] = s.rss_mb()
    finally:
        for s in servers:
            s.stop()
    report = build_report(args, manifest, results, errors, versions, loads, queries, started)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")
    raw = {"command": ib.command_line(), "date": started, "dataset": {k: v for k, v in manifest.items()
                                                                       if k != "study_index"},
           "loads": loads, "versions": versions, "results": results, "errors": errors}
    raw["dataset"]["big"] = {k: v for k, v in manifest["big"].items() if k != "instances"}
    log(f"wrote {out}")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {args.json}")
    return report, not any(errors.values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="DICOMweb benchmark: Yunying vs Orthanc 1.10.1 + DICOMweb plugin on the same data, same run.",
        epilog=f"Dataset and loaded stores are cached in {CACHE_ROOT}/<key>/ (override with $YUNYING_BENCH_CACHE); "
               "a later run with the same dataset options skips generation and loading.")
    p.add_argument("--instances", type=int, default=100_000, help="instances in the index [100000]")
    p.add_argument("--studies", type=int, help="small studies [instances/100]")
    p.add_argument("--small-size", type=int, default=64, help="rows = columns of the small instances [64]")
    p.add_argument("--seed", type=int, default=1, help="dataset seed [1]")
    p.add_argument("--fresh", action="store_true", help="regenerate the dataset and reload both servers")
    p.add_argument("--reload", default="", help="reload these stores from the cached files: orthanc, yunying "
                                                "or orthanc,yunying (e.g. after a Yunying storage format change)")
    p.add_argument("--yunying", help="yunying binary [$CARGO_TARGET_DIR/release/yunying, "
                                     "else ~/.cache/yunying/target/release/yunying, else ./target/release/yunying]")
    p.add_argument("--only", choices=["orthanc", "yunying", "both"], default="both", help="systems to run [both]")
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "dicomweb.md"),
                   help="Markdown report [benches/results/dicomweb.md]")
    p.add_argument("--json", help="also write every number (and any error) to this JSON file")
    p.add_argument("--threads", type=int, default=4, help="concurrent clients for frames and rendered [4]")
    p.add_argument("--qido-n", type=int, default=50, help="timed requests per QIDO query [50]")
    p.add_argument("--metadata-n", type=int, default=10, help="timed warm series-metadata requests [10]")
    p.add_argument("--frames", type=int, default=2000, help="frames fetched in the throughput test [2000]")
    p.add_argument("--rendered-n", type=int, default=100, help="timed rendered requests (1 client; twice that "
                                                                "with --threads clients) [100]")
    p.add_argument("--budget", type=float, default=120, help="upper bound in seconds on each timed loop [120]")
    p.add_argument("--gen-procs", type=int, default=2, help="generator processes [2]")
    p.add_argument("--orthanc-loader", choices=["storescu", "rest"], default="storescu",
                   help="how to load Orthanc: DCMTK storescu processes or REST POST /instances threads [storescu]")
    p.add_argument("--load-threads", type=int, default=4, help="concurrent storescu processes / REST uploads "
                                                               "loading Orthanc [4]")
    p.add_argument("--import-jobs", type=int, default=4, help="`yunying import --jobs` [4]")
    p.add_argument("--orthanc-cache-mb", type=int, default=1024, help="Orthanc MaximumStorageCacheSize (MB) [1024]")
    p.add_argument("--orthanc-storage-access", choices=["Always", "Answers", "Never"], default="Always",
                   help="Orthanc StorageAccessOnFind [Always]")
    p.add_argument("--load-only", action="store_true", help="generate and load, measure nothing")
    p.add_argument("--no-access", action="store_true", help="skip Yunying with access control on (an "
                                                            "institution's API key) next to it off")
    args = p.parse_args(argv)
    if args.studies is None:
        args.studies = max(10, (args.instances - BIG_SLICES) // 100)
    args.reload = {x.strip().lower() for x in args.reload.split(",") if x.strip()}
    if args.reload - {"orthanc", "yunying"}:
        p.error("--reload takes orthanc, yunying or orthanc,yunying")
    if args.instances < BIG_SLICES + 2 * args.studies:
        p.error(f"--instances must be at least {BIG_SLICES} + 2 × --studies")
    if min(args.threads, args.qido_n, args.metadata_n, args.frames, args.rendered_n) < 1:
        p.error("counts must be at least 1")
    signal.signal(signal.SIGTERM, ib._on_sigterm)
    try:
        report, ok = run(args)
    except BenchError as e:
        print(f"dicomweb.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted: servers stopped (cached data kept; an interrupted load is redone next time)")
        return 130
    except SystemExit as e:
        log("terminated: servers stopped")
        return e.code if isinstance(e.code, int) else 1
    finally:
        ib._kill_all()
    print(report)
    if not ok:
        print("dicomweb.py: some endpoints failed; see 'Errors' in the report", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
