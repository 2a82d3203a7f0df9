"""Building findings from profile rules: the one place a finding's text is assembled."""

from __future__ import annotations

from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.profiles import Outcome, Profile, Rule


def finding(
    profile: Profile,
    check_id: str,
    status: Status,
    *,
    subject: str,
    observed: str,
    expected: str,
    reason: str | None = None,
    level: Level | None = None,
    outcome: Outcome | None = None,
) -> Finding:
    """A finding for ``check_id`` with title, citations and remediation from the profile.

    ``level`` defaults to the rule's level; ``outcome`` (a case of a class or threshold
    table) contributes its strict-reading note to ``reason``.
    """
    rule = profile.rules[check_id]
    check = profile.checks[check_id]
    note = _note(rule, outcome)
    if note and status is not Status.PASS:
        reason = f"{reason}; {note}" if reason else note
    return Finding(
        check_id=check_id,
        status=status,
        level=level or rule.level,
        subject=subject,
        title=check.title,
        observed=observed,
        expected=expected,
        reason=reason,
        citations=[*check.citations, *rule.citations],
        remediation=check.remediation if status in (Status.FAIL, Status.WARN) else None,
    )


def violation(
    profile: Profile,
    check_id: str,
    violated: bool,
    *,
    subject: str,
    observed: str,
    expected: str,
    level: Level | None = None,
    outcome: Outcome | None = None,
) -> Finding:
    """Pass, or the status the rule's (or the given) level assigns to a violation."""
    effective = level or profile.rules[check_id].level
    status = effective.violation if violated else Status.PASS
    return finding(
        profile,
        check_id,
        status,
        subject=subject,
        observed=observed,
        expected=expected,
        level=effective,
        outcome=outcome,
    )


def unknown(
    profile: Profile, check_id: str, *, subject: str, expected: str, reason: str
) -> Finding:
    """A check that could not be completed: never pass or fail."""
    return finding(
        profile,
        check_id,
        Status.UNKNOWN,
        subject=subject,
        observed="could not determine",
        expected=expected,
        reason=reason,
    )


def _note(rule: Rule, outcome: Outcome | None) -> str | None:
    source = outcome if outcome is not None and outcome.reading else rule
    if source.reading == "strict":
        return f"strict reading: {source.note}"
    return None
