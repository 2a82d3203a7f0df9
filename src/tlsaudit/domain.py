"""`tlsaudit domain`: mail authentication, mail transport and DNS of mail domains.

Per domain: the mail scan (SPF, DMARC, DKIM, MX with STARTTLS and its TLS, MTA-STS,
TLS-RPT, DANE, relay, AUTH) and the DNS scan (NS, transport, consistency, AXFR, dangling
CNAMEs, DNSSEC, CAA) gather facts side by side; evaluation is pure. A domain that cannot
be audited becomes an error entry; the other domains are audited as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from tlsaudit.errors import InputError
from tlsaudit.evaluate.dns import evaluate_dns
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.inventory import is_hostname
from tlsaudit.models.dns import DnsFacts
from tlsaudit.models.mail import MailFacts
from tlsaudit.models.report import DomainReport, Report
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.runner import TOOL
from tlsaudit.scan.dns import DnsOptions, scan_dns
from tlsaudit.scan.mail import MailOptions, scan_mail


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
    with ThreadPoolExecutor(max_workers=2) as pool:
        mail = pool.submit(scan_mail, name, mail_options)
        dns = pool.submit(scan_dns, name, dns_options)
        mail_facts, dns_facts = mail.result(), dns.result()
    return judge_domain(domain, mail_facts, dns_facts, profile, now or datetime.now(UTC))


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
