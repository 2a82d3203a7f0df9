"""Loopback mail servers for the mail tests: aiosmtpd SMTP servers and one HTTPS server.

:data:`SMTP_SCENARIOS` lists one server per behaviour, each on its own 127.0.0.2x
address (port 25, or 587 for submission); :data:`POLICIES` are the MTA-STS policy files
the HTTPS server on :data:`HTTPS_ADDRESS`:443 serves by Host name. Start everything with
:class:`MailServers` (a context manager); certificates for the MX and ``mta-sts.`` names
are issued at start-up by the test PKI's intermediate CA (``fixtures/certs``), dated from
the tests' pinned ``now`` (never from the clock): see :func:`issue_certificate`.

No server ever delivers mail: ``DATA`` is refused. One scenario is deliberately vulnerable
to STARTTLS command injection (CVE-2011-0411): :class:`InjectableSmtp`, a few lines of
asyncio, since aiosmtpd drops the plaintext buffered before the handshake as it should.
"""

from __future__ import annotations

import asyncio
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

from servers.pki import CERTS_DIR, issue_certificate

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    injectable: bool = False
    """Served by :class:`InjectableSmtp` (needs ``starttls``) instead of aiosmtpd."""


SMTP_SCENARIOS = (
    SmtpScenario("starttls-fixture-cert", "127.0.0.21", starttls="fixture"),
    SmtpScenario("no-starttls", "127.0.0.22"),
    SmtpScenario("open-relay", "127.0.0.23", relay=True),
    SmtpScenario("closed-relay", "127.0.0.24", local_domains=("relay-closed.test",)),
    SmtpScenario("submission-auth-tls", "127.0.0.25", 587, starttls="fixture", auth="tls"),
    SmtpScenario("submission-auth-clear", "127.0.0.26", 587, starttls="fixture", auth="clear"),
    SmtpScenario("starttls-issued-cert", "127.0.0.27", starttls="issued"),
    SmtpScenario("starttls-dane", "127.0.0.29", starttls="dane"),
    SmtpScenario("starttls-injection", "127.0.0.20", starttls="fixture", injectable=True),
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


class InjectableSmtp:
    """An SMTP server vulnerable to STARTTLS command injection, on its own thread and loop.

    After ``220`` it upgrades with :meth:`asyncio.StreamWriter.start_tls`, which leaves the
    reader's buffer alone: a command that came in the same packet as ``STARTTLS`` is then
    read and answered inside TLS, as by the MTAs of CVE-2011-0411. It knows EHLO, HELO,
    STARTTLS, RSET, NOOP and QUIT; everything else (MAIL, DATA, ...) is refused.
    """

    def __init__(self, ip: str, port: int, context: ssl.SSLContext) -> None:
        self.address = (ip, port)
        self.context = context
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"injectable SMTP server on {self.address} did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with await asyncio.start_server(self._session, *self.address):
            self._ready.set()
            await self._stop.wait()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(code: int, *texts: str) -> None:
            lines = [f"{code}-{text}" for text in texts[:-1]] + [f"{code} {texts[-1]}"]
            writer.write("".join(f"{line}\r\n" for line in lines).encode("ascii"))
            await writer.drain()

        tls = False
        try:
            await reply(220, "injectable.test ESMTP (vulnerable test server)")
            while line := await reader.readline():
                match (line.split() or [b""])[0].decode("ascii", "replace").upper():
                    case "EHLO":
                        await reply(250, "injectable.test", *(["STARTTLS"] if not tls else []))
                    case "HELO" | "RSET" | "NOOP":
                        await reply(250, "2.0.0 OK")
                    case "STARTTLS" if not tls:
                        await reply(220, "2.0.0 Ready to start TLS")
                        await writer.start_tls(self.context)  # the flaw: reader keeps its buffer
                        tls = True
                    case "QUIT":
                        await reply(221, "2.0.0 Bye")
                        break
                    case _:
                        await reply(502, "5.5.1 not implemented by this test server")
        except (OSError, ValueError):
            pass  # client gone or handshake failed
        finally:
            writer.close()


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
    """Every SMTP scenario and the MTA-STS HTTPS server, started together; ``now`` dates
    the issued certificates (the tests' pinned evaluation time)."""

    def __init__(self, workdir: Path, *, now: datetime.datetime) -> None:
        self.workdir = workdir
        self.now = now
        self.controllers: list[Controller | InjectableSmtp] = []
        self.https: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        issued = issue_certificate(ISSUED_NAMES, self.workdir, now=self.now)
        contexts: dict[Certificate, Callable[[], ssl.SSLContext]] = {
            "fixture": lambda: _server_context(
                CERTS_DIR / "good-rsa3072-chain.pem", CERTS_DIR / "good-rsa3072.key"
            ),
            "issued": lambda: _server_context(*issued),
            "dane": lambda: _server_context(DANE_PEM, DANE_PEM),
        }
        for scenario in SMTP_SCENARIOS:
            tls_context = contexts[scenario.starttls]() if scenario.starttls else None
            if scenario.injectable and tls_context is not None:
                server = InjectableSmtp(scenario.ip, scenario.port, tls_context)
                server.start()
                self.controllers.append(server)
                continue
            kwargs: dict[str, Any] = {"hostname": scenario.ip, "port": scenario.port}
            if tls_context is not None:
                kwargs["tls_context"] = tls_context
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
