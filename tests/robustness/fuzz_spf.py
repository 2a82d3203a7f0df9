"""atheris fuzz target: the spf harness of :mod:`fuzzing` (options: libFuzzer's).

Run from ``tests/``: ``python -m robustness.fuzz_spf -max_total_time=60``.
"""

from __future__ import annotations

from robustness.fuzzing import run

if __name__ == "__main__":
    run("spf")
