"""Shared fixtures. Storage: ``db_url``/``archive`` run a test on SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project is not installed into the venv
    sys.path.insert(0, str(ROOT))

# --- storage ------------------------------------------------------------------------------
# PostgreSQL tests FAIL (never skip) when the server is unreachable: CI starts one.
PG_URL = os.environ.get("NEWSARCHIVE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_probe: dict[str, str | None] = {}


def _pg_admin(autocommit: bool = True):  # type: ignore[no-untyped-def]
    import psycopg
    from sqlalchemy import make_url

    u = make_url(PG_URL)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, connect_timeout=3, autocommit=autocommit)


def pg_problem() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    if "error" not in _pg_probe:
        try:
            with _pg_admin() as conn:
                _pg_probe["version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            _pg_probe["error"] = None
        except Exception as exc:  # reported, and every PG test fails with it
            _pg_probe["error"] = " ".join(str(exc).split()) or type(exc).__name__
    return _pg_probe["error"]


def pytest_report_header(config: pytest.Config) -> str:
    from sqlalchemy import make_url

    where = make_url(PG_URL).render_as_string(hide_password=True)
    problem = pg_problem()
    pg = (f"postgresql {_pg_probe['version']} ({where}, one schema per test)" if problem is None
          else f"postgresql UNREACHABLE ({where}: {problem}) -> its tests will FAIL")
    return f"storage backends: sqlite {sqlite3.sqlite_version}, {pg}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a fresh, empty archive location: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'archive.db'}"
        return
    problem = pg_problem()
    if problem is not None:
        pytest.fail(f"PostgreSQL is unreachable at {PG_URL} ({problem}); start it or set NEWSARCHIVE_TEST_PG",
                    pytrace=False)
    from sqlalchemy import make_url

    schema = f"na_test_{secrets.token_hex(6)}"
    with _pg_admin() as conn:
        # As a DBA would: the shared extension lives in public, not in a per-test schema.
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_url(PG_URL).update_query_dict(
            {"options": f"-csearch_path={schema},public"}).render_as_string(hide_password=False)
    finally:
        with _pg_admin() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def archive(db_url: str):  # type: ignore[no-untyped-def]
    """A migrated, empty archive on each backend (ids: sqlite, postgresql)."""
    from storage import open_archive

    arch = open_archive(db_url)
    try:
        yield arch
    finally:
        arch.dispose()
