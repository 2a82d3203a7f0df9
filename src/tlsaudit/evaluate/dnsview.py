"""A read-only view of DNS answers, shared by the mail record walkers.

The walkers that follow SPF includes, the DMARC tree and report authorisations are pure
functions of a :data:`Lookup` callback. The scanner passes one that queries the network
and records every answer; the evaluator passes :class:`Replay`, which answers from the
recorded facts, so the same code decides what to query and what the answers mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from tlsaudit.models.facts import ErrorReason, ProbeError

RrStatus = Literal["answer", "nodata", "nxdomain", "error"]


@dataclass(frozen=True)
class Rrset:
    """One DNS answer reduced to what the mail checks read.

    ``records`` are the rdata in presentation format (TXT as quoted strings).
    ``error`` is set exactly when ``status == "error"`` (timeout, SERVFAIL, ...).
    """

    name: str
    rdtype: str
    status: RrStatus
    records: tuple[str, ...] = ()
    error: ProbeError | None = None
    secure: bool = False
    """DNSSEC-validated (AD flag from a validating resolver)."""

    @property
    def absent(self) -> bool:
        """NXDOMAIN or NODATA: the name or the type is known not to exist."""
        return self.status in ("nodata", "nxdomain")

    def txt(self) -> list[bytes]:
        """TXT records, each with its character-strings joined (RFC 7208 §3.3)."""
        return [b"".join(txt_strings(r)) for r in self.records]


Lookup = Callable[[str, str], Rrset]
"""``lookup(name, rdtype)``: one DNS question, answered live or from recorded facts."""


def normalise(name: str) -> str:
    """Lower-case, no trailing dot: the form used for comparisons and as a cache key."""
    return name.rstrip(".").lower()


def txt_strings(text: str) -> list[bytes]:
    """The character-strings of a TXT rdata in presentation format (``"a" "b\\"c"``)."""
    out: list[bytes] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        buf = bytearray()
        quoted = text[i] == '"'
        i += quoted
        while i < n and (text[i] != '"' if quoted else text[i] != " "):
            if text[i] == "\\" and i + 1 < n:
                if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                    buf.append(int(text[i + 1 : i + 4]) & 0xFF)
                    i += 4
                    continue
                i += 1
            buf.extend(text[i].encode("latin-1", "replace"))
            i += 1
        i += quoted
        out.append(bytes(buf))
    return out


class Replay:
    """A :data:`Lookup` over recorded answers; a question never asked reads as not scanned."""

    def __init__(self, answers: Iterable[Rrset]) -> None:
        self._answers = {(normalise(a.name), a.rdtype.upper()): a for a in answers}

    def __call__(self, name: str, rdtype: str) -> Rrset:
        found = self._answers.get((normalise(name), rdtype.upper()))
        if found is not None:
            return found
        error = ProbeError(reason=ErrorReason.NOT_SCANNED, detail=f"{name} {rdtype} not queried")
        return Rrset(name=name, rdtype=rdtype, status="error", error=error)
