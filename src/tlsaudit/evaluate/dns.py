"""Judging a zone's DNS facts against the profile's ``dns.*`` rules (pure).

One small function per check id yields the judged subjects; checks the profile has no
rule for are skipped. What could not be observed (timeouts, SERVFAIL through the
resolver, unreachable servers) is ``unknown`` with the reason, never pass or fail: a
server that answered neither the UDP nor the TCP SOA question gives no evidence about its
transports, its recursion or its copy of the zone, so those findings are unknown for it;
a server that answered at all but not authoritatively (REFUSED, SERVFAIL, a referral, no
AA bit) is lame. A zone transfer is judged only where it was asked (over TCP); a name
whose lookup failed is not called dangling, and an alias to an existing name without
an A record (NODATA) is not dangling either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from tlsaudit.evaluate.base import (
    Judgement,
    NotApplicable,
    Unknown,
    describe_error,
    describe_thresholds,
    threshold_level,
)
from tlsaudit.evaluate.check import Outcome, check, evaluate
from tlsaudit.models.dns import (
    AxfrStatus,
    DnsAnswer,
    DnsFacts,
    DnssecState,
    DnsStatus,
    NameServer,
    ServerFacts,
    SignatureInfo,
    name_key,
)
from tlsaudit.models.facts import CaaFacts, ErrorReason, Observed, ProbeError
from tlsaudit.models.findings import Finding, Level
from tlsaudit.profiles import AlgorithmRule, Limit, OtherLevel, Profile, Rule, SignatureRule
from tlsaudit.profiles import Outcome as Case

_PREFIX = {4: 24, 6: 48}
"""Prefix length per IP version: the offline stand-in for 'another network'."""
_CAA_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone"})
_RECURSED = frozenset({DnsStatus.ANSWER, DnsStatus.NXDOMAIN, DnsStatus.NODATA, DnsStatus.SERVFAIL})
"""Probe outcomes that, with RA set, show the server resolved a name it does not serve."""


def _outcome(
    subject: str,
    expected: str,
    judgement: Judgement | None,
    reason: str = "could not determine",
    outcome: Case | None = None,
) -> Outcome:
    """One judged subject; ``judgement`` None means it could not be determined (``reason``)."""
    result = Unknown(reason) if judgement is None else judgement
    return Outcome(subject, expected, result, outcome)


def evaluate_dns(facts: DnsFacts, profile: Profile, now: datetime) -> list[Finding]:
    """Every ``dns.*`` finding for one zone."""
    return evaluate(facts, DnsFacts, profile, now)


# --- D1: redundancy -------------------------------------------------------------------


def _ns_count(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    limit = rule.params(Limit).limit
    subject = f"{facts.zone} NS"
    expected = f"at least {limit} NS names with an IPv4 address"
    names = [ns.name.rstrip(".") for ns in facts.nameservers]
    with_v4 = [ns for ns in facts.nameservers if _ipv4(ns.addresses)]
    if names:
        pending = [
            ns.ipv4.detail for ns in facts.nameservers if ns.ipv4.error and ns not in with_v4
        ]
    else:
        errors = (facts.delegation.error, facts.child_ns.error)
        pending = [describe_error(e) for e in errors if e is not None]
    if len(with_v4) < limit <= len(with_v4) + len(pending) or (pending and not names):
        yield _outcome(subject, expected, None, "; ".join(pending))
        return
    observed = f"{len(names)} NS ({', '.join(names) or 'none'}), {len(with_v4)} with IPv4"
    yield _outcome(subject, expected, (rule.level if len(with_v4) < limit else None, observed))


def _ns_diversity(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    limit = rule.params(Limit).limit
    subject = f"{facts.zone} NS addresses"
    expected = f"at least {limit} distinct /24 (IPv4) and /48 (IPv6) prefixes"
    addresses = [ipaddress.ip_address(s.address) for s in facts.servers]
    if not addresses:
        yield _outcome(subject, expected, None, "no address of any NS name is known")
        return
    parts, short = [], False
    for version, length in _PREFIX.items():
        family = [a for a in addresses if a.version == version]
        if family:
            nets = {ipaddress.ip_network(f"{a}/{length}", strict=False) for a in family}
            short = short or len(nets) < limit
            parts.append(f"IPv{version}: {len(family)} addresses in {len(nets)} /{length}")
    yield _outcome(subject, expected, (rule.level if short else None, "; ".join(parts)))


# --- D2: transport --------------------------------------------------------------------


def _transport(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = "SOA answered over UDP (with EDNS0) and over TCP"
    for server in facts.servers:
        udp = server.soa_udp.responded or server.soa_udp.udp_truncated
        tcp = server.soa_tcp.responded
        observed = f"UDP: {_said(server.soa_udp)}; TCP: {_said(server.soa_tcp)}"
        level = None
        if not (udp or tcp):
            yield _outcome(server.label, expected, None, _silent(server))
            continue
        if not (udp and tcp):
            level = rule.level
        elif server.soa_udp.responded and not server.soa_udp.edns:
            level, observed = (
                rule.params(OtherLevel).other_level,
                f"{observed}; no EDNS0 in the UDP answer",
            )
        yield _outcome(server.label, expected, (level, observed))


# --- D3: open resolver ----------------------------------------------------------------


def _open_resolver(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = "REFUSED (or a referral) for an outside name asked with RD=1"
    for server in facts.servers:
        probe = server.recursion_probe
        if probe is None:
            yield _outcome(server.label, expected, None, _silent(server))
        elif not probe.responded:
            yield _outcome(
                server.label, expected, None, f"no response to the probe: {probe.detail}"
            )
        else:
            recursed = not probe.aa and (
                probe.status in (DnsStatus.ANSWER, DnsStatus.NXDOMAIN)
                or (probe.ra and probe.status in _RECURSED)
            )
            observed = f"{probe.name} A, RD=1: {_said(probe)}, RA={probe.ra:d}, AA={probe.aa:d}"
            yield _outcome(server.label, expected, (rule.level if recursed else None, observed))


# --- D4: DNSSEC -----------------------------------------------------------------------


def _dnssec_status(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    dnssec = facts.dnssec
    subject = f"{facts.zone} DNSSEC"
    expected = f"secure (chain of trust from {dnssec.trust_anchor})"
    if dnssec.state is DnssecState.INDETERMINATE:
        yield _outcome(subject, expected, None, dnssec.reason)
        return
    level = {
        DnssecState.BOGUS: rule.level,
        DnssecState.INSECURE: rule.params(OtherLevel).other_level,
    }
    observed = f"{dnssec.state.value}: {dnssec.reason}"
    yield _outcome(subject, expected, (level.get(dnssec.state), observed))


def _dnssec_algorithms(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    dnssec = facts.dnssec
    params = rule.params(AlgorithmRule)
    allowed = f"one of {', '.join(params.allowed)}"
    for what, seen in (("DNSKEY", dnssec.dnskeys), ("DS", dnssec.ds)):
        if seen.error is not None:
            yield _outcome(f"{facts.zone} {what}", allowed, None, describe_error(seen.error))
    size = describe_thresholds(params.thresholds)
    for key in dnssec.dnskeys.value or []:
        level, outcome = _class_level(params, key.algorithm)
        if key.algorithm.startswith("RSA") and key.bits is not None:
            level = _stricter(level, threshold_level(params.thresholds, key.bits))
        subject = f"{facts.zone} DNSKEY {key.key_tag} ({key.role})"
        observed = f"{key.algorithm}, {key.bits or '?'} bit"
        yield _outcome(subject, f"{allowed}; RSA {size}", (level, observed), outcome=outcome)
    for ds in dnssec.ds.value or []:
        level, outcome = _class_level(params, f"DS-{ds.digest_type}")
        subject = f"{facts.zone} DS {ds.key_tag}"
        yield _outcome(subject, allowed, (level, f"DS-{ds.digest_type}"), outcome=outcome)


def _dnssec_signatures(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    sigs = facts.dnssec.signatures
    subject = f"{facts.zone} RRSIG"
    params = rule.params(SignatureRule)
    warn, longest = timedelta(days=params.warn_days), timedelta(days=params.limit)
    expected = f"valid, over {warn.days} days left, validity period at most {longest.days} days"
    if not sigs:
        if facts.dnssec.dnskeys.value:  # an unsigned zone has nothing to judge here
            reason = "the zone has DNSKEY records but no RRSIG came back"
            yield _outcome(subject, expected, None, reason)
        return
    invalid = [s for s in sigs if not s.inception <= now < s.expiration]
    weak = [s for s in sigs if s.expiration - now < warn or s.expiration - s.inception > longest]
    if invalid:
        level, shown = rule.params(OtherLevel).other_level, invalid
    elif weak:
        level, shown = rule.level, weak
    else:
        level, shown = None, [min(sigs, key=lambda s: s.expiration)]
    yield _outcome(subject, expected, (level, "; ".join(_signature(s, now) for s in shown)))


# --- D5: consistency ------------------------------------------------------------------


def _consistency(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    silent = [_silent(s) for s in facts.servers if not s.soa_answer.responded]
    soas = {s.address: s.soa for s in facts.servers if s.soa}
    serials = {soa.serial for soa in soas.values()}
    others = {soa.model_copy(update={"serial": 0}) for soa in soas.values()}
    level = (
        rule.level
        if len(serials) > 1
        else rule.params(OtherLevel).other_level
        if len(others) > 1
        else None
    )
    shown = {
        a: f"{s.serial} {s.mname} {s.rname} {s.refresh} {s.retry} {s.expire} {s.minimum}"
        for a, s in soas.items()
    }
    yield _agreement(f"{facts.zone} SOA", level, shown, silent if soas else ["no SOA"])
    ns_sets = {s.address: " ".join(s.ns_set) for s in facts.servers if s.ns_set is not None}
    if facts.delegation.value is not None:
        parent = facts.delegation.value
        ns_sets[f"parent {parent.server}"] = " ".join(sorted(name_key(n) for n in parent.ns))
    level = rule.params(OtherLevel).other_level if len(set(ns_sets.values())) > 1 else None
    yield _agreement(f"{facts.zone} NS RRset", level, ns_sets, silent if ns_sets else ["no NS"])


def _agreement(
    subject: str, level: Level | None, seen: dict[str, str], silent: list[str]
) -> Outcome:
    """A difference is judged even when some servers are silent; agreement is not."""
    expected = "the same on every authoritative server"
    if level is None and silent:
        return _outcome(subject, expected, None, "; ".join(silent))
    if level is None:
        observed = f"{next(iter(seen.values()))} on {', '.join(seen)}"
    else:
        observed = "; ".join(f"{where}: {value}" for where, value in seen.items())
    return _outcome(subject, expected, (level, observed))


# --- D6: lame delegation --------------------------------------------------------------


def _lame(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    for ns in facts.nameservers:
        yield from _ns_name(ns, rule.level)
    expected = f"an authoritative (AA) answer with the SOA of {facts.zone}"
    for server in facts.servers:
        answer = server.soa_answer
        if not answer.responded:
            yield _outcome(server.label, expected, None, _silent(server))
            continue
        observed = f"SOA: {_said(answer)}, AA={answer.aa:d}"
        level = None if answer.ok and answer.aa else rule.level
        yield _outcome(server.label, expected, (level, observed))


def _ns_name(ns: NameServer, level: Level) -> Iterator[Outcome]:
    """An NS name that is an alias or has no address (nothing when it is fine)."""
    expected = "an NS name with an address record, not an alias (RFC 2181 §10.3)"
    alias = ns.ipv4.canonical_name or ns.ipv6.canonical_name
    errors = [a.detail for a in (ns.ipv4, ns.ipv6) if a.error is not None]
    if alias:
        yield _outcome(ns.name, expected, (level, f"CNAME to {alias}"))
    elif not ns.addresses and errors:
        yield _outcome(ns.name, expected, None, "; ".join(errors))
    elif not ns.addresses:
        observed = f"no address (A: {_said(ns.ipv4)}, AAAA: {_said(ns.ipv6)})"
        yield _outcome(ns.name, expected, (level, observed))


def _axfr(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = f"AXFR of {facts.zone} refused to us (transfers only to the secondaries)"
    for server in facts.servers:
        probe = server.axfr
        if probe is None:
            yield _outcome(server.label, expected, None, _axfr_not_asked(server))
        elif probe.status is AxfrStatus.ERROR:
            yield _outcome(server.label, expected, None, f"AXFR: {probe.reason}")
        elif probe.status is AxfrStatus.REFUSED:
            yield _outcome(server.label, expected, (None, f"AXFR refused: {probe.reason}"))
        else:
            extent = "the whole zone" if probe.complete else "then stopped reading"
            observed = f"AXFR allowed: {probe.records} records received ({extent})"
            yield _outcome(server.label, expected, (rule.level, observed))


def _axfr_not_asked(server: ServerFacts) -> str:
    if not server.soa_answer.responded:
        return _silent(server)
    if not server.soa_tcp.responded:
        return f"AXFR not asked: no TCP answer to the SOA question ({_said(server.soa_tcp)})"
    return "AXFR not asked (facts recorded without the probe)"


def _dangling_cname(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    expected = "no CNAME, or a CNAME chain ending at a name that exists"
    for host in facts.hosts:
        subject = f"{host.name} CNAME"
        target = host.canonical_name
        if host.error is not None:
            yield _outcome(subject, expected, None, host.detail)
        elif target is None:
            yield _outcome(subject, expected, (None, f"not an alias (A: {host.status.value})"))
        elif host.status is DnsStatus.NXDOMAIN:
            observed = f"CNAME to {target}, which does not exist (NXDOMAIN)"
            yield _outcome(subject, expected, (rule.level, observed))
        else:
            yield _outcome(subject, expected, (None, f"CNAME to {target} (A: {host.status.value})"))


# --- CAA ------------------------------------------------------------------------------


CAA_EXPECTED = "a CAA RRset naming the CAs allowed to issue"


def caa_judgement(caa: Observed[CaaFacts], rule: Rule) -> Judgement | ProbeError | NotApplicable:
    """The relevant CAA RRset judged (RFC 8659): none is ``rule.level``; a failing lookup
    (CAs must then refuse to issue) or an unknown critical property is ``other_level``."""
    error, facts = caa.error, caa.value
    other = rule.params(OtherLevel).other_level
    if error is not None and error.reason is ErrorReason.SERVFAIL:
        return other, f"lookup fails ({error.detail}): CAs must refuse to issue"
    if error is not None and error.reason is ErrorReason.NOT_APPLICABLE:
        return NotApplicable("not looked up", error.detail)
    if error is not None or facts is None:
        return error or ProbeError(reason=ErrorReason.NOT_SCANNED, detail="not scanned")
    if facts.owner is None:
        return rule.level, "no CAA record: any CA may issue"
    records = "; ".join(f'{r.flags} {r.tag} "{r.value}"' for r in facts.records)
    critical = [r for r in facts.records if r.flags & 128 and r.tag.lower() not in _CAA_TAGS]
    return (other if critical else None), f"at {facts.owner}: {records}"


def _caa(facts: DnsFacts, rule: Rule, now: datetime) -> Iterator[Outcome]:
    result = caa_judgement(facts.caa, rule)
    subject = f"{facts.domain} CAA"
    if isinstance(result, ProbeError | NotApplicable):
        reason = describe_error(result) if isinstance(result, ProbeError) else result.reason
        yield _outcome(subject, CAA_EXPECTED, None, reason)
    else:
        yield _outcome(subject, CAA_EXPECTED, result)


# --- helpers --------------------------------------------------------------------------


def _class_level(params: AlgorithmRule, name: str) -> tuple[Level | None, Case | None]:
    """Level of an algorithm or digest: allowed passes, then classes, then other_level."""
    if name in params.allowed:
        return None, None
    case = params.classes.get(name)
    if case is not None:
        return case.level, case
    return params.other_level, None


def _stricter(a: Level | None, b: Level | None) -> Level | None:
    levels = [level for level in (a, b) if level is not None]
    return max(levels, key=lambda level: level.strictness) if levels else None


def _ipv4(addresses: Iterable[str]) -> list[str]:
    return [a for a in addresses if ipaddress.ip_address(a).version == 4]


def _said(answer: DnsAnswer) -> str:
    """An answer's status, with the reason when no server responded."""
    if answer.responded or not answer.reason:
        return answer.status.value
    return f"{answer.status.value} ({answer.reason})"


def _silent(server: ServerFacts) -> str:
    udp, tcp = _said(server.soa_udp), _said(server.soa_tcp)
    return f"{server.address} did not respond (UDP: {udp}; TCP: {tcp})"


def _signature(sig: SignatureInfo, now: datetime) -> str:
    days = (sig.expiration - now).total_seconds() / 86400
    state = (
        "not yet valid" if sig.inception > now else "expired" if days <= 0 else f"{days:.1f}d left"
    )
    period = (sig.expiration - sig.inception).days
    until = f"{sig.expiration:%Y-%m-%d %H:%M}Z"
    return f"{sig.rrset} key {sig.key_tag}: until {until} ({state}, {period}d period)"


CHECKS: dict[str, Callable[[DnsFacts, Rule, datetime], Iterator[Outcome]]] = {
    "dns.ns.count": _ns_count,
    "dns.ns.diversity": _ns_diversity,
    "dns.transport": _transport,
    "dns.open_resolver": _open_resolver,
    "dns.dnssec.status": _dnssec_status,
    "dns.dnssec.algorithms": _dnssec_algorithms,
    "dns.dnssec.signatures": _dnssec_signatures,
    "dns.consistency": _consistency,
    "dns.lame": _lame,
    "dns.axfr": _axfr,
    "dns.dangling_cname": _dangling_cname,
    "dns.caa": _caa,
}
"""DNS checks in report order: check id -> function of (facts, rule, now)."""

for _check_id, _judge in CHECKS.items():
    check(_check_id, DnsFacts)(_judge)
