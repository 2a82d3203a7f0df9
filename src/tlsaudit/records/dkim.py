"""DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463): parsing what DNS alone shows.

DNS cannot list selectors: the scanner probes the selectors the user names and
:data:`COMMON_SELECTORS`; a miss means "no key among these", never "no DKIM".
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from tlsaudit.records.text import shorten

COMMON_SELECTORS = (
    "default", "dkim", "mail", "email", "selector1", "selector2", "s1", "s2", "k1", "k2",
    "k3", "google", "google2048", "x", "s1024", "mandrill", "everlytickey1", "everlytickey2",
    "mxvault", "20161025", "20210112", "20230601", "protonmail", "protonmail2", "protonmail3",
    "fm1", "fm2", "fm3", "zoho", "mimecast", "mimecast20190104", "ppk1", "mc1", "smtpapi",
)  # fmt: skip
"""Selectors probed when none are given: the union of several open-source scanners'
lists (mail-dns.md §3.2). Vendors with dated or random selectors are not covered."""

_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class DkimKey:
    """A key record. ``errors`` make the selector unusable; ``bits`` is None when unknown."""

    text: str
    tags: dict[str, str]
    key_type: str
    bits: int | None = None
    errors: tuple[str, ...] = ()

    @property
    def revoked(self) -> bool:
        """``p=`` empty: the key was withdrawn (good hygiene for a retired selector)."""
        return "p" in self.tags and not self.tags["p"]

    @property
    def hashes(self) -> tuple[str, ...]:
        """Acceptable hash algorithms (``h=``); empty means any."""
        value = self.tags.get("h", "")
        return tuple(h.strip().lower() for h in value.split(":") if h.strip())

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(f.strip().lower() for f in self.tags.get("t", "").split(":") if f.strip())

    @property
    def testing(self) -> bool:
        return "y" in self.flags


def looks_like_key(text: bytes) -> bool:
    """A TXT record at a selector that is meant as a DKIM key (``v=DKIM1`` or a ``p=`` tag)."""
    stripped = text.strip()
    return stripped.startswith(b"v=DKIM1") or re.search(rb"(^|;)\s*p\s*=", stripped) is not None


def tag_list(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """A DKIM-style ``tag=value;`` list (RFC 6376 §3.2), also used by BIMI: the tags
    (values stripped, the first of a repeated tag kept), their order, and syntax errors."""
    tags: dict[str, str] = {}
    order: list[str] = []
    errors: list[str] = []
    for part in (p for p in text.split(";") if p.strip()):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not _TAG.fullmatch(name):
            errors.append(f"'{shorten(part.strip())}' is not a tag=value pair")
        elif name in tags:
            errors.append(f"tag '{shorten(name)}' appears more than once")
        else:
            tags[name] = value.strip()
            order.append(name)
    return tags, order, errors


def parse_dkim(record: bytes | str) -> DkimKey:
    """Parse a key record and measure its key (RSA as SPKI or RSAPublicKey, Ed25519 raw)."""
    # bytes from DNS: a non-ASCII octet reads as U+FFFD; text is kept as given (so the
    # record written back from the parsed text parses the same)
    text = record.decode("ascii", "replace") if isinstance(record, bytes) else record
    tags, order, errors = tag_list(text)
    if "v" in tags and order[0] != "v":
        errors.append("v= must be the first tag")
    if "p" in tags:
        tags["p"] = re.sub(r"\s+", "", tags["p"])
    if "v" in tags and tags["v"] != "DKIM1":
        errors.append(f"v={shorten(tags['v'])}: expected DKIM1")
    if "p" not in tags:
        errors.append("no p= tag (public key)")
    services = [s.strip() for s in tags.get("s", "*").split(":")]
    if not {"*", "email"} & set(services):
        errors.append(f"s={shorten(tags['s'])}: not usable for email")
    key_type = tags.get("k", "rsa").lower()
    bits = None
    if tags.get("p"):
        bits, problem = _measure(key_type, tags["p"])
        if problem:
            errors.append(problem)
    return DkimKey(text=text, tags=tags, key_type=key_type, bits=bits, errors=tuple(errors))


def _measure(key_type: str, data: str) -> tuple[int | None, str | None]:
    try:
        der = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None, "p= is not valid base64"
    if key_type == "ed25519":
        if len(der) != 32:
            return None, f"an Ed25519 key is 32 bytes, p= has {len(der)}"
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(der)
        except ValueError as exc:
            return None, f"p= is not an Ed25519 public key ({shorten(str(exc))})"
        return 256, None
    if key_type != "rsa":
        return None, f"k={shorten(key_type)}: unknown key type"
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return None, f"p= is not an RSA public key ({shorten(str(exc))})"
    if not isinstance(key, rsa.RSAPublicKey):
        return None, "k=rsa but p= holds a key of another type"
    return key.key_size, None
