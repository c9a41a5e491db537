#!/usr/bin/env python3
"""Cloud film flows after verification, against a running Yunying:

  film_flows.py --url http://127.0.0.1:H --api-token T --study UID --birth-date YYYY-MM-DD
      --sources DIR --workdir W --storescp-port P --orthanc-dicom-port D --orthanc-http-port O

Yunying must know the AEs STORESCP (port P) and ORTHANC (port D); this
script starts DCMTK's storescp and Orthanc 1.10.1 (Debian package) there.
Checks, exiting nonzero on any failure:
  1. a report uploaded through the API is listed and shown to the session;
  2. the ZIP download streams every instance, byte for byte as the sources,
     with a DICOMDIR that dcmdump and pydicom read and whose records name
     every file;
  3. a film that forbids download refuses the ZIP and whole-instance
     retrieval but serves rendered images;
  4. the patient shares the film with a doctor: a derived link that opens
     with the access code, lives shorter, is recorded as a consent, and
     opens nothing of the parent film;
  5. the doctor imports the study into storescp and into Orthanc by
     C-STORE, and into Orthanc again by STOW-RS (destination
     "hospital-b-web", Orthanc's DICOMweb); each receives every instance
     with the sources' data set bytes; the film's events record the imports;
  6. the patient revokes the share: the doctor's session opens nothing more.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pydicom
import requests
from pydicom.fileset import FileSet

FAILURES = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILURES.append(msg)


def dataset_bytes(raw):
    """(SOP Instance UID, data set bytes after the file meta group)."""
    ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
    end = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    return str(ds.SOPInstanceUID), raw[end:]


def wait_port(port, proc, what):
    import socket
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not start listening on {port}")


def session_for(url, token, answer):
    s = requests.Session()
    r = s.post(f"{url}/api/film/open", json={"token": token}, timeout=30)
    r.raise_for_status()
    r = s.post(f"{url}/api/film/verify", json={"token": token, "answer": answer}, timeout=60)
    check(r.status_code == 200, f"verification passes: {r.status_code} {r.text[:200]}")
    return s, r.json()


def token_of(link):
    return link.split("/f#", 1)[1]


def main():
    p = argparse.ArgumentParser()
    for a in ["--url", "--api-token", "--study", "--birth-date", "--sources", "--workdir"]:
        p.add_argument(a, required=True)
    for a in ["--storescp-port", "--orthanc-dicom-port", "--orthanc-http-port"]:
        p.add_argument(a, type=int, required=True)
    args = p.parse_args()
    wd = Path(args.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    sources = {}
    for f in sorted(Path(args.sources).rglob("*")):
        if f.is_file():
            uid, data = dataset_bytes(f.read_bytes())
            sources[uid] = data

    received = wd / "storescp"
    received.mkdir()
    storescp = subprocess.Popen(["/usr/bin/storescp", "+xa", "-aet", "STORESCP", "-od", str(received), str(args.storescp_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (wd / "orthanc").mkdir()
    config = {
        "Name": "hospital-b", "StorageDirectory": str(wd / "orthanc"), "IndexDirectory": str(wd / "orthanc"),
        "DicomAet": "ORTHANC", "DicomPort": args.orthanc_dicom_port, "HttpPort": args.orthanc_http_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": False,
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
    }
    (wd / "orthanc.json").write_text(json.dumps(config))
    orthanc = subprocess.Popen(["/usr/sbin/Orthanc", str(wd / "orthanc.json")], stdout=open(wd / "orthanc.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_port(args.storescp_port, storescp, "storescp")
        wait_port(args.orthanc_http_port, orthanc, "Orthanc")
        run(args, sources, received, f"http://127.0.0.1:{args.orthanc_http_port}", wd)
    finally:
        for proc in (storescp, orthanc):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    if FAILURES:
        sys.exit(f"{len(FAILURES)} check(s) failed")
    print("all film flow checks passed")


def run(args, sources, received, orthanc, wd):
    url = args.url
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {args.api_token}"
    made = api.post(f"{url}/api/films", json={"study": args.study, "created_by": "dr-wang"}, timeout=30).json()
    film_id = made["film"]["film_id"]
    token = token_of(made["url"])

    # 1. An uploaded report.
    r = api.put(f"{url}/api/films/{film_id}/report", data="影像所见：双肺纹理清晰。\n诊断意见：未见异常。".encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=30)
    check(r.status_code == 204, f"report upload: {r.status_code} {r.text[:200]}")
    r = api.put(f"{url}/api/films/{film_id}/report", data=b"not a pdf", headers={"Content-Type": "application/pdf"}, timeout=30)
    check(r.status_code == 400, f"a fake PDF is refused: {r.status_code}")
    patient, verified = session_for(url, token, args.birth_date)
    info = verified["info"]
    check(len(info["reports"]) == 1 and info["reports"][0]["url"].endswith("/report/uploaded"), f"the report is listed: {info['reports']}")
    r = patient.get(url + info["reports"][0]["url"], timeout=30)
    check(r.status_code == 200 and "未见异常" in r.text, f"the report is shown: {r.status_code} {r.text[:80]}")
    check(requests.get(url + info["reports"][0]["url"], timeout=30).status_code == 401, "no report without the session")
    slices = sum(len(se["instances"]) for st in info["studies"] for se in st["series"])
    check(slices == len(sources), f"the film lists every instance: {slices} of {len(sources)}")

    # Film QIDO is limited to the film's studies.
    r = patient.get(f"{url}/api/film/{film_id}/dicom-web/studies", headers={"Accept": "application/dicom+json"}, timeout=30)
    found = [s["0020000D"]["Value"][0] for s in r.json()] if r.status_code == 200 else []
    check(found == [args.study], f"film QIDO finds the film's study only: {r.status_code} {found}")
    r = patient.get(f"{url}/api/film/{film_id}/dicom-web/studies?StudyInstanceUID=1.2.3.4", timeout=30)
    check(r.status_code == 200 and r.json() == [], f"film QIDO for another study finds nothing: {r.status_code} {r.text[:100]}")

    # 2. The ZIP with a DICOMDIR.
    started = time.time()
    r = patient.get(f"{url}/api/film/{film_id}/download", stream=True, timeout=120)
    check(r.status_code == 200 and r.headers.get("Content-Type") == "application/zip", f"download: {r.status_code} {r.headers.get('Content-Type')}")
    check("Content-Length" not in r.headers, "the ZIP is streamed (no length known up front)")
    zpath = wd / "film.zip"
    with open(zpath, "wb") as out:
        for chunk in r.iter_content(1 << 16):
            out.write(chunk)
    print(f"     ZIP of {zpath.stat().st_size} bytes in {time.time() - started:.2f} s")
    z = zipfile.ZipFile(zpath)
    check(z.testzip() is None, "every ZIP entry's CRC is right")
    names = z.namelist()
    check(names[0] == "DICOMDIR" and len(names) == len(sources) + 1, f"DICOMDIR and {len(sources)} files: {names[:3]}…")
    unpacked = wd / "unzipped"
    z.extractall(unpacked)
    dump = subprocess.run(["/usr/bin/dcmdump", "+P", "0004,1430", "+P", "0004,1500", str(unpacked / "DICOMDIR")], capture_output=True, text=True)
    check(dump.returncode == 0, f"dcmdump reads the DICOMDIR: {dump.stderr[:300]}")
    kinds = [line.split("[")[1].split("]")[0].strip() for line in dump.stdout.splitlines() if "(0004,1430)" in line]
    check(kinds.count("PATIENT") == 1 and kinds.count("STUDY") == 1 and kinds.count("IMAGE") == len(sources), f"record types: {sorted(set(kinds))} ({len(kinds)})")
    fs = FileSet(pydicom.dcmread(unpacked / "DICOMDIR"))
    instances = list(fs)
    check(len(instances) == len(sources), f"pydicom's FileSet finds {len(instances)} of {len(sources)} instances")
    same = 0
    for inst in instances:
        raw = Path(inst.path).read_bytes()
        uid, data = dataset_bytes(raw)
        same += sources.get(uid) == data and inst.SOPInstanceUID == uid
    check(same == len(sources), f"files named by the DICOMDIR hold the sources' data sets: {same} of {len(sources)}")
    # Recorded once the last byte is handed over: a moment after the client has it.
    deadline = time.time() + 10
    while True:
        events = api.get(f"{url}/api/films/{film_id}/events", timeout=30).json()
        done = any(e["event"] == "downloaded" and e["result"] == "ok" for e in events)
        if done or time.time() > deadline:
            break
        time.sleep(0.1)
    check(done, "the download is an event")

    # 3. A film without download.
    closed = api.post(f"{url}/api/films", json={"study": args.study, "download": False}, timeout=30).json()
    viewer, v = session_for(url, token_of(closed["url"]), args.birth_date)
    cid = closed["film"]["film_id"]
    check(viewer.get(f"{url}/api/film/{cid}/download", timeout=30).status_code == 403, "no ZIP when download is not allowed")
    se = v["info"]["studies"][0]["series"][0]
    sop = se["instances"][0]
    base = f"{url}/api/film/{cid}/dicom-web/studies/{args.study}/series/{se['uid']}/instances/{sop}"
    check(viewer.get(base, headers={"Accept": "multipart/related; type=\"application/dicom\""}, timeout=30).status_code == 403, "no original instance when download is not allowed")
    r = viewer.get(base + "/rendered", timeout=30)
    check(r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg", f"rendered images still show: {r.status_code}")

    # 4. The patient shares with a doctor.
    r = patient.post(f"{url}/api/film/{film_id}/share", json={"recipient": "李医生 第二医院", "purpose": "会诊 second opinion", "hours": 24}, timeout=30)
    check(r.status_code == 201, f"share created: {r.status_code} {r.text[:200]}")
    share = r.json()
    sid = share["film"]["film_id"]
    life = (share["film"]["expires_at_ms"] - share["film"]["created_at_ms"]) / 3_600_000
    check(abs(life - 24) < 0.01 and share["film"]["parent_film_id"] == film_id, f"a 24 h share derived from the film: {life}")
    check(len(share["code"]) == 6 and share["code"] not in share["url"], "a six-digit access code, not in the link")
    bad = requests.Session()
    bad.post(f"{url}/api/film/open", json={"token": token_of(share["url"])}, timeout=30)
    r = bad.post(f"{url}/api/film/verify", json={"token": token_of(share["url"]), "answer": args.birth_date}, timeout=30)
    check(r.status_code == 401, f"the patient's birth date does not open the share: {r.status_code}")
    # For the caller's check that no secret reaches the log or the index.
    for secret in (token, token_of(closed["url"]), token_of(share["url"]), share["code"]):
        print(f"secret: {secret}")
    doctor, dv = session_for(url, token_of(share["url"]), share["code"])
    check(dv["info"]["kind"] == "share" and dv["info"]["recipient"] == "李医生 第二医院", "the doctor sees a share")
    check(doctor.get(f"{url}/api/film/{film_id}/info", timeout=30).status_code == 401, "the doctor's session opens nothing of the parent film")
    check(doctor.post(f"{url}/api/film/{sid}/share", json={"recipient": "x"}, timeout=30).status_code == 403, "a share cannot be shared onward")
    shares = patient.get(f"{url}/api/film/{film_id}/shares", timeout=30).json()
    check([s["film_id"] for s in shares] == [sid] and shares[0]["active"], f"the patient lists the share: {shares}")
    consent = [e for e in api.get(f"{url}/api/films/{film_id}/events", timeout=30).json() if e["event"] == "shared"]
    detail = json.loads(consent[0]["detail"]) if consent else {}
    check(detail.get("to") == "李医生 第二医院" and detail.get("studies") == [args.study] and detail.get("purpose") == "会诊 second opinion"
          and detail.get("expires_at_ms") == share["film"]["expires_at_ms"], f"the consent is recorded: {detail}")
    # The doctor's full-fidelity viewer reads frames through the share.
    dse = dv["info"]["studies"][0]["series"][0]
    r = doctor.get(f"{url}/api/film/{sid}/dicom-web/studies/{args.study}/series/{dse['uid']}/instances/{dse['instances'][0]}/frames/1",
                   headers={"Accept": "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"}, timeout=30)
    check(r.status_code == 200, f"frames at full fidelity for the doctor: {r.status_code}")

    # 5. Import into storescp and Orthanc.
    dests = [d["id"] for d in doctor.get(f"{url}/api/film/{sid}/destinations", timeout=30).json()]
    check("dicom:STORESCP" in dests and "dicom:ORTHANC" in dests, f"destinations: {dests}")
    check("stow:hospital-b-web" in dests, f"the STOW-RS destination is offered: {dests}")

    def import_to(dest):
        r = doctor.post(f"{url}/api/film/{sid}/import", json={"destination": dest}, timeout=30)
        check(r.status_code == 202, f"import to {dest} starts: {r.status_code} {r.text[:200]}")
        job = r.json()
        deadline = time.time() + 120
        while job["state"] == "running" and time.time() < deadline:
            time.sleep(0.2)
            job = doctor.get(f"{url}/api/film/{sid}/import/{job['job']}", timeout=30).json()
        check(job["state"] == "done" and job["sent"] == len(sources), f"import to {dest}: {job}")

    def orthanc_holds(how):
        ids = json.load(urllib.request.urlopen(f"{orthanc}/instances", timeout=30))
        held = {}
        for i in ids:
            uid, data = dataset_bytes(urllib.request.urlopen(f"{orthanc}/instances/{i}/file", timeout=30).read())
            held[uid] = data
        check(held == sources, f"Orthanc received every instance byte-identical ({how}): {len(held)} of {len(sources)}, {sum(held.get(u) == d for u, d in sources.items())} identical")
        return ids

    for dest in ["dicom:STORESCP", "dicom:ORTHANC"]:
        import_to(dest)
    got = {}
    for f in received.iterdir():
        uid, data = dataset_bytes(f.read_bytes())
        got[uid] = data
    check(got == sources, f"storescp received every instance byte-identical: {len(got)} of {len(sources)}, {sum(got.get(u) == d for u, d in sources.items())} identical")
    ids = orthanc_holds("C-STORE")
    # Again by STOW-RS into Orthanc's DICOMweb, emptied first.
    for i in ids:
        urllib.request.urlopen(urllib.request.Request(f"{orthanc}/instances/{i}", method="DELETE"), timeout=30).read()
    import_to("stow:hospital-b-web")
    orthanc_holds("STOW-RS")
    events = api.get(f"{url}/api/films/{sid}/events", timeout=30).json()
    imported = [e for e in events if e["event"] == "imported"]
    check(len(imported) == 3 and all(e["result"] == "ok" and e["actor"] == "recipient" for e in imported), f"imports are events: {imported}")

    # 6. The patient withdraws the share.
    r = patient.post(f"{url}/api/film/{film_id}/shares/{sid}/revoke", timeout=30)
    check(r.status_code == 204, f"revoke: {r.status_code}")
    r = doctor.get(f"{url}/api/film/{sid}/info", timeout=30)
    check(r.status_code in (401, 410), f"the doctor's session ends with the share: {r.status_code}")
    r = doctor.get(f"{url}/api/film/{sid}/dicom-web/studies/{args.study}/series/{dse['uid']}/instances/{dse['instances'][0]}/rendered", timeout=30)
    check(r.status_code in (401, 410) and not r.headers.get("Content-Type", "").startswith("image/"), f"no image after revocation: {r.status_code}")
    check(patient.get(f"{url}/api/film/{film_id}/info", timeout=30).status_code == 200, "the patient's own film stays open")


if __name__ == "__main__":
    main()
