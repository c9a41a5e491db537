#!/usr/bin/env python3
"""C-STORE ingest benchmark: Yunying vs Orthanc vs DCMTK storescp, same run.

Standard library only. See benches/README.md for the method and the columns.

    python3 benches/ingest.py                       # 500 CT slices, 1 and 4 associations, 3 runs
    python3 benches/ingest.py --instances 50 --runs 1 --systems orthanc,storescp
    python3 benches/ingest.py --memory              # Yunying peak RSS, 8 x ~100 MB at once
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from array import array
from pathlib import Path

import disk  # benches/disk.py: the same write+fsync and threaded timing

REPO = Path(__file__).resolve().parent.parent
PDU = 131072
CORPUS_ROOT = Path("/dev/shm/yunying-bench-corpus")
DATA_ROOT = Path("/var/tmp")
MEMORY_GOAL_MB = 150  # decimal megabytes, as the goal is stated
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Every benchmarked process gets TCP_NODELAY=1 (DCMTK, and so Orthanc, read it).
# YUNYING_* settings from the caller's shell are dropped (e.g. an index URL
# pointing at PostgreSQL) except the log filter.
ENV_NODELAY = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_") or k == "YUNYING_LOG"}
ENV_NODELAY["TCP_NODELAY"] = "1"
with open("/proc/loadavg") as _f:
    LOADAVG_AT_START = " / ".join(_f.read().split()[:3])


class BenchError(Exception):
    """A failure the user should read (missing binary, server did not start...)."""


def log(msg: str) -> None:
    print(f"[ingest] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Child processes: every one we start is tracked and killed at exit.
# --------------------------------------------------------------------------

_LIVE: list[subprocess.Popen] = []
_GROUP_LEADERS: set[int] = set()  # pids started with start_new_session (own process group)


def spawn(cmd: list[str], *, env=None, stdout=None, stderr=None, new_session=False) -> subprocess.Popen:
    p = subprocess.Popen(
        [str(c) for c in cmd],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        start_new_session=new_session,
    )
    _LIVE.append(p)
    if new_session:
        _GROUP_LEADERS.add(p.pid)
    return p


def _exited(p: subprocess.Popen) -> bool:
    """Exited, without reaping it (an unreaped leader keeps its process group id ours)."""
    if p.returncode is not None:
        return True
    st = proc_stat(p.pid)
    return st is None or st[1] in ("Z", "X")


def _signal(p: subprocess.Popen, sig: int) -> None:
    if p.returncode is not None:  # reaped: its pid may belong to someone else now
        return
    try:
        if p.pid in _GROUP_LEADERS:
            os.killpg(p.pid, sig)  # the leader (ours, not yet reaped) and its forked children
        else:
            os.kill(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(p: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM (to its process group if it leads one), bounded wait, then SIGKILL."""
    if p.returncode is None:
        _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not _exited(p) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _exited(p):
            log(f"pid {p.pid} ignored SIGTERM for {grace:.0f}s: SIGKILL")
        _signal(p, signal.SIGKILL)  # also ends any forked child left in the group
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"pid {p.pid} did not exit after SIGKILL")
    _GROUP_LEADERS.discard(p.pid)
    if p in _LIVE:
        _LIVE.remove(p)


@atexit.register
def _kill_all() -> None:
    for p in list(_LIVE):
        terminate(p, grace=2.0)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------


def proc_stat(pid: int):
    """(ppid, state, utime+stime, cutime+cstime) in clock ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    # rest[0] = state (field 3); utime = field 14 -> rest[11]
    return int(rest[1]), rest[0].decode(), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def descendants(root: int, cache: dict[int, int] | None = None) -> list[int]:
    """All descendants of `root`, found through the ppid of every process (kernels
    without CONFIG_PROC_CHILDREN have no /proc/PID/task/TID/children). With
    `cache` (pid -> ppid), only processes not seen before are read: cheap enough
    to call every 50 ms."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            pid = int(name)
            if cache is not None and pid in cache:
                parent[pid] = cache[pid]
                continue
            st = proc_stat(pid)
            if st:
                parent[pid] = st[0]
    if cache is not None:
        cache.clear()
        cache.update(parent)
    out, frontier = [], {root}
    while frontier:
        kids = [pid for pid, pp in parent.items() if pp in frontier]
        out.extend(kids)
        frontier = set(kids)
    return out


def vm_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_ticks() -> int:
    """CPU ticks every core spent not idle (nor waiting on I/O) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def ticks_by_name(names: tuple[str, ...]) -> dict[str, int]:
    """CPU ticks of the live processes whose name starts with one of `names`
    (e.g. the S3 server and PostgreSQL's backends), summed per name."""
    out = dict.fromkeys(names, 0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        for n in names:
            if comm.startswith(n):
                out[n] += (proc_stat(int(pid)) or (0, "", 0, 0))[2]
    return out


def tree_cpu_ticks(pid: int, tree: bool) -> int:
    """CPU ticks of `pid`, its reaped children (cutime/cstime) and its live or zombie
    descendants. Retries when a child was reaped while we read (no double count)."""
    for _ in range(20):
        a = proc_stat(pid)
        if a is None:
            return 0
        kids = descendants(pid) if tree else []
        kid_ticks = sum((proc_stat(k) or (0, "", 0, 0))[2] for k in kids)
        b = proc_stat(pid)
        if b and b[3] == a[3]:
            return b[2] + b[3] + kid_ticks
    return b[2] + b[3] + kid_ticks


class RssSampler(threading.Thread):
    """Sums VmRSS over the server's process tree every `interval` s; keeps the max."""

    def __init__(self, pid: int, tree: bool, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.tree, self.interval = pid, tree, interval
        self.peak_kb = 0
        self._halt = threading.Event()
        self._ppids: dict[int, int] = {}

    def sample(self) -> int:
        pids = [self.pid] + (descendants(self.pid, self._ppids) if self.tree else [])
        kb = sum(vm_kb(p, "VmRSS") for p in pids)
        self.peak_kb = max(self.peak_kb, kb)
        return kb

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join(timeout=5)
        self.sample()
        return self.peak_kb


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_get(url: str, timeout: float = 5.0):
    """(status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e).encode()


def metric(body: bytes, name: str) -> int | None:
    """The value of an unlabelled gauge in a Prometheus text exposition."""
    for line in body.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            try:
                return int(float(parts[1]))
            except ValueError:
                return None
    return None


def wait_until(pred, what: str, proc: subprocess.Popen, logfile: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what}: process exited with code {proc.returncode}{log_tail(logfile)}")
        if pred():
            return
        time.sleep(0.1)
    raise BenchError(f"{what}: not ready after {timeout:.0f}s{log_tail(logfile)}")


def serve_http(binary: str, config: Path, root: Path, what: str) -> tuple[subprocess.Popen, int, Path]:
    """`yunying serve` with `config` on `root`/data, logging to `root`/yunying.log, on free
    loopback ports; returns once /healthz answers: (process, HTTP port, log file)."""
    http_port, dicom_port = free_ports(2)
    logfile = root / "yunying.log"
    with open(logfile, "wb") as lf:
        proc = spawn([binary, "serve", "--config", config, "--data-dir", root / "data",
                      "--http-port", http_port, "--dicom-port", dicom_port],
                     env={**ENV_NODELAY, "NO_COLOR": "1"}, stdout=lf, stderr=lf, new_session=True)
    wait_until(lambda: http_get(f"http://127.0.0.1:{http_port}/healthz", 2)[0] == 200,
               f"{what} GET /healthz", proc, logfile, 120)
    return proc, http_port, logfile


def log_tail(path: Path | None, lines: int = 15) -> str:
    if not path or not path.exists():
        return ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(errors="replace")).splitlines()[-lines:]
    return f"\n--- last lines of {path} ---\n" + "\n".join(text)


def listening(port: int) -> bool:
    """Whether something LISTENs on `port` (read /proc/net/tcp*, no connection made)."""
    want = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[1].endswith(want) and cols[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def find_binary(candidates: list[str], what: str, hint: str) -> str:
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise BenchError(f"{what} not found (looked for {', '.join(c for c in candidates if c)}). {hint}")


def version_of(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0].strip() if text else "?"
    except Exception as e:  # noqa: BLE001 - only for the report header
        return f"? ({e})"


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=DATA_ROOT))


# --------------------------------------------------------------------------
# Corpus: a minimal Part 10 Explicit VR Little Endian writer (fallback generator)
# --------------------------------------------------------------------------

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
IMPL_CLASS_UID = "2.25.118020413298164387446326392853516187437"
LONG_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UC", "UR", "UT", "UN", "SV", "UV"}


def new_uid() -> str:
    return "2.25." + str(uuid.uuid4().int)


def elem(group: int, element: int, vr: str, value) -> bytes:
    if isinstance(value, str):
        value = value.encode("ascii")
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
    elif len(value) % 2:
        value += b"\0"
    if vr in LONG_VRS:
        return struct.pack("<HH2s2xI", group, element, vr.encode(), len(value)) + value
    return struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value


def us(v: int) -> bytes:
    return struct.pack("<H", v)


def pixel_header(length: int) -> bytes:
    return struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", length)


def part10_header(sop_class: str, sop_uid: str, dataset_elems: list[bytes]) -> bytes:
    meta = b"".join([
        elem(0x0002, 0x0001, "OB", b"\x00\x01"),
        elem(0x0002, 0x0002, "UI", sop_class),
        elem(0x0002, 0x0003, "UI", sop_uid),
        elem(0x0002, 0x0010, "UI", EXPLICIT_VR_LE),
        elem(0x0002, 0x0012, "UI", IMPL_CLASS_UID),
        elem(0x0002, 0x0013, "SH", "YUNYING_BENCH"),
    ])
    group_len = elem(0x0002, 0x0000, "UL", struct.pack("<I", len(meta)))
    return b"\0" * 128 + b"DICM" + group_len + meta + b"".join(dataset_elems)


class Phantom:
    """A smooth synthetic body phantom (air, soft tissue, lungs, spine, a spherical
    lesion that grows and shrinks along z). Stored values are 12-bit, HU + 1024.
    Built row by row from runs, so it is fast in pure Python and compresses well."""

    def __init__(self, size: int = 512):
        self.n = n = size
        c = n / 2
        self.tissue = [array("H", (1064 + int(18 * math.sin(x / 23.0) * math.cos(y / 31.0)) for x in range(n))) for y in range(n)]
        self.lung = [array("H", (224 + int(30 * math.cos(x / 11.0 + y / 17.0)) for x in range(n))) for y in range(n)]
        s = n / 512
        self.body = (c, c, 200 * s, 150 * s)
        self.lungs = [(c - 86 * s, c - 26 * s, 60 * s, 90 * s), (c + 86 * s, c - 26 * s, 60 * s, 90 * s)]
        self.spine = (c, c + 94 * s, 22 * s, 22 * s)
        self.lesion = (c + 44 * s, c - 56 * s, 30 * s)

    @staticmethod
    def _span(cx, cy, a, b, y, n):
        dy = (y - cy) / b
        if abs(dy) >= 1:
            return None
        half = a * math.sqrt(1 - dy * dy)
        x0, x1 = max(0, int(cx - half)), min(n, int(cx + half) + 1)
        return (x0, x1) if x1 > x0 else None

    def frame(self, z: int, nz: int) -> bytes:
        """One 16-bit little-endian frame for slice z of nz."""
        n = self.n
        t = (z + 0.5) / max(nz, 1)  # 0..1 along the body
        lung_scale = 0.35 + 0.65 * math.sin(math.pi * t)
        lx, ly, lr = self.lesion
        dz = (t - 0.5) * 4 * lr
        lesion_r = math.sqrt(lr * lr - dz * dz) if abs(dz) < lr else 0.0
        zero = array("H", bytes(2 * n))
        rows = []
        for y in range(n):
            row = array("H", zero)
            span = self._span(*self.body, y, n)
            if span:
                x0, x1 = span
                row[x0:x1] = self.tissue[y][x0:x1]
                for cx, cy, a, b in self.lungs:
                    sp = self._span(cx, cy, a * lung_scale, b * lung_scale, y, n)
                    if sp:
                        row[sp[0] : sp[1]] = self.lung[y][sp[0] : sp[1]]
                sp = self._span(*self.spine, y, n)
                if sp:
                    row[sp[0] : sp[1]] = array("H", [1724]) * (sp[1] - sp[0])
                if lesion_r > 1:
                    sp = self._span(lx, ly, lesion_r, lesion_r, y, n)
                    if sp:
                        row[sp[0] : sp[1]] = array("H", [1104]) * (sp[1] - sp[0])
            rows.append(row)
        out = array("H")
        for r in rows:
            out.extend(r)
        if sys.byteorder == "big":
            out.byteswap()
        return out.tobytes()


def ct_dataset(*, sop_class, sop_uid, study, series, frame_of_ref, number, z_mm, rows, frames=None, desc="BENCH CT") -> list[bytes]:
    e = [
        elem(0x0008, 0x0005, "CS", "ISO_IR 100"),
        elem(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL" if frames is None else "DERIVED\\SECONDARY"),
        elem(0x0008, 0x0016, "UI", sop_class),
        elem(0x0008, 0x0018, "UI", sop_uid),
        elem(0x0008, 0x0020, "DA", "20250101"),
        elem(0x0008, 0x0030, "TM", "120000"),
        elem(0x0008, 0x0050, "SH", "BENCH0001"),
        elem(0x0008, 0x0060, "CS", "CT" if frames is None else "OT"),
        elem(0x0008, 0x0064, "CS", "WSD") if frames is not None else b"",
        elem(0x0008, 0x0070, "LO", "Yunying bench"),
        elem(0x0008, 0x0090, "PN", ""),
        elem(0x0008, 0x103E, "LO", desc),
        elem(0x0010, 0x0010, "PN", "BENCH^PHANTOM"),
        elem(0x0010, 0x0020, "LO", "BENCH-0001"),
        elem(0x0010, 0x0030, "DA", "19700101"),
        elem(0x0010, 0x0040, "CS", "O"),
    ]
    if frames is None:
        e += [elem(0x0018, 0x0050, "DS", "1.0"), elem(0x0018, 0x0060, "DS", "120")]
    e += [
        elem(0x0020, 0x000D, "UI", study),
        elem(0x0020, 0x000E, "UI", series),
        elem(0x0020, 0x0010, "SH", "1"),
        elem(0x0020, 0x0011, "IS", "1"),
        elem(0x0020, 0x0013, "IS", str(number)),
    ]
    if frames is None:
        e += [
            elem(0x0020, 0x0032, "DS", f"-128\\-128\\{z_mm:.1f}"),
            elem(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0"),
            elem(0x0020, 0x0052, "UI", frame_of_ref),
            elem(0x0020, 0x1041, "DS", f"{z_mm:.1f}"),
        ]
    e += [elem(0x0028, 0x0002, "US", us(1)), elem(0x0028, 0x0004, "CS", "MONOCHROME2")]
    if frames is not None:
        e += [elem(0x0028, 0x0008, "IS", str(frames))]
    e += [
        elem(0x0028, 0x0010, "US", us(rows)),
        elem(0x0028, 0x0011, "US", us(rows)),
        elem(0x0028, 0x0030, "DS", "0.5\\0.5"),
        elem(0x0028, 0x0100, "US", us(16)),
        elem(0x0028, 0x0101, "US", us(12)),
        elem(0x0028, 0x0102, "US", us(11)),
        elem(0x0028, 0x0103, "US", us(0)),
        elem(0x0028, 0x1050, "DS", "40"),
        elem(0x0028, 0x1051, "DS", "400"),
        elem(0x0028, 0x1052, "DS", "-1024"),
        elem(0x0028, 0x1053, "DS", "1"),
    ]
    if frames is not None:
        e += [elem(0x0028, 0x1054, "LO", "HU")]
    return [x for x in e if x]


def write_ct_series(out: Path, slices: int, size: int = 512) -> list[Path]:
    """`slices` single-frame CT Image Storage files, Explicit VR LE, in one series."""
    out.mkdir(parents=True, exist_ok=True)
    ph = Phantom(size)
    study, series, frame_of_ref = new_uid(), new_uid(), new_uid()
    files = []
    for i in range(slices):
        uid = new_uid()
        pixels = ph.frame(i, slices)
        head = part10_header(CT_IMAGE_STORAGE, uid, ct_dataset(
            sop_class=CT_IMAGE_STORAGE, sop_uid=uid, study=study, series=series,
            frame_of_ref=frame_of_ref, number=i + 1, z_mm=-i * 1.0, rows=size))
        path = out / f"CT{i + 1:05d}.dcm"
        with open(path, "wb") as f:
            f.write(head + pixel_header(len(pixels)) + pixels)
        files.append(path)
    return files


def write_multiframe_copies(out: Path, frames: int, copies: int, size: int = 512) -> list[Path]:
    """`copies` multi-frame 16-bit instances (Multi-frame Grayscale Word SC) sharing
    pixel data but each with its own SOP Instance UID (and series)."""
    out.mkdir(parents=True, exist_ok=True)
    ph = Phantom(size)
    pixels = b"".join(ph.frame(z, frames) for z in range(frames))
    study = new_uid()
    files = []
    for i in range(copies):
        uid = new_uid()
        head = part10_header(MF_GRAYSCALE_WORD_SC, uid, ct_dataset(
            sop_class=MF_GRAYSCALE_WORD_SC, sop_uid=uid, study=study, series=new_uid(),
            frame_of_ref="", number=1, z_mm=0.0, rows=size, frames=frames, desc=f"BENCH MULTIFRAME {i + 1}"))
        path = out / f"MF{i + 1:02d}.dcm"
        with open(path, "wb") as f:
            f.write(head)
            f.write(pixel_header(len(pixels)))
            f.write(pixels)
        files.append(path)
    return files


def is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and is_dicom(p))


def prepare_corpus(args) -> tuple[list[Path], str]:
    """The files to send and a one-line description of them."""
    if args.corpus:
        root = Path(args.corpus)
        files = dicom_files(root)
        if not files:
            raise BenchError(f"--corpus {root}: no DICOM Part 10 files found")
        if len(files) < args.instances:
            log(f"--corpus has {len(files)} files, fewer than --instances {args.instances}: sending all")
        files = files[: args.instances]
        where = "tmpfs" if str(root.resolve()).startswith("/dev/shm") else "NOT tmpfs"
        return files, f"{len(files)} files from {root} ({where}), {mb(sum(f.stat().st_size for f in files)):.1f} MB"

    gen_script = REPO / "testdata" / "gen_ct_series.py"
    use_testdata = args.generator == "testdata" or (args.generator == "auto" and gen_script.exists())
    if args.generator == "testdata" and not gen_script.exists():
        raise BenchError(f"--generator testdata: {gen_script} does not exist")
    kind = "testdata" if use_testdata else "builtin"
    root = CORPUS_ROOT / f"ct-{args.instances}-{kind}"
    marker = root / ".complete"
    if marker.exists():
        files = dicom_files(root)
        if len(files) == args.instances:
            log(f"reusing corpus {root}")
            return files, corpus_desc(files, root, kind)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.monotonic()
    files = []
    if use_testdata:
        log(f"generating {args.instances} CT slices with {gen_script.relative_to(REPO)} into {root}")
        try:
            r = subprocess.run([sys.executable, str(gen_script), "--out", str(root), "--slices", str(args.instances)],
                               capture_output=True, text=True, timeout=1800)
            files = dicom_files(root)
            if r.returncode != 0 or len(files) != args.instances:
                raise BenchError(f"exit {r.returncode}, {len(files)} DICOM files: {r.stderr.strip()[-500:]}")
        except (BenchError, subprocess.TimeoutExpired) as e:
            if args.generator == "testdata":
                raise BenchError(f"gen_ct_series.py failed: {e}") from None
            log(f"gen_ct_series.py failed ({e}); using the built-in generator")
            shutil.rmtree(root, ignore_errors=True)
            kind = "builtin"
            root = CORPUS_ROOT / f"ct-{args.instances}-{kind}"
            shutil.rmtree(root, ignore_errors=True)
            files = []
    if not files:
        log(f"generating {args.instances} CT slices (built-in writer) into {root}")
        write_ct_series(root, args.instances)
        files = dicom_files(root)
    marker = root / ".complete"
    marker.write_text(json.dumps({"instances": args.instances, "generator": kind}))
    log(f"corpus ready in {time.monotonic() - t0:.1f}s")
    return files, corpus_desc(files, root, kind)


TS_NAMES = {"1.2.840.10008.1.2": "Implicit VR Little Endian", EXPLICIT_VR_LE: "Explicit VR Little Endian",
            "1.2.840.10008.1.2.2": "Explicit VR Big Endian"}


def describe_image(path: Path) -> str:
    """'512x512 16-bit, Explicit VR Little Endian' read from the file's first bytes
    (pattern search for the explicit-VR tags; good enough for a report line)."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024)

    def us_value(group, element):
        i = head.find(struct.pack("<HH2sH", group, element, b"US", 2))
        return struct.unpack_from("<H", head, i + 8)[0] if i >= 0 else None

    ts = "?"
    i = head.find(struct.pack("<HH2s", 0x0002, 0x0010, b"UI"))
    if i >= 0:
        n = struct.unpack_from("<H", head, i + 6)[0]
        ts = head[i + 8 : i + 8 + n].rstrip(b"\0 ").decode("ascii", "replace")
    rows, cols, bits = us_value(0x0028, 0x0010), us_value(0x0028, 0x0011), us_value(0x0028, 0x0100)
    return f"{cols}x{rows} {bits}-bit, {TS_NAMES.get(ts, ts)}"


def corpus_desc(files: list[Path], root: Path, kind: str) -> str:
    total = sum(f.stat().st_size for f in files)
    gen = "testdata/gen_ct_series.py" if kind == "testdata" else "built-in writer in benches/ingest.py"
    return (f"{len(files)} CT slices, {describe_image(files[0])}, "
            f"{mb(total) / len(files):.2f} MB each, {mb(total):.1f} MB total, "
            f"generated by {gen}, read from tmpfs ({root})")


def mb(nbytes: float) -> float:
    return nbytes / 1e6


# --------------------------------------------------------------------------
# Receivers
# --------------------------------------------------------------------------


class Server:
    name = "?"
    aet = "?"
    durability = "?"
    tree = False  # whether the server forks children whose CPU and RSS count

    def __init__(self, binary: str):
        self.binary = binary
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.logfile: Path | None = None
        self.dicom_port = 0

    def start(self) -> None:
        raise NotImplementedError

    def stored(self) -> int | None:
        """How many instances the server holds now (None if it cannot tell)."""
        return None

    def stop(self) -> None:
        if self.proc:
            terminate(self.proc)
            self.proc = None

    def cleanup(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def version(self) -> str:
        return version_of([self.binary, "--version"])


class Yunying(Server):
    name = "Yunying"
    aet = "YUNYING"
    durability = ("object fsynced, renamed into the store, directory fsynced, then the index row committed "
                  "(fsynced WAL), all before the C-STORE success response (its only mode)")

    def __init__(self, binary: str, renditions: bool = False):
        super().__init__(binary)
        # Renditions (thumbnails, previews, HTJ2K copies) run after the
        # success response, on the same 2 cores: off by default so the
        # comparison is ingest against ingest (the peers make none).
        self.renditions = renditions
        self.durability += "; renditions " + ("ON, made during the ingest" if renditions else "off ([renditions] enabled = false)")

    def start(self) -> None:
        self.workdir = fresh_dir("yunying-bench-yunying-")
        self.dicom_port, self.http_port = free_ports(2)
        cfg = self.workdir / "bench.toml"
        # Loopback only; C-STORE from the benchmark's unregistered clients
        # (as Orthanc takes by default); the rest are defaults.
        cfg.write_text(f'dicom_bind = "127.0.0.1"\n[dicom]\nunknown_callers = "demo-store"\n'
                       f'[renditions]\nenabled = {"true" if self.renditions else "false"}\n')
        self.logfile = self.workdir / "yunying.log"
        with open(self.logfile, "wb") as lf:
            self.proc = spawn([self.binary, "serve", "--config", cfg, "--data-dir", self.workdir / "data",
                               "--dicom-port", self.dicom_port, "--http-port", self.http_port, "--aet", self.aet],
                              env={**ENV_NODELAY, "NO_COLOR": "1"}, stdout=lf, stderr=lf, new_session=True)
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        wait_until(lambda: http_get(url, 2)[0] == 200, "Yunying /healthz", self.proc, self.logfile, 30)
        wait_until(lambda: listening(self.dicom_port), "Yunying DICOM port", self.proc, self.logfile, 10)

    def stored(self) -> int | None:
        status, body = http_get(f"http://127.0.0.1:{self.http_port}/metrics", 60)
        return metric(body, "yunying_index_instances") if status == 200 else None

    def associations(self) -> int | None:
        status, body = http_get(f"http://127.0.0.1:{self.http_port}/metrics", 10)
        if status != 200:
            return None
        for line in body.decode(errors="replace").splitlines():
            if line.startswith("yunying_associations_total "):
                return int(float(line.split()[1]))
        return None


class Orthanc(Server):
    name = "Orthanc"
    aet = "ORTHANC"
    durability = ("SyncStorageArea=true: each stored file fsynced; one SQLite index transaction per instance "
                  "(Orthanc's default SQLite settings); StorageCompression=false; no plugins")

    def start(self) -> None:
        self.workdir = fresh_dir("yunying-bench-orthanc-")
        self.dicom_port, self.http_port = free_ports(2)
        config = orthanc_config(self.workdir, self.dicom_port, self.http_port, self.aet)
        cfg = self.workdir / "orthanc.json"
        cfg.write_text(json.dumps(config, indent=2))
        self.logfile = self.workdir / "orthanc.log"
        with open(self.logfile, "wb") as lf:
            self.proc = spawn([self.binary, cfg], env=ENV_NODELAY, stdout=lf, stderr=lf, new_session=True)
        url = f"http://127.0.0.1:{self.http_port}/system"
        wait_until(lambda: http_get(url, 2)[0] == 200, "Orthanc GET /system", self.proc, self.logfile, 60)
        wait_until(lambda: listening(self.dicom_port), "Orthanc DICOM port", self.proc, self.logfile, 10)

    def stored(self) -> int | None:
        status, body = http_get(f"http://127.0.0.1:{self.http_port}/statistics", 30)
        if status != 200:
            return None
        try:
            return int(json.loads(body)["CountInstances"])
        except (ValueError, KeyError, TypeError):
            return None


def orthanc_config(workdir: Path, dicom_port: int, http_port: int, aet: str) -> dict:
    """Orthanc 1.10 configuration for the durable ingest profile (documented in README)."""
    return {
        "Name": "YunyingBench",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "TemporaryDirectory": str(workdir / "tmp"),
        "StorageCompression": False,
        "SyncStorageArea": True,
        "Plugins": [],
        "ConcurrentJobs": 2,
        "DicomThreadsCount": 4,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "DicomServerEnabled": True,
        "DicomAet": aet,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowStore": True,
        "MaximumPduLength": PDU,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "LogExportedResources": False,
        "OverwriteInstances": False,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "SaveJobs": False,
        "LuaScripts": [],
    }


class StoreScp(Server):
    name = "storescp"
    aet = "STORESCP"
    durability = "none: no fsync, no index (writes each file with DCMTK's default buffered I/O); the upper bound"
    tree = True

    def start(self) -> None:
        self.workdir = fresh_dir("yunying-bench-storescp-")
        (self.workdir / "out").mkdir()
        (self.dicom_port,) = free_ports(1)
        self.logfile = self.workdir / "storescp.log"
        with open(self.logfile, "wb") as lf:
            self.proc = spawn([self.binary, "--fork", "-aet", self.aet, "-pdu", PDU, "+xa", "-dhl",
                               "-od", self.workdir / "out", self.dicom_port],
                              env=ENV_NODELAY, stdout=lf, stderr=lf, new_session=True)
        wait_until(lambda: listening(self.dicom_port), "storescp port", self.proc, self.logfile, 15)

    def stored(self) -> int | None:
        out = self.workdir / "out"
        return sum(1 for p in out.iterdir() if p.is_file()) if out.exists() else None


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------


def send(storescu: str, server: Server, files: list[Path], assocs: int, logdir: Path, timeout: float) -> tuple[float, list[str]]:
    """Start `assocs` storescu processes in parallel, one association each, over
    equal contiguous slices of `files`. Returns (wall seconds, errors)."""
    chunks = [files[i * len(files) // assocs : (i + 1) * len(files) // assocs] for i in range(assocs)]
    procs, logs = [], []
    t0 = time.perf_counter()
    for i, chunk in enumerate(chunks):
        lf = logdir / f"storescu-{i}.log"
        logs.append(lf)
        with open(lf, "wb") as f:
            procs.append(spawn([storescu, "-aet", "BENCH", "-aec", server.aet, "-pdu", PDU, "--max-send-pdu", PDU,
                                "-xe", "-to", "10", "127.0.0.1", server.dicom_port, *chunk],
                               env=ENV_NODELAY, stdout=f, stderr=f))
    errors = []
    deadline = time.monotonic() + timeout
    pending = list(range(len(procs)))
    t_end = t0
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            if procs[i].poll() is not None:
                pending.remove(i)
                t_end = time.perf_counter()
        if pending:
            time.sleep(0.002)
    wall = t_end - t0
    for i, p in enumerate(procs):
        if p.poll() is None:
            terminate(p, grace=2)
            errors.append(f"storescu #{i} did not finish within {timeout:.0f}s")
        elif p.returncode != 0:
            errors.append(f"storescu #{i} exited {p.returncode}{log_tail(logs[i], 8)}")
        if p in _LIVE:
            _LIVE.remove(p)
    return wall, errors


def measure(server: Server, storescu: str, files: list[Path], assocs: int, timeout: float, logdir: Path,
            also: tuple[str, ...] = ()) -> dict:
    """One ingest run. `also` names other processes (by name prefix) whose
    CPU during the run is reported next to the server's and the machine's."""
    os.sync()  # flush the previous run's writeback before this one starts
    server.start()
    try:
        time.sleep(0.3)  # let start-up work settle before the CPU baseline
        pid = server.proc.pid
        sampler = RssSampler(pid, server.tree)
        sampler.sample()
        idle_kb = vm_kb(pid, "VmRSS")
        cpu0 = tree_cpu_ticks(pid, server.tree)
        others0, busy0 = ticks_by_name(also), machine_busy_ticks()
        sampler.start()
        wall, errors = send(storescu, server, files, assocs, logdir, timeout)
        others1, busy1 = ticks_by_name(also), machine_busy_ticks()
        if server.tree:  # let storescp's per-association children finish and exit
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(
                    (proc_stat(k) or (0, "Z"))[1] not in ("Z", "X") for k in descendants(pid)):
                time.sleep(0.01)
        cpu1 = tree_cpu_ticks(pid, server.tree)
        peak_kb = max(sampler.stop(), vm_kb(pid, "VmHWM"))
        if server.proc.poll() is not None:
            errors.append(f"{server.name} died during the run (exit {server.proc.returncode}){log_tail(server.logfile)}")
        stored = server.stored()
        if stored != len(files):
            errors.append(f"{server.name} holds {stored} instances, {len(files)} were sent")
        if isinstance(server, Yunying):
            n = server.associations()
            if n is not None and n != assocs:
                errors.append(f"Yunying counted {n} associations, expected {assocs}")
        nbytes = sum(f.stat().st_size for f in files)
        return {
            "system": server.name, "assocs": assocs, "instances": len(files), "bytes": nbytes,
            "wall_s": wall, "throughput": len(files) / wall if wall > 0 else 0.0,
            "mb_per_s": mb(nbytes) / wall if wall > 0 else 0.0,
            "cpu_s_per_1000": (cpu1 - cpu0) / CLK_TCK / len(files) * 1000,
            "machine_cpu_s_per_1000": (busy1 - busy0) / CLK_TCK / len(files) * 1000,
            "others_cpu_s_per_1000": {n: (others1[n] - others0[n]) / CLK_TCK / len(files) * 1000 for n in also},
            "peak_rss_mb": peak_kb / 1024, "idle_rss_mb": idle_kb / 1024,
            "stored": stored, "errors": errors,
        }
    finally:
        server.stop()
        server.cleanup()


def measure_disk(files: list[Path], threads: int) -> dict:
    """The disk's own ceiling for durable ingest, in the same run: each of
    `threads` threads writes its share of the corpus's files to a fresh
    directory on the servers' filesystem and fsyncs each before the next
    (what one flush per instance costs, and nothing else)."""
    os.sync()
    workdir = fresh_dir("yunying-bench-disk-")
    try:
        def worker(k: int) -> None:
            for i in range(k, len(files), threads):
                disk.write_file(workdir / f"f{i}", files[i].read_bytes())
        wall = disk.timed_threads(threads, worker)
        return {"system": "disk write+fsync", "threads": threads, "instances": len(files), "wall_s": wall,
                "throughput": len(files) / wall, "errors": []}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_import(binary: str, files: list[Path], jobs: int) -> dict:
    """`yunying import` of the same corpus into a fresh data directory:
    wall time, CPU seconds and peak RSS of the importing process (wait4)."""
    os.sync()
    workdir = fresh_dir("yunying-bench-import-")
    try:
        cmd = [binary, "import", "--quiet", "--jobs", str(jobs), "--data-dir", str(workdir / "data"), *map(str, files)]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")})
        out = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors = [] if proc.returncode == 0 and f"imported {len(files)} instances" in out else [f"import failed: {out.strip()[-300:]}"]
        return {
            "system": "Yunying import", "jobs": jobs, "instances": len(files), "wall_s": wall,
            "throughput": len(files) / wall, "cpu_s_per_1000": (usage.ru_utime + usage.ru_stime) / len(files) * 1000,
            "peak_rss_mb": usage.ru_maxrss / 1024, "errors": errors,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def machine_line() -> str:
    mem_kb = vm_total_kb()
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB memory, "
            f"Linux {platform.release()}, {platform.freedesktop_os_release().get('PRETTY_NAME', '?') if hasattr(platform, 'freedesktop_os_release') else '?'}")


def vm_total_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def data_fs() -> str:
    try:
        r = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", str(DATA_ROOT)], capture_output=True, text=True, timeout=5)
        return " ".join(r.stdout.split()) or "?"
    except Exception:  # noqa: BLE001
        return "?"


def med(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return format(m, fmt)
    return f"{format(m, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def command_line() -> str:
    return shlex.join(["python3", os.path.relpath(sys.argv[0], REPO) if sys.argv[0].startswith(str(REPO)) else sys.argv[0], *sys.argv[1:]])


def header(title: str, systems: list[Server], corpus: str, extra: list[str]) -> list[str]:
    lines = [
        f"# {title}",
        "",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {machine_line()}",
        f"- Load average before the benchmark started (1/5/15 min): {LOADAVG_AT_START}"
        " (anything else running skews the numbers)",
        f"- Server data directories: fresh per run under {DATA_ROOT} ({data_fs()})",
        f"- Corpus: {corpus}",
        f"- Sender: DCMTK storescu (`{version_of(['/usr/bin/storescu', '--version'])}`), "
        f"`-xe` (Explicit VR LE proposed first), `-pdu {PDU} --max-send-pdu {PDU}`, one association per process",
        f"- PDU: {PDU} bytes in both directions for every receiver; TCP_NODELAY=1 in every process's environment",
    ]
    for s in systems:
        lines.append(f"- {s.name} (`{s.version()}`): durability: {s.durability}")
    lines += extra
    lines += [f"- Command: `{command_line()}`", ""]
    return lines


def ingest_report(results: list[dict], systems: list[Server], assocs_list: list[int], args, corpus: str) -> str:
    lines = header("Yunying C-STORE ingest benchmark", systems, corpus, [
        f"- Runs: {args.runs}; each cell is the median (min–max) over the runs; systems interleaved within each run",
    ])
    lines += [
        "| System | Assocs | Throughput (inst/s) | MB/s | Server CPU s / 1,000 inst | Peak RSS (MiB) | Stored / sent |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    medians = {}
    for a in assocs_list:
        for s in systems:
            rs = [r for r in results if r["system"] == s.name and r.get("assocs") == a]
            if not rs:
                continue
            ok = [r for r in rs if not r["errors"]]
            use = ok or rs
            thr = [r["throughput"] for r in use]
            medians[(s.name, a)] = statistics.median(thr)
            stored = ", ".join(f"{r['stored']}/{r['instances']}" for r in rs)
            flag = "" if len(ok) == len(rs) else f" ⚠ {len(rs) - len(ok)} run(s) with errors"
            lines.append(
                f"| {s.name} | {a} | {med(thr, '.1f')} | {med([r['mb_per_s'] for r in use], '.1f')} "
                f"| {med([r['cpu_s_per_1000'] for r in use], '.2f')} | {med([r['peak_rss_mb'] for r in use], '.0f')} "
                f"| {stored}{flag} |")
    lines.append("")
    ratios = []
    for a in assocs_list:
        y = medians.get(("Yunying", a))
        for other in ("Orthanc", "storescp"):
            o = medians.get((other, a))
            if y and o:
                ratios.append(f"- {a} association(s): Yunying / {other} throughput = {y / o:.2f}×")
    if ratios:
        lines += ["Ratios of median throughput, same run:", "", *ratios, ""]
    disk = {t: statistics.median(r["throughput"] for r in results if r["system"] == "disk write+fsync" and r["threads"] == t)
            for t in sorted({r["threads"] for r in results if r["system"] == "disk write+fsync"})}
    if disk:
        lines += [
            "The disk alone, same run (each file of the corpus written to a fresh directory on the same filesystem "
            "and fsynced before the next; threads share the files):",
            "",
            "| Threads | write+fsync (files/s) |",
            "|---:|---:|",
            *(f"| {t} | {med([r['throughput'] for r in results if r['system'] == 'disk write+fsync' and r['threads'] == t], '.1f')} |"
              for t in disk),
            "",
        ]
        lines += durable_goals(medians, disk, assocs_list)
    imports = [r for r in results if r["system"] == "Yunying import"]
    if imports:
        ok = [r for r in imports if not r["errors"]] or imports
        thr = [r["throughput"] for r in ok]
        lines += [
            f"`yunying import` of the same files (`--jobs {ok[0]['jobs']}`, fresh data directory, same durability):",
            "",
            "| Import | Throughput (inst/s) | CPU s / 1,000 inst | Peak RSS (MiB) |",
            "|---|---:|---:|---:|",
            f"| yunying import | {med(thr, '.1f')} | {med([r['cpu_s_per_1000'] for r in ok], '.2f')} "
            f"| {med([r['peak_rss_mb'] for r in ok], '.0f')} |",
            "",
        ]
        for a in assocs_list:
            rate = medians.get(("Yunying", a))
            if rate:
                lines.append(f"- import / {a} C-STORE association(s) (Yunying): {statistics.median(thr) / rate:.2f}×")
        lines.append("")
    errors = [(r["system"], r.get("assocs", "-"), i, e) for i, r in enumerate(results) for e in r["errors"]]
    if errors:
        lines += ["Errors:", ""]
        lines += [f"- {s}, {a} assoc(s): {e.splitlines()[0]}" for s, a, _, e in errors]
        lines.append("")
    return "\n".join(lines)


def durable_goals(medians: dict, disk: dict, assocs_list: list[int]) -> list[str]:
    """Issue 25's goals, from the ceilings measured in this run: one
    association at 0.9 x 1 / (storescp's time per instance + one write+fsync
    of a file), N associations at 0.9 x the lower of the disk's write+fsync
    rate at N threads and storescp (no durability) at N associations."""
    out = []
    for a in assocs_list:
        y, scp = medians.get(("Yunying", a)), medians.get(("storescp", a))
        if y is None or scp is None:
            continue
        if a == 1 and 1 in disk:
            ceiling = 1 / (1 / scp + 1 / disk[1])
            how = f"1 / (1/{scp:.1f} + 1/{disk[1]:.1f}) = {ceiling:.1f}"
        elif a in disk:
            ceiling = min(disk[a], scp)
            how = f"min(disk {disk[a]:.1f}, storescp {scp:.1f}) = {ceiling:.1f}"
        else:
            continue
        goal = 0.9 * ceiling
        out.append(f"- {a} association(s): ceiling {how} inst/s; goal 0.9 x = {goal:.1f}; "
                   f"Yunying {y:.1f} = {y / ceiling:.2f} x the ceiling: {'met' if y >= goal else 'NOT met'}")
    return ["Durable-ingest goals (issue 25), from the ceilings measured in this run:", "", *out, ""] if out else []


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------


def default_yunying() -> str:
    cands = []
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "yunying"))
    cands.append(os.path.expanduser("~/.cache/yunying/target/release/yunying"))
    cands.append(str(REPO / "target" / "release" / "yunying"))
    for c in cands:
        if os.path.isfile(c):
            return c
    return cands[0]


def make_servers(args) -> list[Server]:
    wanted = [s.strip().lower() for s in args.systems.split(",") if s.strip()]
    servers = []
    for w in wanted:
        if w == "yunying":
            path = args.yunying or default_yunying()
            servers.append(Yunying(find_binary([path], "Yunying binary",
                                               "Build it with `cargo build --release` or pass --yunying PATH "
                                               "(or leave it out with --systems orthanc,storescp)."),
                                   renditions=args.renditions))
        elif w == "orthanc":
            servers.append(Orthanc(find_binary(["/usr/sbin/Orthanc", "/usr/bin/Orthanc", shutil.which("Orthanc") or ""],
                                               "Orthanc", "Install it with `apt-get install orthanc`.")))
        elif w == "storescp":
            servers.append(StoreScp(find_binary(["/usr/bin/storescp"], "DCMTK storescp", "Install it with `apt-get install dcmtk`.")))
        else:
            raise BenchError(f"--systems: unknown system {w!r} (yunying, orthanc, storescp)")
    if not servers:
        raise BenchError("--systems: nothing to run")
    return servers


def storescu_path() -> str:
    # Full path on purpose: a `storescu` on PATH may be pynetdicom's.
    return find_binary(["/usr/bin/storescu"], "DCMTK storescu", "Install it with `apt-get install dcmtk`.")


def run_ingest(args) -> str:
    assocs_list = [int(a) for a in args.assocs.split(",") if a.strip()]
    if not assocs_list or min(assocs_list) < 1:
        raise BenchError("--assocs: give positive integers, e.g. 1,4")
    servers = make_servers(args)
    storescu = storescu_path()
    files, corpus = prepare_corpus(args)
    if max(assocs_list) > len(files):
        raise BenchError("--assocs larger than the number of instances")
    results = []
    with tempfile.TemporaryDirectory(prefix="yunying-bench-logs-", dir=DATA_ROOT) as logroot:
        for run in range(1, args.runs + 1):
            for a in assocs_list:
                for s in servers:
                    logdir = Path(logroot) / f"{s.name}-{a}-{run}"
                    logdir.mkdir()
                    log(f"run {run}/{args.runs}: {s.name}, {a} association(s), {len(files)} instances")
                    r = measure(s, storescu, files, a, args.timeout, logdir)
                    r["run"] = run
                    results.append(r)
                    log(f"  {r['throughput']:.1f} inst/s, {r['mb_per_s']:.1f} MB/s, "
                        f"{r['cpu_s_per_1000']:.2f} CPU-s/1000, peak {r['peak_rss_mb']:.0f} MiB"
                        + ("" if not r["errors"] else "  ERRORS: " + "; ".join(e.splitlines()[0] for e in r["errors"])))
                    for e in r["errors"]:
                        if "\n" in e:
                            log(e)
            for threads in sorted({1, *(a for a in assocs_list if a > 1)}):
                log(f"run {run}/{args.runs}: the disk alone, write+fsync of each file, {threads} thread(s)")
                r = measure_disk(files, threads)
                r["run"] = run
                results.append(r)
                log(f"  {r['throughput']:.1f} files/s")
            yunying = next((s for s in servers if isinstance(s, Yunying)), None)
            if yunying is not None:
                log(f"run {run}/{args.runs}: yunying import, {len(files)} files")
                r = measure_import(yunying.binary, files, 4)
                r["run"] = run
                results.append(r)
                log(f"  {r['throughput']:.1f} inst/s, {r['cpu_s_per_1000']:.2f} CPU-s/1000, peak {r['peak_rss_mb']:.0f} MiB"
                    + ("" if not r["errors"] else "  ERRORS: " + "; ".join(r["errors"])))
    report = ingest_report(results, servers, assocs_list, args, corpus)
    save(args.out, report, {"mode": "ingest", "command": command_line(), "corpus": corpus, "results": results})
    return report


def run_memory(args) -> str:
    path = args.yunying or default_yunying()
    server = Yunying(find_binary([path], "Yunying binary", "Build it with `cargo build --release` or pass --yunying PATH."))
    storescu = storescu_path()
    copies = 8
    root = CORPUS_ROOT / f"multiframe-{args.memory_frames}x{copies}"
    log(f"generating {copies} multi-frame instances of {args.memory_frames} frames (512x512x16) into {root}")
    shutil.rmtree(root, ignore_errors=True)
    files = write_multiframe_copies(root, args.memory_frames, copies)
    size = files[0].stat().st_size
    corpus = (f"{copies} multi-frame instances (Multi-frame Grayscale Word SC), {args.memory_frames} frames of "
              f"512x512 16-bit, {mb(size):.1f} MB each, distinct SOP Instance UIDs, same pixel data, "
              f"built-in writer, tmpfs ({root}); sent at once over {copies} associations (one storescu each)")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="yunying-bench-logs-", dir=DATA_ROOT) as logroot:
            for run in range(1, args.runs + 1):
                logdir = Path(logroot) / f"memory-{run}"
                logdir.mkdir()
                log(f"memory run {run}/{args.runs}")
                r = measure(server, storescu, files, copies, args.timeout, logdir)
                r["run"] = run
                results.append(r)
                log(f"  peak RSS {r['peak_rss_mb']:.0f} MiB (idle {r['idle_rss_mb']:.0f} MiB), {r['wall_s']:.1f}s"
                    + ("" if not r["errors"] else "  ERRORS: " + "; ".join(e.splitlines()[0] for e in r["errors"])))
    finally:
        if not args.keep_corpus:
            shutil.rmtree(root, ignore_errors=True)
    peaks = [r["peak_rss_mb"] for r in results]
    worst = max(peaks)
    lines = header("Yunying ingest memory: 8 concurrent ~100 MB instances", [server], corpus, [
        f"- Runs: {args.runs}; peak RSS = max of VmRSS sampled every 50 ms and VmHWM, per run",
    ])
    lines += [
        "| Run | Peak RSS (MiB) | Idle RSS (MiB) | Wall (s) | MB/s | Stored / sent | Errors |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['run']} | {r['peak_rss_mb']:.0f} | {r['idle_rss_mb']:.0f} | {r['wall_s']:.2f} | {r['mb_per_s']:.1f} "
                     f"| {r['stored']}/{r['instances']} | {'; '.join(e.splitlines()[0] for e in r['errors']) or '-'} |")
    goal_mib = MEMORY_GOAL_MB * 1e6 / 2**20
    verdict = "MEETS" if worst <= goal_mib else "MISSES"
    lines += ["", f"Goal: peak RSS ≤ {MEMORY_GOAL_MB} MB ({goal_mib:.0f} MiB) while receiving. Worst run: {worst:.0f} MiB "
                  f"(median {statistics.median(peaks):.0f} MiB) — **{verdict}** the goal.", ""]
    report = "\n".join(lines)
    save(args.out, report, {"mode": "memory", "command": command_line(), "corpus": corpus, "results": results,
                            "goal_mb": MEMORY_GOAL_MB})
    return report


def save(out: str, report: str, raw: dict) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + "\n")
    path.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    log(f"wrote {path} and {path.with_suffix('.json')}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="C-STORE ingest benchmark: Yunying vs Orthanc vs DCMTK storescp.")
    p.add_argument("--yunying", help="yunying binary [default: $CARGO_TARGET_DIR/release/yunying, "
                                     "else ~/.cache/yunying/target/release/yunying, else ./target/release/yunying]")
    p.add_argument("--corpus", help="send the DICOM files under DIR instead of generating the CT series")
    p.add_argument("--instances", type=int, default=500, help="instances per run [500]")
    p.add_argument("--runs", type=int, default=3, help="runs; the report gives median (min–max) [3]")
    p.add_argument("--assocs", default="1,4", help="association counts, comma-separated [1,4]")
    p.add_argument("--systems", default="yunying,orthanc,storescp", help="receivers to measure [yunying,orthanc,storescp]")
    p.add_argument("--generator", choices=["auto", "testdata", "builtin"], default="auto",
                   help="corpus generator: testdata/gen_ct_series.py, the built-in writer, or auto "
                        "(the first if present, else the second) [auto]")
    p.add_argument("--renditions", action="store_true", help="let Yunying make its renditions during the ingest (default: off, like the peers)")
    p.add_argument("--memory", action="store_true", help="memory mode: Yunying peak RSS receiving 8 ~100 MB instances at once")
    p.add_argument("--memory-frames", type=int, default=200, help="frames per multi-frame instance in --memory (512x512x2 bytes each) [200]")
    p.add_argument("--keep-corpus", action="store_true", help="keep the --memory corpus in /dev/shm afterwards")
    p.add_argument("--timeout", type=float, default=1200, help="bound on one measurement's sending, seconds [1200]")
    p.add_argument("--out", help="Markdown report [benches/results/ingest.md, or ingest-memory.md with --memory]; "
                                 "raw numbers go next to it as .json")
    args = p.parse_args(argv)
    if args.instances < 1 or args.runs < 1:
        p.error("--instances and --runs must be at least 1")
    if not args.out:
        args.out = str(REPO / "benches" / "results" / ("ingest-memory.md" if args.memory else "ingest.md"))
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        report = run_memory(args) if args.memory else run_ingest(args)
    except BenchError as e:
        print(f"ingest.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted: servers and senders stopped, temporary data directories removed")
        return 130
    except SystemExit as e:  # SIGTERM
        log("terminated: servers and senders stopped, temporary data directories removed")
        return e.code if isinstance(e.code, int) else 1
    finally:
        _kill_all()
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
