#!/usr/bin/env python3
"""Soak: mixed traffic against one Yunying for a long time, on either
backend, recording what a leak or a slow decay would show.

Traffic, all at once, for --minutes:
  - C-STORE from 8 associations (pynetdicom): every association sends one
    new study (16 CT slices, 256x256, fresh UIDs, one of 50 patients) and
    is released, as a modality does, paced to --store-rate instances/s;
  - 16 HTTP clients (keep-alive): QIDO-RS (studies by patient, a study's
    instances), WADO-RS (an instance, a series' metadata), rendered JPEG
    and thumbnails, of studies stored so far;
  - a cloud film opened every 10 s: made (API token), verified (birth
    date), its info and its study read with the session cookie;
  - a C-MOVE of a stored study every 15 s to a registered destination (an
    in-process pynetdicom SCP that keeps nothing).

Every 10 s: the server's RSS, open descriptors and threads (/proc), its
async tasks (`yunying_runtime_tasks`), and per operation the count, p50,
p99 and errors of that window. At the end: SIGTERM (a graceful stop must
exit 0), and the instances the server says it stored are checked against
the C-STOREs that got a success.

Goal (issue 24): after warm-up, RSS and descriptors flat (growth <= 10%),
p99 stable, zero errors. The report (Markdown, JSON and PNG plots) goes to
benches/results/soak-<backend>.*.

    python3 benches/soak.py --backend embedded --minutes 60
    python3 benches/soak.py --backend postgres-s3 --minutes 60
    python3 benches/soak.py --minutes 3            # smoke run

Needs: a release build (scripts/build-viewer.sh && cargo build --release),
pydicom, pynetdicom and Pillow (scripts/install-deps.sh installs them);
postgres-s3 also PostgreSQL and Garage (YUNYING_WITH_SERVICES=1
scripts/install-deps.sh), run by storage/local-services.sh in a directory
of its own.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scaleout as so  # noqa: E402  (sibling script: helpers only)

ib = so.ib
REPO = ib.REPO
API_TOKEN = "soak-api-token-0123456789abcdef"
STUDY_SLICES = 16
PATIENTS = 50
SAMPLE_SECONDS = 10.0
OPS = ["c-store", "qido-studies", "qido-instances", "wado-instance", "metadata", "rendered", "thumbnail", "film-open", "c-move"]


def log(msg: str) -> None:
    ib.log(msg)


# --------------------------------------------------------------------------
# What each window saw
# --------------------------------------------------------------------------

class Window:
    """Latencies and errors per operation since the last sample."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = {op: [] for op in OPS}
        self.err: dict[str, int] = {op: 0 for op in OPS}
        self.examples: dict[str, list[str]] = {op: [] for op in OPS}

    def ok(self, op: str, seconds: float) -> None:
        with self.lock:
            self.lat[op].append(seconds)

    def error(self, op: str, what: str) -> None:
        with self.lock:
            self.err[op] += 1
            if len(self.examples[op]) < 5:
                self.examples[op].append(what[:300])

    def take(self) -> tuple[dict, dict, dict]:
        with self.lock:
            lat, err, ex = self.lat, self.err, self.examples
            self.lat = {op: [] for op in OPS}
            self.err = {op: 0 for op in OPS}
            self.examples = {op: [] for op in OPS}
        return lat, err, ex


class Stored:
    """Studies stored so far: (patient id, study, series, [sop uids])."""

    def __init__(self):
        self.lock = threading.Lock()
        self.studies: list[tuple[str, str, str, list[str]]] = []
        self.acknowledged = 0

    def add(self, study: tuple[str, str, str, list[str]]) -> None:
        with self.lock:
            self.studies.append(study)

    def ack(self) -> None:
        with self.lock:
            self.acknowledged += 1

    def pick(self):
        with self.lock:
            if not self.studies:
                return None
            # Mostly recent studies, as a reading room does, some old ones.
            recent = self.studies[-200:]
            return random.choice(recent if random.random() < 0.8 else self.studies)


# --------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------

def storer(port: int, datasets, rate: float, stop: threading.Event, window: Window, stored: Stored, n: int) -> None:
    from pydicom.uid import generate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    ae = AE(ae_title=f"SOAKSTORE{n}")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    interval = 1.0 / rate
    # This thread's own copies, changed in place instance by instance: a
    # copy.copy of a pydicom Dataset shares its elements with the original,
    # so eight threads setting UIDs on shallow copies raced, and an instance
    # could go out under another thread's study (found as a C-MOVE of
    # "17 of 16" and a WADO 404 for the UIDs the soak thought it had sent).
    datasets = [copy.deepcopy(ds) for ds in datasets]
    while not stop.is_set():
        patient = f"SOAK-{random.randrange(PATIENTS):03d}"
        study, series = generate_uid(), generate_uid()
        sops: list[str] = []
        try:
            assoc = ae.associate("127.0.0.1", port, ae_title="YUNYING")
        except Exception as e:  # noqa: BLE001
            window.error("c-store", f"associate: {e}")
            stop.wait(1)
            continue
        if not assoc.is_established:
            window.error("c-store", "association not established")
            stop.wait(1)
            continue
        try:
            for d in datasets:
                if stop.is_set():
                    break
                next_at = time.monotonic() + interval
                sop = generate_uid()
                d.PatientID, d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID = patient, study, series, sop
                d.file_meta.MediaStorageSOPInstanceUID = sop
                t0 = time.perf_counter()
                status = assoc.send_c_store(d)
                took = time.perf_counter() - t0
                code = getattr(status, "Status", None) if status is not None else None
                if code == 0:
                    window.ok("c-store", took)
                    stored.ack()
                    sops.append(sop)
                else:
                    window.error("c-store", f"status {code}")
                stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            assoc.release()
        if sops:
            stored.add((patient, study, series, sops))


class Http:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes | None = None) -> tuple[int, bytes, dict]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data, {k.lower(): v for k, v in r.getheaders()}
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed (its idle
                # timeout) between requests: once more on a new one.
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def reader(port: int, stop: threading.Event, window: Window, stored: Stored, pause: float) -> None:
    client = Http(port)
    while not stop.is_set():
        picked = stored.pick()
        if picked is None:
            stop.wait(0.5)
            continue
        patient, study, series, sops = picked
        sop = random.choice(sops)
        base = f"/dicom-web/studies/{study}"
        op, path, accept = random.choice([
            ("qido-studies", f"/dicom-web/studies?PatientID={patient}&limit=50", "application/dicom+json"),
            ("qido-instances", f"{base}/instances", "application/dicom+json"),
            ("wado-instance", f"{base}/series/{series}/instances/{sop}", 'multipart/related; type="application/dicom"'),
            ("metadata", f"{base}/series/{series}/metadata", "application/dicom+json"),
            ("rendered", f"{base}/series/{series}/instances/{sop}/rendered", "image/jpeg"),
            ("thumbnail", f"{base}/series/{series}/instances/{sop}/thumbnail", "image/jpeg"),
        ])
        t0 = time.perf_counter()
        try:
            status, body, _ = client.request("GET", path, {"Accept": accept})
        except Exception as e:  # noqa: BLE001
            window.error(op, f"{path}: {e!r}")
            continue
        took = time.perf_counter() - t0
        if status == 200 and body:
            window.ok(op, took)
        else:
            window.error(op, f"{path}: {status} {body[:200]!r}")
        stop.wait(pause)


def film_opener(port: int, birth: str, stop: threading.Event, window: Window, stored: Stored) -> None:
    api = Http(port)
    patient_side = Http(port)
    while not stop.wait(10):
        picked = stored.pick()
        if picked is None:
            continue
        _, study, _, _ = picked
        t0 = time.perf_counter()
        try:
            body = json.dumps({"study": study}).encode()
            status, made, _ = api.request("POST", "/api/films", {"Authorization": f"Bearer {API_TOKEN}",
                                                                 "Content-Type": "application/json"}, body)
            if status not in (200, 201):
                window.error("film-open", f"create: {status} {made[:200]!r}")
                continue
            film = json.loads(made)
            film_id, token = film["film"]["film_id"], film["url"].split("/f#", 1)[1]
            status, answer, headers = patient_side.request(
                "POST", "/api/film/verify", {"Content-Type": "application/json"},
                json.dumps({"token": token, "answer": birth}).encode())
            if status != 200:
                window.error("film-open", f"verify: {status} {answer[:200]!r}")
                continue
            cookie = headers.get("set-cookie", "").split(";", 1)[0]
            for path in (f"/api/film/{film_id}/info", f"/api/film/{film_id}/dicom-web/studies/{study}/series"):
                status, got, _ = patient_side.request("GET", path, {"Cookie": cookie, "Accept": "application/json"})
                if status != 200:
                    window.error("film-open", f"{path.replace(film_id, 'FILM')}: {status} {got[:200]!r}")
                    break
            else:
                window.ok("film-open", time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001
            window.error("film-open", repr(e))


def destination(port: int):
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    ae = AE(ae_title="SOAKDEST")
    ae.supported_contexts = AllStoragePresentationContexts
    return ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0x0000)])


def mover(port: int, stop: threading.Event, window: Window, stored: Stored) -> None:
    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

    ae = AE(ae_title="SOAKMOVE")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    while not stop.wait(15):
        picked = stored.pick()
        if picked is None:
            continue
        _, study, _, sops = picked
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = study
        t0 = time.perf_counter()
        try:
            assoc = ae.associate("127.0.0.1", port, ae_title="YUNYING")
            if not assoc.is_established:
                window.error("c-move", "association not established")
                continue
            final = None
            for status, _ in assoc.send_c_move(ds, "SOAKDEST", StudyRootQueryRetrieveInformationModelMove):
                if status is not None and "Status" in status and status.Status not in (0xFF00, 0xFF01):
                    final = status
            assoc.release()
            code = final.Status if final is not None else None
            failed = getattr(final, "NumberOfFailedSuboperations", 0) if final is not None else None
            completed = getattr(final, "NumberOfCompletedSuboperations", None) if final is not None else None
            if code == 0 and not failed and completed == len(sops):
                window.ok("c-move", time.perf_counter() - t0)
            else:
                window.error("c-move", f"status {code}, completed {completed} of {len(sops)}, failed {failed}")
        except Exception as e:  # noqa: BLE001
            window.error("c-move", repr(e))


# --------------------------------------------------------------------------
# The server's resources
# --------------------------------------------------------------------------

def resources(pid: int, http_port: int) -> dict:
    # RssAnon is the heap and stacks (what a leak grows); RssFile is mostly
    # the binary's own pages, read in as more of its code runs.
    out = {"rss_mb": ib.vm_kb(pid, "VmRSS") / 1024.0, "rss_anon_mb": ib.vm_kb(pid, "RssAnon") / 1024.0,
           "rss_file_mb": ib.vm_kb(pid, "RssFile") / 1024.0, "threads": None, "fds": None, "tasks": None}
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        out["threads"] = ib.vm_kb(pid, "Threads")
    except OSError:
        pass
    status, body = ib.http_get(f"http://127.0.0.1:{http_port}/metrics", 10)
    if status == 200:
        out["tasks"] = ib.metric(body, "yunying_runtime_tasks")
        out["stored_total"] = ib.metric(body, "yunying_instances_stored_total")
    return out


def pct(values: list[float], q: float) -> float | None:
    return so.pct(values, q) if values else None


# --------------------------------------------------------------------------
# Plots (Pillow; no plotting library needed)
# --------------------------------------------------------------------------

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34)]


def line_chart(path: Path, title: str, ylabel: str, series: dict[str, list[tuple[float, float]]], warmup_min: float) -> None:
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 1000, 420, 70, 190, 40, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    points = [p for s in series.values() for p in s if p[1] is not None]
    if not points:
        d.text((left, top), f"{title}: no data", fill="black")
        img.save(path)
        return
    xmax = max(p[0] for p in points) or 1.0
    ymax = max(p[1] for p in points) * 1.1 or 1.0
    x = lambda t: left + (w - left - right) * t / xmax  # noqa: E731
    y = lambda v: h - bottom - (h - top - bottom) * v / ymax  # noqa: E731
    d.text((left, 12), title, fill="black")
    d.line([(left, top), (left, h - bottom), (w - right, h - bottom)], fill="black")
    for i in range(6):
        v = ymax * i / 5
        d.line([(left - 4, y(v)), (w - right, y(v))], fill=(230, 230, 230))
        d.text((5, y(v) - 6), f"{v:.3g}", fill="black")
        t = xmax * i / 5
        d.text((x(t) - 10, h - bottom + 6), f"{t:.0f}" if xmax >= 10 else f"{t:.1f}", fill="black")
    d.text((left, h - 20), f"minutes   ({ylabel})", fill="black")
    if 0 < warmup_min < xmax:
        d.line([(x(warmup_min), top), (x(warmup_min), h - bottom)], fill=(180, 180, 180))
        d.text((x(warmup_min) + 3, top), "warm-up ends", fill=(120, 120, 120))
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = [(x(t), y(v)) for t, v in pts if v is not None]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        d.rectangle([(w - right + 10, top + 18 * i), (w - right + 22, top + 18 * i + 10)], fill=color)
        d.text((w - right + 28, top + 18 * i - 1), name, fill="black")
    img.save(path)


# --------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------

def corpus() -> tuple[list, str]:
    import pydicom

    root = Path("/dev/shm/yunying-soak-corpus")
    if not list(root.rglob("*.dcm")):
        subprocess.run([sys.executable, str(REPO / "testdata" / "gen_ct_series.py"), "--out", str(root), "--slices",
                        str(STUDY_SLICES), "--rows", "256", "--cols", "256", "-q"], check=True)
    files = sorted(root.rglob("*.dcm"))[:STUDY_SLICES]
    datasets = [pydicom.dcmread(f) for f in files]
    b = str(datasets[0].get("PatientBirthDate", ""))
    if len(b) != 8:
        raise ib.BenchError("the corpus has no patient birth date: films could not be verified")
    return datasets, f"{b[:4]}-{b[4:6]}-{b[6:]}"


def register(server: so.YunyingOn, services, title: str, port: int) -> None:
    env = {**os.environ, **(services.server_env() if services else {})}
    out = subprocess.run([server.binary, "ae", "add", title, "127.0.0.1", str(port), "--platform", "--config",
                          str(server.workdir / "bench.toml"), "--data-dir", str(server.workdir / "data")],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise ib.BenchError(f"yunying ae add {title}: {out.stderr}")


def run(args) -> dict:
    datasets, birth = corpus()
    services = so.Services() if args.backend == "postgres-s3" else None
    server = so.YunyingOn(args.yunying, services, extra_toml=f'[http]\napi_token = "{API_TOKEN}"\n')
    dest_port = ib.free_ports(1)[0]
    try:
        server.start()
        register(server, services, "SOAKMOVE", ib.free_ports(1)[0])
        register(server, services, "SOAKDEST", dest_port)
        dest = destination(dest_port)
        stop, window, stored = threading.Event(), Window(), Stored()
        threads = [threading.Thread(target=storer, args=(server.dicom_port, datasets, args.store_rate / 8, stop, window, stored, i),
                                    daemon=True) for i in range(8)]
        threads += [threading.Thread(target=reader, args=(server.http_port, stop, window, stored, args.http_pause), daemon=True)
                    for _ in range(16)]
        threads.append(threading.Thread(target=film_opener, args=(server.http_port, birth, stop, window, stored), daemon=True))
        threads.append(threading.Thread(target=mover, args=(server.dicom_port, stop, window, stored), daemon=True))
        log(f"soak on {args.backend} for {args.minutes} min: pid {server.proc.pid}, DICOM {server.dicom_port}, HTTP {server.http_port}")
        started = time.monotonic()
        for t in threads:
            t.start()
        samples = []
        deadline = started + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(SAMPLE_SECONDS, max(0.0, deadline - time.monotonic())))
            lat, err, ex = window.take()
            sample = {"minute": (time.monotonic() - started) / 60, **resources(server.proc.pid, server.http_port), "ops": {}}
            for op in OPS:
                sample["ops"][op] = {"n": len(lat[op]), "errors": err[op], "p50": pct(lat[op], 0.5), "p99": pct(lat[op], 0.99),
                                     "examples": ex[op]}
            samples.append(sample)
            if len(samples) % 6 == 0:
                log(f"{sample['minute']:.1f} min: RSS {sample['rss_mb']:.0f} MB, fds {sample['fds']}, tasks {sample['tasks']}, "
                    f"stored {stored.acknowledged}, errors {sum(err.values())}")
        stop.set()
        for t in threads:
            t.join(timeout=180)
        lat, err, ex = window.take()
        last = resources(server.proc.pid, server.http_port)
        stored_by_server = last.get("stored_total")
        t0 = time.monotonic()
        server.proc.send_signal(15)
        try:
            exit_code = server.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            exit_code = None
        stop_seconds = time.monotonic() - t0
        server.proc = None
        dest.shutdown()
        return {"backend": args.backend, "minutes": args.minutes, "store_rate": args.store_rate, "http_pause": args.http_pause,
                "samples": samples, "acknowledged": stored.acknowledged, "stored_by_server": stored_by_server,
                "late_errors": err, "late_examples": ex, "sigterm_exit": exit_code, "sigterm_seconds": stop_seconds,
                "version": ib.version_of([args.yunying, "--version"]), "machine": machine()}
    finally:
        server.stop()
        server.cleanup()
        if services:
            services.stop()


def machine() -> str:
    cpus = os.cpu_count()
    mem = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return f"{cpus} cores, {mem} GiB"


def summarize(r: dict) -> dict:
    samples = r["samples"]
    warm = min(5.0, r["minutes"] * 0.1)
    after = [s for s in samples if s["minute"] >= warm]
    k = max(1, len(after) // 6)
    first, last = after[:k], after[-k:]

    def growth(key):
        a = [s[key] for s in first if s.get(key) is not None]
        b = [s[key] for s in last if s.get(key) is not None]
        if not a or not b:
            return None
        a, b = statistics.mean(a), statistics.mean(b)
        return a, b, (b - a) / a * 100 if a else 0.0

    ops = {}
    for op in OPS:
        n = sum(s["ops"][op]["n"] for s in samples)
        errors = sum(s["ops"][op]["errors"] for s in samples) + r["late_errors"][op]
        p99s = [s["ops"][op]["p99"] for s in after if s["ops"][op]["p99"] is not None]
        p50s = [s["ops"][op]["p50"] for s in after if s["ops"][op]["p50"] is not None]
        third = max(1, len(p99s) // 3)
        ops[op] = {"n": n, "errors": errors,
                   "p50_ms": statistics.median(p50s) * 1000 if p50s else None,
                   "p99_first_third_ms": statistics.median(p99s[:third]) * 1000 if p99s else None,
                   "p99_last_third_ms": statistics.median(p99s[-third:]) * 1000 if p99s else None,
                   "examples": [e for s in samples for e in s["ops"][op]["examples"]][:5] + r["late_examples"][op][:2]}
    return {"warmup_minutes": warm, "rss": growth("rss_mb"), "rss_anon": growth("rss_anon_mb"), "fds": growth("fds"), "tasks": growth("tasks"),
            "threads": growth("threads"), "ops": ops, "errors": sum(o["errors"] for o in ops.values())}


def report(r: dict, s: dict, stem: str) -> str:
    ok = lambda b: "yes" if b else "**no**"  # noqa: E731
    lines = [f"# Soak, {r['backend']}: {r['minutes']} minutes of mixed traffic", "",
             f"Run {datetime.date.today().isoformat()}, {r['version']}, release build, {r['machine']}; "
             f"`python3 benches/soak.py --backend {r['backend']} --minutes {r['minutes']:g}`.", "",
             f"Traffic: C-STORE from 8 associations at {r['store_rate']:g} instances/s in all (one new 16-slice study per "
             f"association), 16 HTTP clients (a request, then {r['http_pause']:g} s pause), a film opened every 10 s, a C-MOVE "
             "every 15 s. Renditions on (the default). Samples every 10 s; the first "
             f"{s['warmup_minutes']:g} minutes are warm-up.", "",
             "## Goals", "",
             "| Goal | Measured | Met |", "|---|---|---|"]
    for key, what in [("rss", "RSS (MB)"), ("rss_anon", "anonymous memory, RssAnon (MB): heap and stacks"),
                      ("fds", "open descriptors"), ("tasks", "async tasks")]:
        if s.get(key) is None:
            continue
        a, b, g = s[key]
        lines.append(f"| {what} flat after warm-up (growth <= 10%) | {a:.1f} -> {b:.1f} ({g:+.1f}%) | {ok(g <= 10)} |")
    lines.append(f"| zero errors | {s['errors']} | {ok(s['errors'] == 0)} |")
    drift = [(op, o) for op, o in s["ops"].items() if o["p99_first_third_ms"] and o["p99_last_third_ms"]]
    worst = max((o["p99_last_third_ms"] / o["p99_first_third_ms"], op) for op, o in drift) if drift else (1.0, "-")
    lines.append(f"| p99 stable (last third within 2x of the first) | worst: {worst[1]} x{worst[0]:.2f} | {ok(worst[0] <= 2)} |")
    lost = r["acknowledged"] - (r["stored_by_server"] or 0)
    lines.append(f"| every acknowledged C-STORE stored | {r['acknowledged']} acknowledged, server counts "
                 f"{r['stored_by_server']} | {ok(lost <= 0)} |")
    lines.append(f"| SIGTERM at the end exits 0 | exit {r['sigterm_exit']} after {r['sigterm_seconds']:.1f} s | "
                 f"{ok(r['sigterm_exit'] == 0)} |")
    lines += ["", "## Operations", "", "| Operation | Count | Errors | p50 (ms) | p99 first third (ms) | p99 last third (ms) |",
              "|---|---|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for op, o in s["ops"].items():
        lines.append(f"| {op} | {o['n']} | {o['errors']} | {fmt(o['p50_ms'])} | {fmt(o['p99_first_third_ms'])} | "
                     f"{fmt(o['p99_last_third_ms'])} |")
    examples = [(op, e) for op, o in s["ops"].items() for e in o["examples"]]
    if examples:
        lines += ["", "Errors seen (first few):", ""] + [f"- {op}: `{e}`" for op, e in examples[:20]]
    lines += ["", "## Plots", "", f"![memory]({stem}-memory.png)", "", f"![descriptors, threads and tasks]({stem}-resources.png)", "",
              f"![p99 latency]({stem}-p99.png)", "", f"![p50 latency]({stem}-p50.png)", "",
              f"Every sample: `{stem}.json`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["embedded", "postgres-s3"], default="embedded")
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--store-rate", type=float, default=4.0, help="C-STORE instances per second, all associations together")
    p.add_argument("--http-pause", type=float, default=0.5, help="seconds each HTTP client waits between requests")
    p.add_argument("--yunying", default=None)
    p.add_argument("--out-dir", type=Path, default=REPO / "benches" / "results")
    args = p.parse_args(argv)
    args.yunying = args.yunying or ib.find_binary(
        [os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "release/yunying"),
         os.path.expanduser("~/.cache/yunying/target/release/yunying"), str(REPO / "target/release/yunying")],
        "yunying", "scripts/build-viewer.sh && cargo build --release")
    r = run(args)
    s = summarize(r)
    stem = f"soak-{args.backend}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(json.dumps({"run": r, "summary": s}, indent=1))
    t = lambda key: [(x["minute"], x[key]) for x in r["samples"]]  # noqa: E731
    warm = s["warmup_minutes"]
    line_chart(args.out_dir / f"{stem}-memory.png", f"Yunying memory, {args.backend}", "MB",
               {"RSS": t("rss_mb"), "RssAnon (heap)": [(x["minute"], x.get("rss_anon_mb")) for x in r["samples"]],
                "RssFile (binary)": [(x["minute"], x.get("rss_file_mb")) for x in r["samples"]]}, warm)
    line_chart(args.out_dir / f"{stem}-resources.png", f"Descriptors, threads and async tasks, {args.backend}", "count",
               {"open fds": t("fds"), "threads": t("threads"), "async tasks": t("tasks")}, warm)
    for q in ("p99", "p50"):
        line_chart(args.out_dir / f"{stem}-{q}.png", f"{q} latency per 10 s window, {args.backend}", "ms",
                   {op: [(x["minute"], x["ops"][op][q] * 1000 if x["ops"][op][q] is not None else None) for x in r["samples"]]
                    for op in OPS}, warm)
    text = report(r, s, stem)
    (args.out_dir / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
