"""Compliance mode's elimination gives exactly sslyze's per-suite and per-curve answers.

On every TLS scenario of the session nginx and on configurations built for this (50+
accepted suites with RSA and ECDSA certificates, server preference on and off, TLS 1.0
only, DHE only, anonymous suites only, a server preferring CHACHA20): the accepted suites per
version, the ephemeral key of each (DH sizes and groups, ECDH curves) and the supported
curves found by :func:`tlsaudit.scan.compliance.scan_compliance` equal those of sslyze's own
scan commands. Then 20 compliance scans at once must give the sets of one quiet scan.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sslyze import (
    AllScanCommandsAttempts,
    CipherSuitesScanResult,
    ScanCommand,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    SupportedEllipticCurvesScanResult,
)

from scan_targets import (
    CA_CERT,
    GOOD_DHPARAM,
    HOST,
    SCENARIOS,
    SERVER_NAME,
    Scenario,
    free_ports,
    tls_directives,
)
from servers.nginx import NginxServer, start_nginx
from tlsaudit.scan.compliance import SUITE_COMMANDS, ComplianceScan, scan_compliance
from tlsaudit.scan.pool import DaemonPool

BOTH_CERTS = ("good-ecdsa-p256-chain", "good-rsa3072-chain")
EVERYTHING = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
PREFER_SERVER = ("ssl_prefer_server_ciphers on",)


def _extra_scenarios() -> tuple[Scenario, ...]:
    ports = iter(free_ports(9))
    return (
        Scenario(
            "many_server_order",
            next(ports),
            tls_directives(
                certs=BOTH_CERTS,
                protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
                ciphers=EVERYTHING,
                extra=PREFER_SERVER,
            ),
            description="every suite OpenSSL 3 has, RSA + ECDSA, server order",
        ),
        Scenario(
            "many_client_order",
            next(ports),
            tls_directives(
                certs=BOTH_CERTS, protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ciphers=EVERYTHING
            ),
            description="every suite OpenSSL 3 has, RSA + ECDSA, client order",
        ),
        Scenario(
            "tls10_only",
            next(ports),
            tls_directives(protocols="TLSv1", ciphers="ALL:@SECLEVEL=0", extra=PREFER_SERVER),
            description="TLS 1.0 only, every non-null suite",
        ),
        Scenario(
            "dhe_only",
            next(ports),
            tls_directives(
                certs=BOTH_CERTS,
                protocols="TLSv1.2",
                ciphers="DHE:!aNULL:@SECLEVEL=0",
                dhparam=GOOD_DHPARAM,
                ecdh_curve=None,
            ),
            description="TLS 1.2 DHE suites only (ffdhe3072)",
        ),
        Scenario(
            "anon_only",
            next(ports),
            tls_directives(
                protocols="TLSv1.2", ciphers="aNULL:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
            ),
            description="TLS 1.2 anonymous (EC)DH suites and one ECDHE suite (sslyze's"
            " connectivity test offers no anonymous suite)",
        ),
        Scenario(
            "chacha_first",
            next(ports),
            tls_directives(
                certs=BOTH_CERTS,
                ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE+AESGCM",
                ciphersuites="TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:"
                "TLS_AES_128_GCM_SHA256",
                ecdh_curve="secp384r1:X25519:prime256v1:secp521r1:X448",
                extra=(*PREFER_SERVER, "ssl_conf_command Options PrioritizeChaCha"),
            ),
            description="server order, CHACHA20 first, five curves",
        ),
        Scenario(
            "legacy_mix",
            next(ports),
            tls_directives(
                protocols="TLSv1 TLSv1.1 TLSv1.2",
                ciphers="3DES:RC4:CAMELLIA:SEED:IDEA:ARIA:@SECLEVEL=0",
                extra=PREFER_SERVER,
            ),
            description="3DES, RC4, Camellia, SEED, IDEA, ARIA at TLS 1.0-1.2",
        ),
        *(
            Scenario(
                f"client_cert_{mode}",
                next(ports),
                tls_directives(
                    protocols="TLSv1.1 TLSv1.2 TLSv1.3",
                    ciphers="ECDHE+AESGCM:ECDHE+AES:@SECLEVEL=0",
                    extra=(f"ssl_client_certificate {CA_CERT}", f"ssl_verify_client {verify}"),
                ),
                description=f"a client certificate {mode} (sslyze sends none)",
            )
            for mode, verify in (("required", "on"), ("optional", "optional"))
        ),
    )


EXTRA = _extra_scenarios()
ALL_TLS = tuple(s for s in SCENARIOS if s.tls) + EXTRA


@pytest.fixture(scope="module")
def extra_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    server = start_nginx(EXTRA, tmp_path_factory.mktemp("nginx-exactness"))
    yield server
    server.stop()


def _request(scenario: Scenario, commands: set[ScanCommand]) -> ServerScanRequest:
    return ServerScanRequest(
        server_location=ServerNetworkLocation(SERVER_NAME, scenario.port, HOST),
        network_configuration=ServerNetworkConfiguration(SERVER_NAME, network_timeout=5),
        scan_commands=commands,
    )


Answers = dict[str, object]


def _answers(attempts: AllScanCommandsAttempts) -> Answers:
    """Accepted suites with their ephemeral keys per version, and the supported curves."""
    out: Answers = {}
    for version, command in SUITE_COMMANDS.items():
        result = getattr(attempts, command.value).result
        assert isinstance(result, CipherSuitesScanResult), (version, command)
        out[version.name] = {
            accepted.cipher_suite.name: _key(accepted.ephemeral_key)
            for accepted in result.accepted_cipher_suites
        }
    curves = attempts.elliptic_curves.result
    assert isinstance(curves, SupportedEllipticCurvesScanResult)
    out["curves"] = sorted(c.name for c in curves.supported_curves or [])
    return out


def _key(key: object) -> tuple[str, int, object] | None:
    if key is None:
        return None
    return (type(key).__name__, getattr(key, "size", 0), getattr(key, "curve_name", None))


def _sslyze(scenario: Scenario) -> Answers:
    scanner = Scanner(per_server_concurrent_connections_limit=5)
    scanner.queue_scans(
        [_request(scenario, {*SUITE_COMMANDS.values(), ScanCommand.ELLIPTIC_CURVES})]
    )
    (result,) = list(scanner.get_results())
    assert result.scan_result is not None, result.connectivity_error_trace
    return _answers(result.scan_result)


def _scan(scenario: Scenario) -> ComplianceScan:
    with DaemonPool(5) as pool:
        return scan_compliance(_request(scenario, set()), (), pool)


@functools.cache
def _quiet_scan(name: str) -> ComplianceScan:
    """One scan per scenario for the whole module (its servers do not change)."""
    return _scan(next(s for s in ALL_TLS if s.name == name))


def _compliance(scenario: Scenario) -> Answers:
    return _answers(_quiet_scan(scenario.name).attempts)


@pytest.mark.parametrize("scenario", ALL_TLS, ids=lambda s: s.name)
def test_elimination_equals_sslyze(
    scenario: Scenario, nginx: NginxServer, extra_nginx: NginxServer
) -> None:
    ours, theirs = _compliance(scenario), _sslyze(scenario)
    assert ours == theirs


def test_the_big_configurations_are_big(extra_nginx: NginxServer) -> None:
    """The exactness cases mean something: 50+ suites, anonymous ones, DHE keys, curves."""
    many = _compliance(EXTRA[0])
    tls12 = many["TLS_1_2"]
    assert isinstance(tls12, dict)
    assert len(tls12) >= 50
    assert any("_anon_" in name for name in tls12)
    dhe = _compliance(EXTRA[3])["TLS_1_2"]
    assert isinstance(dhe, dict)
    assert set(dhe.values()) == {("DhEphemeralKeyInfo", 3072, None)}
    assert len(_compliance(EXTRA[5])["curves"]) == 5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "server"), [("many_server_order", True), ("many_client_order", False)]
)
def test_server_preference_is_observed(name: str, server: bool, extra_nginx: NginxServer) -> None:
    scan = _quiet_scan(name)
    assert scan.preferences["TLS 1.0"].server is server
    assert scan.preferences["TLS 1.2"].server is server


def test_chacha_first_order(extra_nginx: NginxServer) -> None:
    scan = _quiet_scan("chacha_first")
    tls13 = scan.preferences["TLS 1.3"]
    assert tls13.server is True
    assert tls13.order == (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
    )


def test_same_answers_under_load(extra_nginx: NginxServer) -> None:
    """20 compliance scans at once (on 2 cores) find what one quiet scan finds."""
    scenario = next(s for s in EXTRA if s.name == "chacha_first")
    quiet = _compliance(scenario)
    with ThreadPoolExecutor(max_workers=20) as pool:
        loaded = list(pool.map(lambda _: _answers(_scan(scenario).attempts), range(20)))
    assert all(answers == quiet for answers in loaded)
