"""Article pages' links are read by the extraction (from the parse it makes anyway) and handed
back to the spider: the same links the spider would read, followed the same way."""
from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from crawler.extraction.article import extract_page
from crawler.pool import links_of
from crawler.sources import Source, default_sources
from crawler.spiders.news import response_links
from crawler.urls import LinkClassifier
from storage import open_archive
from storage.records import SearchFilters
from tests.helpers import DEMO_SITE, FAST, SITES, path_of, run_cli, write_sources
from newsarchive.localsite import serve


def _pages() -> list[Path]:
    return sorted(p for root in (SITES, DEMO_SITE) for p in root.rglob("*.htm*"))


def test_the_extraction_reads_the_links_the_spider_would() -> None:
    """On every fixture page (all replicas and the demo site), the links read from the
    extraction's tree equal those the spider reads from the response."""
    sources = default_sources()
    compared = 0
    for path in _pages():
        key = path.relative_to(SITES).parts[0] if path.is_relative_to(SITES) else "rbth_fr"
        source = sources.get(key) or sources["rbth_fr"]
        url = "https://example.org/" + path.name
        body = path.read_bytes()
        response = HtmlResponse(url, body=body, headers={"Content-Type": "text/html"})
        _, tree = extract_page(body, url, source, content_type="text/html")
        if tree is None:
            continue
        ours = links_of(tree, url, source)
        assert ours is not None
        assert sorted(ours) == sorted(response_links(response, LinkClassifier(source))), path
        compared += 1
    assert compared > 50


def test_base_href_and_relative_links() -> None:
    """Relative hrefs resolve against <base href>; fragments go, each page is listed once,
    and links that are neither articles nor listings (mailto:, other pages) are left out."""
    source = Source(key="t", name="t", language="fr", start_urls=("https://example.org/news",),
                    article_urls=(r"/news/a\d-[\w-]+$",), follow_urls=(r"/news/\?page=\d+$",))
    html = (b'<html><head><base href="/news/"></head><body><a href="a1-lyon#top">1</a>'
            b'<a href="/news/a1-lyon">again</a><a href="?page=2">next</a><a href="mailto:x@y">m</a>'
            b'<a href="/about">about</a></body></html>')
    _, tree = extract_page(html, "https://example.org/other/page", source)
    assert links_of(tree, "https://example.org/other/page", source) == [
        ("article", "https://example.org/news/a1-lyon", "https://example.org/news/a1-lyon"),
        ("follow", "https://example.org/news/?page=2", "https://example.org/news/?page=2"),
    ]
    assert links_of(None, "https://example.org/x", source) is None  # unparseable: the spider reads it


def _article(key: str, links: str, paragraphs: int = 5) -> str:
    body = "".join(f"<p>{key.upper()} paragraphe {i} : les échanges entre la Russie et la France progressent, "
                   f"selon la chambre de commerce, qui cite des projets à Irkoutsk, Lyon et Kazan ({i}).</p>"
                   for i in range(paragraphs))
    return (f'<html lang="fr"><head><title>Article {key}</title></head>'
            f"<body><article><h1>Article {key}</h1>{body}</article><aside>{links}</aside></body></html>")


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["2", "0"])
def test_articles_reachable_only_from_article_pages_are_found(tmp_path: Path, workers: str) -> None:
    """The listing links a1 only; a1 links a2, a2 links a3 and a page too short to be an
    article (a4), which links a5. Every article is found, whether the links come back from the
    extraction workers or from an extraction in the crawl process, and a rejected page's links
    are followed too."""
    site = tmp_path / "site"
    (site / "news").mkdir(parents=True)
    pages = {
        "a1-lyon": _article("a1", '<a href="/news/a2-kazan">a2</a>'),
        "a2-kazan": _article("a2", '<a href="a3-omsk#comments">a3</a> <a href="/news/a4-court">a4</a>'),
        "a3-omsk": _article("a3", '<a href="/news/a1-lyon">a1</a>'),
        "a4-court": _article("a4", '<a href="/news/a5-tomsk">a5</a>', paragraphs=0),
        "a5-tomsk": _article("a5", ""),
    }
    for slug, html in pages.items():
        (site / "news" / f"{slug}.html").write_text(html, encoding="utf-8")
    (site / "news.html").write_text('<html><body><a href="/news/a1-lyon">1</a></body></html>', encoding="utf-8")
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with serve(site) as server:
        source = Source(key="links", name="links test site", language="fr", start_urls=(f"{server.base_url}/news",),
                        article_urls=(r"/news/a\d-[\w-]+$",), download_delay=0.0, concurrency=4)
        sources_file = str(write_sources(tmp_path / "s.toml", source))
        result = run_cli("crawl", "links", "--sources", sources_file, "--db", db, *FAST,
                         "-s", f"NEWSARCHIVE_EXTRACT_WORKERS={workers}")
    assert result.returncode == 0, result.stdout + result.stderr
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        archived = sorted(path_of(a.url) for a in repo.iter_articles(SearchFilters(sources=("links",))))
        stats = repo.list_runs("links")[0].stats
    assert archived == ["/news/a1-lyon", "/news/a2-kazan", "/news/a3-omsk", "/news/a5-tomsk"]
    assert stats["newsarchive/article_pages"] == 5
    assert stats["newsarchive/links_from_extraction"] == 5  # no article page was parsed twice
    assert stats.get("dupefilter/filtered", 0) == 0


def test_an_href_that_is_no_url_is_left_out_alone() -> None:
    """An href urljoin cannot read (http://[ccpa-preferences]: "Invalid IPv6 URL") is skipped;
    the page's other links are still read (links_of used to give None for the whole page)."""
    source = Source(key="t", name="t", language="fr", start_urls=("https://example.org/news",),
                    article_urls=(r"/news/a\d-[\w-]+$",), follow_urls=(r"/news/\?page=\d+$",))
    html = (b'<html><body><a href="http://[ccpa-preferences]">privacy</a><a href="/news/a1-lyon">1</a>'
            b'<a href="https://[::1">broken</a><a href="?page=2">next</a></body></html>')
    url = "https://example.org/news/"
    _, tree = extract_page(html, url, source)
    expected = [
        ("article", "https://example.org/news/a1-lyon", "https://example.org/news/a1-lyon"),
        ("follow", "https://example.org/news/?page=2", "https://example.org/news/?page=2"),
    ]
    assert links_of(tree, url, source) == expected
    classifier = LinkClassifier(source)
    hrefs = ["http://[ccpa-preferences]", "/news/a1-lyon", "https://[::1", "?page=2"]
    assert classifier.classify(hrefs, url) == expected
    assert classifier.classify(hrefs, url) == expected  # again, from its cache


def test_a_base_href_that_is_no_url_leaves_the_page_url_as_base() -> None:
    """A <base href> urljoin cannot read: links resolve against the page's own URL, as in a
    browser, in the worker (links_of used to give None for the whole page) and in the spider
    (whose callback raised)."""
    source = Source(key="t", name="t", language="fr", start_urls=("https://example.org/news/",),
                    article_urls=(r"/news/a\d-[\w-]+$",), follow_urls=(r"/news/\?page=\d+$",))
    html = (b'<html><head><base href="http://[ccpa-preferences]/x/"></head><body>'
            b'<a href="a1-lyon">1</a><a href="?page=2">next</a></body></html>')
    url = "https://example.org/news/"
    expected = [
        ("article", "https://example.org/news/a1-lyon", "https://example.org/news/a1-lyon"),
        ("follow", "https://example.org/news/?page=2", "https://example.org/news/?page=2"),
    ]
    _, tree = extract_page(html, url, source)
    assert links_of(tree, url, source) == expected
    response = HtmlResponse(url, body=html, encoding="utf-8")
    assert response_links(response, LinkClassifier(source)) == expected
