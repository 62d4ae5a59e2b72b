"""The command line as a user meets it: one-line errors, exit codes, the demo, Scrapy's own CLI."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from crawler.sources import Source
from storage import open_archive
from tests.helpers import FAST, ROOT, run_cli, write_sources
from tests.helpers import one_line_error as _one_line_error


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unknown_source(tmp_path: Path) -> None:
    _one_line_error(run_cli("crawl", "nope", "--db", f"sqlite:///{tmp_path / 'a.db'}"), "unknown source 'nope'")


def test_bad_sources_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.x]\nname = "X"\nlanguage = "fr"\nfeeds = ["http://127.0.0.1:9/rss"]\nschedule = "99 * * * *"\n')
    _one_line_error(run_cli("crawl", "x", "--sources", str(bad)), str(bad), "source 'x'", "key 'schedule'")
    _one_line_error(run_cli("sources", "--sources", str(tmp_path / "missing.toml")), "not found")


def test_unreachable_database_and_not_an_archive(tmp_path: Path) -> None:
    _one_line_error(run_cli("crawl", "rbth_fr", "--db", "postgresql://postgres@127.0.0.1:1/test"), "127.0.0.1")
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a database\n" * 100)
    _one_line_error(run_cli("search", "x", "--db", f"sqlite:///{text}"))
    assert text.read_text().startswith("these are my notes")  # nothing written


def test_crawl_needs_a_source() -> None:
    result = run_cli("crawl")
    assert result.returncode == 2 and "--all" in result.stderr and "Traceback" not in result.stderr


def test_sources_lists_the_registry() -> None:
    result = run_cli("sources")
    assert result.returncode == 0
    for key in ("rbth_fr", "kommersant", "interfax"):
        assert key in result.stdout


def test_demo_then_unreachable_site_loses_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = run_cli("demo", "--db", db, "--port", str(_free_port()), cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Irkoutsk" in demo.stdout
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        before = repo.count_articles()
    assert before >= 8

    dead = Source(key="dead", name="Dead", language="fr", start_urls=(f"http://127.0.0.1:{_free_port()}/economie",),
                  feeds=(f"http://127.0.0.1:{_free_port()}/rss",), article_urls=("/economie/",), download_delay=0.0)
    result = run_cli("crawl", "dead", "--sources", str(write_sources(tmp_path / "dead.toml", dead)), "--db", db, *FAST)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "failed" in result.stdout and "no entry page" in result.stderr
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        assert repo.count_articles() == before
        run = repo.list_runs("dead")[0]
    assert run.status == "failed" and run.errors >= 2


def test_scrapy_cli_runs_the_same_spider(tmp_path: Path) -> None:
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert listed.stdout.split() == ["news"], listed.stderr


def test_scrapy_crawl_news_archives_like_the_cli(tmp_path: Path) -> None:
    from tests.helpers import expected, replica

    db = tmp_path / "scrapy.db"
    with replica("interfax") as (server, source):
        sources_file = write_sources(tmp_path / "m.toml", source)
        result = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "source=interfax", "-a", f"sources_file={sources_file}",
             "-s", "LOG_LEVEL=WARNING"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "NEWSARCHIVE_DB": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    with open_archive(f"sqlite:///{db}") as archive, archive.repository(readonly=True) as repo:
        assert repo.count_articles("interfax") == len(expected("interfax")["articles"])
        assert repo.list_runs("interfax")[0].status == "finished"


def test_help_imports_no_heavy_library() -> None:
    """Each command imports what it needs when it runs: `--help` answers without loading Scrapy,
    SQLAlchemy or rich (and a crawl does not pay for what other commands use)."""
    heavy = ("scrapy", "twisted", "sqlalchemy", "alembic", "rich", "trafilatura", "storage.db", "crawler.sources")
    code = ("import runpy, sys\n"
            "sys.argv = ['newsarchive', '--help']\n"
            "try:\n    runpy.run_module('newsarchive.cli', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "crawl" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_exit_status_survives_the_skipped_teardown() -> None:
    """main() ends the process from its last exit handler (no interpreter teardown): the status is
    still the command's, an escaped exception still exits 1 (not 0), and what was printed is flushed."""
    code = ("import sys\n"
            "from newsarchive import cli\n"
            "@cli.cli.command('boom')\n"
            "def boom():\n    print('half', end='')\n    raise RuntimeError('escaped')\n"
            "@cli.cli.command('say')\n"
            "def say():\n    print('unflushed', end='')\n    sys.exit('a message')\n"
            "@cli.cli.command('skip')\n"
            "def skip():\n    print('ok', end='')\n    sys.exit(75)\n"
            "sys.argv = ['newsarchive', sys.argv[1]]\n"
            "cli.main()\n")
    outcomes = {}
    for command in ("boom", "say", "skip", "sources"):
        result = subprocess.run([sys.executable, "-c", code, command], cwd=ROOT, capture_output=True, text=True,
                                timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        outcomes[command] = (result.returncode, result.stdout, result.stderr.strip().splitlines()[-1:])
    assert outcomes["boom"] == (1, "half", ["RuntimeError: escaped"])
    assert outcomes["say"] == (1, "unflushed", ["a message"])
    assert outcomes["skip"] == (75, "ok", [])
    assert outcomes["sources"][0] == 0 and "rbth_fr" in outcomes["sources"][1]


def test_demo_crawl_and_recrawl_on_each_backend(db_url: str, tmp_path: Path) -> None:
    """The whole crawl (extraction workers, the archive writer process, runs, locks, validators)
    on SQLite and on PostgreSQL: every demo article stored once, then a re-crawl adds nothing."""
    port = str(_free_port())
    first = run_cli("demo", "--db", db_url, "--port", port, cwd=tmp_path)
    again = run_cli("demo", "--db", db_url, "--port", port, cwd=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "Traceback" not in first.stderr + again.stderr
    with open_archive(db_url) as archive, archive.repository(readonly=True) as repo:
        latest, earlier = repo.list_runs("demo", limit=2)
        count = repo.count_articles()
    assert earlier.status == latest.status == "finished"
    assert earlier.articles_new == count >= 8 and latest.articles_new == 0
    writer = earlier.stats.get("newsarchive/writer_pid")
    assert writer and writer != earlier.pid  # stored by the writer process, not the crawl's
