"""Alembic migrations of the archive, configured in code (no alembic.ini needed)."""
from __future__ import annotations

import ast
import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"

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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


# Opening an archive checks its revision against the shipped ones. Alembic's ScriptDirectory
# would import Alembic (~0.1-0.2 s) and execute every revision file, on every open: a large part
# of a short command or of a re-crawl that finds nothing new. The revision ids are plain
# literals in the files, so they are read from their syntax tree instead (once per process);
# Alembic itself runs only to migrate. tests/storage/test_storage_migrations.py checks that both
# readings agree.

@functools.lru_cache(maxsize=1)
def revision_graph() -> dict[str, tuple[str, ...]] | None:
    """Each shipped revision and the revisions it revises, read from the version files without
    importing them; None if a file does not give both as literals (then ask Alembic)."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        values: dict[str, Any] = {}
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
            for node in tree.body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                    targets, value = [node.target.id], node.value
                elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                    targets, value = [t.id for t in node.targets], node.value  # type: ignore[attr-defined]
                else:
                    continue
                for name in targets:
                    if name in ("revision", "down_revision"):
                        values[name] = ast.literal_eval(value)
        except (OSError, SyntaxError, ValueError):
            return None
        if "revision" not in values:
            if path.name == "__init__.py":
                continue
            return None
        down = values.get("down_revision")
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        if not isinstance(values["revision"], str) or not all(isinstance(d, str) for d in downs):
            return None
        graph[values["revision"]] = downs
    return graph


def head_revision() -> str:
    graph = revision_graph()
    if graph is not None:
        heads = set(graph) - {down for downs in graph.values() for down in downs}
        if len(heads) == 1:
            return heads.pop()
    head = script_directory().get_current_head()  # raises on several heads, as before
    assert head is not None, "no migrations shipped"
    return head


def is_known_revision(revision: str) -> bool:
    graph = revision_graph()
    if graph is not None:
        return revision in graph
    script = script_directory()
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for unknown/garbled ids
        return False
