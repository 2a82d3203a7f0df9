"""Collecting findings for the rules a profile has (shared by the mail evaluators)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tlsaudit.evaluate.base import finding, violation
from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.profiles import Outcome, Profile


@dataclass
class Collector:
    """Collects findings, skipping check ids the profile has no rule for."""

    profile: Profile
    items: list[Finding] = field(default_factory=list)

    def add(
        self,
        check_id: str,
        status: Status,
        *,
        subject: str,
        observed: str,
        expected: str,
        reason: str | None = None,
        level: Level | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        if check_id not in self.profile.rules:
            return
        self.items.append(
            finding(
                self.profile,
                check_id,
                status,
                subject=subject,
                observed=observed,
                expected=expected,
                reason=reason,
                level=level,
                outcome=outcome,
            )
        )

    def check(
        self,
        check_id: str,
        violated: bool,
        *,
        subject: str,
        observed: str,
        expected: str,
        reason: str | None = None,
        level: Level | None = None,
    ) -> None:
        """Pass, or the status of ``level`` (default: the rule's level)."""
        if check_id in self.profile.rules:
            self.items.append(
                violation(
                    self.profile,
                    check_id,
                    violated,
                    subject=subject,
                    observed=observed,
                    expected=expected,
                    reason=reason,
                    level=level,
                )
            )

    def unknown(self, check_id: str, *, subject: str, expected: str, reason: str) -> None:
        self.add(
            check_id,
            Status.UNKNOWN,
            subject=subject,
            observed="could not determine",
            expected=expected,
            reason=reason,
        )

    def param(self, check_id: str, name: str) -> object:
        rule = self.profile.rules.get(check_id)
        return getattr(rule, name) if rule is not None else None


def error_text(answer: DnsAnswer) -> str:
    """Why a DNS question has no definite answer, for a finding's reason."""
    error = answer.error
    return error.detail if error is not None else answer.status.value
