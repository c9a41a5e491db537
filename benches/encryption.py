#!/usr/bin/env python3
"""Frame retrieval with encryption at rest on vs off, in the same run.

Two `yunying serve` processes, one on a plain filesystem store and one on
the same instances in a store encrypted with SM4-GCM (`[store.encryption]`),
both running at once; every WADO-RS frame request goes to one and then the
other, for the same frame, so machine noise falls on both alike. Reports the
latency percentiles of each and the ratio of the medians (goal: <= 1.2).

    cargo build --release
    python3 benches/encryption.py                     # 100 slices 512x512, 3 rounds of 300 frames
    python3 benches/encryption.py --slices 20 --requests 50 --rounds 1   # smoke test

Needs python3 with pydicom and numpy (the corpus generator) and a release build.
Writes benches/results/encryption.md and .json.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ib  # noqa: E402  (process tracking/cleanup, /proc, machine description)

from ingest import BenchError  # noqa: E402

REPO = ib.REPO
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
MASTER_KEY = "0123456789abcdeffedcba9876543210"  # a benchmark key, nothing secret


def log(msg: str) -> None:
    print(f"[encryption] {msg}", file=sys.stderr, flush=True)


def corpus(args) -> Path:
    root = Path("/dev/shm") / f"yunying-bench-encryption-{args.slices}x{args.rows}"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        log(f"generating {args.slices} slices of {args.rows}x{args.rows} in {root}")
        subprocess_run([sys.executable, REPO / "testdata" / "gen_ct_series.py", "--out", root / "dicom", "--slices", args.slices,
                        "--rows", args.rows, "--cols", args.rows, "--seed", 5, "-q"])
        (root / "done").write_text("ok")
    return root / "dicom"


def subprocess_run(cmd, env=None) -> None:
    import subprocess
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd[:3]))}… failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


class Server:
    def __init__(self, name: str, binary: str, root: Path, encrypted: bool):
        self.name, self.binary, self.root, self.encrypted = name, binary, root, encrypted
        self.proc = None
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "bench.toml"
        text = 'dicom_bind = "127.0.0.1"\n[access]\nanonymous = "loopback"\n[renditions]\nenabled = false\n'
        if encrypted:
            key = root / "master.key"
            key.write_text(MASTER_KEY + "\n")
            key.chmod(0o600)
            text += f'[store.encryption]\nenabled = true\nkey_id = "bench"\nmaster_key_file = "{key}"\n'
        self.config.write_text(text)

    def load(self, dicom: Path) -> None:
        subprocess_run([self.binary, "--config", self.config, "--data-dir", self.root / "data", "import", "--quiet", dicom],
                       env=ib.ENV_NODELAY)

    def start(self) -> None:
        self.proc, self.http_port, self.logfile = ib.serve_http(self.binary, self.config, self.root, self.name)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)

    def get(self, path: str, accept: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers={"Accept": accept})
        r = self.conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise BenchError(f"{self.name} GET {path}: {r.status} {body[:200]!r}")
        return elapsed, body

    def stop(self) -> None:
        if self.proc:
            ib.terminate(self.proc)


def frame_paths(server: Server) -> list[str]:
    _, body = server.get("/dicom-web/instances?limit=100000&includefield=0020000D,0020000E", "application/dicom+json")
    paths = []
    for i in json.loads(body):
        st, se, sop = (i[t]["Value"][0] for t in ("0020000D", "0020000E", "00080018"))
        paths.append(f"/dicom-web/studies/{st}/series/{se}/instances/{sop}/frames/1")
    return sorted(paths)


def payload(body: bytes) -> bytes:
    """The frame bytes of a one-part multipart body (the boundary differs per response)."""
    start = body.index(b"\r\n\r\n") + 4
    end = body.rindex(b"\r\n--")
    return body[start:end]


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_ms": percentile(xs, 50) * 1e3, "p90_ms": percentile(xs, 90) * 1e3,
            "p99_ms": percentile(xs, 99) * 1e3, "mean_ms": statistics.fmean(xs) * 1e3}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--yunying", help="yunying binary [default: $CARGO_TARGET_DIR/release/yunying, else ./target/release/yunying]")
    p.add_argument("--slices", type=int, default=100)
    p.add_argument("--rows", type=int, default=512, help="rows = columns of each slice (16-bit)")
    p.add_argument("--requests", type=int, default=300, help="frames per server per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "encryption.md"))
    args = p.parse_args()
    binary = args.yunying or next((c for c in [os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "release", "yunying"),
                                                str(REPO / "target" / "release" / "yunying")] if os.path.exists(c)), None)
    if not binary:
        raise BenchError("no release build: cargo build --release, or --yunying PATH")
    dicom = corpus(args)
    work = Path(f"/var/tmp/yunying-bench-encryption-{os.getpid()}")
    servers = [Server("plain", binary, work / "plain", False), Server("SM4-GCM at rest", binary, work / "encrypted", True)]
    try:
        for s in servers:
            log(f"importing into the {s.name} store")
            s.load(dicom)
            s.start()
        paths = frame_paths(servers[0])
        if len(paths) != args.slices or frame_paths(servers[1]) != paths:
            raise BenchError(f"the stores hold different instances ({len(paths)} of {args.slices})")
        sealed = next((servers[1].root / "data" / "store" / "objects").rglob("*.dcm")).read_bytes()
        if b"DICM" in sealed[:1024]:
            raise BenchError("the encrypted store holds plaintext")
        # Warm-up: every frame once from each (page cache, connections), checked identical.
        for path in paths:
            a, b = (payload(s.get(path, FRAME_ACCEPT)[1]) for s in servers)
            if a != b or len(a) != args.rows * args.rows * 2:
                raise BenchError(f"{path}: the servers answer different frames ({len(a)} vs {len(b)} bytes)")
        times: dict[str, list[float]] = {s.name: [] for s in servers}
        rounds = []
        rng = random.Random(11)
        for r in range(args.rounds):
            order = servers if r % 2 == 0 else servers[::-1]
            per_round: dict[str, list[float]] = {s.name: [] for s in servers}
            for _ in range(args.requests):
                path = rng.choice(paths)
                for s in order:
                    elapsed, _ = s.get(path, FRAME_ACCEPT)
                    per_round[s.name].append(elapsed)
            for name, xs in per_round.items():
                times[name].extend(xs)
            rounds.append({name: summary(xs) for name, xs in per_round.items()})
            log(f"round {r + 1}: " + ", ".join(f"{n} p50 {v['p50_ms']:.2f} ms" for n, v in rounds[-1].items()))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    plain, enc = (summary(times[s.name]) for s in servers)
    ratio = enc["p50_ms"] / plain["p50_ms"]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": ib.machine_line(), "load_average_at_start": ib.LOADAVG_AT_START,
        "binary": binary, "slices": args.slices, "rows": args.rows, "frame_bytes": args.rows * args.rows * 2,
        "requests_per_round": args.requests, "rounds": args.rounds,
        "plain": plain, "encrypted": enc, "p50_ratio": ratio, "per_round": rounds,
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Frame retrieval with encryption at rest on vs off",
        "",
        f"Generated by `python3 benches/encryption.py --slices {args.slices} --rows {args.rows} --requests {args.requests} "
        f"--rounds {args.rounds}` on {result['date']}.",
        "",
        f"Machine: {result['machine']}; load average at start {result['load_average_at_start']}.",
        "",
        f"Two `yunying serve` processes at once, each on its own filesystem store holding the same {args.slices} CT slices "
        f"({args.rows}×{args.rows}, 16-bit: {result['frame_bytes'] // 1024} KiB frames), renditions off. One store is "
        "encrypted at rest (SM4-GCM, 64 KiB chunks, a data key per object wrapped by a master key). Each request is "
        "`GET …/frames/1` (multipart, transfer-syntax=*) on one persistent connection per server; every frame is asked "
        "of one server and then of the other (the order alternates per round), so machine noise falls on both alike. "
        "Latency is from sending the request to the last byte of the body. Every frame was checked identical on both "
        "before measuring.",
        "",
        "| Store | Frames | p50 (ms) | p90 (ms) | p99 (ms) | mean (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in (("plain", plain), ("SM4-GCM at rest", enc)):
        lines.append(f"| {name} | {v['n']} | {v['p50_ms']:.2f} | {v['p90_ms']:.2f} | {v['p99_ms']:.2f} | {v['mean_ms']:.2f} |")
    lines += ["", f"**p50 encrypted / plain: {ratio:.2f}×** (goal ≤ 1.2×).", "", "Per round (p50 ms):", ""]
    for i, r in enumerate(rounds):
        lines.append(f"- round {i + 1}: " + ", ".join(f"{n} {v['p50_ms']:.2f}" for n, v in r.items()))
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
