"""The demo: serve the bundled sample site on 127.0.0.1, crawl it, show what was archived."""
from __future__ import annotations

import logging
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Callable

from rich.console import Console

from crawler.sources import load_file
from newsarchive.localsite import serve
from storage import open_archive
from storage.records import SearchFilters

logger = logging.getLogger(__name__)
console = Console()

DEMO_QUERY = "Irkoutsk investissements"


def demo_site() -> Path:
    return Path(str(resources.files("newsarchive") / "demo_site"))


class DemoError(Exception):
    """The demo site could not be served."""


def run_demo(db_url: str, crawl: Callable, port: int = 8765) -> bool:
    """Crawl the demo site into ``db_url`` with ``crawl(sources, db_url)``; True on success."""
    site = demo_site()
    sources = load_file(site / "sources.toml")
    with ExitStack() as stack:
        try:
            server = stack.enter_context(serve(site, port=port))
        except OSError as exc:
            raise DemoError(f"cannot serve the demo site on 127.0.0.1:{port} ({exc.strerror}); try --port") from None
        console.print(f"serving the bundled demo site at {server.base_url}")
        demo_sources = [s.rebased(server.base_url) for s in sources.values()]
        results = crawl(demo_sources, db_url)
    with open_archive(db_url) as archive, archive.repository(readonly=True) as repo:
        keys = [s.key for s in demo_sources]
        total = sum(repo.count_articles(k) for k in keys)
        console.print(f"\nthe archive {db_url} now holds {total} articles from the demo site:")
        for article in repo.iter_articles(SearchFilters(sources=tuple(keys))):
            date = article.published_at.date().isoformat() if article.published_at else "????-??-??"
            console.print(f"  #{article.id} {date} {article.title}", highlight=False, markup=False)
        hits = repo.search(DEMO_QUERY, SearchFilters(sources=tuple(keys)), limit=1)
    from newsarchive.cli import print_hits

    console.print(f"\nsearch: newsarchive search '{DEMO_QUERY}'")
    print_hits(hits)
    return all(r.ok for r in results)
