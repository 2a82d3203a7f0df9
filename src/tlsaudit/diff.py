"""What changed between two stored runs: targets and endpoints that appeared or vanished,
verdict changes, new failures, fixed failures, certificate renewals. Pure: no network."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tlsaudit.history import Stored
from tlsaudit.models.facts import Model
from tlsaudit.models.findings import Finding, Status, Text, Verdict
from tlsaudit.models.report import SCHEMA_VERSION, TargetReport
from tlsaudit.render.views import LeafCertificate, Row, leaf_certificates


class TargetRef(Model):
    key: str = Field(description="The entry's identity across runs.")
    target: str
    kind: str


class EndpointChange(Model):
    key: str
    endpoint: str


class VerdictChange(Model):
    key: str
    target: str
    before: Verdict
    after: Verdict


class FindingChange(Model):
    key: str
    endpoint: str = Field(description="Endpoint label; empty for target- or domain-level.")
    check_id: str
    subject: str
    title: Text
    before: Status | None = Field(description="None: no such finding in the older run.")
    after: Status | None = Field(description="None: no such finding in the newer run.")
    observed: str


class CertificateRef(Model):
    sha256: str
    subject: str
    not_after: datetime


class CertificateRenewal(Model):
    key: str
    endpoint: str
    before: list[CertificateRef]
    after: list[CertificateRef]


class DiffReport(Model):
    """`tlsaudit diff --format json`."""

    schema_version: str = SCHEMA_VERSION
    run_a: int = Field(description="The older run.")
    run_b: int = Field(description="The newer run.")
    appeared: list[TargetRef] = Field(default_factory=list)
    vanished: list[TargetRef] = Field(default_factory=list)
    endpoints_appeared: list[EndpointChange] = Field(default_factory=list)
    endpoints_vanished: list[EndpointChange] = Field(default_factory=list)
    verdict_changes: list[VerdictChange] = Field(default_factory=list)
    new_failures: list[FindingChange] = Field(default_factory=list)
    fixed: list[FindingChange] = Field(default_factory=list)
    renewals: list[CertificateRenewal] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(v for v in self.model_dump().values() if isinstance(v, list))


def _row(stored: Stored) -> Row:
    report = stored.report
    name = report.target if isinstance(report, TargetReport) else report.domain
    return Row(stored.kind, name, report)


def _findings(row: Row) -> dict[tuple[str, str, str], Finding]:
    return {(endpoint, f.check_id, f.subject): f for endpoint, f in row.findings}


def _endpoints(row: Row) -> set[str]:
    if isinstance(row.item, TargetReport):
        return {e.endpoint.label for e in row.item.endpoints}
    return set()


def _leaves(row: Row) -> dict[str, list[LeafCertificate]]:
    out: dict[str, list[LeafCertificate]] = {}
    for cert in leaf_certificates(row):
        out.setdefault(cert.endpoint, []).append(cert)
    return out


def _ref(cert: LeafCertificate) -> CertificateRef:
    return CertificateRef(sha256=cert.sha256, subject=cert.subject, not_after=cert.not_after)


def diff_runs(run_a: int, a: list[Stored], run_b: int, b: list[Stored]) -> DiffReport:
    before = {s.key: _row(s) for s in a}
    after = {s.key: _row(s) for s in b}
    out = DiffReport(run_a=run_a, run_b=run_b)  # frozen, but its lists fill in place

    def ref(key: str, row: Row) -> TargetRef:
        return TargetRef(key=key, target=row.name, kind=row.kind)

    out.appeared.extend(ref(k, r) for k, r in sorted(after.items()) if k not in before)
    out.vanished.extend(ref(k, r) for k, r in sorted(before.items()) if k not in after)
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        if old.item.verdict is not new.item.verdict:
            out.verdict_changes.append(
                VerdictChange(key=key, target=new.name, before=old.item.verdict,
                              after=new.item.verdict)
            )  # fmt: skip
        if old.error is None and new.error is None:
            ends_old, ends_new = _endpoints(old), _endpoints(new)
            out.endpoints_appeared.extend(
                EndpointChange(key=key, endpoint=e) for e in sorted(ends_new - ends_old)
            )
            out.endpoints_vanished.extend(
                EndpointChange(key=key, endpoint=e) for e in sorted(ends_old - ends_new)
            )
        _compare_findings(key, old, new, out)
        _compare_certificates(key, old, new, out)
    return out


def _compare_findings(key: str, old: Row, new: Row, out: DiffReport) -> None:
    was, now = _findings(old), _findings(new)
    for ident, finding in sorted(now.items()):
        previous = was.get(ident)
        if finding.status is Status.FAIL and (
            previous is None or previous.status is not Status.FAIL
        ):
            out.new_failures.append(_change(key, ident, previous, finding))
    if new.error is not None:
        return  # not scanned this time: nothing is known to be fixed
    for ident, finding in sorted(was.items()):
        current = now.get(ident)
        if finding.status is Status.FAIL and (current is None or current.status is not Status.FAIL):
            out.fixed.append(_change(key, ident, finding, current))


def _change(
    key: str, ident: tuple[str, str, str], before: Finding | None, after: Finding | None
) -> FindingChange:
    shown = after or before
    assert shown is not None
    return FindingChange(
        key=key,
        endpoint=ident[0],
        check_id=ident[1],
        subject=ident[2],
        title=shown.title,
        before=before.status if before else None,
        after=after.status if after else None,
        observed=shown.observed,
    )


def _compare_certificates(key: str, old: Row, new: Row, out: DiffReport) -> None:
    was, now = _leaves(old), _leaves(new)
    for endpoint in sorted(was.keys() & now.keys()):
        if {c.sha256 for c in was[endpoint]} != {c.sha256 for c in now[endpoint]}:
            out.renewals.append(
                CertificateRenewal(
                    key=key,
                    endpoint=endpoint,
                    before=[_ref(c) for c in was[endpoint]],
                    after=[_ref(c) for c in now[endpoint]],
                )
            )
