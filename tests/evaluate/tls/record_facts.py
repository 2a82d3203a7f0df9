"""Re-record ``tests/evaluate/tls/facts/*.json`` from the nginx scenarios (after a facts change).

Run from the repository root, with nginx installed::

    TLSAUDIT_NGINX_BASE_PORT=28443 python tests/evaluate/tls/record_facts.py [SCENARIO ...]

Every scenario that already has a facts file is scanned again (or only those named) with
the test CA as ``--ca-file``, and its facts are written with ``model_dump_json(indent=2)``.
Review the diff of ``tests/evaluate/tls/cases`` results afterwards: a changed fact must be a
deliberate one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))

from scan_targets import CA_CERT, HOST, SCENARIOS, SERVER_NAME, scenario  # noqa: E402
from servers.nginx import start_nginx  # noqa: E402
from tlsaudit.inventory import Target, resolve  # noqa: E402
from tlsaudit.scan.options import ScanOptions  # noqa: E402
from tlsaudit.scan.tls import scan_endpoints  # noqa: E402

FACTS = Path(__file__).resolve().parent / "facts"


def main(names: list[str]) -> None:
    wanted = names or sorted(p.stem.replace("-", "_") for p in FACTS.glob("*.json"))
    with tempfile.TemporaryDirectory(prefix="tlsaudit-record-") as workdir:
        server = start_nginx(SCENARIOS, Path(workdir))
        try:
            targets = [
                Target(raw=name, host=SERVER_NAME, port=scenario(name).port, ip=HOST)
                for name in wanted
            ]
            endpoints = [resolve(t)[0] for t in targets]
            facts = scan_endpoints(endpoints, ScanOptions(ca_file=CA_CERT, timeout=3.0))
        finally:
            server.stop()
    for name, recorded in zip(wanted, facts, strict=True):
        path = FACTS / f"{name.replace('_', '-')}.json"
        path.write_text(recorded.model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
