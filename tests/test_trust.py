"""Regression tests for verdicts that were wrong, each against a real server on loopback:
the name checked is the SNI name, trust anchors are exempt, chain failures say what is
true, not-applicable is never a pass, and what sslyze cannot offer is probed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from scan_targets import CA_CERT, scenario
from servers.nginx import NginxServer
from servers.pqc import PqcServer
from tlsaudit.cli import app
from tlsaudit.inventory import Target, resolve
from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Finding, Status
from tlsaudit.orchestrate import judge_target
from tlsaudit.profiles import load_profile
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import scan_endpoints

NOW = datetime(2026, 11, 23, tzinfo=UTC)
EXEMPT = ("cert.key.size", "cert.signature.hash", "cert.expiry", "cert.strength_horizon")
runner = CliRunner()


def scan_json(name: str, *extra: str) -> dict[str, Any]:
    """``tlsaudit scan 127.0.0.1:PORT --format json ...`` of one scenario."""
    port = scenario(name).port
    args = ["scan", f"127.0.0.1:{port}", "--ca-file", str(CA_CERT), "--format", "json", *extra]
    result = runner.invoke(app, args, env={"NO_COLOR": "1"})
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def findings_of(document: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [
        f
        for target in document["targets"]
        for endpoint in target["endpoints"]
        for f in endpoint["findings"]
        if f["check_id"] == check_id
    ]


def judged(facts: TlsFacts, profile_id: str = "cryptrec-high") -> Iterator[Finding]:
    report = judge_target("t", [facts], load_profile(profile_id), NOW)
    for endpoint in report.endpoints:
        yield from endpoint.findings


def only(findings: Iterator[Finding], check_id: str, subject_part: str = "") -> Finding:
    [finding] = [f for f in findings if f.check_id == check_id and subject_part in f.subject]
    return finding


# ---------------------------------------------------------------- the name checked


@pytest.mark.usefixtures("nginx")
def test_hostname_is_checked_against_the_sni_name() -> None:
    """A leaf naming only www.example.test passes when that name is scanned via --sni."""
    [hostname] = findings_of(scan_json("dnsonly", "--sni", "www.example.test"), "cert.hostname")
    assert hostname["status"] == "pass", hostname
    assert hostname["observed"] == "www.example.test matches"


@pytest.mark.usefixtures("nginx")
def test_an_ip_san_does_not_cover_another_sni_name() -> None:
    """The good leaf carries IP:127.0.0.1, but the name scanned is other.example."""
    findings = findings_of(scan_json("good", "--sni", "other.example"), "cert.hostname")
    assert {f["status"] for f in findings} == {"fail"}
    assert all(f["observed"].startswith("other.example does not match") for f in findings)


@pytest.mark.usefixtures("nginx")
def test_an_address_is_checked_when_it_is_the_target_and_no_sni_is_given() -> None:
    [hostname] = findings_of(scan_json("dnsonly"), "cert.hostname")
    assert hostname["status"] == "fail"
    assert hostname["observed"].startswith("127.0.0.1 does not match")


# ---------------------------------------------------------------- trust anchors


def test_trust_anchors_are_exempt(scanned: dict[str, TlsFacts]) -> None:
    """The test root is RSA-2048 valid until 2045: judged, it would warn cert.strength_horizon.
    Neither the root taken from the store nor the one the server sends is judged; the
    intermediate is."""
    for name in ("good", "rsa2048", "fullchain", "misordered"):
        findings = [f for f in judged(scanned[name]) if f.check_id in EXEMPT]
        assert not [f for f in findings if "(root)" in f.subject], name
        assert [f for f in findings if "(intermediate)" in f.subject], name
    horizon = [f for f in judged(scanned["rsa2048"]) if f.check_id == "cert.strength_horizon"]
    assert [(f.subject.split(" / ")[1], f.status) for f in horizon if f.status is Status.WARN] == [
        ("certificate #0 (leaf) CN=localhost", Status.WARN)
    ]


def test_the_sent_anchor_is_reported_and_the_order_checked(scanned: dict[str, TlsFacts]) -> None:
    full = list(judged(scanned["fullchain"]))
    assert only(iter(full), "cert.chain.anchor", "RSA").status is Status.INFO
    assert "tlsaudit Test Root CA" in only(iter(full), "cert.chain.anchor", "RSA").observed
    assert only(iter(full), "cert.chain.order", "RSA").status is Status.PASS
    misordered = only(judged(scanned["misordered"]), "cert.chain.order", "RSA")
    assert misordered.status is Status.INFO
    assert misordered.observed.startswith("out of order")
    assert only(judged(scanned["good"]), "cert.chain.anchor", "RSA").status is Status.PASS


# ---------------------------------------------------------------- why a chain fails


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "untrusted_direct",
            "issuer not trusted: CN=tlsaudit Untrusted Root is in no trust store and the"
            " server does not send it",
        ),
        ("missing_intermediate", "incomplete chain: the server sends only the leaf, not their"),
        ("sha3", "signature algorithm refused by the trust-store verifier:"),
        ("clientauth", "the leaf is not valid for TLS servers (extendedKeyUsage lacks serverAuth)"),
        ("selfsigned", "self-signed certificate"),
    ],
)
def test_chain_failures_say_what_is_true(
    scanned: dict[str, TlsFacts], name: str, expected: str
) -> None:
    trust = only(judged(scanned[name]), "cert.trust.public")
    assert trust.status is Status.FAIL
    assert trust.observed.startswith(expected), trust.observed
    assert "missing intermediate" not in trust.observed
    assert "untrusted root" not in trust.observed


def test_a_refused_signature_algorithm_is_named(scanned: dict[str, TlsFacts]) -> None:
    trust = only(judged(scanned["sha3"]), "cert.trust.public")
    assert "id-rsassa-pkcs1-v1_5-with-sha3-256 on RSA deployment / certificate #0" in trust.observed
    # SHA3-256 is on LS-0001: the hash rule passes, only the stores refuse it.
    signature = only(judged(scanned["sha3"]), "cert.signature.hash", "(leaf)")
    assert signature.status is Status.PASS


def test_the_missing_intermediate_names_the_issuer(scanned: dict[str, TlsFacts]) -> None:
    trust = only(judged(scanned["missing_intermediate"]), "cert.trust.public")
    assert "CN=tlsaudit Test Intermediate CA" in trust.observed
    assert "http://pki.tlsaudit.test/intermediate.der" in trust.observed


# ---------------------------------------------------------------- certificate usage and CT


def test_usage_must_staple_and_scts(scanned: dict[str, TlsFacts]) -> None:
    usage = only(judged(scanned["clientauth"]), "cert.usage")
    assert (usage.status, usage.observed.split(";")[0]) == (
        Status.INFO,
        "extendedKeyUsage: clientAuth",
    )
    assert only(judged(scanned["good"]), "cert.usage", "RSA").status is Status.PASS
    staple = only(judged(scanned["mustaple"]), "cert.must_staple")
    assert (staple.status, staple.observed) == (
        Status.INFO,
        "must-staple; OCSP response not stapled",
    )
    assert only(judged(scanned["good"]), "cert.must_staple", "RSA").status is Status.NOT_APPLICABLE
    info = scanned["dnsonly"].certificates.value
    assert info is not None
    assert info.deployments[0].received_chain[0].sct_count == 2
    sct = only(judged(scanned["dnsonly"]), "cert.sct")
    assert (sct.status, sct.observed) == (Status.PASS, "2 SCT(s) embedded in the leaf")
    # Valid only under the --ca-file's private CA: CT is not expected of it.
    assert only(judged(scanned["good"]), "cert.sct", "RSA").status is Status.NOT_APPLICABLE
    assert only(judged(scanned["selfsigned"]), "cert.sct").status is Status.INFO


# ---------------------------------------------------------------- not applicable is never a pass


def test_renegotiation_and_compression_do_not_apply_to_tls13_only(
    scanned: dict[str, TlsFacts],
) -> None:
    findings = list(judged(scanned["tls13_only"]))
    for check_id in ("tls.renegotiation.secure", "tls.renegotiation.client_initiated"):
        finding = only(iter(findings), check_id)
        assert finding.status is Status.NOT_APPLICABLE, finding
        assert "TLS 1.3 only" in (finding.reason or "")
    assert only(iter(findings), "tls.compression").status is Status.NOT_APPLICABLE
    assert only(judged(scanned["good"]), "tls.renegotiation.secure").status is Status.PASS


def test_strength_horizon_is_not_applicable_below_its_band(scanned: dict[str, TlsFacts]) -> None:
    """1024-bit keys fail the size checks; the 112-bit horizon does not call them a pass."""
    dh = only(judged(scanned["dhe1024"], "cryptrec-exception"), "tls.kex.strength_horizon")
    assert dh.status is Status.NOT_APPLICABLE
    key = only(judged(scanned["rsa1024"]), "cert.strength_horizon", "(leaf)")
    assert key.status is Status.NOT_APPLICABLE
    assert only(judged(scanned["rsa1024"]), "cert.key.size", "(leaf)").status is Status.FAIL


# ---------------------------------------------------------------- what sslyze cannot see


def test_tls13_resumption_is_probed(scanned: dict[str, TlsFacts]) -> None:
    resumption = scanned["tls13_only"].resumption.value
    assert resumption is not None
    assert (resumption.session_id, resumption.tickets, resumption.tls13) == (False, False, True)
    tls12 = scanned["tls10"].resumption.value
    assert tls12 is not None
    assert tls12.tls13 is None  # TLS 1.3 not accepted


def test_ffdhe_groups_are_enumerated_and_judged(scanned: dict[str, TlsFacts]) -> None:
    facts = scanned["ffdhe13"]
    assert facts.groups.value == ["X25519", "ffdhe2048", "ffdhe3072"]
    findings = list(judged(facts))
    dh2048 = only(iter(findings), "tls.kex.dh_size", "DHE 2048-bit group")
    assert (dh2048.status, "TLS 1.3 group ffdhe2048" in dh2048.observed) == (Status.PASS, True)
    horizon = only(iter(findings), "tls.kex.strength_horizon", "DHE 2048-bit group")
    assert horizon.status is Status.INFO
    assert only(iter(findings), "tls.kex.group", "ffdhe3072").status is Status.PASS


def test_suites_sslyze_never_offers_are_found(scanned: dict[str, TlsFacts]) -> None:
    protocol = scanned["anon_camellia"].protocol("TLS 1.2")
    assert protocol is not None
    found = {s.name: s for s in protocol.accepted.value or []}
    for name in (
        "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256",
        "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256",
    ):
        suite = found[name]
        assert suite.detected_by == "client-hello"
        assert suite.ephemeral_key is not None
        assert suite.ephemeral_key.size == 3072
        finding = only(judged(scanned["anon_camellia"]), "tls.cipher", name)
        assert (finding.status, finding.observed.split(":")[0]) == (Status.FAIL, "forbidden")
    assert all(s.detected_by == "handshake" for s in found.values() if "ECDHE" in s.name)


def test_nginx_offers_no_post_quantum_group(scanned: dict[str, TlsFacts]) -> None:
    """Debian's nginx (OpenSSL 3.0) is the negative case of tls.kex.pqc."""
    pqc = only(judged(scanned["good"]), "tls.kex.pqc")
    assert pqc.status is Status.INFO
    assert pqc.observed.startswith("no post-quantum key exchange (probed: X25519MLKEM768")
    assert only(judged(scanned["tls10"]), "tls.kex.pqc").status is Status.NOT_APPLICABLE


def test_post_quantum_groups_are_detected_and_judged(pqc: PqcServer) -> None:
    """OpenSSL 3.5 (pyOpenSSL) accepts the ML-KEM groups: found by the scan, judged pass."""
    target = Target(raw="pqc", host="localhost", port=pqc.port, ip=pqc.host)
    [facts] = scan_endpoints([resolve(target)[0]], ScanOptions(ca_file=CA_CERT, timeout=3.0))
    assert facts.connectivity is None, facts.connectivity
    for group in ("X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "MLKEM768"):
        assert group in (facts.groups.value or []), facts.groups
    findings = list(judged(facts))
    pqc_finding = only(iter(findings), "tls.kex.pqc")
    assert pqc_finding.status is Status.PASS
    assert pqc_finding.observed.startswith("post-quantum key exchange offered: ")
    assert only(iter(findings), "tls.kex.group", "X25519MLKEM768").status is Status.PASS
    mlkem512 = only(iter(findings), "tls.kex.group", "MLKEM512")
    assert mlkem512.status is Status.WARN  # not on LS-0001-2022R2
    assert (
        "ML-KEM-768: 電子政府推奨暗号リスト"
        in only(iter(findings), "tls.kex.group", "X25519MLKEM768").observed
    )


# ---------------------------------------------------------------- a clean scan is quiet


@pytest.mark.usefixtures("nginx")
def test_a_clean_scan_writes_nothing_to_stderr(nginx: NginxServer) -> None:
    port = scenario("good").port
    command = [sys.executable, "-m", "tlsaudit", "scan", f"localhost:{port}", "--ip", "127.0.0.1"]
    done = subprocess.run(
        [*command, "--ca-file", str(CA_CERT), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stderr == ""
    assert json.loads(done.stdout)["verdict"] == "pass"
