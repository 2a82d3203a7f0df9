"""Cipher suites and key-exchange groups: decomposition, GL-3001 class, e-Gov list names.

An IANA suite name fixes the key exchange, authentication, bulk cipher and key size, mode
and MAC/PRF hash; :func:`parse_suite` splits it and :meth:`Suite.suite_class` puts it in
one class of cryptrec.md part 1 §1.2, given the components the ``tls.cipher`` rule allows.
:attr:`Suite.primitives` names the components as LS-0001 does. RSA authentication is not
named there: the suite does not fix the signature scheme (PKCS#1 v1.5 or PSS), and the
certificate checks judge the key and its signature.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, get_args

from tlsaudit.records.curves import normalise_curve

SuiteClass = Literal[
    "pfs-aead", "pfs-aead-short-tag", "pfs-cbc", "pfs-cbc-sha1", "rsa-kx", "3des", "forbidden"
]
SUITE_CLASSES: tuple[SuiteClass, ...] = get_args(SuiteClass)

# Cipher token of the name -> (LS-0001 name, key bits when the token does not say).
_CIPHERS: dict[str, tuple[str, int | None]] = {
    "AES": ("AES", None),
    "CAMELLIA": ("Camellia", None),
    "CHACHA20_POLY1305": ("ChaCha20-Poly1305", 256),
    "3DES_EDE": ("3-key Triple DES", 168),
    "DES_192_EDE3": ("3-key Triple DES", 168),
    "DES40": ("DES", 40),
    "DES": ("DES", 56),
    "RC4": ("RC4", None),
    "RC2": ("RC2", None),
    "IDEA": ("IDEA", 128),
    "SEED": ("SEED", 128),
    "ARIA": ("ARIA", None),
    "SM4": ("SM4", 128),
    "NULL": ("NULL", 0),
    "SHA256": ("NULL", 0),  # RFC 9150 integrity-only TLS 1.3 suites
    "SHA384": ("NULL", 0),
    "28147": ("GOST 28147-89", 256),
}
_CIPHER_RE = re.compile(
    "^(?P<alg>" + "|".join(sorted(_CIPHERS, key=len, reverse=True)) + ")(?P<rest>(?:_\\w+)?)$"
)
_BITS = re.compile("[0-9]{1,5}")
"""A key-size token: ASCII digits, never long enough to trouble ``int()``."""
_HASHES = {
    "SHA": "SHA-1",
    "SHA256": "SHA-256",
    "SHA384": "SHA-384",
    "MD5": "MD5",
    "SM3": "SM3",
    "IMIT": "GOST 28147-89 IMIT",
    "GOSTR3411": "GOST R 34.11-94",
}
_CIPHER_HASH_RE = re.compile("^(?P<cipher>.+?)(?:_(?P<hash>" + "|".join(_HASHES) + "))?$")
_KEX_NAMES = {"ECDHE": "ECDH", "ECDH": "ECDH", "DHE": "DH", "DH": "DH", "RSA": "RSAES-PKCS1-v1_5"}
_AUTH_NAMES = {"ECDSA": "ECDSA", "DSS": "DSA"}
_MODE_NAMES = {"GCM": "GCM", "CCM": "CCM", "CCM_8": "CCM", "CBC": "CBC"}

_AEAD_MODES = frozenset({"GCM", "CCM", "CCM_8"})
TLS13_KEX = "(EC)DHE"


@dataclass(frozen=True)
class Suite:
    """The components of one cipher suite (cipher and hash by their LS-0001 names)."""

    name: str
    kex: str
    """ECDHE, DHE, RSA (key transport), ECDH/DH (static), PSK, SRP, ...; (EC)DHE for TLS 1.3."""
    auth: str
    """RSA, ECDSA, DSS, anon, PSK, ...; "any" for TLS 1.3 (negotiated separately)."""
    cipher: str
    key_bits: int | None
    mode: str | None
    """GCM, CCM, CCM_8 (8-byte tag), CBC; None for stream ciphers and ChaCha20-Poly1305."""
    hash: str | None
    """MAC hash of CBC/stream suites, PRF/HKDF hash of AEAD suites."""
    export: bool
    tls13: bool

    @property
    def aead(self) -> bool:
        return self.mode in _AEAD_MODES or self.cipher == "ChaCha20-Poly1305"

    @property
    def mac(self) -> str | None:
        """HMAC for suites with a separate record MAC, else None."""
        return None if self.aead or self.hash is None else "HMAC"

    def suite_class(
        self, ciphers: Collection[str], key_exchanges: Collection[str], auths: Collection[str]
    ) -> SuiteClass:
        """The class of cryptrec.md §1.2, given the components a policy allows at all (LS-0001
        cipher names, key exchanges, authentications): anything else, an export suite or an
        MD5 MAC is ``forbidden``, which outranks 3DES."""
        if self.export or self.hash == "MD5" or self.cipher not in ciphers:
            return "forbidden"
        if not self.tls13 and (self.kex not in key_exchanges or self.auth not in auths):
            return "forbidden"
        if self.cipher == "3-key Triple DES":
            return "3des"
        if self.kex == "RSA":
            return "rsa-kx"
        if self.mode == "CCM_8":
            return "pfs-aead-short-tag"
        if self.aead:
            return "pfs-aead"
        if self.mode == "CBC":
            return "pfs-cbc-sha1" if self.hash == "SHA-1" else "pfs-cbc"
        return "forbidden"

    @property
    def primitives(self) -> tuple[str, ...]:
        """LS-0001 names of the components, key exchange first (none for TLS 1.3)."""
        names = (
            None if self.tls13 else _KEX_NAMES.get(self.kex, self.kex),
            _AUTH_NAMES.get(self.auth),
            self.cipher,
            _MODE_NAMES.get(self.mode or ""),
            self.mac,
            self.hash,
        )
        return tuple(dict.fromkeys(n for n in names if n))


def parse_suite(name: str) -> Suite:
    """Decompose an IANA (or SSL 2.0 ``SSL_CK_*``) suite name; unknown parts stay verbatim."""
    if name.startswith("SSL_CK_"):
        kx, _, cipher_hash = name.removeprefix("SSL_CK_").rpartition("_WITH_")
        kx, cipher_hash = "RSA", f"{kx}_{cipher_hash}"
    else:
        body = re.sub("^(TLS|SSL)_", "", name)
        kx, _, cipher_hash = body.rpartition("_WITH_")
    tls13 = not kx
    parts = kx.split("_") if kx else [TLS13_KEX, "any"]
    kept = [p for p in parts if not p.startswith("EXPORT")] or ["unknown"]
    split = _CIPHER_HASH_RE.match(cipher_hash)
    token, hash_token = (split["cipher"], split["hash"]) if split else (cipher_hash, None)
    cipher, bits, mode = _parse_cipher(token)
    return Suite(
        name=name,
        kex=kept[0],
        auth=kept[-1],
        cipher=cipher,
        key_bits=bits,
        mode=mode,
        hash=_HASHES.get(hash_token or ""),
        export="EXPORT" in name or bits == 40,
        tls13=tls13,
    )


def _parse_cipher(token: str) -> tuple[str, int | None, str | None]:
    """(LS-0001 name, key bits, mode) of a cipher token such as AES_128_CCM_8."""
    match = _CIPHER_RE.match(token)
    if match is None:
        return token, None, None
    cipher, bits = _CIPHERS[match["alg"]]
    rest = match["rest"].split("_")[1:]
    digits = [int(p) for p in rest if _BITS.fullmatch(p)]
    if "40" in rest or "EXPORT40" in rest:
        bits = 40
    elif bits is None and digits:
        bits = digits[0]
    mode = next((m for m in ("GCM", "CCM", "CBC") if m in rest), None)
    if mode == "CCM" and rest[-1] == "8":
        mode = "CCM_8"
    return cipher, bits, mode


GroupKind = Literal["ECDH", "DH", "ML-KEM", "hybrid"]


@dataclass(frozen=True)
class Group:
    """A key-exchange group: canonical name, kind and size.

    ``kind`` is the LS-0001 primitive (ECDH, DH, ML-KEM) or ``hybrid`` for an ECDH + ML-KEM
    combination (X25519MLKEM768); ``primitives`` names its parts as LS-0001 does.
    """

    name: str
    kind: GroupKind
    bits: int | None
    primitives: tuple[str, ...] = ()

    @property
    def post_quantum(self) -> bool:
        return self.kind in ("ML-KEM", "hybrid")


_GROUP_BITS = {"X25519": 256, "X448": 448}
_GROUP_SIZE_RE = re.compile(r"^(?:sec[pt]|brainpoolP|ffdhe)([0-9]{1,5})(?![0-9])", re.IGNORECASE)
_MLKEM_RE = re.compile(r"^(?P<ecdh>X25519|SecP256r1|SecP384r1)?MLKEM(?P<level>512|768|1024)$", re.I)
_HYBRID_PREFIXES = {"x25519": "X25519", "secp256r1": "SecP256r1", "secp384r1": "SecP384r1"}


def parse_group(name: str) -> Group:
    """Canonical name, kind and size of a named group or curve (prime256v1 = P-256 =
    secp256r1; ML-KEM groups as the TLS registry spells them, e.g. X25519MLKEM768); the
    size of an unknown group is None."""
    mlkem = _MLKEM_RE.match(name.replace("-", "").replace("_", ""))
    if mlkem is not None:
        kem = f"ML-KEM-{mlkem['level']}"
        if mlkem["ecdh"] is None:
            return Group(f"MLKEM{mlkem['level']}", "ML-KEM", None, (kem,))
        prefix = _HYBRID_PREFIXES[mlkem["ecdh"].lower()]
        return Group(f"{prefix}MLKEM{mlkem['level']}", "hybrid", None, ("ECDH", kem))
    canonical = normalise_curve(name)
    match = _GROUP_SIZE_RE.match(canonical)
    bits = int(match[1]) if match else _GROUP_BITS.get(canonical)
    if canonical.lower().startswith("ffdhe"):
        return Group(canonical.lower(), "DH", bits, ("DH",))
    return Group(canonical, "ECDH", bits, ("ECDH",))
