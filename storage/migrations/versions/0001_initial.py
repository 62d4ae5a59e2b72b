"""Initial schema: sources, runs, articles and versions, snapshots, full-text search.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC = sa.DateTime(timezone=True)

# --- SQLite: FTS5 over articles (external content), synced by triggers -------------------
SQLITE_FTS = [
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, description, text,
        content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, description, text)
        VALUES (new.id, new.title, new.description, new.text);
    END""",
    """CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, description, text)
        VALUES ('delete', old.id, old.title, old.description, old.text);
    END""",
    # Only when indexed columns change: refreshing last_seen_at must not reindex the text.
    """CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, description, text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, description, text)
        VALUES ('delete', old.id, old.title, old.description, old.text);
        INSERT INTO articles_fts(rowid, title, description, text)
        VALUES (new.id, new.title, new.description, new.text);
    END""",
]

# --- PostgreSQL: weighted tsvector per article language, accents removed -----------------
# Accents are removed by the ``unaccent`` dictionary placed in front of the stemmer of our
# own text search configurations (the PostgreSQL-documented way): to_tsvector, the query
# functions and ts_headline then all agree, so snippets highlight "éducation" for "education".
PG_LANGUAGES = {"na_french": "french", "na_russian": "russian", "na_english": "english", "na_simple": "simple"}


def _pg_search_ddl(unaccent_schema: str) -> list[str]:
    ddl = []
    for cfg, lang in PG_LANGUAGES.items():
        stem = "simple" if lang == "simple" else f"{lang}_stem"
        ddl.append(f"CREATE TEXT SEARCH CONFIGURATION {cfg} (COPY = pg_catalog.{lang})")
        ddl.append(
            f"ALTER TEXT SEARCH CONFIGURATION {cfg} ALTER MAPPING FOR word, hword, hword_part "
            f"WITH {unaccent_schema}.unaccent, pg_catalog.{stem}"
        )
    ddl += [
        """CREATE FUNCTION na_search_config(lang text) RETURNS text
           LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
             SELECT CASE lower(substr(coalesce(lang, ''), 1, 2))
                      WHEN 'fr' THEN 'na_french' WHEN 'ru' THEN 'na_russian'
                      WHEN 'en' THEN 'na_english' ELSE 'na_simple' END
           $$""",
        # search_path is pinned to the migration's, so the trigger finds our configurations
        # even when the writing session's search_path differs.
        """CREATE FUNCTION na_articles_search_vector() RETURNS trigger
           LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
           DECLARE
             cfg regconfig := na_search_config(NEW.language)::regconfig;
           BEGIN
             NEW.search_vector :=
                  setweight(to_tsvector(cfg, coalesce(NEW.title, '')), 'A')
               || setweight(to_tsvector(cfg, coalesce(NEW.description, '')), 'B')
               || setweight(to_tsvector(cfg, coalesce(NEW.text, '')), 'C');
             RETURN NEW;
           END
           $$""",
        "ALTER TABLE articles ADD COLUMN search_vector tsvector",
        "CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)",
        """CREATE TRIGGER articles_search_vector
           BEFORE INSERT OR UPDATE OF title, description, text, language ON articles
           FOR EACH ROW EXECUTE FUNCTION na_articles_search_vector()""",
    ]
    return ddl


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("key", name=op.f("uq_sources_key")),
    )
    op.create_table(
        "crawl_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pages_fetched", sa.Integer(), nullable=False),
        sa.Column("articles_new", sa.Integer(), nullable=False),
        sa.Column("articles_updated", sa.Integer(), nullable=False),
        sa.Column("articles_unchanged", sa.Integer(), nullable=False),
        sa.Column("articles_skipped", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error_messages", JSONType, nullable=False),
        sa.Column("stats", JSONType, nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.CheckConstraint("\"trigger\" IN ('schedule', 'manual')", name=op.f("ck_crawl_runs_trigger")),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed', 'interrupted')", name=op.f("ck_crawl_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_runs")),
    )
    op.create_index(op.f("ix_crawl_runs_source_key_started_at"), "crawl_runs", ["source_key", "started_at"])
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("authors", JSONType, nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("modified_at", UTC, nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=True),
        sa.Column("extractor_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["source_key"], ["sources.key"], name=op.f("fk_articles_source_key_sources")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("url", name=op.f("uq_articles_url")),
    )
    op.create_index(op.f("ix_articles_source_key_published_at"), "articles", ["source_key", "published_at"])
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("seen_at", UTC, nullable=False),
        sa.Column("extractor_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_article_versions_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_versions")),
        sa.UniqueConstraint("article_id", "version", name=op.f("uq_article_versions_article_id_version")),
    )
    op.create_table(
        "snapshots",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_snapshots")),
    )
    op.create_table(
        "snapshot_fetches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["snapshots.sha256"], name=op.f("fk_snapshot_fetches_sha256_snapshots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_fetches")),
    )
    op.create_index(op.f("ix_snapshot_fetches_sha256"), "snapshot_fetches", ["sha256"])

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        schema = bind.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        ).scalar_one()
        for statement in _pg_search_ddl(bind.dialect.identifier_preparer.quote_schema(schema)):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS articles_search_vector ON articles")
        op.execute("DROP FUNCTION IF EXISTS na_articles_search_vector()")
        op.execute("DROP FUNCTION IF EXISTS na_search_config(text)")
        for cfg in PG_LANGUAGES:
            op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {cfg}")
    op.drop_index(op.f("ix_snapshot_fetches_sha256"), table_name="snapshot_fetches")
    op.drop_table("snapshot_fetches")
    op.drop_table("snapshots")
    op.drop_table("article_versions")
    op.drop_index(op.f("ix_articles_source_key_published_at"), table_name="articles")
    op.drop_table("articles")
    op.drop_index(op.f("ix_crawl_runs_source_key_started_at"), table_name="crawl_runs")
    op.drop_table("crawl_runs")
    op.drop_table("sources")
