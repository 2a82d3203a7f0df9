"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): record and policy parsing, MX matching."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tlsaudit.records.dnsview import normalise
from tlsaudit.records.text import shorten

MAX_AGE = 31_557_600
"""RFC 8461 §3.2: max_age is at most one year."""
POLICY_PATH = "/.well-known/mta-sts.txt"

_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_FIELD = re.compile(r"([A-Za-z0-9_-]+):[ \t]*(.*?)[ \t]*")


def is_sts(text: bytes) -> bool:
    return text.startswith(b"v=STSv1;") or text == b"v=STSv1"


def is_tlsrpt(text: bytes) -> bool:
    return text.startswith(b"v=TLSRPTv1;") or text == b"v=TLSRPTv1"


def _tags(text: str) -> dict[str, str]:
    pairs = (p.partition("=") for p in text.split(";") if p.strip())
    return {k.strip(): v.strip() for k, _, v in pairs}


def sts_record_errors(text: bytes) -> list[str]:
    """Problems of an ``_mta-sts`` TXT record (an ``id`` of 1-32 alphanumerics is required)."""
    tags = _tags(text.decode("ascii", "replace"))
    if not _ID.fullmatch(tags.get("id", "")):
        return [f"id={shorten(tags.get('id', ''))!r}: expected 1-32 letters or digits"]
    return []


def tlsrpt_errors(text: bytes) -> list[str]:
    """Problems of an ``_smtp._tls`` TXT record: ``rua`` with mailto: or https: URIs."""
    tags = _tags(text.decode("ascii", "replace"))
    if "rua" not in tags:
        return ["no rua= tag"]
    uris = [u.strip() for u in tags["rua"].split(",")]
    bad = [u for u in uris if not re.fullmatch(r"(mailto:[^@\s]+@[^@\s]+|https://\S+)", u)]
    return [f"rua: '{shorten(u)}' is not a mailto: or https: URI" for u in bad]


@dataclass(frozen=True)
class StsPolicy:
    mode: str | None
    max_age: int | None
    mx: tuple[str, ...]
    errors: tuple[str, ...]

    def matches(self, host: str) -> bool:
        """An MX host matches a pattern; ``*.`` stands for exactly one label (§4.1)."""
        name = normalise(host)
        for pattern in (normalise(p) for p in self.mx):
            if pattern.startswith("*."):
                head, _, rest = name.partition(".")
                if head and rest == pattern[2:]:
                    return True
            elif pattern == name:
                return True
        return False


def parse_policy(body: str) -> StsPolicy:
    """Parse a policy file: ``key: value`` lines, LF or CRLF; unknown keys ignored."""
    fields: dict[str, list[str]] = {}
    errors: list[str] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        match = _FIELD.fullmatch(line)
        if match is None:
            errors.append(f"line {line[:40]!r} is not 'key: value'")
            continue
        fields.setdefault(match.group(1), []).append(match.group(2))
    if fields.get("version") != ["STSv1"]:
        errors.append("version: expected exactly one 'version: STSv1'")
    mode: str | None = (fields.get("mode") or [""])[0]
    if mode not in ("enforce", "testing", "none"):
        errors.append(f"mode: {shorten(mode or '')!r} is not enforce, testing or none")
        mode = None
    raw_age = (fields.get("max_age") or [""])[0]
    max_age = int(raw_age) if re.fullmatch("[0-9]{1,10}", raw_age) else None
    if max_age is None:
        errors.append(f"max_age: {shorten(raw_age)!r} is not a number of seconds")
    elif max_age > MAX_AGE:
        errors.append(f"max_age: {max_age} is above one year ({MAX_AGE})")
    mx = tuple(fields.get("mx", []))
    if mode in ("enforce", "testing") and not mx:
        errors.append("no mx: pattern")
    return StsPolicy(mode=mode, max_age=max_age, mx=mx, errors=tuple(errors))
