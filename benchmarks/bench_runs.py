"""Benchmark: `tlsaudit run` over batches of 10, 100 and 1,000 endpoints of one local nginx
(one server block per endpoint, cycling through the test scenarios), stored in SQLite.

Per batch size: median wall time and peak RSS of the `tlsaudit run` process (from wait4)
over the runs, time per endpoint, and the history database's size per 1,000 targets.

    python benchmarks/bench_runs.py [--sizes 10 100 1000] [--runs 3 2 1] [--concurrency 16]

Needs Debian's nginx (as the test suite does). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from scan_targets import CA_CERT, SCENARIOS, Scenario, free_ports  # noqa: E402
from servers.nginx import NginxServer  # noqa: E402


class ManyBlocks(NginxServer):
    """The test harness's nginx with room for a thousand listening sockets."""

    def write_config(self) -> Path:
        path = super().write_config()
        text = path.read_text().replace("worker_connections 256", "worker_connections 8192")
        path.write_text(text)
        return path


def blocks(count: int) -> list[Scenario]:
    tls = [s for s in SCENARIOS if s.tls]
    ports = free_ports(count)
    return [
        dataclasses.replace(tls[i % len(tls)], name=f"b{i}", port=port)
        for i, port in enumerate(ports)
    ]


def tree_rss(pid: int) -> int:
    """RSS (KiB) of a process and its descendants, from /proc."""
    total = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(status.split("VmRSS:")[1].split()[0])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_rss(int(child))
    except (OSError, IndexError):
        pass
    return total


def one_run(listing: Path, db: Path, concurrency: int) -> tuple[float, int, int]:
    """Wall seconds, peak RSS of the largest process (KiB, wait4) and peak RSS of the
    process tree (KiB, sampled every 0.2 s) of one `tlsaudit run`."""
    output = str(db) + ".json"
    command = [sys.executable, "-m", "tlsaudit", "run", str(listing), "--db", str(db),
               "--ca-file", str(CA_CERT), "--timeout", "3", "--concurrency", str(concurrency),
               "--per-host", str(concurrency), "--format", "json", "--output", output]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        tree = max(tree, tree_rss(process.pid))
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1, 3):
        raise SystemExit(f"tlsaudit run exited with {process.returncode}")
    return elapsed, usage.ru_maxrss, tree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--runs", type=int, nargs="+", default=[3, 2, 1])
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"{'endpoints':>9} {'runs':>4} {'wall s':>8} {'s/endpoint':>10} "
          f"{'largest process MiB':>19} {'process tree MiB':>16} "
          f"{'DB KiB/1000 targets':>19}")  # fmt: skip
    for size, runs in zip(args.sizes, args.runs, strict=True):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            fleet = blocks(size)
            listing = work / "targets.txt"
            listing.write_text("".join(f"localhost:{b.port}\n" for b in fleet))
            with ManyBlocks(fleet, work / "nginx", startup_timeout=60):
                times, peaks, trees, sizes = [], [], [], []
                for index in range(runs):
                    db = work / f"history{index}.sqlite3"
                    elapsed, peak, tree = one_run(listing, db, args.concurrency)
                    times.append(elapsed)
                    peaks.append(peak)
                    trees.append(tree)
                    with sqlite3.connect(db) as connection:  # fold the WAL into the file
                        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    sizes.append(db.stat().st_size)
            wall = statistics.median(times)
            print(f"{size:>9} {runs:>4} {wall:>8.1f} {wall / size:>10.3f} "
                  f"{statistics.median(peaks) / 1024:>19.0f} "
                  f"{statistics.median(trees) / 1024:>16.0f} "
                  f"{statistics.median(sizes) / 1024 / size * 1000:>19.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
