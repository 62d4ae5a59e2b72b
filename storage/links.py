"""The Repository's SQL for what links articles: URL aliases, story clusters, re-extraction.

``LinksMixin`` is a base of storage.repository.Repository (kept in its own module so that
one file does not hold every concern); it uses the Repository's session and dialect and,
like it, never commits.

Decisions (documented in the README):
- Same source, same normalised text (content_hash), another URL -> the URL becomes an
  alias (``article_aliases``) of the article already archived, never a second article.
- Near-identical texts (any sources) -> one story cluster (``story_members``): MinHash LSH
  bands (``story_bands``) find candidates in SQL, the shingle overlap confirms them
  (storage/stories.py), computed from the stored shingle hashes (``story_shingles``) so that
  no candidate text is read and re-shingled. A cluster's id is the id of its oldest article. Clusters only grow
  and merge: a later edit never splits one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storage import stories
from storage.models import Article, ArticleAlias, ArticleVersion, Base, StoryBand, StoryMember, StoryShingles

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.records import ArticleIn, StoreResult

logger = logging.getLogger(__name__)

ARTICLES = Base.metadata.tables[Article.__tablename__]
VERSIONS = Base.metadata.tables[ArticleVersion.__tablename__]
ALIASES = Base.metadata.tables[ArticleAlias.__tablename__]
BANDS = Base.metadata.tables[StoryBand.__tablename__]
MEMBERS = Base.metadata.tables[StoryMember.__tablename__]
SHINGLES = Base.metadata.tables[StoryShingles.__tablename__]
CHUNK = 500
META_FIELDS = ("title", "authors", "published_at", "modified_at", "language", "description", "tags")


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Sibling:
    """Another article of the same story cluster."""

    id: int
    source: str
    url: str
    title: str
    published_at: datetime | None
    similarity: float  # shingle overlap with the article asked about, 0..1


class LinksMixin:
    session: Session
    dialect: str

    def _insert(self, table: sa.Table) -> Any:  # provided by Repository
        raise NotImplementedError

    # --- aliases ---------------------------------------------------------------------------

    def _split_aliases(
        self, batch: Mapping[str, ArticleIn], hashes: Mapping[str, str], fresh: list[str],
    ) -> tuple[list[str], dict[str, int | str]]:
        """Which fresh URLs are new articles, and which are aliases: url -> the id of the
        archived article with the same source and text, or the URL of an earlier new
        article of this batch."""
        a = ARTICLES.c
        wanted = sorted({hashes[u] for u in fresh})
        sources = sorted({batch[u].source for u in fresh})
        known: dict[tuple[str, str], int] = {}
        for chunk in _chunks(wanted):  # ix_articles_source_key_content_hash
            rows = self.session.execute(
                sa.select(a.id, a.source_key, a.content_hash)
                .where(a.source_key.in_(sources), a.content_hash.in_(chunk)).order_by(a.id))
            for row in rows:
                known.setdefault((row.source_key, row.content_hash), row.id)
        to_insert: list[str] = []
        aliases: dict[str, int | str] = {}
        first: dict[tuple[str, str], str] = {}
        for url in fresh:
            key = (batch[url].source, hashes[url])
            if key in known:
                aliases[url] = known[key]
            elif key in first:
                aliases[url] = first[key]
            else:
                first[key] = url
                to_insert.append(url)
        if to_insert:  # a URL that was an alias and now has a text of its own is an article
            for chunk in _chunks(to_insert):
                self.session.execute(sa.delete(ALIASES).where(ALIASES.c.url.in_(chunk)))
        return to_insert, aliases

    def _store_aliases(self, aliases: Mapping[str, int | str], results: dict[str, StoreResult],
                       seen: datetime) -> None:
        from storage.records import StoreResult

        if not aliases:
            return
        ids = {url: (results[t].article_id if isinstance(t, str) else t) for url, t in aliases.items()}
        versions = dict(self.session.execute(
            sa.select(ARTICLES.c.id, ARTICLES.c.version).where(ARTICLES.c.id.in_(set(ids.values())))).all())
        rows = [{"url": url, "article_id": aid, "first_seen_at": seen, "last_seen_at": seen} for url, aid in ids.items()]
        stmt = self._insert(ALIASES)
        stmt = stmt.on_conflict_do_update(
            index_elements=["url"], set_={"article_id": stmt.excluded.article_id, "last_seen_at": stmt.excluded.last_seen_at})
        self.session.execute(stmt, rows)
        self.session.execute(sa.update(ARTICLES).where(ARTICLES.c.id.in_(set(ids.values()))).values(last_seen_at=seen))
        for url, aid in ids.items():
            results[url] = StoreResult(url, aid, "unchanged", versions[aid])
            logger.debug("%s is an alias of article %d (same source, same text)", url, aid)

    def article_aliases(self, article_id: int) -> list[str]:
        return list(self.session.scalars(
            sa.select(ALIASES.c.url).where(ALIASES.c.article_id == article_id).order_by(ALIASES.c.url)))

    def _alias_target(self, url: str) -> int | None:
        return self.session.scalar(sa.select(ALIASES.c.article_id).where(ALIASES.c.url == url))

    # --- story clusters --------------------------------------------------------------------

    def index_stories(self, texts: Mapping[int, str],
                      prints: Mapping[int, stories.Fingerprint | None] | None = None) -> None:
        """(Re)compute the bands and shingle hashes of these articles (id -> text) and link
        each to the archived articles whose text is near-identical. Called by store_articles
        for every new or changed text; batched: one candidate query for the whole batch.

        The cost does not grow with the archive's size: candidates found by band are
        confirmed from their stored shingle hashes (story_shingles), never by reading and
        re-shingling their texts (only articles indexed before revision 0004 are, once).
        ``prints``: the texts' fingerprints when the caller computed them (trusted to match)."""
        if not texts:
            return
        ids = list(texts)
        for chunk in _chunks(ids):
            self.session.execute(sa.delete(BANDS).where(BANDS.c.article_id.in_(chunk)))
            self.session.execute(sa.delete(SHINGLES).where(SHINGLES.c.article_id.in_(chunk)))
        given = prints or {}
        fps = {aid: given.get(aid) or stories.fingerprint(text) for aid, text in texts.items()}
        hashes = {aid: stories.from_bytes(fp.hashes) for aid, fp in fps.items()}
        keys = {aid: list(fp.band_keys) for aid, fp in fps.items() if fp.band_keys}
        rows = [{"band_key": k, "article_id": aid} for aid, ks in keys.items() for k in ks]
        for chunk in _chunks(rows):
            self.session.execute(sa.insert(BANDS), list(chunk))
        self._store_hashes(hashes, list(keys))
        candidates = self._candidates(list(keys))
        archived = sorted(set().union(*candidates.values()) - set(hashes)) if candidates else []
        self._load_hashes(archived, hashes)
        for aid in ids:
            others = sorted(candidates.get(aid, ()))
            matches = list(zip(others, stories.hash_overlaps(hashes[aid], [hashes[o] for o in others])))
            matches = [(other, score) for other, score in matches if score >= stories.LINK_THRESHOLD]
            if matches:
                self._link(aid, matches)

    def _candidates(self, ids: Sequence[int]) -> dict[int, set[int]]:
        """id -> the articles sharing a band with it (their bands are stored): at most
        stories.MAX_CANDIDATES of them, those sharing the most bands (then the newest) when
        there are more.

        Counted and ranked in SQL, from the bands already stored: the batch's band keys are not
        sent back, and only the kept pairs come out (≤ 50 an article, against ~80 band holders
        read and counted in Python before: 0.15 ms an article on the bench archive)."""
        mine, theirs = BANDS.alias("mine"), BANDS.alias("theirs")
        shared = sa.func.count()
        rank = sa.func.row_number().over(partition_by=mine.c.article_id,
                                         order_by=(shared.desc(), theirs.c.article_id.desc()))
        out: dict[int, set[int]] = {}
        for chunk in _chunks(ids):
            pairs = (
                sa.select(mine.c.article_id.label("aid"), theirs.c.article_id.label("other"), rank.label("rank"))
                .join(theirs, theirs.c.band_key == mine.c.band_key)
                .where(mine.c.article_id.in_(chunk), theirs.c.article_id != mine.c.article_id)
                .group_by(mine.c.article_id, theirs.c.article_id)
            ).subquery("pairs")
            for aid, other in self.session.execute(
                    sa.select(pairs.c.aid, pairs.c.other).where(pairs.c.rank <= stories.MAX_CANDIDATES)).all():
                out.setdefault(aid, set()).add(other)
        return out

    def _store_hashes(self, hashes: Mapping[int, Any], ids: Sequence[int], concurrent: bool = False) -> None:
        rows = [{"article_id": aid, "hashes": stories.to_bytes(hashes[aid])} for aid in ids]
        if not rows:
            return
        stmt = (self._insert(SHINGLES).on_conflict_do_nothing(index_elements=["article_id"]) if concurrent
                else sa.insert(SHINGLES))
        for chunk in _chunks(rows):
            self.session.execute(stmt, list(chunk))

    def _load_hashes(self, ids: Sequence[int], hashes: dict[int, Any]) -> None:
        """Read the stored shingle hashes of these articles; compute (and store) those of
        articles indexed before they were stored."""
        c = SHINGLES.c
        for chunk in _chunks(ids):
            for aid, data in self.session.execute(sa.select(c.article_id, c.hashes).where(c.article_id.in_(chunk))).all():
                hashes[aid] = stories.from_bytes(data)
        legacy = [aid for aid in ids if aid not in hashes]
        for chunk in _chunks(legacy):
            for row in self.session.execute(sa.select(ARTICLES.c.id, ARTICLES.c.text).where(ARTICLES.c.id.in_(chunk))):
                hashes[row.id] = stories.text_hashes(row.text)
        self._store_hashes(hashes, legacy, concurrent=True)

    def _link(self, aid: int, matches: list[tuple[int, float]]) -> None:
        """Put ``aid`` and the articles it matches into one cluster, merging their clusters.

        Safe against a concurrent writer linking the same articles (two crawls at once on
        PostgreSQL): rows are inserted ON CONFLICT DO NOTHING and the clusters are read again
        and merged afterwards, so neither transaction fails."""
        m = MEMBERS.c
        ids = [aid, *(other for other, _ in matches)]
        member = self._clusters_of(ids)
        target = min(member.get(i, i) for i in ids)
        best, best_score = max(matches, key=lambda pair: (pair[1], -pair[0]))
        rows = [
            {"article_id": other, "cluster_id": target,
             "similarity": None if other == target else round(score, 4), "matched_id": None if other == target else aid}
            for other, score in matches if other not in member
        ]
        if rows:
            self.session.execute(self._insert(MEMBERS).on_conflict_do_nothing(index_elements=["article_id"]), rows)
        stmt = self._insert(MEMBERS).values(
            article_id=aid, cluster_id=target, similarity=None if aid == target else round(best_score, 4),
            matched_id=None if aid == target else best)
        stmt = stmt.on_conflict_do_update(index_elements=["article_id"], set_={
            "cluster_id": stmt.excluded.cluster_id, "similarity": stmt.excluded.similarity,
            "matched_id": stmt.excluded.matched_id})
        self.session.execute(stmt)
        clusters = set(self._clusters_of(ids).values()) | {target} | set(member.values())
        merged = min(clusters)
        others = sorted(clusters - {merged})
        if others:
            self.session.execute(sa.update(MEMBERS).where(m.cluster_id.in_(others)).values(cluster_id=merged))

    def _clusters_of(self, ids: list[int]) -> dict[int, int]:
        m = MEMBERS.c
        return dict(self.session.execute(sa.select(m.article_id, m.cluster_id).where(m.article_id.in_(ids))).all())

    def _articles_select(self) -> sa.Select[Any]:
        """SELECT articles.*, story_members.cluster_id (NULL outside a cluster)."""
        return sa.select(ARTICLES, MEMBERS.c.cluster_id).outerjoin(MEMBERS, MEMBERS.c.article_id == ARTICLES.c.id)

    def cluster_ids(self, article_ids: Iterable[int]) -> dict[int, int]:
        """article id -> its story cluster id, for the ids that belong to a cluster."""
        out: dict[int, int] = {}
        for chunk in _chunks(sorted(set(article_ids))):
            out.update(self.session.execute(
                sa.select(MEMBERS.c.article_id, MEMBERS.c.cluster_id).where(MEMBERS.c.article_id.in_(chunk))).all())
        return out

    def siblings(self, article_id: int) -> list[Sibling]:
        """The other articles of this article's story cluster, most similar first."""
        m, a = MEMBERS.c, ARTICLES.c
        cluster = self.session.scalar(sa.select(m.cluster_id).where(m.article_id == article_id))
        if cluster is None:
            return []
        own = self.session.scalar(sa.select(a.text).where(a.id == article_id)) or ""
        own_sh = stories.shingles(own)
        rows = self.session.execute(
            sa.select(a.id, a.source_key, a.url, a.title, a.published_at, a.text)
            .join(MEMBERS, m.article_id == a.id)
            .where(m.cluster_id == cluster, a.id != article_id)
        ).all()
        out = [Sibling(r.id, r.source_key, r.url, r.title, r.published_at,
                       round(stories.overlap(own_sh, stories.shingles(r.text)), 4)) for r in rows]
        return sorted(out, key=lambda s: (-s.similarity, s.id))

    def collapse(self, hits: Sequence[Any]) -> list[Any]:
        """Keep the first (best) hit of each story cluster; ``hits`` have an ``id``."""
        clusters = self.cluster_ids(h.id for h in hits)
        seen: set[int] = set()
        kept = []
        for h in hits:
            cluster = clusters.get(h.id)
            if cluster is not None:
                if cluster in seen:
                    continue
                seen.add(cluster)
            kept.append(h)
        return kept

    def index_unindexed(self, after_id: int = 0, limit: int = 500) -> int | None:
        """Cluster up to ``limit`` articles (by id, after ``after_id``) that have no bands yet:
        archived before story clusters existed, or too short to cluster (checked again, cheaply).
        Returns the last id looked at, or None when there is nothing left."""
        a = ARTICLES.c
        has_bands = sa.exists().where(BANDS.c.article_id == a.id)
        rows = self.session.execute(
            sa.select(a.id, a.text).where(a.id > after_id, ~has_bands).order_by(a.id).limit(limit)).all()
        if not rows:
            return None
        self.index_stories({row.id: row.text for row in rows})
        return rows[-1].id

    # --- re-extraction ---------------------------------------------------------------------

    def apply_reextraction(self, updates: Sequence[tuple[int, ArticleIn]], at: datetime) -> dict[int, str]:
        """Store what a new extraction of the stored snapshots gave: article id -> "changed"
        (text or metadata differ; a changed text becomes a new version) or "unchanged"
        (nothing written). ``last_seen_at`` does not move: nothing was fetched."""
        from storage.repository import content_hash

        a = ARTICLES.c
        ids = [aid for aid, _ in updates]
        current: dict[int, Any] = {}
        for chunk in _chunks(ids):
            current.update((row.id, row) for row in self.session.execute(sa.select(ARTICLES).where(a.id.in_(chunk))))
        outcomes: dict[int, str] = {}
        versions: list[dict[str, Any]] = []
        retexted: dict[int, str] = {}
        for aid, art in updates:
            row = current.get(aid)
            if row is None:
                continue
            new = {
                "title": art.title, "authors": list(art.authors), "tags": list(art.tags),
                "published_at": art.published_at or row.published_at,
                "modified_at": art.modified_at or row.modified_at,
                "language": art.language or row.language, "description": art.description or row.description,
            }
            changed_meta = {k: v for k, v in new.items() if v != getattr(row, k)}
            new_hash = content_hash(art.text)
            values: dict[str, Any] = dict(changed_meta)
            if new_hash != row.content_hash:
                values.update(text=art.text, content_hash=new_hash, version=row.version + 1)
                versions.append({"article_id": aid, "version": row.version + 1, "content_hash": new_hash,
                                 "title": art.title, "text": art.text, "seen_at": at,
                                 "extractor_version": art.extractor_version})
                retexted[aid] = art.text
            elif not values and row.extractor_version == art.extractor_version:
                outcomes[aid] = "unchanged"
                continue
            if not values:  # same result from a newer extractor: record who produced the text
                values["extractor_version"] = art.extractor_version
                self.session.execute(sa.update(ARTICLES).where(a.id == aid).values(values))
                outcomes[aid] = "unchanged"
                continue
            values["extractor_version"] = art.extractor_version
            if art.snapshot_sha256:
                values["snapshot_sha256"] = art.snapshot_sha256
            self.session.execute(sa.update(ARTICLES).where(a.id == aid).values(values))
            outcomes[aid] = "changed"
        if versions:
            self.session.execute(sa.insert(VERSIONS), versions)
        self.index_stories(retexted)
        return outcomes
