"""Two processes' worth of archives on one database: writers queue, readers are not blocked."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from storage_factories import SOURCES, art

from storage import Archive, StoreResult, open_archive


def test_concurrent_writers_of_the_same_url_do_not_fail(sources: Archive, db_url: str) -> None:
    results: list[StoreResult] = []
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with open_archive(db_url) as other, other.repository() as repo:
                results.extend(repo.store_articles([art(1, "Même texte.")]))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with sources.repository() as repo:
        assert repo.store_articles([art(1, "Même texte.")])[0].outcome == "new"
        worker = threading.Thread(target=second_writer)
        worker.start()
        time.sleep(0.3)  # the second writer now waits for our transaction
    worker.join(timeout=20)
    assert not errors, errors
    assert [r.outcome for r in results] == ["unchanged"]


def test_sqlite_readonly_session_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    with open_archive(path) as writer, open_archive(path) as reader, writer.repository() as repo:
        repo.upsert_source(SOURCES[0])
        repo.store_articles([art(1)])
        started = time.monotonic()
        with reader.repository(readonly=True) as view:
            assert view.count_articles() == 0  # sees the last committed state, at once
        assert time.monotonic() - started < 1
