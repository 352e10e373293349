"""meetings.sequence and the meeting_history table

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_meetings_status_start", ["status", "start_time"], unique=False)
    op.create_table(
        "meeting_history",
        sa.Column("id", _ID, nullable=False),
        sa.Column("meeting_id", _ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_meeting_history_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_history_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_history")),
    )
    with op.batch_alter_table("meeting_history", schema=None) as batch_op:
        batch_op.create_index("ix_meeting_history_meeting", ["meeting_id", "id"], unique=False)
    # Meetings made before this revision: their creation is known exactly, and a cancel
    # of a confirmed meeting sent its METHOD:CANCEL with SEQUENCE 1. Later changes were
    # not recorded, so they are not invented here.
    op.execute(
        "INSERT INTO meeting_history "
        "(meeting_id, at, action, actor_id, from_status, to_status, start_time, reason) "
        "SELECT id, created_at, 'created', requester_id, NULL, 'pending', start_time, NULL "
        "FROM meetings"
    )
    op.execute("UPDATE meetings SET sequence = 1 WHERE status = 'cancelled'")


def downgrade() -> None:
    with op.batch_alter_table("meeting_history", schema=None) as batch_op:
        batch_op.drop_index("ix_meeting_history_meeting")
    op.drop_table("meeting_history")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_status_start")
        batch_op.drop_column("sequence")
