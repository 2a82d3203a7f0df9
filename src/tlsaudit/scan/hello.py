"""Raw TLS ClientHello probes: what a server answers to a hand-made ClientHello.

No handshake is ever completed: a probe sends one ClientHello and reads the server's
first flight up to the ServerHello (and, for TLS 1.2 and earlier (EC)DHE suites, the
ServerKeyExchange), a HelloRetryRequest, an alert or a closed connection. This reaches
what sslyze's OpenSSL builds cannot offer: every IANA cipher suite, FFDHE, brainpool and
ML-KEM groups in TLS 1.3.

Every probe has one deadline (the timeout) covering connect, STARTTLS and reading; a
malformed, hostile or silent server gives a :class:`~tlsaudit.models.facts.ProbeError`,
never an exception.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sslyze.connection_helpers.opportunistic_tls_helpers import (
    ProtocolWithOpportunisticTlsEnum,
    get_opportunistic_tls_helper,
)

from tlsaudit.inventory import is_ip
from tlsaudit.models.facts import (
    EphemeralKey,
    ErrorReason,
    ProbeError,
    ProtocolVersion,
    StartTlsProtocol,
)
from tlsaudit.records.curves import ffdhe_name
from tlsaudit.scan.iana import (
    CIPHER_SUITES,
    SIGNALLING_SUITES,
    TLS13_GROUPS,
    TLS13_SUITES,
    alert_name,
    group_name,
    suite_name,
)
from tlsaudit.scan.pool import DaemonPool


class TlsVersion(IntEnum):
    """Protocol versions as their wire value."""

    SSL3_0 = 0x0300
    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304

    @property
    def label(self) -> ProtocolVersion:
        """The project's name for the version, e.g. ``"TLS 1.2"``."""
        return _LABELS[self]

    @classmethod
    def of(cls, label: ProtocolVersion) -> TlsVersion:
        """The version called *label* (``"SSL 2.0"`` raises ValueError: not probed here)."""
        for version, name in _LABELS.items():
            if name == label:
                return version
        raise ValueError(f"no ClientHello for {label}")


_LABELS: dict[TlsVersion, ProtocolVersion] = {
    TlsVersion.SSL3_0: "SSL 3.0",
    TlsVersion.TLS1_0: "TLS 1.0",
    TlsVersion.TLS1_1: "TLS 1.1",
    TlsVersion.TLS1_2: "TLS 1.2",
    TlsVersion.TLS1_3: "TLS 1.3",
}

SIGNATURE_ALGORITHMS: tuple[int, ...] = (
    *(0x0403, 0x0503, 0x0603),  # ECDSA P-256/384/521
    *(0x0807, 0x0808),  # Ed25519, Ed448
    *(0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B),  # RSA-PSS (rsae, pss)
    *(0x0401, 0x0501, 0x0601),  # RSA PKCS#1 v1.5 SHA-2
    *(0x081A, 0x081B, 0x081C),  # ECDSA brainpool (TLS 1.3)
    *(0x0904, 0x0905, 0x0906),  # ML-DSA-44/65/87
    *(0x0303, 0x0301, 0x0302),  # SHA-224: ECDSA, RSA, DSA
    *(0x0402, 0x0502, 0x0602),  # DSA SHA-2
    *(0x0203, 0x0201, 0x0202),  # SHA-1: ECDSA, RSA, DSA
)
"""signature_algorithms offered: broad, so servers with odd certificates still answer."""

LEGACY_GROUPS: tuple[int, ...] = (
    *(0x001D, 0x0017, 0x0018, 0x0019, 0x001E),  # X25519, P-256/384/521, X448
    *(0x001A, 0x001B, 0x001C),  # brainpool
    *(0x0016, 0x0015, 0x0014, 0x0013, 0x0012, 0x000F, 0x0010, 0x0011),  # other secp
    *range(0x0001, 0x000F),  # sect*
    *range(0x0100, 0x0105),  # ffdhe2048-8192
)
"""supported_groups offered up to TLS 1.2: every named curve of RFC 8422/7027 and FFDHE."""

_RECORD_TYPES = (20, 21, 22, 23)
_CHANGE_CIPHER_SPEC, _ALERT, _HANDSHAKE, _APPLICATION_DATA = _RECORD_TYPES
_MAX_RECORD = 2**14 + 2048
_MAX_FLIGHT = 256 * 1024
"""Bytes read at most for one answer (a certificate chain fits; a flood does not)."""
_HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
_REFUSALS = frozenset({40, 70, 71})
"""handshake_failure, protocol_version, insufficient_security: "not with these offers"."""
_SMTP_EHLO = "sslyze.scan"
"""The EHLO name sslyze sends, so every STARTTLS connection of a scan looks the same."""

_GROUP_BITS: dict[int, int] = {
    **dict.fromkeys((1, 2, 3), 163),
    **dict.fromkeys((4, 5), 193),
    **dict.fromkeys((6, 7), 233),
    8: 239,
    **dict.fromkeys((9, 10), 283),
    **dict.fromkeys((11, 12), 409),
    **dict.fromkeys((13, 14), 571),
    **dict.fromkeys((15, 16, 17), 160),
    **dict.fromkeys((18, 19), 192),
    **dict.fromkeys((20, 21), 224),
    **dict.fromkeys((22, 23, 26, 31, 34, 35, 36, 37, 41), 256),
    **dict.fromkeys((24, 27, 32), 384),
    25: 521,
    **dict.fromkeys((28, 33, 38, 39, 40), 512),
    29: 253,  # EVP_PKEY_bits, as sslyze reports X25519
    30: 448,
}
"""Key size in bits of the elliptic-curve groups (as :class:`EphemeralKey` records it)."""
_FFDHE_BITS = {0x0100: 2048, 0x0101: 3072, 0x0102: 4096, 0x0103: 6144, 0x0104: 8192}


@dataclass(frozen=True)
class Alert:
    """A TLS alert the server sent instead of a ServerHello."""

    level: int
    description: int

    @property
    def name(self) -> str:
        return alert_name(self.description)


@dataclass(frozen=True)
class Closed:
    """The server closed (or reset) the connection without a ServerHello or an alert."""

    reset: bool = False


@dataclass(frozen=True)
class ServerHello:
    """The server's choice: a ServerHello or a HelloRetryRequest (``retry``)."""

    version: int
    """Negotiated version: supported_versions when present, else legacy_version."""
    cipher_suite: int
    group: int | None = None
    """TLS 1.3: the key_share group, or the group a HelloRetryRequest asks for."""
    retry: bool = False
    key: EphemeralKey | None = None
    """The ephemeral key: from the ServerKeyExchange up to TLS 1.2; in TLS 1.3 the key of
    ``group`` (None for ML-KEM groups, which :class:`EphemeralKey` cannot describe)."""


Answer = ServerHello | Alert | Closed


@dataclass(frozen=True)
class AcceptedCode:
    """A cipher suite the server picked, with the ephemeral key it sent for it."""

    code: int
    key: EphemeralKey | None = None

    @property
    def name(self) -> str:
        return suite_name(self.code)


@dataclass(frozen=True)
class SuiteEnumeration:
    """Suites accepted for one version, in the order the server picked them.

    ``accepted == ()`` with no ``error``: the version (or every candidate) is refused.
    With an ``error``, the enumeration stopped early: ``accepted`` is incomplete.
    """

    version: TlsVersion
    accepted: tuple[AcceptedCode, ...]
    error: ProbeError | None = None
    ended_by: str = ""
    """What ended the enumeration, e.g. "alert handshake_failure"."""


@dataclass(frozen=True)
class GroupProbe:
    """TLS 1.3 groups: supported, refused, and those whose probe failed."""

    supported: tuple[int, ...]
    rejected: tuple[int, ...]
    errors: Mapping[int, ProbeError] = field(default_factory=dict)


# -- ClientHello -----------------------------------------------------------------------


def client_hello(
    version: TlsVersion,
    suites: Sequence[int],
    groups: Sequence[int],
    server_name: str | None,
    key_shares: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """A ClientHello as TLS records, ready to send.

    Up to TLS 1.2: legacy_version = *version*, with SNI, supported_groups, ec_point_formats,
    signature_algorithms and renegotiation_info. TLS 1.3: supported_versions (1.3 only),
    key_share (*key_shares*, possibly none), psk_key_exchange_modes, signature_algorithms
    and supported_groups. SNI is left out for an IP address or a name that is not IDNA.
    """
    tls13 = version >= TlsVersion.TLS1_3
    extensions: list[bytes] = []
    sni = _sni_bytes(server_name)
    if sni is not None:
        extensions.append(_extension(0, _vec16(b"\x00" + _vec16(sni))))
    extensions.append(_extension(10, _vec16(_u16s(groups))))
    if tls13:
        extensions.append(_extension(43, _vec8(_u16(TlsVersion.TLS1_3))))
        shares = b"".join(_u16(group) + _vec16(key) for group, key in key_shares)
        extensions.append(_extension(51, _vec16(shares)))
        extensions.append(_extension(45, _vec8(b"\x01")))  # psk_dhe_ke
    else:
        extensions.append(_extension(11, _vec8(b"\x00")))  # uncompressed points
        extensions.append(_extension(0xFF01, _vec8(b"")))  # renegotiation_info
    extensions.append(_extension(13, _vec16(_u16s(SIGNATURE_ALGORITHMS))))
    head = (
        _u16(min(version, TlsVersion.TLS1_2))
        + os.urandom(32)
        + _vec8(os.urandom(32) if tls13 else b"")
        + _vec16(_u16s(suites))
        + _vec8(b"\x00")  # null compression only
    )
    length = 4 + len(head) + 2 + sum(map(len, extensions))
    if 0xFF < length < 0x200:  # F5 load balancers hang on these lengths (RFC 7685)
        extensions.append(_extension(21, bytes(max(0x200 - length - 4, 1))))
    body = head + _vec16(b"".join(extensions))
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    record_version = _u16(min(version, TlsVersion.TLS1_0))
    return b"".join(
        bytes([_HANDSHAKE]) + record_version + _vec16(message[start : start + 2**14])
        for start in range(0, len(message), 2**14)
    )


def key_share(group: int) -> bytes | None:
    """A fresh public key for *group* when ``cryptography`` makes one (X25519, X448, P-*)."""
    if group == 0x001D:
        return x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    if group == 0x001E:
        return x448.X448PrivateKey.generate().public_key().public_bytes_raw()
    curve = {0x0017: ec.SECP256R1(), 0x0018: ec.SECP384R1(), 0x0019: ec.SECP521R1()}.get(group)
    if curve is None:
        return None
    public = ec.generate_private_key(curve).public_key()
    return public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _sni_bytes(server_name: str | None) -> bytes | None:
    if not server_name or is_ip(server_name):
        return None
    try:
        name = server_name.rstrip(".").encode("idna")
    except UnicodeError:
        return None
    return name if 0 < len(name) <= 255 else None


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _u16s(values: Sequence[int]) -> bytes:
    return b"".join(map(_u16, values))


def _vec8(data: bytes) -> bytes:
    return len(data).to_bytes(1, "big") + data


def _vec16(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _extension(kind: int, data: bytes) -> bytes:
    return _u16(kind) + _vec16(data)


# -- reading the answer ----------------------------------------------------------------


class _MalformedError(Exception):
    """The answer is not a well-formed first flight."""


class _NotTlsError(Exception):
    """The answer is not TLS at all."""


class _EofError(Exception):
    """The server closed the connection."""


class _Stream:
    """Buffered reads from a socket; no read blocks past the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = bytearray()
        self.offset = 0
        self.received = 0

    def take(self, count: int) -> bytes:
        while len(self.buffer) - self.offset < count:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _EofError
            if self.received == 0 and chunk[0] not in _RECORD_TYPES:
                raise _NotTlsError(chunk[:64])
            self.received += len(chunk)
            if self.received > _MAX_FLIGHT:
                raise _MalformedError(f"more than {_MAX_FLIGHT} bytes before the ServerHello ended")
            del self.buffer[: self.offset]
            self.offset = 0
            self.buffer += chunk
        data = bytes(self.buffer[self.offset : self.offset + count])
        self.offset += count
        return data


class _Reader:
    """Bounds-checked reads from one message."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise _MalformedError("a length runs past the end of its message")
        data = self.data[self.position : end]
        self.position = end
        return data

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(self.number(length_size))

    @property
    def done(self) -> bool:
        return self.position >= len(self.data)


class _Handshake:
    """Handshake messages from the record stream; alerts and closure end it."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.pending = bytearray()

    def next(self) -> tuple[int, bytes] | Alert | Closed:
        while len(self.pending) < 4 or len(self.pending) < 4 + self._length():
            answer = self._record()
            if answer is not None:
                return answer
        length = self._length()
        message = bytes(self.pending[4 : 4 + length])
        kind = self.pending[0]
        del self.pending[: 4 + length]
        return kind, message

    def _length(self) -> int:
        length = int.from_bytes(self.pending[1:4], "big")
        if length > _MAX_FLIGHT:
            raise _MalformedError(f"a handshake message of {length} bytes")
        return length

    def _record(self) -> Alert | Closed | None:
        try:
            header = self.stream.take(5)
        except _EofError:
            if self.stream.received == 0:
                return Closed()
            raise _MalformedError("the connection closed in the middle of the answer") from None
        except ConnectionResetError:
            if self.stream.received == 0:
                return Closed(reset=True)
            raise
        kind, major, length = header[0], header[1], int.from_bytes(header[3:5], "big")
        if kind not in _RECORD_TYPES or major != 3 or length > _MAX_RECORD:
            raise _MalformedError(f"a TLS record header that is not valid: {header.hex()}")
        try:
            payload = self.stream.take(length)
        except _EofError:
            raise _MalformedError("the connection closed in the middle of a record") from None
        if kind == _HANDSHAKE:
            self.pending += payload
        elif kind == _ALERT:
            if len(payload) < 2 or self.pending:
                raise _MalformedError(f"a malformed alert record: {payload.hex()}")
            level, description = payload[0], payload[1]
            if description == 0:
                return Closed()  # close_notify
            if level != 1:
                return Alert(level, description)
            # a warning (e.g. unrecognized_name): the handshake goes on
        elif kind == _APPLICATION_DATA:
            raise _MalformedError("application data before the ServerHello")
        # change_cipher_spec (TLS 1.3 middlebox compatibility): skipped
        return None


def _parse_server_hello(body: bytes) -> ServerHello:
    reader = _Reader(body)
    legacy_version = reader.number(2)
    random = reader.take(32)
    if len(reader.vector(1)) > 32:
        raise _MalformedError("a session id longer than 32 bytes")
    cipher_suite = reader.number(2)
    reader.take(1)  # compression method
    extensions: dict[int, bytes] = {}
    if not reader.done:
        block = _Reader(reader.vector(2))
        while not block.done:
            kind = block.number(2)
            if kind in extensions:
                raise _MalformedError(f"extension {kind} twice in the ServerHello")
            extensions[kind] = block.vector(2)
    retry = random == _HRR_RANDOM
    version = legacy_version
    if 43 in extensions:
        selected = _Reader(extensions[43])
        version = selected.number(2)
        if not selected.done:
            raise _MalformedError("a supported_versions extension longer than one version")
    if (major := version >> 8) != 3 or version & 0xFF > 4:
        raise _MalformedError(f"version 0x{version:04X} (major {major})")
    if retry and version != TlsVersion.TLS1_3:
        raise _MalformedError("a HelloRetryRequest that does not select TLS 1.3")
    group = None
    if 51 in extensions:
        share = _Reader(extensions[51])
        group = share.number(2)
        if not retry and not share.vector(2):
            raise _MalformedError("an empty key_share")
    if version == TlsVersion.TLS1_3 and group is None:
        raise _MalformedError("a TLS 1.3 ServerHello without key_share")
    key = group_key(group) if group is not None else None
    return ServerHello(version, cipher_suite, group, retry, key)


def group_key(group: int) -> EphemeralKey | None:
    """The key of a TLS 1.3 group that is an elliptic curve or an FFDHE group."""
    if group in _FFDHE_BITS:
        return EphemeralKey(kind="DH", size=_FFDHE_BITS[group], group=group_name(group))
    if group in _GROUP_BITS:
        return EphemeralKey(kind="ECDH", size=_GROUP_BITS[group], group=group_name(group))
    return None


def _key_exchange_kind(cipher_suite: int) -> tuple[str, bool] | None:
    """("DH" or "ECDH", PSK hint first) for suites whose ServerKeyExchange has a key."""
    name = CIPHER_SUITES.get(cipher_suite, "")
    if "_WITH_" not in name:
        return None
    parts = name.removeprefix("TLS_").split("_WITH_")[0].split("_")
    psk = "PSK" in parts
    if parts[0] in ("DHE", "ECDHE") or parts[:2] in (["DH", "anon"], ["ECDH", "anon"]):
        return parts[0].removesuffix("E"), psk
    if parts[:2] == ["PSK", "DHE"]:
        return "DH", True
    return None


def _read_key(handshake: _Handshake, kind: str, psk: bool) -> EphemeralKey | None:
    """The ephemeral key of the ServerKeyExchange, skipping Certificate and friends."""
    while True:
        message = handshake.next()
        if not isinstance(message, tuple):
            return None
        message_type, body = message
        if message_type in (11, 13, 22):  # Certificate, CertificateRequest, CertificateStatus
            continue
        if message_type != 12:
            return None
        reader = _Reader(body)
        if psk:
            reader.vector(2)  # psk_identity_hint
        if kind == "DH":
            prime = int.from_bytes(reader.vector(2), "big")
            generator = int.from_bytes(reader.vector(2), "big")
            if prime < 3:
                raise _MalformedError("a DH prime of zero bytes")
            return EphemeralKey(
                kind="DH", size=prime.bit_length(), group=ffdhe_name(prime, generator)
            )
        if reader.number(1) != 3:  # explicit curves: obsolete, not reported
            return None
        group = reader.number(2)
        point = reader.vector(1)
        size = _GROUP_BITS.get(group) or (len(point) // 2 * 8)
        return EphemeralKey(kind="ECDH", size=size, group=group_name(group))


def _read_answer(stream: _Stream, with_key: bool) -> Answer:
    handshake = _Handshake(stream)
    first = handshake.next()
    if not isinstance(first, tuple):
        return first
    message_type, body = first
    if message_type != 2:
        raise _MalformedError(f"handshake message type {message_type} instead of a ServerHello")
    hello = _parse_server_hello(body)
    kind = _key_exchange_kind(hello.cipher_suite)
    if not with_key or hello.version >= TlsVersion.TLS1_3 or kind is None:
        return hello
    try:
        key = _read_key(handshake, *kind)
    except (_MalformedError, _NotTlsError, _EofError, OSError):
        return hello  # the ServerHello stands; only the key stays unknown
    return replace(hello, key=key)


# -- connections -----------------------------------------------------------------------


def connect(
    ip: str,
    port: int,
    deadline: float,
    *,
    server_name: str | None = None,
    starttls: StartTlsProtocol | None = None,
) -> socket.socket | ProbeError:
    """A TCP connection (STARTTLS done when *starttls*) ready for a ClientHello.

    *deadline* is a :func:`time.monotonic` value that bounds connecting and STARTTLS.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return ProbeError(reason=ErrorReason.TIMEOUT, detail="no time left to connect")
    try:
        sock = socket.create_connection((ip, port), timeout=remaining)
    except ConnectionRefusedError:
        return ProbeError(reason=ErrorReason.CONNECTION_REFUSED, detail="connection refused")
    except TimeoutError:
        return ProbeError(reason=ErrorReason.TIMEOUT, detail="TCP connect timed out")
    except OSError as error:
        return ProbeError(reason=ErrorReason.NETWORK_ERROR, detail=f"connect failed: {error}")
    if starttls is None:
        return sock
    failure = _starttls(sock, deadline, server_name or ip, starttls)
    if failure is not None:
        sock.close()
        return failure
    return sock


def _starttls(
    sock: socket.socket, deadline: float, server_name: str, protocol: StartTlsProtocol
) -> ProbeError | None:
    """Run sslyze's STARTTLS helper; a watchdog shuts the socket down at the deadline."""
    helper = get_opportunistic_tls_helper(
        ProtocolWithOpportunisticTlsEnum(protocol.upper()),
        xmpp_to_hostname=server_name,
        smtp_ehlo_hostname=_SMTP_EHLO,
    )
    remaining = max(deadline - time.monotonic(), 0.001)
    sock.settimeout(remaining)
    watchdog = threading.Timer(remaining, _shutdown, (sock,))
    watchdog.daemon = True
    watchdog.start()
    try:
        helper.prepare_socket_for_tls_handshake(sock)
    except Exception as error:  # sslyze's, smtplib's and socket errors alike
        if isinstance(error, TimeoutError) or time.monotonic() >= deadline:
            return ProbeError(reason=ErrorReason.TIMEOUT, detail=f"{protocol} STARTTLS timed out")
        return ProbeError(
            reason=ErrorReason.STARTTLS_FAILED, detail=f"{protocol} STARTTLS failed: {error}"
        )
    finally:
        watchdog.cancel()
    if time.monotonic() >= deadline:
        return ProbeError(reason=ErrorReason.TIMEOUT, detail=f"{protocol} STARTTLS timed out")
    return None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def exchange(
    sock: socket.socket, hello: bytes, deadline: float, *, with_key: bool = True
) -> Answer | ProbeError:
    """Send *hello* on a connected socket and read the answer until *deadline*.

    With *with_key*, the ServerKeyExchange of a TLS 1.2 (or earlier) (EC)DHE suite is
    read too and its key put in :attr:`ServerHello.key`.
    """
    stream = _Stream(sock, deadline)
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(hello)
    except (BrokenPipeError, ConnectionResetError):
        return Closed(reset=True)
    except TimeoutError:
        return ProbeError(reason=ErrorReason.TIMEOUT, detail="could not send the ClientHello")
    except OSError as error:
        return ProbeError(reason=ErrorReason.NETWORK_ERROR, detail=f"send failed: {error}")
    try:
        return _read_answer(stream, with_key)
    except TimeoutError:
        detail = "no answer" if stream.received == 0 else "no complete answer"
        return ProbeError(reason=ErrorReason.TIMEOUT, detail=f"{detail} to a ClientHello in time")
    except _NotTlsError as error:
        return ProbeError(reason=ErrorReason.NOT_TLS, detail=_not_tls_detail(error.args[0]))
    except _MalformedError as error:
        return ProbeError(reason=ErrorReason.INVALID_ANSWER, detail=f"malformed answer: {error}")
    except OSError as error:
        return ProbeError(reason=ErrorReason.NETWORK_ERROR, detail=f"read failed: {error}")
    except Exception as error:  # a bug here must not end a scan
        return ProbeError(reason=ErrorReason.ENGINE_ERROR, detail=f"ClientHello probe: {error!r}")


def _not_tls_detail(data: bytes) -> str:
    if data[0] & 0x80:
        return "answered with an SSL 2.0 record, not TLS"
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
    printable = "".join(c if c.isprintable() else "." for c in first_line)
    return f'answered a ClientHello with non-TLS data: "{printable}"'


def probe(
    ip: str,
    port: int,
    hello: bytes,
    timeout: float,
    *,
    server_name: str | None = None,
    starttls: StartTlsProtocol | None = None,
    with_key: bool = True,
) -> Answer | ProbeError:
    """Connect, send *hello* and read the answer, all within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    sock = connect(ip, port, deadline, server_name=server_name, starttls=starttls)
    if isinstance(sock, ProbeError):
        return sock
    with sock:
        return exchange(sock, hello, deadline, with_key=with_key)


# -- probes ----------------------------------------------------------------------------


def enumerate_suites(
    ip: str,
    port: int,
    server_name: str | None,
    version: TlsVersion,
    candidates: Sequence[int],
    timeout: float,
    starttls: StartTlsProtocol | None = None,
) -> SuiteEnumeration:
    """The candidate suites *version* accepts, by elimination.

    Offer every candidate, record the suite the server picks, take it out, repeat until
    the server refuses (handshake_failure, protocol_version or insufficient_security
    alert, or a closed connection). A ServerHello for another version means *version* is
    not accepted. Signalling values (SCSVs) are never offered. *timeout* bounds each
    connection.
    """
    remaining = [code for code in dict.fromkeys(candidates) if code not in SIGNALLING_SUITES]
    tls13 = version >= TlsVersion.TLS1_3
    groups = TLS13_GROUPS if tls13 else LEGACY_GROUPS
    accepted: list[AcceptedCode] = []

    def result(error: ProbeError | None, ended_by: str) -> SuiteEnumeration:
        return SuiteEnumeration(version, tuple(accepted), error, ended_by)

    if not remaining:
        return result(None, "no candidate to offer")

    while remaining:
        shares = [(0x001D, key_share(0x001D) or b"")] if tls13 else []
        hello = client_hello(version, remaining, groups, server_name, shares)
        answer = probe(ip, port, hello, timeout, server_name=server_name, starttls=starttls)
        if isinstance(answer, ProbeError):
            return result(answer, answer.detail)
        if isinstance(answer, Closed):
            return result(None, "connection reset" if answer.reset else "connection closed")
        if isinstance(answer, Alert):
            if answer.description in _REFUSALS:
                return result(None, f"alert {answer.name}")
            detail = f"the server sent alert {answer.name} ({answer.description})"
            return result(ProbeError(reason=ErrorReason.HANDSHAKE_FAILED, detail=detail), detail)
        if answer.version != version:
            seen = f"ServerHello for 0x{answer.version:04X}"
            if not accepted:
                return result(None, seen)
            detail = f"{seen} after accepting {version.label}"
            return result(ProbeError(reason=ErrorReason.INVALID_ANSWER, detail=detail), detail)
        if answer.cipher_suite not in remaining:
            detail = f"the server picked {suite_name(answer.cipher_suite)}, which was not offered"
            return result(ProbeError(reason=ErrorReason.INVALID_ANSWER, detail=detail), detail)
        accepted.append(AcceptedCode(answer.cipher_suite, answer.key))
        remaining.remove(answer.cipher_suite)
    return result(None, "every candidate accepted")


def probe_groups_tls13(
    ip: str,
    port: int,
    server_name: str | None,
    groups: Sequence[int],
    timeout: float,
    starttls: StartTlsProtocol | None = None,
    connections: int = 4,
) -> GroupProbe:
    """Which *groups* the server accepts in TLS 1.3, one ClientHello per group.

    Each ClientHello offers only that group, with a key share when ``cryptography`` can
    make one and none otherwise; a server supporting the group answers a ServerHello with
    that key share or a HelloRetryRequest asking for it. At most *connections* at once;
    results keep the order of *groups*.
    """
    unique = list(dict.fromkeys(groups))
    if not unique:
        return GroupProbe((), ())
    workers = max(1, min(connections, len(unique)))
    with DaemonPool(workers) as pool:
        outcomes = pool.map(
            lambda g: _probe_group(ip, port, server_name, g, timeout, starttls), unique
        )
    supported = tuple(g for g, outcome in zip(unique, outcomes, strict=True) if outcome is True)
    rejected = tuple(g for g, outcome in zip(unique, outcomes, strict=True) if outcome is False)
    errors = {
        g: outcome
        for g, outcome in zip(unique, outcomes, strict=True)
        if isinstance(outcome, ProbeError)
    }
    return GroupProbe(supported, rejected, errors)


def _probe_group(
    ip: str,
    port: int,
    server_name: str | None,
    group: int,
    timeout: float,
    starttls: StartTlsProtocol | None,
) -> bool | ProbeError:
    share = key_share(group)
    shares = [(group, share)] if share is not None else []
    hello = client_hello(TlsVersion.TLS1_3, TLS13_SUITES, [group], server_name, shares)
    answer = probe(ip, port, hello, timeout, server_name=server_name, starttls=starttls)
    return _group_outcome(group, answer)


def _group_outcome(group: int, answer: Answer | ProbeError) -> bool | ProbeError:
    chosen = _chosen_group(answer)
    if chosen is None or isinstance(chosen, ProbeError):
        return chosen is not None and chosen
    if chosen != group:
        return ProbeError(
            reason=ErrorReason.INVALID_ANSWER,
            detail=f"offered only {group_name(group)}, the server chose {group_name(chosen)}",
        )
    return True


def _chosen_group(answer: Answer | ProbeError) -> int | ProbeError | None:
    """The group a TLS 1.3 server picked (HelloRetryRequest or ServerHello), None when it
    refused every group offered."""
    if isinstance(answer, ProbeError):
        return answer
    if isinstance(answer, Closed):
        return None
    if isinstance(answer, Alert):
        if answer.description == 70:
            return _not_tls13("alert protocol_version")
        if answer.description in _REFUSALS:
            return None
        return ProbeError(
            reason=ErrorReason.HANDSHAKE_FAILED,
            detail=f"the server sent alert {answer.name} ({answer.description})",
        )
    if answer.version != TlsVersion.TLS1_3:
        return _not_tls13(f"a ServerHello for 0x{answer.version:04X}")
    return answer.group or 0


def eliminate_groups_tls13(
    ip: str,
    port: int,
    server_name: str | None,
    groups: Sequence[int],
    timeout: float,
    starttls: StartTlsProtocol | None = None,
) -> GroupProbe:
    """Which *groups* a TLS 1.3 server accepts, by elimination: offer every remaining group
    with no key share, so the HelloRetryRequest names the group the server picks; take it
    out and repeat until the server refuses (accepted + 1 ClientHellos). A failure leaves
    every group not yet settled in ``errors``."""
    remaining = list(dict.fromkeys(groups))
    supported: list[int] = []
    while remaining:
        hello = client_hello(TlsVersion.TLS1_3, TLS13_SUITES, remaining, server_name)
        answer = probe(ip, port, hello, timeout, server_name=server_name, starttls=starttls)
        chosen = _chosen_group(answer)
        if chosen is None:
            break
        if not isinstance(chosen, ProbeError) and chosen not in remaining:
            chosen = ProbeError(
                reason=ErrorReason.INVALID_ANSWER,
                detail=f"the server chose {group_name(chosen)}, which was not offered",
            )
        if isinstance(chosen, ProbeError):
            return GroupProbe(tuple(supported), (), dict.fromkeys(remaining, chosen))
        supported.append(chosen)
        remaining.remove(chosen)
    return GroupProbe(tuple(supported), tuple(remaining))


def _not_tls13(seen: str) -> ProbeError:
    return ProbeError(
        reason=ErrorReason.HANDSHAKE_FAILED,
        detail=f"TLS 1.3 not negotiated: the server sent {seen}",
    )
