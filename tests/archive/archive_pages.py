"""Archived pages for the archive tests (imported by name: tests/archive is on sys.path)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from crawler.extraction import Article, extract_article
from crawler.sources import Source, default_sources
from storage import Archive
from storage.records import ArticleIn, SnapshotIn, SourceIn
from tests.helpers import SITES, expected

ORIGIN = "https://fr.rbth.com"
FETCHED = datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)


def _pages() -> list[tuple[str, bytes]]:
    site = SITES / "rbth_fr"
    return [(ORIGIN + path, (site / (path.lstrip("/") + ".html")).read_bytes())
            for path in sorted(expected("rbth_fr")["articles"])]


def _fill(archive: Archive, source: Source | None = None) -> None:
    """Archive the rbth_fr replica's article pages as a crawl would (snapshot + extracted article)."""
    source = source or default_sources()["rbth_fr"]
    with archive.repository() as repo:
        repo.upsert_source(SourceIn(source.key, source.name, source.language, source.base_url))
        snaps, arts = [], []
        for url, body in _pages():
            result = extract_article(body, url, source, content_type="text/html; charset=utf-8")
            assert isinstance(result, Article), result
            headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip", "Server": "replica"}
            snaps.append(SnapshotIn(url, 200, headers, body, FETCHED))
            arts.append(ArticleIn(source=source.key, url=result.url, title=result.title, text=result.text,
                                  language=result.language, authors=result.authors, published_at=result.published_at,
                                  modified_at=result.modified_at, description=result.description, tags=result.tags,
                                  snapshot_sha256=hashlib.sha256(body).hexdigest(),
                                  extractor_version=result.extractor_version))
        repo.store_snapshots(snaps)
        repo.store_articles(arts, seen_at=FETCHED)


