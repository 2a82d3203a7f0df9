"""`tlsaudit demo`: two throw-away TLS servers on loopback, one compliant and one not, audited.

Needs no network beyond 127.0.0.1 and no root: the servers are Python's ssl module in
threads, with a private CA made on the fly and passed to the scan as ``--ca-file``.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlsaudit.inventory import Target
from tlsaudit.models.report import Report
from tlsaudit.orchestrate import audit
from tlsaudit.render.i18n import msg
from tlsaudit.scan.options import ScanOptions

HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Strict-Transport-Security: max-age=31536000\r\nConnection: close\r\n\r\nok\n"
)


@dataclass(frozen=True)
class DemoServer:
    label: str
    context: ssl.SSLContext


def run_demo(lang: str = "en") -> Report:
    """Start the servers, audit them under the default profile, stop them; the servers are
    named in ``lang``."""
    with tempfile.TemporaryDirectory(prefix="tlsaudit-demo-") as tmp:
        ca_file, servers = _make_servers(Path(tmp), lang)
        with serving(servers) as ports:
            targets = [
                Target(
                    raw=f"{s.label} (localhost:{port})", host="localhost", port=port, ip="127.0.0.1"
                )
                for s, port in zip(servers, ports, strict=True)
            ]
            return audit(targets, options=ScanOptions(ca_file=ca_file, timeout=3.0))


def _make_servers(tmp: Path, lang: str = "en") -> tuple[Path, list[DemoServer]]:
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = _certificate("tlsaudit demo CA", ca_key, ca_key.public_key(), None, ca=True)
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    good_key = ec.generate_private_key(ec.SECP256R1())
    good = _context(
        tmp / "good", good_key, _certificate("localhost", ca_key, good_key.public_key(), ca)
    )
    good.minimum_version = ssl.TLSVersion.TLSv1_2
    good.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")

    bad_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = _context(
        tmp / "bad", bad_key, _certificate("localhost", ca_key, bad_key.public_key(), ca)
    )
    with warnings.catch_warnings():  # the deprecated version is the point of this server
        warnings.simplefilter("ignore", DeprecationWarning)
        bad.minimum_version = ssl.TLSVersion.TLSv1
    bad.maximum_version = ssl.TLSVersion.TLSv1_2
    bad.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0")
    return ca_file, [
        DemoServer(msg("ui.demo_good", lang), good),
        DemoServer(msg("ui.demo_bad", lang), bad),
    ]


def _certificate(
    name: str,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Certificate | None,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _context(
    stem: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cert: x509.Certificate
) -> ssl.SSLContext:
    key_file, cert_file = stem.with_suffix(".key"), stem.with_suffix(".pem")
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


class _Handler(socketserver.BaseRequestHandler):
    """Handshake, answer one HTTP request (with HSTS), close. Probes that break are ignored."""

    server: _TlsServer

    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            with self.server.context.wrap_socket(self.request, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                tls.sendall(HTTP_RESPONSE)
        except (OSError, ssl.SSLError):
            return


class _TlsServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], address: object
    ) -> None:
        """Hostile probes (Heartbleed, SSLv2 hellos) end a connection, never the server."""


@contextmanager
def serving(servers: list[DemoServer]) -> Iterator[list[int]]:
    """Serve each context on an ephemeral 127.0.0.1 port (one HTTP answer with HSTS per
    connection); yields the ports."""
    running = [_TlsServer(s.context) for s in servers]
    threads = [threading.Thread(target=r.serve_forever, daemon=True) for r in running]
    for thread in threads:
        thread.start()
    try:
        yield [r.server_address[1] for r in running]
    finally:
        for server in running:
            server.shutdown()
            server.server_close()
