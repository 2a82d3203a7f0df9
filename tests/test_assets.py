"""Asset files and plain lists: entries and their settings, and every mistake pointed at
file, line and key (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tlsaudit.assets import AssetFileError, load_assets
from tlsaudit.cli import app
from tlsaudit.cli_runs import parse_every
from tlsaudit.render.schemas import SCHEMAS, committed, generated

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "assets.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_example_file_is_valid() -> None:
    loaded = load_assets(str(ROOT / "examples" / "assets.toml"))
    assert loaded.problems == []
    keys = [e.key for e in loaded.entries]
    assert keys[:2] == ["https://www.example.go.jp:443", "https://www.example.go.jp:8443"]
    assert "https://portal.example.go.jp:443 sni=portal.example.go.jp ip=192.0.2.10" in keys
    assert "smtp://mx1.example.go.jp:25" in keys
    assert loaded.excluded == 1
    by_key = {e.key: e for e in loaded.entries}
    portal = by_key["https://www.example.go.jp:443"].settings
    assert portal.tags == {"owner": "web-team", "system": "portal"}
    assert portal.profile == "cryptrec-high"
    assert by_key["https://intranet.example.go.jp:443"].settings.profile == "cryptrec-recommended"
    mail = by_key["domain:example.go.jp"]
    assert mail.kind == "domain"
    assert mail.settings.dkim_selectors == ("s1", "s2")
    assert by_key["domain:example.lg.jp"].settings.tags == {"owner": "municipality"}


def test_every_mistake_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """[defaults]
profile = "no-such-profile"

[groups.web]
ports = [443, 70000]

[[endpoint]]
target = "a.example.test"
group = "nope"

[[endpoint]]
target = "b.example.test:443"
ports = [8443]
starttls = "gopher"

[[endpoint]]
target = "a.example.test"
""",
    )
    loaded = load_assets(path)
    problems = [str(e) for e in loaded.errors]
    assert f"{path}:2: defaults.profile: no-such-profile: unknown profile" in problems[0]
    assert any(p.startswith(f"{path}:5: groups.web.ports: port 70000") for p in problems)
    assert any(p.startswith(f"{path}:9: endpoint #1.group: unknown group 'nope'") for p in problems)
    assert any(
        p.startswith(f"{path}:13: endpoint #2.ports: the target names a port") for p in problems
    )
    assert any(p.startswith(f"{path}:14: endpoint #2.starttls: unknown protocol") for p in problems)
    assert any(p.startswith(f"{path}:16: endpoint #3: https://a.example.test:443 is listed twice")
               for p in problems)  # fmt: skip


def test_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[domain]]\nname = "example.test"\n\n[[endpoint]]\ntarget = 443\nprot = 1\n'
    )
    problems = [str(e) for e in load_assets(path).errors]
    assert f"{path}:5: endpoint #1.target: Input should be a valid string" in problems
    assert f"{path}:6: endpoint #1.prot: unknown key" in problems


def test_toml_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[defaults]\nprofile = "x"\ntimeout = = 3\n')
    with pytest.raises(AssetFileError) as caught:
        load_assets(path)
    assert str(caught.value).startswith(f"{path}:3: invalid TOML")


def test_bad_target_is_an_entry_with_its_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[endpoint]]\ntarget = "bad host"\n[[domain]]\nname = "not a domain"\n')
    loaded = load_assets(path)
    assert loaded.errors == []
    assert [(e.kind, e.where, bool(e.error)) for e in loaded.entries] == [
        ("tls", f"{path}:2", True),
        ("domain", f"{path}:4", True),
    ]


def test_plain_list(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# production\nwww.example.test\n\nsmtp://mx.example.test  # the MX\nbad host\n"
        "www.example.test:443\n",
        "targets.txt",
    )
    loaded = load_assets(path)
    assert [e.key for e in loaded.entries] == [
        "https://www.example.test:443",
        "smtp://mx.example.test:25",
        "invalid:bad host",
    ]
    assert loaded.entries[2].where == f"{path}:5"
    assert [str(e) for e in loaded.errors] == [
        f"{path}:6: www.example.test:443: duplicate of line 2"
    ]


def test_assets_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["assets", "check", str(ROOT / "examples" / "assets.toml")])
    assert good.exit_code == 0
    assert "5 endpoint(s), 2 domain(s), 1 excluded" in good.stdout
    path = write(tmp_path, '[[endpoint]]\ntarget = "bad host"\n')
    bad = runner.invoke(app, ["assets", "check", path])
    assert bad.exit_code == 2
    assert f"{path}:2: 'bad host': not a target" in bad.stderr
    stdin = runner.invoke(app, ["assets", "check", "-"], input="a.example.test\n")
    assert stdin.exit_code == 0, stdin.stderr
    assert "1 endpoint(s)" in stdin.stdout


@pytest.mark.parametrize(
    ("text", "seconds"), [("24h", 86400), ("1h30m", 5400), ("1d", 86400), ("45s", 45)]
)
def test_every(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "1x", "1h 30m", "h"])
def test_every_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--every"):
        parse_every(text)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schemas_match_models(name: str) -> None:
    assert committed(name) == json.loads(json.dumps(generated(name))), (
        "run: python -m tlsaudit.render.schemas"
    )


def test_atomic_writer_replaces_files_but_not_devices(tmp_path: Path) -> None:
    from tlsaudit.render.outputs import write_atomic

    target = tmp_path / "metrics.prom"
    target.write_text("old")
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.prom"]
    write_atomic(Path("/dev/null"), "discarded")
    assert Path("/dev/null").is_char_device()


def test_grafana_dashboard_charts_metrics_that_exist() -> None:
    import re
    from datetime import UTC, datetime

    from prometheus_client.parser import text_string_to_metric_families

    from tlsaudit.models.report import Report
    from tlsaudit.profiles import load_profile
    from tlsaudit.render.prometheus import render_prometheus

    now = datetime(2026, 11, 23, tzinfo=UTC)
    empty = Report.assemble("tlsaudit", load_profile("cryptrec-high").ref, now)
    emitted = {f.name for f in text_string_to_metric_families(render_prometheus(empty, now))}
    dashboard = (ROOT / "deploy" / "grafana" / "tlsaudit-dashboard.json").read_text()
    charted = set(re.findall(r"tlsaudit_[a-z_]+", dashboard))
    assert charted
    assert charted <= emitted
