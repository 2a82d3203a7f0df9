"""STARTTLS: a real SMTP server (aiosmtpd) offering STARTTLS, scanned and judged via smtp://."""

from __future__ import annotations

import json
import socket

import jsonschema
import pytest
from typer.testing import CliRunner

from scan_targets import CA_CERT
from servers.proxy import CountingProxy
from tlsaudit.cli import app
from tlsaudit.models.facts import Endpoint
from tlsaudit.render.json import committed_schema
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import scan_endpoints


def test_smtp_starttls_scanned_and_judged(smtp_port: int) -> None:
    result = CliRunner().invoke(
        app,
        ["scan", f"smtp://localhost:{smtp_port}", "--ip", "127.0.0.1",
         "--ca-file", str(CA_CERT), "--format", "json"],
    )  # fmt: skip
    document = json.loads(result.stdout)
    jsonschema.validate(document, committed_schema())
    endpoint = document["targets"][0]["endpoints"][0]
    assert endpoint["endpoint"]["starttls"] == "smtp"
    assert endpoint["facts"]["connectivity"] is None
    found = {(f["check_id"], f["status"]) for f in endpoint["findings"]}
    assert ("tls.protocol.tls1_3", "pass") in found
    assert ("cert.trust.public", "pass") in found
    assert ("cert.hostname", "pass") in found
    assert not any(f["check_id"] == "tls.hsts" for f in endpoint["findings"])
    assert result.exit_code == 0, [f for f in endpoint["findings"] if f["status"] != "pass"]


def test_starttls_to_a_silent_port_is_an_error() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = CliRunner().invoke(
            app, ["scan", f"smtp://127.0.0.1:{port}", "--timeout", "1", "--format", "json"]
        )
    document = json.loads(result.stdout)
    facts = document["targets"][0]["endpoints"][0]["facts"]
    assert facts["connectivity"]["reason"] in ("starttls_failed", "timeout")
    assert result.exit_code == 3


@pytest.mark.parametrize("full", [True, False], ids=["full", "compliance"])
@pytest.mark.parametrize(("limit", "polite"), [(1, True), (5, False)])
def test_connections_per_server(smtp_port: int, limit: int, polite: bool, full: bool) -> None:
    """Mail servers are scanned one connection at a time (the mail scan sets limit 1), in
    either mode; a compliance scan opens a fraction of a full scan's connections."""
    proxy = CountingProxy(smtp_port)
    endpoint = Endpoint(
        host="localhost", port=proxy.port, ip="127.0.0.1", sni="localhost", starttls="smtp",
        https=False,
    )  # fmt: skip
    options = ScanOptions(ca_file=CA_CERT, connections_per_server=limit, full=full)
    [facts] = scan_endpoints([endpoint], options)
    assert facts.connectivity is None
    if full:
        assert proxy.connections > 100  # one connection per cipher suite, etc.
    else:
        assert proxy.connections < 70  # accepted suites and groups + the probes
    assert (proxy.peak == 1) is polite, proxy.peak
