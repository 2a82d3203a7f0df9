"""Benchmark: distributed runs with 1, 2 and 4 `tlsaudit worker` processes on this machine
against one local nginx (one server block per endpoint, cycling through the TLS test
scenarios), queue and history in a throw-away PostgreSQL cluster.

Figures:
- throughput: entries per second from the workers' start until the run is complete
  (median of ``--runs``);
- queue overhead per entry: a run of entries that fail without any network (malformed
  targets, stored as error rows) through one worker, minus the same list run locally
  (``tlsaudit run``, same database, one entry at a time); enqueueing is timed apart;
- a paper estimate of the workers needed for 50,000 endpoints in a 6-hour night, from the
  measured throughput of one worker.

    python benchmarks/bench_workers.py [--entries 120] [--workers 1 2 4] [--concurrency 8]
        [--runs 3] [--noop 500]

Needs Debian's nginx and postgresql (as the test suite does). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_runs import ManyBlocks, blocks  # noqa: E402

from scan_targets import CA_CERT  # noqa: E402
from servers.postgres import PostgresCluster  # noqa: E402

NIGHT = 6 * 3600
ENDPOINTS = 50_000


def tlsaudit(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tlsaudit", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"tlsaudit {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done


def enqueue(listing: Path, db: str, per_host: int) -> float:
    """Seconds to queue a run of the list."""
    started = time.monotonic()
    tlsaudit("run", str(listing), "--db", db, "--distributed", "--per-host", str(per_host),
             "--ca-file", str(CA_CERT), "--timeout", "3")  # fmt: skip
    return time.monotonic() - started


def drain(db: str, workers: int, concurrency: int) -> float:
    """Seconds for ``workers`` processes to take and scan everything queued."""
    command = [sys.executable, "-m", "tlsaudit", "worker", "--db", db, "--until-empty",
               "--concurrency", str(concurrency), "--tries", "1"]  # fmt: skip
    started = time.monotonic()
    processes = [subprocess.Popen(command) for _ in range(workers)]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"worker exited with {process.returncode}")
    # A worker notices an empty queue within a second: do not count that poll.
    return time.monotonic() - started - 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=120)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count (median)")
    parser.add_argument("--noop", type=int, default=500, help="entries of the overhead run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ta13-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        (work / "pg").mkdir(mode=0o755)
        fleet = blocks(args.entries)
        listing = work / "targets.txt"
        listing.write_text("".join(f"localhost:{b.port}\n" for b in fleet))
        noop = work / "malformed.txt"
        noop.write_text("".join(f"localhost:{70000 + i}\n" for i in range(args.noop)))
        with PostgresCluster(work / "pg") as cluster, ManyBlocks(fleet, work / "nginx"):
            db = cluster.url
            print(f"{'workers':>7} {'concurrency':>11} {'entries':>7} {'wall s':>7} "
                  f"{'entries/s':>9}")  # fmt: skip
            rates = {}
            for count in args.workers:
                walls = []
                for _ in range(args.runs):
                    enqueue(listing, db, args.entries)
                    walls.append(drain(db, count, args.concurrency))
                wall = statistics.median(walls)
                rates[count] = args.entries / wall
                print(f"{count:>7} {args.concurrency:>11} {args.entries:>7} {wall:>7.1f} "
                      f"{rates[count]:>9.2f}")  # fmt: skip

            queued = enqueue(noop, db, 1) / args.noop
            distributed = drain(db, 1, 1) / args.noop
            started = time.monotonic()
            tlsaudit("run", str(noop), "--db", db, "--concurrency", "1", "--recycle-after", "0")
            local = (time.monotonic() - started) / args.noop
        print(
            f"\nmalformed entries, one at a time: worker {distributed * 1000:.1f} ms/entry, "
            f"local run {local * 1000:.1f} ms/entry (includes start-up)"
        )
        print(
            f"queue overhead per entry: {(distributed - local) * 1000:.1f} ms "
            f"(+ {queued * 1000:.2f} ms to enqueue it)"
        )
        one = rates[min(rates)] / min(rates)
        needed = ENDPOINTS / NIGHT
        print(
            f"\n{ENDPOINTS} endpoints in {NIGHT // 3600} h = {needed:.2f} entries/s; one "
            f"worker (concurrency {args.concurrency}) did {one:.2f}/s here, "
            f"{1 / one * args.concurrency:.2f} s of a worker slot per entry: "
            f"{math.ceil(needed / one)} worker(s)"
        )


if __name__ == "__main__":
    main()
