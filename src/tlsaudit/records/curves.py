"""Canonical names of elliptic curves and named groups, shared by scanning and evaluation."""

from __future__ import annotations

from functools import cache

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


def ffdhe_name(prime: int, generator: int) -> str | None:
    """The RFC 7919 group (ffdhe2048 ... ffdhe8192) a DH prime and generator are, if any."""
    return _ffdhe_primes().get(prime) if generator == 2 else None


@cache
def _ffdhe_primes() -> dict[int, str]:
    """RFC 7919 groups by prime: p = 2^b - 2^(b-64) + (floor(2^(b-130) e) + X) 2^64 - 1."""
    offsets = {2048: 560316, 3072: 2625351, 4096: 10965728, 6144: 15588203, 8192: 10759463}
    return {
        2**bits - 2 ** (bits - 64) + (_e_times_power_of_two(bits - 130) + x) * 2**64 - 1: (
            f"ffdhe{bits}"
        )
        for bits, x in offsets.items()
    }


def _e_times_power_of_two(bits: int) -> int:
    """floor(e * 2^bits), summing 1/k! with 64 guard bits."""
    scaled = 1 << (bits + 64)
    total, term, k = 0, scaled, 0
    while term:
        total += term
        k += 1
        term //= k
    return total >> 64
