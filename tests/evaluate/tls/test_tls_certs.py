"""Certificate checks at the edges: validity boundaries with a pinned clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tlsaudit.evaluate import evaluate_tls
from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Status
from tlsaudit.profiles import load_profile

FACTS = TlsFacts.model_validate_json(
    (Path(__file__).parent / "facts" / "expiring.json").read_text("utf-8")
)
assert FACTS.certificates.value is not None
_LEAF = FACTS.certificates.value.deployments[0].received_chain[0]
NOT_AFTER = _LEAF.not_after  # the recorded leaf's notAfter: every now derives from it
NOT_BEFORE = _LEAF.not_before
SECOND = timedelta(seconds=1)
LEAF = "RSA deployment / certificate #0 (leaf) CN=localhost"


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (NOT_BEFORE - SECOND, Status.FAIL),
        (NOT_BEFORE, Status.PASS),
        (NOT_AFTER - timedelta(days=30), Status.PASS),
        (NOT_AFTER - timedelta(days=30) + SECOND, Status.WARN),
        (NOT_AFTER, Status.WARN),
        (NOT_AFTER + SECOND, Status.FAIL),
        (NOT_AFTER.replace(tzinfo=None) + SECOND, Status.FAIL),  # naive means UTC
    ],
)
def test_expiry_boundaries(now: datetime, status: Status) -> None:
    findings = evaluate_tls(FACTS, load_profile("cryptrec-high"), now)
    [leaf] = [f for f in findings if f.check_id == "cert.expiry" and f.subject == LEAF]
    assert leaf.status is status, leaf.observed
