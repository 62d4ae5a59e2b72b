"""The models and the migrations describe the same schema, on both backends."""
from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import Archive
from storage.migrations import include_name
from storage.models import Base


def _diffs(archive: Archive, **opts: Any) -> list[Any]:
    with archive.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, **opts})
        return compare_metadata(context, Base.metadata)


def test_models_and_migrations_agree(archive: Archive) -> None:
    assert _diffs(archive, include_name=include_name) == []


def test_only_full_text_search_objects_are_excluded(archive: Archive) -> None:
    """Without the exclusion hook, the differences are exactly the FTS objects: nothing else hides."""
    found = set()
    for diff in _diffs(archive):
        kind = diff[0]
        if kind == "remove_table":
            found.add(("table", diff[1].name))
        elif kind == "remove_column":
            found.add(("column", f"{diff[2]}.{diff[3].name}"))
        elif kind == "remove_index":
            found.add(("index", diff[1].name))
        else:
            found.add((kind, repr(diff[1:])))
    if archive.dialect == "sqlite":
        expected = {("table", "articles_fts" + suffix) for suffix in ("", "_data", "_idx", "_docsize", "_config")}
    else:
        expected = {("column", "articles.search_vector"), ("index", "ix_articles_search_vector")}
    assert found == expected


def test_downgrade_then_upgrade_round_trips(archive: Archive) -> None:
    from alembic import command

    from storage.migrations import alembic_config

    with archive.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with archive.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
    before, after = archive.upgrade()
    assert before is None and after == archive.current_revision()
    assert _diffs(archive, include_name=include_name) == []


def test_revision_ids_read_from_the_files_are_alembics() -> None:
    """Opening an archive reads the shipped revisions from the files' syntax, not through Alembic:
    the same revisions, the same links between them, the same head."""
    from storage.migrations import head_revision, is_known_revision, revision_graph, script_directory

    script = script_directory()
    graph = revision_graph()
    assert graph is not None
    def downs(down: str | tuple[str, ...] | None) -> tuple[str, ...]:
        return () if down is None else (down,) if isinstance(down, str) else tuple(down)

    assert graph == {rev.revision: downs(rev.down_revision) for rev in script.walk_revisions()}
    assert head_revision() == script.get_current_head()
    assert all(is_known_revision(revision) for revision in graph)
    assert not is_known_revision("ffff_from_the_future") and not is_known_revision("0001")
