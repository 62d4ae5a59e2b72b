"""WARC 1.1 export and import of the archive (warcio).

Export: per article, the page as fetched, rebuilt from its snapshot as a ``response`` record
(status line, headers, body; one record per distinct body), then a ``metadata`` record
(``application/json``: the extracted fields) that names the response in
``WARC-Refers-To`` and ``WARC-Concurrent-To``. An article archived without a snapshot gets
the metadata record alone.

Import: every HTML ``response`` record goes through the same extraction and storage as a
crawl (a snapshot and an article); the source is ``--source``, else the ``source`` named by
the record's metadata when the registry has it, else the registry source whose domains
match the URL. A metadata record with no response (an article kept without its page) is
stored as the fields it carries. A record or file that cannot be read is reported in one
line and the rest goes on.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.extraction import Rejection
from crawler.sources import Registry, Source
from newsarchive.extractjobs import Extractor, Job
from newsarchive.reextract import article_in
from storage import Archive, DamagedSnapshot, NotFound, Repository
from storage.records import ArticleIn, ArticleOut, SearchFilters, SnapshotIn, SourceIn

logger = logging.getLogger(__name__)

# The body of a snapshot is stored decoded (no gzip, no chunking): headers that describe
# another encoding would make the rebuilt response lie about its body.
HOP_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length", "connection", "keep-alive"})
METADATA_TYPE = "application/json"
BATCH = 50
MAX_MESSAGES = 50


def _software() -> str:
    try:
        return f"newsarchive/{version('newsarchive')}"
    except PackageNotFoundError:
        return "newsarchive"


def _warc_date(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _http_headers(status: int, headers: dict[str, str], body_length: int) -> StatusAndHeaders:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    kept = [(k, v) for k, v in headers.items() if k.lower() not in HOP_HEADERS]
    kept.append(("Content-Length", str(body_length)))
    return StatusAndHeaders(f"{status} {reason}", kept, protocol="HTTP/1.1")


def metadata_record(article: ArticleOut, extra: dict[str, Any]) -> dict[str, Any]:
    from storage.export import article_record

    record = article_record(article)
    record.update(extra)
    return record


@dataclass
class ExportReport:
    articles: int = 0
    responses: int = 0
    without_snapshot: int = 0
    missing_snapshots: list[str] = field(default_factory=list)


def write_warc(repo: Repository, out: BinaryIO, filters: SearchFilters = SearchFilters(),
               query: str | None = None, filename: str = "newsarchive.warc.gz") -> ExportReport:
    """Write the matching articles to ``out`` as gzipped WARC 1.1 records."""
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    writer.write_record(writer.create_warcinfo_record(filename, {
        "software": _software(), "format": "WARC File Format 1.1",
        "description": "newsarchive export: response = the page as fetched, metadata = the extracted article (JSON)",
    }))
    report = ExportReport()
    written: dict[str, str] = {}  # snapshot sha256 -> WARC-Record-ID of its response record
    articles = repo.iter_articles(filters, query=query) if query is not None else repo.iter_articles(filters)
    for article in articles:
        report.articles += 1
        response_id = None
        sha = article.snapshot_sha256
        if sha is not None and sha not in written:
            try:
                meta, body = repo.get_snapshot(sha)
            except NotFound:
                report.missing_snapshots.append(f"article {article.id} ({article.url}): snapshot {sha[:12]}… missing")
            except DamagedSnapshot as exc:
                report.missing_snapshots.append(f"article {article.id} ({article.url}): {exc}")
            else:
                record = writer.create_warc_record(
                    meta.url, "response", payload=io.BytesIO(body), length=len(body),
                    http_headers=_http_headers(meta.status, meta.headers, len(body)),
                    warc_headers_dict={"WARC-Date": _warc_date(meta.fetched_at)})
                writer.write_record(record)
                written[sha] = record.rec_headers.get_header("WARC-Record-ID")
                report.responses += 1
        if sha is not None:
            response_id = written.get(sha)
        if response_id is None:
            report.without_snapshot += 1
        extra = {"snapshot_sha256": sha, "extractor_version": article.extractor_version,
                 "aliases": repo.article_aliases(article.id),
                 "cluster_id": repo.cluster_ids([article.id]).get(article.id)}
        payload = json.dumps(metadata_record(article, extra), ensure_ascii=False).encode("utf-8")
        headers = {"WARC-Date": _warc_date(article.last_seen_at)}
        if response_id is not None:
            headers["WARC-Refers-To"] = response_id
            headers["WARC-Concurrent-To"] = response_id
        writer.write_record(writer.create_warc_record(
            article.url, "metadata", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type=METADATA_TYPE, warc_headers_dict=headers))
    return report


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    files: int = 0
    records: int = 0
    pages: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    messages: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failed += 1
        logger.info("%s", message)
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)


@dataclass
class _Page:
    """A response record (with its metadata record once seen), or a metadata record alone."""

    url: str
    record_id: str | None
    fetched_at: datetime
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    meta: dict[str, Any] | None = None
    where: str = ""


def _parse_date(value: str | None) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            pass
    return datetime.now(timezone.utc)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:199] + "…"


class _Damaged(Exception):
    """A record that warcio read but flagged as damaged."""


def _records(fh: BinaryIO) -> Iterator[tuple[int, Any, bytes]]:
    """(number, record, content) of each WARC record, content read and digests checked;
    warcio's warnings (it writes them to stderr) become _Damaged errors."""
    iterator = ArchiveIterator(fh, check_digests="raise")
    number = 0
    while True:
        with contextlib.redirect_stderr(io.StringIO()) as noise:
            record = next(iterator, None)
            if record is None:
                break
            number += 1
            if record.format != "warc":
                raise ArchiveLoadFailed("no WARC record there (old ARC format, or not an archive at all)")
            content = record.content_stream().read()
        missing = getattr(record.raw_stream, "limit", 0)
        if missing:
            raise _Damaged(f"record {number} is cut short ({missing} bytes missing: a truncated file?)")
        if iterator.err_count:
            first = " ".join(noise.getvalue().split()[:8])
            raise _Damaged(f"record {number} is damaged ({first}…)")
        yield number, record, content


def read_pages(path: Path, report: ImportReport) -> Iterator[_Page]:
    """The pages of one WARC file, in order; a corrupt record ends the file with one message."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        report.fail(f"{path}: cannot open: {exc.strerror or exc}")
        return
    with fh:
        pending: _Page | None = None
        by_id: dict[str, _Page] = {}
        number = 0
        try:
            for number, record, content in _records(fh):
                report.records += 1
                kind = record.rec_type
                headers = record.rec_headers
                target = headers.get_header("WARC-Target-URI") or ""
                where = f"{path}: record {number} ({target})"
                if kind == "response" and record.http_headers is not None:
                    if pending is not None:
                        yield pending
                    pending = _Page(
                        url=target, record_id=headers.get_header("WARC-Record-ID"),
                        fetched_at=_parse_date(headers.get_header("WARC-Date")),
                        status=int(record.http_headers.get_statuscode() or 0),
                        headers=dict(record.http_headers.headers), body=content, where=where)
                    if pending.record_id:
                        by_id[pending.record_id] = pending
                elif kind == "metadata" and (headers.get_header("Content-Type") or "").startswith(METADATA_TYPE):
                    try:
                        meta = json.loads(content.decode("utf-8"))
                        if not isinstance(meta, dict):
                            raise ValueError("not a JSON object")
                    except (UnicodeDecodeError, ValueError) as exc:
                        report.fail(f"{where}: unreadable metadata: {_one_line(exc)}")
                        continue
                    refers = headers.get_header("WARC-Refers-To")
                    page = by_id.get(refers) if refers else None
                    if page is not None:
                        if page.meta is None:
                            page.meta = meta
                        continue
                    if pending is not None:
                        yield pending
                        pending = None
                    yield _Page(url=target, record_id=None, fetched_at=_parse_date(headers.get_header("WARC-Date")),
                                meta=meta, where=where)
        except (ArchiveLoadFailed, _Damaged, zlib.error, EOFError, OSError, ValueError) as exc:
            if number == 0:
                report.fail(f"{path}: not a readable WARC file: {_one_line(exc)}")
            else:
                report.fail(f"{path}: unreadable after record {number}: {_one_line(exc)}; "
                            f"the {number} records before it were read")
        if pending is not None:
            yield pending


def _source_for(page: _Page, by_key: dict[str, Source], forced: Source | None) -> Source | None:
    if forced is not None:
        return forced
    key = (page.meta or {}).get("source")
    if isinstance(key, str) and key in by_key:
        return by_key[key]
    host = (urlsplit(page.url).hostname or "").lower()
    for source in by_key.values():
        for domain in source.domains:
            domain = domain.lower()
            if host == domain or host.endswith("." + domain):
                return source
    return None


def _meta_article(meta: dict[str, Any], source: Source, url: str) -> ArticleIn | None:
    text, title = meta.get("text"), meta.get("title")
    if not isinstance(text, str) or not isinstance(title, str) or not text:
        return None

    def when(name: str) -> datetime | None:
        value = meta.get(name)
        return _parse_date(value) if isinstance(value, str) else None

    return ArticleIn(
        source=source.key, url=meta.get("url") or url, title=title, text=text, language=meta.get("language"),
        authors=list(meta.get("authors") or []), published_at=when("published_at"), modified_at=when("modified_at"),
        description=meta.get("description"), tags=list(meta.get("tags") or []),
        extractor_version=meta.get("extractor_version"),
    )


def import_warc(
    archive: Archive,
    paths: Sequence[str | Path],
    registry: Registry,
    *,
    source_key: str | None = None,
    workers: int | None = None,
    on_page: Callable[[], None] | None = None,
) -> ImportReport:
    """Archive the pages of WARC files through the crawl's extraction and storage."""
    by_key = {s.key: s for s in registry}
    forced = registry.get(source_key) if source_key else None
    report = ImportReport()
    with Extractor(workers) as extractor:
        for path in paths:
            report.files += 1
            batch: list[tuple[_Page, Source]] = []
            for page in read_pages(Path(path), report):
                if on_page:
                    on_page()
                source = _source_for(page, by_key, forced)
                if source is None:
                    report.fail(f"{page.where}: no source of the registry serves {page.url!r}; give --source KEY")
                    continue
                batch.append((page, source))
                if len(batch) >= BATCH:
                    _store(archive, batch, extractor, report)
                    batch = []
            if batch:
                _store(archive, batch, extractor, report)
    return report


def _store(archive: Archive, batch: list[tuple[_Page, Source]], extractor: Extractor, report: ImportReport) -> None:
    with_body = [(p, s) for p, s in batch if p.body is not None]
    jobs = [Job(p.body or b"", p.url, s, p.headers.get("Content-Type") or p.headers.get("content-type"))
            for p, s in with_body]
    snapshots: list[SnapshotIn] = []
    articles: list[tuple[datetime, ArticleIn]] = []
    for (page, source), result in zip(with_body, extractor.map(jobs), strict=True):
        report.pages += 1
        snapshots.append(SnapshotIn(url=page.url, status=page.status, headers=page.headers, body=page.body or b"",
                                    fetched_at=page.fetched_at))
        if isinstance(result, str):
            report.fail(f"{page.where}: {result}")
        elif isinstance(result, Rejection):
            report.skipped += 1
            logger.info("%s: skipped: %s", page.where, result)
        else:
            sha = hashlib.sha256(page.body or b"").hexdigest()
            articles.append((page.fetched_at, article_in(result, source.key, result.url, sha)))
    for page, source in batch:
        if page.body is None and page.meta is not None:
            art = _meta_article(page.meta, source, page.url)
            if art is None:
                report.fail(f"{page.where}: metadata without a title and text, and no page to extract them from")
            else:
                articles.append((page.fetched_at, art))
    with archive.repository() as repo:
        for source in {s.key: s for _, s in batch}.values():
            repo.upsert_source(SourceIn(source.key, source.name, source.language, source.base_url))
        if snapshots:
            repo.store_snapshots(snapshots)
        by_time: dict[datetime, list[ArticleIn]] = {}
        for when, art in articles:
            by_time.setdefault(when, []).append(art)
        for when in sorted(by_time):
            for result in repo.store_articles(by_time[when], seen_at=when):
                setattr(report, result.outcome, getattr(report, result.outcome) + 1)
