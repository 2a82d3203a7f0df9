"""The command line against real servers: exit codes, JSON validated against the committed
schema, errors on one line, the README's promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from scan_targets import CA_CERT, CLOSED_PORT, scenario
from servers.nginx import NginxServer
from tlsaudit.cli import app
from tlsaudit.profiles import builtin_ids
from tlsaudit.render.json import committed_schema, report_schema
from tlsaudit.version import TOOL

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def validate(document: dict[str, Any]) -> None:
    jsonschema.validate(document, committed_schema())


def scan_args(name: str, *extra: str) -> list[str]:
    port = scenario(name).port
    return ["scan", f"localhost:{port}", "--ip", "127.0.0.1", "--ca-file", str(CA_CERT), *extra]


def test_committed_schema_matches_models() -> None:
    assert committed_schema() == report_schema(), "run: tlsaudit schema > src/tlsaudit/schema/..."


def test_schema_command_prints_the_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert json.loads(out) == committed_schema()


def test_compliant_server_exit_0_and_json_validates(nginx: NginxServer, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    code, _, _ = run(*scan_args("good", "--format", "json", "--output", str(output)))
    document = json.loads(output.read_text())
    validate(document)
    assert code == 0
    assert document["verdict"] == "pass"
    assert document["profile"]["id"] == "cryptrec-high"
    [target] = document["targets"]
    [endpoint] = target["endpoints"]
    assert endpoint["endpoint"]["ip"] == "127.0.0.1"
    assert endpoint["facts"]["protocols"], "facts are part of the JSON"


def test_compliance_and_full_scans_judge_alike(nginx: NginxServer) -> None:
    """The default compliance scan and --full give one verdict and the same findings; the
    compliance scan names what it skipped and sees the server's order."""
    findings = {}
    for mode, extra in (("compliance", ()), ("full", ("--full",))):
        code, out, _ = run(*scan_args("cbc", "--format", "json", "--connections", "3", *extra))
        document = json.loads(out)
        [endpoint] = document["targets"][0]["endpoints"]
        facts = endpoint["facts"]
        assert facts["mode"] == mode
        assert code == 1
        findings[mode] = {(f["check_id"], f["subject"], f["status"]) for f in endpoint["findings"]}
        skipped = [note for note in facts["coverage"] if note.startswith("Not probed")]
        tls13 = next(p for p in facts["protocols"] if p["version"] == "TLS 1.3")
        if mode == "compliance":
            assert skipped == [
                "Not probed (compliance mode; the profile reads none of their results, --full"
                " probes them): resumption."
            ]
            assert facts["resumption"]["error"]["reason"] == "not_scanned"
            assert tls13["server_preference"] is False  # nginx: ssl_prefer_server_ciphers off
        else:
            assert skipped == []
            assert facts["resumption"]["value"] is not None
            assert tls13["server_preference"] is None
    assert findings["compliance"] == findings["full"]


def test_non_compliant_server_exit_1_with_clause_and_fix(nginx: NginxServer) -> None:
    code, out, _ = run(*scan_args("tls10"))
    assert code == 1
    assert "NOT COMPLIANT" in out
    # Problems are grouped by the fix: the check, its clause and the directive in one group.
    group = out[out.index("[tls.protocol.tls1_0]") :].split("\n\n")[0]
    assert "GL-3001 第4章" in out
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in out
    assert "[tls.protocol.tls1_0]" in group


def test_japanese_report(nginx: NginxServer) -> None:
    code, out, _ = run(*scan_args("tls10", "--lang", "ja"))
    assert code == 1
    assert "不適合" in out
    assert "プロトコルバージョン" in out


def test_other_profile_changes_the_verdict(nginx: NginxServer) -> None:
    code, out, _ = run(*scan_args("tls10", "--profile", "cryptrec-exception"))
    assert code == 0, out
    assert "セキュリティ例外型" in out


def test_user_profile_extends_builtin(nginx: NginxServer, tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text(
        'id = "mine"\nname = "mine"\nversion = "1"\nextends = "cryptrec-high"\n\n'
        '[rules."tls.protocol.tls1_3"]\nlevel = "recommended"\n'
    )
    code, _, _ = run(*scan_args("static_rsa", "--profile", str(profile)))
    assert code == 1  # static RSA still fails; TLS 1.3 absence is now only a warning
    code, out, _ = run(*scan_args("static_rsa", "--profile", str(profile), "--format", "json"))
    findings = json.loads(out)["targets"][0]["endpoints"][0]["findings"]
    tls13 = [f for f in findings if f["check_id"] == "tls.protocol.tls1_3"]
    assert [f["status"] for f in tls13] == ["warn"]


def test_unreachable_target_is_exit_3_never_0(tmp_path: Path) -> None:
    output = tmp_path / "r.json"
    code, _, _ = run(
        "scan", f"127.0.0.1:{CLOSED_PORT}", "--format", "json", "--output", str(output)
    )
    assert code == 3
    document = json.loads(output.read_text())
    validate(document)
    facts = document["targets"][0]["endpoints"][0]["facts"]
    assert facts["connectivity"]["reason"] == "connection_refused"


def test_batch_keeps_going_after_bad_targets(nginx: NginxServer, tmp_path: Path) -> None:
    output = tmp_path / "batch.json"
    good = f"127.0.0.1:{scenario('good').port}"
    tls10 = f"127.0.0.1:{scenario('tls10').port}"
    code, _, _ = run(
        "scan", "bad host!", good, f"127.0.0.1:{CLOSED_PORT}", tls10, "host:99999",
        "--sni", "localhost", "--ca-file", str(CA_CERT),
        "--format", "json", "--output", str(output),
    )  # fmt: skip
    document = json.loads(output.read_text())
    validate(document)
    verdicts = [(t["target"], t["verdict"]) for t in document["targets"]]
    assert verdicts == [
        ("bad host!", "error"),
        (good, "pass"),
        (f"127.0.0.1:{CLOSED_PORT}", "error"),
        (tls10, "fail"),
        ("host:99999", "error"),
    ]
    assert code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "h", "--profile", "nope"], "nope: unknown profile"),
        (["scan", "h", "--profile", "/no/such.toml"], "/no/such.toml: profile file not found"),
        (["scan", "h", "--starttls", "telnet"], "--starttls 'telnet': unknown protocol"),
        (["scan", "a", "b", "--ip", "127.0.0.1"], "--ip applies to a single target"),
    ],
)
def test_usage_errors_exit_2_one_line(args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_broken_profile_names_file_and_key(tmp_path: Path) -> None:
    profile = tmp_path / "broken.toml"
    profile.write_text(
        'id = "b"\nname = "b"\nversion = "1"\nextends = "cryptrec-high"\n\n'
        '[rules."tls.kex.dh_size"]\nlevel = "sometimes"\n'
    )
    code, _, err = run("scan", "h", "--profile", str(profile))
    assert code == 2
    assert str(profile) in err
    assert 'rules."tls.kex.dh_size".level' in err


def test_profiles_list_and_show() -> None:
    code, out, _ = run("profiles", "list")
    assert code == 0
    assert builtin_ids() == ["cryptrec-exception", "cryptrec-high", "cryptrec-recommended"]
    for profile_id in builtin_ids():
        assert profile_id in out
    code, out, _ = run("profiles", "show", "cryptrec-high")
    assert code == 0
    assert "tls.cipher" in out
    assert "pfs-cbc" in out
    assert "strict" in out


def test_demo_runs_offline() -> None:
    code, out, _ = run("demo", "--format", "json")
    assert code == 0
    document = json.loads(out)
    validate(document)
    assert [t["verdict"] for t in document["targets"]] == ["pass", "fail"]


def test_ca_file_without_certificates_is_a_usage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    code, _, err = run("scan", f"127.0.0.1:{CLOSED_PORT}", "--ca-file", str(bogus))
    assert code == 2
    assert str(bogus) in err


# ---------------------------------------------------------------- command-line habits


def test_version_and_short_help() -> None:
    code, out, _ = run("--version")
    assert (code, out.strip()) == (0, TOOL)
    code, out, _ = run("-h")
    assert code == 0
    assert "--install-completion" in out
    code, out, _ = run("scan", "-h")
    assert "smtp, imap, pop3, ftp, ldap, xmpp, xmpp_server, postgres" in " ".join(out.split())


def test_completion_script() -> None:
    code, out, _ = run("--show-completion", "bash")
    assert code == 0
    assert "COMPLETE=complete_bash" in out
    assert "complete -o default -F" in out


def test_targets_from_a_file_and_stdin_are_scanned_once(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{CLOSED_PORT}"
    listed = tmp_path / "targets.txt"
    listed.write_text(f"# hosts to audit\n{closed}\n\n{closed}  # again\n", "utf-8")
    code, out, _ = run("scan", "--targets-file", str(listed), closed, "--format", "json")
    document = json.loads(out)
    assert [t["target"] for t in document["targets"]] == [closed]
    assert code == 3
    result = runner.invoke(app, ["scan", "-", "--format", "json"], input=f"{closed}\n{closed}\n")
    assert [t["target"] for t in json.loads(result.stdout)["targets"]] == [closed]


def test_no_target_and_unwritable_output_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = run("scan")
    assert code == 2
    assert "no target given" in err
    code, out, err = run("scan", f"127.0.0.1:{CLOSED_PORT}", "-o", str(tmp_path / "no" / "x.json"))
    assert (code, out) == (2, "")
    assert "cannot write there" in err


@pytest.mark.parametrize(("name", "code"), [("good", 0), ("tls10", 1)])
def test_exit_code_does_not_depend_on_the_reader(nginx: NginxServer, name: str, code: int) -> None:
    """`tlsaudit scan X | head -c 0` exits as `tlsaudit scan X` does (rich would exit 1): the
    reader closes the pipe before the scan ends, so the first write meets a closed pipe."""
    args = [sys.executable, "-m", "tlsaudit", *scan_args(name, "--verbose")]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        process.stdout.close()
        assert process.wait(timeout=120) == code
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()


def test_help_and_profiles_list_import_no_scanning_code() -> None:
    """`tlsaudit --help` and `tlsaudit profiles list` start without the scanning stack."""
    for args in (["--help"], ["profiles", "list"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "tlsaudit", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-500:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
        heavy = {"sslyze", "nassl", "sqlalchemy", "dns.resolver", "tlsaudit.scan.tls"}
        assert not heavy & imported, sorted(heavy & imported)


def test_domain_without_a_reachable_resolver_says_so_in_one_line() -> None:
    code, out, err = run("domain", "example.test", "--resolver", "127.0.3.99:53", "--timeout", "1")
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("tlsaudit: error: no DNS resolver answers")


def test_user_text_in_errors_is_not_markup() -> None:
    """A profile path that looks like rich markup is printed as it is, in one line."""
    code, _, err = run("scan", "localhost:1", "--profile", "[/x].toml")
    assert (code, err) == (2, "tlsaudit: error: [/x].toml: profile file not found\n")
