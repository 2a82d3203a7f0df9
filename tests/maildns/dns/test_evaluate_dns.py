"""evaluate_dns on recorded facts (data/*.json, recorded by test_dns.py from the real
servers), varied one fact at a time for cases the test servers do not produce."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maildns.dns.conftest import FAIL, INFO, PASS, UNKNOWN, WARN
from tlsaudit.evaluate.dns import CHECKS, evaluate_dns
from tlsaudit.models.dns import (
    AxfrProbe,
    AxfrStatus,
    DnsAnswer,
    DnsFacts,
    DnskeyInfo,
    DnssecState,
    DnsStatus,
    DsInfo,
)
from tlsaudit.models.facts import CaaFacts, CaaRecord, ErrorReason, Observed
from tlsaudit.models.findings import Status
from tlsaudit.profiles import Profile, load_checks

DATA = Path(__file__).resolve().parent / "data"
DNS_CHECKS = {
    "dns.ns.count",
    "dns.ns.diversity",
    "dns.transport",
    "dns.open_resolver",
    "dns.dnssec.status",
    "dns.dnssec.algorithms",
    "dns.dnssec.signatures",
    "dns.consistency",
    "dns.lame",
    "dns.axfr",
    "dns.dangling_cname",
    "dns.caa",
}
"""The dns.* ids of the contract table (mail-dns.md §8)."""


def recorded(zone: str) -> DnsFacts:
    return DnsFacts.model_validate_json((DATA / f"{zone}json").read_text())


GOOD = recorded("good-dns.test.")
SILENT = recorded("timeout.test.")
NOW = GOOD.scanned_at


def statuses(facts: DnsFacts, profile: Profile, check_id: str, now: datetime = NOW) -> list[Status]:
    return [f.status for f in evaluate_dns(facts, profile, now) if f.check_id == check_id]


def server(facts: DnsFacts, index: int, **changes: Any) -> DnsFacts:
    """``facts`` with the server at ``index`` changed."""
    servers = list(facts.servers)
    servers[index] = servers[index].model_copy(update=changes)
    return facts.model_copy(update={"servers": servers})


def answer(base: DnsAnswer, **changes: Any) -> DnsAnswer:
    return base.model_copy(update=changes)


def dnssec(facts: DnsFacts, **changes: Any) -> DnsFacts:
    return facts.model_copy(update={"dnssec": facts.dnssec.model_copy(update=changes)})


def test_catalogue_rules_and_checks_cover_the_contract(profile: Profile) -> None:
    assert {c for c in load_checks() if c.startswith("dns.")} == DNS_CHECKS
    assert set(profile.rules) == set(CHECKS) == DNS_CHECKS


def test_recorded_good_zone_passes_everything(profile: Profile) -> None:
    findings = evaluate_dns(GOOD, profile, NOW)
    assert {f.check_id for f in findings} == set(CHECKS)
    assert {f.status for f in findings} == {PASS}


def test_recorded_silent_server_is_unknown_not_fail(profile: Profile) -> None:
    findings = evaluate_dns(SILENT, profile, SILENT.scanned_at)
    unknown = {(f.check_id, f.subject) for f in findings if f.status is UNKNOWN}
    silent = "ns2.timeout.test (127.0.3.99)"
    assert unknown == {
        ("dns.transport", silent),
        ("dns.open_resolver", silent),
        ("dns.lame", silent),
        ("dns.axfr", silent),
        ("dns.consistency", "timeout.test. SOA"),
        ("dns.consistency", "timeout.test. NS RRset"),
    }
    assert FAIL not in {f.status for f in findings}


def test_rules_missing_from_the_profile_are_skipped(profile: Profile) -> None:
    rules = {k: v for k, v in profile.rules.items() if k != "dns.caa"}
    findings = evaluate_dns(GOOD, profile.model_copy(update={"rules": rules}), NOW)
    assert "dns.caa" not in {f.check_id for f in findings}
    assert evaluate_dns(GOOD, profile.model_copy(update={"rules": {}}), NOW) == []


@pytest.mark.parametrize(
    ("algorithm", "bits", "expected"),
    [
        ("RSASHA256", 2048, PASS),
        ("RSASHA256", 1024, WARN),
        ("RSASHA256", 768, FAIL),
        ("RSASHA1", 2048, FAIL),
        ("RSASHA1NSEC3SHA1", 2048, FAIL),
        ("RSASHA512", 4096, WARN),
        ("RSAMD5", 2048, FAIL),
        ("DSA", 1024, FAIL),
        ("ECCGOST", 256, FAIL),
        ("ECDSAP384SHA384", 384, PASS),
        ("ED25519", 256, PASS),
        ("ED448", 448, PASS),
        ("253", None, FAIL),
    ],
)
def test_dnskey_algorithms(
    profile: Profile, algorithm: str, bits: int | None, expected: Status
) -> None:
    key = DnskeyInfo(key_tag=1, flags=257, algorithm=algorithm, bits=bits)
    facts = dnssec(GOOD, dnskeys=Observed[list[DnskeyInfo]].of([key]), ds=Observed.of([]))
    assert statuses(facts, profile, "dns.dnssec.algorithms") == [expected]


@pytest.mark.parametrize(
    ("digest", "expected"),
    [("SHA256", PASS), ("SHA384", PASS), ("SHA1", WARN), ("GOST", FAIL)],
)
def test_ds_digests(profile: Profile, digest: str, expected: Status) -> None:
    ds = DsInfo(key_tag=1, algorithm="ECDSAP256SHA256", digest_type=digest, digest="00")
    facts = dnssec(GOOD, dnskeys=Observed.of([]), ds=Observed[list[DsInfo]].of([ds]))
    assert statuses(facts, profile, "dns.dnssec.algorithms") == [expected]


def test_signature_windows(profile: Profile) -> None:
    sigs = GOOD.dnssec.signatures
    expiry = min(s.expiration for s in sigs)
    check = "dns.dnssec.signatures"
    assert statuses(GOOD, profile, check, expiry - timedelta(days=2)) == [WARN]
    assert statuses(GOOD, profile, check, expiry + timedelta(minutes=1)) == [FAIL]
    assert statuses(GOOD, profile, check, sigs[0].inception - timedelta(hours=1)) == [FAIL]
    long = [s.model_copy(update={"inception": s.expiration - timedelta(days=200)}) for s in sigs]
    assert statuses(dnssec(GOOD, signatures=long), profile, check) == [WARN]
    assert statuses(dnssec(GOOD, signatures=[]), profile, check) == [UNKNOWN]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (DnssecState.SECURE, PASS),
        (DnssecState.INSECURE, WARN),
        (DnssecState.BOGUS, FAIL),
        (DnssecState.INDETERMINATE, UNKNOWN),
    ],
)
def test_dnssec_states(profile: Profile, state: DnssecState, expected: Status) -> None:
    facts = dnssec(GOOD, state=state, reason="why")
    assert statuses(facts, profile, "dns.dnssec.status") == [expected]


def test_transport(profile: Profile) -> None:
    first = GOOD.servers[0]
    no_tcp = answer(first.soa_tcp, status=DnsStatus.TIMEOUT, reason="no response within 1 s")
    assert statuses(server(GOOD, 0, soa_tcp=no_tcp), profile, "dns.transport") == [FAIL, PASS]
    no_edns = answer(first.soa_udp, edns=False)
    assert statuses(server(GOOD, 0, soa_udp=no_edns), profile, "dns.transport") == [WARN, PASS]
    # A truncated UDP answer shows UDP works; its TCP retry failing shows TCP does not.
    truncated = answer(first.soa_udp, udp_truncated=True, status=DnsStatus.TRUNCATED)
    facts = server(GOOD, 0, soa_udp=truncated, soa_tcp=no_tcp)
    assert statuses(facts, profile, "dns.transport") == [FAIL, PASS]


@pytest.mark.parametrize(
    ("status", "ra", "aa", "expected"),
    [
        (DnsStatus.REFUSED, False, False, PASS),
        (DnsStatus.REFUSED, True, False, PASS),
        (DnsStatus.REFERRAL, False, False, PASS),
        (DnsStatus.NXDOMAIN, False, True, PASS),  # authoritative for the probe domain
        (DnsStatus.NXDOMAIN, True, False, FAIL),
        (DnsStatus.ANSWER, True, False, FAIL),
        (DnsStatus.ANSWER, False, False, FAIL),  # an answer it could only get by recursing
        (DnsStatus.SERVFAIL, True, False, FAIL),
        (DnsStatus.SERVFAIL, False, False, PASS),
        (DnsStatus.TIMEOUT, False, False, UNKNOWN),
    ],
)
def test_open_resolver(
    profile: Profile, status: DnsStatus, ra: bool, aa: bool, expected: Status
) -> None:
    probe = GOOD.servers[0].recursion_probe
    assert probe is not None
    facts = server(GOOD, 0, recursion_probe=answer(probe, status=status, ra=ra, aa=aa))
    assert statuses(facts, profile, "dns.open_resolver") == [expected, PASS]


def test_consistency(profile: Profile) -> None:
    second = GOOD.servers[1]
    assert second.ns is not None
    soa = second.soa_udp.records[0]
    other_serial = answer(second.soa_udp, records=[soa.replace("2026112301", "2026112300")])
    other_rname = answer(second.soa_udp, records=[soa.replace("hostmaster", "dns-admin")])
    other_ns = answer(second.ns, records=["ns1.good-dns.test.", "ns3.good-dns.test."])
    check = "dns.consistency"
    assert statuses(server(GOOD, 1, soa_udp=other_serial), profile, check) == [FAIL, PASS]
    assert statuses(server(GOOD, 1, soa_udp=other_rname), profile, check) == [WARN, PASS]
    assert statuses(server(GOOD, 1, ns=other_ns), profile, check) == [PASS, WARN]


def test_lame(profile: Profile) -> None:
    first = GOOD.servers[0]
    not_authoritative = answer(first.soa_udp, aa=False)
    assert statuses(server(GOOD, 0, soa_udp=not_authoritative), profile, "dns.lame") == [
        FAIL,
        PASS,
    ]
    ns1 = GOOD.nameservers[0]
    alias = ns1.model_copy(update={"ipv4": answer(ns1.ipv4, canonical_name="host.example.")})
    nxdomain = answer(ns1.ipv4, status=DnsStatus.NXDOMAIN, records=[])
    gone = ns1.model_copy(update={"ipv4": nxdomain, "glue": []})
    timeout = answer(ns1.ipv4, status=DnsStatus.TIMEOUT, records=[])
    unknown = ns1.model_copy(update={"ipv4": timeout, "glue": []})
    for changed, expected in ((alias, FAIL), (gone, FAIL), (unknown, UNKNOWN)):
        facts = GOOD.model_copy(update={"nameservers": [changed, GOOD.nameservers[1]]})
        assert statuses(facts, profile, "dns.lame") == [expected, PASS, PASS]


def test_ns_count_and_diversity(profile: Profile) -> None:
    one = GOOD.model_copy(update={"nameservers": GOOD.nameservers[:1]})
    assert statuses(one, profile, "dns.ns.count") == [FAIL]
    ns2 = GOOD.nameservers[1]
    lost = ns2.model_copy(
        update={"ipv4": answer(ns2.ipv4, status=DnsStatus.SERVFAIL, records=[]), "glue": []}
    )
    pending = GOOD.model_copy(update={"nameservers": [GOOD.nameservers[0], lost]})
    assert statuses(pending, profile, "dns.ns.count") == [UNKNOWN]
    same_net = server(GOOD, 1, address="127.0.0.3")
    assert statuses(same_net, profile, "dns.ns.diversity") == [WARN]
    one_v6 = GOOD.model_copy(
        update={"servers": [*GOOD.servers, GOOD.servers[0].model_copy(update={"address": "::1"})]}
    )
    assert statuses(one_v6, profile, "dns.ns.diversity") == [WARN]


@pytest.mark.parametrize(
    ("probe", "expected", "text"),
    [
        (
            AxfrProbe(status=AxfrStatus.ALLOWED, records=100),
            WARN,
            "AXFR allowed: 100 records received (then stopped reading)",
        ),
        (
            AxfrProbe(status=AxfrStatus.REFUSED, rcode="REFUSED", reason="REFUSED from the server"),
            PASS,
            "AXFR refused: REFUSED from the server",
        ),
        (
            AxfrProbe(status=AxfrStatus.ERROR, reason="no response within 1 s"),
            UNKNOWN,
            "AXFR: no response within 1 s",
        ),
    ],
)
def test_axfr(profile: Profile, probe: AxfrProbe, expected: Status, text: str) -> None:
    findings = evaluate_dns(server(GOOD, 0, axfr=probe), profile, NOW)
    first, second = (f for f in findings if f.check_id == "dns.axfr")
    assert (first.status, second.status) == (expected, PASS)
    assert (first.reason if expected is UNKNOWN else first.observed) == text


def test_axfr_not_asked(profile: Profile) -> None:
    """Not asked without a TCP answer; facts stored before the probe existed still load."""
    first = GOOD.servers[0]
    no_tcp = answer(first.soa_tcp, status=DnsStatus.TIMEOUT, reason="no response within 1 s")
    facts = server(GOOD, 0, soa_tcp=no_tcp, axfr=None)
    axfr = next(f for f in evaluate_dns(facts, profile, NOW) if f.check_id == "dns.axfr")
    assert (axfr.status, axfr.reason) == (
        UNKNOWN,
        "AXFR not asked: no TCP answer to the SOA question (timeout (no response within 1 s))",
    )
    old = DnsFacts.model_validate(
        GOOD.model_dump(exclude={"hosts": True, "servers": {"__all__": {"axfr"}}})
    )
    assert old.hosts == []
    assert statuses(old, profile, "dns.axfr") == [UNKNOWN, UNKNOWN]
    assert statuses(old, profile, "dns.dangling_cname") == []


@pytest.mark.parametrize(
    ("status", "target", "expected"),
    [
        (DnsStatus.NXDOMAIN, "gone.example.", WARN),
        (DnsStatus.NODATA, "txt-only.example.", PASS),  # the target exists
        (DnsStatus.ANSWER, "host.example.", PASS),
        (DnsStatus.NXDOMAIN, None, PASS),  # no such name, and no alias either
        (DnsStatus.SERVFAIL, None, UNKNOWN),
        (DnsStatus.TIMEOUT, None, UNKNOWN),
        (DnsStatus.CHAIN_TOO_LONG, None, UNKNOWN),
    ],
)
def test_dangling_cname(
    profile: Profile, status: DnsStatus, target: str | None, expected: Status
) -> None:
    www = GOOD.hosts[1]
    changed = answer(www, status=status, canonical_name=target, records=[])
    facts = GOOD.model_copy(update={"hosts": [GOOD.hosts[0], changed]})
    assert statuses(facts, profile, "dns.dangling_cname") == [PASS, expected]


def test_caa(profile: Profile) -> None:
    def caa(value: Observed[CaaFacts]) -> list[Status]:
        return statuses(GOOD.model_copy(update={"caa": value}), profile, "dns.caa")

    assert caa(Observed[CaaFacts].of(CaaFacts(owner=None))) == [INFO]
    critical = CaaRecord(flags=128, tag="future", value="x")
    assert caa(Observed[CaaFacts].of(CaaFacts(owner="good-dns.test.", records=[critical]))) == [
        WARN
    ]
    assert caa(Observed[CaaFacts].failed(ErrorReason.SERVFAIL, "SERVFAIL")) == [WARN]
    assert caa(Observed[CaaFacts].failed(ErrorReason.TIMEOUT, "no response")) == [UNKNOWN]


def test_findings_carry_catalogue_text(profile: Profile) -> None:
    single = GOOD.model_copy(update={"nameservers": GOOD.nameservers[:1]})
    count = next(f for f in evaluate_dns(single, profile, NOW) if f.check_id == "dns.ns.count")
    assert count.title.ja == "権威 DNS サーバ: NS が 2 台以上あること"
    assert [str(c) for c in count.citations][:2] == [
        "統一基準 6.2.4(1)(a)",
        "統一基準 6.2.4(1)-1 a",
    ]
    assert count.remediation is not None
    assert count.observed == "1 NS (ns1.good-dns.test), 1 with IPv4"
    assert count.expected == "at least 2 NS names with an IPv4 address"
