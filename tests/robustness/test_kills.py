"""``tlsaudit run`` killed at random points, and two runs writing one database at once.

The targets are the session nginx's scenarios plus closed ports (an error row at once, so
commits come in bursts). Each kill is a SIGKILL at a random moment (seeded): of the whole
process group (the run and its worker processes die mid-write) or of the run alone (its
workers get SIGTERM and store the scans under way while the next ``--resume`` starts).
After every kill the SQLite file passes ``PRAGMA integrity_check`` and every result
stored before is still there, unchanged; the last ``--resume`` completes the list with
exactly one result per entry. On PostgreSQL the same, with fewer kills. An interrupt that
lands while a result is stored waits for its commit.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scan_targets import CA_CERT, free_ports, scenario
from servers.nginx import NginxServer
from tlsaudit.batch import interrupts_held
from tlsaudit.history import open_history
from tlsaudit.history.store import engine_url
from tlsaudit.models.report import TargetReport
from tlsaudit.profiles import load_profile

NOW = "2026-11-01T00:00:00+00:00"
SCENARIOS = ("good", "tls10", "cbc", "expired")
KILLS = 10

Rows = dict[tuple[int, str], tuple[int, str]]
"""(run id, entry key) -> (row id, finished_at) of every stored result."""


def rows(url: str) -> Rows:
    query = text("SELECT run_id, entry_key, id, finished_at FROM results")
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as connection:
            found = connection.execute(query).all()
    except Exception:  # the first run is still creating the schema
        return {}
    finally:
        engine.dispose()
    keys = Counter((run, key) for run, key, _, _ in found)
    assert max(keys.values(), default=1) == 1, keys  # never two results of one entry
    return {(run, key): (row, str(finished)) for run, key, row, finished in found}


def runs(url: str) -> list[tuple[int, bool]]:
    """(id, finished) of every run."""
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT id, finished_at FROM runs ORDER BY id"))
            return [(run, finished is not None) for run, finished in found]
    except Exception:
        return []
    finally:
        engine.dispose()


def integrity(url: str) -> None:
    if url.startswith("postgresql"):
        return  # the server's own business; rows() checks what a run stored
    with sqlite3.connect(url) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def listing(path: Path, closed: int, scenarios: int = len(SCENARIOS)) -> list[str]:
    targets = [f"127.0.0.1:{scenario(n).port}" for n in SCENARIOS[:scenarios]]
    targets += [f"127.0.0.1:{port}" for port in free_ports(closed)]
    path.write_text("\n".join(targets) + "\n")
    return targets


def keys(targets: list[str]) -> list[str]:
    """The entry keys of a plain list's targets (canonical: scheme, host, port)."""
    return [f"https://{target}" for target in targets]


def start(targets: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tlsaudit", "run", str(targets), "--db", url,
               "--ca-file", str(CA_CERT), "--now", NOW, "--timeout", "1",
               "--concurrency", "4", "--per-host", "4", *extra]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def kill_and_resume(url: str, tmp_path: Path, kills: int, seed: int) -> None:
    targets = tmp_path / "targets.txt"
    entries = listing(targets, closed=8)
    chance = random.Random(seed)
    groups: list[int] = []
    before: Rows = {}
    killed = 0
    try:
        while killed < kills:
            resume = ["--resume"] if any(not done for _, done in runs(url)) else []
            process = start(targets, url, "--recycle-after", "3", *resume)
            groups.append(process.pid)
            time.sleep(chance.uniform(0.3, 3.0))
            if process.poll() is not None:  # finished before its kill: a new run is next
                assert process.returncode in (1, 3), process.stderr
                integrity(url)
                before = rows(url)
                continue
            if killed % 2:
                os.kill(process.pid, signal.SIGKILL)
            else:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            killed += 1
            integrity(url)
            after = rows(url)
            assert before.items() <= after.items()  # nothing finished was lost or changed
            before = after
        resume = ["--resume"] if any(not done for _, done in runs(url)) else []
        final = start(targets, url, *resume)
        groups.append(final.pid)
        _, err = final.communicate(timeout=120)
        assert final.returncode in (1, 3), err
    finally:
        for group in groups:
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
    integrity(url)
    stored = rows(url)
    assert before.items() <= stored.items()
    (last, finished) = runs(url)[-1]
    assert finished
    assert sorted(key for run, key in stored if run == last) == sorted(keys(entries))


def test_sigkill_at_random_points_sqlite(nginx: NginxServer, tmp_path: Path) -> None:
    kill_and_resume(str(tmp_path / "history.sqlite3"), tmp_path, KILLS, seed=12)


def test_sigkill_then_resume_postgresql(
    nginx: NginxServer, postgres_url: str, tmp_path: Path
) -> None:
    kill_and_resume(database(postgres_url, "kills"), tmp_path, 3, seed=13)


def database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the session's PostgreSQL cluster."""
    engine = create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_runs_write_one_database_at_once(
    nginx: NginxServer, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two lists sharing one target, run at the same moment: each run holds its entries."""
    if backend == "sqlite":
        url = str(tmp_path / "history.sqlite3")
    else:
        url = database(request.getfixturevalue("postgres_url"), "concurrent")
    lists = [tmp_path / "a.txt", tmp_path / "b.txt"]
    entries = [listing(path, closed=6, scenarios=2) for path in lists]
    processes = [start(path, url) for path in lists]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode in (1, 3), err
    integrity(url)
    stored = rows(url)
    assert [done for _, done in runs(url)] == [True, True]
    by_run: dict[int, list[str]] = {}
    for run, key in stored:
        by_run.setdefault(run, []).append(key)
    assert sorted(map(sorted, by_run.values())) == sorted(sorted(keys(e)) for e in entries)


def test_an_interrupt_while_storing_comes_after_the_commit(tmp_path: Path) -> None:
    """Ctrl-C in the middle of storing a result (pydantic serialising it would turn the
    KeyboardInterrupt into a serialization error: a traceback, and that result lost) is
    acted on once the result is committed."""
    report = TargetReport.failed("127.0.0.1:1", "connection refused")
    now = datetime.now(UTC)
    with open_history(str(tmp_path / "history.sqlite3")) as history:
        run = history.start_run(kind="scan", tool="t", profile=load_profile().ref, settings={},
                                planned=1)  # fmt: skip

        def store() -> None:
            with interrupts_held():
                signal.raise_signal(signal.SIGINT)
                history.record(run, "https://127.0.0.1:1", "tls", "p", report, now, now, {})

        with pytest.raises(KeyboardInterrupt):
            store()
        assert history.finished_keys(run) == {"https://127.0.0.1:1"}
