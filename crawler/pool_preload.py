"""Imported once by the extraction pool's forkserver (crawler.pool), never by the crawl:
loads the extractor, its language model and numpy (story fingerprints) so that every forked worker shares them."""
from __future__ import annotations

import logging

import crawler.extraction.article  # noqa: F401 - the extractor (trafilatura, lxml), once for all workers
import crawler.pool  # noqa: F401 - the workers' code

logger = logging.getLogger(__name__)

try:
    import py3langid

    from crawler.extraction import langid_model

    langid_model.load()  # the model from an uncompressed copy: ~0.03 s instead of ~0.6 s
    py3langid.classify("Le commerce entre la Russie et la France a progressé cette année.")
except Exception:  # pragma: no cover - warming up is an optimisation only
    logger.debug("could not warm up the language model", exc_info=True)

try:  # numpy and the MinHash permutations, for the story fingerprints the workers compute
    from storage import stories

    stories.fingerprint("Le commerce entre la Russie et la France a progressé cette année.")
    stories._permutations()
except Exception:  # pragma: no cover - warming up is an optimisation only
    logger.debug("could not warm up the story fingerprints", exc_info=True)

# Every process forked from here shares the pages of what was just loaded until it writes to
# them; a garbage collection writes to every object it visits, and would copy those pages into
# each worker (and the archive writer) one by one. Frozen objects are never collected again.
import gc  # noqa: E402

gc.freeze()

# What loading freed (parsers, compiled patterns' scratch, the model's compressed copy) goes back to
# the system before the workers are forked, instead of being copied into each of them.
crawler.pool.trim_heap()
