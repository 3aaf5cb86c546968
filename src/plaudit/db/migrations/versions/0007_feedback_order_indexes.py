"""feedback: the listing indexes end in id, the download's tie-breaker

Downloads and lists order feedback by (created_at, id). With indexes on (org_id, created_at)
and (org_id, task_id, created_at) SQLite walked the index and then sorted every row again in a
temporary b-tree for the id tie-break (a fifth of a 1,000,000-row download), and PostgreSQL
chose a full sort spilling to disk. Ending both indexes in id gives the order for free.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain index operations, not batch mode: a batch "move and copy" of feedback on SQLite would
# cascade-delete its feedback_completions links (see 0005).
BEFORE = {
    "ix_feedback_org_created": ["org_id", "created_at"],
    "ix_feedback_org_task_created": ["org_id", "task_id", "created_at"],
}


def upgrade() -> None:
    for name, columns in BEFORE.items():
        op.drop_index(name, table_name="feedback")
        op.create_index(name, "feedback", [*columns, "id"], unique=False)


def downgrade() -> None:
    for name, columns in BEFORE.items():
        op.drop_index(name, table_name="feedback")
        op.create_index(name, "feedback", columns, unique=False)
