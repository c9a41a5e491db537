#!/usr/bin/env python3
"""What a Prometheus scrape of /metrics costs on a city-scale index (issue 26).

PostgreSQL bulk-loaded with the recognition benchmark's data
(`recognition_load.py`: persons, patients, studies, series, instances),
`yunying serve` on it, and `/metrics` scraped one request at a time. The
index totals come from counters the triggers keep (`index_totals`); as the
reference in the same run, the same figures counted row by row (the query
`/metrics` ran before, timed by PostgreSQL itself). The scrape's figures are
checked against the row counts.

Standard library only; see benches/README.md.

    python3 benches/metrics.py                       # 1,000,000 instances
    python3 benches/metrics.py --instances 100000    # development
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (helpers only)
import recognition as rb  # noqa: E402  (PostgreSQL, server and load helpers)

GOAL_SCRAPE_MS = 50.0
OLD_QUERY = """SELECT (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM studies),
       (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instances),
       (SELECT CAST(SUM(size_bytes) AS BIGINT) FROM instances);
SELECT state, COUNT(*) FROM rendition_jobs GROUP BY state;"""


def log(msg: str) -> None:
    print(f"[metrics] {msg}", file=sys.stderr, flush=True)


def scrape(port: int) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as r:
        body = r.read()
    return (time.perf_counter() - t0) * 1000, body


def old_query_ms(url: str, runs: int) -> list[float]:
    """The row-by-row counts, timed by psql's \\timing (server round trip)."""
    out = rb.psql(url, "\\timing on\n" + "\n".join([OLD_QUERY] * runs))
    times = [float(m) for m in re.findall(r"Time: ([\d.]+) ms", out)]
    # Two statements a run: the counts and the jobs by state.
    return [a + b for a, b in zip(times[0::2], times[1::2])]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="/metrics scrape cost on PostgreSQL at city scale.")
    p.add_argument("--yunying", help="release binary [default: as benches/ingest.py]")
    p.add_argument("--instances", type=int, default=1_000_000)
    p.add_argument("--persons", type=int, default=100_000)
    p.add_argument("--institutions", type=int, default=20)
    p.add_argument("--orders", type=int, default=1000)
    p.add_argument("--scrapes", type=int, default=200)
    p.add_argument("--old-runs", type=int, default=5)
    p.add_argument("--database", default="metricsbench")
    p.add_argument("--no-durable", action="store_true", help="PostgreSQL with fsync off (development only)")
    p.add_argument("--services-dir", default="/tmp/yy-svc-metricsbench")
    p.add_argument("--pg-port", type=int, default=54349)
    p.add_argument("--s3-port", type=int, default=39200)
    p.add_argument("--out", default=str(ib.REPO / "benches" / "results" / "metrics.md"))
    args = p.parse_args(argv)
    args.yunying = ib.find_binary([args.yunying or ib.default_yunying()], "Yunying binary", "cargo build --release")
    signal.signal(signal.SIGTERM, ib._on_sigterm)
    services, server, text = None, None, ""
    try:
        services = rb.Services(args)
        admin = services.admin_url
        url = admin.rsplit("/", 1)[0] + "/" + args.database
        rb.psql(admin, f"DROP DATABASE IF EXISTS {args.database}")
        rb.psql(admin, f"CREATE DATABASE {args.database}")
        workdir = Path(args.services_dir + "-yunying")
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        cfg = workdir / "bench.toml"
        cfg.write_text(rb.config_toml(url, args.institutions))
        server = rb.Server(args.yunying, workdir, cfg)
        log("yunying serve once: schema")
        server.start()
        server.stop()
        loaded = rb.load(args, url)
        sizes = rb.counts(url)
        log(f"sizes: {sizes}")
        server = rb.Server(args.yunying, workdir, cfg)
        server.start()
        load0 = os.getloadavg()
        for _ in range(5):
            scrape(server.http_port)
        times, body = [], b""
        for _ in range(args.scrapes):
            ms, body = scrape(server.http_port)
            times.append(ms)
        scraped = {name: ib.metric(body, f"yunying_index_{name}") for name in ("patients", "studies", "series", "instances")}
        expected = {name: sizes[name] for name in scraped}
        if scraped != expected:
            raise ib.BenchError(f"/metrics says {scraped}, the tables hold {expected}")
        old = old_query_ms(url, args.old_runs)
        load1 = os.getloadavg()
        res = {"p50": rb.pct(times, 0.5), "p95": rb.pct(times, 0.95), "max": max(times), "n": len(times)}
        old_res = {"median": rb.pct(old, 0.5), "min": min(old), "max": max(old), "n": len(old)}
        log(f"scrape p50 {res['p50']:.2f} ms, p95 {res['p95']:.2f} ms; counted row by row: median {old_res['median']:.0f} ms")
        ok = "✔" if res["p95"] <= GOAL_SCRAPE_MS else "✘"
        lines = [
            "# /metrics on a city-scale index (PostgreSQL)",
            "",
            f"Command: `{ib.command_line()}`  ",
            f"Machine: {os.cpu_count()} CPUs, PostgreSQL {rb.pg_version()} "
            f"({'fsync off' if args.no_durable else 'durable'}), loopback; load average before/after "
            f"{' '.join(f'{x:.2f}' for x in load0)} / {' '.join(f'{x:.2f}' for x in load1)}.",
            "",
            f"Index: {sizes['instances']:,} instances, {sizes['series']:,} series, {sizes['studies']:,} studies, "
            f"{sizes['patients']:,} patients; database {sizes['database_bytes'] / 1e9:.1f} GB.",
            "",
            "| | p50 | p95 | max | goal |",
            "|---|---|---|---|---|",
            f"| `GET /metrics` ({res['n']} scrapes, one at a time) | {res['p50']:.2f} ms | {res['p95']:.2f} ms | {res['max']:.2f} ms "
            f"| p95 ≤ {GOAL_SCRAPE_MS:.0f} ms {ok} |",
            f"| reference: the same figures counted row by row (the query `/metrics` ran before; server time, "
            f"{old_res['n']} runs) | {old_res['median']:.0f} ms (median) | | {old_res['max']:.0f} ms | |",
            "",
            "The scrape's `yunying_index_{patients,studies,series,instances}` equal `COUNT(*)` of each table (checked in the run).",
        ]
        text = "\n".join(lines)
        ib.save(args.out, text, {"command": ib.command_line(), "sizes": sizes, "load": loaded, "scrape_ms": res,
                                 "row_counts_ms": old_res, "scraped": scraped, "load_avg": [load0, load1]})
    except ib.BenchError as e:
        print(f"metrics.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if server:
            server.stop()
        ib._kill_all()
        if services:
            services.stop()
            shutil.rmtree(args.services_dir + "-yunying", ignore_errors=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
