"""feedback: the matched completion ids on the item itself

A download renders a million items; looking each item's links up in feedback_completions was
a third of its time. Links never change after the item is created, so the item keeps a sorted
copy (feedback_completions stays: it answers "feedback on this completion" and the inbox).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = {
    "postgresql": """
        UPDATE feedback f SET matched_completion_ids = coalesce(
            (SELECT jsonb_agg(l.completion_id ORDER BY l.completion_id COLLATE "C")
             FROM feedback_completions l WHERE l.feedback_id = f.id), '[]'::jsonb)
    """,
    "sqlite": """
        UPDATE feedback SET matched_completion_ids = (
            SELECT json_group_array(completion_id) FROM (
                SELECT l.completion_id FROM feedback_completions l
                WHERE l.feedback_id = feedback.id ORDER BY l.completion_id))
    """,
}


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "matched_completion_ids",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    # A plain ALTER TABLE (SQLite 3.35+): a batch "move and copy" would drop the old feedback
    # table, and the drop cascades to every feedback_completions row.
    op.drop_column("feedback", "matched_completion_ids")
