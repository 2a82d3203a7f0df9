"""Targets in: parse what the user typed and expand names into endpoints (one per address)."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, cast, get_args

import idna

from tlsaudit.errors import InputError
from tlsaudit.models.facts import Endpoint, StartTlsProtocol
from tlsaudit.records.text import shorten

DEFAULT_PORTS: dict[str, int] = {
    "https": 443,
    "smtp": 25,
    "imap": 143,
    "pop3": 110,
    "ftp": 21,
    "ldap": 389,
    "xmpp": 5222,
    "xmpp_server": 5269,
    "postgres": 5432,
}
STARTTLS_PROTOCOLS: tuple[str, ...] = get_args(StartTlsProtocol)


PORT_RANGE = "port out of range 1-65535"
"""The one wording for a port that is 0, too large, or too long to read."""


@dataclass(frozen=True)
class Target:
    """One target as given: a name or address, a port, and how to reach TLS on it.

    ``host`` is what is scanned: an address, or a host name in A-labels (IDNA 2008 after
    UTS 46 mapping, lower-case, no trailing dot). ``unicode_host`` is the same name with
    U-labels, for display, when it differs from ``host`` (None otherwise).
    """

    raw: str
    host: str
    port: int
    starttls: StartTlsProtocol | None = None
    sni: str | None = None
    ip: str | None = None
    unicode_host: str | None = None

    @property
    def https(self) -> bool:
        return self.starttls is None

    @property
    def display_host(self) -> str:
        """The host as a reader writes it (U-labels for an internationalised name)."""
        return self.unicode_host or self.host

    @property
    def canonical(self) -> str:
        """The target written back in a form :func:`parse_target` reads as the same target."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = f"{self.starttls}://" if self.starttls else ""
        return f"{scheme}{host}:{self.port}"


def parse_target(
    raw: str,
    *,
    starttls: str | None = None,
    sni: str | None = None,
    ip: str | None = None,
) -> Target:
    """Parse ``host``, ``host:port``, ``[v6]:port``, ``https://host[:port]`` or
    ``smtp://host[:port]`` (and the other STARTTLS schemes).

    Raises:
        InputError: one line saying what is wrong. Numeric host names that address
            parsers read as IPv4 (``127.1``, ``0x7f.1``, ``2130706433``, full-width digits),
            a bare IPv6 address whose last group could be a port (``::1:443``), stray
            brackets, ports outside 1-65535 or in non-ASCII digits, invalid IDNA labels.
    """
    text = raw.strip()
    if not text or any(c.isspace() for c in text):
        what = "not a target: empty" if not text else "not a target"
        raise InputError(f"{raw!r}: {what} (expected host, host:port or scheme://host)")
    scheme = None
    if "://" in text:
        scheme, _, _ = text.partition("://")
        scheme = scheme.lower()
        if scheme != "https" and scheme not in STARTTLS_PROTOCOLS:
            known = ", ".join(["https", *STARTTLS_PROTOCOLS])
            raise InputError(f"{raw!r}: unknown scheme {shorten(scheme)!r} (known: {known})")
    if starttls is not None:
        if starttls not in STARTTLS_PROTOCOLS:
            known = ", ".join(STARTTLS_PROTOCOLS)
            raise InputError(f"--starttls {starttls!r}: unknown protocol (known: {known})")
        if scheme is not None and scheme != starttls:
            raise InputError(f"{raw!r}: scheme conflicts with --starttls {starttls}")
        scheme = starttls
    host, port = _split_host_port(raw, text.split("://", 1)[-1])
    proto = cast(StartTlsProtocol, scheme) if scheme not in (None, "https") else None
    if port is None:
        port = DEFAULT_PORTS[scheme or "https"]
    if ip is not None:
        ip = _address(ip, f"--ip {ip!r}")
    if sni is not None:
        sni = _sni(sni)
    unicode_host = None if is_ip(host) else _unicode(host)
    return Target(
        raw=raw,
        host=host,
        port=port,
        starttls=proto,
        sni=sni,
        ip=ip,
        unicode_host=unicode_host if unicode_host != host else None,
    )


def _split_host_port(raw: str, rest: str) -> tuple[str, int | None]:
    """(host, port or None): an address in its canonical form, or a name in A-labels."""
    where = repr(raw)
    netloc = rest.split("/", 1)[0]
    if not netloc:
        raise InputError(f"{where}: no host name")
    if "@" in netloc:
        raise InputError(f"{where}: user information is not allowed in a target")
    if netloc.startswith("["):
        return _bracketed(where, netloc)
    if "[" in netloc or "]" in netloc:
        raise InputError(f"{where}: brackets go around an IPv6 address only, as in [::1]:443")
    if netloc.count(":") > 1:
        return _bare_ipv6(where, netloc), None
    host, colon, port_text = netloc.partition(":")
    port = _port(where, port_text) if colon else None
    if not host:
        raise InputError(f"{where}: no host name")
    return _host(where, host), port


def _bracketed(where: str, netloc: str) -> tuple[str, int | None]:
    inside, closed, after = netloc[1:].partition("]")
    if not closed or "[" in inside or "[" in after or "]" in after:
        raise InputError(f"{where}: unbalanced brackets (write an IPv6 target as [::1]:443)")
    if after and not after.startswith(":"):
        raise InputError(f"{where}: expected ':port' after ']'")
    port = _port(where, after[1:]) if after else None
    try:
        address = ipaddress.ip_address(inside)
    except ValueError as exc:
        raise InputError(f"{where}: {shorten(str(exc), 120)}") from None
    if address.version == 4:
        raise InputError(f"{where}: brackets are for IPv6 addresses; write {inside}")
    return str(address), port


def _bare_ipv6(where: str, text: str) -> str:
    """An IPv6 address without brackets and port; refused when its last group could also be
    read as a port (``::1:443`` is the address ::1:443, or ::1 port 443)."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise InputError(
            f"{where}: not an IPv6 address (write an IPv6 target with a port as [::1]:443)"
        ) from None
    head, _, last = text.rpartition(":")
    if _ASCII_DIGITS.fullmatch(last) and is_ip(head) and ":" in head:
        raise InputError(
            f"{where}: ambiguous: write [{text}] for the address, or [{head}]:{last} for"
            f" address {head} port {last}"
        )
    return str(address)


_ASCII_DIGITS = re.compile("[0-9]+")


def _port(where: str, text: str) -> int:
    """A port: ASCII decimal digits worth 1-65535 (never int() on a hostile length)."""
    if not text:
        raise InputError(f"{where}: empty port after ':'")
    if not _ASCII_DIGITS.fullmatch(text):
        return _bad_port(where, text)
    significant = text.lstrip("0")
    if not significant or len(significant) > 5 or int(significant) > 65535:
        raise InputError(f"{where}: {PORT_RANGE}")
    return int(significant)


def _bad_port(where: str, text: str) -> NoReturn:
    if all(unicodedata.category(c) == "Nd" for c in text):
        raise InputError(f"{where}: port {text!r} is not in ASCII digits")
    raise InputError(f"{where}: port {shorten(text)!r} is not a decimal number")


def _host(where: str, host: str) -> str:
    """An IPv4 address (dotted quad), or a host name converted to A-labels."""
    if is_ip(host):
        return str(ipaddress.ip_address(host))
    numeric = _numeric_reading(host)
    if numeric is not None:
        raise InputError(f"{where}: {numeric}")
    try:
        return to_a_labels(host)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _numeric_reading(host: str) -> str | None:
    """Why a name that ends in a number is not a host name (None when it does not).

    The URL Standard (and inet_aton) reads a host whose last label is a number as an IPv4
    address: ``127.1``, ``0x7f.1``, ``0177.0.0.1`` and ``2130706433`` are 127.0.0.1. So is a
    name in full-width digits once UTS 46 maps it to ASCII. Such a target is refused, with
    the address it stands for, so that nobody scans a different host than they meant.
    """
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    name = mapped.lower()
    name = name[:-1] if name.endswith(".") else name
    last = name.rpartition(".")[2]
    if not _ASCII_DIGITS.fullmatch(last) and not re.fullmatch("0x[0-9a-f]*", last):
        return None
    mapped_note = "" if mapped == host else f" (UTS 46 maps it to {shorten(mapped)!r})"
    address = whatwg_ipv4(name)
    if address is None:
        return (
            f"{shorten(host)!r}{mapped_note} ends in a number, so it is not a host name"
            " (RFC 3696 §2), and it is not an IPv4 address either"
        )
    if mapped != host:
        return (
            f"{shorten(host)!r}{mapped_note} is the IPv4 address {address} by the URL"
            f" Standard; write {address} in ASCII"
        )
    return (
        f"{shorten(host)!r} is not a host name: the URL Standard and inet_aton read it as the"
        f" IPv4 address {address}; write {address}"
    )


def whatwg_ipv4(name: str) -> str | None:
    """The IPv4 address of the URL Standard's IPv4 parser (decimal, ``0x`` hex and
    leading-zero octal parts; 1 to 4 parts, the last filling the remaining bytes), or None."""
    parts = name.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch("0[xX][0-9a-fA-F]*", part):
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            if not re.fullmatch("[0-7]+", part[1:]):
                return None  # 09: neither octal nor decimal
            digits, base = part[1:], 8
        elif _ASCII_DIGITS.fullmatch(part):
            digits, base = part, 10
        else:
            return None
        digits = digits.lstrip("0") or "0"
        if len(digits) > 12:  # larger than 2**32 in any base: out of range, and cheap
            return None
        numbers.append(int(digits, base))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(head))
    return str(ipaddress.IPv4Address(value))


def to_a_labels(name: str) -> str:
    """A host name in A-labels (IDNA 2008 with UTS 46 mapping, non-transitional): lower-case,
    no trailing dot. Underscores are kept in ASCII labels (service names such as
    ``_dmarc``).

    Raises:
        ValueError: one line naming the label that is not valid.
    """
    try:
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"{shorten(name)!r} is not a valid host name ({exc})") from None
    mapped = mapped[:-1] if mapped.endswith(".") else mapped
    labels = mapped.split(".")
    out = []
    for label in labels:
        if not label:
            raise ValueError(f"{shorten(name)!r} is not a valid host name (empty label)")
        if label.isascii() and not label.lower().startswith("xn--"):
            ascii_label = label.lower()
            if not _LDH.fullmatch(ascii_label):
                raise ValueError(f"{shorten(name)!r} is not a valid host name")
        else:
            try:
                ascii_label = idna.alabel(label).decode("ascii")
            except (idna.IDNAError, UnicodeError) as exc:
                raise ValueError(
                    f"{shorten(name)!r} is not a valid host name: label {shorten(label)!r}"
                    f" is not valid IDNA 2008 ({shorten(str(exc))})"
                ) from None
        if len(ascii_label) > 63:
            raise ValueError(f"{shorten(name)!r} is not a valid host name (label over 63)")
        out.append(ascii_label)
    result = ".".join(out)
    if len(result) > 253:
        raise ValueError(f"{shorten(name)!r} is not a valid host name (over 253 octets)")
    return result


_LDH = re.compile("[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")


def _unicode(a_labels: str) -> str:
    """The U-label form of a name in A-labels (the name itself when it has none)."""
    try:
        return str(idna.decode(a_labels))
    except (idna.IDNAError, UnicodeError):
        return a_labels


def _sni(sni: str) -> str:
    try:
        name = to_a_labels(sni)
    except ValueError:
        raise InputError(f"--sni {sni!r}: not a valid host name") from None
    if _numeric_reading(sni) is not None or is_ip(name):
        raise InputError(f"--sni {sni!r}: not a valid host name (an address is never sent)")
    return name


def _address(text: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise InputError(f"{where}: not an IP address") from None


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


SPECIAL_USE_DOMAINS = ("test", "localhost", "invalid", "example", "local", "onion", "alt")
"""Special-use top-level names (RFC 6761, 6762, 7686, 9476) with no data in the public DNS."""


def is_special_use(name: str) -> bool:
    """A name under a special-use TLD or ``home.arpa`` (RFC 8375)."""
    labels = name.rstrip(".").lower().split(".")
    return labels[-1] in SPECIAL_USE_DOMAINS or labels[-2:] == ["home", "arpa"]


def is_hostname(name: str) -> bool:
    """A host name (Unicode or A-labels) that :func:`to_a_labels` accepts and that does not
    end in a number (which address parsers read as IPv4)."""
    if not name or _numeric_reading(name) is not None:
        return False
    try:
        to_a_labels(name)
    except ValueError:
        return False
    return True


def resolve(target: Target) -> list[Endpoint]:
    """Every address the target's name resolves to (IPv4 and IPv6), one endpoint each."""
    if target.ip is not None:
        addresses = [target.ip]
    elif is_ip(target.host):
        addresses = [target.host]
    else:
        addresses = _lookup(target.host, target.port)
    sni = target.sni or (None if is_ip(target.host) else target.host)
    return [
        Endpoint(
            host=target.host,
            port=target.port,
            ip=address,
            sni=sni,
            starttls=target.starttls,
            https=target.https,
            unicode_host=target.unicode_host,
        )
        for address in addresses
    ]


def _lookup(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"{host}: name does not resolve ({exc.strerror})") from exc
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return sorted(seen, key=lambda a: (":" in a, a))


def parse_resolver(text: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT`` or ``[V6]:PORT`` (default port 53) for ``--resolver``: an
    address, never a name; the port in ASCII digits, 1-65535.

    Raises:
        InputError: one line starting ``--resolver '...'``.
    """
    where = f"--resolver {text!r}"
    value = text.strip()
    if not value:
        raise InputError(f"{where}: empty (expected ADDR, ADDR:PORT or [V6]:PORT)")
    if value.startswith("["):
        address, port = _bracketed(where, value)
        return address, 53 if port is None else port
    if value.count(":") > 1:
        return _bare_ipv6(where, value), 53
    host, colon, port_text = value.partition(":")
    try:
        address = str(ipaddress.IPv4Address(host))
    except ValueError:
        raise InputError(f"{where}: not an IP address") from None
    return address, _port(where, port_text) if colon else 53


def read_list(source: str) -> list[tuple[int, str]]:
    """The targets of a plain list file (``-``: standard input): see :func:`list_lines`."""
    if source == "-":
        return list_lines(source, sys.stdin.buffer.read())
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from exc
    return list_lines(source, data)


def list_lines(source: str, data: bytes) -> list[tuple[int, str]]:
    """(line number, target) of a plain list: one target per line, ``#`` comments, blank
    lines skipped; UTF-8 (a byte order mark is allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason})") from exc
    lines = (
        (n, re.sub(r"(^|\s)#.*", "", line).strip()) for n, line in enumerate(text.splitlines(), 1)
    )
    return [(number, target) for number, target in lines if target]
