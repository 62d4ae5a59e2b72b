"""Database URL resolution: precedence, PostgreSQL spellings, bare paths, garbage."""
from __future__ import annotations

import pytest

from storage import DEFAULT_DB_URL, BadDatabaseURL, resolve_db_url


def test_precedence_explicit_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSARCHIVE_DB", raising=False)
    assert resolve_db_url(None) == DEFAULT_DB_URL
    monkeypatch.setenv("NEWSARCHIVE_DB", "postgresql://u@db/news")
    assert resolve_db_url(None) == "postgresql+psycopg://u@db/news"
    assert resolve_db_url("x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:pw@h:5433/news", "postgresql+psycopg://u:pw@h:5433/news"),
        ("postgres://u@h/news", "postgresql+psycopg://u@h/news"),
        ("postgresql+psycopg://u@h/news", "postgresql+psycopg://u@h/news"),
        ("archive.db", "sqlite:///archive.db"),
        ("./x.sqlite", "sqlite:///./x.sqlite"),
        ("/var/lib/news/a.db", "sqlite:////var/lib/news/a.db"),
        ("sqlite:///rel/a.db", "sqlite:///rel/a.db"),
        ("  archive.db  ", "sqlite:///archive.db"),
    ],
)
def test_accepted_spellings(given: str, expected: str) -> None:
    assert resolve_db_url(given) == expected


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "mysql://u@h/db", "http://example.com/db", "postgresql://h:notaport/db", "sqlite://",
     "sqlite:///:memory:", "postgresql+psycopg2://h/db", "a\nb.db"],
)
def test_garbage_is_rejected_in_one_line(garbage: str) -> None:
    with pytest.raises(BadDatabaseURL) as err:
        resolve_db_url(garbage)
    assert "\n" not in str(err.value)


def test_password_never_in_error_message() -> None:
    with pytest.raises(BadDatabaseURL) as err:
        resolve_db_url("postgresql://user:s3cr3t@host:port/db")
    assert "s3cr3t" not in str(err.value)
