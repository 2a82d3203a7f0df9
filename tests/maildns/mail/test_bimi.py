"""BIMI assertion records: parsing, discovery with the organisational-domain fallback, and
the mail.bimi judgement against the DMARC policy (pure, in-memory DNS)."""

from __future__ import annotations

import pytest

from maildns.mail.conftest import NOW
from maildns.mail.fakedns import FakeDns
from tlsaudit.evaluate.check import evaluate
from tlsaudit.evaluate.mailview import MailView
from tlsaudit.models.dns import DnsStatus
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile
from tlsaudit.records.bimi import discover, is_bimi, looks_like_bimi, parse_bimi

DOMAIN = "example.go.jp"
BIMI_NAME = f"default._bimi.{DOMAIN}"
RECORD = "v=BIMI1; l=https://example.go.jp/bimi/logo.svg; a=https://example.go.jp/bimi/vmc.pem"


def test_record_fields() -> None:
    record = parse_bimi(RECORD)
    assert record.errors == ()
    assert record.locations == ("https://example.go.jp/bimi/logo.svg",)
    assert record.authority == "https://example.go.jp/bimi/vmc.pem"
    assert not record.declined


@pytest.mark.parametrize(
    "text",
    [
        "v=BIMI1; l=https://example.go.jp/logo.svg",
        "v=BIMI1;l=https://example.go.jp/logo.svgz;a=;",
        "v = BIMI1 ; l = https://example.go.jp/logo ; avp=brand; x=ignored",
        "v=BIMI1; l=; a=;",
    ],
)
def test_valid_records(text: str) -> None:
    assert parse_bimi(text).errors == ()


def test_declination() -> None:
    record = parse_bimi("v=BIMI1; l=; a=;")
    assert record.declined
    assert (record.locations, record.authority) == ((), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("l=https://example.go.jp/logo.svg; v=BIMI1", "the first tag must be v=BIMI1"),
        ("v=BIMI2; l=https://example.go.jp/logo.svg", "the first tag must be v=BIMI1"),
        ("v=BIMI1; a=https://example.go.jp/vmc.pem", "no l= tag"),
        ("v=BIMI1; l=http://example.go.jp/logo.svg", "not an https:// URI"),
        ("v=BIMI1; l=https://localhost/logo.svg", "fully qualified host name"),
        ("v=BIMI1; l=https://example.go.jp/logo.PNG", "a .png image"),
        ("v=BIMI1; l=https://example.go.jp/a.svg,https://example.go.jp/b.svg", "2 URIs"),
        ("v=BIMI1; l=https://example.go.jp/logo.svg; a=ftp://example.go.jp/x", "a=ftp://"),
        ("v=BIMI1; l=https://example.go.jp/a.svg; l=https://example.go.jp/b.svg", "more than once"),
        ("v=BIMI1; l https://example.go.jp/a.svg", "not a tag=value pair"),
    ],
)
def test_broken_records(text: str, message: str) -> None:
    errors = parse_bimi(text).errors
    assert any(message in e for e in errors), errors


def test_version_is_exact() -> None:
    assert is_bimi(b"v=BIMI1; l=")
    assert is_bimi(b"v = BIMI1;l=")
    assert not is_bimi(b"v=bimi1; l=")
    assert not is_bimi(b"v=BIMI10; l=")
    assert looks_like_bimi(b"v=bimi1; l=")
    assert not looks_like_bimi(b"v=spf1 -all")


def test_discovery_falls_back_to_the_organisational_domain() -> None:
    dns = FakeDns(txt={BIMI_NAME: RECORD, "mail.example.go.jp": "v=spf1 -all"})
    found = discover("mail.example.go.jp", dns)
    assert found.organisational is not None
    assert found.records == [RECORD.encode()]
    assert dns.asked == [
        ("default._bimi.mail.example.go.jp", "TXT"),
        ("default._bimi.example.go.jp", "TXT"),
    ]
    own = discover(DOMAIN, FakeDns(txt={BIMI_NAME: RECORD}))
    assert own.organisational is None  # the organisational domain itself: one question


def test_discovery_stops_when_the_lookup_fails() -> None:
    dns = FakeDns()
    dns.fail("default._bimi.mail.example.go.jp", "TXT", DnsStatus.SERVFAIL)
    found = discover("mail.example.go.jp", dns)
    assert found.organisational is None
    assert found.answer.error is not None


def _judge(profile: Profile, dns: FakeDns, domain: str = DOMAIN) -> list[Finding]:
    """The mail.bimi findings of ``domain`` answered by ``dns`` (no other check runs)."""
    facts = MailFacts(domain=domain, scanned_at=NOW, selectors=[], dns=[])
    view = MailView(facts=facts, domain=domain, lookup=dns)
    only = profile.model_copy(update={"rules": {"mail.bimi": profile.rules["mail.bimi"]}})
    return evaluate(view, MailView, only, NOW)


@pytest.mark.parametrize(
    ("dmarc", "status", "text"),
    [
        ("v=DMARC1; p=reject", Status.INFO, "DMARC at enforcement"),
        ("v=DMARC1; p=quarantine", Status.INFO, "DMARC at enforcement"),
        ("v=DMARC1; p=reject; t=y", Status.INFO, "DMARC at enforcement"),
        ("v=DMARC1; p=none", Status.WARN, "effective policy none"),
        ("v=DMARC1; p=quarantine; pct=50", Status.WARN, "pct=50"),
        ("v=DMARC1; p=reject; pct=50", Status.WARN, "pct=50"),  # §4.6: no partial pct
        ("v=DMARC1; p=reject; sp=none", Status.WARN, "sp=none"),
        ("v=DMARC1; p=quarantine; t=y", Status.WARN, "effective policy none"),
        ("v=DMARC1; p=block", Status.WARN, "the DMARC record is invalid"),
        (None, Status.WARN, "no DMARC record"),
    ],
)
def test_bimi_needs_dmarc_enforcement(
    mail_profile: Profile, dmarc: str | None, status: Status, text: str
) -> None:
    records = {BIMI_NAME: RECORD} | ({f"_dmarc.{DOMAIN}": dmarc} if dmarc else {})
    [finding] = _judge(mail_profile, FakeDns(txt=records))
    assert (finding.status, finding.subject) == (status, BIMI_NAME)
    assert finding.reason is not None
    assert text in finding.reason


def test_bimi_absent_declined_and_unknown(mail_profile: Profile) -> None:
    dmarc = {f"_dmarc.{DOMAIN}": "v=DMARC1; p=none"}
    [absent] = _judge(mail_profile, FakeDns(txt=dmarc))
    assert (absent.status, absent.observed) == (Status.INFO, "no BIMI record")
    [declined] = _judge(mail_profile, FakeDns(txt=dmarc | {BIMI_NAME: "v=BIMI1; l=; a=;"}))
    assert declined.status is Status.INFO  # a refusal needs no DMARC enforcement
    assert declined.reason == "declined: l= and a= are empty"
    failing = FakeDns(txt={BIMI_NAME: RECORD})
    failing.fail(f"_dmarc.{DOMAIN}", "TXT")
    [unknown] = _judge(mail_profile, failing)
    assert unknown.status is Status.UNKNOWN
    broken = FakeDns(txt=dmarc)
    broken.fail(BIMI_NAME, "TXT", DnsStatus.SERVFAIL)
    [lookup] = _judge(mail_profile, broken)
    assert lookup.status is Status.UNKNOWN
    assert "SERVFAIL" in (lookup.reason or "").upper()


def test_bimi_level_follows_the_profile(mail_profile: Profile) -> None:
    rule = mail_profile.rules["mail.bimi"].model_copy(update={"other_level": Level.INFORMATIONAL})
    quiet = mail_profile.model_copy(update={"rules": {**mail_profile.rules, "mail.bimi": rule}})
    dns = FakeDns(txt={BIMI_NAME: "v=BIMI1; l=http://example.go.jp/logo.svg"})
    [finding] = _judge(quiet, dns)
    assert finding.status is Status.INFO
