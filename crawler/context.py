"""Per-crawl state shared by the spider and its components: the source, the archive, the run."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storage import Archive, open_archive, resolve_db_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.sources import Source

logger = logging.getLogger(__name__)

MAX_ERROR_MESSAGES = 20


class CrawlContext:
    """Built once per crawler (``CrawlContext.of(crawler)``); components read what they need."""

    def __init__(self, crawler: "Crawler"):
        self.crawler = crawler
        self.db_url = resolve_db_url(crawler.settings.get("NEWSARCHIVE_DB"))
        self.source: Source | None = None
        self.run_id: int | None = None
        self.status: str | None = None  # finished | failed | interrupted, once closed
        self.failure: str | None = None  # why the crawl failed, if it did
        self.error_messages: list[str] = []
        self.writer: Any = None  # the crawl's crawler.pipelines.ArchiveWriter, shared by the pipelines
        self.lock: Any = None  # the crawl.locking.SourceLock held while the crawl runs
        self.skipped: str | None = None  # why this crawl did not run (its source is being crawled elsewhere)
        # set by ExtractPipeline: the extraction reads the links of the article pages it parses and
        # hands them to the spider (expect_links / links_read)
        self.links_by_extraction = False
        self._page_links: dict[int, asyncio.Future] = {}
        self._on_articles: list[Callable[[], None]] = []
        self._archive: Archive | None = None

    @classmethod
    def of(cls, crawler: "Crawler") -> "CrawlContext":
        ctx = getattr(crawler, "_newsarchive_context", None)
        if ctx is None:
            ctx = cls(crawler)
            crawler._newsarchive_context = ctx  # type: ignore[attr-defined]
        return ctx

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            # no memory map (storage.db.make_engine): the crawl reads runs, locks, validators
            # and the archived URLs once; mapped pages would only add to its memory
            self._archive = open_archive(self.db_url, mmap=False)
        return self._archive

    def when_articles_coming(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the spider asks for its first article page (never, in a
        re-crawl that finds nothing to fetch)."""
        self._on_articles.append(callback)

    def articles_coming(self) -> None:
        callbacks, self._on_articles = self._on_articles, []
        for callback in callbacks:
            callback()

    def expect_links(self, item: Any) -> "asyncio.Future | None":
        """A future for the links of the page ``item`` holds, which the extraction will read;
        None when nothing will (the caller then reads them itself). Every future is resolved:
        with the links, or with None when the extraction could not read them or the item was
        dropped before it (``links_read``)."""
        if not self.links_by_extraction:
            return None
        future = asyncio.get_running_loop().create_future()
        self._page_links[id(item)] = future  # the waiting callback keeps the item, so its id is unique
        return future

    def links_read(self, item: Any, links: Any) -> None:
        future = self._page_links.pop(id(item), None)
        if future is not None and not future.done():
            future.set_result(links)

    def record_error(self, message: str) -> None:
        """Count an error of this crawl and keep the first messages for the run record."""
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("newsarchive/errors")
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            self.error_messages.append(message[:500])
        logger.warning("%s", message)

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.record_error(reason)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.dispose()
            self._archive = None
