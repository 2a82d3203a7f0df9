"""DNS facts: one answer taxonomy for every lookup, and what a zone scan observed.

:class:`DnsAnswer` is the record of one DNS question (mail-dns.md §6.1): the outcome
(answer, nodata, nxdomain, referral, an error rcode, timeout, ...) is explicit, so a
timeout is never read as a missing record. Records are kept in presentation format so
facts serialise to JSON; :meth:`DnsAnswer.rdatas` and :func:`parse_rrsets` turn them
back into dnspython objects.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from pydantic import Field

from tlsaudit.models.facts import CaaFacts, ErrorReason, Model, Observed, ProbeError


class DnsStatus(StrEnum):
    """Outcome of one DNS question."""

    ANSWER = "answer"
    """NOERROR with records of the asked type (possibly at the end of a CNAME chain)."""
    NODATA = "nodata"
    """NOERROR, the name exists, no records of that type."""
    NXDOMAIN = "nxdomain"
    """The name does not exist."""
    REFERRAL = "referral"
    """NOERROR, no answer, not authoritative, NS records in the authority section."""
    SERVFAIL = "servfail"
    REFUSED = "refused"
    FORMERR = "formerr"
    NOTIMP = "notimp"
    NOTAUTH = "notauth"
    RCODE = "rcode"
    """Any other error rcode (see ``DnsAnswer.rcode``)."""
    TIMEOUT = "timeout"
    TRUNCATED = "truncated"
    """TC=1 over UDP and the retry over TCP failed, or TC=1 over TCP."""
    NETWORK_ERROR = "network_error"
    """Connection refused, unreachable, reset or closed before an answer."""
    CHAIN_TOO_LONG = "chain_too_long"
    ANSWER_FOR_NXDOMAIN = "answer_for_nxdomain"
    INVALID = "invalid"
    """Malformed question or response."""


_ERROR_REASONS = {
    DnsStatus.SERVFAIL: ErrorReason.SERVFAIL,
    DnsStatus.REFUSED: ErrorReason.REFUSED,
    DnsStatus.TIMEOUT: ErrorReason.TIMEOUT,
    DnsStatus.TRUNCATED: ErrorReason.TRUNCATED,
    DnsStatus.NETWORK_ERROR: ErrorReason.NETWORK_ERROR,
}
"""Failure statuses with their own reason; every other failure is an invalid answer."""

RESPONSE_STATUSES = frozenset(DnsStatus) - {
    DnsStatus.TIMEOUT,
    DnsStatus.NETWORK_ERROR,
    DnsStatus.TRUNCATED,
}
"""Statuses that prove a DNS server answered over the transport used."""


class DnsAnswer(Model):
    """One DNS question and what came back."""

    name: str = Field(description="Query name, absolute (trailing dot).")
    rdtype: str = Field(description="Query type, e.g. TXT.")
    status: DnsStatus
    records: list[str] = Field(
        default_factory=list,
        description="Rdata of the answer RRset in presentation format (TXT as quoted strings).",
    )
    ttl: int | None = None
    canonical_name: str | None = Field(
        default=None, description="Set when a CNAME chain was followed: the name at its end."
    )
    rrsigs: list[str] = Field(
        default_factory=list, description="RRSIG rdata covering the answer RRset (with DO)."
    )
    authority: list[str] = Field(
        default_factory=list, description="Authority section, one RR per line (master format)."
    )
    additional: list[str] = Field(
        default_factory=list, description="Additional section without OPT, one RR per line."
    )
    rcode: str | None = Field(default=None, description="Response code text, e.g. NOERROR.")
    aa: bool = False
    tc: bool = False
    ra: bool = False
    ad: bool = False
    edns: bool = Field(default=False, description="The response carried an OPT record.")
    udp_truncated: bool = Field(
        default=False, description="The UDP answer had TC=1 and the question was retried on TCP."
    )
    server: str | None = Field(default=None, description="Address the question was sent to.")
    port: int | None = None
    transport: Literal["udp", "tcp"] | None = None
    elapsed_ms: float | None = None
    reason: str | None = Field(default=None, description="Why there is no answer (errors).")

    @property
    def ok(self) -> bool:
        """Records of the asked type came back."""
        return self.status is DnsStatus.ANSWER

    @property
    def absent(self) -> bool:
        """NXDOMAIN or NODATA: the name or the type is known not to exist."""
        return self.status in (DnsStatus.NODATA, DnsStatus.NXDOMAIN)

    @property
    def responded(self) -> bool:
        """A DNS server sent a response (whatever its rcode)."""
        return self.status in RESPONSE_STATUSES

    @property
    def error(self) -> ProbeError | None:
        """Why the question has no definite answer; None for answer, nodata, nxdomain."""
        if self.ok or self.absent:
            return None
        reason = _ERROR_REASONS.get(self.status, ErrorReason.INVALID_ANSWER)
        detail = self.reason or self.status.value
        where = f" from {self.server}" if self.server else ""
        return ProbeError(reason=reason, detail=f"{self.name} {self.rdtype}{where}: {detail}")

    @property
    def detail(self) -> str:
        """The error detail, or the status when there is no error."""
        error = self.error
        return error.detail if error is not None else self.status.value

    def rdatas(self) -> list[dns.rdata.Rdata]:
        """The answer records as dnspython rdata objects."""
        rdtype = dns.rdatatype.from_text(self.rdtype)
        return [
            dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, relativize=False)
            for text in self.records
        ]

    def rrset(self) -> dns.rrset.RRset | None:
        """The answer RRset (owner = canonical name), or None when there is no answer."""
        if not self.records:
            return None
        owner = self.canonical_name or self.name
        out = dns.rrset.RRset(
            dns.name.from_text(owner), dns.rdataclass.IN, dns.rdatatype.from_text(self.rdtype)
        )
        for rdata in self.rdatas():
            out.add(rdata, self.ttl or 0)
        return out

    def rrsig_rrset(self) -> dns.rrset.RRset | None:
        """The RRSIGs covering the answer, as an RRset, or None."""
        answer = self.rrset()
        if answer is None or not self.rrsigs:
            return None
        return dns.rrset.from_text_list(
            answer.name, self.ttl or 0, dns.rdataclass.IN, dns.rdatatype.RRSIG, self.rrsigs
        )


def parse_rrsets(lines: list[str]) -> list[dns.rrset.RRset]:
    """RRsets from master-format lines (as stored in ``authority`` / ``additional``)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for line in lines:
        owner, ttl, rdclass, rdtype, rdata = line.split(None, 4)
        covers = rdata.split(None, 1)[0] if rdtype.upper() == "RRSIG" else ""
        groups.setdefault((owner.lower(), ttl, rdclass, rdtype, covers), []).append(rdata)
    return [
        dns.rrset.from_text_list(owner, int(ttl), rdclass, rdtype, rdatas)
        for (owner, ttl, rdclass, rdtype, _), rdatas in groups.items()
    ]


def name_key(name: str) -> str:
    """Lower-case absolute form of a name: the key used to compare names."""
    return dns.name.from_text(name).to_text().lower()


class SoaInfo(Model):
    """The SOA fields compared across servers."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    @classmethod
    def parse(cls, text: str) -> SoaInfo:
        mname, rname, *numbers = text.split()
        serial, refresh, retry, expire, minimum = (int(n) for n in numbers)
        return cls(
            mname=mname.lower(),
            rname=rname.lower(),
            serial=serial,
            refresh=refresh,
            retry=retry,
            expire=expire,
            minimum=minimum,
        )


class NameServer(Model):
    """One NS name of the zone and its addresses."""

    name: str = Field(description="NS target name, absolute.")
    in_parent: bool = Field(description="Listed in the delegation from the parent.")
    in_child: bool = Field(description="Listed in the zone's own NS RRset (via the resolver).")
    glue: list[str] = Field(default_factory=list, description="Glue addresses from the parent.")
    ipv4: DnsAnswer = Field(description="A lookup of the name through the resolver.")
    ipv6: DnsAnswer = Field(description="AAAA lookup of the name through the resolver.")

    @property
    def addresses(self) -> list[str]:
        """Every address known for the name: resolved ones, then glue not seen there."""
        resolved = [*self.ipv4.records, *self.ipv6.records]
        return resolved + [a for a in self.glue if a not in resolved]


class AxfrStatus(StrEnum):
    """Outcome of one zone transfer request."""

    ALLOWED = "allowed"
    """The server began to send the zone (NOERROR, the zone's SOA first)."""
    REFUSED = "refused"
    """An error rcode (REFUSED, NOTAUTH, ...) or the connection closed without a response."""
    ERROR = "error"
    """Could not determine: timeout, network error, malformed response."""


class AxfrProbe(Model):
    """One AXFR request for the zone over TCP, cut off after a bounded number of records."""

    status: AxfrStatus
    records: int = Field(
        default=0, description="Records received before the transfer ended or was cut off."
    )
    complete: bool = Field(
        default=False, description="The closing SOA came within the record limit."
    )
    rcode: str | None = Field(default=None, description="Error rcode text, e.g. REFUSED.")
    elapsed_ms: float | None = None
    reason: str | None = Field(default=None, description="Why there is no transfer (errors).")


class ServerFacts(Model):
    """What one authoritative address answered (every question with RD=0 but the probe)."""

    address: str
    ns_names: list[str] = Field(description="NS names that resolve to this address.")
    soa_udp: DnsAnswer = Field(description="SOA of the zone over UDP (EDNS, 1232 octets).")
    soa_tcp: DnsAnswer = Field(description="SOA of the zone over TCP.")
    ns: DnsAnswer | None = Field(
        description="NS RRset of the zone as this server serves it; None when not asked "
        "because the server answered neither SOA question."
    )
    recursion_probe: DnsAnswer | None = Field(
        description="RD=1 question for a name under a foreign (reserved) domain; None when "
        "not asked (as for ``ns``)."
    )
    axfr: AxfrProbe | None = Field(
        default=None,
        description="AXFR of the zone; None when not asked because the server did not answer "
        "the SOA question over TCP.",
    )

    @property
    def label(self) -> str:
        names = ", ".join(n.rstrip(".") for n in self.ns_names)
        return f"{names} ({self.address})" if names else self.address

    @property
    def soa_answer(self) -> DnsAnswer:
        """The SOA answer to judge: UDP unless only TCP got a response."""
        if not self.soa_udp.responded and self.soa_tcp.responded:
            return self.soa_tcp
        return self.soa_udp

    @property
    def soa(self) -> SoaInfo | None:
        answer = self.soa_answer
        return SoaInfo.parse(answer.records[0]) if answer.ok and answer.aa else None

    @property
    def ns_set(self) -> list[str] | None:
        if self.ns is None or not (self.ns.ok and self.ns.aa):
            return None
        return sorted(name_key(r) for r in self.ns.records)


class Delegation(Model):
    """The zone's NS RRset as the parent serves it."""

    parent_zone: str
    server: str = Field(description="Parent server address that answered.")
    referral: bool = Field(
        description="True for a referral; False when the parent server is also authoritative "
        "for the zone and answered with the zone's own NS RRset."
    )
    ns: list[str]
    glue: dict[str, list[str]] = Field(default_factory=dict)


class DnssecState(StrEnum):
    SECURE = "secure"
    INSECURE = "insecure"
    BOGUS = "bogus"
    INDETERMINATE = "indeterminate"


class DnskeyInfo(Model):
    key_tag: int
    flags: int
    algorithm: str = Field(description="Mnemonic, e.g. ECDSAP256SHA256 (number if unknown).")
    bits: int | None = Field(description="Key size in bits; None when it cannot be derived.")

    @property
    def role(self) -> str:
        return "KSK" if self.flags & 0x0001 else "ZSK"


class DsInfo(Model):
    key_tag: int
    algorithm: str
    digest_type: str = Field(description="Mnemonic, e.g. SHA256.")
    digest: str


class SignatureInfo(Model):
    """One RRSIG over an RRset of the zone (or over its DS at the parent)."""

    rrset: str = Field(description="Owner and type, e.g. 'good-dns.test. SOA'.")
    key_tag: int
    algorithm: str
    signer: str
    inception: datetime
    expiration: datetime


class ChainStep(Model):
    """One zone of the chain of trust, from the trust anchor down."""

    zone: str
    state: DnssecState
    detail: str


class DnssecFacts(Model):
    """The chain of trust from the trust anchor to the zone, validated with dnspython."""

    trust_anchor: str = Field(description="Anchor owner and source (file or built-in root KSK).")
    state: DnssecState
    reason: str = Field(description="Why the state is what it is.")
    chain: list[ChainStep] = Field(default_factory=list)
    ds: Observed[list[DsInfo]] = Field(description="DS RRset at the parent; [] when none.")
    dnskeys: Observed[list[DnskeyInfo]] = Field(description="DNSKEY RRset; [] when none.")
    signatures: list[SignatureInfo] = Field(default_factory=list)
    resolver_ad: bool | None = Field(
        default=None, description="AD flag of the resolver's SOA answer (a cross-check only)."
    )


class DnsFacts(Model):
    """Everything observed about one zone's DNS service."""

    domain: str = Field(description="Name the user gave, absolute.")
    zone: str = Field(description="Zone apex the checks apply to (the domain or its zone).")
    scanned_at: datetime
    engine: str = Field(description="e.g. 'dnspython 2.8.0'.")
    resolver: str = Field(description="Resolver used for lookups ('system' or address#port).")
    delegation: Observed[Delegation] = Field(description="NS RRset and glue from the parent.")
    child_ns: DnsAnswer = Field(description="NS RRset of the zone through the resolver.")
    nameservers: list[NameServer] = Field(default_factory=list)
    servers: list[ServerFacts] = Field(default_factory=list)
    dnssec: DnssecFacts
    caa: Observed[CaaFacts]
    hosts: list[DnsAnswer] = Field(
        default_factory=list,
        description="A lookups through the resolver of the names checked for dangling CNAMEs "
        "(the domain and www.<domain>); canonical_name is set for an alias.",
    )
