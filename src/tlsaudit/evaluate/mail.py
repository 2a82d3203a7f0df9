"""Judging a mail domain's facts against the profile's ``mail.*`` rules (pure).

:func:`evaluate_mail` reads only :class:`MailFacts` (recorded DNS answers, SMTP
dialogues, TLS scans, the MTA-STS policy fetch), so stored facts can be re-judged against
another profile without the network. Every ``mail.*`` check is a registered check
(:mod:`.check`) reading a :class:`MailView`: authentication (SPF, DMARC, DKIM, BIMI) in
:mod:`.mail_auth`, transport (MX, STARTTLS, STARTTLS injection, MTA-STS, DANE, relay,
AUTH) in :mod:`.mail_transport`. The TLS of every MX address is judged by the TLS checks
first (:func:`evaluate_tls`); the view carries those findings to the checks that read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar, cast

from tlsaudit.evaluate.check import evaluate
from tlsaudit.evaluate.tls import evaluate_tls
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts, MxAddress
from tlsaudit.profiles import Profile
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


def evaluate_mail(facts: MailFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``mail.*`` finding for one domain, plus the TLS findings of each MX address
    (as the mail transport checks adjust them for opportunistic SMTP).

    Checks without a rule in the profile are skipped.
    """
    view = MailView.of(facts)
    for host, address in view.addresses():
        if address.tls is not None:
            view.tls[(host, address.ip, address.port)] = evaluate_tls(address.tls, profile, now)
    return evaluate(view, MailView, profile, now)


from tlsaudit.evaluate import mail_auth  # noqa: E402, F401  (registers the authentication checks)
