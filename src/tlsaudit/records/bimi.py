"""BIMI (draft-brand-indicators-for-message-identification): assertion records.

:func:`discover` asks for ``default._bimi.<domain>`` and, when no ``v=BIMI1`` record is
there, for the organisational domain's (draft §7.2), through a
:data:`~tlsaudit.records.dnsview.Lookup`; :func:`parse_bimi` is a pure parser. The logo
(``l=``) and the evidence document (``a=``) are never fetched.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tlsaudit.models.dns import DnsAnswer
from tlsaudit.records.dkim import tag_list
from tlsaudit.records.dmarc import organisational_domain
from tlsaudit.records.dnsview import Lookup, normalise, txt
from tlsaudit.records.text import shorten

SELECTOR = "default"
OTHER_IMAGE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "webp", "bmp", "ico", "tif", "tiff"})
"""Image formats an ``l=`` URI must not end in: only SVG (SVG Tiny PS) is registered."""

_VERSION = re.compile(rb"v[ \t]*=[ \t]*BIMI1[ \t]*(;|$)")
_LOOKALIKE = re.compile(rb"[ \t]*v[ \t]*=[ \t]*bimi", re.IGNORECASE)


def is_bimi(text: bytes) -> bool:
    """Starts with ``v=BIMI1`` exactly (receivers discard every other record)."""
    return _VERSION.match(text) is not None


def looks_like_bimi(text: bytes) -> bool:
    """Meant as a BIMI record (``v=bimi...`` in any case), whether or not receivers keep it."""
    return _LOOKALIKE.match(text) is not None


def query_name(domain: str) -> str:
    return f"{SELECTOR}._bimi.{normalise(domain)}"


@dataclass(frozen=True)
class BimiRecord:
    """A parsed assertion record; ``errors`` make receivers ignore it."""

    text: str
    tags: dict[str, str]
    locations: tuple[str, ...] = ()
    """``l=`` URIs (empty: no logo)."""
    authority: str | None = None
    """``a=`` URI of the evidence document (VMC/CMC); None when empty or absent."""
    errors: tuple[str, ...] = ()

    @property
    def declined(self) -> bool:
        """``l=`` and ``a=`` both empty: an explicit refusal to take part (draft §4.3.1)."""
        return not self.locations and self.authority is None


def parse_bimi(record: bytes | str) -> BimiRecord:
    """Parse one record: ``v=BIMI1`` first, ``l=`` (required, may be empty) and ``a=``
    each empty or one HTTPS URI with a host name; other tags are ignored."""
    # bytes from DNS: a non-ASCII octet reads as U+FFFD; text is kept as given (so the
    # record written back from the parsed text parses the same)
    text = record.decode("ascii", "replace") if isinstance(record, bytes) else record
    tags, order, errors = tag_list(text)
    if not record.isascii():
        errors.append("record is not ASCII")
    if order[:1] != ["v"] or tags["v"] != "BIMI1":
        errors.append("the first tag must be v=BIMI1")
    if "l" not in tags:
        errors.append("no l= tag (it may be empty, not absent)")
    locations = tuple(u.strip() for u in tags.get("l", "").split(",") if u.strip())
    if len(locations) > 1:
        errors.append(f"l= lists {len(locations)} URIs: one is allowed")
    authority = tags.get("a") or None
    errors += [p for uri in locations for p in _uri_errors("l", uri)]
    errors += _uri_errors("a", authority) if authority else []
    return BimiRecord(
        text=text, tags=tags, locations=locations, authority=authority, errors=tuple(errors)
    )


def _uri_errors(tag: str, uri: str) -> list[str]:
    shown = shorten(uri)
    try:  # urlsplit raises ValueError on a malformed bracketed host or an NFKC trick
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError as exc:
        return [f"{tag}={shown}: not a valid URI ({shorten(str(exc))})"]
    literal = "[" in parts.netloc or _is_address(host or "")
    if parts.scheme.lower() != "https" or not host or "." not in host or literal:
        return [f"{tag}={shown}: not an https:// URI with a fully qualified host name"]
    suffix = parts.path.rpartition(".")[2].lower() if "." in parts.path else ""
    if tag == "l" and suffix in OTHER_IMAGE_SUFFIXES:
        return [f"l={shown}: a .{shorten(suffix)} image; BIMI logos are SVG"]
    return []


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Discovery:
    """The answers of the assertion-record lookup (draft §7.2)."""

    own: DnsAnswer
    """``default._bimi.<domain>``."""
    organisational: DnsAnswer | None = None
    """``default._bimi.<organisational domain>``, asked when the domain has no record."""

    @property
    def answer(self) -> DnsAnswer:
        """The answer the records come from (the fallback when it was asked)."""
        return self.organisational or self.own

    @property
    def records(self) -> list[bytes]:
        """The ``v=BIMI1`` records found (receivers apply BIMI only when there is one)."""
        return [t for t in txt(self.answer) if is_bimi(t)]


def discover(domain: str, lookup: Lookup) -> Discovery:
    """Ask for the domain's default assertion record, then for its organisational
    domain's when the domain has none (its lookup failing stops the walk)."""
    name = normalise(domain)
    own = lookup(query_name(name), "TXT")
    org = organisational_domain(name)
    if own.error is not None or org == name or any(is_bimi(t) for t in txt(own)):
        return Discovery(own=own)
    return Discovery(own=own, organisational=lookup(query_name(org), "TXT"))
