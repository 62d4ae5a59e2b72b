"""Extraction: clean article text and metadata from stored HTML, with no crawler involved."""
from .article import EXTRACTOR_VERSION, Article, Rejection, clean_paragraphs, extract_article, fold, matches_keywords
from .boilerplate import boilerplate_family
from .encoding import decode_html

__all__ = [
    "EXTRACTOR_VERSION", "Article", "Rejection", "boilerplate_family", "clean_paragraphs", "decode_html",
    "extract_article", "fold", "matches_keywords",
]
