"""Storage errors: one-line messages, driver errors translated at the archive boundary."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where errors are translated: the crawl process imports these classes
    from sqlalchemy import exc as sa_exc  # without SQLAlchemy (see crawler.archive_service)

logger = logging.getLogger(__name__)


class StorageError(Exception):
    """Base of every error the archive raises; ``str(err)`` is one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class DatabaseUnreachable(StorageError):
    """The server or file cannot be reached or opened."""


class NotAnArchive(StorageError):
    """The file or schema exists but is not a newsarchive database."""


class SchemaTooNew(StorageError):
    """The archive was migrated by a newer newsarchive than this one."""


class SchemaOutdated(StorageError):
    """The archive needs ``newsarchive db upgrade`` and migrating was not allowed."""


class BadQuery(StorageError):
    """A search query that cannot be parsed."""


class NotFound(StorageError):
    """No such archive, article, run, snapshot or source."""


class DamagedSnapshot(StorageError):
    """A stored page body that no longer decompresses."""


class BadDatabaseURL(StorageError):
    """A database URL or path that cannot be used."""


def _one_line(message: str, limit: int = 500) -> str:
    line = " ".join(str(message).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def driver_message(exc: BaseException, secrets: tuple[str | None, ...] = ()) -> str:
    """First line of the driver's own message, without SQL, parameters or secrets."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def translate_db_error(
    exc: sa_exc.SQLAlchemyError, *, where: str = "the archive", secrets: tuple[str | None, ...] = ()
) -> StorageError:
    """Map a SQLAlchemy/driver exception onto a StorageError naming ``where``."""
    from sqlalchemy import exc as sa_exc

    msg = driver_message(exc, secrets)
    low = msg.lower()
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DatabaseUnreachable(f"lost the connection to {where}: {msg}")
    if isinstance(exc, sa_exc.OperationalError):
        if "database is locked" in low or "database is busy" in low:
            return StorageError(f"{where} is busy: another process holds its write lock ({msg})")
        if "unable to open database" in low or "connection" in low or "could not" in low:
            return DatabaseUnreachable(f"cannot reach {where}: {msg}")
    if isinstance(exc, sa_exc.DatabaseError) and "file is not a database" in low:
        return NotAnArchive(f"{where} is not a SQLite database")
    if isinstance(exc, sa_exc.IntegrityError):
        return StorageError(f"integrity error in {where}: {msg}")
    if isinstance(exc, sa_exc.DBAPIError):
        return StorageError(f"database error in {where}: {msg}")
    return StorageError(f"storage error in {where}: {type(exc).__name__}: {msg}")
