"""ipv6.consistency: the addresses of one name compared (統一基準 6.4.4(1)(b))."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tlsaudit.evaluate import evaluate_consistency
from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Status
from tlsaudit.profiles import load_profile

GOOD = TlsFacts.model_validate_json(
    (Path(__file__).parent / "facts" / "good.json").read_text("utf-8")
)
PROFILE = load_profile("cryptrec-high")
ASPECTS = ("protocol versions", "cipher suites", "groups", "leaf certificates")


def at(ip: str, **changes: Any) -> TlsFacts:
    """The good server's facts as seen on another address, with some facts replaced."""
    data = GOOD.model_dump()
    data["endpoint"]["ip"] = ip
    return TlsFacts.model_validate(data | changes)


def statuses(facts: list[TlsFacts]) -> dict[str, Status]:
    findings = evaluate_consistency(facts, PROFILE, GOOD.scanned_at)
    return {f.subject.removeprefix(f"localhost:{GOOD.endpoint.port} "): f.status for f in findings}


def test_identical_addresses_pass() -> None:
    assert statuses([GOOD, at("::1")]) == dict.fromkeys(ASPECTS, Status.PASS)


def test_difference_names_the_addresses() -> None:
    v6 = at("::1", groups={"value": ["X25519"], "error": None})
    findings = evaluate_consistency([GOOD, v6], PROFILE, GOOD.scanned_at)
    [groups] = [f for f in findings if f.status is not Status.PASS]
    assert groups.subject.endswith(" groups")
    assert groups.status is Status.WARN
    assert groups.observed == (
        "127.0.0.1 also has secp256r1, secp384r1; [::1]: only what every address has"
    )
    assert [str(c) for c in groups.citations] == ["統一基準 6.4.4(1)(b)"]


def test_unknown_when_an_address_could_not_be_observed() -> None:
    failed = {"value": None, "error": {"reason": "timeout", "detail": "no answer"}}
    result = statuses([GOOD, at("::1", certificates=failed)])
    assert result["leaf certificates"] is Status.UNKNOWN
    assert result["groups"] is Status.PASS


@pytest.mark.parametrize("count", [0, 1])
def test_needs_two_reachable_addresses(count: int) -> None:
    down = at("::1", connectivity={"reason": "connection_refused", "detail": "refused"})
    assert evaluate_consistency([*[GOOD, down][:count], down], PROFILE, GOOD.scanned_at) == []
