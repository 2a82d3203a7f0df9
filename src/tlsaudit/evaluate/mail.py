"""Judging a mail domain's facts against the profile's ``mail.*`` rules (pure).

Records are re-read from the recorded DNS answers (:class:`~.dnsview.Replay`) by the
same walkers the scanner ran. Each MX address's TLS goes through :func:`evaluate_tls`;
because SMTP between servers is opportunistic, certificate trust and name failures are
warnings unless the domain publishes MTA-STS in enforce mode, and other TLS failures are
capped at the level of the ``mail.starttls.tls`` rule.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from tlsaudit.evaluate import dane, dkim, dmarc, mtasts, spf
from tlsaudit.evaluate.base import finding
from tlsaudit.evaluate.dnsview import Lookup, Replay, normalise, txt, txt_strings
from tlsaudit.evaluate.tls import evaluate_tls
from tlsaudit.models.dns import DnsAnswer
from tlsaudit.models.facts import ErrorReason, Observed
from tlsaudit.models.findings import Finding, Level, Status
from tlsaudit.models.mail import MailFacts, MxAddress, SmtpFacts, SmtpReply
from tlsaudit.profiles import Outcome, Profile

OPPORTUNISTIC = ("cert.trust.public", "cert.hostname")
"""TLS checks that SMTP between servers does not enforce without MTA-STS (or DANE)."""


@dataclass
class _Out:
    """Collects findings, skipping check ids the profile has no rule for."""

    profile: Profile
    items: list[Finding] = field(default_factory=list)

    def add(
        self,
        check_id: str,
        status: Status,
        *,
        subject: str,
        observed: str,
        expected: str,
        reason: str | None = None,
        level: Level | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        if check_id not in self.profile.rules:
            return
        self.items.append(
            finding(
                self.profile,
                check_id,
                status,
                subject=subject,
                observed=observed,
                expected=expected,
                reason=reason,
                level=level,
                outcome=outcome,
            )
        )

    def check(
        self,
        check_id: str,
        violated: bool,
        *,
        subject: str,
        observed: str,
        expected: str,
        reason: str | None = None,
        level: Level | None = None,
    ) -> None:
        """Pass, or the status of ``level`` (default: the rule's level)."""
        rule = self.profile.rules.get(check_id)
        if rule is None:
            return
        effective = level or rule.level
        status = effective.violation if violated else Status.PASS
        self.add(
            check_id,
            status,
            subject=subject,
            observed=observed,
            expected=expected,
            reason=reason,
            level=effective,
        )

    def unknown(self, check_id: str, *, subject: str, expected: str, reason: str) -> None:
        self.add(
            check_id,
            Status.UNKNOWN,
            subject=subject,
            observed="could not determine",
            expected=expected,
            reason=reason,
        )

    def param(self, check_id: str, name: str) -> object:
        rule = self.profile.rules.get(check_id)
        return getattr(rule, name) if rule is not None else None


def _error_text(answer: DnsAnswer) -> str:
    error = answer.error
    return error.detail if error is not None else answer.status.value


def evaluate_mail(facts: MailFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``mail.*`` finding for one domain, plus the TLS findings of each MX address."""
    out = _Out(profile)
    lookup = Replay(facts.dns)
    domain = normalise(facts.domain)
    spf_ok = _spf(out, domain, lookup)
    policy = _dmarc(out, domain, lookup)
    dkim_ok = _dkim(out, domain, facts.selectors, lookup)
    _auth_any(out, domain, policy, spf_ok, dkim_ok)
    null_mx = _mx(out, domain, lookup)
    _nonsending(out, domain, lookup, null_mx, policy)
    enforce = _mtasts(out, facts, lookup)
    dane_hosts = _dane(out, facts, lookup)
    _tlsrpt(out, domain, lookup, enforce is not None or bool(dane_hosts))
    _transport(out, facts, profile, now, enforce == "enforce")
    _relay(out, facts)
    _submission(out, facts)
    return out.items


# --- SPF ------------------------------------------------------------------------------

_ALL_CLASS = {"+": "pass", "?": "neutral", "~": "softfail", "-": "fail"}


def _spf(out: _Out, domain: str, lookup: Lookup) -> bool | None:
    """SPF findings; returns whether a usable SPF record backs DMARC (None: unknown)."""
    answer = lookup(domain, "TXT")
    subject = f"{domain} TXT"
    if answer.error is not None:
        out.unknown(
            "mail.spf.present",
            subject=subject,
            expected="one v=spf1 record",
            reason=_error_text(answer),
        )
        return None
    strings = [s for s in txt_strings(answer) if spf.is_spf(b"".join(s))]
    records = [b"".join(s) for s in strings]
    senderid = [t for t in txt(answer) if t.lower().startswith(b"spf2.0/")]
    out.check(
        "mail.spf.senderid",
        bool(senderid),
        subject=subject,
        observed=", ".join(t.decode("ascii", "replace") for t in senderid) or "none",
        expected="no spf2.0/ records",
    )
    _rrtype99(out, domain, lookup)
    out.check(
        "mail.spf.present",
        not records,
        subject=subject,
        observed=f"{len(records)} v=spf1 record(s)",
        expected="a v=spf1 TXT record",
    )
    if not records:
        return False
    texts = " | ".join(r.decode("ascii", "replace") for r in records)
    out.check(
        "mail.spf.multiple",
        len(records) > 1,
        subject=subject,
        observed=texts,
        expected="exactly one v=spf1 record",
    )
    if len(records) > 1:
        return False
    record = spf.parse_spf(records[0])
    out.check(
        "mail.spf.syntax",
        bool(record.errors),
        subject=subject,
        observed=record.text,
        expected="valid RFC 7208 syntax",
        reason="; ".join(record.errors) or None,
    )
    if spf.split_inside_term(strings[0]):
        out.add(
            "mail.spf.syntax",
            Status.WARN,
            level=Level.RECOMMENDED,
            subject=subject,
            observed=" ".join(f'"{s.decode("ascii", "replace")}"' for s in strings[0]),
            expected="character-string boundaries between terms",
            reason="strings are joined without a space: a term may be glued to the next",
        )
    if record.errors:
        return False
    _spf_terms(out, subject, record)
    walks = [spf.walk_spf(domain, lookup, family) for family in spf.Family]
    _spf_walks(out, subject, walks)
    terminal = record.all
    return not (terminal is not None and terminal.qualifier == "+")


def _rrtype99(out: _Out, domain: str, lookup: Lookup) -> None:
    answer = lookup(domain, "SPF")
    if answer.error is not None:
        out.add(
            "mail.spf.rrtype99",
            Status.INFO,
            subject=f"{domain} SPF (type 99)",
            observed="no answer",
            expected="no type 99 record",
            reason=f"servers without support for the type may not answer: {_error_text(answer)}",
        )
        return
    out.check(
        "mail.spf.rrtype99",
        answer.ok,
        subject=f"{domain} SPF (type 99)",
        observed=" ".join(answer.records) or "none",
        expected="no type 99 record",
    )


def _spf_terms(out: _Out, subject: str, record: spf.SpfRecord) -> None:
    terminal = record.all
    if terminal is not None:
        _spf_all(out, subject, _ALL_CLASS[terminal.qualifier or "+"], terminal.text)
    elif record.redirect is None:
        _spf_all(out, subject, "missing", "no all and no redirect (result neutral)")
    out.check(
        "mail.spf.ptr",
        record.uses_ptr,
        subject=subject,
        observed=record.text,
        expected="no ptr mechanism",
    )
    out.check(
        "mail.spf.macro_p",
        record.uses_macro_p,
        subject=subject,
        observed=record.text,
        expected="no %{p} macro",
    )
    dead = record.dead_terms
    out.check(
        "mail.spf.dead_terms",
        bool(dead),
        subject=subject,
        observed=" ".join(t.text for t in dead) or "none",
        expected="nothing after all; no redirect beside all",
    )
    limit = out.param("mail.spf.size", "limit")
    if isinstance(limit, int):
        size = len(record.text)
        out.check(
            "mail.spf.size",
            size > limit,
            subject=subject,
            observed=f"{size} octets",
            expected=f"at most {limit} octets",
        )


def _spf_all(out: _Out, subject: str, key: str, observed: str) -> None:
    """Judge an ``all`` term by the class table of the ``mail.spf.all`` rule."""
    classes = out.param("mail.spf.all", "classes")
    if not isinstance(classes, dict) or key not in classes:
        return
    outcome: Outcome = classes[key]
    status = outcome.level.violation if outcome.level else Status.PASS
    out.add(
        "mail.spf.all",
        status,
        subject=subject,
        observed=observed,
        expected="-all or ~all, and no include that matches every client",
        level=outcome.level,
        outcome=outcome,
    )


def _spf_walks(out: _Out, subject: str, walks: list[spf.Walk]) -> None:
    v4, v6 = walks
    errors = [e.detail for w in walks for e in w.errors]
    issues = {(i.problem, i.detail) for w in walks for i in w.issues}
    checks = {
        spf.Problem.LOOP: ("mail.spf.loop", "no include/redirect loop"),
        spf.Problem.INCLUDE_TARGET: ("mail.spf.include_target", "one valid record per target"),
        spf.Problem.MX_LIMIT: ("mail.spf.mx_limit", "at most 10 MX records per mx term"),
    }
    for problem, (check_id, expected) in checks.items():
        found = sorted(d for p, d in issues if p is problem)
        if found or not errors:
            out.check(
                check_id,
                bool(found),
                subject=subject,
                observed="; ".join(found) or "none",
                expected=expected,
            )
        else:
            out.unknown(check_id, subject=subject, expected=expected, reason="; ".join(errors))
    for _, detail in sorted(i for i in issues if i[0] is spf.Problem.PASS_ALL):
        _spf_all(out, subject, "pass", detail)
    notes = sorted(d for p, d in issues if p is spf.Problem.UNRESOLVED)
    if any(w.truncated for w in walks):
        notes.append(f"walk stopped after {spf.MAX_QUERIES} queries")
    limit = out.param("mail.spf.lookups", "limit")
    if isinstance(limit, int):
        lookups = max(v4.lookups, v6.lookups)
        reason = "; ".join(notes) or None
        if errors and lookups <= limit:
            out.unknown(
                "mail.spf.lookups",
                subject=subject,
                expected=f"at most {limit}",
                reason=f"{lookups} counted before: {'; '.join(errors)}",
            )
        else:
            out.check(
                "mail.spf.lookups",
                lookups > limit,
                subject=subject,
                observed=f"{lookups} DNS-querying terms (worst case)",
                expected=f"at most {limit}",
                reason=reason,
            )
    _void(out, subject, v4, v6, errors)


def _void(out: _Out, subject: str, v4: spf.Walk, v6: spf.Walk, errors: list[str]) -> None:
    limit = out.param("mail.spf.void", "limit")
    other = out.param("mail.spf.void", "other_level")
    if not isinstance(limit, int):
        return
    observed = f"IPv4 client: {v4.voids}, IPv6 client: {v6.voids}"
    expected = f"at most {limit} void lookups"
    if errors and max(v4.voids, v6.voids) <= limit:
        out.unknown("mail.spf.void", subject=subject, expected=expected, reason="; ".join(errors))
        return
    only_v6 = v4.voids <= limit < v6.voids
    level = other if only_v6 and isinstance(other, Level) else None
    out.check(
        "mail.spf.void",
        max(v4.voids, v6.voids) > limit,
        subject=subject,
        observed=observed,
        expected=expected,
        level=level,
    )


# --- DMARC ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Policy:
    """The DMARC record that applies and where it was found."""

    domain: str
    record: dmarc.DmarcRecord


def _dmarc(out: _Out, domain: str, lookup: Lookup) -> _Policy | bool | None:
    """DMARC findings; the applicable policy, None when there is none, False when unknown."""
    found = dmarc.discover(domain, lookup)
    subject = f"_dmarc.{domain}"
    expected = "one valid v=DMARC1 record"
    if found.own.answer.error is not None:
        out.unknown(
            "mail.dmarc.present",
            subject=subject,
            expected=expected,
            reason=_error_text(found.own.answer),
        )
        return False
    old, new = found.policy_7489(), found.policy_9989()
    level = old or new
    _location(out, domain, lookup, found)
    if level is None or level.record is None:
        if found.errors:
            reason = "; ".join(_error_text(a) for a in found.errors)
            out.unknown("mail.dmarc.present", subject=subject, expected=expected, reason=reason)
            return False
        counts = [
            f"_dmarc.{lv.domain}: {len(lv.records)} records"
            for lv in found.levels
            if len(lv.records) > 1
        ]
        observed = "; ".join(counts) + " (all discarded)" if counts else "no record"
        out.check("mail.dmarc.present", True, subject=subject, observed=observed, expected=expected)
        return None
    record = level.record
    where = "the domain" if level.domain == domain else "an ancestor domain"
    out.check(
        "mail.dmarc.present",
        False,
        subject=f"_dmarc.{level.domain}",
        observed=record.text,
        expected=expected,
        reason=f"found at {where}",
    )
    _orgdomain(out, domain, found, old, new)
    _dmarc_record(out, domain, level.domain, record, lookup)
    return _Policy(domain=level.domain, record=record)


def _location(out: _Out, domain: str, lookup: Lookup, found: dmarc.Discovery) -> None:
    apex = [t for t in txt(lookup(domain, "TXT")) if dmarc.is_dmarc(t)]
    spf_at_dmarc = [t for t in txt(found.own.answer) if spf.is_spf(t)]
    problems = []
    if apex:
        problems.append(f"v=DMARC1 record at {domain} itself has no effect")
    if spf_at_dmarc:
        problems.append(f"SPF text answers at _dmarc.{domain} (wildcard TXT?)")
    out.check(
        "mail.dmarc.location",
        bool(problems),
        subject=f"_dmarc.{domain}",
        observed="; ".join(problems) or "records only at _dmarc",
        expected="DMARC only at _dmarc.<domain>",
    )


def _orgdomain(
    out: _Out,
    domain: str,
    found: dmarc.Discovery,
    old: dmarc.Level | None,
    new: dmarc.Level | None,
) -> None:
    if found.psl_org == domain and old is not None:
        return
    observed = (
        f"RFC 7489 (PSL organisational domain {found.psl_org}): {_where(old)}; "
        f"RFC 9989 tree walk: {_where(new)}"
    )
    differ = (old.domain if old else None) != (new.domain if new else None)
    reason = "protected under RFC 9989 only" if differ and old is None else None
    out.check(
        "mail.dmarc.orgdomain",
        differ,
        subject=domain,
        observed=observed,
        expected="the same record under both discovery rules",
        reason=reason,
    )


def _where(level: dmarc.Level | None) -> str:
    return f"_dmarc.{level.domain}" if level else "none"


def _dmarc_record(
    out: _Out, domain: str, at: str, record: dmarc.DmarcRecord, lookup: Lookup
) -> None:
    subject = f"_dmarc.{at}"
    out.check(
        "mail.dmarc.syntax",
        bool(record.errors),
        subject=subject,
        observed=record.text,
        expected="valid DMARC tags",
        reason="; ".join(record.errors) or None,
    )
    if record.warnings:
        out.add(
            "mail.dmarc.syntax",
            Status.WARN,
            level=Level.RECOMMENDED,
            subject=subject,
            observed=record.text,
            expected="tags as RFC 7489 and RFC 9989 readers expect",
            reason="; ".join(record.warnings),
        )
    other = out.param("mail.dmarc.syntax", "other_level")
    if record.notes and isinstance(other, Level):
        out.add(
            "mail.dmarc.syntax",
            other.violation,
            level=other,
            subject=subject,
            observed=record.text,
            expected="only tags both RFCs define",
            reason="; ".join(record.notes),
        )
    if record.errors:
        return
    _grade_policy(out, domain, at, record)
    if at == domain:
        weak = [
            f"{t}={getattr(record, t)}"
            for t in ("sp", "np")
            if dmarc.weaker(getattr(record, t), record.p)
        ]
        out.check(
            "mail.dmarc.subdomain",
            bool(weak),
            subject=subject,
            observed=", ".join(weak) or f"sp={record.sp or '(p)'}, np={record.np or '(sp)'}",
            expected=f"not weaker than p={record.p}",
        )
    out.check(
        "mail.dmarc.rua",
        not record.rua,
        subject=subject,
        observed=record.tags.get("rua", "no rua="),
        expected="rua=mailto:...",
    )
    for auth in dmarc.report_authorisations(at, record, lookup):
        if auth.answer is None:
            continue
        if auth.authorised is None:
            out.unknown(
                "mail.dmarc.rua_auth",
                subject=auth.query,
                expected="v=DMARC1 record",
                reason=_error_text(auth.answer),
            )
            continue
        out.check(
            "mail.dmarc.rua_auth",
            not auth.authorised,
            subject=auth.query,
            observed=" ".join(auth.answer.records) or auth.answer.status.value,
            expected=f"v=DMARC1 authorising reports for {at} to {auth.uri.text}",
        )
    out.add(
        "mail.dmarc.receiving",
        Status.INFO,
        subject=domain,
        observed="not observable",
        expected="inbound mail verified with SPF and DKIM under DMARC",
        reason="receiving-side checks cannot be seen from outside; verify by inspection",
    )


def _grade_policy(out: _Out, domain: str, at: str, record: dmarc.DmarcRecord) -> None:
    policy = dmarc.effective_policy(record, at_domain=at == domain)
    key = "partial" if record.pct < 100 and policy != "none" else policy
    classes = out.param("mail.dmarc.policy", "classes")
    if not isinstance(classes, dict) or key not in classes:
        return
    outcome: Outcome = classes[key]
    tag = "p" if at == domain or not record.sp else "sp"
    notes = []
    if record.testing:
        notes.append("t=y lowers the policy one step")
    if record.pct < 100:
        notes.append(f"pct={record.pct}: applied to part of the mail by RFC 7489 receivers")
    observed = f"{tag}={record.tags.get(tag, '(none)')} → effective {policy}"
    status = outcome.level.violation if outcome.level else Status.PASS
    out.add(
        "mail.dmarc.policy",
        status,
        subject=f"_dmarc.{at}",
        observed=observed,
        expected="quarantine or reject, pct=100, no t=y",
        reason="; ".join(notes) or None,
        level=outcome.level,
        outcome=outcome,
    )


# --- DKIM -----------------------------------------------------------------------------


def _dkim(out: _Out, domain: str, selectors: list[str], lookup: Lookup) -> bool | None:
    """DKIM findings; whether a usable key was seen (None: unknown)."""
    keys: list[tuple[str, dkim.DkimKey]] = []
    errors = []
    for selector in selectors:
        answer = lookup(f"{selector}._domainkey.{domain}", "TXT")
        if answer.error is not None:
            errors.append(_error_text(answer))
        keys += [(selector, dkim.parse_dkim(t)) for t in txt(answer) if dkim.looks_like_key(t)]
    subject = f"_domainkey.{domain}"
    live = [(s, k) for s, k in keys if not k.revoked]
    usable = [(s, k) for s, k in live if not k.errors]
    listed = ", ".join(f"{s} ({k.key_type}{f' {k.bits}' if k.bits else ''})" for s, k in usable)
    revoked = [s for s, k in keys if k.revoked]
    note = f"revoked: {', '.join(revoked)}" if revoked else None
    if usable:
        out.add(
            "mail.dkim.key",
            Status.PASS,
            subject=subject,
            observed=listed,
            expected="a DKIM key",
            reason=note,
        )
    elif errors:
        out.unknown(
            "mail.dkim.key", subject=subject, expected="a DKIM key", reason="; ".join(errors)
        )
    else:
        out.add(
            "mail.dkim.key",
            Status.INFO,
            subject=subject,
            observed=f"no key among {len(selectors)} selectors probed",
            expected="a DKIM key (give the domain's selectors with --dkim-selector)",
            reason=note,
        )
    for selector, key in live:
        _dkim_key(out, f"{selector}._domainkey.{domain}", key)
    if usable and all(k.key_type == "ed25519" for _, k in usable):
        other = out.param("mail.dkim.key_size", "other_level")
        if isinstance(other, Level):
            out.add(
                "mail.dkim.key_size",
                other.violation,
                level=other,
                subject=subject,
                observed="Ed25519 keys only",
                expected="an RSA key beside Ed25519",
                reason="many receivers verify RSA signatures only",
            )
    return True if usable else (None if errors else False)


def _dkim_key(out: _Out, subject: str, key: dkim.DkimKey) -> None:
    if key.errors:
        out.check(
            "mail.dkim.key_size",
            True,
            subject=subject,
            observed=key.text,
            expected="a usable key record",
            reason="; ".join(key.errors),
        )
        return
    minimum = out.param("mail.dkim.key_size", "min_bits")
    maximum = out.param("mail.dkim.key_size", "max_bits")
    other = out.param("mail.dkim.key_size", "other_level")
    if key.key_type == "rsa" and isinstance(minimum, int) and isinstance(maximum, int):
        large = key.bits is not None and key.bits > maximum
        level = other if large and isinstance(other, Level) else None
        bad = key.bits is None or key.bits < minimum or large
        out.check(
            "mail.dkim.key_size",
            bad,
            subject=subject,
            observed=f"RSA {key.bits} bits",
            expected=f"RSA {minimum}-{maximum} bits",
            level=level,
        )
    elif key.key_type == "ed25519":
        out.check(
            "mail.dkim.key_size",
            False,
            subject=subject,
            observed="Ed25519",
            expected=f"RSA ≥ {minimum} bits or Ed25519",
        )
    hashes = key.hashes
    out.check(
        "mail.dkim.hash",
        bool(hashes) and "sha256" not in hashes,
        subject=subject,
        observed=f"h={':'.join(hashes)}" if hashes else "h= absent (any)",
        expected="sha256 allowed",
    )
    out.check(
        "mail.dkim.testing",
        key.testing,
        subject=subject,
        observed=f"t={key.tags.get('t', '')}" if "t" in key.tags else "t= absent",
        expected="no t=y",
    )


def _auth_any(
    out: _Out,
    domain: str,
    policy: _Policy | bool | None,
    spf_ok: bool | None,
    dkim_ok: bool | None,
) -> None:
    subject = domain
    expected = "DMARC record, and SPF or DKIM"
    has_dmarc = isinstance(policy, _Policy) and not policy.record.errors
    legs = [name for name, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok]
    if legs and has_dmarc:
        out.check(
            "mail.auth_any",
            False,
            subject=subject,
            observed=f"DMARC + {' + '.join(legs)}",
            expected=expected,
        )
        return
    if policy is False or (not legs and None in (spf_ok, dkim_ok)):
        out.unknown(
            "mail.auth_any",
            subject=subject,
            expected=expected,
            reason="a DMARC, SPF or DKIM lookup failed",
        )
        return
    observed = f"DMARC: {'yes' if has_dmarc else 'no'}, SPF: {'yes' if spf_ok else 'no'}, " + (
        f"DKIM: {'yes' if dkim_ok else 'no key found'}"
    )
    out.check("mail.auth_any", True, subject=subject, observed=observed, expected=expected)


# --- MX and transport -----------------------------------------------------------------


def _mx_records(answer: DnsAnswer) -> list[tuple[int, str]]:
    out = []
    for record in answer.records:
        preference, _, host = record.partition(" ")
        out.append((int(preference), host.strip()))
    return out


def _mx(out: _Out, domain: str, lookup: Lookup) -> bool | None:
    """MX target findings; True for a null MX, None when the lookup failed."""
    answer = lookup(domain, "MX")
    subject = f"{domain} MX"
    expected = "MX host names with addresses"
    if answer.error is not None:
        out.unknown(
            "mail.mx.targets", subject=subject, expected=expected, reason=_error_text(answer)
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


def _mx_host(out: _Out, host: str, lookup: Lookup) -> None:
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
            reason="; ".join(_error_text(x) for x in failed),
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


def _nonsending(
    out: _Out, domain: str, lookup: Lookup, null_mx: bool | None, policy: _Policy | bool | None
) -> None:
    records = spf.select(lookup(domain, "TXT"))
    spf_none = len(records) == 1 and records[0].lower().split() == [b"v=spf1", b"-all"]
    if not (null_mx or spf_none):
        return
    missing = []
    if not null_mx:
        missing.append("null MX")
    if not spf_none:
        missing.append('"v=spf1 -all"')
    if not (isinstance(policy, _Policy) and policy.record.p == "reject"):
        missing.append("DMARC p=reject")
    out.check(
        "mail.nonsending",
        bool(missing),
        subject=domain,
        observed="missing: " + ", ".join(missing) if missing else "all three published",
        expected="null MX, v=spf1 -all and p=reject together",
    )


def _mtasts(out: _Out, facts: MailFacts, lookup: Lookup) -> str | None:
    """MTA-STS findings; the policy mode in force (None: no usable policy)."""
    domain = normalise(facts.domain)
    answer = lookup(f"_mta-sts.{domain}", "TXT")
    subject = f"_mta-sts.{domain}"
    expected = "one v=STSv1 record and a valid policy listing every MX"
    other = out.param("mail.mtasts", "other_level")
    broken = other if isinstance(other, Level) else None
    if answer.error is not None:
        out.unknown("mail.mtasts", subject=subject, expected=expected, reason=_error_text(answer))
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
    mismatched = [h.name for h in facts.mx if not policy.matches(h.name)]
    level = None if policy.mode == "enforce" else broken
    out.check(
        "mail.mtasts",
        bool(mismatched),
        subject=subject,
        observed=f"mode {policy.mode}, mx: {', '.join(policy.mx)}"
        + (f"; not covered: {', '.join(mismatched)}" if mismatched else ""),
        expected="every MX host matches an mx: pattern",
        level=level,
    )
    return policy.mode


def _tlsrpt(out: _Out, domain: str, lookup: Lookup, wanted: bool) -> None:
    answer = lookup(f"_smtp._tls.{domain}", "TXT")
    subject = f"_smtp._tls.{domain}"
    expected = "one v=TLSRPTv1 record with rua="
    if answer.error is not None:
        out.unknown("mail.tlsrpt", subject=subject, expected=expected, reason=_error_text(answer))
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


def _dane(out: _Out, facts: MailFacts, lookup: Lookup) -> set[str]:
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
                reason=_error_text(answer),
            )
            continue
        if not answer.ok:
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


def _dane_address(out: _Out, name: str, address: MxAddress, records: list[dane.Tlsa]) -> None:
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


def _transport(out: _Out, facts: MailFacts, profile: Profile, now: datetime, enforce: bool) -> None:
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


def _starttls(out: _Out, subject: str, smtp: Observed[SmtpFacts]) -> None:
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


def _relay(out: _Out, facts: MailFacts) -> None:
    expected = "RCPT TO an external address refused (5xx)"
    if not facts.relay_tested:
        out.add(
            "mail.relay",
            Status.INFO,
            subject=facts.domain,
            observed="not tested",
            expected=expected,
            reason="the relay probe is opt-in (--relay-test)",
        )
        return
    for host in facts.mx:
        for address in host.addresses:
            subject = f"{host.name}:{address.port} ({address.ip})"
            probe = address.relay
            if probe is None or probe.value is None:
                reason = probe.error.detail if probe and probe.error else "not probed"
                out.unknown("mail.relay", subject=subject, expected=expected, reason=reason)
                continue
            control = probe.value.control.reply
            if control is None or not 200 <= control.code < 300:
                out.unknown(
                    "mail.relay",
                    subject=subject,
                    expected=expected,
                    reason=f"RCPT TO {probe.value.control.recipient}: {_reply(control)}"
                    " — the server refuses local mail too, so a refusal proves nothing",
                )
                continue
            replies = [(a, a.reply) for a in probe.value.attempts]
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
                out.unknown(
                    "mail.relay", subject=subject, expected=expected, reason="; ".join(pending)
                )
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


def _submission(out: _Out, facts: MailFacts) -> None:
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
