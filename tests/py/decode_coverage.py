"""Decode coverage: Yunying against pydicom, on every pixel-bearing file we have.

Candidates: testdata/dicom/*.dcm, pydicom's bundled test files
(``<pydicom>/data/test_files``, recursively) and the ``pydicom-data``
package (module ``data_store``, its ``data`` directory). Only files on disk
are read: nothing is downloaded.

Two modes:

    python3 tests/py/decode_coverage.py --collect DIR [--testdata testdata/dicom]
        Keeps the candidates that have Pixel Data, a file meta with a standard
        transfer syntax, a storage SOP class, and that pydicom (with pylibjpeg,
        pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls) decodes; copies them
        to DIR with DIR/manifest.json and prints every skip with its reason.
        A file whose SOP Instance UID an earlier kept file already has is
        copied with a new SOP Instance UID (in the dataset and the file meta);
        its Pixel Data bytes are untouched (checked).

    python3 tests/py/decode_coverage.py --url http://HOST:PORT/dicom-web --dir DIR \
            [--renditions DIR/renditions.json]
        Checks each kept file against a running Yunying that imported DIR and
        finished its rendition jobs. One ``ok``/``FAIL`` line per check; exit
        status 1 if any check failed.

Checks per file:

* ``frames``: every frame, fetched decoded (WADO-RS frames, transfer-syntax
  1.2.840.10008.1.2.1), equals pydicom's ``pixel_array`` frame. Layout of
  Yunying's output: little-endian samples of Bits Allocated, interleaved
  colour; DCT JPEG with 3 samples and JPEG 2000 YBR_RCT/YBR_ICT come out as
  RGB (compared with pydicom's RGB output, ``as_rgb=True``); everything
  else in the stored colour space (compared with ``as_rgb=False``); native
  YBR_FULL_422 keeps its subsampled Y1 Y2 Cb Cr layout (expanded here before
  comparing); 1-bit native frames stay packed (unpacked here). Native data
  are compared on the Bits Stored bits (masked, then sign-extended if
  signed): Yunying keeps the bits above Bits Stored of native frames as
  stored. Decompressed frames are compared as they are (Yunying
  sign-extends them).

  Tolerances (differences in stored sample units):
    - lossless syntaxes (native, RLE, JPEG lossless 4.57/4.70, JPEG-LS
      lossless 4.80, JPEG 2000 lossless 4.90, HTJ2K lossless 4.201/4.202):
      identical;
    - JPEG baseline/extended (4.50, 4.51), 8- and 12-bit: mean |diff| <= 1.0
      and max |diff| <= 16. Two DCT decoders (libjpeg-turbo vs libjpeg 9 in
      pylibjpeg-libjpeg) differ in IDCT rounding and chroma upsampling, so
      this is not zero (seen: max 11, mean <= 0.12);
    - JPEG-LS near-lossless (4.81): max |diff| <= NEAR, NEAR read from the
      codestream's first SOS (decoding is deterministic, so 0 is expected;
      NEAR is the bound the encoder promised against the original);
    - JPEG 2000 / HTJ2K possibly lossy (4.91, 4.203): max |diff| <= 1 (both
      sides use OpenJPEG; the irreversible wavelet is computed in floating
      point, so a rounding step of 1 is allowed).

* ``thumbnail`` and ``preview``: the rendition job made them (a thumbnail
  and a preview of frame 1 recorded in the index, job not parked, as
  written by the Rust driver to renditions.json), ``.../thumbnail`` and
  ``.../frames/1/rendered`` (no parameters: the stored preview) answer 200
  with a JPEG that is not blank: standard deviation of the grey level (or
  of the most varied RGB channel) > 1.0. A frame that is itself uniform on
  display (stddev <= 1 under its own window, or as 8-bit RGB) must instead
  render uniform (stddev <= 4): pydicom's 16x16 dicomdirtests images lie
  entirely above their window, two RGB test images are nearly flat.
  ``jobs``: the /metrics gauge of parked rendition jobs is 0.

* ``window``: for MONOCHROME1/2 files with a Window Center/Width (top level,
  or frame 1's Frame VOI LUT in the functional groups), frame 1 rendered as
  PNG (no parameters) against pydicom's frame 1 put through the Modality
  LUT / rescale and the dataset's first window (PS3.3 C.11.2.1.2: LINEAR,
  LINEAR_EXACT or SIGMOID per VOI LUT Function), inverted for MONOCHROME1,
  at up to 1600 points on a grid: |diff| <= 8 grey levels at >= 99% of the
  points (all points for lossless syntaxes).
"""

import argparse
import collections
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sys
import warnings

import numpy as np
import pydicom
import requests
from pydicom.uid import UID, generate_uid

warnings.simplefilter("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ELE = "1.2.840.10008.1.2.1"
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
DCT = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
JLS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSY = {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"}
LOSSY = DCT | {JLS_NEAR} | J2K_LOSSY
MONO = ("MONOCHROME1", "MONOCHROME2")
VALID_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


# ---------------------------------------------------------------- collect

def candidate_sources(testdata):
    out = [("testdata", p) for p in sorted(glob.glob(os.path.join(testdata, "*.dcm")))]
    pyd = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    out += [("pydicom", p) for p in sorted(glob.glob(os.path.join(pyd, "**", "*"), recursive=True)) if os.path.isfile(p)]
    try:
        import data_store  # the pydicom-data package
        pdd = os.path.join(os.path.dirname(data_store.__file__), "data")
        out += [("pydicom-data", p) for p in sorted(glob.glob(os.path.join(pdd, "**", "*"), recursive=True)) if os.path.isfile(p)]
    except ImportError:
        print("WARNING: pydicom-data (module data_store) is not installed", file=sys.stderr)
    return out


def skip_reason(path):
    """(None, ds) if the file is kept, else (reason, None)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path)
            ds.get("PixelData")
    except Exception as e:
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:
            return "not readable as DICOM", None
        if "PixelData" not in ds:
            return "not a Part 10 file and no Pixel Data", None
        return f"not a valid Part 10 file ({type(e).__name__})", None
    if "PixelData" not in ds:
        return "no Pixel Data (not an image)", None
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if not ts:
        return "no file meta / Transfer Syntax UID (Yunying cannot store it as is)", None
    if not UID(ts).is_transfer_syntax:
        return f"non-standard transfer syntax {ts}", None
    sop_class = ds.get("SOPClassUID") or getattr(meta, "MediaStorageSOPClassUID", None)
    if not sop_class or "Storage" not in UID(str(sop_class)).name:
        return f"not a standard storage SOP class ({sop_class})", None
    if not ds.get("SOPInstanceUID"):
        return "no SOP Instance UID", None
    if any("but found implicit VR" in str(w.message) or "but found explicit VR" in str(w.message) for w in caught):
        return "dataset VR encoding contradicts its transfer syntax (broken on purpose)", None
    try:
        ds.pixel_array
    except Exception as e:
        first = str(e).strip().splitlines()
        return f"pydicom cannot decode it: {type(e).__name__}: {' '.join(x.strip() for x in first)[:160]}", None
    return None, ds


def collect(args):
    os.makedirs(args.collect, exist_ok=True)
    kept, skipped, seen, digests = [], [], {}, {}
    sources = candidate_sources(args.testdata)
    for origin, path in sources:
        label = f"{origin}:{os.path.basename(path)}"
        reason, ds = skip_reason(path)
        if reason:
            skipped.append((label, reason))
            continue
        data = open(path, "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        if digest in digests:
            skipped.append((label, f"byte-identical copy of {digests[digest]}"))
            continue
        digests[digest] = label
        name = f"{len(kept):03d}_{os.path.basename(path)}"
        if not name.endswith(".dcm"):
            name += ".dcm"
        out = os.path.join(args.collect, name)
        sop = str(ds.SOPInstanceUID)
        renamed = False
        original_sop = sop
        missing = [u for u in ("StudyInstanceUID", "SeriesInstanceUID") if not VALID_UID.match(str(ds.get(u) or ""))]
        bad_uid = not VALID_UID.match(sop)
        meta_differs = str(ds.file_meta.get("MediaStorageSOPInstanceUID", sop)) != sop
        if sop in seen or missing or bad_uid or meta_differs:
            # pydicom's test files reuse UIDs, and a few lack Study/Series
            # Instance UIDs, have an invalid SOP Instance UID or a file meta
            # naming another instance (all of which Yunying refuses at
            # ingest, rightly): a copy with new or matching UIDs, Pixel Data
            # bytes untouched.
            try:
                new = generate_uid(entropy_srcs=[label]) if (sop in seen or bad_uid) else sop
                ds.SOPInstanceUID = new
                ds.file_meta.MediaStorageSOPInstanceUID = new
                for u in missing:
                    setattr(ds, u, generate_uid(entropy_srcs=[label, u]))
                ds.save_as(out, enforce_file_format=True)
                again = pydicom.dcmread(out)
                if again.PixelData != pydicom.dcmread(path).PixelData or again.SOPInstanceUID != new:
                    raise ValueError("Pixel Data changed in the copy")
                sop, renamed = new, new != original_sop
            except Exception as e:
                if os.path.exists(out):
                    os.remove(out)
                why = f"SOP Instance UID of {seen[sop]}" if sop in seen else "UIDs to fix"
                skipped.append((label, f"{why} and no clean copy with new UIDs: {e}"))
                continue
        else:
            shutil.copyfile(path, out)
        seen[sop] = label
        ts = str(ds.file_meta.TransferSyntaxUID)
        kept.append({
            "file": name, "source": label, "sop": sop, "study": str(ds.StudyInstanceUID),
            "series": str(ds.SeriesInstanceUID), "ts": ts, "frames": int(ds.get("NumberOfFrames") or 1),
            "renamed": renamed, "added": missing, "fixed_meta": meta_differs,
        })
    json.dump(kept, open(os.path.join(args.collect, "manifest.json"), "w"), indent=1)
    print(f"candidates {len(sources)}, kept {len(kept)} ({sum(k['renamed'] for k in kept)} copied with a new SOP Instance UID, "
          f"{sum(bool(k['added']) for k in kept)} with missing or invalid Study/Series Instance UIDs replaced, "
          f"{sum(k['fixed_meta'] for k in kept)} with the file meta's SOP Instance UID made the dataset's), skipped {len(skipped)}")
    by_reason = collections.defaultdict(list)
    for label, reason in skipped:
        by_reason[re.sub(r"\(.*", "", reason).strip() if reason.startswith("not a standard storage") else reason].append(label)
    for reason, labels in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print(f"skip ({len(labels)}): {reason}: {', '.join(labels)}")


# ------------------------------------------------------------------ check

class Report:
    def __init__(self):
        self.counts = collections.Counter()
        self.failures = []

    def line(self, ok, check, name, detail=""):
        self.counts[(check, ok)] += 1
        text = f"{'ok' if ok else 'FAIL'} {check} {name}{': ' + detail if detail else ''}"
        print(text, flush=True)
        if not ok:
            self.failures.append(text)


def multipart_parts(resp):
    ctype = resp.headers.get("Content-Type", "")
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        raise ValueError(f"not multipart: {ctype}")
    boundary = b"--" + m.group(1).encode()
    parts = []
    for chunk in resp.content.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, body = chunk.split(b"\r\n\r\n", 1)
        parts.append(body[:-2] if body.endswith(b"\r\n") else body)
    return parts


def jls_near(ds, frame_bytes):
    i = frame_bytes.find(b"\xff\xda")
    if i < 0:
        return None
    ns = frame_bytes[i + 4]
    return frame_bytes[i + 5 + 2 * ns]


def frame_codestream(ds, index):
    from pydicom.encaps import generate_frames
    n = int(ds.get("NumberOfFrames") or 1)
    for k, f in enumerate(generate_frames(ds.PixelData, number_of_frames=n)):
        if k == index:
            return f
    return b""


def normalise(arr, ds):
    """Bits Stored bits only, sign-extended if signed."""
    bs, ba = int(ds.BitsStored), int(ds.BitsAllocated)
    a = arr.astype(np.int64)
    if bs >= ba or ba == 1:
        return a
    a = a & ((1 << bs) - 1)
    if int(ds.PixelRepresentation) == 1:
        a = np.where(a >= (1 << (bs - 1)), a - (1 << bs), a)
    return a


def expected_frame_bytes(ds, ts):
    rows, cols, spp, ba = int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel), int(ds.BitsAllocated)
    if ba == 1:
        return (rows * cols + 7) // 8
    n = rows * cols * spp * ba // 8
    if ts in NATIVE and spp == 3 and str(ds.PhotometricInterpretation) == "YBR_FULL_422":
        n = n // 3 * 2
    return n


def yunying_frames(raw, ds, ts):
    """Candidate readings of a decoded frame: [(layout, array)], and extra bytes."""
    rows, cols, spp = int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel)
    ba, signed = int(ds.BitsAllocated), int(ds.PixelRepresentation) == 1
    need = expected_frame_bytes(ds, ts)
    extra = len(raw) - need
    raw = raw[:need]
    if ba == 1:
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")[: rows * cols]
        return [("packed bits", bits.reshape(rows, cols))], extra
    dtype = np.dtype(("i" if signed else "u") + str(ba // 8)).newbyteorder("<")
    a = np.frombuffer(raw, dtype=dtype)
    if spp == 1:
        return [("", a.reshape(rows, cols))], extra
    if ts in NATIVE and str(ds.PhotometricInterpretation) == "YBR_FULL_422":
        # Y1 Y2 Cb Cr per pixel pair, as stored.
        q = a.reshape(-1, 4)
        out = np.empty((q.shape[0], 2, 3), dtype=a.dtype)
        out[:, :, 0] = q[:, 0:2]
        out[:, :, 1] = q[:, 2:3]
        out[:, :, 2] = q[:, 3:4]
        return [("YBR_FULL_422 as stored", out.reshape(rows, cols, 3))], extra
    readings = [("interleaved", a.reshape(rows, cols, spp))]
    if ts in NATIVE and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        # Native frames served as stored keep the dataset's planar layout.
        readings.insert(0, ("planar as stored", np.moveaxis(a.reshape(spp, rows, cols), 0, -1)))
    return readings, extra


def expected_frames(path, ds, ts):
    from pydicom.pixels import pixel_array
    as_rgb = ts in DCT and int(ds.SamplesPerPixel) == 3
    arr = pixel_array(ds, as_rgb=as_rgb)
    if int(ds.get("NumberOfFrames") or 1) == 1:
        arr = arr[np.newaxis]
    return arr


def compare(got, want, ds, ts, raw_codestream):
    """(ok, detail)."""
    if got.shape != want.shape:
        return False, f"shape {got.shape}, pydicom {want.shape}"
    if ts in NATIVE:
        g, w = normalise(got, ds), normalise(want, ds)
    else:
        g, w = got.astype(np.int64), want.astype(np.int64)
    d = np.abs(g - w)
    mx, mean = int(d.max()), float(d.mean())
    if ts in DCT:
        ok = mean <= 1.0 and mx <= 16
        return ok, f"lossy JPEG: max {mx}, mean {mean:.3f} (tolerance max 16, mean 1.0)"
    if ts == JLS_NEAR:
        near = jls_near(ds, raw_codestream)
        near = 0 if near is None else near
        return mx <= near, f"JPEG-LS near-lossless: max {mx} (tolerance NEAR={near})"
    if ts in J2K_LOSSY:
        return mx <= 1, f"JPEG 2000 lossy: max {mx} (tolerance 1)"
    if mx:
        where = np.argwhere(d > 0)
        first = tuple(int(x) for x in where[0])
        return False, f"lossless but {len(where)} samples differ, max {mx}; first at {first}: yunying {int(g[first])}, pydicom {int(w[first])}"
    return True, "identical"


def first_item(ds, seq):
    s = ds.get(seq)
    return s[0] if s else None


def frame1_transform(ds):
    """(slope, intercept, windows, function) for frame 1."""
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    center, width, func = ds.get("WindowCenter"), ds.get("WindowWidth"), ds.get("VOILUTFunction")
    for group in (first_item(ds, "SharedFunctionalGroupsSequence"), first_item(ds, "PerFrameFunctionalGroupsSequence")):
        if group is None:
            continue
        pvt = first_item(group, "PixelValueTransformationSequence")
        if pvt is not None and "RescaleSlope" in pvt:
            slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
        voi = first_item(group, "FrameVOILUTSequence")
        if voi is not None and "WindowCenter" in voi:
            center, width, func = voi.WindowCenter, voi.WindowWidth, voi.get("VOILUTFunction", func)
    first = lambda v: float(v[0]) if isinstance(v, (list, pydicom.multival.MultiValue)) else (None if v is None else float(v))
    return slope, intercept, first(center), first(width), (str(func) if func else "LINEAR")


def window(x, c, w, func):
    if func == "LINEAR_EXACT":
        y = (x - c) / w + 0.5
    elif func == "SIGMOID":
        return 255.0 / (1 + np.exp(-4 * (x - c) / w))
    else:
        if w < 1:
            w = 1
        y = (x - (c - 0.5)) / (w - 1) + 0.5 if w > 1 else np.where(x <= c - 0.5, 0.0, 1.0)
    return np.clip(y, 0, 1) * 255.0


def windowed_frame1(ds, want1):
    """Frame 1 as the dataset's window displays it (0..255), or None."""
    pi = str(ds.PhotometricInterpretation)
    slope, intercept, c, w, func = frame1_transform(ds)
    if pi not in MONO or c is None or w is None:
        return None
    x = normalise(want1, ds).astype(np.float64)
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut
        mod = apply_modality_lut(want1, ds).astype(np.float64)
    else:
        mod = x * slope + intercept
    exp = window(mod, c, w, func)
    return 255.0 - exp if pi == "MONOCHROME1" else exp


def windowed_frame1_sd(ds, want1):
    """How much frame 1 varies on display (0..255 scale), if known: under
    the dataset's window for monochrome, as is for 8-bit colour."""
    exp = windowed_frame1(ds, want1)
    if exp is not None:
        return float(exp.std())
    if int(ds.SamplesPerPixel) == 3 and int(ds.BitsAllocated) == 8 and str(ds.PhotometricInterpretation) == "RGB":
        return float(want1.reshape(-1, 3).astype(np.float64).std(axis=0).max())
    return None


def check_window(rep, s, name, base, ds, ts, want1):
    from PIL import Image
    pi = str(ds.PhotometricInterpretation)
    slope, intercept, c, w, func = frame1_transform(ds)
    exp = windowed_frame1(ds, want1)
    if exp is None:
        return
    r = s.get(f"{base}/frames/1/rendered", headers={"Accept": "image/png"})
    if r.status_code != 200:
        rep.line(False, "window", name, f"PNG rendered: HTTP {r.status_code}")
        return
    im = np.asarray(Image.open(io.BytesIO(r.content)).convert("L")).astype(np.float64)
    if im.shape != want1.shape[:2]:
        rep.line(False, "window", name, f"PNG is {im.shape}, frame {want1.shape[:2]}")
        return
    rows, cols = im.shape
    ys = np.unique(np.linspace(0, rows - 1, min(rows, 40)).astype(int))
    xs = np.unique(np.linspace(0, cols - 1, min(cols, 40)).astype(int))
    d = np.abs(im[np.ix_(ys, xs)] - exp[np.ix_(ys, xs)])
    within = float((d <= 8).mean())
    need = 0.99 if ts in LOSSY else 1.0
    rep.line(within >= need, "window", name,
             f"{pi} window {c:g}/{w:g} {func} rescale {slope:g}/{intercept:g}: {within * 100:.1f}% of {d.size} points within 8, max {d.max():.0f}")


def not_blank(rep, s, check, name, url, recorded, expected_sd):
    from PIL import Image
    if recorded is not None and not recorded:
        rep.line(False, check, name, "no such rendition recorded in the index")
        return
    r = s.get(url, headers={"Accept": "image/jpeg"})
    if r.status_code != 200:
        rep.line(False, check, name, f"HTTP {r.status_code}: {r.text[:120]}")
        return
    try:
        im = Image.open(io.BytesIO(r.content))
        fmt = im.format
        px = np.asarray(im.convert("RGB") if im.mode not in ("L", "I;16") else im, dtype=np.float64)
        sd = float(px.reshape(-1, px.shape[-1] if px.ndim == 3 else 1).std(axis=0).max())
    except Exception as e:
        rep.line(False, check, name, f"not an image: {e}")
        return
    detail = f"{fmt} {im.size[0]}x{im.size[1]}, stddev {sd:.1f}"
    if expected_sd is not None and expected_sd <= 1.0:
        # Uniform on display (under the dataset's own window): blank is right.
        rep.line(fmt == "JPEG" and sd <= 4.0, check, name, detail + f" (frame 1 itself is uniform on display: stddev {expected_sd:.2f})")
        return
    rep.line(fmt == "JPEG" and sd > 1.0, check, name, detail)


def run_checks(args):
    kept = json.load(open(os.path.join(args.dir, "manifest.json")))
    rend = json.load(open(args.renditions)) if args.renditions else {}
    rep = Report()
    s = requests.Session()
    metrics = s.get(args.url.rsplit("/dicom-web", 1)[0] + "/metrics").text
    m = re.search(r'yunying_rendition_jobs\{state="parked"\} (\d+)', metrics)
    parked = int(m.group(1)) if m else -1
    rep.line(parked == 0, "jobs", "all", f"{parked} parked rendition jobs")
    by_ts = collections.Counter()
    for k in kept:
        try:
            check_file(rep, s, args, k, rend, by_ts)
        except Exception as e:
            rep.line(False, "frames", k["source"], f"check crashed: {type(e).__name__}: {e}")
    return report_totals(rep, kept, by_ts)


def check_file(rep, s, args, k, rend, by_ts):
    path = os.path.join(args.dir, k["file"])
    name = f"{k['source']} [{UID(k['ts']).name}]"
    ds = pydicom.dcmread(path)
    ts = k["ts"]
    by_ts[ts] += 1
    base = f"{args.url}/studies/{k['study']}/series/{k['series']}/instances/{k['sop']}"
    want = expected_frames(path, ds, ts)
    accept = f'multipart/related; type="application/octet-stream"; transfer-syntax={ELE}'
    details, ok_all = [], True
    for n in range(1, k["frames"] + 1):
        r = s.get(f"{base}/frames/{n}", headers={"Accept": accept})
        if r.status_code != 200:
            ok_all, details = False, [f"frame {n}: HTTP {r.status_code}: {r.text[:160]}"]
            break
        try:
            parts = multipart_parts(r)
            readings, extra = yunying_frames(parts[0], ds, ts)
        except Exception as e:
            ok_all, details = False, [f"frame {n}: unusable response: {e}"]
            break
        code = b"" if ts in NATIVE else frame_codestream(ds, n - 1)
        for layout, got in readings:
            ok, detail = compare(got, want[n - 1], ds, ts, code)
            if ok:
                break
        if layout and len(readings) > 1:
            detail += f" ({layout})"
        if extra:
            ok = False
            detail += f"; but the frame has {extra} byte(s) {'beyond' if extra > 0 else 'missing from'} the {expected_frame_bytes(ds, ts)} its attributes give"
        if not ok or n == 1:
            details.append(f"frame {n}: {detail}")
        if not ok:
            ok_all = False
            break
    rep.line(ok_all, "frames", name, f"{k['frames']} frame(s); " + "; ".join(details))
    info = rend.get(k["sop"])
    if info and info.get("parked"):
        rep.line(False, "renditions", name, f"job parked: {info['parked']}")
    try:
        windowed_sd = windowed_frame1_sd(ds, want[0])
    except Exception:
        windowed_sd = None
    not_blank(rep, s, "thumbnail", name, f"{base}/thumbnail", None if info is None else info.get("thumbnails", 0) == 1, windowed_sd)
    not_blank(rep, s, "preview", name, f"{base}/frames/1/rendered", None if info is None else 1 in info.get("previews", []), windowed_sd)
    try:
        check_window(rep, s, name, base, ds, ts, want[0])
    except Exception as e:
        rep.line(False, "window", name, f"check failed: {type(e).__name__}: {e}")


def report_totals(rep, kept, by_ts):
    print(f"files checked: {len(kept)}; by transfer syntax: " + ", ".join(f"{UID(t).name}: {n}" for t, n in by_ts.most_common()))
    for check in ("jobs", "frames", "renditions", "thumbnail", "preview", "window"):
        print(f"{check}: {rep.counts[(check, True)]} ok, {rep.counts[(check, False)]} FAIL")
    print("tolerances: lossless identical; JPEG 4.50/4.51 mean<=1.0, max<=16; "
          "JPEG-LS 4.81 max<=NEAR; JPEG 2000 4.91/4.203 max<=1; window: 8 grey levels at 99% (lossy) / 100% of points")
    if rep.failures:
        print(f"\n{len(rep.failures)} FAILED:")
        for f in rep.failures:
            print("  " + f)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--collect", metavar="DIR")
    p.add_argument("--testdata", default=os.path.join(ROOT, "testdata", "dicom"))
    p.add_argument("--url")
    p.add_argument("--dir")
    p.add_argument("--renditions")
    args = p.parse_args()
    if args.collect:
        collect(args)
        return 0
    if not (args.url and args.dir):
        p.error("--collect DIR, or --url URL --dir DIR")
    return run_checks(args)


if __name__ == "__main__":
    sys.exit(main())
