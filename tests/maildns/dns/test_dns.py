"""Scan the test zones on the real knot/unbound servers through the validating resolver
and assert the exact findings (layout: tests/maildns/conftest.py).

Each zone deviates from good-dns.test in one way. The unsigned ones are also DNSSEC
insecure (a warning); a proven insecure delegation is part of what is tested.

``TLSAUDIT_RECORD_DNS=1`` writes the scanned facts of good-dns.test and timeout.test to
``data/`` for the pure evaluator tests (test_evaluate_dns.py).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from maildns.conftest import DnsEnv
from maildns.dns.conftest import FAIL, INFO, PASS, UNKNOWN, WARN
from tlsaudit.errors import InputError
from tlsaudit.evaluate.dns import evaluate_dns
from tlsaudit.models.dns import DnsFacts, DnssecState, DnsStatus
from tlsaudit.models.findings import Finding, Status
from tlsaudit.profiles import Profile
from tlsaudit.scan.dns import scan_dns
from tlsaudit.scan.dnsquery import query_server

DATA = Path(__file__).resolve().parent / "data"
RECORDED = ("good-dns.test.", "timeout.test.")
ZONES = (
    "good-dns.test.",
    "single-ns.test.",
    "lame.test.",
    "stale.test.",
    "broken-dnssec.test.",
    "timeout.test.",
    "openres.test.",
    "axfr-open.test.",
    "dangling.test.",
)

Result = dict[tuple[str, str], Status]


@pytest.fixture(scope="module")
def scanned(dns_env: DnsEnv) -> dict[str, DnsFacts]:
    """Every zone scanned once."""
    facts = {zone: scan_dns(zone, dns_env.options()) for zone in ZONES}
    if os.environ.get("TLSAUDIT_RECORD_DNS"):
        DATA.mkdir(exist_ok=True)
        for zone in RECORDED:
            text = facts[zone].model_dump_json(indent=1, exclude_defaults=True)
            (DATA / f"{zone}json").write_text(text + "\n")
    return facts


def result(findings: list[Finding]) -> Result:
    """(check id, subject) -> status, with DNSSEC key tags (random per run) as ``*``."""
    out: Result = {}
    for f in findings:
        subject = re.sub(r"(DNSKEY|DS) \d+", r"\1 *", f.subject)
        assert (f.check_id, subject) not in out, f"two findings for {f.check_id} {subject}"
        out[(f.check_id, subject)] = f.status
    return out


def healthy(zone: str, servers: dict[str, str], *, signed: bool = False) -> Result:
    """The findings of a zone with nothing wrong (``servers``: NS name -> address)."""
    out: Result = {
        ("dns.ns.count", f"{zone} NS"): PASS,
        ("dns.ns.diversity", f"{zone} NS addresses"): PASS,
        ("dns.consistency", f"{zone} SOA"): PASS,
        ("dns.consistency", f"{zone} NS RRset"): PASS,
        ("dns.dnssec.status", f"{zone} DNSSEC"): PASS if signed else WARN,
        ("dns.caa", f"{zone} CAA"): INFO,
        ("dns.dangling_cname", f"{zone} CNAME"): PASS,
        ("dns.dangling_cname", f"www.{zone} CNAME"): PASS,
    }
    for name, address in servers.items():
        for check_id in ("dns.transport", "dns.open_resolver", "dns.lame", "dns.axfr"):
            out[(check_id, f"{name}.{zone.rstrip('.')} ({address})")] = PASS
    if signed:
        out[("dns.dnssec.algorithms", f"{zone} DNSKEY * (KSK)")] = PASS
        out[("dns.dnssec.algorithms", f"{zone} DS *")] = PASS
        out[("dns.dnssec.signatures", f"{zone} RRSIG")] = PASS
    return out


def judged(scanned: dict[str, DnsFacts], zone: str, profile: Profile) -> list[Finding]:
    return evaluate_dns(scanned[zone], profile, datetime.now(UTC))


def test_good_dns_passes(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    findings = judged(scanned, "good-dns.test.", profile)
    want = healthy("good-dns.test.", {"ns1": "127.0.0.2", "ns2": "127.0.1.2"}, signed=True)
    want[("dns.caa", "good-dns.test. CAA")] = PASS
    assert result(findings) == want
    facts = scanned["good-dns.test."]
    assert facts.dnssec.resolver_ad is True  # unbound agrees: validated
    assert [s.state for s in facts.dnssec.chain] == [DnssecState.SECURE, DnssecState.SECURE]
    assert facts.delegation.value is not None
    assert facts.delegation.value.referral
    assert facts.delegation.value.glue == {
        "ns1.good-dns.test.": ["127.0.0.2"],
        "ns2.good-dns.test.": ["127.0.1.2"],
    }


def test_single_ns_fails_count(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    want = healthy("single-ns.test.", {"ns1": "127.0.0.2"})
    want[("dns.ns.count", "single-ns.test. NS")] = FAIL
    want[("dns.ns.diversity", "single-ns.test. NS addresses")] = WARN
    assert result(judged(scanned, "single-ns.test.", profile)) == want


def test_lame_server_fails(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    findings = judged(scanned, "lame.test.", profile)
    want = healthy("lame.test.", {"ns1": "127.0.0.2", "ns2": "127.0.2.4"})
    want[("dns.lame", "ns2.lame.test (127.0.2.4)")] = FAIL
    assert result(findings) == want
    lame = next(f for f in findings if f.status is FAIL)
    assert lame.observed == "SOA: refused, AA=0"


def test_stale_serial_fails_consistency(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    findings = judged(scanned, "stale.test.", profile)
    want = healthy("stale.test.", {"ns1": "127.0.0.2", "ns2": "127.0.2.4"})
    want[("dns.consistency", "stale.test. SOA")] = FAIL
    assert result(findings) == want
    soa = next(f for f in findings if f.status is FAIL)
    assert "127.0.0.2: 2026112302 " in soa.observed
    assert "127.0.2.4: 2026112301 " in soa.observed


def test_broken_dnssec_is_bogus(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    findings = judged(scanned, "broken-dnssec.test.", profile)
    want = healthy("broken-dnssec.test.", {"ns1": "127.0.0.2", "ns2": "127.0.1.2"}, signed=True)
    want[("dns.dnssec.status", "broken-dnssec.test. DNSSEC")] = FAIL
    # The validating resolver answers SERVFAIL for every name of a bogus zone.
    want[("dns.caa", "broken-dnssec.test. CAA")] = WARN
    want[("dns.dangling_cname", "broken-dnssec.test. CNAME")] = UNKNOWN
    want[("dns.dangling_cname", "www.broken-dnssec.test. CNAME")] = UNKNOWN
    assert result(findings) == want
    status = next(f for f in findings if f.check_id == "dns.dnssec.status")
    assert status.observed.startswith("bogus: no DNSKEY of broken-dnssec.test.")
    assert scanned["broken-dnssec.test."].child_ns.status is DnsStatus.SERVFAIL


def test_silent_server_is_unknown(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    """Nothing listens on 127.0.3.99 (UDP and TCP are refused, and say so): no evidence
    about that server's transports, recursion or zone copy, so those findings are unknown."""
    findings = judged(scanned, "timeout.test.", profile)
    silent = "ns2.timeout.test (127.0.3.99)"
    want = healthy("timeout.test.", {"ns1": "127.0.0.2", "ns2": "127.0.3.99"})
    for key in [
        ("dns.transport", silent),
        ("dns.open_resolver", silent),
        ("dns.lame", silent),
        ("dns.axfr", silent),
        ("dns.consistency", "timeout.test. SOA"),
        ("dns.consistency", "timeout.test. NS RRset"),
    ]:
        want[key] = UNKNOWN
    assert result(findings) == want
    transport = next(f for f in findings if f.check_id == "dns.transport" and f.subject == silent)
    assert transport.reason == (
        "127.0.3.99 did not respond (UDP: network_error (connection refused (ICMP port"
        " unreachable)); TCP: network_error (connection refused))"
    )


def test_open_resolver_fails(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    """ns2 is an unbound that serves the zone and forwards anything else (to the test
    resolver, whose empty static root answers NXDOMAIN): RA=1 and an answer it could only
    get by recursing."""
    findings = judged(scanned, "openres.test.", profile)
    want = healthy("openres.test.", {"ns1": "127.0.0.2", "ns2": "127.0.4.6"})
    want[("dns.open_resolver", "ns2.openres.test (127.0.4.6)")] = FAIL
    assert result(findings) == want
    probe = next(f for f in findings if f.status is FAIL)
    assert probe.observed.endswith(".example. A, RD=1: nxdomain, RA=1, AA=0")


def test_open_zone_transfer_warns(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    """The primary's knotd has an ACL with ``action: transfer`` for axfr-open.test only;
    www there is an alias to a name without an address (NODATA), which is not dangling."""
    findings = judged(scanned, "axfr-open.test.", profile)
    servers = {"ns1": "127.0.0.2", "ns2": "127.0.1.2"}
    want = healthy("axfr-open.test.", servers)
    for name, address in servers.items():
        want[("dns.axfr", f"{name}.axfr-open.test ({address})")] = WARN
    assert result(findings) == want
    observed = {(f.check_id, f.observed) for f in findings if f.status is WARN}
    assert ("dns.axfr", "AXFR allowed: 8 records received (the whole zone)") in observed
    alias = next(f for f in findings if f.subject == "www.axfr-open.test. CNAME")
    assert alias.observed == "CNAME to txt-only.axfr-open.test. (A: nodata)"
    refused = next(
        f for f in judged(scanned, "good-dns.test.", profile) if f.check_id == "dns.axfr"
    )
    assert refused.observed == "AXFR refused: NOTAUTH from the server"


def test_dangling_cname_warns(scanned: dict[str, DnsFacts], profile: Profile) -> None:
    findings = judged(scanned, "dangling.test.", profile)
    want = healthy("dangling.test.", {"ns1": "127.0.0.2", "ns2": "127.0.1.2"})
    want[("dns.dangling_cname", "www.dangling.test. CNAME")] = WARN
    assert result(findings) == want
    dangling = next(f for f in findings if f.check_id == "dns.dangling_cname" and f.status is WARN)
    assert dangling.observed == "CNAME to gone.dangling.test., which does not exist (NXDOMAIN)"
    assert dangling.remediation is not None


def test_unbound_rejects_bogus_zone(dns_env: DnsEnv) -> None:
    """Cross-check of the validator: unbound also finds broken-dnssec.test bogus."""
    host, port = dns_env.resolver
    ask = partial(
        query_server,
        "broken-dnssec.test.",
        "SOA",
        host,
        port=port,
        tcp=False,
        recursion=True,
        timeout=2.0,
    )
    assert ask().status is DnsStatus.SERVFAIL
    unchecked = ask(checking_disabled=True)
    assert unchecked.ok
    assert not unchecked.ad


def test_facts_round_trip(scanned: dict[str, DnsFacts]) -> None:
    for facts in scanned.values():
        assert DnsFacts.model_validate_json(facts.model_dump_json()) == facts


def test_name_inside_a_zone_scans_its_zone(dns_env: DnsEnv) -> None:
    """A host name (here an alias) is judged by its zone; CAA climbs to the zone apex."""
    facts = scan_dns("alias.good-dns.test", dns_env.options())
    assert (facts.domain, facts.zone) == ("alias.good-dns.test.", "good-dns.test.")
    assert facts.caa.value is not None
    assert facts.caa.value.owner == "good-dns.test."


def test_invalid_domain_is_an_input_error(dns_env: DnsEnv) -> None:
    with pytest.raises(InputError, match="not a domain name"):
        scan_dns("bad..name", dns_env.options())
