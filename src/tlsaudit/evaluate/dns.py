"""Judging a zone's DNS facts against the profile's ``dns.*`` rules (pure).

One small function per check id; checks the profile has no rule for are skipped. What
could not be observed (timeouts, SERVFAIL through the resolver, unreachable servers) is
``unknown`` with the reason, never pass or fail: a server that answered neither the UDP
nor the TCP SOA question gives no evidence about its transports, its recursion or its
zone copy, so it makes those findings unknown; a server that answered at all but not
authoritatively (REFUSED, SERVFAIL, a referral, no AA bit) is lame.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from tlsaudit.evaluate.base import (
    Judgement,
    describe_error,
    describe_thresholds,
    finding,
    judge,
    threshold_level,
    unknown,
)
from tlsaudit.models.dns import (
    DnsAnswer,
    DnsFacts,
    DnssecState,
    DnsStatus,
    NameServer,
    ServerFacts,
    SignatureInfo,
)
from tlsaudit.models.facts import ErrorReason
from tlsaudit.models.findings import Finding, Level
from tlsaudit.profiles import Outcome, Profile, Rule

_STRICTNESS = (Level.INFORMATIONAL, Level.RECOMMENDED, Level.MANDATORY)
_PREFIX = {4: 24, 6: 48}
"""Prefix length per IP version used as the offline stand-in for 'another network'."""
_CAA_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone"})
_RECURSED = frozenset({DnsStatus.ANSWER, DnsStatus.NXDOMAIN, DnsStatus.NODATA, DnsStatus.SERVFAIL})


def evaluate_dns(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``dns.*`` finding for one zone."""
    out: list[Finding] = []
    for check_id, check in CHECKS.items():
        if check_id in profile.rules:
            out += check(facts, profile, now)
    return out


# --- D1: redundancy -------------------------------------------------------------------


def _ns_count(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.ns.count"]
    limit = rule.limit or 2
    subject = f"{facts.zone} NS"
    expected = f"at least {limit} NS names with an IPv4 address"
    names = [ns.name.rstrip(".") for ns in facts.nameservers]
    with_v4 = [ns for ns in facts.nameservers if _ipv4(ns.addresses)]
    pending = [ns.ipv4 for ns in facts.nameservers if not _ipv4(ns.addresses) and ns.ipv4.error]
    if not names:
        pending = [a for a in (facts.child_ns,) if a.error] + (
            [] if facts.delegation.error is None else []
        )
    observed = f"{len(names)} NS ({', '.join(names) or 'none'}), {len(with_v4)} with IPv4"
    if len(with_v4) < limit <= len(with_v4) + len(pending) or (not names and pending):
        reason = "; ".join(a.detail for a in pending)
        return [unknown(profile, "dns.ns.count", subject=subject, expected=expected, reason=reason)]
    level = rule.level if len(with_v4) < limit else None
    return [judge(profile, "dns.ns.count", (level, observed), subject=subject, expected=expected)]


def _ns_diversity(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.ns.diversity"]
    limit = rule.limit or 2
    subject = f"{facts.zone} NS addresses"
    expected = f"at least {limit} distinct /24 (IPv4) and /48 (IPv6) prefixes"
    addresses = [ipaddress.ip_address(s.address) for s in facts.servers]
    if not addresses:
        reason = "no address of any NS name is known"
        return [unknown(profile, "dns.ns.diversity", subject=subject, expected=expected, reason=reason)]
    parts, short = [], False
    for version in (4, 6):
        family = [a for a in addresses if a.version == version]
        if not family:
            continue
        nets = {ipaddress.ip_network(f"{a}/{_PREFIX[version]}", strict=False) for a in family}
        short = short or len(nets) < limit
        parts.append(f"IPv{version}: {len(family)} addresses in {len(nets)} /{_PREFIX[version]}")
    level = rule.level if short else None
    judgement = (level, "; ".join(parts))
    return [judge(profile, "dns.ns.diversity", judgement, subject=subject, expected=expected)]


# --- D2: transport --------------------------------------------------------------------


def _transport(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.transport"]
    expected = "SOA answered over UDP (with EDNS0) and over TCP"
    out = []
    for server in facts.servers:
        udp = server.soa_udp.responded or server.soa_udp.udp_truncated
        tcp = server.soa_tcp.responded
        observed = f"UDP: {_said(server.soa_udp)}; TCP: {_said(server.soa_tcp)}"
        if not (udp or tcp):
            reason = f"no DNS response at all ({observed})"
            out.append(
                unknown(profile, "dns.transport", subject=server.label, expected=expected, reason=reason)
            )
            continue
        level = None
        if not (udp and tcp):
            level = rule.level
        elif server.soa_udp.responded and not server.soa_udp.edns:
            level, observed = rule.other_level, f"{observed}; no EDNS0 in the UDP answer"
        out.append(
            judge(profile, "dns.transport", (level, observed), subject=server.label, expected=expected)
        )
    return out


# --- D3: open resolver ----------------------------------------------------------------


def _open_resolver(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    expected = "REFUSED (or a referral) for an outside name asked with RD=1"
    out = []
    for server in facts.servers:
        probe = server.recursion_probe
        if probe is None or not probe.responded:
            reason = "no response to the probe" if probe else _silent(server)
            if probe is not None:
                reason = f"{reason}: {probe.detail}"
            out.append(
                unknown(profile, "dns.open_resolver", subject=server.label, expected=expected, reason=reason)
            )
            continue
        recursed = not probe.aa and (
            probe.status in (DnsStatus.ANSWER, DnsStatus.NXDOMAIN)
            or (probe.ra and probe.status in _RECURSED)
        )
        observed = f"{probe.name} A (RD=1): {_said(probe)}, RA={int(probe.ra)}, AA={int(probe.aa)}"
        level = profile.rules["dns.open_resolver"].level if recursed else None
        out.append(
            judge(profile, "dns.open_resolver", (level, observed), subject=server.label, expected=expected)
        )
    return out


# --- D4: DNSSEC -----------------------------------------------------------------------


def _dnssec_status(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.dnssec.status"]
    dnssec = facts.dnssec
    subject = f"{facts.zone} DNSSEC"
    expected = f"secure (chain of trust from {dnssec.trust_anchor})"
    if dnssec.state is DnssecState.INDETERMINATE:
        return [unknown(profile, "dns.dnssec.status", subject=subject, expected=expected, reason=dnssec.reason)]
    level = {DnssecState.BOGUS: rule.level, DnssecState.INSECURE: rule.other_level}.get(dnssec.state)
    observed = f"{dnssec.state.value}: {dnssec.reason}"
    return [judge(profile, "dns.dnssec.status", (level, observed), subject=subject, expected=expected)]


def _dnssec_algorithms(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.dnssec.algorithms"]
    dnssec = facts.dnssec
    allowed = ", ".join(rule.allowed or [])
    size = describe_thresholds(rule.thresholds or [])
    out = []
    for what, observed_list in (("DNSKEY", dnssec.dnskeys), ("DS", dnssec.ds)):
        if observed_list.error is not None:
            reason = describe_error(observed_list.error)
            subject = f"{facts.zone} {what}"
            out.append(
                unknown(profile, "dns.dnssec.algorithms", subject=subject, expected=allowed, reason=reason)
            )
    for key in dnssec.dnskeys.value or []:
        level, outcome = _class_level(rule, key.algorithm)
        observed = f"{key.algorithm}, {key.bits or '?'} bit"
        if key.algorithm.startswith("RSA") and key.bits is not None:
            level = _stricter(level, threshold_level(rule.thresholds or [], key.bits))
        out.append(
            judge(
                profile,
                "dns.dnssec.algorithms",
                (level, observed),
                subject=f"{facts.zone} DNSKEY {key.key_tag} ({key.role})",
                expected=f"one of {allowed}; RSA {size}",
                outcome=outcome,
            )
        )
    for ds in dnssec.ds.value or []:
        level, outcome = _class_level(rule, f"DS-{ds.digest_type}")
        out.append(
            judge(
                profile,
                "dns.dnssec.algorithms",
                (level, f"digest {ds.digest_type}"),
                subject=f"{facts.zone} DS {ds.key_tag}",
                expected=f"one of {allowed}",
                outcome=outcome,
            )
        )
    return out


def _dnssec_signatures(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.dnssec.signatures"]
    sigs = facts.dnssec.signatures
    subject = f"{facts.zone} RRSIG"
    warn = timedelta(days=rule.warn_days or 0)
    longest = timedelta(days=rule.limit or 0)
    expected = (
        f"valid now, more than {warn.days} days left, validity period at most {longest.days} days"
    )
    if not sigs:
        if not facts.dnssec.dnskeys.value:
            return []  # unsigned zone: dns.dnssec.status reports it
        reason = "the zone has DNSKEY records but no RRSIG came back (resolver strips them?)"
        return [unknown(profile, "dns.dnssec.signatures", subject=subject, expected=expected, reason=reason)]
    invalid = [s for s in sigs if not s.inception <= now < s.expiration]
    weak = [s for s in sigs if s.expiration - now < warn or s.expiration - s.inception > longest]
    earliest = min(sigs, key=lambda s: s.expiration)
    if invalid:
        level, shown = rule.other_level, invalid
    elif weak:
        level, shown = rule.level, weak
    else:
        level, shown = None, [earliest]
    observed = "; ".join(_signature(s, now) for s in shown)
    return [judge(profile, "dns.dnssec.signatures", (level, observed), subject=subject, expected=expected)]


# --- D5: consistency ------------------------------------------------------------------


def _consistency(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.consistency"]
    silent = [s for s in facts.servers if not s.soa_answer.responded]
    soas = {s.address: s.soa for s in facts.servers if s.soa}
    serials = {a: soa.serial for a, soa in soas.items()}
    fields = {a: soa.model_copy(update={"serial": 0}) for a, soa in soas.items()}
    soa_level = (
        rule.level
        if len(set(serials.values())) > 1
        else rule.other_level
        if len(set(fields.values())) > 1
        else None
    )
    soa_seen = "; ".join(
        f"{a}: serial {soa.serial}, {soa.mname} {soa.rname} "
        f"{soa.refresh}/{soa.retry}/{soa.expire}/{soa.minimum}"
        for a, soa in soas.items()
    )
    ns_sets = {s.address: s.ns_set for s in facts.servers if s.ns_set is not None}
    if facts.delegation.value is not None:
        ns_sets[f"parent {facts.delegation.value.server}"] = sorted(
            n.lower() for n in facts.delegation.value.ns
        )
    distinct_ns = {tuple(v) for v in ns_sets.values()}
    ns_seen = "; ".join(f"{a}: {' '.join(v)}" for a, v in ns_sets.items())
    ns_level = rule.other_level if len(distinct_ns) > 1 else None
    return [
        _agreement(profile, facts.zone, "SOA", soa_level, soa_seen, silent, bool(soas)),
        _agreement(profile, facts.zone, "NS RRset", ns_level, ns_seen, silent, bool(ns_sets)),
    ]


def _agreement(
    profile: Profile,
    zone: str,
    what: str,
    level: Level | None,
    observed: str,
    silent: list[ServerFacts],
    seen: bool,
) -> Finding:
    """A consistency finding: a difference is judged even when some servers are silent."""
    subject = f"{zone} {what}"
    expected = f"the same {what} on every authoritative server"
    if level is None and (silent or not seen):
        reason = "; ".join(_silent(s) for s in silent) or "no server answered authoritatively"
        return unknown(profile, "dns.consistency", subject=subject, expected=expected, reason=reason)
    return judge(profile, "dns.consistency", (level, observed), subject=subject, expected=expected)


# --- D6: lame delegation --------------------------------------------------------------


def _lame(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    level = profile.rules["dns.lame"].level
    named = (_ns_name(profile, ns, level) for ns in facts.nameservers)
    out = [f for f in named if f is not None]
    expected = f"an authoritative (AA) answer with the SOA of {facts.zone}"
    for server in facts.servers:
        answer = server.soa_answer
        if not answer.responded:
            out.append(
                unknown(profile, "dns.lame", subject=server.label, expected=expected, reason=_silent(server))
            )
            continue
        authoritative = answer.ok and answer.aa
        observed = f"SOA: {_said(answer)}" + ("" if answer.aa else " without AA")
        judgement = (None if authoritative else level, observed)
        out.append(judge(profile, "dns.lame", judgement, subject=server.label, expected=expected))
    return out


def _ns_name(profile: Profile, ns: NameServer, level: Level) -> Finding | None:
    """A finding for an NS name that is an alias or has no address; None when fine."""
    expected = "an NS name with an address record, not an alias (RFC 2181 §10.3)"
    alias = ns.ipv4.canonical_name or ns.ipv6.canonical_name
    if alias:
        observed = f"CNAME to {alias}"
        return judge(profile, "dns.lame", (level, observed), subject=ns.name, expected=expected)
    if ns.addresses:
        return None
    errors = [a.error for a in (ns.ipv4, ns.ipv6) if a.error is not None]
    if errors:
        reason = "; ".join(describe_error(e) for e in errors)
        return unknown(profile, "dns.lame", subject=ns.name, expected=expected, reason=reason)
    observed = f"no address (A: {_said(ns.ipv4)}, AAAA: {_said(ns.ipv6)})"
    return judge(profile, "dns.lame", (level, observed), subject=ns.name, expected=expected)


# --- CAA ------------------------------------------------------------------------------


def _caa(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    rule = profile.rules["dns.caa"]
    subject = f"{facts.domain} CAA"
    expected = "a CAA RRset naming the CAs allowed to issue"
    error = facts.caa.error
    if error is not None:
        if error.reason is not ErrorReason.SERVFAIL:
            return [unknown(profile, "dns.caa", subject=subject, expected=expected, reason=describe_error(error))]
        observed = f"lookup fails ({error.detail}): CAs must refuse to issue"
        return [judge(profile, "dns.caa", (rule.other_level, observed), subject=subject, expected=expected)]
    caa = facts.caa.value
    assert caa is not None
    if caa.owner is None:
        judgement: Judgement = (rule.level, "no CAA record: any CA may issue")
    else:
        records = "; ".join(f'{r.flags} {r.tag} "{r.value}"' for r in caa.records)
        critical = [r for r in caa.records if r.flags & 128 and r.tag.lower() not in _CAA_TAGS]
        level = rule.other_level if critical else None
        judgement = (level, f"at {caa.owner}: {records}")
    return [judge(profile, "dns.caa", judgement, subject=subject, expected=expected)]


# --- helpers --------------------------------------------------------------------------


def _class_level(rule: Rule, name: str) -> tuple[Level | None, Outcome | None]:
    """Level for an algorithm or digest class: allowed passes, classes, else other_level."""
    if name in (rule.allowed or []):
        return None, None
    outcome = (rule.classes or {}).get(name)
    if outcome is not None:
        return outcome.level, outcome
    return rule.other_level or rule.level, None


def _stricter(a: Level | None, b: Level | None) -> Level | None:
    levels = [level for level in (a, b) if level is not None]
    return max(levels, key=_STRICTNESS.index) if levels else None


def _ipv4(addresses: Iterable[str]) -> list[str]:
    return [a for a in addresses if ipaddress.ip_address(a).version == 4]


def _said(answer: DnsAnswer) -> str:
    """Short description of an answer: status (+ rcode detail or reason)."""
    if answer.responded:
        return answer.status.value
    return f"{answer.status.value} ({answer.reason})" if answer.reason else answer.status.value


def _silent(server: ServerFacts) -> str:
    return (
        f"{server.address} did not respond (UDP: {_said(server.soa_udp)}; "
        f"TCP: {_said(server.soa_tcp)})"
    )


def _signature(sig: SignatureInfo, now: datetime) -> str:
    left = (sig.expiration - now).total_seconds() / 86400
    state = "expired" if left <= 0 else f"{left:.1f} days left"
    if sig.inception > now:
        state = "not yet valid"
    period = (sig.expiration - sig.inception).days
    return f"{sig.rrset} (key {sig.key_tag}) until {sig.expiration:%Y-%m-%d %H:%M}Z, {state}, {period}-day period"


Check = Callable[[DnsFacts, Profile, datetime], list[Finding]]

CHECKS: dict[str, Check] = {
    "dns.ns.count": _ns_count,
    "dns.ns.diversity": _ns_diversity,
    "dns.transport": _transport,
    "dns.open_resolver": _open_resolver,
    "dns.dnssec.status": _dnssec_status,
    "dns.dnssec.algorithms": _dnssec_algorithms,
    "dns.dnssec.signatures": _dnssec_signatures,
    "dns.consistency": _consistency,
    "dns.lame": _lame,
    "dns.caa": _caa,
}
"""The check registry: check id -> function of (facts, profile, now)."""

