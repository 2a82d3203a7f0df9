"""Benchmark: `tlsaudit scan` vs `python -m sslyze` (its default full scan) of one local nginx.

Both tools scan the same endpoint in the same run, alternately, through a counting TCP
proxy on loopback, so the figures are: median wall time over N runs, the ratio, the TCP
connections each run opened, and each run's peak RSS (from wait4).

    python benchmarks/bench_scan.py [--runs 5]

Needs Debian's nginx (as the test suite does). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from scan_targets import CA_CERT, scenario  # noqa: E402
from servers.nginx import start_nginx  # noqa: E402
from servers.proxy import CountingProxy  # noqa: E402


@dataclass
class Run:
    seconds: float
    connections: int
    peak_rss_mib: float
    exit_code: int


def measure(command: list[str], proxy: CountingProxy) -> Run:
    before = proxy.connections
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    time.sleep(0.2)  # let the proxy finish counting late connections
    return Run(
        seconds=seconds,
        connections=proxy.connections - before,
        peak_rss_mib=usage.ru_maxrss / 1024,
        exit_code=os.waitstatus_to_exitcode(status),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    good = scenario("good")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_nginx([good], Path(tmp))
        try:
            proxy = CountingProxy(good.port)
            commands = {
                "tlsaudit": [
                    sys.executable,
                    "-m",
                    "tlsaudit",
                    "scan",
                    f"localhost:{proxy.port}",
                    "--ip",
                    "127.0.0.1",
                    "--ca-file",
                    str(CA_CERT),
                    "--format",
                    "json",
                ],
                "sslyze": [sys.executable, "-m", "sslyze", f"localhost:{proxy.port}{{127.0.0.1}}"],
            }
            runs: dict[str, list[Run]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, command in commands.items():
                    runs[name].append(measure(command, proxy))
        finally:
            server.stop()
    medians = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    for name, rs in runs.items():
        print(
            f"{name:9} median {medians[name]:.2f} s  "
            f"runs {[round(r.seconds, 2) for r in rs]}  "
            f"connections {[r.connections for r in rs]}  "
            f"peak RSS {max(r.peak_rss_mib for r in rs):.0f} MiB  "
            f"exit codes {sorted({r.exit_code for r in rs})}"
        )
    print(
        f"ratio tlsaudit/sslyze (median wall time): {medians['tlsaudit'] / medians['sslyze']:.2f}"
    )


if __name__ == "__main__":
    main()
