"""Targets in: parse what the user typed and expand names into endpoints (one per address)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import cast, get_args
from urllib.parse import urlsplit

from tlsaudit.errors import InputError
from tlsaudit.models.facts import Endpoint, StartTlsProtocol

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


@dataclass(frozen=True)
class Target:
    """One target as given: a name or address, a port, and how to reach TLS on it."""

    raw: str
    host: str
    port: int
    starttls: StartTlsProtocol | None = None
    sni: str | None = None
    ip: str | None = None

    @property
    def https(self) -> bool:
        return self.starttls is None


def parse_target(
    raw: str,
    *,
    starttls: str | None = None,
    sni: str | None = None,
    ip: str | None = None,
) -> Target:
    """Parse ``host``, ``host:port``, ``[v6]:port``, ``https://host[:port]`` or
    ``smtp://host[:port]`` (and the other STARTTLS schemes)."""
    text = raw.strip()
    if not text or any(c.isspace() for c in text):
        raise InputError(f"{raw!r}: not a target (expected host, host:port or scheme://host)")
    scheme = None
    if "://" in text:
        scheme, _, _ = text.partition("://")
        scheme = scheme.lower()
        if scheme != "https" and scheme not in STARTTLS_PROTOCOLS:
            known = ", ".join(["https", *STARTTLS_PROTOCOLS])
            raise InputError(f"{raw!r}: unknown scheme {scheme!r} (known: {known})")
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
    if sni is not None and not is_hostname(sni):
        raise InputError(f"--sni {sni!r}: not a valid host name")
    return Target(raw=raw, host=host, port=port, starttls=proto, sni=sni, ip=ip)


def _split_host_port(raw: str, rest: str) -> tuple[str, int | None]:
    netloc = rest.split("/", 1)[0]
    if "@" in netloc:
        raise InputError(f"{raw!r}: user information is not allowed in a target")
    if netloc.count(":") > 1 and not netloc.startswith("["):
        return _address(netloc, repr(raw)), None  # a bare IPv6 address
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InputError(f"{raw!r}: {exc}") from exc
    if not host:
        raise InputError(f"{raw!r}: no host name")
    if port == 0:
        raise InputError(f"{raw!r}: port must be between 1 and 65535")
    if netloc.startswith("["):
        return _address(host, repr(raw)), port
    if is_ip(host):
        return host, port
    if not is_hostname(host):
        raise InputError(f"{raw!r}: {host!r} is not a valid host name")
    return host.lower().rstrip("."), port


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
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not labels:
        return False
    try:
        labels = name.rstrip(".").encode("idna").decode("ascii").split(".")
    except UnicodeError:
        return False
    return all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c in "-_" for c in label)
        for label in labels
    )


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
    """``ADDR``, ``ADDR:PORT`` or ``[V6]:PORT`` (default port 53) for ``--resolver``."""
    if text.count(":") > 1 and not text.startswith("["):
        return _address(text, f"--resolver {text!r}"), 53
    host, _, port = text.rpartition(":") if "]:" in text or text.count(":") == 1 else (text, "", "")
    address = _address(host, f"--resolver {text!r}")
    if not port:
        return address, 53
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--resolver {text!r}: port must be between 1 and 65535")
    return address, int(port)
