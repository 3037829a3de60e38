"""Parent jobs for playlists and channels, webhooks, and the searchable library.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = ("video", "playlist", "channel", "batch")
SEARCH_TEXT = (
    "coalesce(title, '') || ' ' || coalesce(channel, '') || ' ' || coalesce(transcript, '')"
)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "kind",
                sa.Enum(*JOB_KINDS, name="jobkind", native_enum=False, length=16),
                nullable=False,
                server_default="video",
            )
        )
        batch.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("collection", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            "fk_jobs_parent_id_jobs", "jobs", ["parent_id"], ["id"], ondelete="CASCADE"
        )
    op.create_index("ix_jobs_parent_status", "jobs", ["parent_id", "status"])
    op.create_index("ix_jobs_owner_video", "jobs", ["api_key_id", "video_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_deliveries_job_id", "webhook_deliveries", ["job_id"])

    op.create_table(
        "library_entries",
        # An integer key: SQLite's FTS index points at it, and unlike an implicit rowid it
        # survives VACUUM.
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.Uuid(),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column(
            "api_key_id",
            sa.Uuid(),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("cues", sa.JSON(), nullable=False),
    )
    op.create_index("ix_library_entries_api_key_id", "library_entries", ["api_key_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Stored, so ranking reads it instead of parsing every matching transcript again.
        op.execute(
            "ALTER TABLE library_entries ADD COLUMN search tsvector "
            f"GENERATED ALWAYS AS (to_tsvector('simple', {SEARCH_TEXT})) STORED"
        )
        # Searches are always one key's: with btree_gin (a trusted extension, so the
        # database owner may create it) one GIN index serves both conditions. On the
        # tsvector alone the planner prefers the key's btree, then reads every
        # transcript of the key from TOAST. No pending list (fastupdate): entries arrive
        # one per completed job, and searches must not scan unmerged ones.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.execute(
            "CREATE INDEX ix_library_search ON library_entries "
            "USING gin (api_key_id, search) WITH (fastupdate = off)"
        )
    else:
        _create_sqlite_fts()


def _create_sqlite_fts() -> None:
    # An external-content FTS5 table: the text lives in library_entries, triggers keep the
    # index in step with it.
    op.execute(
        "CREATE VIRTUAL TABLE library_fts USING fts5("
        "title, channel, transcript, content='library_entries', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER library_fts_insert AFTER INSERT ON library_entries BEGIN "
        "INSERT INTO library_fts(rowid, title, channel, transcript) "
        "VALUES (new.id, new.title, new.channel, new.transcript); END"
    )
    op.execute(
        "CREATE TRIGGER library_fts_delete AFTER DELETE ON library_entries BEGIN "
        "INSERT INTO library_fts(library_fts, rowid, title, channel, transcript) "
        "VALUES ('delete', old.id, old.title, old.channel, old.transcript); END"
    )
    op.execute(
        "CREATE TRIGGER library_fts_update AFTER UPDATE ON library_entries BEGIN "
        "INSERT INTO library_fts(library_fts, rowid, title, channel, transcript) "
        "VALUES ('delete', old.id, old.title, old.channel, old.transcript); "
        "INSERT INTO library_fts(rowid, title, channel, transcript) "
        "VALUES (new.id, new.title, new.channel, new.transcript); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_library_search")
    else:
        for trigger in ("library_fts_insert", "library_fts_delete", "library_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS library_fts")
    op.drop_index("ix_library_entries_api_key_id", table_name="library_entries")
    op.drop_table("library_entries")
    op.drop_index("ix_webhook_deliveries_job_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("webhook_url")
    op.drop_index("ix_jobs_owner_video", table_name="jobs")
    op.drop_index("ix_jobs_parent_status", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_parent_id_jobs", type_="foreignkey")
        for column in ("collection", "webhook_url", "position", "parent_id", "kind"):
            batch.drop_column(column)
