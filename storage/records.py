"""Plain data passed into and out of the archive: no SQLAlchemy, no Scrapy."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from storage.stories import Fingerprint

Outcome = Literal["new", "updated", "unchanged"]
RunStatus = Literal["running", "finished", "failed", "interrupted"]
Trigger = Literal["schedule", "manual"]


@dataclass(frozen=True)
class SourceIn:
    key: str
    name: str
    language: str
    base_url: str


@dataclass
class ArticleIn:
    """One extracted article, as the crawler hands it to the archive."""

    source: str  # source key
    url: str  # canonical URL: one row per URL
    title: str
    text: str  # clean text, paragraphs separated by "\n"
    language: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None  # timezone-aware
    modified_at: datetime | None = None  # timezone-aware, as the page declares it
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    snapshot_sha256: str | None = None  # raw page this text came from, if stored
    extractor_version: str | None = None
    story: Fingerprint | None = None  # storage.stories.fingerprint(text), if the caller computed it


@dataclass(frozen=True)
class StoreResult:
    url: str
    article_id: int
    outcome: Outcome
    version: int


@dataclass
class SnapshotIn:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes  # raw bytes as fetched (stored compressed)
    fetched_at: datetime  # timezone-aware


@dataclass(frozen=True)
class SnapshotOut:
    """A stored snapshot's metadata (the body is returned separately, decompressed)."""

    sha256: str
    url: str  # of the first fetch with this body
    status: int
    headers: dict[str, str]
    size: int  # uncompressed bytes
    fetched_at: datetime  # of the first fetch


@dataclass(frozen=True)
class SearchFilters:
    sources: tuple[str, ...] = ()
    language: str | None = None
    since: datetime | None = None  # published_at >= since
    until: datetime | None = None  # published_at < until


@dataclass(frozen=True)
class SearchHit:
    id: int
    source: str
    url: str
    title: str
    published_at: datetime | None
    language: str | None
    snippet: str  # matched terms wrapped in [ and ]
    rank: float  # higher is better


@dataclass
class ArticleOut:
    id: int
    source: str
    url: str
    title: str
    authors: list[str]
    published_at: datetime | None
    modified_at: datetime | None
    language: str | None
    description: str | None
    tags: list[str]
    text: str
    content_hash: str
    first_seen_at: datetime
    last_seen_at: datetime
    version: int
    snapshot_sha256: str | None = None
    extractor_version: str | None = None
    cluster_id: int | None = None  # its story cluster (near-identical texts), if any


@dataclass
class VersionOut:
    version: int
    content_hash: str
    title: str
    text: str
    seen_at: datetime
    extractor_version: str | None = None


@dataclass
class RunOut:
    id: int
    source: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages_fetched: int
    articles_new: int
    articles_updated: int
    articles_unchanged: int
    articles_skipped: int
    errors: int
    error_messages: list[str]
    stats: dict
    pid: int | None = None  # of the crawling process, to detect interrupted runs


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) the crawl lock of a source."""

    source: str
    owner: str
    run_id: int | None
    pid: int | None
    host: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else self.owner
        if self.host:
            who += f" on {self.host}"
        run = f", run {self.run_id}" if self.run_id else ""
        return f"{who}{run}, since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class PageValidator:
    """HTTP validators of a feed, sitemap or listing page, for a conditional re-fetch."""

    url: str
    source: str  # source key
    etag: str | None
    last_modified: str | None  # the Last-Modified header, verbatim
    fetched_at: datetime  # timezone-aware


@dataclass(frozen=True)
class ArticleSeen:
    """When an archived article was last fetched, and how old it is (for incremental re-crawls)."""

    url: str
    last_seen_at: datetime
    born_at: datetime  # published_at, else first_seen_at
