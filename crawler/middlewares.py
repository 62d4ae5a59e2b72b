"""Scrapy middlewares: canonical request URLs, and retries that back off."""
from __future__ import annotations

import asyncio
import logging

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
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
