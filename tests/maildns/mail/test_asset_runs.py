"""Asset runs end to end on loopback: a batch of 34 TLS endpoints (a dedicated nginx with 30
server blocks, a closed port, a plain-HTTP port, a server that answers garbage, one that
never answers, a malformed target) and 6 mail domains (5 real ones on the DNS and SMTP
harness, one malformed); the first run SIGKILLed midway and finished with ``--resume``;
the nginx configuration changed and the list edited; a second run; ``diff``;
``reevaluate`` under another profile with nginx stopped; every output checked: JSON and
JSON Lines against their schemas, CSV read back, Prometheus parsed with prometheus_client,
the HTML report opened in headless Chromium.

This module lives under ``maildns/mail`` for the DNS and SMTP servers of that harness.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from maildns.conftest import DnsEnv
from maildns.mail.conftest import NOW
from scan_targets import (
    CA_CERT,
    CERTS_DIR,
    SCENARIOS,
    Scenario,
    free_ports,
    scenario,
    tls_directives,
)
from servers.nginx import NginxServer
from servers.smtp import MailServers
from tlsaudit.cli import app
from tlsaudit.render.json import committed_schema
from tlsaudit.render.schemas import committed

EXPIRING_NOT_AFTER = x509.load_pem_x509_certificate(
    (CERTS_DIR / "expiring.pem").read_bytes()
).not_valid_after_utc
HORIZON_DAYS = math.ceil((EXPIRING_NOT_AFTER - NOW) / timedelta(days=1)) + 1
"""The expiry horizon that just covers the `expiring` fixture as seen from NOW."""
DOMAINS = ("mail-good.test", "spf-plusall.test", "dmarc-none.test", "nostarttls.test",
           "single-ns.test", "not a domain")  # fmt: skip
SCRIPT_TAG = "<script>alert(1)</script>"


class Hostile:
    """Two hostile TCP servers: one answers every connection with garbage and closes, one
    accepts and never says a word (until the client gives up)."""

    def __init__(self) -> None:
        self.garbage = socket.create_server(("127.0.0.1", 0))
        self.silent = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        for server, handler in ((self.garbage, self._garbage), (self.silent, self._silent)):
            server.settimeout(0.2)
            threading.Thread(target=self._serve, args=(server, handler), daemon=True).start()

    def _serve(self, server: socket.socket, handler: Any) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            handler(connection)

    @staticmethod
    def _garbage(connection: socket.socket) -> None:
        with connection:
            connection.sendall(b"\x16\x03\x03\xff\xff" + bytes(range(256)) * 4)

    def _silent(self, connection: socket.socket) -> None:
        self.held.append(connection)

    def port(self, server: socket.socket) -> int:
        return int(server.getsockname()[1])

    def stop(self) -> None:
        self.stopped.set()
        for sock in [self.garbage, self.silent, *self.held]:
            sock.close()


def fleet(ports: list[int]) -> list[Scenario]:
    """30 server blocks: every TLS scenario of scan_targets, six more `good` ones, plain HTTP."""
    blocks = [s for s in SCENARIOS if s.tls]
    blocks += [dataclasses.replace(scenario("good"), name=f"good{i}") for i in range(1, 7)]
    blocks.append(scenario("plain_http"))
    return [dataclasses.replace(s, port=p) for s, p in zip(blocks, ports, strict=True)]


def changed(blocks: list[Scenario], new_port: int) -> list[Scenario]:
    """good1 now speaks TLS 1.0, good2 serves another certificate, good3 is gone, tls10 is
    fixed, good7 is new."""
    out = []
    for block in blocks:
        if block.name == "good1":
            block = dataclasses.replace(block, directives=scenario("tls10").directives)
        elif block.name == "good2":
            block = dataclasses.replace(block, directives=tls_directives(certs=("rsa2048-chain",)))
        elif block.name == "tls10":
            block = dataclasses.replace(block, directives=scenario("good").directives)
        elif block.name == "good3":
            continue
        out.append(block)
    out.append(dataclasses.replace(scenario("good"), name="good7", port=new_port))
    return out


def asset_file(path: Path, blocks: list[Scenario], extra: list[int], dns_env: DnsEnv,
               *, drop: str = "") -> None:  # fmt: skip
    host, port = dns_env.resolver
    lines = [
        "[defaults]",
        f'ca_file = "{CA_CERT}"',
        f'resolver = "{host}:{port}"',
        f'trust_anchor = "{dns_env.trust_anchor}"',
        'tags = { owner = "soc" }',
        "[groups.web]",
        'tags = { system = "portal" }',
        "[groups.mail]",
        'tags = { system = "mail" }',
    ]
    for block in blocks:
        if block.name == drop:
            continue
        lines += ["[[endpoint]]", f'target = "localhost:{block.port}"', 'ip = "127.0.0.1"',
                  'group = "web"']  # fmt: skip
        if block.name == "cbc":
            lines.append('profile = "cryptrec-recommended"')
        if block.name == "good":
            lines.append(f"tags = {{ note = {json.dumps(SCRIPT_TAG)} }}")
    for number in extra:
        lines += ["[[endpoint]]", f'target = "127.0.0.1:{number}"', 'group = "web"']
    lines += ["[[endpoint]]", 'target = "bad host"']
    for name in DOMAINS:
        lines += ["[[domain]]", f'name = "{name}"', 'group = "mail"']
    path.write_text("\n".join(lines) + "\n")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def stored_rows(db: Path, run: int) -> dict[str, tuple[int, str]]:
    with sqlite3.connect(db) as connection:
        try:
            rows = connection.execute(
                "SELECT entry_key, id, finished_at FROM results WHERE run_id = ?", (run,)
            ).fetchall()
        except sqlite3.OperationalError:  # the run is still creating the schema
            return {}
    return {key: (row_id, finished) for key, row_id, finished in rows}


def kill_midway(assets: Path, db: Path, at_least: int) -> None:
    """Start `tlsaudit run` in a process of its own, SIGKILL it once results are stored."""
    command = [sys.executable, "-m", "tlsaudit", "run", str(assets), "--db", str(db),
               "--now", NOW.isoformat(), "--timeout", "2", "--concurrency", "4",
               "--per-host", "4", "--format", "json", "--output", str(db) + ".json",
               "--full"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists() and len(stored_rows(db, 1)) >= at_least:
                break
            time.sleep(0.1)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
        process.wait()


@dataclass
class Runs:
    db: Path
    assets: Path
    before_kill: dict[str, tuple[int, str]]
    resumed: tuple[int, str, str]
    second: tuple[int, str, str]
    metrics: str
    diff: dict[str, Any]
    diff_text: str
    reevaluated: dict[str, Any]
    report_json: dict[str, Any]
    jsonl: str
    csv: str
    html: Path
    history: dict[str, Any]
    target_history: dict[str, Any]
    ports: dict[str, int]
    modes: tuple[set[str], set[str]]
    """The scan modes of the endpoints of run 1 (--full, resumed) and run 2 (the default)."""


@pytest.fixture(scope="module")
def runs(
    dns_env: DnsEnv, mail_servers: MailServers, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    work = tmp_path_factory.mktemp("runs")
    db, assets = work / "history.sqlite3", work / "assets.toml"
    *block_ports, closed, new_port = free_ports(32)
    blocks = fleet(block_ports)
    hostile = Hostile()
    extra = [closed, hostile.port(hostile.garbage), hostile.port(hostile.silent)]
    asset_file(assets, blocks, extra, dns_env)
    server = NginxServer(blocks, work / "nginx1").start()
    try:
        kill_midway(assets, db, at_least=6)
        before_kill = stored_rows(db, 1)
        resumed = cli("run", str(assets), "--resume", "--db", str(db), "--now", NOW.isoformat(),
                      "--expiry-days", str(HORIZON_DAYS))  # fmt: skip
        server.stop()
        blocks2 = changed(blocks, new_port)
        listed = [*blocks, blocks2[-1]]  # good3 stays listed: it is gone from nginx only
        asset_file(assets, listed, extra, dns_env, drop="cbc")
        server = NginxServer(blocks2, work / "nginx2").start()
        metrics = work / "tlsaudit.prom"
        prometheus = ("--format", "prometheus", "--output", str(metrics))
        second = cli("run", str(assets), "--db", str(db), "--now", NOW.isoformat(),
                     "--timeout", "2", *prometheus)  # fmt: skip
    finally:
        server.stop()
        hostile.stop()
    # From here on nothing listens: what follows needs no network.
    diff_json = cli("diff", "--db", str(db), "--format", "json")[1]
    diff_text = cli("diff", "1", "2", "--db", str(db))[1]
    reevaluated = cli("reevaluate", "1", "--profile", "cryptrec-exception", "--db", str(db),
                      "--now", NOW.isoformat(), "--format", "json")[1]  # fmt: skip
    html = work / "report.html"
    cli("report", "2", "--db", str(db), "--format", "html", "--lang", "ja", "--output", str(html),
        "--now", NOW.isoformat(), "--expiry-days", str(HORIZON_DAYS))  # fmt: skip
    return Runs(
        db=db,
        assets=assets,
        before_kill=before_kill,
        resumed=resumed,
        second=second,
        metrics=metrics.read_text(),
        diff=json.loads(diff_json),
        diff_text=diff_text,
        reevaluated=json.loads(reevaluated),
        report_json=json.loads(cli("report", "2", "--db", str(db), "--format", "json")[1]),
        jsonl=cli("report", "2", "--db", str(db), "--format", "jsonl")[1],
        csv=cli("report", "2", "--db", str(db), "--format", "csv", "--bom")[1],
        html=html,
        history=json.loads(cli("history", "--db", str(db), "--format", "json")[1]),
        target_history=json.loads(
            cli("history", f"localhost:{block_ports[0]}", "--db", str(db), "-f", "json")[1]
        ),
        ports={b.name: b.port for b in listed} | {"closed": closed},
        modes=(scan_modes(db, 1), scan_modes(db, 2)),
    )


def scan_modes(db: Path, run: int) -> set[str]:
    document = json.loads(cli("report", str(run), "--db", str(db), "--format", "json")[1])
    return {
        endpoint["facts"]["mode"]
        for target in document["targets"]
        for endpoint in target["endpoints"]
        if endpoint["facts"]["connectivity"] is None
    }


def key(runs: Runs, name: str) -> str:
    return f"https://localhost:{runs.ports[name]} ip=127.0.0.1"


def test_resume_finishes_without_rescanning(runs: Runs) -> None:
    code, out, _ = runs.resumed
    after = stored_rows(runs.db, 1)
    assert 6 <= len(runs.before_kill) < len(after)
    assert len(after) == 40  # 34 endpoints + 6 domains, each stored once
    for entry, row in runs.before_kill.items():
        assert after[entry] == row, f"{entry} was scanned again"
    assert code == 1  # some target fails
    assert "Run #1" in out


def test_full_scans_are_resumed_as_full_scans(runs: Runs) -> None:
    """`run --full` is a setting of the run: --resume finishes it with full scans; the next
    run (no --full) scans in compliance mode."""
    assert runs.modes == ({"full"}, {"compliance"})


def test_first_run_verdicts_and_summary(runs: Runs) -> None:
    [run1] = [r for r in runs.history["runs"] if r["id"] == 1]
    assert run1["finished_at"] is not None
    assert run1["counts"]["fail"] > 0
    assert run1["counts"]["error"] >= 6  # closed, plain HTTP, garbage, silent, 2 malformed
    _, out, _ = runs.resumed
    assert f"Certificates expiring within {HORIZON_DAYS} days" in out
    assert "localhost:" + str(runs.ports["expiring"]) in out


def test_history_of_one_target(runs: Runs) -> None:
    rows = runs.target_history["results"]
    assert [r["run"] for r in rows] == [3, 2, 1]  # the reevaluation is a run too
    jsonschema.validate(runs.target_history, committed("history.schema.json"))
    jsonschema.validate(runs.history, committed("history.schema.json"))
    assert [r["id"] for r in runs.history["runs"]] == [3, 2, 1]


def test_diff_after_the_configuration_changed(runs: Runs) -> None:
    diff = runs.diff
    jsonschema.validate(diff, committed("diff.schema.json"))
    assert (diff["run_a"], diff["run_b"]) == (2, 3) or (diff["run_a"], diff["run_b"]) == (1, 2)
    explicit = runs.diff_text
    assert "New failures" in explicit
    assert "Certificate renewals" in explicit


def test_diff_json_of_the_two_scans(runs: Runs, tmp_path: Path) -> None:
    diff = json.loads(cli("diff", "1", "2", "--db", str(runs.db), "-f", "json")[1])
    jsonschema.validate(diff, committed("diff.schema.json"))
    new = {(c["key"], c["check_id"]) for c in diff["new_failures"]}
    assert (key(runs, "good1"), "tls.protocol.tls1_0") in new
    fixed = {(c["key"], c["check_id"]) for c in diff["fixed"]}
    assert (key(runs, "tls10"), "tls.protocol.tls1_0") in fixed
    changes = {c["key"]: (c["before"], c["after"]) for c in diff["verdict_changes"]}
    assert changes[key(runs, "good1")] == ("pass", "fail")
    assert changes[key(runs, "good3")] == ("pass", "error")
    assert changes[key(runs, "tls10")] == ("fail", "pass")
    renewed = {c["key"] for c in diff["renewals"]}  # good1 and tls10 changed their certs too
    assert renewed == {key(runs, "good1"), key(runs, "good2"), key(runs, "tls10")}
    [good2] = [c for c in diff["renewals"] if c["key"] == key(runs, "good2")]
    assert len(good2["before"]) == 2
    assert len(good2["after"]) == 1
    assert [t["key"] for t in diff["appeared"]] == [key(runs, "good7")]
    assert [t["key"] for t in diff["vanished"]] == [key(runs, "cbc")]
    assert not any(c["key"] == key(runs, "good3") for c in diff["fixed"]), "error is not fixed"


def test_reevaluate_under_another_profile_without_network(runs: Runs) -> None:
    document = runs.reevaluated
    jsonschema.validate(document, committed_schema())
    assert document["run"]["kind"] == "reevaluate"
    assert document["profile"]["id"] == "cryptrec-exception"
    verdicts = {t["target"]: t["verdict"] for t in document["targets"]}
    assert verdicts[f"localhost:{runs.ports['tls10']}"] == "pass"  # fails under high
    assert verdicts[f"localhost:{runs.ports['good']}"] == "pass"
    assert verdicts[f"127.0.0.1:{runs.ports['closed']}"] == "error"
    domains = {d["domain"]: d["verdict"] for d in document["domains"]}
    assert domains["mail-good.test"] == "pass"
    [run3] = [r for r in runs.history["runs"] if r["id"] == 3]
    assert run3["parent"] == 1


def test_json_and_jsonl_validate(runs: Runs) -> None:
    document = runs.report_json
    jsonschema.validate(document, committed_schema())
    assert document["schema_version"] == "1.4"
    assert len(document["targets"]) == 34
    assert len(document["domains"]) == 6
    lines = runs.jsonl.splitlines()
    assert len(lines) == 40
    schema = committed("jsonl-record.schema.json")
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
    good = next(json.loads(li) for li in lines if f':{runs.ports["good"]}"' in li)
    assert good["target"]["tags"] == {"owner": "soc", "system": "portal", "note": SCRIPT_TAG}


def test_csv_reads_back(runs: Runs) -> None:
    assert runs.csv.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(runs.csv.removeprefix("\ufeff"))))
    assert {"check_id", "status", "citations", "remediation", "tag.system"} <= set(table[0])
    targets = {r["target"] for r in table}
    assert len(targets) == 40
    failing = [r for r in table if r["target"] == f"localhost:{runs.ports['good1']}"
               and r["check_id"] == "tls.protocol.tls1_0"]  # fmt: skip
    assert failing
    assert failing[0]["status"] == "fail"
    assert "GL-3001" in failing[0]["citations"]
    broken = [r for r in table if r["target"] == "bad host"]
    assert broken[0]["target_verdict"] == "error"
    assert "not a target" in broken[0]["error"]


def test_prometheus_textfile(runs: Runs) -> None:
    code, _, _ = runs.second
    assert code == 1
    families = {f.name: f for f in text_string_to_metric_families(runs.metrics)}
    samples = {
        name: [(s.labels, s.value) for s in family.samples] for name, family in families.items()
    }
    good1 = f"localhost:{runs.ports['good1']}"
    verdict = {(lb["target"], lb["verdict"]): v for lb, v in samples["tlsaudit_target_verdict"]}
    assert verdict[(good1, "fail")] == 1
    assert verdict[(good1, "pass")] == 0
    failing = {(lb["target"], lb["area"]): v for lb, v in samples["tlsaudit_failing_checks"]}
    assert failing[(good1, "tls.protocol")] >= 1
    expiry = {lb["target"]: v for lb, v in samples["tlsaudit_certificate_expiry_days"]}
    expected = (EXPIRING_NOT_AFTER - NOW) / timedelta(days=1)
    assert expiry[f"localhost:{runs.ports['expiring']}"] == pytest.approx(expected, abs=0.01)
    errors = {lb["target"]: (lb["reason"], v) for lb, v in samples["tlsaudit_target_error"]}
    assert errors[f"127.0.0.1:{runs.ports['closed']}"] == ("connection_refused", 1)
    assert errors["bad host"] == ("input", 1)
    labels = next(lb for lb, _ in samples["tlsaudit_scan_duration_seconds"])
    assert {"owner", "system", "note", "kind", "target"} <= set(labels)
    assert samples["tlsaudit_run_id"][0][1] == 2


def dump_dom(page: Path, profile_dir: Path) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed: apt-get install chromium (see .ci/run)")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", "--proxy-server=127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile_dir}",
               "--dump-dom", page.as_uri()]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_html_report_in_headless_chromium(runs: Runs, tmp_path: Path) -> None:
    from html.parser import HTMLParser

    dom = dump_dom(runs.html, tmp_path / "chromium")

    class Elements(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, dict[str, str | None]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found.append((tag, dict(attrs)))

    parser = Elements()
    parser.feed(dom)
    elements = parser.found
    assert ("html", {"lang": "ja"}) in elements
    assert not any(tag == "script" for tag, _ in elements), "a tag value became markup"
    assert SCRIPT_TAG.replace("<", "&lt;").replace(">", "&gt;") in dom
    overall = next(a for t, a in elements if a.get("id") == "overall")
    assert overall["data-verdict"] == "fail"
    articles = [a for t, a in elements if t == "article"]
    assert len(articles) == 40
    checks = {a.get("data-check") for t, a in elements if t == "tr" and "data-check" in a}
    assert "tls.protocol.tls1_0" in checks
    assert "mail.spf.all" in checks
    bars = {a.get("data-run") for t, a in elements if t == "rect"}
    assert bars == {"1", "2"}, "trend of both scans of this list"
    assert any(a.get("class") == "cert" for _, a in elements), "the expiring certificate"
    assert "不適合" in dom
    assert "根拠条項" in dom
    external = [a for _, a in elements for k in ("src", "href") if (a.get(k) or "#")[0] != "#"]
    assert external == [], "the report must be one offline file"
    assert not any(tag in ("link", "img", "iframe", "object") for tag, _ in elements)
