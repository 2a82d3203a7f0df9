"""Mail transport checks: MX targets, STARTTLS and its TLS, STARTTLS command injection,
MTA-STS, TLS-RPT, DANE, open relay and submission AUTH (pure).

Every check is registered (:mod:`.check`) and reads a :class:`MailView`; results several
checks share (the MX records, the MTA-STS policy in force, the DANE-secured MX names) are
computed once per view (:meth:`MailView.memo`). The TLS of each MX address is judged by the
TLS checks (``view.tls``); :func:`mx_tls_findings` returns those findings as the mail
report shows them: SMTP between servers is opportunistic, so certificate trust and name
failures take the ``mail.starttls.tls`` rule's ``other_level`` unless the domain publishes
MTA-STS in enforce mode, and other failures are capped at that rule's level.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from tlsaudit.evaluate.base import Judgement, Unknown
from tlsaudit.evaluate.check import Outcome, check
from tlsaudit.evaluate.mailview import MailView, mx_records
from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.facts import ErrorReason, Observed
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.models.mail import MxAddress, MxHost, SmtpFacts, SmtpReply
from tlsaudit.profiles import AbsentLevel, OtherAbsentLevels, OtherLevel, Profile, Rule
from tlsaudit.records import dane, mtasts
from tlsaudit.records.dnsview import normalise, txt

P = TypeVar("P")

OPPORTUNISTIC = ("cert.trust.public", "cert.hostname")
"""TLS checks that SMTP between servers does not enforce without MTA-STS (or DANE)."""

Result = Judgement | Unknown


def _unknown(answer: DnsAnswer) -> Unknown:
    """Why a DNS question has no definite answer."""
    return Unknown(answer.detail)


def _subject(host: str, address: MxAddress) -> str:
    return f"{host}:{address.port} ({address.ip})"


# ---------------------------------------------------------------- shared results


@dataclass
class StsState:
    """The MTA-STS record and policy as a sender sees them."""

    answer: DnsAnswer
    records: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    policy: mtasts.StsPolicy | None = None

    @property
    def usable(self) -> mtasts.StsPolicy | None:
        """The policy in force (None: no record, or the record or policy is broken)."""
        return self.policy if not self.problems else None


def mtasts_state(view: MailView) -> StsState:
    """The ``_mta-sts`` record and the fetched policy, judged once per view."""

    def compute() -> StsState:
        state = StsState(view.lookup(f"_mta-sts.{view.domain}", "TXT"))
        if state.answer.error is not None:
            return state
        state.records = [t for t in txt(state.answer) if mtasts.is_sts(t)]
        if not state.records:
            return state
        state.problems = [p for r in state.records for p in mtasts.sts_record_errors(r)]
        if len(state.records) > 1:
            state.problems.append(f"{len(state.records)} records: no policy applies")
        fetch = view.facts.mta_sts_policy
        if fetch is None or fetch.value is None:
            reason = fetch.error.detail if fetch is not None and fetch.error else "not fetched"
            state.problems.append(f"policy fetch failed: {reason}")
        elif fetch.value.status != 200 or fetch.value.location:
            state.problems.append(
                f"{fetch.value.url}: HTTP {fetch.value.status} (redirects not followed)"
            )
        else:
            media = (fetch.value.content_type or "").split(";")[0].strip().lower()
            if media != "text/plain":
                state.problems.append(f"media type {media or 'missing'}, expected text/plain")
            state.policy = mtasts.parse_policy(fetch.value.body)
            state.problems += state.policy.errors
        return state

    return view.memo("transport.mtasts", compute)


def mtasts_mode(view: MailView) -> str | None:
    """The MTA-STS mode in force (None: no usable policy)."""
    policy = mtasts_state(view).usable
    return policy.mode if policy is not None else None


@dataclass(frozen=True)
class DaneHost:
    """The TLSA answer of one MX host and the records usable for SMTP (RFC 7672)."""

    name: str
    """``_25._tcp.<host>``."""
    host: MxHost
    answer: DnsAnswer
    usable: list[dane.Tlsa]

    @property
    def secure(self) -> bool:
        return self.answer.ok and self.answer.ad and bool(self.usable)


def dane_hosts(view: MailView) -> list[DaneHost]:
    """The TLSA answer of every MX host, in MX order."""

    def compute() -> list[DaneHost]:
        out = []
        for host in view.facts.mx:
            name = f"_25._tcp.{normalise(host.name)}"
            answer = view.lookup(name, "TLSA")
            records = [r for r in (dane.Tlsa.parse(t) for t in answer.records) if r is not None]
            usable = [r for r in records if r.usable] if answer.ok else []
            out.append(DaneHost(name, host, answer, usable))
        return out

    return view.memo("transport.dane", compute)


def dane_secured(view: MailView) -> set[str]:
    """The MX host names (normalised) with usable, DNSSEC-secure TLSA records."""
    return {normalise(h.host.name) for h in dane_hosts(view) if h.secure}


# ---------------------------------------------------------------- MX targets

_MX_EXPECTED = "MX host names with addresses"
_MX_HOST_EXPECTED = "a host name with A/AAAA records, not a CNAME"


@check("mail.mx.targets", reads=MailView)
def _mx_targets(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    mx = mx_records(view)
    answer = mx.answer
    subject = f"{view.domain} MX"
    if answer.error is not None:
        yield Outcome(subject, _MX_EXPECTED, _unknown(answer))
    elif answer.absent:
        yield Outcome(
            subject,
            _MX_EXPECTED,
            (rule.params(AbsentLevel).absent_level, answer.status.value),
            reason="no MX: mail goes to the domain's own A/AAAA "
            "(publish MX 0 . if the domain takes no mail)",
        )
    elif mx.null:
        level = rule.level if len(mx.records) > 1 else None
        observed = " | ".join(answer.records)
        yield Outcome(subject, "a null MX alone (RFC 7505)", (level, observed))
    else:
        for _, host in mx.records:
            yield _mx_host(view, normalise(host), rule.level)


def _mx_host(view: MailView, host: str, level: Level) -> Outcome:
    subject = f"MX {host}"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return Outcome(subject, _MX_HOST_EXPECTED, (level, "an IP address"))
    cname, a, aaaa = (view.lookup(host, t) for t in ("CNAME", "A", "AAAA"))
    failed = [x for x in (cname, a, aaaa) if x.error is not None]
    result: Result
    if cname.ok:
        result = (level, f"CNAME to {cname.records[0]}")
    elif failed:
        result = Unknown("; ".join(_unknown(x).reason for x in failed))
    else:
        addresses = [*a.records, *aaaa.records]
        result = (None if addresses else level, ", ".join(addresses) or "no A/AAAA records")
    return Outcome(subject, _MX_HOST_EXPECTED, result)


# ---------------------------------------------------------------- MTA-STS

_STS_EXPECTED = "one v=STSv1 record and a valid policy listing every MX"


@check("mail.mtasts", reads=MailView)
def _mtasts(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    levels = rule.params(OtherAbsentLevels)
    state = mtasts_state(view)
    subject = f"_mta-sts.{view.domain}"
    if state.answer.error is not None:
        yield Outcome(subject, _STS_EXPECTED, _unknown(state.answer))
        return
    if not state.records:
        yield Outcome(subject, _STS_EXPECTED, (levels.absent_level, "no MTA-STS record"))
        return
    policy = state.usable
    if policy is None:
        yield Outcome(subject, _STS_EXPECTED, (levels.other_level, "; ".join(state.problems)))
        return
    facts = view.facts
    mismatched = [f"not covered: {h.name}" for h in facts.mx if not policy.matches(h.name)]
    mismatched += [
        f"{host.name} ({address.ip}): {problem}"
        for host in facts.mx
        for address in host.addresses
        if (problem := _sts_tls_problem(address.smtp))
    ]
    level = rule.level if policy.mode == "enforce" else levels.other_level
    observed = "; ".join([f"mode {policy.mode}, mx: {', '.join(policy.mx)}", *mismatched])
    yield Outcome(
        subject,
        "every MX host matches an mx: pattern and offers STARTTLS with TLS 1.2+",
        (level if mismatched else None, observed),
    )


def _sts_tls_problem(smtp: Observed[SmtpFacts]) -> str | None:
    """Why an MX address fails MTA-STS's transport demands (None: fine or not observed)."""
    if smtp.value is None or smtp.value.greeting.code != 220:
        return None
    tls = smtp.value.tls
    if tls is None:
        return "no STARTTLS"
    if tls.value is None:
        return "STARTTLS handshake failed"
    if tls.value.version not in ("TLSv1.2", "TLSv1.3"):
        return f"negotiated {tls.value.version}"
    return None


# ---------------------------------------------------------------- DANE


@check("mail.dane", reads=MailView)
def _dane(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    levels = rule.params(OtherAbsentLevels)
    for host in dane_hosts(view):
        answer = host.answer
        if answer.error is not None:
            yield Outcome(host.name, "TLSA records matching the MX", _unknown(answer))
        elif not answer.ok:
            yield Outcome(
                host.name,
                "DNSSEC-secure TLSA records (optional: stronger than MTA-STS)",
                (levels.absent_level, f"no TLSA records ({answer.status.value})"),
            )
        elif not host.secure:
            why = (
                "not DNSSEC-validated (ignored by senders)"
                if not answer.ad
                else "no DANE-TA/DANE-EE record usable for SMTP"
            )
            yield Outcome(
                host.name,
                "DNSSEC-secure DANE-EE/DANE-TA records",
                (levels.other_level, " | ".join(answer.records)),
                reason=why,
            )
        else:
            for address in host.host.addresses:
                yield _dane_address(host, address, rule.level)


def _dane_address(host: DaneHost, address: MxAddress, level: Level) -> Outcome:
    subject = f"{host.name} ({address.ip})"
    expected = "a usable TLSA record matches the served chain"
    session = address.smtp.value.tls if address.smtp.value else None
    if session is None or session.value is None:
        reason = session.error.detail if session and session.error else "no TLS session"
        return Outcome(subject, expected, Unknown(reason))
    chain = [base64.b64decode(c) for c in session.value.chain]
    matched = dane.match(host.usable, chain)
    observed = f"matched {matched}" if matched else "no record matches"
    return Outcome(subject, expected, (None if matched else level, observed))


# ---------------------------------------------------------------- TLS-RPT

_TLSRPT_EXPECTED = "one v=TLSRPTv1 record with rua="


@check("mail.tlsrpt", reads=MailView)
def _tlsrpt(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    subject = f"_smtp._tls.{view.domain}"
    answer = view.lookup(subject, "TXT")
    if answer.error is not None:
        yield Outcome(subject, _TLSRPT_EXPECTED, _unknown(answer))
        return
    records = [t for t in txt(answer) if mtasts.is_tlsrpt(t)]
    if not records:
        wanted = mtasts_mode(view) is not None or bool(dane_secured(view))
        if wanted:
            level, reason = rule.level, f"{rule.level} when MTA-STS or DANE is published"
        else:
            level, reason = rule.params(AbsentLevel).absent_level, None
        yield Outcome(subject, _TLSRPT_EXPECTED, (level, "no TLS-RPT record"), reason=reason)
        return
    problems = [p for r in records for p in mtasts.tlsrpt_errors(r)]
    if len(records) > 1:
        problems.append(f"{len(records)} records")
    observed = " | ".join(r.decode("ascii", "replace") for r in records)
    yield Outcome(
        subject,
        _TLSRPT_EXPECTED,
        (rule.level if problems else None, observed),
        reason="; ".join(problems) or None,
    )


# ---------------------------------------------------------------- STARTTLS and its TLS

_STARTTLS_EXPECTED = "STARTTLS offered and the handshake completes"


@check("mail.starttls", reads=MailView)
def _starttls(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    for host, address in view.addresses():
        yield _starttls_address(_subject(host, address), address.smtp, rule.level)


def _starttls_address(subject: str, smtp: Observed[SmtpFacts], level: Level) -> Outcome:
    if smtp.value is None:
        reason = smtp.error.detail if smtp.error else "not scanned"
        return Outcome(subject, _STARTTLS_EXPECTED, Unknown(reason))
    facts = smtp.value
    if facts.greeting.code != 220:
        return Outcome(subject, _STARTTLS_EXPECTED, Unknown(f"greeting {_reply(facts.greeting)}"))
    if not facts.starttls or facts.tls is None:
        return Outcome(subject, _STARTTLS_EXPECTED, (level, "STARTTLS not offered"))
    if facts.tls.value is None:
        detail = facts.tls.error.detail if facts.tls.error else None
        return Outcome(subject, _STARTTLS_EXPECTED, (level, "TLS handshake failed"), reason=detail)
    session = facts.tls.value
    observed = f"STARTTLS: {session.version} {session.cipher}"
    return Outcome(subject, _STARTTLS_EXPECTED, (None, observed))


def _failed(item: Finding) -> bool:
    """A TLS finding that fails (the violation of a mandatory TLS rule)."""
    return item.status is Status.FAIL


@check("mail.starttls.tls", reads=MailView)
def _starttls_tls(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """Per scanned MX address, the TLS checks that failed."""
    for host, address in view.addresses():
        if address.tls is None:
            continue
        failed = sorted({item.check_id for item in view.tls_of(host, address) if _failed(item)})
        yield Outcome(
            _subject(host, address),
            "TLS as the profile requires",
            (rule.level if failed else None, ", ".join(failed) or "no failing TLS check"),
        )


def mx_tls_findings(view: MailView, profile: Profile) -> list[Finding]:
    """The TLS findings of every MX address (``view.tls``) as the mail report shows them:
    subjects prefixed with the address, failures lowered for opportunistic SMTP by the
    profile's ``mail.starttls.tls`` rule (unchanged when the profile has none)."""
    rule = profile.rule("mail.starttls.tls")
    enforce = mtasts_mode(view) == "enforce"
    out = []
    for host, address in view.addresses():
        subject = _subject(host, address)
        for item in view.tls_of(host, address):
            adjusted = _opportunistic(item, enforce, rule) if rule is not None else item
            out.append(adjusted.model_copy(update={"subject": f"{subject}: {item.subject}"}))
    return out


def _opportunistic(item: Finding, enforce: bool, rule: Rule) -> Finding:
    """Lower a failing TLS finding for port 25, where TLS is opportunistic: certificate
    trust and name failures to the rule's ``other_level`` unless MTA-STS enforces, others
    to the rule's level (never raised)."""
    if not _failed(item):
        return item
    if item.check_id in OPPORTUNISTIC:
        if enforce:
            return item
        level = rule.params(OtherLevel).other_level
        note = "opportunistic SMTP: senders accept any certificate unless MTA-STS enforces"
    else:
        level = rule.level
        note = "capped by the mail.starttls.tls rule (port 25 TLS is opportunistic)"
    if level.strictness >= item.level.strictness:
        return item
    reason = f"{item.reason}; {note}" if item.reason else note
    return item.model_copy(update={"status": level.violation, "level": level, "reason": reason})


def _reply(reply: SmtpReply | None) -> str:
    if reply is None:
        return "no reply"
    return f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}".strip()


# ---------------------------------------------------------------- opt-in probes


def _not_tested(view: MailView, rule: Rule, expected: str, option: str) -> Outcome:
    """An opt-in probe the user did not ask for: one outcome naming the option."""
    return Outcome(
        view.facts.domain,
        expected,
        (rule.params(AbsentLevel).absent_level, "not tested"),
        reason=f"this probe is opt-in ({option})",
    )


def _observed(
    probes: Iterable[tuple[str, MxAddress, Observed[P] | None]], expected: str
) -> Iterator[tuple[str, P | Unknown]]:
    """Per MX address, the probe's value (or why it is unknown) with its subject; a probe
    that did not apply (e.g. no STARTTLS) is skipped."""
    for name, address, probe in probes:
        subject = _subject(name, address)
        if probe is not None and probe.value is not None:
            yield subject, probe.value
            continue
        error = probe.error if probe else None
        if error is None or error.reason is not ErrorReason.NOT_APPLICABLE:
            yield subject, Unknown(error.detail if error else "not probed")


_INJECTION_EXPECTED = "a command pipelined after STARTTLS is not answered inside TLS"


@check("mail.starttls.injection", reads=MailView)
def _injection(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    """STARTTLS command injection per MX address; nothing where STARTTLS is not offered
    (``mail.starttls`` reports that)."""
    expected = _INJECTION_EXPECTED
    if not view.facts.injection_tested:
        yield _not_tested(view, rule, expected, "--starttls-injection-test")
        return
    probes = ((name, a, a.injection) for name, a in view.addresses())
    for subject, result in _observed(probes, expected):
        if isinstance(result, Unknown):
            yield Outcome(subject, expected, result)
            continue
        if result.injected_reply is not None:
            observed = f"the injected RSET was answered inside TLS: {_reply(result.injected_reply)}"
        elif result.starttls_reply.code == 220:
            observed = "the injected RSET was not answered inside TLS"
        else:
            observed = f"STARTTLS with a pipelined command refused: {_reply(result.starttls_reply)}"
        yield Outcome(subject, expected, (rule.level if result.vulnerable else None, observed))


_RELAY_EXPECTED = "RCPT TO an external address refused (5xx)"


@check("mail.relay", reads=MailView)
def _relay(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = _RELAY_EXPECTED
    if not view.facts.relay_tested:
        yield _not_tested(view, rule, expected, "--relay-test")
        return
    probes = ((name, a, a.relay) for name, a in view.addresses())
    for subject, relay in _observed(probes, expected):
        if isinstance(relay, Unknown):
            yield Outcome(subject, expected, relay)
            continue
        control = relay.control.reply
        if control is None or not 200 <= control.code < 300:
            reason = (
                f"RCPT TO {relay.control.recipient}: {_reply(control)}"
                " — the server refuses local mail too, so a refusal proves nothing"
            )
            yield Outcome(subject, expected, Unknown(reason))
            continue
        replies = [(a, a.reply) for a in relay.attempts]
        accepted = [
            f"{a.sender} → {a.recipient}: {_reply(r)}"
            for a, r in replies
            if r is not None and 200 <= r.code < 300
        ]
        pending = [
            f"{a.sender} → {a.recipient}: {_reply(r)}"
            for a, r in replies
            if r is None or 400 <= r.code < 500
        ]
        if pending and not accepted:
            yield Outcome(subject, expected, Unknown("; ".join(pending)))
            continue
        observed = "; ".join(accepted) or "; ".join(
            f"{a.sender} → {a.recipient}: {_reply(r)}" for a, r in replies
        )
        note = "accepted at RCPT (DATA was not sent)" if accepted else None
        yield Outcome(subject, expected, (rule.level if accepted else None, observed), reason=note)


# ---------------------------------------------------------------- submission AUTH

_SUBMISSION_EXPECTED = "AUTH offered only after STARTTLS or on implicit TLS"


@check("mail.auth.submission", reads=MailView)
def _submission(view: MailView, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = _SUBMISSION_EXPECTED
    for sub in view.facts.submission:
        subject = f"{sub.host}:{sub.port} ({sub.ip})"
        smtp = sub.smtp
        if smtp.value is None:
            if smtp.error and smtp.error.reason is not ErrorReason.CONNECTION_REFUSED:
                yield Outcome(subject, expected, Unknown(smtp.error.detail))
            continue
        clear, secured = smtp.value.auth(after_tls=False), smtp.value.auth(after_tls=True)
        if clear:
            observed = f"AUTH {' '.join(clear)} offered before TLS"
            yield Outcome(subject, expected, (rule.level, observed))
        elif secured:
            yield Outcome(
                subject, expected, (None, f"AUTH {' '.join(secured)} offered over TLS only")
            )
        else:
            reason = "no AUTH advertised: cannot tell whether submission needs it"
            yield Outcome(subject, expected, Unknown(reason))
    other_level = rule.params(OtherLevel).other_level
    for host, address in view.addresses():
        clear = address.smtp.value.auth(after_tls=False) if address.smtp.value else []
        if clear:
            observed = f"AUTH {' '.join(clear)} offered before STARTTLS on an MX"
            yield Outcome(_subject(host, address), expected, (other_level, observed))
