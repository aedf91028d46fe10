"""Create the dead_letters table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("consumer", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("trace_id", sa.String(255), nullable=True),
        sa.Column("exchange", sa.String(255), nullable=False),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(255), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("fault_location", sa.String(512), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("status", sa.String(16), server_default="dead", nullable=False),
        sa.Column(
            "replayed_from",
            sa.Integer(),
            sa.ForeignKey("dead_letters.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("replayed_by", sa.String(255), nullable=True),
        sa.Column("edited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discarded_by", sa.String(255), nullable=True),
        sa.Column("discard_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('dead', 'replaying', 'replayed', 'discarded')",
            name="ck_dead_letters_status",
        ),
        sa.CheckConstraint(
            "reason IN ('exhausted', 'non_retriable', 'invalid')",
            name="ck_dead_letters_reason",
        ),
    )
    op.create_index("ix_dead_letters_status_created", "dead_letters", ["status", "created_at"])
    op.create_index("ix_dead_letters_queue_status", "dead_letters", ["queue", "status"])
    op.create_index("ix_dead_letters_fingerprint", "dead_letters", ["fingerprint"])
    op.create_index("ix_dead_letters_replayed_from", "dead_letters", ["replayed_from"])


def downgrade() -> None:
    op.drop_table("dead_letters")
