"""``tlsaudit scan`` asks the CAA of the scanned name (``cert.caa``) as ``tlsaudit domain``
asks ``dns.caa``: real nginx, real knot zones behind the real validating resolver."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from maildns.conftest import DnsEnv
from scan_targets import CA_CERT, scenario
from tlsaudit.cli import app

runner = CliRunner()


def caa_finding(dns_env: DnsEnv, name: str, *extra: str) -> dict[str, Any]:
    port = scenario("good").port
    args = ["scan", f"{name}:{port}", "--ip", "127.0.0.1", "--ca-file", str(CA_CERT)]
    result = runner.invoke(app, [*args, "--format", "json", *extra], env={"NO_COLOR": "1"})
    document = json.loads(result.stdout)
    [endpoint] = document["targets"][0]["endpoints"]
    findings: list[dict[str, Any]] = endpoint["findings"]
    [finding] = [f for f in findings if f["check_id"] == "cert.caa"]
    return finding


@pytest.mark.usefixtures("nginx")
def test_caa_of_a_parent_applies(dns_env: DnsEnv) -> None:
    """www.good-dns.test has no CAA; its parent good-dns.test names ca.example (RFC 8659)."""
    host, port = dns_env.resolver
    finding = caa_finding(dns_env, "www.good-dns.test", "--resolver", f"{host}:{port}")
    assert finding["status"] == "pass", finding
    assert finding["observed"] == 'at good-dns.test.: 0 issue "ca.example"'
    assert finding["subject"] == "www.good-dns.test CAA"


@pytest.mark.usefixtures("nginx")
def test_no_caa_anywhere_is_reported(dns_env: DnsEnv) -> None:
    host, port = dns_env.resolver
    finding = caa_finding(dns_env, "www.single-ns.test", "--resolver", f"{host}:{port}")
    assert (finding["status"], finding["observed"]) == ("info", "no CAA record: any CA may issue")


@pytest.mark.usefixtures("nginx")
def test_a_special_use_name_is_not_sent_to_the_public_dns(dns_env: DnsEnv) -> None:
    finding = caa_finding(dns_env, "www.good-dns.test")
    assert finding["status"] == "not_applicable"
    assert "special-use name (RFC 6761)" in finding["reason"]
