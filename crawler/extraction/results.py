"""What extraction returns: an Article or the Rejection of a page. A light module (no
trafilatura, no lxml): the crawl process unpickles these from its extraction workers."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Bump when a change can alter extracted text: archived texts record which version made them.
EXTRACTOR_VERSION = "2"  # 2: trafilatura fast mode unless the source sets fallback_extractors


@dataclass
class Article:
    url: str  # the page's canonical URL when it names one on the same site, else the fetched URL
    title: str
    text: str  # paragraphs in order, separated by "\n"
    language: str | None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    modified_at: datetime | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    section: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)  # boilerplate paragraphs removed, by family
    extractor_version: str = EXTRACTOR_VERSION

    @property
    def paragraphs(self) -> list[str]:
        return self.text.split("\n")


@dataclass
class Rejection:
    """Why a fetched page is not archived: ``reason`` is one of REASONS."""

    url: str
    reason: str
    detail: str = ""

    REASONS = ("not_html", "not_article", "too_short", "keywords")

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
