"""Story clusters (MinHash bands for candidate lookup, cluster membership) and URL aliases
(the same text of one source under another URL).

Revision ID: 0003_stories_aliases
Revises: 0002_locks_validators
Create Date: 2026-11-27 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_stories_aliases"
down_revision: str | Sequence[str] | None = "0002_locks_validators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "article_aliases",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_article_aliases_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_article_aliases")),
    )
    op.create_index(op.f("ix_article_aliases_article_id"), "article_aliases", ["article_id"])
    op.create_table(
        "story_bands",
        sa.Column("band_key", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_story_bands_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("band_key", "article_id", name=op.f("pk_story_bands")),
    )
    op.create_index(op.f("ix_story_bands_article_id"), "story_bands", ["article_id"])
    op.create_table(
        "story_members",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("matched_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_story_members_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_story_members")),
    )
    op.create_index(op.f("ix_story_members_cluster_id"), "story_members", ["cluster_id"])
    op.create_index(op.f("ix_articles_source_key_content_hash"), "articles", ["source_key", "content_hash"])


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_source_key_content_hash"), table_name="articles")
    op.drop_index(op.f("ix_story_members_cluster_id"), table_name="story_members")
    op.drop_table("story_members")
    op.drop_index(op.f("ix_story_bands_article_id"), table_name="story_bands")
    op.drop_table("story_bands")
    op.drop_index(op.f("ix_article_aliases_article_id"), table_name="article_aliases")
    op.drop_table("article_aliases")
