"""webhooks: team endpoints, their delivery log, and webhook rows in the outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The outbox's partial indexes: dropped before the SQLite table copy below and made again
# after it, so the copy cannot lose their WHERE clauses.
_PARTIAL = {
    "ix_notifications_due": "status = 'pending'",
    "ix_notifications_finished": "status <> 'pending'",
}


def _drop_partial_indexes() -> None:
    for name in _PARTIAL:
        op.drop_index(name, table_name="notifications")


def _create_partial_indexes() -> None:
    for name, where in _PARTIAL.items():
        op.create_index(
            name,
            "notifications",
            ["next_attempt_at"],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_webhooks_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_webhooks_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index("ix_webhooks_team_id", "webhooks", ["team_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("notification_id", ID, nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_attempts_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_webhook", "webhook_attempts", ["webhook_id", "id"])
    op.create_index("ix_webhook_attempts_at", "webhook_attempts", ["at"])

    # SQLite cannot change a column's NULL rule in place: batch mode copies the table.
    _drop_partial_indexes()
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("meeting_id", existing_type=ID, nullable=True)
        batch.alter_column("user_id", existing_type=ID, nullable=True)
        batch.add_column(sa.Column("webhook_id", ID, nullable=True))
        batch.create_foreign_key(
            "fk_notifications_webhook_id_webhooks",
            "webhooks",
            ["webhook_id"],
            ["id"],
            ondelete="CASCADE",
        )
    _create_partial_indexes()
    op.create_index("ix_notifications_webhook_id", "notifications", ["webhook_id"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE webhook_id IS NOT NULL")
    op.drop_index("ix_notifications_webhook_id", table_name="notifications")
    _drop_partial_indexes()
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("fk_notifications_webhook_id_webhooks", type_="foreignkey")
        batch.drop_column("webhook_id")
        batch.alter_column("user_id", existing_type=ID, nullable=False)
        batch.alter_column("meeting_id", existing_type=ID, nullable=False)
    _create_partial_indexes()
    op.drop_table("webhook_attempts")
    op.drop_table("webhooks")
