"""The sslyze scanner against real local servers: ``openssl s_server`` and a plain HTTP socket.

One batch scan per module covers: a TLS 1.2 + 1.3 server with an RSA and an ECDSA chain
(scanned by name, by IP address and by a wrong name), a TLS 1.3 server offering only
FFDHE (TLS, but nothing sslyze can negotiate), a plain HTTP server and a closed port.
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_parameters
from sslyze.plugins.certificate_info.trust_stores.trust_store_repository import (
    TrustStoresRepository,
)

from tlsaudit.errors import InputError
from tlsaudit.models.facts import (
    AcceptedSuite,
    CertificateDeployment,
    Endpoint,
    EphemeralKey,
    ErrorReason,
    Hsts,
    Observed,
    Renegotiation,
    Resumption,
    Robot,
    TlsFacts,
)
from tlsaudit.records.curves import _ffdhe_primes, ffdhe_name, normalise_curve
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import COVERAGE_COMPLIANCE, ENGINE, scan_endpoints

REPO = Path(__file__).resolve().parents[2]
CERTS = REPO / "fixtures" / "certs"
CA = CERTS / "ca.pem"
FFDHE3072 = REPO / "tests" / "servers" / "dhparams" / "ffdhe3072.pem"
HOST = "127.0.0.1"

GOOD_SERVER = (
    *("-cert", CERTS / "good-rsa3072.pem", "-key", CERTS / "good-rsa3072.key"),
    *("-cert_chain", CERTS / "intermediate.pem"),
    *("-dcert", CERTS / "good-ecdsa-p256.pem", "-dkey", CERTS / "good-ecdsa-p256.key"),
    *("-dcert_chain", CERTS / "intermediate.pem"),
    *("-no_ssl3", "-no_tls1", "-no_tls1_1"),
    *("-cipher", "ECDHE+AESGCM:DHE+AESGCM"),
    *("-ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"),
    *("-groups", "X25519:P-384", "-dhparam", FFDHE3072),
)
FFDHE_ONLY_SERVER = (
    *("-cert", CERTS / "good-rsa3072.pem", "-key", CERTS / "good-rsa3072.key"),
    *("-tls1_3", "-groups", "ffdhe2048"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"openssl s_server exited: {process.stderr and process.stderr.read()!r}"
            )
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"openssl s_server did not listen on {port}")


class _BadRequest(socketserver.BaseRequestHandler):
    """Answers anything with HTTP 400, as nginx does on a plain HTTP port."""

    def handle(self) -> None:
        self.request.settimeout(2)
        self.request.recv(4096)
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def endpoint(port: int, host: str = "localhost") -> Endpoint:
    return Endpoint(host=host, port=port, ip=HOST, https=True)


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, Endpoint]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl binary not installed")
    processes: list[subprocess.Popen[bytes]] = []
    http = socketserver.ThreadingTCPServer((HOST, 0), _BadRequest)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    # One s_server per scanned endpoint: s_server handles one connection at a time.
    ports = {}
    try:
        for name, args in [
            ("good", GOOD_SERVER),
            ("good_ip", GOOD_SERVER),
            ("wrong_name", GOOD_SERVER),
            ("ffdhe_only", FFDHE_ONLY_SERVER),
        ]:
            port = free_port()
            command = [openssl, "s_server", "-accept", f"{HOST}:{port}", "-www", "-quiet"]
            process = subprocess.Popen(
                [*command, *map(str, args)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            processes.append(process)
            wait_for_port(port, process)
            ports[name] = port
        yield {
            "good": endpoint(ports["good"]),
            "good_ip": endpoint(ports["good_ip"], host=HOST),
            "wrong_name": endpoint(ports["wrong_name"], host="other.example"),
            "ffdhe_only": endpoint(ports["ffdhe_only"]),
            "plain_http": endpoint(http.server_address[1]),
            "closed": endpoint(free_port()),
        }
    finally:
        http.shutdown()
        http.server_close()
        for process in processes:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def done() -> list[TlsFacts]:
    return []


@pytest.fixture(scope="module")
def facts(endpoints: dict[str, Endpoint], done: list[TlsFacts]) -> dict[str, TlsFacts]:
    results = scan_endpoints(
        list(endpoints.values()), ScanOptions(ca_file=CA, timeout=2.0), on_done=done.append
    )
    return dict(zip(endpoints, results, strict=True))


def fingerprint(path: Path) -> str:
    return x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()


def deployment_with_key(facts: TlsFacts, algorithm: str) -> CertificateDeployment:
    assert facts.certificates.value is not None
    (found,) = [
        d
        for d in facts.certificates.value.deployments
        if d.received_chain[0].key.algorithm == algorithm
    ]
    return found


def test_results_in_input_order_and_reported_once(
    endpoints: dict[str, Endpoint], facts: dict[str, TlsFacts], done: list[TlsFacts]
) -> None:
    assert [f.endpoint for f in facts.values()] == list(endpoints.values())
    assert sorted(f.endpoint.port for f in done) == sorted(e.port for e in endpoints.values())
    assert {f.engine for f in facts.values()} == {ENGINE} == {"sslyze 6.3.1"}


def test_protocols_and_suites(facts: dict[str, TlsFacts]) -> None:
    good = facts["good"]
    assert good.connectivity is None
    for version in ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1"):
        protocol = good.protocol(version)
        assert protocol is not None
        assert protocol.accepted == Observed.of([])
    x25519 = EphemeralKey(kind="ECDH", size=253, group="X25519")
    p384 = EphemeralKey(kind="ECDH", size=384, group="secp384r1")
    ffdhe = EphemeralKey(kind="DH", size=3072, group="ffdhe3072")
    tls13 = good.protocol("TLS 1.3")
    assert tls13 is not None
    assert sorted(tls13.accepted.value or [], key=lambda s: s.name) == [
        AcceptedSuite(name=name, openssl_name=name, ephemeral_key=x25519)
        for name in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")
    ]
    tls12 = good.protocol("TLS 1.2")
    assert tls12 is not None
    assert {(s.name, s.openssl_name, s.ephemeral_key) for s in tls12.accepted.value or []} == {
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", p384),
        ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", p384),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", p384),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", p384),
        ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", ffdhe),
        ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", ffdhe),
    }
    assert good.groups == Observed.of(["X25519", "secp384r1"])


def test_other_settings(facts: dict[str, TlsFacts]) -> None:
    good = facts["good"]
    assert good.heartbleed == Observed.of(False)
    assert good.ccs_injection == Observed.of(False)
    assert good.robot == Observed.of(Robot.NO_RSA_KEX)
    assert good.renegotiation == Observed.of(Renegotiation(secure=True, client_initiated=False))
    assert good.compression == Observed.of(False)
    assert good.fallback_scsv == Observed.of(True)
    assert good.extended_master_secret == Observed.of(True)
    assert good.early_data == Observed.of(False)
    assert good.resumption == Observed.of(Resumption(session_id=False, tickets=True, tls13=True))
    assert good.hsts == Observed[Hsts | None].of(None)  # s_server -www sends no HSTS header
    assert good.coverage == [
        *COVERAGE_COMPLIANCE,
        "Suites no OpenSSL build implements were offered at TLS 1.2, TLS 1.3 and the versions"
        " the server accepts, not at SSL 3.0, TLS 1.0, TLS 1.1 (--full offers them there).",
    ]


def test_certificate_deployments(facts: dict[str, TlsFacts]) -> None:
    info = facts["good"].certificates.value
    assert info is not None
    assert info.hostname == "localhost"
    assert len(info.deployments) == 2
    rsa, ecdsa = deployment_with_key(facts["good"], "RSA"), deployment_with_key(facts["good"], "EC")
    leaf = rsa.received_chain[0]
    assert (leaf.key.size, leaf.key.curve) == (3072, None)
    assert (ecdsa.received_chain[0].key.size, ecdsa.received_chain[0].key.curve) == (
        256,
        "secp256r1",
    )
    assert leaf.subject == "CN=localhost,O=tlsaudit test PKI,C=JP"
    assert leaf.issuer == "CN=tlsaudit Test Intermediate CA,O=tlsaudit test PKI,C=JP"
    assert leaf.san_dns == ["localhost", "tlsaudit.test"]
    assert leaf.san_ip == ["127.0.0.1"]
    assert (leaf.signature_algorithm, leaf.signature_hash) == ("sha256WithRSAEncryption", "sha256")
    assert (leaf.self_signed, leaf.is_ca) == (False, False)
    assert leaf.not_after.isoformat() == "2045-01-01T00:00:00+00:00"
    chain = [fingerprint(CERTS / "good-rsa3072.pem"), fingerprint(CERTS / "intermediate.pem")]
    assert [c.sha256 for c in rsa.received_chain] == chain
    anchor = fingerprint(CA)
    assert [c.sha256 for c in rsa.verified_chain] == [*chain, anchor]
    assert (rsa.verified_chain[-1].self_signed, rsa.verified_chain[-1].is_ca) == (True, True)
    assert (rsa.hostname_matches, rsa.chain_order_valid) == (True, True)
    assert (rsa.ocsp_stapled, rsa.ocsp_status) == (False, None)


def test_trust_per_store(facts: dict[str, TlsFacts]) -> None:
    rsa = deployment_with_key(facts["good"], "RSA")
    bundled = {
        f"{s.name} {s.version}" for s in TrustStoresRepository.get_default().get_all_stores()
    }
    ca_file = f"ca-file ({CA})"
    assert {t.store for t in rsa.trust} == {*bundled, ca_file}
    (trusted,) = [t for t in rsa.trust if t.valid]
    assert trusted.store == ca_file
    assert trusted.error is None
    assert trusted.verified_chain == [c.sha256 for c in rsa.verified_chain]


def test_ip_address_target(facts: dict[str, TlsFacts]) -> None:
    by_ip = facts["good_ip"]
    rsa = deployment_with_key(by_ip, "RSA")
    assert rsa.hostname_matches is True
    assert [t.store for t in rsa.trust if t.valid] == [f"ca-file ({CA})"]
    assert by_ip.coverage[-1:] == [
        "The target is an IP address; sslyze sends 127.0.0.1 as the SNI name (RFC 6066 allows"
        " only host names), so a server that picks its certificate by SNI may answer"
        " differently to clients that send none."
    ]


def test_wrong_name_fails_hostname_and_path_validation(facts: dict[str, TlsFacts]) -> None:
    rsa = deployment_with_key(facts["wrong_name"], "RSA")
    assert rsa.hostname_matches is False
    # sslyze validates the path for the SNI name, so the CA file no longer validates either.
    (ca_file,) = [t for t in rsa.trust if t.store == f"ca-file ({CA})"]
    assert ca_file.valid is False
    assert ca_file.error is not None
    assert "leaf certificate has no matching subjectAltName" in ca_file.error
    assert rsa.verified_chain == []


def test_closed_port(facts: dict[str, TlsFacts], endpoints: dict[str, Endpoint]) -> None:
    closed = facts["closed"]
    assert closed.connectivity is not None
    assert closed.connectivity.reason is ErrorReason.CONNECTION_REFUSED
    assert closed.connectivity.detail == (
        "sslyze.errors.ServerRejectedConnection:"
        f' localhost:{endpoints["closed"].port} -> "Server rejected the connection".'
    )
    assert (closed.protocols, closed.coverage) == ([], [])
    assert closed.certificates.error is not None
    assert closed.certificates.error.reason is ErrorReason.NOT_SCANNED


def test_plain_http_is_not_tls(facts: dict[str, TlsFacts]) -> None:
    plain = facts["plain_http"]
    assert plain.connectivity is not None
    assert plain.connectivity.reason is ErrorReason.NOT_TLS
    assert plain.connectivity.detail.endswith(
        'could not find a TLS version and cipher suite supported by the server".'
        ' Probe: answered a TLS ClientHello with non-TLS data: "HTTP/1.1 400 Bad Request".'
    )


def test_tls_server_without_common_parameters(facts: dict[str, TlsFacts]) -> None:
    ffdhe_only = facts["ffdhe_only"]
    assert ffdhe_only.connectivity is not None
    assert ffdhe_only.connectivity.reason is ErrorReason.HANDSHAKE_FAILED
    assert ffdhe_only.connectivity.detail.endswith(
        "Probe: answers in TLS, but no handshake sslyze offers works. This machine's OpenSSL"
        " completes one (TLSv1.3, TLS_AES_256_GCM_SHA384). It accepts TLS 1.3 with ffdhe2048,"
        " a group sslyze cannot offer."
    )


def test_json_round_trip(facts: dict[str, TlsFacts]) -> None:
    for scanned in facts.values():
        assert TlsFacts.model_validate_json(scanned.model_dump_json()) == scanned


def test_missing_ca_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="CA file"):
        scan_endpoints([endpoint(free_port())], ScanOptions(ca_file=tmp_path / "none.pem"))


def test_ffdhe_primes_match_rfc7919_file() -> None:
    numbers = load_pem_parameters(FFDHE3072.read_bytes()).parameter_numbers()
    assert ffdhe_name(numbers.p, numbers.g) == "ffdhe3072"
    assert ffdhe_name(numbers.p, 5) is None
    assert sorted(_ffdhe_primes().values()) == [
        "ffdhe2048",
        "ffdhe3072",
        "ffdhe4096",
        "ffdhe6144",
        "ffdhe8192",
    ]


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("prime256v1", "secp256r1"),
        ("P-256", "secp256r1"),
        ("secp384r1", "secp384r1"),
        ("P-521", "secp521r1"),
        ("x25519", "X25519"),
        ("X448", "X448"),
        ("brainpoolP256r1", "brainpoolP256r1"),
        ("SECT571R1", "sect571r1"),
    ],
)
def test_curve_names(given: str, canonical: str) -> None:
    assert normalise_curve(given) == canonical
