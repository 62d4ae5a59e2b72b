"""reextract: stored snapshots through the current extraction, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import zlib
from dataclasses import replace

import sqlalchemy as sa
from archive_pages import _fill

from crawler.extraction import EXTRACTOR_VERSION
from crawler.sources import default_sources
from newsarchive.reextract import reextract
from storage import Archive
from storage.records import ArticleIn


def test_reextract_updates_exactly_what_a_rule_changes_and_reports_what_it_cannot(archive: Archive) -> None:
    source = default_sources()["rbth_fr"]
    _fill(archive, source)
    with archive.repository(readonly=True) as repo:
        articles = sorted(repo.iter_articles(), key=lambda a: a.id)
    target, missing, broken = articles[0], articles[1], articles[2]
    line = target.text.split("\n")[1]
    ruled = replace(source, drop_lines=(*source.drop_lines, "^" + re.escape(line[:40])))
    with archive.repository() as repo:  # one article archived without its page
        repo.store_articles([ArticleIn(source=source.key, url="https://fr.rbth.com/economie/1-sans-page",
                                       title="Sans page", text="Un texte archivé sans sa page.")])
    with archive.engine.begin() as conn:  # one snapshot lost, one damaged
        conn.execute(sa.text("DELETE FROM snapshot_fetches WHERE sha256 = :s"), {"s": missing.snapshot_sha256})
        conn.execute(sa.text("DELETE FROM snapshots WHERE sha256 = :s"), {"s": missing.snapshot_sha256})
        conn.execute(sa.text("UPDATE snapshots SET body = :b WHERE sha256 = :s"),
                     {"b": zlib.compress(b""), "s": broken.snapshot_sha256})

    report = reextract(archive, [ruled], workers=0)

    assert (report.examined, report.changed, report.unchanged, report.failed) == (6, 1, 2, 3)
    assert sorted(m.split(": ", 1)[1] for m in report.failures) == sorted([
        f"its snapshot {missing.snapshot_sha256[:12]}… is missing from the archive",
        "its snapshot no longer extracts (not_html: empty body); the archived text is kept",
        "no snapshot was kept for it (crawled with NEWSARCHIVE_KEEP_SNAPSHOTS off?)",
    ])
    with archive.repository(readonly=True) as repo:
        after = {a.id: a for a in repo.iter_articles()}
        versions = repo.article_versions(target.id)
    assert line not in after[target.id].text.split("\n") and after[target.id].version == 2
    assert [(v.version, v.extractor_version) for v in versions] == [(1, EXTRACTOR_VERSION), (2, EXTRACTOR_VERSION)]
    assert after[broken.id].text == broken.text and after[broken.id].version == 1  # kept as it was
    assert all(after[a.id].version == 1 for a in articles[1:])

    again = reextract(archive, [ruled], sources=[source.key], workers=0)
    assert (again.changed, again.unchanged) == (0, 3)  # idempotent


def test_reextract_puts_articles_archived_before_story_clusters_into_the_index(archive: Archive) -> None:
    from pathlib import Path

    stories = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
    source = default_sources()["rbth_fr"]
    _fill(archive, source)
    with archive.repository() as repo:
        [a, b] = repo.store_articles([
            ArticleIn(source=source.key, url="https://fr.rbth.com/x/1", title="A",
                      text=(stories / "press_release.txt").read_text(encoding="utf-8")),
            ArticleIn(source=source.key, url="https://fr.rbth.com/x/2", title="B",
                      text=(stories / "reprint.txt").read_text(encoding="utf-8"))])
    with archive.engine.begin() as conn:  # as an archive migrated from before 0003 holds them
        conn.execute(sa.text("DELETE FROM story_members"))
        conn.execute(sa.text("DELETE FROM story_bands"))
    reextract(archive, [source], workers=0)
    with archive.repository(readonly=True) as repo:
        assert repo.cluster_ids([a.article_id, b.article_id]) == {a.article_id: a.article_id, b.article_id: a.article_id}


def test_reextract_bad_input_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import run_cli

    result = run_cli("reextract", "--source", "nope", "--since", "2024-01-01", "--db", f"sqlite:///{tmp_path / 'a.db'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: unknown source 'nope' (known: ") and result.stderr.count("\n") == 1
