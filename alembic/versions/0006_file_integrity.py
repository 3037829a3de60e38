"""File integrity: each stored file records whether its last check found it ok, corrupt or
missing, and when the integrity scrub last checked it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_files") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="ok")
        )
        batch.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_files") as batch:
        batch.drop_column("checked_at")
        batch.drop_column("state")
