"""inbox slots: partial indexes for the open and the claimed queue

The composite (task_id, state, seq) index left the planner free to pick the lease index and
sort every open slot of a task (tens of ms on PostgreSQL with 100,000 slots and stale
statistics). A partial index per queue, in the claim's exact order, is one probe.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state = 'open'")
CLAIMED = sa.text("state = 'claimed'")


def upgrade() -> None:
    with op.batch_alter_table("inbox_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_slots_next")
        batch_op.drop_index("ix_inbox_slots_lease")
        batch_op.create_index(
            "ix_inbox_slots_open", ["task_id", "seq", "completion_id"], unique=False,
            postgresql_where=OPEN, sqlite_where=OPEN,
        )  # fmt: skip
        batch_op.create_index(
            "ix_inbox_slots_claimed", ["task_id", "lease_expires_at"], unique=False,
            postgresql_where=CLAIMED, sqlite_where=CLAIMED,
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("inbox_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_slots_claimed")
        batch_op.drop_index("ix_inbox_slots_open")
        batch_op.create_index(
            "ix_inbox_slots_lease", ["task_id", "state", "lease_expires_at"], unique=False
        )
        batch_op.create_index("ix_inbox_slots_next", ["task_id", "state", "seq"], unique=False)
