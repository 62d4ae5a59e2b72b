"""Our Scrapy middlewares: meta refresh read from the page's head, base URL from its head."""
from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.middlewares import HeadMetaRefreshMiddleware, head_text

REFRESH = '<html><head><meta http-equiv="Refresh" content="0; url=/nouvelle-adresse"></head><body>{}</body></html>'
PLAIN = "<html><head><title>Экономика</title></head><body>{}</body></html>"


def _middleware() -> HeadMetaRefreshMiddleware:
    return HeadMetaRefreshMiddleware.from_crawler(get_crawler(settings_dict={}))


def _response(html: str, encoding: str = "utf-8") -> HtmlResponse:
    return HtmlResponse("https://example.org/page", body=html.encode(encoding),
                        headers={"Content-Type": f"text/html; charset={encoding}"})


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251", "utf-16", "utf-32"])
def test_a_meta_refresh_is_still_followed(encoding: str) -> None:
    request = Request("https://example.org/page")
    result = _middleware().process_response(request, _response(REFRESH.format("x" * 100_000), encoding))
    assert isinstance(result, Request) and result.url == "https://example.org/nouvelle-adresse"


def test_a_page_without_refresh_is_not_decoded() -> None:
    response = _response(PLAIN.format("é" * 100_000))
    assert _middleware().process_response(Request(response.url), response) is response
    assert response._cached_ubody is None  # Scrapy's middleware would have decoded all 200 KB


def test_head_text_is_the_first_4096_characters() -> None:
    for encoding in ("utf-8", "windows-1251", "utf-16"):
        response = _response(PLAIN.format("Сибирь " * 2000), encoding)
        assert head_text(response) == response.text[:4096]


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251", "utf-16", "utf-32"])
def test_links_are_read_from_the_bytes_in_any_encoding(encoding: str) -> None:
    """The spider parses a page's bytes in its encoding; NUL bytes are dropped only where they
    cannot be part of the text (not in UTF-16/32)."""
    from crawler.spiders.news import _parse_html
    from crawler.urls import page_hrefs

    response = _response("<html><body><a href='/Сибирь'>x</a>\x00<a href='/b'>y</a></body></html>", encoding)
    assert page_hrefs(_parse_html(response)) == ["/Сибирь", "/b"]
