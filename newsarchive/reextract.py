"""Re-run the current extraction on the archive's stored snapshots, without the network.

A change to a source's rules (``drop_lines``, ``drop_selectors``…) or to the extractor
reaches every archived article in one pass: a text that changes becomes a new version
(recording the extractor version that produced it), a page that no longer extracts or
whose snapshot is missing is reported and left as it is.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from crawler.extraction import Article, Rejection
from crawler.sources import Registry, Source
from newsarchive.extractjobs import Extractor, Job
from storage import Archive, DamagedSnapshot, NotFound
from storage.records import ArticleIn, SearchFilters

logger = logging.getLogger(__name__)

BATCH = 200
MAX_MESSAGES = 50


@dataclass
class ReextractReport:
    examined: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # the first MAX_MESSAGES, one line each

    def fail(self, message: str) -> None:
        self.failed += 1
        logger.info("%s", message)
        if len(self.failures) < MAX_MESSAGES:
            self.failures.append(message)


@dataclass(frozen=True)
class _Target:
    id: int
    url: str
    source: str
    snapshot: str | None


def article_in(article: Article, source_key: str, url: str, snapshot: str | None) -> ArticleIn:
    return ArticleIn(
        source=source_key, url=url, title=article.title, text=article.text, language=article.language,
        authors=list(article.authors), published_at=article.published_at, modified_at=article.modified_at,
        description=article.description, tags=list(article.tags), snapshot_sha256=snapshot,
        extractor_version=article.extractor_version,
    )


def reextract(
    archive: Archive,
    registry: Registry,
    *,
    sources: Sequence[str] = (),
    since: datetime | None = None,
    workers: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReextractReport:
    """Re-extract the articles of ``sources`` (all when empty) published since ``since``."""
    by_key = {s.key: s for s in registry}
    report = ReextractReport()
    with archive.repository(readonly=True) as repo:
        targets = [_Target(a.id, a.url, a.source, a.snapshot_sha256)
                   for a in repo.iter_articles(SearchFilters(sources=tuple(sources), since=since))]
    if on_total:
        on_total(len(targets))
    with Extractor(workers) as extractor:
        for start in range(0, len(targets), BATCH):
            batch = targets[start : start + BATCH]
            _run_batch(archive, by_key, batch, extractor, report)
            if on_progress:
                on_progress(len(batch))
    _index_stories(archive)
    return report


def _index_stories(archive: Archive) -> None:
    """Put the articles archived before story clusters existed into the story index."""
    last: int | None = 0
    while last is not None:
        with archive.repository() as repo:
            last = repo.index_unindexed(after_id=last)


def _run_batch(archive: Archive, by_key: dict[str, Source], batch: list[_Target], extractor: Extractor,
               report: ReextractReport) -> None:
    jobs: list[tuple[_Target, Job]] = []
    with archive.repository(readonly=True) as repo:
        for target in batch:
            report.examined += 1
            where = f"article {target.id} ({target.url})"
            source = by_key.get(target.source)
            if source is None:
                report.fail(f"{where}: source {target.source!r} is not in the registry; give its --sources file")
            elif target.snapshot is None:
                report.fail(f"{where}: no snapshot was kept for it (crawled with NEWSARCHIVE_KEEP_SNAPSHOTS off?)")
            else:
                try:
                    meta, body = repo.get_snapshot(target.snapshot)
                except NotFound:
                    report.fail(f"{where}: its snapshot {target.snapshot[:12]}… is missing from the archive")
                    continue
                except DamagedSnapshot as exc:
                    report.fail(f"{where}: {exc}; the archived text is kept")
                    continue
                jobs.append((target, Job(body, meta.url, source, meta.headers.get("Content-Type"))))
    updates: list[tuple[int, ArticleIn]] = []
    for (target, _), result in zip(jobs, extractor.map([job for _, job in jobs]), strict=True):
        where = f"article {target.id} ({target.url})"
        if isinstance(result, str):
            report.fail(f"{where}: {result}")
        elif isinstance(result, Rejection):
            report.fail(f"{where}: its snapshot no longer extracts ({result}); the archived text is kept")
        else:
            updates.append((target.id, article_in(result, target.source, target.url, target.snapshot)))
    if not updates:
        return
    with archive.repository() as repo:
        outcomes = repo.apply_reextraction(updates, at=datetime.now(timezone.utc))
    for outcome in outcomes.values():
        if outcome == "changed":
            report.changed += 1
        else:
            report.unchanged += 1
