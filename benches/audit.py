#!/usr/bin/env python3
"""The audit ledger's cost, measured in the same run against the build before it.

Three sections (all by default, or `--sections ingest,verify,qido`):

  ingest  C-STORE ingest with the ledger and SM3 on (the candidate build) vs
          off (the base build, before the ledger and SM3): the same corpus,
          the same DCMTK storescu, alternating runs of both binaries.
          Goal: the candidate at most 10 % slower.
  verify  `yunying audit checkpoint` (sequence + sign) and `yunying audit
          verify` of a ledger of --events (1,000,000) realistic events,
          written straight into a fresh SQLite index's `audit_pending`.
          Goal: verify <= 30 s on a 2-core machine.
  qido    QIDO-RS study-search latency from one client while 16 viewers
          (metadata, rendered, frames and study-list queries, in a loop) load
          the server: the candidate (recording a `query` event per search and
          `study-viewed` sittings) vs the base, both servers up at once, the
          load alternating between them per round. Goal: p50 at most 5 % slower.

    cargo build --release                                   # the candidate
    git worktree add /tmp/base 0e66e45 && (cd /tmp/base && cargo build --release)
    python3 benches/audit.py --base /tmp/base/target/release/yunying
    python3 benches/audit.py --base B --sections verify --events 100000     # smoke test

Needs DCMTK (storescu) for `ingest`; python3 only (sqlite3 is in the standard
library). Writes benches/results/audit.md and .json.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (servers, storescu runs, /proc, machine description)

from ingest import BenchError  # noqa: E402

REPO = ib.REPO
WORK_ROOT = Path("/var/tmp")


def log(msg: str) -> None:
    print(f"[audit] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout: float = 3600) -> tuple[float, str]:
    """Run `cmd`, return (wall seconds, stdout); a failure is an error."""
    t0 = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env={**ib.ENV_NODELAY, "NO_COLOR": "1"})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd[-3:]))} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return wall, r.stdout


def ledger_counts(data: Path) -> dict:
    """Events per kind in a data dir's SQLite index (pending + sequenced), or {} without a ledger."""
    db = data / "index.sqlite"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "ledger_entries" not in tables:
            return {}
        counts: dict[str, int] = {}
        for (kind, n) in con.execute("SELECT event, COUNT(*) FROM ledger_entries GROUP BY event"):
            counts[kind] = counts.get(kind, 0) + n
        instances = sum(json.loads(b)["facts"].get("count", 0) for (b,) in con.execute(
            "SELECT body FROM ledger_entries WHERE event = 'ingest'"))
        for (body,) in con.execute("SELECT body FROM audit_pending"):
            e = json.loads(body)
            counts[e["event"]] = counts.get(e["event"], 0) + 1
            if e["event"] == "ingest":
                instances += e["facts"].get("count", 0)
        if instances:
            counts["ingested instances named"] = instances
        counts["pending (not yet sequenced)"] = con.execute("SELECT COUNT(*) FROM audit_pending").fetchone()[0]
        return counts
    finally:
        con.close()


# ---------------------------------------------------------------- ingest


class Receiver(ib.Yunying):
    """ingest.py's Yunying receiver, named, that counts the ledger's events before its data dir goes."""

    def __init__(self, label: str, binary: str):
        super().__init__(binary)
        self.name = label
        self.ledger: list[dict] = []

    def stop(self) -> None:
        super().stop()
        if self.workdir:
            self.ledger.append(ledger_counts(self.workdir / "data"))


def section_ingest(args, base: str, cand: str) -> dict:
    storescu = ib.storescu_path()
    files, corpus = ib.prepare_corpus(argparse.Namespace(corpus=None, instances=args.instances, generator="auto"))
    assocs_list = [int(a) for a in args.assocs.split(",")]
    receivers = {"base": Receiver("base (ledger and SM3 off)", base), "candidate": Receiver("candidate (ledger and SM3 on)", cand)}
    results = []
    with tempfile.TemporaryDirectory(prefix="yunying-bench-audit-logs-", dir=WORK_ROOT) as logroot:
        for rnd in range(1, args.rounds + 1):
            for a in assocs_list:
                order = ["base", "candidate"] if rnd % 2 else ["candidate", "base"]
                for key in order:
                    s = receivers[key]
                    logdir = Path(logroot) / f"{key}-{a}-{rnd}"
                    logdir.mkdir()
                    r = ib.measure(s, storescu, files, a, args.timeout, logdir)
                    r.update(build=key, round=rnd, ledger=s.ledger[-1] if s.ledger else {})
                    results.append(r)
                    log(f"round {rnd}, {a} assoc(s), {key}: {r['throughput']:.1f} inst/s, {r['cpu_s_per_1000']:.2f} CPU-s/1000"
                        + (f"  ERRORS: {r['errors']}" if r["errors"] else ""))
    summary = {}
    for a in assocs_list:
        med = {k: statistics.median(r["throughput"] for r in results if r["build"] == k and r["assocs"] == a) for k in receivers}
        cpu = {k: statistics.median(r["cpu_s_per_1000"] for r in results if r["build"] == k and r["assocs"] == a) for k in receivers}
        summary[str(a)] = {"median_inst_s": med, "median_cpu_s_per_1000": cpu, "ratio": med["candidate"] / med["base"]}
    return {"corpus": corpus, "instances": len(files), "rounds": args.rounds, "assocs": assocs_list, "runs": results, "summary": summary}


# ---------------------------------------------------------------- verify


def uid(rng: random.Random) -> str:
    return "2.25." + str(rng.getrandbits(120))


def hexd(rng: random.Random) -> str:
    return "%064x" % rng.getrandbits(256)


def body(at_ms: int, event: str, result: str, principal: str, institution: str, via: str, client: str,
         studies: list, patients: list, detail: str, facts: dict) -> str:
    """An event body as `yunying_audit::Event::body()` writes it: struct field order, facts sorted, no spaces."""
    e = {"v": 1, "at_ms": at_ms, "node": "node-1", "event": event, "result": result, "principal": principal,
         "institution": institution, "via": via, "client": client, "studies": studies, "patients": patients, "detail": detail}
    if facts:
        e["facts"] = dict(sorted(facts.items()))
    return json.dumps(e, separators=(",", ":"), ensure_ascii=False)


AT, FIRST = "1111111111111", "2222222222222"  # placeholders in the shapes


def shapes(n: int, rng: random.Random) -> list[str]:
    """`n` event bodies of a realistic mix (their times are placeholders)."""
    studies = [uid(rng) for _ in range(5000)]
    series = [uid(rng) for _ in range(20000)]
    # Instances as their JSON (uid, class, SHA-256, SM3), made once: the events name runs of them.
    pool = [json.dumps({"sop_instance_uid": uid(rng), "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "sha256": hexd(rng),
                        "sm3": hexd(rng)}, separators=(",", ":")) for _ in range(20000)]
    patients = [{"key": i + 1, "digest": hexd(rng)} for i in range(2000)]
    people = [f"person:u{i}" for i in range(300)]
    institutions = ["H1", "H2", "H3", "H4"]
    t, out = int(AT), []
    for _ in range(n):
        who = rng.choice(people)
        inst = rng.choice(institutions)
        client = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        k = rng.random()
        if k < 0.40:
            st = rng.randrange(len(studies))
            items = {"metadata": rng.randint(1, 4), "rendered": rng.randint(0, 300), "frames": rng.randint(0, 600)}
            facts = {"first_ms": int(FIRST), "last_ms": t, "requests": sum(items.values()),
                     "items": dict(sorted(items.items())), "series": rng.sample(series, rng.randint(1, 4))}
            b = body(t, "study-viewed", "ok", who, inst, rng.choice(["", f"grant:{rng.randint(1, 999)}"]), client,
                     [studies[st]], [patients[st % len(patients)]], "", facts)
        elif k < 0.70:
            keys = {"StudyDate": "20260101-20260131", "ModalitiesInStudy": rng.choice(["CT", "MR", "CR", "US"])}
            if rng.random() < 0.5:
                keys["AccessionNumber"] = "*"
            found = rng.sample(studies, rng.randint(0, 25))
            facts = {"face": "qido-rs", "level": "study", "keys": dict(sorted(keys.items())), "withheld": ["PatientID"] if rng.random() < 0.3 else [],
                     "count": len(found)}
            b = body(t, "query", "ok", who, inst, "", client, found, [], "", facts)
        elif k < 0.85:
            count = rng.randint(1, 60)
            first = rng.randrange(len(pool) - count)
            facts = {"face": "c-store", "count": count, "instances": "@INSTANCES@", "calling_ae": f"MODALITY{rng.randint(1, 20)}"}
            b = body(t, "ingest", "ok", f"ae:MODALITY{rng.randint(1, 20)}", inst, "", client, [rng.choice(studies)], [], "", facts)
            b = b.replace('"@INSTANCES@"', "[" + ",".join(pool[first:first + count]) + "]")
        else:
            result = "ok" if rng.random() < 0.95 else "denied"
            b = body(t, "sign-in", result, who, inst, f"session:{rng.getrandbits(64):016x}", client, [], [], "password",
                     {"face": "dicomweb"})
        out.append(b)
    return out


def events(n: int, seed: int = 7):
    """`n` (at_ms, body) pairs over 30 days of a regional cloud: each one of 50,000 shapes (a realistic mix of
    study-viewed with facts, queries with keys, ingests naming instances with SHA-256 and SM3, sign-ins) with its
    own time."""
    rng = random.Random(seed)
    pool = shapes(min(n, 50_000), rng)
    t = 1_767_225_600_000  # 2026-01-01
    step = 30 * 86_400_000 // max(n, 1)
    for _ in range(n):
        t += rng.randint(1, 2 * step + 1)
        yield t, rng.choice(pool).replace(AT, str(t)).replace(FIRST, str(t - rng.randint(1000, 600_000)))




def section_verify(args, cand: str) -> dict:
    work = WORK_ROOT / f"yunying-bench-audit-verify-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    cfg = work / "bench.toml"
    cfg.write_text('dicom_bind = "127.0.0.1"\n')
    base_cmd = [cand, "--config", cfg, "--data-dir", data]
    try:
        run(base_cmd + ["audit", "verify"])  # makes the index (every migration) and the signing key, takes no lease
        db = data / "index.sqlite"
        t0 = time.perf_counter()
        con = sqlite3.connect(db, timeout=60)
        with con:
            con.executemany("INSERT INTO audit_pending (at_ms, body) VALUES (?, ?)", events(args.events))
        con.close()
        gen_s = time.perf_counter() - t0
        kinds = {}
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        avg_body = con.execute("SELECT AVG(LENGTH(body)) FROM audit_pending").fetchone()[0]
        for body_text, in con.execute("SELECT body FROM audit_pending WHERE id % 1000 = 0"):
            kind = json.loads(body_text)["event"]
            kinds[kind] = kinds.get(kind, 0) + 1
        con.close()
        log(f"{args.events} events written in {gen_s:.1f}s (average body {avg_body:.0f} bytes); sequencing and signing")
        ck_s, ck_out = run(base_cmd + ["audit", "checkpoint"])
        log(f"checkpoint: {ck_s:.1f}s: {ck_out.strip()}")
        verify = []
        for i in range(args.verify_runs):
            os.sync()
            v_s, v_out = run(base_cmd + ["audit", "verify"])
            verify.append(v_s)
            log(f"verify #{i + 1}: {v_s:.1f}s: {v_out.strip().splitlines()[-1] if v_out.strip() else ''}")
        db_mb = sum(f.stat().st_size for f in data.glob("index.sqlite*")) / 1e6
        return {"events": args.events, "generate_s": gen_s, "avg_body_bytes": avg_body, "mix_per_1000_sampled": kinds,
                "checkpoint_s": ck_s, "checkpoint_output": ck_out.strip(), "verify_s": verify,
                "verify_median_s": statistics.median(verify), "verify_output": v_out.strip(), "index_mb": db_mb}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- qido


class Server:
    """One `yunying serve` on its own data dir, loopback, anonymous access from loopback."""

    def __init__(self, key: str, binary: str, root: Path, ledger: bool):
        self.key, self.binary, self.root = key, binary, root
        self.proc = None
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "bench.toml"
        text = 'dicom_bind = "127.0.0.1"\n[access]\nanonymous = "loopback"\n[renditions]\nenabled = false\n'
        if ledger:
            # Sittings recorded after 1 s quiet (default 10 s): more study-viewed events during the run.
            text += "[audit]\nview_batch_secs = 1\n"
        self.config.write_text(text)

    def load(self, dicom: Path) -> None:
        run([self.binary, "--config", self.config, "--data-dir", self.root / "data", "import", "--quiet", dicom])

    def start(self) -> None:
        self.proc, self.http_port, self.logfile = ib.serve_http(self.binary, self.config, self.root, self.key)

    def stop(self) -> None:
        if self.proc:
            ib.terminate(self.proc)
            self.proc = None


def get(conn: http.client.HTTPConnection, path: str, accept: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Accept": accept})
    r = conn.getresponse()
    n = len(r.read())
    if r.status != 200:
        raise BenchError(f"GET {path}: {r.status}")
    return time.perf_counter() - t0, n


def catalogue(server: Server) -> list[dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    conn.request("GET", "/dicom-web/instances?limit=100000&includefield=0020000D,0020000E", headers={"Accept": "application/dicom+json"})
    rows = json.loads(conn.getresponse().read())
    conn.close()
    studies: dict[str, list] = {}
    for i in rows:
        st, se, sop = (i[t]["Value"][0] for t in ("0020000D", "0020000E", "00080018"))
        studies.setdefault(st, []).append((se, sop))
    return [{"study": st, "instances": sorted(v)} for st, v in sorted(studies.items())]


def viewer(port: int, studies: list[dict], stop: threading.Event, counts: list, errors: list, seed: int) -> None:
    """One viewer: a study-list query, then a study's metadata, a rendered image and frames, again and again."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    n = 0
    try:
        while not stop.is_set():
            s = rng.choice(studies)
            get(conn, f"/dicom-web/studies?ModalitiesInStudy=CT&limit=50&offset={rng.randint(0, 3)}", "application/dicom+json")
            get(conn, f"/dicom-web/studies/{s['study']}/metadata", "application/dicom+json")
            se, sop = rng.choice(s["instances"])
            get(conn, f"/dicom-web/studies/{s['study']}/series/{se}/instances/{sop}/rendered", "image/jpeg")
            for _ in range(3):
                se, sop = rng.choice(s["instances"])
                get(conn, f"/dicom-web/studies/{s['study']}/series/{se}/instances/{sop}/frames/1",
                        'multipart/related; type="application/octet-stream"; transfer-syntax=*')
            n += 6
    except Exception as e:  # noqa: BLE001  (reported, fails the run)
        errors.append(repr(e))
    finally:
        counts.append(n)
        conn.close()


QIDO_PATH = "/dicom-web/studies?StudyDate=19000101-20991231&includefield=00081030&limit=100"


def measure_qido(server: Server, studies: list[dict], args) -> dict:
    stop, counts, errors = threading.Event(), [], []
    threads = [threading.Thread(target=viewer, args=(server.http_port, studies, stop, counts, errors, 100 + i))
               for i in range(args.viewers)]
    for t in threads:
        t.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    try:
        time.sleep(args.warmup)
        lat = []
        t0 = time.perf_counter()
        for _ in range(args.qido_requests):
            lat.append(get(conn, QIDO_PATH, "application/dicom+json")[0])
            time.sleep(args.qido_gap)
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        for t in threads:
            t.join()
        conn.close()
    if errors:
        raise BenchError(f"{server.key}: viewer errors: {errors[:3]}")
    lat.sort()
    return {"n": len(lat), "p50_ms": pct(lat, 50) * 1e3, "p90_ms": pct(lat, 90) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "viewer_requests_per_s": sum(counts) / (wall + args.warmup)}


def pct(xs: list[float], p: float) -> float:
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def section_qido(args, base: str, cand: str) -> dict:
    work = WORK_ROOT / f"yunying-bench-audit-qido-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    corpus = work / "corpus"
    for i in range(args.studies):
        ib.write_ct_series(corpus / f"study{i:02d}", args.slices, args.rows)
    servers = {"base": Server("base", base, work / "base", False), "candidate": Server("candidate", cand, work / "candidate", True)}
    rounds = []
    try:
        for s in servers.values():
            s.load(corpus)
            s.start()
        studies = catalogue(servers["base"])
        if len(studies) != args.studies or [x["study"] for x in catalogue(servers["candidate"])] != [x["study"] for x in studies]:
            raise BenchError("the two servers hold different studies")
        for s in servers.values():  # warm-up: page cache, connections
            for _ in range(20):
                get(http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=60), QIDO_PATH, "application/dicom+json")
        for rnd in range(1, args.rounds + 1):
            order = ["base", "candidate"] if rnd % 2 else ["candidate", "base"]
            res = {}
            for key in order:
                res[key] = measure_qido(servers[key], studies, args)
                log(f"round {rnd}, {key}: QIDO p50 {res[key]['p50_ms']:.2f} ms, p90 {res[key]['p90_ms']:.2f} ms, "
                    f"viewers {res[key]['viewer_requests_per_s']:.0f} req/s")
            rounds.append(res)
    finally:
        for s in servers.values():
            s.stop()
    ledger = ledger_counts(servers["candidate"].root / "data")
    shutil.rmtree(work, ignore_errors=True)
    out = {"studies": args.studies, "slices": args.slices, "rows": args.rows, "viewers": args.viewers,
           "qido_requests_per_round": args.qido_requests, "rounds": rounds, "candidate_ledger": ledger}
    for key in servers:
        out[key] = {"p50_ms_median_of_rounds": statistics.median(r[key]["p50_ms"] for r in rounds),
                    "p90_ms_median_of_rounds": statistics.median(r[key]["p90_ms"] for r in rounds),
                    "viewer_requests_per_s": statistics.median(r[key]["viewer_requests_per_s"] for r in rounds)}
    out["p50_ratio"] = out["candidate"]["p50_ms_median_of_rounds"] / out["base"]["p50_ms_median_of_rounds"]
    return out


# ---------------------------------------------------------------- report


def report(res: dict, args) -> str:
    lines = ["# The audit ledger's cost: candidate (ledger + SM3) vs base (before them)", "",
             "Generated by " + "; ".join(f"{k}: {v}" for k, v in res["sections_run"].items()) + ".", "",
             f"Machine: {res['machine']}; load average at start {res['load_average_at_start']}.", "",
             f"- base: `{res['base']}` ({res['base_version']})", f"- candidate: `{res['candidate']}` ({res['candidate_version']})", ""]
    if "ingest" in res:
        r = res["ingest"]
        lines += ["## C-STORE ingest, ledger and SM3 on vs off", "",
                  f"Corpus: {r['corpus']}. DCMTK `storescu` (one process per association), as in `benches/ingest.py`; "
                  f"{r['rounds']} rounds, the two binaries alternating (the order flips every round), each run on a fresh data "
                  "dir, renditions off. Throughput = instances ÷ wall time until the last C-STORE response (durable).", "",
                  "| Assocs | Base inst/s (median) | Candidate inst/s (median) | Candidate / base | Base CPU-s/1000 | Candidate CPU-s/1000 |",
                  "|---|---|---|---|---|---|"]
        for a, s in r["summary"].items():
            m, c = s["median_inst_s"], s["median_cpu_s_per_1000"]
            lines.append(f"| {a} | {m['base']:.1f} | {m['candidate']:.1f} | **{s['ratio']:.3f}** | {c['base']:.2f} | {c['candidate']:.2f} |")
        lines += ["", "Goal: candidate ≥ 0.90 × base. Every run:", ""]
        for x in r["runs"]:
            led = ", ".join(f"{k} {v}" for k, v in x["ledger"].items()) or "no ledger"
            lines.append(f"- round {x['round']}, {x['assocs']} assoc, {x['build']}: {x['throughput']:.1f} inst/s; stored {x['stored']}; "
                         f"ledger: {led}" + (f"; ERRORS {x['errors']}" if x["errors"] else ""))
        lines.append("")
    if "verify" in res:
        r = res["verify"]
        lines += ["## `yunying audit verify` of a large ledger (SQLite)", "",
                  f"{r['events']:,} events (average body {r['avg_body_bytes']:.0f} bytes; mix in a 1-in-1000 sample: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(r["mix_per_1000_sampled"].items()))
                  + ") written as `Event::body()` JSON into `audit_pending` of a fresh data dir in one transaction "
                  f"({r['generate_s']:.1f} s), then `yunying audit checkpoint` moved them into the ledger (SM3 leaves, the "
                  "studies and patients beside each entry) and signed a checkpoint (SM2), and `yunying audit verify` recomputed "
                  f"every leaf hash, the tree and the checkpoint's signature. Index afterwards: {r['index_mb']:.0f} MB.", "",
                  "| Step | Wall time (s) |", "|---|---|",
                  f"| `audit checkpoint` ({r['events']:,} sequenced + signed) | {r['checkpoint_s']:.1f} |"]
        for i, v in enumerate(r["verify_s"]):
            lines.append(f"| `audit verify` #{i + 1} | {v:.1f} |")
        lines += ["", f"**verify median: {r['verify_median_s']:.1f} s** (goal ≤ 30 s). Its output: `{r['verify_output'][:300]}`", ""]
    if "qido" in res:
        r = res["qido"]
        lines += [f"## QIDO-RS latency under {r['viewers']} concurrent viewers, ledger recording vs base", "",
                  f"Both servers up at once, each holding the same {r['studies']} studies × {r['slices']} CT slices "
                  f"({r['rows']}×{r['rows']}), anonymous loopback access, renditions off; the candidate with "
                  "`[audit] view_batch_secs = 1`. Per round and server: {v} viewer threads loop over a study-list query "
                  "(a `query` event each on the candidate), the study's metadata, one rendered image and three frames "
                  "(`study-viewed` sittings); a separate client sends {q} × `GET {p}` one after another and times each. "
                  "The order of the servers flips every round.".format(v=r["viewers"], q=r["qido_requests_per_round"], p=QIDO_PATH), "",
                  "| Build | QIDO p50 (ms) | QIDO p90 (ms) | Viewer requests/s |", "|---|---|---|---|"]
        for key in ("base", "candidate"):
            x = r[key]
            lines.append(f"| {key} | {x['p50_ms_median_of_rounds']:.2f} | {x['p90_ms_median_of_rounds']:.2f} | {x['viewer_requests_per_s']:.0f} |")
        lines += ["", f"**p50 candidate / base: {r['p50_ratio']:.3f}** (goal ≤ 1.05; medians over rounds). Per round (p50 ms):", ""]
        for i, x in enumerate(r["rounds"]):
            lines.append(f"- round {i + 1}: " + ", ".join(f"{k} {v['p50_ms']:.2f}" for k, v in x.items()))
        lines += ["", "Events the candidate recorded during the section: "
                  + (", ".join(f"{k} {v:,}" for k, v in r["candidate_ledger"].items()) or "none"), ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="yunying binary before the ledger and SM3 (commit 0e66e45), release build")
    p.add_argument("--candidate", default=None, help="yunying binary to measure [default: the current release build]")
    p.add_argument("--sections", default="ingest,verify,qido")
    p.add_argument("--instances", type=int, default=500, help="ingest: CT slices per run")
    p.add_argument("--assocs", default="1,4", help="ingest: concurrent associations")
    p.add_argument("--rounds", type=int, default=3, help="ingest and qido: rounds (each measures both builds)")
    p.add_argument("--timeout", type=float, default=1200)
    p.add_argument("--events", type=int, default=1_000_000, help="verify: events in the ledger")
    p.add_argument("--verify-runs", type=int, default=2)
    p.add_argument("--studies", type=int, default=8, help="qido: studies in each server")
    p.add_argument("--slices", type=int, default=40, help="qido: slices per study")
    p.add_argument("--rows", type=int, default=256, help="qido: rows = columns of a slice")
    p.add_argument("--viewers", type=int, default=16)
    p.add_argument("--qido-requests", type=int, default=300, help="qido: timed searches per server per round")
    p.add_argument("--qido-gap", type=float, default=0.01, help="qido: pause between timed searches (s)")
    p.add_argument("--warmup", type=float, default=3.0, help="qido: seconds of viewer load before timing")
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "audit.md"))
    p.add_argument("--merge", action="store_true", help="keep the sections of an earlier --out .json that this run does not measure")
    args = p.parse_args()
    cand = args.candidate or ib.default_yunying()
    for b in (args.base, cand):
        if not os.path.exists(b):
            raise BenchError(f"no binary at {b}")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    res = {"command": "python3 benches/audit.py " + " ".join(sys.argv[1:]),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": ib.machine_line(), "load_average_at_start": ib.LOADAVG_AT_START,
           "base": args.base, "candidate": cand, "base_version": ib.version_of([args.base, "--version"]),
           "candidate_version": ib.version_of([cand, "--version"])}
    out = Path(args.out)
    if args.merge and out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text())
        res["earlier"] = {k: old[k] for k in ("ingest", "verify", "qido") if k in old and k not in sections}
        res.update(res["earlier"])
        res["earlier"] = {k: old["sections_run"][k] for k in res["earlier"]}
    res["sections_run"] = {**res.get("earlier", {}), **{k: f"`{res['command']}` on {res['date']}" for k in sections}}
    if "ingest" in sections:
        res["ingest"] = section_ingest(args, args.base, cand)
    if "verify" in sections:
        res["verify"] = section_verify(args, cand)
    if "qido" in sections:
        res["qido"] = section_qido(args, args.base, cand)
    text = report(res, args)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
