"""What sslyze cannot see, observed with tlsaudit's own ClientHello probes (:mod:`.hello`).

Run per endpoint once sslyze has scanned it: the suites of the IANA registry that sslyze's
OpenSSL builds cannot offer (by elimination, per protocol version), the TLS 1.3 groups
sslyze does not test (FFDHE, ML-KEM and its hybrids, brainpool), and TLS 1.3 session
resumption. Facts only; the evaluation judges them like sslyze's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from concurrent.futures import Future
from dataclasses import dataclass

from tlsaudit.models.facts import (
    AcceptedSuite,
    Endpoint,
    ErrorReason,
    Observed,
    ProbeError,
    ProtocolFacts,
    ProtocolVersion,
)
from tlsaudit.scan.hello import (
    SuiteEnumeration,
    TlsVersion,
    eliminate_groups_tls13,
    enumerate_suites,
    probe_groups_tls13,
)
from tlsaudit.scan.iana import CIPHER_SUITES, SUPPORTED_GROUPS, TLS13_SUITES, group_name
from tlsaudit.scan.options import Probe, ScanOptions
from tlsaudit.scan.pool import DaemonPool
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


EARLY: tuple[ProtocolVersion, ...] = ("TLS 1.2", "TLS 1.3")
"""Compliance mode asks every server about the other suites of these versions, alongside
the eliminations (nearly every server accepts one of them)."""


@dataclass(frozen=True)
class Started:
    """The probes compliance mode starts with the eliminations, on the endpoint's pool."""

    suites: Mapping[ProtocolVersion, Future[SuiteEnumeration]]
    groups: Future[tuple[Observed[list[str]], list[str]]]


def start(
    endpoint: Endpoint,
    options: ScanOptions,
    pool: DaemonPool,
    offered: Mapping[ProtocolVersion, frozenset[str]],
) -> Started:
    """Queue the other suites of :data:`EARLY` (*offered*: the names the eliminations
    offer per version) and the TLS 1.3 groups."""
    suites = {
        version: pool.submit(_other_suites, endpoint, version, offered[version], options)
        for version in EARLY
    }
    return Started(suites, pool.submit(_groups, endpoint, options))


def supplement(
    endpoint: Endpoint,
    tested: Mapping[ProtocolVersion, set[str] | None],
    protocols: Sequence[ProtocolFacts],
    options: ScanOptions,
    pool: DaemonPool,
    started: Started | None = None,
) -> Supplement:
    """Probe *endpoint* for what sslyze did not test, on *pool*.

    *tested* maps each version to the IANA names sslyze offered for it (None: sslyze's scan
    of that version failed, so it is not supplemented either); *protocols*: what sslyze saw.
    A full scan asks at every version and one ClientHello per group; compliance mode (with
    what it *started*) at TLS 1.2, TLS 1.3 and the other versions the server accepts, and
    finds the groups by elimination.
    """
    accepting = {p.version for p in protocols if p.accepted.value}
    early = started.suites if started is not None else {}
    versions = [
        v
        for v in SUPPLEMENTED
        if tested.get(v) is not None and (options.full or v in accepting or v in early)
    ]
    tls13 = "TLS 1.3" in accepting
    found = {
        v: early.get(v) or pool.submit(_other_suites, endpoint, v, tested[v] or set(), options)
        for v in versions
    }
    groups = None
    if tls13:
        groups = started.groups if started is not None else pool.submit(_groups, endpoint, options)
    resumed = (
        pool.submit(
            probe_tls13_resumption,
            endpoint.ip,
            endpoint.port,
            endpoint.name,
            options.timeout,
            endpoint.starttls,
        )
        if tls13 and (options.full or Probe.RESUMPTION not in options.skip)
        else None
    )
    suites: dict[ProtocolVersion, list[AcceptedSuite]] = {}
    notes = []
    for version, future in found.items():
        enumeration = future.result()
        suites[version] = [
            AcceptedSuite(
                name=code.name, openssl_name="", ephemeral_key=code.key, detected_by="client-hello"
            )
            for code in enumeration.accepted
        ]
        if enumeration.error is not None:
            error = enumeration.error
            notes.append(
                f"{version}: the ClientHello probe for the suites sslyze cannot offer failed"
                f" ({error.reason.value}: {error.detail}); beyond those listed, whether the"
                " server accepts such suites is not known."
            )
    if not options.full:
        refused = [v for v in SUPPLEMENTED if tested.get(v) is not None and v not in versions]
        if refused:
            notes.append(
                "Suites no OpenSSL build implements were offered at TLS 1.2, TLS 1.3 and the"
                f" versions the server accepts, not at {', '.join(refused)} (--full offers"
                " them there)."
            )
    if groups is None:
        return Supplement(suites, notes, _not_applicable(), [], None)
    group_probe, supported = groups.result()
    resumption = None
    if resumed is not None:
        outcome = resumed.result()
        if isinstance(outcome, ProbeError):
            notes.append(
                "TLS 1.3 session resumption not determined"
                f" ({outcome.reason.value}: {outcome.detail})."
            )
        else:
            resumption = outcome
    return Supplement(suites, notes, group_probe, supported, resumption)


def _other_suites(
    endpoint: Endpoint, version: ProtocolVersion, names: Set[str], options: ScanOptions
) -> SuiteEnumeration:
    """The suites of *version* sslyze did not offer, by elimination."""
    codes = TLS13_SUITES if version == "TLS 1.3" else _legacy_codes()
    return enumerate_suites(
        endpoint.ip,
        endpoint.port,
        endpoint.name,
        TlsVersion.of(version),
        [code for code in codes if CIPHER_SUITES[code] not in names],
        options.timeout,
        endpoint.starttls,
    )


def _groups(endpoint: Endpoint, options: ScanOptions) -> tuple[Observed[list[str]], list[str]]:
    """The TLS 1.3 groups sslyze does not offer: one ClientHello each (full), or by
    elimination (compliance)."""
    where = (endpoint.ip, endpoint.port, endpoint.name)
    if options.full:
        probe = probe_groups_tls13(
            *where,
            PROBED_GROUPS,
            options.timeout,
            endpoint.starttls,
            connections=options.connections_per_server,
        )
    else:
        probe = eliminate_groups_tls13(*where, PROBED_GROUPS, options.timeout, endpoint.starttls)
    supported = [SUPPORTED_GROUPS[g] for g in probe.supported]
    if probe.errors:
        group, error = next(iter(probe.errors.items()))
        return Observed.failed(error.reason, f"{group_name(group)}: {error.detail}"), supported
    return Observed.of([SUPPORTED_GROUPS[g] for g in PROBED_GROUPS]), supported


def _legacy_codes() -> list[int]:
    return [code for code in CIPHER_SUITES if code not in TLS13_SUITES]


def _not_applicable() -> Observed[list[str]]:
    return Observed.failed(ErrorReason.NOT_APPLICABLE, "TLS 1.3 not accepted")
