"""DKIM key records, MTA-STS/TLS-RPT records and policies, DANE matching (pure)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from servers.smtp import DANE_PEM
from tlsaudit.records import dane
from tlsaudit.records.dkim import COMMON_SELECTORS, looks_like_key, parse_dkim
from tlsaudit.records.mtasts import (
    is_sts,
    is_tlsrpt,
    parse_policy,
    sts_record_errors,
    tlsrpt_errors,
)

DER = serialization.Encoding.DER


def rsa_key(bits: int, pkcs1: bool = False) -> str:
    public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    form = (
        serialization.PublicFormat.PKCS1
        if pkcs1
        else serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(public.public_bytes(DER, form)).decode()


ED25519 = base64.b64encode(
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()
RSA_1024 = rsa_key(1024)


@pytest.mark.parametrize(
    ("record", "key_type", "bits"),
    [
        (f"v=DKIM1; k=rsa; p={RSA_1024}", "rsa", 1024),
        (f"p={RSA_1024}", "rsa", 1024),
        (f"v=DKIM1; p={rsa_key(1024, pkcs1=True)}", "rsa", 1024),
        (f"v=DKIM1; k=ed25519; p={ED25519}", "ed25519", 256),
        (f"v=DKIM1; p={RSA_1024[:40]} {RSA_1024[40:]}", "rsa", 1024),
    ],
)
def test_keys_are_measured(record: str, key_type: str, bits: int) -> None:
    key = parse_dkim(record)
    assert key.errors == ()
    assert (key.key_type, key.bits) == (key_type, bits)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("v=DKIM2; p=" + RSA_1024, "expected DKIM1"),
        (f"k=rsa; v=DKIM1; p={RSA_1024}", "must be the first tag"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("v=DKIM1; p=!!!notbase64", "not valid base64"),
        ("v=DKIM1; p=AAAA", "not an RSA public key"),
        (f"v=DKIM1; k=dsa; p={RSA_1024}", "unknown key type"),
        ("v=DKIM1; k=ed25519; p=AAAA", "32 bytes"),
        (f"v=DKIM1; k=rsa; p={ED25519}", "not an RSA public key"),
        (f"v=DKIM1; s=tls; p={RSA_1024}", "not usable for email"),
        (f"v=DKIM1; p={RSA_1024}; p={RSA_1024}", "more than once"),
    ],
)
def test_broken_keys(record: str, message: str) -> None:
    errors = parse_dkim(record).errors
    assert any(message in e for e in errors), errors


def test_revoked_testing_and_hashes() -> None:
    assert parse_dkim("v=DKIM1; p=").revoked
    assert parse_dkim("v=DKIM1; p=").errors == ()
    key = parse_dkim(f"v=DKIM1; h=sha1:SHA256; t=y:s; p={RSA_1024}")
    assert key.hashes == ("sha1", "sha256")
    assert key.testing
    assert key.flags == ("y", "s")
    assert not parse_dkim(f"p={RSA_1024}").testing


def test_looks_like_key() -> None:
    assert looks_like_key(b"v=DKIM1; p=")
    assert looks_like_key(b"k=rsa; p=MIGf")
    assert not looks_like_key(b"v=spf1 -all")
    assert not looks_like_key(b"google-site-verification=abc")


def test_common_selectors_are_unique() -> None:
    assert len(set(COMMON_SELECTORS)) == len(COMMON_SELECTORS)
    assert {"selector1", "selector2", "google", "default", "s1"} <= set(COMMON_SELECTORS)


def test_sts_and_tlsrpt_records() -> None:
    assert is_sts(b"v=STSv1; id=20261123")
    assert not is_sts(b"v=STSv10; id=1")
    assert sts_record_errors(b"v=STSv1; id=20261123T000000") == []
    assert sts_record_errors(b"v=STSv1; id=") != []
    assert sts_record_errors(b"v=STSv1; id=" + b"1" * 33) != []
    assert sts_record_errors(b"v=STSv1; id=2026-11-23") != []
    assert is_tlsrpt(b"v=TLSRPTv1; rua=mailto:r@example.com")
    assert tlsrpt_errors(b"v=TLSRPTv1; rua=mailto:r@example.com,https://r.example/x") == []
    assert tlsrpt_errors(b"v=TLSRPTv1") == ["no rua= tag"]
    assert tlsrpt_errors(b"v=TLSRPTv1; rua=ftp://x") != []


def test_policy_parsing_and_mx_patterns() -> None:
    policy = parse_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.go.jp\r\nmx: *.mail.example.go.jp\r\n"
        "max_age: 604800\r\nextension: ignored\r\n"
    )
    assert policy.errors == ()
    assert (policy.mode, policy.max_age) == ("enforce", 604800)
    assert policy.matches("MX1.example.go.jp.")
    assert policy.matches("a.mail.example.go.jp")
    assert not policy.matches("a.b.mail.example.go.jp")
    assert not policy.matches("mail.example.go.jp")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("mode: enforce\nmx: a.example\nmax_age: 1\n", "version"),
        ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "above one year"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: soon\n", "max_age"),
        ("version: STSv1\nmode: testing\nmax_age: 86400\n", "no mx"),
        ("version: STSv1\nmode enforce\n", "not 'key: value'"),
    ],
)
def test_bad_policies(body: str, message: str) -> None:
    errors = parse_policy(body).errors
    assert any(message in e for e in errors), errors


def _served() -> tuple[bytes, bytes]:
    cert = x509.load_pem_x509_certificate(DANE_PEM.read_bytes())
    spki = cert.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_bytes(DER), spki


def test_dane_matching() -> None:
    der, spki = _served()
    other = dane.Tlsa(2, 0, 1, hashlib.sha256(b"another CA").digest())
    records = [
        other,
        dane.Tlsa(3, 1, 1, hashlib.sha256(spki).digest()),
    ]
    assert dane.match(records, [der]) == records[1]
    assert dane.match([dane.Tlsa(3, 0, 2, hashlib.sha512(der).digest())], [der]) is not None
    assert dane.match([dane.Tlsa(3, 0, 0, der)], [der]) is not None
    # PKIX usages are unusable for SMTP, even when they match.
    assert dane.match([dane.Tlsa(1, 1, 1, hashlib.sha256(spki).digest())], [der]) is None
    # DANE-TA matches any certificate of the chain; DANE-EE only the leaf.
    anchor = dane.Tlsa(2, 0, 1, hashlib.sha256(der).digest())
    assert dane.match([anchor], [b"leaf", der]) == anchor
    assert dane.match([dane.Tlsa(3, 0, 1, anchor.data)], [b"leaf", der]) is None
    assert dane.match([other], [der]) is None


def test_tlsa_parse() -> None:
    parsed = dane.Tlsa.parse("3 1 1 AABB CCDD")
    assert parsed == dane.Tlsa(3, 1, 1, bytes.fromhex("aabbccdd"))
    assert dane.Tlsa.parse("3 x 1 aa") is None
    assert dane.Tlsa.parse("3 1 1 zz") is None
