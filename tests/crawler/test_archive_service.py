"""The crawl's archive process (crawler.archive_service): the crawl command's archive calls are
answered there, the crawl process never imports SQLAlchemy, errors come back as one line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.archive_service import ArchiveService
from storage import StorageError, open_archive
from storage.records import SourceIn
from tests.helpers import DEMO_SITE, FAST, ROOT, write_sources
from crawler.sources import load_registry
from newsarchive.localsite import serve


def test_calls_are_answered_by_the_archive_process(db_url: str) -> None:
    """On SQLite and PostgreSQL: a call runs there, in a transaction of its own; what it returns
    comes back, and so does the StorageError it raises."""
    service = ArchiveService.start(db_url)
    try:
        assert service.ready() == db_url
        archive = service.archive()
        with archive.repository() as repo:
            repo.upsert_source(SourceIn("svc", "service test", "fr", "https://example.org"))
            run_id = repo.start_run("svc", "manual", pid=os.getpid())
        assert service.proc.pid != os.getpid() and service.proc.poll() is None
        with open_archive(db_url) as local, local.repository(readonly=True) as repo:  # committed there
            assert [r.id for r in repo.list_runs("svc")] == [run_id]
        with pytest.raises(StorageError, match="no crawl run 999999"):
            with archive.repository() as repo:
                repo.finish_run(999999, "finished")
        with pytest.raises(StorageError, match="archive call no_such_method failed"):
            service.call("no_such_method")
        assert service.call("source_keys") == ["svc"]  # still serving after an error
    finally:
        service.close()
    assert service.proc.returncode == 0


def test_an_archive_that_cannot_be_opened_is_one_error_and_no_lingering_process(tmp_path: Path) -> None:
    service = ArchiveService.start("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(StorageError) as err:
        service.ready()
    assert "127.0.0.1" in str(err.value) and "\n" not in str(err.value)
    service.close()
    assert service.proc.returncode is not None
    bad = ArchiveService.start("sqlite:///:memory:")
    with pytest.raises(StorageError, match="must be a SQLite file"):
        bad.ready()
    bad.close()


def test_a_dead_archive_process_is_a_storage_error(tmp_path: Path) -> None:
    service = ArchiveService.start(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        service.ready()
        service.proc.kill()
        service.proc.wait()
        with pytest.raises(StorageError, match="the archive process is gone"):
            service.call("source_keys")
    finally:
        service.close()


def test_the_archive_process_ends_with_the_crawl_process(tmp_path: Path) -> None:
    """kill -9 of the process that started it: the archive process sees its socket close and exits."""
    code = ("import sys, time\n"
            "from crawler.archive_service import ArchiveService\n"
            f"s = ArchiveService.start({str('sqlite:///' + str(tmp_path / 'a.db'))!r})\n"
            "s.ready()\n"
            "print(s.proc.pid, flush=True)\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if _zombie(child):
            break
        __import__("time").sleep(0.05)
    else:
        pytest.fail(f"the archive process {child} outlived its crawl process")


def test_a_command_forks_its_archive_process_and_a_threaded_one_starts_a_fresh_interpreter(tmp_path: Path) -> None:
    """The crawl command starts its archive process before anything else: a fork of it (no new
    interpreter to start). With another thread running a fork is not safe: a fresh interpreter
    serves the same calls."""
    code = ("import sys, threading, time\n"
            "from crawler.archive_service import ArchiveService\n"
            "if sys.argv[1] == 'thread':\n"
            "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "s = ArchiveService.start(sys.argv[2])\n"
            "s.ready()\n"
            "keys = s.call('source_keys')\n"
            "cmdline = open(f'/proc/{s.proc.pid}/cmdline', 'rb').read().split(b'\\0')\n"
            "s.close()\n"
            "print(type(s.proc).__name__, keys, b'crawler.archive_service' in cmdline, s.proc.returncode)\n"
            "print('sqlalchemy' in sys.modules)\n")
    db = f"sqlite:///{tmp_path / 'a.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    forked = subprocess.run([sys.executable, "-c", code, "plain", db], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert forked.stdout.split("\n")[:2] == ["_ForkedProcess [] False 0", "False"], forked.stderr
    spawned = subprocess.run([sys.executable, "-c", code, "thread", db], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert spawned.stdout.split("\n")[:2] == ["Popen [] True 0", "False"], spawned.stderr


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_crawl_process_never_imports_sqlalchemy(tmp_path: Path) -> None:
    """``newsarchive crawl``: every archive call of the crawl is answered by the archive process
    (the articles are stored by the writer process), so the crawl process does not import
    SQLAlchemy, and the crawl and a re-crawl still archive and skip as before. The re-crawl, which
    finds nothing new, does not start the extraction's forkserver at all. The archive process
    stores the articles too."""
    db = f"sqlite:///{tmp_path / 'a.db'}"
    code = ("import sys\n"
            "from newsarchive import cli\n"
            "end = cli._skip_teardown\n"
            "def report():\n"
            "    print('SQLALCHEMY', any(m.split('.')[0] == 'sqlalchemy' for m in sys.modules), file=sys.stderr)\n"
            "    from multiprocessing import forkserver\n"
            "    print('FORKSERVER', forkserver._forkserver._forkserver_pid is not None, file=sys.stderr)\n"
            "    end()\n"
            "cli._skip_teardown = report\n"
            "from crawler import archive_service\n"
            "start = archive_service.ArchiveService.start.__func__\n"
            "def started(cls, db):\n"
            "    service = start(cls, db)\n"
            "    print('ARCHIVE', service.proc.pid, file=sys.stderr)\n"
            "    return service\n"
            "archive_service.ArchiveService.start = classmethod(started)\n"
            "sys.argv = ['newsarchive'] + sys.argv[1:]\n"
            "cli.main()\n")
    with serve(DEMO_SITE) as server:
        demo = load_registry(DEMO_SITE / "sources.toml").sources["demo"].rebased(server.base_url)
        sources = write_sources(tmp_path / "s.toml", demo)
        runs = []
        for _ in range(2):
            result = subprocess.run([sys.executable, "-c", code, "crawl", "demo", "--db", db, "--sources", str(sources),
                                     *FAST], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert result.returncode == 0, result.stdout + result.stderr
            assert "SQLALCHEMY False" in result.stderr, result.stderr
            runs.append(result)
    # the first crawl extracted; the re-crawl, which found nothing new, never started the extraction
    assert "FORKSERVER True" in runs[0].stderr and "FORKSERVER False" in runs[1].stderr
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        first, second = sorted(repo.list_runs("demo"), key=lambda r: r.id)
        assert first.status == second.status == "finished"
        assert first.articles_new > 0 and second.articles_new == 0
        # the articles were stored by the archive process, not by a writer process of their own
        archive_pid = int(re.search(r"ARCHIVE (\d+)", runs[0].stderr).group(1))
        assert first.stats["newsarchive/writer_pid"] == archive_pid
        assert repo.get_lock("demo") is None
