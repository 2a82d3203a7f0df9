"""Shared by the recorded-facts case runners (tests/evaluate/tls, tests/evaluate/mail)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tlsaudit.models.findings import Finding, Status


def apply(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each ``path`` (``/``-separated keys and list indexes) replaced."""
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target: Any = document
        for key in parents:
            target = target[key]
        target[last] = value
    return document


def assert_complete(findings: Iterable[Finding]) -> None:
    """Citations, observed and expected always; a fix for every problem; a reason for unknown."""
    for f in findings:
        assert all((f.citations, f.observed, f.expected, f.title.en, f.title.ja)), f
        assert (f.remediation is not None) == (f.status in (Status.FAIL, Status.WARN)), f
        assert (f.status is Status.UNKNOWN) <= bool(f.reason), f


def assert_expected(findings: Iterable[Finding], expected: dict[str, Any]) -> None:
    """Exactly the case's expected problems (check, subject, status; in report order), and
    every pass it lists among the passes."""
    findings = list(findings)
    problems = [[f.check_id, f.subject, f.status.value] for f in findings if f.status != "pass"]
    assert problems == expected["findings"]
    passed = {(f.check_id, f.subject) for f in findings if f.status is Status.PASS}
    missing = [p for p in expected.get("passes", []) if tuple(p) not in passed]
    assert missing == []
