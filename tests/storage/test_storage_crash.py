"""A writer killed mid-transaction (SIGKILL) leaves the archive consistent and usable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa
from storage_factories import art

from storage import Archive, open_archive

ROOT = Path(__file__).resolve().parents[2]

DOOMED_WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from storage import ArticleIn, open_archive

    url, ready = sys.argv[1], Path(sys.argv[2])
    archive = open_archive(url)
    with archive.repository() as repo:
        repo.store_articles([ArticleIn("lefigaro", f"https://example.test/doomed/{i}", f"Zeppelin {i}",
                                       "Un texte condamné sur le zeppelin. " * 40, language="fr")
                             for i in range(3000)])
        repo.store_articles([ArticleIn("lefigaro", "https://example.test/0", "Article 0",
                                       "Texte réécrit par le zeppelin.", language="fr")])
        repo.session.flush()
        ready.write_text(str(os.getpid()))
        time.sleep(120)  # killed here, inside the open transaction
""")


def test_killed_writer_leaves_archive_consistent(sources: Archive, db_url: str, tmp_path: Path) -> None:
    with sources.repository() as repo:
        repo.store_articles([art(i, f"Le survivant numéro {i}.") for i in range(100)])
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path / "writer.log"
    with log.open("wb") as stderr, subprocess.Popen(
        [sys.executable, "-c", DOOMED_WRITER, db_url, str(ready)], env=env, stdout=stderr, stderr=stderr
    ) as proc:
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert proc.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "writer never became ready"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with open_archive(db_url) as reopened:
        with reopened.repository() as repo:
            assert repo.count_articles() == 100
            assert repo.get_article("https://example.test/0").text == "Le survivant numéro 0."
            assert repo.search("zeppelin") == []
            assert len(repo.search("survivant", limit=500)) == 100
            repo.store_articles([art("after", "Écrit après le crash.")])  # no stale lock
        with reopened.session() as session:
            q = lambda sql: session.execute(sa.text(sql)).scalar_one()  # noqa: E731
            assert q("SELECT count(*) FROM article_versions") == 101
            assert q("SELECT max(version) FROM articles") == 1
            if reopened.dialect == "sqlite":
                assert q("PRAGMA integrity_check") == "ok"
                session.execute(sa.text("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')"))
                assert q("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'zeppelin'") == 0
                assert q("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'survivant'") == 100
            else:
                assert q("SELECT count(*) FROM articles WHERE search_vector IS NULL") == 0
