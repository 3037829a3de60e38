"""Paused jobs: the `paused` status (a VARCHAR(16) without a CHECK constraint, so only the
rows change), the owner's pause request and when the job was paused.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("pause_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # An older release knows no paused job: they end canceled (their partial files are
    # swept with the other leftovers of the work directory).
    op.execute(
        "UPDATE jobs SET status = 'canceled', completed_at = paused_at WHERE status = 'paused'"
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("paused_at")
        batch.drop_column("pause_requested")
