"""The chain walker of tlsaudit.scan.dnssec on small hierarchies signed here with
dnspython (the cases knot and unbound do not produce: DNSKEY anchors, expired
signatures, unsupported DS algorithms, empty non-terminals, NSEC3, missing proofs)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec
from dns.dnssectypes import Algorithm
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from tlsaudit.models.dns import DnsAnswer, DnssecState, DnsStatus
from tlsaudit.scan.dnssec import TrustAnchor, validate_chain

DAY = 86400
ECDSA = Algorithm.ECDSAP256SHA256


def rrset(owner: str, rdtype: str, *rdatas: str) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, 300, "IN", rdtype, list(rdatas))


@dataclass
class Zone:
    """A zone with one ECDSA key; its RRsets signed on demand."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def dnskey(self) -> DNSKEY:
        return dns.dnssec.make_dnskey(self.key.public_key(), ECDSA, flags=257)

    def ds(self) -> str:
        return str(dns.dnssec.make_ds(self.name, self.dnskey, "SHA256"))

    def answer(self, data: dns.rrset.RRset, *, expired: bool = False) -> DnsAnswer:
        now = int(time.time())
        window = (now - 2 * DAY, now - DAY) if expired else (now - DAY, now + 7 * DAY)
        sig = dns.dnssec.sign(
            data,
            self.key,
            dns.name.from_text(self.name),
            self.dnskey,
            inception=window[0],
            expiration=window[1],
        )
        return DnsAnswer(
            name=data.name.to_text(),
            rdtype=dns.rdatatype.to_text(data.rdtype),
            status=DnsStatus.ANSWER,
            records=[r.to_text() for r in data],
            ttl=300,
            rrsigs=[str(sig)],
        )

    def keys(self) -> DnsAnswer:
        return self.answer(rrset(self.name, "DNSKEY", str(self.dnskey)))

    def denial(self, name: str, record: dns.rrset.RRset) -> DnsAnswer:
        """A DS NODATA answer whose authority section holds ``record`` signed by this zone."""
        signed = self.answer(record)
        lines = rrset(record.name.to_text(), "RRSIG", *signed.rrsigs).to_text().splitlines()
        return DnsAnswer(
            name=name,
            rdtype="DS",
            status=DnsStatus.NODATA,
            authority=record.to_text().splitlines() + lines,
        )


class Answers(dict[tuple[str, str], DnsAnswer]):
    """A fake resolver: unknown questions time out."""

    def __call__(self, name: str, rdtype: str) -> DnsAnswer:
        return self.get((name, rdtype)) or DnsAnswer(
            name=name, rdtype=rdtype, status=DnsStatus.TIMEOUT, reason="no response"
        )


def signed_zone(answers: Answers, zone: Zone, *, expired: bool = False) -> None:
    answers[(zone.name, "DNSKEY")] = zone.keys()
    soa = rrset(zone.name, "SOA", f"ns.{zone.name} h.{zone.name} 1 3600 900 1209600 300")
    answers[(zone.name, "SOA")] = zone.answer(soa, expired=expired)
    answers[(zone.name, "NS")] = zone.answer(rrset(zone.name, "NS", f"ns.{zone.name}"))


def hierarchy(*, expired: bool = False) -> tuple[Zone, Zone, Answers]:
    """test. (the anchor) delegating securely to a.test."""
    parent, child, answers = Zone("test."), Zone("a.test."), Answers()
    signed_zone(answers, parent)
    signed_zone(answers, child, expired=expired)
    answers[("a.test.", "DS")] = parent.answer(rrset("a.test.", "DS", child.ds()))
    return parent, child, answers


def anchor(zone: Zone, *, key: bool = False) -> TrustAnchor:
    ds = dns.rdata.from_text("IN", "DS", zone.ds())
    assert isinstance(ds, DS)
    name = dns.name.from_text(zone.name)
    return TrustAnchor(name, () if key else (ds,), (zone.dnskey,) if key else (), "test")


def test_secure_from_ds_and_from_dnskey_anchor() -> None:
    parent, _, answers = hierarchy()
    for trusted in (anchor(parent), anchor(parent, key=True)):
        facts = validate_chain("a.test.", [trusted], answers)
        assert facts.state is DnssecState.SECURE, facts.reason
        assert [step.zone for step in facts.chain] == ["test.", "a.test."]
        assert {s.rrset for s in facts.signatures} == {
            "a.test. DNSKEY",
            "a.test. DS",
            "a.test. SOA",
            "a.test. NS",
        }


def test_expired_signature_is_bogus() -> None:
    parent, _, answers = hierarchy(expired=True)
    facts = validate_chain("a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.BOGUS
    assert facts.reason.startswith("a.test. SOA: signature by a.test. invalid")


def test_wrong_anchor_is_bogus_and_uncovered_zone_indeterminate() -> None:
    parent, _, answers = hierarchy()
    facts = validate_chain("a.test.", [anchor(Zone("test."))], answers)
    assert facts.state is DnssecState.BOGUS
    assert facts.reason.startswith("no DNSKEY of test.")
    facts = validate_chain("a.example.", [anchor(parent)], answers)
    assert facts.state is DnssecState.INDETERMINATE
    assert facts.reason == "no trust anchor covers a.example. (test.)"


def test_unsupported_ds_algorithm_is_insecure() -> None:
    parent, child, answers = hierarchy()
    gost = child.ds().split()
    gost[1] = "12"  # ECC-GOST: dnspython does not validate it
    answers[("a.test.", "DS")] = parent.answer(rrset("a.test.", "DS", " ".join(gost)))
    facts = validate_chain("a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.INSECURE
    assert "unsupported algorithms" in facts.reason


def test_missing_ds_needs_a_signed_proof() -> None:
    parent, _, answers = hierarchy()
    del answers[("a.test.", "DS")]
    answers[("a.test.", "DS")] = DnsAnswer(name="a.test.", rdtype="DS", status=DnsStatus.NODATA)
    facts = validate_chain("a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.INDETERMINATE
    assert facts.reason == "no DS for a.test. and no signed proof of its absence"
    nsec = rrset("a.test.", "NSEC", "b.test. NS RRSIG NSEC")
    answers[("a.test.", "DS")] = parent.denial("a.test.", nsec)
    facts = validate_chain("a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.INSECURE
    assert facts.reason == "test. proves that the delegation a.test. has no DS"


def test_nsec3_proof_of_an_unsigned_delegation() -> None:
    parent, _, answers = hierarchy()
    hashed = dns.dnssec.nsec3_hash("a.test.", None, 0, 1)
    nsec3 = rrset(f"{hashed.lower()}.test.", "NSEC3", f"1 0 0 - {'0' * 32} NS")
    answers[("a.test.", "DS")] = parent.denial("a.test.", nsec3)
    facts = validate_chain("a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.INSECURE


def test_empty_non_terminal_is_walked_through() -> None:
    """x.a.test. is a zone below the empty non-terminal a.test. of test."""
    parent, answers = Zone("test."), Answers()
    child = Zone("x.a.test.")
    signed_zone(answers, parent)
    signed_zone(answers, child)
    covering = rrset("test.", "NSEC", "x.a.test. NS SOA RRSIG NSEC DNSKEY")
    answers[("a.test.", "DS")] = parent.denial("a.test.", covering)
    answers[("x.a.test.", "DS")] = parent.answer(rrset("x.a.test.", "DS", child.ds()))
    facts = validate_chain("x.a.test.", [anchor(parent)], answers)
    assert facts.state is DnssecState.SECURE, facts.reason
    assert [step.zone for step in facts.chain] == ["test.", "x.a.test."]
