"""Extraction: clean article text and metadata from stored HTML, with no crawler involved.

Exports resolve on first use (PEP 562): ``from crawler.extraction import Article`` loads only
the light result types, so the crawl process, which unpickles results from its extraction
workers, never imports trafilatura.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .article import clean_paragraphs, extract_article, fold, matches_keywords
    from .boilerplate import boilerplate_family
    from .encoding import decode_html
    from .results import EXTRACTOR_VERSION, Article, Rejection

_EXPORTS = {
    **dict.fromkeys(["EXTRACTOR_VERSION", "Article", "Rejection"], ".results"),
    **dict.fromkeys(["clean_paragraphs", "extract_article", "fold", "matches_keywords"], ".article"),
    "boilerplate_family": ".boilerplate",
    "decode_html": ".encoding",
}

__all__ = [
    "EXTRACTOR_VERSION", "Article", "Rejection", "boilerplate_family", "clean_paragraphs", "decode_html",
    "extract_article", "fold", "matches_keywords",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
