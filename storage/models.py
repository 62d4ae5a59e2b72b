"""Typed SQLAlchemy models of the archive; the migrations create exactly these tables."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetime stored as UTC; always read back as an aware UTC datetime.

    SQLite has no timezone support: values are stored as naive UTC text, which also
    keeps string comparison (``since``/``until`` filters) correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; the archive needs timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[str]: JSONType}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(Text)


class CrawlRun(Base):
    __tablename__ = "crawl_runs"
    __table_args__ = (
        CheckConstraint("\"trigger\" IN ('schedule', 'manual')", name="trigger"),
        CheckConstraint("status IN ('running', 'finished', 'failed', 'interrupted')", name="status"),
        Index(None, "source_key", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Not a foreign key: a run is recorded even when its source could not be registered.
    source_key: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    pages_fetched: Mapped[int] = mapped_column(default=0)
    articles_new: Mapped[int] = mapped_column(default=0)
    articles_updated: Mapped[int] = mapped_column(default=0)
    articles_unchanged: Mapped[int] = mapped_column(default=0)
    articles_skipped: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    error_messages: Mapped[list[str]] = mapped_column(default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pid: Mapped[int | None]


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index(None, "source_key", "published_at"), Index(None, "source_key", "content_hash"),
                      Index(None, "language"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(64), ForeignKey("sources.key"))
    url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]]
    published_at: Mapped[datetime | None]
    modified_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]]
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    version: Mapped[int]
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    extractor_version: Mapped[str | None] = mapped_column(String(64))
    # PostgreSQL only, outside the models (see storage/migrations/__init__.py): the
    # trigger-maintained column ``search_vector`` and its GIN index.


class ArticleVersion(Base):
    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime]
    extractor_version: Mapped[str | None] = mapped_column(String(64))


class Snapshot(Base):
    """A raw page body, stored once per distinct content (zstd-compressed; zlib in archives written before Dec. 2026)."""

    __tablename__ = "snapshots"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)  # of the first fetch
    status: Mapped[int]
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]  # uncompressed
    fetched_at: Mapped[datetime]


class SnapshotFetch(Base):
    """Every fetch of a page, pointing at the (shared) snapshot of its body."""

    __tablename__ = "snapshot_fetches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("snapshots.sha256"), index=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[int]
    fetched_at: Mapped[datetime]


class CrawlLock(Base):
    """Who crawls a source right now. A row is a lease: it is renewed by a heartbeat while
    the crawl runs and may be taken over once ``expires_at`` has passed (a killed process)."""

    __tablename__ = "crawl_locks"

    source_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int | None]
    pid: Mapped[int | None]
    host: Mapped[str | None] = mapped_column(String(255))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PageValidator(Base):
    """The HTTP validators last seen for a feed, sitemap or listing page, sent back as
    If-None-Match / If-Modified-Since on the next crawl."""

    __tablename__ = "page_validators"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(64), index=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime]


class ArticleAlias(Base):
    """Another URL of one source serving exactly an archived article's text: an alias of it,
    not a second article."""

    __tablename__ = "article_aliases"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class StoryBand(Base):
    """One MinHash LSH band of an article's text: articles sharing a band_key are candidate
    near-duplicates (see storage/stories.py)."""

    __tablename__ = "story_bands"

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)


class StoryShingles(Base):
    """The shingle set of a story-clustered article's text, as sorted distinct 32-bit hashes
    (little-endian uint32): candidates found by band are confirmed from these, without
    reading and re-shingling their texts (see storage/stories.py)."""

    __tablename__ = "story_shingles"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class StoryMember(Base):
    """An article that belongs to a story cluster (two or more near-identical texts).
    ``cluster_id`` is the id of the cluster's first archived article; ``similarity`` is the
    score against ``matched_id``, the article it was linked to (NULL for the first one)."""

    __tablename__ = "story_members"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(Integer, index=True)
    similarity: Mapped[float | None] = mapped_column(Float)
    matched_id: Mapped[int | None]
