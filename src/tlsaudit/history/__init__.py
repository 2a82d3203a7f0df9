"""History of asset runs: SQLAlchemy tables, Alembic migrations and the store."""

from tlsaudit.history.store import (
    History,
    HistoryDocument,
    HistoryError,
    RunSummary,
    Stored,
    TargetHistoryRow,
    default_url,
    open_history,
)

__all__ = [
    "History",
    "HistoryDocument",
    "HistoryError",
    "RunSummary",
    "Stored",
    "TargetHistoryRow",
    "default_url",
    "open_history",
]
