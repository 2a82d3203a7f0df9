"""Mail fixtures: the loopback SMTP/HTTPS servers (once per session), mail options that
use only the DNS harness, a profile with the mail rules, and a cached per-domain audit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from maildns.conftest import DnsEnv
from servers.pki import CA_CERT
from servers.smtp import MailServers
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.scan.mail import MailOptions, MxCache, scan_mail
from tlsaudit.scan.options import ScanOptions

NOW = datetime(2026, 11, 23, tzinfo=UTC)
"""The one evaluation time of the mail tests; the loopback servers' certificates are issued
relative to it (:class:`MailServers`), so no verdict depends on the day the suite runs."""

Audit = Callable[..., tuple[MailFacts, list[Finding]]]


@pytest.fixture(scope="session")
def mail_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServers]:
    with MailServers(tmp_path_factory.mktemp("mail"), now=NOW) as servers:
        yield servers


@pytest.fixture(scope="session")
def mail_profile() -> Profile:
    """The default profile (it includes the mail rule set)."""
    return load_profile("cryptrec-high")


def harness_options(dns_env: DnsEnv) -> MailOptions:
    """Only the harness resolver and the loopback servers; no TLS scan, no common selectors
    (also used by tests/evaluate/mail/record_facts.py)."""
    return MailOptions(
        scan=ScanOptions(ca_file=CA_CERT, timeout=2.0, resolver=dns_env.resolver),
        common_selectors=False,
        submission_ports=(),
        helo="probe.tlsaudit.test",
        greeting_timeout=5.0,
        tls_scan=False,
        relay_recipient="relay-test@dmarc-reports.test",
    )


@pytest.fixture(scope="session")
def mail_options(dns_env: DnsEnv, mail_servers: MailServers) -> MailOptions:
    return harness_options(dns_env)


@pytest.fixture(scope="session")
def audit(mail_options: MailOptions, mail_profile: Profile) -> Audit:
    """``audit(domain, **option overrides)`` -> (facts, findings), scanned once per session."""
    done: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[MailFacts, list[Finding]]] = {}
    cache = MxCache()

    def run(domain: str, **overrides: Any) -> tuple[MailFacts, list[Finding]]:
        key = (domain, tuple(sorted(overrides.items())))
        if key not in done:
            options = MailOptions(**{**vars(mail_options), **overrides})
            facts = scan_mail(domain, options, cache=cache if not overrides else MxCache())
            done[key] = (facts, evaluate_mail(facts, mail_profile, NOW))
        return done[key]

    return run


def by_check(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.check_id == check_id]


def statuses(findings: list[Finding], check_id: str) -> list[str]:
    return [f.status.value for f in by_check(findings, check_id)]
