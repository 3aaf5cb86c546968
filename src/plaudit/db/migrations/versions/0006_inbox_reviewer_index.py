"""inbox slots: partial index of each reviewer's slots

With several reviews per item, ``next`` skips items the reviewer already holds or reviewed.
PostgreSQL planned that check as one read of every slot of the task (9 ms for 3,000 slots,
growing with the task); an index on (task_id, reviewer_id, completion_id) over the slots that
have a reviewer makes it a probe of the reviewer's own few.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_REVIEWER = sa.text("reviewer_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("inbox_slots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_slots_reviewer", ["task_id", "reviewer_id", "completion_id"], unique=False,
            postgresql_where=HAS_REVIEWER, sqlite_where=HAS_REVIEWER,
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("inbox_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_slots_reviewer")
