"""Scan TLS endpoints with sslyze and record what was seen as :class:`TlsFacts`.

All endpoints go to one sslyze :class:`~sslyze.Scanner` (sslyze's defaults: 10 servers at
a time, 5 connections per server). Each scan command maps to one :class:`Observed` field,
so one failed command never hides the others.
"""

from __future__ import annotations

import contextlib
import math
import queue
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from traceback import TracebackException
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from nassl.ephemeral_key_info import (
    DhEphemeralKeyInfo,
    EcDhEphemeralKeyInfo,
    EphemeralKeyInfo,
)
from nassl.ssl_client import ClientCertificateRequested
from sslyze import (
    AllScanCommandsAttempts,
    CertificateInfoExtraArgument,
    CipherSuitesScanResult,
    HttpHeadersScanResult,
    ProtocolWithOpportunisticTlsEnum,
    RobotScanResultEnum,
    ScanCommand,
    ScanCommandAttempt,
    ScanCommandAttemptStatusEnum,
    ScanCommandErrorReasonEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    SessionResumptionSupportScanResult,
    SupportedEllipticCurvesScanResult,
    TlsResumptionSupportEnum,
)
from sslyze.__version__ import __version__ as sslyze_version
from sslyze.errors import (
    ConnectionToServerFailed,
    ConnectionToServerTimedOut,
    ServerRejectedConnection,
    ServerRejectedOpportunisticTlsNegotiation,
    TlsHandshakeFailed,
    TlsHandshakeTimedOut,
)

from tlsaudit.errors import InputError
from tlsaudit.inventory import is_ip, is_special_use
from tlsaudit.models.facts import (
    AcceptedSuite,
    CaaFacts,
    Endpoint,
    EphemeralKey,
    ErrorReason,
    Hsts,
    Observed,
    ProbeError,
    ProtocolFacts,
    ProtocolVersion,
    Renegotiation,
    Resumption,
    Robot,
    TlsFacts,
)
from tlsaudit.records.curves import ffdhe_name, normalise_curve
from tlsaudit.scan.certs import certificate_info
from tlsaudit.scan.compliance import ComplianceScan, Preference, scan_compliance
from tlsaudit.scan.dns import caa as caa_lookup
from tlsaudit.scan.hello import probe_groups_tls13
from tlsaudit.scan.iana import SUPPORTED_GROUPS, TLS13_GROUPS
from tlsaudit.scan.options import Probe, ScanOptions
from tlsaudit.scan.pool import DaemonPool
from tlsaudit.scan.supplement import SSLYZE_GROUPS, Started, start, supplement

ENGINE = f"sslyze {sslyze_version}"

_UNOBSERVABLE = (
    " Not observable: PSK, SRP, ECCPWD and Kerberos suites, which a server picks only for a"
    " client holding a matching key, password or ticket, so a server accepting them is not"
    " detected."
)
_GROUPS_UNOBSERVED = (
    " Not observed: the GOST and SM2 groups and the pre-standard Kyber drafts; curves a server"
    " accepts only below TLS 1.3 when it also accepts TLS 1.3 (brainpool, secp256k1,"
    " secp224r1, sect*); for TLS 1.2 DHE, the group is the one the server chose for each suite."
)
COVERAGE_FULL: tuple[str, ...] = (
    "Full scan. Cipher suites: sslyze completes a handshake with every suite its OpenSSL builds"
    " implement (nassl: OpenSSL 1.1.1w, and 1.0.2e for SSL 2.0-TLS 1.1 and legacy suites);"
    " tlsaudit's own ClientHello then offers every other suite of the IANA registry, SSL 3.0 to"
    " TLS 1.3, and records each one the server picks (detected_by = client-hello: the"
    " ServerHello names the suite; no handshake is completed)." + _UNOBSERVABLE,
    "Named groups: sslyze tests X25519, X448 and the NIST and other OpenSSL curves, one at a"
    " time, at the highest version the server accepts; tlsaudit asks a TLS 1.3 server about"
    " ffdhe2048-8192, X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, MLKEM512/768/1024"
    " and the brainpool TLS 1.3 groups, one ClientHello each." + _GROUPS_UNOBSERVED,
    "The server's cipher-suite preference order is not observed (compliance mode observes it).",
)
COVERAGE_COMPLIANCE: tuple[str, ...] = (
    "Compliance scan. Cipher suites: by elimination over sslyze's connection layer, per"
    " version and OpenSSL build (nassl: OpenSSL 1.1.1w, and 1.0.2e for SSL 2.0-TLS 1.1 and"
    " legacy suites): every suite the build implements is offered, the one the server picks is"
    " taken out, until it refuses; the same suites as sslyze's one-handshake-per-suite scan."
    " tlsaudit's own ClientHello then offers the other suites of the IANA registry at each"
    " version the server accepts (detected_by = client-hello)." + _UNOBSERVABLE,
    "Named groups: by elimination at the highest version the server accepts, sslyze's"
    " curves (X25519, X448, the NIST and other OpenSSL curves) over its connection layer, then"
    " ffdhe2048-8192, the ML-KEM groups and their hybrids and the brainpool TLS 1.3 groups with"
    " tlsaudit's own ClientHello (TLS 1.3 only)." + _GROUPS_UNOBSERVED,
)

_MAX_ATTEMPTS = 2
"""sslyze's ``network_max_retries`` is the number of attempts per connection (default 3)."""

_ROBOT = {
    RobotScanResultEnum.NOT_VULNERABLE_NO_ORACLE: Robot.NOT_VULNERABLE,
    RobotScanResultEnum.NOT_VULNERABLE_RSA_NOT_SUPPORTED: Robot.NO_RSA_KEX,
    RobotScanResultEnum.VULNERABLE_WEAK_ORACLE: Robot.WEAK_ORACLE,
    RobotScanResultEnum.VULNERABLE_STRONG_ORACLE: Robot.STRONG_ORACLE,
    RobotScanResultEnum.UNKNOWN_INCONSISTENT_RESULTS: Robot.INCONSISTENT,
}

_RESUMED = (TlsResumptionSupportEnum.FULLY_SUPPORTED, TlsResumptionSupportEnum.PARTIALLY_SUPPORTED)

# First match wins: sslyze's connection exceptions (and the ones it lets through) by reason.
_EXCEPTION_REASONS: tuple[tuple[type[BaseException], ErrorReason], ...] = (
    (ServerRejectedConnection, ErrorReason.CONNECTION_REFUSED),
    (ConnectionToServerTimedOut, ErrorReason.TIMEOUT),
    (TlsHandshakeTimedOut, ErrorReason.TIMEOUT),
    (TimeoutError, ErrorReason.TIMEOUT),
    (ServerRejectedOpportunisticTlsNegotiation, ErrorReason.STARTTLS_FAILED),
    (ClientCertificateRequested, ErrorReason.CLIENT_CERT_REQUIRED),
    (TlsHandshakeFailed, ErrorReason.HANDSHAKE_FAILED),
    (ConnectionToServerFailed, ErrorReason.NETWORK_ERROR),
    (OSError, ErrorReason.NETWORK_ERROR),
)

R = TypeVar("R")
V = TypeVar("V")


def scan_endpoint(endpoint: Endpoint, options: ScanOptions) -> TlsFacts:
    """Scan one endpoint (see :func:`scan_endpoints`)."""
    return scan_endpoints([endpoint], options)[0]


ENDPOINT_DEADLINE_FACTOR = 24
"""An endpoint's whole scan (sslyze, tlsaudit's probes, CAA) must end within this many
times ``--timeout`` of its start ..."""
ENDPOINT_DEADLINE_CAP = 300.0
"""... and within this many seconds whatever the timeout."""
CONCURRENT_ENDPOINTS = 10
"""Endpoints scanned at once (sslyze's own default for concurrent server scans)."""


def endpoint_deadline(timeout: float) -> float:
    """Seconds one endpoint may take in all: ``min(24 × timeout, 300)`` (120 s at 5 s)."""
    return min(ENDPOINT_DEADLINE_CAP, ENDPOINT_DEADLINE_FACTOR * timeout)


def scan_endpoints(
    endpoints: list[Endpoint],
    options: ScanOptions,
    on_done: Callable[[TlsFacts], None] | None = None,
) -> list[TlsFacts]:
    """Scan every endpoint concurrently; facts come back in input order.

    *on_done* is called with each endpoint's facts as soon as they are known. sslyze's
    network timeout is ``options.timeout`` rounded up to whole seconds.

    Each endpoint runs in a thread of its own (:data:`CONCURRENT_ENDPOINTS` at a time) with
    its own sslyze :class:`~sslyze.Scanner`, and has :func:`endpoint_deadline` seconds from
    its start for everything: a server that drips bytes, or a library thread that dies
    without a result (sslyze's STARTTLS helper raising inside its worker, after which
    ``get_results()`` waits forever), makes that endpoint a ``timeout`` error at its
    deadline; the thread is abandoned and the rest of the batch goes on.

    Raises:
        InputError: ``options.ca_file`` is missing or holds no PEM certificate.
    """
    if not endpoints:
        return []
    extra = _extra_arguments(options)
    deadline = endpoint_deadline(options.timeout)
    # CAA once per name, while sslyze scans (in the background: never waited on past the
    # deadline of the endpoint that reads it)
    names = sorted({e.name for e in endpoints})
    caa_lookups = {name: _in_background(_caa, name, options) for name in names}
    arrived: queue.Queue[tuple[int, TlsFacts]] = queue.Queue()
    facts: dict[int, TlsFacts] = {}
    waiting = list(range(len(endpoints)))
    running: dict[int, float] = {}  # index -> its deadline (monotonic)

    def done(index: int, result: TlsFacts) -> None:
        del running[index]
        facts[index] = result
        if on_done is not None:
            on_done(result)

    while waiting or running:
        while waiting and len(running) < CONCURRENT_ENDPOINTS:
            index = waiting.pop(0)
            endpoint = endpoints[index]
            running[index] = time.monotonic() + deadline
            caa = caa_lookups[endpoint.name]
            _start_daemon(_scan_one, index, endpoint, options, extra, caa, arrived)
        try:
            index, result = arrived.get(timeout=max(0.0, min(running.values()) - time.monotonic()))
        except queue.Empty:
            now = time.monotonic()
            for late in [i for i, limit in running.items() if limit <= now]:
                done(late, _timed_out(endpoints[late], options, deadline))
            continue
        if index in running:  # not already given up on
            done(index, result)
    return [facts[index] for index in range(len(endpoints))]


def _scan_one(
    index: int,
    endpoint: Endpoint,
    options: ScanOptions,
    extra: ScanCommandsExtraArguments,
    caa: Future[Observed[CaaFacts]],
    arrived: queue.Queue[tuple[int, TlsFacts]],
) -> None:
    """One endpoint: its own sslyze scanner, then tlsaudit's probes (in a daemon thread)."""
    try:
        request = _request(endpoint, options, extra)
        if not options.full:
            arrived.put((index, _compliance_facts(endpoint, request, options, caa)))
            return
        scanner = Scanner(
            per_server_concurrent_connections_limit=options.connections_per_server,
            concurrent_server_scans_limit=1,
        )
        scanner.queue_scans([request])
        # Read to the end: sslyze stops its worker threads only when the generator finishes
        # (leaving early kept them, and about 9 MB, alive per endpoint).
        for result in list(scanner.get_results()):
            trace = result.connectivity_error_trace
            if result.scan_result is not None:
                with DaemonPool(options.connections_per_server) as pool:
                    facts = _facts(endpoint, Sslyze(result.scan_result), options, caa, pool)
            else:
                facts = _unreachable_facts(endpoint, trace, options)
            arrived.put((index, facts))
            return
        error = ProbeError(reason=ErrorReason.ENGINE_ERROR, detail="sslyze returned no result")
    except Exception as exc:  # a library failure is this endpoint's error, not the batch's
        detail = f"scan failed: {type(exc).__name__}: {exc}"
        error = ProbeError(reason=ErrorReason.ENGINE_ERROR, detail=detail)
    arrived.put((index, _failed(endpoint, options, error)))


def _compliance_facts(
    endpoint: Endpoint,
    request: ServerScanRequest,
    options: ScanOptions,
    caa: Future[Observed[CaaFacts]],
) -> TlsFacts:
    probes = [probe for probe in Probe if probe not in options.skip]
    if not _wants_http(endpoint):
        probes.remove(Probe.HSTS)
    started: list[Started] = []

    def start_probes(offered: Mapping[ProtocolVersion, frozenset[str]]) -> None:
        started.append(start(endpoint, options, pool, offered))

    pool = DaemonPool(options.connections_per_server)
    try:
        scan = scan_compliance(request, probes, pool, start_probes)
        return _facts(endpoint, scan, options, caa, pool, started[0] if started else None)
    except ConnectionToServerFailed as error:
        trace = TracebackException.from_exception(error)
        return _unreachable_facts(endpoint, trace, options)
    except UnicodeDecodeError as error:  # raised by sslyze's STARTTLS dialogue
        if endpoint.starttls is None:
            raise
        detail = f"the server's {endpoint.starttls.upper()} reply is not UTF-8 text: {error}"
        return _failed(
            endpoint, options, ProbeError(reason=ErrorReason.STARTTLS_FAILED, detail=detail)
        )
    finally:
        pool.close()


def _timed_out(endpoint: Endpoint, options: ScanOptions, deadline: float) -> TlsFacts:
    detail = (
        f"timeout: no result within {deadline:g} s (the endpoint deadline:"
        f" {ENDPOINT_DEADLINE_FACTOR} × --timeout, at most {ENDPOINT_DEADLINE_CAP:g} s)"
    )
    return _failed(endpoint, options, ProbeError(reason=ErrorReason.TIMEOUT, detail=detail))


def _failed(endpoint: Endpoint, options: ScanOptions, error: ProbeError) -> TlsFacts:
    """The facts of an endpoint that could not be scanned: why, and nothing else."""
    return TlsFacts(
        endpoint=endpoint,
        scanned_at=datetime.now(UTC),
        engine=ENGINE,
        mode=_mode(options),
        connectivity=error,
    )


def _mode(options: ScanOptions) -> Literal["compliance", "full"]:
    return "full" if options.full else "compliance"


def _start_daemon(target: Callable[..., None], *args: object) -> None:
    """A daemon thread: one that hangs never delays the caller nor the interpreter's exit."""
    threading.Thread(target=target, args=args, daemon=True, name="tlsaudit-endpoint").start()


def _in_background(
    function: Callable[[str, ScanOptions], V], name: str, options: ScanOptions
) -> Future[V]:
    future: Future[V] = Future()

    def run() -> None:
        try:
            future.set_result(function(name, options))
        except BaseException as exc:
            future.set_exception(exc)

    _start_daemon(run)
    return future


def _caa(name: str, options: ScanOptions) -> Observed[CaaFacts]:
    """CAA of the scanned name; not applicable to an address, nor to a special-use name
    (RFC 6761) unless a resolver was given (which then answers for it)."""
    if is_ip(name):
        return Observed.failed(ErrorReason.NOT_APPLICABLE, "an IP address has no CAA records")
    if is_special_use(name) and options.resolver is None:
        return Observed.failed(
            ErrorReason.NOT_APPLICABLE,
            f"{name} is a special-use name (RFC 6761): not looked up in the public DNS;"
            " give --resolver to ask a resolver that serves it",
        )
    return caa_lookup(name, options)


def _quiet_trust_stores() -> None:
    """Silence the one warning sslyze's trust-store loading emits with cryptography 46 (a root
    with a non-positive serial in a bundled store), in that module only."""
    warnings.filterwarnings(
        "ignore",
        message="Parsed a serial number which wasn't positive",
        category=CryptographyDeprecationWarning,
        module=r"sslyze\.plugins\.certificate_info\.trust_stores\.trust_store$",
    )


def _extra_arguments(options: ScanOptions) -> ScanCommandsExtraArguments:
    _quiet_trust_stores()
    if options.ca_file is None:
        return ScanCommandsExtraArguments()
    try:
        x509.load_pem_x509_certificates(options.ca_file.read_bytes())
    except (OSError, ValueError) as error:
        raise InputError(f"CA file {options.ca_file}: {error}") from error
    return ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=options.ca_file)
    )


def _wants_http(endpoint: Endpoint) -> bool:
    return endpoint.https and endpoint.starttls is None


def _request(
    endpoint: Endpoint, options: ScanOptions, extra: ScanCommandsExtraArguments
) -> ServerScanRequest:
    starttls = endpoint.starttls
    commands = set(ScanCommand)
    if not _wants_http(endpoint):
        commands.discard(ScanCommand.HTTP_HEADERS)
    return ServerScanRequest(
        server_location=ServerNetworkLocation(
            hostname=endpoint.host, port=endpoint.port, ip_address=endpoint.ip
        ),
        network_configuration=ServerNetworkConfiguration(
            # sslyze always sends SNI: for an IP-address host that is the address itself.
            tls_server_name_indication=endpoint.name,
            tls_opportunistic_encryption=(
                ProtocolWithOpportunisticTlsEnum(starttls.upper()) if starttls else None
            ),
            network_timeout=max(1, math.ceil(options.timeout)),
            network_max_retries=_MAX_ATTEMPTS,
        ),
        scan_commands=commands,
        scan_commands_extra_arguments=extra,
    )


@dataclass(frozen=True)
class Sslyze:
    """A full-mode scan: sslyze's own results (no preference order, no notes)."""

    attempts: AllScanCommandsAttempts
    preferences: Mapping[ProtocolVersion, Preference] = field(default_factory=dict)
    notes: Sequence[str] = ()


def _facts(
    endpoint: Endpoint,
    scan: Sslyze | ComplianceScan,
    options: ScanOptions,
    caa: Future[Observed[CaaFacts]],
    pool: DaemonPool,
    started: Started | None = None,
) -> TlsFacts:
    attempts = scan.attempts
    sslyze_protocols = [
        _protocol(version, _observe(attempt, _accepted_suites), scan.preferences.get(version))
        for version, attempt in _suite_attempts(attempts)
    ]
    tested = {version: _tested(attempt) for version, attempt in _suite_attempts(attempts)}
    extra = supplement(endpoint, tested, sslyze_protocols, options, pool, started)
    protocols = [_with_suites(p, extra.suites.get(p.version, [])) for p in sslyze_protocols]
    return TlsFacts(
        endpoint=endpoint,
        scanned_at=datetime.now(UTC),
        engine=ENGINE,
        mode=_mode(options),
        protocols=protocols,
        groups=_with_groups(_groups(attempts.elliptic_curves, protocols), extra.groups),
        group_probe=extra.group_probe,
        certificates=_observe(
            attempts.certificate_info,
            lambda result: certificate_info(result, endpoint.name, options.ca_file),
        ),
        heartbleed=_observe(attempts.heartbleed, lambda r: r.is_vulnerable_to_heartbleed),
        ccs_injection=_observe(
            attempts.openssl_ccs_injection, lambda r: r.is_vulnerable_to_ccs_injection
        ),
        robot=_observe(attempts.robot, lambda r: _ROBOT[r.robot_result]),
        renegotiation=_observe(
            attempts.session_renegotiation,
            lambda r: Renegotiation(
                secure=r.supports_secure_renegotiation,
                client_initiated=r.client_renegotiations_success_count > 0,
            ),
        ),
        compression=_observe(attempts.tls_compression, lambda r: r.supports_compression),
        fallback_scsv=_observe(attempts.tls_fallback_scsv, lambda r: r.supports_fallback_scsv),
        extended_master_secret=_observe(
            attempts.tls_extended_master_secret, lambda r: r.supports_ems_extension
        ),
        early_data=_observe(attempts.tls_1_3_early_data, lambda r: r.supports_early_data),
        resumption=_resumption(attempts.session_resumption, protocols, extra.resumption),
        caa=caa.result(),
        hsts=_hsts(endpoint, attempts),
        coverage=[
            *(COVERAGE_FULL if options.full else _compliance_coverage(options)),
            *scan.notes,
            *extra.notes,
            *_endpoint_notes(endpoint, protocols),
        ],
    )


def _protocol(
    version: ProtocolVersion, accepted: Observed[list[AcceptedSuite]], preference: Preference | None
) -> ProtocolFacts:
    if preference is None:
        return ProtocolFacts(version=version, accepted=accepted)
    return ProtocolFacts(
        version=version,
        accepted=accepted,
        server_preference=preference.server,
        preference_order=list(preference.order),
    )


def _compliance_coverage(options: ScanOptions) -> list[str]:
    notes = list(COVERAGE_COMPLIANCE)
    if options.skip:
        skipped = ", ".join(sorted(probe.value for probe in options.skip))
        notes.append(
            f"Not probed (compliance mode; the profile reads none of their results, --full"
            f" probes them): {skipped}."
        )
    return notes


def _suite_attempts(
    attempts: AllScanCommandsAttempts,
) -> list[tuple[ProtocolVersion, ScanCommandAttempt[CipherSuitesScanResult]]]:
    return [
        ("SSL 2.0", attempts.ssl_2_0_cipher_suites),
        ("SSL 3.0", attempts.ssl_3_0_cipher_suites),
        ("TLS 1.0", attempts.tls_1_0_cipher_suites),
        ("TLS 1.1", attempts.tls_1_1_cipher_suites),
        ("TLS 1.2", attempts.tls_1_2_cipher_suites),
        ("TLS 1.3", attempts.tls_1_3_cipher_suites),
    ]


def _observe(attempt: ScanCommandAttempt[R], convert: Callable[[R], V]) -> Observed[V]:
    """One scan command's outcome as an observation."""
    if attempt.status is ScanCommandAttemptStatusEnum.NOT_SCHEDULED:
        return Observed.failed(ErrorReason.NOT_SCANNED, "not scheduled")
    if attempt.result is None:
        return Observed.failed(*_command_error(attempt))
    try:
        return Observed.of(convert(attempt.result))
    except Exception as error:  # one unreadable result (e.g. a malformed certificate)
        return Observed.failed(
            ErrorReason.ENGINE_ERROR, f"could not read sslyze's result: {error!r}"
        )


def _command_error(attempt: ScanCommandAttempt[R]) -> tuple[ErrorReason, str]:
    trace = attempt.error_trace
    detail = _exception_text(trace) if trace else "sslyze gave no error detail"
    if attempt.error_reason is ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED:
        return ErrorReason.CLIENT_CERT_REQUIRED, detail
    if attempt.error_reason is ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE:
        exc_type = trace.exc_type if trace else None
        return _reason(exc_type, ErrorReason.NETWORK_ERROR), detail
    return ErrorReason.ENGINE_ERROR, detail


def _reason(exc_type: type[BaseException] | None, default: ErrorReason) -> ErrorReason:
    if exc_type is not None:
        for kind, reason in _EXCEPTION_REASONS:
            if issubclass(exc_type, kind):
                return reason
    return default


def _exception_text(trace: TracebackException) -> str:
    return "".join(trace.format_exception_only()).strip()


def _accepted_suites(result: CipherSuitesScanResult) -> list[AcceptedSuite]:
    return [
        AcceptedSuite(
            name=accepted.cipher_suite.name,
            openssl_name=accepted.cipher_suite.openssl_name,
            ephemeral_key=_ephemeral_key(accepted.ephemeral_key),
        )
        for accepted in result.accepted_cipher_suites
    ]


def _ephemeral_key(key: EphemeralKeyInfo | None) -> EphemeralKey | None:
    """The key as OpenSSL reports it: ``size`` is EVP_PKEY_bits (X25519: 253, X448: 448)."""
    if isinstance(key, EcDhEphemeralKeyInfo):
        return EphemeralKey(kind="ECDH", size=key.size, group=normalise_curve(key.curve_name))
    if isinstance(key, DhEphemeralKeyInfo):
        prime = int.from_bytes(key.prime, "big")
        generator = int.from_bytes(key.generator, "big")
        group = ffdhe_name(prime, generator)
        return EphemeralKey(kind="DH", size=key.size, group=group)
    return None


def _groups(
    attempt: ScanCommandAttempt[SupportedEllipticCurvesScanResult], protocols: list[ProtocolFacts]
) -> Observed[list[str]]:
    """Supported curves; "none" is refused when accepted suites used ECDH keys.

    sslyze skips the curve test when its ECDH probe fails, e.g. on a TLS 1.2 server that
    requires a client certificate.
    """
    groups = _observe(
        attempt, lambda r: [normalise_curve(c.name) for c in r.supported_curves or []]
    )
    seen = sorted(
        {
            suite.ephemeral_key.group or "?"
            for facts in protocols
            for suite in facts.accepted.value or []
            if suite.ephemeral_key is not None and suite.ephemeral_key.kind == "ECDH"
        }
    )
    if groups.value == [] and seen:
        return Observed.failed(
            ErrorReason.ENGINE_ERROR,
            "sslyze did not test the curves (its ECDH probe failed), yet accepted suites used"
            f" ECDH keys on: {', '.join(seen)}",
        )
    return groups


def _tested(attempt: ScanCommandAttempt[CipherSuitesScanResult]) -> set[str] | None:
    """The IANA names sslyze offered for a version; None when its scan failed."""
    result = attempt.result
    if result is None:
        return None
    accepted = {suite.cipher_suite.name for suite in result.accepted_cipher_suites}
    return accepted | {suite.cipher_suite.name for suite in result.rejected_cipher_suites}


def _with_suites(protocol: ProtocolFacts, extra: list[AcceptedSuite]) -> ProtocolFacts:
    """sslyze's suites for a version plus those only tlsaudit's ClientHello probe found."""
    if protocol.accepted.value is None or not extra:
        return protocol
    known = {suite.name for suite in protocol.accepted.value}
    added = [suite for suite in extra if suite.name not in known]
    return protocol.model_copy(update={"accepted": Observed.of([*protocol.accepted.value, *added])})


def _with_groups(groups: Observed[list[str]], extra: list[str]) -> Observed[list[str]]:
    if groups.value is None:
        return groups
    return Observed.of(list(dict.fromkeys([*groups.value, *extra])))


def _resumption(
    attempt: ScanCommandAttempt[SessionResumptionSupportScanResult],
    protocols: list[ProtocolFacts],
    tls13: bool | None,
) -> Observed[Resumption]:
    """sslyze's TLS 1.2 (and earlier) resumption plus tlsaudit's TLS 1.3 probe. On a server
    that accepts only TLS 1.3, sslyze's probe has nothing to resume: both are false."""
    legacy = [p for p in protocols if p.version != "TLS 1.3"]
    if attempt.result is None and all(p.accepted.value == [] for p in legacy):
        return Observed.of(Resumption(session_id=False, tickets=False, tls13=tls13))
    return _observe(
        attempt,
        lambda result: Resumption(
            session_id=result.session_id_resumption_result in _RESUMED,
            tickets=result.tls_ticket_resumption_result in _RESUMED,
            tls13=tls13,
        ),
    )


def _hsts(endpoint: Endpoint, attempts: AllScanCommandsAttempts) -> Observed[Hsts | None]:
    if not _wants_http(endpoint):
        return Observed.failed(ErrorReason.NOT_APPLICABLE, "not an HTTPS endpoint")
    result = attempts.http_headers.result
    if result is not None and result.http_error_trace is not None:
        trace = result.http_error_trace
        not_http = (
            trace.exc_type is not None and trace.exc_type.__name__ == "NotAValidHttpResponseError"
        )
        return Observed.failed(
            ErrorReason.NOT_APPLICABLE if not_http else ErrorReason.NETWORK_ERROR,
            f"HTTP request failed: {_exception_text(trace)}",
        )
    return _observe(attempts.http_headers, _hsts_header)


def _hsts_header(result: HttpHeadersScanResult) -> Hsts | None:
    header = result.strict_transport_security_header
    if header is None:
        return None
    return Hsts(
        max_age=header.max_age,
        include_subdomains=header.include_subdomains,
        preload=header.preload,
    )


def _endpoint_notes(endpoint: Endpoint, protocols: list[ProtocolFacts]) -> list[str]:
    notes = []
    if endpoint.sni is None and is_ip(endpoint.host):
        notes.append(
            f"The target is an IP address; sslyze sends {endpoint.host} as the SNI name"
            " (RFC 6066 allows only host names), so a server that picks its certificate by"
            " SNI may answer differently to clients that send none."
        )
    keyless = [
        f"{facts.version} {suite.name}"
        for facts in protocols
        for suite in facts.accepted.value or []
        if "DHE" in suite.name.split("_WITH_")[0].split("_") and suite.ephemeral_key is None
    ]
    if keyless:
        notes.append(
            "DHE suites accepted without an observed DH group (sslyze records this when its"
            " OpenSSL rejects the server's group as too small, 'dh key too small'): "
            + ", ".join(keyless)
        )
    return notes


def _unreachable_facts(
    endpoint: Endpoint, trace: TracebackException | None, options: ScanOptions
) -> TlsFacts:
    if trace is None:
        error = ProbeError(reason=ErrorReason.ENGINE_ERROR, detail="sslyze gave no error detail")
    else:
        error = _connectivity_error(endpoint, trace, options.timeout)
    return _failed(endpoint, options, error)


def _connectivity_error(
    endpoint: Endpoint, trace: TracebackException, timeout: float
) -> ProbeError:
    """Why sslyze could not connect; a failed handshake is probed once more to tell not-TLS."""
    reason = _reason(trace.exc_type, ErrorReason.ENGINE_ERROR)
    detail = _exception_text(trace)
    if reason is ErrorReason.HANDSHAKE_FAILED and endpoint.starttls is None:
        reason, seen = _probe(endpoint, timeout)
        detail = f"{detail} Probe: {seen}"
    return ProbeError(reason=reason, detail=detail)


def _probe(endpoint: Endpoint, timeout: float) -> tuple[ErrorReason, str]:
    """Send one ClientHello and classify the first bytes of the answer."""
    cut = ""
    try:
        with socket.create_connection((endpoint.ip, endpoint.port), timeout=timeout) as sock:
            sock.sendall(_client_hello(endpoint.name))
            answer = sock.recv(256)
            if _is_tls_record(answer) and len(answer) >= 5:
                answer, cut = _whole_record(sock, answer)
    except TimeoutError:
        return ErrorReason.TIMEOUT, f"no answer to a TLS ClientHello within {timeout:g} s."
    except ConnectionRefusedError:
        return ErrorReason.CONNECTION_REFUSED, "connection refused."
    except OSError as error:
        return ErrorReason.HANDSHAKE_FAILED, f"connection failed after a ClientHello: {error}."
    if not answer:
        return (
            ErrorReason.HANDSHAKE_FAILED,
            "closed the connection without answering a ClientHello.",
        )
    if cut:
        return ErrorReason.HANDSHAKE_FAILED, f"answers in TLS, then {cut}."
    if _is_tls_record(answer):
        seen = "answers in TLS, but no handshake sslyze offers works."
        completed, how = _local_handshake(endpoint, timeout)
        if completed:
            seen += f" This machine's OpenSSL completes one ({how})."
        else:
            seen += f" This machine's OpenSSL fails too: {how}."
        others = [g for g in TLS13_GROUPS if g not in SSLYZE_GROUPS]
        probe = probe_groups_tls13(endpoint.ip, endpoint.port, endpoint.name, others, timeout)
        groups = probe.supported
        if groups:
            names = ", ".join(SUPPORTED_GROUPS[g] for g in groups)
            seen += f" It accepts TLS 1.3 with {names}, a group sslyze cannot offer."
        return ErrorReason.HANDSHAKE_FAILED, seen
    first_line = answer.split(b"\n", 1)[0].rstrip(b"\r")[:60].decode("latin-1")
    printable = "".join(c if c.isprintable() else "." for c in first_line)
    return ErrorReason.NOT_TLS, f'answered a TLS ClientHello with non-TLS data: "{printable}".'


def _whole_record(sock: socket.socket, start: bytes) -> tuple[bytes, str]:
    """Read the rest of the server's first TLS record; the second value says how the server
    cut it short ("" when it arrived whole)."""
    wanted = 5 + int.from_bytes(start[3:5], "big")
    data = start
    try:
        while len(data) < wanted:
            chunk = sock.recv(wanted - len(data))
            if not chunk:
                return data, f"closed the connection inside its first record ({_of(data, wanted)})"
            data += chunk
    except ConnectionResetError:
        return data, f"reset the connection inside its first record ({_of(data, wanted)})"
    return data, ""


def _of(data: bytes, wanted: int) -> str:
    return f"{len(data) - 5} of {wanted - 5} bytes"


def _local_handshake(endpoint: Endpoint, timeout: float) -> tuple[bool, str]:
    """A complete handshake with Python's own OpenSSL (no certificate check): whether it
    works, and the version and suite, or OpenSSL's reason (e.g. EXCESSIVE_MESSAGE_SIZE for
    a certificate message over 100 KiB)."""
    context = _unverified_context()
    name = None if is_ip(endpoint.name) else endpoint.name
    try:
        with (
            socket.create_connection((endpoint.ip, endpoint.port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=name) as tls,
        ):
            cipher = tls.cipher()
            return True, f"{tls.version()}, {cipher[0] if cipher else '?'}"
    except ssl.SSLError as error:
        return False, str(error.reason or error)
    except (OSError, ValueError) as error:
        return False, str(error) or type(error).__name__


def _unverified_context() -> ssl.SSLContext:
    """Python's own OpenSSL as a client that checks no certificate (it only looks)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _client_hello(server_name: str) -> bytes:
    """A ClientHello from Python's own OpenSSL (no SNI for an IP address)."""
    context = _unverified_context()
    outgoing = ssl.MemoryBIO()
    try:
        tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=server_name)
    except ValueError:  # not a valid IDNA host name: send no SNI
        tls = context.wrap_bio(ssl.MemoryBIO(), outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def _is_tls_record(data: bytes) -> bool:
    """A TLS alert/handshake record header, or an SSL 2.0 SERVER-HELLO/ERROR message."""
    if len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03:
        return True
    return len(data) >= 3 and data[0] & 0x80 != 0 and data[2] in (0x00, 0x04)
