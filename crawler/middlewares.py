"""Scrapy middlewares: canonical request URLs, and retries that back off."""
from __future__ import annotations

import asyncio
import logging

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import HtmlResponse, TextResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from crawler.urls import normalize_url

logger = logging.getLogger(__name__)


class CanonicalRequestMiddleware(BaseSpiderMiddleware):
    """Rewrite every request the spider makes to its canonical URL (tracking parameters
    and fragments removed, path NFC and percent-encoded), so Scrapy's duplicate filter
    sees one URL per page whatever link led to it."""

    def get_processed_request(self, request: Request, response) -> Request | None:
        url = normalize_url(request.url)
        if url != request.url:
            request = request.replace(url=url)
        return request


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware (timeouts, connection errors, RETRY_HTTP_CODES), waiting
    ``NEWSARCHIVE_RETRY_BACKOFF * 2**(n-1)`` seconds before the n-th retry instead of
    retrying at once, so a struggling site gets room to recover."""

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff = settings.getfloat("NEWSARCHIVE_RETRY_BACKOFF", 2.0)

    async def process_response(self, request, response):
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await self._wait(result)
        return result

    async def process_exception(self, request, exception):
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._wait(result)
        return result

    async def _wait(self, retry: Request) -> None:
        attempt = retry.meta.get("retry_times", 1)
        delay = self.backoff * 2 ** (attempt - 1)
        if delay > 0:
            logger.debug("retry %d of %s in %.1f s", attempt, retry.url, delay)
            await asyncio.sleep(delay)


# Scrapy reads a page's <base> and <meta http-equiv="refresh"> from its first 4,096 characters,
# but decodes the whole body to cut them out (0.1-0.2 ms for a 90 KB page, and a decoded copy
# kept with the response). 16 KiB of bytes hold 4,096 characters in any encoding.
HEAD_BYTES = 16 * 1024


def head_text(response: TextResponse) -> str:
    """The first 4,096 characters of the page, decoded from its first bytes only."""
    return response.body[:HEAD_BYTES].decode(response.encoding, errors="replace").lstrip("\ufeff")[:4096]


def ascii_compatible(response: TextResponse) -> bool:
    """Whether the page's encoding writes ASCII as single bytes (not UTF-16/32, whose text
    holds NUL bytes and whose "refresh" is not the ASCII bytes)."""
    return not response.encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware (it replaces it, same settings), which skips pages whose
    head holds no "refresh" at all: most pages, and Scrapy would decode each one to find out."""

    def process_response(self, request: Request, response, spider=None):
        if isinstance(response, HtmlResponse):
            head = response.body[:HEAD_BYTES]
            # No NUL byte: an ASCII-compatible encoding (UTF-16/32 text of ASCII characters is
            # full of them), decided without working out the response's encoding, which Scrapy
            # would otherwise do here for every page (the extraction decodes article pages itself).
            if b"\x00" not in head and b"refresh" not in head.lower():
                return response
        return super().process_response(request, response)
