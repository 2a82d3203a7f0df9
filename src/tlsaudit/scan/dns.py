"""Scan one zone's DNS service (policy rows D1-D6) into :class:`DnsFacts`.

Lookups go through the resolver (``--resolver`` or the system's). The NS RRset is taken
from the parent (a referral from one of its servers, with glue) and from the zone itself;
every address of every NS name is then asked directly, with RD=0, for the zone's SOA over
UDP and over TCP and for its NS RRset, once with RD=1 for a random name under a
reserved foreign domain (``example.``) to see whether it recurses for outsiders, and,
when it answered over TCP, for a zone transfer (AXFR, cut off after a few records). The
DNSSEC chain is validated from the trust anchor (:mod:`tlsaudit.scan.dnssec`).

For dangling CNAMEs the domain and ``www.<domain>`` are looked up (A, through the
resolver). NS names are not among them: their A/AAAA lookups already record an alias,
which ``dns.lame`` fails whatever its target (RFC 2181 §10.3); MX hosts belong to the
mail scan. Nothing here judges: the evaluator reads the facts.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from itertools import islice
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.CAA
import dns.version

from tlsaudit.errors import InputError
from tlsaudit.models.dns import (
    Delegation,
    DnsAnswer,
    DnsFacts,
    DnsStatus,
    NameServer,
    ServerFacts,
    name_key,
    parse_rrsets,
)
from tlsaudit.models.facts import CaaFacts, CaaRecord, ErrorReason, Observed
from tlsaudit.scan.dnsquery import axfr_probe, lookup, query_server
from tlsaudit.scan.dnssec import load_trust_anchors, validate_chain
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.pool import DaemonPool

PARENT_SERVERS_TRIED = 3
"""Parent server addresses asked for the delegation before giving up."""
MAX_WORKERS = 8


@dataclass(frozen=True)
class DnsOptions:
    """Options of a DNS scan: the resolver and timeout every scanner shares (``scan``; a DNS
    scan reads no other of them), and its own."""

    scan: ScanOptions = field(default_factory=ScanOptions)

    trust_anchor: Path | None = None
    """DS/DNSKEY records (master-file format) to validate from; None = the root KSKs."""
    serial_recheck_delay: float = 2.0
    """Seconds to wait before asking again when the servers' SOA serials differ."""
    probe_domain: str = "example."
    """Reserved foreign domain under which the open-resolver probe asks a random name."""


def scan_dns(domain: str, options: DnsOptions) -> DnsFacts:
    """Observe the zone of ``domain`` (the domain itself when it is a zone apex)."""
    scanned_at = datetime.now(UTC)
    try:
        name = dns.name.from_text(domain).to_text()
    except dns.exception.DNSException as exc:
        raise InputError(f"{domain}: not a domain name ({exc})") from exc
    zone, apex = _find_zone(name, options)
    child_ns = lookup(zone, "NS", options.scan)
    delegation = _delegation(zone, options)
    nameservers = _nameservers(delegation, child_ns, options)
    servers = _servers(zone, nameservers, options)
    ask = cache(partial(lookup, options=options.scan, want_dnssec=True, checking_disabled=True))
    dnssec = validate_chain(zone, load_trust_anchors(options.trust_anchor), ask)
    if apex.ok:
        dnssec = dnssec.model_copy(update={"resolver_ad": apex.ad})
    address = options.scan.resolver
    resolver = f"{address[0]}#{address[1]}" if address else "system"
    return DnsFacts(
        domain=name,
        zone=zone,
        scanned_at=scanned_at,
        engine=f"dnspython {dns.version.version}",
        resolver=resolver,
        delegation=delegation,
        child_ns=child_ns,
        nameservers=nameservers,
        servers=servers,
        dnssec=dnssec,
        caa=caa(name, options.scan),
        hosts=[lookup(host, "A", options.scan) for host in _host_names(name)],
    )


def _host_names(name: str) -> list[str]:
    """Names checked for dangling CNAMEs: the domain and www.<domain> (unless it is one)."""
    if name.lower().startswith("www.") or name == ".":
        return [name]
    return [name, f"www.{name}"]


def _find_zone(name: str, options: DnsOptions) -> tuple[str, DnsAnswer]:
    """The apex of the zone holding ``name`` (an alias's own zone, not its target's), and
    the resolver's SOA answer (with DO) when that apex is ``name`` itself."""
    current = dns.name.from_text(name)
    while True:
        answer = lookup(current.to_text(), "SOA", options.scan, want_dnssec=True)
        if answer.canonical_name is None or current == dns.name.root:
            return _zone_of(answer), answer
        current = current.parent()


def _zone_of(soa: DnsAnswer) -> str:
    """The apex of the zone holding the name: the SOA owner (answer or authority)."""
    if soa.ok:
        return soa.canonical_name or soa.name
    owners = [r.name for r in parse_rrsets(soa.authority) if r.rdtype == dns.rdatatype.SOA]
    return owners[0].to_text() if owners and soa.absent else soa.name


def _delegation(zone: str, options: DnsOptions) -> Observed[Delegation]:
    """The zone's NS RRset and glue as one of the parent's servers serves it."""
    name = dns.name.from_text(zone)
    if name == dns.name.root:
        return Observed[Delegation].failed(ErrorReason.NOT_APPLICABLE, "the root has no parent")
    parent = _zone_of(lookup(name.parent().to_text(), "SOA", options.scan))
    parent_ns = lookup(parent, "NS", options.scan)
    if not parent_ns.ok:
        return _failed(parent_ns, f"NS of the parent zone {parent}")
    addresses = (a for ns in parent_ns.records for a in lookup(ns, "A", options.scan).records)
    last: DnsAnswer | None = None
    for address in islice(addresses, PARENT_SERVERS_TRIED):
        last = query_server(
            zone, "NS", address, tcp=False, recursion=False, timeout=options.scan.timeout
        )
        referral = last.status is DnsStatus.REFERRAL
        if referral or (last.ok and last.aa):
            return Observed[Delegation].of(_parent_view(parent, name, last, referral))
    if last is None:
        return Observed[Delegation].failed(
            ErrorReason.NAME_RESOLUTION, f"no IPv4 address for the servers of {parent}"
        )
    return _failed(last, f"delegation of {zone} from {parent}")


def _parent_view(parent: str, zone: dns.name.Name, answer: DnsAnswer, referral: bool) -> Delegation:
    """NS names and glue from a parent server's referral (or authoritative NS answer)."""
    if referral:
        ns = [
            r.to_text()
            for rrset in parse_rrsets(answer.authority)
            if rrset.name == zone and rrset.rdtype == dns.rdatatype.NS
            for r in rrset
        ]
    else:
        ns = answer.records
    glue: dict[str, list[str]] = {}
    for rrset in parse_rrsets(answer.additional):
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue.setdefault(rrset.name.to_text(), []).extend(r.to_text() for r in rrset)
    assert answer.server is not None
    return Delegation(
        parent_zone=parent, server=answer.server, referral=referral, ns=sorted(ns), glue=glue
    )


def _failed(answer: DnsAnswer, what: str) -> Observed[Delegation]:
    error = answer.error
    reason = error.reason if error else ErrorReason.INVALID_ANSWER
    return Observed[Delegation].failed(reason, f"{what}: {answer.detail}")


def _nameservers(
    delegation: Observed[Delegation], child_ns: DnsAnswer, options: DnsOptions
) -> list[NameServer]:
    parent = delegation.value.ns if delegation.value else []
    glue = delegation.value.glue if delegation.value else {}
    child = [name_key(n) for n in child_ns.records]
    names = list(dict.fromkeys([*(name_key(n) for n in parent), *child]))
    parent_keys = {name_key(n) for n in parent}
    return [
        NameServer(
            name=ns,
            in_parent=ns in parent_keys,
            in_child=ns in child,
            glue=next((v for k, v in glue.items() if name_key(k) == ns), []),
            ipv4=lookup(ns, "A", options.scan),
            ipv6=lookup(ns, "AAAA", options.scan),
        )
        for ns in names
    ]


def _servers(zone: str, nameservers: list[NameServer], options: DnsOptions) -> list[ServerFacts]:
    """Ask every address (in parallel); ask the SOA again once if the serials differ."""
    names_of: dict[str, list[str]] = {}
    for ns in nameservers:
        for address in ns.addresses:
            names_of.setdefault(address, []).append(ns.name)
    probe = f"tlsaudit-{secrets.token_hex(6)}.{options.probe_domain}"
    with DaemonPool(MAX_WORKERS) as pool:
        servers = pool.map(
            lambda item: _server(zone, item[0], item[1], probe, options), names_of.items()
        )
        if len({s.soa.serial for s in servers if s.soa}) > 1:
            time.sleep(options.serial_recheck_delay)
            servers = pool.map(lambda s: _requery_soa(zone, s, options), servers)
    return servers


def _soa(zone: str, address: str, options: DnsOptions) -> tuple[DnsAnswer, DnsAnswer]:
    ask = partial(query_server, zone, "SOA", address, recursion=False, timeout=options.scan.timeout)
    return ask(tcp=False), ask(tcp=True)


def _server(
    zone: str, address: str, names: list[str], probe: str, options: DnsOptions
) -> ServerFacts:
    soa_udp, soa_tcp = _soa(zone, address, options)
    ns = recursion = axfr = None
    if soa_udp.responded or soa_tcp.responded:
        tcp = not soa_udp.responded
        ask = partial(query_server, server_ip=address, tcp=tcp, timeout=options.scan.timeout)
        ns = ask(zone, "NS", recursion=False)
        recursion = ask(probe, "A", recursion=True)
    if soa_tcp.responded:
        axfr = axfr_probe(zone, address, timeout=options.scan.timeout)
    return ServerFacts(
        address=address,
        ns_names=names,
        soa_udp=soa_udp,
        soa_tcp=soa_tcp,
        ns=ns,
        recursion_probe=recursion,
        axfr=axfr,
    )


def _requery_soa(zone: str, server: ServerFacts, options: DnsOptions) -> ServerFacts:
    soa_udp, soa_tcp = _soa(zone, server.address, options)
    return server.model_copy(update={"soa_udp": soa_udp, "soa_tcp": soa_tcp})


def caa(name: str, options: ScanOptions) -> Observed[CaaFacts]:
    """The relevant CAA RRset (RFC 8659 §3): at the name or the closest ancestor below the
    root; ``tlsaudit domain`` asks it for the domain, ``tlsaudit scan`` for the scanned name."""
    current = dns.name.from_text(name)
    while current != dns.name.root:
        answer = lookup(current.to_text(), "CAA", options)
        error = answer.error
        if error is not None:
            return Observed[CaaFacts](error=error)
        if answer.ok:
            records = [
                CaaRecord(flags=r.flags, tag=r.tag.decode(), value=r.value.decode(errors="replace"))
                for r in answer.rdatas()
                if isinstance(r, dns.rdtypes.ANY.CAA.CAA)
            ]
            return Observed[CaaFacts].of(CaaFacts(owner=answer.name, records=records))
        current = current.parent()
    return Observed[CaaFacts].of(CaaFacts(owner=None))
