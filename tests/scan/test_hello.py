"""Raw ClientHello probes and TLS 1.3 resumption against real servers.

Servers: the session nginx (Debian OpenSSL 3.0: no ML-KEM), a pyOpenSSL server on the
OpenSSL 3.5 of the ``cryptography`` wheel (ML-KEM groups), one more nginx with TLS 1.3
tickets that cannot be resumed, a stdlib server that issues no ticket, an aiosmtpd
STARTTLS server, and hostile servers that drip, flood, send garbage or never answer.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sslyze import ScanCommand, Scanner, ServerScanRequest
from sslyze.server_setting import ServerNetworkLocation

from scan_targets import (
    CERTS_DIR,
    CLOSED_PORT,
    HOST,
    SERVER_NAME,
    Scenario,
    find_closed_port,
    scenario,
    tls_directives,
)
from servers.nginx import NginxServer
from servers.pqc import ML_KEM_GROUPS, PqcServer
from tlsaudit.models.facts import EphemeralKey, ErrorReason, ProbeError
from tlsaudit.scan.hello import (
    LEGACY_GROUPS,
    AcceptedCode,
    Alert,
    Answer,
    Closed,
    ServerHello,
    TlsVersion,
    client_hello,
    enumerate_suites,
    exchange,
    probe,
    probe_groups_tls13,
)
from tlsaudit.scan.iana import (
    CIPHER_SUITES,
    SUPPORTED_GROUPS,
    TLS13_GROUPS,
    group_name,
)
from tlsaudit.scan.resumption import probe_tls13_resumption

TIMEOUT = 3.0
HOSTILE_TIMEOUT = 0.5
ALL_SUITES = tuple(CIPHER_SUITES)
CODE_BY_NAME = {name: code for code, name in CIPHER_SUITES.items()}
GROUP_CODE = {name: code for code, name in SUPPORTED_GROUPS.items()}
ML_KEM = frozenset(GROUP_CODE[name] for name in ML_KEM_GROUPS)
X25519, SECP256R1 = GROUP_CODE["X25519"], GROUP_CODE["secp256r1"]
TLS13_AEAD = {0x1301, 0x1302, 0x1303}

X25519_KEY = EphemeralKey(kind="ECDH", size=253, group="X25519")
FFDHE3072_KEY = EphemeralKey(kind="DH", size=3072, group="ffdhe3072")


def codes(result: tuple[AcceptedCode, ...]) -> set[int]:
    return {accepted.code for accepted in result}


def names(groups: tuple[int, ...]) -> list[str]:
    return [group_name(group) for group in groups]


# -- servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pqc_default() -> Iterator[PqcServer]:
    """OpenSSL 3.5's default group list."""
    with PqcServer(groups=None) as server:
        yield server


@pytest.fixture(scope="module")
def no_resume_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """nginx, TLS 1.3, ``ssl_session_tickets off`` and no session cache."""
    port = find_closed_port()
    while port == CLOSED_PORT:
        port = find_closed_port()
    target = Scenario(
        "tls13_no_resume",
        port,
        tls_directives(protocols="TLSv1.3", extra=("ssl_session_tickets off",)),
        description="TLS 1.3, tickets off and no session cache: tickets come but never resume",
    )
    server = NginxServer([target], tmp_path_factory.mktemp("nginx-no-resume")).start()
    yield target
    server.stop()


@pytest.fixture(scope="module")
def no_ticket_port() -> Iterator[int]:
    """A stdlib TLS 1.3 server with ``num_tickets = 0``: nothing to resume with."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS_DIR / "good-rsa3072-chain.pem", CERTS_DIR / "good-rsa3072.key")
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.num_tickets = 0

    class NoTicket(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            with contextlib.suppress(OSError), context.wrap_socket(self.request, True) as tls:
                while tls.recv(1024):
                    pass

    with _serve(NoTicket) as port:
        yield port


@contextlib.contextmanager
def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    server = socketserver.ThreadingTCPServer((HOST, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


Behaviour = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def hostile(behaviour: Behaviour) -> Iterator[int]:
    """A TCP server running *behaviour* on every connection; stopped on exit."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(5)
            with contextlib.suppress(OSError):
                behaviour(self.request, stop)

    try:
        with _serve(Handler) as port:
            yield port
    finally:
        stop.set()


def record(kind: int, payload: bytes, version: int = 0x0303) -> bytes:
    return bytes([kind]) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def server_hello(
    suite: int,
    *,
    version: int = 0x0303,
    extensions: bytes | None = None,
    session_id: bytes = b"",
    server_random: bytes = bytes(32),
) -> bytes:
    """A ServerHello handshake message (without its record)."""
    body = version.to_bytes(2, "big") + server_random + bytes([len(session_id)]) + session_id
    body += suite.to_bytes(2, "big") + b"\x00"
    if extensions is not None:
        body += len(extensions).to_bytes(2, "big") + extensions
    return b"\x02" + len(body).to_bytes(3, "big") + body


def extension(kind: int, data: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def read_hello(sock: socket.socket) -> None:
    sock.recv(65536)


def answer(data: bytes) -> Behaviour:
    """Read the ClientHello, send *data*, close."""

    def behave(sock: socket.socket, _: threading.Event) -> None:
        read_hello(sock)
        sock.sendall(data)

    return behave


def silent(sock: socket.socket, stop: threading.Event) -> None:
    read_hello(sock)
    stop.wait(10)


def drip(sock: socket.socket, stop: threading.Event) -> None:
    """A record announcing 16 KiB, then one byte every 50 ms."""
    read_hello(sock)
    sock.sendall(b"\x16\x03\x03\x40\x00")
    while not stop.wait(0.05):
        sock.sendall(b"\x0b")


def flood(sock: socket.socket, stop: threading.Event) -> None:
    """Endless change_cipher_spec records (which a reader skips before a ServerHello)."""
    read_hello(sock)
    chunk = record(20, b"\x01") * 4096
    while not stop.is_set():
        sock.sendall(chunk)


def reset(sock: socket.socket, _: threading.Event) -> None:
    """Close with SO_LINGER 0: a TCP reset."""
    read_hello(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- ClientHello -----------------------------------------------------------------------


def _extensions(hello: bytes) -> dict[int, bytes]:
    """Extensions of a one-record ClientHello, as written by client_hello."""
    assert hello[0] == 22
    assert int.from_bytes(hello[3:5], "big") == len(hello) - 5
    body = hello[9:]
    position = 2 + 32
    position += 1 + body[position]  # session id
    position += 2 + int.from_bytes(body[position : position + 2], "big")  # suites
    position += 1 + body[position]  # compression
    end = position + 2 + int.from_bytes(body[position : position + 2], "big")
    assert end == len(body)
    position += 2
    found = {}
    while position < end:
        kind = int.from_bytes(body[position : position + 2], "big")
        length = int.from_bytes(body[position + 2 : position + 4], "big")
        found[kind] = body[position + 4 : position + 4 + length]
        position += 4 + length
    return found


def test_client_hello_tls12_extensions() -> None:
    hello = client_hello(TlsVersion.TLS1_2, [0xC02F], LEGACY_GROUPS, "localhost")
    assert hello[1:3] == b"\x03\x01"
    assert hello[9:11] == b"\x03\x03"
    found = _extensions(hello)
    assert found[0] == b"\x00\x0c\x00\x00\x09localhost"
    assert found[0xFF01] == b"\x00"
    assert found[11] == b"\x01\x00"
    assert 43 not in found
    assert 51 not in found
    sigalgs = found[13][2:]
    offered = {int.from_bytes(sigalgs[i : i + 2], "big") for i in range(0, len(sigalgs), 2)}
    assert {0x0201, 0x0202, 0x0804, 0x0809, 0x0807, 0x0403} <= offered  # SHA-1, DSA, PSS, EdDSA


def test_client_hello_tls13_and_no_sni_for_addresses() -> None:
    hello = client_hello(TlsVersion.TLS1_3, [0x1301], [X25519], "127.0.0.1", [(X25519, b"k" * 32)])
    assert hello[9:11] == b"\x03\x03"
    found = _extensions(hello)
    assert 0 not in found
    assert found[43] == b"\x02\x03\x04"
    assert found[51] == b"\x00\x24\x00\x1d\x00\x20" + b"k" * 32
    assert found[45] == b"\x01\x01"
    assert found[10] == b"\x00\x02\x00\x1d"
    assert 0 not in _extensions(client_hello(TlsVersion.TLS1_3, [0x1301], [X25519], "::1"))


def test_client_hello_padding_and_ssl3_record() -> None:
    """Between 256 and 511 bytes a padding extension brings the hello to 512 (RFC 7685)."""
    for count in range(40, 140, 7):
        hello = client_hello(TlsVersion.TLS1_2, list(range(1, count)), LEGACY_GROUPS, None)
        assert not 0xFF < len(hello) - 5 < 0x200
    assert client_hello(TlsVersion.SSL3_0, [0x0005], LEGACY_GROUPS, None)[1:3] == b"\x03\x00"


# -- groups (TLS 1.3) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("good", ["secp256r1", "secp384r1", "X25519"]),
        ("tls13_only", ["secp256r1", "secp384r1", "X25519"]),
        ("ffdhe13", ["X25519", "ffdhe2048", "ffdhe3072"]),
    ],
)
def test_groups_on_nginx(nginx: object, name: str, expected: list[str]) -> None:
    """Exactly the configured groups, in TLS13_GROUPS order; no ML-KEM on OpenSSL 3.0."""
    target = scenario(name)
    result = probe_groups_tls13(target.host, target.port, SERVER_NAME, TLS13_GROUPS, TIMEOUT)
    assert result.errors == {}
    assert names(result.supported) == expected
    assert set(result.supported) | set(result.rejected) == set(TLS13_GROUPS)
    assert not ML_KEM & set(result.supported)


def test_groups_on_tls12_only_server(nginx: object) -> None:
    target = scenario("anon_camellia")
    result = probe_groups_tls13(target.host, target.port, SERVER_NAME, [X25519, 0x0100], TIMEOUT)
    assert result.supported == ()
    assert result.rejected == ()
    assert {group: error.reason for group, error in result.errors.items()} == {
        X25519: ErrorReason.HANDSHAKE_FAILED,
        0x0100: ErrorReason.HANDSHAKE_FAILED,
    }
    assert "protocol_version" in result.errors[X25519].detail


def test_ml_kem_groups_on_openssl_35(pqc: PqcServer) -> None:
    """Every ML-KEM group the server is configured with is found, and nothing else."""
    result = probe_groups_tls13(pqc.host, pqc.port, SERVER_NAME, TLS13_GROUPS, TIMEOUT)
    assert result.errors == {}
    assert set(names(result.supported)) == {*ML_KEM_GROUPS, "X25519"}


def test_ml_kem_default_groups_of_openssl_35(pqc_default: PqcServer) -> None:
    """OpenSSL 3.5's default list: X25519MLKEM768 is the one ML-KEM group."""
    server = pqc_default
    result = probe_groups_tls13(server.host, server.port, SERVER_NAME, TLS13_GROUPS, TIMEOUT)
    assert result.errors == {}
    assert ML_KEM & set(result.supported) == {GROUP_CODE["X25519MLKEM768"]}
    assert {"X25519", "secp256r1"} <= set(names(result.supported))


def test_ml_kem_server_answers_retry_for_its_preferred_group(pqc_default: PqcServer) -> None:
    """OpenSSL 3.5 asks for X25519MLKEM768 (HelloRetryRequest) over an X25519 key share."""
    hello = client_hello(
        TlsVersion.TLS1_3,
        [0x1301],
        [X25519, GROUP_CODE["X25519MLKEM768"]],
        SERVER_NAME,
        [(X25519, bytes(range(1, 33)))],
    )
    result = probe(pqc_default.host, pqc_default.port, hello, TIMEOUT)
    assert result == ServerHello(0x0304, 0x1301, GROUP_CODE["X25519MLKEM768"], retry=True)


# -- cipher suites by elimination ------------------------------------------------------


def _openssl_suites(target: Scenario, version_flag: str) -> set[int]:
    """Suites `openssl ciphers -V -s` lists for the scenario, minus unusable auth types."""
    (cipher_string,) = (
        d.split(" ", 1)[1].strip("'") for d in target.directives if d.startswith("ssl_ciphers ")
    )
    auth = {"None", "RSA"} | ({"ECDSA"} if "ecdsa" in " ".join(target.directives) else set())
    output = subprocess.run(
        ["openssl", "ciphers", "-V", "-s", version_flag, cipher_string],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        int(high + low, 16)
        for high, low, au in re.findall(r"0x(..),0x(..) - \S+\s+\S+\s+Kx=\S+\s+Au=(\S+)", output)
        if au in auth
    }


@pytest.mark.parametrize(
    ("name", "version", "flag", "expected"),
    [
        ("anon_camellia", TlsVersion.TLS1_2, "-tls1_2", {0x00BF, 0x00C5, 0xC02F, 0xC030}),
        ("tls10", TlsVersion.TLS1_0, "-tls1", {0xC013, 0xC014}),
        ("tls10", TlsVersion.TLS1_1, "-tls1_1", {0xC013, 0xC014}),
        (
            "tls10",
            TlsVersion.TLS1_2,
            "-tls1_2",
            {0xC013, 0xC014, 0xC027, 0xC028, 0xC02F, 0xC030},
        ),
    ],
)
def test_elimination_finds_the_configured_suites(
    nginx: object, name: str, version: TlsVersion, flag: str, expected: set[int]
) -> None:
    """Offering every IANA suite finds exactly what the cipher string allows."""
    target = scenario(name)
    result = enumerate_suites(target.host, target.port, SERVER_NAME, version, ALL_SUITES, TIMEOUT)
    assert result.error is None, result.error
    assert result.ended_by == "alert handshake_failure"
    assert codes(result.accepted) == expected == _openssl_suites(target, flag)
    assert len(result.accepted) == len(expected)


def test_elimination_reports_ephemeral_keys(nginx: object) -> None:
    target = scenario("anon_camellia")
    result = enumerate_suites(
        target.host, target.port, SERVER_NAME, TlsVersion.TLS1_2, ALL_SUITES, TIMEOUT
    )
    keys = {accepted.name: accepted.key for accepted in result.accepted}
    assert keys == {
        "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256": FFDHE3072_KEY,
        "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256": FFDHE3072_KEY,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": X25519_KEY,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": X25519_KEY,
    }


def _sslyze_accepted(target: Scenario) -> dict[TlsVersion, set[int]]:
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(
            hostname=SERVER_NAME, port=target.port, ip_address=target.host
        ),
        scan_commands={ScanCommand.TLS_1_2_CIPHER_SUITES, ScanCommand.TLS_1_3_CIPHER_SUITES},
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = scanner.get_results()
    assert result.scan_result is not None
    attempts = result.scan_result
    found = {}
    for version, attempt in [
        (TlsVersion.TLS1_2, attempts.tls_1_2_cipher_suites),
        (TlsVersion.TLS1_3, attempts.tls_1_3_cipher_suites),
    ]:
        assert attempt.result is not None
        found[version] = {
            CODE_BY_NAME[accepted.cipher_suite.name]
            for accepted in attempt.result.accepted_cipher_suites
        }
    return found


def test_elimination_matches_sslyze_on_good(nginx: object) -> None:
    target = scenario("good")
    expected = _sslyze_accepted(target)
    assert len(expected[TlsVersion.TLS1_2]) == 8
    assert expected[TlsVersion.TLS1_3] == TLS13_AEAD
    assert expected[TlsVersion.TLS1_2] == _openssl_suites(target, "-tls1_2")
    for version in (TlsVersion.TLS1_2, TlsVersion.TLS1_3):
        result = enumerate_suites(
            target.host, target.port, SERVER_NAME, version, ALL_SUITES, TIMEOUT
        )
        assert result.error is None
        assert codes(result.accepted) == expected[version], version.label
        assert len(result.accepted) == len(expected[version])


@pytest.mark.parametrize(
    ("name", "version", "ended_by"),
    [
        ("good", TlsVersion.TLS1_1, "alert protocol_version"),
        ("good", TlsVersion.SSL3_0, "alert handshake_failure"),
        ("tls13_only", TlsVersion.TLS1_2, "alert protocol_version"),
        ("tls10", TlsVersion.TLS1_3, "alert protocol_version"),
    ],
)
def test_versions_not_accepted(
    nginx: object, name: str, version: TlsVersion, ended_by: str
) -> None:
    target = scenario(name)
    result = enumerate_suites(target.host, target.port, SERVER_NAME, version, ALL_SUITES, TIMEOUT)
    assert (result.accepted, result.error, result.ended_by) == ((), None, ended_by)


def test_tls13_suites_on_openssl_35(pqc: PqcServer) -> None:
    """One tuple of groups: the server takes the X25519 key share rather than ask for ML-KEM."""
    result = enumerate_suites(
        pqc.host, pqc.port, SERVER_NAME, TlsVersion.TLS1_3, ALL_SUITES, TIMEOUT
    )
    assert result.error is None
    assert codes(result.accepted) == TLS13_AEAD
    assert {accepted.key for accepted in result.accepted} == {X25519_KEY}


# -- STARTTLS --------------------------------------------------------------------------


def test_starttls_smtp(smtp_port: int) -> None:
    suites = enumerate_suites(
        HOST, smtp_port, SERVER_NAME, TlsVersion.TLS1_2, ALL_SUITES, TIMEOUT, starttls="smtp"
    )
    assert suites.error is None
    assert codes(suites.accepted) == {0xC02F, 0xC030}
    groups = probe_groups_tls13(
        HOST, smtp_port, SERVER_NAME, [X25519, *ML_KEM], TIMEOUT, starttls="smtp"
    )
    assert (groups.supported, groups.errors) == ((X25519,), {})
    assert probe_tls13_resumption(HOST, smtp_port, SERVER_NAME, TIMEOUT, starttls="smtp")


def test_starttls_refused_and_silent() -> None:
    def refuse(sock: socket.socket, _: threading.Event) -> None:
        sock.sendall(b"554 5.3.2 go away\r\n")

    def banner_only(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"220 mail.test ESMTP\r\n")
        stop.wait(10)

    hello = client_hello(TlsVersion.TLS1_2, [0xC02F], LEGACY_GROUPS, None)
    with hostile(refuse) as port:
        result = probe(HOST, port, hello, HOSTILE_TIMEOUT, starttls="smtp")
    assert isinstance(result, ProbeError)
    assert result.reason is ErrorReason.STARTTLS_FAILED
    with hostile(banner_only) as port:
        started = time.monotonic()
        result = probe(HOST, port, hello, HOSTILE_TIMEOUT, starttls="smtp")
    assert time.monotonic() - started < HOSTILE_TIMEOUT + 0.5
    assert isinstance(result, ProbeError)
    assert result.reason is ErrorReason.TIMEOUT


# -- resumption ------------------------------------------------------------------------


def test_resumption_on_tls13_only(nginx: object) -> None:
    target = scenario("tls13_only")
    assert probe_tls13_resumption(target.host, target.port, SERVER_NAME, TIMEOUT) is True


def test_no_resumption_when_tickets_are_not_accepted(no_resume_nginx: Scenario) -> None:
    """nginx ``ssl_session_tickets off`` without a cache still sends (useless) tickets."""
    target = no_resume_nginx
    assert probe_tls13_resumption(target.host, target.port, SERVER_NAME, TIMEOUT) is False


def test_no_resumption_without_tickets(no_ticket_port: int) -> None:
    started = time.monotonic()
    assert probe_tls13_resumption(HOST, no_ticket_port, SERVER_NAME, 1.0) is False
    assert time.monotonic() - started < 2.0


def test_resumption_with_ca_file(nginx: object, tmp_path: Path) -> None:
    target = scenario("tls13_only")
    ca = CERTS_DIR / "ca.pem"
    assert probe_tls13_resumption(target.host, target.port, SERVER_NAME, TIMEOUT, ca_file=ca)
    wrong = CERTS_DIR / "selfsigned.pem"
    result = probe_tls13_resumption(target.host, target.port, SERVER_NAME, TIMEOUT, ca_file=wrong)
    assert isinstance(result, ProbeError)
    assert result.reason is ErrorReason.HANDSHAKE_FAILED
    missing = probe_tls13_resumption(
        target.host, target.port, SERVER_NAME, TIMEOUT, ca_file=tmp_path / "none.pem"
    )
    assert isinstance(missing, ProbeError)
    assert missing.reason is ErrorReason.ENGINE_ERROR


def test_resumption_on_tls12_only_server(nginx: object) -> None:
    target = scenario("anon_camellia")
    result = probe_tls13_resumption(target.host, target.port, SERVER_NAME, TIMEOUT)
    assert isinstance(result, ProbeError)
    assert result.reason is ErrorReason.HANDSHAKE_FAILED


# -- errors: not TLS, closed, hostile --------------------------------------------------


def _all_probes(port: int, timeout: float) -> list[object]:
    return [
        enumerate_suites(HOST, port, SERVER_NAME, TlsVersion.TLS1_2, ALL_SUITES, timeout).error,
        probe_groups_tls13(HOST, port, SERVER_NAME, [X25519], timeout).errors.get(X25519),
        probe_tls13_resumption(HOST, port, SERVER_NAME, timeout),
    ]


def test_plain_http_is_not_tls(nginx: object) -> None:
    suites, group, resumption = _all_probes(scenario("plain_http").port, TIMEOUT)
    assert isinstance(suites, ProbeError)
    assert suites.reason is ErrorReason.NOT_TLS
    assert "HTTP/1.1 400 Bad Request" in suites.detail
    assert isinstance(group, ProbeError)
    assert group.reason is ErrorReason.NOT_TLS
    assert isinstance(resumption, ProbeError)
    assert resumption.reason is ErrorReason.HANDSHAKE_FAILED


def test_closed_port() -> None:
    for error in _all_probes(CLOSED_PORT, TIMEOUT):
        assert isinstance(error, ProbeError)
        assert error.reason is ErrorReason.CONNECTION_REFUSED


@pytest.mark.parametrize("behaviour", [silent, drip], ids=["silent", "drip"])
def test_slow_servers_time_out(behaviour: Behaviour) -> None:
    """Every probe ends within its timeout (plus scheduling slack)."""
    with hostile(behaviour) as port:
        started = time.monotonic()
        results = _all_probes(port, HOSTILE_TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed < 3 * HOSTILE_TIMEOUT + 1.0
    for error in results:
        assert isinstance(error, ProbeError), error
        assert error.reason is ErrorReason.TIMEOUT, error


GARBAGE: dict[str, tuple[bytes, ErrorReason]] = {
    "garbage": (b"\x00\xff" + bytes(range(256)), ErrorReason.NOT_TLS),
    "smtp_banner": (b"220 mail.test ESMTP\r\n", ErrorReason.NOT_TLS),
    "sslv2": (b"\x80\x2e\x04\x00\x01", ErrorReason.NOT_TLS),
    "huge_record": (b"\x16\x03\x03\xff\xff" + bytes(64), ErrorReason.INVALID_ANSWER),
    "bad_version": (b"\x16\x07\x03\x00\x04\x02\x00\x00\x00", ErrorReason.INVALID_ANSWER),
    "empty_hello": (record(22, b"\x02\x00\x00\x00"), ErrorReason.INVALID_ANSWER),
    "truncated_hello": (record(22, server_hello(0xC02F)[:30]), ErrorReason.INVALID_ANSWER),
    "truncated_record": (record(22, server_hello(0xC02F))[:20], ErrorReason.INVALID_ANSWER),
    "long_session_id": (
        record(22, server_hello(0xC02F, session_id=bytes(33))),
        ErrorReason.INVALID_ANSWER,
    ),
    "bad_extension_length": (
        record(22, server_hello(0xC02F, extensions=b"\x00\x17\x00\x09")),
        ErrorReason.INVALID_ANSWER,
    ),
    "duplicate_extension": (
        record(22, server_hello(0xC02F, extensions=extension(23, b"") * 2)),
        ErrorReason.INVALID_ANSWER,
    ),
    "application_data": (record(23, b"hello"), ErrorReason.INVALID_ANSWER),
    "certificate_first": (record(22, b"\x0b\x00\x00\x03\x00\x00\x00"), ErrorReason.INVALID_ANSWER),
    "short_alert": (record(21, b"\x02"), ErrorReason.INVALID_ANSWER),
    "hrr_tls12": (
        record(22, server_hello(0xC02F, server_random=HRR_RANDOM, extensions=b"")),
        ErrorReason.INVALID_ANSWER,
    ),
    "tls13_without_key_share": (
        record(22, server_hello(0x1301, extensions=extension(43, b"\x03\x04"))),
        ErrorReason.INVALID_ANSWER,
    ),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_gives_a_clear_error(name: str) -> None:
    data, reason = GARBAGE[name]
    with hostile(answer(data)) as port:
        result = enumerate_suites(
            HOST, port, SERVER_NAME, TlsVersion.TLS1_2, [0xC02F, 0xC030], HOSTILE_TIMEOUT
        )
    assert result.accepted == ()
    assert result.error is not None
    assert result.error.reason is reason, result.error


def test_flood_is_cut_off() -> None:
    with hostile(flood) as port:
        result = probe(HOST, port, client_hello(TlsVersion.TLS1_2, [1], [], None), 10.0)
    assert isinstance(result, ProbeError)
    assert result.reason is ErrorReason.INVALID_ANSWER
    assert "bytes before the ServerHello ended" in result.detail


def test_refusals_end_the_enumeration_without_error() -> None:
    cases: list[tuple[Behaviour, str]] = [
        (answer(b""), "connection closed"),
        (reset, "connection reset"),
        (answer(record(21, b"\x02\x28")), "alert handshake_failure"),
        (answer(record(21, b"\x01\x00")), "connection closed"),  # close_notify
    ]
    for behaviour, ended_by in cases:
        with hostile(behaviour) as port:
            result = enumerate_suites(
                HOST, port, SERVER_NAME, TlsVersion.TLS1_2, [0xC02F], HOSTILE_TIMEOUT
            )
        assert (result.accepted, result.error, result.ended_by) == ((), None, ended_by)


def test_other_alerts_are_errors() -> None:
    with hostile(answer(record(21, b"\x02\x32"))) as port:
        result = enumerate_suites(HOST, port, None, TlsVersion.TLS1_2, [0xC02F], HOSTILE_TIMEOUT)
    assert result.error is not None
    assert result.error.reason is ErrorReason.HANDSHAKE_FAILED
    assert result.ended_by == "the server sent alert decode_error (50)"


def test_a_suite_that_was_not_offered_stops_the_enumeration() -> None:
    with hostile(answer(record(22, server_hello(0x0005)))) as port:
        result = enumerate_suites(HOST, port, None, TlsVersion.TLS1_2, [0xC02F], HOSTILE_TIMEOUT)
    assert result.accepted == ()
    assert result.error is not None
    assert result.error.reason is ErrorReason.INVALID_ANSWER
    assert "TLS_RSA_WITH_RC4_128_SHA, which was not offered" in result.error.detail


def test_a_server_repeating_its_pick_is_stopped() -> None:
    with hostile(answer(record(22, server_hello(0xC02F)))) as port:
        result = enumerate_suites(
            HOST, port, None, TlsVersion.TLS1_2, [0xC02F, 0xC030], HOSTILE_TIMEOUT
        )
    assert result.accepted == (AcceptedCode(0xC02F),)
    assert result.error is not None
    assert result.error.reason is ErrorReason.INVALID_ANSWER


def test_fragmented_hello_after_a_warning_alert() -> None:
    """One-byte records and a warning alert (unrecognized_name) first: still read."""
    message = server_hello(0x009C)
    flight = record(21, b"\x01\x70") + b"".join(record(22, bytes([b])) for b in message)
    with hostile(answer(flight)) as port:
        result = probe(HOST, port, client_hello(TlsVersion.TLS1_2, [0x9C], [], None), TIMEOUT)
    assert result == ServerHello(0x0303, 0x009C)


def test_wrong_group_in_retry_is_an_error() -> None:
    retry = server_hello(
        0x1301,
        server_random=HRR_RANDOM,
        extensions=extension(43, b"\x03\x04") + extension(51, SECP256R1.to_bytes(2, "big")),
    )
    with hostile(answer(record(22, retry))) as port:
        result = probe_groups_tls13(HOST, port, None, [X25519, SECP256R1], HOSTILE_TIMEOUT)
    assert result.supported == (SECP256R1,)
    assert result.errors[X25519].reason is ErrorReason.INVALID_ANSWER


# -- mutations of a real first flight --------------------------------------------------


def _real_flight(target: Scenario, hello: bytes) -> bytes:
    """The raw first flight of the server, read until it goes quiet."""
    with socket.create_connection((target.host, target.port), timeout=TIMEOUT) as sock:
        sock.sendall(hello)
        data = b""
        sock.settimeout(0.3)
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                data += chunk
    return data


def _replay(data: bytes, hello: bytes) -> Answer | ProbeError:
    server, client = socket.socketpair()
    with server, client:
        server.sendall(data)
        server.shutdown(socket.SHUT_WR)
        return exchange(client, hello, time.monotonic() + HOSTILE_TIMEOUT)


def test_mutated_flights_never_raise(nginx: object) -> None:
    """Truncations and byte flips of nginx's real answer: a value every time, no exception."""
    hello = client_hello(TlsVersion.TLS1_2, [0x009E], LEGACY_GROUPS, SERVER_NAME)
    flight = _real_flight(scenario("good"), hello)
    assert _replay(flight, hello) == ServerHello(0x0303, 0x009E, key=FFDHE3072_KEY)
    generator = random.Random(2024)
    variants = [flight[:cut] for cut in range(0, len(flight), 11)]
    for _ in range(300):
        mutated = bytearray(flight)
        for _ in range(generator.randrange(1, 4)):
            mutated[generator.randrange(min(len(flight), 600))] = generator.randrange(256)
        variants.append(bytes(mutated))
    started = time.monotonic()
    outcomes = [_replay(variant, hello) for variant in variants]
    assert time.monotonic() - started < 10
    for outcome in outcomes:
        assert isinstance(outcome, ServerHello | Alert | Closed | ProbeError)
        if isinstance(outcome, ProbeError):
            assert outcome.reason in (ErrorReason.INVALID_ANSWER, ErrorReason.NOT_TLS)
