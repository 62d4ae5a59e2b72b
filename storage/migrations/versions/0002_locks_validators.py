"""Crawl locks (one crawl per source at a time, across processes) and HTTP validators
(ETag / Last-Modified of feeds, sitemaps and listings, for conditional re-crawls).

Revision ID: 0002_locks_validators
Revises: 0001_initial
Create Date: 2026-11-27 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_locks_validators"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crawl_locks",
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("acquired_at", UTC, nullable=False),
        sa.Column("heartbeat_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("source_key", name=op.f("pk_crawl_locks")),
    )
    op.create_table(
        "page_validators",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_page_validators")),
    )
    op.create_index(op.f("ix_page_validators_source_key"), "page_validators", ["source_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_page_validators_source_key"), table_name="page_validators")
    op.drop_table("page_validators")
    op.drop_table("crawl_locks")
