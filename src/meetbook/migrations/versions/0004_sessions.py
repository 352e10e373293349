"""web sessions as their own kind of credential

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="api", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("ip_address", sa.String(length=45), nullable=True))
        batch_op.create_check_constraint(op.f("ck_api_tokens_kind"), "kind IN ('api', 'session')")
    # Before this revision a web session was an API token named "web session" whose value
    # sat in the cookie (and worked as a bearer token). Those cookies cannot be read any
    # more: make the rows sessions and end them, so the old values stop working anywhere.
    op.execute(
        "UPDATE api_tokens SET kind = 'session', "
        "revoked_at = COALESCE(revoked_at, CURRENT_TIMESTAMP) "
        "WHERE name = 'web session'"
    )


def downgrade() -> None:
    # Sessions cannot become API tokens again (the API would accept them): drop them.
    op.execute("DELETE FROM api_tokens WHERE kind = 'session'")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_tokens_kind"), type_="check")
        batch_op.drop_column("ip_address")
        batch_op.drop_column("user_agent")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("kind")
