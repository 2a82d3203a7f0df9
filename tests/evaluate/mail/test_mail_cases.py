"""Recorded mail facts judged under profiles (data-driven), as test_tls_cases.py does for TLS.

``facts/*.json`` are MailFacts recorded from the mail test zones (tests/maildns/zones/mail)
through the DNS harness and the loopback mail servers by ``record_mail_facts.py``; re-record
them when the facts model changes. Each ``cases/*.json`` names one of them and may change
it: ``answers`` ("<name> <type>" -> fields) merges fields into the recorded DNS answer to
that question (or adds the answer), ``set`` ("a/b/0/c" path -> value) replaces any part.
It pins ``now``, names the check-id prefixes it covers (``checks``: findings of other checks
are not compared) and gives per profile (a built-in id, or a file of ``profiles/``) the
exact, ordered list of covered findings that do not pass, as ``[check id, subject,
status]``, and ``passes``: ``[check id, subject]`` that must pass.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from recorded import apply, assert_complete, assert_expected
from tlsaudit.evaluate.check import REGISTRY
from tlsaudit.evaluate.mail import MailView, evaluate_mail
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile, builtin_ids, load_profile
from tlsaudit.records.dnsview import normalise

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.json"))
AUTH = ("mail.spf.", "mail.dmarc.", "mail.dkim.", "mail.auth_any", "mail.nonsending", "mail.bimi")
"""The check ids of evaluate/mail_auth.py (profiles/checks/mail-auth.toml)."""


def answer(document: dict[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``document`` with fields merged into the answer to each "<name> <type>" question."""
    for question, fields in changes.items():
        name, rdtype = question.split()
        recorded = [
            a
            for a in document["dns"]
            if (normalise(a["name"]), a["rdtype"]) == (normalise(name), rdtype)
        ]
        if recorded:
            recorded[0].update(fields)
        else:
            document["dns"].append({"name": name, "rdtype": rdtype, **fields})
    return document


@cache
def load_case(path: Path) -> tuple[dict[str, Any], MailFacts, datetime]:
    case = json.loads(path.read_text("utf-8"))
    recorded = json.loads((HERE / "facts" / f"{case['facts']}.json").read_text("utf-8"))
    changed = apply(answer(recorded, case.get("answers", {})), case.get("set", {}))
    return case, MailFacts.model_validate(changed), datetime.fromisoformat(case["now"])


@cache
def profile(profile_id: str) -> Profile:
    if profile_id in builtin_ids():
        return load_profile(profile_id)
    return load_profile(HERE / "profiles" / f"{profile_id}.toml")


def judged(path: Path, profile_id: str) -> list[Finding]:
    """The findings of the checks the case covers."""
    case, facts, now = load_case(path)
    covered = tuple(case["checks"])
    return [
        f for f in evaluate_mail(facts, profile(profile_id), now) if f.check_id.startswith(covered)
    ]


PAIRS = [(path, pid) for path in CASES for pid in load_case(path)[0]["expect"]]
IDS = [f"{path.stem}-{pid.removeprefix('cryptrec-')}" for path, pid in PAIRS]


@pytest.mark.parametrize(("path", "profile_id"), PAIRS, ids=IDS)
def test_case(path: Path, profile_id: str) -> None:
    expected = load_case(path)[0]["expect"][profile_id]
    assert_expected(judged(path, profile_id), expected)


@pytest.mark.parametrize(("path", "profile_id"), PAIRS, ids=IDS)
def test_every_finding_is_complete(path: Path, profile_id: str) -> None:
    """Citations, observed and expected always; a fix for every problem; a reason for unknown."""
    assert_complete(judged(path, profile_id))


def test_every_authentication_check_is_exercised() -> None:
    """Each registered authentication check is judged (not only skipped) by some case."""
    seen = set()
    for path, profile_id in PAIRS:
        expect = load_case(path)[0]["expect"][profile_id]
        seen |= {entry[0] for entry in [*expect["findings"], *expect.get("passes", [])]}
    auth = {c for c, registered in REGISTRY.items() if registered.reads is MailView}
    assert {c for c in auth if c.startswith(AUTH)} <= seen


def test_evaluation_is_deterministic() -> None:
    path = HERE / "cases" / "dkim-keys.json"
    assert judged(path, "cryptrec-high") == judged(path, "cryptrec-high")


def _expected(path: Path, profile_id: str, check_id: str) -> set[str]:
    return {f.expected for f in judged(path, profile_id) if f.check_id == check_id}


def test_expected_texts_follow_the_rule_parameters() -> None:
    """Texts that restate a limit or the passing classes are generated from the profile."""
    lookups = HERE / "cases" / "spf-lookups.json"
    assert _expected(lookups, "cryptrec-high", "mail.spf.lookups") == {"at most 10"}
    assert _expected(lookups, "strict-mail", "mail.spf.lookups") == {"at most 5"}
    mx = {"at most 5 MX records per mx term"}
    assert _expected(HERE / "cases" / "spf-mx-limit.json", "strict-mail", "mail.spf.mx_limit") == mx
    good = HERE / "cases" / "mail-good.json"
    assert _expected(good, "cryptrec-high", "mail.spf.all") == {
        "-all or ~all, and no include that matches every client"
    }
    assert _expected(good, "strict-mail", "mail.spf.all") == {
        "-all, and no include that matches every client"
    }
    assert _expected(good, "cryptrec-high", "mail.dmarc.policy") == {
        "quarantine or reject, pct=100, no t=y"
    }
    assert _expected(good, "strict-mail", "mail.dmarc.policy") == {"reject, pct=100, no t=y"}
