"""SQLite search internals: the language groups a search stems for are those the archive
holds (read off an index), and snippets are FTS5's own, made over the page's articles only."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from storage_factories import SOURCES, art

import storage.repository as repository
from storage import Archive, SearchFilters, open_archive
from storage.query import language_group, parse_query, to_fts5

LONG_FR = ("Le marché du blé reste calme cette semaine. " * 6 + "Les investissements dans les usines d'engrais "
           "progressent à Kazan, où la chambre de commerce accueille une délégation. " + "Rien d'autre. " * 12)
LONG_RU = "Рынок зерна спокоен. " * 8 + "Иностранные инвестиции в заводы удобрений растут. " + "Больше ничего. " * 10
LONG_EN = "The grain market was calm. " * 8 + "Investments in fertiliser plants are growing in Kazan. " + "No more. " * 9


@pytest.fixture
def sqlite_archive(tmp_path: Path) -> Iterator[Archive]:
    archive = open_archive(f"sqlite:///{tmp_path / 'archive.db'}")
    with archive.repository() as repo:
        for source in SOURCES:
            repo.upsert_source(source)
    yield archive
    archive.dispose()


def statements(archive: Archive) -> list[str]:
    """The SQL statements the archive's engine runs from now on."""
    seen: list[str] = []
    sa.event.listen(archive.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_the_language_groups_are_those_of_the_archived_articles(sqlite_archive: Archive) -> None:
    with sqlite_archive.repository(readonly=True) as repo:
        assert repository._sqlite_language_groups(repo.session) == set()
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(1, language="FR-fr"), art(2, language="fr"), art(3, language="de")])
    with sqlite_archive.repository(readonly=True) as repo:
        assert repository._sqlite_language_groups(repo.session) == {"fr", None}
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(4, language="en-GB", source="ft"), art(5, language=None)])
    with sqlite_archive.repository(readonly=True) as repo:
        assert repository._sqlite_language_groups(repo.session) == {"fr", "en", None}
        plan = " ".join(str(row) for row in repo.session.execute(sa.text(
            "EXPLAIN QUERY PLAN SELECT min(language) FROM articles WHERE language > 'en'")))
    assert "COVERING INDEX ix_articles_language" in plan  # a seek, not a scan of the articles


def test_a_search_stems_only_for_the_languages_the_archive_holds(sqlite_archive: Archive) -> None:
    # "investissement" is stemmed apart in French ("invest") and English ("investiss"): a
    # French-only archive runs the French FTS5 query alone, with no test of each match's language.
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(n, f"Un investissement numéro {n}.") for n in range(1, 4)])
    seen = statements(sqlite_archive)
    with sqlite_archive.repository(readonly=True) as repo:
        assert len(repo.search("investissement")) == 3
        assert repo.search("investissement", SearchFilters(language="en")) == []
    [ranking] = [s for s in seen if "bm25" in s]
    assert ranking.count("MATCH") == 1 and "language" not in ranking
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(9, "Investissements in nickel grew.", source="ft")])
    seen.clear()
    with sqlite_archive.repository(readonly=True) as repo:
        assert {hit.url.rsplit("/", 1)[1] for hit in repo.search("investissement")} == {"1", "2", "3", "9"}
    [ranking] = [s for s in seen if "bm25" in s]
    assert ranking.count("MATCH") == 2 and "language" in ranking


def test_an_export_by_query_matches_only_for_the_languages_the_archive_holds(sqlite_archive: Archive) -> None:
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(n, f"Un investissement numéro {n}.") for n in range(1, 4)])
    seen = statements(sqlite_archive)
    with sqlite_archive.repository(readonly=True) as repo:
        assert len(list(repo.iter_articles(query="investissement"))) == 3
        assert list(repo.iter_article_rows(["url"], SearchFilters(language="en"), query="investissement")) == []
    matching = [s for s in seen if "MATCH" in s]
    assert len(matching) == 2 and all(s.count("MATCH") == 1 for s in matching)  # French only
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(9, "Investissements in nickel grew.", source="ft")])
    seen.clear()
    with sqlite_archive.repository(readonly=True) as repo:
        urls = {row[0].rsplit("/", 1)[1] for row in repo.iter_article_rows(["url"], query="investissement")}
    assert urls == {"1", "2", "3", "9"}
    [both] = [s for s in seen if "MATCH" in s]
    assert both.count("MATCH") == 2


QUERIES = ["investissement", "usines engrais", '"chambre de commerce"', "Kazan OR blé", "marché -pétrole",
           "инвестиция", "заводы OR удобрения", "investments", "grain -gold", "délégation"]


@pytest.mark.parametrize("query", QUERIES)
def test_snippets_are_those_fts5_makes_on_the_archive(sqlite_archive: Archive, query: str) -> None:
    with sqlite_archive.repository() as repo:
        repo.store_articles([
            art(1, LONG_FR, title="Le blé et les engrais", description="Kazan accueille une délégation."),
            art(2, LONG_FR.replace("Kazan", "Perm"), title="Marché"),
            art(3, "Une délégation. " + LONG_FR[:300]),
            art(4, LONG_RU, title="Инвестиции", source="rbc"),
            art(5, LONG_EN, title="Fertiliser investments", source="ft"),
        ])
    with sqlite_archive.repository(readonly=True) as repo:
        hits = repo.search(query, marks=("<", ">"))
        assert hits
        for hit in hits:  # what snippet() gives on the archive's own index, for the hit's language
            expected = repo.session.scalar(sa.text(
                "SELECT snippet(articles_fts, -1, '<', '>', '…', :tokens) FROM articles_fts"
                " WHERE articles_fts MATCH :match AND rowid = :id"),
                {"tokens": repository.SNIPPET_TOKENS, "id": hit.id,
                 "match": to_fts5(parse_query(query), language_group(hit.language))})
            assert hit.snippet == expected and "<" in hit.snippet


def test_snippets_are_made_where_the_archive_refuses_writes(sqlite_archive: Archive) -> None:
    # As the web app searches: in a session whose connection refuses every write.
    with sqlite_archive.repository() as repo:
        repo.store_articles([art(1, LONG_FR, title="Le blé et les engrais")])
    with sqlite_archive.repository(readonly=True) as repo:
        repo.session.execute(sa.text("PRAGMA query_only = ON"))
        try:
            [hit] = repo.search("investissement")
        finally:
            repo.session.execute(sa.text("PRAGMA query_only = OFF"))
    assert "[investissements]" in hit.snippet


def test_snippets_are_made_with_the_archive_s_tokenizer(sqlite_archive: Archive) -> None:
    with sqlite_archive.engine.connect() as conn:
        ddl = conn.scalar(sa.text("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'"))
    assert f"tokenize='{repository.FTS5_TOKENIZE}'" in ddl
