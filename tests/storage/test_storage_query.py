"""The query parser and its FTS5 compilation (pure functions, no database)."""
from __future__ import annotations

import pytest

from storage import BadQuery
from storage.query import AnyOf, Query, Term, parse_query, stem_prefixes, to_fts5


def test_ast_of_a_full_query() -> None:
    parsed = parse_query('"gaz naturel" OR pétrole russie -"Total Energies" -sanctions')
    assert parsed == Query(
        required=(
            AnyOf((Term("gaz naturel", ("gaz", "naturel"), quoted=True), Term("pétrole", ("pétrole",)))),
            AnyOf((Term("russie", ("russie",)),)),
        ),
        excluded=(Term("Total Energies", ("Total", "Energies"), quoted=True), Term("sanctions", ("sanctions",))),
    )


def test_lowercase_or_is_a_word_and_punctuation_is_dropped() -> None:
    parsed = parse_query("war or peace & -")
    assert [g.terms[0].text for g in parsed.required] == ["war", "or", "peace"]
    assert parsed.excluded == ()


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "empty"), ('"open', "unbalanced quote"), ("OR a", "between two"), ("a OR", "ends with OR"),
     ("a OR OR b", "OR OR"), ("-a -b", "only excludes"), ("a OR -b", "exclusion cannot follow OR"),
     ('a ""', "empty phrase"), ("& | !", "no searchable word"), (" ".join(["w"] * 51), "too many")],
)
def test_malformed(query: str, reason: str) -> None:
    with pytest.raises(BadQuery, match=reason):
        parse_query(query)


@pytest.mark.parametrize(
    ("query", "language", "fts5"),
    [
        ("investissements", "fr", '"invest"*'),
        ("investissements", "en", '"investiss"*'),
        ("investissements", None, '"invest"*'),  # shortest of the French and English prefixes
        ("инвестиция", "ru", '"инвестиц"*'),
        ("инвестиция", "fr", '"инвестиц"*'),  # script decides when the language does not fit
        ("happy", "en", '"happ"*'),  # stem rewrote the ending: cut back to a prefix of the word
        ("oil", "en", '"oil"'),  # too short to stem
        ("2024", None, '"2024"'),
        ('"gaz naturel"', "fr", '"gaz naturel"'),  # phrases stay exact
        ("e-commerce", "fr", '"e commerce"'),
        ('say "hi"" there"', None, '"say" AND "hi" AND "there"'),
        ("a OR b c -d", None, '(("a" OR "b") AND "c") NOT "d"'),
        ('x NEAR(y) "col":z*', None, '"x" AND "NEAR y" AND "col" AND "z"'),
    ],
)
def test_fts5_compilation(query: str, language: str | None, fts5: str) -> None:
    assert to_fts5(parse_query(query), language) == fts5


def test_quotes_only_delimit_phrases() -> None:
    assert to_fts5(parse_query('a"b"')) == '"a" AND "b"'
    assert to_fts5(parse_query('-"x" y')) == '"y" NOT "x"'


def test_stem_prefixes_handle_yo() -> None:
    assert stem_prefixes("ёлками", "ru") == ["ёлк"]
