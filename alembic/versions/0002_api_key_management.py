"""API key management: HMAC digests, expiry, usage, per-key limits and quotas.

Keys issued before this revision were plain SHA-256 digests; they cannot be converted to
the keyed HMAC, so the downgrade and upgrade keep rows but those keys stop working.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("usage_count", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_active_jobs", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_jobs_per_day", sa.Integer(), nullable=True))
        batch.drop_column("is_active")
    op.create_index("ix_jobs_owner_status", "jobs", ["api_key_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_status", table_name="jobs")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        for column in (
            "max_jobs_per_day",
            "max_active_jobs",
            "rate_limit_per_minute",
            "usage_count",
            "last_used_at",
            "expires_at",
        ):
            batch.drop_column(column)
