"""Item pipelines, one job each: keep the raw page, extract the article, store it in batches."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from crawler.archive_service import RemoteBatchWriter
from crawler.context import CrawlContext
from crawler.extraction import Article, Rejection
from crawler import pool as pool_module
from crawler import writer as writer_module
from crawler.incremental import IncrementalState
from crawler.items import PageItem
from crawler.sources import Source
from crawler.urls import Link
from storage.errors import StorageError
from storage.records import ArticleIn, SnapshotIn
from storage.stories import Fingerprint

logger = logging.getLogger(__name__)


class ArchiveWriter:
    """Buffers snapshots and articles and writes them in one transaction per batch
    (every ``batch_size`` articles or ``batch_seconds``, and at close). A crash loses at
    most the batches not yet committed; a batch is all or nothing.

    Batches are written behind the crawl, in order, by the archive process of ``newsarchive
    crawl`` (``crawler.archive_service``), or without one by the archive writer process
    (``crawler.writer``; with ``NEWSARCHIVE_WRITER_PROCESS`` off, by a thread of the crawl
    process), with at most ``MAX_PENDING`` batches written or waiting: a slower archive slows
    the crawl down instead of filling the memory. ``flush()`` stores everything, synchronously."""

    MAX_PENDING = 2

    def __init__(self, ctx: CrawlContext, batch_size: int, batch_seconds: float, use_process: bool = True):
        self.ctx = ctx
        self.use_process = use_process
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.snapshots: list[SnapshotIn] = []
        self.articles: list[ArticleIn] = []
        self.last_flush = time.monotonic()
        self._executor: ProcessPoolExecutor | ThreadPoolExecutor | None = None
        self._pending: deque[_Batch] = deque()

    @classmethod
    def of(cls, crawler) -> "ArchiveWriter":
        ctx = CrawlContext.of(crawler)
        if ctx.writer is None:
            settings = crawler.settings
            ctx.writer = cls(ctx, settings.getint("NEWSARCHIVE_BATCH_SIZE", 50),
                             settings.getfloat("NEWSARCHIVE_BATCH_SECONDS", 5.0),
                             settings.getbool("NEWSARCHIVE_WRITER_PROCESS", True))
        return ctx.writer

    def add_snapshot(self, snapshot: SnapshotIn) -> None:
        self.snapshots.append(snapshot)

    async def add_article(self, article: ArticleIn) -> None:
        self.articles.append(article)
        if len(self.articles) >= self.batch_size or time.monotonic() - self.last_flush >= self.batch_seconds:
            while len(self._pending) >= self.MAX_PENDING:  # back-pressure
                await asyncio.wait([asyncio.wrap_future(self._pending[0].future)])  # _collect reports failures
                self._collect()
            self._submit()
        self._collect()

    def flush(self) -> None:
        """Store the batches in flight and what is buffered; returns once they are committed."""
        self._submit()
        while self._pending:
            self._pending[0].future.exception()  # waits; _collect reports a failed batch
            self._collect()

    def close(self) -> None:
        self.flush()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _submit(self) -> None:
        self.last_flush = time.monotonic()
        if not self.snapshots and not self.articles:
            return
        batch = _Batch(self.snapshots, self.articles)
        self.snapshots, self.articles = [], []
        self._send(batch)
        self._pending.append(batch)

    def _send(self, batch: "_Batch") -> None:
        if self._executor is None:
            if self.use_process and self.ctx.service is not None:
                # the archive process of ``newsarchive crawl`` stores them (archive_service)
                self._executor = self.ctx.service.batch_writer()
            else:
                # started with the first batch: a re-crawl that stores nothing never starts it
                self._executor = (writer_module.new_writer(self.ctx.db_url) if self.use_process
                                  else ThreadPoolExecutor(1, thread_name_prefix="archive-writer"))
        batch.attempts += 1
        batch.executor = self._executor
        if isinstance(self._executor, RemoteBatchWriter):
            batch.future = self._executor.submit(batch.snapshots, batch.articles)
        elif self.use_process:
            batch.future = self._executor.submit(writer_module.write_batch, batch.snapshots, batch.articles)
        else:
            archive = self.ctx.local_archive
            batch.future = self._executor.submit(
                lambda: (os.getpid(), writer_module.store(archive, batch.snapshots, batch.articles)))

    def _collect(self) -> None:
        """Apply the outcome of the finished batches, in order (in the crawl's thread)."""
        stats = self.ctx.crawler.stats
        while self._pending and self._pending[0].future.done():
            batch = self._pending[0]
            try:
                pid, results = batch.future.result()
            except BrokenProcessPool:
                # The writer process died (killed, out of memory): its open transaction was
                # rolled back whole. Start a new one and write the batch again, once; the
                # batches queued behind it follow in order. Writes are idempotent upserts.
                if batch.attempts >= 2:
                    self._pending.popleft()
                    self._failed(f"the archive writer process died twice on a batch of {len(batch.articles)} articles")
                    continue
                if batch.executor is self._executor and self._executor is not None:
                    logger.error("the archive writer process died; starting a new one and writing its batches again")
                    stats.inc_value("newsarchive/writer_restarts")
                    self._executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = None
                self._send(batch)  # batches queued behind it are sent again when their turn comes
                continue
            except StorageError as exc:
                self._pending.popleft()
                self._failed(str(exc))
                continue
            self._pending.popleft()
            del batch  # its pages are freed with it: give that heap back
            pool_module.trim_heap()
            stats.set_value("newsarchive/writer_pid", pid)
            for result in results:
                stats.inc_value(f"newsarchive/articles_{result.outcome}")
            stats.inc_value("newsarchive/batches")

    def _failed(self, why: str) -> None:
        self.ctx.fail(f"could not write a batch of articles to the archive: {why}")
        try:
            engine = self.ctx.crawler.engine
        except RuntimeError:  # not crawling (the writer used on its own)
            engine = None
        if engine is not None and engine.spider is not None and not getattr(self, "_closing", False):
            self._closing = True
            deferred_from_coro(engine.close_spider_async(reason="storage_error"))


class _Batch:
    """A batch on its way to the archive: what it holds, its write in flight, tries so far."""

    __slots__ = ("snapshots", "articles", "future", "attempts", "executor")

    def __init__(self, snapshots: list[SnapshotIn], articles: list[ArticleIn]):
        self.snapshots, self.articles = snapshots, articles
        self.future: Future = Future()
        self.attempts = 0
        self.executor: Any = None


class _WriterPipeline:
    """A pipeline that hands its work to the crawl's shared ArchiveWriter."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.writer = ArchiveWriter.of(crawler)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)


class SnapshotPipeline(_WriterPipeline):
    """Keeps the raw HTML of every fetched article page (deduplicated by sha256 in storage)."""

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("NEWSARCHIVE_KEEP_SNAPSHOTS", True):
            raise NotConfigured("NEWSARCHIVE_KEEP_SNAPSHOTS is off")
        return cls(crawler)

    def process_item(self, item: PageItem) -> PageItem:
        item.snapshot_sha256 = hashlib.sha256(item.body).hexdigest()
        self.writer.add_snapshot(SnapshotIn(url=item.url, status=item.status, headers=item.headers,
                                            body=item.body, fetched_at=item.fetched_at))
        return item


class ExtractPipeline:
    """Runs extract_article on each page, in a pool of worker processes so the crawl uses
    every core while the reactor keeps fetching; drops pages that are not articles."""

    def __init__(self, crawler):
        self.crawler = crawler
        workers = crawler.settings.get("NEWSARCHIVE_EXTRACT_WORKERS")
        self.workers = (os.cpu_count() or 1) if workers in (None, "") else int(workers)
        self.pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future | None = None  # the pool, while start_pool() starts it
        # Back-pressure: at most this many pages are queued in or running on the pool. A page
        # waiting for a slot keeps its response in Scrapy's scraper slot, so once
        # SCRAPER_SLOT_MAX_ACTIVE_SIZE bytes wait there the engine stops downloading: memory
        # stays bounded however large the site.
        self.max_in_flight = crawler.settings.getint("NEWSARCHIVE_EXTRACT_QUEUE", 4 * max(self.workers, 1))
        self.slots = asyncio.Semaphore(self.max_in_flight)
        self.in_flight = 0
        self.pids: set[int] = set()

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler)
        ctx = CrawlContext.of(crawler)
        ctx.links_by_extraction = True  # see process_item
        if pipeline.workers > 0:
            ctx.when_articles_coming(pipeline.start_pool)
        return pipeline

    def start_pool(self) -> None:
        """Start the workers in a thread, without blocking the reactor: until the forkserver
        has preloaded the extractor (``newsarchive crawl`` starts it with the command; otherwise
        this starts it: about a second), the crawl keeps downloading. Called when the first
        article page is requested (a re-crawl that finds nothing new never starts the pool);
        the first page also starts it."""
        if self.pool is None and self._starting is None:
            self.crawler.stats.inc_value("newsarchive/extract_pool_starts")
            self._starting = asyncio.get_running_loop().run_in_executor(None, self._new_pool)

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver, not fork: the crawl process runs threads (reactor, DNS, logging)
        return pool_module.new_pool(self.workers)

    async def _pool_started(self) -> None:
        self.start_pool()
        starting = self._starting
        try:
            pool = await starting
        except BaseException:
            if self._starting is starting:
                self._starting = None  # the next page tries again
            raise
        if self.pool is None:
            self.pool = pool
        self._starting = None

    async def close_spider(self) -> None:
        if self._starting is not None:
            await self._pool_started()  # a crawl that ends while its workers start stops them
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    async def process_item(self, item: PageItem) -> PageItem:
        ctx = CrawlContext.of(self.crawler)
        assert ctx.source is not None
        links = None
        try:
            result, story, links = await self._run(item, ctx.source)
        finally:
            # the page's links, read from the extraction's parse, go back to the spider (which
            # waits for them to follow them); None: it reads the page itself
            ctx.links_read(item, links)
        stats = self.crawler.stats
        if isinstance(result, Rejection):
            stats.inc_value("newsarchive/articles_skipped")
            stats.inc_value(f"newsarchive/skipped/{result.reason}")
            raise DropItem(f"skipped {item.url}: {result}")
        item.article = result
        item.story = story
        return item

    async def _run(self, item: PageItem, source: Source) -> tuple[Article | Rejection, Fingerprint | None, list[Link] | None]:
        """The extraction's result, the article's story fingerprint and the page's links
        (``pool.extract``, in a worker or, with no workers, here)."""
        if self.workers <= 0:  # what a worker runs, run here
            _, result, story, links = pool_module.extract(item.body, item.url, source, item.content_type)
            return result, story, links
        if self.pool is None:
            await self._pool_started()
        async with self.slots:
            self.in_flight += 1
            self.crawler.stats.max_value("newsarchive/extract_in_flight_max", self.in_flight)
            try:
                return await self._run_pooled(item, source)
            finally:
                self.in_flight -= 1

    async def _run_pooled(self, item: PageItem, source: Source
                          ) -> tuple[Article | Rejection, Fingerprint | None, list[Link] | None]:
        for attempt in (1, 2):
            pool = self.pool
            try:
                future = pool.submit(pool_module.extract, item.body, item.url, source, item.content_type)
                pid, result, story, links = await asyncio.wrap_future(future)
                if pid not in self.pids:
                    self.pids.add(pid)
                    self.crawler.stats.set_value("newsarchive/extract_pids", ",".join(map(str, sorted(self.pids))))
                return result, story, links
            except BrokenProcessPool:
                # A worker died (out of memory, a crash in a C library): start a new pool
                # and try the page once more, so no page is lost or stored twice. Every page
                # in flight sees the same broken pool; only the first one replaces it.
                logger.error("an extraction worker died on %s (attempt %d); restarting the pool", item.url, attempt)
                if self.pool is pool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    self.pool = self._new_pool()
        IncrementalState.of(self.crawler).article_failed(item.extra.get("origin"))
        CrawlContext.of(self.crawler).record_error(f"extraction crashed twice on {item.url}")
        raise DropItem(f"extraction crashed twice on {item.url}")


class StorePipeline(_WriterPipeline):
    """Hands extracted articles to the archive writer, which stores them in batches."""

    async def process_item(self, item: PageItem) -> PageItem:
        article: Article = item.article
        await self.writer.add_article(ArticleIn(
            source=item.source,
            url=article.url,
            title=article.title,
            text=article.text,
            language=article.language,
            authors=article.authors,
            published_at=article.published_at,
            modified_at=article.modified_at,
            description=article.description,
            tags=article.tags,
            snapshot_sha256=item.snapshot_sha256,
            extractor_version=article.extractor_version,
            story=item.story,  # computed next to the extraction, in a worker (None: storage computes it)
        ))
        return item

    def close_spider(self) -> None:
        self.writer.close()
