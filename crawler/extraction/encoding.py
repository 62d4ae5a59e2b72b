"""Turning fetched bytes into text: the declared charset first, then evidence from the bytes."""
from __future__ import annotations

import logging
import re

from w3lib.encoding import html_body_declared_encoding, html_to_unicode, http_content_type_encoding

logger = logging.getLogger(__name__)

_FALLBACKS = ("utf-8", "windows-1251", "windows-1252")
_TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]*>", re.S | re.I)


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode an HTML page; returns (text, encoding).

    The charset comes from the HTTP header, then ``<meta>``, then the bytes (w3lib's
    rules, as in a browser). When the declared charset is wrong (bytes that are not
    valid in it, typically windows-1251 served as UTF-8), the page is decoded with the
    first fallback that fits, preferring windows-1251 for text that reads as Cyrillic.
    """
    declared = http_content_type_encoding(content_type) if content_type else None
    declared = declared or html_body_declared_encoding(body)
    encoding, text = html_to_unicode(content_type, body)
    if declared and "\ufffd" in text and _valid(body, encoding) is False:
        for candidate in _FALLBACKS:
            if _valid(body, candidate):
                if candidate == "windows-1252" and _valid(body, "windows-1251"):
                    candidate = _cyrillic_or_latin(body)
                logger.info("declared charset %s does not fit the bytes; decoding as %s", declared, candidate)
                return body.decode(candidate), candidate
    return text, encoding


def _valid(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _cyrillic_or_latin(body: bytes) -> str:
    text = _TAGS.sub(" ", body.decode("windows-1251"))
    letters = [c for c in text if c.isalpha()]
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    return "windows-1251" if letters and cyrillic / len(letters) > 0.3 else "windows-1252"
