"""Imported once by the extraction pool's forkserver (crawler.pool), never by the crawl:
loads the extractor and its language model so that every forked worker shares them."""
from __future__ import annotations

import logging

import crawler.pool  # noqa: F401 - the workers' code, imported once for all of them

logger = logging.getLogger(__name__)

try:
    import py3langid

    py3langid.classify("Le commerce entre la Russie et la France a progressé cette année.")
except Exception:  # pragma: no cover - warming up is an optimisation only
    logger.debug("could not warm up the language model", exc_info=True)
