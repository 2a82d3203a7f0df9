"""Findings: the judgement of facts against a profile rule."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import Field

from tlsaudit.models.facts import Model


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"
    """The check does not apply to what was observed (e.g. renegotiation on a TLS 1.3-only
    server, the 112-bit horizon for a key below that band): never a pass."""


class Level(StrEnum):
    """Requirement level of a rule (GL-3001: 遵守項目 / 推奨項目)."""

    MANDATORY = "mandatory"
    RECOMMENDED = "recommended"
    INFORMATIONAL = "informational"

    @property
    def violation(self) -> Status:
        """The status a violated rule of this level yields."""
        return _VIOLATION[self]

    @property
    def strictness(self) -> int:
        """0 informational, 1 recommended, 2 mandatory: for picking the stricter of two."""
        return list(Level)[::-1].index(self)


_VIOLATION = {
    Level.MANDATORY: Status.FAIL,
    Level.RECOMMENDED: Status.WARN,
    Level.INFORMATIONAL: Status.INFO,
}


class Citation(Model):
    """A clause of a document, cited by the short ids of profiles/SOURCES.md."""

    doc: str = Field(
        description="Document id: GL-3001, LS-0001, LS-0003, 統一基準, gBiz, RFC 7208 ..."
    )
    ref: str = Field(
        default="", description="Chapter, clause or list entry, e.g. 第4章, 6.2.3(1)-5."
    )

    def __str__(self) -> str:
        return f"{self.doc} {self.ref}".strip()


class Text(Model):
    """Report text in both languages (CRYPTREC terms stay in Japanese in both)."""

    en: str
    ja: str

    def get(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


class Finding(Model):
    check_id: str = Field(description="Stable id, e.g. tls.protocol.tls1_0, cert.key.size.")
    status: Status
    level: Level = Field(description="Level of the rule that produced this finding.")
    subject: str = Field(
        description="What was judged: a protocol, a suite, 'RSA deployment / cert #1', a record."
    )
    title: Text
    observed: str
    expected: str
    reason: str | None = Field(
        default=None, description="Why the status is unknown, or a note on a strict reading."
    )
    citations: list[Citation] = Field(default_factory=list)
    remediation: str | None = Field(default=None, description="The directive that fixes it.")


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"
    ERROR = "error"


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    """CRYPTREC part 1 §1.6: fail if any finding fails; else unknown if any mandatory
    check is unknown; else pass (warnings and info are listed, not counted)."""
    findings = list(findings)
    if any(f.status is Status.FAIL for f in findings):
        return Verdict.FAIL
    if any(f.status is Status.UNKNOWN and f.level is Level.MANDATORY for f in findings):
        return Verdict.UNKNOWN
    return Verdict.PASS
