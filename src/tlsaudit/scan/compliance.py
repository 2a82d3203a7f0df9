"""Compliance mode: sslyze's connection layer, with the fewest handshakes that still give
the answers of sslyze's own per-suite and per-curve scans.

For one endpoint, on a pool of at most ``connections_per_server`` connections at once:

- the accepted cipher suites of each protocol version and OpenSSL build (nassl's legacy
  build for every suite it implements below TLS 1.3, the modern one for the rest, as sslyze
  chooses) by elimination: offer every candidate, take out the suite the server picks,
  repeat until the server refuses. (accepted + 1) handshakes per version and build instead
  of one per candidate. The pick order is the server's preference when it enforces one;
  one more handshake, the first two picks swapped, tells whether it does;
- what sslyze's connectivity test asks (highest version, a suite, ECDH), answered by the
  eliminations' first handshakes; sslyze's test itself runs only when they cannot tell;
- the supported curves the same way, at the highest version;
- sslyze's own scan jobs for the other probes the profile reads.

Elimination falls back to sslyze's per-suite (per-curve) probe for the rest of a version
when it cannot be trusted: the server picks a suite (curve) it was not offered, refuses
every suite at the version the connectivity test negotiated, fails a handshake in an
unexpected way, or accepts a refused suite when the remaining ones are offered in
reverse order (a server that reads only the first suites of a long list). The result says
so in a coverage note.

Results come back as sslyze's own result types, so both modes are read by one converter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from traceback import TracebackException
from typing import Any

from nassl._nassl import OpenSSLError
from nassl.ephemeral_key_info import (
    _OPENSSL_NID_TO_SECG_ANSI_X9_62,  # the names sslyze gives curves (not public in nassl)
    EcDhEphemeralKeyInfo,
    OpenSslEcNidEnum,
)
from nassl.ssl_client import BaseSslClient, ClientCertificateRequested, SslClient
from sslyze import (
    AllScanCommandsAttempts,
    CipherSuiteAcceptedByServer,
    CipherSuiteRejectedByServer,
    CipherSuitesScanResult,
    ScanCommand,
    ScanCommandAttempt,
    ScanCommandAttemptStatusEnum,
    ScanCommandErrorReasonEnum,
    ServerScanRequest,
    SupportedEllipticCurvesScanResult,
    TlsVersionEnum,
)
from sslyze.connection_helpers.tls_connection import NoCiphersAvailableBugInSSlyze
from sslyze.errors import (
    ConnectionToServerFailed,
    ConnectionToServerTimedOut,
    ServerRejectedTlsHandshake,
    ServerTlsConfigurationNotSupported,
    TlsHandshakeTimedOut,
)
from sslyze.plugins.elliptic_curves_plugin import EllipticCurve, _test_curve
from sslyze.plugins.openssl_cipher_suites._test_cipher_suite import connect_with_cipher_suite
from sslyze.plugins.openssl_cipher_suites._tls12_workaround import (
    WorkaroundForTls12ForCipherSuites,
)
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuite, CipherSuitesRepository
from sslyze.plugins.plugin_base import ScanJob, ScanJobResult
from sslyze.plugins.scan_commands import ScanCommandsRepository
from sslyze.scanner.models import get_scan_command_attempt_cls
from sslyze.server_connectivity import (
    ClientAuthRequirementEnum,
    ServerConnectivityInfo,
    ServerTlsProbingResult,
    check_connectivity_to_server,
    enable_ecdh_cipher_suites,
)

from tlsaudit.models.facts import ProtocolVersion
from tlsaudit.scan.iana import CIPHER_SUITES
from tlsaudit.scan.options import Probe
from tlsaudit.scan.pool import DaemonPool

SUITE_COMMANDS: dict[TlsVersionEnum, ScanCommand] = {
    TlsVersionEnum.SSL_2_0: ScanCommand.SSL_2_0_CIPHER_SUITES,
    TlsVersionEnum.SSL_3_0: ScanCommand.SSL_3_0_CIPHER_SUITES,
    TlsVersionEnum.TLS_1_0: ScanCommand.TLS_1_0_CIPHER_SUITES,
    TlsVersionEnum.TLS_1_1: ScanCommand.TLS_1_1_CIPHER_SUITES,
    TlsVersionEnum.TLS_1_2: ScanCommand.TLS_1_2_CIPHER_SUITES,
    TlsVersionEnum.TLS_1_3: ScanCommand.TLS_1_3_CIPHER_SUITES,
}

VERSION_LABELS: dict[TlsVersionEnum, ProtocolVersion] = {
    TlsVersionEnum.SSL_2_0: "SSL 2.0",
    TlsVersionEnum.SSL_3_0: "SSL 3.0",
    TlsVersionEnum.TLS_1_0: "TLS 1.0",
    TlsVersionEnum.TLS_1_1: "TLS 1.1",
    TlsVersionEnum.TLS_1_2: "TLS 1.2",
    TlsVersionEnum.TLS_1_3: "TLS 1.3",
}

PROBE_COMMANDS: dict[Probe, ScanCommand] = {
    Probe.CERTIFICATES: ScanCommand.CERTIFICATE_INFO,
    Probe.HEARTBLEED: ScanCommand.HEARTBLEED,
    Probe.CCS_INJECTION: ScanCommand.OPENSSL_CCS_INJECTION,
    Probe.RENEGOTIATION: ScanCommand.SESSION_RENEGOTIATION,
    Probe.COMPRESSION: ScanCommand.TLS_COMPRESSION,
    Probe.FALLBACK_SCSV: ScanCommand.TLS_FALLBACK_SCSV,
    Probe.EXTENDED_MASTER_SECRET: ScanCommand.TLS_EXTENDED_MASTER_SECRET,
    Probe.EARLY_DATA: ScanCommand.TLS_1_3_EARLY_DATA,
    Probe.RESUMPTION: ScanCommand.SESSION_RESUMPTION,
    Probe.HSTS: ScanCommand.HTTP_HEADERS,
}
"""sslyze's scan command for each probe (ROBOT is planned apart: it depends on the suites)."""

_GUESS = ServerTlsProbingResult(
    highest_tls_version_supported=TlsVersionEnum.TLS_1_3,
    cipher_suite_supported="",
    client_auth_requirement=ClientAuthRequirementEnum.DISABLED,
    supports_ecdh_key_exchange=True,
)
"""What the eliminations assume until their first handshakes (or sslyze's connectivity test)
answer (they set the version and the suites of every connection themselves; only the
client-certificate answer counts)."""

VERIFY_ABOVE = 32
"""A chain that ends with more refused candidates than this offers them once more, in
reverse order: a server that reads only the first suites of a long list is caught there."""


@dataclass(frozen=True)
class Preference:
    """Whether the server enforces its own cipher-suite order at one version."""

    server: bool | None
    """None: not determined (fewer than two suites accepted, or the check failed)."""
    order: tuple[str, ...] = ()
    """IANA names, most preferred first (only when ``server`` and one chain saw them all)."""


@dataclass
class ComplianceScan:
    """One endpoint in compliance mode: sslyze's result types plus what elimination adds."""

    attempts: AllScanCommandsAttempts
    preferences: dict[ProtocolVersion, Preference] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Untrusted(Exception):  # noqa: N818 - a control-flow signal
    """Elimination cannot go on: the remaining candidates are probed one by one."""


@dataclass
class _Chain:
    """One elimination: candidates of one version and OpenSSL build, in the pick order."""

    version: TlsVersionEnum
    legacy: bool
    candidates: list[CipherSuite]
    accepted: list[CipherSuiteAcceptedByServer] = field(default_factory=list)
    rejected: list[CipherSuiteRejectedByServer] = field(default_factory=list)
    fallback: str | None = None
    """Why the rest was probed one suite at a time (None: elimination alone)."""
    error: Exception | None = None
    """What stopped the chain (a timeout, say): the version's result is that error."""
    server_order: Future[bool | None] | None = None
    """Whether the pick order is the server's (see :func:`_server_order`); None with fewer
    than two picks."""
    first: Future[CipherSuiteAcceptedByServer | None] = field(default_factory=Future)
    """The first handshake's pick (None: every suite refused), known before the chain ends."""
    client_cert: bool = False
    """The server asked for a client certificate."""


Starter = Callable[[Mapping[ProtocolVersion, frozenset[str]]], None]
"""Called once the eliminations are queued, with the suites (IANA names) they offer per
version: the caller queues its own probes on the same pool."""


def scan_compliance(
    request: ServerScanRequest,
    probes: Iterable[Probe],
    pool: DaemonPool,
    start: Starter | None = None,
) -> ComplianceScan:
    """Scan one endpoint on *pool* (its size is the endpoint's connection limit); *probes*:
    what to run besides suites and curves.

    Raises:
        ConnectionToServerFailed: the server could not be reached, or sslyze's connectivity
            test found no handshake that works.
    """
    location, network = request.server_location, request.network_configuration
    wanted = set(probes)
    extra = request.scan_commands_extra_arguments
    # The eliminations start at once, assuming what holds for nearly every server (no client
    # certificate required); their first handshakes answer what sslyze's connectivity test
    # asks, which runs only when they cannot (and then the eliminations again if needed).
    guess = ServerConnectivityInfo(
        server_location=location, network_configuration=network, tls_probing_result=_GUESS
    )
    planned = _chains(guess)
    running = [pool.submit(_eliminate, guess, chain, pool) for chain in planned]
    if start is not None:
        start(_offered_names(planned))
    probing = _probing(planned)
    if probing is None:  # no handshake yet, or a client certificate asked for: sslyze's test
        probing = pool.submit(check_connectivity_to_server, location, network).result()
    info = ServerConnectivityInfo(
        server_location=location, network_configuration=network, tls_probing_result=probing
    )
    if probing.client_auth_requirement is ClientAuthRequirementEnum.REQUIRED:
        for future in running:
            future.result()
        running = [pool.submit(_eliminate, info, chain, pool) for chain in _chains(info)]
    curves = pool.submit(_eliminate_curves, info) if probing.supports_ecdh_key_exchange else None
    commands = {
        PROBE_COMMANDS[probe]: _submit_command(pool, info, PROBE_COMMANDS[probe], extra)
        for probe in Probe
        if probe in wanted and probe in PROBE_COMMANDS
    }
    chains = [future.result() for future in running]
    for settled in [
        pool.submit(_one_by_one_instead, info, c) for c in _settle_refusals(info, chains)
    ]:
        settled.result()
    suites = {version: _suite_attempt(version, chains) for version in SUITE_COMMANDS}
    attempts = {SUITE_COMMANDS[v]: attempt for v, (attempt, _) in suites.items()}
    notes = [note for _, chain_notes in suites.values() for note in chain_notes]
    if Probe.ROBOT in wanted:
        if _rsa_key_transport(attempts.values()):
            commands[ScanCommand.ROBOT] = _submit_command(pool, info, ScanCommand.ROBOT, None)
        else:  # sslyze's verdict too, without its probe: nothing to attack
            attempts[ScanCommand.ROBOT] = _robot_not_applicable()
    if curves is None:  # ECDH seen in no first pick: sslyze's question, over all the picks
        ecdh = _uses_ecdh(info, chains)
        curves = pool.submit(_eliminate_curves, _with_ecdh(info, ecdh))
    attempts[ScanCommand.ELLIPTIC_CURVES] = _attempt(ScanCommand.ELLIPTIC_CURVES, curves)
    for command, jobs in commands.items():
        attempts[command] = _command_attempt(info, command, jobs)
    preferences = {
        VERSION_LABELS[version]: preference
        for version in SUITE_COMMANDS
        if (preference := _preference([c for c in chains if c.version is version])) is not None
    }
    return ComplianceScan(_all_attempts(attempts), preferences, notes)


# -- cipher suites ------------------------------------------------------------------


def _chains(info: ServerConnectivityInfo) -> list[_Chain]:
    """One elimination per version and OpenSSL build, longest first (the critical path)."""
    chains = []
    for version in SUITE_COMMANDS:
        suites = sorted(CipherSuitesRepository.get_all_cipher_suites(version), key=lambda s: s.name)
        if version is TlsVersionEnum.TLS_1_2:
            legacy = [s for s in suites if _needs_legacy(s.openssl_name)]
            modern = [s for s in suites if not _needs_legacy(s.openssl_name)]
            builds = [(True, legacy), (False, modern)]
        else:
            builds = [(version is not TlsVersionEnum.TLS_1_3, suites)]
        for legacy_build, candidates in builds:
            sent = _offered(info, version, legacy_build, candidates)
            chains.append(_Chain(version, legacy_build, [s for s in candidates if s.name in sent]))
    return sorted(chains, key=lambda chain: -len(chain.candidates))


def _offered_names(chains: list[_Chain]) -> dict[ProtocolVersion, frozenset[str]]:
    names: dict[ProtocolVersion, frozenset[str]] = {}
    for chain in chains:
        label = VERSION_LABELS[chain.version]
        names[label] = names.get(label, frozenset()) | {s.name for s in chain.candidates}
    return names


def _needs_legacy(openssl_name: str) -> bool:
    return WorkaroundForTls12ForCipherSuites.requires_legacy_openssl(openssl_name)


_OFFERED: dict[tuple[TlsVersionEnum, bool], frozenset[str]] = {}
_OFFERED_LOCK = threading.Lock()


def _offered(
    info: ServerConnectivityInfo,
    version: TlsVersionEnum,
    legacy: bool,
    candidates: Sequence[CipherSuite],
) -> frozenset[str]:
    """The candidates the build really puts in its ClientHello at *version* (IANA names).

    OpenSSL leaves out, without a word, the suites of a cipher list it cannot use at a
    version; sslyze's per-suite probe drops those (its "no ciphers available" case), so
    elimination must not count them as refused. Read once per process from a ClientHello
    written to a local socket pair; SSL 2.0 hellos are not read (every candidate is kept).
    """
    key = (version, legacy)
    with _OFFERED_LOCK:
        if key not in _OFFERED:
            names = {suite.name for suite in candidates}
            if version is not TlsVersionEnum.SSL_2_0:
                hello = _local_hello(info, version, legacy, candidates)
                names = {CIPHER_SUITES.get(code, "") for code in _hello_suites(hello)} or names
            _OFFERED[key] = frozenset(names)
        return _OFFERED[key]


def _local_hello(
    info: ServerConnectivityInfo,
    version: TlsVersionEnum,
    legacy: bool,
    candidates: Sequence[CipherSuite],
) -> bytes:
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=version, should_use_legacy_openssl=legacy
    )
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)  # the ClientHello is written, then the read fails
        client = connection.ssl_client
        client.set_underlying_socket(ours)
        _offer(client, version, candidates)
        with contextlib.suppress(Exception):
            client.do_handshake()
        theirs.settimeout(1.0)
        return theirs.recv(1 << 16)


def _hello_suites(record: bytes) -> list[int]:
    """The cipher suite codes of a ClientHello record (empty if it is not one)."""
    body = record[5 + 4 :]
    at = 2 + 32
    if record[:1] != b"\x16" or len(body) <= at:
        return []
    at += 1 + body[at]
    length = int.from_bytes(body[at : at + 2], "big")
    codes = body[at + 2 : at + 2 + length]
    if len(codes) != length:
        return []
    return [int.from_bytes(codes[i : i + 2], "big") for i in range(0, length, 2)]


def _offer(client: BaseSslClient, version: TlsVersionEnum, suites: Sequence[CipherSuite]) -> None:
    names = ":".join(suite.openssl_name for suite in suites)
    if isinstance(client, SslClient) and version is TlsVersionEnum.TLS_1_3:
        client.set_ciphersuites(names)
    else:
        client.set_cipher_list(names)


def _eliminate(info: ServerConnectivityInfo, chain: _Chain, pool: DaemonPool) -> _Chain:
    """Offer the remaining candidates until the server refuses them all (never raises: a
    failure is the chain's ``error``). Once two suites are picked, whether their order is the
    server's is checked on the pool, alongside the rest of the chain."""
    try:
        _run_chain(info, chain, pool)
    except Exception as error:
        chain.error = error
        if not chain.first.done():
            chain.first.set_exception(error)
    if not chain.first.done():
        chain.first.set_result(chain.accepted[0] if chain.accepted else None)
    return chain


def _run_chain(info: ServerConnectivityInfo, chain: _Chain, pool: DaemonPool) -> None:
    remaining = list(chain.candidates)
    by_name = {suite.openssl_name: suite for suite in remaining}
    refusal = ""
    try:
        while remaining:
            picked = _pick(info, chain, remaining, by_name)
            if not chain.first.done():
                chain.first.set_result(None if isinstance(picked, str) else picked)
            if isinstance(picked, str):
                refusal = picked
                break
            chain.accepted.append(picked)
            remaining.remove(picked.cipher_suite)
            if len(chain.accepted) == 2:
                first, second = (s.cipher_suite for s in chain.accepted)
                chain.server_order = pool.submit(_server_order, info, chain, first, second)
        if chain.accepted and len(remaining) > VERIFY_ABOVE:
            again = _pick(info, chain, remaining[::-1], by_name)
            if not isinstance(again, str):
                raise _Untrusted(
                    f"the server accepted {again.cipher_suite.name} only when the refused"
                    " suites were offered in reverse order"
                )
    except _Untrusted as why:
        chain.fallback = str(why)
        _one_by_one(info, chain, remaining)
        return
    chain.rejected = [CipherSuiteRejectedByServer(s, refusal) for s in remaining]


def _probing(chains: list[_Chain]) -> ServerTlsProbingResult | None:
    """What sslyze's connectivity test would find, from the eliminations' first handshakes:
    the highest version with a suite accepted, that suite, and whether ECDH is used (False
    here may still turn True over the whole chain: see :func:`_uses_ecdh`). None when no
    handshake completed, only SSL 2.0 did, or the server asked for a client certificate
    (whether it requires one is sslyze's test to tell).

    Raises:
        ConnectionToServerFailed: a first handshake could not even connect.
    """
    for version in sorted(SUITE_COMMANDS, key=lambda v: v.value, reverse=True):
        mine = [chain for chain in chains if chain.version is version]
        try:
            picks = [pick for chain in mine if (pick := chain.first.result()) is not None]
        except ConnectionToServerFailed:
            raise  # refused, timed out, STARTTLS refused: what sslyze's test would raise too
        except Exception:
            return None
        if any(chain.client_cert for chain in mine):
            return None
        if picks:
            if version is TlsVersionEnum.SSL_2_0:
                return None
            return ServerTlsProbingResult(
                highest_tls_version_supported=version,
                cipher_suite_supported=picks[0].cipher_suite.openssl_name,
                client_auth_requirement=ClientAuthRequirementEnum.DISABLED,
                supports_ecdh_key_exchange=any(map(_ecdh, picks)),
            )
    return None


def _ecdh(accepted: CipherSuiteAcceptedByServer) -> bool:
    """As sslyze's connectivity test: an ECDH suite, or an ECDH key (TLS 1.3)."""
    return "ECDH" in accepted.cipher_suite.openssl_name or isinstance(
        accepted.ephemeral_key, EcDhEphemeralKeyInfo
    )


def _uses_ecdh(info: ServerConnectivityInfo, chains: list[_Chain]) -> bool:
    version = info.tls_probing_result.highest_tls_version_supported
    return any(_ecdh(a) for c in chains if c.version is version for a in c.accepted)


def _with_ecdh(info: ServerConnectivityInfo, ecdh: bool) -> ServerConnectivityInfo:
    probing = dataclasses.replace(info.tls_probing_result, supports_ecdh_key_exchange=ecdh)
    return dataclasses.replace(info, tls_probing_result=probing)


def _settle_refusals(info: ServerConnectivityInfo, chains: list[_Chain]) -> list[_Chain]:
    """The chains to probe one suite at a time because they contradict the connectivity test:
    every suite refused at the version where it completed a handshake."""
    version = info.tls_probing_result.highest_tls_version_supported
    mine = [chain for chain in chains if chain.version is version]
    if any(chain.accepted or chain.error is not None for chain in mine):
        return []
    return mine


def _one_by_one_instead(info: ServerConnectivityInfo, chain: _Chain) -> None:
    chain.fallback = "every suite refused at the version the connectivity test negotiated"
    chain.rejected = []
    try:
        _one_by_one(info, chain, chain.candidates)
    except Exception as error:
        chain.error = error


def _pick(
    info: ServerConnectivityInfo,
    chain: _Chain,
    offered: Sequence[CipherSuite],
    by_name: dict[str, CipherSuite],
) -> CipherSuiteAcceptedByServer | str:
    """One handshake offering *offered*: the suite picked, or why the server refused.

    Raises:
        _Untrusted: the server picked a suite not offered, or failed unexpectedly.
    """
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=chain.version, should_use_legacy_openssl=chain.legacy
    )
    client = connection.ssl_client
    _offer(client, chain.version, offered)
    key = None
    try:
        connection.connect()
        key = client.get_ephemeral_key()
    except ServerTlsConfigurationNotSupported:
        pass  # sslyze's OpenSSL refused the server's DH group: the suite is accepted
    except ClientCertificateRequested:
        key = client.get_ephemeral_key()
        chain.client_cert = True
    except (ServerRejectedTlsHandshake, TlsHandshakeTimedOut) as refused:
        return refused.error_message
    except NoCiphersAvailableBugInSSlyze as error:
        raise _Untrusted(f"the OpenSSL build refused the list: {error}") from error
    except (OSError, OpenSSLError) as error:  # not sslyze's connection errors: they propagate
        raise _Untrusted(f"a handshake failed: {type(error).__name__}: {error}") from error
    finally:
        connection.close()
    suite = by_name.get(_current_cipher(client))
    if suite is None or suite not in offered:
        raise _Untrusted(f"the server picked {_current_cipher(client) or 'nothing'}, not offered")
    return CipherSuiteAcceptedByServer(cipher_suite=suite, ephemeral_key=key)


def _current_cipher(client: BaseSslClient) -> str:
    try:
        return client.get_current_cipher_name()
    except Exception:  # no session: nassl raises when no cipher was negotiated
        return ""


def _one_by_one(info: ServerConnectivityInfo, chain: _Chain, remaining: list[CipherSuite]) -> None:
    """sslyze's own per-suite probe for what elimination could not settle."""
    for suite in remaining:
        try:
            result = connect_with_cipher_suite(info, chain.version, suite)
        except NoCiphersAvailableBugInSSlyze:
            continue  # sslyze drops these too
        if isinstance(result, CipherSuiteAcceptedByServer):
            chain.accepted.append(result)
        else:
            chain.rejected.append(result)


def _suite_attempt(
    version: TlsVersionEnum, chains: list[_Chain]
) -> tuple[ScanCommandAttempt[Any], list[str]]:
    """sslyze's result for one version from its chains (both builds for TLS 1.2)."""
    command = SUITE_COMMANDS[version]
    mine = [chain for chain in chains if chain.version is version]
    for chain in mine:
        if chain.error is not None:
            return _failed(command, chain.error), []
    result = CipherSuitesScanResult(
        tls_version_used=version,
        accepted_cipher_suites=sorted(
            (s for c in mine for s in c.accepted), key=lambda s: s.cipher_suite.name, reverse=True
        ),
        rejected_cipher_suites=sorted(
            (s for c in mine for s in c.rejected), key=lambda s: s.cipher_suite.name, reverse=True
        ),
    )
    notes = [
        f"{VERSION_LABELS[version]} ({'legacy' if c.legacy else 'modern'} OpenSSL build):"
        f" elimination stopped ({c.fallback}); the remaining suites were probed one at a time"
        for c in mine
        if c.fallback is not None
    ]
    return _completed(command, result), notes


def _server_order(
    info: ServerConnectivityInfo, chain: _Chain, first: CipherSuite, second: CipherSuite
) -> bool | None:
    """Offer the chain's first two picks swapped: picked first again means the server
    enforces its order. None when it cannot tell."""
    try:
        picked = _pick(info, chain, [second, first], {s.openssl_name: s for s in (first, second)})
    except Exception:  # a failed check leaves the preference unknown, nothing else
        return None
    if isinstance(picked, str):
        return None
    return picked.cipher_suite == first


def _preference(chains: list[_Chain]) -> Preference | None:
    """The version's preference, from its longest chain; None when it accepts nothing."""
    accepting = [c for c in chains if c.accepted and c.error is None]
    if not accepting:
        return None
    chain = max(accepting, key=lambda c: len(c.accepted))
    check = chain.server_order
    server = None if check is None or chain.fallback is not None else check.result()
    whole = len(accepting) == 1
    names = tuple(s.cipher_suite.name for s in chain.accepted)
    return Preference(server, names if server and whole else ())


def _rsa_key_transport(attempts: Iterable[ScanCommandAttempt[Any]]) -> bool:
    """An accepted suite uses RSA key transport (or a version's result is unknown)."""
    for attempt in attempts:
        result = attempt.result
        if not isinstance(result, CipherSuitesScanResult):
            return True
        for accepted in result.accepted_cipher_suites:
            name = accepted.cipher_suite.name
            if name.startswith(("TLS_RSA_", "SSL_RSA_", "SSL_CK_", "RSA_")):
                return True
    return False


# -- curves -------------------------------------------------------------------------


def _eliminate_curves(info: ServerConnectivityInfo) -> SupportedEllipticCurvesScanResult:
    """The server's curves at its highest version: offer every curve nassl knows, take out
    the one the server uses, repeat; sslyze's per-curve probe when that cannot be trusted."""
    if not info.tls_probing_result.supports_ecdh_key_exchange:
        return SupportedEllipticCurvesScanResult(
            supports_ecdh_key_exchange=False, supported_curves=None, rejected_curves=None
        )
    remaining = sorted(OpenSslEcNidEnum.get_supported_by_ssl_client(), key=lambda n: n.value)
    supported: list[OpenSslEcNidEnum] = []
    while remaining:
        used = _curve_used(info, remaining)
        if used is None:
            break
        if used not in remaining:  # not offered: ask about each remaining curve
            supported += [n for n in remaining if _test_curve(info, n).was_accepted_by_server]
            remaining = [n for n in remaining if n not in supported]
            break
        supported.append(used)
        remaining.remove(used)
    return SupportedEllipticCurvesScanResult(
        supports_ecdh_key_exchange=True,
        supported_curves=[_curve(n) for n in supported],
        rejected_curves=[_curve(n) for n in remaining],
    )


_CURVE_REFUSALS = (
    "ossl_statem_client_read_transition:unexpected message",
    "wrong curve",
    "sslv3 alert unexpected message",
)
"""OpenSSL errors sslyze's curve probe reads as a refused curve."""


def _curve_used(
    info: ServerConnectivityInfo, offered: list[OpenSslEcNidEnum]
) -> OpenSslEcNidEnum | None:
    version = info.tls_probing_result.highest_tls_version_supported
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=version, should_use_legacy_openssl=False
    )
    client = connection.ssl_client
    if not isinstance(client, SslClient):
        raise TypeError("the modern OpenSSL build was asked for")
    enable_ecdh_cipher_suites(version, client)
    client.set_groups(offered)
    try:
        connection.connect()
        key = client.get_ephemeral_key()
    except ClientCertificateRequested:
        key = client.get_ephemeral_key()
    except (TlsHandshakeTimedOut, ServerRejectedTlsHandshake):
        return None
    except OpenSSLError as error:
        if any(message in error.args[0] for message in _CURVE_REFUSALS):
            return None
        raise
    finally:
        connection.close()
    return OpenSslEcNidEnum(key.curve) if isinstance(key, EcDhEphemeralKeyInfo) else None


def _curve(nid: OpenSslEcNidEnum) -> EllipticCurve:
    name = _OPENSSL_NID_TO_SECG_ANSI_X9_62.get(nid, f"unknown-curve-with-openssl-id-{nid.value}")
    return EllipticCurve(name=name, openssl_nid=nid.value)


# -- sslyze's scan commands ---------------------------------------------------------


def _submit_command(
    pool: DaemonPool, info: ServerConnectivityInfo, command: ScanCommand, extra: Any
) -> list[Future[Any]] | BaseException:
    """Queue a scan command's jobs on the endpoint's pool (or the error making them)."""
    implementation = ScanCommandsRepository.get_implementation_cls(command)
    try:
        jobs: list[ScanJob] = implementation.scan_jobs_for_scan_command(
            info, getattr(extra, command.value, None) if extra is not None else None
        )
    except Exception as error:
        return error
    return [pool.submit(job.function_to_call, *job.function_arguments) for job in jobs]


def _command_attempt(
    info: ServerConnectivityInfo, command: ScanCommand, jobs: list[Future[Any]] | BaseException
) -> ScanCommandAttempt[Any]:
    if isinstance(jobs, BaseException):
        return _failed(command, jobs)
    implementation = ScanCommandsRepository.get_implementation_cls(command)
    results = []
    for job in jobs:
        try:
            results.append(ScanJobResult(_return_value=job.result(), _exception=None))
        except Exception as error:
            results.append(ScanJobResult(_return_value=None, _exception=error))
    return _attempt_of(
        command, lambda: implementation.result_for_completed_scan_jobs(info, results)
    )


def _attempt(command: ScanCommand, future: Future[Any]) -> ScanCommandAttempt[Any]:
    return _attempt_of(command, future.result)


def _attempt_of(command: ScanCommand, result: Callable[[], Any]) -> ScanCommandAttempt[Any]:
    """A result, or the error as sslyze's scanner records it."""
    try:
        return _completed(command, result())
    except Exception as error:
        return _failed(command, error)


def _completed(command: ScanCommand, result: object) -> ScanCommandAttempt[Any]:
    return get_scan_command_attempt_cls(command)(
        status=ScanCommandAttemptStatusEnum.COMPLETED,
        error_reason=None,
        error_trace=None,
        result=result,
    )


def _failed(command: ScanCommand, error: BaseException) -> ScanCommandAttempt[Any]:
    if isinstance(error, ClientCertificateRequested):
        reason = ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED
    elif isinstance(
        error, ConnectionToServerTimedOut | TlsHandshakeTimedOut | ServerRejectedTlsHandshake
    ):
        reason = ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE
    else:
        reason = ScanCommandErrorReasonEnum.BUG_IN_SSLYZE
    return get_scan_command_attempt_cls(command)(
        status=ScanCommandAttemptStatusEnum.ERROR,
        error_reason=reason,
        error_trace=TracebackException.from_exception(error),
        result=None,
    )


def _robot_not_applicable() -> ScanCommandAttempt[Any]:
    from sslyze import RobotScanResult, RobotScanResultEnum

    return _completed(
        ScanCommand.ROBOT,
        RobotScanResult(robot_result=RobotScanResultEnum.NOT_VULNERABLE_RSA_NOT_SUPPORTED),
    )


def _all_attempts(done: dict[ScanCommand, ScanCommandAttempt[Any]]) -> AllScanCommandsAttempts:
    """Every command sslyze knows; those not run are NOT_SCHEDULED, as in its scanner."""
    attempts: dict[str, Any] = {}
    for item in fields(AllScanCommandsAttempts):
        command = ScanCommand(item.name)
        attempts[item.name] = done.get(command) or get_scan_command_attempt_cls(command)(
            status=ScanCommandAttemptStatusEnum.NOT_SCHEDULED,
            error_reason=None,
            error_trace=None,
            result=None,
        )
    return AllScanCommandsAttempts(**attempts)
