"""What sslyze cannot see, observed with tlsaudit's own ClientHello probes (:mod:`.hello`).

Run per endpoint once sslyze has scanned it: the suites of the IANA registry that sslyze's
OpenSSL builds cannot offer (by elimination, per protocol version), the TLS 1.3 groups
sslyze does not test (FFDHE, ML-KEM and its hybrids, brainpool), and TLS 1.3 session
resumption. Facts only; the evaluation judges them like sslyze's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tlsaudit.models.facts import (
    AcceptedSuite,
    Endpoint,
    ErrorReason,
    Observed,
    ProbeError,
    ProtocolVersion,
)
from tlsaudit.scan.hello import TlsVersion, enumerate_suites, probe_groups_tls13
from tlsaudit.scan.iana import CIPHER_SUITES, SUPPORTED_GROUPS, TLS13_SUITES, group_name
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.resumption import probe_tls13_resumption

PROBED_GROUPS: tuple[int, ...] = (
    0x0100,  # ffdhe2048
    0x0101,  # ffdhe3072
    0x0102,  # ffdhe4096
    0x0103,  # ffdhe6144
    0x0104,  # ffdhe8192
    0x11EC,  # X25519MLKEM768
    0x11EB,  # SecP256r1MLKEM768
    0x11ED,  # SecP384r1MLKEM1024
    0x0200,  # MLKEM512
    0x0201,  # MLKEM768
    0x0202,  # MLKEM1024
    0x001F,  # brainpoolP256r1tls13
    0x0020,  # brainpoolP384r1tls13
    0x0021,  # brainpoolP512r1tls13
)
"""TLS 1.3 groups asked one ClientHello each (sslyze tests X25519, X448 and the P curves)."""

SSLYZE_GROUPS = frozenset({0x0017, 0x0018, 0x0019, 0x001D, 0x001E})
"""The TLS 1.3 groups sslyze's OpenSSL 1.1.1 offers: secp256r1/384r1/521r1, X25519, X448."""

SUPPLEMENTED: tuple[ProtocolVersion, ...] = ("SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")


@dataclass(frozen=True)
class Supplement:
    """The own probes' observations for one endpoint."""

    suites: Mapping[ProtocolVersion, list[AcceptedSuite]]
    """Suites accepted beyond those sslyze tested, per version, in the server's pick order."""
    notes: list[str]
    """Coverage notes: a suite probe that failed, so those suites are not known."""
    group_probe: Observed[list[str]]
    """The groups asked about (value), or why the probe failed."""
    groups: list[str]
    """The probed groups the server accepts."""
    resumption: bool | None
    """TLS 1.3 resumption; None when TLS 1.3 is not accepted or the probe failed (noted)."""


def supplement(
    endpoint: Endpoint,
    tested: Mapping[ProtocolVersion, set[str] | None],
    tls13: bool,
    options: ScanOptions,
) -> Supplement:
    """Probe *endpoint* for what sslyze did not test.

    *tested* maps each version to the IANA names sslyze offered for it (None: sslyze's scan
    of that version failed, so it is not supplemented either); *tls13*: sslyze saw TLS 1.3.
    """
    server_name = endpoint.name
    suites: dict[ProtocolVersion, list[AcceptedSuite]] = {}
    notes = []
    for version in SUPPLEMENTED:
        names = tested.get(version)
        if names is None:
            continue
        codes = TLS13_SUITES if version == "TLS 1.3" else _legacy_codes()
        candidates = [code for code in codes if CIPHER_SUITES[code] not in names]
        found = enumerate_suites(
            endpoint.ip,
            endpoint.port,
            server_name,
            TlsVersion.of(version),
            candidates,
            options.timeout,
            endpoint.starttls,
        )
        suites[version] = [
            AcceptedSuite(
                name=code.name, openssl_name="", ephemeral_key=code.key, detected_by="client-hello"
            )
            for code in found.accepted
        ]
        if found.error is not None:
            notes.append(
                f"{version}: the ClientHello probe for the suites sslyze cannot offer failed"
                f" ({found.error.reason.value}: {found.error.detail}); beyond those listed,"
                " whether the server accepts such suites is not known."
            )
    if not tls13:
        return Supplement(suites, notes, _not_applicable(), [], None)
    probe = probe_groups_tls13(
        endpoint.ip,
        endpoint.port,
        server_name,
        PROBED_GROUPS,
        options.timeout,
        endpoint.starttls,
        connections=options.connections_per_server,
    )
    group_probe: Observed[list[str]]
    if probe.errors:
        group, error = next(iter(probe.errors.items()))
        detail = f"{group_name(group)}: {error.detail}"
        group_probe = Observed.failed(error.reason, detail)
    else:
        group_probe = Observed.of([SUPPORTED_GROUPS[g] for g in PROBED_GROUPS])
    resumed = probe_tls13_resumption(
        endpoint.ip, endpoint.port, server_name, options.timeout, endpoint.starttls
    )
    if isinstance(resumed, ProbeError):
        notes.append(
            f"TLS 1.3 session resumption not determined ({resumed.reason.value}: {resumed.detail})."
        )
    resumption = resumed if isinstance(resumed, bool) else None
    return Supplement(
        suites, notes, group_probe, [SUPPORTED_GROUPS[g] for g in probe.supported], resumption
    )


def _legacy_codes() -> list[int]:
    return [code for code in CIPHER_SUITES if code not in TLS13_SUITES]


def _not_applicable() -> Observed[list[str]]:
    return Observed.failed(ErrorReason.NOT_APPLICABLE, "TLS 1.3 not accepted")
