"""DMARC parsing (RFC 7489 / RFC 9989 tags), discovery both ways, report authorisation."""

from __future__ import annotations

import pytest

from maildns.mail.fakedns import FakeDns
from tlsaudit.records.dmarc import (
    discover,
    effective_policy,
    is_dmarc,
    organisational_domain,
    parse_dmarc,
    report_authorisations,
    walk_names,
    weaker,
)

VALID = [
    "v=DMARC1; p=none",
    "v=DMARC1;p=reject",
    "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=r; pct=100",
    "v=DMARC1; p=reject; rua=mailto:a@example.com,mailto:b@example.net; ruf=mailto:f@example.com",
    "v=DMARC1; p=reject; t=y; psd=n",
    "v=DMARC1; p=none; fo=d:s; ruf=mailto:f@example.com",
    "v = DMARC1 ; p = reject ;",
    "v=DMARC1; p=reject; rua=mailto:a%2cb@example.com",
]


@pytest.mark.parametrize("record", VALID)
def test_valid_records(record: str) -> None:
    parsed = parse_dmarc(record)
    assert parsed.errors == (), parsed.errors


INVALID = [
    ("v=DMARC1; p=block", "p=block"),
    ("v=DMARC1; p=none; sp=all", "sp=all"),
    ("v=DMARC1; p=none; np=maybe", "np=maybe"),
    ("v=DMARC1; p=none; pct=150", "pct=150"),
    ("v=DMARC1; p=none; pct=x", "pct=x"),
    ("v=DMARC1; p=none; adkim=x", "adkim=x"),
    ("v=DMARC1; p=none; t=yes", "t=yes"),
    ("v=DMARC1; p=none; psd=x", "psd=x"),
    ("v=DMARC1; p=none; fo=2", "fo=2"),
    ("v=DMARC1; p=none; ri=daily", "ri=daily"),
    ("v=DMARC1; p=none; rf=iodef", "rf=iodef"),
    ("v=DMARC1; p=none; p=reject", "more than once"),
    ("v=DMARC1; p=none; rua=dmarc@example.com", "not a URI"),
    ("v=DMARC1; p=none; rua=mailto:nobody", "mailto:local@domain"),
    ("v=DMARC1; p=none; garbage", "not a tag=value pair"),
    ("p=none; v=DMARC1", "first tag must be v=DMARC1"),
]


@pytest.mark.parametrize(("record", "message"), INVALID)
def test_invalid_records(record: str, message: str) -> None:
    errors = parse_dmarc(record).errors
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("v=DMARC1; rua=mailto:a@example.com", "no p= tag"),
        ("v=DMARC1; rua=mailto:a@example.com; p=none", "not the second tag"),
        ("v=DMARC1; p=none; rua=mailto:a@example.com!10m", "obsolete"),
        (
            "v=DMARC1; p=none; rua=mailto:a@x.example,mailto:b@x.example,mailto:c@x.example",
            "3 URIs",
        ),
        ("v=DMARC1; p=none; rua=https://x.example/r", "only mailto:"),
        ("v=DMARC1; P=none", "not lower-case"),
        ("v=DMARC1; p=none; fo=0:1; ruf=mailto:a@x.example", "mutually exclusive"),
    ],
)
def test_warnings(record: str, message: str) -> None:
    parsed = parse_dmarc(record)
    assert parsed.errors == ()
    assert any(message in w for w in parsed.warnings), parsed.warnings


def test_notes_for_removed_and_unknown_tags() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; pct=50; ri=3600; foo=bar; fo=1")
    assert parsed.errors == ()
    assert any("pct, ri: removed in RFC 9989" in n for n in parsed.notes)
    assert any("unknown tags ignored: foo" in n for n in parsed.notes)
    assert any("fo= has no effect" in n for n in parsed.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"v=DMARC1; p=none", True),
        (b"v=DMARC1", True),
        (b"v = DMARC1;p=none", True),
        (b"v=dmarc1; p=none", False),
        (b" v=DMARC1; p=none", False),
        (b"v=DMARC10; p=none", False),
        (b"v=spf1 -all", False),
    ],
)
def test_is_dmarc(text: bytes, expected: bool) -> None:
    assert is_dmarc(text) is expected


def test_report_uris() -> None:
    parsed = parse_dmarc(
        "v=DMARC1; p=none; rua=mailto:Agg@Reports.Example.; ruf=mailto:f@x.example"
    )
    assert [(u.scheme, u.address, u.host) for u in parsed.rua] == [
        ("mailto", "Agg@Reports.Example.", "reports.example")
    ]
    assert [u.host for u in parsed.ruf] == ["x.example"]


@pytest.mark.parametrize(
    ("record", "at_domain", "expected"),
    [
        ("v=DMARC1; p=reject", True, "reject"),
        ("v=DMARC1; p=reject; t=y", True, "quarantine"),
        ("v=DMARC1; p=quarantine; t=y", True, "none"),
        ("v=DMARC1; p=none; t=y", True, "none"),
        ("v=DMARC1; p=reject; sp=none", False, "none"),
        ("v=DMARC1; p=reject; sp=none", True, "reject"),
        ("v=DMARC1; p=quarantine", False, "quarantine"),
        ("v=DMARC1; rua=mailto:a@x.example", True, "none"),
    ],
)
def test_effective_policy(record: str, at_domain: bool, expected: str) -> None:
    assert effective_policy(parse_dmarc(record), at_domain) == expected


def test_weaker() -> None:
    assert weaker("none", "reject")
    assert not weaker("reject", "quarantine")
    assert not weaker(None, "reject")


def test_walk_names_is_at_most_eight_queries() -> None:
    assert walk_names("a.b.example.go.jp") == [
        "a.b.example.go.jp",
        "b.example.go.jp",
        "example.go.jp",
        "go.jp",
        "jp",
    ]
    long = walk_names("1.2.3.4.5.6.7.8.9.example.jp")
    assert len(long) == 8
    assert long[0] == "1.2.3.4.5.6.7.8.9.example.jp"
    assert long[1] == "5.6.7.8.9.example.jp"
    assert long[-1] == "jp"


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("www.city.sapporo.lg.jp", "sapporo.lg.jp"),
        ("pref.kyoto.lg.jp", "kyoto.lg.jp"),
        ("mail.mhlw.go.jp", "mhlw.go.jp"),
        ("a.b.org-dmarc.test", "org-dmarc.test"),
        ("WWW.Example.CO.JP.", "example.co.jp"),
    ],
)
def test_organisational_domain_from_the_psl(domain: str, org: str) -> None:
    assert organisational_domain(domain) == org


def test_lg_jp_subdomain_is_protected_under_rfc_9989_only() -> None:
    dns = FakeDns(txt={"_dmarc.city.sapporo.lg.jp": "v=DMARC1; p=reject"})
    found = discover("mail.city.sapporo.lg.jp", dns)
    assert found.psl_org == "sapporo.lg.jp"
    assert found.policy_7489() is None
    new = found.policy_9989()
    assert new is not None
    assert new.domain == "city.sapporo.lg.jp"
    assert found.org_9989() == "city.sapporo.lg.jp"
    assert ("_dmarc.sapporo.lg.jp", "TXT") in dns.asked


def test_7489_falls_back_to_the_organisational_domain() -> None:
    dns = FakeDns(txt={"_dmarc.example.go.jp": "v=DMARC1; p=reject; sp=quarantine"})
    found = discover("a.b.example.go.jp", dns)
    old, new = found.policy_7489(), found.policy_9989()
    assert old is not None
    assert new is not None
    assert old.domain == new.domain == "example.go.jp"


def test_psd_tags_set_the_9989_organisational_domain() -> None:
    dns = FakeDns(
        txt={
            "_dmarc.gov.example": "v=DMARC1; p=reject; psd=y",
            "_dmarc.agency.gov.example": "v=DMARC1; p=none",
        }
    )
    assert discover("mail.agency.gov.example", dns).org_9989() == "agency.gov.example"
    dns = FakeDns(txt={"_dmarc.gov.example": "v=DMARC1; p=reject; psd=y"})
    assert discover("mail.agency.gov.example", dns).org_9989() == "agency.gov.example"


def test_several_records_are_all_discarded() -> None:
    dns = FakeDns(txt={"_dmarc.example.jp": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]})
    found = discover("example.jp", dns)
    assert found.own.record is None
    assert found.policy_7489() is None
    assert found.policy_9989() is None


def test_errors_are_kept_apart_from_absence() -> None:
    dns = FakeDns()
    dns.fail("_dmarc.example.jp", "TXT")
    found = discover("example.jp", dns)
    assert found.own.answer.error is not None
    assert [a.name for a in found.errors] == ["_dmarc.example.jp."]


def test_report_authorisations() -> None:
    record = parse_dmarc(
        "v=DMARC1; p=none; rua=mailto:a@example.go.jp,mailto:b@ok.example,"
        "mailto:c@no.example,mailto:d@slow.example; ruf=https://x.example/r"
    )
    dns = FakeDns(txt={"mail.example.go.jp._report._dmarc.ok.example": "v=DMARC1"})
    dns.fail("mail.example.go.jp._report._dmarc.slow.example", "TXT")
    auths = report_authorisations("mail.example.go.jp", record, dns)
    assert [(a.uri.host, a.authorised) for a in auths] == [
        ("example.go.jp", True),
        ("ok.example", True),
        ("no.example", False),
        ("slow.example", None),
    ]
    assert auths[1].query == "mail.example.go.jp._report._dmarc.ok.example"
    assert auths[0].answer is None  # same organisation: nothing asked
