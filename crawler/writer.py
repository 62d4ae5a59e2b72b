"""The archive writer process: stores the crawl's batches, one transaction each, beside the crawl.

Storing a batch is mostly Python (SQLAlchemy statements, story linking). In a thread of the
crawl process it held the crawl's GIL for milliseconds at a time, and the reactor thread, which
gives the GIL up at every socket call, waited behind it: the crawl fetched and dispatched
pages more slowly than the extraction workers could take them. In a process of its own the
writer uses whatever CPU is left beside the workers without stalling the reactor.

The process is forked from the extraction pool's forkserver (it shares its preloaded modules),
opens the archive once, ignores SIGINT (a Ctrl-C in the terminal reaches the whole process
group; the crawl decides when its writer stops, after the last batch is stored) and exits by
itself when the crawl process is gone, like the extraction workers. A batch is one transaction:
if the process dies, the batch in flight is rolled back whole, never half written.

Under ``newsarchive crawl`` the command's archive process, which has SQLAlchemy and the archive
open already, stores the batches with ``store`` instead (``crawler.archive_service``); this
process serves a crawl run without one (``run_crawls`` from Python, the demo).
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from crawler.heap import trim_heap

logger = logging.getLogger(__name__)

_archive: Any = None


def new_writer(db_url: str) -> ProcessPoolExecutor:
    """A one-process executor whose process has the archive at ``db_url`` open."""
    from crawler import pool

    owner = os.getpid()
    executor = ProcessPoolExecutor(1, mp_context=pool.context(), initializer=_start,
                                   initargs=(db_url, owner, pool._start_time(owner)))
    with pool._without_main():
        executor.submit(int)  # starts the process now, with __main__ out of the way
    return executor


def _start(db_url: str, owner: int, started: str | None) -> None:
    from crawler import pool
    from storage import open_archive

    pool._watch_owner(owner, started)  # also ignores SIGINT
    global _archive
    # no memory map: the writer's reads (indexes, story bands) would map more of the file the
    # longer the crawl, and count in its memory (130 MB at 10,000 bench articles); a writer
    # gains nothing from it, SQLite's own 2 MB page cache serves its lookups
    _archive = open_archive(db_url, mmap=False)


def write_batch(snapshots: list, articles: list) -> tuple[int, list]:
    """In the writer process: one transaction for the batch; (this pid, the articles' StoreResults)."""
    try:
        return os.getpid(), store(_archive, snapshots, articles)
    finally:
        trim_heap()  # what storing the batch allocated (~5 MB), and the batch before it, is freed


def store(archive: Any, snapshots: list, articles: list) -> list:
    from storage import Repository

    with archive.session() as session:
        repo = Repository(session)
        if snapshots:
            repo.store_snapshots(snapshots)
        results = repo.store_articles(articles) if articles else []
    logger.debug("stored a batch of %d articles and %d snapshots", len(articles), len(snapshots))
    return results
