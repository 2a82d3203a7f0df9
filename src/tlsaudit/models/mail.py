"""Facts about a mail domain: DNS answers, SMTP dialogues, the MTA-STS policy fetch.

DNS facts are kept as the questions asked and the answers got (:class:`DnsAnswer`), so
the evaluator re-reads SPF, DMARC, DKIM, MTA-STS and DANE records from them without the
network. NXDOMAIN, NODATA and failures stay distinct.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.facts import Model, Observed, TlsFacts


class SmtpReply(Model):
    code: int
    text: str = Field(description="Reply lines without the code, joined by newlines.")


class TlsSession(Model):
    """What one TLS handshake on an SMTP connection negotiated."""

    version: str
    cipher: str
    chain: list[str] = Field(description="Certificates as served, leaf first, base64 DER.")


class SmtpFacts(Model):
    """The STARTTLS dialogue with one address on one port."""

    greeting: SmtpReply
    esmtp: bool = Field(description="EHLO accepted.")
    extensions: list[str] = Field(description="EHLO keywords before TLS, upper-case.")
    starttls: bool = Field(description="STARTTLS advertised.")
    tls: Observed[TlsSession] | None = Field(
        default=None, description="The STARTTLS handshake; None when STARTTLS is not offered."
    )
    extensions_tls: list[str] = Field(
        default_factory=list, description="EHLO keywords after STARTTLS."
    )
    transcript: list[str] = Field(default_factory=list)

    def auth(self, after_tls: bool) -> list[str]:
        """SASL mechanisms advertised in clear or after TLS."""
        keywords = self.extensions_tls if after_tls else self.extensions
        return sorted({m for k in keywords if k.startswith("AUTH ") for m in k.split()[1:]})


class RelayAttempt(Model):
    sender: str
    recipient: str
    reply: SmtpReply | None = Field(description="RCPT TO reply; None when not reached.")


class RelayProbe(Model):
    """Open-relay probe: the dialogue stops at RCPT TO, then RSET and QUIT; never DATA."""

    control: RelayAttempt = Field(description="RCPT TO postmaster of the domain: must be 250.")
    attempts: list[RelayAttempt]
    transcript: list[str] = Field(default_factory=list)


class InjectionProbe(Model):
    """STARTTLS command injection (CVE-2011-0411 family): ``STARTTLS`` and ``RSET`` sent in
    one TCP write, the TLS handshake, then a read before any command is sent inside TLS."""

    vulnerable: bool = Field(description="The injected RSET was answered inside TLS.")
    starttls_reply: SmtpReply = Field(description="The answer to the pipelined STARTTLS.")
    injected_reply: SmtpReply | None = Field(
        default=None, description="The unsolicited reply read inside TLS (None: silence)."
    )
    transcript: list[str] = Field(default_factory=list)


class MxAddress(Model):
    ip: str
    port: int
    smtp: Observed[SmtpFacts]
    tls: TlsFacts | None = Field(
        default=None, description="TLS scan of the STARTTLS service (None: not scanned)."
    )
    relay: Observed[RelayProbe] | None = Field(default=None, description="None: not tested.")
    injection: Observed[InjectionProbe] | None = Field(
        default=None, description="STARTTLS injection probe (None: not tested)."
    )


class MxHost(Model):
    name: str
    preference: int
    addresses: list[MxAddress] = Field(default_factory=list)


class Submission(Model):
    """A submission port (587 STARTTLS, 465 implicit TLS): where SMTP AUTH is offered."""

    host: str
    ip: str
    port: int
    implicit_tls: bool
    smtp: Observed[SmtpFacts]


class HttpFetch(Model):
    """One HTTPS GET (no redirects followed)."""

    url: str
    ip: str
    status: int
    content_type: str | None = None
    location: str | None = Field(default=None, description="Location header of a redirect.")
    body: str = ""
    truncated: bool = False


class MailFacts(Model):
    """Everything observed about one mail domain."""

    domain: str
    scanned_at: datetime
    selectors: list[str] = Field(description="DKIM selectors probed, in order.")
    given_selectors: list[str] = Field(
        default_factory=list,
        description="The selectors of `selectors` the user gave (--dkim-selector); the others "
        "were guessed from the common-selector list. Empty in facts stored before this field: "
        "every selector then counts as guessed.",
    )
    dns: list[DnsAnswer] = Field(description="Every DNS question asked, with its answer.")
    mx: list[MxHost] = Field(default_factory=list)
    mta_sts_policy: Observed[HttpFetch] | None = Field(
        default=None, description="Policy fetch; None when no _mta-sts record asked for one."
    )
    submission: list[Submission] = Field(default_factory=list)
    relay_tested: bool = False
    injection_tested: bool = Field(
        default=False, description="The opt-in STARTTLS injection probe was run."
    )
