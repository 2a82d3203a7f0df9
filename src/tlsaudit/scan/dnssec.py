"""DNSSEC chain-of-trust validation from a trust anchor down to one zone.

dnspython validates signatures but walks no chain and ships no trust anchor
(mail-dns.md §5.5). :func:`validate_chain` walks from the deepest trust anchor above the
zone down, one label at a time: the anchor zone's DNSKEY RRset must be signed by a key
matching the anchor; each DS RRset must be signed by the parent's keys and match a key
that signs the child's DNSKEY RRset; a missing DS makes the zone insecure only when a
validly signed NSEC/NSEC3 proves the delegation has no DS. Finally the zone's SOA and NS
RRsets must validate. Answers come from an ``ask(name, rdtype)`` callback (the scanner
asks its resolver with DO and CD set, so bogus data still comes back to be judged).
"""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TypeVar

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.RRSIG
import dns.rrset
import dns.zonefile
from dns.dnssectypes import Algorithm, DSDigest

from tlsaudit.errors import InputError
from tlsaudit.models.dns import (
    ChainStep,
    DnsAnswer,
    DnskeyInfo,
    DnssecFacts,
    DnssecState,
    DsInfo,
    SignatureInfo,
    parse_rrsets,
)
from tlsaudit.models.facts import Observed
from tlsaudit.profiles import list_path

R = TypeVar("R")
Ask = Callable[[str, str], DnsAnswer]
"""``ask(name, rdtype)``: a lookup with DO and CD set."""

ROOT_ANCHORS = "root-anchors.toml"
DNSKEY = dns.rdtypes.ANY.DNSKEY.DNSKEY
DS = dns.rdtypes.ANY.DS.DS

_RSA = frozenset(
    {
        Algorithm.RSAMD5,
        Algorithm.RSASHA1,
        Algorithm.RSASHA1NSEC3SHA1,
        Algorithm.RSASHA256,
        Algorithm.RSASHA512,
    }
)
_FIXED_BITS = {
    Algorithm.ECDSAP256SHA256: 256,
    Algorithm.ECDSAP384SHA384: 384,
    Algorithm.ECCGOST: 256,
    Algorithm.ED25519: 256,
    Algorithm.ED448: 448,
}
_VALIDATABLE = frozenset(
    {
        Algorithm.RSASHA1,
        Algorithm.RSASHA1NSEC3SHA1,
        Algorithm.RSASHA256,
        Algorithm.RSASHA512,
        Algorithm.ECDSAP256SHA256,
        Algorithm.ECDSAP384SHA384,
        Algorithm.ED25519,
        Algorithm.ED448,
    }
)
"""Algorithms dnspython validates under its default (RFC 8624) policy."""


@dataclass(frozen=True)
class TrustAnchor:
    """DS and/or DNSKEY records that are trusted for one zone."""

    zone: dns.name.Name
    ds: tuple[DS, ...]
    keys: tuple[DNSKEY, ...]
    source: str

    @property
    def label(self) -> str:
        return f"{self.zone} ({self.source})"


def load_trust_anchors(path: Path | None) -> list[TrustAnchor]:
    """Anchors from a file of DS/DNSKEY records (master format), else the root KSKs."""
    if path is None:
        with list_path(ROOT_ANCHORS).open("rb") as fh:
            data = tomllib.load(fh)
        text, source = "\n".join(data["ds"]), "built-in root KSK"
    else:
        try:
            text, source = path.read_text(), str(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read trust anchor: {exc.strerror}") from exc
    try:
        rrsets = dns.zonefile.read_rrsets(text, rdclass=None, default_ttl=0, origin=dns.name.root)
    except dns.exception.DNSException as exc:
        raise InputError(f"{source}: invalid trust anchor: {exc}") from exc
    anchors: dict[dns.name.Name, TrustAnchor] = {}
    for rrset in rrsets:
        if rrset.rdtype not in (dns.rdatatype.DS, dns.rdatatype.DNSKEY):
            continue
        old = anchors.get(rrset.name, TrustAnchor(rrset.name, (), (), source))
        ds = old.ds + tuple(r for r in rrset if isinstance(r, DS))
        keys = old.keys + tuple(r for r in rrset if isinstance(r, DNSKEY))
        anchors[rrset.name] = TrustAnchor(rrset.name, ds, keys, source)
    if not anchors:
        raise InputError(f"{source}: no DS or DNSKEY record in the trust anchor")
    return list(anchors.values())


def validate_chain(zone: str, anchors: Sequence[TrustAnchor], ask: Ask) -> DnssecFacts:
    """The DNSSEC facts of ``zone``: chain state, DS, DNSKEY and RRSIG windows."""
    target = dns.name.from_text(zone)
    dnskey = ask(target.to_text(), "DNSKEY")
    ds = ask(target.to_text(), "DS") if target != dns.name.root else None
    anchor = max(
        (a for a in anchors if target.is_subdomain(a.zone)),
        key=lambda a: len(a.zone),
        default=None,
    )
    walk = _Walk(ask)
    if anchor is None:
        labels = ", ".join(str(a.zone) for a in anchors)
        state, reason = DnssecState.INDETERMINATE, f"no trust anchor covers {target} ({labels})"
    else:
        try:
            state, reason = walk.run(target, anchor)
        except _ChainError as stop:
            state, reason = stop.state, stop.reason
    answers = [dnskey, ds, ask(target.to_text(), "SOA"), ask(target.to_text(), "NS")]
    return DnssecFacts(
        trust_anchor=anchor.label if anchor else "none",
        state=state,
        reason=reason,
        chain=walk.steps,
        ds=_observed(ds, _ds_info) if ds else Observed[list[DsInfo]].of([]),
        dnskeys=_observed(dnskey, _dnskey_info),
        signatures=[s for a in answers if a is not None for s in _signatures(a)],
    )


def key_bits(key: DNSKEY) -> int | None:
    """Key size in bits (RSA modulus, DSA prime, curve size), None when unknown."""
    algorithm, data = key.algorithm, key.key
    if algorithm in _RSA and data:
        length, offset = data[0], 1
        if length == 0:
            length, offset = int.from_bytes(data[1:3], "big"), 3
        return int.from_bytes(data[offset + length :], "big").bit_length()
    if algorithm in (Algorithm.DSA, Algorithm.DSANSEC3SHA1) and data:
        return 512 + 64 * data[0]
    return _FIXED_BITS.get(algorithm)


class _ChainError(Exception):
    """The walk ended before the zone: the state it ended in and why."""

    def __init__(self, state: DnssecState, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@dataclass
class _Walk:
    ask: Ask
    steps: list[ChainStep] = field(default_factory=list)

    def run(self, target: dns.name.Name, anchor: TrustAnchor) -> tuple[DnssecState, str]:
        keys = self._zone_keys(anchor.zone, anchor.ds, anchor.keys)
        detail = f"DNSKEY matches the trust anchor {anchor.label}"
        self._step(anchor.zone, DnssecState.SECURE, detail)
        current = anchor.zone
        for name in _descendants(anchor.zone, target):
            ds = self.ask(name.to_text(), "DS")
            if ds.ok:
                self._verify(ds, current, keys)
                keys = self._zone_keys(name, tuple(_typed(ds.rdatas(), DS)), ())
                current = name
                self._step(name, DnssecState.SECURE, "DS validated; DNSKEY signed by a DS key")
                continue
            if not ds.absent:
                self._fail(name, DnssecState.INDETERMINATE, f"DS of {name}: {ds.detail}")
            if self._no_ds_delegation(ds, name, current, keys):
                reason = f"{current} proves that the delegation {name} has no DS"
                self._step(name, DnssecState.INSECURE, reason)
                return DnssecState.INSECURE, reason
            if name == target:
                reason = f"{current} signs a proof that {name} is not a delegation"
                self._fail(name, DnssecState.INDETERMINATE, reason)
        for rdtype in ("SOA", "NS"):
            self._verify(self.ask(target.to_text(), rdtype), target, keys)
        return DnssecState.SECURE, f"chain of trust from {anchor.label} validated"

    def _step(self, zone: dns.name.Name, state: DnssecState, detail: str) -> None:
        self.steps.append(ChainStep(zone=zone.to_text(), state=state, detail=detail))

    def _zone_keys(
        self, zone: dns.name.Name, ds: tuple[DS, ...], trusted: tuple[DNSKEY, ...]
    ) -> dns.rrset.RRset:
        """The zone's DNSKEY RRset, once a key matching ``ds``/``trusted`` signed it."""
        usable = [d for d in ds if _usable_ds(d)]
        if ds and not usable and not trusted:
            reason = f"DS of {zone} uses only unsupported algorithms (insecure, RFC 4035 §5.2)"
            self._step(zone, DnssecState.INSECURE, reason)
            raise _ChainError(DnssecState.INSECURE, reason)
        answer = self.ask(zone.to_text(), "DNSKEY")
        rrset = answer.rrset()
        if rrset is None:
            state = DnssecState.BOGUS if answer.absent else DnssecState.INDETERMINATE
            self._fail(zone, state, f"DNSKEY of {zone}: {answer.detail}")
        sep = [k for k in _typed(rrset, DNSKEY) if k in trusted or _matches(zone, k, usable)]
        if not sep:
            tags = " ".join(str(dns.dnssec.key_id(k)) for k in _typed(rrset, DNSKEY))
            wanted = " ".join(str(d.key_tag) for d in ds) or "none"
            reason = f"no DNSKEY of {zone} (key tags {tags}) matches the DS (key tags {wanted})"
            self._fail(zone, DnssecState.BOGUS, reason)
        sep_rrset = dns.rrset.from_rdata_list(zone, rrset.ttl, sep)
        self._verify(answer, zone, sep_rrset)
        return rrset

    def _verify(self, answer: DnsAnswer, zone: dns.name.Name, keys: dns.rrset.RRset) -> None:
        """The answer's RRset must be validly signed by ``zone`` with one of ``keys``."""
        rrset = answer.rrset()
        if rrset is None:
            what = f"{answer.name} {answer.rdtype}"
            self._fail(zone, DnssecState.INDETERMINATE, f"{what}: {answer.detail}")
        self._check(rrset, answer.rrsig_rrset(), zone, keys)

    def _check(
        self,
        rrset: dns.rrset.RRset,
        sigs: dns.rrset.RRset | None,
        zone: dns.name.Name,
        keys: dns.rrset.RRset,
    ) -> None:
        what = f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}"
        if sigs is None:
            self._fail(zone, DnssecState.BOGUS, f"{what}: no RRSIG")
        try:
            dns.dnssec.validate(rrset, sigs, {zone: keys})
        except dns.exception.ValidationFailure as exc:
            self._fail(zone, DnssecState.BOGUS, f"{what}: signature by {zone} invalid ({exc})")

    def _fail(self, zone: dns.name.Name, state: DnssecState, reason: str) -> NoReturn:
        self._step(zone, state, reason)
        raise _ChainError(state, reason)

    def _no_ds_delegation(
        self, answer: DnsAnswer, name: dns.name.Name, zone: dns.name.Name, keys: dns.rrset.RRset
    ) -> bool:
        """From the signed denial in a DS NODATA answer: True if ``name`` is a delegation
        without DS, False if it is no zone cut; raises without a valid proof."""
        rrsets = parse_rrsets(answer.authority)
        sigs = {(r.name, r.covers): r for r in rrsets if r.rdtype == dns.rdatatype.RRSIG}
        for rrset in rrsets:
            verdict = _denial(rrset, name)
            if verdict is None:
                continue
            self._check(rrset, sigs.get((rrset.name, rrset.rdtype)), zone, keys)
            return verdict
        reason = f"no DS for {name} and no signed proof of its absence"
        self._fail(name, DnssecState.INDETERMINATE, reason)


def _denial(rrset: dns.rrset.RRset, name: dns.name.Name) -> bool | None:
    """What an NSEC/NSEC3 RRset says about DS at ``name``: True = delegation without DS,
    False = not a zone cut (or an empty non-terminal), None = not about ``name``."""
    for rdata in rrset:
        if isinstance(rdata, dns.rdtypes.ANY.NSEC.NSEC):
            if rrset.name == name:
                return _unsigned_delegation(rdata)
            if rrset.name < name < rdata.next and rdata.next.is_subdomain(name):
                return False  # empty non-terminal
        elif isinstance(rdata, dns.rdtypes.ANY.NSEC3.NSEC3):
            hashed = dns.dnssec.nsec3_hash(name, rdata.salt, rdata.iterations, rdata.algorithm)
            owner = rrset.name.labels[0].decode().upper()
            following = base64.b32hexencode(rdata.next).decode().rstrip("=").upper()
            if owner == hashed:
                return _unsigned_delegation(rdata)
            if rdata.flags & 1 and _between(owner, hashed, following):
                return True  # opt-out span: an unsigned delegation may exist here
    return None


def _unsigned_delegation(rdata: dns.rdtypes.ANY.NSEC.NSEC | dns.rdtypes.ANY.NSEC3.NSEC3) -> bool:
    types = set(_bitmap_types(rdata.windows))
    if dns.rdatatype.DS in types:
        return False
    return dns.rdatatype.NS in types and dns.rdatatype.SOA not in types


def _between(owner: str, value: str, following: str) -> bool:
    if owner < following:
        return owner < value < following
    return value > owner or value < following  # the last NSEC3 wraps around


def _bitmap_types(windows: Iterable[tuple[int, bytes]]) -> Iterator[int]:
    for window, bitmap in windows:
        for index, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    yield window * 256 + index * 8 + bit


def _descendants(ancestor: dns.name.Name, target: dns.name.Name) -> Iterator[dns.name.Name]:
    """Names from just below ``ancestor`` down to ``target``, one label at a time."""
    depth = len(ancestor)
    while depth < len(target):
        depth += 1
        yield dns.name.Name(target.labels[-depth:])


def _usable_ds(ds: DS) -> bool:
    policy = dns.dnssec.default_policy
    return ds.algorithm in _VALIDATABLE and policy.ok_to_validate_ds(DSDigest(ds.digest_type))


def _matches(zone: dns.name.Name, key: DNSKEY, ds: Iterable[DS]) -> bool:
    for d in ds:
        try:
            if dns.dnssec.make_ds(zone, key, d.digest_type, validating=True) == d:
                return True
        except (dns.exception.UnsupportedAlgorithm, dns.exception.DeniedByPolicy, ValueError):
            continue
    return False


def _typed(rdatas: Iterable[dns.rdata.Rdata], kind: type[R]) -> list[R]:
    return [r for r in rdatas if isinstance(r, kind)]


def _observed(answer: DnsAnswer, convert: Callable[[dns.rdata.Rdata], R]) -> Observed[list[R]]:
    error = answer.error
    if error is not None:
        return Observed[list[R]](error=error)
    return Observed[list[R]].of([convert(r) for r in answer.rdatas()])


def _ds_info(rdata: dns.rdata.Rdata) -> DsInfo:
    assert isinstance(rdata, DS)
    return DsInfo(
        key_tag=rdata.key_tag,
        algorithm=dns.dnssec.algorithm_to_text(rdata.algorithm),
        digest_type=DSDigest.to_text(rdata.digest_type),
        digest=rdata.digest.hex().upper(),
    )


def _dnskey_info(rdata: dns.rdata.Rdata) -> DnskeyInfo:
    assert isinstance(rdata, DNSKEY)
    return DnskeyInfo(
        key_tag=dns.dnssec.key_id(rdata),
        flags=rdata.flags,
        algorithm=dns.dnssec.algorithm_to_text(rdata.algorithm),
        bits=key_bits(rdata),
    )


def _signatures(answer: DnsAnswer) -> list[SignatureInfo]:
    sigs = answer.rrsig_rrset()
    return [
        SignatureInfo(
            rrset=f"{answer.canonical_name or answer.name} {answer.rdtype}",
            key_tag=sig.key_tag,
            algorithm=dns.dnssec.algorithm_to_text(sig.algorithm),
            signer=sig.signer.to_text(),
            inception=datetime.fromtimestamp(sig.inception, UTC),
            expiration=datetime.fromtimestamp(sig.expiration, UTC),
        )
        for sig in _typed(sigs or (), dns.rdtypes.ANY.RRSIG.RRSIG)
    ]
