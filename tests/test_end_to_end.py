"""Real nginx scenarios, scanned once per session, judged under all three CRYPTREC profiles.

Each row: scenario, profile, expected target verdict, and (check id, status) pairs that
must be among the findings. The `good` server must have no failing or warning finding.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tlsaudit.models.facts import ErrorReason, TlsFacts
from tlsaudit.models.findings import Finding, Status, Verdict
from tlsaudit.orchestrate import judge_target
from tlsaudit.profiles import load_profile

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HIGH, REC, EXC = "cryptrec-high", "cryptrec-recommended", "cryptrec-exception"
F, W, P, INFO = Status.FAIL, Status.WARN, Status.PASS, Status.INFO

CASES: list[tuple[str, str, Verdict, set[tuple[str, Status]]]] = [
    ("good", HIGH, Verdict.PASS, {("tls.protocol.tls1_3", P), ("cert.trust.public", P)}),
    ("good", REC, Verdict.PASS, {("tls.kex.dh_size", P), ("cert.key.size", P)}),
    ("good", EXC, Verdict.PASS, {("tls.protocol.tls1_0", P), ("tls.hsts", P)}),
    ("tls10", HIGH, Verdict.FAIL, {("tls.protocol.tls1_0", F), ("tls.protocol.tls1_1", F)}),
    ("tls10", REC, Verdict.FAIL, {("tls.protocol.tls1_0", F), ("tls.cipher", W)}),
    ("tls10", EXC, Verdict.PASS, {("tls.protocol.tls1_0", W), ("tls.protocol.tls1_1", W)}),
    ("cbc", HIGH, Verdict.FAIL, {("tls.cipher", F)}),
    ("cbc", REC, Verdict.PASS, {("tls.cipher", W)}),
    ("cbc", EXC, Verdict.PASS, {("tls.cipher", P)}),
    ("static_rsa", HIGH, Verdict.FAIL, {("tls.cipher", F), ("tls.protocol.tls1_3", F)}),
    ("static_rsa", REC, Verdict.PASS, {("tls.cipher", W), ("tls.protocol.tls1_3", W)}),
    ("static_rsa", EXC, Verdict.PASS, {("tls.protocol.tls1_3", INFO)}),
    ("dhe1024", HIGH, Verdict.FAIL, {("tls.kex.dh_size", F)}),
    ("dhe1024", REC, Verdict.FAIL, {("tls.kex.dh_size", F)}),
    ("dhe1024", EXC, Verdict.PASS, {("tls.kex.dh_size", W)}),
    ("rsa1024", HIGH, Verdict.FAIL, {("cert.key.size", F)}),
    ("rsa1024", EXC, Verdict.FAIL, {("cert.key.size", F)}),
    ("sha1", HIGH, Verdict.FAIL, {("cert.signature.hash", F)}),
    ("sha1", EXC, Verdict.FAIL, {("cert.signature.hash", F)}),
    ("selfsigned", HIGH, Verdict.FAIL, {("cert.trust.public", F)}),
    ("selfsigned", EXC, Verdict.FAIL, {("cert.trust.public", F)}),
    ("missing_intermediate", HIGH, Verdict.FAIL, {("cert.trust.public", F)}),
    ("expired", HIGH, Verdict.FAIL, {("cert.expiry", F)}),
    ("expired", EXC, Verdict.FAIL, {("cert.expiry", F)}),
    ("wrongname", HIGH, Verdict.FAIL, {("cert.hostname", F)}),
    ("wrongname", REC, Verdict.FAIL, {("cert.hostname", F)}),
    ("rsa2048", HIGH, Verdict.PASS, {("cert.strength_horizon", W), ("cert.key.size", P)}),
    ("expiring", HIGH, Verdict.PASS, {("cert.expiry", W)}),
]


def statuses(findings: list[Finding]) -> set[tuple[str, Status]]:
    return {(f.check_id, f.status) for f in findings}


def all_findings(facts: TlsFacts, profile_id: str) -> list[Finding]:
    report = judge_target("t", [facts], load_profile(profile_id), NOW)
    return [f for e in report.endpoints for f in e.findings] + report.findings


@pytest.mark.parametrize(
    ("name", "profile_id", "verdict", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1].removeprefix('cryptrec-')}" for c in CASES],
)
def test_scenario(
    scanned: dict[str, TlsFacts],
    name: str,
    profile_id: str,
    verdict: Verdict,
    expected: set[tuple[str, Status]],
) -> None:
    facts = scanned[name]
    assert facts.connectivity is None, facts.connectivity
    report = judge_target(name, [facts], load_profile(profile_id), NOW)
    found = statuses(all_findings(facts, profile_id))
    assert expected <= found, sorted(expected - found)
    assert report.verdict is verdict


@pytest.mark.parametrize("profile_id", [HIGH, REC, EXC])
def test_good_server_has_nothing_to_fix(scanned: dict[str, TlsFacts], profile_id: str) -> None:
    problems = [
        f
        for f in all_findings(scanned["good"], profile_id)
        if f.status in (Status.FAIL, Status.WARN, Status.UNKNOWN)
    ]
    assert problems == []


def test_every_finding_carries_citation_and_values(scanned: dict[str, TlsFacts]) -> None:
    for name in ("good", "tls10", "sha1", "dhe1024"):
        for f in all_findings(scanned[name], HIGH):
            assert f.citations, f.check_id
            assert f.observed, f.check_id
            assert f.expected, f.check_id
            if f.status in (Status.FAIL, Status.WARN):
                assert f.remediation, f.check_id


def test_good_server_facts(scanned: dict[str, TlsFacts]) -> None:
    facts = scanned["good"]
    accepted = {p.version: {s.name for s in p.accepted.value or []} for p in facts.protocols}
    assert accepted["TLS 1.0"] == set()
    assert accepted["TLS 1.3"] == {
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
    assert "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" in accepted["TLS 1.2"]
    assert "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" in accepted["TLS 1.2"]
    certificates = facts.certificates.value
    assert certificates is not None
    leaf_keys = sorted(
        (d.received_chain[0].key.algorithm, d.received_chain[0].key.size)
        for d in certificates.deployments
    )
    assert leaf_keys == [("EC", 256), ("RSA", 3072)]
    assert facts.hsts.value is not None
    assert facts.hsts.value.max_age == 31536000


def test_dh_size_observed(scanned: dict[str, TlsFacts]) -> None:
    tls12 = scanned["dhe1024"].protocol("TLS 1.2")
    assert tls12 is not None
    assert tls12.accepted.value is not None
    sizes = {
        s.ephemeral_key.size
        for s in tls12.accepted.value
        if s.ephemeral_key and s.ephemeral_key.kind == "DH"
    }
    assert sizes == {1024}


@pytest.mark.parametrize(
    ("name", "reason"),
    [("closed_port", ErrorReason.CONNECTION_REFUSED), ("plain_http", None)],
)
def test_unreachable_is_an_error_not_a_verdict(
    scanned: dict[str, TlsFacts], name: str, reason: ErrorReason | None
) -> None:
    facts = scanned[name]
    assert facts.connectivity is not None
    if reason is not None:
        assert facts.connectivity.reason is reason
    report = judge_target(name, [facts], load_profile(HIGH), NOW)
    assert report.verdict is Verdict.ERROR


def test_addresses_of_one_name_that_differ_are_reported(scanned: dict[str, TlsFacts]) -> None:
    """Two addresses of one name (here: the good server, and the CBC server as if at ::1)."""
    cbc = scanned["cbc"]
    at_v6 = cbc.model_copy(update={"endpoint": cbc.endpoint.model_copy(update={"ip": "::1"})})
    report = judge_target("www", [scanned["good"], at_v6], load_profile(HIGH), NOW)
    differences = [f for f in report.findings if f.check_id == "ipv6.consistency"]
    warned = {f.subject.split(" ", 1)[1] for f in differences if f.status is Status.WARN}
    passed = {f.subject.split(" ", 1)[1] for f in differences if f.status is Status.PASS}
    assert {"cipher suites", "leaf certificates"} <= warned, differences  # ECDSA+RSA vs RSA
    assert "protocol versions" in passed, differences
    assert any("[::1] also has" in f.observed and "CBC" in f.observed for f in differences)
    assert report.verdict is Verdict.FAIL  # the CBC address fails on its own


def test_same_configuration_at_two_addresses_is_consistent(scanned: dict[str, TlsFacts]) -> None:
    report = judge_target("www", [scanned["good"], scanned["good"]], load_profile(HIGH), NOW)
    assert {f.status for f in report.findings if f.check_id == "ipv6.consistency"} == {P}
    assert report.verdict is Verdict.PASS
