#!/usr/bin/env python3
"""Scale-out benchmark: Yunying on PostgreSQL + S3 against the embedded
default (SQLite + filesystem), same run, same corpus, same machine.

Standard library only; reuses the process, corpus and sender helpers of
benches/ingest.py. See benches/README.md.

    python3 benches/scaleout.py                 # 500 CT slices x 3 runs, 300 frames, 1M-instance QIDO
    python3 benches/scaleout.py --instances 100 --runs 1 --qido-instances 100000   # smoke test
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (sibling script: helpers only, its main() does not run)

REPO = ib.REPO
SERVICES = REPO / "storage" / "local-services.sh"
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
DIRECT_GET = "Garage alone, ranged GET of the same bytes"


log = ib.log


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# --------------------------------------------------------------------------
# PostgreSQL and Garage, both durable, on loopback, in a directory of our own
# --------------------------------------------------------------------------

class Services:
    def __init__(self, garage_db_engine: str = "lmdb"):
        # Not mkdtemp: its 0700 directory would keep the postgres user out;
        # local-services.sh creates the directory itself.
        self.dir = ib.DATA_ROOT / f"yunying-bench-services-{os.getpid()}"
        pg, s3 = ib.free_ports(2)
        self.env = {**os.environ, "YUNYING_SERVICES_DIR": str(self.dir), "YUNYING_PG_PORT": str(pg),
                    "YUNYING_S3_PORT": str(s3), "YUNYING_SERVICES_DURABLE": "1",
                    "YUNYING_GARAGE_DB_ENGINE": garage_db_engine}
        out = subprocess.run([str(SERVICES), "start"], env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            raise ib.BenchError(f"storage/local-services.sh start failed:\n{out.stderr}")
        self.vars = {}
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                self.vars[k] = v.strip("'")
        self.admin_url = self.vars["YUNYING_TEST_POSTGRES"]
        self.n = 0

    def psql(self, db_url: str, sql: str) -> str:
        psql = next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), shutil.which("psql"))
        out = subprocess.run([psql, "-v", "ON_ERROR_STOP=1", "-q", "-At", db_url], input=sql,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise ib.BenchError(f"psql failed: {out.stderr}")
        return out.stdout

    def fresh(self, tag: str) -> tuple[str, str]:
        """(index URL of a new database, a new S3 prefix)."""
        self.n += 1
        name = f"bench_{tag}_{self.n}"
        self.psql(self.admin_url, f"CREATE DATABASE {name}")
        return self.admin_url.rsplit("/", 1)[0] + "/" + name, f"bench/{name}"

    def backend_toml(self, index_url: str, prefix: str) -> str:
        v = self.vars
        return (f'index_url = "{index_url}"\n'
                f'[store]\nkind = "s3"\n[store.s3]\nendpoint = "{v["YUNYING_TEST_S3_ENDPOINT"]}"\n'
                f'bucket = "{v["YUNYING_TEST_S3_ORIGINALS_BUCKET"]}"\nprefix = "{prefix}"\n'
                f'renditions_bucket = "{v["YUNYING_TEST_S3_RENDITIONS_BUCKET"]}"\nrenditions_prefix = "{prefix}"\n')

    def server_env(self) -> dict:
        return {**ib.ENV_NODELAY, "NO_COLOR": "1", "AWS_ACCESS_KEY_ID": self.vars["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": self.vars["AWS_SECRET_ACCESS_KEY"], "AWS_REGION": self.vars["AWS_REGION"]}

    def stop(self) -> None:
        subprocess.run([str(SERVICES), "stop"], env=self.env, capture_output=True)


# --------------------------------------------------------------------------
# Yunying on either backend
# --------------------------------------------------------------------------

class YunyingOn(ib.Yunying):
    """`yunying serve` with the embedded default (services=None) or on
    PostgreSQL + S3 (a fresh database and prefix on every start)."""

    def __init__(self, binary: str, services: Services | None, extra_toml: str = "", index_url: str | None = None):
        super().__init__(binary)
        self.services, self.extra_toml, self.fixed_index = services, extra_toml, index_url
        self.name = "Yunying, PostgreSQL + S3" if services else "Yunying, SQLite + filesystem"

    def start(self) -> None:
        self.workdir = ib.fresh_dir("yunying-bench-scaleout-")
        self.dicom_port, self.http_port = ib.free_ports(2)
        body, env = 'dicom_bind = "127.0.0.1"\n', {**ib.ENV_NODELAY, "NO_COLOR": "1"}
        if self.services:
            if self.fixed_index:
                index_url, prefix = self.fixed_index, "bench/fixed-index"
            else:
                index_url, prefix = self.services.fresh("ingest")
            body = body + self.services.backend_toml(index_url, prefix)
            env = self.services.server_env()
        cfg = self.workdir / "bench.toml"
        # C-STORE from the benchmark's unregistered clients (as Orthanc takes by default).
        dicom = "" if "[dicom]" in self.extra_toml else '[dicom]\nunknown_callers = "demo-store"\n'
        # DICOMweb from loopback without credentials (access control has its own benchmark).
        access = "" if "[access]" in self.extra_toml else '[access]\nanonymous = "loopback"\n'
        cfg.write_text(body + self.extra_toml + dicom + access)
        self.logfile = self.workdir / "yunying.log"
        with open(self.logfile, "wb") as lf:
            self.proc = ib.spawn([self.binary, "serve", "--config", cfg, "--data-dir", self.workdir / "data",
                                  "--dicom-port", self.dicom_port, "--http-port", self.http_port, "--aet", self.aet],
                                 env=env, stdout=lf, stderr=lf, new_session=True)
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        ib.wait_until(lambda: ib.http_get(url, 2)[0] == 200, f"{self.name} /healthz", self.proc, self.logfile, 60)
        ib.wait_until(lambda: ib.listening(self.dicom_port), f"{self.name} DICOM port", self.proc, self.logfile, 10)

    def get(self, path: str, accept: str = "application/dicom+json") -> tuple[float, int, bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", headers={"Accept": accept})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        return time.perf_counter() - t0, status, body


# --------------------------------------------------------------------------
# Garage alone: the same objects PUT and read by a lean client, no Yunying
# --------------------------------------------------------------------------

class DirectS3:
    """A minimal S3 client (SigV4, unsigned payload with a SHA-256 checksum,
    keep-alive connections, one per thread) that measures what the S3
    server itself allows: no DICOM, no index, no Yunying. Whatever server
    stores each instance as one object on this S3 server cannot go faster
    than this on this machine."""

    def __init__(self, services: Services):
        v = services.vars
        ep = urllib.parse.urlparse(v["YUNYING_TEST_S3_ENDPOINT"])
        self.host, self.port, self.netloc = ep.hostname, ep.port, ep.netloc
        self.key, self.secret, self.region = v["AWS_ACCESS_KEY_ID"], v["AWS_SECRET_ACCESS_KEY"], v["AWS_REGION"]
        self.bucket = v["YUNYING_TEST_S3_ORIGINALS_BUCKET"]
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return c

    def _signed(self, method: str, path: str, headers: dict) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc)
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        h = {**{k.lower(): val for k, val in headers.items()}, "host": self.netloc, "x-amz-date": amz,
             "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        names = sorted(h)
        canonical = "\n".join([method, urllib.parse.quote(path), "", "".join(f"{k}:{h[k]}\n" for k in names),
                               ";".join(names), "UNSIGNED-PAYLOAD"])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = hmac.new(("AWS4" + self.secret).encode(), day.encode(), "sha256").digest()
        for part in (self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), "sha256").digest()
        sig = hmac.new(k, to_sign.encode(), "sha256").hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={sig}")
        return h

    def _request(self, method: str, key: str, body: bytes | None, headers: dict, ok: int) -> bytes:
        path = f"/{self.bucket}/{key}"
        c = self._conn()
        c.request(method, path, body=body, headers=self._signed(method, path, headers))
        r = c.getresponse()
        data = r.read()
        if r.status != ok:
            raise ib.BenchError(f"S3 {method} {key}: HTTP {r.status}: {data[:200]!r}")
        return data

    def put(self, key: str, body: bytes, sha256_b64: str) -> None:
        self._request("PUT", key, body, {"content-length": str(len(body)), "x-amz-checksum-sha256": sha256_b64}, 200)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._request("GET", key, None, {"range": f"bytes={start}-{start + length - 1}"}, 206)


def direct_puts(client: DirectS3, files: list[Path], conc: int, prefix: str) -> dict:
    """PUT every file (read into memory and hashed beforehand, as Yunying's
    spool has them) over `conc` connections; instances/s."""
    bodies = [f.read_bytes() for f in files]
    sums = [base64.b64encode(hashlib.sha256(b).digest()).decode() for b in bodies]
    keys = [f"{prefix}/{i:06d}.dcm" for i in range(len(files))]
    nxt, lock, errors = [0], threading.Lock(), []

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies) or errors:
                return
            try:
                client.put(keys[i], bodies[i], sums[i])
            except Exception as e:  # noqa: BLE001  (reported, not raised, so the other threads stop)
                errors.append(str(e))

    os.sync()
    garage0, busy0 = ib.ticks_by_name(("garage",))["garage"], ib.machine_busy_ticks()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    garage1, busy1 = ib.ticks_by_name(("garage",))["garage"], ib.machine_busy_ticks()
    nbytes = sum(map(len, bodies))
    per_1000 = lambda ticks: ticks / ib.CLK_TCK / len(files) * 1000  # noqa: E731
    return {"system": "Garage alone", "assocs": conc, "instances": len(files), "wall_s": wall,
            "throughput": len(files) / wall, "mb_per_s": nbytes / 1e6 / wall, "errors": errors, "keys": keys,
            "machine_cpu_s_per_1000": per_1000(busy1 - busy0), "others_cpu_s_per_1000": {"garage": per_1000(garage1 - garage0)}}


def pixel_range(path: Path) -> tuple[int, int]:
    """(offset, length) of the Pixel Data value of an uncompressed corpus file."""
    data = path.read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
    if at < 0:
        raise ib.BenchError(f"{path}: no native Pixel Data")
    return at + 12, int.from_bytes(data[at + 8:at + 12], "little")


# --------------------------------------------------------------------------
# 1. ingest throughput
# --------------------------------------------------------------------------

def run_ingest(args, services, files, storescu, logroot) -> list[dict]:
    results = []
    # Renditions off: they run after the acknowledgement on either backend;
    # this measures the acknowledged ingest path (spool, store, index).
    extra = "[renditions]\nenabled = false\n"
    for run in range(1, args.runs + 1):
        for assocs, backend in [(a, b) for a in args.assocs_list for b in (None, services)]:
            server = YunyingOn(args.yunying, backend, extra)
            logdir = Path(logroot) / f"ingest-{'s3' if backend else 'fs'}-{assocs}-{run}"
            logdir.mkdir()
            log(f"run {run}/{args.runs}: {server.name}, {assocs} associations, {len(files)} instances")
            r = ib.measure(server, storescu, files, assocs, args.timeout, logdir, also=("garage", "postgres"))
            r["run"] = run
            results.append(r)
            log(f"  {r['throughput']:.1f} inst/s, {r['mb_per_s']:.1f} MB/s"
                + ("" if not r["errors"] else "  ERRORS: " + "; ".join(e.splitlines()[0] for e in r["errors"])))
        for assocs in args.assocs_list:
            log(f"run {run}/{args.runs}: Garage alone, {assocs} connections, {len(files)} PUTs")
            r = direct_puts(DirectS3(services), files, assocs, f"bench/direct-{run}-{assocs}")
            r.pop("keys")
            r["run"] = run
            results.append(r)
            log(f"  {r['throughput']:.1f} PUT/s" + ("" if not r["errors"] else "  ERRORS: " + r["errors"][0]))
    return results


# --------------------------------------------------------------------------
# 2. frame retrieval latency
# --------------------------------------------------------------------------

def run_frames(args, services, files, storescu, logroot) -> dict:
    extra = "[renditions]\nenabled = false\n"
    servers = [YunyingOn(args.yunying, None, extra), YunyingOn(args.yunying, services, extra)]
    try:
        for s in servers:
            s.start()
            logdir = Path(logroot) / f"frames-load-{s.http_port}"
            logdir.mkdir()
            _, errors = ib.send(storescu, s, files, max(args.assocs_list), logdir, args.timeout)
            if errors:
                raise ib.BenchError(f"{s.name}: loading the corpus failed: {errors[0]}")
        _, status, body = servers[0].get("/dicom-web/instances?limit=100000&includefield=0020000D,0020000E")
        if status != 200:
            raise ib.BenchError(f"QIDO instances: HTTP {status}")
        instances = [(i["0020000D"]["Value"][0], i["0020000E"]["Value"][0], i["00080018"]["Value"][0])
                     for i in json.loads(body)]
        # The same corpus straight on the S3 server, read by the lean client.
        direct = DirectS3(services)
        uploaded = direct_puts(direct, files, max(args.assocs_list), "bench/direct-frames")
        if uploaded["errors"]:
            raise ib.BenchError(f"Garage alone: loading the corpus failed: {uploaded['errors'][0]}")
        direct_keys = uploaded["keys"]
        offset, length = pixel_range(files[0])
        rng = random.Random(7)
        picks = [rng.choice(instances) for _ in range(args.frames)]
        direct_picks = [rng.choice(direct_keys) for _ in range(args.frames)]
        times = {s.name: [] for s in servers}
        times[DIRECT_GET] = []
        direct.get_range(direct_picks[0], offset, length)
        sizes = set()
        # Warm-up (connection set-up, first touch), then alternate the two
        # servers request by request so drift hits both alike.
        for s in servers:
            st, se, sop = picks[0]
            s.get(f"/dicom-web/studies/{st}/series/{se}/instances/{sop}/frames/1", FRAME_ACCEPT)
        for (st, se, sop), key in zip(picks, direct_picks):
            t0 = time.perf_counter()
            if len(direct.get_range(key, offset, length)) != length:
                raise ib.BenchError(f"Garage alone: short range read of {key}")
            times[DIRECT_GET].append((time.perf_counter() - t0) * 1000)
            for s in servers:
                dt, status, body = s.get(f"/dicom-web/studies/{st}/series/{se}/instances/{sop}/frames/1", FRAME_ACCEPT)
                if status != 200:
                    raise ib.BenchError(f"{s.name}: frame of {sop}: HTTP {status}: {body[:200]!r}")
                sizes.add(len(body))
                times[s.name].append(dt * 1000)
        return {"requests": len(picks), "response_bytes": sorted(sizes)[:3],
                "ms": {name: {"p50": pct(v, 0.5), "p95": pct(v, 0.95), "mean": statistics.mean(v)} for name, v in times.items()},
                "raw_ms": times}
    finally:
        for s in servers:
            s.stop()
            s.cleanup()


# --------------------------------------------------------------------------
# 3. QIDO study search on a PostgreSQL index of 1,000,000 instances
# --------------------------------------------------------------------------

SURNAMES = ["WANG", "LI", "ZHANG", "LIU", "CHEN", "YANG", "ZHAO", "HUANG", "ZHOU", "WU"]
HANZI = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]


def bulk_load_sql(instances: int) -> str:
    """Patients, studies (2 series of 5 instances each), series and
    instances shaped like the rows ingest writes, with generate_series."""
    studies = max(1, instances // 10)
    patients = max(1, studies // 2)
    series = studies * 2
    instances = series * 5
    sur = "ARRAY[" + ",".join(f"'{s}'" for s in SURNAMES) + "]"
    hz = "ARRAY[" + ",".join(f"'{h}'" for h in HANZI) + "]"
    return f"""
BEGIN;
INSERT INTO patients (id, issuer, patient_id, patient_name, patient_birth_date, patient_sex,
                      name_alphabetic, name_ideographic, name_phonetic, name_words)
OVERRIDING SYSTEM VALUE
SELECT g, 'BENCH', 'P' || lpad(g::text, 7, '0'),
       s || '^WEI' || g || '=' || h || '^伟', to_char(date '1940-01-01' + (g * 7919 % 29000), 'YYYYMMDD'),
       CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END,
       lower(s) || '^wei' || g, h || '^伟', '', ' ' || lower(s) || ' wei' || g || ' ' || h || ' 伟 wei '
FROM generate_series(1, {patients}) g,
     LATERAL (SELECT ({sur})[1 + g % 10] AS s, ({hz})[1 + g % 10] AS h) n;
INSERT INTO studies (id, patient_pk, study_instance_uid, study_date, study_time, accession_number, study_id,
                     study_description, referring_physician_name, institution_name, issuer, num_series, num_instances,
                     modalities_in_study, updated_at_ms)
OVERRIDING SYSTEM VALUE
SELECT g, 1 + (g - 1) % {patients}, '1.2.826.0.1.3680043.10.543.' || g,
       to_char(date '2016-01-01' + (g * 37 % 3650), 'YYYYMMDD'), '093000', 'A' || lpad(g::text, 8, '0'), g::text,
       m || ' BENCH', '', 'BENCH HOSPITAL', 'BENCH', 2, 10, m, 0
FROM generate_series(1, {studies}) g,
     LATERAL (SELECT (ARRAY['CT','CT','MR','CR','US'])[1 + g % 5] AS m) x;
INSERT INTO series (id, study_pk, series_instance_uid, modality, series_number, series_description, series_date,
                    series_time, num_instances)
OVERRIDING SYSTEM VALUE
SELECT g, (g + 1) / 2, '1.2.826.0.1.3680043.10.543.' || ((g + 1) / 2) || '.' || (2 - g % 2),
       (ARRAY['CT','CT','MR','CR','US'])[1 + ((g + 1) / 2) % 5], 2 - g % 2, 'SERIES', '', '', 5
FROM generate_series(1, {series}) g;
INSERT INTO instances (id, series_pk, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, rows_,
                       columns_, transfer_syntax_uid, issuer, received_at_ms, size_bytes, digest, object_key)
OVERRIDING SYSTEM VALUE
SELECT g, (g - 1) / 5 + 1, '1.2.826.0.1.3680043.10.543.9.' || g, '1.2.840.10008.5.1.4.1.1.2', 1 + (g - 1) % 5,
       1, 512, 512, '1.2.840.10008.1.2.1', 'BENCH', 0, 525000, md5(g::text) || md5(g::text), 'originals/bench/' || g
FROM generate_series(1, {instances}) g;
SELECT setval(pg_get_serial_sequence('patients', 'id'), {patients});
SELECT setval(pg_get_serial_sequence('studies', 'id'), {studies});
SELECT setval(pg_get_serial_sequence('series', 'id'), {series});
SELECT setval(pg_get_serial_sequence('instances', 'id'), {instances});
COMMIT;
ANALYZE;
"""


def qido_queries(studies: int, patients: int) -> list[tuple[str, str, int | None]]:
    """(label, query string, expected number of results or None)."""
    rng = random.Random(11)
    out = []
    for _ in range(20):
        p = rng.randint(1, patients)
        out.append(("PatientID", f"PatientID=P{p:07d}", 2 if studies >= 2 * patients else None))
        a = rng.randint(1, studies)
        out.append(("AccessionNumber", f"AccessionNumber=A{a:08d}", 1))
        out.append(("StudyInstanceUID", f"StudyInstanceUID=1.2.826.0.1.3680043.10.543.{a}", 1))
        s = rng.choice(SURNAMES)
        out.append(("PatientName prefix, Pinyin", f"PatientName={s}*&limit=101", None))
        h = rng.choice(HANZI)
        out.append(("PatientName prefix, Hanzi", f"PatientName={urllib.parse.quote(h)}*&limit=101", None))
        d0 = 20160101 + rng.randint(0, 8) * 10000 + rng.randint(1, 11) * 100 + rng.randint(1, 20)
        out.append(("StudyDate week", f"StudyDate={d0}-{d0 + 7}&limit=101", None))
        out.append(("ModalitiesInStudy", f"ModalitiesInStudy={rng.choice(['MR', 'CR', 'US'])}&limit=101", None))
        page = lambda offset: max(0, min(101, studies - offset))  # noqa: E731
        out.append(("worklist page (OHIF)", "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060", page(0)))
        out.append(("worklist page 50", f"limit=101&offset={101 * 49}&includefield=00081030%2C00080060", page(101 * 49)))
    return out


def run_qido(args, services) -> dict:
    index_url, prefix = services.fresh("qido")
    cfg_server = YunyingOn(args.yunying, services, "[renditions]\nenabled = false\n", index_url=index_url)
    # Start once to create the schema, stop, bulk-load, start again.
    cfg_server.start()
    cfg_server.stop()
    cfg_server.cleanup()
    log(f"bulk-loading {args.qido_instances:,} instances into PostgreSQL")
    t0 = time.monotonic()
    services.psql(index_url, bulk_load_sql(args.qido_instances))
    load_s = time.monotonic() - t0
    counts = services.psql(index_url, "SELECT (SELECT count(*) FROM instances), (SELECT count(*) FROM studies), "
                                      "(SELECT count(*) FROM patients)").strip().split("|")
    n_instances, n_studies, n_patients = map(int, counts)
    log(f"  {n_instances:,} instances, {n_studies:,} studies, {n_patients:,} patients in {load_s:.0f} s")
    server = YunyingOn(args.yunying, services, "[renditions]\nenabled = false\n", index_url=index_url)
    server.start()
    try:
        queries = qido_queries(n_studies, n_patients)
        for label, q, _ in queries[:9]:  # warm-up: one of each
            server.get(f"/dicom-web/studies?{q}")
        by_label: dict[str, list[float]] = {}
        for _ in range(args.qido_rounds):
            for label, q, expected in queries:
                dt, status, body = server.get(f"/dicom-web/studies?{q}")
                if status != 200:
                    raise ib.BenchError(f"QIDO {q}: HTTP {status}: {body[:200]!r}")
                found = len(json.loads(body)) if body else 0
                if expected is not None and found != expected:
                    raise ib.BenchError(f"QIDO {q}: {found} results, expected {expected}")
                if found == 0 and label.startswith(("PatientName", "ModalitiesInStudy")):
                    raise ib.BenchError(f"QIDO {q}: no results")
                by_label.setdefault(label, []).append(dt * 1000)
        all_ms = [v for vs in by_label.values() for v in vs]
        return {"instances": n_instances, "studies": n_studies, "patients": n_patients, "load_s": load_s,
                "requests": len(all_ms), "p50_all": pct(all_ms, 0.5), "p95_all": pct(all_ms, 0.95),
                "by_query": {k: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95)} for k, v in by_label.items()}}
    finally:
        server.stop()
        server.cleanup()


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def report(args, corpus: str, ingest: list[dict], frames: dict | None, qido: dict | None) -> str:
    lines = ["# Scale-out benchmark: PostgreSQL + S3 against SQLite + filesystem", ""]
    lines += [f"- Command: `{ib.command_line()}`", f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
              f"- Machine: {ib.machine_line()}", f"- Yunying: {ib.version_of([args.yunying, '--version'])}",
              f"- Corpus: {corpus}",
              "- Backends, both on this machine: embedded = SQLite (WAL, synchronous=FULL) + filesystem store "
              "(fsync, rename, directory fsync); distributed = PostgreSQL "
              + version_of_pg() + " (fsync and synchronous_commit on) + Garage " + version_of_garage() + " (one node, S3 over HTTP on loopback, "
              f"metadata in {args.garage_db_engine.upper()}, metadata_fsync and data_fsync on; SHA-256 checked uploads).", ""]
    if ingest:
        lines += ["## Ingest (C-STORE, DCMTK storescu, one process per association, renditions off)", "",
                  "| Associations | Backend | instances/s, median (min–max) | MB/s, median | PostgreSQL + S3 / SQLite + fs |",
                  "|---|---|---|---|---|"]
        for assocs in args.assocs_list:
            med = {}
            for name in ("Yunying, SQLite + filesystem", "Yunying, PostgreSQL + S3", "Garage alone"):
                rs = [r for r in ingest if r["system"] == name and r["assocs"] == assocs and not r["errors"]]
                if not rs:
                    lines.append(f"| {assocs} | {name} | failed | | |")
                    continue
                t = [r["throughput"] for r in rs]
                med[name] = statistics.median(t)
                ratio = ""
                fs = med.get("Yunying, SQLite + filesystem")
                if name != "Yunying, SQLite + filesystem" and fs:
                    ratio = f"**{med[name] / fs:.2f}×**" if name.endswith("S3") else f"{med[name] / fs:.2f}×"
                label = name if name != "Garage alone" else f"Garage alone: {assocs} connections PUT the same files"
                lines.append(f"| {assocs} | {label} | {med[name]:.1f} ({min(t):.1f}–{max(t):.1f}) | "
                             f"{statistics.median(r['mb_per_s'] for r in rs):.1f} | {ratio} |")
        lines += ["", "Goal: PostgreSQL + S3 at least 0.7× SQLite + filesystem.", "",
                  "\"Garage alone\" is the S3 server's own ceiling on this machine: a lean client (Python, "
                  "keep-alive, bodies in memory and hashed beforehand) PUTs the same files with the same "
                  "SHA-256 checksum, one object each, over as many connections as there are associations. "
                  "There is no DICOM, no index and no Yunying in it, so no server that keeps each instance "
                  "as an object on this S3 server goes faster here."]
        lines += cpu_table(args, ingest)
        errs = [e for r in ingest for e in r["errors"]]
        if errs:
            lines += ["", "Errors: " + "; ".join(e.splitlines()[0] for e in errs)]
        lines.append("")
    if frames:
        ms = frames["ms"]
        fs, s3 = ms["Yunying, SQLite + filesystem"], ms["Yunying, PostgreSQL + S3"]
        lines += [f"## Frame retrieval (WADO-RS `frames/1`, {frames['requests']} random instances, sequential, "
                  "the two servers alternated)", "",
                  "| Backend | p50 ms | p95 ms | mean ms |", "|---|---|---|---|",
                  f"| SQLite + filesystem | {fs['p50']:.2f} | {fs['p95']:.2f} | {fs['mean']:.2f} |",
                  f"| PostgreSQL + S3 | {s3['p50']:.2f} | {s3['p95']:.2f} | {s3['mean']:.2f} |"]
        direct = ms.get(DIRECT_GET)
        if direct:
            lines.append(f"| Garage alone: ranged GET of the same pixel bytes, keep-alive | {direct['p50']:.2f} | "
                         f"{direct['p95']:.2f} | {direct['mean']:.2f} |")
        lines += ["", f"S3 / filesystem, p50: **{s3['p50'] / fs['p50']:.2f}×** (goal ≤ 2×)."]
        if direct:
            lines.append(f"Garage alone / Yunying on the filesystem, p50: {direct['p50'] / fs['p50']:.2f}× "
                         "(the S3 server's GET by itself, before any index lookup or HTTP response of Yunying's).")
        lines.append("")
    if qido:
        lines += [f"## QIDO-RS study search on PostgreSQL, {qido['instances']:,} instances "
                  f"({qido['studies']:,} studies, {qido['patients']:,} patients; bulk-loaded in {qido['load_s']:.0f} s)",
                  "", "| Query | requests | p50 ms | p95 ms |", "|---|---|---|---|"]
        for label, v in qido["by_query"].items():
            lines.append(f"| {label} | {v['n']} | {v['p50']:.2f} | {v['p95']:.2f} |")
        lines += [f"| **all** | {qido['requests']} | **{qido['p50_all']:.2f}** | {qido['p95_all']:.2f} |", "",
                  "Goal: p50 ≤ 20 ms.", ""]
    return "\n".join(lines)


def cpu_table(args, ingest: list[dict]) -> list[str]:
    """Where the CPU goes, per instance: on a machine whose cores are all
    busy, this bounds throughput whatever the software does."""
    cores = os.cpu_count() or 1
    lines = ["", f"### CPU per instance during ingest (medians; the machine has {cores} cores)", "",
             "| Associations | Backend | whole machine, ms | Yunying, ms | Garage, ms | PostgreSQL, ms "
             "| machine idle | instances/s if every core did only this |", "|---|---|---|---|---|---|---|---|"]
    med = lambda rs, f: statistics.median(f(r) for r in rs)  # noqa: E731
    for assocs in args.assocs_list:
        for name in ("Yunying, SQLite + filesystem", "Yunying, PostgreSQL + S3", "Garage alone"):
            rs = [r for r in ingest if r["system"] == name and r["assocs"] == assocs and not r["errors"]
                  and "machine_cpu_s_per_1000" in r]
            if not rs:
                continue
            machine = med(rs, lambda r: r["machine_cpu_s_per_1000"])
            other = lambda n: med(rs, lambda r: r["others_cpu_s_per_1000"].get(n, 0.0))  # noqa: E731
            yun = f"{med(rs, lambda r: r['cpu_s_per_1000']):.2f}" if "cpu_s_per_1000" in rs[0] else "–"
            pg = f"{other('postgres'):.2f}" if name.endswith("S3") else "–"
            garage = f"{other('garage'):.2f}" if name != "Yunying, SQLite + filesystem" else "–"
            idle = max(0.0, 1 - med(rs, lambda r: r["machine_cpu_s_per_1000"] * r["throughput"] / 1000) / cores)
            lines.append(f"| {assocs} | {name} | {machine:.2f} | {yun} | {garage} | {pg} | {idle:.0%} "
                         f"| {cores * 1000 / machine:.0f} |")
    lines += ["", "Milliseconds of CPU per instance (= CPU-seconds per 1,000), measured from /proc over the run: "
              "'whole machine' is every process, storescu and the benchmark's own client included. "
              "PostgreSQL + S3 has to pay for Yunying, PostgreSQL and Garage on the same cores."]
    return lines


def version_of_garage() -> str:
    garage = os.path.expanduser("~/.cache/yunying/tools/bin/garage")
    return ib.version_of([garage, "--version"]).replace("garage ", "")


def version_of_pg() -> str:
    pg = next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))), "postgres")
    return ib.version_of([pg, "--version"]).replace("postgres (PostgreSQL) ", "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Yunying on PostgreSQL + S3 vs SQLite + filesystem, same run.")
    p.add_argument("--yunying", help="yunying binary [default: as benches/ingest.py]")
    p.add_argument("--instances", type=int, default=500, help="CT slices (512x512) in the ingest corpus [500]")
    p.add_argument("--runs", type=int, default=3, help="ingest runs per backend [3]")
    p.add_argument("--assocs", default="4,16", help="concurrent associations, comma-separated [4,16]")
    p.add_argument("--frames", type=int, default=300, help="frame requests per backend [300]")
    p.add_argument("--qido-instances", type=int, default=1_000_000, help="instances bulk-loaded for QIDO [1000000]")
    p.add_argument("--qido-rounds", type=int, default=3, help="rounds of the QIDO query mix (180 queries each) [3]")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: ingest,frames,qido")
    p.add_argument("--garage-db-engine", choices=("lmdb", "sqlite"), default="lmdb",
                   help="Garage's metadata engine [lmdb]; see storage/README.md for what each fsyncs")
    p.add_argument("--timeout", type=float, default=1200)
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "scaleout.md"))
    args = p.parse_args(argv)
    args.yunying = ib.find_binary([args.yunying or ib.default_yunying()], "Yunying binary", "cargo build --release")
    args.assocs_list = [int(a) for a in args.assocs.split(",") if a.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    signal.signal(signal.SIGTERM, ib._on_sigterm)
    services = None
    try:
        services = Services(args.garage_db_engine)
        storescu = ib.storescu_path()
        corpus_dir = ib.CORPUS_ROOT / f"scaleout-ct-{args.instances}"
        if not corpus_dir.exists():
            log(f"writing {args.instances} CT slices to {corpus_dir}")
            ib.write_ct_series(corpus_dir, args.instances)
        files = ib.dicom_files(corpus_dir)[: args.instances]
        corpus = f"{len(files)} CT slices 512×512×16 bit, Explicit VR Little Endian, " \
                 f"{sum(f.stat().st_size for f in files) / 1e6:.0f} MB"
        with tempfile.TemporaryDirectory(prefix="yunying-bench-logs-", dir=ib.DATA_ROOT) as logroot:
            ingest = [] if "ingest" in skip else run_ingest(args, services, files, storescu, logroot)
            frames = None if "frames" in skip else run_frames(args, services, files, storescu, logroot)
        if frames:
            for name, v in frames["ms"].items():
                log(f"frames, {name}: p50 {v['p50']:.2f} ms, p95 {v['p95']:.2f} ms")
        qido = None if "qido" in skip else run_qido(args, services)
        if qido:
            log(f"QIDO on {qido['instances']:,} instances: p50 {qido['p50_all']:.2f} ms, p95 {qido['p95_all']:.2f} ms")
        text = report(args, corpus, ingest, frames, qido)
        raw = {"command": ib.command_line(), "ingest": ingest, "frames": frames, "qido": qido}
        if frames:
            raw["frames"] = {k: v for k, v in frames.items() if k != "raw_ms"}
        ib.save(args.out, text, raw)
    except ib.BenchError as e:
        print(f"scaleout.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        ib._kill_all()
        if services:
            services.stop()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
