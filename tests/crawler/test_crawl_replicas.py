"""End to end: `newsarchive crawl` over the offline replica of each default source."""
from __future__ import annotations

from pathlib import Path

import pytest

from crawler.sources import default_sources
from storage import open_archive
from storage.records import SearchFilters
from tests.helpers import FAST, SITES, expected, path_of, replica, requested_paths, run_cli, write_sources

REPLICAS = [key for key in sorted(default_sources()) if (SITES / key / "_expected.json").exists()]


@pytest.mark.slow
@pytest.mark.parametrize("key", REPLICAS)
def test_crawl_replica_archives_every_article_and_nothing_else(key: str, tmp_path: Path) -> None:
    want = expected(key)
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with replica(key) as (server, source):
        sources_file = str(write_sources(tmp_path / "mirror.toml", source))
        args = ("crawl", key, "--sources", sources_file, "--db", db, *FAST)
        first = run_cli(*args)
        fetched = requested_paths(server)
        second = run_cli(*args)
        refetched = requested_paths(server)[len(fetched):]
    assert "Traceback" not in first.stderr + second.stderr
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr

    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        articles = {path_of(a.url): a for a in repo.iter_articles(SearchFilters(sources=(key,)))}
        runs = repo.list_runs(key)

    assert sorted(articles) == sorted(want["articles"])
    for path, w in want["articles"].items():
        article = articles[path]
        assert article.title == w["title"]
        for paragraph in w["paragraphs"]:  # the archive folds no-break spaces
            assert " ".join(paragraph.split()) in article.text.split("\n"), f"{path}: missing {paragraph[:60]}"
        for boiler in w.get("absent", []):
            assert boiler not in article.text, f"{path}: boilerplate {boiler!r} archived"
        assert article.published_at is None or article.published_at.tzinfo is not None
    for path in want.get("skipped", {}):
        assert path not in articles
        assert path in fetched, f"{path} should have been fetched, then skipped"
    for path in want.get("not_articles", []):
        assert path not in articles
    for url in want.get("never_fetched", []):
        if url.startswith("/"):
            assert url not in fetched, f"{url} must never be requested"
    assert all("://" not in p for p in fetched)  # nothing but this site was asked for

    latest, earlier = runs[0], runs[1]
    assert earlier.status == latest.status == "finished"
    assert earlier.articles_new == len(want["articles"])
    # the spider asks for each page once (NewsSpider._requested): the links that news pages
    # repeat never reach Scrapy's duplicate filter, which a re-yielded link would
    assert earlier.stats.get("dupefilter/filtered", 0) == 0, earlier.stats
    assert latest.articles_new == 0 and latest.articles_updated == 0  # a second run adds nothing new
    # ... and, being incremental (crawler/incremental.py), does not fetch archived articles again
    assert latest.articles_unchanged == 0
    assert not set(refetched) & set(want["articles"]), "a re-crawl fetched archived articles again"
    for path in want.get("errors", []):
        assert any(path in message or path.rsplit("/", 1)[-1] in message for message in earlier.error_messages), \
            f"error page {path} not reported: {earlier.error_messages}"


@pytest.mark.slow
def test_broken_site_reports_clearly_and_keeps_going(tmp_path: Path) -> None:
    """Malformed feed and sitemap, a feed that is HTML, a mislabelled charset, an empty page."""
    from crawler.sources import load_file
    from newsarchive.localsite import serve
    from tests.helpers import fast, site_origins

    site = SITES / "broken"
    want = expected("broken")
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with serve(site) as server:
        source = fast(load_file(site / "_sources.toml")["broken"].rebased(server.base_url, site_origins(site)))
        result = run_cli("crawl", "broken", "--sources", str(write_sources(tmp_path / "b.toml", source)),
                         "--db", db, *FAST)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr  # discovery problems are errors, not a failed crawl
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        articles = {path_of(a.url): a for a in repo.iter_articles(SearchFilters(sources=("broken",)))}
        run = repo.list_runs("broken")[0]
    assert sorted(articles) == sorted(want["articles"])
    for path, w in want["articles"].items():
        assert "\ufffd" not in articles[path].text, "a mislabelled charset must not produce replacement characters"
        for paragraph in w["paragraphs"]:
            assert " ".join(paragraph.split()) in articles[path].text
    messages = "\n".join(run.error_messages)
    assert "malformed feed" in messages and "malformed sitemap" in messages
    assert "not an RSS or Atom feed" in messages or "not a feed" in messages
    assert run.articles_skipped == len(want["skipped"])
