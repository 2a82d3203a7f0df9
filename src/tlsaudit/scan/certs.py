"""Convert sslyze's certificate analysis into :mod:`tlsaudit.models.facts` certificate facts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.ocsp import OCSPResponse, OCSPResponseStatus
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from sslyze import (
    CertificateDeploymentAnalysisResult,
    CertificateInfoScanResult,
    PathValidationResult,
)

from tlsaudit.models.facts import (
    CertificateDeployment,
    CertificateFacts,
    CertificateInfo,
    KeyInfo,
    TrustResult,
)
from tlsaudit.records.curves import normalise_curve


def certificate_info(
    result: CertificateInfoScanResult, host: str, ca_file: Path | None
) -> CertificateInfo:
    """The deployments sslyze found with SNI; the no-SNI deployment is not kept.

    *host* is the name the user scans for: the SNI name when one was given, else the target's
    host (an address only when the target is an address and no SNI was given).
    """
    return CertificateInfo(
        hostname=host,
        deployments=[deployment(d, host, ca_file) for d in result.certificate_deployments],
    )


def deployment(
    analysis: CertificateDeploymentAnalysisResult, host: str, ca_file: Path | None
) -> CertificateDeployment:
    """One served chain: the chain as received, the first verified path, trust per store."""
    leaf = analysis.received_certificate_chain[0]
    verified = analysis.verified_certificate_chain or []
    ocsp = analysis.ocsp_response
    return CertificateDeployment(
        received_chain=[certificate(c) for c in analysis.received_certificate_chain],
        verified_chain=[certificate(c) for c in verified],
        trust=[_trust(r, ca_file) for r in analysis.path_validation_results],
        hostname_matches=hostname_matches(leaf, host),
        ocsp_stapled=ocsp is not None,
        ocsp_status=None if ocsp is None else _ocsp_status(ocsp, leaf),
        chain_order_valid=analysis.received_chain_has_valid_order,
        anchor_sent=analysis.received_chain_contains_anchor_certificate,
    )


def certificate(cert: x509.Certificate) -> CertificateFacts:
    """Facts about one certificate, read with ``cryptography``."""
    san = _san(cert)
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        sha256=_fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key=_key_info(cert),
        signature_algorithm=_oid_name(cert.signature_algorithm_oid),
        signature_hash=_signature_hash(cert),
        self_signed=_self_signed(cert),
        is_ca=_is_ca(cert),
        san_dns=san.get_values_for_type(x509.DNSName) if san else [],
        san_ip=[str(ip) for ip in san.get_values_for_type(x509.IPAddress)] if san else [],
        ca_issuers=_ca_issuers(cert),
        key_usage=_key_usage(cert),
        extended_key_usage=_extended_key_usage(cert),
        must_staple=_must_staple(cert),
        sct_count=_sct_count(cert),
    )


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 name check of *host* against the certificate.

    An IP address must appear as an iPAddress SAN. A name must match a dNSName SAN, with a
    wildcard only as the whole left-most label of a name of three or more labels; the
    subject CN is consulted only when the certificate has no subjectAltName extension.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    san = _san(cert)
    if address is not None:
        return san is not None and address in san.get_values_for_type(x509.IPAddress)
    if san is not None:
        names = san.get_values_for_type(x509.DNSName)
    else:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    wanted = _canonical_dns(host)
    return any(_dns_name_matches(_canonical_dns(name), wanted) for name in names)


def _canonical_dns(name: str) -> str:
    name = name.rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _dns_name_matches(pattern: str, host: str) -> bool:
    if not pattern.startswith("*."):
        return pattern == host
    first, _, rest = host.partition(".")
    return bool(first) and rest == pattern[2:] and "." in rest


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    san = _extension(cert, x509.SubjectAlternativeName)
    return san if isinstance(san, x509.SubjectAlternativeName) else None


_SIGNATURE_OIDS = {
    **{
        f"2.16.840.1.101.3.4.3.{arc}": f"id-ecdsa-with-sha3-{bits}"
        for arc, bits in ((9, 224), (10, 256), (11, 384), (12, 512))
    },
    **{
        f"2.16.840.1.101.3.4.3.{arc}": f"id-rsassa-pkcs1-v1_5-with-sha3-{bits}"
        for arc, bits in ((13, 224), (14, 256), (15, 384), (16, 512))
    },
}
"""Signature OIDs (RFC 8692, NIST CSOR) that ``cryptography`` has no name for."""


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    """OpenSSL-style name of an OID (sha256WithRSAEncryption), else its dotted form."""
    name = oid._name
    if name != "Unknown OID":
        return name
    return _SIGNATURE_OIDS.get(oid.dotted_string, oid.dotted_string)


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    """The extension's value; None when absent or unreadable (a malformed extension)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _ca_issuers(cert: x509.Certificate) -> list[str]:
    aia = _extension(cert, x509.AuthorityInformationAccess)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return []
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _key_usage(cert: x509.Certificate) -> list[str] | None:
    usage = _extension(cert, x509.KeyUsage)
    if not isinstance(usage, x509.KeyUsage):
        return None
    bits = [name for name in _KEY_USAGE_BITS if getattr(usage, name)]
    return [_camel(name) for name in bits]


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


def _extended_key_usage(cert: x509.Certificate) -> list[str] | None:
    usage = _extension(cert, x509.ExtendedKeyUsage)
    if not isinstance(usage, x509.ExtendedKeyUsage):
        return None
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in usage]


def _must_staple(cert: x509.Certificate) -> bool:
    feature = _extension(cert, x509.TLSFeature)
    return isinstance(feature, x509.TLSFeature) and (
        x509.TLSFeatureType.status_request in list(feature)
    )


def _sct_count(cert: x509.Certificate) -> int:
    scts = _extension(cert, x509.PrecertificateSignedCertificateTimestamps)
    return len(scts) if isinstance(scts, x509.PrecertificateSignedCertificateTimestamps) else 0


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _key_info(cert: x509.Certificate) -> KeyInfo:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return KeyInfo(algorithm="RSA", size=key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyInfo(
            algorithm="EC", size=key.curve.key_size, curve=normalise_curve(key.curve.name)
        )
    if isinstance(key, dsa.DSAPublicKey):
        return KeyInfo(algorithm="DSA", size=key.key_size)
    # EdDSA: RFC 8032's b, the bit length of an encoded public key.
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyInfo(algorithm="Ed25519", size=256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyInfo(algorithm="Ed448", size=456)
    return KeyInfo(algorithm="other", size=0)


def _signature_hash(cert: x509.Certificate) -> str | None:
    """The signature's hash; None for EdDSA and for hashes ``cryptography`` does not know."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return None if algorithm is None else algorithm.name


def _self_signed(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return isinstance(constraints, x509.BasicConstraints) and constraints.ca


def _trust(result: PathValidationResult, ca_file: Path | None) -> TrustResult:
    store = result.trust_store
    is_ca_file = ca_file is not None and store.path == ca_file
    return TrustResult(
        store=f"ca-file ({ca_file})" if is_ca_file else f"{store.name} {store.version}",
        valid=result.was_validation_successful,
        error=result.validation_error,
        verified_chain=[_fingerprint(c) for c in result.verified_certificate_chain or []],
    )


def _ocsp_status(response: OCSPResponse, leaf: x509.Certificate) -> str:
    """``good``/``revoked``/``unknown`` for the leaf, or the responder's error status."""
    if response.response_status != OCSPResponseStatus.SUCCESSFUL:
        return response.response_status.name.lower()
    for single in response.responses:
        if single.serial_number == leaf.serial_number:
            return single.certificate_status.name.lower()
    return "no_response_for_leaf"
