"""people: instance admins, deactivation, team invites, password resets, account emails

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PARTIAL_INDEXES = {
    "ix_notifications_due": "status = 'pending'",
    "ix_notifications_finished": "status <> 'pending'",
}


def _notification_columns(nullable: bool) -> None:
    # SQLite copies the table to change a column: the partial indexes are dropped first
    # and made again afterwards, so they keep their WHERE clause.
    for name in PARTIAL_INDEXES:
        op.drop_index(name, table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("meeting_id", existing_type=ID, nullable=nullable)
        batch.alter_column("user_id", existing_type=ID, nullable=nullable)
    for name, where in PARTIAL_INDEXES.items():
        op.create_index(
            name,
            "notifications",
            ["next_attempt_at"],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "team_invites",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_user_id", ID, nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_invites_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_team_invites_invited_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_user_id"],
            ["users.id"],
            name=op.f("fk_team_invites_accepted_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invites")),
    )
    op.create_index(op.f("ix_team_invites_team_id"), "team_invites", ["team_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_resets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
    )
    op.create_index(op.f("ix_password_resets_user_id"), "password_resets", ["user_id"])
    _notification_columns(nullable=True)
    with op.batch_alter_table("dev_emails") as batch:
        batch.add_column(sa.Column("restricted_to", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("dev_emails", "restricted_to")
    op.execute("DELETE FROM notifications WHERE meeting_id IS NULL OR user_id IS NULL")
    _notification_columns(nullable=False)
    op.drop_table("password_resets")
    op.drop_table("team_invites")
    op.drop_column("users", "deactivated_at")
    op.drop_column("users", "is_admin")
