"""Sending-domain authentication: SPF, DMARC, DKIM and BIMI findings (pure).

Records are re-read from recorded DNS answers by the same walkers the scanner ran.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tlsaudit.evaluate.collector import Collector, error_text
from tlsaudit.models.findings import Level, Status
from tlsaudit.profiles import Outcome
from tlsaudit.records import bimi, dkim, dmarc, spf
from tlsaudit.records.dnsview import Lookup, normalise, txt, txt_strings


def judge_authentication(
    out: Collector,
    domain: str,
    selectors: Sequence[str],
    lookup: Lookup,
    given: Collection[str] = (),
) -> Policy | bool | None:
    """SPF, DMARC, DKIM and the sending-side rule; returns the DMARC policy that applies
    (None: none applies; False: could not be determined).

    ``selectors`` are the DKIM selectors probed, in order; those in ``given`` came from the
    user (``--dkim-selector``), the others were guessed."""
    spf_ok = _spf(out, domain, lookup)
    policy = _dmarc(out, domain, lookup)
    dkim_leg = _dkim(out, domain, selectors, set(given), lookup)
    _auth_any(out, domain, policy, spf_ok, dkim_leg)
    return policy


# --- SPF ------------------------------------------------------------------------------

_ALL_CLASS = {"+": "pass", "?": "neutral", "~": "softfail", "-": "fail"}


def _spf(out: Collector, domain: str, lookup: Lookup) -> bool | None:
    """SPF findings; returns whether a usable SPF record backs DMARC (None: unknown)."""
    answer = lookup(domain, "TXT")
    subject = f"{domain} TXT"
    if answer.error is not None:
        out.unknown(
            "mail.spf.present",
            subject=subject,
            expected="one v=spf1 record",
            reason=error_text(answer),
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
    _spf_terms(out, subject, record, answer.udp_truncated)
    walks = [spf.walk_spf(domain, lookup, family) for family in spf.Family]
    _spf_walks(out, subject, walks)
    terminal = record.all
    return not (terminal is not None and terminal.qualifier == "+")


def _rrtype99(out: Collector, domain: str, lookup: Lookup) -> None:
    answer = lookup(domain, "SPF")
    if answer.error is not None:
        out.add(
            "mail.spf.rrtype99",
            Status.INFO,
            subject=f"{domain} SPF (type 99)",
            observed="no answer",
            expected="no type 99 record",
            reason=f"servers without support for the type may not answer: {error_text(answer)}",
        )
        return
    out.check(
        "mail.spf.rrtype99",
        answer.ok,
        subject=f"{domain} SPF (type 99)",
        observed=" ".join(answer.records) or "none",
        expected="no type 99 record",
    )


def _spf_terms(out: Collector, subject: str, record: spf.SpfRecord, tcp: bool) -> None:
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
            size > limit or tcp,
            subject=subject,
            observed=f"{size} octets" + ("; the TXT answer needed TCP (TC=1 over UDP)" * tcp),
            expected=f"at most {limit} octets, answered over UDP",
        )


def _spf_all(out: Collector, subject: str, key: str, observed: str) -> None:
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


def _spf_walks(out: Collector, subject: str, walks: list[spf.Walk]) -> None:
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


def _void(out: Collector, subject: str, v4: spf.Walk, v6: spf.Walk, errors: list[str]) -> None:
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
class Policy:
    """The DMARC record that applies and where it was found."""

    domain: str
    record: dmarc.DmarcRecord


def _dmarc(out: Collector, domain: str, lookup: Lookup) -> Policy | bool | None:
    """DMARC findings; the applicable policy, None when there is none, False when unknown."""
    found = dmarc.discover(domain, lookup)
    subject = f"_dmarc.{domain}"
    expected = "one valid v=DMARC1 record"
    if found.own.answer.error is not None:
        out.unknown(
            "mail.dmarc.present",
            subject=subject,
            expected=expected,
            reason=error_text(found.own.answer),
        )
        return False
    old, new = found.policy_7489(), found.policy_9989()
    level = old or new
    _location(out, domain, lookup, found)
    if level is None or level.record is None:
        if found.errors:
            reason = "; ".join(error_text(a) for a in found.errors)
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
    return Policy(domain=level.domain, record=record)


def _location(out: Collector, domain: str, lookup: Lookup, found: dmarc.Discovery) -> None:
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
    out: Collector,
    domain: str,
    found: dmarc.Discovery,
    old: dmarc.DmarcName | None,
    new: dmarc.DmarcName | None,
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


def _where(level: dmarc.DmarcName | None) -> str:
    return f"_dmarc.{level.domain}" if level else "none"


def _dmarc_record(
    out: Collector, domain: str, at: str, record: dmarc.DmarcRecord, lookup: Lookup
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
                reason=error_text(auth.answer),
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


def _grade_policy(out: Collector, domain: str, at: str, record: dmarc.DmarcRecord) -> None:
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


DKIM_HINT = (
    "absence at guessed selectors proves nothing; pass the domain's selectors with --dkim-selector"
)
_DKIM_EXPECTED = "a DKIM key at the domain's selectors"


@dataclass(frozen=True)
class DkimLeg:
    """What DKIM brings to ``mail.auth_any``: a usable key seen (True), none at the
    selectors the user gave (False), or undetermined (None) for the reason ``why``."""

    ok: bool | None
    why: str = ""


@dataclass(frozen=True)
class _Probed:
    """The key records and failed lookups of the selectors probed."""

    keys: list[tuple[str, dkim.DkimKey]]
    errors: dict[str, str]

    @property
    def live(self) -> list[tuple[str, dkim.DkimKey]]:
        return [(s, k) for s, k in self.keys if not k.revoked]

    @property
    def usable(self) -> list[tuple[str, dkim.DkimKey]]:
        return [(s, k) for s, k in self.live if not k.errors]

    @property
    def revoked(self) -> str | None:
        revoked = [s for s, k in self.keys if k.revoked]
        return f"revoked: {', '.join(revoked)}" if revoked else None


def _dkim(
    out: Collector, domain: str, selectors: Sequence[str], given: set[str], lookup: Lookup
) -> DkimLeg:
    """DKIM findings. DNS cannot list selectors: no key at the guessed ones is unknown, no
    key at a selector the user gave is a violation at the rule's level."""
    keys: list[tuple[str, dkim.DkimKey]] = []
    errors: dict[str, str] = {}
    for selector in selectors:
        answer = lookup(f"{selector}._domainkey.{domain}", "TXT")
        if answer.error is not None:
            errors[selector] = error_text(answer)
        keys += [(selector, dkim.parse_dkim(t)) for t in txt(answer) if dkim.looks_like_key(t)]
    probed = _Probed(keys, errors)
    subject = f"_domainkey.{domain}"
    mine = [s for s in selectors if s in given]
    guessed = [s for s in selectors if s not in given]
    if probed.usable:
        leg = _dkim_found(out, subject, probed, mine)
    elif mine and not any(s in errors for s in mine):
        leg = _dkim_missing(out, subject, probed, mine, guessed)
    else:
        leg = _dkim_unknown(out, subject, probed, mine, guessed)
    for selector, key in probed.live:
        _dkim_key(out, f"{selector}._domainkey.{domain}", key)
    usable = probed.usable
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
    return leg


def _dkim_found(out: Collector, subject: str, probed: _Probed, mine: list[str]) -> DkimLeg:
    """Usable keys: pass; a given selector without any key record is still a violation."""
    listed = ", ".join(
        f"{s} ({k.key_type}{f' {k.bits}' if k.bits else ''})" for s, k in probed.usable
    )
    out.add(
        "mail.dkim.key",
        Status.PASS,
        subject=subject,
        observed=listed,
        expected=_DKIM_EXPECTED,
        reason=probed.revoked,
    )
    with_key = {s for s, _ in probed.keys}
    missing = [s for s in mine if s not in with_key and s not in probed.errors]
    if missing:
        out.check(
            "mail.dkim.key",
            True,
            subject=subject,
            observed=f"no key at the given selector(s): {', '.join(missing)}",
            expected=_DKIM_EXPECTED,
            reason=f"keys found at: {listed}",
        )
    return DkimLeg(True)


def _dkim_missing(
    out: Collector, subject: str, probed: _Probed, mine: list[str], guessed: list[str]
) -> DkimLeg:
    """No usable key, and every given selector answered: a real observation."""
    observed = f"no key at the given selector(s): {', '.join(mine)}"
    notes = [probed.revoked]
    if guessed:
        notes.append(f"guessed selectors also tried: {', '.join(guessed)}")
    notes += [f"{s}: {probed.errors[s]}" for s in guessed if s in probed.errors]
    out.check(
        "mail.dkim.key",
        True,
        subject=subject,
        observed=observed,
        expected=_DKIM_EXPECTED,
        reason="; ".join(n for n in notes if n) or None,
    )
    return DkimLeg(False, observed)


def _dkim_unknown(
    out: Collector, subject: str, probed: _Probed, mine: list[str], guessed: list[str]
) -> DkimLeg:
    """No usable key: a failed lookup (at a given selector, or at a guessed one when none
    was given), or a miss at guessed selectors only — neither proves DKIM absent."""
    failed = [f"{s}: {probed.errors[s]}" for s in (mine or guessed) if s in probed.errors]
    if failed:
        why = "DKIM lookup failed: " + "; ".join(failed)
        notes = [why]
    else:
        tried = ", ".join(guessed) or "none"
        why = f"no key at the {len(guessed)} guessed selector(s)"
        notes = [f"{why} tried: {tried}"]
    if mine and guessed:
        notes.append(f"guessed selectors also tried: {', '.join(guessed)}")
    if not mine:
        why += f"; {DKIM_HINT}"
        notes.append(DKIM_HINT)
    if probed.revoked:
        notes.append(probed.revoked)
    reason = "; ".join(notes)
    out.unknown("mail.dkim.key", subject=subject, expected=_DKIM_EXPECTED, reason=reason)
    return DkimLeg(None, why)


def _dkim_key(out: Collector, subject: str, key: dkim.DkimKey) -> None:
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
    out: Collector,
    domain: str,
    policy: Policy | bool | None,
    spf_ok: bool | None,
    dkim_leg: DkimLeg,
) -> None:
    """DMARC, backed by SPF or DKIM. DMARC is required either way; an undetermined leg
    (a failed lookup, DKIM missed at guessed selectors) never counts as "no"."""
    subject = domain
    expected = "DMARC record, and SPF or DKIM"
    has_dmarc = isinstance(policy, Policy) and not policy.record.errors
    dkim_ok = dkim_leg.ok
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
    if policy is False:
        out.unknown(
            "mail.auth_any", subject=subject, expected=expected, reason="the DMARC lookup failed"
        )
        return
    spf_text = "could not determine" if spf_ok is None else ("yes" if spf_ok else "no")
    dkim_text = "could not determine" if dkim_ok is None else ("yes" if dkim_ok else "no")
    observed = f"DMARC: {'yes' if has_dmarc else 'no'}, SPF: {spf_text}, DKIM: {dkim_text}"
    undetermined = []
    if spf_ok is None:
        undetermined.append("SPF: the TXT lookup failed")
    if dkim_ok is None:
        undetermined.append(f"DKIM: {dkim_leg.why}")
    if has_dmarc and undetermined:
        out.unknown(
            "mail.auth_any", subject=subject, expected=expected, reason="; ".join(undetermined)
        )
        return
    reason = None
    if not has_dmarc and undetermined:
        reason = "DMARC is required whatever SPF and DKIM show"
    out.check(
        "mail.auth_any", True, subject=subject, observed=observed, expected=expected, reason=reason
    )


def judge_nonsending(
    out: Collector, domain: str, lookup: Lookup, null_mx: bool | None, policy: Policy | bool | None
) -> None:
    """The non-sending pattern (null MX, ``v=spf1 -all``, ``p=reject``), judged when the
    domain shows one part of it."""
    records = spf.select(lookup(domain, "TXT"))
    spf_none = len(records) == 1 and records[0].lower().split() == [b"v=spf1", b"-all"]
    if not (null_mx or spf_none):
        return
    missing = []
    if not null_mx:
        missing.append("null MX")
    if not spf_none:
        missing.append('"v=spf1 -all"')
    if not (isinstance(policy, Policy) and policy.record.p == "reject"):
        missing.append("DMARC p=reject")
    out.check(
        "mail.nonsending",
        bool(missing),
        subject=domain,
        observed="missing: " + ", ".join(missing) if missing else "all three published",
        expected="null MX, v=spf1 -all and p=reject together",
    )


# --- BIMI -----------------------------------------------------------------------------

_BIMI_EXPECTED = "no record, or one valid v=BIMI1 record under DMARC enforcement"


def judge_bimi(out: Collector, domain: str, lookup: Lookup, policy: Policy | bool | None) -> None:
    """The BIMI assertion record (never a security control): info when absent, declined or
    usable; the rule's ``other_level`` when receivers would ignore it — broken, or DMARC
    not at enforcement (mail-dns.md §4.6: quarantine or reject, pct=100, sp not none)."""
    found = bimi.discover(domain, lookup)
    answer = found.answer
    subject = normalise(answer.name)
    if answer.error is not None:
        out.unknown(
            "mail.bimi", subject=subject, expected=_BIMI_EXPECTED, reason=error_text(answer)
        )
        return
    discarded = [t for t in txt(found.own) if bimi.looks_like_bimi(t) and not bimi.is_bimi(t)]
    if discarded:
        reason = "receivers discard records that do not start with exactly v=BIMI1"
        _bimi_ignored(out, normalise(found.own.name), _texts(discarded), reason)
    records = found.records
    if not records:
        if not discarded:
            out.add(
                "mail.bimi",
                Status.INFO,
                subject=subject,
                observed="no BIMI record",
                expected=_BIMI_EXPECTED,
            )
        return
    record = bimi.parse_bimi(records[0])
    problems = [f"{len(records)} v=BIMI1 records: receivers use none"] if len(records) > 1 else []
    problems += record.errors
    if problems:
        _bimi_ignored(out, subject, _texts(records), "; ".join(problems))
        return
    if record.declined:
        note = "declined: l= and a= are empty"
    elif isinstance(policy, bool):
        out.unknown(
            "mail.bimi",
            subject=subject,
            expected=_BIMI_EXPECTED,
            reason="the DMARC policy BIMI depends on could not be determined",
        )
        return
    elif blockers := _bimi_blockers(domain, policy):
        _bimi_ignored(out, subject, record.text, "DMARC not at enforcement: " + ", ".join(blockers))
        return
    else:
        note = "DMARC at enforcement; logo and evidence not fetched"
    if found.organisational is not None:
        note += f"; no record at {bimi.query_name(domain)}, the organisational domain's applies"
    out.add(
        "mail.bimi",
        Status.INFO,
        subject=subject,
        observed=record.text,
        expected=_BIMI_EXPECTED,
        reason=note,
    )


def _texts(records: list[bytes]) -> str:
    return " | ".join(r.decode("ascii", "replace") for r in records)


def _bimi_ignored(out: Collector, subject: str, observed: str, reason: str) -> None:
    """A record receivers will not act on, at the rule's ``other_level``."""
    other = out.param("mail.bimi", "other_level")
    out.check(
        "mail.bimi",
        True,
        subject=subject,
        observed=observed,
        expected=_BIMI_EXPECTED,
        reason=reason,
        level=other if isinstance(other, Level) else None,
    )


def _bimi_blockers(domain: str, policy: Policy | None) -> list[str]:
    """Why receivers would show no logo under the DMARC policy that applies (empty: none)."""
    if policy is None:
        return ["no DMARC record"]
    record = policy.record
    if record.errors:
        return ["the DMARC record is invalid"]
    effective = dmarc.effective_policy(record, at_domain=policy.domain == domain)
    blockers = [] if effective in ("quarantine", "reject") else [f"effective policy {effective}"]
    if record.pct < 100:
        blockers.append(f"pct={record.pct}")
    if record.sp == "none":
        blockers.append("sp=none")
    return blockers
