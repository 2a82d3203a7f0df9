"""Read-only views of a report that several outputs share: rows of targets and domains,
their findings, and the leaf certificates served (TLS endpoints and MX STARTTLS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Finding
from tlsaudit.models.report import DomainReport, Report, TargetReport


@dataclass(frozen=True)
class Row:
    """One target or domain of a report."""

    kind: str
    """``tls`` or ``domain``."""
    name: str
    item: TargetReport | DomainReport

    @property
    def findings(self) -> list[tuple[str, Finding]]:
        """(endpoint label or '', finding) pairs: endpoint findings, then target-level."""
        out: list[tuple[str, Finding]] = []
        if isinstance(self.item, TargetReport):
            for endpoint in self.item.endpoints:
                out += [(endpoint.endpoint.display, f) for f in endpoint.findings]
        out += [("", f) for f in self.item.findings]
        return out

    @property
    def error(self) -> str | None:
        if self.item.error is not None:
            return self.item.error
        if isinstance(self.item, TargetReport):
            failed = [e.facts.connectivity for e in self.item.endpoints if e.facts.connectivity]
            if failed and len(failed) == len(self.item.endpoints):
                return "; ".join(f"{p.reason.value}: {p.detail}" for p in failed)
        return None


def rows(report: Report) -> list[Row]:
    return [Row("tls", t.target, t) for t in report.targets] + [
        Row("domain", d.domain, d) for d in report.domains
    ]


def area(check_id: str) -> str:
    """The area a check belongs to: its first two components (``tls.protocol``, ``cert.key``,
    ``mail.spf``, ``dns.dnssec``)."""
    return ".".join(check_id.split(".")[:2])


@dataclass(frozen=True)
class LeafCertificate:
    """The leaf of one certificate deployment of one endpoint."""

    target: str
    endpoint: str
    subject: str
    sha256: str
    not_after: datetime

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def leaf_certificates(row: Row) -> Iterator[LeafCertificate]:
    """Every leaf certificate a target's endpoints, or a domain's MX hosts, served."""
    for facts in _tls_facts(row.item):
        certificates = facts.certificates.value
        if certificates is None:
            continue
        for deployment in certificates.deployments:
            if deployment.received_chain:
                leaf = deployment.received_chain[0]
                yield LeafCertificate(
                    row.name, facts.endpoint.display, leaf.subject, leaf.sha256, leaf.not_after
                )


def _tls_facts(item: TargetReport | DomainReport) -> Iterator[TlsFacts]:
    if isinstance(item, TargetReport):
        yield from (e.facts for e in item.endpoints)
    elif item.mail is not None:
        for mx in item.mail.mx:
            yield from (a.tls for a in mx.addresses if a.tls is not None)


def expiring(report: Report, now: datetime, days: int) -> list[LeafCertificate]:
    """Leaf certificates that expire within ``days`` of ``now`` (expired ones included)."""
    horizon = now + timedelta(days=days)
    found = [c for r in rows(report) for c in leaf_certificates(r) if c.not_after <= horizon]
    return sorted(found, key=lambda c: c.not_after)
