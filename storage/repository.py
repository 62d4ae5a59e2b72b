"""The Repository: every SQL statement of the archive; handed a session, never commits."""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY, TSVECTOR
from sqlalchemy.orm import Session

from storage.errors import DamagedSnapshot, NotFound
from storage.links import LinksMixin
from storage.models import (
    Article,
    ArticleVersion,
    Base,
    CrawlLock,
    CrawlRun,
    PageValidator as PageValidatorRow,
    Snapshot,
    SnapshotFetch,
    Source,
    UTCDateTime,
)
from storage.query import STEMMERS, Query, Term, language_group, parse_query, to_fts5
from storage.records import (
    ArticleIn,
    ArticleOut,
    ArticleSeen,
    LockInfo,
    PageValidator,
    RunOut,
    SearchFilters,
    SearchHit,
    SnapshotIn,
    SnapshotOut,
    SourceIn,
    StoreResult,
    VersionOut,
)

logger = logging.getLogger(__name__)

ARTICLES = Base.metadata.tables[Article.__tablename__]
VERSIONS = Base.metadata.tables[ArticleVersion.__tablename__]
SNAPSHOTS = Base.metadata.tables[Snapshot.__tablename__]
FETCHES = Base.metadata.tables[SnapshotFetch.__tablename__]
SOURCES = Base.metadata.tables[Source.__tablename__]
LOCKS = Base.metadata.tables[CrawlLock.__tablename__]
VALIDATORS = Base.metadata.tables[PageValidatorRow.__tablename__]
CHUNK = 500  # rows per IN (...) list / executemany batch
MAX_ERROR_MESSAGES = 20
NO_FILTERS = SearchFilters()
TRIGGERS = ("schedule", "manual")
STATUSES = ("running", "finished", "failed", "interrupted")
RUN_COUNTS = ("pages_fetched", "articles_new", "articles_updated", "articles_unchanged", "articles_skipped")
SNIPPET_TOKENS = 32
FTS5_TOKENIZE = "unicode61 remove_diacritics 2"  # articles_fts's tokenizer (see the 0001 migration)
# Column weights: a title match outranks a description match outranks a text match.
SQLITE_BM25_WEIGHTS = (10.0, 4.0, 1.0)  # title, description, text (articles_fts column order)
# A query matching more articles than this is ranked among its newest RANKED_MATCHES (by id:
# archived last) only; its older matches follow, newest first. Ranking every match of a word
# found in most articles took ~190 ms (SQLite, bm25) / ~500 ms (PostgreSQL, ts_rank) on 100,000.
RANKED_MATCHES: int | None = 10_000  # None: rank every match
ALL_GROUPS: frozenset[str | None] = frozenset({*STEMMERS, None})  # language groups (storage.query.language_group)
SAMPLED_ARTICLES = 1000  # newest articles whose languages order the search's FTS5 queries (SQLite)
PG_CONFIGS = ("na_french", "na_russian", "na_english", "na_simple")  # see the migration
PG_HEADLINE_OPTIONS = "MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=\" … \""  # + StartSel/StopSel


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# Snapshot bodies are stored zstd-compressed (level 3: 0.26 ms for a 90 KB page against
# 1.7 ms for zlib level 6, for a slightly better ratio). Bodies stored by earlier versions are
# zlib streams; the two are told apart by their first bytes, so no migration is needed.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3


_compressors = threading.local()


def pack_body(body: bytes) -> bytes:
    """The body zstd-compressed, by this thread's compressor: zstandard.compress() builds a
    compressor (and its tables) per call, a reused one is 10 % faster (0.28 -> 0.25 ms for a
    90 KB bench page) for the same bytes. One per thread: a compressor is not thread-safe."""
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        import zstandard

        compressor = _compressors.zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return compressor.compress(body)


def unpack_body(blob: bytes) -> bytes:
    """A stored body, decompressed; DamagedSnapshot if it no longer decompresses."""
    try:
        if blob[:4] == ZSTD_MAGIC:
            import zstandard

            return zstandard.decompress(blob)
        return zlib.decompress(blob)
    except Exception as exc:  # zlib.error, zstandard.ZstdError: either way the bytes are damaged
        raise DamagedSnapshot(f"the stored page does not decompress ({exc})") from None


def content_hash(text: str) -> str:
    """sha256 hex of the text with whitespace runs collapsed and ends stripped."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def _aware(value: datetime | None, what: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{what} is a naive datetime ({value.isoformat()}); give a timezone-aware one")
    return value


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Repository(LinksMixin):
    """Reads and writes the archive through ``session``; the caller owns the transaction.

    Aliases, story clusters and re-extraction live in storage/links.py (LinksMixin)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- sources -------------------------------------------------------------------------

    def upsert_source(self, source: SourceIn) -> None:
        stmt = self._insert(SOURCES).values(
            key=source.key, name=source.name, language=source.language, base_url=source.base_url
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"name": stmt.excluded.name, "language": stmt.excluded.language, "base_url": stmt.excluded.base_url},
        )
        self.session.execute(stmt)

    # --- crawl runs ----------------------------------------------------------------------

    def start_run(self, source_key: str, trigger: str, pid: int | None = None) -> int:
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
        run = CrawlRun(source_key=source_key, trigger=trigger, started_at=now_utc(), status="running", pid=pid,
                       error_messages=[], stats={})
        self.session.add(run)
        self.session.flush()
        return run.id

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        pages_fetched: int = 0,
        articles_new: int = 0,
        articles_updated: int = 0,
        articles_unchanged: int = 0,
        articles_skipped: int = 0,
        errors: int = 0,
        error_messages: Iterable[str] = (),
        stats: dict[str, Any] | None = None,
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        run = self._run(run_id)
        run.status = status
        run.finished_at = now_utc()
        run.pages_fetched, run.articles_new, run.articles_updated = pages_fetched, articles_new, articles_updated
        run.articles_unchanged, run.articles_skipped, run.errors = articles_unchanged, articles_skipped, errors
        run.error_messages = [str(m) for m in list(error_messages)[:MAX_ERROR_MESSAGES]]
        run.stats = dict(stats or {})
        self.session.flush()

    def get_run(self, run_id: int) -> RunOut:
        return self._effective(self._run(run_id))

    def list_runs(self, source_key: str | None = None, limit: int = 20) -> list[RunOut]:
        """Newest first."""
        stmt = sa.select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()).limit(limit)
        if source_key is not None:
            stmt = stmt.where(CrawlRun.source_key == source_key)
        return [self._effective(run) for run in self.session.scalars(stmt)]

    def _run(self, run_id: int) -> CrawlRun:
        run = self.session.get(CrawlRun, run_id)
        if run is None:
            raise NotFound(f"no crawl run {run_id}")
        return run

    def running_runs(self, source_key: str | None = None, pid: int | None = None) -> list[RunOut]:
        """Runs still marked ``running`` (some may belong to dead processes: see ``reap_runs``)."""
        stmt = sa.select(CrawlRun).where(CrawlRun.status == "running").order_by(CrawlRun.id)
        if source_key is not None:
            stmt = stmt.where(CrawlRun.source_key == source_key)
        if pid is not None:
            stmt = stmt.where(CrawlRun.pid == pid)
        return [_run_out(run) for run in self.session.scalars(stmt)]

    def end_run(self, run_id: int, status: str, reason: str, *, counts: dict[str, int] | None = None,
                error_messages: Iterable[str] = ()) -> bool:
        """Close a run from outside its normal end (killed, stopped by force); the reason comes
        first in its error messages. True if the run was still running."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"status must be one of {STATUSES[1:]}, not {status!r}")
        run = self._run(run_id)
        if run.status != "running":
            return False
        run.status = status
        run.finished_at = now_utc()
        for name, value in (counts or {}).items():
            if name in RUN_COUNTS:
                setattr(run, name, int(value))
        run.errors = max(run.errors or 0, (counts or {}).get("errors", 0)) + 1
        messages = [reason, *error_messages, *(run.error_messages or [])]
        run.error_messages = [m[:500] for m in messages][:MAX_ERROR_MESSAGES]
        self.session.flush()
        return True

    def reap_runs(self, source_key: str | None = None, now: datetime | None = None) -> list[int]:
        """Mark ``interrupted`` the running runs that no live crawl lock holds (their process died)."""
        now = now or now_utc()
        reaped = []
        for run in self.session.scalars(
            sa.select(CrawlRun).where(CrawlRun.status == "running")
            .where(sa.true() if source_key is None else CrawlRun.source_key == source_key)
        ):
            if not _run_is_live(run, self._lock_row(run.source_key), now):
                run.status = "interrupted"
                run.finished_at = now
                run.error_messages = ["the crawling process ended without closing its run (killed?)",
                                      *(run.error_messages or [])][:MAX_ERROR_MESSAGES]
                reaped.append(run.id)
        self.session.flush()
        return reaped

    def last_runs(self) -> dict[str, RunOut]:
        """The latest run of each source, by source key."""
        latest = (sa.select(CrawlRun.source_key, sa.func.max(CrawlRun.id).label("id"))
                  .group_by(CrawlRun.source_key).subquery())
        stmt = sa.select(CrawlRun).join(latest, CrawlRun.id == latest.c.id)
        runs = [self._effective(run) for run in self.session.scalars(stmt)]
        return {run.source: run for run in runs}

    def _effective(self, run: CrawlRun) -> RunOut:
        """The run as a reader should see it: ``running`` only while a live lock holds it."""
        out = _run_out(run)
        if run.status == "running" and not _run_is_live(run, self._lock_row(run.source_key), now_utc()):
            out = replace(out, status="interrupted")
        return out

    # --- crawl locks (one crawl per source at a time, across processes and hosts) -------

    def acquire_lock(
        self,
        source_key: str,
        owner: str,
        *,
        ttl: float,
        pid: int | None = None,
        host: str | None = None,
        is_dead: Callable[[LockInfo], bool] | None = None,
    ) -> tuple[bool, LockInfo]:
        """Take the crawl lock of ``source_key`` for ``owner`` for ``ttl`` seconds.

        Free, expired, or held by a holder ``is_dead`` says is gone: taken (compare-and-swap,
        so two takers never both win). Returns (acquired, the lock as it now stands).
        """
        now = now_utc()
        values = dict(source_key=source_key, owner=owner, pid=pid, host=host, run_id=None, acquired_at=now,
                      heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))
        inserted = self.session.execute(
            self._insert(LOCKS).values(**values).on_conflict_do_nothing(index_elements=["source_key"]))
        if inserted.rowcount == 1:
            return True, _lock_info(values)
        row = self._lock_row(source_key)
        if row is None:  # released between our insert and our read: try once more
            return self.acquire_lock(source_key, owner, ttl=ttl, pid=pid, host=host, is_dead=is_dead)
        holder = _lock_info(row._asdict())
        if holder.owner != owner and holder.expires_at > now and not (is_dead and is_dead(holder)):
            return False, holder
        taken = self.session.execute(
            sa.update(LOCKS).where(LOCKS.c.source_key == source_key, LOCKS.c.owner == holder.owner,
                                   LOCKS.c.expires_at == row.expires_at).values(**values))
        if taken.rowcount == 1:
            if holder.owner != owner:
                logger.warning("crawl lock of %s taken over from %s (expired or dead)", source_key,
                               holder.describe())
            return True, _lock_info(values)
        row = self._lock_row(source_key)
        return False, _lock_info(row._asdict()) if row is not None else holder

    def renew_lock(self, source_key: str, owner: str, *, ttl: float, run_id: int | None = None) -> bool:
        """Extend ``owner``'s lease (and record its run); False if the lock is no longer ``owner``'s."""
        now = now_utc()
        values: dict[str, Any] = dict(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))
        if run_id is not None:
            values["run_id"] = run_id
        result = self.session.execute(
            sa.update(LOCKS).where(LOCKS.c.source_key == source_key, LOCKS.c.owner == owner).values(**values))
        return result.rowcount == 1

    def release_lock(self, source_key: str, owner: str) -> bool:
        result = self.session.execute(
            sa.delete(LOCKS).where(LOCKS.c.source_key == source_key, LOCKS.c.owner == owner))
        return result.rowcount == 1

    def get_lock(self, source_key: str) -> LockInfo | None:
        row = self._lock_row(source_key)
        return _lock_info(row._asdict()) if row is not None else None

    def _lock_row(self, source_key: str) -> sa.Row[Any] | None:
        return self.session.execute(sa.select(LOCKS).where(LOCKS.c.source_key == source_key)).first()

    # --- articles ------------------------------------------------------------------------

    def store_articles(self, articles: Sequence[ArticleIn], seen_at: datetime | None = None) -> list[StoreResult]:
        """Insert new URLs, version changed texts, touch unchanged ones; idempotent.

        Returns one result per distinct URL, in first-seen order; when a URL appears twice
        in the batch the last occurrence is stored.
        """
        seen = _aware(seen_at, "seen_at") or now_utc()
        batch: dict[str, ArticleIn] = {}
        for art in articles:
            if not art.url or not art.source:
                raise ValueError(f"article without url or source: {art.url!r}")
            _aware(art.published_at, f"published_at of {art.url}")
            _aware(art.modified_at, f"modified_at of {art.url}")
            batch[art.url] = art
        if not batch:
            return []
        self._check_sources({a.source for a in batch.values()})
        hashes = {url: content_hash(a.text) for url, a in batch.items()}
        results: dict[str, StoreResult] = {}
        existing = self._existing(list(batch))
        fresh = [url for url in batch if url not in existing]
        aliases: dict[str, int | str] = {}
        if fresh:
            fresh, aliases = self._split_aliases(batch, hashes, fresh)
        if fresh:
            inserted = self._insert_articles([batch[u] for u in fresh], hashes, seen)
            for url in fresh:
                if url in inserted:
                    results[url] = StoreResult(url, inserted[url], "new", 1)
            lost = [url for url in fresh if url not in inserted]  # a concurrent writer won the race
            if lost:
                existing.update(self._existing(lost))
        self._update_existing(batch, hashes, existing, seen, results)
        self._insert_versions(batch, hashes, results, seen)
        self._store_aliases(aliases, results, seen)
        changed = {r.article_id: url for url, r in results.items() if r.outcome != "unchanged"}
        self.index_stories({aid: batch[url].text for aid, url in changed.items()},
                           {aid: batch[url].story for aid, url in changed.items()})
        return [results[url] for url in batch]

    def _check_sources(self, keys: set[str]) -> None:
        found = set(self.session.scalars(sa.select(Source.key).where(Source.key.in_(keys))))
        missing = sorted(keys - found)
        if missing:
            raise NotFound(f"unknown source {missing[0]!r}: register it with upsert_source() first")

    def _existing(self, urls: list[str]) -> dict[str, Any]:
        """url -> row (id, url, content_hash, version, title) of the stored articles."""
        a = ARTICLES.c
        found: dict[str, Any] = {}
        for chunk in _chunks(urls):
            stmt = sa.select(a.id, a.url, a.content_hash, a.version, a.title).where(a.url.in_(chunk))
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update()
            found.update((row.url, row) for row in self.session.execute(stmt))
        return found

    def _insert_articles(self, arts: list[ArticleIn], hashes: dict[str, str], seen: datetime) -> dict[str, int]:
        rows = [
            {
                "source_key": a.source, "url": a.url, "title": a.title, "authors": list(a.authors),
                "published_at": a.published_at, "modified_at": a.modified_at, "language": a.language,
                "description": a.description, "tags": list(a.tags), "text": a.text,
                "content_hash": hashes[a.url], "first_seen_at": seen, "last_seen_at": seen, "version": 1,
                "snapshot_sha256": a.snapshot_sha256, "extractor_version": a.extractor_version,
            }
            for a in arts
        ]
        stmt = self._insert(ARTICLES).on_conflict_do_nothing(index_elements=["url"])
        stmt = stmt.returning(ARTICLES.c.id, ARTICLES.c.url)
        ids: dict[str, int] = {}
        for chunk in _chunks(rows):
            ids.update((row.url, row.id) for row in self.session.execute(stmt, list(chunk)))
        return ids

    def _update_existing(
        self,
        batch: dict[str, ArticleIn],
        hashes: dict[str, str],
        existing: dict[str, Any],
        seen: datetime,
        results: dict[str, StoreResult],
    ) -> None:
        a = ARTICLES.c
        touch: list[int] = []
        retitle: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for url, row in existing.items():
            art = batch[url]
            if hashes[url] == row.content_hash:
                results[url] = StoreResult(url, row.id, "unchanged", row.version)
                if art.title != row.title:
                    retitle.append({"b_id": row.id, "b_title": art.title})
                else:
                    touch.append(row.id)
                continue
            results[url] = StoreResult(url, row.id, "updated", row.version + 1)
            changed.append({
                "b_id": row.id, "b_title": art.title, "b_authors": list(art.authors),
                "b_published_at": art.published_at, "b_modified_at": art.modified_at or seen,
                "b_language": art.language, "b_description": art.description, "b_tags": list(art.tags),
                "b_text": art.text, "b_hash": hashes[url], "b_version": row.version + 1,
                "b_snapshot": art.snapshot_sha256, "b_extractor": art.extractor_version,
            })
        by_id = a.id == sa.bindparam("b_id")
        for ids in _chunks(touch):
            self.session.execute(sa.update(ARTICLES).where(a.id.in_(ids)).values(last_seen_at=seen))
        if retitle:
            stmt = sa.update(ARTICLES).where(by_id).values(title=sa.bindparam("b_title"), last_seen_at=seen)
            self.session.execute(stmt, retitle)
        if changed:
            # A field the new extraction lacks (None) keeps its stored value.
            stmt = sa.update(ARTICLES).where(by_id).values(
                title=sa.bindparam("b_title"),
                authors=sa.bindparam("b_authors", type_=a.authors.type),
                published_at=sa.func.coalesce(sa.bindparam("b_published_at", type_=UTCDateTime()), a.published_at),
                modified_at=sa.bindparam("b_modified_at", type_=UTCDateTime()),
                language=sa.func.coalesce(sa.bindparam("b_language", type_=sa.String()), a.language),
                description=sa.func.coalesce(sa.bindparam("b_description", type_=sa.Text()), a.description),
                tags=sa.bindparam("b_tags", type_=a.tags.type),
                text=sa.bindparam("b_text"),
                content_hash=sa.bindparam("b_hash"),
                version=sa.bindparam("b_version"),
                snapshot_sha256=sa.func.coalesce(sa.bindparam("b_snapshot", type_=sa.String()), a.snapshot_sha256),
                extractor_version=sa.bindparam("b_extractor", type_=sa.String()),
                last_seen_at=seen,
            )
            for chunk in _chunks(changed):
                self.session.execute(stmt, list(chunk))

    def _insert_versions(
        self, batch: dict[str, ArticleIn], hashes: dict[str, str], results: dict[str, StoreResult], seen: datetime
    ) -> None:
        rows = [
            {"article_id": r.article_id, "version": r.version, "content_hash": hashes[url],
             "title": batch[url].title, "text": batch[url].text, "seen_at": seen,
             "extractor_version": batch[url].extractor_version}
            for url, r in results.items()
            if r.outcome != "unchanged"
        ]
        for chunk in _chunks(rows):
            self.session.execute(sa.insert(VERSIONS), list(chunk))

    def get_article(self, id_or_url: int | str) -> ArticleOut:
        a = ARTICLES.c
        where = a.url == id_or_url if isinstance(id_or_url, str) else a.id == id_or_url
        row = self.session.execute(self._articles_select().where(where)).first()
        if row is None and isinstance(id_or_url, str) and (target := self._alias_target(id_or_url)) is not None:
            row = self.session.execute(self._articles_select().where(a.id == target)).first()
        if row is None:
            raise NotFound(f"no article {id_or_url!r}")
        return _article_out(row)

    def article_versions(self, article_id: int) -> list[VersionOut]:
        """Every stored text of the article, oldest first."""
        v = VERSIONS.c
        rows = self.session.execute(
            sa.select(v.version, v.content_hash, v.title, v.text, v.seen_at, v.extractor_version)
            .where(v.article_id == article_id)
            .order_by(v.version)
        ).all()
        if not rows:
            self.get_article(article_id)  # raises NotFound for an unknown id
        return [VersionOut(r.version, r.content_hash, r.title, r.text, r.seen_at, r.extractor_version) for r in rows]

    def known_urls(self, source_key: str) -> set[str]:
        return set(self.session.scalars(sa.select(ARTICLES.c.url).where(ARTICLES.c.source_key == source_key)))

    # --- incremental re-crawls (crawler/incremental.py) -----------------------------------

    def articles_seen(self, source_key: str, urls: Iterable[str] | None = None, *,
                      born_since: datetime | None = None,
                      first_seen_before: datetime | None = None) -> dict[str, ArticleSeen]:
        """url -> when each archived article of the source (and each alias URL of one) was
        last fetched and how old it is: what a routine re-crawl need not fetch again.

        ``urls``: only these (looked up by URL, so the cost follows the URLs asked about, not
        the archive's size); ``born_since``: only articles published (else first archived)
        then or later; ``first_seen_before``: only articles archived before then (a crawl
        asks about the archive as it was when it started)."""
        a = ARTICLES.c
        born = sa.func.coalesce(a.published_at, a.first_seen_at)
        aliases = Base.metadata.tables.get("article_aliases")  # story links (storage/links.py), when present

        # born >= born_since as two conditions, each served by the (source_key, published_at)
        # index (SQLite scans the whole source for coalesce(), or for the two joined by OR)
        borns: list[Any] = [None] if born_since is None else [
            a.published_at >= born_since, sa.and_(a.published_at.is_(None), a.first_seen_at >= born_since)]

        def where(stmt, url_column, chunk, born_condition):  # type: ignore[no-untyped-def]
            stmt = stmt.where(a.source_key == source_key)
            if chunk is not None:
                stmt = stmt.where(url_column.in_(chunk))
            if born_condition is not None:
                stmt = stmt.where(born_condition)
            if first_seen_before is not None:
                stmt = stmt.where(a.first_seen_at < first_seen_before)
            return stmt

        out: dict[str, ArticleSeen] = {}
        chunks: Iterable[Sequence[str] | None] = [None]
        if urls is not None:
            chunks = _chunks(list(dict.fromkeys(urls)), SEEN_CHUNK)
        for chunk in chunks:
            for born_condition in borns:
                stmt = where(sa.select(a.url, a.last_seen_at, born.label("born")), a.url, chunk, born_condition)
                for r in self.session.execute(stmt):
                    out[r.url] = ArticleSeen(r.url, r.last_seen_at, _as_utc(r.born))
                if aliases is not None:
                    al = aliases.c
                    stmt = where(sa.select(al.url, al.last_seen_at, born.label("born"))
                                 .join(ARTICLES, a.id == al.article_id), al.url, chunk, born_condition)
                    for r in self.session.execute(stmt):
                        out.setdefault(r.url, ArticleSeen(r.url, r.last_seen_at, _as_utc(r.born)))
        return out

    def page_validators(self, source_key: str) -> dict[str, PageValidator]:
        """url -> the ETag / Last-Modified last seen for the source's feeds, sitemaps and listings."""
        v = VALIDATORS.c
        rows = self.session.execute(sa.select(VALIDATORS).where(v.source_key == source_key))
        return {r.url: PageValidator(r.url, r.source_key, r.etag, r.last_modified, r.fetched_at) for r in rows}

    def store_page_validators(self, validators: Sequence[PageValidator]) -> None:
        """Upsert validators in batches (the last one of a URL wins); idempotent."""
        rows = {p.url: {"url": p.url, "source_key": p.source, "etag": p.etag, "last_modified": p.last_modified,
                        "fetched_at": _aware(p.fetched_at, f"fetched_at of {p.url}")} for p in validators}
        if not rows:
            return
        stmt = self._insert(VALIDATORS)
        stmt = stmt.on_conflict_do_update(index_elements=["url"], set_={
            "source_key": stmt.excluded.source_key, "etag": stmt.excluded.etag,
            "last_modified": stmt.excluded.last_modified, "fetched_at": stmt.excluded.fetched_at})
        for chunk in _chunks(list(rows.values())):
            self.session.execute(stmt, list(chunk))

    def delete_page_validators(self, urls: Iterable[str]) -> None:
        for chunk in _chunks(sorted(set(urls))):
            self.session.execute(sa.delete(VALIDATORS).where(VALIDATORS.c.url.in_(chunk)))

    def replace_page_validators(self, stale: Iterable[str], validators: Sequence[PageValidator]) -> None:
        """What a complete crawl keeps: the validators of ``stale`` URLs deleted, ``validators``
        upserted, in one transaction."""
        self.delete_page_validators(stale)
        self.store_page_validators(validators)

    def source_keys(self) -> list[str]:
        """Keys of the sources registered in the archive, sorted."""
        return list(self.session.scalars(sa.select(SOURCES.c.key).order_by(SOURCES.c.key)))

    def has_articles(self, source_key: str) -> bool:
        """Whether the archive holds any article of ``source_key`` (one index lookup, not a count)."""
        stmt = sa.select(ARTICLES.c.id).where(ARTICLES.c.source_key == source_key).limit(1)
        return self.session.execute(stmt).first() is not None

    def count_articles(self, source_key: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(ARTICLES)
        if source_key is not None:
            stmt = stmt.where(ARTICLES.c.source_key == source_key)
        return int(self.session.execute(stmt).scalar_one())

    def iter_articles(
        self, filters: SearchFilters = NO_FILTERS, batch_size: int = 1000, query: str | None = None
    ) -> Iterator[ArticleOut]:
        """Stream articles (by id) matching ``filters`` (and ``query``, unranked); server-side cursor on PostgreSQL."""
        clauses = _filter_clauses(filters)
        if query is not None:
            clauses.append(self._matches(parse_query(query)))
        stmt = self._articles_select().where(*clauses).order_by(ARTICLES.c.id)
        result = self.session.execute(stmt.execution_options(yield_per=batch_size))
        for row in result:
            yield _article_out(row)

    def iter_article_rows(
        self, fields: Sequence[str], filters: SearchFilters = NO_FILTERS, batch_size: int = 1000,
        query: str | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """As iter_articles, but tuples of these ArticleOut ``fields`` (values as in ArticleOut, lists
        possibly None): no ArticleOut built, for the export of big archives."""
        clauses = _filter_clauses(filters)
        if query is not None:
            clauses.append(self._matches(parse_query(query)))
        select = self._articles_select()
        columns = {c.name: c for c in select.selected_columns}
        columns["source"] = columns["source_key"]
        unknown = [f for f in fields if f not in columns]
        if unknown:
            raise ValueError(f"no article field {', '.join(unknown)}")
        stmt = (select.with_only_columns(*(columns[f] for f in fields), maintain_column_froms=True)
                .where(*clauses).order_by(ARTICLES.c.id))
        for partition in self.session.execute(stmt.execution_options(yield_per=batch_size)).partitions():
            yield from partition

    def _matches(self, parsed: Query) -> sa.ColumnElement[bool]:
        """articles.id matches the query (unranked), as search matches it."""
        if self.dialect == "sqlite":
            return _sqlite_matches(parsed, _sqlite_language_groups(self.session))
        return _pg_matches(parsed)

    # --- snapshots -----------------------------------------------------------------------

    def store_snapshots(self, snaps: Sequence[SnapshotIn]) -> list[str]:
        """Store each distinct body once and record every fetch; returns the bodies' sha256."""
        shas = [hashlib.sha256(s.body).hexdigest() for s in snaps]
        for s in snaps:
            _aware(s.fetched_at, f"fetched_at of {s.url}")
        known: set[str] = set()
        for chunk in _chunks(sorted(set(shas))):
            known.update(self.session.scalars(sa.select(SNAPSHOTS.c.sha256).where(SNAPSHOTS.c.sha256.in_(chunk))))
        new_rows: dict[str, dict[str, Any]] = {}
        for sha, s in zip(shas, snaps, strict=True):
            if sha not in known and sha not in new_rows:
                new_rows[sha] = {"sha256": sha, "url": s.url, "status": s.status, "headers": dict(s.headers),
                                 "body": pack_body(s.body), "size": len(s.body), "fetched_at": s.fetched_at}
        stmt = self._insert(SNAPSHOTS).on_conflict_do_nothing(index_elements=["sha256"])
        for chunk in _chunks(list(new_rows.values()), 50):  # bodies are large: small batches
            self.session.execute(stmt, list(chunk))
        fetches = [{"sha256": sha, "url": s.url, "status": s.status, "fetched_at": s.fetched_at}
                   for sha, s in zip(shas, snaps, strict=True)]
        for chunk in _chunks(fetches):
            self.session.execute(sa.insert(FETCHES), list(chunk))
        return shas

    def get_snapshot(self, sha256: str) -> tuple[SnapshotOut, bytes]:
        """The snapshot's metadata and its decompressed body."""
        row = self.session.execute(sa.select(SNAPSHOTS).where(SNAPSHOTS.c.sha256 == sha256)).first()
        if row is None:
            raise NotFound(f"no snapshot {sha256}")
        meta = SnapshotOut(row.sha256, row.url, row.status, dict(row.headers), row.size, row.fetched_at)
        try:
            return meta, unpack_body(row.body)
        except DamagedSnapshot as exc:
            raise DamagedSnapshot(f"snapshot {sha256[:12]}…: {exc}") from None

    # --- search --------------------------------------------------------------------------

    def search(
        self, query: str, filters: SearchFilters = NO_FILTERS, limit: int = 20, offset: int = 0,
        *, marks: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """Ranked full-text hits, best first; see storage.query for the query language. A query
        matching more than RANKED_MATCHES articles (after the filters) is ranked among its newest
        RANKED_MATCHES matches (by id: archived last); its older matches follow them, newest
        first, with their own rank: paging reaches every match.

        ``marks`` wrap the matched terms in the snippets (pick characters the text cannot hold,
        e.g. private-use ones, to find them again unambiguously).
        """
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        if any(not m or '"' in m for m in marks):
            raise ValueError("marks must be two non-empty strings without '\"'")
        parsed = parse_query(query)
        if self.dialect == "sqlite":
            return _sqlite_search(self.session, parsed, filters, limit, offset, marks)
        return _pg_search(self.session, parsed, filters, limit, offset, marks)


# --- statement builders and row mappers (module-private) -----------------------------------


def _filter_clauses(filters: SearchFilters) -> list[sa.ColumnElement[bool]]:
    """Naive since/until datetimes are taken as UTC."""
    a = ARTICLES.c
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.sources:
        clauses.append(a.source_key.in_(list(filters.sources)))
    if filters.language:
        clauses.append(a.language == filters.language)
    if filters.since is not None:
        clauses.append(a.published_at >= _as_utc(filters.since))
    if filters.until is not None:
        clauses.append(a.published_at < _as_utc(filters.until))
    return clauses


SEEN_CHUNK = 500  # URLs per lookup query in articles_seen (SQLite allows 32,766 parameters)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _sqlite_matches(parsed: Query, present: Set[str | None]) -> sa.ColumnElement[bool]:
    """articles.id matches the query, stemmed for each article's language group (as _sqlite_search),
    for the groups ``present`` in the archive only (_sqlite_language_groups)."""
    a = ARTICLES.c
    fts = sa.table("articles_fts", sa.column("rowid"))
    match_on: sa.ColumnClause[Any] = sa.literal_column("articles_fts")
    code = sa.func.lower(sa.func.substr(sa.func.coalesce(a.language, ""), 1, 2))
    return sa.or_(sa.false(), *(
        sa.and_(code == group if group else code.not_in(list(STEMMERS)),
                a.id.in_(sa.select(fts.c.rowid).where(match_on.op("MATCH")(to_fts5(parsed, group)))))
        for group in [*STEMMERS, None] if group in present
    ))


def _sqlite_branch_order(session: Session, branches: Sequence[Sequence[str | None]]) -> list[int]:
    """Indexes of ``branches`` (each a list of language groups), the one whose groups hold most
    of the newest SAMPLED_ARTICLES articles first."""
    code = sa.func.lower(sa.func.substr(sa.func.coalesce(ARTICLES.c.language, ""), 1, 2))
    sample = session.scalars(sa.select(code).order_by(ARTICLES.c.id.desc()).limit(SAMPLED_ARTICLES)).all()
    share = Counter(c if c in STEMMERS else None for c in sample)
    return sorted(range(len(branches)), key=lambda i: -sum(share[g] for g in branches[i]))


def _sqlite_language_groups(session: Session) -> set[str | None]:
    """The language groups (language_group: 'fr', 'ru', 'en', None for any other language or
    none) the archive holds articles in, read off ix_articles_language: one index seek per
    distinct language (a loose index scan), however many articles."""
    languages = session.scalars(sa.text(
        "WITH RECURSIVE langs(v) AS (SELECT min(language) FROM articles UNION ALL"
        " SELECT (SELECT min(language) FROM articles WHERE language > v) FROM langs WHERE v IS NOT NULL)"
        " SELECT v FROM langs WHERE v IS NOT NULL"
    )).all()
    groups = {language_group(language) for language in languages}
    if session.scalar(sa.select(sa.exists().where(ARTICLES.c.language.is_(None)))):
        groups.add(None)
    return groups


def _sqlite_group_clause(
    groups: Sequence[str | None], present: Set[str | None] = ALL_GROUPS,
) -> sa.ColumnElement[bool] | None:
    """The articles of these language groups (None: no stemmer); None if they are all the
    groups ``present`` in the archive (no article of another group to leave out)."""
    if set(present) <= set(groups):
        return None
    # It is tested for every match: LIKE (ASCII case-insensitive, as lower() is) costs a third
    # of lower(substr(coalesce(language, ''), 1, 2)) IN (...). None: not the other groups.
    if None in groups:
        language = sa.func.coalesce(ARTICLES.c.language, "")
        return sa.and_(*(language.not_like(f"{g}%") for g in STEMMERS if g not in groups))
    return sa.or_(*(ARTICLES.c.language.like(f"{g}%") for g in groups))


def _sqlite_search(
    session: Session, parsed: Query, filters: SearchFilters, limit: int, offset: int,
    marks: tuple[str, str] = ("[", "]"),
) -> list[SearchHit]:
    """One FTS5 query per article language group, each with the query stemmed for that
    language (as PostgreSQL does with its configurations), merged by rank.

    Groups whose stemmed query is the same share one FTS5 query (a branch). A query matching
    more than RANKED_MATCHES articles (after the filters) is ranked among its newest
    RANKED_MATCHES matches (highest ids: archived last); its older matches follow them, newest
    first, so every match can still be paged to. The matches are ranked (bm25 only) and the
    page kept; then snippets are made for the page's hits only (snippet() reads and tokenizes
    a text: made for every match, it took most of the time of a search for a frequent word).
    """
    a = ARTICLES.c
    fts = sa.table("articles_fts", sa.column("rowid"))
    fts_ref: sa.ColumnClause[Any] = sa.literal_column("articles_fts")
    bm25 = sa.func.bm25(fts_ref, *SQLITE_BM25_WEIGHTS)  # lower is better
    # Only the language groups the archive holds articles in: a query stemmed for a language
    # it has no article in would walk its matches only to test each one's language.
    present = _sqlite_language_groups(session)
    groups = [g for g in ([language_group(filters.language)] if filters.language else [*STEMMERS, None])
              if g in present]
    if not groups:
        return []
    by_match: dict[str, list[str | None]] = {}
    for group in groups:
        by_match.setdefault(to_fts5(parsed, group), []).append(group)
    matches = list(by_match)
    cap = RANKED_MATCHES

    def matching(i: int, *columns: sa.ColumnElement[Any], articles: bool = True) -> sa.Select[Any]:
        """Branch i: the articles of its language groups matching its FTS5 query and the filters
        (``articles=False``: only the FTS5 rows, when no group or filter clause needs the article)."""
        in_groups = _sqlite_group_clause(by_match[matches[i]], present)
        clauses = [*([] if in_groups is None else [in_groups]), *_filter_clauses(filters)]
        source = fts.join(ARTICLES, a.id == fts.c.rowid) if articles or clauses else fts
        return sa.select(*columns).select_from(source).where(fts_ref.op("MATCH")(matches[i]), *clauses)

    # 1. bm25 of the ranked matches (each branch's newest ``cap``, then the newest ``cap`` of
    # them all), best first, and the page's part of them. With several branches, the one whose
    # groups hold most of the newest articles comes first, and the others need only their
    # matches from its cap-th newest on (a branch whose groups have few articles would otherwise
    # be walked to its end, each match looked up in articles for its language).
    order = (_sqlite_branch_order(session, [by_match[m] for m in matches]) if cap is not None and len(matches) > 1
             else list(range(len(matches))))
    branches = []
    for i in order:
        stmt = matching(i, fts.c.rowid.label("id"), (-bm25).label("rank"), sa.literal(i).label("branch"),
                        articles=False)
        if cap is not None:  # FTS5 yields the matches newest first, bm25 is computed for these only
            stmt = stmt.order_by(fts.c.rowid.desc()).limit(cap)
        branches.append(stmt)
    if len(branches) == 1:
        ranked = branches[0].cte("ranked")
    elif cap is None:
        parts = [stmt.subquery(f"b{n}") for n, stmt in enumerate(branches)]
        ranked = sa.union_all(*(sa.select(*part.c) for part in parts)).cte("ranked")
    else:
        first = branches[0].cte("first")  # read twice: materialized once
        floor = sa.select(sa.case((sa.func.count() >= cap, sa.func.min(first.c.id)), else_=0)).scalar_subquery()
        parts = [stmt.where(fts.c.rowid >= floor).subquery(f"b{n}") for n, stmt in enumerate(branches[1:], 1)]
        merged = sa.union_all(sa.select(*first.c), *(sa.select(*part.c) for part in parts)).subquery("merged")
        ranked = sa.select(*merged.c).order_by(merged.c.id.desc()).limit(cap).cte("ranked")
    # The page, ordered by rank, then publication date (newest first), then id. Only the ranked
    # matches scoring at least the page's last rank are looked up in articles for their date
    # (ties included): looking up every ranked match's row cost as much as its bm25.
    cut = (sa.select(ranked.c.rank).order_by(ranked.c.rank.desc()).limit(1).offset(offset + limit - 1)
           .scalar_subquery())
    page: list[tuple[int, float | None, int]] = [  # (id, rank or None: not ranked, branch)
        (r.id, r.rank, r.branch) for r in session.execute(
            sa.select(ranked.c.id, ranked.c.rank, ranked.c.branch)
            .join(ARTICLES, a.id == ranked.c.id)
            .where(ranked.c.rank >= sa.func.coalesce(cut, ranked.c.rank))  # fewer matches: all
            .order_by(ranked.c.rank.desc(), a.published_at.desc(), ranked.c.id)
            .limit(limit)
            .offset(offset)
        )
    ] if cap is None or offset < cap else []
    if cap is not None and offset + limit > cap:  # 2. the page may reach the unranked matches
        count, lowest = session.execute(sa.select(sa.func.count(), sa.func.min(ranked.c.id))).one()
        if count == cap:  # the older matches, newest first: each branch's, merged
            n, skip = offset + limit - max(offset, cap), max(0, offset - cap)
            older = [matching(i, fts.c.rowid.label("id"), sa.literal(i).label("branch"), articles=False)
                     .where(fts.c.rowid < lowest).order_by(fts.c.rowid.desc()).limit(skip + n).subquery(f"o{i}")
                     for i in range(len(matches))]
            merged = sa.union_all(*(sa.select(part.c.id, part.c.branch) for part in older)).subquery("older")
            page += [(r.id, None, r.branch) for r in session.execute(
                sa.select(merged.c.id, merged.c.branch).order_by(merged.c.id.desc()).limit(n).offset(skip))]
    if not page:
        return []
    late_ranks: dict[int, float] = {}  # bm25 of the page's unranked hits only (higher is better)
    for i, match in enumerate(matches):
        for chunk in _chunks([hit_id for hit_id, rank, branch in page if branch == i and rank is None]):
            # "rowid + 0": FTS5 would run the MATCH again for each id of an "rowid IN" it is handed
            # the rowid range: FTS5 walks only the matches between the chunk's first and last id
            late_ranks.update((r.rowid, r.rank) for r in session.execute(
                sa.select(fts.c.rowid, (-bm25).label("rank"))
                .where(fts_ref.op("MATCH")(match), fts.c.rowid.between(min(chunk), max(chunk)),
                       (fts.c.rowid + 0).in_(chunk))
            ))
    articles: dict[int, sa.Row[Any]] = {}
    for chunk in _chunks([hit_id for hit_id, _, _ in page]):
        articles.update((r.id, r) for r in session.execute(
            sa.select(a.id, a.source_key, a.url, a.title, a.published_at, a.language, a.description, a.text)
            .where(a.id.in_(chunk))))
    snippets = _sqlite_snippets([
        (articles[hit_id], matches[branch]) for hit_id, _, branch in page if hit_id in articles], marks)
    out = []
    for hit_id, rank, _ in page:
        art = articles.get(hit_id)
        if art is None:
            continue  # deleted between the steps
        if rank is None:
            rank = late_ranks.get(hit_id, 0.0)
        out.append(SearchHit(hit_id, art.source_key, art.url, art.title, art.published_at, art.language,
                             snippets.get(hit_id, ""), float(rank)))
    return out


def _sqlite_snippets(hits: Sequence[tuple[sa.Row[Any], str]], marks: tuple[str, str]) -> dict[int, str]:
    """FTS5 snippets of these articles (each with the FTS5 query of its branch), made by FTS5
    in a scratch in-memory database: an FTS5 table of the same columns and tokenizer that
    holds these articles only.

    A snippet depends on the article and the query alone, not on the rest of the archive, and
    running the query again on the archive's own index cost as much as ranking: a prefix term
    (a stemmed word) merges the lists of every word it matches over the whole archive, each time
    a statement runs it. Here it merges them over the page. The scratch database is not the
    archive's connection, so this works where that one may not write (the web app's query_only).
    """
    by_match: dict[str, list[sa.Row[Any]]] = {}
    for art, match in hits:
        by_match.setdefault(match, []).append(art)
    out: dict[int, str] = {}
    with closing(sqlite3.connect(":memory:")) as scratch:
        scratch.execute(f"CREATE VIRTUAL TABLE page USING fts5(title, description, text, tokenize='{FTS5_TOKENIZE}')")
        for match, arts in by_match.items():
            scratch.execute("DELETE FROM page")
            scratch.executemany("INSERT INTO page (rowid, title, description, text) VALUES (?, ?, ?, ?)",
                                [(art.id, art.title, art.description, art.text) for art in arts])
            out.update(scratch.execute("SELECT rowid, snippet(page, -1, ?, ?, '…', ?) FROM page WHERE page MATCH ?",
                                       (marks[0], marks[1], SNIPPET_TOKENS, match)))
    return out


def _pg_tsquery(parsed: Query, cfg: str, *, with_exclusions: bool = True) -> sa.ColumnElement[Any]:
    """The query as a tsquery for one text search configuration, built from bound strings.

    Ranking and headlines use it without exclusions (ts_rank scores a negated query ~0).
    """
    config = sa.literal_column(f"'{cfg}'::regconfig", REGCONFIG)  # cfg comes from PG_CONFIGS

    def term(t: Term) -> sa.ColumnElement[Any]:
        return sa.func.phraseto_tsquery(config, sa.literal(t.text, sa.Text), type_=TSQUERY)

    def any_of(terms: Sequence[Term]) -> sa.ColumnElement[Any]:
        out = term(terms[0])
        for t in terms[1:]:
            out = sa.func.tsquery_or(out, term(t), type_=TSQUERY)
        return out

    result = any_of(parsed.required[0].terms)
    for group in parsed.required[1:]:
        result = sa.func.tsquery_and(result, any_of(group.terms), type_=TSQUERY)
    if parsed.excluded and with_exclusions:
        result = sa.func.tsquery_and(result, sa.func.tsquery_not(any_of(parsed.excluded), type_=TSQUERY),
                                     type_=TSQUERY)
    return result


def _pg_matches(parsed: Query) -> sa.ColumnElement[bool]:
    """Each article is matched with the query compiled for its own language's configuration
    (so stemming and stop words agree on both sides), whatever the query's language."""
    vector = sa.literal_column("articles.search_vector", TSVECTOR)
    doc_cfg = sa.func.na_search_config(ARTICLES.c.language)
    return sa.or_(*(sa.and_(doc_cfg == cfg, vector.op("@@")(_pg_tsquery(parsed, cfg))) for cfg in PG_CONFIGS))


def _pg_search(
    session: Session, parsed: Query, filters: SearchFilters, limit: int, offset: int,
    marks: tuple[str, str] = ("[", "]"),
) -> list[SearchHit]:
    """Ranked hits (see _pg_matches), as _sqlite_search: a query matching more than
    RANKED_MATCHES articles is ranked among its newest RANKED_MATCHES matches only, its older
    matches follow them, newest first. ts_rank reads each ranked article's search vector (it
    took most of the time of a search for a frequent word); matching only looks it up in the
    GIN index."""
    a = ARTICLES.c
    vector = sa.literal_column("articles.search_vector", TSVECTOR)
    doc_cfg = sa.func.na_search_config(a.language)
    positive = {cfg: _pg_tsquery(parsed, cfg, with_exclusions=False) for cfg in PG_CONFIGS}
    matched = sa.select(a.id).where(_pg_matches(parsed), *_filter_clauses(filters))
    cap = RANKED_MATCHES

    def rank_of(vec: sa.ColumnElement[Any], language: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        cfg_of = sa.func.na_search_config(language)
        return sa.case(*((cfg_of == cfg, sa.func.ts_rank(vec, q, 1)) for cfg, q in positive.items()), else_=0.0)

    if cap is None:
        ranked = sa.select(a.id, a.published_at, rank_of(vector, a.language).label("rank")).where(
            _pg_matches(parsed), *_filter_clauses(filters)).subquery("ranked")
    else:
        # "id + 0": the newest matches are found through the full-text index and sorted, never by
        # walking the primary key backwards and testing every article (slow for a rare word).
        newest = (sa.select(a.id, a.published_at, a.language, vector.label("vector"))
                  .where(_pg_matches(parsed), *_filter_clauses(filters))
                  .order_by((a.id + 0).desc()).limit(cap).subquery("newest"))
        ranked = sa.select(newest.c.id, newest.c.published_at,
                           rank_of(newest.c.vector, newest.c.language).label("rank")).subquery("ranked")
    page: list[tuple[int, float | None]] = [  # (id, rank or None: not ranked)
        (r.id, r.rank) for r in session.execute(
            sa.select(ranked.c.id, ranked.c.rank)
            .order_by(ranked.c.rank.desc(), ranked.c.published_at.desc().nulls_last(), ranked.c.id)
            .limit(limit).offset(offset))
    ] if cap is None or offset < cap else []
    if cap is not None and offset + limit > cap:  # the page may reach the unranked matches
        count, lowest = session.execute(sa.select(sa.func.count(), sa.func.min(ranked.c.id))).one()
        if count == cap:
            page += [(row_id, None) for row_id in session.scalars(
                matched.where(a.id < lowest).order_by(a.id.desc())
                .limit(offset + limit - max(offset, cap)).offset(max(0, offset - cap)))]
    if not page:
        return []
    weight_c: sa.ColumnClause[Any] = sa.literal_column("'{c}'::\"char\"[]")
    weight_b: sa.ColumnClause[Any] = sa.literal_column("'{b}'::\"char\"[]")

    def headline(cfg: str, q: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # Headline the text if the text matched, else the description, else the title.
        source = sa.case(
            (sa.func.ts_filter(vector, weight_c).op("@@")(q), a.text),
            (sa.func.ts_filter(vector, weight_b).op("@@")(q), a.description),
            else_=a.title,
        )
        config = sa.literal_column(f"'{cfg}'::regconfig", REGCONFIG)
        options = f'StartSel="{marks[0]}", StopSel="{marks[1]}", {PG_HEADLINE_OPTIONS}'
        return sa.func.ts_headline(config, source, q, options)

    snippet = sa.case(*((doc_cfg == cfg, headline(cfg, q)) for cfg, q in positive.items()), else_="")
    rows = {r.id: r for r in session.execute(
        sa.select(a.id, a.source_key, a.url, a.title, a.published_at, a.language, snippet.label("snippet"),
                  rank_of(vector, a.language).label("rank"))
        .where(a.id.in_([row_id for row_id, _ in page]))
    )}
    return [
        SearchHit(r.id, r.source_key, r.url, r.title, r.published_at, r.language, r.snippet or "",
                  float(r.rank if rank is None else rank))
        for row_id, rank in page
        if (r := rows.get(row_id)) is not None
    ]


def _article_out(row: sa.Row[Any]) -> ArticleOut:
    return ArticleOut(
        id=row.id, source=row.source_key, url=row.url, title=row.title, authors=list(row.authors or []),
        published_at=row.published_at, modified_at=row.modified_at, language=row.language,
        description=row.description, tags=list(row.tags or []), text=row.text, content_hash=row.content_hash,
        first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at, version=row.version,
        snapshot_sha256=row.snapshot_sha256, extractor_version=row.extractor_version,
        cluster_id=row._mapping.get("cluster_id"),
    )


def _run_out(run: CrawlRun) -> RunOut:
    return RunOut(
        id=run.id, source=run.source_key, trigger=run.trigger, status=run.status, started_at=run.started_at,
        finished_at=run.finished_at, pages_fetched=run.pages_fetched, articles_new=run.articles_new,
        articles_updated=run.articles_updated, articles_unchanged=run.articles_unchanged,
        articles_skipped=run.articles_skipped, errors=run.errors, error_messages=list(run.error_messages or []),
        stats=dict(run.stats or {}), pid=run.pid,
    )


def _lock_info(row: dict[str, Any]) -> LockInfo:
    def aware(value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    return LockInfo(source=row["source_key"], owner=row["owner"], run_id=row["run_id"], pid=row["pid"],
                    host=row["host"], acquired_at=aware(row["acquired_at"]), heartbeat_at=aware(row["heartbeat_at"]),
                    expires_at=aware(row["expires_at"]))


def _run_is_live(run: CrawlRun, lock: sa.Row[Any] | None, now: datetime) -> bool:
    """A running run is live while its source's lock is unexpired and is this run's (or is
    still being attached to a run that started after the lock was taken)."""
    if lock is None:
        return False
    info = _lock_info(lock._asdict())
    if info.expires_at <= now:
        return False
    if info.run_id is not None:
        return info.run_id == run.id
    return run.started_at >= info.acquired_at - timedelta(seconds=1)
