"""`tlsaudit domain` end to end: real DNS (knot + unbound), real SMTP with STARTTLS, real TLS
scan of the MX, JSON validated against the committed schema, exit codes, Japanese report."""

from __future__ import annotations

import json

import jsonschema
from typer.testing import CliRunner

from maildns.conftest import DnsEnv
from servers.pki import CA_CERT
from servers.smtp import MailServers
from tlsaudit.cli import app
from tlsaudit.render.json import committed_schema


def domain(dns_env: DnsEnv, *args: str) -> tuple[int, str]:
    host, port = dns_env.resolver
    result = CliRunner().invoke(
        app,
        ["domain", *args, "--resolver", f"{host}:{port}", "--ca-file", str(CA_CERT),
         "--trust-anchor", str(dns_env.trust_anchor), "--timeout", "2"],
        env={"NO_COLOR": "1"},
    )  # fmt: skip
    return result.exit_code, result.stdout


def test_good_domain_passes_every_group(dns_env: DnsEnv, mail_servers: MailServers) -> None:
    code, out = domain(dns_env, "mail-good.test", "--format", "json")
    document = json.loads(out)
    jsonschema.validate(document, committed_schema())
    [report] = document["domains"]
    groups = {g["group"]: g["verdict"] for g in report["groups"]}
    assert groups == {"mail_authentication": "pass", "mail_transport": "pass", "dns": "pass"}
    found = {(f["check_id"], f["status"]) for f in report["findings"]}
    assert {
        ("mail.spf.all", "pass"),
        ("mail.dmarc.policy", "pass"),
        ("mail.starttls", "pass"),
    } <= found
    assert ("tls.protocol.tls1_3", "pass") in found  # the MX's TLS, judged by the TLS engine
    assert ("dns.ns.count", "pass") in found
    mx = report["mail"]["mx"]
    assert mx
    assert code == 0


def test_failing_domain_exit_1_and_japanese_groups(
    dns_env: DnsEnv, mail_servers: MailServers
) -> None:
    code, out = domain(dns_env, "spf-plusall.test", "--lang", "ja")
    assert code == 1
    assert "送信ドメイン認証" in out
    assert "メール転送の暗号化" in out
    assert "mail.spf.all" in out


def test_bad_domain_is_an_error_entry_not_a_crash(
    dns_env: DnsEnv, mail_servers: MailServers
) -> None:
    code, out = domain(dns_env, "not a domain", "single-ns.test", "--format", "json")
    document = json.loads(out)
    jsonschema.validate(document, committed_schema())
    verdicts = [(d["domain"], d["verdict"]) for d in document["domains"]]
    assert verdicts[0] == ("not a domain", "error")
    assert verdicts[1][0] == "single-ns.test"
    assert code == 1  # single-ns.test fails dns.ns.count


def test_starttls_injection_is_opt_in(dns_env: DnsEnv, mail_servers: MailServers) -> None:
    code, out = domain(dns_env, "starttls-injection.test", "--format", "json")
    found = {(f["check_id"], f["status"]) for f in json.loads(out)["domains"][0]["findings"]}
    assert ("mail.starttls.injection", "info") in found
    code, out = domain(
        dns_env, "starttls-injection.test", "--starttls-injection-test", "--format", "json"
    )
    [report] = json.loads(out)["domains"]
    found = {(f["check_id"], f["status"]) for f in report["findings"]}
    assert ("mail.starttls.injection", "fail") in found
    assert report["mail"]["injection_tested"]
    assert code == 1
