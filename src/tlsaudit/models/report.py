"""The report: what every renderer reads and what `--format json` writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field

from tlsaudit.models.dns import DnsFacts
from tlsaudit.models.facts import Endpoint, Model, TlsFacts
from tlsaudit.models.findings import Finding, Verdict, verdict_of
from tlsaudit.models.mail import MailFacts

SCHEMA_VERSION = "1.4"
"""1.0: TLS targets. 1.1: adds `domains` (tlsaudit domain: mail and DNS). 1.3: adds `run`,
and `tags` and `duration_seconds` per target and domain (asset runs)."""


class ProfileRef(Model):
    id: str
    name: str
    version: str
    editions: list[str] = Field(
        default_factory=list,
        description="Editions of the documents the profile encodes, e.g. GL-3001 3.1.1,"
        " LS-0001-2022R2, LS-0003-2022R1.",
    )


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
    tags: dict[str, str] = Field(default_factory=dict, description="Asset-file tags (runs).")
    duration_seconds: float | None = Field(default=None, description="Wall time of the scan.")

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


class Group(StrEnum):
    """The three parts of a domain audit, each with its own verdict."""

    MAIL_AUTHENTICATION = "mail_authentication"
    MAIL_TRANSPORT = "mail_transport"
    DNS = "dns"


MAIL_AUTHENTICATION_CHECKS = (
    "mail.spf",
    "mail.dmarc",
    "mail.dkim",
    "mail.auth_any",
    "mail.nonsending",
    "mail.bimi",
)


def group_of(check_id: str) -> Group:
    if check_id.startswith("dns."):
        return Group.DNS
    if check_id.startswith(MAIL_AUTHENTICATION_CHECKS):
        return Group.MAIL_AUTHENTICATION
    return Group.MAIL_TRANSPORT  # MX, STARTTLS and its TLS, MTA-STS, TLS-RPT, DANE, relay


class GroupVerdict(Model):
    group: Group
    verdict: Verdict


class DomainReport(Model):
    """One mail domain: its mail and DNS facts, findings, and a verdict per group."""

    domain: str
    verdict: Verdict
    error: str | None = Field(default=None, description="Why the domain could not be audited.")
    groups: list[GroupVerdict] = Field(default_factory=list)
    mail: MailFacts | None = None
    dns: DnsFacts | None = None
    findings: list[Finding] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict, description="Asset-file tags (runs).")
    duration_seconds: float | None = Field(default=None, description="Wall time of the audit.")

    @classmethod
    def build(
        cls, domain: str, mail: MailFacts, dns: DnsFacts, findings: list[Finding]
    ) -> DomainReport:
        groups = [
            GroupVerdict(
                group=g, verdict=verdict_of(f for f in findings if group_of(f.check_id) is g)
            )
            for g in Group
        ]
        return cls(
            domain=domain,
            verdict=combine(g.verdict for g in groups),
            groups=groups,
            mail=mail,
            dns=dns,
            findings=findings,
        )

    @classmethod
    def failed(cls, domain: str, error: str) -> DomainReport:
        return cls(domain=domain, verdict=Verdict.ERROR, error=error)


class RunRef(Model):
    """The stored run a report was read from (`tlsaudit run`, `report`, `reevaluate`)."""

    id: int
    kind: str = Field(description="scan, or reevaluate (stored facts judged again).")
    source: str | None = Field(default=None, description="Asset file or list, '-' = stdin.")
    source_sha256: str | None = None
    complete: bool = Field(description="False while a run is unfinished or was interrupted.")


class Report(Model):
    schema_version: str = SCHEMA_VERSION
    tool: str = Field(description="tlsaudit and its version.")
    profile: ProfileRef
    started_at: datetime
    finished_at: datetime
    verdict: Verdict
    targets: list[TargetReport] = Field(default_factory=list, description="tlsaudit scan")
    domains: list[DomainReport] = Field(default_factory=list, description="tlsaudit domain")
    run: RunRef | None = Field(default=None, description="The stored run (asset runs).")

    @property
    def verdicts(self) -> list[Verdict]:
        return [t.verdict for t in self.targets] + [d.verdict for d in self.domains]

    @classmethod
    def assemble(
        cls,
        tool: str,
        profile: ProfileRef,
        started: datetime,
        *,
        targets: Sequence[TargetReport] = (),
        domains: Sequence[DomainReport] = (),
    ) -> Report:
        """A finished report: overall verdict from every target and domain."""
        verdicts = [t.verdict for t in targets] + [d.verdict for d in domains]
        return cls(
            tool=tool,
            profile=profile,
            started_at=started,
            finished_at=datetime.now(UTC),
            verdict=combine(verdicts),
            targets=list(targets),
            domains=list(domains),
        )


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Aggregate verdict: fail beats error beats unknown beats pass."""
    order = (Verdict.FAIL, Verdict.ERROR, Verdict.UNKNOWN)
    present = set(verdicts)
    return next((v for v in order if v in present), Verdict.PASS)
