"""Benchmark: one High-Security-style endpoint over real latency, and a 100-endpoint run.

A local nginx serves the endpoint the fast-audit issue measured (TLS 1.2 + 1.3; two TLS 1.3
and four TLS 1.2 suites; ECDSA P-256 and RSA-3072 certificates; X25519, P-256, P-384). Every
tool reaches it through a TCP proxy on loopback that adds DELAY ms each way (a TCP
handshake costs one round trip, every chunk arrives DELAY ms late) and counts connections.
Per delay the tools run alternately, RUNS times: `tlsaudit scan` (compliance mode, the
default), `tlsaudit scan --full`, `python -m sslyze` (its default full scan) and
`testssl.sh` (Debian package `testssl.sh`, if installed). Reported: median wall time, TCP
connections, peak RSS (wait4) and exit codes. Then `tlsaudit run` over BATCH such
endpoints, each behind its own proxy at --batch-delay ms.

    python benchmarks/bench_scan.py [--runs 3] [--delays 0 25 100] [--batch 100]
        [--batch-delay 25] [--tools tlsaudit tlsaudit-full sslyze testssl]

Needs Debian's nginx (as the test suite does). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench_runs import ManyBlocks  # noqa: E402

from scan_targets import CA_CERT, Scenario, free_ports, tls_directives  # noqa: E402
from servers.nginx import start_nginx  # noqa: E402
from servers.proxy import CountingProxy  # noqa: E402

HIGH_SECURITY = Scenario(
    "high_security",
    0,
    tls_directives(
        certs=("good-ecdsa-p256-chain", "good-rsa3072-chain"),
        ciphers="ECDHE+AESGCM",
        ciphersuites="TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
        dhparam=None,
    ),
    description="TLS 1.2+1.3, 2 TLS 1.3 + 4 TLS 1.2 suites, ECDSA + RSA, three curves",
)
ACCEPTED = 6 + 3
"""Accepted suites and accepted groups of HIGH_SECURITY: the connection budget's base."""


@dataclass
class Run:
    seconds: float
    connections: int
    peak_rss_mib: float
    exit_code: int


def measure(command: list[str], proxies: list[CountingProxy]) -> Run:
    before = sum(p.connections for p in proxies)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    time.sleep(0.3)  # let the proxies finish counting late connections
    return Run(
        seconds=seconds,
        connections=sum(p.connections for p in proxies) - before,
        peak_rss_mib=usage.ru_maxrss / 1024,
        exit_code=os.waitstatus_to_exitcode(status),
    )


def tools(port: int) -> dict[str, list[str]]:
    scan = [sys.executable, "-m", "tlsaudit", "scan", f"localhost:{port}", "--ip", "127.0.0.1",
            "--ca-file", str(CA_CERT), "--format", "json"]  # fmt: skip
    commands = {
        "tlsaudit": scan,
        "tlsaudit-full": [*scan, "--full"],
        "sslyze": [sys.executable, "-m", "sslyze", f"localhost:{port}{{127.0.0.1}}"],
    }
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if testssl:
        commands["testssl"] = [testssl, "--quiet", "--color", "0", "--warnings", "off",
                               "--ip", "127.0.0.1", f"localhost:{port}"]  # fmt: skip
    return commands


def single(server: Scenario, delays: list[int], runs: int, wanted: list[str]) -> None:
    print(f"{'delay ms':>8} {'tool':14} {'median s':>9} {'connections':>12} {'peak MiB':>9}"
          f"  runs (s)  exit codes")  # fmt: skip
    for delay in delays:
        proxy = CountingProxy(server.port, delay=delay / 1000)
        commands = {k: v for k, v in tools(proxy.port).items() if k in wanted}
        results: dict[str, list[Run]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                results[name].append(measure(command, [proxy]))
        medians = {name: statistics.median(r.seconds for r in rs) for name, rs in results.items()}
        for name, rs in results.items():
            print(f"{delay:>8} {name:14} {medians[name]:>9.2f} "
                  f"{statistics.median(r.connections for r in rs):>12.0f} "
                  f"{max(r.peak_rss_mib for r in rs):>9.0f}  {[round(r.seconds, 2) for r in rs]}"
                  f"  {sorted({r.exit_code for r in rs})}")  # fmt: skip
        if "tlsaudit" in medians and "sslyze" in medians:
            connections = statistics.median(r.connections for r in results["tlsaudit"])
            print(f"{'':>8} compliance: {medians['sslyze'] / medians['tlsaudit']:.1f}x faster"
                  f" than sslyze; {connections:.0f} connections = accepted suites and groups"
                  f" ({ACCEPTED}) + {connections - ACCEPTED:.0f}")  # fmt: skip


def batch(size: int, delay: int, work: Path) -> None:
    ports = free_ports(size)
    fleet = [dataclasses.replace(HIGH_SECURITY, name=f"e{i}", port=p) for i, p in enumerate(ports)]
    with ManyBlocks(fleet, work / "nginx", startup_timeout=60):
        proxies = [CountingProxy(s.port, delay=delay / 1000) for s in fleet]
        assets = work / "assets.toml"
        assets.write_text("".join(
            f'[[endpoint]]\ntarget = "localhost:{p.port}"\nip = "127.0.0.1"\n\n' for p in proxies
        ))  # fmt: skip
        command = [sys.executable, "-m", "tlsaudit", "run", str(assets), "--db",
                   str(work / "history.sqlite3"), "--ca-file", str(CA_CERT), "--concurrency",
                   "32", "--per-host", "32", "--format", "json", "--output",
                   str(work / "run.json")]  # fmt: skip
        result = measure(command, proxies)
    print(
        f"tlsaudit run, {size} endpoints at {delay} ms: {result.seconds:.1f} s"
        f" ({result.seconds / size:.2f} s per endpoint), {result.connections} connections,"
        f" peak RSS {result.peak_rss_mib:.0f} MiB (largest process), exit {result.exit_code}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delays", type=int, nargs="*", default=[0, 25, 100])
    parser.add_argument(
        "--tools", nargs="+", default=["tlsaudit", "tlsaudit-full", "sslyze", "testssl"]
    )
    parser.add_argument("--batch", type=int, default=100, help="endpoints of the run; 0 = none")
    parser.add_argument("--batch-delay", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.delays:
            server = dataclasses.replace(HIGH_SECURITY, port=free_ports(1)[0])
            nginx = start_nginx([server], work / "single")
            try:
                single(server, args.delays, args.runs, args.tools)
            finally:
                nginx.stop()
        if args.batch:
            batch(args.batch, args.batch_delay, work)


if __name__ == "__main__":
    main()
