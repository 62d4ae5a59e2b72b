"""Factories shared by the storage tests (imported by name: tests/storage is on sys.path)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from storage import ArticleIn, SourceIn

SOURCES = [
    SourceIn("lefigaro", "Le Figaro", "fr", "https://www.lefigaro.fr"),
    SourceIn("rbc", "РБК", "ru", "https://www.rbc.ru"),
    SourceIn("ft", "Financial Times", "en", "https://www.ft.com"),
]
LANG = {"lefigaro": "fr", "rbc": "ru", "ft": "en"}
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def art(n: int | str, text: str = "", *, source: str = "lefigaro", **kw: Any) -> ArticleIn:
    """ArticleIn for https://example.test/<n> with sensible defaults."""
    kw.setdefault("title", f"Article {n}")
    kw.setdefault("language", LANG.get(source))
    return ArticleIn(source=source, url=f"https://example.test/{n}", text=text or f"Texte numéro {n}.", **kw)
