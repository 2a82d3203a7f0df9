"""SMTP dialogues: STARTTLS and AUTH offered or not, the open-relay probe and the STARTTLS
command-injection probe.

A small client of our own rather than :mod:`smtplib`: it connects to one address while
naming the MX host in SNI, keeps a transcript, caps reply sizes (hostile servers), and
never sends ``DATA``/``BDAT`` — the relay probe stops at ``RCPT TO``, then ``RSET`` and
``QUIT``. Certificates are not verified here; that is the TLS scanner's job.
"""

from __future__ import annotations

import base64
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tlsaudit.models.facts import ErrorReason, Observed, ProbeError
from tlsaudit.models.mail import (
    InjectionProbe,
    RelayAttempt,
    RelayProbe,
    SmtpFacts,
    SmtpReply,
    TlsSession,
)

MAX_LINE = 4096
"""Longest reply line accepted (RFC 5321 §4.5.3.1.5 allows 512)."""
MAX_LINES = 200
"""Most lines in one multi-line reply."""
DIALOGUE_FACTOR = 12
"""A whole SMTP connection (greeting to QUIT) ends within the greeting timeout plus this
many times the timeout, whatever the server does (a greeting of ``220-`` lines that never
ends, a server that drips one byte a second)."""


def dialogue_deadline(timeout: float, greeting_timeout: float) -> float:
    """Seconds one SMTP connection may last in all: ``greeting_timeout + 12 × timeout``
    (90 s with the defaults). Each reply must also be complete within its own limit: the
    greeting within ``greeting_timeout``, every other reply within ``timeout``."""
    return greeting_timeout + DIALOGUE_FACTOR * timeout


class SmtpError(Exception):
    """The dialogue could not go on; ``reason`` classifies why."""

    def __init__(self, reason: ErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Session:
    """One SMTP connection: replies read line by line, everything logged to ``transcript``."""

    def __init__(self, ip: str, port: int, timeout: float, greeting_timeout: float) -> None:
        self.transcript: list[str] = []
        self._timeout = timeout
        self._buffer = b""
        self._total = dialogue_deadline(timeout, greeting_timeout)
        self._deadline = time.monotonic() + self._total
        self._reply_limit = greeting_timeout
        """Seconds the next reply may take, all its lines together."""
        try:
            self._sock: socket.socket = socket.create_connection((ip, port), timeout=timeout)
        except OSError as exc:
            error = probe_error(exc)
            raise SmtpError(error.reason, f"connect: {error.detail}") from exc

    def close(self) -> None:
        with suppress(OSError):
            self._sock.close()

    def tls(self, server_name: str) -> TlsSession:
        """Handshake on the connection (after STARTTLS, or first for implicit TLS)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("ALL:@SECLEVEL=0")
        if self._buffer:  # plaintext after the STARTTLS reply must not pass for a TLS reply
            self.transcript.append(f"-- discarded plaintext before TLS: {self._buffer[:80]!r}")
            self._buffer = b""
        self._sock.settimeout(self._remaining(time.monotonic() + self._timeout, self._timeout))
        try:  # the handshake as a whole is bounded by the socket timeout
            tls = context.wrap_socket(self._sock, server_hostname=server_name)
        except TimeoutError as exc:
            raise SmtpError(ErrorReason.TIMEOUT, f"TLS handshake: {self._late_reason()}") from exc
        except (ssl.SSLError, OSError) as exc:
            raise SmtpError(ErrorReason.HANDSHAKE_FAILED, f"TLS handshake: {exc}") from exc
        self._sock = tls
        version, cipher = str(tls.version()), (tls.cipher() or ("unknown",))[0]
        self.transcript.append(f"-- TLS {version} {cipher}")
        chain = [base64.b64encode(der).decode("ascii") for der in served_chain(tls)]
        return TlsSession(version=version, cipher=cipher, chain=chain)

    def reply(self) -> SmtpReply:
        """Read one (possibly multi-line) reply, complete within its limit (the greeting's
        timeout for the first reply, the timeout for the others) and the dialogue's."""
        limit, self._reply_limit = self._reply_limit, self._timeout
        until = time.monotonic() + limit
        lines: list[str] = []
        while len(lines) < MAX_LINES:
            line = self._line(until, limit)
            self.transcript.append(f"S: {line}")
            if len(line) < 3 or not line[:3].isascii() or not line[:3].isdigit():
                raise SmtpError(ErrorReason.INVALID_ANSWER, f"not an SMTP reply: {line[:80]!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return SmtpReply(code=int(line[:3]), text="\n".join(lines))
        raise SmtpError(ErrorReason.INVALID_ANSWER, f"reply longer than {MAX_LINES} lines")

    def unsolicited(self, wait: float) -> SmtpReply | None:
        """A reply the server sends within ``wait`` seconds without a command (None: none)."""
        self._reply_limit = wait
        try:
            return self.reply()
        except SmtpError as exc:
            if exc.reason is not ErrorReason.TIMEOUT or self._buffer or self._over():
                raise
            return None
        finally:
            self._reply_limit = self._timeout

    def send(self, *lines: str) -> None:
        """Write the command lines in one ``sendall`` (pipelined when there are several)."""
        self.transcript += [f"C: {line}" for line in lines]
        try:  # a socket a failed TLS handshake closed raises here too (EBADF)
            self._sock.settimeout(self._remaining(time.monotonic() + self._timeout, self._timeout))
            self._sock.sendall(b"".join(line.encode("ascii") + b"\r\n" for line in lines))
        except OSError as exc:
            raise SmtpError(
                ErrorReason.NETWORK_ERROR, f"send {lines[0].split()[0]}: {exc}"
            ) from exc

    def command(self, line: str) -> SmtpReply:
        self.send(line)
        return self.reply()

    def _over(self) -> bool:
        return time.monotonic() >= self._deadline

    def _late_reason(self, limit: float | None = None) -> str:
        if self._over() or limit is None:
            return f"timeout: dialogue not finished within {self._total:g} s"
        return f"timeout: no complete reply within {limit:g} s"

    def _remaining(self, until: float, limit: float) -> float:
        """Seconds left before ``until`` or the dialogue's deadline (an error when none)."""
        left = min(until, self._deadline) - time.monotonic()
        if left <= 0:
            raise SmtpError(ErrorReason.TIMEOUT, self._late_reason(limit))
        return left

    def _line(self, until: float, limit: float) -> str:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise SmtpError(ErrorReason.INVALID_ANSWER, f"reply line over {MAX_LINE} bytes")
            try:
                self._sock.settimeout(self._remaining(until, limit))
                data = self._sock.recv(4096)
            except TimeoutError as exc:
                raise SmtpError(ErrorReason.TIMEOUT, self._late_reason(limit)) from exc
            except OSError as exc:
                raise SmtpError(ErrorReason.NETWORK_ERROR, str(exc)) from exc
            if not data:
                raise SmtpError(ErrorReason.NETWORK_ERROR, "connection closed by the server")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")


def served_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The certificates as the server sent them, leaf first (DER)."""
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return [bytes(der) for der in public()]
    internal = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if internal is not None:  # Python 3.10-3.12: the same method, not yet public
        encoding = getattr(ssl, "_ssl").ENCODING_DER  # noqa: B009
        return [cert.public_bytes(encoding) for cert in internal() or ()]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


@contextmanager
def _session(ip: str, port: int, timeout: float, greeting_timeout: float) -> Iterator[Session]:
    session = Session(ip, port, timeout, greeting_timeout)
    try:
        yield session
    finally:
        with suppress(SmtpError):
            session.command("QUIT")
        session.close()


def _keywords(reply: SmtpReply) -> list[str]:
    """EHLO keywords (first line is the greeting name), upper-cased."""
    return [line.strip().upper() for line in reply.text.splitlines()[1:] if line.strip()]


def dialogue(
    host: str,
    ip: str,
    port: int,
    *,
    helo: str,
    timeout: float,
    greeting_timeout: float,
    implicit_tls: bool = False,
) -> Observed[SmtpFacts]:
    """Greeting, EHLO, STARTTLS (or implicit TLS), EHLO again, QUIT.

    With ``implicit_tls`` (port 465) the EHLO keywords are all in ``extensions_tls``.
    """
    try:
        with _session(ip, port, timeout, greeting_timeout) as session:
            facts = _converse(session, host, helo, implicit_tls)
    except SmtpError as exc:
        return Observed[SmtpFacts].failed(exc.reason, f"{ip}:{port}: {exc}")
    return Observed.of(facts.model_copy(update={"transcript": session.transcript}))


def _converse(session: Session, host: str, helo: str, implicit_tls: bool) -> SmtpFacts:
    first_tls = Observed.of(session.tls(host)) if implicit_tls else None
    greeting = session.reply()
    facts = SmtpFacts(greeting=greeting, esmtp=False, extensions=[], starttls=False)
    if greeting.code != 220:
        return facts
    ehlo = session.command(f"EHLO {helo}")
    keywords = _keywords(ehlo) if ehlo.code == 250 else []
    if ehlo.code != 250:
        session.command(f"HELO {helo}")
    if first_tls is not None:
        update = {"esmtp": ehlo.code == 250, "tls": first_tls, "extensions_tls": keywords}
        return facts.model_copy(update=update)
    offered = "STARTTLS" in keywords
    facts = facts.model_copy(
        update={"esmtp": ehlo.code == 250, "extensions": keywords, "starttls": offered}
    )
    if not offered:
        return facts
    reply = session.command("STARTTLS")
    if reply.code != 220:
        detail = f"STARTTLS answered {reply.code} {reply.text}"
        tls = Observed[TlsSession].failed(ErrorReason.STARTTLS_FAILED, detail)
        return facts.model_copy(update={"tls": tls})
    try:
        session_tls = Observed.of(session.tls(host))
        again = session.command(f"EHLO {helo}")
    except SmtpError as exc:
        return facts.model_copy(update={"tls": Observed[TlsSession].failed(exc.reason, str(exc))})
    after = _keywords(again) if again.code == 250 else []
    return facts.model_copy(update={"tls": session_tls, "extensions_tls": after})


def relay_probe(
    ip: str,
    port: int,
    *,
    helo: str,
    timeout: float,
    greeting_timeout: float,
    domain: str,
    sender: str,
    recipient: str,
) -> Observed[RelayProbe]:
    """RCPT TO an external address from outside senders; RSET after each; never DATA.

    The control attempt (``postmaster@domain``) must be accepted for the others to mean
    anything. Attempts: external sender, null sender, the domain's own postmaster spoofed.
    """
    local = f"postmaster@{domain}"
    plan = [(sender, local), (sender, recipient), ("", recipient), (local, recipient)]
    try:
        with _session(ip, port, timeout, greeting_timeout) as session:
            _hello(session, helo)
            attempts = [_attempt(session, mail_from, rcpt) for mail_from, rcpt in plan]
    except SmtpError as exc:
        return Observed[RelayProbe].failed(exc.reason, f"{ip}:{port}: {exc}")
    probe = RelayProbe(control=attempts[0], attempts=attempts[1:], transcript=session.transcript)
    return Observed.of(probe)


def _hello(session: Session, helo: str) -> list[str]:
    """Greeting (220 or the dialogue stops), then EHLO (HELO when refused); the EHLO keywords."""
    greeting = session.reply()
    if greeting.code != 220:
        raise SmtpError(ErrorReason.CONNECTION_REFUSED, f"greeting {greeting.code} {greeting.text}")
    ehlo = session.command(f"EHLO {helo}")
    if ehlo.code == 250:
        return _keywords(ehlo)
    session.command(f"HELO {helo}")
    return []


def injection_probe(
    host: str, ip: str, port: int, *, helo: str, timeout: float, greeting_timeout: float
) -> Observed[InjectionProbe]:
    """STARTTLS command injection (CVE-2011-0411 and its 2021 siblings), as Postfix's test
    and testssl.sh's ``run_starttls_injection`` do it.

    ``STARTTLS\\r\\nRSET\\r\\n`` goes out in one TCP write. A fixed server drops the
    plaintext it buffered before the handshake (RFC 3207 §4.2: it starts afresh) or refuses
    the pipelined STARTTLS (5xx); a vulnerable one keeps ``RSET`` and answers it inside TLS
    before the client sends anything there. After the handshake the probe waits up to
    ``timeout`` seconds for such a reply, then checks with EHLO that the session is alive.
    Never MAIL, RCPT or DATA; a 4xx to STARTTLS or a failed handshake is undetermined.
    """
    try:
        with _session(ip, port, timeout, greeting_timeout) as session:
            if "STARTTLS" not in _hello(session, helo):
                raise SmtpError(ErrorReason.NOT_APPLICABLE, "STARTTLS not offered")
            session.send("STARTTLS", "RSET")
            reply = session.reply()
            injected = None
            if reply.code == 220:
                session.tls(host)
                injected = session.unsolicited(timeout)
                if injected is None:
                    session.command(f"EHLO {helo}")
            elif not 500 <= reply.code < 600:  # 5xx: pipelining refused, nothing to inject
                detail = f"STARTTLS answered {reply.code} {reply.text}"
                raise SmtpError(ErrorReason.STARTTLS_FAILED, detail)
    except SmtpError as exc:
        return Observed[InjectionProbe].failed(exc.reason, f"{ip}:{port}: {exc}")
    probe = InjectionProbe(
        vulnerable=injected is not None,
        starttls_reply=reply,
        injected_reply=injected,
        transcript=session.transcript,
    )
    return Observed.of(probe)


def _attempt(session: Session, sender: str, recipient: str) -> RelayAttempt:
    reply = session.command(f"MAIL FROM:<{sender}>")
    if 200 <= reply.code < 300:
        reply = session.command(f"RCPT TO:<{recipient}>")
    session.command("RSET")
    return RelayAttempt(sender=sender or "<>", recipient=recipient, reply=reply)


def probe_error(exc: OSError) -> ProbeError:
    """A socket failure as a :class:`ProbeError`."""
    if isinstance(exc, ConnectionRefusedError):
        return ProbeError(reason=ErrorReason.CONNECTION_REFUSED, detail=str(exc))
    if isinstance(exc, TimeoutError):
        return ProbeError(reason=ErrorReason.TIMEOUT, detail=str(exc) or "timed out")
    if isinstance(exc, ssl.SSLError):
        return ProbeError(reason=ErrorReason.HANDSHAKE_FAILED, detail=str(exc))
    return ProbeError(reason=ErrorReason.NETWORK_ERROR, detail=str(exc))
