"""The mail verdicts do not depend on the calendar: the loopback servers' certificates are
issued relative to the pinned :data:`NOW`, and the same facts judged a year later read the
same; judged after the certificate's end, the expiry finding does turn."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from maildns.mail.conftest import NOW, Audit, by_check
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.evaluate.tls import evaluate_tls
from tlsaudit.models.facts import CertificateFacts, TlsFacts
from tlsaudit.models.findings import Finding, Status, Verdict, verdict_of
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile, load_profile

LATER = NOW + timedelta(days=365)
WARN_DAYS = 30  # cert.expiry warn_days of the cryptrec profiles

# Domains whose judgement reads certificates: the MX TLS scan (cert.expiry and the other
# certificate checks) under no policy, MTA-STS enforce, an MTA-STS mismatch and DANE.
DATED: list[tuple[str, dict[str, Any]]] = [
    ("mail-good.test", {"dkim_selectors": ("s1",), "tls_scan": True}),
    ("sts-enforce.test", {"tls_scan": True}),
    ("sts-mismatch.test", {"tls_scan": True}),
    ("dane-good.test", {"tls_scan": True}),
    ("dane-bad.test", {}),
]


def _leaf(facts: MailFacts) -> tuple[TlsFacts, CertificateFacts]:
    tls = facts.mx[0].addresses[0].tls
    assert tls is not None
    info = tls.certificates.value
    assert info is not None
    return tls, info.deployments[0].received_chain[0]


def _outcome(findings: list[Finding]) -> list[tuple[str, Status, str]]:
    return [(f.check_id, f.status, f.subject) for f in findings]


@pytest.mark.parametrize(("domain", "overrides"), DATED, ids=[d for d, _ in DATED])
def test_verdicts_are_the_same_a_year_later(
    audit: Audit, mail_profile: Profile, domain: str, overrides: dict[str, Any]
) -> None:
    facts, at_now = audit(domain, **overrides)
    later = evaluate_mail(facts, mail_profile, LATER)
    assert _outcome(later) == _outcome(at_now)
    assert verdict_of(later) is verdict_of(at_now)
    if overrides.get("tls_scan"):
        _, leaf = _leaf(facts)
        assert leaf.not_after - LATER > timedelta(days=WARN_DAYS)
        expiry = by_check(later, "cert.expiry")
        assert expiry
        assert {f.status for f in expiry} == {Status.PASS}


def test_good_domain_passes_at_both_dates(audit: Audit, mail_profile: Profile) -> None:
    facts, findings = audit("mail-good.test", dkim_selectors=("s1",), tls_scan=True)
    for judged in (findings, evaluate_mail(facts, mail_profile, LATER)):
        assert verdict_of(judged) is Verdict.PASS
        assert not [f for f in judged if f.status in (Status.WARN, Status.UNKNOWN)]
        assert {f.status for f in by_check(judged, "mail.starttls.tls")} == {Status.PASS}


def test_mx_certificate_is_issued_from_the_pinned_now(audit: Audit) -> None:
    facts, _ = audit("mail-good.test", dkim_selectors=("s1",), tls_scan=True)
    _, leaf = _leaf(facts)
    assert "mx.mail-good.test" in leaf.san_dns
    assert leaf.not_before == NOW - timedelta(days=1)


def _strict(tmp_path: Path) -> Profile:
    """MX TLS failures not capped at the mail.starttls.tls level."""
    path = tmp_path / "strict-mx.toml"
    path.write_text(
        'id = "strict-mx"\nname = "MX TLS mandatory"\nversion = "1"\n'
        'extends = "cryptrec-high"\n[rules."mail.starttls.tls"]\nlevel = "mandatory"\n'
    )
    return load_profile(path)


def test_an_expired_certificate_is_caught(
    audit: Audit, mail_profile: Profile, tmp_path: Path
) -> None:
    facts, _ = audit("mail-good.test", dkim_selectors=("s1",), tls_scan=True)
    tls, leaf = _leaf(facts)
    expired = leaf.not_after + timedelta(days=1)
    raw = by_check(evaluate_tls(tls, mail_profile, expired), "cert.expiry")[0]  # the leaf's
    assert raw.status is Status.FAIL
    assert raw.observed.startswith("expired ")
    # In the mail report port-25 TLS failures are capped at the mail.starttls.tls level
    # (warn): the good domain is no longer clean ...
    findings = evaluate_mail(facts, mail_profile, expired)
    [mail] = [f for f in by_check(findings, "cert.expiry") if f.subject.endswith(raw.subject)]
    assert (mail.status, mail.observed) == (Status.WARN, raw.observed)
    [starttls] = by_check(findings, "mail.starttls.tls")
    assert starttls.status is Status.WARN
    assert "cert.expiry" in starttls.observed
    # ... and where MX TLS is mandatory the expiry fails the domain.
    strict = evaluate_mail(facts, _strict(tmp_path), expired)
    [mail] = [f for f in by_check(strict, "cert.expiry") if f.subject.endswith(raw.subject)]
    assert mail.status is Status.FAIL
    assert verdict_of(strict) is Verdict.FAIL
