"""The archive: SQLAlchemy models, migrations, the Repository and full-text search.

The exports below are resolved lazily (PEP 562 module ``__getattr__``): ``from storage import
Repository`` works as before, but importing a light submodule such as ``storage.stories`` (pure
hashing, used by the crawl's extraction workers) no longer pulls in SQLAlchemy and the DB code."""
from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.db import DEFAULT_DB_URL, Archive, make_engine, normalize_db_url, open_archive, resolve_db_url
    from storage.errors import (
        BadDatabaseURL,
        BadQuery,
        DamagedSnapshot,
        DatabaseUnreachable,
        NotAnArchive,
        NotFound,
        SchemaOutdated,
        SchemaTooNew,
        StorageError,
    )
    from storage.records import (
        ArticleIn,
        ArticleOut,
        LockInfo,
        RunOut,
        SearchFilters,
        SearchHit,
        SnapshotIn,
        SnapshotOut,
        SourceIn,
        StoreResult,
        VersionOut,
    )
    from storage.repository import Repository, content_hash

logger = logging.getLogger(__name__)

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["DEFAULT_DB_URL", "Archive", "make_engine", "normalize_db_url", "open_archive",
                     "resolve_db_url"], "storage.db"),
    **dict.fromkeys(["BadDatabaseURL", "BadQuery", "DamagedSnapshot", "DatabaseUnreachable", "NotAnArchive",
                     "NotFound", "SchemaOutdated", "SchemaTooNew", "StorageError"], "storage.errors"),
    **dict.fromkeys(["ArticleIn", "ArticleOut", "LockInfo", "RunOut", "SearchFilters", "SearchHit",
                     "SnapshotIn", "SnapshotOut", "SourceIn", "StoreResult", "VersionOut"], "storage.records"),
    **dict.fromkeys(["Repository", "content_hash"], "storage.repository"),
}

__all__ = [
    "DEFAULT_DB_URL", "Archive", "Repository", "open_archive", "resolve_db_url", "normalize_db_url",
    "make_engine", "content_hash",
    "StorageError", "BadDatabaseURL", "BadQuery", "DamagedSnapshot", "DatabaseUnreachable", "NotAnArchive",
    "NotFound", "SchemaOutdated", "SchemaTooNew",
    "ArticleIn", "ArticleOut", "LockInfo", "RunOut", "SearchFilters", "SearchHit", "SnapshotIn", "SnapshotOut",
    "SourceIn", "StoreResult", "VersionOut",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
