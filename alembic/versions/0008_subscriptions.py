"""Subscriptions (followed channels and playlists) and their archive of seen videos; a job
kind long enough for `subscription_check`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_JOB_KINDS = ("video", "playlist", "channel", "batch")
JOB_KINDS = (*OLD_JOB_KINDS, "subscription_check")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "kind",
            existing_type=sa.Enum(*OLD_JOB_KINDS, name="jobkind", native_enum=False, length=16),
            type_=sa.Enum(*JOB_KINDS, name="jobkind", native_enum=False, length=32),
            existing_nullable=False,
            existing_server_default="video",
        )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "api_key_id",
            sa.Uuid(),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", _enum("subscriptionkind", "channel", "playlist"), nullable=False),
        sa.Column("tab", _enum("channeltab", "videos", "shorts", "streams"), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("check_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("backfill", sa.Integer(), nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "checking_job_id",
            sa.Uuid(),
            sa.ForeignKey("jobs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "last_check_job_id",
            sa.Uuid(),
            sa.ForeignKey("jobs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("feed_token_digest", sa.String(64), nullable=True, unique=True),
        sa.Column(
            "feed_media",
            _enum("feedmedia", "audio", "video"),
            nullable=False,
            server_default="audio",
        ),
        sa.Column("initialized", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_subscriptions_owner_created", "subscriptions", ["api_key_id", "created_at"])
    op.create_index("ix_subscriptions_next_check", "subscriptions", ["next_check_at"])
    op.create_table(
        "subscription_videos",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.Uuid(),
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("video_id", sa.String(64), nullable=False),
        sa.Column(
            "job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "status",
            _enum("entrystatus", "seen", "queued", "downloaded", "failed", "skipped"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("upload_date", sa.String(10), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("subscription_id", "video_id", name="uq_subscription_videos_video"),
    )
    op.create_index("ix_subscription_videos_job", "subscription_videos", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_subscription_videos_job", table_name="subscription_videos")
    op.drop_table("subscription_videos")
    op.drop_index("ix_subscriptions_next_check", table_name="subscriptions")
    op.drop_index("ix_subscriptions_owner_created", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.execute("DELETE FROM jobs WHERE kind = 'subscription_check'")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column(
            "kind",
            existing_type=sa.Enum(*JOB_KINDS, name="jobkind", native_enum=False, length=32),
            type_=sa.Enum(*OLD_JOB_KINDS, name="jobkind", native_enum=False, length=16),
            existing_nullable=False,
            existing_server_default="video",
        )
