"""Suite decomposition and classification (cryptrec.md part 1 §1.2), named groups."""

from __future__ import annotations

import pytest
from sslyze.plugins.openssl_cipher_suites.cipher_suites import (
    _RFC_NAME_TO_KEY_SIZE_MAPPING as SSLYZE_KEY_SIZES,
)

from tlsaudit.evaluate.tls import classes_of
from tlsaudit.profiles import CipherRule, load_profile
from tlsaudit.records.suites import SUITE_CLASSES, Suite, SuiteClass, parse_group, parse_suite

POLICY = load_profile("cryptrec-high").rules["tls.cipher"].params(CipherRule)


def classify(suite: Suite) -> SuiteClass:
    """The class under the components the built-in ``tls.cipher`` rule allows (data)."""
    return classes_of(suite, POLICY)


# name: (kex, auth, cipher, key bits, mode, hash, class, LS-0001 names of the components)
DECOMPOSED = {
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": (
        "ECDHE", "RSA", "AES", 128, "GCM", "SHA-256", "pfs-aead",
        ("ECDH", "AES", "GCM", "SHA-256"),
    ),
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": (
        "ECDHE", "ECDSA", "ChaCha20-Poly1305", 256, None, "SHA-256", "pfs-aead",
        ("ECDH", "ECDSA", "ChaCha20-Poly1305", "SHA-256"),
    ),
    "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384": (
        "DHE", "RSA", "Camellia", 256, "GCM", "SHA-384", "pfs-aead",
        ("DH", "Camellia", "GCM", "SHA-384"),
    ),
    "TLS_DHE_RSA_WITH_AES_256_CCM": (
        "DHE", "RSA", "AES", 256, "CCM", None, "pfs-aead", ("DH", "AES", "CCM"),
    ),
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8": (
        "ECDHE", "ECDSA", "AES", 128, "CCM_8", None, "pfs-aead-short-tag",
        ("ECDH", "ECDSA", "AES", "CCM"),
    ),
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": (
        "ECDHE", "RSA", "AES", 256, "CBC", "SHA-384", "pfs-cbc",
        ("ECDH", "AES", "CBC", "HMAC", "SHA-384"),
    ),
    "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA": (
        "DHE", "RSA", "Camellia", 128, "CBC", "SHA-1", "pfs-cbc-sha1",
        ("DH", "Camellia", "CBC", "HMAC", "SHA-1"),
    ),
    "TLS_RSA_WITH_AES_128_GCM_SHA256": (
        "RSA", "RSA", "AES", 128, "GCM", "SHA-256", "rsa-kx",
        ("RSAES-PKCS1-v1_5", "AES", "GCM", "SHA-256"),
    ),
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": (
        "RSA", "RSA", "3-key Triple DES", 168, "CBC", "SHA-1", "3des",
        ("RSAES-PKCS1-v1_5", "3-key Triple DES", "CBC", "HMAC", "SHA-1"),
    ),
    "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256": (
        "DHE", "DSS", "AES", 128, "GCM", "SHA-256", "forbidden",
        ("DH", "DSA", "AES", "GCM", "SHA-256"),
    ),
    "TLS_ECDH_anon_WITH_AES_128_CBC_SHA": (
        "ECDH", "anon", "AES", 128, "CBC", "SHA-1", "forbidden",
        ("ECDH", "AES", "CBC", "HMAC", "SHA-1"),
    ),
    "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA": (
        "DH", "anon", "3-key Triple DES", 168, "CBC", "SHA-1", "forbidden",
        ("DH", "3-key Triple DES", "CBC", "HMAC", "SHA-1"),
    ),
    "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA": (
        "RSA", "RSA", "DES", 40, "CBC", "SHA-1", "forbidden",
        ("RSAES-PKCS1-v1_5", "DES", "CBC", "HMAC", "SHA-1"),
    ),
    "TLS_PSK_WITH_AES_128_GCM_SHA256": (
        "PSK", "PSK", "AES", 128, "GCM", "SHA-256", "forbidden",
        ("PSK", "AES", "GCM", "SHA-256"),
    ),
    "SSL_CK_DES_192_EDE3_CBC_WITH_MD5": (
        "RSA", "RSA", "3-key Triple DES", 168, "CBC", "MD5", "forbidden",
        ("RSAES-PKCS1-v1_5", "3-key Triple DES", "CBC", "HMAC", "MD5"),
    ),
    "TLS_AES_256_GCM_SHA384": (
        "(EC)DHE", "any", "AES", 256, "GCM", "SHA-384", "pfs-aead", ("AES", "GCM", "SHA-384"),
    ),
    "TLS_AES_128_CCM_8_SHA256": (
        "(EC)DHE", "any", "AES", 128, "CCM_8", "SHA-256", "pfs-aead-short-tag",
        ("AES", "CCM", "SHA-256"),
    ),
    "TLS_SHA256_SHA256": (
        "(EC)DHE", "any", "NULL", 0, None, "SHA-256", "forbidden", ("NULL", "HMAC", "SHA-256"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", DECOMPOSED)
def test_decomposition(name: str) -> None:
    kex, auth, cipher, bits, mode, hash_, suite_class, primitives = DECOMPOSED[name]
    suite = parse_suite(name)
    assert (suite.kex, suite.auth, suite.cipher, suite.key_bits, suite.mode, suite.hash) == (
        kex,
        auth,
        cipher,
        bits,
        mode,
        hash_,
    )
    assert classify(suite) == suite_class
    assert suite.primitives == primitives


# Every suite sslyze can test, without the TLS_ prefix (sslyze omits it on a few names).
PFS_AEAD = {
    "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE_ECDSA_WITH_AES_256_CCM",
    "DHE_RSA_WITH_AES_128_CCM", "DHE_RSA_WITH_AES_256_CCM",
    "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "AES_128_GCM_SHA256", "AES_256_GCM_SHA384", "CHACHA20_POLY1305_SHA256", "AES_128_CCM_SHA256",
}  # fmt: skip
FORBIDDEN_MARKERS = (
    "RC4", "_DES_", "DES40", "NULL", "anon", "EXPORT", "IDEA", "SEED", "ARIA", "DSS", "PSK",
    "SRP", "KRB5", "GOST", "MD5", "ECDH_", "DH_RSA", "SSL_CK",
)  # fmt: skip
# sslyze's key-size table disagrees with the suite name here; the name is right.
KEY_SIZE_ERRATA = {
    "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256": "sslyze lists 256 bits for an ARIA-128 suite",
    "TLS_RSA_WITH_AES_256_CCM_8": "sslyze lists 128 bits for an AES-256 suite",
}


def short(name: str) -> str:
    return name.removeprefix("TLS_")


def test_pfs_aead_is_exactly_part_1() -> None:
    aead = {short(n) for n in SSLYZE_KEY_SIZES if classify(parse_suite(n)) == "pfs-aead"}
    assert aead == PFS_AEAD


@pytest.mark.parametrize("name", sorted(SSLYZE_KEY_SIZES))
def test_every_testable_suite_is_classified(name: str) -> None:
    suite = parse_suite(name)
    assert classify(suite) in SUITE_CLASSES
    if any(marker in name for marker in FORBIDDEN_MARKERS):
        assert classify(suite) == "forbidden"
    elif "3DES" in name:
        assert classify(suite) == "3des"
    if name not in KEY_SIZE_ERRATA:
        assert suite.key_bits == SSLYZE_KEY_SIZES[name]


@pytest.mark.parametrize(
    ("name", "canonical", "kind", "bits"),
    [
        ("prime256v1", "secp256r1", "ECDH", 256),
        ("P-384", "secp384r1", "ECDH", 384),
        ("x25519", "X25519", "ECDH", 256),
        ("X448", "X448", "ECDH", 448),
        ("brainpoolP512r1", "brainpoolP512r1", "ECDH", 512),
        ("sect163k1", "sect163k1", "ECDH", 163),
        ("ffdhe3072", "ffdhe3072", "DH", 3072),
        ("X25519MLKEM768", "X25519MLKEM768", "hybrid", None),
        ("secp256r1mlkem768", "SecP256r1MLKEM768", "hybrid", None),
        ("SecP384r1MLKEM1024", "SecP384r1MLKEM1024", "hybrid", None),
        ("MLKEM1024", "MLKEM1024", "ML-KEM", None),
        ("brainpoolP256r1tls13", "brainpoolP256r1tls13", "ECDH", 256),
    ],
)
def test_groups(name: str, canonical: str, kind: str, bits: int | None) -> None:
    group = parse_group(name)
    assert (group.name, group.kind, group.bits) == (canonical, kind, bits)
    assert group.post_quantum == (kind in ("ML-KEM", "hybrid"))


def test_hybrid_group_names_its_listed_parts() -> None:
    assert parse_group("X25519MLKEM768").primitives == ("ECDH", "ML-KEM-768")
    assert parse_group("MLKEM512").primitives == ("ML-KEM-512",)
