"""Full-text search: the same query language and results on SQLite (FTS5) and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from storage_factories import art

from storage import Archive, BadQuery, SearchFilters

D = lambda m, d: datetime(2024, m, d, tzinfo=timezone.utc)  # noqa: E731
CORPUS = [
    art(1, "Les investissements étrangers reculent. L'éducation financière progresse.",
        title="Les capitaux étrangers en Russie", published_at=D(1, 10)),
    art(2, "Le gaz naturel liquéfié arrive en France. Le pétrole reste cher.",
        title="Gazprom et TotalEnergies", published_at=D(2, 10)),
    art(3, "Un investissement record dans l'education.", title="Économie", published_at=D(3, 10)),
    art(4, "Иностранные инвестиции в экономику России выросли. Газпром увеличил добычу.",
        title="Газпром", source="rbc", published_at=D(2, 15)),
    art(5, "Цены на нефть снизились.", title="Нефть", source="rbc"),
    art(6, "The Russian gas company reported lower profits.", title="Gazprom profits fall", source="ft",
        published_at=D(3, 1)),
    art(7, "Investors watched Gazprom closely as gas prices moved.", title="Markets", source="ft",
        published_at=D(3, 2)),
]


@pytest.fixture
def corpus(sources: Archive) -> Archive:
    with sources.repository() as repo:
        repo.store_articles(CORPUS)
    return sources


def ids(archive: Archive, query: str, filters: SearchFilters | None = None, **kw: int) -> list[int]:
    """Numbers (URL suffixes) of the hits, best first."""
    with archive.repository(readonly=True) as repo:
        return [int(hit.url.rsplit("/", 1)[1]) for hit in repo.search(query, filters or SearchFilters(), **kw)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pétrole", {2}),
        ("petrole", {2}),  # accents ignored in the query ...
        ("education", {1, 3}),  # ... and in the text
        ("éducation", {1, 3}),
        ("gazprom gas", {6, 7}),  # AND
        ('"gaz naturel"', {2}),  # phrase
        ('"naturel gaz"', set()),  # phrase word order matters
        ("pétrole OR нефть", {2, 5}),
        ("gazprom -totalenergies", {6, 7}),
        ('gazprom -"gas company"', {2, 7}),
        ("investissement", {1, 3}),  # French inflection: investissements
        ("investissements", {1, 3}),
        ("инвестиция", {4}),  # Russian inflection: инвестиции
        ("нефти", {5}),
        ("gazprom OR газпром -profits", {2, 4, 7}),
    ],
)
def test_query_language(corpus: Archive, query: str, expected: set[int]) -> None:
    assert set(ids(corpus, query)) == expected


def test_filters(corpus: Archive) -> None:
    assert set(ids(corpus, "gazprom", SearchFilters(sources=("ft",)))) == {6, 7}
    assert set(ids(corpus, "gazprom", SearchFilters(sources=("ft", "lefigaro")))) == {2, 6, 7}
    assert set(ids(corpus, "gazprom", SearchFilters(language="fr"))) == {2}
    assert set(ids(corpus, "gazprom", SearchFilters(since=D(3, 1)))) == {6, 7}
    assert set(ids(corpus, "gazprom", SearchFilters(until=D(3, 1)))) == {2}
    assert set(ids(corpus, "gazprom", SearchFilters(since=D(2, 1), until=D(3, 2)))) == {2, 6}


def test_title_match_outranks_text_only_match(corpus: Archive) -> None:
    assert ids(corpus, "gazprom", SearchFilters(sources=("ft",))) == [6, 7]
    ranked = ids(corpus, "gazprom")
    assert ranked[-1] == 7 and set(ranked) == {2, 6, 7}
    with corpus.repository(readonly=True) as repo:
        ranks = [hit.rank for hit in repo.search("gazprom")]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


def test_hits_carry_metadata_and_bracketed_snippets(corpus: Archive) -> None:
    with corpus.repository(readonly=True) as repo:
        [hit] = repo.search("pétrole")
        accent = {h.url: h.snippet for h in repo.search("education")}
        [ru] = repo.search("инвестиция")
    assert (hit.source, hit.title, hit.language, hit.published_at) == ("lefigaro", "Gazprom et TotalEnergies",
                                                                       "fr", D(2, 10))
    assert "[pétrole]" in hit.snippet
    assert "[éducation]" in accent["https://example.test/1"] and "[education]" in accent["https://example.test/3"]
    assert "[инвестиции]" in ru.snippet


def test_paging(corpus: Archive) -> None:
    everything = ids(corpus, "gazprom OR газпром")
    assert len(everything) == 4
    assert ids(corpus, "gazprom OR газпром", limit=2) + ids(corpus, "gazprom OR газпром", limit=2, offset=2) \
        == everything


@pytest.mark.parametrize("query", ["", "   ", '"unbalanced', "OR gazprom", "gazprom OR", "gazprom OR OR gas",
                                   "-gazprom", '-"gas company"', "gazprom OR -gas", '""'])
def test_malformed_queries_raise_bad_query(corpus: Archive, query: str) -> None:
    with pytest.raises(BadQuery) as err, corpus.repository(readonly=True) as repo:
        repo.search(query)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("query", ["NEAR(gazprom gas)", "title:gazprom", "gazprom*", "^gazprom", "{title}: gas",
                                   "(gazprom", "gazprom)", "'; DROP TABLE articles; --", "gazprom AND gas",
                                   "gas & oil | !x", "a:b:c", "gazprom NOT gas", "e-commerce"])
def test_operator_characters_are_just_text(corpus: Archive, query: str) -> None:
    with corpus.repository(readonly=True) as repo:
        repo.search(query)  # never a syntax error from FTS5 or tsquery
        assert repo.count_articles() == len(CORPUS)
    assert ids(corpus, "gazprom*") == ids(corpus, "gazprom")
