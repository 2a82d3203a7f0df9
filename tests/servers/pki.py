"""Leaves issued at test time by the test PKI's intermediate (``fixtures/certs``), dated
from the tests' pinned ``now``, never from the clock."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]
CERTS_DIR = REPO_ROOT / "fixtures" / "certs"
CA_CERT = CERTS_DIR / "ca.pem"


def _load_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def issue_certificate(
    names: tuple[str, ...],
    out: Path,
    *,
    now: datetime.datetime,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    stem: str = "issued",
) -> tuple[Path, Path]:
    """A leaf for ``names`` signed by the test intermediate: (chain file, key file).

    By default valid from a day before ``now`` (the tests' pinned evaluation time) to the
    end of the intermediate (2045-01-01, like every fixture leaf): the evaluation judges it
    at ``now``, while scan-time checks (sslyze's path validation, the MTA-STS policy fetch)
    run on the real clock, which the tests cannot pin, so it must also hold on the day the
    suite runs. The key is good-rsa3072's (RSA-3072: no 112-bit strength past 2030; no key
    generation at start-up)."""
    issuer_cert = x509.load_pem_x509_certificate((CERTS_DIR / "intermediate.pem").read_bytes())
    issuer_key = _load_rsa_key(CERTS_DIR / "intermediate.key")
    key = _load_rsa_key(CERTS_DIR / "good-rsa3072.key")
    start = not_before or now - datetime.timedelta(days=1)
    end = not_after or issuer_cert.not_valid_after_utc
    assert now >= issuer_cert.not_valid_before_utc, "now predates the test PKI"
    assert issuer_cert.not_valid_after_utc - now > datetime.timedelta(days=2 * 365), (
        "the test PKI is about to expire: run fixtures/certs/generate.py"
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    chain, key_file = out / f"{stem}-chain.pem", out / f"{stem}.key"
    pem = serialization.Encoding.PEM
    chain.write_bytes(cert.public_bytes(pem) + issuer_cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_file
