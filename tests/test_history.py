"""The history store on SQLite and on a throw-away PostgreSQL cluster: migrations agree with
the tables, and a real run (killed, resumed, run again, diffed, re-evaluated) on each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from typer.testing import CliRunner

from scan_targets import CA_CERT, CLOSED_PORT, scenario
from servers.nginx import NginxServer
from tlsaudit.cli import app
from tlsaudit.history import open_history
from tlsaudit.history.tables import Base
from tlsaudit.render.json import committed_schema
from tlsaudit.render.schemas import committed

NOW = "2026-11-23T00:00:00+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    history = open_history(url)
    with history.engine.begin() as connection:  # a clean schema for every test
        Base.metadata.drop_all(connection)
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    history.close()
    return url


def test_migrations_match_the_tables(db_url: str) -> None:
    history = open_history(db_url)
    try:
        with history.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        history.close()
    assert differences == []


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout


def test_run_kill_resume_diff_reevaluate(nginx: NginxServer, db_url: str, tmp_path: Path) -> None:
    names = ("good", "tls10", "cbc", "expired", "sha1", "wrongname")
    targets = [f"localhost:{scenario(n).port}" for n in names]
    listing = tmp_path / "targets.txt"
    listing.write_text("# a plain list\n" + "\n".join(targets) + f"\n127.0.0.1:{CLOSED_PORT}\n")
    common = ["--db", db_url, "--ca-file", str(CA_CERT), "--now", NOW]
    command = [sys.executable, "-m", "tlsaudit", "run", str(listing), "--concurrency", "1",
               "--recycle-after", "3", *common]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = open_history(db_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            runs = history.runs()
            if runs and sum(runs[0].counts.values()) >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.kill()
        process.wait()
        [killed] = history.runs()
        assert killed.finished_at is None
        done = history.finished_keys(killed.id)
        assert 2 <= len(done) < 7
        code, out = cli("run", str(listing), "--resume", "--recycle-after", "3", *common)
        assert code == 1, out
        [resumed] = history.runs()
        assert resumed.id == killed.id
        assert resumed.finished_at is not None
        assert sum(resumed.counts.values()) == 7
        assert cli("run", str(listing), "--resume", *common)[0] == 2  # nothing left to resume
        code, _ = cli("run", str(listing), "--recycle-after", "2", *common)  # 4 worker processes
        assert code == 1
        code, out = cli("diff", "--db", db_url, "--format", "json")
        document = json.loads(out)
        jsonschema.validate(document, committed("diff.schema.json"))
        assert document["new_failures"] == []
        assert document["verdict_changes"] == []
        code, out = cli("reevaluate", "--db", db_url, "--profile", "cryptrec-exception",
                        "--now", NOW, "--format", "json")  # fmt: skip
        report = json.loads(out)
        jsonschema.validate(report, committed_schema())
        verdicts = {t["target"]: t["verdict"] for t in report["targets"]}
        assert verdicts[targets[1]] == "pass"  # tls10 passes the exception profile
        assert verdicts[targets[3]] == "fail"  # expired stays expired
        assert verdicts[f"127.0.0.1:{CLOSED_PORT}"] == "error"
        assert [r.kind for r in history.runs()] == ["reevaluate", "scan", "scan"]
    finally:
        if process.poll() is None:
            process.kill()
        history.close()


def test_bad_database_url_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = cli("history", "--db", "mysql://nobody@127.0.0.1/x")
    assert code == 2
    code, _ = cli("history", "--db", str(tmp_path / "empty.sqlite3"))
    assert code == 0
    code, _ = cli("report", "--db", str(tmp_path / "empty.sqlite3"))
    assert code == 2


def test_schedule_runs_the_list_at_each_tick(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(f"127.0.0.1:{CLOSED_PORT}\n")
    db = tmp_path / "history.sqlite3"
    code, out = cli("schedule", str(listing), "--every", "1s", "--db", str(db), "--timeout", "1",
                    "--max-runs", "2")  # fmt: skip
    assert code == 0, out
    assert out.count("tlsaudit run exited with 3") == 2
    history = open_history(str(db))
    try:
        runs = history.runs()
    finally:
        history.close()
    assert [r.counts["error"] for r in runs] == [1, 1]
    assert all(r.finished_at is not None for r in runs)
    code, out = cli("schedule", str(listing), "--cron", "61 * * * *", "--db", str(db))
    assert code == 2


def test_scan_writes_jsonl_csv_and_prometheus(nginx: NginxServer) -> None:
    import csv
    import io

    from prometheus_client.parser import text_string_to_metric_families

    base = ["scan", f"localhost:{scenario('tls10').port}", "--ip", "127.0.0.1",
            "--ca-file", str(CA_CERT)]  # fmt: skip
    code, out = cli(*base, "--format", "jsonl")
    assert code == 1
    [line] = out.splitlines()
    record = json.loads(line)
    jsonschema.validate(record, committed("jsonl-record.schema.json"))
    assert record["target"]["verdict"] == "fail"
    code, out = cli(*base, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["check_id"] for r in rows if r["status"] == "fail"} >= {"tls.protocol.tls1_0"}
    code, out = cli(*base, "--format", "prometheus")
    families = {f.name: f for f in text_string_to_metric_families(out)}
    [fail] = [
        s for s in families["tlsaudit_target_verdict"].samples if s.labels["verdict"] == "fail"
    ]
    assert fail.value == 1


def test_interrupt_stores_the_scans_under_way(nginx: NginxServer, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) and SIGTERM stop a run after storing what is running: exit 130."""
    import signal

    names = ("good", "tls10", "cbc", "expired", "sha1", "wrongname", "rsa1024", "selfsigned")
    listing = tmp_path / "targets.txt"
    listing.write_text("\n".join(f"localhost:{scenario(n).port}" for n in names) + "\n")
    db = tmp_path / "history.sqlite3"
    common = ["--db", str(db), "--ca-file", str(CA_CERT), "--now", NOW]
    for number, stop in enumerate((signal.SIGINT, signal.SIGTERM), start=1):
        process = subprocess.Popen(
            [sys.executable, "-m", "tlsaudit", "run", str(listing), "--concurrency", "2", *common],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists():
                history = open_history(str(db))
                stored = len(history.finished_keys(number)) if history.runs() else 0
                history.close()
                if stored >= 1:
                    break
            time.sleep(0.05)
        process.send_signal(stop)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert f"Run #{number} interrupted" in err
        assert f"tlsaudit run {listing} --resume" in err
    history = open_history(str(db))
    try:
        runs = history.runs()
        assert [r.finished_at for r in runs] == [None, None]
        assert all(0 < sum(r.counts.values()) < len(names) for r in runs)
    finally:
        history.close()
    code, _ = cli("run", str(listing), "--resume", *common)
    assert code == 1


def test_output_folder_is_checked_before_scanning(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(f"127.0.0.1:{CLOSED_PORT}\n")
    db = tmp_path / "history.sqlite3"
    code, _ = cli("run", str(listing), "--db", str(db), "-o", str(tmp_path / "no" / "x.json"))
    assert code == 2
    assert not db.exists()


def test_a_dead_worker_process_loses_nothing(nginx: NginxServer, tmp_path: Path) -> None:
    """SIGKILL the worker process midway: the parent hands its unfinished entries to the
    next worker and the run completes with every entry stored once."""
    import os
    import signal

    names = ("good", "tls10", "cbc", "expired", "sha1", "wrongname", "rsa1024")
    listing = tmp_path / "targets.txt"
    listing.write_text("\n".join(f"localhost:{scenario(n).port}" for n in names) + "\n")
    db = tmp_path / "history.sqlite3"
    command = [sys.executable, "-m", "tlsaudit", "run", str(listing), "--db", str(db),
               "--ca-file", str(CA_CERT), "--now", NOW, "--concurrency", "1",
               "--recycle-after", "5"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    killed = False
    deadline = time.monotonic() + 60
    while not killed and time.monotonic() < deadline and process.poll() is None:
        if db.exists():
            history = open_history(str(db))
            stored = len(history.finished_keys(1)) if history.runs() else 0
            history.close()
            pids = children.read_text().split() if stored >= 1 else []
            workers = [int(p) for p in pids  # not multiprocessing's resource tracker
                       if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]  # fmt: skip
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
                killed = True
        time.sleep(0.05)
    assert killed, "no worker process to kill"
    assert process.wait(timeout=120) == 1
    history = open_history(str(db))
    try:
        [run] = history.runs()
        assert run.finished_at is not None
        assert sum(run.counts.values()) == len(names)
    finally:
        history.close()


def test_processes_opening_a_new_database_at_once(db_url: str) -> None:
    """A run, its workers and a `history` may create the schema at the same moment."""
    code = (
        "import sys; from tlsaudit.history import open_history; "
        "h = open_history(sys.argv[1]); h.runs(); h.close()"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outcomes = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in processes]
    assert outcomes == [(0, "")] * 6
