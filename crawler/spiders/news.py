"""The one generic spider: discovers a source's article pages and yields them, nothing more.

    scrapy crawl news -a source=rbth_fr [-a sources_file=my.toml]

Discovery uses the source's sitemaps (Scrapy's SitemapSpider machinery: indexes,
news sitemaps, gzip), feeds (RSS and Atom) and listing pages (with the pages their
``follow_urls`` patterns name, such as pagination). Pages whose URL matches
``article_urls`` become items; extraction, filtering and storage are the pipelines' job.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from itertools import islice
from typing import Any, AsyncIterator, Iterable

from lxml import etree
from scrapy import Request, Selector, signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.spiders import SitemapSpider
from w3lib.html import get_base_url
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from crawler.context import CrawlContext
from crawler.incremental import KIND, ORIGIN, IncrementalState
from crawler.items import PageItem
from crawler.sources import Source, load_registry
from crawler.middlewares import ascii_compatible, head_text
from crawler.urls import Link, LinkClassifier, normalize_url, page_hrefs

logger = logging.getLogger(__name__)

SITEMAP_CHUNK = 500  # sitemap entries looked up in the archive together



class _ArticlePattern:
    """Duck-typed regex for SitemapSpider's rules: matches the source's article URLs."""

    def __init__(self, source: Source):
        self.source = source

    def search(self, url: str) -> bool:
        return self.source.is_article_url(url)


class NewsSpider(SitemapSpider):
    name = "news"

    def __init__(self, source: Source, *args: Any, **kwargs: Any):
        self.source = source
        self.allowed_domains = list(source.domains)
        self.sitemap_urls = list(source.sitemaps)
        self.sitemap_rules = [(_ArticlePattern(source), "parse_article")]
        self.sitemap_follow = [""]
        super().__init__(*args, **kwargs)
        self.entry_ok = 0
        self._classifier = LinkClassifier(source)
        self._articles_announced = False
        # Canonical URLs this spider has already asked for. News pages link the same
        # articles over and over (related blocks, most-read lists): on the bench site 93 % of
        # the links found were already requested. Scrapy's duplicate filter would drop them
        # too, but only after each went through Request(), every spider middleware and the
        # scheduler: a third of the crawl process's time. Never yielding them is the same
        # crawl at a fraction of the cost; the duplicate filter still guards everything else.
        self._requested: set[str] = set()
        self.entry_failed = 0

    @classmethod
    def from_crawler(cls, crawler, *args: Any, source: Source | str | None = None,
                     sources_file: str | None = None, **kwargs: Any):
        if source is None:
            raise ValueError("the news spider needs a source: scrapy crawl news -a source=KEY")
        if isinstance(source, str):
            registry = load_registry(sources_file or crawler.settings.get("NEWSARCHIVE_SOURCES"))
            source = registry.get(source)
        _apply_source_settings(crawler, source)
        ctx = CrawlContext.of(crawler)
        ctx.source = source
        spider = super().from_crawler(crawler, source, *args, **kwargs)
        # an article page whose item is dropped (or fails) before the extraction read its
        # links: the spider reads them itself
        crawler.signals.connect(spider._item_gone, signal=signals.item_dropped)
        crawler.signals.connect(spider._item_gone, signal=signals.item_error)
        return spider

    # -- discovery ------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        if CrawlContext.of(self.crawler).skipped:  # another process is crawling this source
            return
        for url in self.source.sitemaps:
            yield Request(url, self.parse_sitemap, errback=self.on_error, meta={"entry": "sitemap", KIND: "sitemap"})
        for url in self.source.feeds:
            yield Request(url, self.parse_feed, errback=self.on_error, meta={"entry": "feed", KIND: "feed"})
        for url in self.source.start_urls:
            self._requested.add(normalize_url(url))
            yield Request(url, self.parse_listing, errback=self.on_error, meta={"entry": "listing", KIND: "listing"})
        for url in self.incremental.due_for_revisit():
            self._requested.add(url)
            self.crawler.stats.inc_value("newsarchive/revisited")
            self._article_coming()
            yield Request(url, self.parse_article, errback=self.on_error)

    def parse_sitemap(self, response: Response) -> Iterable[Request]:
        self._entry_reached(response)
        if response.status == 304:  # unchanged since the last complete crawl; its children may not be
            if response.meta.get("entry"):
                for url in self.incremental.known_sitemaps(set(self.source.entry_urls)):
                    yield Request(url, self.parse_sitemap, errback=self.on_error, meta={KIND: "sitemap"})
            return
        if self._get_sitemap_body(response) is None:
            self._error(f"not a sitemap: {response.url}")
            return
        if not _well_formed(response.body):
            self._error(f"malformed sitemap (read what could be recovered): {response.url}")
        for request in self._parse_sitemap(response):
            if request.callback == self._parse_sitemap:
                yield request.replace(callback=self.parse_sitemap, errback=self.on_error, meta={KIND: "sitemap"})
            elif self._first_request(normalize_url(request.url)):
                self._article_coming()
                # set on the request SitemapSpider just made rather than replace()d: a copy would
                # process its URL again, for each of the sitemap's articles
                request.errback = self.on_error
                request.meta[ORIGIN] = response.url
                yield request

    def sitemap_filter(self, entries):
        """Leave out archived articles, unless their ``lastmod`` is newer than their last fetch."""
        if getattr(entries, "type", None) == "sitemapindex":
            yield from entries
            return
        state = self.incremental
        entries = iter(entries)
        while chunk := list(islice(entries, SITEMAP_CHUNK)):
            articles = [(entry, normalize_url(entry.get("loc", ""))) if self.source.is_article_url(entry.get("loc", ""))
                        else (entry, None) for entry in chunk]
            state.prefetch(canonical for _, canonical in articles if canonical)  # one archive lookup per chunk
            for entry, canonical in articles:
                if canonical is None or state.wants_article(canonical, entry.get("lastmod")):
                    yield entry

    def parse_feed(self, response: Response) -> Iterable[Request]:
        self._entry_reached(response)
        if response.status == 304:  # unchanged since the last complete crawl
            return
        if not isinstance(response, TextResponse):
            self._error(f"not a feed: {response.url}")
            return
        if not _well_formed(response.body):
            self._error(f"malformed feed (read what could be recovered): {response.url}")
        selector = response.selector
        root = selector.root.tag if hasattr(selector.root, "tag") else ""
        if not isinstance(root, str) or root.split("}")[-1] not in ("rss", "feed", "RDF"):
            self._error(f"not an RSS or Atom feed: {response.url}")
            return
        selector.remove_namespaces()
        links = selector.xpath(
            "//item/link/text() | //entry/link[not(@rel) or @rel='alternate']/@href"
            " | //item/guid[not(@isPermaLink='false')][starts-with(normalize-space(.), 'http')]/text()"
        ).getall()
        found = [(url, normalize_url(url)) for url in (response.urljoin(link) for link in
                 dict.fromkeys(link.strip() for link in links if link.strip())) if self.source.is_article_url(url)]
        self.incremental.prefetch(canonical for _, canonical in found)
        for url, canonical in found:
            if self._wants_article(canonical):
                yield Request(url, self.parse_article, errback=self.on_error, meta={ORIGIN: response.url})

    def parse_listing(self, response: Response) -> Iterable[Request]:
        self._entry_reached(response)
        if response.status == 304:  # unchanged since the last complete crawl: nothing new behind it
            return
        yield from self._follow_links(response)

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        self.crawler.stats.inc_value("newsarchive/article_pages")
        headers = {k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()}
        item = PageItem(
            source=self.source.key,
            url=response.url,
            status=response.status,
            headers=headers,
            body=response.body,
            fetched_at=datetime.now(timezone.utc),
            content_type=headers.get("Content-Type"),
            extra={"origin": response.meta.get(ORIGIN)},
        )
        # The extraction parses the page anyway: when a pipeline does (ExtractPipeline), it reads
        # the page's links from that parse and hands them back here; parsing a 90 KB page again
        # in this process was a fifth of its time. Scrapy keeps processing the item while this
        # callback waits for them.
        handoff = CrawlContext.of(self.crawler).expect_links(item)
        yield item
        links = await handoff if handoff is not None else None
        if links is not None:
            self.crawler.stats.inc_value("newsarchive/links_from_extraction")
        for request in self._follow_links(response, links):
            yield request

    def _item_gone(self, item: Any, **kwargs: Any) -> None:
        CrawlContext.of(self.crawler).links_read(item, None)

    def _follow_links(self, response: Response, links: list[Link] | None = None) -> Iterable[Request]:
        """Article links, then listing links (pagination, tags) unless the page links only
        articles the archive already holds: a re-crawl stops walking a listing there.
        ``links``: the page's links as the extraction read them (None: read them here)."""
        if not isinstance(response, TextResponse):
            return
        if links is None:
            links = self._links(response)
        state = self.incremental
        articles = [(url, canonical) for kind, url, canonical in links if kind == "article"]
        state.prefetch(canonical for _, canonical in articles)  # queries only what it has not looked up yet
        brings_new = not articles or state.full
        for url, canonical in articles:
            brings_new = brings_new or state.is_new(canonical)
            if self._wants_article(canonical):
                yield Request(url, self.parse_article, errback=self.on_error, meta={ORIGIN: response.url})
        if not brings_new:
            self.crawler.stats.inc_value("newsarchive/listing_stopped")
            return
        for kind, url, canonical in links:
            if kind == "follow" and self._first_request(canonical):
                yield Request(url, self.parse_listing, errback=self.on_error, meta={KIND: "listing"})

    def _wants_article(self, canonical: str) -> bool:
        """Whether to ask for this article page now: not asked for yet in this crawl and
        wanted by the incremental rules (which count what they skip); remembered if so."""
        if canonical in self._requested or not self.incremental.wants_article(canonical):
            return False
        self._requested.add(canonical)
        self._article_coming()
        return True

    def _article_coming(self) -> None:
        """The first article request of the crawl: components that need time to get ready for
        articles (the extraction workers) start now, while the page downloads."""
        if not self._articles_announced:
            self._articles_announced = True
            CrawlContext.of(self.crawler).articles_coming()

    def _first_request(self, canonical: str) -> bool:
        """True the first time the spider asks for ``canonical`` in this crawl."""
        if canonical in self._requested:
            return False
        self._requested.add(canonical)
        return True

    def _links(self, response: TextResponse) -> list[Link]:
        return response_links(response, self._classifier)

    @property
    def incremental(self) -> IncrementalState:
        return IncrementalState.of(self.crawler)

    # -- errors ---------------------------------------------------------
    def on_error(self, failure) -> None:
        request = failure.request
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            self.crawler.stats.inc_value("newsarchive/ignored")  # robots.txt, offsite, max size
            logger.info("not fetched (%s): %s", failure.getErrorMessage(), request.url)
            return
        if failure.check(HttpError):
            status = failure.value.response.status
            self._error(f"HTTP {status} for {request.url}")
        elif failure.check(DNSLookupError):
            self._error(f"DNS lookup failed for {request.url}")
        elif failure.check(TimeoutError, TCPTimedOutError):
            self._error(f"timed out: {request.url}")
        else:
            self._error(f"{failure.type.__name__}: {failure.getErrorMessage()} ({request.url})")
        self.incremental.article_failed(request.meta.get(ORIGIN))  # read the page that listed it again next time
        if request.meta.get("entry"):
            self.entry_failed += 1
            self._check_entries()

    def _entry_reached(self, response: Response) -> None:
        if response.meta.get("entry"):
            self.entry_ok += 1

    def _check_entries(self) -> None:
        total = len(self.source.entry_urls)
        if self.entry_failed == total and self.entry_ok == 0:
            CrawlContext.of(self.crawler).fail(
                f"no entry page of {self.source.key} could be fetched ({total} tried): site unreachable?")

    def _error(self, message: str) -> None:
        CrawlContext.of(self.crawler).record_error(message)


def response_links(response: TextResponse, classifier: LinkClassifier) -> list[Link]:
    """The links of a page the spider reads itself (listings; article pages when no extraction
    pipeline reads them for it): ``LinkClassifier`` over its <a>/<area> hrefs."""
    try:
        base = get_base_url(head_text(response), response.url, response.encoding)
    except ValueError:  # a <base href> that is no URL: the page's own URL, as in a browser (and page_base)
        base = response.url
    return classifier.classify(page_hrefs(_parse_html(response)), base)


def _parse_html(response: TextResponse) -> etree._Element:
    """The page's tree, parsed from its bytes in its encoding. Not ``response.selector``: that
    one decodes the body to text and encodes it back for lxml (40 % of the parse's cost on a
    90 KB page), and would keep the tree alive with the response until the pipelines are
    done with its item."""
    body = response.body
    if b"\x00" in body and ascii_compatible(response):
        body = body.replace(b"\x00", b"")  # lxml stops at a NUL byte
    try:
        parser = _HTML_PARSERS[response.encoding]
    except KeyError:
        try:
            parser = etree.HTMLParser(recover=True, encoding=response.encoding)
        except LookupError:  # an encoding libxml2 does not know: parse the decoded text
            return Selector(response).root
        _HTML_PARSERS[response.encoding] = parser
    root = etree.fromstring(body, parser=parser) if body.strip() else None
    return root if root is not None else etree.fromstring(b"<html/>")


_HTML_PARSERS: dict[str, etree.HTMLParser] = {}


def _well_formed(body: bytes) -> bool:
    try:
        etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except etree.XMLSyntaxError:
        return False
    return True


def _apply_source_settings(crawler, source: Source) -> None:
    """Politeness and caps from the registry, applied before the crawler's settings freeze."""
    settings = crawler.settings
    if settings.frozen:
        return
    settings.set("DOWNLOAD_DELAY", source.download_delay, priority="spider")
    # AutoThrottle starts from the source's own delay (it lowers its delay only after 200 answers,
    # so a higher start would space even a re-crawl's few 304s for a source that asks for none)
    settings.set("AUTOTHROTTLE_START_DELAY", source.download_delay, priority="spider")
    settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", source.concurrency, priority="spider")
    settings.set("AUTOTHROTTLE_TARGET_CONCURRENCY", float(source.concurrency), priority="spider")
    if source.max_pages:
        settings.set("CLOSESPIDER_PAGECOUNT", source.max_pages, priority="spider")
    settings.set("CLOSESPIDER_TIMEOUT", source.time_limit, priority="spider")
