"""The newsarchive command line: thin click commands, each over one library call."""
from __future__ import annotations

import functools
import json
import logging
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from crawler.sources import SourcesError, load_registry
from storage import StorageError, open_archive, resolve_db_url
from newsarchive.demo import DemoError

logger = logging.getLogger(__name__)
err_console = Console(stderr=True)
console = Console()

DB_HELP = "Archive database URL (default: $NEWSARCHIVE_DB, else sqlite:///newsarchive.db)."
SOURCES_HELP = "Extra sources file layered over the defaults (default: $NEWSARCHIVE_SOURCES)."


def db_option(f: Callable) -> Callable:
    return click.option("--db", "db", metavar="URL", default=None, help=DB_HELP)(f)


def sources_option(f: Callable) -> Callable:
    return click.option("--sources", "sources_file", metavar="FILE", default=None, help=SOURCES_HELP)(f)


def friendly_errors(f: Callable) -> Callable:
    """Domain errors become one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (StorageError, SourcesError, DemoError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsarchive")
def cli() -> None:
    """newsarchive: a clean, searchable archive of Russia–France business news.

    \b
    Quick start:
      newsarchive demo                  crawl the bundled offline sample site
      newsarchive crawl rbth_fr         crawl one source into the archive
      newsarchive search "Irkoutsk"     search the archive
    """


# -- db ----------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Manage the archive database."""


@db.command("upgrade")
@db_option
@friendly_errors
def db_upgrade(db: str | None) -> None:
    """Create the archive or migrate it to the current schema.

    Example: newsarchive db upgrade --db postgresql://localhost/news
    """
    with open_archive(resolve_db_url(db), migrate=True) as archive:
        before, after = archive.upgrade()
    if before == after:
        click.echo(f"{archive.where} is up to date (schema revision {after})")
    else:
        click.echo(f"{archive.where} migrated from {before or 'empty'} to {after}")


# -- sources -----------------------------------------------------------------------

@cli.command("sources")
@sources_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@friendly_errors
def sources_cmd(sources_file: str | None, fmt: str) -> None:
    """List the source registry (defaults plus your sources file).

    Example: newsarchive sources --sources my-sources.toml
    """
    registry = load_registry(sources_file)
    if fmt == "json":
        rows = [{"key": s.key, "name": s.name, "language": s.language, "base_url": s.base_url,
                 "schedule": s.schedule, "feeds": list(s.feeds), "sitemaps": list(s.sitemaps),
                 "start_urls": list(s.start_urls), "keywords": list(s.keywords), "file": s.origin_file}
                for s in registry]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(registry)} sources ({', '.join(registry.files)})")
    for column in ("key", "name", "lang", "discovery", "schedule", "filter"):
        table.add_column(column)
    for s in registry:
        discovery = ", ".join(f"{n} {k}" for k, n in (("feeds", len(s.feeds)), ("sitemaps", len(s.sitemaps)),
                                                      ("listings", len(s.start_urls))) if n)
        table.add_row(s.key, s.name, s.language, discovery, s.schedule,
                      "keywords" if s.keywords else "")
    console.print(table)


# -- crawl -------------------------------------------------------------------------

@cli.command("crawl")
@click.argument("keys", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Crawl every source of the registry.")
@db_option
@sources_option
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO) on stderr.")
@click.option("-s", "--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Override a Scrapy setting, e.g. -s NEWSARCHIVE_EXTRACT_WORKERS=0.")
@friendly_errors
def crawl_cmd(keys: tuple[str, ...], all_: bool, db: str | None, sources_file: str | None,
              verbose: bool, overrides: tuple[str, ...]) -> None:
    """Crawl sources now and archive their articles.

    \b
    Examples:
      newsarchive crawl rbth_fr
      newsarchive crawl rbth_fr ccifr_fr --db sqlite:///news.db
      newsarchive crawl --all
    """
    if not keys and not all_:
        raise click.UsageError("name at least one source key, or --all (see: newsarchive sources)")
    registry = load_registry(sources_file)
    sources = registry.select(keys, all_)
    results = _crawl(sources, resolve_db_url(db), verbose, _parse_overrides(overrides))
    if any(not r.ok for r in results):
        sys.exit(1)


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--set")
        out[name] = value
    return out


def _crawl(sources, db_url: str, verbose: bool, overrides: dict[str, Any] | None = None):
    from crawler.runner import run_crawls

    _configure_logging(verbose)
    archive = open_archive(db_url)  # fail fast, with one line, before any request is sent
    archive.dispose()
    results = run_crawls(sources, db_url, overrides=overrides, progress=_live_progress)
    _print_summary(results)
    return results


def _configure_logging(verbose: bool) -> None:
    """Scrapy's log on stderr with --verbose; otherwise only the summary (errors are in it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.CRITICAL)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextmanager
def _live_progress(crawlers) -> Iterator[None]:
    class Progress:
        def __rich__(self) -> Table:
            return _progress_table(crawlers)

    if not err_console.is_terminal:
        yield
        return
    with Live(Progress(), console=err_console, refresh_per_second=4, transient=True):
        yield


# (column, crawl_runs count) shown live while crawling and in the summary after
COUNT_COLUMNS = (("pages", "pages_fetched"), ("new", "articles_new"), ("updated", "articles_updated"),
                 ("unchanged", "articles_unchanged"), ("skipped", "articles_skipped"), ("errors", "errors"))


def _counts_table(title: str, left: tuple[str, ...], rows: list[tuple[list[str], dict[str, int]]]) -> Table:
    """A table of ``left`` text columns, then one right-aligned column per count."""
    table = Table(title=title, title_justify="left")
    for column in left:
        table.add_column(column)
    for column, _ in COUNT_COLUMNS:
        table.add_column(column, justify="right")
    for cells, counts in rows:
        table.add_row(*cells, *(str(counts.get(key, 0)) for _, key in COUNT_COLUMNS))
    return table


def _progress_table(crawlers) -> Table:
    from crawler.context import CrawlContext
    from crawler.extensions import run_counts

    rows = []
    for crawler in crawlers:
        source = CrawlContext.of(crawler).source
        rows.append(([source.key if source else "?"], run_counts(crawler.stats.get_stats() if crawler.stats else {})))
    return _counts_table("crawling", ("source",), rows)


def _print_summary(results) -> None:
    styles = {"finished": "green", "failed": "red", "interrupted": "yellow"}
    rows = [([r.source, f"[{styles.get(r.status, '')}]{r.status}[/]", str(r.run_id or "-")], r.counts)
            for r in results]
    console.print(_counts_table("crawl summary", ("source", "status", "run"), rows))
    for r in results:
        if r.failure:
            err_console.print(f"[red]{r.source}: failed: {r.failure}[/]")
        shown = [e for e in r.errors if e != r.failure][:5]
        for message in shown:
            err_console.print(f"{r.source}: {message}", markup=False, highlight=False)
        if len(r.errors) > len(shown) + (1 if r.failure else 0):
            err_console.print(f"{r.source}: … the first {len(r.errors)} errors are in crawl_runs.error_messages "
                              f"of run {r.run_id}")


# -- demo --------------------------------------------------------------------------

@cli.command("demo")
@db_option
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="Port of the demo site on 127.0.0.1 (a fixed port keeps archived URLs stable across runs).")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO) on stderr.")
@friendly_errors
def demo_cmd(db: str | None, port: int, verbose: bool) -> None:
    """Serve the bundled offline sample site on 127.0.0.1, crawl it into the archive,
    and show what was archived. Needs no network.

    Example: newsarchive demo --db sqlite:///demo.db
    """
    from newsarchive.demo import run_demo

    ok = run_demo(resolve_db_url(db), port=port, crawl=lambda sources, url: _crawl(sources, url, verbose))
    if not ok:
        sys.exit(1)


# -- search ------------------------------------------------------------------------

@cli.command("search")
@click.argument("query")
@click.option("--source", "sources", multiple=True, metavar="KEY", help="Only this source (repeatable).")
@click.option("--lang", metavar="CODE", help="Only articles in this language (fr, ru, en…).")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl"]), default="table", show_default=True)
@friendly_errors
def search_cmd(query: str, sources: tuple[str, ...], lang: str | None, limit: int, db: str | None, fmt: str) -> None:
    """Full-text search: words, "quoted phrases", OR, -exclusion.

    Example: newsarchive search 'Irkoutsk investissements -tourisme'
    """
    from storage.records import SearchFilters

    with open_archive(resolve_db_url(db)) as archive, archive.repository(readonly=True) as repo:
        hits = repo.search(query, SearchFilters(sources=sources, language=lang), limit=limit)
    if fmt in ("json", "jsonl"):
        rows = [{"id": h.id, "source": h.source, "url": h.url, "title": h.title,
                 "published_at": h.published_at.isoformat() if h.published_at else None,
                 "language": h.language, "snippet": h.snippet, "rank": h.rank} for h in hits]
        if fmt == "json":
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for row in rows:
                click.echo(json.dumps(row, ensure_ascii=False))
        return
    print_hits(hits)


def print_hits(hits) -> None:
    if not hits:
        console.print("no match")
        return
    for h in hits:
        date = h.published_at.date().isoformat() if h.published_at else "????-??-??"
        console.print(f"[bold]{h.title}[/bold]  [dim]#{h.id} {h.source} {date}[/dim]", highlight=False)
        console.print(f"  {h.url}", highlight=False, markup=False)
        snippet = h.snippet.replace("[", "\x00").replace("]", "\x01")
        from rich.markup import escape

        console.print("  " + escape(snippet).replace("\x00", "[yellow]").replace("\x01", "[/yellow]"), highlight=False)


def main() -> None:
    try:
        cli(prog_name="newsarchive")
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
