"""Storing articles (idempotent, versioned), runs and snapshots; reading them back in UTC."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from storage_factories import T0, art

from storage import Archive, DamagedSnapshot, NotFound, SearchFilters, SnapshotIn, SourceIn, content_hash

MSK = timezone(timedelta(hours=3))


def _count(archive: Archive, table: str) -> int:
    with archive.session(readonly=True) as session:
        return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_same_article_twice_is_one_row_new_then_unchanged(sources: Archive) -> None:
    with sources.repository() as repo:
        first = repo.store_articles([art(1)], seen_at=T0)
    with sources.repository() as repo:
        second = repo.store_articles([art(1)], seen_at=T0 + timedelta(days=1))
        stored = repo.get_article("https://example.test/1")
    assert [r.outcome for r in first + second] == ["new", "unchanged"]
    assert first[0].article_id == second[0].article_id == stored.id
    assert (stored.version, stored.first_seen_at, stored.last_seen_at) == (1, T0, T0 + timedelta(days=1))
    assert _count(sources, "articles") == 1 and _count(sources, "article_versions") == 1


def test_changed_text_makes_version_two(sources: Archive) -> None:
    with sources.repository() as repo:
        repo.store_articles([art(1, "Premier jet.", description="Chapeau")], seen_at=T0)
        modified = datetime(2024, 3, 2, 9, 30, tzinfo=MSK)
        [result] = repo.store_articles([art(1, "Texte corrigé.", modified_at=modified)], seen_at=T0 + timedelta(1))
        stored = repo.get_article(result.article_id)
        versions = repo.article_versions(result.article_id)
    assert (result.outcome, result.version, stored.version) == ("updated", 2, 2)
    assert stored.text == "Texte corrigé." and stored.content_hash == content_hash("Texte corrigé.")
    assert stored.modified_at == modified and stored.description == "Chapeau"  # None keeps the stored value
    assert [(v.version, v.text) for v in versions] == [(1, "Premier jet."), (2, "Texte corrigé.")]
    assert versions[1].seen_at == T0 + timedelta(1)
    with sources.repository() as repo:  # without a page date, modified_at is when we saw the change
        repo.store_articles([art(1, "Troisième version.")], seen_at=T0 + timedelta(2))
        assert repo.get_article(result.article_id).modified_at == T0 + timedelta(2)


def test_whitespace_only_change_is_unchanged(sources: Archive) -> None:
    with sources.repository() as repo:
        repo.store_articles([art(1, "Un  paragraphe.\nUn autre.")])
        [result] = repo.store_articles([art(1, "  Un paragraphe.\n\n   Un\tautre.  ")])
    assert (result.outcome, result.version) == ("unchanged", 1)
    assert _count(sources, "article_versions") == 1


def test_title_only_change_updates_title_in_place(sources: Archive) -> None:
    with sources.repository() as repo:
        repo.store_articles([art(1, "Même texte.", title="Ancien titre")])
        [result] = repo.store_articles([art(1, "Même texte.", title="Nouveau titre")])
        stored = repo.get_article(result.article_id)
        hits = repo.search("nouveau")
    assert (result.outcome, stored.version, stored.title) == ("unchanged", 1, "Nouveau titre")
    assert [h.id for h in hits] == [stored.id]  # the search index followed the new title


def test_duplicate_url_in_one_batch_last_wins(sources: Archive) -> None:
    with sources.repository() as repo:
        results = repo.store_articles([art(1, "Première."), art(2), art(1, "Seconde.")])
        assert [(r.url, r.outcome) for r in results] == [
            ("https://example.test/1", "new"), ("https://example.test/2", "new")]
        assert repo.get_article("https://example.test/1").text == "Seconde."
        again = repo.store_articles([art(1, "Seconde."), art(1, "Troisième.")])
    assert [(r.outcome, r.version) for r in again] == [("updated", 2)]
    assert _count(sources, "articles") == 2


def test_unknown_source_is_not_found_and_nothing_written(sources: Archive) -> None:
    with pytest.raises(NotFound, match="nope"), sources.repository() as repo:
        repo.store_articles([art(1), art(2, source="nope")])
    assert _count(sources, "articles") == 0


def test_timestamps_are_aware_utc_on_read(sources: Archive) -> None:
    published = datetime(2024, 3, 1, 15, 0, tzinfo=MSK)
    with sources.repository() as repo:
        [r] = repo.store_articles([art(1, published_at=published)], seen_at=T0.astimezone(MSK))
        stored = repo.get_article(r.article_id)
        version = repo.article_versions(r.article_id)[0]
        run = repo.get_run(repo.start_run("lefigaro", "manual"))
    for value in (stored.published_at, stored.first_seen_at, stored.last_seen_at, version.seen_at, run.started_at):
        assert value is not None and value.tzinfo is timezone.utc
    assert stored.published_at == published and stored.published_at.hour == 12
    assert stored.first_seen_at == T0


def test_naive_datetimes_are_refused(sources: Archive) -> None:
    with pytest.raises(ValueError, match="naive"), sources.repository() as repo:
        repo.store_articles([art(1, published_at=datetime(2024, 1, 1))])


def test_runs_start_finish_list(sources: Archive) -> None:
    with sources.repository() as repo:
        assert repo.acquire_lock("lefigaro", "me", ttl=60)[0]  # a crawl runs under its source's lock
        first = repo.start_run("lefigaro", "schedule", pid=4242)
        second = repo.start_run("rbc", "manual")
        assert repo.get_run(first).status == "running"
        assert repo.get_run(second).status == "interrupted", "running without a live lock: its process died"
        repo.finish_run(first, "finished", pages_fetched=10, articles_new=3, articles_updated=1,
                        articles_unchanged=5, articles_skipped=1, errors=25,
                        error_messages=[f"error {i}" for i in range(25)], stats={"when": T0, "n": 1})
        repo.finish_run(second, "failed", errors=1, error_messages=["boom"])
    with sources.repository(readonly=True) as repo:
        done = repo.get_run(first)
        runs = repo.list_runs()
        only_rbc = repo.list_runs(source_key="rbc")
        with pytest.raises(NotFound):
            repo.get_run(999)
    assert (done.status, done.pages_fetched, done.articles_new, done.articles_updated, done.articles_unchanged,
            done.articles_skipped, done.errors, done.pid) == ("finished", 10, 3, 1, 5, 1, 25, 4242)
    assert done.error_messages == [f"error {i}" for i in range(20)]
    assert done.stats == {"when": T0.isoformat(sep=" "), "n": 1}
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert [r.id for r in runs] == [second, first] and [r.id for r in only_rbc] == [second]
    with pytest.raises(ValueError), sources.repository() as repo:
        repo.finish_run(first, "exploded")


def test_snapshots_are_deduplicated_and_round_trip(archive: Archive) -> None:
    body = ("<html><body>" + "Газпром и Total — " * 500 + "</body></html>").encode()
    snaps = [
        SnapshotIn("https://example.test/a", 200, {"content-type": "text/html"}, body, T0),
        SnapshotIn("https://example.test/a?utm=x", 200, {}, body, T0 + timedelta(hours=1)),
        SnapshotIn("https://example.test/b", 404, {}, b"\x00\xffnot found", T0),
    ]
    with archive.repository() as repo:
        shas = repo.store_snapshots(snaps)
        assert repo.store_snapshots(snaps[:1]) == shas[:1]
    assert shas[0] == shas[1] != shas[2]
    assert _count(archive, "snapshots") == 2 and _count(archive, "snapshot_fetches") == 4
    with archive.repository(readonly=True) as repo:
        meta, data = repo.get_snapshot(shas[0])
        _, other = repo.get_snapshot(shas[2])
        with pytest.raises(NotFound):
            repo.get_snapshot("0" * 64)
    assert data == body and other == b"\x00\xffnot found"
    assert (meta.url, meta.status, meta.headers, meta.size, meta.fetched_at) == (
        "https://example.test/a", 200, {"content-type": "text/html"}, len(body), T0)
    with archive.session(readonly=True) as session:
        stored = session.execute(sa.text("SELECT length(body) FROM snapshots WHERE sha256 = :s"), {"s": shas[0]})
        assert stored.scalar_one() < len(body) / 10  # compressed


def test_source_upsert_and_lookups(sources: Archive) -> None:
    with sources.repository() as repo:
        repo.upsert_source(SourceIn("ft", "FT", "en", "https://ft.com"))
        repo.store_articles([art(1), art(2), art(3, source="rbc", published_at=T0)])
        assert repo.known_urls("lefigaro") == {"https://example.test/1", "https://example.test/2"}
        assert (repo.count_articles(), repo.count_articles("rbc"), repo.count_articles("ft")) == (3, 1, 0)
        assert (repo.has_articles("rbc"), repo.has_articles("ft"), repo.has_articles("nope")) == (True, False, False)
        with pytest.raises(NotFound):
            repo.get_article(12345)
        with pytest.raises(NotFound):
            repo.article_versions(12345)
    with sources.session() as session:
        assert session.execute(sa.text("SELECT name FROM sources WHERE key = 'ft'")).scalar_one() == "FT"


def test_iter_articles_streams_with_filters(sources: Archive) -> None:
    with sources.repository() as repo:
        repo.store_articles([art(i, published_at=T0 + timedelta(days=i)) for i in range(25)])
        repo.store_articles([art(100, source="rbc")])
    with sources.repository(readonly=True) as repo:
        everything = list(repo.iter_articles(batch_size=7))
        window = list(repo.iter_articles(SearchFilters(sources=("lefigaro",), since=T0 + timedelta(days=5),
                                                       until=T0 + timedelta(days=10)), batch_size=2))
    assert len(everything) == 26 and [a.id for a in everything] == sorted(a.id for a in everything)
    assert [a.url for a in window] == [f"https://example.test/{i}" for i in range(5, 10)]


def test_store_articles_is_batched(sources: Archive) -> None:
    """2,000 articles take a bounded number of SQL statements, not a few per article
    (a mechanism, not a timing: timings are measured by benchmarks/store_cost.py)."""
    paragraph = "Les investissements étrangers dans l'économie russe reculent fortement cette année. " * 20
    batch = [art(i, f"{paragraph} Numéro {i}.") for i in range(2000)]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(sources.engine, "before_cursor_execute", count)
    try:
        with sources.repository() as repo:
            repo.store_articles(batch)
        first = len(statements)
        with sources.repository() as repo:
            outcomes = {r.outcome for r in repo.store_articles(batch)}
        second = len(statements) - first
    finally:
        sa.event.remove(sources.engine, "before_cursor_execute", count)
    assert outcomes == {"unchanged"}
    assert first < 200 and second < 100, (first, second)


def test_snapshots_stored_by_earlier_versions_still_read_and_damage_is_named(archive: Archive) -> None:
    """Bodies were zlib streams before zstd: both read back; a body that decompresses with
    neither is a DamagedSnapshot (a StorageError), not a crash."""
    import zlib

    old, new = b"<html>" + "ancien format ".encode() * 300 + b"</html>", b"<html>zstd</html>" * 200
    with archive.repository() as repo:
        sha_old, sha_new, sha_bad = repo.store_snapshots([SnapshotIn("https://example.test/old", 200, {}, old, T0),
                                                          SnapshotIn("https://example.test/new", 200, {}, new, T0),
                                                          SnapshotIn("https://example.test/bad", 200, {}, b"x" * 99, T0)])
    with archive.engine.begin() as conn:
        conn.execute(sa.text("UPDATE snapshots SET body = :b WHERE sha256 = :s"), {"b": zlib.compress(old, 6), "s": sha_old})
        conn.execute(sa.text("UPDATE snapshots SET body = :b WHERE sha256 = :s"), {"b": b"\x28\xb5\x2f\xfd garbage", "s": sha_bad})
        stored_new = conn.execute(sa.text("SELECT body FROM snapshots WHERE sha256 = :s"), {"s": sha_new}).scalar_one()
    assert bytes(stored_new)[:4] == b"\x28\xb5\x2f\xfd" and len(stored_new) < len(new) / 4  # zstd frames
    with archive.repository(readonly=True) as repo:
        assert repo.get_snapshot(sha_old)[1] == old and repo.get_snapshot(sha_new)[1] == new
        with pytest.raises(DamagedSnapshot, match=sha_bad[:12]):
            repo.get_snapshot(sha_bad)


def test_the_reused_compressor_gives_the_bytes_of_a_fresh_one_in_every_thread() -> None:
    """pack_body keeps one zstd compressor per thread: the stored frames are those that
    zstandard.compress() gives, whatever was compressed before and in whichever thread."""
    from concurrent.futures import ThreadPoolExecutor

    import zstandard

    from storage.repository import ZSTD_LEVEL, pack_body

    bodies = [b"", b"<p>court</p>", "<html>Сибирь é ".encode() * 5000, bytes(range(256)) * 700, b"<b>x</b>" * 30_000]
    expected = [zstandard.compress(b, ZSTD_LEVEL) for b in bodies]
    assert [pack_body(b) for b in bodies + bodies[::-1]] == expected + expected[::-1]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(pack_body, bodies * 8)) == expected * 8


def test_articles_seen_by_url_by_age_and_as_at_a_time(sources: Archive) -> None:
    """What an incremental crawl asks the archive: only the URLs it names (in chunks), only
    articles born since a date (published, else first archived), only what was archived before
    the crawl started."""
    with sources.repository() as repo:
        repo.store_articles([art(1, published_at=T0 - timedelta(days=30)), art(2, published_at=T0 - timedelta(hours=1)),
                             art(3)], seen_at=T0)  # 3: no date, born when first archived
        repo.store_articles([art(4, published_at=T0 - timedelta(days=30))], seen_at=T0 + timedelta(hours=2))
    with sources.repository(readonly=True) as repo:
        everything = repo.articles_seen("lefigaro")
        named = repo.articles_seen("lefigaro", ["https://example.test/2", "https://example.test/9"])
        many = repo.articles_seen("lefigaro", [f"https://example.test/{n}" for n in range(1, 1200)])
        young = repo.articles_seen("lefigaro", born_since=T0 - timedelta(days=1))
        before = repo.articles_seen("lefigaro", first_seen_before=T0 + timedelta(hours=1))
        other = repo.articles_seen("lemonde", ["https://example.test/1"])
    urls = {n: f"https://example.test/{n}" for n in range(1, 5)}
    assert set(everything) == set(urls.values())
    assert set(named) == {urls[2]} and named[urls[2]].last_seen_at == T0
    assert set(many) == set(urls.values())  # more URLs than one query takes
    assert set(young) == {urls[2], urls[3]} and young[urls[3]].born_at == T0
    assert set(before) == {urls[1], urls[2], urls[3]}  # 4 was archived later
    assert other == {}
