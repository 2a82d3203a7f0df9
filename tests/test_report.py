"""The terminal report: short by default, nothing cut, Japanese throughout with ``ja``, safe
with hostile strings from the network, and sized by a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import tomllib
from datetime import UTC, datetime
from fcntl import ioctl
from pathlib import Path

import pytest
from rich.console import Console

from tlsaudit.models.facts import TlsFacts
from tlsaudit.models.findings import Status
from tlsaudit.models.report import Report, TargetReport
from tlsaudit.orchestrate import judge_target
from tlsaudit.profiles import load_profile
from tlsaudit.render.i18n import KEYED_SECTIONS, MESSAGES, default_lang
from tlsaudit.render.json import render_json
from tlsaudit.render.profile import render_profile
from tlsaudit.render.terminal import render_terminal

NOW = datetime(2026, 11, 23, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ENGLISH_WORDS = re.compile(
    r"\b(PASS|FAIL|WARN|INFO|UNKNOWN|N/A|COMPLIANT|NOT SCANNED|Verdict|Fix|Clause|expected"
    r"|accepted|not accepted|Summary|Profile|Could not)\b"
)
INTERNAL = (
    "sslyze.errors",
    "no_rsa_key_exchange",
    "not_vulnerable",
    "pfs-aead",
    "pfs-cbc",
    "class ",
)


def report_of(scanned: dict[str, TlsFacts], *names: str) -> Report:
    profile = load_profile("cryptrec-high")
    targets = [judge_target(n, [scanned[n]], profile, NOW) for n in names]
    return Report.assemble("tlsaudit test", profile.ref, NOW, targets=targets)


def render(report: Report, width: int = 100, lang: str = "en", **options: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False)
    render_terminal(report, console, lang, **options)
    return buffer.getvalue()


def assert_fits(text: str, width: int) -> None:
    console = Console(width=1000)
    for line in text.splitlines():
        assert console.measure(line).maximum <= width, line
    assert "…" not in text


# ---------------------------------------------------------------- length and layout


def test_legacy_endpoint_default_report_is_short(scanned: dict[str, TlsFacts]) -> None:
    report = report_of(scanned, "tls10")
    en, ja = render(report), render(report, lang="ja")
    assert len(en.splitlines()) == 60, en
    assert len(ja.splitlines()) == 59, ja
    assert (
        en.splitlines()[0] == "Verdict: NOT COMPLIANT — profile: 高セキュリティ型 (High Security)"
    )
    assert "GL-3001 3.1.1" in en.splitlines()[1]
    # one directive, listed once, for every cipher suite it fixes; each suite named once
    assert en.count("ssl_ciphers") == 1
    assert en.count("ssl_protocols") == 1
    assert en.count("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (TLS 1.0, TLS 1.1, TLS 1.2)") == 1
    for word in ("遵守項目", "GL-3001 第4章", "GL-3001 第6章"):
        assert word in en
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" not in en  # passing suites are counted
    assert "PASS 30" in en
    assert en.count("by elimination over sslyze") == 1


def test_good_endpoint_default_report_fits_a_screen(scanned: dict[str, TlsFacts]) -> None:
    report = report_of(scanned, "good")
    assert len(render(report).splitlines()) == 25
    assert len(render(report, lang="ja").splitlines()) == 25


@pytest.mark.parametrize("width", [60, 80, 100, 160])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_no_line_too_long_nothing_cut(scanned: dict[str, TlsFacts], width: int, lang: str) -> None:
    report = report_of(scanned, *scanned)
    for options in ({}, {"verbose": True}, {"quiet": True}):
        text = render(report, width, lang, **options)
        assert_fits(text, width)
        for name in INTERNAL:
            assert name not in text, (name, options)


def test_suite_names_and_directives_never_split(scanned: dict[str, TlsFacts]) -> None:
    report = report_of(scanned, *scanned)
    for width in (80, 100):
        words = set(render(report, width).split())
        for target in report.targets:
            for endpoint in target.endpoints:
                for f in endpoint.findings:
                    if f.check_id == "tls.cipher" and f.status is Status.FAIL:
                        suite = f.subject.split()[-1]
                        assert suite in words or f"{suite}:" in words, suite
                    for word in (f.remediation or "").split():
                        if len(word) < width - 8:
                            assert any(word in w for w in words), word


def test_verbose_lists_every_finding_and_quiet_only_the_verdict(
    scanned: dict[str, TlsFacts],
) -> None:
    report = report_of(scanned, "tls10")
    verbose = render(report, verbose=True)
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in verbose
    assert "tls.protocol.ssl2" in verbose
    assert len(verbose.splitlines()) > len(render(report).splitlines())
    assert render(report, quiet=True).splitlines() == [
        "Verdict: NOT COMPLIANT — profile: 高セキュリティ型 (High Security)"
    ]


def test_batch_summary_names_failing_and_unscannable_targets(
    scanned: dict[str, TlsFacts],
) -> None:
    profile = load_profile("cryptrec-high")
    targets = [
        judge_target(n, [scanned[n]], profile, NOW) for n in ("good", "tls10", "closed_port")
    ]
    targets.append(TargetReport.failed("bad host!", "bad host!: not a valid host name"))
    report = Report.assemble("tlsaudit test", profile.ref, NOW, targets=targets)
    lines = render(report).splitlines()
    assert lines[-3] == "Summary: 4 target(s) — COMPLIANT 1, NOT COMPLIANT 1, NOT SCANNED 2"
    assert lines[-2] == "  NOT COMPLIANT: tls10"
    assert lines[-1] == "  NOT SCANNED: closed_port, bad host!"
    text = "\n".join(lines)
    assert "the connection was refused" in text
    assert "sslyze" not in text.split("What the scan cannot observe")[0]
    ja = render(report, lang="ja")
    assert "接続を拒否された" in ja
    assert ja.splitlines()[-1] == "  検査不能: closed_port、bad host!"


# ---------------------------------------------------------------- Japanese


def test_every_catalogue_key_present_in_japanese() -> None:
    catalogues = {
        lang: tomllib.loads((MESSAGES / f"{lang}.toml").read_text("utf-8")) for lang in ("en", "ja")
    }
    for section in KEYED_SECTIONS:
        assert set(catalogues["ja"][section]) == set(catalogues["en"][section]), section
        assert all(catalogues["ja"][section].values()), section


def test_japanese_report_has_no_english_status_words(scanned: dict[str, TlsFacts]) -> None:
    report = report_of(scanned, "tls10", "good", "closed_port", "plain_http")
    text = render(report, lang="ja")
    body = text.split("検査範囲の注記")[0]
    assert not ENGLISH_WORDS.search(body), ENGLISH_WORDS.search(body)
    for word in (
        "判定: 不適合",
        "遵守項目",
        "根拠:",
        "対処:",
        "期待値",
        "TLS 1.0 が有効",
        "（期待値: 無効）",
    ):
        assert word in text, word
    flat = " ".join(text.split())
    assert "前方秘匿性あり・CBC モード（SHA-1 の MAC）" in flat
    assert "準拠検査。暗号スイート: sslyze の接続層を使い" in text  # coverage note in Japanese
    assert "集計: 対象 4 件 — 適合 1、不適合 1、検査不能 2" in text


def test_japanese_profile_show() -> None:
    buffer = io.StringIO()
    render_profile(load_profile("cryptrec-high"), Console(file=buffer, width=120), "ja")
    text = buffer.getvalue()
    for word in ("検査項目", "区分", "根拠", "遵守項目", "推奨項目", "厳格な解釈"):
        assert word in text, word
    assert "…" not in text


def test_default_lang_from_locale() -> None:
    assert default_lang({"LANG": "ja_JP.UTF-8"}) == "ja"
    assert default_lang({"LANG": "en_US.UTF-8"}) == "en"
    assert default_lang({"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}) == "en"
    assert default_lang({"LC_MESSAGES": "ja_JP.eucJP"}) == "ja"
    assert default_lang({}) == "en"


# ---------------------------------------------------------------- hostile strings


HOSTILE = "CN=[/] [green]PASS[/green] \x1b[2J\x1b]0;title\x07 [bold red]x"


def hostile_report(scanned: dict[str, TlsFacts]) -> Report:
    report = report_of(scanned, "tls10", "closed_port")
    target = report.targets[0]
    endpoint = target.endpoints[0]
    findings = [
        f.model_copy(
            update={"subject": HOSTILE + f.subject, "observed": HOSTILE, "reason": HOSTILE}
        )
        for f in endpoint.findings
    ]
    facts = endpoint.facts.model_copy(update={"coverage": [*endpoint.facts.coverage, HOSTILE]})
    endpoint = endpoint.model_copy(update={"findings": findings, "facts": facts})
    target = target.model_copy(update={"target": HOSTILE, "endpoints": [endpoint]})
    return report.model_copy(update={"targets": [target, *report.targets[1:]]})


@pytest.mark.parametrize("verbose", [False, True])
def test_hostile_strings_rendered_as_text(scanned: dict[str, TlsFacts], verbose: bool) -> None:
    report = hostile_report(scanned)
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=True, color_system="truecolor")
    render_terminal(report, console, "en", verbose=verbose)
    text = buffer.getvalue()
    assert "\x1b[2J" not in text
    assert "\x1b]" not in text
    assert "\x07" not in text
    plain = ANSI.sub("", text)
    assert "\x1b" not in plain  # only rich's own colours remain
    assert "[green]PASS[/green]" in plain
    assert "CN=[/]" in plain
    assert "[bold red]x" in plain
    # JSON keeps the exact text
    document = json.loads(render_json(report))
    assert document["targets"][0]["endpoints"][0]["findings"][0]["observed"] == HOSTILE


# ---------------------------------------------------------------- a real pseudo-terminal

CHILD = """
import sys
from rich.console import Console
from tlsaudit.models.report import Report
from tlsaudit.render.terminal import render_terminal
report = Report.model_validate_json(open(sys.argv[1], encoding="utf-8").read())
console = Console()
assert console.is_terminal, "not a terminal"
render_terminal(report, console, sys.argv[2])
"""


def run_in_pty(args: list[str], columns: int) -> str:
    controller, child = pty.openpty()
    ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(args, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode("utf-8")


@pytest.mark.parametrize("columns", [80, 160])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_in_a_pseudo_terminal(
    scanned: dict[str, TlsFacts], tmp_path: Path, columns: int, lang: str
) -> None:
    report = report_of(scanned, "tls10", "good", "closed_port")
    path = tmp_path / "report.json"
    path.write_text(report.model_dump_json(), encoding="utf-8")
    output = run_in_pty([sys.executable, "-c", CHILD, str(path), lang], columns)
    plain = ANSI.sub("", output).replace("\r\n", "\n")
    assert "\x1b" not in plain
    assert_fits(plain, columns)
    assert ("不適合" if lang == "ja" else "NOT COMPLIANT") in plain
    widest = max(Console(width=1000).measure(line).maximum for line in plain.splitlines())
    assert widest > 70  # the report uses the terminal's width
