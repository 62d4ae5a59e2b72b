"""An index on articles.language, so that a search learns which languages the archive holds
with one index seek per language (SQLite), instead of running a query stemmed for a language
it has no article in, and testing every match's language (issue #7).

Revision ID: 0005_articles_language
Revises: 0004_story_shingles
Create Date: 2026-12-07 01:40:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0005_articles_language"
down_revision: str | Sequence[str] | None = "0004_story_shingles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_articles_language"), "articles", ["language"])


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_language"), table_name="articles")
