#!/usr/bin/env python3
"""DIMSE query/retrieve benchmark: Yunying vs Orthanc 1.10.1, same data, same run.

Reuses the dataset and both servers' loaded stores of benches/dicomweb.py
(by default 100,000 instances: 996 studies, one 500-slice 512x512 CT series;
cached under ~/.cache/yunying/bench-dicomweb/<key>/, built by dicomweb.py on
first use) and measures what a PACS or workstation waits for:

  1. Study-level C-FIND (Study Root) by wildcard patient name, on one open
     association: p50 / p95 from request to final response.
  2. Study-level C-FIND by StudyDate range, the same way.
  3. C-MOVE of the 500-instance study to a DCMTK storescp (writing files,
     no fsync) on loopback: wall time from request to final response,
     instances/s and MB/s, median of the runs.

Requests go through a minimal raw-socket SCU in this file (client libraries
add tens of milliseconds per query that would hide the servers' times). Yunying runs with renditions off
(they are background work unrelated to query/retrieve, and the cached store
would otherwise queue 100,000 jobs at start).

    python3 benches/dimse.py                      # 100,000 instances (cached)
    python3 benches/dimse.py --instances 3000     # small smoke run
    python3 benches/dimse.py --only orthanc
"""

from __future__ import annotations

import argparse
import os
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dicomweb as dw  # noqa: E402
import ingest as ib  # noqa: E402

from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom.sop_class import (  # noqa: E402
    StudyRootQueryRetrieveInformationModelFind as FIND,
    StudyRootQueryRetrieveInformationModelMove as MOVE,
)

SINK_AET = "BENCHSINK"
RETURN_KEYS = ["PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
               "StudyDescription", "NumberOfStudyRelatedInstances", "NumberOfStudyRelatedSeries", "StudyInstanceUID"]


class YunyingQR(dw.Yunying):
    def start(self) -> None:
        cfg = self.store / "bench.toml"
        cfg.write_text('dicom_bind = "127.0.0.1"\n[renditions]\nenabled = false\n')
        self.http_port, self.dicom_port = ib.free_ports(2)
        self.logfile = self.store / "yunying-dimse.log"
        with open(self.logfile, "wb") as lf:
            self.proc = ib.spawn([self.binary, "serve", "--config", cfg, "--data-dir", self.store / "data",
                                  "--http-port", self.http_port, "--dicom-port", self.dicom_port],
                                 env={**ib.ENV_NODELAY, "NO_COLOR": "1", "YUNYING_LOG": "warn"}, stdout=lf, stderr=lf,
                                 new_session=True)
        ib.wait_until(lambda: ib.http_get(f"{self.base}/healthz", 2)[0] == 200, "Yunying GET /healthz",
                      self.proc, self.logfile, 300)

    def register_sink(self, port: int) -> None:
        out = ib.spawn([self.binary, "--data-dir", self.store / "data", "ae", "add", SINK_AET, "127.0.0.1", port, "--platform"],
                       stdout=None)
        out.wait(60)
        # The querying client, as a PACS is registered (Orthanc: DicomAlwaysAllowFind/Move).
        out = ib.spawn([self.binary, "--data-dir", self.store / "data", "ae", "add", "BENCHSCU", "127.0.0.1", 104, "--platform",
                        "--allow", "find,move"], stdout=None)
        out.wait(60)


class OrthancQR(dw.Orthanc):
    sink_port = 0

    def start(self, loading: bool = False) -> None:
        orig = dw.orthanc_config

        def with_sink(*a, **k):
            c = orig(*a, **k)
            c["DicomModalities"] = {"benchsink": [SINK_AET, "127.0.0.1", self.sink_port]}
            c["DicomAlwaysAllowFind"] = True
            c["DicomAlwaysAllowMove"] = True
            return c

        dw.orthanc_config = with_sink
        try:
            super().start(loading)
        finally:
            dw.orthanc_config = orig

    def register_sink(self, port: int) -> None:
        self.sink_port = port


class RawScu:
    """A minimal C-FIND SCU on a raw socket: the request is encoded once and
    responses are only framed and counted (their identifiers are not
    decoded), so the time measured is the server's, not a client library's
    (pynetdicom spends about 60 ms before handing over the first of 109
    responses; DCMTK's findscu about 60 ms starting up)."""

    EXPLICIT_LE = "1.2.840.10008.1.2.1"

    def __init__(self, port: int, called: str, abstract_syntax: str = FIND):
        import socket
        import struct
        self.struct = struct
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        item = lambda t, body: struct.pack(">BBH", t, 0, len(body)) + body  # noqa: E731
        uid = lambda t, u: item(t, u.encode())  # noqa: E731
        self.abstract_syntax = abstract_syntax
        pc = item(0x20, bytes([1, 0, 0, 0]) + uid(0x30, abstract_syntax) + uid(0x40, self.EXPLICIT_LE))
        user = item(0x50, item(0x51, struct.pack(">I", 1 << 20)) + uid(0x52, "1.2.826.0.1.3680043.9.7433.1"))
        body = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + b"BENCHSCU".ljust(16) + bytes(32)
        body += uid(0x10, "1.2.840.10008.3.1.1.1") + pc + user
        self.sock.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
        t, payload = self.pdu()
        if t != 2:
            raise ib.BenchError(f"association rejected by {called}")

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ib.BenchError("connection closed")
            buf += chunk
        return bytes(buf)

    def pdu(self):
        t, _, n = self.struct.unpack(">BBI", self.recv_exact(6))
        return t, self.recv_exact(n)

    def find(self, identifier: bytes, msg_id: int) -> tuple[int, int]:
        """Send a C-FIND; (pending responses, final status)."""
        pending, command = self.request(0x20, identifier, msg_id, None)
        return pending, status_of(command, self.struct)

    def move(self, identifier: bytes, msg_id: int, destination: str) -> bytes:
        """Send a C-MOVE; the final response's command set."""
        return self.request(0x21, identifier, msg_id, destination)[1]

    def request(self, field: int, identifier: bytes, msg_id: int, destination: str | None) -> tuple[int, bytes]:
        st = self.struct

        def el(elem, value):
            if len(value) % 2:
                value += b"\0" if elem == 0x0002 else b" "
            return st.pack("<HHI", 0, elem, len(value)) + value

        cmd = el(0x0002, self.abstract_syntax.encode()) + el(0x0100, st.pack("<H", field))
        cmd += el(0x0110, st.pack("<H", msg_id))
        if destination is not None:
            cmd += el(0x0600, destination.encode())
        cmd += el(0x0700, st.pack("<H", 0)) + el(0x0800, st.pack("<H", 0))
        cmd = el(0x0000, st.pack("<I", len(cmd))) + cmd
        for ctl, data in ((3, cmd), (2, identifier)):
            pdv = st.pack(">IBB", len(data) + 2, 1, ctl) + data
            self.sock.sendall(st.pack(">BBI", 4, 0, len(pdv)) + pdv)
        pending, command = 0, b""
        while True:
            t, payload = self.pdu()
            if t != 4:
                raise ib.BenchError(f"unexpected PDU type {t}")
            i = 0
            while i < len(payload):
                n, _, ctl = st.unpack(">IBB", payload[i:i + 6])
                data = payload[i + 6:i + 4 + n]
                i += 4 + n
                if not ctl & 1:
                    continue
                command += data
                if not ctl & 2:
                    continue
                status = status_of(command, st)
                if status in (0xFF00, 0xFF01):
                    pending += 1
                    command = b""
                else:
                    return pending, command

    def close(self) -> None:
        st = self.struct
        try:
            self.sock.sendall(st.pack(">BBIBBBB", 5, 0, 4, 0, 0, 0, 0))
            self.pdu()
        except Exception:
            pass
        self.sock.close()


def status_of(command: bytes, st, elem_wanted: int = 0x0900) -> int:
    i = 0
    while i + 8 <= len(command):
        _, elem, n = st.unpack("<HHI", command[i:i + 8])
        if elem == elem_wanted:
            return st.unpack("<H", command[i + 8:i + 10])[0]
        i += 8 + n
    raise ib.BenchError(f"response without (0000,{elem_wanted:04X})")


def find_query(keys: dict) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for k in RETURN_KEYS:
        setattr(ds, k, "")
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def measure_find(server, label: str, keys: dict, expected: int, n: int, warmup: int = 5) -> dict:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, find_query(keys))
    identifier = buf.getvalue()
    scu = RawScu(server.dicom_port, "YUNYING" if isinstance(server, YunyingQR) else "ORTHANC")
    times, counts = [], set()
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            found, final = scu.find(identifier, i + 1)
            dt = time.perf_counter() - t0
            if final != 0:
                raise ib.BenchError(f"{server.name}: C-FIND {label} ended with status 0x{final:04X}")
            counts.add(found)
            if i >= warmup:
                times.append(dt)
    finally:
        scu.close()
    if counts != {expected}:
        raise ib.BenchError(f"{server.name}: C-FIND {label} returned {sorted(counts)} matches, expected {expected}")
    return {"p50_ms": dw.pct(times, 50) * 1000, "p95_ms": dw.pct(times, 95) * 1000, "matches": expected, "n": n}


def measure_move(server, study: str, expected: int, nbytes: int, sink_dir: Path, runs: int, write: bool) -> dict:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    walls = []
    for run in range(runs):
        shutil.rmtree(sink_dir, ignore_errors=True)
        sink_dir.mkdir(parents=True)
        # Start every run with the previous runs' files on disk: their
        # writeback would otherwise land in whichever run comes next.
        os.sync()
        scu = RawScu(server.dicom_port, "YUNYING" if isinstance(server, YunyingQR) else "ORTHANC", MOVE)
        t0 = time.perf_counter()
        final = scu.move(buf.getvalue(), run + 1, SINK_AET)
        wall = time.perf_counter() - t0
        scu.close()
        status = status_of(final, scu.struct)
        completed = status_of(final, scu.struct, 0x1021)
        if status != 0:
            raise ib.BenchError(f"{server.name}: C-MOVE ended with status 0x{status:04X}")
        got = sum(1 for p in sink_dir.rglob("*") if p.is_file()) if write else completed
        if got != expected or completed != expected:
            raise ib.BenchError(f"{server.name}: {completed} sub-operations completed, the sink holds {got}; expected {expected}")
        walls.append(wall)
    wall = statistics.median(walls)
    return {"seconds": wall, "runs": [round(w, 3) for w in walls], "inst_s": expected / wall, "mb_s": nbytes / wall / 1e6}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, default=100_000)
    p.add_argument("--studies", type=int)
    p.add_argument("--small-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--yunying")
    p.add_argument("--only", choices=["orthanc", "yunying", "both"], default="both")
    p.add_argument("--find-n", type=int, default=50, help="timed C-FINDs per query [50]")
    p.add_argument("--move-runs", type=int, default=3, help="C-MOVE repetitions [3]")
    p.add_argument("--sink", choices=["write", "ignore"], default="write",
                   help="the C-MOVE destination (storescp) writes files, or receives and discards them [write]")
    p.add_argument("--out", default=str(dw.REPO / "benches" / "results" / "dimse.md"))
    p.add_argument("--orthanc-cache-mb", type=int, default=1024)
    p.add_argument("--orthanc-storage-access", choices=["Always", "Answers", "Never"], default="Always")
    args = p.parse_args()
    args.studies = args.studies or max(10, (args.instances - dw.BIG_SLICES) // 100)  # as dicomweb.py
    root = dw.CACHE_ROOT / dw.dataset_key(args)
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        raise ib.BenchError(f"no cached dataset at {root}: run `python3 benches/dicomweb.py --instances {args.instances} "
                            "--load-only` first (generation and loading take about an hour for 100,000 instances)")
    manifest = json.loads(manifest_path.read_text())
    st = manifest["study_index"]
    by_name = sum(1 for s in st if s["name"].lower().startswith("wang"))
    by_date = sum(1 for s in st if "20200101" <= s["date"] <= "20201231")
    big = manifest["big"]

    systems = []
    if args.only in ("yunying", "both"):
        systems.append(YunyingQR(args.yunying or ib.default_yunying(), root / "yunying"))
    if args.only in ("orthanc", "both"):
        systems.append(OrthancQR(ib.find_binary(["/usr/sbin/Orthanc"], "Orthanc", "apt-get install orthanc"), root / "orthanc", args))

    results, versions = {}, {}
    with tempfile.TemporaryDirectory(prefix="yunying-dimse-bench-") as tmp:
        sink_port = ib.free_ports(1)[0]
        sink_dir = Path(tmp) / "sink"
        sink_dir.mkdir()
        sink_mode = ["-od", str(sink_dir)] if args.sink == "write" else ["--ignore"]
        # --fork: one process per association, as a PACS takes several at once.
        sink = ib.spawn(["/usr/bin/storescp", "--fork", "--max-pdu", "131072", "-aet", SINK_AET, *sink_mode, str(sink_port)],
                        env=ib.ENV_NODELAY)
        ib.wait_until(lambda: ib.listening(sink_port), "storescp listening", sink, None, 30)
        try:
            for server in systems:
                server.register_sink(sink_port)
                server.start()
                try:
                    versions[server.name] = server.version()
                    dw.log(f"{server.name}: C-FIND by name")
                    r = {"find_name": measure_find(server, "PatientName=wang*", {"PatientName": "wang*"}, by_name, args.find_n)}
                    dw.log(f"{server.name}: C-FIND by date")
                    r["find_date"] = measure_find(server, "StudyDate range", {"StudyDate": "20200101-20201231"}, by_date, args.find_n)
                    dw.log(f"{server.name}: C-MOVE of the {len(big['instances'])}-instance study")
                    r["move"] = measure_move(server, big["study"], len(big["instances"]), big["bytes"], sink_dir, args.move_runs,
                                             args.sink == "write")
                    results[server.name] = r
                    dw.log(f"{server.name}: {json.dumps(r)}")
                finally:
                    server.stop()
        finally:
            ib.terminate(sink)
    report = build_report(args, manifest, results, versions, by_name, by_date, big)
    print(report)
    Path(args.out).write_text(report)
    Path(args.out).with_suffix(".json").write_text(json.dumps({"results": results, "versions": versions}, indent=2))
    return 0


def build_report(args, manifest, results, versions, by_name, by_date, big) -> str:
    y, o = results.get("Yunying"), results.get("Orthanc")
    lines = [
        "# DIMSE query/retrieve: Yunying vs Orthanc", "",
        f"- Command: `{ib.command_line()}`",
        f"- Machine: {ib.machine_line()}",
        f"- Dataset: {manifest['instances']:,} instances, {manifest['studies']} studies, {manifest['patients']} patients "
        f"(benches/dicomweb.py cache `{manifest['key']}`); C-MOVE study: {len(big['instances'])} instances, "
        f"{big['bytes'] / 1e6:.0f} MB, Explicit VR Little Endian",
        "- SCU: a minimal raw-socket client (C-FIND on one open association; responses framed and counted, not decoded).",
        f"- C-MOVE destination: DCMTK storescp --fork, 128 KiB PDUs, {'writing files (no fsync)' if args.sink == 'write' else 'discarding what it receives (--ignore)'}; `sync` before every C-MOVE, so no run pays for the previous run's writeback.",
    ]
    for name, v in versions.items():
        lines.append(f"- {name}: {v}")
    lines += ["", "| Measurement | Yunying | Orthanc | Yunying / Orthanc | Goal | Met |", "|---|---|---|---|---|---|"]

    def row(label, key, field, unit, goal_ratio, lower_is_better):
        yv = y[key][field] if y else None
        ov = o[key][field] if o else None
        ratio = yv / ov if yv and ov else None
        if ratio is None:
            met = "?"
        elif lower_is_better:
            met = "yes" if ratio <= goal_ratio else "no"
        else:
            met = "yes" if ratio >= goal_ratio else "no"
        goal = f"≤ {goal_ratio}× Orthanc" if lower_is_better else f"≥ {goal_ratio}× Orthanc"
        show = lambda v: f"{v:.1f} {unit}" if v is not None else "–"  # noqa: E731
        shown_ratio = f"{ratio:.2f}×" if ratio is not None else "–"
        lines.append(f"| {label} | {show(yv)} | {show(ov)} | {shown_ratio} | {goal} | {met} |")

    row(f"C-FIND study, PatientName=wang* ({by_name} matches), p50", "find_name", "p50_ms", "ms", 0.5, True)
    row("C-FIND study, PatientName=wang*, p95", "find_name", "p95_ms", "ms", 1.0, True)
    row(f"C-FIND study, StudyDate=20200101-20201231 ({by_date} matches), p50", "find_date", "p50_ms", "ms", 0.5, True)
    row("C-FIND study, StudyDate range, p95", "find_date", "p95_ms", "ms", 1.0, True)
    row(f"C-MOVE {len(big['instances'])} instances, throughput", "move", "inst_s", "inst/s", 2.0, False)
    row("C-MOVE, MB/s", "move", "mb_s", "MB/s", 2.0, False)
    lines += ["", "C-MOVE wall times (s) per run: " + "; ".join(f"{k}: {v['move']['runs']}" for k, v in results.items()), ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ib.BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
