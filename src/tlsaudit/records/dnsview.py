"""Looking up DNS answers: the one interface the mail record walkers use.

The walkers that follow SPF includes, the DMARC tree and report authorisations are pure
functions of a :data:`Lookup` callback. The scanner passes one that queries the network
and records every answer; the evaluator passes :class:`Replay`, which answers from the
recorded facts, so the same code decides what to query and what the answers mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.txtbase

from tlsaudit.models.dns import DnsAnswer, DnsStatus

Lookup = Callable[[str, str], DnsAnswer]
"""``lookup(name, rdtype)``: one DNS question, answered live or from recorded facts."""


def normalise(name: str) -> str:
    """Lower-case, no trailing dot: the form used for comparisons and as a cache key."""
    return name.rstrip(".").lower()


def txt_strings(answer: DnsAnswer) -> list[list[bytes]]:
    """The character-strings of each TXT record of an answer; a record whose recorded text
    does not parse (facts edited by hand, a type that is not TXT) is skipped, never raised."""
    try:
        rdtype = dns.rdatatype.from_text(answer.rdtype)
    except (dns.exception.DNSException, ValueError):
        return []
    out = []
    for text in answer.records:
        try:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, relativize=False)
        except (dns.exception.DNSException, ValueError, UnicodeError):
            continue
        if isinstance(rdata, dns.rdtypes.txtbase.TXTBase):
            out.append(list(rdata.strings))
    return out


def txt(answer: DnsAnswer) -> list[bytes]:
    """TXT records, each with its character-strings joined (RFC 7208 §3.3)."""
    return [b"".join(strings) for strings in txt_strings(answer)]


class Replay:
    """A :data:`Lookup` over recorded answers; a question never asked reads as not scanned."""

    def __init__(self, answers: Iterable[DnsAnswer]) -> None:
        self._answers = {(normalise(a.name), a.rdtype.upper()): a for a in answers}

    def __call__(self, name: str, rdtype: str) -> DnsAnswer:
        found = self._answers.get((normalise(name), rdtype.upper()))
        if found is not None:
            return found
        return DnsAnswer(
            name=name, rdtype=rdtype, status=DnsStatus.INVALID, reason="not queried by the scan"
        )
