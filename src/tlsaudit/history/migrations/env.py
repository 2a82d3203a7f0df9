"""Alembic environment: migrations run on the connection the history store hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tlsaudit.history.tables import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("tlsaudit migrations run through tlsaudit.history (no offline mode)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
