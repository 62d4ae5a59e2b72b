"""The one item the spider yields: a fetched article page, enriched by the pipelines."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class PageItem:
    source: str  # source key
    url: str  # the URL as fetched (after redirects)
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime
    content_type: str | None = None
    snapshot_sha256: str | None = None  # set by SnapshotPipeline
    article: Any = None  # crawler.extraction.Article, set by ExtractPipeline
    story: Any = None  # storage.stories.Fingerprint of article.text, set by ExtractPipeline's workers
    extra: dict[str, Any] = field(default_factory=dict)
