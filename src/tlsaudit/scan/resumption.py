"""TLS 1.3 session resumption: does the server accept the ticket it issued?

Python's own OpenSSL makes two TLS 1.3 connections: the first waits for a
NewSessionTicket, the second offers it. The certificate is not checked (this asks only
whether the server resumes) unless a CA file is given.
"""

from __future__ import annotations

import select
import ssl
import time
from pathlib import Path

from tlsaudit.inventory import is_ip
from tlsaudit.models.facts import ErrorReason, ProbeError, StartTlsProtocol
from tlsaudit.scan.hello import connect

_TICKET_WAIT = 2.0
"""Seconds to wait for a NewSessionTicket after the handshake (servers send it at once)."""


def probe_tls13_resumption(
    ip: str,
    port: int,
    server_name: str | None,
    timeout: float,
    starttls: StartTlsProtocol | None = None,
    ca_file: Path | None = None,
) -> bool | ProbeError:
    """True when a second TLS 1.3 connection resumes the first one's session.

    False when the server sends no ticket (within the timeout, two seconds at most) or
    does not accept it. *timeout* bounds each connection. With *ca_file*, the chain must
    verify against it (host name not checked).
    """
    try:
        context = _context(ca_file)
    except (OSError, ssl.SSLError) as error:
        return ProbeError(reason=ErrorReason.ENGINE_ERROR, detail=f"CA file {ca_file}: {error}")
    first = _handshake(context, ip, port, server_name, timeout, starttls, None)
    if isinstance(first, ProbeError):
        return first
    with first:
        try:
            session = _ticket(first, time.monotonic() + min(timeout, _TICKET_WAIT))
        except ValueError as error:  # CPython cannot encode the session (a 60 kB certificate)
            detail = f"TLS 1.3 session unreadable by Python's ssl: {error}"
            return ProbeError(reason=ErrorReason.ENGINE_ERROR, detail=detail)
    if session is None:
        return False
    second = _handshake(context, ip, port, server_name, timeout, starttls, session)
    if isinstance(second, ProbeError):
        return second
    with second:
        return second.session_reused is True


def _context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    if ca_file is None:
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cafile=ca_file)
    return context


def _handshake(
    context: ssl.SSLContext,
    ip: str,
    port: int,
    server_name: str | None,
    timeout: float,
    starttls: StartTlsProtocol | None,
    session: ssl.SSLSession | None,
) -> ssl.SSLSocket | ProbeError:
    deadline = time.monotonic() + timeout
    sock = connect(ip, port, deadline, server_name=server_name, starttls=starttls)
    if isinstance(sock, ProbeError):
        return sock
    sni = server_name if server_name and not is_ip(server_name) else None
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        tls = context.wrap_socket(
            sock, server_hostname=sni, session=session, do_handshake_on_connect=False
        )
    except (ValueError, OSError) as error:  # e.g. a name that is not IDNA
        sock.close()
        return ProbeError(reason=ErrorReason.ENGINE_ERROR, detail=f"TLS 1.3 client: {error}")
    try:
        tls.do_handshake()
    except ssl.SSLError as error:
        tls.close()
        return ProbeError(
            reason=ErrorReason.HANDSHAKE_FAILED, detail=f"TLS 1.3 handshake failed: {error}"
        )
    except TimeoutError:
        tls.close()
        return ProbeError(reason=ErrorReason.TIMEOUT, detail="TLS 1.3 handshake timed out")
    except OSError as error:
        tls.close()
        return ProbeError(
            reason=ErrorReason.NETWORK_ERROR, detail=f"TLS 1.3 handshake failed: {error}"
        )
    return tls


def _ticket(tls: ssl.SSLSocket, until: float) -> ssl.SSLSession | None:
    """The session once a ticket has come, reading (and dropping) data until *until*."""
    tls.setblocking(False)
    while True:
        try:
            if not tls.recv(4096):
                break  # the server closed: whatever ticket came is all there is
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError:  # ssl.SSLError included
            break
        session = tls.session
        if session is not None and session.has_ticket:
            return session
        remaining = until - time.monotonic()
        if remaining <= 0:
            break
        select.select([tls], [], [], remaining)
    session = tls.session
    return session if session is not None and session.has_ticket else None
