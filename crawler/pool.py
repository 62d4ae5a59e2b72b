"""The extraction worker pool: processes that run extract_article next to the crawl.

This module is what the workers import, so it stays light: no Scrapy, no SQLAlchemy
(``storage.stories`` is pure hashing: importing it does not import the DB code).

- Workers are forked from a ``forkserver`` (never from the crawl process itself, which runs
  threads) that has already imported the extractor and loaded its language model, so the
  workers start in milliseconds and share those read-only pages instead of each holding a
  copy (py3langid's model alone is ~100 MB).
- A worker exits by itself when the process that started it goes away (a crawl killed with
  SIGKILL must not leave extraction processes behind).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor

from crawler.extraction import Article, Rejection
from crawler.sources import Source
from crawler.heap import trim_heap
from crawler.urls import Link, LinkClassifier, page_base, page_hrefs
from storage.stories import Fingerprint, fingerprint

logger = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 1.0


def extract(body: bytes, url: str, source: Source, content_type: str | None
            ) -> tuple[int, Article | Rejection, Fingerprint | None, list[Link] | None]:
    """Runs in a worker: the pid it ran in (the crawl records it in its stats), the result,
    for an article its text's story fingerprint (``ArticleIn.story``), so that the crawl
    process does not shingle the text when it stores it, and the page's links to the source's
    articles and listings (None if the page could not be parsed), read from the tree the
    extraction parsed, so that the crawl process does not parse the page a second time."""
    from crawler.extraction.article import extract_page  # preloaded by the forkserver

    global _extracted
    result, tree = extract_page(body, url, source, content_type=content_type)
    out = os.getpid(), result, story_of(result), links_of(tree, url, source)
    _extracted += 1
    if _extracted % TRIM_EVERY == 0:
        del tree
        trim_heap()
    return out


TRIM_EVERY = 64  # pages a worker extracts between two trim_heap() calls


_extracted = 0


def links_of(tree, url: str, source: Source) -> list[Link] | None:  # type: ignore[no-untyped-def]
    """The page's links that matter to ``source`` (``LinkClassifier``), from its parsed tree;
    None if there is no tree or reading it fails (the spider then reads the page itself)."""
    if tree is None:
        return None
    try:
        classifier = _CLASSIFIERS.get(source)
        if classifier is None:
            _CLASSIFIERS.clear()  # one source per crawl: a worker never needs two
            classifier = _CLASSIFIERS[source] = LinkClassifier(source)
        return classifier.classify(page_hrefs(tree), page_base(tree, url))
    except Exception:  # pragma: no cover - defensive: links must never cost the article
        logger.warning("could not read the links of %s; the crawl will", url, exc_info=True)
        return None


_CLASSIFIERS: dict[Source, LinkClassifier] = {}


def story_of(result: Article | Rejection) -> Fingerprint | None:
    """The fingerprint of an article's text; None for a rejection, or if it fails (storage then
    computes it itself: an optimisation must never lose an article)."""
    if not isinstance(result, Article):
        return None
    try:
        return fingerprint(result.text)
    except Exception:  # pragma: no cover - defensive
        logger.warning("could not fingerprint %s; storage will", result.url, exc_info=True)
        return None


def context() -> multiprocessing.context.BaseContext:
    """The forkserver context every process of the crawl (extraction workers, the archive
    writer) is forked from; its server preloads the extractor."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["crawler.pool_preload"])
    return ctx


def start_forkserver() -> None:
    """Start the forkserver now and return at once: its preload (trafilatura, the language model:
    about a second of CPU) then runs on another core while the crawl starts up, and the workers
    are forked in milliseconds when the first article page is requested. Otherwise that second is
    spent after it, with the crawl waiting. A crawl that extracts nothing never uses it; it exits
    with the crawl process."""
    from multiprocessing import forkserver

    context()
    with _without_main():
        forkserver.ensure_running()


def new_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, all started now (see ``_without_main``)."""
    owner = os.getpid()
    pool = ProcessPoolExecutor(workers, mp_context=context(), initializer=_watch_owner,
                               initargs=(owner, _start_time(owner)))
    with _without_main():
        for _ in range(workers):  # each submit starts one more worker while none is idle
            pool.submit(os.getpid)
    return pool


@contextmanager
def _without_main() -> Iterator[None]:
    """multiprocessing makes every new worker import the parent's main module (for
    ``newsarchive crawl``: the whole command line, rich, SQLAlchemy, ...; for a script
    without a ``__main__`` guard: the script again). The workers only need this module,
    so they are started while ``__main__`` is an empty module. (The pool may be started from
    a thread; the lock keeps two such starts from restoring each other's stand-in.)"""
    with _MAIN_SWAP:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


_MAIN_SWAP = threading.RLock()


def _start_time(pid: int) -> str | None:
    """The process's start time (Linux), to tell it from a later process with the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _watch_owner(owner: int, started: str | None) -> None:
    """Exit when the crawl process that owns the pool is gone. (Watching the parent is not
    enough: workers are the forkserver's children, and the forkserver lives as long as they do.)
    SIGINT is ignored: a Ctrl-C in the terminal reaches the whole process group, and the crawl,
    which stops gracefully, shuts its workers down itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def alive() -> bool:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # the pid now belongs to someone else
            return False
        return started is None or _start_time(owner) == started

    def watch() -> None:
        while alive():
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()
