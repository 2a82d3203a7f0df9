"""DANE for SMTP (RFC 7672, RFC 7671): TLSA records matched against a served chain."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_OCTET = re.compile("[0-9]{1,3}")

USABLE = {2: "DANE-TA", 3: "DANE-EE"}
"""Certificate usages SMTP clients honour; PKIX-TA (0) and PKIX-EE (1) are unusable."""


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    matching: int
    data: bytes

    @classmethod
    def parse(cls, text: str) -> Tlsa | None:
        """``"3 1 1 ab12..."`` (RFC 6698 §2.2 presentation format: three 8-bit fields in
        ASCII decimal, then the data in hex, possibly split by spaces); None when malformed."""
        parts = text.split()
        fields = parts[:3]
        if len(parts) < 4 or not all(_OCTET.fullmatch(p) and int(p) <= 255 for p in fields):
            return None
        try:
            data = bytes.fromhex("".join(parts[3:]))
        except ValueError:
            return None
        usage, selector, matching = (int(p) for p in fields)
        return cls(usage, selector, matching, data)

    def to_text(self) -> str:
        """The presentation format :meth:`parse` reads back."""
        return f"{self.usage} {self.selector} {self.matching} {self.data.hex()}"

    @property
    def usable(self) -> bool:
        return self.usage in USABLE and self.selector in (0, 1) and self.matching in (0, 1, 2)

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.matching} {self.data.hex()[:16]}…"

    def matches(self, der: bytes) -> bool:
        """This record matches one certificate (DER)."""
        content = der
        if self.selector == 1:
            try:
                key = x509.load_der_x509_certificate(der).public_key()
                content = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                return False  # an unreadable certificate or key matches no SPKI record
        if self.matching == 1:
            return hashlib.sha256(content).digest() == self.data
        if self.matching == 2:
            return hashlib.sha512(content).digest() == self.data
        return content == self.data


def match(records: list[Tlsa], chain: list[bytes]) -> Tlsa | None:
    """The first usable record that matches the chain as served (leaf first): DANE-EE
    against the leaf, DANE-TA against any certificate of the chain."""
    for record in (r for r in records if r.usable):
        candidates = chain[:1] if record.usage == 3 else chain
        if any(record.matches(der) for der in candidates):
            return record
    return None
