"""The DNS answer taxonomy (mail-dns.md §6.1) against the real test servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import dns.rdatatype
import pytest

from maildns.conftest import DEAD, PARENT, PRIMARY, SECONDARY, DnsEnv, _loopback_only
from tlsaudit.models.dns import AxfrStatus, DnsAnswer, DnsStatus, parse_rrsets
from tlsaudit.models.facts import ErrorReason
from tlsaudit.scan.dnsquery import axfr_probe, lookup, query_server

direct = partial(query_server, tcp=False, recursion=False, timeout=0.5)


def ask(dns_env: DnsEnv, name: str, rdtype: str, **kwargs: bool) -> DnsAnswer:
    return lookup(name, rdtype, dns_env.options().scan, **kwargs)


def test_answer_nodata_nxdomain_are_distinct(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "www.good-dns.test", "A")
    nodata = ask(dns_env, "www.good-dns.test.", "AAAA")
    nxdomain = ask(dns_env, "nope.good-dns.test.", "A")
    assert (answer.status, answer.records, answer.error) == (DnsStatus.ANSWER, ["192.0.2.10"], None)
    assert (nodata.status, nodata.absent, nodata.error) == (DnsStatus.NODATA, True, None)
    assert (nxdomain.status, nxdomain.absent, nxdomain.error) == (DnsStatus.NXDOMAIN, True, None)
    assert answer.name == "www.good-dns.test."
    assert answer.server == "127.0.6.53"
    assert answer.port == 5053


def test_cname_chain_is_followed(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "alias.good-dns.test.", "A")
    assert answer.status is DnsStatus.ANSWER
    assert answer.canonical_name == "www.good-dns.test."
    rrset = answer.rrset()
    assert rrset is not None
    assert str(rrset.name) == "www.good-dns.test."


def test_truncated_udp_is_retried_over_tcp(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "big.good-dns.test.", "TXT")
    assert answer.status is DnsStatus.ANSWER
    assert answer.udp_truncated
    assert answer.transport == "tcp"
    assert len(answer.records) == 8


def test_dnssec_data_and_ad_flag(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "good-dns.test.", "SOA", want_dnssec=True)
    assert answer.ad
    sigs = answer.rrsig_rrset()
    assert sigs is not None
    assert sigs.rdtype == dns.rdatatype.RRSIG
    denial = ask(dns_env, "nope.good-dns.test.", "A", want_dnssec=True)
    types = {rrset.rdtype for rrset in parse_rrsets(denial.authority)}
    assert {dns.rdatatype.SOA, dns.rdatatype.NSEC, dns.rdatatype.RRSIG} <= types


def test_servfail_is_an_error_not_absence(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "broken-dnssec.test.", "TXT")
    assert answer.status is DnsStatus.SERVFAIL
    assert not answer.absent
    assert answer.error is not None
    assert answer.error.reason is ErrorReason.SERVFAIL


def test_direct_questions(dns_env: DnsEnv) -> None:
    refused = direct("good-dns.test.", "SOA", SECONDARY)
    referral = direct("good-dns.test.", "NS", PARENT)
    assert refused.status is DnsStatus.REFUSED
    assert refused.error is not None
    assert refused.error.reason is ErrorReason.REFUSED
    assert referral.status is DnsStatus.REFERRAL
    assert not referral.aa
    assert "good-dns.test. 300 IN NS ns1.good-dns.test." in referral.authority
    assert "ns2.good-dns.test. 300 IN A 127.0.1.2" in referral.additional


def test_silent_server(dns_env: DnsEnv) -> None:
    udp = direct("timeout.test.", "SOA", DEAD)
    tcp = direct("timeout.test.", "SOA", DEAD, tcp=True)
    # Nothing listens there: refused (ICMP port unreachable), not a timeout.
    assert (udp.status, udp.reason) == (
        DnsStatus.NETWORK_ERROR,
        "connection refused (ICMP port unreachable)",
    )
    assert (tcp.status, tcp.reason) == (DnsStatus.NETWORK_ERROR, "connection refused")
    assert udp.error is not None
    assert udp.error.reason is ErrorReason.NETWORK_ERROR
    assert not udp.responded
    assert not tcp.responded


def test_invalid_question_is_not_sent(dns_env: DnsEnv) -> None:
    answer = ask(dns_env, "bad..name", "A")
    assert answer.status is DnsStatus.INVALID
    assert answer.server is None


def test_loopback_guard() -> None:
    _loopback_only(("127.0.0.2", 53))
    with pytest.raises(AssertionError, match=r"only 127\.0\.0\.0/8"):
        _loopback_only(("192.0.2.1", 53))


def test_loopback_guard_covers_connect_ex() -> None:
    """dnspython connects TCP sockets with connect_ex: guarded before any packet."""
    with socket.socket() as sock, pytest.raises(AssertionError, match="only 127"):
        sock.connect_ex(("192.0.2.1", 53))


def test_axfr_allowed_refused_and_cut_off(dns_env: DnsEnv) -> None:
    whole = axfr_probe("axfr-open.test.", PRIMARY[0], timeout=1.0)
    assert (whole.status, whole.records, whole.complete) == (AxfrStatus.ALLOWED, 8, True)
    # One message brings the whole small zone; reading stops after it, before the end.
    cut = axfr_probe("axfr-open.test.", PRIMARY[0], timeout=1.0, limit=3)
    assert (cut.status, cut.records, cut.complete) == (AxfrStatus.ALLOWED, 8, False)
    refused = axfr_probe("good-dns.test.", PRIMARY[0], timeout=1.0)
    assert (refused.status, refused.rcode, refused.records) == (AxfrStatus.REFUSED, "NOTAUTH", 0)
    dead = axfr_probe("timeout.test.", DEAD, timeout=0.5)
    assert (dead.status, dead.reason) == (AxfrStatus.ERROR, "connection refused")


@contextmanager
def _tcp_server(hang_up: bool) -> Iterator[int]:
    """A loopback TCP port that reads the request and hangs up, or never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            with server.accept()[0] as connection:
                connection.recv(512)

        thread = threading.Thread(target=serve, daemon=True) if hang_up else None
        if thread:
            thread.start()
        yield port
        if thread:
            thread.join(timeout=2)


@pytest.mark.parametrize(
    ("hang_up", "status", "reason"),
    [
        (True, AxfrStatus.REFUSED, "connection closed before a response"),
        (False, AxfrStatus.ERROR, "no response within 0.3 s"),
    ],
)
def test_axfr_hang_up_is_refused_silence_is_error(
    hang_up: bool, status: AxfrStatus, reason: str
) -> None:
    with _tcp_server(hang_up) as port:
        probe = axfr_probe("example.test.", "127.0.0.1", timeout=0.3, port=port)
    assert (probe.status, probe.reason, probe.records) == (status, reason, 0)
