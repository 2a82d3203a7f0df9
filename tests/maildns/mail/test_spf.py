"""SPF parsing (RFC 7208 ABNF) and the worst-case lookup walk, without the network."""

from __future__ import annotations

import pytest

from maildns.mail.fakedns import FakeDns
from tlsaudit.records.spf import (
    MAX_QUERIES,
    Family,
    Problem,
    is_spf,
    parse_spf,
    split_inside_term,
    walk_spf,
)

VALID = [
    "v=spf1 -all",
    "v=spf1",
    "V=SPF1 IP4:192.0.2.1 -ALL",
    "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx ~all",
    "v=spf1 a:mail.example.com/24 mx:example.com/24//64 a//128 ?all",
    "v=spf1 include:_spf.google.com include:spf.protection.outlook.com -all",
    "v=spf1 exists:%{i}._spf.%{d} -all",
    "v=spf1 exists:%{ir}.%{l1r-}.%{v}._spf.%{D2} -all",
    "v=spf1 include:%{d}.example.com -all",
    "v=spf1 a:%{o}%% -all",
    "v=spf1 redirect=_spf.example.com",
    "v=spf1 mx exp=explain._spf.%{d} -all",
    "v=spf1 ra=postmaster rp=100 rr=all -all",
    "v=spf1 ip4:0.0.0.0/0 -all",
    "v=spf1 ip6:::1/128 -all",
    "v=spf1   ip4:192.0.2.1   -all  ",
    "v=spf1 a:example.com. -all",
    "v=spf1 ptr:example.com -all",
    "v=spf1 include:xn--bcher-kva.example -all",
    "v=spf1 exists:%{i}.%{h}.%{s}.x.example -all",
]


@pytest.mark.parametrize("record", VALID)
def test_valid_records(record: str) -> None:
    assert parse_spf(record).errors == ()


INVALID = [
    ("v=spf1 ip4:1.2.3.4\t-all", "printable ASCII"),
    ("v=spf1 ip4:192.168.01.1 -all", "not a valid address"),
    ("v=spf1 ip4:1.2.3.4/33 -all", "not 0-32"),
    ("v=spf1 ip6:2001:db8::/129 -all", "not 0-128"),
    ("v=spf1 ip4:2001:db8::1 -all", "not an IPv4 address"),
    ("v=spf1 ip6:192.0.2.1 -all", "not an IPv6 address"),
    ("v=spf1 ip4 -all", "address is required"),
    ("v=spf1 ip4:1.2.3.4/ -all", "prefix length"),
    ("v=spf1 a:foo-bar -all", "valid top label"),
    ("v=spf1 include:1.2.3.4 -all", "valid top label"),
    ("v=spf1 include -all", "domain is required"),
    ("v=spf1 exists -all", "domain is required"),
    ("v=spf1 a: -all", "expected ':' and a domain"),
    ("v=spf1 a/33 -all", "above 32"),
    ("v=spf1 mx//129 -all", "above 128"),
    ("v=spf1 redirect=a.example redirect=b.example", "more than once"),
    ("v=spf1 exp=a.example exp=b.example -all", "more than once"),
    ("v=spf1 redirect:x.example", "modifiers are written name=value"),
    ("v=spf1 foo:bar.example -all", "unknown mechanism 'foo'"),
    ("v=spf1 all:x", "takes no argument"),
    ("v=spf1 exists:%{i0}.x.example -all", "zero transformer"),
    ("v=spf1 exists:%{c}.x.example -all", "not allowed here"),
    ("v=spf1 exists:%{x}.x.example -all", "not allowed here"),
    ("v=spf1 a:%z.example -all", "invalid macro"),
    ("v=spf1 include:a..example -all", "empty or over-long label"),
    ("v=spf1 include:" + "a" * 64 + ".example -all", "empty or over-long label"),
    ("v=spf10 -all", "does not start with 'v=spf1'"),
    (" v=spf1 -all", "does not start with 'v=spf1'"),
    ("v=spf1 ~ -all", "unknown mechanism ''"),
]


@pytest.mark.parametrize(("record", "message"), INVALID)
def test_invalid_records(record: str, message: str) -> None:
    errors = parse_spf(record).errors
    assert errors, record
    assert any(message in e for e in errors), errors


def test_non_ascii_bytes_are_an_error_not_a_crash() -> None:
    record = parse_spf("v=spf1 a:bücher.example -all".encode())
    assert record.errors[0] == "record is not 7-bit ASCII"
    assert [t.name for t in record.terms] == ["a", "all"]


def test_terms_qualifiers_and_targets() -> None:
    record = parse_spf(
        "v=spf1 +a:x.example/24 -mx ~include:i.example ?exists:e.example ip4:192.0.2.1"
    )
    summary = [(t.qualifier, t.name, t.target) for t in record.terms]
    assert summary == [
        ("+", "a", "x.example"),
        ("-", "mx", None),
        ("~", "include", "i.example"),
        ("?", "exists", "e.example"),
        ("+", "ip4", "192.0.2.1"),
    ]
    assert [t.queries_dns for t in record.terms] == [True, True, True, True, False]


def test_all_redirect_and_dead_terms() -> None:
    record = parse_spf("v=spf1 a -all ip4:192.0.2.1 redirect=x.example")
    assert record.all is not None
    assert record.all.qualifier == "-"
    assert [t.text for t in record.dead_terms] == ["ip4:192.0.2.1", "redirect=x.example"]
    assert parse_spf("v=spf1 a redirect=x.example").dead_terms == ()
    assert parse_spf("v=spf1 exp=e.example -all").dead_terms == ()


def test_ptr_and_macro_p() -> None:
    assert parse_spf("v=spf1 ptr -all").uses_ptr
    assert not parse_spf("v=spf1 a -all").uses_ptr
    assert parse_spf("v=spf1 exists:%{P}.x.example -all").uses_macro_p
    assert not parse_spf("v=spf1 exists:%{i}.x.example -all").uses_macro_p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"v=spf1 -all", True),
        (b"v=spf1", True),
        (b"V=SPF1 a", True),
        (b"v=spf10 -all", False),
        (b" v=spf1 -all", False),
        (b"spf2.0/pra -all", False),
        (b"v=DMARC1; p=none", False),
    ],
)
def test_is_spf(text: bytes, expected: bool) -> None:
    assert is_spf(text) is expected


def test_string_boundary_inside_a_term() -> None:
    assert split_inside_term([b"v=spf1 include:a.example", b"include:b.example -all"])
    assert not split_inside_term([b"v=spf1 include:a.example ", b"include:b.example -all"])
    assert not split_inside_term([b"v=spf1 include:a.example", b" include:b.example"])
    assert not split_inside_term([b"v=spf1 -all"])


# --- the walk ---------------------------------------------------------------------


def test_lookups_count_every_include_recursively_and_repeats() -> None:
    dns = FakeDns(
        txt={
            "top.example": "v=spf1 a mx include:i.example include:i.example -all",
            "i.example": "v=spf1 a:h.example exists:e.example redirect=r.example",
            "r.example": "v=spf1 mx:h.example -all",
        },
        a={"top.example": "192.0.2.1", "h.example": "192.0.2.2", "e.example": "127.0.0.2"},
        mx={"top.example": ["10 h.example"], "h.example": ["10 h.example"]},
    )
    walk = walk_spf("top.example", dns, Family.IPV4)
    # a, mx, 2 x (include, a, exists, redirect, mx) = 2 + 2 * 5
    assert walk.lookups == 12
    assert walk.voids == 0
    assert walk.issues == []


def test_exp_and_dead_redirect_are_not_counted() -> None:
    dns = FakeDns(txt={"d.example": "v=spf1 a:h.example -all redirect=r.example exp=x.example"})
    dns.add("h.example", "A", ["192.0.2.1"])
    assert walk_spf("d.example", dns, Family.IPV4).lookups == 1


def test_ptr_counts_without_a_query_and_macros_are_not_followed() -> None:
    dns = FakeDns(txt={"d.example": "v=spf1 ptr exists:%{i}._spf.%{d} -all"})
    walk = walk_spf("d.example", dns, Family.IPV4)
    assert walk.lookups == 2
    assert [i.problem for i in walk.issues] == [Problem.UNRESOLVED]
    assert dns.asked == [("d.example", "TXT")]


def test_void_lookups_depend_on_the_client_family() -> None:
    dns = FakeDns(
        txt={"d.example": "v=spf1 a:v4.example a:nx.example include:gone.example mx:nomx.example"},
        a={"v4.example": "192.0.2.1"},
    )
    dns.add("nomx.example", "A", ["192.0.2.9"])
    v4, v6 = (walk_spf("d.example", dns, family) for family in Family)
    # IPv4: nx (NXDOMAIN), gone (NXDOMAIN, and no SPF), nomx (NODATA for MX)
    assert v4.voids == 3
    assert v6.voids == 4  # + v4.example has no AAAA
    assert [i.problem for i in v4.issues] == [Problem.INCLUDE_TARGET]


def test_loop_is_found_through_case_and_trailing_dot() -> None:
    dns = FakeDns(
        txt={
            "a.example": "v=spf1 include:b.example -all",
            "b.example": "v=spf1 redirect=A.Example.",
        }
    )
    walk = walk_spf("a.example", dns, Family.IPV4)
    loops = [i for i in walk.issues if i.problem is Problem.LOOP]
    assert len(loops) == 1
    assert "a.example → b.example → a.example" in loops[0].detail


def test_include_targets_without_one_valid_record() -> None:
    dns = FakeDns(
        txt={
            "d.example": "v=spf1 include:none.example include:two.example include:bad.example -all",
            "two.example": ["v=spf1 -all", "v=spf1 ~all"],
            "bad.example": "v=spf1 ip4:300.1.1.1 -all",
        }
    )
    dns.add("none.example", "TXT", ['"some other text"'])
    details = sorted(i.detail for i in walk_spf("d.example", dns, Family.IPV4).issues)
    assert details == [
        "include:bad.example: invalid SPF record "
        "(ip4:300.1.1.1: '300.1.1.1' is not a valid address)",
        "include:none.example: no SPF record",
        "include:two.example: 2 SPF records",
    ]


def test_plus_all_inside_an_include() -> None:
    dns = FakeDns(txt={"d.example": "v=spf1 include:o.example -all", "o.example": "v=spf1 +all"})
    issues = walk_spf("d.example", dns, Family.IPV4).issues
    assert [i.problem for i in issues] == [Problem.PASS_ALL]


def test_more_than_ten_mx_records() -> None:
    dns = FakeDns(
        txt={"d.example": "v=spf1 mx -all"},
        mx={"d.example": [f"10 mx{i}.example" for i in range(11)]},
    )
    assert [i.problem for i in walk_spf("d.example", dns, Family.IPV4).issues] == [Problem.MX_LIMIT]


def test_failures_are_recorded_not_counted_as_void() -> None:
    dns = FakeDns(txt={"d.example": "v=spf1 include:slow.example a:gone.example -all"})
    dns.fail("slow.example", "TXT")
    walk = walk_spf("d.example", dns, Family.IPV4)
    assert len(walk.errors) == 1
    assert walk.voids == 1  # gone.example only
    assert walk.lookups == 2


def test_walk_stops_at_the_query_cap() -> None:
    chain = {f"n{i}.example": f"v=spf1 include:n{i + 1}.example -all" for i in range(60)}
    walk = walk_spf("n0.example", FakeDns(txt=chain), Family.IPV4)
    assert walk.truncated
    assert walk.lookups == MAX_QUERIES
