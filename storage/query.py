"""The search query language: parsed into a tiny AST, compiled to a safe FTS5 MATCH string.

Syntax (the same on SQLite and PostgreSQL):

- ``word word``        every term must match (AND);
- ``"exact phrase"``   the words in this order, not stemmed;
- ``a OR b``           either term; OR binds tighter than the implicit AND, so
                       ``oil OR gas russia`` means ``(oil OR gas) AND russia``;
- ``-word``, ``-"a phrase"``  exclude articles matching the term.

``OR`` is an operator only in capitals; ``AND`` in capitals is accepted and ignored.
Bare words are matched accent-insensitively and with their inflections. Tokens made of
punctuation only (``&``, ``-``) are ignored; ``e-commerce`` or ``l'économie`` become phrases.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from storage.errors import BadQuery

logger = logging.getLogger(__name__)

MAX_TERMS = 50
MIN_PREFIX = 3  # shorter stems would match far too much: fall back to the exact word
# Article languages with a stemmer (as on PostgreSQL: see na_search_config in the migration).
STEMMERS = {"fr": "french", "ru": "russian", "en": "english"}
SCRIPTS = {"fr": "latin", "ru": "cyrillic", "en": "latin"}
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as FTS5's unicode61 tokenizer sees words
_TOKEN = re.compile(r'(?P<neg>-?)"(?P<phrase>[^"]*)(?P<close>"?)|(?P<bare>[^\s"]+)')
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")


@dataclass(frozen=True)
class Term:
    """One searchable unit: a bare word or a quoted phrase."""

    text: str  # as typed, without quotes or a leading '-'
    words: tuple[str, ...]  # its word tokens
    quoted: bool = False

    @property
    def exact(self) -> bool:
        """Phrases and multi-token words are matched as exact phrases, never stemmed."""
        return self.quoted or len(self.words) > 1


@dataclass(frozen=True)
class AnyOf:
    """Terms joined by OR; a single term is an AnyOf of one."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Query:
    required: tuple[AnyOf, ...]  # all must match
    excluded: tuple[Term, ...]  # none may match


def parse_query(text: str) -> Query:
    """Parse the user's query; raise BadQuery with a one-line explanation when malformed."""
    if not text or not text.strip():
        raise BadQuery("empty query: give at least one word to search for")
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    after_term = False  # the previous meaningful token was a positive term
    count = 0
    for match in _TOKEN.finditer(text):
        negated, term = _term_of(match)
        if term is None and match["bare"] in ("OR", "AND"):
            if match["bare"] == "AND":
                continue
            if pending_or:
                raise BadQuery("'OR OR' in the query: put a term between the two ORs")
            if not after_term:
                raise BadQuery("OR must stand between two search terms (not first, not after an exclusion)")
            pending_or, after_term = True, False
            continue
        if term is None:
            continue  # punctuation only
        count += 1
        if count > MAX_TERMS:
            raise BadQuery(f"too many terms: at most {MAX_TERMS}")
        if negated:
            if pending_or:
                raise BadQuery("an exclusion cannot follow OR: write 'a OR b -c'")
            excluded.append(term)
            after_term = False
        elif pending_or:
            groups[-1].append(term)
            pending_or, after_term = False, True
        else:
            groups.append([term])
            after_term = True
    if pending_or:
        raise BadQuery("the query ends with OR: add the alternative term after it")
    if not groups:
        if excluded:
            raise BadQuery("the query only excludes: add at least one word to search for")
        raise BadQuery("no searchable word in the query")
    return Query(tuple(AnyOf(tuple(g)) for g in groups), tuple(excluded))


def _term_of(match: re.Match[str]) -> tuple[bool, Term | None]:
    if match["bare"] is not None:
        raw = match["bare"]
        if raw in ("OR", "AND"):
            return False, None
        negated = raw.startswith("-") and len(raw) > 1
        body = raw[1:] if negated else raw
        words = tuple(_WORD.findall(body))
        return negated, (Term(body, words) if words else None)
    if not match["close"]:
        raise BadQuery('unbalanced quote: close the phrase with "')
    phrase = match["phrase"]
    words = tuple(_WORD.findall(phrase))
    if not words:
        raise BadQuery(f'empty phrase "{phrase}": put words between the quotes')
    return bool(match["neg"]), Term(phrase.strip(), words, quoted=True)


# --- SQLite FTS5 ---------------------------------------------------------------------------

_local = threading.local()  # snowball stemmers are not thread-safe


def _stemmer(language: str):  # type: ignore[no-untyped-def]
    cache = _local.__dict__.setdefault("stemmers", {})
    if language not in cache:
        # imported here: every language's stemmer is loaded with it (~3 MB), and only searches stem
        # (not the crawl's archive process and writer, which import this module with the Repository)
        import snowballstemmer

        cache[language] = snowballstemmer.stemmer(language)
    return cache[language]


def _common_prefix(word: str, stem: str) -> str:
    n = 0
    for a, b in zip(word, stem, strict=False):
        if a != b and {a, b} != {"ё", "е"}:  # the Russian stemmer turns ё into е
            break
        n += 1
    return word[:n]


def language_group(language: str | None) -> str | None:
    """'fr', 'ru' or 'en' for an article language we stem ('fr-FR' -> 'fr'), else None."""
    code = (language or "")[:2].lower()
    return code if code in STEMMERS else None


def stem_prefixes(word: str, language: str | None = None) -> list[str]:
    """Prefixes that match the inflections of ``word``; [] means match it exactly.

    ``language`` is that of the documents searched ('fr', 'ru', 'en'); when it is unknown
    or does not fit the word's script, Latin-script words are stemmed as French and as
    English, Cyrillic ones as Russian. Each stem is cut back to a prefix of the word itself
    (stemmers rewrite endings: happy -> happi) and the shortest of nested prefixes is kept.
    """
    w = word.lower()
    if len(w) <= MIN_PREFIX or not w.isalpha():
        return []
    script = "cyrillic" if _CYRILLIC.search(w) else "latin" if _LATIN.search(w) else None
    if script is None:
        return []
    group = language_group(language)
    if group is not None and SCRIPTS[group] == script:
        languages = [STEMMERS[group]]
    else:
        languages = ["russian"] if script == "cyrillic" else ["french", "english"]
    prefixes: set[str] = set()
    for language in languages:
        prefix = _common_prefix(w, _stemmer(language).stemWord(w))
        if len(prefix) >= MIN_PREFIX:
            prefixes.add(prefix)
    return sorted(p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes))


def _fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts_term(term: Term, language: str | None) -> str:
    if term.exact:
        return _fts_string(" ".join(term.words))
    prefixes = stem_prefixes(term.words[0], language)
    if not prefixes:
        return _fts_string(term.words[0])
    parts = [_fts_string(p) + "*" for p in prefixes]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _fts_any(terms: tuple[Term, ...], language: str | None) -> str:
    parts = [_fts_term(t, language) for t in terms]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def to_fts5(query: Query, language: str | None = None) -> str:
    """An FTS5 MATCH expression for documents in ``language`` (None: unknown/other).

    Every term is an FTS5 string, so no user input can act as an FTS5 operator.
    """
    positive = " AND ".join(_fts_any(group.terms, language) for group in query.required)
    if not query.excluded:
        return positive
    if len(query.required) > 1:
        positive = f"({positive})"
    return f"{positive} NOT {_fts_any(query.excluded, language)}"
