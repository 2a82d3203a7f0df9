"""Evaluation without the network: stored facts re-judged, the opportunistic-SMTP rule,
profile overrides, and lookups that failed (never pass or fail, always unknown)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildns.mail.conftest import NOW, Audit, by_check, statuses
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.models.findings import Level, Status
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile, load_checks, load_profile

MAIL_CHECKS = {
    "mail.spf.present", "mail.spf.multiple", "mail.spf.syntax", "mail.spf.lookups",
    "mail.spf.void", "mail.spf.mx_limit", "mail.spf.loop", "mail.spf.include_target",
    "mail.spf.all", "mail.spf.ptr", "mail.spf.macro_p", "mail.spf.dead_terms", "mail.spf.size",
    "mail.spf.rrtype99", "mail.spf.senderid", "mail.dmarc.present", "mail.dmarc.location",
    "mail.dmarc.syntax", "mail.dmarc.policy", "mail.dmarc.subdomain", "mail.dmarc.rua",
    "mail.dmarc.rua_auth", "mail.dmarc.orgdomain", "mail.dmarc.receiving", "mail.dkim.key",
    "mail.dkim.key_size", "mail.dkim.hash", "mail.dkim.testing", "mail.auth_any",
    "mail.nonsending", "mail.mx.targets", "mail.starttls", "mail.starttls.tls", "mail.mtasts",
    "mail.tlsrpt", "mail.dane", "mail.relay", "mail.auth.submission",
    "mail.starttls.injection", "mail.bimi",
}  # fmt: skip
"""The mail-dns.md §8 ids: every one is implemented."""


def test_catalogue_and_rules_cover_the_contract(mail_profile: Profile) -> None:
    catalogue = {c for c in load_checks() if c.startswith("mail.")}
    assert catalogue == MAIL_CHECKS
    assert {r for r in mail_profile.rules if r.startswith("mail.")} == MAIL_CHECKS
    for check_id in MAIL_CHECKS:
        check = mail_profile.checks[check_id]
        assert check.title.en
        assert check.title.ja
        assert check.citations


def test_facts_round_trip_through_json(audit: Audit, mail_profile: Profile) -> None:
    facts, findings = audit("sts-mismatch.test", tls_scan=True)
    loaded = MailFacts.model_validate_json(facts.model_dump_json())
    assert loaded == facts
    assert evaluate_mail(loaded, mail_profile, NOW) == findings


def _without(facts: MailFacts, name: str) -> MailFacts:
    kept = [a for a in facts.dns if a.name.lower() != name]
    return facts.model_copy(update={"dns": kept})


def test_untrusted_mx_certificate_is_a_warning_without_mta_sts(
    audit: Audit, mail_profile: Profile
) -> None:
    facts, findings = audit("sts-mismatch.test", tls_scan=True)
    assert statuses(findings, "cert.hostname") == ["fail"]
    relaxed = evaluate_mail(_without(facts, "_mta-sts.sts-mismatch.test."), mail_profile, NOW)
    [hostname] = by_check(relaxed, "cert.hostname")
    assert hostname.status is Status.WARN
    assert hostname.reason is not None
    assert "opportunistic" in hostname.reason
    assert statuses(relaxed, "mail.mtasts") == ["unknown"]  # the record was never asked


def _strict(tmp_path: Path) -> Profile:
    path = tmp_path / "strict.toml"
    path.write_text(
        'id = "strict-mail"\nname = "strict"\nversion = "1"\n'
        'extends = "cryptrec-high"\n'
        '[rules."mail.dmarc.policy".classes]\nnone = { level = "mandatory" }\n'
        '[rules."mail.starttls"]\nlevel = "mandatory"\n'
    )
    return load_profile(path)


def test_a_profile_may_make_dmarc_none_and_starttls_mandatory(audit: Audit, tmp_path: Path) -> None:
    strict = _strict(tmp_path)
    facts, _ = audit("dmarc-none.test")
    assert statuses(evaluate_mail(facts, strict, NOW), "mail.dmarc.policy") == ["fail"]
    facts, _ = audit("nostarttls.test")
    assert set(statuses(evaluate_mail(facts, strict, NOW), "mail.starttls")) == {"fail"}


def test_checks_without_a_rule_are_skipped(audit: Audit, mail_profile: Profile) -> None:
    rules = {k: v for k, v in mail_profile.rules.items() if not k.startswith("mail.spf.")}
    facts, _ = audit("spf-lookups.test")
    findings = evaluate_mail(facts, mail_profile.model_copy(update={"rules": rules}), NOW)
    assert not [f for f in findings if f.check_id.startswith("mail.spf.")]
    assert statuses(findings, "mail.auth_any") == ["pass"]


def _facts(*answers: DnsAnswer, given: tuple[str, ...] = ()) -> MailFacts:
    return MailFacts(
        domain="example.go.jp",
        scanned_at=NOW,
        selectors=["s1"],
        given_selectors=list(given),
        dns=list(answers),
    )


def _answer(
    name: str, rdtype: str, status: DnsStatus, records: list[str] | None = None
) -> DnsAnswer:
    return DnsAnswer(name=name, rdtype=rdtype, status=status, records=records or [])


@pytest.mark.parametrize("given", [(), ("s1",)], ids=["guessed", "given"])
@pytest.mark.parametrize(
    "status", [DnsStatus.TIMEOUT, DnsStatus.SERVFAIL, DnsStatus.REFUSED, DnsStatus.NETWORK_ERROR]
)
def test_failed_lookups_are_unknown(
    mail_profile: Profile, status: DnsStatus, given: tuple[str, ...]
) -> None:
    facts = _facts(
        *(
            _answer(name, rdtype, status)
            for name, rdtype in [
                ("example.go.jp.", "TXT"),
                ("_dmarc.example.go.jp.", "TXT"),
                ("s1._domainkey.example.go.jp.", "TXT"),
                ("example.go.jp.", "MX"),
                ("_mta-sts.example.go.jp.", "TXT"),
                ("_smtp._tls.example.go.jp.", "TXT"),
            ]
        ),
        given=given,
    )
    findings = evaluate_mail(facts, mail_profile, NOW)
    for check_id in (
        "mail.spf.present",
        "mail.dmarc.present",
        "mail.dkim.key",
        "mail.auth_any",
        "mail.mx.targets",
        "mail.mtasts",
        "mail.tlsrpt",
    ):
        assert statuses(findings, check_id) == ["unknown"], check_id
    assert not [f for f in findings if f.status in (Status.PASS, Status.FAIL)]
    assert all(f.reason for f in findings if f.status is Status.UNKNOWN)


@pytest.mark.parametrize(
    ("given", "dkim"), [((), "unknown"), (("s1",), "warn")], ids=["guessed", "given"]
)
@pytest.mark.parametrize("status", [DnsStatus.NXDOMAIN, DnsStatus.NODATA])
def test_absent_records_are_judged(
    mail_profile: Profile, status: DnsStatus, given: tuple[str, ...], dkim: str
) -> None:
    facts = _facts(
        _answer("example.go.jp.", "TXT", status),
        _answer("example.go.jp.", "SPF", status),
        _answer("_dmarc.example.go.jp.", "TXT", status),
        _answer("_dmarc.go.jp.", "TXT", DnsStatus.NXDOMAIN),
        _answer("_dmarc.jp.", "TXT", DnsStatus.NXDOMAIN),
        _answer("s1._domainkey.example.go.jp.", "TXT", status),
        _answer("example.go.jp.", "MX", status),
        _answer("_mta-sts.example.go.jp.", "TXT", status),
        _answer("_smtp._tls.example.go.jp.", "TXT", status),
        given=given,
    )
    findings = evaluate_mail(facts, mail_profile, NOW)
    assert statuses(findings, "mail.spf.present") == ["warn"]
    assert statuses(findings, "mail.dmarc.present") == ["fail"]
    assert statuses(findings, "mail.dkim.key") == [dkim]  # a guessed s1 proves nothing
    assert statuses(findings, "mail.auth_any") == ["fail"]  # no DMARC: fails either way
    assert statuses(findings, "mail.mx.targets") == ["info"]
    assert statuses(findings, "mail.mtasts") == ["info"]
    [present] = by_check(findings, "mail.dmarc.present")
    assert present.level is Level.MANDATORY


def test_mta_sts_enforce_needs_starttls_on_every_mx(audit: Audit, mail_profile: Profile) -> None:
    sts, _ = audit("sts-enforce.test")
    plain, _ = audit("nostarttls.test")
    [host] = sts.mx
    address = host.addresses[0].model_copy(update={"smtp": plain.mx[0].addresses[0].smtp})
    facts = sts.model_copy(update={"mx": [host.model_copy(update={"addresses": [address]})]})
    [finding] = by_check(evaluate_mail(facts, mail_profile, NOW), "mail.mtasts")
    assert finding.status is Status.FAIL
    assert "mx.sts-enforce.test (127.0.0.27): no STARTTLS" in finding.observed
