"""The one orchestration of every audit: targets in, scanning, pure evaluation, a report.

``tlsaudit scan`` (:func:`audit`: per target, resolve, scan with sslyze and tlsaudit's own
probes, evaluate), ``tlsaudit domain`` (:func:`audit_domains`: per mail domain, the mail
and DNS scans side by side, then their evaluation) and the asset runs all come through
here. A failure of one target or domain becomes an error entry; the rest go on. The
``judge_*`` functions re-judge stored facts without the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tlsaudit.errors import InputError
from tlsaudit.evaluate import evaluate_consistency, evaluate_tls
from tlsaudit.evaluate.dns import evaluate_dns
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.evaluate.tls import unneeded_probes
from tlsaudit.inventory import Target, is_hostname, parse_target, resolve
from tlsaudit.models.dns import DnsFacts
from tlsaudit.models.facts import Endpoint, TlsFacts
from tlsaudit.models.findings import Verdict, verdict_of
from tlsaudit.models.mail import MailFacts
from tlsaudit.models.report import DomainReport, EndpointReport, Report, TargetReport
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.scan.dns import DnsOptions, scan_dns
from tlsaudit.scan.mail import MailOptions, scan_mail
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.pool import DaemonPool
from tlsaudit.scan.tls import scan_endpoints
from tlsaudit.version import TOOL

# ---------------------------------------------------------------- TLS endpoints (scan)


def audit(
    targets: Sequence[str | Target],
    profile: Profile | str = "cryptrec-high",
    *,
    options: ScanOptions | None = None,
    now: datetime | None = None,
    on_endpoint_done: Callable[[TlsFacts], None] | None = None,
    parse: Callable[[str], Target] = parse_target,
) -> Report:
    """Scan every target and judge it against the profile.

    Strings are parsed with ``parse`` (as on the command line); a target that cannot be
    parsed or resolved becomes an error entry of the report instead of an exception.

    Raises:
        ScanInterrupted: KeyboardInterrupt arrived; it carries the report so far.
    """
    profile = load_profile(profile) if isinstance(profile, str) else profile
    options = for_profile(options or ScanOptions(), profile)
    started = datetime.now(UTC)
    planned: list[tuple[str, list[Endpoint] | str]] = []
    for item in targets:
        raw = item if isinstance(item, str) else item.raw
        try:
            target = parse(item) if isinstance(item, str) else item
            planned.append((raw, resolve(target)))
        except InputError as exc:
            planned.append((raw, str(exc)))
    endpoints = [e for _, plan in planned if isinstance(plan, list) for e in plan]
    done: dict[Endpoint, list[TlsFacts]] = {}

    def finished(facts: TlsFacts) -> None:
        done.setdefault(facts.endpoint, []).append(facts)
        if on_endpoint_done is not None:
            on_endpoint_done(facts)

    try:
        scan_endpoints(endpoints, options, finished)
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
    moment = now or datetime.now(UTC)
    reports = []
    for raw, plan in planned:
        if isinstance(plan, str):
            reports.append(TargetReport.failed(raw, plan))
        elif all(done.get(e) for e in plan):
            reports.append(judge_target(raw, [done[e].pop(0) for e in plan], profile, moment))
        else:
            reports.append(TargetReport.failed(raw, NOT_FINISHED))
    report = Report.assemble(TOOL, profile.ref, started, targets=reports)
    if interrupted:
        raise ScanInterrupted(report)
    return report


NOT_FINISHED = "not scanned: interrupted (Ctrl-C) before this target finished"


class ScanInterrupted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Ctrl-C during :func:`audit`: ``report`` holds every target that finished, and the
    others as errors (:data:`NOT_FINISHED`)."""

    def __init__(self, report: Report) -> None:
        super().__init__("scan interrupted")
        self.report = report


def for_profile(options: ScanOptions, profile: Profile) -> ScanOptions:
    """Compliance mode leaves out the probes whose facts the profile does not read."""
    return options if options.full else replace(options, skip=unneeded_probes(profile))


def judge_target(raw: str, facts: list[TlsFacts], profile: Profile, now: datetime) -> TargetReport:
    """Evaluate stored or fresh facts of one target (pure: no network)."""
    endpoint_reports = [judge_endpoint(f, profile, now) for f in facts]
    reachable = [f for f in facts if f.connectivity is None]
    across = evaluate_consistency(reachable, profile, now)
    return TargetReport.build(raw, endpoint_reports, across)


def judge_endpoint(facts: TlsFacts, profile: Profile, now: datetime) -> EndpointReport:
    if facts.connectivity is not None:
        return EndpointReport(
            endpoint=facts.endpoint, verdict=Verdict.ERROR, facts=facts, findings=[]
        )
    findings = evaluate_tls(facts, profile, now)
    return EndpointReport(
        endpoint=facts.endpoint, verdict=verdict_of(findings), facts=facts, findings=findings
    )


def exit_code(report: Report) -> int:
    """0 all compliant, 1 some target non-compliant, 3 some target not scanned or judged."""
    verdicts = set(report.verdicts)
    if Verdict.FAIL in verdicts:
        return 1
    if verdicts & {Verdict.ERROR, Verdict.UNKNOWN}:
        return 3
    return 0


# ---------------------------------------------------------------- mail domains (domain)


def audit_domains(
    domains: Sequence[str],
    profile: Profile | str = "cryptrec-high",
    *,
    mail_options: MailOptions | None = None,
    dns_options: DnsOptions | None = None,
    now: datetime | None = None,
) -> Report:
    profile = load_profile(profile) if isinstance(profile, str) else profile
    mail_options = mail_options or MailOptions()
    dns_options = dns_options or DnsOptions()
    started = datetime.now(UTC)
    reports = [audit_domain(domain, profile, mail_options, dns_options, now) for domain in domains]
    return Report.assemble(TOOL, profile.ref, started, domains=reports)


def audit_domain(
    domain: str,
    profile: Profile,
    mail_options: MailOptions,
    dns_options: DnsOptions,
    now: datetime | None = None,
) -> DomainReport:
    try:
        name = normalise_domain(domain)
    except InputError as exc:
        return DomainReport.failed(domain, str(exc))
    mail_options = replace(mail_options, scan=for_profile(mail_options.scan, profile))
    deadline = domain_deadline(mail_options.scan.timeout)
    with DaemonPool(2, name="tlsaudit-domain") as pool:  # a part past the deadline is abandoned
        mail = pool.submit(scan_mail, name, mail_options)
        dns = pool.submit(scan_dns, name, dns_options)
    parts: list[Future[Any]] = [mail, dns]
    _, late = wait(parts, timeout=deadline)
    if late:
        what = " and ".join(part for part, f in (("mail", mail), ("DNS", dns)) if f in late)
        return DomainReport.failed(
            domain,
            f"timeout: the {what} scan did not finish within {deadline:g} s (the domain"
            f" deadline: {DOMAIN_DEADLINE_FACTOR} × --timeout, at most {DOMAIN_DEADLINE_CAP:g} s)",
        )
    return judge_domain(domain, mail.result(), dns.result(), profile, now or datetime.now(UTC))


DOMAIN_DEADLINE_FACTOR = 120
"""A domain's audit (mail and DNS side by side) must end within this many times
``--timeout`` ..."""
DOMAIN_DEADLINE_CAP = 900.0
"""... and within this many seconds whatever the timeout."""


def domain_deadline(timeout: float) -> float:
    """Seconds one domain may take in all: ``min(120 × timeout, 900)`` (600 s at 5 s)."""
    return min(DOMAIN_DEADLINE_CAP, DOMAIN_DEADLINE_FACTOR * timeout)


def judge_domain(
    domain: str, mail: MailFacts, dns: DnsFacts, profile: Profile, now: datetime
) -> DomainReport:
    """Judge stored or fresh facts of one domain (pure: no network)."""
    findings = evaluate_mail(mail, profile, now) + evaluate_dns(dns, profile, now)
    return DomainReport.build(domain, mail, dns, findings)


def normalise_domain(domain: str) -> str:
    name = domain.strip().rstrip(".").lower()
    if "://" in name or "/" in name or ":" in name or not is_hostname(name) or "." not in name:
        raise InputError(f"{domain!r}: not a domain name")
    return name
