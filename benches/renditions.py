#!/usr/bin/env python3
"""Renditions benchmark: Yunying's rendition workers vs DCMTK dcmj2pnm and
Orthanc 1.10.1's /preview, on the same CT corpus, in the same run.

  python3 benches/renditions.py [--slices 1000] [--sample 200] [--rate 200]

Three measurements:
  1. Throughput per core. Yunying: the corpus imported with the server
     stopped (every instance's rendition job queued), then `serve` with one
     rendition worker; renditions (a 128 px thumbnail and a full-size JPEG
     preview, plus the lossless HTJ2K copy it also makes) per CPU-second of
     the server process until the queue is empty. DCMTK: `dcmj2pnm +oj` (a
     full-size JPEG) and `dcmj2pnm +oj +Sxv 128` (a thumbnail) per file of a
     sample, per CPU-second of the dcmj2pnm processes. Orthanc: GET
     /instances/{id}/preview (full-size PNG, its only rendering; Orthanc keeps
     no renditions) and /instances/{id}/frames/0/rendered?width=128 per
     instance of the sample, per CPU-second of the Orthanc process. A
     "rendition" is one thumbnail plus one preview for every system.
  2. Latency under load: instances sent by C-STORE (pynetdicom, one
     association) at --rate instances/s to a running Yunying with default
     workers (cores − 1); for each, the time from its C-STORE success to its
     stored thumbnail appearing in the index (polled every 10 ms). p50, p95.
  3. Size: the lossless HTJ2K copies against the uncompressed originals.

Needs: a release build (cargo build --release), dcmtk and orthanc (Debian),
python3 with pydicom, numpy and pynetdicom. Writes
benches/results/renditions.{md,json}.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait(pred, what, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit(f"{what}: not ready in {timeout} s")


def metrics(url):
    text = get(f"{url}/metrics").decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("yunying_rendition_jobs{"):
            state = line.split('state="')[1].split('"')[0]
            out[state] = int(line.rsplit(" ", 1)[1])
    return out


def serve(binary, data, env_extra, config=None):
    http, dicom = free_port(), free_port()
    cmd = [binary, "serve", "--data-dir", str(data), "--http-port", str(http), "--dicom-port", str(dicom)]
    # C-STORE from the benchmark's unregistered clients (as Orthanc takes by default).
    base = Path(data).parent / f"{Path(data).name}.bench.toml"
    base.write_text((Path(config).read_text() if config else "") + '[dicom]\nunknown_callers = "demo-store"\n'
                    '[access]\nanonymous = "loopback"\n')
    cmd += ["--config", str(base)]
    env = {**os.environ, "YUNYING_LOG": "warn", **env_extra}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    wait(lambda: get(f"{url}/healthz", 2), "Yunying", 60)
    return p, url, dicom


def yunying_throughput(binary, corpus, work, lossless):
    data = work / f"yy-throughput-{lossless}"
    subprocess.run([binary, "import", "--quiet", "--data-dir", str(data), str(corpus)], check=True, env={**os.environ, "YUNYING_LOG": "warn"})
    config = work / f"one-worker-{lossless}.toml"
    config.write_text(f"[renditions]\nworkers = 1\nlossless = {'true' if lossless else 'false'}\n")
    t0 = time.time()
    p, url, _ = serve(binary, data, {}, config)
    c0 = cpu_seconds(p.pid)
    n = len(list(corpus.iterdir()))
    wait(lambda: metrics(url).get("done", 0) >= n and metrics(url).get("pending", 1) == 0 and metrics(url).get("running", 1) == 0, "renditions", 3600)
    cpu, wall = cpu_seconds(p.pid) - c0, time.time() - t0
    sizes = lossless_sizes(data)
    p.terminate()
    p.wait(30)
    return {"instances": n, "cpu_s": cpu, "wall_s": wall, "per_cpu_s": n / cpu, **sizes}


def lossless_sizes(data):
    db = sqlite3.connect(f"file:{data}/index.sqlite?mode=ro", uri=True)
    rows = db.execute(
        "SELECT i.size_bytes, i.rows_ * i.columns_ * 2, r.size_bytes FROM renditions r JOIN instances i ON i.id = r.instance_pk WHERE r.kind = 'lossless'"
    ).fetchall()
    db.close()
    return {
        "lossless_copies": len(rows),
        "original_bytes": sum(r[0] for r in rows),
        "pixel_bytes": sum(r[1] for r in rows),
        "lossless_bytes": sum(r[2] for r in rows),
    }


def dcmtk_throughput(sample, work):
    out = work / "dcmj2pnm"
    out.mkdir()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    for i, f in enumerate(sample):
        subprocess.run(["/usr/bin/dcmj2pnm", "+oj", str(f), str(out / f"{i}.jpg")], check=True)
        subprocess.run(["/usr/bin/dcmj2pnm", "+oj", "+Sxv", "128", str(f), str(out / f"{i}-thumb.jpg")], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"instances": len(sample), "cpu_s": cpu, "wall_s": time.time() - t0, "per_cpu_s": len(sample) / cpu}


def orthanc_throughput(sample, work):
    http, dicom = free_port(), free_port()
    db = work / "orthanc"
    db.mkdir()
    config = {"Name": "bench", "StorageDirectory": str(db), "IndexDirectory": str(db), "HttpPort": http, "DicomPort": dicom,
              "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [], "StorageCompression": False,
              "HttpCompressionEnabled": False}
    (work / "orthanc.json").write_text(json.dumps(config))
    p = subprocess.Popen(["/usr/sbin/Orthanc", str(work / "orthanc.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http}"
    try:
        wait(lambda: get(f"{url}/system", 2), "Orthanc", 60)
        ids = []
        for f in sample:
            req = urllib.request.Request(f"{url}/instances", data=f.read_bytes(), method="POST")
            ids.append(json.loads(urllib.request.urlopen(req, timeout=60).read())["ID"])
        thumb = f"/frames/0/rendered?width=128&height=128"
        try:
            get(f"{url}/instances/{ids[0]}{thumb}")
        except Exception:
            thumb = "/preview"  # no scaled rendering: a second preview stands in
        c0, t0 = cpu_seconds(p.pid), time.time()
        for i in ids:
            get(f"{url}/instances/{i}/preview")
            get(f"{url}/instances/{i}{thumb}")
        cpu = cpu_seconds(p.pid) - c0
        return {"instances": len(ids), "cpu_s": cpu, "wall_s": time.time() - t0, "per_cpu_s": len(ids) / cpu, "thumbnail_route": thumb}
    finally:
        p.terminate()
        p.wait(30)


def latency(binary, corpus, work, rate, count):
    from pydicom import dcmread
    from pynetdicom import AE
    data = work / "yy-latency"
    p, url, dicom = serve(binary, data, {})
    files = sorted(corpus.iterdir())[:count]
    # Sent from the files (pynetdicom streams a file's data set as stored:
    # no encoding on the sender's side, so the sender keeps the pace).
    first = dcmread(files[0], stop_before_pixels=True)
    uids = [str(dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for f in files]
    success = {}
    seen = {}
    stop = threading.Event()

    def poll():
        db = None
        while not stop.is_set():
            try:
                db = db or sqlite3.connect(f"file:{data}/index.sqlite?mode=ro", uri=True, timeout=1)
                for (uid,) in db.execute("SELECT i.sop_instance_uid FROM renditions r JOIN instances i ON i.id = r.instance_pk WHERE r.kind = 'thumbnail'"):
                    seen.setdefault(uid, time.monotonic())
            except sqlite3.Error:
                db = None
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    # Several associations, each pacing its share: one pynetdicom
    # association alone does not keep up with 200 instances/s.
    lanes = 4
    errors = []

    def lane(k):
        # The sender stands for modalities on other machines: on this one it
        # yields the CPU to the server (Linux: per thread).
        os.setpriority(os.PRIO_PROCESS, 0, 10)
        ae = AE(ae_title=f"BENCH{k}")
        ae.add_requested_context(first.SOPClassUID, first.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", dicom, ae_title="YUNYING")
        if not assoc.is_established:
            errors.append("association with Yunying failed")
            return
        for j in range(k, len(files), lanes):
            due = start + j / rate
            while time.monotonic() < due:
                time.sleep(max(0.0, due - time.monotonic()))
            status = assoc.send_c_store(files[j])
            if status and status.Status == 0:
                success[uids[j]] = time.monotonic()
        assoc.release()

    start = time.monotonic() + 0.5
    threads = [threading.Thread(target=lane, args=(k,)) for k in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit(errors[0])
    sent_rate = len(files) / (time.monotonic() - start)
    deadline = time.time() + 120
    while len(seen.keys() & success.keys()) < len(success) and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join(5)
    p.terminate()
    p.wait(30)
    delays = sorted(seen[u] - t for u, t in success.items() if u in seen)
    q = lambda f: delays[min(len(delays) - 1, int(f * len(delays)))] if delays else float("nan")
    return {"sent": len(files), "acknowledged": len(success), "thumbnails": len(delays), "rate": sent_rate,
            "p50_s": q(0.5), "p95_s": q(0.95), "max_s": delays[-1] if delays else float("nan")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=200, help="instances the peers render (they are slower; a sample keeps the run short)")
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--yunying", default=str(Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/yunying/target")) / "release/yunying"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="yy-renditions-bench-"))
    log(f"generating {args.slices} CT slices (512x512, 16 bit)")
    subprocess.run([sys.executable, str(ROOT / "testdata/gen_ct_series.py"), "--out", str(work / "ct"), "--slices", str(args.slices), "--seed", "9", "-q"], check=True)
    corpus = work / "ct" / "0"
    files = sorted(corpus.iterdir())
    sample = files[:: max(1, len(files) // args.sample)][: args.sample]

    log("Yunying: rendition throughput, one worker, thumbnails and previews only")
    yt = yunying_throughput(args.yunying, corpus, work, False)
    log(f"  {yt['per_cpu_s']:.1f} renditions per CPU-second")
    log("Yunying: rendition throughput, one worker, with the lossless HTJ2K copies (the default)")
    yy = yunying_throughput(args.yunying, corpus, work, True)
    log(f"  {yy['per_cpu_s']:.1f} renditions per CPU-second")
    log(f"DCMTK dcmj2pnm: {len(sample)} files")
    dc = dcmtk_throughput(sample, work)
    log(f"  {dc['per_cpu_s']:.1f} per CPU-second")
    log(f"Orthanc /preview: {len(sample)} instances")
    orth = orthanc_throughput(sample, work)
    log(f"  {orth['per_cpu_s']:.1f} per CPU-second")
    log(f"Yunying: C-STORE success to stored thumbnail at {args.rate:.0f} instances/s")
    lat = latency(args.yunying, corpus, work, args.rate, args.slices)
    log(f"  p95 {lat['p95_s'] * 1000:.0f} ms")

    ratio = yy["lossless_bytes"] / yy["pixel_bytes"]
    cpu = platform.processor() or platform.machine()
    md = [
        "# Renditions: Yunying vs DCMTK dcmj2pnm vs Orthanc /preview",
        "",
        f"{datetime.date.today()} · {os.cpu_count()} cores ({cpu}) · {args.slices}-slice CT, 512×512, 16-bit, Explicit VR Little Endian",
        "",
        "| System | What one rendition is | Instances | CPU s | Renditions per CPU-second | Yunying ÷ system |",
        "|---|---|---|---|---|---|",
        f"| Yunying (1 worker, `lossless = false`) | 128 px thumbnail + full-size JPEG preview | {yt['instances']} | {yt['cpu_s']:.1f} | {yt['per_cpu_s']:.1f} | 1.00× |",
        f"| Yunying (1 worker, default) | the same, plus the lossless HTJ2K copy | {yy['instances']} | {yy['cpu_s']:.1f} | {yy['per_cpu_s']:.1f} | {yt['per_cpu_s'] / yy['per_cpu_s']:.2f}× |",
        f"| DCMTK `dcmj2pnm +oj` | full-size JPEG + `+Sxv 128` thumbnail, one process each | {dc['instances']} | {dc['cpu_s']:.1f} | {dc['per_cpu_s']:.1f} | {yt['per_cpu_s'] / dc['per_cpu_s']:.2f}× |",
        f"| Orthanc 1.10.1 | `/preview` (full-size PNG) + `{orth['thumbnail_route']}` | {orth['instances']} | {orth['cpu_s']:.1f} | {orth['per_cpu_s']:.1f} | {yt['per_cpu_s'] / orth['per_cpu_s']:.2f}× |",
        "",
        f"C-STORE success → stored thumbnail, {lat['sent']} instances sent at {lat['rate']:.0f}/s (four associations from a sender at nice 10, default workers): "
        f"p50 {lat['p50_s'] * 1000:.0f} ms, **p95 {lat['p95_s'] * 1000:.0f} ms**, max {lat['max_s'] * 1000:.0f} ms ({lat['thumbnails']} of {lat['acknowledged']} seen; goal p95 ≤ 1 s).",
        "",
        f"Lossless HTJ2K copies: {yy['lossless_bytes'] / 2**20:.1f} MiB for {yy['pixel_bytes'] / 2**20:.1f} MiB of uncompressed pixel data "
        f"(**{ratio * 100:.0f}%**; {yy['lossless_bytes'] / yy['original_bytes'] * 100:.0f}% of the stored objects; goal ≤ 60%), {yy['lossless_copies']} copies.",
        "",
        "Command: `cargo build --release && python3 benches/renditions.py`",
        "",
    ]
    text = "\n".join(md)
    print("\n" + text)
    (ROOT / "benches/results/renditions.md").write_text(text)
    (ROOT / "benches/results/renditions.json").write_text(json.dumps({"yunying_previews": yt, "yunying": yy, "dcmtk": dc, "orthanc": orth, "latency": lat}, indent=1))


if __name__ == "__main__":
    main()
