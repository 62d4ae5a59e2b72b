"""A small archive for the researcher-facing tests (CLI search/show/export, the web UI), filled
through the Repository API: tricky text (commas, quotes, newlines, non-Latin scripts), every field set
on one article and none on another, three languages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from storage import Archive, ArticleIn, SourceIn

SOURCES = [
    SourceIn("lefigaro", "Le Figaro", "fr", "https://www.lefigaro.fr"),
    SourceIn("rbc", "РБК", "ru", "https://www.rbc.ru"),
    SourceIn("ft", "Financial Times", "en", "https://www.ft.com"),
]
MSK = timezone(timedelta(hours=3))
TRICKY_TEXT = (
    'Les investissements étrangers reculent, dit-il : "c\'est la crise", « vraiment ».\n'
    "Deuxième paragraphe; avec des virgules, des tabulations\tet des \"guillemets\".\n"
    "Troisième ligne — 中文, emoji 😀, ½, Ünïcödé, и немного по-русски."
)
CORPUS = [
    ArticleIn(source="lefigaro", url="https://www.lefigaro.fr/eco/1", title="Les capitaux, \"étrangers\" en Russie",
              text=TRICKY_TEXT, language="fr", authors=["Dupont, Jean", 'Marie "M." Curie'],
              tags=["Économie", "Russie; France"], description="Une description, avec virgule\net saut de ligne.",
              published_at=datetime(2024, 1, 10, 9, 30, tzinfo=MSK), modified_at=datetime(2024, 1, 11, tzinfo=MSK)),
    ArticleIn(source="lefigaro", url="https://www.lefigaro.fr/eco/2", title="Gazprom et TotalEnergies",
              text="Le gaz naturel liquéfié arrive en France. Le pétrole reste cher.", language="fr",
              published_at=datetime(2024, 2, 10, tzinfo=timezone.utc)),
    ArticleIn(source="rbc", url="https://www.rbc.ru/economics/3", title="Газпром",
              text="Иностранные инвестиции в экономику России выросли. Газпром увеличил добычу.", language="ru",
              published_at=datetime(2024, 2, 15, tzinfo=timezone.utc)),
    ArticleIn(source="ft", url="https://www.ft.com/content/4", title="Gazprom profits fall",
              text="The Russian gas company reported lower profits.", language="en",
              published_at=datetime(2024, 3, 1, tzinfo=timezone.utc)),
    ArticleIn(source="ft", url="https://www.ft.com/content/5", title="Markets",  # no dates, no description
              text="Investors watched Gazprom closely as gas prices moved.", language="en"),
]
SEEN = datetime(2024, 4, 1, 8, 0, tzinfo=timezone.utc)


def fill(archive: Archive, extra: list[ArticleIn] | None = None) -> dict[str, int]:
    """Register the sources, store CORPUS (+ extra); returns url -> id."""
    with archive.repository() as repo:
        for source in SOURCES:
            repo.upsert_source(source)
        results = repo.store_articles([*CORPUS, *(extra or [])], seen_at=SEEN)
    return {r.url: r.article_id for r in results}
