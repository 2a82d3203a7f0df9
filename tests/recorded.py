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
