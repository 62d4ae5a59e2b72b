"""The archive writer: batches stored by a process of their own, which may die without losing
or duplicating an article, ignores a terminal's Ctrl-C and dies with the crawl; or, under
``newsarchive crawl``, by its archive process (crawler.archive_service), in order, each batch
whole or not at all."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from scrapy.utils.test import get_crawler

from crawler.context import CrawlContext
from crawler.pipelines import ArchiveWriter
from crawler import archive_service
from storage import StorageError, open_archive
from storage.records import ArticleIn, SnapshotIn, SourceIn
from tests.helpers import ROOT, outlives_owner

TEXT = ("La région d'Irkoutsk a présenté ses projets industriels à une délégation d'entreprises "
        "françaises venues de Lyon et de Paris, article numéro {n}.")


def _writer(tmp_path: Path, **settings) -> ArchiveWriter:
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with open_archive(db, create=True) as archive, archive.repository() as repo:
        repo.upsert_source(SourceIn(key="t", name="t", language="fr", base_url="https://example.org/"))
    crawler = get_crawler(settings_dict={"NEWSARCHIVE_DB": db, "NEWSARCHIVE_BATCH_SIZE": 5, **settings})
    crawler.stats.open_spider()
    return ArchiveWriter.of(crawler)


def _article(n: int) -> ArticleIn:
    return ArticleIn(source="t", url=f"https://example.org/news/{n}", title=f"Article {n}", text=TEXT.format(n=n),
                     snapshot_sha256=None)


async def _add(writer: ArchiveWriter, numbers) -> None:
    for n in numbers:
        writer.add_snapshot(SnapshotIn(f"https://example.org/news/{n}", 200, {}, f"<p>{n}</p>".encode(),
                                       datetime.now(timezone.utc)))
        await writer.add_article(_article(n))


def _stored(writer: ArchiveWriter) -> list[str]:
    with open_archive(writer.ctx.db_url) as archive, archive.session(readonly=True) as session:
        return sorted(session.scalars(sa.text("SELECT url FROM articles")))


def _count(writer: ArchiveWriter, table: str) -> int:
    with open_archive(writer.ctx.db_url) as archive, archive.session(readonly=True) as session:
        return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_batches_are_written_by_a_process_of_their_own(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    asyncio.run(_add(writer, range(12)))
    writer.close()
    stats = writer.ctx.crawler.stats
    pid = stats.get_value("newsarchive/writer_pid")
    assert pid and pid != os.getpid()
    assert stats.get_value("newsarchive/batches") == 3  # 5 + 5 + the 2 left at close
    assert stats.get_value("newsarchive/articles_new") == 12
    assert len(_stored(writer)) == 12 and _count(writer, "snapshots") == 12


def test_without_the_process_setting_a_thread_writes(tmp_path: Path) -> None:
    writer = _writer(tmp_path, NEWSARCHIVE_WRITER_PROCESS=False)
    asyncio.run(_add(writer, range(7)))
    writer.close()
    assert writer.ctx.crawler.stats.get_value("newsarchive/writer_pid") == os.getpid()
    assert len(_stored(writer)) == 7


class Poison(bytes):
    """A page body whose unpickling kills the process reading it (the writer) while ``marker``
    holds fewer than ``times`` crashes (0: every time), as an out-of-memory kill would."""

    marker = ""
    times = 0

    def __reduce__(self):
        return _unpickle_poison, (bytes(self), self.marker, self.times)


def _unpickle_poison(data: bytes, marker: str, times: int) -> bytes:
    path = Path(marker)
    crashes = int(path.read_text()) if path.exists() else 0
    if times == 0 or crashes < times:
        path.write_text(str(crashes + 1))
        os._exit(3)
    return data


def _poisoned_batch(writer: ArchiveWriter, numbers, marker: Path, times: int):
    async def go() -> None:
        await _add(writer, range(5))  # a first batch, committed
        writer.flush()
        body = Poison(b"<p>poison</p>")
        body.marker, body.times = str(marker), times
        writer.add_snapshot(SnapshotIn("https://example.org/poison", 200, {}, body, datetime.now(timezone.utc)))
        await _add(writer, numbers)

    asyncio.run(go())
    writer.close()


def test_a_writer_that_dies_is_replaced_and_no_article_is_lost_or_doubled(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    _poisoned_batch(writer, range(5, 12), tmp_path / "crashes", times=1)
    stats = writer.ctx.crawler.stats
    assert (tmp_path / "crashes").read_text() == "1"  # the writer did die, once
    assert stats.get_value("newsarchive/writer_restarts") == 1
    assert writer.ctx.failure is None and not stats.get_value("newsarchive/errors")
    assert _stored(writer) == sorted(f"https://example.org/news/{n}" for n in range(12))
    assert _count(writer, "article_versions") == 12  # each stored once


def test_a_batch_that_kills_the_writer_twice_fails_the_crawl_and_keeps_the_rest(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    _poisoned_batch(writer, range(5, 10), tmp_path / "crashes", times=0)
    assert (tmp_path / "crashes").read_text() == "2"  # tried twice, not more
    assert "died twice on a batch of 5 articles" in (writer.ctx.failure or "")
    assert _stored(writer) == sorted(f"https://example.org/news/{n}" for n in range(5))  # the committed batch
    assert _count(writer, "snapshots") == 5  # nothing of the lost batch, not even its pages


def test_the_writer_ignores_sigint_and_exits_when_the_crawl_is_killed(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    outlives_owner(("import os, sys, time; sys.path.insert(0, %r)\n"
                    "from storage import open_archive\n"
                    "open_archive(%r, create=True).dispose()\n"
                    "from crawler.writer import new_writer\n"
                    "writer = new_writer(%r)\n"
                    "print(writer.submit(os.getpid).result(), flush=True)\n"
                    "time.sleep(60)\n") % (str(ROOT), db, db), "archive writer")


# -- with the archive process of ``newsarchive crawl`` (crawler.archive_service) -------------------

def _served_writer(tmp_path: Path) -> tuple[ArchiveWriter, archive_service.ArchiveService]:
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with open_archive(db, create=True) as archive, archive.repository() as repo:
        repo.upsert_source(SourceIn(key="t", name="t", language="fr", base_url="https://example.org/"))
    service = archive_service.serve_crawls(db)
    try:
        crawler = get_crawler(settings_dict={"NEWSARCHIVE_DB": db, "NEWSARCHIVE_BATCH_SIZE": 5})
        crawler.stats.open_spider()
        writer = ArchiveWriter.of(crawler)
    except BaseException:
        service.close()
        raise
    assert writer.ctx.service is service
    return writer, service


def test_with_an_archive_process_it_stores_the_batches_and_no_writer_process_starts(tmp_path: Path) -> None:
    writer, service = _served_writer(tmp_path)
    try:
        asyncio.run(_add(writer, range(12)))
        writer.close()
        stats = writer.ctx.crawler.stats
        assert stats.get_value("newsarchive/writer_pid") == service.proc.pid != os.getpid()
        assert stats.get_value("newsarchive/batches") == 3  # 5 + 5 + the 2 left at close
        assert stats.get_value("newsarchive/articles_new") == 12
        assert len(_stored(writer)) == 12 and _count(writer, "snapshots") == 12
        assert not [p for p in multiprocessing.active_children() if p.pid != service.proc.pid]
    finally:
        service.close()
    assert service.proc.returncode == 0


def test_batches_sent_before_the_service_closes_are_all_stored(tmp_path: Path) -> None:
    writer, service = _served_writer(tmp_path)
    batches = service.batch_writer()
    futures = [batches.submit([], [_article(n) for n in range(k, k + 5)]) for k in range(0, 30, 5)]
    service.close()  # without waiting for them
    assert all(f.done() and f.exception() is None for f in futures)
    assert len(_stored(writer)) == 30


def test_a_batch_the_archive_refuses_fails_alone(tmp_path: Path) -> None:
    writer, service = _served_writer(tmp_path)
    try:
        batches = service.batch_writer()
        stray = ArticleIn(source="no_such_source", url="https://example.org/x", title="x", text=TEXT.format(n=0))
        bad = batches.submit([], [_article(1), stray])
        good = batches.submit([], [_article(2)])
        assert isinstance(bad.exception(timeout=30), StorageError) and "\n" not in str(bad.exception())
        pid, results = good.result(timeout=30)
        assert pid == service.proc.pid and [r.outcome for r in results] == ["new"]
        assert _stored(writer) == ["https://example.org/news/2"]  # nothing of the refused batch
    finally:
        service.close()


def test_when_the_archive_process_dies_the_crawl_fails_and_keeps_the_stored_batches(tmp_path: Path) -> None:
    """A batch that kills the process storing it (as an out-of-memory kill would): that batch is
    rolled back whole, the ones before it stay, and the crawl fails with one line, since its
    archive is gone."""
    writer, service = _served_writer(tmp_path)
    try:
        _poisoned_batch(writer, range(5, 10), tmp_path / "crashes", times=0)
        assert (tmp_path / "crashes").read_text() == "1"
        assert "the archive process is gone" in (writer.ctx.failure or "")
        assert _stored(writer) == sorted(f"https://example.org/news/{n}" for n in range(5))
        assert _count(writer, "snapshots") == 5
        with pytest.raises(StorageError, match="the archive process is gone"):
            service.batch_writer().submit([], [_article(99)]).result(timeout=30)
    finally:
        service.close()
