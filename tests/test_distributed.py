"""Distributed runs on real parts: a throw-away PostgreSQL cluster holds the history and the
queue; two network namespaces are two zones, each with its own nginx and one worker that
reaches only that nginx; two workers in the host's namespace take the entries without a
zone, whose nginx sits behind a relay that sees how many of them are scanned at once.

One run of 61 entries (22 per zone, 16 without a zone, one closed port) is queued with
``--wait``; one worker is SIGKILLed while it scans, and the run must still end with exactly
one result row per entry, the killed worker's entry retried by the other, the closed port
an error row after its two tries, and never more than ``--per-host`` entries of the host at
once.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from scan_targets import CA_CERT, Scenario, free_ports, scenario
from servers import netns
from servers.nginx import NginxServer
from servers.postgres import PostgresCluster
from servers.proxy import PortGauge
from tlsaudit.assets import Entry, load_assets
from tlsaudit.cli import app

ZONES = {"lgwan": "127.0.10.1", "dc": "127.0.20.1"}
"""Zone -> the address of its nginx inside its namespace."""
OPEN_HOST = "127.0.30.1"
"""The address of the entries without a zone (the relay in the host's namespace)."""
PER_ZONE, OPEN, PER_HOST = 22, 16, 2
TIMEOUT = 150.0


@pytest.fixture(scope="module")
def database(postgres: PostgresCluster) -> str:
    """A database of its own on the session's cluster, reached through the Unix socket."""
    return postgres.new_database("distributed")


def _blocks(host: str, ports: list[int], prefix: str) -> list[Scenario]:
    good = scenario("good")
    return [
        dataclasses.replace(good, name=f"{prefix}{i}", host=host, port=port)
        for i, port in enumerate(ports)
    ]


@dataclass
class Fleet:
    namespaces: dict[str, netns.Namespace]
    zone_ports: dict[str, list[int]]
    open_ports: list[int]
    gauge: PortGauge


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two zones (namespaces ta13-lgwan, ta13-dc, each with an nginx) and, in the host's
    namespace, an nginx behind a per-port relay on 127.0.30.1."""
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)
    ports = list(range(26100, 26100 + PER_ZONE))  # private to each namespace
    upstream = free_ports(OPEN)
    relayed = free_ports(OPEN, OPEN_HOST)
    servers: list[NginxServer] = []
    namespaces: dict[str, netns.Namespace] = {}
    try:
        for zone, host in ZONES.items():
            namespace = netns.Namespace(f"ta13-{zone}").__enter__()
            namespaces[zone] = namespace
            workdir = tmp_path_factory.mktemp(f"nginx-{zone}")
            servers.append(netns.NamespacedNginx(namespace, _blocks(host, ports, zone), workdir))
            servers[-1].start()
        servers.append(NginxServer(_blocks("127.0.0.1", upstream, "open"),
                                   tmp_path_factory.mktemp("nginx-open")).start())  # fmt: skip
        gauge = PortGauge(OPEN_HOST, dict(zip(relayed, upstream, strict=True)))
        yield Fleet(namespaces, dict.fromkeys(ZONES, ports), relayed, gauge)
    finally:
        for server in servers:
            server.stop()
        for namespace in namespaces.values():
            namespace.delete()


def _asset_file(path: Path, fleet: Fleet, closed: int) -> None:
    lines = ["[defaults]", f'ca_file = "{CA_CERT}"']
    lines += [f'[groups.{zone}]\nzone = "{zone}"' for zone in ZONES]
    for zone, host in ZONES.items():
        for port in [*fleet.zone_ports[zone], *([closed] if zone == "dc" else [])]:
            lines.append(f'[[endpoint]]\ntarget = "localhost:{port}"\nip = "{host}"\n'
                         f'group = "{zone}"')  # fmt: skip
    for port in fleet.open_ports:
        lines.append(f'[[endpoint]]\ntarget = "localhost:{port}"\nip = "{OPEN_HOST}"')
    path.write_text("\n".join(lines) + "\n")


class Workers:
    """``tlsaudit worker`` processes, their output in files, stopped by pid."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *options: str, prefix: list[str] | None = None) -> None:
        command = [*(prefix or []), sys.executable, "-m", "tlsaudit", "worker", "--db", self.url,
                   "--concurrency", "2", "--stalled-after", "3", "--retry-after", "1",
                   "--tries", "2", *options]  # fmt: skip
        with (self.workdir / f"{name}.err").open("wb") as err:
            self.processes[name] = subprocess.Popen(command, stdout=err, stderr=err)

    def stderr(self, name: str) -> str:
        return (self.workdir / f"{name}.err").read_text()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of a query; none while the table is not there yet."""
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            return connection.execute(query, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def _wait_for(probe: Any, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return found


def test_distributed_run_over_zones_with_a_killed_worker(
    database: str, fleet: Fleet, tmp_path: Path
) -> None:
    closed = 26099  # nothing listens there in the dc namespace
    assets = tmp_path / "assets.toml"
    _asset_file(assets, fleet, closed)
    workers = Workers(database, tmp_path)
    enqueue: subprocess.Popen[bytes] | None = None
    try:
        workers.start("open1")
        first = _wait_for(lambda: _rows(database, "SELECT id FROM procrastinate_workers"),
                          "the first worker")[0][0]  # fmt: skip
        workers.start("open2")
        for zone, namespace in fleet.namespaces.items():
            workers.start(zone, "--zone", zone, prefix=namespace.prefix)
        output = tmp_path / "run.json"
        enqueue = subprocess.Popen(
            [sys.executable, "-m", "tlsaudit", "run", str(assets), "--db", database,
             "--distributed", "--wait", "--per-host", str(PER_HOST), "--format", "json",
             "--output", str(output)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

        def scanning_midway() -> list[tuple[Any, ...]]:
            if _rows(database, "SELECT count(*) FROM results")[0][0] < 3:
                return []
            return _rows(database, "SELECT id, args->'entry'->>'key' FROM procrastinate_jobs "
                         "WHERE status = 'doing' AND worker_id = %s", first)  # fmt: skip

        killed_job, killed_key = _wait_for(scanning_midway, "a scan by the first worker")[0]
        workers.processes["open1"].send_signal(signal.SIGKILL)
        _, err = enqueue.communicate(timeout=TIMEOUT)
    finally:
        workers.stop()
        if enqueue is not None and enqueue.poll() is None:
            enqueue.kill()

    assert enqueue.returncode == 3, err  # the closed port is an error row: "not all scanned"
    planned = 2 * PER_ZONE + OPEN + 1
    assert f"{planned} entries queued" in err.decode()
    run_id, finished = _rows(database, "SELECT id, finished_at FROM runs")[0]
    assert finished is not None

    # Exactly one result row per entry, the killed worker's one included.
    results = _rows(database, "SELECT entry_key, verdict, error FROM results WHERE run_id = %s",
                    run_id)  # fmt: skip
    keys = [key for key, _, _ in results]
    assert len(keys) == len(set(keys)) == planned
    assert {e.key for e in load_assets(str(assets)).entries} == set(keys)
    status, attempts = _rows(database, "SELECT status::text, attempts FROM procrastinate_jobs "
                             "WHERE id = %s", killed_job)[0]  # fmt: skip
    events = [t for (t,) in _rows(database, "SELECT type::text FROM procrastinate_events "
                                  "WHERE job_id = %s", killed_job)]  # fmt: skip
    assert (status, attempts, events.count("started")) == ("succeeded", 2, 2)  # killed, then done
    assert killed_key in keys

    # Each zone's entries were scanned inside its namespace: neither the host nor the other
    # zone can reach them.
    verdicts = {key: (verdict, error) for key, verdict, error in results}
    for zone, host in ZONES.items():
        address = (host, fleet.zone_ports[zone][0])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=1).close()
        other = next(n for z, n in fleet.namespaces.items() if z != zone)
        assert other.refused([address]) == [address]
    closed_key = f"https://localhost:{closed} ip={ZONES['dc']}"
    assert verdicts.pop(closed_key)[0] == "error"
    assert {v for v, _ in verdicts.values()} == {"pass"}
    closed_tries = _rows(database, "SELECT attempts FROM procrastinate_jobs "
                         "WHERE args->'entry'->>'key' = %s", closed_key)  # fmt: skip
    assert closed_tries == [(2,)]  # --tries 2: tried twice, then the error row

    # The host saw at most --per-host of its entries at once (and that many, at times).
    assert fleet.gauge.peak == PER_HOST
    report = json.loads(output.read_text())
    assert len(report["targets"]) == planned
    assert workers.stderr("open2") == ""

    shown = subprocess.run(
        [sys.executable, "-m", "tlsaudit", "run", "--status", str(run_id), "--db", database],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cells = [[c.strip() for c in line.strip("│").split("│")]
             for line in shown.stdout.splitlines() if line.startswith("│")]  # fmt: skip
    rows = {zone: counts for zone, *counts in cells}
    assert rows == {
        "(none)": [str(OPEN), "0", "0", "0", str(OPEN)],
        "dc": [str(PER_ZONE), "0", "0", "1", str(PER_ZONE + 1)],
        "lgwan": [str(PER_ZONE), "0", "0", "0", str(PER_ZONE)],
    }
    assert "finished" in shown.stdout


def test_distributed_needs_postgresql(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("localhost:1\n")
    db = str(tmp_path / "h.sqlite3")
    runner = CliRunner()
    for args in (["run", str(listing), "--distributed", "--db", db], ["worker", "--db", db]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            f"tlsaudit: error: --db {db}: distributed runs and workers need PostgreSQL "
            "(--db postgresql://...)"
        ]
    assert not Path(db).exists()


def test_zone_in_asset_files(tmp_path: Path) -> None:
    path = tmp_path / "assets.toml"
    path.write_text('[groups.seg]\nzone = "lgwan"\n[[endpoint]]\ntarget = "a.test"\n'
                    'group = "seg"\n[[endpoint]]\ntarget = "b.test"\nzone = "dc"\n'
                    '[[endpoint]]\ntarget = "c.test"\n[[endpoint]]\ntarget = "d.test"\n'
                    'zone = "no zone"\n')  # fmt: skip
    loaded = load_assets(str(path))
    assert [str(e) for e in loaded.errors] == [
        f"{path}:13: endpoint #4.zone: a zone name is 1-63 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    ]
    path.write_text(path.read_text().replace('zone = "no zone"\n', ""))
    entries = load_assets(str(path)).entries
    assert [e.settings.zone for e in entries] == ["lgwan", "dc", None, None]
    assert [Entry.from_json(e.to_json()) for e in entries] == entries
