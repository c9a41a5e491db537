"""DICOMweb checks against a running Yunying, with the real dicomweb-client.

Run by the Rust integration tests (tests/it/dicomweb.rs), which start the
server on a data directory holding testdata/dicom. Each group exits non-zero
with a message on the first failed check:

    python3 tests/py/dicomweb_suite.py --url http://127.0.0.1:PORT/dicom-web \
        --testdata testdata/dicom GROUP

Groups: qido, wado, frames, rendered, stow, ohif, errors.
"""

import argparse
import io
import json
import os
import sys
import urllib.request

import numpy as np
import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.filereader import read_preamble, _read_file_meta_info

UID = "1.2.826.0.1.3680043.10.1467."
CT_STUDY = UID + "1.1"
CT_SERIES = UID + "2.1.1"
MR_STUDY, MR_SERIES = UID + "1.3", UID + "2.3.1"
ELE = "1.2.840.10008.1.2.1"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def dataset_bytes(data: bytes) -> bytes:
    """The bytes after the file meta information of a Part 10 file."""
    f = io.BytesIO(data)
    read_preamble(f, False)
    _read_file_meta_info(f)
    return data[f.tell():]


def fixture_by_sop(testdata):
    out = {}
    for name in sorted(os.listdir(testdata)):
        path = os.path.join(testdata, name)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        out[ds.SOPInstanceUID] = path
    return out


def values(results, tag):
    return [(r.get(tag, {}).get("Value") or [None])[0] for r in results]


def group_qido(c: DICOMwebClient, args):
    studies = c.search_for_studies()
    check(len(studies) == 10, f"10 studies expected, got {len(studies)}")
    # Wildcards, case-insensitive names, Pinyin and Hanzi.
    r = c.search_for_studies(search_filters={"PatientName": "zhou*"})
    check(values(r, "0020000D") == [CT_STUDY], f"PatientName=zhou*: {values(r, '0020000D')}")
    r = c.search_for_studies(search_filters={"PatientName": "王*"})
    check(len(r) == 1 and r[0]["00100010"]["Value"][0] == {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"},
          f"PatientName=王*: {r}")
    r = c.search_for_studies(search_filters={"PatientName": "xiao"}, fuzzymatching=True)
    check(sorted(values(r, "00100020")) == ["YY0101", "YY0103"], f"fuzzy xiao: {values(r, '00100020')}")
    r = c.search_for_studies(search_filters={"PatientName": "小东"}, fuzzymatching=True)
    check(sorted(values(r, "00100020")) == ["YY0101", "YY0103"], f"fuzzy 小东: {values(r, '00100020')}")
    # Dates, UID lists, modalities.
    r = c.search_for_studies(search_filters={"StudyDate": "20240317-20240319"})
    check(sorted(values(r, "00100020")) == ["YY0002", "YY0003", "YY0004"], f"date range: {values(r, '00100020')}")
    r = c.search_for_studies(search_filters={"StudyInstanceUID": [CT_STUDY, MR_STUDY]})
    check(sorted(values(r, "0020000D")) == sorted([CT_STUDY, MR_STUDY]), f"UID list: {values(r, '0020000D')}")
    r = c.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})
    check(values(r, "0020000D") == [MR_STUDY], f"ModalitiesInStudy=MR: {values(r, '0020000D')}")
    # Aggregates and includefield.
    r = c.search_for_studies(search_filters={"StudyInstanceUID": CT_STUDY}, fields=["00081030", "StationName"])
    check(r[0]["00201206"]["Value"] == [2] and r[0]["00201208"]["Value"] == [9], f"aggregates: {r[0]}")
    check(r[0]["00081030"]["Value"] == ["CT PHANTOM TRANSFER SYNTAXES"], "StudyDescription")
    r = c.search_for_studies(search_filters={"StudyInstanceUID": CT_STUDY}, get_remaining=False, fields=["all"])
    check("00100010" in r[0] and "0020000D" in r[0], "includefield=all keeps the defaults")
    # Paging: limit/offset cover everything exactly once.
    seen = []
    for offset in range(0, 10, 3):
        page = c.search_for_studies(limit=3, offset=offset)
        seen += values(page, "0020000D")
    check(len(seen) == 10 and len(set(seen)) == 10, f"paging: {seen}")
    resp = requests.get(args.url + "/studies?limit=2", headers={"Accept": "application/dicom+json"})
    check("Warning" in resp.headers and len(resp.json()) == 2, f"truncated result warns: {resp.headers}")
    # Series and instance levels, every path.
    s = c.search_for_series(CT_STUDY)
    check(len(s) == 2 and values(s, "00201209") == [6, 3], f"series of CT: {values(s, '00201209')}")
    s = c.search_for_series(search_filters={"Modality": "US"})
    check(len(s) == 2, f"/series?Modality=US: {len(s)}")
    i = c.search_for_instances(CT_STUDY, CT_SERIES)
    check(len(i) == 6 and values(i, "00200013") == [1, 2, 3, 4, 5, 6], f"instances: {values(i, '00200013')}")
    i = c.search_for_instances(CT_STUDY, search_filters={"SOPInstanceUID": UID + "3.1.2.1"})
    check(len(i) == 1 and i[0]["00083002"]["Value"] == ["1.2.840.10008.1.2.4.51"], "instance by SOP UID")
    i = c.search_for_instances(search_filters={"PatientID": "YY0002"})
    check(len(i) == 3, "/instances?PatientID")
    # Character set and PN objects are valid UTF-8 JSON for every study.
    for st in studies:
        check(st["00080005"]["Value"] == ["ISO_IR 192"], "SpecificCharacterSet ISO_IR 192")
        check(isinstance(st["00100010"]["Value"][0], dict), "PN as object")


def group_wado(c: DICOMwebClient, args):
    fixtures = fixture_by_sop(args.testdata)
    # Every instance, stored transfer syntax: dataset bytes equal the sent ones.
    for sop, path in fixtures.items():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        got = c.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, media_types=(("application/dicom", "*"),))
        buf = io.BytesIO()
        got.save_as(buf, enforce_file_format=True)
        with open(path, "rb") as f:
            original = f.read()
        raw = requests.get(
            f"{args.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{sop}",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        )
        check(raw.status_code == 200, f"{sop}: {raw.status_code}")
        check(f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in raw.content[:400].decode("latin1"),
              f"{sop}: part transfer syntax")
        body = raw.content
        start = body.index(b"DICM") - 128
        end = body.rindex(b"\r\n--")
        check(dataset_bytes(body[start:end]) == dataset_bytes(original), f"{os.path.basename(path)}: bytes differ")
        check(raw.headers.get("ETag") and "immutable" in raw.headers.get("Cache-Control", ""), "ETag and caching")
        etag = raw.headers["ETag"]
        again = requests.get(raw.url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*',
                                               "If-None-Match": etag})
        check(again.status_code == 304, f"If-None-Match gives 304, got {again.status_code}")
    # Study and series retrieval.
    study = c.retrieve_study(MR_STUDY, media_types=(("application/dicom", "*"),))
    check(sorted(d.SOPInstanceUID for d in study) == sorted(u for u in fixtures if u.startswith(UID + "3.3.")),
          "study retrieval")
    series = c.retrieve_series(CT_STUDY, UID + "2.1.2", media_types=(("application/dicom", "*"),))
    check(len(series) == 3, "series retrieval")
    # Default (Explicit VR LE): native and decodable compressed instances.
    for sop in [UID + "3.1.1.1", UID + "3.1.1.4", UID + "3.1.1.6", UID + "3.3.1.2", UID + "3.3.1.3"]:
        ds = pydicom.dcmread(fixtures[sop])
        got = c.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, media_types=(("application/dicom", ELE),))
        check(got.file_meta.TransferSyntaxUID == ELE, f"{sop}: {got.file_meta.TransferSyntaxUID}")
        check(np.array_equal(got.pixel_array, ds.pixel_array), f"{sop}: pixels differ after transcoding")
        check(got.PatientName == ds.PatientName, "text survives re-encoding")
    # Metadata: series and study, Chinese PN, BulkDataURI resolvable against the series URL.
    meta = c.retrieve_series_metadata(CT_STUDY, CT_SERIES)
    check(len(meta) == 6, f"series metadata: {len(meta)}")
    for m in meta:
        check("7FE00010" in m and "BulkDataURI" in m["7FE00010"] and "InlineBinary" not in m["7FE00010"], "pixel data as BulkDataURI")
        check(m["00020010"]["Value"][0].startswith("1.2.840.10008.1.2"), "TransferSyntaxUID in metadata")
        check(isinstance(m["00280010"]["Value"][0], int), "Rows as number")
    native = next(m for m in meta if m["00020010"]["Value"][0] == "1.2.840.10008.1.2")
    uri = native["7FE00010"]["BulkDataURI"]
    check(not uri.startswith("http") and not uri.startswith("/"), f"relative BulkDataURI: {uri}")
    bulk = requests.get(f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/{uri}", headers={"Accept": "application/octet-stream"})
    ds = pydicom.dcmread(fixtures[native["00080018"]["Value"][0]])
    check(bulk.status_code == 200 and bulk.content == ds.PixelData, "bulk data is the pixel data")
    part = requests.get(bulk.url, headers={"Accept": "application/octet-stream", "Range": "bytes=10-19"})
    check(part.status_code == 206 and part.content == ds.PixelData[10:20], f"Range: {part.status_code}")
    via_client = c.retrieve_bulkdata(f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/{uri}")
    check(via_client[0] == ds.PixelData, "dicomweb-client retrieve_bulkdata")
    zh = c.search_for_studies(search_filters={"PatientID": "YY0103"})[0]
    m = c.retrieve_study_metadata(zh["0020000D"]["Value"][0])
    check(m[0]["00100010"]["Value"][0] == {"Alphabetic": "Zhang^XiaoDong", "Ideographic": "张^小东"},
          f"ISO 2022 IR 58 name in metadata: {m[0]['00100010']}")
    inst = c.retrieve_instance_metadata(CT_STUDY, CT_SERIES, UID + "3.1.1.1")
    check(inst["00080018"]["Value"] == [UID + "3.1.1.1"], "instance metadata")
    resp = requests.get(f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/metadata",
                        headers={"Accept": "application/dicom+json", "Accept-Encoding": "gzip"})
    check(resp.headers.get("Content-Encoding") == "gzip", "metadata JSON is compressed")


def frames_of(c, study, series, sop, numbers, ts):
    return c.retrieve_instance_frames(study, series, sop, frame_numbers=numbers,
                                      media_types=(("application/octet-stream", ts),))


def group_frames(c: DICOMwebClient, args):
    fixtures = fixture_by_sop(args.testdata)
    # Stored syntax, every image fixture: the frame is the stored codestream
    # or native bytes; decoded (ELE) frames equal pydicom's pixels.
    for sop, path in fixtures.items():
        ds = pydicom.dcmread(path)
        ts = ds.file_meta.TransferSyntaxUID
        if ts.startswith("1.2.840.10008.1.2.4.10") or "PixelData" not in ds:
            continue
        stored = frames_of(c, ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, [1], "*")[0]
        if ts.is_compressed:
            expected = pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)
            check(stored == next(expected), f"{os.path.basename(path)}: stored frame differs")
        decoded = frames_of(c, ds.StudyInstanceUID, ds.SeriesInstanceUID, sop, [1], ELE)[0]
        arr = ds.pixel_array
        got = np.frombuffer(decoded, dtype=arr.dtype.newbyteorder("<")).reshape(arr.shape)
        lossy = ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91")
        if lossy:
            check(np.abs(got.astype(np.int64) - arr.astype(np.int64)).max() <= 16, f"{os.path.basename(path)}: lossy frame too far")
        else:
            check(np.array_equal(got, arr), f"{os.path.basename(path)}: decoded frame differs from pydicom")
    # Raw response: every part names its transfer syntax.
    sop = UID + "3.1.1.5"
    r = requests.get(f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{sop}/frames/1",
                     headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
    check(r.status_code == 200 and "Content-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90" in r.text[:300],
          f"per-part transfer syntax: {r.text[:300]!r}")
    # Multi-frame: native and RLE, several frames at once.
    for name in ("mf_native.dcm", "mf_rle.dcm"):
        ds = pydicom.dcmread(os.path.join(args.workdir, name))
        got = frames_of(c, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, [2, 5], "*" if name == "mf_native.dcm" else ELE)
        arr = ds.pixel_array
        for n, frame in zip([2, 5], got):
            check(np.array_equal(np.frombuffer(frame, dtype="<u2").reshape(arr.shape[1:]), arr[n - 1]), f"{name} frame {n}")
    ds = pydicom.dcmread(os.path.join(args.workdir, "mf_rle.dcm"))
    raw = frames_of(c, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, [3], "*")[0]
    check(raw == list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=6))[2], "RLE frame 3 as stored")


def group_rendered(c: DICOMwebClient, args):
    from PIL import Image
    sop = UID + "3.1.1.1"
    img = c.retrieve_instance_rendered(CT_STUDY, CT_SERIES, sop, media_types=("image/jpeg",))
    im = Image.open(io.BytesIO(img))
    check(im.format == "JPEG" and im.size[0] > 0, "rendered JPEG")
    png = c.retrieve_instance_rendered(CT_STUDY, CT_SERIES, sop, media_types=("image/png",), params={"viewport": "64,64"})
    im = Image.open(io.BytesIO(png))
    check(im.format == "PNG" and max(im.size) == 64, f"viewport: {im.size}")
    narrow = np.asarray(Image.open(io.BytesIO(requests.get(
        f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{sop}/rendered?window=40,80",
        headers={"Accept": "image/png"}).content)).convert("L"))
    wide = np.asarray(Image.open(io.BytesIO(requests.get(
        f"{args.url}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{sop}/rendered?window=40,4000",
        headers={"Accept": "image/png"}).content)).convert("L"))
    check((narrow == 0).mean() > (wide == 0).mean() or (narrow == 255).mean() > (wide == 255).mean(),
          "a narrow window saturates more pixels than a wide one")
    for path in ["/studies/%s/rendered" % CT_STUDY, "/studies/%s/series/%s/thumbnail" % (CT_STUDY, CT_SERIES),
                 "/studies/%s/series/%s/instances/%s/frames/1/rendered" % (CT_STUDY, CT_SERIES, sop)]:
        r = requests.get(args.url + path, headers={"Accept": "image/jpeg"})
        check(r.status_code == 200 and r.content[:2] == b"\xff\xd8", f"{path}: {r.status_code}")
    thumb = Image.open(io.BytesIO(requests.get(args.url + "/studies/%s/thumbnail" % CT_STUDY, headers={"Accept": "image/jpeg"}).content))
    check(max(thumb.size) <= 128, f"thumbnail size {thumb.size}")


def group_stow(c: DICOMwebClient, args):
    path = os.path.join(args.workdir, "stow_new.dcm")
    ds = pydicom.dcmread(path)
    result = c.store_instances([ds])
    check(result.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID, f"store result: {result}")
    again = c.store_instances([ds])
    check(len(again.ReferencedSOPSequence) == 1, "storing the same instance twice is not a failure")
    with open(path, "rb") as f:
        original = f.read()
    back = requests.get(f"{args.url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
                        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}).content
    check(dataset_bytes(back[back.index(b"DICM") - 128:back.rindex(b"\r\n--")]) == dataset_bytes(original), "STOW bytes stored as sent")
    # Wrong study in the URL: failed SOP, 409, nothing stored.
    other = os.path.join(args.workdir, "stow_other.dcm")
    with open(other, "rb") as f:
        body = f.read()
    boundary = "XyZ"
    payload = b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + body + b"\r\n--XyZ--\r\n"
    r = requests.post(f"{args.url}/studies/{CT_STUDY}", data=payload,
                      headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    check(r.status_code == 409 and r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900], f"study mismatch: {r.status_code} {r.text}")
    check(c.search_for_instances(search_filters={"SOPInstanceUID": pydicom.dcmread(other).SOPInstanceUID}) == [], "mismatch not stored")
    # One good, one garbage part: 202 with one referenced and one failed.
    payload = (b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + body + b"\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\n"
               + b"this is not DICOM" * 20 + b"\r\n--XyZ--\r\n")
    r = requests.post(f"{args.url}/studies", data=payload,
                      headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=XyZ'})
    check(r.status_code == 202 and len(r.json()["00081198"]["Value"]) == 1 and len(r.json()["00081199"]["Value"]) == 1,
          f"partial: {r.status_code} {r.text}")
    # Truncated DICOM: failed (0xC000), not half-stored.
    trunc = pydicom.dcmread(os.path.join(args.workdir, "stow_trunc.dcm"), stop_before_pixels=True)
    with open(os.path.join(args.workdir, "stow_trunc.dcm"), "rb") as f:
        data = f.read()
    payload = b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + data[:-1000] + b"\r\n--XyZ--\r\n"
    r = requests.post(f"{args.url}/studies", data=payload,
                      headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=XyZ'})
    check(r.status_code == 409 and r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000], f"truncated: {r.status_code} {r.text}")
    check(c.search_for_instances(search_filters={"SOPInstanceUID": trunc.SOPInstanceUID}) == [], "truncated not stored")
    # Not multipart/related DICOM: 415.
    r = requests.post(f"{args.url}/studies", data=b"{}", headers={"Content-Type": "application/json"})
    check(r.status_code == 415 and "error" in r.json(), f"415: {r.status_code}")


def group_ohif(c: DICOMwebClient, args):
    """OHIF v3 / Cornerstone request shapes (peers.md)."""
    u = args.url
    r = requests.get(u + "/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060,00080090,00100030"
                     "&PatientName=*zhou*&StudyDate=20240101-20241231&ModalitiesInStudy=CT&StudyInstanceUID=" + CT_STUDY + "\\" + MR_STUDY,
                     headers={"Accept": "application/dicom+json", "Origin": "http://viewer.example"})
    check(r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin"), f"study list: {r.status_code} {r.headers}")
    st = r.json()
    check(len(st) == 1, f"one study: {st}")
    for tag in ["0020000D", "00080020", "00080030", "00080050", "00100020", "00100010", "00100030", "00201208", "00081030", "00080061", "00080090"]:
        check(tag in st[0], f"study list lacks {tag}")
    check(st[0]["00100010"]["Value"][0]["Alphabetic"] == "Zhou^Ming", "PN Alphabetic")
    pre = requests.options(u + "/studies", headers={"Origin": "http://viewer.example", "Access-Control-Request-Method": "GET",
                                                     "Access-Control-Request-Headers": "authorization,accept"})
    allowed = pre.headers.get("Access-Control-Allow-Headers", "").lower()
    check(pre.status_code == 200 and "authorization" in allowed and "accept" in allowed, f"preflight: {pre.status_code} {pre.headers}")
    se = requests.get(f"{u}/studies/{CT_STUDY}/series?includefield=0008103E,00080021", headers={"Accept": "application/dicom+json"}).json()
    for tag in ["0020000E", "00080060", "00200011", "00201209", "0008103E"]:
        check(tag in se[0], f"series list lacks {tag}")
    meta = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/metadata", headers={"Accept": "application/dicom+json"}).json()
    for m in meta:
        for tag in ["00280010", "00280011", "00280100", "00280103", "00280004", "00020010", "00080016", "00080018"]:
            check(tag in m, f"metadata lacks {tag}")
    for m in meta:
        sop, ts = m["00080018"]["Value"][0], m["00020010"]["Value"][0]
        r = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{sop}/frames/1",
                         headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
        check(r.status_code == 200, f"frame of {sop}: {r.status_code}")
        head = r.content[:300].decode("latin1")
        check(f"Content-Type: application/octet-stream; transfer-syntax={ts}" in head, f"{sop}: part header {head!r}")
        check("multipart/related" in r.headers["Content-Type"] and "boundary=" in r.headers["Content-Type"], "response content type")
        check(r.headers.get("Cross-Origin-Resource-Policy") == "cross-origin", "CORP header")
    t = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/thumbnail?viewport=256,256", headers={"Accept": "image/jpeg"})
    check(t.status_code == 200 and t.headers["Content-Type"] == "image/jpeg", "thumbnail")


def group_errors(c: DICOMwebClient, args):
    u = args.url
    j = {"Accept": "application/dicom+json"}
    for path in ["/studies/1.2.3.4/metadata", f"/studies/{CT_STUDY}/series/1.2.3/metadata",
                 f"/studies/{CT_STUDY}/series/{CT_SERIES}/instances/1.2.3/metadata"]:
        r = requests.get(u + path, headers=j)
        check(r.status_code == 404 and "error" in r.json(), f"{path}: {r.status_code}")
    # The instance exists but not in that study: 404.
    r = requests.get(f"{u}/studies/{MR_STUDY}/series/{CT_SERIES}/instances/{UID}3.1.1.1/metadata", headers=j)
    check(r.status_code == 404, "scope is enforced")
    for q in ["StudyDate=2024-01-01", "limit=-1", "limit=abc", "fuzzymatching=maybe", "NoSuchKeyword=1",
              "StudyInstanceUID=1.2.3'%20OR%201=1", "includefield=Nonsense", "PatientName=" + "x" * 5000]:
        r = requests.get(u + "/studies?" + q, headers=j)
        check(r.status_code == 400 and r.json().get("error"), f"{q}: {r.status_code} {r.text[:200]}")
    r = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{UID}3.1.1.1/frames/7",
                     headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
    check(r.status_code == 404, f"frame out of range: {r.status_code}")
    r = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{UID}3.1.1.1/frames/x1", headers={"Accept": "*/*"})
    check(r.status_code == 400, f"bad frame list: {r.status_code}")
    r = requests.get(f"{u}/studies/{CT_STUDY}", headers={"Accept": "text/html"})
    check(r.status_code == 406 and r.json().get("error"), f"bad Accept: {r.status_code}")
    r = requests.get(f"{u}/studies/{CT_STUDY}", headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'})
    check(r.status_code == 406, f"unsupported transfer syntax: {r.status_code}")
    video = f"{u}/studies/{UID}1.5/series/{UID}2.5.1/instances/{UID}3.5.1.1"
    r = requests.get(video + "/frames/1", headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    check(r.status_code == 406, f"video frames as ELE: {r.status_code}")
    r = requests.get(video + "/rendered", headers={"Accept": "image/jpeg"})
    check(r.status_code == 406, f"video rendered: {r.status_code}")
    r = requests.get(f"{u}/studies/{CT_STUDY}/rendered?window=1,0", headers={"Accept": "image/jpeg"})
    check(r.status_code == 400, f"bad window: {r.status_code}")
    r = requests.get(f"{u}/studies/{CT_STUDY}/series/{CT_SERIES}/metadata", headers={"Accept": "image/png"})
    check(r.status_code == 406, f"metadata as PNG: {r.status_code}")


def make_files(workdir, testdata):
    """Multi-frame and STOW inputs, made with pydicom."""
    from pydicom.uid import RLELossless, generate_uid
    base = pydicom.dcmread(os.path.join(testdata, "ct_implicit_le.dcm"))
    frames = np.stack([(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * (k + 1)) % 4096 for k in range(6)])
    mf_study = generate_uid()
    for name, compress in (("mf_native.dcm", False), ("mf_rle.dcm", True)):
        ds = base.copy()
        ds.StudyInstanceUID, ds.PatientID, ds.PatientName = mf_study, "YYMF01", "Multi^Frame"
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.Rows, ds.Columns, ds.NumberOfFrames = 64, 64, 6
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = frames.tobytes()
        ds.file_meta.TransferSyntaxUID = ELE
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if compress:
            ds.compress(RLELossless, generate_instance_uid=False)
        ds.save_as(os.path.join(workdir, name), enforce_file_format=True)
    for name in ("stow_new.dcm", "stow_other.dcm", "stow_trunc.dcm"):
        ds = base.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName, ds.PatientID = "Stow^Test", "YYSTOW"
        ds.save_as(os.path.join(workdir, name), enforce_file_format=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--testdata", required=True)
    p.add_argument("--workdir", help="where make-files wrote its files")
    p.add_argument("group")
    args = p.parse_args()
    if args.group == "make-files":
        make_files(args.workdir, args.testdata)
        return
    client = DICOMwebClient(url=args.url)
    groups = {k[len("group_"):]: v for k, v in globals().items() if k.startswith("group_")}
    try:
        groups[args.group](client, args)
    except AssertionError as e:
        print(f"FAILED [{args.group}]: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok [{args.group}]")


if __name__ == "__main__":
    main()
