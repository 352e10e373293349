"""availability: working hours, team booking policy, outside_working_hours, calendar feeds

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("working_hours", sa.JSON(), nullable=True))
    with op.batch_alter_table("teams") as batch:
        batch.add_column(
            sa.Column("min_notice_minutes", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("max_days_ahead", sa.Integer(), server_default="730", nullable=False)
        )
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(
            sa.Column(
                "outside_working_hours", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_calendar_feeds_secret_hash")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    # Plain DROP COLUMN (SQLite 3.35+), not a batch table copy: recreating `meetings`
    # would drop the old table, and with foreign keys on that cascades into busy_slots.
    op.drop_column("meetings", "outside_working_hours")
    op.drop_column("teams", "max_days_ahead")
    op.drop_column("teams", "min_notice_minutes")
    op.drop_column("users", "working_hours")
