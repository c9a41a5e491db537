#!/usr/bin/env python3
"""The disk's ceiling for durable ingest, measured with no DICOM at all.

Any receiver that makes each instance durable before answering (Yunying,
Orthanc with SyncStorageArea) pays at least one fsync of the instance's bytes
per instance. This measures, on the filesystem that holds the data
directories, how many 0.5 MB files per second can be written and fsynced
(1 and 4 writer threads), and how much each extra step of Yunying's commit
adds (rename + directory fsync, a small fsynced append standing for the
index WAL). Standard library only.

  python3 benches/disk.py [--dir /var/tmp] [--files 300] [--size 524288] [--out benches/results/disk.md]
"""
import argparse
import datetime
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data, sync=True):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def pattern_file_only(root, i, data, wal):
    write_file(root / "obj" / f"f{i}", data)


def pattern_yunying(root, i, data, wal):
    spool = root / "spool" / f"s{i}"
    write_file(spool, data)
    os.rename(spool, root / "obj" / f"y{i}")
    fsync_dir(root / "obj")
    file, lock = wal
    with lock:  # one WAL behind one writer, as Yunying's index has (no batching here)
        file.write(b"w" * 4096)
        file.flush()
        os.fsync(file.fileno())


def pattern_no_sync(root, i, data, wal):
    write_file(root / "obj" / f"n{i}", data, sync=False)


PATTERNS = [
    ("write, no fsync (storescp-like)", pattern_no_sync),
    ("write + fsync", pattern_file_only),
    ("write + fsync, rename, dir fsync, 4 KiB WAL fsync (Yunying's commit)", pattern_yunying),
]


def run(pattern, files, threads, size, base):
    root = Path(tempfile.mkdtemp(prefix="yunying-disk-", dir=base))
    (root / "obj").mkdir()
    (root / "spool").mkdir()
    data = os.urandom(size)
    wal = (open(root / "wal", "ab"), threading.Lock())

    def worker(k):
        for i in range(k, files, threads):
            pattern(root, i, data, wal)

    os.sync()
    wall = timed_threads(threads, worker)
    wal[0].close()
    shutil.rmtree(root)
    return files / wall


def timed_threads(threads, worker):
    """Run worker(k) on `threads` threads at once (k = 0..threads-1): the
    wall seconds until the last one ends (benches/ingest.py uses it too)."""
    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="/var/tmp", help="directory on the filesystem to measure [/var/tmp]")
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--size", type=int, default=512 * 1024)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "disk.md"))
    args = p.parse_args()
    lines = [
        "# Disk ceiling for durable ingest",
        "",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {os.cpu_count()} CPUs, load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- Filesystem of `{args.dir}`; {args.files} files of {args.size} bytes per measurement; median (min–max) of {args.runs} runs",
        f"- Command: `python3 benches/disk.py {' '.join(f'--{k} {v}' for k, v in vars(args).items() if k != 'out')}`",
        "",
        "| Pattern | Threads | Files/s |",
        "|---|---:|---:|",
    ]
    for name, pattern in PATTERNS:
        for threads in (1, 4):
            rates = [run(pattern, args.files, threads, args.size, args.dir) for _ in range(args.runs)]
            lines.append(f"| {name} | {threads} | {statistics.median(rates):.0f} ({min(rates):.0f}–{max(rates):.0f}) |")
    report = "\n".join(lines) + "\n"
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
