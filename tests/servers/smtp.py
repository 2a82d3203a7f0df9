"""Loopback mail servers for the mail tests: aiosmtpd SMTP servers and one HTTPS server.

:data:`SMTP_SCENARIOS` lists one server per behaviour, each on its own 127.0.0.2x
address (port 25, or 587 for submission); :data:`POLICIES` are the MTA-STS policy files
the HTTPS server on :data:`HTTPS_ADDRESS`:443 serves by Host name. Start everything with
:class:`MailServers` (a context manager); certificates for the MX and ``mta-sts.`` names
are issued at start-up by the test PKI's intermediate CA (``fixtures/certs``).

No server ever delivers mail: ``DATA`` is refused.
"""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
CERTS_DIR = REPO_ROOT / "fixtures" / "certs"
CA_CERT = CERTS_DIR / "ca.pem"
DANE_PEM = REPO_ROOT / "tests" / "maildns" / "mail" / "dane-mx.pem"
"""Static self-signed certificate and key whose SPKI hash is in dane-good.test's TLSA."""
HTTPS_ADDRESS = "127.0.0.28"

Certificate = Literal["fixture", "issued", "dane"]
"""``fixture``: good-rsa3072 (names localhost, tlsaudit.test); ``issued``: a leaf for
:data:`ISSUED_NAMES`; ``dane``: :data:`DANE_PEM`."""
ISSUED_NAMES = (
    "mx.mail-good.test",
    "mx.sts-enforce.test",
    "mta-sts.sts-enforce.test",
    "mta-sts.sts-mismatch.test",
)


@dataclass(frozen=True)
class SmtpScenario:
    """One aiosmtpd server."""

    name: str
    ip: str
    port: int = 25
    starttls: Certificate | None = None
    relay: bool = False
    """Accept RCPT TO any domain (an open relay); otherwise only the local domains."""
    auth: Literal["none", "tls", "clear"] = "none"
    """AUTH not offered, offered only after STARTTLS, or offered before it too."""
    local_domains: tuple[str, ...] = ()


SMTP_SCENARIOS = (
    SmtpScenario("starttls-fixture-cert", "127.0.0.21", starttls="fixture"),
    SmtpScenario("no-starttls", "127.0.0.22"),
    SmtpScenario("open-relay", "127.0.0.23", relay=True),
    SmtpScenario("closed-relay", "127.0.0.24", local_domains=("relay-closed.test",)),
    SmtpScenario("submission-auth-tls", "127.0.0.25", 587, starttls="fixture", auth="tls"),
    SmtpScenario("submission-auth-clear", "127.0.0.26", 587, starttls="fixture", auth="clear"),
    SmtpScenario("starttls-issued-cert", "127.0.0.27", starttls="issued"),
    SmtpScenario("starttls-dane", "127.0.0.29", starttls="dane"),
)

POLICIES = {
    "mta-sts.sts-enforce.test": "version: STSv1\nmode: enforce\nmx: mx.sts-enforce.test\n"
    "max_age: 86400\n",
    "mta-sts.sts-mismatch.test": "version: STSv1\r\nmode: enforce\r\nmx: mail.sts-mismatch.test\r\n"
    "max_age: 604800\r\n",
}


class _Handler:
    """Accepts RCPT TO for local domains (or every domain when relaying); refuses DATA."""

    def __init__(self, scenario: SmtpScenario) -> None:
        self.scenario = scenario

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if self.scenario.relay or domain in self.scenario.local_domains:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return "554 5.7.1 Relay access denied"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return "554 5.7.0 test server: no mail is accepted"


def _refuse_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    return AuthResult(success=False, handled=False)


def _server_context(chain: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2/1.3 with ECDHE AEAD suites only (the profile's good configuration)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.load_cert_chain(chain, key)
    return context


def issue_certificate(names: tuple[str, ...], out: Path) -> tuple[Path, Path]:
    """A leaf for ``names`` signed by the test intermediate: (chain file, key file)."""
    issuer_cert = x509.load_pem_x509_certificate((CERTS_DIR / "intermediate.pem").read_bytes())
    issuer_key = serialization.load_pem_private_key(
        (CERTS_DIR / "intermediate.key").read_bytes(), password=None
    )
    assert isinstance(issuer_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    chain, key_file = out / "issued-chain.pem", out / "issued.key"
    pem = serialization.Encoding.PEM
    chain.write_bytes(cert.public_bytes(pem) + issuer_cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_file


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        body = POLICIES.get(host) if self.path == "/.well-known/mta-sts.txt" else None
        data = (body or "not found\n").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""


class MailServers:
    """Every SMTP scenario and the MTA-STS HTTPS server, started together."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.controllers: list[Controller] = []
        self.https: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        issued = issue_certificate(ISSUED_NAMES, self.workdir)
        contexts: dict[Certificate, Callable[[], ssl.SSLContext]] = {
            "fixture": lambda: _server_context(
                CERTS_DIR / "good-rsa3072-chain.pem", CERTS_DIR / "good-rsa3072.key"
            ),
            "issued": lambda: _server_context(*issued),
            "dane": lambda: _server_context(DANE_PEM, DANE_PEM),
        }
        for scenario in SMTP_SCENARIOS:
            kwargs: dict[str, Any] = {"hostname": scenario.ip, "port": scenario.port}
            if scenario.starttls:
                kwargs["tls_context"] = contexts[scenario.starttls]()
            if scenario.auth != "none":
                kwargs["authenticator"] = _refuse_login
                kwargs["auth_require_tls"] = scenario.auth == "tls"
            controller = Controller(_Handler(scenario), **kwargs)
            controller.start()
            self.controllers.append(controller)
        self.https = http.server.ThreadingHTTPServer((HTTPS_ADDRESS, 443), _PolicyHandler)
        context = _server_context(*issued)
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self._thread = threading.Thread(target=self.https.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self.controllers.clear()
        if self.https is not None:
            self.https.shutdown()
            self.https.server_close()
            self.https = None

    def __enter__(self) -> MailServers:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
