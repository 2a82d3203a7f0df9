"""Canonical names of elliptic curves and named groups, shared by scanning and evaluation."""

from __future__ import annotations

_CURVE_ALIASES = {
    "prime192v1": "secp192r1",
    "p-192": "secp192r1",
    "p-224": "secp224r1",
    "prime256v1": "secp256r1",
    "p-256": "secp256r1",
    "p-384": "secp384r1",
    "p-521": "secp521r1",
    "x25519": "X25519",
    "x448": "X448",
    "brainpoolp256r1": "brainpoolP256r1",
    "brainpoolp384r1": "brainpoolP384r1",
    "brainpoolp512r1": "brainpoolP512r1",
}


def normalise_curve(name: str) -> str:
    """Canonical curve name: SECG names (secp256r1), ``X25519``/``X448``, brainpoolP256r1."""
    lowered = name.lower()
    if lowered in _CURVE_ALIASES:
        return _CURVE_ALIASES[lowered]
    return lowered if lowered.startswith(("secp", "sect")) else name
