"""Benchmark: open file descriptors and memory of a `tlsaudit run` over N targets.

The process tree (the run and its worker processes) is sampled every 0.2 s from /proc:
open descriptors (``/proc/PID/fd``) and resident memory (``VmRSS``; ``VmHWM`` is each
process's own peak). Each sample is paired with the number of results stored so far, so
descriptors that grow with the targets done (a leak) show as a slope, not only a peak.

    python benchmarks/bench_resources.py [--targets 1000] [--concurrency 16]

The targets are one local nginx's server blocks (as ``bench_runs.py``), stored in SQLite.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_runs import ManyBlocks, blocks

from scan_targets import CA_CERT


def tree(pid: int) -> list[int]:
    """A process and its descendants."""
    out = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += tree(int(child))
    except OSError:
        pass
    return out


def status_kib(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(text.split(f"{key}:")[1].split()[0])
    except (OSError, IndexError):
        return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            return int(connection.execute("SELECT count(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


@dataclass
class Samples:
    fds_tree: int = 0
    fds_process: int = 0
    """The most descriptors one process held at once."""
    rss_tree_kib: int = 0
    hwm_kib: dict[int, int] = field(default_factory=dict)
    """VmHWM (each process's own peak RSS) per process."""
    processes: set[int] = field(default_factory=set)
    curve: list[tuple[int, int]] = field(default_factory=list)
    """(results stored, descriptors of the tree) pairs."""

    def take(self, root: int, db: Path) -> None:
        pids = tree(root)
        self.processes.update(pids)
        fds = [open_fds(p) for p in pids]
        self.fds_tree = max(self.fds_tree, sum(fds))
        self.fds_process = max(self.fds_process, *fds)
        self.rss_tree_kib = max(self.rss_tree_kib, sum(status_kib(p, "VmRSS") for p in pids))
        for pid in pids:
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), status_kib(pid, "VmHWM"))
        self.curve.append((stored(db), sum(fds)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fleet = blocks(args.targets)
        listing = work / "targets.txt"
        listing.write_text("".join(f"localhost:{b.port}\n" for b in fleet))
        db = work / "history.sqlite3"
        command = [sys.executable, "-m", "tlsaudit", "run", str(listing), "--db", str(db),
                   "--ca-file", str(CA_CERT), "--timeout", "3",
                   "--concurrency", str(args.concurrency), "--per-host", str(args.concurrency),
                   "--format", "json", "--output", str(work / "report.json")]  # fmt: skip
        samples = Samples()
        with ManyBlocks(fleet, work / "nginx", startup_timeout=60):
            started = time.monotonic()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while process.poll() is None:
                samples.take(process.pid, db)
                time.sleep(0.2)
            elapsed = time.monotonic() - started
        if process.returncode not in (0, 1, 3):
            err = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"tlsaudit run exited with {process.returncode}\n{err}")
    print("command:", " ".join(["tlsaudit", *command[3:]]).replace(tmp, "TMP"))
    print(f"targets {args.targets}, wall {elapsed:.0f} s, processes {len(samples.processes)}")
    print(f"peak open fds: whole tree {samples.fds_tree}, one process {samples.fds_process}")
    workers = [kib for pid, kib in samples.hwm_kib.items() if pid != process.pid]
    print(f"peak RSS: whole tree {samples.rss_tree_kib / 1024:.0f} MiB; VmHWM of the run "
          f"{samples.hwm_kib[process.pid] / 1024:.0f} MiB, of its largest worker "
          f"{max(workers, default=0) / 1024:.0f} MiB")  # fmt: skip
    for fraction in (0.1, 0.25, 0.5, 0.75, 0.9):
        want = int(args.targets * fraction)
        near = [fds for done, fds in samples.curve if done >= want]
        if near:
            print(f"open fds of the tree when {want} results were stored: {near[0]}")


if __name__ == "__main__":
    main()
