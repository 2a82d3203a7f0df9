"""Deadlines with real sockets on loopback: every hostile peer ends within its documented
deadline with a precise reason, and the rest of the batch completes.

nginx serves the healthy TLS endpoint (``TLSAUDIT_NGINX_BASE_PORT`` moves its ports); the
hostile peers are a few lines of sockets each, on ports the kernel picks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest

from scan_targets import scenario
from servers.hostile import drip_tls_handshake, silent, tcp_server
from servers.hostile import endless_greeting as greeting_forever
from servers.nginx import NginxServer
from tlsaudit.models.dns import DnsStatus
from tlsaudit.models.facts import Endpoint, ErrorReason
from tlsaudit.scan import smtp
from tlsaudit.scan.dnsquery import RESOLVERS, lookup, query_server
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import endpoint_deadline, scan_endpoints

TIMEOUT = 0.5
SLACK = 3.0
"""Seconds allowed past a deadline (thread start-up, a loaded machine)."""


def _non_utf8_ehlo(conn: socket.socket) -> None:
    conn.sendall(b"220 mx.test ESMTP\r\n")
    while data := conn.recv(4096):
        if data.upper().startswith((b"EHLO", b"HELO")):
            conn.sendall(b"554 \xff\xfe\xfd not UTF-8\r\n")
        elif data.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return


def _drip_ehlo(conn: socket.socket) -> None:
    conn.sendall(b"220 mx.test ESMTP\r\n")
    conn.recv(4096)
    for byte in b"250-mx.test\r\n250 STARTTLS\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(1)


@pytest.fixture(scope="module")
def drip_tls() -> Iterator[int]:
    with tcp_server(drip_tls_handshake) as port:
        yield port


@pytest.fixture(scope="module")
def endless_greeting() -> Iterator[int]:
    with tcp_server(greeting_forever) as port:
        yield port


@pytest.fixture(scope="module")
def non_utf8_ehlo() -> Iterator[int]:
    with tcp_server(_non_utf8_ehlo) as port:
        yield port


@pytest.fixture(scope="module")
def drip_ehlo() -> Iterator[int]:
    with tcp_server(_drip_ehlo) as port:
        yield port


@pytest.fixture(scope="module")
def good_nginx(nginx: NginxServer) -> int:
    """The session's nginx (every scenario, started once): the good scenario's port."""
    return scenario("good").port


def _endpoint(port: int, starttls: str | None = None) -> Endpoint:
    return Endpoint.model_validate(
        {
            "host": "localhost",
            "port": port,
            "ip": "127.0.0.1",
            "sni": "localhost",
            "starttls": starttls,
            "https": starttls is None,
        }
    )


# --- TLS: the per-endpoint deadline ---------------------------------------------------


def test_endpoint_deadline_is_documented_multiple() -> None:
    assert endpoint_deadline(5.0) == 120.0
    assert endpoint_deadline(0.5) == 12.0
    assert endpoint_deadline(60.0) == 300.0  # capped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_hostile_endpoints_time_out_and_the_batch_completes(
    good_nginx: int, drip_tls: int, non_utf8_ehlo: int
) -> None:
    """A server dripping one byte a second, and an SMTP server whose non-UTF-8 EHLO reply
    kills sslyze's STARTTLS helper thread in a full scan (``get_results()`` would wait
    forever): each ends at the endpoint deadline, except the non-UTF-8 reply in a compliance
    scan, which is a STARTTLS error at once; the healthy nginx endpoint of the same batch is
    fully scanned."""
    endpoints = [
        _endpoint(drip_tls),
        _endpoint(good_nginx),
        _endpoint(non_utf8_ehlo, starttls="smtp"),
    ]
    deadline = endpoint_deadline(TIMEOUT)
    for full in (True, False):
        finished: list[float] = []
        start = time.monotonic()
        facts = scan_endpoints(
            endpoints,
            ScanOptions(timeout=TIMEOUT, full=full),
            on_done=lambda _: finished.append(time.monotonic() - start),  # noqa: B023
        )
        elapsed = time.monotonic() - start
        assert elapsed < deadline + SLACK
        drip, good, broken = facts
        timed_out = (drip, broken) if full else (drip,)
        for hostile in timed_out:
            assert hostile.connectivity is not None
            assert hostile.connectivity.reason is ErrorReason.TIMEOUT
            assert hostile.connectivity.detail.startswith(
                f"timeout: no result within {deadline:g} s"
            )
        if not full:
            assert broken.connectivity is not None
            assert broken.connectivity.reason is ErrorReason.STARTTLS_FAILED
            assert "SMTP reply is not UTF-8 text" in broken.connectivity.detail
            assert finished[0] < deadline  # at once, not at the deadline
        assert good.connectivity is None
        assert any(p.accepted.value for p in good.protocols)
        assert min(finished) < deadline  # the healthy endpoint did not wait for the others


# --- SMTP: reply limits and the dialogue deadline -------------------------------------


def test_greeting_that_never_ends(endless_greeting: int) -> None:
    start = time.monotonic()
    facts = smtp.dialogue(
        "mx.test", "127.0.0.1", endless_greeting, helo="t", timeout=TIMEOUT, greeting_timeout=1.5
    )
    elapsed = time.monotonic() - start
    assert elapsed < 1.5 + SLACK
    assert facts.error is not None
    assert facts.error.reason is ErrorReason.TIMEOUT
    assert "timeout: no complete reply within 1.5 s" in facts.error.detail


def test_reply_dripped_byte_by_byte(drip_ehlo: int) -> None:
    start = time.monotonic()
    facts = smtp.dialogue(
        "mx.test", "127.0.0.1", drip_ehlo, helo="t", timeout=TIMEOUT, greeting_timeout=2
    )
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert facts.error is not None
    assert facts.error.reason is ErrorReason.TIMEOUT
    assert f"timeout: no complete reply within {TIMEOUT:g} s" in facts.error.detail


def test_non_utf8_ehlo_is_read_not_raised(non_utf8_ehlo: int) -> None:
    facts = smtp.dialogue(
        "mx.test", "127.0.0.1", non_utf8_ehlo, helo="t", timeout=TIMEOUT, greeting_timeout=2
    )
    assert facts.value is not None
    assert not facts.value.esmtp
    assert any("\ufffd" in line for line in facts.value.transcript)


def test_dialogue_deadline_is_documented() -> None:
    assert smtp.dialogue_deadline(5.0, 30.0) == 90.0


# --- DNS: a silent resolver costs one timeout, a refusing one says so -----------------


@pytest.fixture
def fresh_resolvers() -> Iterator[None]:
    RESOLVERS.forget()
    yield
    RESOLVERS.forget()


@pytest.fixture
def silent_udp() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_tcp() -> Iterator[int]:
    with tcp_server(silent) as port:
        yield port


def _closed_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_resolver() -> Iterator[int]:
    """A UDP responder that answers every A question with 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                wire, peer = sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1"))
            sock.sendto(response.to_wire(), peer)

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.usefixtures("fresh_resolvers")
def test_silent_resolver_costs_one_timeout_not_42(silent_udp: int, live_resolver: int) -> None:
    dead = ScanOptions(resolver=("127.0.0.1", silent_udp), timeout=TIMEOUT)
    live = ScanOptions(resolver=("127.0.0.1", live_resolver), timeout=TIMEOUT)
    start = time.monotonic()
    answers = [lookup(f"n{i}.example.test", "TXT", dead) for i in range(42)]
    elapsed = time.monotonic() - start
    # one question (timeout) and one liveness check (timeout / 2), then nothing is sent
    assert elapsed < TIMEOUT * 1.5 + SLACK
    assert all(a.status is DnsStatus.TIMEOUT for a in answers)
    assert answers[0].reason == f"no response within {TIMEOUT:g} s"
    assert answers[1].reason is not None
    assert answers[1].reason.startswith(f"not asked: resolver 127.0.0.1:{silent_udp} stopped")
    # another resolver of the same process is unaffected
    answer = lookup("www.example.test", "A", live)
    assert answer.status is DnsStatus.ANSWER
    assert answer.records == ["127.0.0.1"]


@pytest.mark.usefixtures("fresh_resolvers")
def test_resolver_slow_on_one_name_is_not_dead(live_resolver: int) -> None:
    RESOLVERS.timed_out("127.0.0.1", live_resolver, TIMEOUT)  # the liveness check answers
    assert RESOLVERS.skip("127.0.0.1", live_resolver) is None


@pytest.mark.usefixtures("fresh_resolvers")
def test_refusing_resolver_says_refused_at_once() -> None:
    port = _closed_port(socket.SOCK_DGRAM)
    options = ScanOptions(resolver=("127.0.0.1", port), timeout=TIMEOUT)
    start = time.monotonic()
    answer = lookup("www.example.test", "A", options)
    assert time.monotonic() - start < TIMEOUT
    assert answer.status is DnsStatus.NETWORK_ERROR
    assert answer.reason is not None
    assert answer.reason == "connection refused (ICMP port unreachable)"
    assert answer.error is not None
    assert answer.error.detail == (
        "www.example.test. A from 127.0.0.1: connection refused (ICMP port unreachable)"
    )


def test_refusing_tcp_port_says_refused() -> None:
    port = _closed_port(socket.SOCK_STREAM)
    answer = query_server(
        "example.test", "SOA", "127.0.0.1", tcp=True, recursion=False, timeout=TIMEOUT, port=port
    )
    assert answer.status is DnsStatus.NETWORK_ERROR
    assert answer.reason is not None
    assert answer.reason == "connection refused"


def test_silent_tcp_port_times_out(silent_tcp: int) -> None:
    start = time.monotonic()
    answer = query_server(
        "example.test", "SOA", "127.0.0.1", tcp=True, recursion=False, timeout=TIMEOUT,
        port=silent_tcp,
    )  # fmt: skip
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert answer.status is DnsStatus.TIMEOUT
    assert answer.reason == f"no response within {TIMEOUT:g} s"


def test_silent_udp_port_times_out(silent_udp: int) -> None:
    start = time.monotonic()
    answer = query_server(
        "example.test", "SOA", "127.0.0.1", tcp=False, recursion=False, timeout=TIMEOUT,
        port=silent_udp,
    )  # fmt: skip
    assert time.monotonic() - start < TIMEOUT + SLACK
    assert answer.status is DnsStatus.TIMEOUT
