"""Judging a mail domain's facts against the profile's ``mail.*`` rules (pure).

:func:`evaluate_mail` reads only :class:`MailFacts` (recorded DNS answers, SMTP
dialogues, TLS scans, the MTA-STS policy fetch), so stored facts can be re-judged against
another profile without the network. Authentication (SPF, DMARC, DKIM, BIMI) is judged
in :mod:`.mail_auth`, transport (MX, STARTTLS, STARTTLS injection, MTA-STS, DANE, relay,
AUTH) in :mod:`.mail_transport`.
"""

from __future__ import annotations

from datetime import datetime

from tlsaudit.evaluate.collector import Collector
from tlsaudit.evaluate.mail_auth import judge_authentication, judge_bimi, judge_nonsending
from tlsaudit.evaluate.mail_transport import judge_transport
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile
from tlsaudit.records.dnsview import Replay, normalise


def evaluate_mail(facts: MailFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``mail.*`` finding for one domain, plus the TLS findings of each MX address.

    Checks without a rule in the profile are skipped.
    """
    out = Collector(profile)
    domain = normalise(facts.domain)
    lookup = Replay(facts.dns)
    policy = judge_authentication(out, domain, facts.selectors, lookup, facts.given_selectors)
    null_mx = judge_transport(out, facts, lookup, profile, now)
    judge_nonsending(out, domain, lookup, null_mx, policy)
    judge_bimi(out, domain, lookup, policy)
    return out.items
