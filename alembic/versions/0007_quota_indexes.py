"""Quota indexes: a key's jobs by parent (NULL for its own submissions), then status or
creation time, so the per-request quota checks count index entries without reading rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for name, column in (
        ("ix_jobs_submissions_status", "status"),
        ("ix_jobs_submissions_created", "created_at"),
    ):
        op.create_index(name, "jobs", ["api_key_id", "parent_id", column])


def downgrade() -> None:
    op.drop_index("ix_jobs_submissions_created", table_name="jobs")
    op.drop_index("ix_jobs_submissions_status", table_name="jobs")
