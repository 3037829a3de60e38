"""Download priorities: the queue a job waits in, and the one a subscription's checks use.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRIORITIES = ("low", "normal", "high")


def _priority() -> sa.Column[str]:
    return sa.Column(
        "priority",
        sa.Enum(*PRIORITIES, name="priority", native_enum=False, length=16),
        nullable=False,
        server_default="normal",
    )


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(_priority())
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(_priority())


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("priority")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
