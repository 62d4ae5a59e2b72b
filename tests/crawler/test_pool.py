"""The extraction pool: used, bounded, survives a dying worker, dies with the crawl."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from crawler.context import CrawlContext
from crawler.extraction import Article
from crawler.items import PageItem
from crawler.pipelines import ExtractPipeline
from crawler.sources import Source
from storage import stories
from tests.helpers import ROOT, outlives_owner

ARTICLE = ("<html><head><title>Irkoutsk accueille des investisseurs français</title></head><body><article>"
           "<h1>Irkoutsk accueille des investisseurs français</h1>"
           + "".join(f"<p>Paragraphe {i} : la région d'Irkoutsk a présenté ses projets industriels à une délégation "
                     f"d'entreprises françaises venues de Lyon et de Paris pour la journée numéro {i}.</p>"
                     for i in range(6))
           + "</article></body></html>").encode()


@dataclass(frozen=True)
class CrashingSource(Source):
    """A source whose unpickling kills the worker process (``os._exit``) while ``marker``
    does not exist yet; ``times`` crashes create it (0 = crash every time)."""

    marker: str = ""
    times: int = 1

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        path = Path(self.marker)
        crashes = int(path.read_text()) if path.exists() else 0
        if self.times == 0 or crashes < self.times:
            path.write_text(str(crashes + 1))
            os._exit(3)


def _pipeline(source: Source, **settings) -> ExtractPipeline:
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_EXTRACT_WORKERS": 1, **settings})
    CrawlContext.of(crawler).source = source
    return ExtractPipeline.from_crawler(crawler)


def _item(n: int = 0) -> PageItem:
    return PageItem(source="t", url=f"http://127.0.0.1:9/news/{n}", status=200, headers={}, body=ARTICLE,
                    fetched_at=datetime.now(timezone.utc), content_type="text/html; charset=utf-8")


def _source(**kw) -> Source:
    return Source(key="t", name="t", language="fr", start_urls=("http://127.0.0.1:9/",), **kw)


def _run(pipeline: ExtractPipeline, make):
    async def main():
        try:
            return await make()
        finally:
            await pipeline.close_spider()
    return asyncio.run(main())


def test_extraction_runs_in_worker_processes_with_a_bounded_queue() -> None:
    pipeline = _pipeline(_source(), NEWSARCHIVE_EXTRACT_WORKERS=2, NEWSARCHIVE_EXTRACT_QUEUE=3)
    items = _run(pipeline, lambda: asyncio.gather(*(pipeline.process_item(_item(n)) for n in range(20))))
    assert all(isinstance(item.article, Article) for item in items)
    stats = pipeline.crawler.stats
    pids = {int(p) for p in stats.get_value("newsarchive/extract_pids").split(",")}
    assert pids and os.getpid() not in pids  # extraction ran elsewhere
    assert stats.get_value("newsarchive/extract_in_flight_max") == 3  # never more queued than allowed


def test_workers_fingerprint_the_story_without_importing_sqlalchemy() -> None:
    pipeline = _pipeline(_source())  # one worker: the one that extracted answers the check below

    async def go():
        item = await pipeline.process_item(_item())
        # eval: a builtin, so the check runs in the worker without importing this test module
        loaded = await asyncio.wrap_future(pipeline.pool.submit(
            eval, "sorted(m for m in ('sqlalchemy', 'storage.db', 'storage.stories') if m in __import__('sys').modules)"))
        return item, loaded

    item, loaded = _run(pipeline, go)
    assert loaded == ["storage.stories"]  # the fingerprint was computed there, without the DB code
    assert item.story is not None and item.story == stories.fingerprint(item.article.text)
    assert item.story.band_keys  # long enough to cluster: its band keys came along too


def test_a_worker_that_dies_is_replaced_and_the_page_extracted_once(tmp_path: Path) -> None:
    marker = tmp_path / "crashes"
    pipeline = _pipeline(CrashingSource(key="t", name="t", language="fr", start_urls=("http://127.0.0.1:9/",),
                                        marker=str(marker), times=1))
    first_pool = None

    async def go():
        nonlocal first_pool
        pipeline.pool = first_pool = pipeline._new_pool()
        return await pipeline.process_item(_item())

    item = _run(pipeline, go)
    assert marker.read_text() == "1"  # the worker did die, once
    assert isinstance(item.article, Article) and "Irkoutsk" in item.article.text
    assert pipeline.pool is None or pipeline.pool is not first_pool  # replaced (then closed)
    assert not pipeline.crawler.stats.get_value("newsarchive/errors")


def test_a_page_that_kills_workers_twice_is_dropped_and_reported(tmp_path: Path) -> None:
    marker = tmp_path / "crashes"
    pipeline = _pipeline(CrashingSource(key="t", name="t", language="fr", start_urls=("http://127.0.0.1:9/",),
                                        marker=str(marker), times=0))
    with pytest.raises(DropItem, match="crashed twice"):
        _run(pipeline, lambda: pipeline.process_item(_item()))
    assert marker.read_text() == "2"  # tried twice, not more
    assert pipeline.crawler.stats.get_value("newsarchive/errors") == 1


def test_workers_ignore_sigint_and_exit_when_the_crawl_process_is_killed() -> None:
    outlives_owner(("import os, sys; sys.path.insert(0, %r)\n"
                    "from crawler.pool import new_pool\n"
                    "pool = new_pool(1)\n"
                    "print(pool.submit(os.getpid).result(), flush=True)\n"
                    "import time; time.sleep(60)\n") % str(ROOT), "extraction worker")


def test_the_crawl_process_unpickles_results_without_importing_the_extractor() -> None:
    """The workers extract; the crawl process only receives Article/Rejection objects, whose
    module is light: trafilatura (~20 MB, ~0.3 s to import) stays out of the crawl process."""
    code = ("import asyncio, sys; sys.path.insert(0, %r)\n"
            "from tests.crawler.test_pool import _item, _pipeline, _run, _source\n"
            "pipeline = _pipeline(_source())\n"
            "item = _run(pipeline, lambda: pipeline.process_item(_item()))\n"
            "print(type(item.article).__name__, 'trafilatura' in sys.modules)\n") % str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Article", "False"]
