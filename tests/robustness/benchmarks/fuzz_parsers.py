"""Fuzz every parser for a fixed number of inputs (default one million each) with atheris.

    python tests/robustness/benchmarks/fuzz_parsers.py            # 1,000,000 inputs each
    python tests/robustness/benchmarks/fuzz_parsers.py --runs 2000000 --jobs 4 spf dmarc

Each harness of ``tests/robustness/fuzzing.py`` runs in its own process (``--jobs`` at a
time); the table gives inputs run, seconds, inputs per second and the outcome. A crash
leaves its input in ``--artifacts`` and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
NAMES = ("spf", "dmarc", "dkim", "bimi", "mtasts", "dane", "dnsview", "suites", "targets")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


@dataclass(frozen=True)
class Outcome:
    name: str
    runs: int
    seconds: float
    ok: bool
    tail: str


def fuzz(name: str, runs: int, max_len: int, artifacts: Path) -> Outcome:
    start = time.monotonic()
    command = [
        sys.executable,
        "-m",
        f"robustness.fuzz_{name}",
        f"-runs={runs}",
        f"-max_len={max_len}",
        f"-artifact_prefix={artifacts}/{name}-",
        "-print_final_stats=1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE.parent)
    seconds = time.monotonic() - start
    found = _DONE.search(done.stderr)
    executed = int(found.group(1)) if found else 0
    tail = "\n".join(done.stderr.strip().splitlines()[-25:])
    return Outcome(name, executed, seconds, done.returncode == 0 and found is not None, tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"among {', '.join(NAMES)}")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--max-len", type=int, default=1024, help="longest input (bytes; libFuzzer's -max_len)"
    )
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    if importlib.util.find_spec("atheris") is None:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    names = args.names or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        parser.error(f"unknown parser {', '.join(unknown)} (known: {', '.join(NAMES)})")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda n: fuzz(n, args.runs, args.max_len, args.artifacts), names))
    print(f"{'parser':<10} {'inputs':>10} {'seconds':>9} {'inputs/s':>10}  result")
    for o in outcomes:
        rate = o.runs / o.seconds if o.seconds else 0.0
        result = "ok" if o.ok else "CRASH"
        print(f"{o.name:<10} {o.runs:>10,} {o.seconds:>9.1f} {rate:>10,.0f}  {result}")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"\n--- {o.name}\n{o.tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
