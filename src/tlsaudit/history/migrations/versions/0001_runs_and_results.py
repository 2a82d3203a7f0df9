"""Runs and their results.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tlsaudit.history.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("evaluated_at", UtcDateTime(), nullable=True),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(255), nullable=False),
        sa.Column("profile_name", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.String(64), nullable=False),
        sa.Column("profile_editions", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
    )
    op.create_index("ix_runs_source_sha256", "runs", ["source_sha256"])
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("entry_key", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(255), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("report", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("run_id", "entry_key", name="uq_results_run_entry"),
    )
    op.create_index("ix_results_run_id", "results", ["run_id"])
    op.create_index("ix_results_entry_key", "results", ["entry_key"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("runs")
