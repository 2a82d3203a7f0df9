"""The history store: runs and results in SQLite (default) or PostgreSQL.

Every result is committed on its own as it finishes, so a run that is killed keeps every
finished entry, and ``--resume`` finds the run and what is left of it. The schema is
brought up to date with Alembic on open.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from tlsaudit.errors import TlsauditError
from tlsaudit.history.tables import ResultRow, RunRow
from tlsaudit.models.findings import Status, Verdict
from tlsaudit.models.report import (
    SCHEMA_VERSION,
    DomainReport,
    ProfileRef,
    TargetReport,
    combine,
)

Result = TargetReport | DomainReport
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class HistoryError(TlsauditError):
    """The history database cannot be opened, or a run asked for is not in it."""


def default_url() -> str:
    """``$TLSAUDIT_DB``, else a SQLite file in the user's data directory (platformdirs)."""
    env = os.environ.get("TLSAUDIT_DB")
    if env:
        return env
    import platformdirs

    return str(platformdirs.user_data_path("tlsaudit") / "history.sqlite3")


def engine_url(text: str) -> str:
    """A path, ``sqlite:///path`` or ``postgresql://...`` as a SQLAlchemy URL."""
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    scheme, _, rest = text.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith(("sqlite", "postgresql+")):
        return text
    raise HistoryError(f"--db {text}: use a path, sqlite:///PATH or postgresql://...")


class RunSummary(BaseModel):
    """One run as ``tlsaudit history`` lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    kind: str = Field(description="scan, or reevaluate (stored facts judged again).")
    parent: int | None = Field(description="The run a reevaluate run judged again.")
    started_at: datetime
    finished_at: datetime | None = Field(description="None: running or interrupted.")
    tool: str
    profile: ProfileRef
    source: str | None
    source_sha256: str | None
    planned: int
    evaluated_at: datetime | None = Field(description="Pinned evaluation time, if any.")
    counts: dict[str, int] = Field(description="Results per verdict (pass, fail, unknown, error).")
    verdict: Verdict | None = Field(description="Overall verdict; None before any result.")


class TargetHistoryRow(BaseModel):
    """One stored result of one target, as ``tlsaudit history TARGET`` lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: int
    started_at: datetime
    key: str
    target: str
    verdict: Verdict
    failures: int
    error: str | None
    profile: str


class HistoryDocument(BaseModel):
    """`tlsaudit history --format json`: runs newest first, or one target's results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: str = SCHEMA_VERSION
    target: str | None = Field(default=None, description="The target asked for, if any.")
    runs: list[RunSummary] = Field(default_factory=list)
    results: list[TargetHistoryRow] = Field(default_factory=list)


@dataclass(frozen=True)
class Stored:
    """A result read back from the store."""

    key: str
    kind: str
    profile_id: str
    started_at: datetime
    finished_at: datetime
    report: Result


class History:
    """One database: open with :func:`open_history` and close when done."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        """As given (a path, sqlite:///, postgresql://): worker processes open it again."""

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self,
        *,
        kind: str,
        tool: str,
        profile: ProfileRef,
        settings: dict[str, Any],
        planned: int,
        source: str | None = None,
        source_sha256: str | None = None,
        parent: int | None = None,
        evaluated_at: datetime | None = None,
    ) -> int:
        row = RunRow(
            kind=kind,
            parent_id=parent,
            started_at=datetime.now(UTC),
            evaluated_at=evaluated_at,
            tool=tool,
            profile_id=profile.id,
            profile_name=profile.name,
            profile_version=profile.version,
            profile_editions=", ".join(profile.editions),
            source=source,
            source_sha256=source_sha256,
            settings=json.dumps(settings, sort_keys=True),
            planned=planned,
        )
        with self._session() as session:
            session.add(row)
            session.commit()
            return row.id

    def finish_run(self, run_id: int) -> None:
        with self._session() as session:
            row = session.get_one(RunRow, run_id)
            row.finished_at = datetime.now(UTC)
            session.commit()

    def finish_if_complete(self, run_id: int) -> bool:
        """Mark the run finished once it holds a result for every planned entry (a
        distributed run has no single process that sees the end); True when it is."""
        stored = select(func.count()).where(ResultRow.run_id == run_id).scalar_subquery()
        query = (
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.finished_at.is_(None), RunRow.planned <= stored)
            .values(finished_at=datetime.now(UTC))
        )
        with self._session() as session:
            session.execute(query)
            session.commit()
            return session.get_one(RunRow, run_id).finished_at is not None

    def record(
        self,
        run_id: int,
        key: str,
        kind: str,
        profile_id: str,
        report: Result,
        started: datetime,
        finished: datetime,
        tags: dict[str, str],
    ) -> bool:
        """Store one finished entry (its own transaction: a kill after this keeps it).

        False when the run holds the entry already (another process stored it first, e.g.
        a worker that was still storing when ``--resume`` started): the first one stays."""
        findings = list(report.findings)
        if isinstance(report, TargetReport):
            findings += [f for e in report.endpoints for f in e.findings]
        row = ResultRow(
            run_id=run_id,
            entry_key=key,
            kind=kind,
            target=report.target if isinstance(report, TargetReport) else report.domain,
            verdict=report.verdict.value,
            error=report.error,
            failures=sum(f.status is Status.FAIL for f in findings),
            profile_id=profile_id,
            tags=json.dumps(tags, sort_keys=True, ensure_ascii=False),
            started_at=started,
            finished_at=finished,
            duration=(finished - started).total_seconds(),
            report=zlib.compress(report.model_dump_json().encode(), 6),
        )
        with self._session() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def run(self, run_id: int | None = None, *, finished_only: bool = False) -> RunSummary:
        """A run by id, or the newest (finished, when asked)."""
        if run_id is not None:
            found = self.runs(ids=[run_id])
            if not found:
                raise HistoryError(f"run {run_id}: no such run in the history")
            return found[0]
        found = self.runs(limit=1, finished_only=finished_only)
        if not found:
            raise HistoryError("the history holds no run yet (tlsaudit run ASSETS first)")
        return found[0]

    def runs(
        self,
        *,
        limit: int | None = None,
        ids: Sequence[int] | None = None,
        finished_only: bool = False,
    ) -> list[RunSummary]:
        """Runs newest first, with their counts per verdict."""
        query = select(RunRow).order_by(RunRow.id.desc())
        if ids is not None:
            query = query.where(RunRow.id.in_(ids))
        if finished_only:
            query = query.where(RunRow.finished_at.is_not(None))
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            rows = list(session.scalars(query))
            counts: dict[int, dict[str, int]] = {r.id: {} for r in rows}
            tally = (
                select(ResultRow.run_id, ResultRow.verdict, func.count())
                .where(ResultRow.run_id.in_(list(counts)))
                .group_by(ResultRow.run_id, ResultRow.verdict)
            )
            for run_id, verdict, count in session.execute(tally):
                counts[run_id][verdict] = count
        return [_summary(r, counts[r.id]) for r in rows]

    def last_unfinished(self, source_sha256: str) -> RunSummary | None:
        """The newest interrupted scan of this asset list, if the newest scan of it is."""
        query = (
            select(RunRow.id)
            .where(RunRow.kind == "scan", RunRow.source_sha256 == source_sha256)
            .order_by(RunRow.id.desc())
            .limit(1)
        )
        with self._session() as session:
            run_id = session.scalar(query)
        if run_id is None:
            return None
        run = self.run(run_id)
        return run if run.finished_at is None else None

    def settings(self, run_id: int) -> dict[str, Any]:
        with self._session() as session:
            loaded: dict[str, Any] = json.loads(session.get_one(RunRow, run_id).settings)
            return loaded

    def finished_keys(self, run_id: int) -> set[str]:
        query = select(ResultRow.entry_key).where(ResultRow.run_id == run_id)
        with self._session() as session:
            return set(session.scalars(query))

    def verdicts(self, run_id: int) -> dict[str, Verdict]:
        """Each stored entry's verdict, by entry key."""
        query = select(ResultRow.entry_key, ResultRow.verdict).where(ResultRow.run_id == run_id)
        with self._session() as session:
            return {key: Verdict(verdict) for key, verdict in session.execute(query)}

    def results(self, run_id: int) -> list[Stored]:
        """Every result of a run, in the order they finished."""
        query = select(ResultRow).where(ResultRow.run_id == run_id).order_by(ResultRow.id)
        with self._session() as session:
            return [_stored(row) for row in session.scalars(query)]

    def target_history(self, target: str, limit: int = 50) -> list[TargetHistoryRow]:
        """Results of one target (entry key, or the target as written), newest first."""
        query = (
            select(ResultRow, RunRow.started_at)
            .join(RunRow, RunRow.id == ResultRow.run_id)
            .where((ResultRow.entry_key == target) | (ResultRow.target == target))
            .order_by(ResultRow.run_id.desc())
            .limit(limit)
        )
        with self._session() as session:
            return [
                TargetHistoryRow(
                    run=row.run_id,
                    started_at=started,
                    key=row.entry_key,
                    target=row.target,
                    verdict=Verdict(row.verdict),
                    failures=row.failures,
                    error=row.error,
                    profile=row.profile_id,
                )
                for row, started in session.execute(query)
            ]

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except SQLAlchemyError as exc:
            raise HistoryError(f"history database: {_short(exc)}") from exc


def _summary(row: RunRow, counts: dict[str, int]) -> RunSummary:
    verdicts = [Verdict(v) for v, n in counts.items() if n]
    return RunSummary(
        id=row.id,
        kind=row.kind,
        parent=row.parent_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        tool=row.tool,
        profile=ProfileRef(
            id=row.profile_id,
            name=row.profile_name,
            version=row.profile_version,
            editions=[e for e in row.profile_editions.split(", ") if e],
        ),
        source=row.source,
        source_sha256=row.source_sha256,
        planned=row.planned,
        evaluated_at=row.evaluated_at,
        counts={v.value: counts.get(v.value, 0) for v in Verdict},
        verdict=combine(verdicts) if verdicts else None,
    )


def _stored(row: ResultRow) -> Stored:
    text = zlib.decompress(row.report)
    report: Result
    if row.kind == "domain":
        report = DomainReport.model_validate_json(text)
    else:
        report = TargetReport.model_validate_json(text)
    update = {"tags": json.loads(row.tags), "duration_seconds": row.duration}
    return Stored(
        key=row.entry_key,
        kind=row.kind,
        profile_id=row.profile_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        report=report.model_copy(update=update),
    )


def _short(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def open_history(url: str | None = None) -> History:
    """Open (and create or migrate) the database at ``url`` (default: :func:`default_url`)."""
    text = url or default_url()
    try:
        parsed = make_url(engine_url(text))
    except ArgumentError as exc:
        raise HistoryError(f"--db {text}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise HistoryError(f"history database {parsed.render_as_string()}: {_short(exc)}") from exc
    return History(engine, text)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the run that writes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def migrate(engine: Engine, attempts: int = 6) -> None:
    """Bring the schema to the newest revision (creates it in an empty database).

    Several processes may open a new database at once (a run and its worker processes,
    ``history`` while a first run starts): PostgreSQL serialises them with an advisory
    lock; on SQLite, whose DDL is not transactional here, the loser of a race retries and
    finds the schema at the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    for attempt in range(attempts):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                if MigrationContext.configure(connection).get_current_revision() == head:
                    return
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


_MIGRATION_LOCK = 0x746C7361  # "tlsa"
