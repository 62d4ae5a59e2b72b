"""Stored shingle hashes of story-clustered texts, so that candidate near-duplicates are
confirmed without re-reading and re-shingling their texts (issue #7). Articles indexed before
this revision get theirs the first time they are a candidate (storage/links.py).

Revision ID: 0004_story_shingles
Revises: 0003_stories_aliases
Create Date: 2026-11-27 23:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_story_shingles"
down_revision: str | Sequence[str] | None = "0003_stories_aliases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_shingles",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_story_shingles_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_story_shingles")),
    )


def downgrade() -> None:
    op.drop_table("story_shingles")
