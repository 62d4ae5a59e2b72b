"""Opening an archive: automatic creation, schema checks, and clear errors that write nothing."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import storage.db
from storage import (
    Archive,
    DatabaseUnreachable,
    NotAnArchive,
    NotFound,
    SchemaOutdated,
    SchemaTooNew,
    SourceIn,
    StorageError,
    open_archive,
)
from storage.migrations import head_revision


def _tables(raw: sa.Engine) -> set[str]:
    with raw.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _fingerprint(db_url: str, raw: sa.Engine) -> object:
    """Everything 'nothing was written' must preserve: files on SQLite, catalog + version on PG."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in path.parent.iterdir())
    with raw.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() \
            if "alembic_version" in _tables(raw) else None
    return _tables(raw), version


def test_brand_new_archive_is_migrated_to_head(db_url: str, raw: sa.Engine) -> None:
    assert _tables(raw) == set()
    with open_archive(db_url) as arch:
        assert arch.current_revision() == head_revision()
        assert arch.upgrade() == (head_revision(), head_revision())  # idempotent
    assert {"sources", "crawl_runs", "articles", "article_versions", "snapshots", "snapshot_fetches",
            "alembic_version"} <= _tables(raw)
    with open_archive(db_url) as arch:  # reopening an up-to-date archive is fine
        assert arch.dialect == raw.dialect.name


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    with open_archive(str(tmp_path / "a.db")) as arch, arch.session() as session:
        pragma = lambda name: session.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
        assert (pragma("journal_mode"), pragma("busy_timeout"), pragma("foreign_keys"), pragma("synchronous")) \
            == ("wal", 30000, 1, 1)


def test_create_false_on_empty_location_raises_not_found_and_creates_nothing(db_url: str, raw: sa.Engine) -> None:
    with pytest.raises(NotFound, match="no archive"):
        open_archive(db_url, create=False)
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    assert _tables(raw) == set()


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "a.db"
    with pytest.raises(DatabaseUnreachable, match="does not exist") as err:
        open_archive(str(target))
    assert str(tmp_path / "no" / "such" / "dir") in str(err.value)
    assert not (tmp_path / "no").exists()


def test_text_file_is_not_an_archive_and_stays_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes, not a database\n" * 100)
    before = sorted(p.name for p in tmp_path.iterdir()), notes.read_bytes()
    with pytest.raises(NotAnArchive, match="not a SQLite database"):
        open_archive(str(notes))
    assert (sorted(p.name for p in tmp_path.iterdir()), notes.read_bytes()) == before


def test_database_with_other_tables_is_not_an_archive(db_url: str, raw: sa.Engine) -> None:
    with raw.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount INTEGER)"))
    before = _fingerprint(db_url, raw)
    with pytest.raises(NotAnArchive, match="other tables"):
        open_archive(db_url)
    assert _fingerprint(db_url, raw) == before
    assert _tables(raw) == {"invoices"}


def test_unknown_revision_is_schema_too_new_and_nothing_is_written(db_url: str, raw: sa.Engine) -> None:
    open_archive(db_url).dispose()
    with raw.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    before = _fingerprint(db_url, raw)
    with pytest.raises(SchemaTooNew, match="ffff_from_the_future"):
        open_archive(db_url)
    with pytest.raises(SchemaTooNew):
        open_archive(db_url, migrate=False)
    assert _fingerprint(db_url, raw) == before


def test_older_revision_is_migrated_only_when_allowed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_archive(db_url).dispose()
    # Pretend this code ships a newer revision than the one the archive is at.
    monkeypatch.setattr(storage.db, "head_revision", lambda: "0002_pretend")
    with pytest.raises(SchemaOutdated, match="newsarchive db upgrade"):
        open_archive(db_url, migrate=False)


def test_unreachable_postgresql_fails_fast_without_secrets() -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable) as err:
        open_archive("postgresql://newsarchive:hunter2@127.0.0.1:1/news")
    assert time.monotonic() - started < 3
    message = str(err.value)
    assert "127.0.0.1:1" in message and "hunter2" not in message and "\n" not in message


def test_session_rolls_back_and_translates_driver_errors(sources: Archive) -> None:
    with pytest.raises(RuntimeError), sources.repository() as repo:
        repo.upsert_source(SourceIn("tass", "TASS", "ru", "https://tass.ru"))
        raise RuntimeError("boom")
    with pytest.raises(StorageError) as err, sources.session() as session:
        session.execute(sa.text("INSERT INTO sources (key, name, language, base_url) VALUES ('ft', 'x', 'en', 'x')"))
    assert "integrity" in str(err.value).lower() and "\n" not in str(err.value)
    with sources.session(readonly=True) as session:
        keys = session.execute(sa.text("SELECT key FROM sources ORDER BY key")).scalars().all()
    assert keys == ["ft", "lefigaro", "rbc"]


def test_opening_a_current_archive_needs_no_alembic(db_url: str) -> None:
    """Alembic is imported to migrate, not to check that an archive's schema is current."""
    import subprocess
    import sys

    open_archive(db_url).dispose()
    code = ("import sys\nfrom storage import open_archive\n"
            f"open_archive({db_url!r}).dispose()\n"
            "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))\n")
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_sqlite_memory_map_is_on_for_readers_and_off_on_request(tmp_path) -> None:
    """Searches read the file through a memory map; the crawl's writer and its own archive
    handle ask for none, so their memory does not grow with the file."""
    from storage import open_archive
    from storage.db import SQLITE_MMAP_BYTES

    url = f"sqlite:///{tmp_path / 'a.db'}"
    for mmap in (True, False):
        archive = open_archive(url, mmap=mmap)
        try:
            with archive.engine.connect() as conn:
                size = conn.exec_driver_sql("PRAGMA mmap_size").scalar_one()
            # SQLite rounds the size down to whole pages
            assert (SQLITE_MMAP_BYTES - 65536 <= size <= SQLITE_MMAP_BYTES) if mmap else size == 0
        finally:
            archive.dispose()
