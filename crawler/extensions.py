"""The crawl run record: every crawl writes its crawl_runs row, from start to outcome."""
from __future__ import annotations

import logging
import os

from scrapy import signals

from crawler.context import CrawlContext
from crawler.locking import DEFAULT_TTL, LockHeld, SourceLock
from storage.errors import StorageError
from storage.records import SourceIn

logger = logging.getLogger(__name__)

COUNTERS = {
    "pages_fetched": "response_received_count",
    "articles_new": "newsarchive/articles_new",
    "articles_updated": "newsarchive/articles_updated",
    "articles_unchanged": "newsarchive/articles_unchanged",
    "articles_skipped": "newsarchive/articles_skipped",
    "errors": "newsarchive/errors",
}
OK_REASONS = {"finished", "closespider_pagecount", "closespider_itemcount"}
INTERRUPTED_REASONS = {"shutdown", "cancelled"}


def run_counts(stats: dict) -> dict[str, int]:
    return {name: int(stats.get(key, 0) or 0) for name, key in COUNTERS.items()}


class CrawlRunRecorder:
    """Takes the source's crawl lock, upserts the source and opens a ``crawl_runs`` row when
    the spider opens; closes it with the status, counts, first errors and Scrapy's stats when
    the spider closes, then releases the lock.

    The lock is taken when the crawler is built, before the reactor runs, so waiting for it
    (``NEWSARCHIVE_LOCK_WAIT`` seconds) blocks nothing. A crawl that does not get it is
    skipped: the spider requests nothing and no run is recorded.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self._take_lock()
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.item_error, signal=signals.item_error)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _take_lock(self) -> None:
        ctx = CrawlContext.of(self.crawler)
        settings = self.crawler.settings
        if ctx.source is None:
            return
        lock = SourceLock(ctx.db_url, ctx.source.key, ttl=settings.getfloat("NEWSARCHIVE_LOCK_TTL", DEFAULT_TTL))
        try:
            lock.acquire(wait=settings.getfloat("NEWSARCHIVE_LOCK_WAIT", 0.0))
        except LockHeld as exc:
            lock.release()
            ctx.skipped = str(exc)
            logger.warning("%s", exc)
            return
        ctx.lock = lock

    def spider_opened(self, spider) -> None:
        ctx = CrawlContext.of(self.crawler)
        if ctx.skipped:
            return
        source = ctx.source
        trigger = self.crawler.settings.get("NEWSARCHIVE_TRIGGER", "manual")
        with ctx.archive.repository() as repo:
            repo.upsert_source(SourceIn(source.key, source.name, source.language, source.base_url))
            ctx.run_id = repo.start_run(source.key, trigger, pid=os.getpid())
        if ctx.lock is not None:
            ctx.lock.attach_run(ctx.run_id)
        log_file = self.crawler.settings.get("NEWSARCHIVE_LOG_FILE")
        if log_file:
            self.crawler.stats.set_value("newsarchive/log_file", log_file)
        logger.info("crawl run %s of %s started", ctx.run_id, source.key)

    def spider_error(self, failure, response, spider) -> None:
        CrawlContext.of(self.crawler).record_error(
            f"spider error on {response.url}: {failure.type.__name__}: {failure.getErrorMessage()}")

    def item_error(self, item, response, spider, failure) -> None:
        CrawlContext.of(self.crawler).record_error(
            f"pipeline error on {getattr(item, 'url', '?')}: {failure.type.__name__}: {failure.getErrorMessage()}")

    def spider_closed(self, spider, reason: str) -> None:
        ctx = CrawlContext.of(self.crawler)
        if ctx.skipped:
            ctx.status = "skipped"
            ctx.close()
            return
        if reason == "closespider_timeout":
            limit = self.crawler.settings.getint("CLOSESPIDER_TIMEOUT")
            ctx.fail(f"stopped at the time limit of {limit} s (time_limit of {ctx.source.key})")
        if ctx.failure:
            status = "failed"
        elif reason in OK_REASONS:
            status = "finished"
        elif reason in INTERRUPTED_REASONS:
            status = "interrupted"
        else:
            status = "failed"
            ctx.failure = ctx.failure or f"crawl stopped: {reason}"
        ctx.status = status
        stats = self.crawler.stats.get_stats()
        counts = run_counts(stats)
        if ctx.run_id is not None:
            try:
                with ctx.archive.repository() as repo:
                    repo.finish_run(
                        ctx.run_id, status, error_messages=ctx.error_messages,
                        stats={k: _jsonable(v) for k, v in stats.items()}, **counts)
            except StorageError as exc:
                logger.error("could not record the end of crawl run %s: %s", ctx.run_id, exc)
        logger.info("crawl run %s of %s %s (%s): %s", ctx.run_id, ctx.source.key, status, reason, counts)
        if ctx.lock is not None:
            ctx.lock.release()
            ctx.lock = None
        ctx.close()


def _jsonable(value):
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
