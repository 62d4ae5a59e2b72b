"""The newsarchive command line: thin click commands, each over one library call.

Start-up time matters (a re-crawl that finds nothing new is mostly start-up, and `--help`
should answer at once), so this module imports only click: each command imports what it
needs (Scrapy, SQLAlchemy, rich, ...) when it runs."""
from __future__ import annotations

import atexit
import functools
import gc
import json
import logging
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

logger = logging.getLogger(__name__)


class _LazyConsole:
    """A rich Console made (and rich imported) on first use."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


err_console = _LazyConsole(stderr=True)
console = _LazyConsole()

DB_HELP = "Archive database URL (default: $NEWSARCHIVE_DB, else sqlite:///newsarchive.db)."
SOURCES_HELP = "Extra sources file layered over the defaults (default: $NEWSARCHIVE_SOURCES)."

# The errors a user can cause (a bad URL, source key, sources file...): (module, class).
DOMAIN_ERRORS = (("storage.errors", "StorageError"), ("crawler.sources", "SourcesError"),
                 ("newsarchive.demo", "DemoError"))


def _table(*args: Any, **kwargs: Any) -> Table:
    from rich.table import Table

    return Table(*args, **kwargs)


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
        except Exception as exc:
            if _is_domain_error(exc):
                raise click.ClickException(str(exc)) from None
            raise

    return wrapper


def _is_domain_error(exc: Exception) -> bool:
    """Whether ``exc`` is one of DOMAIN_ERRORS; a module that was never imported raised none of them."""
    for module_name, class_name in DOMAIN_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


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
    from storage import open_archive, resolve_db_url

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
    from crawler.sources import load_registry

    registry = load_registry(sources_file)
    if fmt == "json":
        rows = [{"key": s.key, "name": s.name, "language": s.language, "base_url": s.base_url,
                 "schedule": s.schedule, "feeds": list(s.feeds), "sitemaps": list(s.sitemaps),
                 "start_urls": list(s.start_urls), "keywords": list(s.keywords), "file": s.origin_file}
                for s in registry]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = _table(title=f"{len(registry)} sources ({', '.join(registry.files)})")
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
@click.option("--wait", "wait", type=click.FloatRange(0), default=0, metavar="SECONDS",
              help="If a source is being crawled by another process, wait this long for it (default: skip it).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Also write the full log (INFO) to this file.")
@click.option("--trigger", type=click.Choice(["manual", "schedule"]), default="manual", hidden=True)
@click.option("--full", is_flag=True,
              help="Fetch every page again: archived articles too, and no conditional requests.")
@friendly_errors
def crawl_cmd(keys: tuple[str, ...], all_: bool, db: str | None, sources_file: str | None,
              verbose: bool, overrides: tuple[str, ...], wait: float, log_file: str | None, trigger: str,
              full: bool) -> None:
    """Crawl sources now and archive their articles.

    A source already being crawled (by the scheduler or another `crawl`) is skipped, or
    waited for with --wait; exit status 75 then tells that nothing failed but something
    was skipped. Exit status 1: a crawl failed.

    \b
    Examples:
      newsarchive crawl rbth_fr
      newsarchive crawl rbth_fr ccifr_fr --db sqlite:///news.db
      newsarchive crawl --all --wait 600
      newsarchive crawl rbth_fr --full   # refetch archived articles too
    """
    if not keys and not all_:
        raise click.UsageError("name at least one source key, or --all (see: newsarchive sources)")
    # Start-up (Scrapy, Twisted, SQLAlchemy, the crawlers) allocates ~200,000 objects that live as
    # long as the process, and next to no garbage: the collector's full passes over them would cost
    # ~0.1 s of a crawl's start. It is back on, with those objects frozen, once the crawl starts
    # (_while_crawling).
    gc.disable()
    service = None
    try:
        settings = {**_parse_overrides(overrides), "NEWSARCHIVE_LOCK_WAIT": wait}
        # First: the archive process imports SQLAlchemy and opens the archive on the other core
        # while this one imports Scrapy (crawler.archive_service); the extraction's forkserver
        # follows it there once the archive is open (_crawl).
        from crawler.archive_service import serve_crawls

        service = serve_crawls(db)
        from crawler.sources import load_registry

        registry = load_registry(sources_file)
        sources = registry.select(keys, all_)
        if full:
            settings["NEWSARCHIVE_FULL"] = True
        if log_file:
            settings["NEWSARCHIVE_LOG_FILE"] = str(log_file)
        results = _crawl(sources, service, verbose, settings, trigger=trigger, log_file=log_file)
    finally:
        if service is not None:
            service.close()
        gc.enable()
    if any(r.status not in ("finished", "skipped") for r in results):
        sys.exit(1)
    if any(r.status == "skipped" for r in results):
        sys.exit(EXIT_SKIPPED)


EXIT_SKIPPED = 75  # EX_TEMPFAIL: nothing failed, but a source was skipped (crawled elsewhere); try later


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--set")
        out[name] = value
    return out


def _crawl(sources, db: Any, verbose: bool, overrides: dict[str, Any] | None = None, *,
           trigger: str = "manual", log_file: str | None = None):
    """Crawl into ``db``: an archive URL (opened here) or the command's ArchiveService."""
    from crawler.runner import run_crawls

    _configure_logging(verbose, log_file)
    if isinstance(db, str):
        from storage import open_archive

        archive = open_archive(db)  # fail fast, with one line, before any request is sent
        archive.dispose()
        db_url = db
    else:
        db_url = db.ready()  # the same, opened by the archive process
        if _will_extract(db, sources, overrides):
            _start_extraction(overrides)  # its preload takes the core the archive process is done with
    if not verbose and not log_file:
        # Scrapy's INFO log goes nowhere: not its "Versions" line either, which cost ~15 ms of each
        # crawl's start-up (platform.platform() forks `uname -p` from the crawl process)
        overrides = {**(overrides or {}), "LOG_VERSIONS": []}
    results = run_crawls(sources, db_url, trigger=trigger, overrides=overrides, progress=_while_crawling)
    _print_summary(results)
    return results


def _will_extract(service: Any, sources, overrides: dict[str, Any] | None) -> bool:
    """Whether the crawl is sure to extract pages: a --full crawl, or the first of a source (the
    archive holds none of its articles). Its extraction forkserver then preloads while the crawl
    starts up. A routine re-crawl mostly finds nothing new: there the preload, though on the
    other core, slowed the crawl's own start-up (re-crawl of the unchanged 2,000-article bench
    site, medians of 9: 1.09-1.10 s with it, 0.99-1.03 s without), and its workers start with the
    first article page it requests, if any (ExtractPipeline.start_pool)."""
    if str((overrides or {}).get("NEWSARCHIVE_FULL", "")).lower() in ("1", "true"):
        return True
    return not all(service.call("has_articles", source.key) for source in sources)


def _start_extraction(overrides: dict[str, Any] | None) -> None:
    """Start the extraction workers' forkserver (unless -s NEWSARCHIVE_EXTRACT_WORKERS=0): its
    preload runs on the other core while the crawl starts up."""
    if str((overrides or {}).get("NEWSARCHIVE_EXTRACT_WORKERS", "")).strip() != "0":
        from crawler.pool import start_forkserver

        start_forkserver()


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _configure_logging(verbose: bool, log_file: str | None = None) -> None:
    """Scrapy's log on stderr with --verbose; otherwise only the summary (errors are in it).
    With ``log_file``, the whole INFO log also goes there."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO if verbose else logging.CRITICAL)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    if log_file:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write the log file {log_file}: {exc.strerror}") from None
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler.setLevel(logging.INFO)
        root.addHandler(file_handler)


CRAWL_GC_THRESHOLD = 10_000  # allocations (net of frees) between young collections while crawling


@contextmanager
def _while_crawling(crawlers) -> Iterator[None]:
    """Entered once the crawlers are built, just before they run."""
    # What start-up allocated lives as long as the process: frozen, it is left out of the
    # collector's passes during the crawl and at exit, which then only look at what the crawl makes.
    gc.freeze()
    # A crawl allocates in bursts (each response: Scrapy's async generators, Deferreds, headers)
    # that its reference counts free again; at the default threshold (700) those bursts set off
    # ~450 young collections per 2,000 pages, ~15 % of the crawl process's CPU. At 10,000 the
    # bench crawl runs about six, and what reference cycles leave behind is still collected.
    gc.set_threshold(CRAWL_GC_THRESHOLD, 10, 10)
    gc.enable()
    with _live_progress(crawlers):
        yield


@contextmanager
def _live_progress(crawlers) -> Iterator[None]:
    class Progress:
        def __rich__(self) -> Table:
            return _progress_table(crawlers)

    if not err_console.is_terminal:
        yield
        return
    from rich.live import Live

    with Live(Progress(), console=err_console.real, refresh_per_second=4, transient=True):
        yield


# (column, crawl_runs count) shown live while crawling and in the summary after
COUNT_COLUMNS = (("pages", "pages_fetched"), ("new", "articles_new"), ("updated", "articles_updated"),
                 ("unchanged", "articles_unchanged"), ("skipped", "articles_skipped"), ("errors", "errors"))


def _counts_table(title: str, left: tuple[str, ...], rows: list[tuple[list[str], dict[str, int]]]) -> Table:
    """A table of ``left`` text columns, then one right-aligned column per count."""
    table = _table(title=title, title_justify="left")
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
    styles = {"finished": "green", "failed": "red", "interrupted": "yellow", "skipped": "yellow"}
    rows = [([r.source, f"[{styles.get(r.status, '')}]{r.status}[/]", str(r.run_id or "-")], r.counts)
            for r in results]
    console.print(_counts_table("crawl summary", ("source", "status", "run"), rows))
    for r in results:
        if r.status == "skipped":
            err_console.print(f"{r.source}: {r.failure}", markup=False, highlight=False)
        elif r.failure:
            err_console.print(f"[red]{r.source}: failed: {r.failure}[/]")
        shown = [e for e in r.errors if e != r.failure][:5]
        for message in shown:
            err_console.print(f"{r.source}: {message}", markup=False, highlight=False)
        if len(r.errors) > len(shown) + (1 if r.failure else 0):
            err_console.print(f"{r.source}: … the first {len(r.errors)} errors are in crawl_runs.error_messages "
                              f"of run {r.run_id}")


# -- runs and schedule --------------------------------------------------------------

@cli.command("runs")
@click.option("--source", "source", metavar="KEY", help="Only the runs of this source.")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@friendly_errors
def runs_cmd(source: str | None, limit: int, db: str | None, fmt: str) -> None:
    """The history of crawl runs, newest first (scheduled and manual).

    A run whose process died shows as interrupted, not running.

    Example: newsarchive runs --source rbth_fr --limit 5
    """
    from storage import open_archive, resolve_db_url

    with open_archive(resolve_db_url(db)) as archive, archive.repository(readonly=True) as repo:
        runs = repo.list_runs(source, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([_run_json(r) for r in runs], ensure_ascii=False, indent=2))
        return
    if not runs:
        console.print("no crawl runs" + (f" of {source}" if source else ""))
        return
    styles = {"finished": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
    table = _table(title="crawl runs (UTC)", title_justify="left", box=None, pad_edge=False,
                  padding=(0, 1, 0, 0))
    for column in ("run", "source", "trigger", "status", "started", "took"):
        table.add_column(column, no_wrap=True)
    for column in ("pages", "new", "upd", "same", "skip", "err"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in runs:
        took = _duration((r.finished_at - r.started_at).total_seconds()) if r.finished_at else "…"
        table.add_row(str(r.id), r.source, r.trigger, f"[{styles.get(r.status, '')}]{r.status}[/]",
                      r.started_at.strftime("%m-%d %H:%M"), took,
                      *(str(n) for n in (r.pages_fetched, r.articles_new, r.articles_updated, r.articles_unchanged,
                                         r.articles_skipped, r.errors)))
    console.print(table)
    for r in runs:
        if r.status in ("failed", "interrupted") and r.error_messages:
            err_console.print(f"run {r.id} ({r.source}): {r.error_messages[0]}", markup=False, highlight=False)


def _run_json(r) -> dict[str, Any]:
    return {"id": r.id, "source": r.source, "trigger": r.trigger, "status": r.status,
            "started_at": r.started_at.isoformat(), "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "pages_fetched": r.pages_fetched, "articles_new": r.articles_new, "articles_updated": r.articles_updated,
            "articles_unchanged": r.articles_unchanged, "articles_skipped": r.articles_skipped, "errors": r.errors,
            "error_messages": r.error_messages, "pid": r.pid, "log_file": r.stats.get("newsarchive/log_file")}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


@cli.command("schedule")
@click.argument("keys", nargs=-1)
@db_option
@sources_option
@click.option("--list", "list_", is_flag=True, help="Print each source's next run and last outcome, then exit.")
@click.option("--log-dir", type=click.Path(file_okay=False), default=None,
              help="Per-run log files and scheduler.log (default: $NEWSARCHIVE_LOG_DIR, else ./logs).")
@click.option("--max-parallel", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Crawls running at once.")
@click.option("--misfire-grace", type=click.IntRange(1), default=900, show_default=True, metavar="SECONDS",
              help="How late a slot may still start.")
@click.option("--stop-grace", type=click.FloatRange(1), default=None, metavar="SECONDS",
              help="Time a crawl gets to stop gracefully on SIGTERM before it is killed (default 60).")
@click.option("--no-catch-up", is_flag=True, help="On start, do not crawl the sources whose slot was missed.")
@friendly_errors
def schedule_cmd(keys: tuple[str, ...], db: str | None, sources_file: str | None, list_: bool, log_dir: str | None,
                 max_parallel: int, misfire_grace: int, stop_grace: float | None, no_catch_up: bool) -> None:
    """Run the recurring crawls in the foreground (all sources, or KEYS), each on its cron
    `schedule` (UTC), each in its own process. Stop with Ctrl-C or SIGTERM.

    \b
    Examples:
      newsarchive schedule --list
      newsarchive schedule --db postgresql://localhost/news --log-dir /var/log/newsarchive
    """
    import os
    from pathlib import Path

    from crawler.sources import load_registry
    from scheduler.service import SchedulerConfig, last_runs, missed, next_run, run_scheduler
    from storage import resolve_db_url

    registry = load_registry(sources_file)
    sources = registry.select(keys, not keys)
    db_url = resolve_db_url(db)
    grace = stop_grace if stop_grace is not None else float(os.environ.get("NEWSARCHIVE_STOP_GRACE", 60))
    os.environ["NEWSARCHIVE_STOP_GRACE"] = str(grace)  # the crawl processes stop within it too
    config = SchedulerConfig(
        db_url=db_url, sources_file=sources_file or os.environ.get("NEWSARCHIVE_SOURCES"),
        log_dir=Path(log_dir or os.environ.get("NEWSARCHIVE_LOG_DIR") or "logs"), max_parallel=max_parallel,
        misfire_grace=misfire_grace, stop_grace=grace, catch_up=not no_catch_up)
    if list_:
        previous = last_runs(db_url)
        due = set(missed(sources, previous)) if config.catch_up else set()
        table = _table(title="schedule (UTC)", title_justify="left")
        for column in ("source", "cron", "next run", "last run", "status", "new", "errors"):
            table.add_column(column)
        for s in sources:
            last = previous.get(s.key)
            upcoming = "on start (missed)" if s.key in due else f"{next_run(s):%Y-%m-%d %H:%M}"
            table.add_row(s.key, s.schedule, upcoming,
                          f"{last.started_at:%Y-%m-%d %H:%M}" if last else "never", last.status if last else "",
                          str(last.articles_new) if last else "", str(last.errors) if last else "")
        console.print(table)
        return
    _configure_logging(True)

    def ready(scheduler, due) -> None:
        for job in scheduler.get_jobs():
            when = "now (catch-up)" if job.id.split(":", 1)[1] in due else "per schedule"
            err_console.print(f"{job.id}: {job.trigger} [{when}]", markup=False, highlight=False)
        err_console.print(f"scheduler running ({len(sources)} sources, logs in {config.log_dir}); "
                          "Ctrl-C or SIGTERM stops it", markup=False, highlight=False)

    run_scheduler(sources, config, on_ready=ready)


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
    _start_extraction(None)  # its preload overlaps the demo site's start and the crawl's own
    from newsarchive.demo import run_demo
    from storage import resolve_db_url

    ok = run_demo(resolve_db_url(db), port=port, crawl=lambda sources, url: _crawl(sources, url, verbose))
    if not ok:
        sys.exit(1)


# -- search ------------------------------------------------------------------------

def filter_options(f: Callable) -> Callable:
    """--source/--lang/--since/--until, shared by search and export (see newsarchive.filters)."""
    for option in reversed((
        click.option("--source", "sources", multiple=True, metavar="KEY", help="Only this source (repeatable)."),
        click.option("--lang", metavar="CODE", help="Only articles in this language (fr, ru, en…)."),
        click.option("--since", metavar="DATE", help="Published on or after DATE (2024-05-01 or an ISO datetime)."),
        click.option("--until", metavar="DATE", help="Published before the end of DATE (a datetime: before it)."),
    )):
        f = option(f)
    return f


def open_for_reading(db: str | None):  # type: ignore[no-untyped-def]
    """The archive as it is: never created or migrated by a command that only reads."""
    from storage import open_archive, resolve_db_url

    return open_archive(resolve_db_url(db), migrate=False, create=False)


@cli.command("search")
@click.argument("query")
@filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip the first N hits (paging).")
@click.option("--collapse", is_flag=True,
              help="One hit per story: leave out reprints of a better-ranked hit (near-identical texts).")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "jsonl"]), default="table", show_default=True)
@friendly_errors
def search_cmd(query: str, sources: tuple[str, ...], lang: str | None, since: str | None, until: str | None,
               limit: int, offset: int, collapse: bool, db: str | None, fmt: str) -> None:
    """Full-text search: words, "quoted phrases", OR, -exclusion; ranked, best first.

    \b
    Examples:
      newsarchive search 'Irkoutsk investissements -tourisme'
      newsarchive search '"gaz naturel" OR нефть' --source rbth_fr --since 2024-01-01 --format jsonl
    """
    from newsarchive.filters import build_filters

    with open_for_reading(db) as archive, archive.repository(readonly=True) as repo:
        filters = build_filters(repo, sources, lang, since, until)
        if collapse:  # collapse a deeper ranking, then page through what is left
            found = repo.search(query, filters, limit=min((offset + limit) * COLLAPSE_DEPTH, 5000))
            hits = repo.collapse(found)[offset : offset + limit]
        else:
            hits = repo.search(query, filters, limit=limit, offset=offset)
    if fmt in ("json", "jsonl"):
        from storage.export import hit_record

        rows = [hit_record(h) for h in hits]
        if fmt == "json":
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for row in rows:
                click.echo(json.dumps(row, ensure_ascii=False))
        return
    print_hits(hits)


COLLAPSE_DEPTH = 4  # search --collapse ranks this many times the hits it shows, then keeps one per story


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


# -- show, export, serve (researchers) ------------------------------------------------

@cli.command("show")
@click.argument("article")
@click.argument("pair", nargs=-1, type=int, metavar="[A B]")
@click.option("--versions", "list_versions", is_flag=True, help="List the article's versions (every distinct text).")
@click.option("--diff", "diff", is_flag=True,
              help="Word diff between versions A and B (default: the two latest): [-removed-]{+added+}.")
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@friendly_errors
def show_cmd(article: str, pair: tuple[int, ...], list_versions: bool, diff: bool, db: str | None, fmt: str) -> None:
    """Show one article (by id or URL): all its metadata, its clean text and the other
    articles of its story (near-identical texts, e.g. reprints on other sources).

    \b
    Examples:
      newsarchive show 42
      newsarchive show https://fr.rbth.com/economie/82005-russie-ville-irkoutsk --format json
      newsarchive show 42 --versions
      newsarchive show 42 --diff          (the two latest versions)
      newsarchive show 42 --diff 1 3
    """
    from newsarchive.history import diff_text, pick_pair, version_rows
    from storage.export import article_json, article_record

    if pair and not diff:
        raise click.UsageError("version numbers A B go with --diff")
    key: int | str = int(article) if article.strip().isdigit() else article.strip()
    with open_for_reading(db) as archive, archive.repository(readonly=True) as repo:
        found = repo.get_article(key)
        versions = repo.article_versions(found.id) if (list_versions or diff) else []
        siblings = repo.siblings(found.id)
    if diff:
        old, new = pick_pair(versions, pair)
        if fmt == "json":
            from newsarchive.textdiff import word_diff

            click.echo(json.dumps({"id": found.id, "from": old.version, "to": new.version,
                                   "diff": word_diff(old.text, new.text)}, ensure_ascii=False, indent=2))
        else:
            click.echo(diff_text(old, new, colour=sys.stdout.isatty()))
        return
    if list_versions:
        rows = version_rows(versions)
        if fmt == "json":
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        table = _table(title=f"#{found.id} {found.title}", title_justify="left")
        for column in ("version", "first seen", "extractor", "words -/+", "title"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row["version"]), row["seen_at"][:19].replace("T", " "), row["extractor_version"] or "",
                          f"-{row['words_removed']} +{row['words_added']}", row["title"])
        console.print(table)
        return
    if fmt == "json":
        click.echo(article_json(found, indent=2))
        return
    record = article_record(found)
    click.echo(found.title)
    click.echo("=" * min(len(found.title), 80))
    for field, value in record.items():
        if field in ("title", "text"):
            continue
        if isinstance(value, list):
            value = "; ".join(value)
        click.echo(f"{field + ':':<15}{'' if value is None else value}")
    for sibling in siblings:
        click.echo(f"{'same story:':<15}#{sibling.id} {sibling.source} ({sibling.similarity:.0%} alike) "
                   f"{sibling.title} <{sibling.url}>")
    click.echo("")
    click.echo(found.text)


@cli.command("export")
@click.argument("query", required=False)
@filter_options
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet", "warc"]), default="jsonl",
              show_default=True, help="warc: gzipped WARC 1.1, the pages as fetched plus the extracted fields.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to FILE (replaced only once the export is complete); default: stdout.")
@db_option
@friendly_errors
def export_cmd(query: str | None, sources: tuple[str, ...], lang: str | None, since: str | None,
               until: str | None, fmt: str, output: str | None, db: str | None) -> None:
    """Export articles (all, or those matching QUERY and the filters), by id, streamed.

    Fields, in order: id, source, url, title, authors, published_at, modified_at, language,
    description, tags, text, content_hash, first_seen_at, last_seen_at, version, cluster_id.
    CSV is UTF-8 with a BOM (Excel-friendly), lists as JSON arrays; Parquet has typed columns.
    WARC holds, per article, the page as fetched (a response record rebuilt from its snapshot)
    and its fields as JSON (a metadata record); `newsarchive import-warc` reads it back.

    \b
    Examples:
      newsarchive export --format csv -o irkoutsk.csv Irkoutsk --since 2024-01-01
      newsarchive export --format parquet -o archive.parquet
      newsarchive export --source rbth_fr | jq .title
      newsarchive export --format warc --output archive.warc.gz
    """
    from newsarchive.filters import build_filters
    from storage.export import BINARY_FORMATS, export_articles

    if output is None and (fmt in BINARY_FORMATS or fmt == "warc") and sys.stdout.isatty():
        raise click.ClickException(f"{fmt} is binary: give --output FILE or redirect stdout to a file")
    with open_for_reading(db) as archive, archive.repository(readonly=True) as repo:
        filters = build_filters(repo, sources, lang, since, until)

        def export(out: Any) -> int:
            if fmt == "warc":
                return _export_warc(repo, out, query, filters)
            return export_articles(repo, fmt, out, query, filters)

        if output is None:
            try:
                export(sys.stdout.buffer)
                sys.stdout.buffer.flush()
            except BrokenPipeError:  # `newsarchive export | head`: the reader has had enough
                import os

                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(0)
        else:
            count = _export_to_file(output, export)
    if output is not None:
        err_console.print(f"exported {count} articles to {output}", highlight=False, markup=False)


def _export_warc(repo: Any, out: Any, query: str | None, filters: Any) -> int:
    from newsarchive.warc import write_warc
    from storage.query import parse_query

    if query is not None:
        parse_query(query)  # a malformed query fails before anything is written
    report = write_warc(repo, out, filters, query=query)
    for message in report.missing_snapshots[:20]:
        click.echo(f"warning: {message} (exported without its page)", err=True)
    return report.articles


def _export_to_file(path: str, write: Callable[[Any], int]) -> int:
    """Write to PATH.part, then rename: a failed export never leaves a truncated file behind."""
    import os

    partial = f"{path}.part"
    try:
        with open(partial, "wb") as out:
            count = write(out)
        os.replace(partial, path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return count


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@db_option
@friendly_errors
def serve_cmd(host: str, port: int, db: str | None) -> None:
    """Serve a read-only web interface to the archive: search, articles, a JSON API (/docs).

    Example: newsarchive serve --db sqlite:///news.db --port 8000   (then open http://127.0.0.1:8000/)
    """
    from newsarchive.web import serve

    archive = open_for_reading(db)
    try:
        serve(archive, host=host, port=port, on_ready=lambda: click.echo(
            f"serving {archive.where} read-only at http://{host}:{port}/ (API docs: /docs); Ctrl-C stops"))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    finally:
        archive.dispose()


# -- reextract, import-warc (the archive as an archive) --------------------------------

class _Bar:
    """A rich progress bar on stderr (only on a terminal): ``total(n)``, ``advance(n)``."""

    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task

    def total(self, n: int) -> None:
        self.progress.update(self.task, total=n)

    def advance(self, n: int = 1) -> None:
        self.progress.update(self.task, advance=n)


@contextmanager
def _bar(description: str) -> Iterator[_Bar | None]:
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err_console.real, transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=None))


@cli.command("reextract")
@click.option("--source", "source_keys", multiple=True, metavar="KEY", help="Only this source (repeatable).")
@click.option("--since", metavar="DATE", help="Only articles published on or after DATE (YYYY-MM-DD).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Extraction processes (default: one per core, at most 4; 0 = in this process).")
@db_option
@sources_option
@friendly_errors
def reextract_cmd(source_keys: tuple[str, ...], since: str | None, workers: int | None, db: str | None,
                  sources_file: str | None) -> None:
    """Re-run the current extraction on the stored snapshots, without the network.

    Articles whose text changes get a new version (recording the extractor version);
    a missing snapshot or a page that no longer extracts is reported and kept as it is.
    Apply a changed drop_lines rule to the whole archive in one command:

    \b
    Examples:
      newsarchive reextract --sources my-sources.toml --source rbth_fr
      newsarchive reextract --since 2024-01-01
    """
    from crawler.sources import load_registry
    from newsarchive.filters import parse_date
    from newsarchive.reextract import reextract
    from storage import open_archive, resolve_db_url

    registry = load_registry(sources_file)
    for key in source_keys:
        registry.get(key)  # an unknown key is a one-line error before anything runs
    start = parse_date(since, what="since") if since else None
    with open_archive(resolve_db_url(db)) as archive, _bar("re-extracting") as bar:
        report = reextract(archive, registry, sources=source_keys, since=start, workers=workers,
                           on_total=bar.total if bar else None, on_progress=bar.advance if bar else None)
    table = _table(title="re-extraction", title_justify="left")
    for column in ("examined", "changed", "unchanged", "failed"):
        table.add_column(column, justify="right")
    table.add_row(str(report.examined), str(report.changed), str(report.unchanged), str(report.failed))
    console.print(table)
    for message in report.failures:
        click.echo(message, err=True)  # one line each, never wrapped
    if report.failed > len(report.failures):
        err_console.print(f"… and {report.failed - len(report.failures)} more", highlight=False)
    if report.failed:
        sys.exit(1)


@cli.command("import-warc")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--source", "source_key", metavar="KEY",
              help="Archive every page under this source (default: the source named in the WARC's metadata, "
                   "else the registry source whose domains match the URL).")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Extraction processes (default: one per core, at most 4; 0 = in this process).")
@db_option
@sources_option
@friendly_errors
def import_warc_cmd(files: tuple[str, ...], source_key: str | None, workers: int | None, db: str | None,
                    sources_file: str | None) -> None:
    """Archive the pages of WARC files (.warc or .warc.gz) through the crawl's extraction and storage.

    \b
    Examples:
      newsarchive import-warc export.warc.gz
      newsarchive import-warc crawl-*.warc.gz --source rbth_fr --sources my-sources.toml
    """
    from crawler.sources import load_registry
    from newsarchive.warc import import_warc
    from storage import open_archive, resolve_db_url

    registry = load_registry(sources_file)
    if source_key:
        registry.get(source_key)
    with open_archive(resolve_db_url(db)) as archive, _bar("importing") as bar:
        report = import_warc(archive, files, registry, source_key=source_key, workers=workers,
                             on_page=bar.advance if bar else None)
    table = _table(title=f"WARC import ({report.files} files, {report.records} records)", title_justify="left")
    for column in ("pages", "new", "updated", "unchanged", "skipped", "failed"):
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(report, c)) for c in ("pages", "new", "updated", "unchanged", "skipped", "failed")))
    console.print(table)
    for message in report.messages:
        click.echo(message, err=True)  # one line each, never wrapped
    if report.failed:
        sys.exit(1)


def main() -> None:
    global _exit_status
    atexit.register(_skip_teardown)  # the first handler registered here: run last (see below)
    _exit_status = 1  # what an exception that escapes the command exits with
    try:
        cli(prog_name="newsarchive")
        _exit_status = 0
    except KeyboardInterrupt:
        err_console.print("interrupted")
        _exit_status = 130
        sys.exit(130)
    except SystemExit as exc:
        _exit_status = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        raise


_exit_status = 1


def _skip_teardown() -> None:
    """The command's last exit handler ends the process before the interpreter's teardown.

    By then the interpreter has waited for the command's threads and run every other exit
    handler (registered after this one: multiprocessing's, the executors'). What remains is
    the unloading of ~2,000 modules (Scrapy, Twisted, SQLAlchemy) and a last collection: about
    0.04 s, a tenth of a routine re-crawl's own work. Logging, registered before this one
    (when the module was imported), is shut down here; the streams are flushed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
            pass
    os._exit(_exit_status)


if __name__ == "__main__":
    main()
