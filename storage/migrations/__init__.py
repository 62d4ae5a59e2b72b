"""Alembic migrations of the archive, configured in code (no alembic.ini needed)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent

# Database objects the migrations create on purpose but the models cannot express, so
# that autogenerate (and the models-vs-migrations test) must not see them:
# - SQLite: the FTS5 table ``articles_fts`` and its shadow tables (_data, _idx, _docsize,
#   _config); they are virtual/internal tables kept in sync by triggers.
# - PostgreSQL: ``articles.search_vector`` (tsvector kept by a trigger) and its GIN index.
EXCLUDED_TABLE_PREFIX = "articles_fts"
EXCLUDED_COLUMNS = {("articles", "search_vector")}
EXCLUDED_INDEXES = {"ix_articles_search_vector"}


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic ``include_name`` hook hiding the full-text search objects listed above."""
    if type_ == "table" and name and name.startswith(EXCLUDED_TABLE_PREFIX):
        return False
    if type_ == "column" and (parent_names.get("table_name"), name) in EXCLUDED_COLUMNS:
        return False
    return not (type_ == "index" and name in EXCLUDED_INDEXES)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at this package; ``connection`` is used by env.py."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def is_known_revision(revision: str) -> bool:
    script = script_directory()
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for unknown/garbled ids
        return False
