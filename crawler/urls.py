"""URL normalisation: one article is one URL, whatever link led to it."""
from __future__ import annotations

import logging
import re
import unicodedata
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

logger = logging.getLogger(__name__)

# Query parameters that identify a campaign or a click, never a page.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|ysclid|mc_cid|mc_eid|_ga|_gl|"
    r"igshid|spm|from|ref|ref_src|rss|xtor|at_medium|at_campaign|at_source|cmp|chat_room_id|"
    r"_openstat|fromrss)$",
    re.I,
)


def normalize_url(url: str) -> str:
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
