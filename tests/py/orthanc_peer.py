#!/usr/bin/env python3
"""Orthanc 1.10.1 (Debian package) as a peer PACS of Yunying.

  orthanc_peer.py --scp-port P --orthanc-dicom-port D --orthanc-http-port H \
      --workdir W --testdata DIR --retrieve-study UID --move-study UID

Starts its own Orthanc (configuration and storage under W) knowing Yunying
as modality "yunying", then:
  1. Orthanc queries Yunying (REST /modalities/yunying/query) at study level
     by a Pinyin and a Hanzi name, and at series level;
  2. Orthanc retrieves --retrieve-study (C-MOVE from Yunying to Orthanc);
  3. a third party (DCMTK movescu) asks Yunying to move --move-study to
     Orthanc;
and checks that Orthanc ends with every instance of both studies, each with
the data set bytes Yunying holds (the testdata files it was loaded from),
or, where Orthanc did not accept the stored transfer syntax, decoded pixels
equal to pydicom's decoding of the original. Exits nonzero on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy
import pydicom

FAILURES = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILURES.append(msg)


def rest(base, path, body=None, timeout=120):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return raw if path.endswith("/file") else json.loads(raw or b"null")


def dataset_bytes(raw):
    """(transfer syntax, data set bytes after the file meta group)."""
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(raw), stop_before_pixels=True)
    ts = str(ds.file_meta.TransferSyntaxUID)
    # Meta group length + 12 bytes of its own element + 132 preamble/prefix.
    end = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    return ts, raw[end:]


def same_dataset(ts, a, b):
    if ts == "1.2.840.10008.1.2.1.99":  # the receiver re-deflates
        return zlib.decompress(a, -15) == zlib.decompress(b, -15)
    return a == b


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scp-port", type=int, required=True)
    p.add_argument("--scp-aet", default="YUNYING")
    p.add_argument("--orthanc-dicom-port", type=int, required=True)
    p.add_argument("--orthanc-http-port", type=int, required=True)
    p.add_argument("--orthanc-aet", default="ORTHANC")
    p.add_argument("--workdir", required=True)
    p.add_argument("--testdata", required=True)
    p.add_argument("--retrieve-study", required=True)
    p.add_argument("--move-study", required=True)
    args = p.parse_args()

    originals = {}
    for f in Path(args.testdata).glob("*.dcm"):
        raw = f.read_bytes()
        uid = str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)
        originals[uid] = (f, *dataset_bytes(raw))

    wd = Path(args.workdir)
    (wd / "storage").mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "yunying-peer-test", "StorageDirectory": str(wd / "storage"), "IndexDirectory": str(wd / "storage"),
        "DicomAet": args.orthanc_aet, "DicomPort": args.orthanc_dicom_port, "HttpPort": args.orthanc_http_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": False,
        "DefaultEncoding": "Utf8", "Plugins": [], "StorageCompression": False,
        "DicomModalities": {"yunying": [args.scp_aet, "127.0.0.1", args.scp_port]},
        "DicomScuTimeout": 30, "DicomScpTimeout": 30,
    }
    (wd / "orthanc.json").write_text(json.dumps(config))
    log = open(wd / "orthanc.log", "w")
    orthanc = subprocess.Popen(["/usr/sbin/Orthanc", str(wd / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{args.orthanc_http_port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                rest(base, "/system", timeout=2)
                break
            except Exception:
                if time.time() > deadline or orthanc.poll() is not None:
                    sys.exit("Orthanc did not start: see " + str(wd / "orthanc.log"))
                time.sleep(0.2)
        run(args, base, originals)
    finally:
        orthanc.terminate()
        try:
            orthanc.wait(20)
        except subprocess.TimeoutExpired:
            orthanc.kill()
    if FAILURES:
        sys.exit(f"{len(FAILURES)} check(s) failed")
    print("all Orthanc peer checks passed")


def query(base, level, q):
    answer = rest(base, "/modalities/yunying/query", {"Level": level, "Query": q})
    found = rest(base, f"/queries/{answer['ID']}/answers?expand&simplify")
    return answer["ID"], found


def run(args, base, originals):
    # 1. Orthanc queries Yunying.
    _, found = query(base, "Study", {"PatientName": "wang*", "PatientID": "", "StudyInstanceUID": ""})
    check([a.get("PatientID") for a in found] == ["YY0101"], f"Pinyin query finds YY0101: {found}")
    check(found and found[0].get("PatientName") == "Wang^XiaoDong=王^小东", f"name decoded from UTF-8: {found[:1]}")
    _, found = query(base, "Study", {"PatientName": "王*", "PatientID": ""})
    check([a.get("PatientID") for a in found] == ["YY0101"], f"Hanzi query finds YY0101: {found}")
    _, found = query(base, "Study", {"StudyDate": "20240320-20240322", "PatientID": ""})
    check(sorted(a.get("PatientID") for a in found) == ["YY0101", "YY0102", "YY0103"], f"date range: {found}")
    _, found = query(base, "Series", {"StudyInstanceUID": args.retrieve_study, "SeriesInstanceUID": "", "Modality": ""})
    check(len(found) >= 1 and all(a.get("Modality") for a in found), f"series query: {found}")

    # 2. Orthanc retrieves a study from Yunying (C-MOVE to itself).
    qid, found = query(base, "Study", {"StudyInstanceUID": args.retrieve_study})
    check(len(found) == 1, "the study to retrieve is found")
    rest(base, f"/queries/{qid}/retrieve", {"TargetAet": args.orthanc_aet, "Synchronous": True})
    compare(base, args.retrieve_study, originals, "retrieved by Orthanc")

    # 3. A third party asks Yunying to move a study to Orthanc.
    out = subprocess.run(["/usr/bin/movescu", "-S", "-aec", args.scp_aet, "-aem", args.orthanc_aet, "127.0.0.1", str(args.scp_port),
                          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={args.move_study}"],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, f"movescu succeeded: {out.stderr[-300:]}")
    compare(base, args.move_study, originals, "moved by Yunying")


def compare(base, study_uid, originals, what):
    ids = rest(base, "/tools/lookup", study_uid.encode())
    study = [i for i in ids if i["Type"] == "Study"]
    expected = {uid for uid, (f, _, _) in originals.items()
                if str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID) == study_uid}
    check(len(study) == 1, f"{what}: Orthanc has study {study_uid}")
    if not study:
        return
    instances = rest(base, f"/studies/{study[0]['ID']}/instances")
    got = {}
    for inst in instances:
        raw = rest(base, f"/instances/{inst['ID']}/file")
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(raw))
        got[str(ds.SOPInstanceUID)] = (raw, ds)
    check(set(got) == expected, f"{what}: {len(got)} of {len(expected)} instances")
    for uid, (raw, ds) in sorted(got.items()):
        f, ts, original = originals[uid]
        their_ts, theirs = dataset_bytes(raw)
        if their_ts == ts:
            check(same_dataset(ts, theirs, original), f"{what}: {f.name} identical data set bytes")
        else:
            a = pydicom.dcmread(f).pixel_array.astype(numpy.int64)
            b = ds.pixel_array.astype(numpy.int64)
            lossy = ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.81")
            ok = a.shape == b.shape and numpy.abs(a - b).max() <= (2 if lossy else 0)
            check(ok, f"{what}: {f.name} arrived decoded ({ts} -> {their_ts}) with the same pixels")


if __name__ == "__main__":
    main()
