"""Mail transport: MX targets, STARTTLS and its TLS, STARTTLS command injection, MTA-STS,
TLS-RPT, DANE, open relay and submission AUTH findings (pure).

Each MX address's TLS goes through :func:`evaluate_tls`. SMTP between servers is
opportunistic: certificate trust and name failures are warnings unless the domain
publishes MTA-STS in enforce mode, and other TLS failures are capped at the level of the
``mail.starttls.tls`` rule.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from tlsaudit.evaluate.collector import Collector, error_text
from tlsaudit.evaluate.tls import evaluate_tls
from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.facts import ErrorReason, Observed
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.models.mail import MailFacts, MxAddress, SmtpFacts, SmtpReply
from tlsaudit.profiles import Profile
from tlsaudit.records import dane, mtasts
from tlsaudit.records.dnsview import Lookup, normalise, txt

P = TypeVar("P")

OPPORTUNISTIC = ("cert.trust.public", "cert.hostname")
"""TLS checks that SMTP between servers does not enforce without MTA-STS (or DANE)."""


def judge_transport(
    out: Collector, facts: MailFacts, lookup: Lookup, profile: Profile, now: datetime
) -> bool | None:
    """Every transport finding; returns True for a null MX (None: the MX lookup failed)."""
    domain = normalise(facts.domain)
    null_mx = _mx(out, domain, lookup)
    mode = _mtasts(out, facts, lookup)
    secure = _dane(out, facts, lookup)
    _tlsrpt(out, domain, lookup, mode is not None or bool(secure))
    _tls(out, facts, profile, now, enforce=mode == "enforce")
    _injection(out, facts)
    _relay(out, facts)
    _submission(out, facts)
    return null_mx


def _mx_records(answer: DnsAnswer) -> list[tuple[int, str]]:
    out = []
    for record in answer.records:
        preference, _, host = record.partition(" ")
        out.append((int(preference), host.strip()))
    return out


def _mx(out: Collector, domain: str, lookup: Lookup) -> bool | None:
    """MX target findings; True for a null MX, None when the lookup failed."""
    answer = lookup(domain, "MX")
    subject = f"{domain} MX"
    expected = "MX host names with addresses"
    if answer.error is not None:
        out.unknown(
            "mail.mx.targets", subject=subject, expected=expected, reason=error_text(answer)
        )
        return None
    if answer.absent:
        out.add(
            "mail.mx.targets",
            Status.INFO,
            subject=subject,
            observed=answer.status.value,
            expected=expected,
            reason="no MX: mail goes to the domain's own A/AAAA "
            "(publish MX 0 . if the domain takes no mail)",
        )
        return False
    records = _mx_records(answer)
    null = [r for r in records if r[1] == "."]
    if null:
        out.check(
            "mail.mx.targets",
            len(records) > 1,
            subject=subject,
            observed=" | ".join(answer.records),
            expected="a null MX alone (RFC 7505)",
        )
        return len(records) == 1
    for _, host in records:
        _mx_host(out, normalise(host), lookup)
    return False


def _mx_host(out: Collector, host: str, lookup: Lookup) -> None:
    subject = f"MX {host}"
    expected = "a host name with A/AAAA records, not a CNAME"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        out.check(
            "mail.mx.targets", True, subject=subject, observed="an IP address", expected=expected
        )
        return
    cname, a, aaaa = (lookup(host, t) for t in ("CNAME", "A", "AAAA"))
    failed = [x for x in (cname, a, aaaa) if x.error is not None]
    if cname.ok:
        out.check(
            "mail.mx.targets",
            True,
            subject=subject,
            observed=f"CNAME to {cname.records[0]}",
            expected=expected,
        )
    elif failed:
        out.unknown(
            "mail.mx.targets",
            subject=subject,
            expected=expected,
            reason="; ".join(error_text(x) for x in failed),
        )
    else:
        addresses = [*a.records, *aaaa.records]
        out.check(
            "mail.mx.targets",
            not addresses,
            subject=subject,
            observed=", ".join(addresses) or "no A/AAAA records",
            expected=expected,
        )


def _mtasts(out: Collector, facts: MailFacts, lookup: Lookup) -> str | None:
    """MTA-STS findings; the policy mode in force (None: no usable policy)."""
    domain = normalise(facts.domain)
    answer = lookup(f"_mta-sts.{domain}", "TXT")
    subject = f"_mta-sts.{domain}"
    expected = "one v=STSv1 record and a valid policy listing every MX"
    other = out.param("mail.mtasts", "other_level")
    broken = other if isinstance(other, Level) else None
    if answer.error is not None:
        out.unknown("mail.mtasts", subject=subject, expected=expected, reason=error_text(answer))
        return None
    records = [t for t in txt(answer) if mtasts.is_sts(t)]
    if not records:
        out.add(
            "mail.mtasts",
            Status.INFO,
            subject=subject,
            observed="no MTA-STS record",
            expected=expected,
        )
        return None
    problems = [p for r in records for p in mtasts.sts_record_errors(r)]
    if len(records) > 1:
        problems.append(f"{len(records)} records: no policy applies")
    fetch = facts.mta_sts_policy
    policy: mtasts.StsPolicy | None = None
    if fetch is None or fetch.value is None:
        reason = fetch.error.detail if fetch is not None and fetch.error else "not fetched"
        problems.append(f"policy fetch failed: {reason}")
    elif fetch.value.status != 200 or fetch.value.location:
        problems.append(f"{fetch.value.url}: HTTP {fetch.value.status} (redirects not followed)")
    else:
        media = (fetch.value.content_type or "").split(";")[0].strip().lower()
        if media != "text/plain":
            problems.append(f"media type {media or 'missing'}, expected text/plain")
        policy = mtasts.parse_policy(fetch.value.body)
        problems += policy.errors
    if problems or policy is None:
        out.check(
            "mail.mtasts",
            True,
            subject=subject,
            observed="; ".join(problems),
            expected=expected,
            level=broken,
        )
        return None
    mismatched = [f"not covered: {h.name}" for h in facts.mx if not policy.matches(h.name)]
    mismatched += [
        f"{host.name} ({address.ip}): {problem}"
        for host in facts.mx
        for address in host.addresses
        if (problem := _sts_tls_problem(address.smtp))
    ]
    level = None if policy.mode == "enforce" else broken
    out.check(
        "mail.mtasts",
        bool(mismatched),
        subject=subject,
        observed="; ".join([f"mode {policy.mode}, mx: {', '.join(policy.mx)}", *mismatched]),
        expected="every MX host matches an mx: pattern and offers STARTTLS with TLS 1.2+",
        level=level,
    )
    return policy.mode


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


def _tlsrpt(out: Collector, domain: str, lookup: Lookup, wanted: bool) -> None:
    answer = lookup(f"_smtp._tls.{domain}", "TXT")
    subject = f"_smtp._tls.{domain}"
    expected = "one v=TLSRPTv1 record with rua="
    if answer.error is not None:
        out.unknown("mail.tlsrpt", subject=subject, expected=expected, reason=error_text(answer))
        return
    records = [t for t in txt(answer) if mtasts.is_tlsrpt(t)]
    if not records:
        status = Status.WARN if wanted else Status.INFO
        reason = "recommended when MTA-STS or DANE is published" if wanted else None
        out.add(
            "mail.tlsrpt",
            status,
            subject=subject,
            observed="no TLS-RPT record",
            expected=expected,
            reason=reason,
        )
        return
    problems = [p for r in records for p in mtasts.tlsrpt_errors(r)]
    if len(records) > 1:
        problems.append(f"{len(records)} records")
    out.check(
        "mail.tlsrpt",
        bool(problems),
        subject=subject,
        observed=" | ".join(r.decode("ascii", "replace") for r in records),
        expected=expected,
        reason="; ".join(problems) or None,
    )


def _dane(out: Collector, facts: MailFacts, lookup: Lookup) -> set[str]:
    """DANE findings per MX; returns the hosts with usable, DNSSEC-secure TLSA records."""
    secure_hosts: set[str] = set()
    other = out.param("mail.dane", "other_level")
    for host in facts.mx:
        name = f"_25._tcp.{normalise(host.name)}"
        answer = lookup(name, "TLSA")
        if answer.error is not None:
            out.unknown(
                "mail.dane",
                subject=name,
                expected="TLSA records matching the MX",
                reason=error_text(answer),
            )
            continue
        if not answer.ok:
            out.add(
                "mail.dane",
                Status.INFO,
                subject=name,
                observed=f"no TLSA records ({answer.status.value})",
                expected="DNSSEC-secure TLSA records (optional: stronger than MTA-STS)",
            )
            continue
        records = [r for r in (dane.Tlsa.parse(t) for t in answer.records) if r is not None]
        usable = [r for r in records if r.usable]
        if not answer.ad or not usable:
            why = (
                "not DNSSEC-validated (ignored by senders)"
                if not answer.ad
                else ("no DANE-TA/DANE-EE record usable for SMTP")
            )
            out.check(
                "mail.dane",
                True,
                subject=name,
                observed=" | ".join(answer.records),
                expected="DNSSEC-secure DANE-EE/DANE-TA records",
                reason=why,
                level=other if isinstance(other, Level) else None,
            )
            continue
        secure_hosts.add(normalise(host.name))
        for address in host.addresses:
            _dane_address(out, name, address, usable)
    return secure_hosts


def _dane_address(out: Collector, name: str, address: MxAddress, records: list[dane.Tlsa]) -> None:
    subject = f"{name} ({address.ip})"
    expected = "a usable TLSA record matches the served chain"
    session = address.smtp.value.tls if address.smtp.value else None
    if session is None or session.value is None:
        reason = session.error.detail if session and session.error else "no TLS session"
        out.unknown("mail.dane", subject=subject, expected=expected, reason=reason)
        return
    chain = [base64.b64decode(c) for c in session.value.chain]
    matched = dane.match(records, chain)
    out.check(
        "mail.dane",
        matched is None,
        subject=subject,
        observed=f"matched {matched}" if matched else "no record matches",
        expected=expected,
    )


def _tls(out: Collector, facts: MailFacts, profile: Profile, now: datetime, enforce: bool) -> None:
    """STARTTLS per MX address, and its TLS judged by :func:`evaluate_tls`."""
    cap = profile.rules.get("mail.starttls.tls")
    for host in facts.mx:
        for address in host.addresses:
            subject = f"{host.name}:{address.port} ({address.ip})"
            _starttls(out, subject, address.smtp)
            if address.tls is None:
                continue
            failed = []
            for item in evaluate_tls(address.tls, profile, now):
                adjusted = _opportunistic(item, enforce, cap.level if cap else None)
                if item.status is Status.FAIL:
                    failed.append(item.check_id)
                out.items.append(
                    adjusted.model_copy(update={"subject": f"{subject}: {item.subject}"})
                )
            out.check(
                "mail.starttls.tls",
                bool(failed),
                subject=subject,
                observed=", ".join(sorted(set(failed))) or "no failing TLS check",
                expected="TLS as the profile requires",
            )


def _opportunistic(item: Finding, enforce: bool, cap: Level | None) -> Finding:
    """Lower a failing TLS finding for port 25, where TLS is opportunistic."""
    if item.status is not Status.FAIL:
        return item
    if item.check_id in OPPORTUNISTIC:
        if enforce:
            return item
        note = "opportunistic SMTP: senders accept any certificate unless MTA-STS enforces"
        level = Level.RECOMMENDED
    elif cap is not None and cap is not Level.MANDATORY:
        note = "capped by the mail.starttls.tls rule (port 25 TLS is opportunistic)"
        level = cap
    else:
        return item
    reason = f"{item.reason}; {note}" if item.reason else note
    return item.model_copy(update={"status": level.violation, "level": level, "reason": reason})


def _starttls(out: Collector, subject: str, smtp: Observed[SmtpFacts]) -> None:
    expected = "STARTTLS offered and the handshake completes"
    if smtp.value is None:
        reason = smtp.error.detail if smtp.error else "not scanned"
        out.unknown("mail.starttls", subject=subject, expected=expected, reason=reason)
        return
    facts = smtp.value
    if facts.greeting.code != 220:
        out.unknown(
            "mail.starttls",
            subject=subject,
            expected=expected,
            reason=f"greeting {_reply(facts.greeting)}",
        )
        return
    if not facts.starttls or facts.tls is None:
        out.check(
            "mail.starttls",
            True,
            subject=subject,
            observed="STARTTLS not offered",
            expected=expected,
        )
        return
    if facts.tls.value is None:
        detail = facts.tls.error.detail if facts.tls.error else None
        out.check(
            "mail.starttls",
            True,
            subject=subject,
            observed="TLS handshake failed",
            expected=expected,
            reason=detail,
        )
        return
    session = facts.tls.value
    out.check(
        "mail.starttls",
        False,
        subject=subject,
        observed=f"STARTTLS: {session.version} {session.cipher}",
        expected=expected,
    )


def _reply(reply: SmtpReply | None) -> str:
    if reply is None:
        return "no reply"
    return f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}".strip()


def _not_tested(
    out: Collector, check_id: str, facts: MailFacts, expected: str, option: str
) -> None:
    """An opt-in probe the user did not ask for: one info finding naming the option."""
    out.add(
        check_id,
        Status.INFO,
        subject=facts.domain,
        observed="not tested",
        expected=expected,
        reason=f"this probe is opt-in ({option})",
    )


def _addresses(facts: MailFacts) -> Iterator[tuple[str, MxAddress]]:
    return ((host.name, address) for host in facts.mx for address in host.addresses)


def _observed(
    out: Collector,
    check_id: str,
    probes: Iterable[tuple[str, MxAddress, Observed[P] | None]],
    expected: str,
) -> Iterator[tuple[str, P]]:
    """Per MX address, the probe's value with its subject; a probe that could not be made
    is reported as unknown (one that did not apply, e.g. no STARTTLS, is skipped)."""
    for name, address, probe in probes:
        subject = f"{name}:{address.port} ({address.ip})"
        if probe is not None and probe.value is not None:
            yield subject, probe.value
            continue
        error = probe.error if probe else None
        if error is None or error.reason is not ErrorReason.NOT_APPLICABLE:
            reason = error.detail if error else "not probed"
            out.unknown(check_id, subject=subject, expected=expected, reason=reason)


def _injection(out: Collector, facts: MailFacts) -> None:
    """STARTTLS command injection per MX address; nothing where STARTTLS is not offered
    (``mail.starttls`` reports that)."""
    expected = "a command pipelined after STARTTLS is not answered inside TLS"
    if not facts.injection_tested:
        _not_tested(out, "mail.starttls.injection", facts, expected, "--starttls-injection-test")
        return
    probes = ((name, a, a.injection) for name, a in _addresses(facts))
    for subject, result in _observed(out, "mail.starttls.injection", probes, expected):
        if result.injected_reply is not None:
            observed = f"the injected RSET was answered inside TLS: {_reply(result.injected_reply)}"
        elif result.starttls_reply.code == 220:
            observed = "the injected RSET was not answered inside TLS"
        else:
            observed = f"STARTTLS with a pipelined command refused: {_reply(result.starttls_reply)}"
        out.check(
            "mail.starttls.injection",
            result.vulnerable,
            subject=subject,
            observed=observed,
            expected=expected,
        )


def _relay(out: Collector, facts: MailFacts) -> None:
    expected = "RCPT TO an external address refused (5xx)"
    if not facts.relay_tested:
        _not_tested(out, "mail.relay", facts, expected, "--relay-test")
        return
    probes = ((name, a, a.relay) for name, a in _addresses(facts))
    for subject, relay in _observed(out, "mail.relay", probes, expected):
        control = relay.control.reply
        if control is None or not 200 <= control.code < 300:
            out.unknown(
                "mail.relay",
                subject=subject,
                expected=expected,
                reason=f"RCPT TO {relay.control.recipient}: {_reply(control)}"
                " — the server refuses local mail too, so a refusal proves nothing",
            )
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
            out.unknown("mail.relay", subject=subject, expected=expected, reason="; ".join(pending))
            continue
        observed = "; ".join(accepted) or "; ".join(
            f"{a.sender} → {a.recipient}: {_reply(r)}" for a, r in replies
        )
        note = "accepted at RCPT (DATA was not sent)" if accepted else None
        out.check(
            "mail.relay",
            bool(accepted),
            subject=subject,
            observed=observed,
            expected=expected,
            reason=note,
        )


def _submission(out: Collector, facts: MailFacts) -> None:
    expected = "AUTH offered only after STARTTLS or on implicit TLS"
    for sub in facts.submission:
        subject = f"{sub.host}:{sub.port} ({sub.ip})"
        smtp = sub.smtp
        if smtp.value is None:
            if smtp.error and smtp.error.reason is not ErrorReason.CONNECTION_REFUSED:
                out.unknown(
                    "mail.auth.submission",
                    subject=subject,
                    expected=expected,
                    reason=smtp.error.detail,
                )
            continue
        clear, secured = smtp.value.auth(after_tls=False), smtp.value.auth(after_tls=True)
        if clear:
            out.check(
                "mail.auth.submission",
                True,
                subject=subject,
                observed=f"AUTH {' '.join(clear)} offered before TLS",
                expected=expected,
            )
        elif secured:
            out.check(
                "mail.auth.submission",
                False,
                subject=subject,
                observed=f"AUTH {' '.join(secured)} offered over TLS only",
                expected=expected,
            )
        else:
            out.unknown(
                "mail.auth.submission",
                subject=subject,
                expected=expected,
                reason="no AUTH advertised: cannot tell whether submission needs it",
            )
    for host in facts.mx:
        for address in host.addresses:
            clear = address.smtp.value.auth(after_tls=False) if address.smtp.value else []
            if clear:
                out.add(
                    "mail.auth.submission",
                    Status.WARN,
                    level=Level.RECOMMENDED,
                    subject=f"{host.name}:{address.port} ({address.ip})",
                    observed=f"AUTH {' '.join(clear)} offered before STARTTLS on an MX",
                    expected=expected,
                )
