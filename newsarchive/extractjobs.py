"""Run extract_article over many stored pages, on every core, one failure never stopping the rest.

Used by ``reextract`` and ``import-warc``; the crawl has its own pool in crawler/pipelines.py
(it lives inside Scrapy's event loop). ``workers=0`` extracts in this process.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from crawler.extraction import Article, Rejection, extract_article
from crawler.sources import Source

logger = logging.getLogger(__name__)


@dataclass
class Job:
    body: bytes
    url: str  # the URL the page was fetched from
    source: Source
    content_type: str | None = None


def _run(job: Job) -> Article | Rejection | str:
    """The extraction's result, or the message of the error it raised (a str)."""
    try:
        return extract_article(job.body, job.url, job.source, content_type=job.content_type)
    except Exception as exc:  # one bad page is reported, the rest goes on
        return f"extraction raised {type(exc).__name__}: {exc}"


def default_workers() -> int:
    return min(os.cpu_count() or 1, 4)


class Extractor:
    """``with Extractor(workers) as ex: results = ex.map(jobs)``: results in the jobs' order.

    The worker processes start with the first batch of at least ``min_jobs`` pages: starting
    them costs more than extracting a handful of pages in this process.
    """

    def __init__(self, workers: int | None = None, min_jobs: int = 16) -> None:
        self.workers = default_workers() if workers is None else workers
        self.min_jobs = min_jobs
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def map(self, jobs: Sequence[Job]) -> Iterator[Article | Rejection | str]:
        if self.pool is None and self.workers > 1 and len(jobs) >= self.min_jobs:
            # spawn, like the crawl: no forked copies of open database connections
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        if self.pool is None or len(jobs) < 2:
            yield from (_run(job) for job in jobs)
            return
        yield from self.pool.map(_run, jobs, chunksize=max(1, len(jobs) // (self.workers * 4)))
