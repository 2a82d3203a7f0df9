"""The history schema (SQLAlchemy 2): one for SQLite and PostgreSQL alike.

Alembic migrations in ``migrations/versions`` create and change it; a test checks that
the migrations and these tables agree on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None if dialect.name == "sqlite" else UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """One run: a batch scan of an asset list, or stored facts judged again."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``scan`` or ``reevaluate``."""
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    """The run whose facts a ``reevaluate`` run judged."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """None while running, or when the run was interrupted (``--resume`` completes it)."""
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The evaluation time when pinned; None = the clock at each entry."""
    tool: Mapped[str] = mapped_column(String(64))
    profile_id: Mapped[str] = mapped_column(String(255))
    profile_name: Mapped[str] = mapped_column(Text)
    profile_version: Mapped[str] = mapped_column(String(64))
    profile_editions: Mapped[str] = mapped_column(Text)
    """The document editions the profile encodes, comma-separated."""
    source: Mapped[str | None] = mapped_column(Text)
    """The asset file or list (``-`` = stdin)."""
    source_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    settings: Mapped[str] = mapped_column(Text)
    """The command line's defaults as JSON: ``--resume`` runs with the same."""
    planned: Mapped[int] = mapped_column(Integer)
    """Entries in the list when the run started."""


class ResultRow(Base):
    """One entry of a run: verdict, error and the report with facts and findings."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("run_id", "entry_key", name="uq_results_run_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    entry_key: Mapped[str] = mapped_column(String(1024), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    """``tls`` or ``domain``."""
    target: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer)
    """Findings that fail: a column so that SQL can chart without decoding reports."""
    profile_id: Mapped[str] = mapped_column(String(255))
    tags: Mapped[str] = mapped_column(Text)
    """Asset-file tags as JSON."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration: Mapped[float] = mapped_column(Float)
    report: Mapped[bytes] = mapped_column(LargeBinary)
    """The TargetReport or DomainReport (facts and findings) as zlib-compressed JSON."""
