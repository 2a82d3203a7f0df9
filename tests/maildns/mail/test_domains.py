"""Whole-domain audits: the test zones through the validating resolver, the loopback SMTP
and HTTPS servers, then :func:`evaluate_mail` (zone files: tests/maildns/zones/mail)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from maildns.mail.conftest import Audit, by_check, statuses
from tlsaudit.models.findings import Finding, Status, Verdict, verdict_of
from tlsaudit.scan.mail import MailOptions

DKIM_SELECTORS = ("rsa1024", "rsa2048", "ed", "revoked", "testing", "sha1")
SUBMISSION = ("smtp-tls.relay-closed.test", "smtp-clear.relay-closed.test")

# (domain, option overrides, [(check id, status, text in the subject or observed value)])
CASES: list[tuple[str, dict[str, Any], list[tuple[str, str, str]]]] = [
    ("spf-lookups.test", {}, [("mail.spf.lookups", "fail", "11 DNS-querying terms")]),
    ("spf-loop.test", {}, [("mail.spf.loop", "fail", "loop1.spf-loop.test → loop2")]),
    ("spf-two.test", {}, [("mail.spf.multiple", "fail", ""), ("mail.auth_any", "unknown", "")]),
    (
        "spf-two.test",
        {"dkim_selectors": ("s1",)},
        [("mail.auth_any", "fail", "DMARC: yes, SPF: no, DKIM: no")],
    ),
    ("noinclude.spf-two.test", {}, [("mail.spf.include_target", "fail", "no SPF record")]),
    (
        "spf-plusall.test",
        {"dkim_selectors": ("s1",)},
        [("mail.spf.all", "fail", "+all"), ("mail.auth_any", "fail", "SPF: no, DKIM: no")],
    ),
    ("incall.spf-plusall.test", {}, [("mail.spf.all", "fail", "include:open.spf-plusall")]),
    ("spf-void.test", {}, [("mail.spf.void", "fail", "IPv4 client: 3, IPv6 client: 3")]),
    ("v6.spf-void.test", {}, [("mail.spf.void", "warn", "IPv4 client: 0, IPv6 client: 3")]),
    (
        "spf-legacy.test",
        {},
        [
            ("mail.spf.ptr", "warn", ""),
            ("mail.spf.dead_terms", "warn", "ip4:192.0.2.2"),
            ("mail.spf.rrtype99", "info", "v=spf1 ptr -all"),
            ("mail.spf.senderid", "info", "spf2.0/pra"),
        ],
    ),
    (
        "split.spf-legacy.test",
        {},
        [("mail.spf.syntax", "fail", "testip4:"), ("mail.spf.syntax", "warn", '" "ip4:')],
    ),
    (
        "spf-macro.test",
        {},
        [("mail.spf.macro_p", "warn", ""), ("mail.spf.lookups", "pass", "3 DNS-querying")],
    ),
    (
        "dmarc-none.test",
        {},
        [
            ("mail.dmarc.policy", "warn", "effective none"),
            ("mail.dmarc.rua", "warn", "no rua="),
            ("mail.dmarc.subdomain", "pass", ""),
        ],
    ),
    (
        "dmarc-rua.test",
        {},
        [
            ("mail.dmarc.rua_auth", "pass", "_report._dmarc.ok.dmarc-reports.test"),
            ("mail.dmarc.rua_auth", "warn", "_report._dmarc.no.dmarc-reports.test"),
            ("mail.dmarc.policy", "warn", "effective quarantine"),
            ("mail.dmarc.syntax", "info", ""),
        ],
    ),
    (
        "dmarc-multi.test",
        {},
        [
            ("mail.dmarc.present", "fail", "2 records (all discarded)"),
            ("mail.dmarc.location", "fail", "has no effect"),
            ("mail.auth_any", "fail", "DMARC: no"),
        ],
    ),
    ("sub.dmarc-multi.test", {}, [("mail.dmarc.syntax", "fail", "p=block")]),
    (
        "a.b.org-dmarc.test",
        {},
        [("mail.dmarc.present", "pass", "sp=quarantine"), ("mail.dmarc.policy", "pass", "")],
    ),
    (
        "mail.city.x.lgjp-like.test",
        {},
        [
            ("mail.dmarc.orgdomain", "warn", "RFC 9989 tree walk: _dmarc.city.x.lgjp-like.test"),
            ("mail.dmarc.present", "pass", "_dmarc.city.x.lgjp-like.test"),
        ],
    ),
    (
        "dkim-keys.test",
        {"dkim_selectors": DKIM_SELECTORS},
        [
            ("mail.dkim.key", "pass", "rsa2048 (rsa 2048)"),
            ("mail.dkim.key_size", "fail", "rsa1024._domainkey"),
            ("mail.dkim.key_size", "pass", "rsa2048._domainkey"),
            ("mail.dkim.key_size", "pass", "ed._domainkey"),
            ("mail.dkim.hash", "fail", "sha1._domainkey"),
            ("mail.dkim.testing", "warn", "testing._domainkey"),
        ],
    ),
    ("dkim-ed.test", {"dkim_selectors": ("s1",)}, [("mail.dkim.key_size", "warn", "Ed25519")]),
    (
        "null-mx.test",
        {},
        [("mail.mx.targets", "pass", "0 ."), ("mail.nonsending", "pass", "all three")],
    ),
    (
        "nostarttls.test",
        {},
        [
            ("mail.starttls", "warn", "mx.nostarttls.test"),
            ("mail.mx.targets", "fail", "CNAME to mx.nostarttls.test"),
            ("mail.mx.targets", "pass", "MX mx.nostarttls.test"),
        ],
    ),
    (
        "sts-enforce.test",
        {},
        [("mail.mtasts", "pass", "mode enforce"), ("mail.tlsrpt", "pass", "")],
    ),
    (
        "sts-mismatch.test",
        {"tls_scan": True},
        [
            ("mail.mtasts", "fail", "not covered: mx.sts-mismatch.test"),
            ("mail.dane", "info", "no TLSA records"),
            ("cert.hostname", "fail", "mx.sts-mismatch.test:25"),
            ("mail.tlsrpt", "warn", "no TLS-RPT record"),
        ],
    ),
    ("dane-good.test", {}, [("mail.dane", "pass", "matched 3 1 1")]),
    ("dane-bad.test", {}, [("mail.dane", "fail", "no record matches")]),
    ("dane-unsigned.test", {}, [("mail.dane", "warn", "3 1 1")]),
    ("relay-open.test", {"relay_test": True}, [("mail.relay", "fail", "250")]),
    ("relay-closed.test", {"relay_test": True}, [("mail.relay", "pass", "554")]),
    ("relay-closed.test", {}, [("mail.relay", "info", "not tested")]),
    (
        "starttls-injection.test",
        {"starttls_injection_test": True},
        [
            ("mail.starttls.injection", "fail", "the injected RSET was answered inside TLS"),
            ("mail.starttls", "pass", "127.0.0.20"),
        ],
    ),
    (
        "mail-good.test",
        {"starttls_injection_test": True},
        [("mail.starttls.injection", "pass", "the injected RSET was not answered inside TLS")],
    ),
    ("mail-good.test", {}, [("mail.starttls.injection", "info", "not tested")]),
    ("mail-good.test", {}, [("mail.bimi", "info", "l=https://mail-good.test/bimi/logo.svg")]),
    ("sub.mail-good.test", {}, [("mail.bimi", "info", "default._bimi.mail-good.test v=BIMI1")]),
    ("bimi-bad.test", {}, [("mail.bimi", "warn", "l=https://bimi-bad.test/logo.svg; a=")]),
    ("syntax.bimi-bad.test", {}, [("mail.bimi", "warn", "l=http://bimi-bad.test/logo.png")]),
    ("two.bimi-bad.test", {}, [("mail.bimi", "warn", ".svg | v=BIMI1; l=https://bimi-bad")]),
    (
        "case.bimi-bad.test",
        {},
        [
            ("mail.bimi", "warn", "default._bimi.case.bimi-bad.test v=bimi1"),
            ("mail.bimi", "warn", "default._bimi.bimi-bad.test v=BIMI1"),
        ],
    ),
    ("declined.bimi-bad.test", {}, [("mail.bimi", "info", "l=; a=;")]),
    (
        "relay-closed.test",
        {"submission_hosts": SUBMISSION, "submission_ports": (587, 465)},
        [
            ("mail.auth.submission", "pass", "smtp-tls.relay-closed.test:587"),
            ("mail.auth.submission", "fail", "smtp-clear.relay-closed.test:587"),
        ],
    ),
]


def _matches(finding: Finding, status: str, text: str) -> bool:
    return finding.status.value == status and text in f"{finding.subject} {finding.observed}"


@pytest.mark.parametrize(
    ("domain", "overrides", "expected"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_domain(
    audit: Audit, domain: str, overrides: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    _, findings = audit(domain, **overrides)
    for check_id, status, text in expected:
        found = by_check(findings, check_id)
        assert any(_matches(f, status, text) for f in found), (
            check_id,
            status,
            text,
            [(f.status.value, f.subject, f.observed) for f in found],
        )


def test_good_domain_passes_everything(audit: Audit) -> None:
    facts, findings = audit("mail-good.test", dkim_selectors=("s1",), tls_scan=True)
    assert verdict_of(findings) is Verdict.PASS
    assert not [f for f in findings if f.status in (Status.WARN, Status.UNKNOWN)]
    address = facts.mx[0].addresses[0]
    assert address.tls is not None
    assert statuses(findings, "cert.hostname") == ["pass"]
    assert statuses(findings, "mail.starttls.tls") == ["pass"]
    for check_id in ("mail.spf.lookups", "mail.dmarc.policy", "mail.dkim.key_size"):
        assert statuses(findings, check_id) == ["pass"]


def test_bimi_findings_say_why(audit: Audit) -> None:
    _, findings = audit("bimi-bad.test")
    [finding] = by_check(findings, "mail.bimi")
    assert finding.reason == "DMARC not at enforcement: effective policy none"
    _, findings = audit("sub.mail-good.test")
    [finding] = by_check(findings, "mail.bimi")
    assert finding.reason is not None
    assert "no record at default._bimi.sub.mail-good.test" in finding.reason


def test_injection_probe_only_where_starttls_is_offered(audit: Audit) -> None:
    facts, findings = audit("nostarttls.test", starttls_injection_test=True)
    assert facts.injection_tested
    [address] = facts.mx[0].addresses
    assert address.injection is not None
    assert address.injection.error is not None
    assert "STARTTLS not offered" in address.injection.error.detail
    assert by_check(findings, "mail.starttls.injection") == []  # mail.starttls warns instead


def test_mta_sts_policy_fetch_needs_a_trusted_certificate(
    audit: Audit, mail_options: MailOptions
) -> None:
    _, findings = audit("sts-enforce.test", scan=replace(mail_options.scan, ca_file=None))
    [finding] = by_check(findings, "mail.mtasts")
    assert finding.status is Status.WARN
    assert "certificate not valid" in finding.observed


def test_every_question_is_recorded_once(audit: Audit) -> None:
    facts, _ = audit("mail-good.test", dkim_selectors=("s1",), tls_scan=True)
    asked = [(a.name.lower(), a.rdtype) for a in facts.dns]
    assert len(asked) == len(set(asked))
    assert ("s1._domainkey.mail-good.test.", "TXT") in asked
    assert ("_25._tcp.mx.mail-good.test.", "TLSA") in asked


def test_mx_results_are_cached_within_a_run(audit: Audit) -> None:
    first, _ = audit("sts-enforce.test")
    second, _ = audit("mail-good.test")
    assert first.mx[0].addresses[0].ip == second.mx[0].addresses[0].ip == "127.0.0.27"
    assert first.mx[0].addresses[0].smtp == second.mx[0].addresses[0].smtp
