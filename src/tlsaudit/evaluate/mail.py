"""Judging a mail domain's facts against the profile's ``mail.*`` rules (pure).

:func:`evaluate_mail` reads only :class:`MailFacts` (recorded DNS answers, SMTP
dialogues, TLS scans, the MTA-STS policy fetch), so stored facts can be re-judged against
another profile without the network. Every ``mail.*`` check is a registered check
(:mod:`.check`) reading a :class:`~.mailview.MailView`: authentication (SPF, DMARC, DKIM,
BIMI) in :mod:`.mail_auth`, transport (MX, STARTTLS, STARTTLS injection, MTA-STS, DANE,
relay, AUTH) in :mod:`.mail_transport`. The TLS of every MX address is judged by the TLS
checks first (:func:`evaluate_tls`); the view carries those findings to the checks that
read them, and they join the report as the transport rules adjust them for opportunistic
SMTP.
"""

from __future__ import annotations

from datetime import datetime

from tlsaudit.evaluate import mail_auth, mail_transport  # importing registers their checks
from tlsaudit.evaluate.check import evaluate
from tlsaudit.evaluate.mailview import MailView
from tlsaudit.evaluate.tls import evaluate_tls
from tlsaudit.models.findings import Finding
from tlsaudit.models.mail import MailFacts
from tlsaudit.profiles import Profile

__all__ = ["MailView", "evaluate_mail", "mail_auth", "mail_transport"]


def evaluate_mail(facts: MailFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``mail.*`` finding for one domain, then the TLS findings of each MX address
    (as the mail transport rules adjust them for opportunistic SMTP).

    Checks without a rule in the profile are skipped.
    """
    view = MailView.of(facts)
    for host, address in view.addresses():
        if address.tls is not None:
            view.tls[(host, address.ip, address.port)] = evaluate_tls(address.tls, profile, now)
    return evaluate(view, MailView, profile, now) + mail_transport.mx_tls_findings(view, profile)
