"""DKIM selectors the user gave versus guessed ones, through the DNS harness (zone files:
tests/maildns/zones/mail): DNS cannot list selectors, so no key at the common selectors is
unknown, while no key at a selector the user named is a finding at the rule's level; and
``mail.auth_any`` never reads an undetermined DKIM leg as "no"."""

from __future__ import annotations

from pathlib import Path

from maildns.mail.conftest import NOW, Audit, by_check, statuses
from tlsaudit.evaluate.mail import evaluate_mail
from tlsaudit.evaluate.mail_auth import DKIM_HINT
from tlsaudit.models.dns import DnsAnswer, DnsStatus
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile, load_profile
from tlsaudit.records.dkim import COMMON_SELECTORS

GUESSED = {"common_selectors": True}


def _one(findings: list[Finding], check_id: str) -> Finding:
    [finding] = by_check(findings, check_id)
    return finding


def test_no_key_at_guessed_selectors_is_unknown(audit: Audit) -> None:
    facts, findings = audit("dkim-keys.test", **GUESSED)  # its keys are at uncommon selectors
    assert facts.selectors == list(COMMON_SELECTORS)
    assert facts.given_selectors == []
    finding = _one(findings, "mail.dkim.key")
    assert finding.status is Status.UNKNOWN
    assert finding.observed == "could not determine"
    assert finding.reason is not None
    tried = ", ".join(COMMON_SELECTORS)  # every selector, in the order probed
    assert f"no key at the {len(COMMON_SELECTORS)} guessed selector(s) tried: {tried}" in (
        finding.reason
    )
    assert DKIM_HINT in finding.reason
    assert "absence at guessed selectors proves nothing" in DKIM_HINT
    assert "--dkim-selector" in DKIM_HINT
    # SPF passes and DMARC is there: the sending-side rule holds without the DKIM leg.
    assert statuses(findings, "mail.auth_any") == ["pass"]


def test_no_key_at_a_given_selector_is_a_violation(audit: Audit) -> None:
    facts, findings = audit("dkim-keys.test", dkim_selectors=("s1",))
    assert facts.given_selectors == ["s1"]
    finding = _one(findings, "mail.dkim.key")
    assert finding.status is Status.WARN
    assert finding.level is Level.RECOMMENDED  # rules/mail-auth.toml
    assert finding.observed == "no key at the given selector(s): s1"
    assert finding.reason is None


def test_the_level_of_a_missing_given_key_comes_from_the_profile(
    audit: Audit, tmp_path: Path
) -> None:
    path = tmp_path / "dkim-mandatory.toml"
    path.write_text(
        'id = "dkim-mandatory"\nname = "DKIM key required"\nversion = "1"\n'
        'extends = "cryptrec-high"\n[rules."mail.dkim.key"]\nlevel = "mandatory"\n'
    )
    strict = load_profile(path)
    facts, _ = audit("dkim-keys.test", dkim_selectors=("s1",))
    finding = _one(evaluate_mail(facts, strict, NOW), "mail.dkim.key")
    assert (finding.status, finding.level) == (Status.FAIL, Level.MANDATORY)
    facts, _ = audit("dkim-keys.test", **GUESSED)
    assert statuses(evaluate_mail(facts, strict, NOW), "mail.dkim.key") == ["unknown"]


def test_given_and_guessed_selectors_are_judged_on_the_given_ones(audit: Audit) -> None:
    _, findings = audit("dkim-keys.test", dkim_selectors=("s1", "s2"), **GUESSED)
    finding = _one(findings, "mail.dkim.key")
    assert finding.status is Status.WARN
    assert finding.observed == "no key at the given selector(s): s1, s2"
    guessed = [s for s in COMMON_SELECTORS if s not in ("s1", "s2")]
    assert finding.reason == f"guessed selectors also tried: {', '.join(guessed)}"


def test_a_key_at_a_given_selector_passes(audit: Audit) -> None:
    facts, findings = audit("mail-good.test", dkim_selectors=("s1",))
    assert facts.given_selectors == ["s1"]
    finding = _one(findings, "mail.dkim.key")
    assert finding.status is Status.PASS
    assert finding.observed == "s1 (rsa 2048)"
    assert statuses(findings, "mail.auth_any") == ["pass"]


def test_a_key_found_elsewhere_does_not_hide_a_given_selector_without_one(
    audit: Audit,
) -> None:
    _, findings = audit("mail-good.test", dkim_selectors=("s9",), **GUESSED)
    found = {(f.status, f.observed) for f in by_check(findings, "mail.dkim.key")}
    assert found == {
        (Status.PASS, "s1 (rsa 2048)"),  # guessed, and there
        (Status.WARN, "no key at the given selector(s): s9"),
    }
    assert statuses(findings, "mail.auth_any") == ["pass"]


def test_auth_any_with_dkim_unknown(audit: Audit) -> None:
    # SPF broken (two records), DMARC present, DKIM unknown: undetermined, with the reason.
    _, findings = audit("spf-two.test")
    finding = _one(findings, "mail.auth_any")
    assert finding.status is Status.UNKNOWN
    assert finding.reason == f"DKIM: no key at the 0 guessed selector(s); {DKIM_HINT}"
    _, findings = audit("spf-two.test", **GUESSED)
    finding = _one(findings, "mail.auth_any")
    assert finding.status is Status.UNKNOWN
    assert finding.reason is not None
    assert f"no key at the {len(COMMON_SELECTORS)} guessed selector(s)" in finding.reason
    # The same domain with its selector given: DKIM is a definite no, and so is the rule.
    _, findings = audit("spf-two.test", dkim_selectors=("s1",))
    assert _one(findings, "mail.auth_any").status is Status.FAIL
    # SPF passes, DMARC present, DKIM unknown: passes on SPF.
    _, findings = audit("mail-good.test")
    assert statuses(findings, "mail.dkim.key") == ["unknown"]
    assert _one(findings, "mail.auth_any").observed == "DMARC + SPF"
    # No DMARC (two records, both discarded): a violation whatever DKIM shows.
    _, findings = audit("dmarc-multi.test")
    assert statuses(findings, "mail.dkim.key") == ["unknown"]
    finding = _one(findings, "mail.auth_any")
    assert finding.status is Status.FAIL
    assert finding.observed == "DMARC: no, SPF: yes, DKIM: could not determine"
    assert finding.reason == "DMARC is required whatever SPF and DKIM show"


def _stored(given: list[str], dkim_status: DnsStatus) -> MailFacts:
    """A domain with SPF and DMARC; s1 (given or not) has no key, the guessed
    ``default`` answered ``dkim_status``."""
    answers = [
        DnsAnswer(
            name="example.go.jp.",
            rdtype="TXT",
            status=DnsStatus.ANSWER,
            records=['"v=spf1 ip4:192.0.2.1 -all"'],
        ),
        DnsAnswer(
            name="_dmarc.example.go.jp.",
            rdtype="TXT",
            status=DnsStatus.ANSWER,
            records=['"v=DMARC1; p=reject"'],
        ),
        DnsAnswer(name="s1._domainkey.example.go.jp.", rdtype="TXT", status=DnsStatus.NXDOMAIN),
        DnsAnswer(name="default._domainkey.example.go.jp.", rdtype="TXT", status=dkim_status),
    ]
    return MailFacts(
        domain="example.go.jp",
        scanned_at=NOW,
        selectors=["s1", "default"],
        given_selectors=given,
        dns=answers,
    )


def test_a_failed_lookup_is_unknown_unless_the_given_selectors_answered(
    mail_profile: Profile,
) -> None:
    guessed = evaluate_mail(_stored([], DnsStatus.TIMEOUT), mail_profile, NOW)
    finding = _one(guessed, "mail.dkim.key")
    assert finding.status is Status.UNKNOWN
    assert finding.reason is not None
    assert finding.reason.startswith("DKIM lookup failed: default: ")
    assert _one(guessed, "mail.auth_any").status is Status.PASS  # SPF + DMARC
    given = evaluate_mail(_stored(["s1"], DnsStatus.TIMEOUT), mail_profile, NOW)
    finding = _one(given, "mail.dkim.key")
    assert finding.status is Status.WARN
    assert finding.observed == "no key at the given selector(s): s1"
    assert finding.reason is not None
    assert "guessed selectors also tried: default" in finding.reason
    assert "default: " in finding.reason  # the failed guess is reported, not judged


def test_facts_stored_before_given_selectors_load_as_guessed(mail_profile: Profile) -> None:
    facts = _stored(["s1"], DnsStatus.NXDOMAIN)
    old = facts.model_dump(mode="json", exclude={"given_selectors"})
    loaded = MailFacts.model_validate(old)
    assert loaded.given_selectors == []
    assert statuses(evaluate_mail(loaded, mail_profile, NOW), "mail.dkim.key") == ["unknown"]
    assert statuses(evaluate_mail(facts, mail_profile, NOW), "mail.dkim.key") == ["warn"]
