"""Run crawls of one or more sources in this process and report how each went.

Stopping is bounded: a crawl past its source's ``time_limit`` is closed by Scrapy
(CLOSESPIDER_TIMEOUT) and recorded failed; SIGTERM/SIGINT stop the crawls gracefully
(items in flight are stored, runs recorded interrupted). If either does not complete
within ``NEWSARCHIVE_STOP_GRACE`` seconds (a download that hangs, a stuck pipeline), the
process records the still-open runs and releases their locks itself, then exits.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Sequence

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawler.context import CrawlContext
from crawler.extensions import run_counts
from crawler.sources import Source
from crawler.spiders.news import NewsSpider

logger = logging.getLogger(__name__)


def _import_http_handler() -> None:
    """Import Scrapy's HTTP/1.1 download handler now, without the cost of naming its deprecated classes.

    Importing it (through ``contextfactory`` and ``tls``), Scrapy's ``create_deprecated_class``
    names each of three deprecated classes' module with ``inspect.stack()[1]``: a frame record
    with source lines for every frame on the stack, each a file lookup through ``sys.modules``.
    Only the caller's frame is used. That took ~0.06 s of every crawl's start-up, the largest
    single cost of a routine re-crawl after the imports themselves. For this one import,
    ``inspect.stack`` gives the frames without reading any source; the classes get the same
    module names (tested). The engine would otherwise import the handler later, deeper in the
    stack, where it cost more.
    """
    import inspect
    import sys

    if "scrapy.core.downloader.handlers.http11" in sys.modules:
        return

    def frames_only(context: int = 1) -> list[tuple]:
        frame, records = sys._getframe(1), []
        while frame is not None:
            records.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
            frame = frame.f_back
        return records

    stack = inspect.stack
    inspect.stack = frames_only
    try:
        import scrapy.core.downloader.handlers.http11  # noqa: F401
    finally:
        inspect.stack = stack


_import_http_handler()


@dataclass
class CrawlResult:
    source: str
    status: str  # finished | failed | interrupted | skipped (locked by another crawl)
    run_id: int | None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "finished"


def crawl_settings(db_url: str, *, trigger: str = "manual", overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("NEWSARCHIVE_DB", db_url, priority="cmdline")
    settings.set("NEWSARCHIVE_TRIGGER", trigger, priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def run_crawls(
    sources: Sequence[Source],
    db_url: str,
    *,
    trigger: str = "manual",
    overrides: dict[str, Any] | None = None,
    progress: Callable[[list[Crawler]], ContextManager[Any]] | None = None,
) -> list[CrawlResult]:
    """Crawl ``sources`` side by side in one reactor; blocks until all are done.

    ``progress`` is given the crawlers and returns a context manager that is open
    while they run (the CLI shows live counts with it). A Twisted reactor runs once
    per process, so call this once per process (the scheduler runs each crawl in a
    process of its own).
    """
    settings = crawl_settings(db_url, trigger=trigger, overrides=overrides)
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")  # the CLI owns the log handlers
    process = _BoundedProcess(settings)
    # Scrapy's logging setup sets its logger to DEBUG and leaves the level to the handlers: every
    # "Crawled (200)" and "Scraped from" record of every page is built, then dropped. At the
    # configured level, nothing below it is built at all.
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL"))
    crawlers = []
    for source in sources:
        crawler = process.create_crawler(NewsSpider)
        crawlers.append(crawler)
        process.crawl(crawler, source=source)
    grace = settings.getfloat("NEWSARCHIVE_STOP_GRACE")
    limit = max((s.time_limit for s in sources), default=0)
    if settings.getint("CLOSESPIDER_TIMEOUT", 0) and settings.getpriority("CLOSESPIDER_TIMEOUT") == "cmdline":
        limit = settings.getint("CLOSESPIDER_TIMEOUT")
    process.guard(crawlers, grace)
    watchdog = threading.Timer(limit + grace, process.force_stop, args=("failed", f"still running {grace:g} s after "
                                                                         f"its time limit of {limit} s: stopped by force"))
    watchdog.daemon = True
    watchdog.start()
    try:
        with (progress(crawlers) if progress else nullcontext()):
            process.start()
    finally:
        watchdog.cancel()
    return [_result(crawler, source) for crawler, source in zip(crawlers, sources)]


class _BoundedProcess(CrawlerProcess):
    """A CrawlerProcess whose stop, on a signal or at the time limit, takes bounded time."""

    crawlers_to_guard: list[Crawler] = []
    grace: float = 60.0

    def guard(self, crawlers: list[Crawler], grace: float) -> None:
        self.crawlers_to_guard, self.grace = crawlers, grace

    def _signal_shutdown(self, signum: int, frame: Any) -> None:
        super()._signal_shutdown(signum, frame)
        timer = threading.Timer(self.grace, self.force_stop,
                                args=("interrupted", f"did not stop within {self.grace:g} s of "
                                                     f"{signal.Signals(signum).name}: stopped by force"))
        timer.daemon = True
        timer.start()

    def _signal_kill(self, signum: int, frame: Any) -> None:  # a second Ctrl-C: stop now, still recorded
        self.force_stop("interrupted", f"stopped by a second {signal.Signals(signum).name}")

    def force_stop(self, status: str, reason: str) -> None:
        """Store what is buffered, close the runs still open and release their locks, then
        stop the reactor without waiting for the hung downloads (from any thread)."""
        open_ = [c for c in self.crawlers_to_guard if CrawlContext.of(c).status is None]
        if not open_:
            return
        self._flush_writers(open_)
        for crawler in open_:
            ctx = CrawlContext.of(crawler)
            if ctx.run_id is not None:
                try:
                    counts = run_counts(crawler.stats.get_stats() if crawler.stats else {})
                    # the lock's engine: its connection already serves the heartbeat thread
                    archive = ctx.lock.archive if ctx.lock is not None else ctx.archive
                    with archive.repository() as repo:
                        repo.end_run(ctx.run_id, status, reason, counts=counts, error_messages=ctx.error_messages)
                except Exception as exc:  # noqa: BLE001 - leaving anyway; the run will be reaped
                    logger.error("could not record the end of run %s: %s", ctx.run_id, exc)
            if ctx.lock is not None:
                ctx.lock.release()
                ctx.lock = None
            ctx.status, ctx.failure = status, reason
            logger.error("%s: %s", ctx.source.key if ctx.source else "?", reason)
        from twisted.internet import reactor

        last_resort = threading.Timer(15, os._exit, args=(1,))  # the reactor did not stop either
        last_resort.daemon = True
        last_resort.start()
        reactor.callFromThread(self._stop_now)

    @staticmethod
    def _stop_now() -> None:
        from twisted.internet import reactor

        # Scrapy's "before shutdown" trigger would wait for the hung downloads: drop it.
        triggers = reactor._eventTriggers.get("shutdown")  # type: ignore[attr-defined]
        if triggers is not None:
            triggers.before.clear()
        if reactor.running:
            reactor.stop()

    @staticmethod
    def _flush_writers(crawlers: list[Crawler], timeout: float = 10.0) -> None:
        """Store the articles already extracted and buffered (in the reactor thread, where the
        writers live); pages still downloading or extracting are dropped."""
        from twisted.internet import reactor

        done = threading.Event()

        def flush() -> None:
            try:
                for crawler in crawlers:
                    writer = CrawlContext.of(crawler).writer
                    if writer is not None:
                        writer.flush()
            finally:
                done.set()

        if reactor.running:
            reactor.callFromThread(flush)
            if not done.wait(timeout):
                logger.error("could not store the buffered articles within %s s; they are dropped", timeout)


def _result(crawler: Crawler, source: Source) -> CrawlResult:
    ctx = CrawlContext.of(crawler)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if ctx.skipped:
        return CrawlResult(source.key, "skipped", None, {}, [], ctx.skipped)
    status = ctx.status or "failed"
    failure = ctx.failure
    if ctx.status is None and failure is None:
        failure = "the crawl did not start (see the log)"
    return CrawlResult(source.key, status, ctx.run_id, run_counts(stats), list(ctx.error_messages), failure)
