"""Aliases, story clusters, version listings and re-extraction in the archive (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from storage_factories import T0, art

from storage import Archive, NotFound

STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
RELEASE, REPRINT, UNRELATED = (
    (STORIES / name).read_text(encoding="utf-8").strip() for name in ("press_release.txt", "reprint.txt", "unrelated.txt"))


def _count(archive: Archive, table: str) -> int:
    with archive.session(readonly=True) as session:
        return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_reprint_on_another_source_joins_the_cluster_unrelated_does_not(sources: Archive) -> None:
    with sources.repository() as repo:
        [orig] = repo.store_articles([art("release", RELEASE, title="La CCI France Russie ouvre un bureau à Novossibirsk")])
    with sources.repository() as repo:  # a later batch, another source, another title, lead and ending
        [copy, other] = repo.store_articles([
            art("reprint", REPRINT, source="ft", title="Un relais en Sibérie pour les PME"),
            art("lyon", UNRELATED, title="La CCI de Lyon ouvre un bureau"),
        ])
        clusters = repo.cluster_ids([orig.article_id, copy.article_id, other.article_id])
        siblings = repo.siblings(orig.article_id)
        alone = repo.siblings(other.article_id)
    assert clusters == {orig.article_id: orig.article_id, copy.article_id: orig.article_id}
    assert [(s.id, s.source) for s in siblings] == [(copy.article_id, "ft")]
    assert 0.8 < siblings[0].similarity <= 1.0
    assert alone == []
    with sources.session(readonly=True) as session:
        row = session.execute(sa.text("SELECT similarity, matched_id FROM story_members WHERE article_id = :a"),
                              {"a": copy.article_id}).one()
    assert row.matched_id == orig.article_id and 0.8 < row.similarity <= 1.0


def test_near_duplicates_in_one_batch_are_linked_and_search_collapses_them(sources: Archive) -> None:
    with sources.repository() as repo:
        results = repo.store_articles([
            art(1, RELEASE, title="Novossibirsk : un bureau franco-russe"),
            art(2, REPRINT, source="ft", title="Novossibirsk, relais des PME"),
            art(3, UNRELATED, title="Lyon : un bureau pour l'export"),
        ])
        hits = repo.search("bureau")
        collapsed = repo.collapse(hits)
    ids = [r.article_id for r in results]
    assert sorted(h.id for h in hits) == sorted(ids)
    assert len(collapsed) == 2 and ids[2] in [h.id for h in collapsed]
    assert len({ids[0], ids[1]} & {h.id for h in collapsed}) == 1


def test_an_article_matching_two_clusters_merges_them(sources: Archive) -> None:
    lyon_copy = "\n".join(UNRELATED.split("\n")[:5])
    with sources.repository() as repo:
        a, a2, b, b2 = repo.store_articles([
            art("a", RELEASE), art("a2", REPRINT, source="ft"), art("b", UNRELATED), art("b2", lyon_copy, source="rbc")])
        assert repo.cluster_ids([a.article_id, b.article_id]) == {a.article_id: a.article_id, b.article_id: b.article_id}
        [digest] = repo.store_articles([art("digest", RELEASE + "\n" + UNRELATED, source="rbc")])
        clusters = repo.cluster_ids([x.article_id for x in (a, a2, b, b2, digest)])
    assert set(clusters.values()) == {a.article_id}  # the oldest article names the merged cluster
    assert len(clusters) == 5


def test_short_texts_are_not_clustered(sources: Archive) -> None:
    with sources.repository() as repo:
        one, two = repo.store_articles([art(1, "Hausse des exportations."), art(2, "Hausse des exportations !", source="ft")])
        assert repo.cluster_ids([one.article_id, two.article_id]) == {}


def test_same_text_under_another_url_of_one_source_is_an_alias(sources: Archive) -> None:
    with sources.repository() as repo:
        [first] = repo.store_articles([art("a", RELEASE)], seen_at=T0)
    with sources.repository() as repo:
        [dup] = repo.store_articles([art("a?utm=x", " " + RELEASE.replace(" ", "  "))], seen_at=T0 + timedelta(1))
        resolved = repo.get_article("https://example.test/a?utm=x")
        aliases = repo.article_aliases(first.article_id)
        # the same text on ANOTHER source is an article of its own (a syndicated copy)
        [other] = repo.store_articles([art("b", RELEASE, source="ft")])
    assert (dup.outcome, dup.article_id, dup.version) == ("unchanged", first.article_id, 1)
    assert resolved.id == first.article_id and resolved.url == "https://example.test/a"
    assert resolved.last_seen_at == T0 + timedelta(1)
    assert aliases == ["https://example.test/a?utm=x"]
    assert other.outcome == "new" and other.article_id != first.article_id
    assert _count(sources, "articles") == 2 and _count(sources, "article_versions") == 2
    with sources.repository() as repo:  # two new URLs with one text in one batch: one article, one alias
        x, y = repo.store_articles([art("x", UNRELATED), art("y", UNRELATED)])
        assert (x.outcome, y.outcome, y.article_id) == ("new", "unchanged", x.article_id)
        # an alias URL that later serves a text of its own becomes an article
        [own] = repo.store_articles([art("y", UNRELATED + "\nUn paragraphe ajouté plus tard.")])
        assert own.outcome == "new" and own.article_id != x.article_id
        assert repo.article_aliases(x.article_id) == []
    with sources.repository() as repo, pytest.raises(NotFound):
        repo.get_article("https://example.test/nothing")


def test_edit_gives_exactly_one_version_and_noise_none(sources: Archive) -> None:
    edited = RELEASE.replace("plus de quarante sociétés", "plus de cinquante sociétés")
    with sources.repository() as repo:
        [a] = repo.store_articles([art("e", RELEASE, extractor_version="1")], seen_at=T0)
        [b] = repo.store_articles([art("e", RELEASE.replace("\n", "\n\n  "), extractor_version="1")],
                                  seen_at=T0 + timedelta(1))
        [c] = repo.store_articles([art("e", edited, extractor_version="1")], seen_at=T0 + timedelta(2))
        [d] = repo.store_articles([art("e", edited, extractor_version="1")], seen_at=T0 + timedelta(3))
        versions = repo.article_versions(a.article_id)
        stored = repo.get_article(a.article_id)
    assert [r.outcome for r in (a, b, c, d)] == ["new", "unchanged", "updated", "unchanged"]
    assert [(v.version, v.extractor_version) for v in versions] == [(1, "1"), (2, "1")]
    assert versions[0].text == RELEASE and versions[1].text == edited
    assert stored.modified_at == T0 + timedelta(2) and stored.last_seen_at == T0 + timedelta(3)


def test_apply_reextraction_versions_changed_texts_only(sources: Archive) -> None:
    with sources.repository() as repo:
        a, b, c = repo.store_articles([art(1, RELEASE, extractor_version="1"), art(2, UNRELATED, extractor_version="1"),
                                       art(3, REPRINT, source="ft", extractor_version="1")], seen_at=T0)
    trimmed = "\n".join(RELEASE.split("\n")[:-1])
    with sources.repository() as repo:
        outcomes = repo.apply_reextraction([
            (a.article_id, art(1, trimmed, extractor_version="2")),
            (b.article_id, art(2, UNRELATED, extractor_version="1")),
            (c.article_id, art(3, REPRINT, source="ft", title="Nouveau titre", extractor_version="2")),
        ], at=T0 + timedelta(5))
        first, second, third = (repo.get_article(x.article_id) for x in (a, b, c))
        versions = repo.article_versions(a.article_id)
        clusters = repo.cluster_ids([a.article_id, c.article_id])
    assert outcomes == {a.article_id: "changed", b.article_id: "unchanged", c.article_id: "changed"}
    assert (first.version, first.text, first.extractor_version) == (2, trimmed, "2")
    assert first.last_seen_at == T0  # re-extraction fetched nothing
    assert [(v.version, v.extractor_version) for v in versions] == [(1, "1"), (2, "2")]
    assert (second.version, second.extractor_version) == (1, "1")
    assert (third.version, third.title) == (1, "Nouveau titre")
    assert clusters[a.article_id] == clusters[c.article_id]  # the trimmed text still matches its reprint


def test_two_writers_linking_reprints_of_one_article_at_once_do_not_fail(sources: Archive, db_url: str) -> None:
    """Two crawls (two sources) store a reprint of the same original at the same time."""
    import threading
    import time

    from storage import open_archive

    with sources.repository() as repo:
        [orig] = repo.store_articles([art("orig", RELEASE)])
    errors: list[BaseException] = []
    results = []

    def second_writer() -> None:
        try:
            with open_archive(db_url) as other, other.repository() as repo:
                results.extend(repo.store_articles([art("copy-rbc", REPRINT + "\nReprise par RBC.", source="rbc")]))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with sources.repository() as repo:
        [first] = repo.store_articles([art("copy-ft", REPRINT, source="ft")])
        worker = threading.Thread(target=second_writer)
        worker.start()
        time.sleep(0.5)  # the second writer is now linking too, and waits for our transaction
    worker.join(timeout=30)
    assert not errors, errors
    with sources.repository(readonly=True) as repo:
        clusters = repo.cluster_ids([orig.article_id, first.article_id, results[0].article_id])
    assert set(clusters.values()) == {orig.article_id} and len(clusters) == 3
