"""Distributed asset runs: a run's entries as jobs of a procrastinate queue that lives in
the history's PostgreSQL database, scanned by ``tlsaudit worker`` processes on any host.

One job per entry carries the entry (as JSON) and the run id; the run row, its settings and
every result stay in the history, so a worker needs nothing but the database URL.

- Zones: an entry with a ``zone`` goes to the queue ``zone-NAME``, which only workers started
  with ``--zone NAME`` take; an entry without one goes to the queue ``default``.
- Per-host politeness: entry *i* of a host gets the job lock ``host:HOST#(i mod per_host)``;
  procrastinate never runs two jobs with one lock at once, so at most ``per_host`` entries
  of a host are scanned at once, by all workers together.
- At least once, one result: a worker that dies leaves its jobs in ``doing``; every worker
  sends heartbeats and puts the jobs of workers whose heartbeat stopped back in the queue.
  The history's unique (run, entry) key keeps the first result when an entry is stored
  twice.
- Bounded tries: an entry that ends in an error is tried again after ``retry_after``
  seconds, at most ``tries`` times in all; a job that comes back after ``tries`` tries
  without a result (its workers died each time) becomes an error row without a scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from procrastinate import (
    App,
    BaseRetryStrategy,
    Blueprint,
    JobContext,
    PsycopgConnector,
    RetryDecision,
)
from procrastinate.jobs import Job
from procrastinate.schema import SchemaManager
from sqlalchemy import text

from tlsaudit.assets import AssetList, Entry
from tlsaudit.batch import defaults_from, start_scan, store
from tlsaudit.engine import Defaults, Profiles, failed, scan_entry
from tlsaudit.errors import TlsauditError
from tlsaudit.history import History, open_history
from tlsaudit.history.store import engine_url
from tlsaudit.models.findings import Verdict

NAMESPACE = "tlsaudit"
TASK = f"{NAMESPACE}:scan"
DEFAULT_QUEUE = "default"
_SCHEMA_LOCK = 0x746C7371  # "tlsq"
_REQUEUE_LOCK = 0x746C7372  # "tlsr"
_DEFER_CHUNK = 1000


class DistributedError(TlsauditError):
    """A distributed run cannot be used here (no PostgreSQL, no such run)."""


def queue_of(zone: str | None) -> str:
    """The queue of a zone's entries."""
    return f"zone-{zone}" if zone else DEFAULT_QUEUE


def zone_of(queue: str) -> str | None:
    """The zone of a queue (:func:`queue_of` reversed)."""
    return queue.removeprefix("zone-") if queue.startswith("zone-") else None


def conninfo(url: str) -> str:
    """The libpq URL of a ``--db`` that names PostgreSQL.

    Raises:
        DistributedError: the database is not PostgreSQL.
    """
    scheme, _, rest = engine_url(url).partition("://")
    if not scheme.startswith("postgresql"):
        raise DistributedError(
            f"--db {url}: distributed runs and workers need PostgreSQL (--db postgresql://...)"
        )
    return f"postgresql://{rest}"


def ensure_schema(history: History) -> None:
    """Apply procrastinate's schema to the history database unless it is there (once,
    whoever comes first: processes starting together wait on an advisory lock).

    Raises:
        DistributedError: the history is not in PostgreSQL.
    """
    conninfo(history.url)
    with history.engine.begin() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
        if connection.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute(SchemaManager.get_schema())  # many statements, no parameters


def _app(url: str) -> App:
    app = App(connector=PsycopgConnector(conninfo=conninfo(url)))
    app.add_tasks_from(tasks, namespace=NAMESPACE)
    return app


# --- enqueue ----------------------------------------------------------------------------


def enqueue_run(
    assets: AssetList, history: History, defaults: Defaults, per_host: int, now: datetime | None
) -> int:
    """Store a new run of ``assets`` and queue one job per entry; return the run id.

    Raises:
        DistributedError: the history is not in PostgreSQL.
        InputError, ProfileError: as :func:`tlsaudit.batch.start_scan`.
    """
    app = _app(history.url)
    ensure_schema(history)
    run_id = start_scan(assets, history, defaults, Profiles(), now)
    seen: Counter[str] = Counter()
    jobs = []
    for entry in assets.entries:
        slot = seen[entry.host] % per_host
        seen[entry.host] += 1
        jobs.append(
            Job(
                queue=queue_of(entry.settings.zone),
                lock=f"host:{entry.host}#{slot}",
                queueing_lock=None,
                task_name=TASK,
                task_kwargs={"run_id": run_id, "entry": entry.to_json()},
            )
        )
    with app.open():
        for start in range(0, len(jobs), _DEFER_CHUNK):
            app.job_manager.batch_defer_jobs(jobs[start : start + _DEFER_CHUNK])
    history.finish_if_complete(run_id)  # an empty list is complete at once
    return run_id


# --- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneStatus:
    """Entries of one zone of a distributed run, by state."""

    zone: str | None
    done: int = 0
    """Stored with a verdict."""
    running: int = 0
    queued: int = 0
    """Waiting for a worker of the zone, or for their next try."""
    failed: int = 0
    """Stored as an error row (not scanned), or given up by the queue."""

    @property
    def name(self) -> str:
        return self.zone or "(none)"

    @property
    def total(self) -> int:
        return self.done + self.running + self.queued + self.failed

    @property
    def settled(self) -> bool:
        return self.running == 0 and self.queued == 0


def run_status(history: History, run_id: int) -> list[ZoneStatus]:
    """Each zone's entries of a distributed run, by state (no zone first).

    Raises:
        DistributedError: the run was not distributed.
    """
    query = text(
        "SELECT queue_name, status::text, args->'entry'->>'key' FROM procrastinate_jobs "
        "WHERE task_name = :task AND args->>'run_id' = :run"
    )
    ensure_schema(history)
    with history.engine.connect() as connection:
        rows = connection.execute(query, {"task": TASK, "run": str(run_id)}).all()
    if not rows and history.run(run_id).planned:
        raise DistributedError(f"run {run_id}: not a distributed run")
    verdicts = history.verdicts(run_id)
    counts: dict[str | None, Counter[str]] = {}
    for queue, status, key in rows:
        state = {"todo": "queued", "doing": "running"}.get(status, "failed")
        if status == "succeeded":
            state = "failed" if verdicts.get(key) is Verdict.ERROR else "done"
        counts.setdefault(zone_of(queue), Counter())[state] += 1
    ordered = sorted(counts, key=lambda z: (z is not None, z or ""))
    return [ZoneStatus(zone, **counts[zone]) for zone in ordered]


def follow(
    history: History,
    run_id: int,
    show: Callable[[list[ZoneStatus]], None],
    interval: float = 1.0,
) -> None:
    """Show the run's status every ``interval`` seconds until no entry is queued or running."""
    while True:
        status = run_status(history, run_id)
        show(status)
        if all(zone.settled for zone in status):
            history.finish_if_complete(run_id)
            return
        time.sleep(interval)


# --- workers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerOptions:
    zone: str | None = None
    """Take the entries of this zone (None: the entries without a zone)."""
    concurrency: int = 8
    """Entries scanned at once by this worker."""
    tries: int = 3
    """Tries per entry before its error (or the last try's) is stored."""
    retry_after: float = 60.0
    """Seconds before an entry that ended in an error is tried again."""
    stalled_after: float = 30.0
    """Seconds without a heartbeat after which a worker's jobs go back to the queue."""
    until_empty: bool = False
    """Stop when the queue holds nothing to take (else run until SIGTERM or SIGINT)."""


class TryAgain(Exception):  # noqa: N818 - a control-flow signal for the retry strategy
    """The entry ended in an error and has tries left."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


class _Retry(BaseRetryStrategy):
    """Retry a :class:`TryAgain` after its delay, anything else (the history could not be
    written) after 30 s; the task itself bounds the tries."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision:
        delay = exception.delay if isinstance(exception, TryAgain) else 30.0
        return RetryDecision(retry_in={"seconds": int(delay)})


tasks = Blueprint()


@tasks.task(name="scan", pass_context=True, retry=_Retry())
def _scan_job(context: JobContext, run_id: int, entry: dict[str, Any]) -> None:
    scanner: _Scanner = context.additional_context["scanner"]
    scanner.scan(context.job.attempts, run_id, Entry.from_json(entry))


class _Scanner:
    """What the jobs of one worker process share: the history, profiles, runs' settings."""

    def __init__(self, history: History, options: WorkerOptions) -> None:
        self.history = history
        self.options = options
        self.profiles = Profiles()
        self.runs: dict[int, tuple[Defaults, datetime | None]] = {}

    def _run(self, run_id: int) -> tuple[Defaults, datetime | None]:
        if run_id not in self.runs:
            defaults = defaults_from(self.history.settings(run_id))
            self.runs[run_id] = (defaults, self.history.run(run_id).evaluated_at)
        return self.runs[run_id]

    def scan(self, attempts: int, run_id: int, entry: Entry) -> None:
        """Scan and store one entry (``attempts``: earlier tries of its job)."""
        defaults, now = self._run(run_id)
        started = datetime.now(UTC)
        if attempts >= self.options.tries:
            reason = (f"not scanned: {attempts} tries ended without a result "
                      "(the workers scanning it stopped)")  # fmt: skip
            result = failed(entry, reason)
        else:
            result = scan_entry(entry, defaults, self.profiles, now)
            retry = result.verdict is Verdict.ERROR and entry.error is None
            if retry and attempts + 1 < self.options.tries:
                raise TryAgain(f"{entry.key}: error, tried again later", self.options.retry_after)
        store(self.history, run_id, entry, defaults, result, started, datetime.now(UTC))
        self.history.finish_if_complete(run_id)


def work(url: str, options: WorkerOptions) -> None:
    """Take and scan entries until stopped (SIGTERM, SIGINT; or the queue is empty).

    Raises:
        DistributedError: the history is not in PostgreSQL.
        HistoryError: the database cannot be opened.
    """
    app = _app(url)
    with open_history(url) as history:
        ensure_schema(history)
        asyncio.run(_work(app, _Scanner(history, options), options))


async def _work(app: App, scanner: _Scanner, options: WorkerOptions) -> None:
    # Scans are synchronous: they run in the loop's default executor, one thread each.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(options.concurrency))
    queue = queue_of(options.zone)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[queue],
                concurrency=options.concurrency,
                # A job whose host lock is taken is not announced when the lock frees up:
                # look for work often.
                fetch_job_polling_interval=0.5,
                additional_context={"scanner": scanner},
                update_heartbeat_interval=options.stalled_after / 3,
                stalled_worker_timeout=options.stalled_after,
            )
        )
        helpers = [asyncio.create_task(_requeue_stalled(app, options.stalled_after))]
        if options.until_empty:
            helpers.append(asyncio.create_task(_stop_when_empty(app, queue, worker)))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)


async def _stop_when_empty(app: App, queue: str, worker: asyncio.Task[None]) -> None:
    """Stop the worker (gracefully) once its queue holds no job to do or being done."""
    while True:
        await asyncio.sleep(1.0)
        stats = await app.job_manager.list_queues_async(queue=queue)
        if not any(row["todo"] or row["doing"] for row in stats):
            worker.cancel()
            return


async def _requeue_stalled(app: App, stalled_after: float) -> None:
    """Put the jobs of workers whose heartbeat stopped back in their queue, periodically.

    One worker at a time does it (an advisory lock): another one could otherwise put back a
    job it saw stalled a moment ago that a live worker has taken since."""
    connector = app.connector
    assert isinstance(connector, PsycopgConnector)
    while True:
        async with connector.pool.connection() as connection, connection.transaction():
            cursor = await connection.execute(
                "SELECT pg_try_advisory_xact_lock(%s)", (_REQUEUE_LOCK,)
            )
            row = await cursor.fetchone()
            if row is not None and row[0]:
                for job in await app.job_manager.get_stalled_jobs(
                    task_name=TASK, seconds_since_heartbeat=stalled_after
                ):
                    await app.job_manager.retry_job(job)
        await asyncio.sleep(stalled_after / 3)
