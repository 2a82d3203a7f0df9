"""The date-sensitive TLS cases at two pinned ``now`` values a year apart.

Certificates are issued at test time relative to each ``now`` (never from the clock),
served over real TLS on loopback, scanned with sslyze and judged at that ``now``: the
verdicts must be the same for both years. Only the pure evaluation sees ``now``; the scan's
own path validation runs on the real clock, so trust is not asserted here.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from servers.pki import CA_CERT, issue_certificate
from tlsaudit.demo import DemoServer, serving
from tlsaudit.evaluate import evaluate_tls
from tlsaudit.inventory import Target, resolve
from tlsaudit.models.findings import Status
from tlsaudit.profiles import load_profile
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import scan_endpoints

NOW = datetime(2026, 11, 23, tzinfo=UTC)
NOWS = (NOW, NOW + timedelta(days=365))
DAY = timedelta(days=1)

# name: (not_before, not_after) relative to now, and the leaf's expected cert.expiry status
WINDOWS: dict[str, tuple[timedelta, timedelta, Status]] = {
    "valid": (-30 * DAY, 400 * DAY, Status.PASS),
    "expiring": (-30 * DAY, 10 * DAY, Status.WARN),
    "expired": (-400 * DAY, -DAY, Status.FAIL),
    "not-yet-valid": (DAY, 400 * DAY, Status.FAIL),
}


def _expiry_statuses(now: datetime, workdir: Path) -> dict[str, Status]:
    servers = []
    for name, (start, end, _) in WINDOWS.items():
        chain, key = issue_certificate(
            ("localhost",), workdir, now=now, not_before=now + start, not_after=now + end, stem=name
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE+AESGCM")
        context.load_cert_chain(chain, key)
        servers.append(DemoServer(name, context))
    with serving(servers) as ports:
        targets = [
            Target(raw=s.label, host="localhost", port=port, ip="127.0.0.1")
            for s, port in zip(servers, ports, strict=True)
        ]
        facts = scan_endpoints(
            [resolve(t)[0] for t in targets], ScanOptions(ca_file=CA_CERT, timeout=3.0)
        )
    profile = load_profile("cryptrec-high")
    statuses = {}
    for server, endpoint_facts in zip(servers, facts, strict=True):
        assert endpoint_facts.connectivity is None, endpoint_facts.connectivity
        [leaf] = [
            f
            for f in evaluate_tls(endpoint_facts, profile, now)
            if f.check_id == "cert.expiry" and "(leaf)" in f.subject
        ]
        statuses[server.label] = leaf.status
    return statuses


@pytest.fixture(scope="module")
def by_year(tmp_path_factory: pytest.TempPathFactory) -> dict[datetime, dict[str, Status]]:
    return {now: _expiry_statuses(now, tmp_path_factory.mktemp(f"{now:%Y}")) for now in NOWS}


@pytest.mark.parametrize("now", NOWS, ids=[f"{n:%Y-%m-%d}" for n in NOWS])
def test_expiry_is_judged_at_the_pinned_now(
    by_year: dict[datetime, dict[str, Status]], now: datetime
) -> None:
    assert by_year[now] == {name: status for name, (_, _, status) in WINDOWS.items()}


def test_verdicts_are_the_same_a_year_apart(by_year: dict[datetime, dict[str, Status]]) -> None:
    first, second = (by_year[now] for now in NOWS)
    assert first == second
