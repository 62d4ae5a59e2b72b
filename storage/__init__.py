"""The archive: SQLAlchemy models, migrations, the Repository and full-text search."""
from __future__ import annotations

import logging

from storage.db import DEFAULT_DB_URL, Archive, make_engine, normalize_db_url, open_archive, resolve_db_url
from storage.errors import (
    BadDatabaseURL,
    BadQuery,
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

__all__ = [
    "DEFAULT_DB_URL", "Archive", "Repository", "open_archive", "resolve_db_url", "normalize_db_url",
    "make_engine", "content_hash",
    "StorageError", "BadDatabaseURL", "BadQuery", "DatabaseUnreachable", "NotAnArchive", "NotFound",
    "SchemaOutdated", "SchemaTooNew",
    "ArticleIn", "ArticleOut", "LockInfo", "RunOut", "SearchFilters", "SearchHit", "SnapshotIn", "SnapshotOut",
    "SourceIn", "StoreResult", "VersionOut",
]
