"""Building findings from profile rules: the one place a finding's text is assembled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tlsaudit.models.facts import ProbeError
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.profiles import Outcome, Profile, Rule, Threshold

Judgement = tuple[Level | None, str]
"""A judged fact: the level it violates (None = it passes) and the observed value."""


@dataclass(frozen=True)
class Unknown:
    """A fact that could not be determined, with the reason in words."""

    reason: str


@dataclass(frozen=True)
class NotApplicable:
    """A fact outside the check's scope: reported as ``not_applicable``, never as a pass."""

    observed: str
    reason: str


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
    if note and status not in (Status.PASS, Status.NOT_APPLICABLE):
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
    reason: str | None = None,
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
        reason=reason,
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


def judge(
    profile: Profile,
    check_id: str,
    result: Judgement | ProbeError | Unknown | NotApplicable,
    *,
    subject: str,
    expected: str,
    outcome: Outcome | None = None,
    reason: str | None = None,
) -> Finding:
    """The finding for a judgement (with an optional ``reason``), ``unknown`` when the fact
    could not be observed, or ``not_applicable`` when it lies outside the check's scope."""
    if isinstance(result, ProbeError | Unknown):
        why = describe_error(result) if isinstance(result, ProbeError) else result.reason
        return unknown(profile, check_id, subject=subject, expected=expected, reason=why)
    if isinstance(result, NotApplicable):
        return finding(
            profile,
            check_id,
            Status.NOT_APPLICABLE,
            subject=subject,
            observed=result.observed,
            expected=expected,
            reason=result.reason,
        )
    level, observed = result
    return violation(
        profile,
        check_id,
        level is not None,
        subject=subject,
        observed=observed,
        expected=expected,
        reason=reason,
        level=level,
        outcome=outcome,
    )


def describe_error(error: ProbeError) -> str:
    return f"{error.reason.value}: {error.detail}"


def threshold_level(thresholds: Sequence[Threshold], value: int) -> Level | None:
    """The level of the tightest threshold ``value`` falls below, None when it meets all."""
    below = [t for t in thresholds if value < t.below]
    return min(below, key=lambda t: t.below).level if below else None


def describe_thresholds(thresholds: Sequence[Threshold], unit: str = "bit") -> str:
    """E.g. "at least 2048 bit (below 1024: fail; below 2048: warn)"."""
    ordered = sorted(thresholds, key=lambda t: t.below)
    text = f"at least {ordered[-1].below} {unit}" if ordered else "any size"
    if len(ordered) > 1:
        text += " (" + "; ".join(f"below {t.below}: {t.level.violation}" for t in ordered) + ")"
    return text


def _note(rule: Rule, outcome: Outcome | None) -> str | None:
    source = outcome if outcome is not None and outcome.reading else rule
    if source.reading == "strict":
        return f"strict reading: {source.note}"
    return None
