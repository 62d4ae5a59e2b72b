"""Run crawls of one or more sources in this process and report how each went."""
from __future__ import annotations

import logging
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


@dataclass
class CrawlResult:
    source: str
    status: str  # finished | failed | interrupted
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
    process = CrawlerProcess(settings)
    crawlers = []
    for source in sources:
        crawler = process.create_crawler(NewsSpider)
        crawlers.append(crawler)
        process.crawl(crawler, source=source)
    with (progress(crawlers) if progress else nullcontext()):
        process.start()
    return [_result(crawler, source) for crawler, source in zip(crawlers, sources)]


def _result(crawler: Crawler, source: Source) -> CrawlResult:
    ctx = CrawlContext.of(crawler)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    status = ctx.status or "failed"
    failure = ctx.failure
    if ctx.status is None and failure is None:
        failure = "the crawl did not start (see the log)"
    return CrawlResult(source.key, status, ctx.run_id, run_counts(stats), list(ctx.error_messages), failure)
