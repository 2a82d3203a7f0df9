"""The report: what every renderer reads and what `--format json` writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import Field

from tlsaudit.models.facts import Endpoint, Model, TlsFacts
from tlsaudit.models.findings import Finding, Verdict, verdict_of

SCHEMA_VERSION = "1.0"


class ProfileRef(Model):
    id: str
    name: str
    version: str


class EndpointReport(Model):
    """One address of a target: its facts and the findings judged from them."""

    endpoint: Endpoint
    verdict: Verdict
    facts: TlsFacts
    findings: list[Finding]


class TargetReport(Model):
    """One target as the user wrote it; a name may expand to several endpoints."""

    target: str = Field(description="The target as given on the command line or in the list.")
    verdict: Verdict
    error: str | None = Field(
        default=None, description="Why the target could not be scanned at all (bad input, DNS)."
    )
    endpoints: list[EndpointReport] = Field(default_factory=list)
    findings: list[Finding] = Field(
        default_factory=list,
        description="Target-level findings, e.g. differences between the addresses of one name.",
    )

    @classmethod
    def build(
        cls, target: str, endpoints: list[EndpointReport], findings: list[Finding]
    ) -> TargetReport:
        verdicts = [e.verdict for e in endpoints]
        return cls(
            target=target,
            verdict=combine([*verdicts, verdict_of(findings)]),
            endpoints=endpoints,
            findings=findings,
        )

    @classmethod
    def failed(cls, target: str, error: str) -> TargetReport:
        return cls(target=target, verdict=Verdict.ERROR, error=error)


class Report(Model):
    schema_version: str = SCHEMA_VERSION
    tool: str = Field(description="tlsaudit and its version.")
    profile: ProfileRef
    started_at: datetime
    finished_at: datetime
    verdict: Verdict
    targets: list[TargetReport]


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Aggregate verdict: fail beats error beats unknown beats pass."""
    order = (Verdict.FAIL, Verdict.ERROR, Verdict.UNKNOWN)
    present = set(verdicts)
    return next((v for v in order if v in present), Verdict.PASS)
