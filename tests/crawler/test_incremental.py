"""Incremental re-crawls: conditional requests, archived articles skipped, sitemap lastmod,
listing walks that stop, revisit_days, and --full."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from crawler.incremental import _w3c_datetime
from crawler.sources import Source
from newsarchive.localsite import serve
from storage import open_archive
from tests.helpers import FAST, run_cli, write_sources

ARTICLES = {"a1": "2020-01-10T09:00:00+01:00", "a2": "2020-02-10T09:00:00+01:00", "a3": None}  # a3: recent
SLUGS = {"a1": "/news/a1-irkoutsk", "a2": "/news/a2-lyon", "a3": "/news/a3-kazan"}
DISCOVERY = ("/sitemap.xml", "/rss", "/news")


def _article(key: str, published: str) -> str:
    body = "".join(f"<p>{key.upper()} paragraphe {i} : les échanges entre la Russie et la France progressent, "
                   f"selon la chambre de commerce, qui cite des projets à Irkoutsk, Lyon et Kazan ({i}).</p>"
                   for i in range(5))
    return (f'<html lang="fr"><head><title>Article {key}</title>'
            f'<meta property="article:published_time" content="{published}"></head>'
            f"<body><article><h1>Article {key}</h1>{body}</article></body></html>")


def _sitemap(lastmods: dict[str, str]) -> str:
    urls = "".join(f"<url><loc>BASE{SLUGS[k]}</loc><lastmod>{lastmods[k]}</lastmod></url>" for k in SLUGS)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def _make_site(root: Path) -> None:
    recent = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat(timespec="seconds")
    (root / "news").mkdir(parents=True)
    for key, slug in SLUGS.items():
        (root / f"{slug.lstrip('/')}.html").write_text(_article(key, ARTICLES[key] or recent), encoding="utf-8")
    (root / "news.html").write_text(f'<html><body><a href="{SLUGS["a1"]}">1</a> <a href="{SLUGS["a2"]}">2</a>'
                                    f' <a href="/news?page=2">suite</a></body></html>', encoding="utf-8")
    (root / "news@page=2.html").write_text(f'<html><body><a href="{SLUGS["a3"]}">3</a></body></html>',
                                           encoding="utf-8")
    (root / "rss.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                                  f'<item><link>BASE{SLUGS["a1"]}</link></item></channel></rss>', encoding="utf-8")
    (root / "sitemap.xml").write_text(_sitemap({k: "2020-03-01" for k in SLUGS}), encoding="utf-8")
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    (root / "_site.toml").write_text('origins = ["http://BASE"]\n', encoding="utf-8")
    for path in ("rss.xml", "sitemap.xml"):  # absolute links go through the server's origin rewriting
        text = (root / path).read_text(encoding="utf-8").replace("BASE", "http://BASE")
        (root / path).write_text(text, encoding="utf-8")


def _source(base: str, **kw) -> Source:
    return Source(key="inc", name="incremental test site", language="fr", start_urls=(f"{base}/news",),
                  feeds=(f"{base}/rss",), sitemaps=(f"{base}/sitemap.xml",), article_urls=(r"/news/a\d-[\w-]+$",),
                  follow_urls=(r"/news\?page=\d+$",), download_delay=0.0, concurrency=8, **kw)


@pytest.mark.slow
def test_recrawl_is_conditional_skips_archived_articles_and_full_refetches(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _make_site(site)
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with serve(site) as server:
        plain = str(write_sources(tmp_path / "s.toml", _source(server.base_url)))
        revisit = str(write_sources(tmp_path / "r.toml", _source(server.base_url, revisit_days=30)))

        def crawl(sources: str, *extra: str) -> list[tuple[str, dict[str, str]]]:
            before = len(server.requests)
            result = run_cli("crawl", "inc", "--sources", sources, "--db", db, *FAST, *extra)
            assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
            return server.requests[before:]

        first = crawl(plain)
        second = crawl(plain)
        # the site changes: a2's sitemap lastmod moves past its last fetch; the listing page
        # changes without linking anything new
        lastmods = {k: "2020-03-01" for k in SLUGS} | {"a2": datetime.now(timezone.utc).isoformat()}
        (site / "sitemap.xml").write_text(_sitemap(lastmods).replace("BASE", "http://BASE"), encoding="utf-8")
        (site / "news.html").write_text((site / "news.html").read_text() + "<!-- edited -->", encoding="utf-8")
        third = crawl(plain)
        full = crawl(plain, "--full")
        revisited = crawl(revisit)

    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        runs = list(reversed(repo.list_runs("inc")))
        validators = repo.page_validators("inc")

    def articles(requests):
        return sorted(path for path, _ in requests if path in SLUGS.values())

    def conditional(requests, path):
        return [h for p, h in requests if p == path and ("If-None-Match" in h or "If-Modified-Since" in h)]

    assert [r.status for r in runs] == ["finished"] * 5
    assert runs[0].articles_new == 3 and articles(first) == sorted(SLUGS.values())
    assert not any(conditional(first, p) for p in DISCOVERY)  # nothing stored yet to be conditional on
    assert set(validators) >= {f"{server.base_url}{p}" for p in DISCOVERY}

    # routine re-crawl: every discovery page asked conditionally, answered 304, no error,
    # no archived article fetched, and the listing walk stops at page 1
    assert all(conditional(second, p) for p in DISCOVERY)
    assert articles(second) == []
    assert "/news?page=2" not in [p for p, _ in second]
    assert runs[1].errors == 0 and runs[1].articles_new == runs[1].articles_unchanged == 0
    assert runs[1].stats["newsarchive/not_modified"] == 3
    # the extraction workers start with the first article request: a re-crawl that asks for
    # none never starts them (a second of CPU for the forkserver's preload)
    assert runs[0].stats["newsarchive/extract_pool_starts"] == 1
    assert "newsarchive/extract_pool_starts" not in runs[1].stats
    # ... nor reads the archive's articles: it asks about the URLs it meets, and met none
    assert "newsarchive/archive_lookups" not in runs[1].stats
    assert runs[0].stats["newsarchive/archive_lookups"] >= 1

    # a newer sitemap lastmod brings a2 back; the changed listing links nothing new: no page 2
    assert articles(third) == [SLUGS["a2"]]
    assert "/news?page=2" not in [p for p, _ in third]
    assert runs[2].articles_unchanged == 1 and runs[2].stats["newsarchive/listing_stopped"] >= 1

    # --full: no conditional request, every article and listing page fetched again
    assert not any(conditional(full, p) for p in DISCOVERY)
    assert articles(full) == sorted(SLUGS.values()) and "/news?page=2" in [p for p, _ in full]
    assert runs[3].articles_unchanged == 3 and runs[3].articles_new == 0

    # revisit_days = 30: the recent article (a3) is fetched again even though every
    # discovery page answers 304; the 2020 ones are not
    assert articles(revisited) == [SLUGS["a3"]]
    assert all(conditional(revisited, p) for p in DISCOVERY)


def test_sitemap_lastmod_parsing() -> None:
    assert _w3c_datetime("2024-06-25T08:21:00+03:00") == datetime(2024, 6, 25, 5, 21, tzinfo=timezone.utc)
    assert _w3c_datetime("2024-06-25") == datetime(2024, 6, 25, tzinfo=timezone.utc)
    assert _w3c_datetime("2024-06-25T08:21:00Z") == datetime(2024, 6, 25, 8, 21, tzinfo=timezone.utc)
    assert _w3c_datetime("yesterday") is None and _w3c_datetime(None) is None
