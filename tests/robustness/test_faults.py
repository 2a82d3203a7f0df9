"""Fault injection end to end: the real ``tlsaudit`` command against hostile peers.

TLS peers listen on loopback ports the kernel picks (``servers.hostile``): a reset after
the ClientHello, a reset inside the ServerHello, a 60-certificate chain, a 60 kB and a
100 kB certificate (made with ``cryptography``, dated from the pinned :data:`NOW`). The DNS
faults (truncation over UDP and TCP, a TCP port that refuses, CNAME loops and long chains
at the MX, ``_dmarc``, ``_mta-sts``, ``www`` and SPF names, a 50-deep SPF include chain,
include loops, 30 MX hosts, an MX host with 31 addresses) come from a hostile DNS server in
a network namespace this module creates (``ta12-faults-<pid>``), where ``tlsaudit domain``
runs too: it can reach nothing but the namespace's own loopback. For every fault: the
command ends within its deadline, the JSON report names the reason, nothing on stderr is a
traceback, and in a batch the healthy targets complete. Ctrl-C of a ``tlsaudit scan``
writes the targets that finished.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scan_targets import CA_CERT, scenario
from servers.hostile import (
    MANY,
    SPF_DEPTH,
    Namespace,
    TlsServer,
    drip_tls_handshake,
    huge_certificate,
    long_chain,
    rst_after_client_hello,
    rst_in_server_hello,
    tcp_server,
)
from servers.nginx import NginxServer
from servers.pki import issue_certificate
from tlsaudit.models.facts import Endpoint, ErrorReason
from tlsaudit.orchestrate import NOT_FINISHED, domain_deadline
from tlsaudit.render.json import committed_schema
from tlsaudit.scan.mail import MAX_HOST_ADDRESSES, MAX_MX_HOSTS, fetch_deadline, fetch_https
from tlsaudit.scan.options import ScanOptions
from tlsaudit.scan.tls import endpoint_deadline, scan_endpoints

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
TIMEOUT = 1.0
SLACK = 5.0
"""Seconds allowed past a deadline (process start-up, a loaded machine)."""
TESTS = Path(__file__).resolve().parent.parent
CHAIN_LENGTH = 60


def tlsaudit(*args: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None
             ) -> tuple[int, dict[str, Any], str, float]:  # fmt: skip
    """Run the command in a process of its own: exit status, JSON report, stderr, seconds."""
    start = time.monotonic()
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "tlsaudit", *args, "--format", "json"],
        capture_output=True, text=True, timeout=300, cwd=TESTS, env=env,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(report, committed_schema())
    return result.returncode, report, result.stderr, elapsed


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_peers(
    nginx: NginxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    out = tmp_path_factory.mktemp("hostile-certs")
    with ExitStack() as stack:
        ports = {
            "good": scenario("good").port,
            "rst_hello": stack.enter_context(tcp_server(rst_after_client_hello)),
            "rst_server_hello": stack.enter_context(tcp_server(rst_in_server_hello)),
        }
        for name, files in (
            ("long_chain", long_chain(out, NOW, CHAIN_LENGTH)),
            ("cert_60kb", huge_certificate(out, NOW, 60_000)),
            ("cert_100kb", huge_certificate(out, NOW, 100_000)),
        ):
            ports[name] = stack.enter_context(TlsServer(*files)).port
        yield ports


def endpoint_of(report: dict[str, Any], port: int) -> dict[str, Any]:
    (target,) = [t for t in report["targets"] if t["target"] == f"127.0.0.1:{port}"]
    (endpoint,) = target["endpoints"]
    return dict(endpoint)


def test_tls_faults_in_one_batch(tls_peers: dict[str, int]) -> None:
    names = list(tls_peers)
    code, report, _, elapsed = tlsaudit(
        "scan", *(f"127.0.0.1:{tls_peers[n]}" for n in names), "--sni", "localhost",
        "--ca-file", str(CA_CERT), "--timeout", "2",
    )  # fmt: skip
    assert elapsed < endpoint_deadline(2) + SLACK
    assert code == 1  # the self-signed chains fail; the resets are errors
    facts = {n: endpoint_of(report, tls_peers[n])["facts"] for n in names}
    assert facts["good"]["connectivity"] is None
    assert endpoint_of(report, tls_peers["good"])["verdict"] == "pass"
    reset = facts["rst_hello"]["connectivity"]
    assert reset["reason"] == ErrorReason.HANDSHAKE_FAILED
    assert (
        "connection failed after a ClientHello: [Errno 104] Connection reset by peer"
        in (reset["detail"])
    )
    cut = facts["rst_server_hello"]["connectivity"]
    assert cut["reason"] == ErrorReason.HANDSHAKE_FAILED
    assert cut["detail"].endswith(
        "Probe: answers in TLS, then reset the connection inside its first record (6 of 80 bytes)."
    )
    big_message = facts["cert_100kb"]["connectivity"]  # OpenSSL's limit: 100 KiB per message
    assert big_message["reason"] == ErrorReason.HANDSHAKE_FAILED
    assert (
        "Probe: answers in TLS, but no handshake sslyze offers works. This machine's OpenSSL"
        " fails too: EXCESSIVE_MESSAGE_SIZE." in big_message["detail"]
    )
    chain = facts["long_chain"]["certificates"]["value"]["deployments"][0]["received_chain"]
    assert len(chain) == CHAIN_LENGTH
    assert chain[-1]["subject"] == f"CN=Hostile CA {CHAIN_LENGTH - 1}"
    big = facts["cert_60kb"]
    assert big["connectivity"] is None
    (leaf,) = big["certificates"]["value"]["deployments"][0]["received_chain"]
    assert len(leaf["san_dns"]) > 2500
    assert big["resumption"]["error"]["reason"] == "not_scanned"  # compliance: no rule reads it
    _, full, _, _ = tlsaudit(
        "scan", f"127.0.0.1:{tls_peers['cert_60kb']}", "--sni", "localhost", "--full",
        "--ca-file", str(CA_CERT), "--timeout", "2",
    )  # fmt: skip
    big = endpoint_of(full, tls_peers["cert_60kb"])["facts"]
    assert big["resumption"]["value"]["tls13"] is None
    assert (
        "TLS 1.3 session resumption not determined (engine_error: TLS 1.3 session unreadable"
        " by Python's ssl: i2d() failed)." in big["coverage"]
    )


@pytest.mark.parametrize("full", [True, False], ids=["full", "compliance"])
def test_a_scan_leaves_no_thread_behind(tls_peers: dict[str, int], full: bool) -> None:
    """sslyze's threads (full) and the endpoint's probe pool (compliance) end with the scan:
    nothing, nor its memory, is left behind per endpoint."""
    before = set(threading.enumerate())
    endpoint = Endpoint(host="localhost", port=tls_peers["good"], ip="127.0.0.1", https=True)
    [facts] = scan_endpoints([endpoint], ScanOptions(timeout=2, ca_file=CA_CERT, full=full))
    assert facts.connectivity is None
    time.sleep(1)  # the CAA lookup's thread ends
    assert [t.name for t in threading.enumerate() if t not in before] == []


# --- MTA-STS policy fetch ------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return issue_certificate(("mta-sts.drip.test",), tmp_path_factory.mktemp("sts"), now=NOW)


@pytest.mark.parametrize(("drip", "at_once"), [(0, 0), (1, 0), (1, 100)])
def test_policy_fetch_ends_by_its_deadline(
    policy_cert: tuple[Path, Path], drip: int, at_once: int
) -> None:
    """A policy dripped a byte every 0.2 s (each read well within the timeout), from its
    first byte or after its headers, is cut off at the fetch deadline; the same policy sent
    at once is read whole."""
    body = b"version: STSv1\r\nmode: enforce\r\nmx: mx.drip.test\r\nmax_age: 86400\r\n" * 10
    options = ScanOptions(timeout=0.5, ca_file=CA_CERT)
    server = TlsServer(*policy_cert, body=body, drip=drip, at_once=at_once, interval=0.2)
    with server:
        start = time.monotonic()
        fetched = fetch_https("mta-sts.drip.test", "127.0.0.1", "/.well-known/mta-sts.txt",
                              options, port=server.port)  # fmt: skip
        elapsed = time.monotonic() - start
    deadline = fetch_deadline(options.timeout)
    assert elapsed < deadline + SLACK
    if not drip:
        assert fetched.value is not None
        assert fetched.value.body == body.decode()
        return
    assert fetched.error is not None
    assert fetched.error.reason is ErrorReason.TIMEOUT
    assert fetched.error.detail == (
        f"https://mta-sts.drip.test/.well-known/mta-sts.txt: timeout: no complete answer"
        f" within {deadline:g} s"
    )


# --- Ctrl-C of a scan ------------------------------------------------------------------------


def test_ctrl_c_writes_the_targets_that_finished(tls_peers: dict[str, int], tmp_path: Path) -> None:
    """One target scanned, one held by a server dripping its handshake (deadline 48 s):
    SIGINT once the first is done; the report holds it, the other is 'not scanned'."""
    output = tmp_path / "report.json"
    with tcp_server(drip_tls_handshake) as dripping:
        targets = [f"127.0.0.1:{tls_peers['good']}", f"127.0.0.1:{dripping}"]
        process = subprocess.Popen(
            [sys.executable, "-m", "tlsaudit", "scan", *targets, "--sni", "localhost",
             "--ca-file", str(CA_CERT), "--timeout", "2", "--format", "json", "-o", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TTY_COMPATIBLE": "1"},  # the progress line tells when one is done
        )  # fmt: skip
        err = _read_until(process, "1 endpoint(s) done", endpoint_deadline(2))
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=SLACK * 2)
        finally:
            process.kill()
        assert process.stderr is not None
        err += process.stderr.read()
    assert code == 130
    assert "Traceback" not in err
    assert "tlsaudit: interrupted" in err
    report = json.loads(output.read_text())
    jsonschema.validate(report, committed_schema())
    good, held = report["targets"]
    assert good["target"] == targets[0]
    assert good["endpoints"][0]["facts"]["connectivity"] is None
    assert good["verdict"] == "pass"
    assert held == {**held, "target": targets[1], "verdict": "error", "error": NOT_FINISHED}


def _read_until(process: subprocess.Popen[str], text: str, seconds: float) -> str:
    """Read stderr until ``text`` shows (in another thread: a pipe read has no timeout)."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        while chunk := process.stderr.read(1):
            seen.append(chunk)
            if chunk == "e" and text in "".join(seen[-200:]):
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(seconds), "".join(seen)
    return "".join(seen)


# --- DNS, in a network namespace -----------------------------------------------------------


@pytest.fixture(scope="module")
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (ip netns) for the hostile DNS server's namespace")
    with Namespace("faults") as ns:
        ns.start(
            [sys.executable, "-m", "servers.hostile", "dns", "--udp", "127.0.0.1", "127.0.0.2",
             "--tcp", "127.0.0.1", "--truncate", "127.0.0.2"],
            cwd=TESTS,
        )  # fmt: skip
        ns.start([sys.executable, "-m", "servers.hostile", "smtp"], cwd=TESTS)
        yield ns


def findings(report: dict[str, Any], domain: str) -> dict[str, list[dict[str, Any]]]:
    (found,) = [d for d in report["domains"] if d["domain"] == domain]
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in found["findings"]:
        out.setdefault(finding["check_id"], []).append(finding)
    return out


def assert_finding(found: dict[str, list[dict[str, Any]]], check: str, status: str, text: str
                   ) -> None:  # fmt: skip
    """Some finding of ``check`` has ``status`` and ``text`` in its reason or observed."""
    candidates = found.get(check, [])
    assert any(
        f["status"] == status and text in f"{f['reason']} {f['observed']}" for f in candidates
    ), (check, status, text, candidates)


DOMAINS = ("good.test", "tc.test", "tctcp.test", "loop.test", "chain.test", "spfdeep.test",
           "spfloop.test", "manymx.test")  # fmt: skip
EXPECTED = [
    ("good.test", "mail.spf.present", "pass", ""),
    ("good.test", "mail.dmarc.present", "pass", ""),
    ("tc.test", "mail.spf.present", "unknown",
     "tc.test. TXT from 127.0.0.1: TC=1 over UDP, TCP retry failed: connection closed before"),
    ("tc.test", "mail.mx.targets", "unknown", "tc.test. MX from 127.0.0.1: TC=1 over UDP"),
    ("tctcp.test", "mail.spf.present", "unknown", "TC=1 over TCP: the server sent an incomplete"),
    ("loop.test", "mail.dmarc.present", "unknown",
     "CNAME loop: _dmarc.loop.test. → _dmarc-b.loop.test. → _dmarc.loop.test."),
    ("loop.test", "mail.mtasts", "unknown", "CNAME loop: _mta-sts.loop.test. →"),
    ("loop.test", "mail.tlsrpt", "unknown", "CNAME loop: _smtp._tls.loop.test. →"),
    ("loop.test", "mail.spf.include_target", "unknown",
     "self.loop.test. TXT from 127.0.0.1: CNAME loop: self.loop.test. → self.loop.test."),
    ("loop.test", "dns.dangling_cname", "unknown", "CNAME loop: www.loop.test. →"),
    ("chain.test", "mail.dmarc.present", "unknown",
     "CNAME chain too long: 30 hops (_dmarc.chain.test. → _dmarc-0.chain.test."),
    ("chain.test", "mail.mtasts", "unknown", "CNAME chain too long: 30 hops"),
    ("chain.test", "dns.dangling_cname", "unknown", "CNAME chain too long"),
    ("spfdeep.test", "mail.spf.lookups", "fail", "walk stopped after 40 queries"),
    ("spfloop.test", "mail.spf.loop", "fail",
     "include loop: spfloop.test → a.spfloop.test → b.spfloop.test → a.spfloop.test"),
    ("spfloop.test", "mail.spf.loop", "fail", "include loop: spfloop.test → spfloop.test"),
    ("manymx.test", "mail.mx.targets", "unknown", f"mx{MANY - 1}.manymx.test A: not asked:"
     f" manymx.test has {MANY} MX hosts; the {MAX_MX_HOSTS} most preferred are checked"),
    ("manymx.test", "mail.starttls", "unknown",
     f"not probed: the host has {MANY + 1} addresses; the first {MAX_HOST_ADDRESSES} are probed"),
]  # fmt: skip


def test_dns_faults_in_one_batch(namespace: Namespace) -> None:
    code, report, _, elapsed = tlsaudit(
        "domain", *DOMAINS, "--resolver", "127.0.0.1", "--timeout", f"{TIMEOUT:g}",
        prefix=tuple(namespace.prefix),
    )  # fmt: skip
    assert elapsed < 60
    assert code == 1
    assert [d["domain"] for d in report["domains"]] == list(DOMAINS)
    assert all(d["error"] is None for d in report["domains"])
    for domain, check, status, text in EXPECTED:
        assert_finding(findings(report, domain), check, status, text)
    assert SPF_DEPTH > 40  # the walk stopped before the end of the chain
    (many,) = [d for d in report["domains"] if d["domain"] == "manymx.test"]
    hosts = {host["name"]: host["addresses"] for host in many["mail"]["mx"]}
    assert sorted(hosts) == sorted(f"mx{i}.manymx.test" for i in range(MAX_MX_HOSTS))
    probed = [a for a in hosts["mx0.manymx.test"] if a["smtp"]["error"]["reason"] != "not_scanned"]
    assert (len(hosts["mx0.manymx.test"]), len(probed)) == (MANY + 1, MAX_HOST_ADDRESSES)


def test_truncated_udp_and_refused_tcp(namespace: Namespace) -> None:
    code, report, _, elapsed = tlsaudit(
        "domain", "good.test", "--resolver", "127.0.0.2", "--timeout", f"{TIMEOUT:g}",
        prefix=tuple(namespace.prefix),
    )  # fmt: skip
    assert elapsed < 30
    assert code == 3
    found = findings(report, "good.test")
    reason = "good.test. TXT from 127.0.0.2: TC=1 over UDP, TCP retry failed: connection refused"
    assert_finding(found, "mail.spf.present", "unknown", reason)
    assert_finding(found, "dns.ns.count", "unknown", "TCP retry failed: connection refused")


AUDIT_TWO_DOMAINS = """
import sys
from tlsaudit.orchestrate import audit_domains
from tlsaudit.scan.dns import DnsOptions
from tlsaudit.scan.mail import MailOptions
from tlsaudit.scan.options import ScanOptions

scan = ScanOptions(timeout=0.1, resolver=("127.0.0.1", 53))
report = audit_domains(
    ["slowmx.test", "good.test"],
    mail_options=MailOptions(scan=scan),
    dns_options=DnsOptions(scan=scan),
)
sys.stdout.write(report.model_dump_json())
"""


def test_a_domain_ends_by_its_deadline(namespace: Namespace) -> None:
    """An MX whose greeting never ends holds the mail scan (each dialogue is bounded at
    30 s + 12 × --timeout): the domain is an error at the domain deadline, and the next
    domain of the batch is audited. (The library takes a timeout below the command line's
    0.5 s minimum: the deadline is 12 s here, not 60 s.)"""
    start = time.monotonic()
    result = subprocess.run(
        [*namespace.prefix, sys.executable, "-c", AUDIT_TWO_DOMAINS],
        capture_output=True, text=True, timeout=120, cwd=TESTS, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    assert domain_deadline(0.1) == 12.0
    assert elapsed < 12.0 + 20
    slow, good = json.loads(result.stdout)["domains"]
    assert slow["error"] == (
        "timeout: the mail scan did not finish within 12 s (the domain deadline: 120 ×"
        " --timeout, at most 900 s)"
    )
    assert good["error"] is None
