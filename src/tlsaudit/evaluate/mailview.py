"""What every mail check reads (:class:`MailView`), and the MX records several checks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts, MxAddress
from tlsaudit.records.dnsview import Lookup, Replay, normalise

T = TypeVar("T")


@dataclass
class MailView:
    """What every mail check reads: the facts, the domain, the recorded DNS replayed, the TLS
    findings of each MX address, and a memo for results several checks share."""

    facts: MailFacts
    domain: str
    lookup: Lookup
    tls: dict[tuple[str, str, int], list[Finding]] = field(default_factory=dict)
    """TLS findings by (MX host, address, port), judged by the profile's TLS checks."""
    _memo: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, facts: MailFacts) -> MailView:
        return cls(facts=facts, domain=normalise(facts.domain), lookup=Replay(facts.dns))

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per view: e.g. the SPF walk or the DMARC policy in force."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def addresses(self) -> list[tuple[str, MxAddress]]:
        """Every MX address with its host name, in MX order."""
        return [(host.name, address) for host in self.facts.mx for address in host.addresses]

    def tls_of(self, host: str, address: MxAddress) -> list[Finding]:
        return self.tls.get((host, address.ip, address.port), [])


@dataclass(frozen=True)
class MxRecords:
    """The domain's MX answer: (preference, host) records, or the answer that has none."""

    answer: DnsAnswer
    records: list[tuple[int, str]]

    @property
    def null(self) -> bool:
        """A null MX (RFC 7505) is published, alone or not."""
        return any(host == "." for _, host in self.records)


def mx_records(view: MailView) -> MxRecords:
    """The MX records of the domain (shared by every check that reads them)."""

    def compute() -> MxRecords:
        answer = view.lookup(view.domain, "MX")
        records = []
        if answer.ok:
            for record in answer.records:
                preference, _, host = record.partition(" ")
                records.append((int(preference), host.strip()))
        return MxRecords(answer, records)

    return view.memo("transport.mx", compute)


def null_mx(view: MailView) -> bool | None:
    """True when a null MX is the only MX (the domain takes no mail); None when the MX
    lookup failed."""
    mx = mx_records(view)
    if mx.answer.error is not None:
        return None
    return len(mx.records) == 1 and mx.null
