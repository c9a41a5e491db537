#!/usr/bin/env python3
"""Mutual recognition (检查互认) at regional scale: the speed goals of issue 23.

PostgreSQL bulk-loaded with 1,000,000 EMPI persons and 10,000,000 indexed
instances (`recognition_load.py`), `yunying serve` on it, and over HTTP with
API keys: candidates for an order (`POST /api/recognition/candidates`, several
client threads), the statistics page for a year, and as references in the same
run an unscoped QIDO study search and a PatientID QIDO.

Standard library only; see benches/README.md.

    python3 benches/recognition.py                                  # 10M instances, 1M persons
    python3 benches/recognition.py --instances 300000 --persons 30000 --orders 20000   # development
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (helpers only)
import recognition_load as rl  # noqa: E402

REPO = ib.REPO
SERVICES = REPO / "storage" / "local-services.sh"
GOAL_CANDIDATES_P95_MS = 50.0
GOAL_STATISTICS_S = 1.0
BENCH_PROCESSES = ("postgres", "yunying", "python3")


def log(msg: str) -> None:
    print(f"[recognition] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def psql_bin() -> str:
    return next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), shutil.which("psql") or "psql")


def pg_version() -> str:
    m = re.search(r"\d+\.\d+", ib.version_of([psql_bin(), "--version"]))
    return m.group(0) if m else "?"


def psql(url: str, sql: str, timeout: float | None = None) -> str:
    out = subprocess.run([psql_bin(), "-v", "ON_ERROR_STOP=1", "-q", "-At", "-F", "\t", url], input=sql,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise ib.BenchError(f"psql failed: {out.stderr.strip()[:2000]}")
    return out.stdout


class Services:
    """PostgreSQL (and the Garage local-services.sh starts beside it, unused)."""

    def __init__(self, args):
        self.env = {**os.environ, "YUNYING_SERVICES_DIR": args.services_dir, "YUNYING_PG_PORT": str(args.pg_port),
                    "YUNYING_S3_PORT": str(args.s3_port), "YUNYING_SERVICES_DURABLE": "0" if args.no_durable else "1"}
        out = subprocess.run([str(SERVICES), "start"], env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            raise ib.BenchError(f"storage/local-services.sh start failed:\n{out.stderr}")
        exports = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines() if line.startswith("export "))
        self.admin_url = exports["YUNYING_TEST_POSTGRES"].strip("'")

    def stop(self) -> None:
        subprocess.run([str(SERVICES), "stop"], env=self.env, capture_output=True)


class Server:
    """`yunying serve` on the benchmark's database, filesystem object store."""

    def __init__(self, binary: str, workdir: Path, config: Path):
        self.binary, self.workdir, self.config = binary, workdir, config
        self.proc = None

    def cli(self, *argv: str) -> str:
        out = subprocess.run([self.binary, "--config", str(self.config), "--data-dir", str(self.workdir / "data"), *argv],
                             capture_output=True, text=True, env={**ib.ENV_NODELAY, "NO_COLOR": "1"}, timeout=300)
        if out.returncode != 0:
            raise ib.BenchError(f"yunying {' '.join(argv)}: {out.stderr.strip()[-2000:]}")
        return out.stdout.strip()

    def start(self) -> None:
        self.dicom_port, self.http_port = ib.free_ports(2)
        self.logfile = self.workdir / "yunying.log"
        with open(self.logfile, "ab") as lf:
            self.proc = ib.spawn([self.binary, "--config", self.config, "--data-dir", self.workdir / "data", "serve",
                                  "--dicom-port", self.dicom_port, "--http-port", self.http_port],
                                 env={**ib.ENV_NODELAY, "NO_COLOR": "1"}, stdout=lf, stderr=lf, new_session=True)
        ib.wait_until(lambda: ib.listening(self.http_port), "yunying HTTP port", self.proc, self.logfile, 600)
        # One /healthz at a time, however long it takes: it counts every
        # row of the index (seconds at this size), and a client that gave
        # up and asked again would leave those scans running into the
        # measurements.
        status, body = ib.http_get(f"http://127.0.0.1:{self.http_port}/healthz", 600)
        if status != 200:
            raise ib.BenchError(f"yunying /healthz: {status}: {body[:200]!r}")

    def stop(self) -> None:
        if self.proc:
            ib.terminate(self.proc)
            self.proc = None


class Client:
    """One keep-alive HTTP connection (one per thread)."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.auth = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}

    def call(self, method: str, path: str, body: dict | None = None, accept: str = "application/json") -> tuple[float, int, bytes]:
        headers = {**self.auth, "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        out = r.read()
        return time.perf_counter() - t0, r.status, out


def config_toml(index_url: str, n_inst: int) -> str:
    return (f'index_url = "{index_url}"\ndicom_bind = "127.0.0.1"\n'
            '[renditions]\nenabled = false\n'
            # The linker runs on one node and loads every identity; these
            # requests only read the links it made (bulk-loaded here).
            '[empi]\nenabled = false\n'
            '[access]\nanonymous = "nobody"\n' + rl.recognition_toml(n_inst))


def load(args, url: str) -> dict:
    today = datetime.date.today()
    steps = rl.load_sql(args.persons, args.instances, args.institutions, args.orders, today)
    timings = {}
    t_all = time.monotonic()
    for label, sql in steps:
        t0 = time.monotonic()
        log(f"loading: {label}")
        psql(url, "SET synchronous_commit = off;\nBEGIN;\n" + sql + "\nCOMMIT;\n")
        timings[label] = time.monotonic() - t0
        log(f"  {timings[label]:.0f} s")
    t0 = time.monotonic()
    log("VACUUM ANALYZE (what autovacuum does after a load; index-only scans need the visibility map), CHECKPOINT")
    psql(url, "VACUUM ANALYZE;")
    psql(url, "CHECKPOINT;")
    timings["VACUUM ANALYZE"] = time.monotonic() - t0
    return {"steps_s": timings, "total_s": time.monotonic() - t_all, "today": today.isoformat()}


def counts(url: str) -> dict:
    tables = ["empi_persons", "empi_identities", "patients", "studies", "series", "instances", "instance_data",
              "recognition_study_items", "recognition_orders", "recognition_candidates", "recognition_decisions"]
    row = psql(url, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
               + ", pg_database_size(current_database())").strip().split("\t")
    out = dict(zip(tables, map(int, row)))
    out["database_bytes"] = int(row[-1])
    return out


def sample_orders(url: str, institution: str, n: int, seed: int) -> list[tuple[str, list[str]]]:
    """(Patient ID, the items of its person's studies) of `n` identities of `institution`."""
    rows = psql(url, f"""
WITH ids AS (SELECT patient_id, person_pk FROM empi_identities WHERE issuer = '{institution}'
             ORDER BY md5(id::text || '{seed}') LIMIT {n})
SELECT ids.patient_id, COALESCE((SELECT string_agg(DISTINCT r.item_code, ',') FROM empi_identities e
       JOIN patients p ON p.issuer = e.issuer AND p.patient_id = e.patient_id JOIN studies st ON st.patient_pk = p.id
       JOIN recognition_study_items r ON r.study_instance_uid = st.study_instance_uid WHERE e.person_pk = ids.person_pk), '')
FROM ids""")
    return [(pid, [i for i in items.split(",") if i]) for pid, items in (line.split("\t") for line in rows.splitlines() if line)]


def items_digest(url: str, institution: str, patient_ids: list[str]) -> str:
    """A digest of the recorded items of every study of these identities' persons."""
    ids = ",".join(f"'{p}'" for p in patient_ids)
    return psql(url, f"""
SELECT count(*) || ':' || md5(COALESCE(string_agg(r.study_instance_uid || r.item_code || r.hr || r.hr_scope, ','
       ORDER BY r.study_instance_uid, r.item_code), ''))
FROM empi_identities i JOIN empi_identities e ON e.person_pk = i.person_pk
JOIN patients p ON p.issuer = e.issuer AND p.patient_id = e.patient_id JOIN studies st ON st.patient_pk = p.id
JOIN recognition_study_items r ON r.study_instance_uid = st.study_instance_uid
WHERE i.issuer = '{institution}' AND i.patient_id IN ({ids})""").strip()


def order_body(institution: str, pid: str, items: list[str], rng: random.Random, n: int, today: datetime.date) -> dict:
    # Mostly an exam the person had somewhere (what recognition is for), else any item.
    item = rng.choice(items) if items and rng.random() < 0.8 else rng.choice(rl.ITEM_CODES)
    return {"issuer": institution, "patient_id": pid, "item_code": item, "order_date": today.strftime("%Y%m%d"),
            "his_order_id": f"BENCH-{os.getpid()}-{n}", "department": "呼吸内科", "doctor": "DR-BENCH"}


def run_candidates(server: Server, key: str, institution: str, sample, threads: int, today: datetime.date) -> dict:
    rng = random.Random(5)
    bodies = [order_body(institution, pid, items, rng, i, today) for i, (pid, items) in enumerate(sample)]
    lock, nxt, results, errors = threading.Lock(), [0], [], []

    def worker():
        client = Client(server.http_port, key)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies) or errors:
                return
            try:
                dt, status, body = client.call("POST", "/api/recognition/candidates", bodies[i])
                if status != 200:
                    raise ib.BenchError(f"candidates: HTTP {status}: {body[:300]!r}")
                found = json.loads(body)["candidates"]
                other = sum(1 for c in found if c["institution"] != institution)
                with lock:
                    results.append((dt * 1000, len(found), other))
            except Exception as e:  # noqa: BLE001  (reported; the other threads stop)
                errors.append(str(e))

    busy0, ours0, t0 = ib.machine_busy_ticks(), sum(ib.ticks_by_name(BENCH_PROCESSES).values()), time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    busy1, ours1 = ib.machine_busy_ticks(), sum(ib.ticks_by_name(BENCH_PROCESSES).values())
    if errors:
        raise ib.BenchError(errors[0])
    ms = [r[0] for r in results]
    n_found = [r[1] for r in results]
    return {"requests": len(ms), "threads": threads, "wall_s": wall, "throughput": len(ms) / wall,
            "p50": pct(ms, 0.5), "p95": pct(ms, 0.95), "p99": pct(ms, 0.99), "max": max(ms), "mean": statistics.mean(ms),
            "candidates_mean": statistics.mean(n_found), "with_candidates": sum(1 for n in n_found if n) / len(n_found),
            "with_other_institution": sum(1 for r in results if r[2]) / len(results), "candidates_max": max(n_found),
            "machine_busy": (busy1 - busy0) / ib.CLK_TCK / wall / (os.cpu_count() or 1),
            "others_cpu_s": max(0, (busy1 - busy0) - (ours1 - ours0)) / ib.CLK_TCK}


def timed_gets(server: Server, key: str, paths: list[str], check) -> list[float]:
    client = Client(server.http_port, key)
    out = []
    for path in paths:
        dt, status, body = client.call("GET", path, accept="application/json" if "/api/" in path else "application/dicom+json")
        if status != 200:
            raise ib.BenchError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        check(path, body)
        out.append(dt * 1000)
    return out


def run_statistics(server: Server, url: str, keys: dict, institution: str, runs: int, today: datetime.date) -> dict:
    first = (today.replace(day=1) - datetime.timedelta(days=330)).replace(day=1)
    frm, to = first.strftime("%Y-%m"), today.strftime("%Y-%m")
    expected = int(psql(url, f"SELECT count(*) FROM recognition_candidates WHERE month >= '{frm}' AND month <= '{to}'").strip())
    expected_inst = int(psql(url, f"SELECT count(*) FROM recognition_candidates WHERE month >= '{frm}' AND month <= '{to}' "
                                  f"AND institution = '{institution}'").strip())
    out = {"from": frm, "to": to}
    for label, key, want, group in (("platform key, every institution", keys["platform"], expected, "institution,month"),
                                    (f"{institution}'s HIS key, its institution", keys["his"], expected_inst, "institution,month"),
                                    ("platform key, finest grouping (institution, department, doctor, item, month; "
                                     "not the page, for comparison)", keys["platform"], expected,
                                     "institution,department,doctor,item,month")):
        path = f"/api/recognition/statistics?from={frm}&to={to}&group={group}"
        groups = []

        def check(path, body, want=want, groups=groups):
            rows = json.loads(body)["rows"]
            offered = sum(r["offered"] for r in rows)
            if offered != want:
                raise ib.BenchError(f"statistics: {offered} offered, the database holds {want}")
            groups.append((len(rows), sum(r["decided"] for r in rows)))

        timed_gets(server, key, [path], check)  # warm-up
        ms = timed_gets(server, key, [path] * runs, check)
        out[label] = {"runs": runs, "median_ms": statistics.median(ms), "max_ms": max(ms), "min_ms": min(ms),
                      "groups": groups[-1][0], "offered": want, "decided": groups[-1][1]}
    return out


def run_qido(server: Server, key: str, patient_ids: list[str], n: int) -> dict:
    def nonempty(path, body):
        if not json.loads(body):
            raise ib.BenchError(f"QIDO {path}: no studies")

    def page(path, body):
        if len(json.loads(body)) != 101:
            raise ib.BenchError(f"QIDO {path}: not 101 studies")

    out = {}
    for label, paths, check in (("unscoped study list, limit=101", ["/dicom-web/studies?limit=101"] * n, page),
                                ("PatientID=", [f"/dicom-web/studies?PatientID={urllib.parse.quote(p)}" for p in patient_ids[:n]],
                                 nonempty)):
        timed_gets(server, key, paths[:3], check)
        ms = timed_gets(server, key, paths, check)
        out[label] = {"n": len(ms), "p50": pct(ms, 0.5), "p95": pct(ms, 0.95), "max": max(ms)}
    return out


def report(args, sizes: dict, loaded: dict | None, cand: dict, stats: dict, qido: dict, consistency: str, load_avg: tuple) -> str:
    gb = sizes["database_bytes"] / 1e9
    ok = lambda b: "**yes**" if b else "**no**"  # noqa: E731
    lines = ["# Mutual recognition at regional scale (issue 23 speed goals)", "",
             f"- Command: `{ib.command_line()}`", f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- Machine: {ib.machine_line()}", f"- Yunying: {ib.version_of([args.yunying, '--version'])}",
             f"- PostgreSQL {pg_version()} on this machine, "
             + ("durable (fsync, synchronous_commit on)" if not args.no_durable else "fsync off") + ", default settings otherwise "
             "(shared_buffers 128 MB); `yunying serve` on it, filesystem object store (no object is read by these requests), "
             "renditions and the EMPI linker off.",
             f"- Load average before / after the measurements: {load_avg[0]} / {load_avg[1]}; CPU taken by processes other "
             f"than PostgreSQL, yunying and Python during the candidates run: {cand['others_cpu_s']:.1f} s of "
             f"{cand['wall_s']:.1f} s (the 2-core machine is shared with other work, e.g. builds).", "",
             "## Data", "",
             "| rows | count |", "|---|---|"]
    lines += [f"| {k} | {v:,} |" for k, v in sizes.items() if k != "database_bytes"]
    lines += [f"| database size | {gb:.2f} GB |", ""]
    if loaded:
        lines += [("Loaded by an earlier invocation of this script on the same machine (`--reuse`), on "
                   f"{loaded.get('today', '?')}; its bulk load " if args.reuse else "Bulk load ")
                  + f"(server-side `generate_series`, `benches/recognition_load.py`): **{loaded['total_s']:.0f} s** "
                  "(" + ", ".join(f"{k} {v:.0f} s" for k, v in loaded["steps_s"].items()) + ")."]
    lines += [f"{args.institutions} institutions; persons have 1–3 identities (25 % at two institutions, 8 % at three); "
              "studies over the last two years, 6 instances each; 9 catalogue items, HR marks for 14 institutions; "
              "a year of orders with candidates and decisions for the statistics.", "",
              f"Bulk-loaded items against the classifier: {consistency}", "",
              f"## Candidates for an order: `POST /api/recognition/candidates` ({cand['threads']} client threads, "
              f"{cand['requests']} orders)", "",
              "| p50 ms | p95 ms | p99 ms | max ms | orders/s | goal p95 ≤ 50 ms |", "|---|---|---|---|---|---|",
              f"| {cand['p50']:.1f} | **{cand['p95']:.1f}** | {cand['p99']:.1f} | {cand['max']:.1f} | {cand['throughput']:.1f} "
              f"| {ok(cand['p95'] <= GOAL_CANDIDATES_P95_MS)} |", "",
              f"Each request: a HIS key of {args.his_institution} names one of its patients (random identity) and an item "
              "(80 %: an item of one of the person's studies anywhere, else any); the server looks the person up in the "
              "EMPI, classifies the person's studies as they are now, selects, stores the order with its candidates and "
              "records a ledger event. Answers: "
              f"{cand['candidates_mean']:.2f} candidates on average (max {cand['candidates_max']}), "
              f"{cand['with_candidates']:.0%} of orders with at least one, {cand['with_other_institution']:.0%} with one from "
              f"another institution. Machine CPU busy during the run: {cand['machine_busy']:.0%}.", "",
              f"## Statistics for a year ({stats['from']} to {stats['to']}, `group=institution,month` unless said)", "",
              "| principal | groups | candidates offered | decisions | median ms | max ms | goal ≤ 1 s |", "|---|---|---|---|---|---|---|"]
    for label, v in stats.items():
        if isinstance(v, dict):
            lines.append(f"| {label} | {v['groups']} | {v['offered']:,} | {v['decided']:,} | **{v['median_ms']:.0f}** | "
                         f"{v['max_ms']:.0f} | {'– (not the page)' if 'not the page' in label else ok(v['max_ms'] <= GOAL_STATISTICS_S * 1000)} |")
    lines += ["", f"{args.stats_runs} runs each after one warm-up; every answer's offered total is checked against the database.", "",
              "## Reference, same run: QIDO-RS study search (platform key with `dicomweb:read`)", "",
              "| query | requests | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |" for k, v in qido.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Recognition candidates and statistics at regional scale on PostgreSQL.")
    p.add_argument("--yunying", help="release binary [default: as benches/ingest.py]")
    p.add_argument("--postgres", help="admin URL of a running PostgreSQL (default: start one with storage/local-services.sh)")
    p.add_argument("--instances", type=int, default=10_000_000)
    p.add_argument("--persons", type=int, default=1_000_000)
    p.add_argument("--institutions", type=int, default=20)
    p.add_argument("--orders", type=int, default=300_000, help="a year of orders for the statistics [300000]")
    p.add_argument("--his-institution", default="HOSP01")
    p.add_argument("--threads", type=int, default=4, help="client threads for candidates [4]")
    p.add_argument("--requests", type=int, default=2000, help="candidate requests [2000]")
    p.add_argument("--stats-runs", type=int, default=7)
    p.add_argument("--qido-n", type=int, default=50)
    p.add_argument("--database", default="recbench", help="database name; reused when it exists and --reuse is given")
    p.add_argument("--reuse", action="store_true", help="keep a loaded database from an earlier run (skip the load)")
    p.add_argument("--keep", action="store_true", help="leave PostgreSQL running and the database in place")
    p.add_argument("--no-durable", action="store_true", help="PostgreSQL with fsync off (development only)")
    p.add_argument("--services-dir", default="/tmp/yy-svc-recbench")
    p.add_argument("--pg-port", type=int, default=54339)
    p.add_argument("--s3-port", type=int, default=39100)
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "recognition.md"))
    args = p.parse_args(argv)
    args.yunying = ib.find_binary([args.yunying or ib.default_yunying()], "Yunying binary", "cargo build --release")
    signal.signal(signal.SIGTERM, ib._on_sigterm)
    services, server = None, None
    try:
        if args.postgres:
            admin = args.postgres
        else:
            services = Services(args)
            admin = services.admin_url
        url = admin.rsplit("/", 1)[0] + "/" + args.database
        exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{args.database}'").strip() == "1"
        workdir = Path(args.services_dir + "-yunying")
        cfg = workdir / "bench.toml"
        loaded = None
        if not (exists and args.reuse):
            if exists:
                psql(admin, f"DROP DATABASE {args.database}")
            psql(admin, f"CREATE DATABASE {args.database}")
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            cfg.write_text(config_toml(url, args.institutions))
            server = Server(args.yunying, workdir, cfg)
            log("yunying serve once: schema, catalogue and marks")
            server.start()
            server.stop()
            loaded = load(args, url)
            keys = {"his": server.cli("key", "add", "bench HIS", "--institution", args.his_institution, "--scopes", "recognition"),
                    "platform": server.cli("key", "add", "bench platform", "--platform", "--scopes", "recognition,dicomweb:read")}
            (workdir / "keys.json").write_text(json.dumps(keys))
            (workdir / "load.json").write_text(json.dumps(loaded))
        else:
            keys = json.loads((workdir / "keys.json").read_text())
            loaded = json.loads((workdir / "load.json").read_text())
        sizes = counts(url)
        log(f"sizes: {sizes}")
        server = Server(args.yunying, workdir, cfg)
        server.start()
        today = datetime.date.today()
        sample = sample_orders(url, args.his_institution, args.requests + 50, seed=int(time.time()))
        warm, sample = sample[:50], sample[50:]
        before = items_digest(url, args.his_institution, [pid for pid, _ in warm])
        run_candidates(server, keys["his"], args.his_institution, warm, 2, today)
        after = items_digest(url, args.his_institution, [pid for pid, _ in warm])
        consistency = (f"the 50 warm-up orders' persons' studies kept their recorded items ({before.split(':')[0]} rows, "
                       "same digest): the classifier wrote nothing, as after ingest." if before == after else
                       f"**the classifier changed the bulk-loaded items** ({before} → {after}); measured requests may include writes.")
        log(consistency)
        load0 = os.getloadavg()
        log(f"candidates: {len(sample)} orders on {args.threads} threads")
        cand = run_candidates(server, keys["his"], args.his_institution, sample, args.threads, today)
        log(f"  p50 {cand['p50']:.1f} ms, p95 {cand['p95']:.1f} ms, p99 {cand['p99']:.1f} ms, {cand['throughput']:.1f}/s, "
            f"{cand['candidates_mean']:.2f} candidates on average")
        stats = run_statistics(server, url, keys, args.his_institution, args.stats_runs, today)
        log("  statistics: " + "; ".join(f"{k}: median {v['median_ms']:.0f} ms" for k, v in stats.items() if isinstance(v, dict)))
        qido = run_qido(server, keys["platform"], [pid for pid, _ in sample], args.qido_n)
        log("  QIDO: " + "; ".join(f"{k}: p50 {v['p50']:.1f} ms" for k, v in qido.items()))
        load_avg = (" ".join(f"{x:.2f}" for x in load0), " ".join(f"{x:.2f}" for x in os.getloadavg()))
        text = report(args, sizes, loaded, cand, stats, qido, consistency, load_avg)
        ib.save(args.out, text, {"command": ib.command_line(), "sizes": sizes, "load": loaded, "candidates": cand,
                                 "statistics": stats, "qido": qido, "consistency": consistency, "load_avg": load_avg})
    except ib.BenchError as e:
        print(f"recognition.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if server:
            server.stop()
        ib._kill_all()
        if services and not args.keep:
            services.stop()
            shutil.rmtree(args.services_dir + "-yunying", ignore_errors=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
