"""inbox skips: remember who passed on which item

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import plaudit.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_skips",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("completion_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", plaudit.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["feedback_tasks.id"],
            name=op.f("fk_inbox_skips_task_id_feedback_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "task_id", "completion_id", "reviewer_id", name=op.f("pk_inbox_skips")
        ),
    )


def downgrade() -> None:
    op.drop_table("inbox_skips")
