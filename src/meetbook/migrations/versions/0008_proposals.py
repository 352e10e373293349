"""proposals: awaited participant, a confirmed meeting's proposal, used email answer links

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("awaiting_user_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("proposed_start", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("proposed_by", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("proposal_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(
            "ix_meetings_awaiting_start", ["awaiting_user_id", "start_time", "id"], unique=False
        )
    # Requests made before this revision await their recipient, as they always did.
    op.execute("UPDATE meetings SET awaiting_user_id = recipient_id WHERE status = 'pending'")
    op.create_table(
        "answer_link_uses",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("meeting_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_answer_link_uses_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_answer_link_uses_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_answer_link_uses")),
    )
    op.create_index(
        op.f("ix_answer_link_uses_meeting_id"), "answer_link_uses", ["meeting_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_answer_link_uses_meeting_id"), table_name="answer_link_uses")
    op.drop_table("answer_link_uses")
    op.drop_index("ix_meetings_awaiting_start", table_name="meetings")
    # Plain DROP COLUMN (SQLite 3.35+), not a batch table copy: recreating `meetings`
    # would drop the old table, and with foreign keys on that cascades into busy_slots.
    for column in (
        "proposed_at",
        "proposal_reason",
        "proposed_by",
        "proposed_start",
        "awaiting_user_id",
    ):
        op.drop_column("meetings", column)
