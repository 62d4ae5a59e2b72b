"""Full-text search: the same query language and results on SQLite (FTS5) and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from storage_factories import art

import storage.repository as repository
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


def test_equal_ranks_are_ordered_newest_first_on_every_page(sources: Archive) -> None:
    # 21-26 rank the same (texts of one length, one "cuivre" each), published on different days
    # (26: no date); 27 matches in its text only and ranks last. Each page is cut inside the tie.
    same = [art(n, f"Le cuivre monte, lot {n}.", title="Cuivre", published_at=None if day is None else D(4, day))
            for n, day in ((21, 3), (22, 9), (23, 1), (24, 7), (25, 5), (26, None))]
    with sources.repository() as repo:
        repo.store_articles([*same, art(27, "Le cuivre et l'étain, le zinc et le plomb, le nickel.", title="Métaux")])
    everything = ids(sources, "cuivre")
    assert everything == [22, 24, 25, 21, 23, 26, 27]
    for size in (1, 2, 4):
        assert [n for offset in range(0, 8, size) for n in ids(sources, "cuivre", limit=size, offset=offset)] \
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


# --- a query matching more than RANKED_MATCHES articles: only its newest ones are ranked -------

# Archived in this order (ids ascending). Article 1 is the best "nickel" hit (title); the newest
# three (6, 7, 8) were published before the others, so "newest" is the archive order, not the
# publication date. "cobalt" is rare: in 1 (title) and 8. Articles without these words come
# first (so that bm25 weighs the words by their rarity, as in a real archive).
OTHERS = [art(f"other-{n}", f"Le marché du blé, semaine {n}.", title=f"Blé {n}") for n in range(12)]
CAPPED = [
    art(1, "Le nickel et le cobalt de Norilsk.", title="Nickel, cobalt et nickel", published_at=D(3, 1)),
    *(art(n, f"Un contrat sur le nickel, numéro {n}.", published_at=D(3, n)) for n in (2, 3)),
    art(4, "Le nickel russe arrive en France.", title="Le nickel russe", published_at=D(3, 4)),
    art(5, "Le nickel, encore.", published_at=D(3, 5)),
    art(6, "Le prix du nickel baisse cette semaine à Londres.", title="Nickel en baisse", published_at=D(1, 6)),
    art(7, "Une usine de nickel et d'acier, l'acier surtout, et de l'acier encore.", published_at=D(1, 7)),
    art(8, "Le nickel et le cobalt montent.", published_at=D(1, 8)),
]


@pytest.fixture
def capped(sources: Archive, monkeypatch: pytest.MonkeyPatch) -> Archive:
    with sources.repository() as repo:
        repo.store_articles(OTHERS + CAPPED)
    monkeypatch.setattr(repository, "RANKED_MATCHES", 3)
    return sources


def test_a_frequent_query_ranks_its_newest_matches_only(capped: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 matches > 3: the newest three are ranked (6 has "nickel" in its title), the older five
    # follow them newest first, although 1 and 4 have it in their titles too.
    hits = ids(capped, "nickel")
    assert hits[0] == 6 and set(hits[:3]) == {6, 7, 8}
    assert hits[3:] == [5, 4, 3, 2, 1]
    monkeypatch.setattr(repository, "RANKED_MATCHES", None)  # every match ranked: 1 is the best
    assert ids(capped, "nickel")[0] == 1
    monkeypatch.setattr(repository, "RANKED_MATCHES", 8)  # not more matches than that: all ranked
    assert ids(capped, "nickel")[0] == 1


def test_a_rare_query_is_ranked_over_all_its_matches(capped: Archive) -> None:
    assert ids(capped, "cobalt") == [1, 8]  # 2 matches <= 3: the older one ranks first (title)


def test_capped_ranking_counts_only_the_filtered_matches(capped: Archive) -> None:
    # Published since February: 1-5, of which 3, 4, 5 are the newest; 4 has a title match.
    feb = SearchFilters(since=D(2, 1))
    hits = ids(capped, "nickel", feb)
    assert hits[0] == 4 and set(hits[:3]) == {3, 4, 5} and hits[3:] == [2, 1]
    assert ids(capped, "nickel", SearchFilters(until=D(2, 1))) == ids(capped, "nickel OR zinc", SearchFilters(
        until=D(2, 1)))  # 6, 7, 8: no more than 3, all ranked
    assert ids(capped, "nickel", SearchFilters(until=D(2, 1)))[0] == 6


def test_paging_crosses_from_ranked_to_unranked_matches(capped: Archive) -> None:
    everything = ids(capped, "nickel")
    assert len(everything) == 8
    for size in (1, 2, 3, 5):
        pages = [ids(capped, "nickel", limit=size, offset=offset) for offset in range(0, 10, size)]
        assert [n for page in pages for n in page] == everything
    assert ids(capped, "nickel", limit=20, offset=8) == []


def test_unranked_hits_keep_snippets_and_their_bm25(capped: Archive) -> None:
    with capped.repository(readonly=True) as repo:
        hits = repo.search("nickel")
    assert all("[nickel]" in hit.snippet.lower() for hit in hits)
    assert all(hit.rank > 0 for hit in hits)
    ranked = [hit.rank for hit in hits[:3]]
    assert ranked == sorted(ranked, reverse=True)
    assert hits[-1].rank > hits[0].rank  # 1 (unranked, last) scores better than the best ranked one


def test_capped_ranking_across_languages_stemmed_apart(sources: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    # "investissement" is stemmed "invest" in French and "investiss" in English: two FTS5
    # queries, whose matches are merged before the newest three are taken.
    corpus = [art(n, f"Un investissement numéro {n}.", published_at=D(2, n)) if n % 2
              else art(n, f"Investissements in nickel grew, number {n}.", source="ft", published_at=D(2, n))
              for n in range(1, 8)]
    corpus[5] = art(6, "Investissements in nickel grew.", title="Investissements", source="ft", published_at=D(2, 6))
    with sources.repository() as repo:
        repo.store_articles(OTHERS + corpus)
    monkeypatch.setattr(repository, "RANKED_MATCHES", 3)
    hits = ids(sources, "investissement")
    assert hits[0] == 6 and set(hits[:3]) == {5, 6, 7} and hits[3:] == [4, 3, 2, 1]
    assert [n for offset in range(0, 7, 2) for n in ids(sources, "investissement", limit=2, offset=offset)] == hits


@pytest.mark.parametrize("groups", [["fr"], ["en"], ["ru", "fr"], ["fr", "ru", None], ["en", None], [None]])
def test_sqlite_language_group_clause_selects_the_groups_articles(groups: list[str | None]) -> None:
    """The SQL test of an article's language group agrees with language_group()."""
    import sqlalchemy as sa

    from storage.query import language_group

    languages = [None, "", "fr", "FR", "fr-FR", "Fr", "en", "EN-gb", "ru", "ru_RU", "de", "e", "f", "é", "Én",
                 "%n", "_n", "enx", "fre"]
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE articles (id INTEGER PRIMARY KEY, language TEXT)")
        conn.execute(sa.text("INSERT INTO articles (language) VALUES (:language)"),
                     [{"language": language} for language in languages])
        clause = repository._sqlite_group_clause(groups)
        found = set(conn.scalars(sa.select(repository.ARTICLES.c.language).where(clause)))
    assert found == {language for language in languages if language_group(language) in groups}
    assert found  # each case selects some
