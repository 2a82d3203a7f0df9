"""Recorded facts judged under the three CRYPTREC profiles (data-driven).

``facts/*.json`` are TlsFacts recorded by scanning the nginx scenarios of
``tests/scan_targets.py`` (same names, ``-`` for ``_``) with ``scan_endpoints`` and the test
CA as ``--ca-file``, saved with ``model_dump_json(indent=2)``; re-record them when the facts
model changes. Each ``cases/*.json`` names one of them, may replace parts of it (``set``:
``"a/b/0/c"`` path -> new value), pins ``now``, and gives per profile the verdict and the
exact, ordered list of findings that do not pass, as ``[check id, subject, status]``;
``passes`` lists ``[check id, subject]`` that must pass.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from recorded import apply, assert_complete, assert_expected
from tlsaudit.evaluate import evaluate_tls
from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Finding, verdict_of
from tlsaudit.profiles import Profile, load_profile

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))


@cache
def load_case(path: Path) -> tuple[dict[str, Any], TlsFacts, datetime]:
    case = json.loads(path.read_text("utf-8"))
    recorded = json.loads((HERE / "facts" / f"{case['facts']}.json").read_text("utf-8"))
    facts = TlsFacts.model_validate(apply(recorded, case.get("set", {})))
    return case, facts, datetime.fromisoformat(case["now"])


@cache
def profile(profile_id: str) -> Profile:
    return load_profile(profile_id)


def judged(path: Path, profile_id: str) -> list[Finding]:
    _, facts, now = load_case(path)
    return evaluate_tls(facts, profile(profile_id), now)


PAIRS = [(path, pid) for path in CASES for pid in load_case(path)[0]["expect"]]
IDS = [f"{path.stem}-{pid.removeprefix('cryptrec-')}" for path, pid in PAIRS]


@pytest.mark.parametrize(("path", "profile_id"), PAIRS, ids=IDS)
def test_case(path: Path, profile_id: str) -> None:
    expected = load_case(path)[0]["expect"][profile_id]
    findings = judged(path, profile_id)
    assert_expected(findings, expected)
    assert verdict_of(findings).value == expected["verdict"]


@pytest.mark.parametrize(("path", "profile_id"), PAIRS, ids=IDS)
def test_every_finding_is_complete(path: Path, profile_id: str) -> None:
    """Citations, observed and expected always; a fix for every problem; a reason for unknown."""
    assert_complete(judged(path, profile_id))


def test_evaluation_is_deterministic() -> None:
    path = HERE / "cases" / "tls10.json"
    assert judged(path, "cryptrec-high") == judged(path, "cryptrec-high")


def test_unreachable_endpoint_has_no_findings() -> None:
    _, facts, now = load_case(HERE / "cases" / "good.json")
    unreachable = {"connectivity": {"reason": "timeout", "detail": "no answer in 5 s"}}
    down = TlsFacts.model_validate(facts.model_dump() | unreachable)
    assert evaluate_tls(down, profile("cryptrec-high"), now) == []


def test_strict_reading_is_explained() -> None:
    """A finding produced by a strict-reading rule or class says so in its reason."""
    findings = judged(HERE / "cases" / "tls10.json", "cryptrec-high")
    tls13 = next(f for f in findings if f.check_id == "tls.protocol.tls1_3")
    cbc = next(f for f in findings if f.subject == "TLS 1.2 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256")
    assert tls13.reason
    assert "TLS1.3(必須)" in tls13.reason
    assert cbc.reason
    assert "strict reading" in cbc.reason
    assert cbc.observed.startswith("pfs-cbc: ECDH: 電子政府推奨暗号リスト / 鍵共有, AES:")
