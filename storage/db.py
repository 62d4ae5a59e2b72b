"""The one place engines, sessions and the Archive are built; opening checks the schema."""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from storage.errors import (
    BadDatabaseURL,
    DatabaseUnreachable,
    NotAnArchive,
    NotFound,
    SchemaOutdated,
    SchemaTooNew,
    StorageError,
    driver_message,
    translate_db_error,
)
from storage.migrations import alembic_config, head_revision, is_known_revision
from storage.repository import Repository

logger = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///newsarchive.db"
ENV_VAR = "NEWSARCHIVE_DB"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Read the archive through a memory map (the OS page cache, shared by all connections) rather than
# read() calls into a 2 MB private cache: a search looks up the article row of every FTS5 match,
# scattered over a file of GBs (11x faster on 100,000 articles). SQLite caps it (2 GB by default).
SQLITE_MMAP_BYTES = 1 << 31
PG_CONNECT_TIMEOUT_S = 5
PG_MIGRATION_LOCK = 0x6E61_7263  # advisory lock id ("narc") serialising concurrent upgrades
OUR_TABLES = {"sources", "articles", "crawl_runs"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")  # 2+ chars, so "C:\x" stays a path
_BEGIN_OPTION = "newsarchive_sqlite_begin"


def resolve_db_url(cli_value: str | None = None) -> str:
    """Explicit value, else $NEWSARCHIVE_DB, else the default; normalised (see normalize_db_url)."""
    if cli_value is not None:
        return normalize_db_url(cli_value)
    return normalize_db_url(os.environ.get(ENV_VAR) or DEFAULT_DB_URL)


def normalize_db_url(raw: str) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL (psycopg 3); a bare path means SQLite."""
    value = raw.strip()
    if not value or any(ch in value for ch in "\x00\n\r"):
        raise BadDatabaseURL(f"not a database URL or path: {raw!r}")
    if not _SCHEME.match(value):
        return "sqlite:///" + os.path.expanduser(value)
    try:
        url = make_url(value)
        url.port  # noqa: B018 - parsing the port raises on garbage
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise BadDatabaseURL(f"cannot parse database URL {_mask(value)}: {exc}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite" and driver in ("", "pysqlite"):
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise BadDatabaseURL("the archive must be a SQLite file: use sqlite:///PATH or a plain path")
    else:
        raise BadDatabaseURL(
            f"unsupported database URL scheme {url.drivername!r}: use a file path, "
            "sqlite:///PATH or postgresql://USER@HOST/DBNAME"
        )
    return url.render_as_string(hide_password=False)


def _mask(value: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)


def describe_url(url: str | URL) -> str:
    """Where the archive lives, for messages: a path or host:port/db, never a password."""
    u = make_url(url) if isinstance(url, str) else url
    if u.get_backend_name() == "sqlite":
        return f"SQLite archive {u.database}"
    return f"PostgreSQL at {u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def make_engine(url: str, *, mmap: bool = True, **kwargs: Any) -> Engine:
    """An Engine with the archive's connection settings (SQLite pragmas, PG timeouts).
    ``mmap=False``: SQLite reads through its own bounded page cache, not a memory map (for a
    long-running writer, whose mapped pages would count in its memory as the file grows)."""
    u = make_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    if u.get_backend_name() == "sqlite":
        engine = sa.create_engine(u, **kwargs)
        _install_sqlite_hooks(engine, SQLITE_MMAP_BYTES if mmap else 0)
        return engine
    connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "newsarchive"}
    connect_args.update(kwargs.pop("connect_args", {}))
    return sa.create_engine(u, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _install_sqlite_hooks(engine: Engine, mmap_bytes: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN: DDL becomes transactional (a failed
        # migration leaves nothing behind) and writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA mmap_size = {mmap_bytes}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
        # instead of one failing with SQLITE_BUSY when upgrading a read lock.
        conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE"))


class Archive:
    """An opened, schema-checked archive. Build it with ``open_archive``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Literal["sqlite", "postgresql"] = engine.dialect.name  # type: ignore[assignment]
        self.where = describe_url(engine.url)
        self._secrets = (engine.url.password,) if engine.url.password else ()
        self._readonly_engine: Engine = engine
        if self.dialect == "sqlite":
            self._readonly_engine = engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})

    def __repr__(self) -> str:
        return f"<Archive {self.where}>"

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A Session committed on success, rolled back on error; driver errors become StorageError.

        ``readonly=True`` takes no write lock on SQLite (use it for search and export); the
        session must then not write.
        """
        session = Session(bind=self._readonly_engine if readonly else self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except sa_exc.SQLAlchemyError as exc:
            _safe_rollback(session)
            raise self.translate(exc) from exc
        except BaseException:
            _safe_rollback(session)
            raise
        finally:
            session.close()

    @contextmanager
    def repository(self, *, readonly: bool = False) -> Iterator[Repository]:
        """``with archive.repository() as repo:`` a Repository in one committed session."""
        with self.session(readonly=readonly) as session:
            yield Repository(session)

    def translate(self, exc: sa_exc.SQLAlchemyError) -> StorageError:
        return translate_db_error(exc, where=self.where, secrets=self._secrets)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self._readonly_engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate(exc) from exc

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest schema; returns (revision before, revision after)."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
                before = MigrationContext.configure(conn).get_current_revision()
                if before is not None and not is_known_revision(before):
                    raise SchemaTooNew(_too_new_message(self.where, before))
                command.upgrade(alembic_config(conn), "head")
                after = MigrationContext.configure(conn).get_current_revision()
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate(exc) from exc
        assert after is not None
        if before != after:
            logger.info("migrated %s from %s to %s", self.where, before or "empty", after)
        return before, after

    def dispose(self) -> None:
        self.engine.dispose()


def _safe_rollback(session: Session) -> None:
    try:
        session.rollback()
    except sa_exc.SQLAlchemyError:  # the connection may be gone; closing discards it
        logger.debug("rollback failed", exc_info=True)


def _too_new_message(where: str, revision: str) -> str:
    return (
        f"{where} is at schema revision {revision!r}, unknown to this newsarchive "
        f"(newest known: {head_revision()!r}); upgrade newsarchive"
    )


def open_archive(url: str, *, migrate: bool = True, create: bool = True, mmap: bool = True) -> Archive:
    """Open (and if needed create or migrate) the archive at ``url`` (a URL or a SQLite path).
    ``mmap``: see ``make_engine``.

    Raises DatabaseUnreachable, NotAnArchive, SchemaTooNew, SchemaOutdated (older schema and
    ``migrate=False``), NotFound (nothing there and ``create=False``) or BadDatabaseURL.
    Nothing is written unless the archive is new or is being migrated.
    """
    u = make_url(normalize_db_url(url))
    where = describe_url(u)
    if u.get_backend_name() == "sqlite":
        kind, revision = _classify_sqlite(Path(str(u.database)), where)
        engine = None
    else:
        engine = make_engine(u.render_as_string(hide_password=False))
        kind, revision = _classify_with(engine, where, u.password)
    try:
        if kind == "foreign":
            raise NotAnArchive(f"{where} holds other tables, not a newsarchive archive")
        if kind == "empty" and not create:
            raise NotFound(f"no archive at {where}")
        if kind == "archive":
            assert revision is not None
            if not is_known_revision(revision):
                raise SchemaTooNew(_too_new_message(where, revision))
            if revision != head_revision() and not migrate:
                raise SchemaOutdated(
                    f"{where} is at schema revision {revision!r}, needs {head_revision()!r}: "
                    "run `newsarchive db upgrade`"
                )
        if engine is None:
            engine = make_engine(u.render_as_string(hide_password=False), mmap=mmap)
        archive = Archive(engine)
        if kind == "empty" or revision != head_revision():
            archive.upgrade()
        return archive
    except BaseException:
        if engine is not None:
            engine.dispose()
        raise


def _classify_sqlite(path: Path, where: str) -> tuple[str, str | None]:
    """Inspect a SQLite file without writing to it (no WAL switch, no file created)."""
    if not path.exists():
        if not path.parent.is_dir():
            raise DatabaseUnreachable(f"cannot create {where}: directory {path.parent} does not exist")
        return "empty", None
    if path.is_dir():
        raise NotAnArchive(f"{where} is a directory, not a database file")
    # Never open() the file ourselves: closing any descriptor of a SQLite file drops every POSIX
    # lock this process holds on it (fcntl semantics), so another process may then checkpoint
    # and delete the WAL under this process's open connections and their later commits are
    # lost. Only SQLite itself touches the file, which it does safely.
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatabaseUnreachable(f"cannot read {where}: {exc.strerror or exc}") from None
    if size == 0:
        return "empty", None
    probe = sa.create_engine(sa.URL.create("sqlite", database=str(path)), poolclass=NullPool)
    try:
        return _classify_with(probe, where, None)
    except StorageError as exc:
        if "file is not a database" in str(exc) or "file is encrypted" in str(exc):
            raise NotAnArchive(f"{where} is not a SQLite database") from None
        raise
    finally:
        probe.dispose()


def _classify_with(engine: Engine, where: str, password: str | None) -> tuple[str, str | None]:
    """('empty'|'archive'|'foreign', alembic revision) of the default schema; reads only."""
    try:
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            if not names:
                return "empty", None
            if "alembic_version" not in names or not names >= OUR_TABLES:
                return "foreign", None
            revisions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
            conn.rollback()
    except sa_exc.OperationalError as exc:
        raise DatabaseUnreachable(f"cannot connect to {where}: {driver_message(exc, (password,))}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise translate_db_error(exc, where=where, secrets=(password,)) from exc
    if len(revisions) != 1:
        raise NotAnArchive(f"{where} has a broken alembic_version table ({len(revisions)} rows)")
    return "archive", revisions[0]
