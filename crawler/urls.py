"""URL normalisation: one article is one URL, whatever link led to it."""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urldefrag, urljoin, urlsplit, urlunsplit

from lxml import etree
from w3lib.url import canonicalize_url, safe_url_string

if TYPE_CHECKING:
    from crawler.sources import Source

logger = logging.getLogger(__name__)

# Query parameters that identify a campaign or a click, never a page.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|ysclid|mc_cid|mc_eid|_ga|_gl|"
    r"igshid|spm|from|ref|ref_src|rss|xtor|at_medium|at_campaign|at_source|cmp|chat_room_id|"
    r"_openstat|fromrss)$",
    re.I,
)


def normalize_url(url: str) -> str:
    """Canonical form of ``url`` (see ``_normalize_url``), remembered: a crawl normalises each
    article URL several times (sitemap entry, request, canonical-request middleware) and the
    same menu links on every page. The canonical form is its own canonical form."""
    canonical = _NORMALIZED.get(url)
    if canonical is None:
        if len(_NORMALIZED) >= NORMALIZED_CACHE_SIZE:
            _NORMALIZED.clear()
        canonical = _normalize_url(url)
        _NORMALIZED[url] = _NORMALIZED[canonical] = canonical
    return canonical


NORMALIZED_CACHE_SIZE = 20_000  # entries; cleared when full (a few MB at most)
_NORMALIZED: dict[str, str] = {}


def _normalize_url(url: str) -> str:
    """Canonical form of ``url``: NFC path, percent-encoded, tracking parameters and the
    fragment removed, query parameters sorted, host lowercased.

    ``/%C3%A9ducation/x`` and ``/éducation/x?utm_source=rss#top`` both become
    ``/%C3%A9ducation/x``.
    """
    parts = urlsplit(url.strip())
    path = unicodedata.normalize("NFC", unquote(parts.path)) or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    netloc = (parts.hostname or "").lower()
    if parts.port and not ((parts.scheme == "http" and parts.port == 80) or (parts.scheme == "https" and parts.port == 443)):
        netloc += f":{parts.port}"
    rebuilt = urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))
    return canonicalize_url(safe_url_string(rebuilt), keep_fragments=False)


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same host (a canonical link may not point off-site)."""
    return (urlsplit(a).hostname or "").lower() == (urlsplit(b).hostname or "").lower()


_HREFS = etree.XPath("//a/@href | //area/@href", smart_strings=False)
_BASE = etree.XPath("//base/@href", smart_strings=False)


def page_hrefs(tree: etree._Element) -> list[str]:
    """The href of every <a> and <area> of a parsed page, in document order."""
    return _HREFS(tree)


def page_base(tree: etree._Element, url: str) -> str:
    """The URL the page's relative links resolve against: its <base href>, else its own URL
    (also when the <base href> is no URL, as in a browser)."""
    for href in _BASE(tree)[:1]:
        if href.strip():
            try:
                return urljoin(url, safe_url_string(href.strip()))
            except ValueError:  # e.g. http://[not-an-ip]/: "does not appear to be an IPv4 or IPv6 address"
                return url
    return url


LINK_CACHE_SIZE = 50_000  # hrefs remembered per classifier (see LinkClassifier)
_MISSING = object()
Link = tuple[str, str, str]  # (kind: "article" | "follow", absolute URL, canonical URL)


class LinkClassifier:
    """The links of a page that matter to one source: (kind, absolute URL, canonical URL) for
    links to its articles ("article") and to its listings ("follow"), without fragments, once
    each. Used by the spider on the pages it reads itself and by the extraction workers on
    article pages (they have the page parsed already).

    What Scrapy's LinkExtractor gives for this use, at a fraction of its cost on 90 KB pages:
    news pages repeat the same menus, so what a root-relative or absolute href resolves to is
    remembered (bounded) instead of being joined, matched and normalised again on every page."""

    def __init__(self, source: "Source"):
        self.source = source
        self._cache: dict[tuple[str, str], Link | None] = {}

    def classify(self, hrefs: Iterable[str], base: str) -> list[Link]:
        out: dict[str, Link] = {}
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        cache = self._cache
        if len(cache) > LINK_CACHE_SIZE:
            cache.clear()
        for href in dict.fromkeys(hrefs):
            key = (origin, href) if href.startswith(("/", "http:", "https:")) else None
            link = cache.get(key, _MISSING) if key else _MISSING
            if link is _MISSING:
                try:
                    link = self._classify(urljoin(base, href.strip()))
                except ValueError:  # e.g. http://[ccpa-preferences] ("Invalid IPv6 URL"): this href only
                    link = None
                if key:
                    cache[key] = link
            if link is not None and link[1] not in out:
                out[link[1]] = link
        return list(out.values())

    def _classify(self, url: str) -> Link | None:
        url = urldefrag(url).url
        if not url.startswith(("http://", "https://")):
            return None  # javascript:, mailto:, tel:, data:, a bare fragment
        if self.source.is_article_url(url):
            return ("article", url, normalize_url(url))
        if self.source.is_follow_url(url):
            return ("follow", url, normalize_url(url))
        return None
