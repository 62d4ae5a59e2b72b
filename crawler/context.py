"""Per-crawl state shared by the spider and its components: the source, the archive, the run."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crawler import archive_service

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.sources import Source
    from storage import Archive

logger = logging.getLogger(__name__)

MAX_ERROR_MESSAGES = 20


class CrawlContext:
    """Built once per crawler (``CrawlContext.of(crawler)``); components read what they need."""

    def __init__(self, crawler: "Crawler"):
        self.crawler = crawler
        # the archive process of ``newsarchive crawl`` (crawler.archive_service), which has resolved
        # the URL; otherwise the archive is opened here (a crawl run in-process)
        self.service = archive_service.current()
        if self.service is not None:
            self.db_url = self.service.ready()
        else:
            from storage import resolve_db_url

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
        self._archive: Any = None
        self._local_archive: Any = None

    @classmethod
    def of(cls, crawler: "Crawler") -> "CrawlContext":
        ctx = getattr(crawler, "_newsarchive_context", None)
        if ctx is None:
            ctx = cls(crawler)
            crawler._newsarchive_context = ctx  # type: ignore[attr-defined]
        return ctx

    @property
    def archive(self) -> "Archive":
        """The archive (``repository()``): served by the archive process when there is one."""
        if self._archive is None:
            if self.service is not None:
                self._archive = self.service.archive()
            else:
                from storage import open_archive

                # no memory map (storage.db.make_engine): the crawl reads runs, locks, validators
                # and the archived URLs once; mapped pages would only add to its memory
                self._archive = open_archive(self.db_url, mmap=False)
        return self._archive

    @property
    def local_archive(self) -> "Archive":
        """The archive opened in this process, archive process or not (the archive writer run
        as a thread, ``NEWSARCHIVE_WRITER_PROCESS`` off, stores through it)."""
        if self.service is None:
            return self.archive
        if self._local_archive is None:
            from storage import open_archive

            self._local_archive = open_archive(self.db_url, mmap=False)
        return self._local_archive

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
        for archive in (self._archive, self._local_archive):
            if archive is not None:
                archive.dispose()
        self._archive = self._local_archive = None
