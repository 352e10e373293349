"""timed jobs: scheduled notifications (schedule_key, cancelled) and periodic jobs

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "periodic_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_jobs")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_key", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_notifications_schedule_key", ["schedule_key"], unique=False)
        batch_op.create_index(
            "ix_notifications_finished",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status <> 'pending'"),
            sqlite_where=sa.text("status <> 'pending'"),
        )
    with op.batch_alter_table("dev_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dev_emails_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dev_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dev_emails_created_at"))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_notifications_finished", sqlite_where=sa.text("status <> 'pending'")
        )
        batch_op.drop_index("ix_notifications_schedule_key")
        batch_op.drop_column("schedule_key")
    op.drop_table("periodic_jobs")
