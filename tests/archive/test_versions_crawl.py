"""End to end over a local site that changes between two crawls: edits become versions (and only
edits), a reprint on another source joins the story, snapshots are stored once, reextract applies
a changed rule to exactly the affected articles, and a WARC export re-imports to the same archive."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from crawler.sources import load_file
from newsarchive.localsite import serve
from newsarchive.textdiff import word_diff
from storage import open_archive
from tests.helpers import FAST, SITES, fast, run_cli, site_origins, write_sources

SITE = SITES / "versions"
A, B = "https://a.versions.invalid", "https://b.versions.invalid"


def _count(db: str, table: str) -> int:
    with open_archive(db) as archive, archive.session(readonly=True) as session:
        return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def _by_path(db: str) -> dict[str, object]:
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        return {a.url.split("/", 3)[3]: a for a in repo.iter_articles()}


@pytest.mark.slow
def test_two_crawls_versions_clusters_reextract_and_warc(tmp_path: Path) -> None:
    site_a = tmp_path / "a"
    shutil.copytree(SITE / "a", site_a)
    defined = load_file(SITE / "_sources.toml")
    db = f"sqlite:///{tmp_path / 'archive.db'}"
    with serve(site_a) as server_a, serve(SITE / "b") as server_b:
        source_a = fast(defined["versions_a"].rebased(server_a.base_url, site_origins(site_a)))
        source_b = fast(defined["versions_b"].rebased(server_b.base_url, site_origins(SITE / "b")))
        sources = str(write_sources(tmp_path / "sources.toml", source_a, source_b))
        # NEWSARCHIVE_FULL: fetch archived article pages again (a routine re-crawl skips them)
        crawl = ("crawl", "versions_a", "versions_b", "--sources", sources, "--db", db, *FAST,
                 "-s", "NEWSARCHIVE_FULL=True", "-s", "NEWSARCHIVE_EXTRACT_WORKERS=0")
        first = run_cli(*crawl)
        assert first.returncode == 0, first.stdout + first.stderr
        before = _by_path(db)
        for page in (SITE / "a_v2").rglob("*.html"):  # the site changes between the crawls
            shutil.copy(page, site_a / page.relative_to(SITE / "a_v2"))
        second = run_cli(*crawl)
        assert second.returncode == 0, second.stdout + second.stderr
    after = _by_path(db)
    assert sorted(after) == ["depeches/10-relais-siberie", "depeches/11-cci-lyon-bureau", "news/1-turbines-krasnoiarsk",
                             "news/2-vins-russie", "news/3-cci-novossibirsk"]

    # an edited article gains exactly one version, with the right diff; the others none
    edited, relaid = after["news/1-turbines-krasnoiarsk"], after["news/2-vins-russie"]
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        versions = {path: repo.article_versions(a.id) for path, a in after.items()}
        clusters = repo.cluster_ids(a.id for a in after.values())
        siblings = repo.siblings(after["news/3-cci-novossibirsk"].id)
    assert {path: len(v) for path, v in versions.items()} == {path: 2 if path == "news/1-turbines-krasnoiarsk" else 1
                                                              for path in after}
    assert edited.version == 2 and edited.modified_at is not None and edited.modified_at > before[
        "news/1-turbines-krasnoiarsk"].last_seen_at
    old, new = versions["news/1-turbines-krasnoiarsk"]
    diff = word_diff(old.text, new.text)
    assert "[-n'a pas été communiqué, mais il porterait sur plusieurs dizaines de-]" in diff, diff
    assert "{+s'élève à quarante-deux+}" in diff, diff
    assert "Krasnoïarsk" not in diff  # far from the change: left out of the context
    assert relaid.version == 1 and relaid.last_seen_at > before["news/2-vins-russie"].last_seen_at
    shown = run_cli("show", str(edited.id), "--diff", "--db", db)
    assert shown.returncode == 0 and diff in shown.stdout and "version 1" in shown.stdout, shown.stdout + shown.stderr
    one = run_cli("show", str(relaid.id), "--diff", "--db", db)
    assert one.returncode == 1 and one.stderr.strip() == "Error: the article has 1 version: nothing to compare"

    # the press release and its reprint are one story; the Lyon article with a close title is not
    release, reprint, lyon = (after[p].id for p in ("news/3-cci-novossibirsk", "depeches/10-relais-siberie",
                                                    "depeches/11-cci-lyon-bureau"))
    assert clusters.get(release) is not None and clusters.get(release) == clusters.get(reprint)
    assert lyon not in clusters
    assert [(s.id, s.source) for s in siblings] == [(reprint, "versions_b")] and siblings[0].similarity >= 0.8
    story = run_cli("show", str(release), "--db", db)
    assert f"same story:    #{reprint} versions_b (" in story.stdout, story.stdout
    collapsed = run_cli("search", "chambre", "--collapse", "--format", "json", "--db", db)
    found = [h["id"] for h in json.loads(collapsed.stdout)]  # the best-ranked copy of the story stands for it
    assert len(found) == 2 and lyon in found and len({release, reprint} & set(found)) == 1, collapsed.stdout

    # raw pages kept once per distinct body: 5 first bodies + the 2 pages that changed; every fetch recorded
    assert _count(db, "snapshots") == 7 and _count(db, "snapshot_fetches") == 10

    # a new drop_lines rule reaches exactly the two articles carrying that line, without the network
    ruled = fast(source_a.__class__(**{**source_a.__dict__, "drop_lines": ("^Correspondance particulière",)}))
    rules = str(write_sources(tmp_path / "rules.toml", ruled, source_b))
    result = run_cli("reextract", "--sources", rules, "--db", db, "--workers", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split() for line in result.stdout.splitlines() if line.strip().startswith("│")] == [
        ["│", "5", "│", "2", "│", "3", "│", "0", "│"]], result.stdout
    reextracted = _by_path(db)
    assert {p: a.version for p, a in reextracted.items()} == {
        "news/1-turbines-krasnoiarsk": 2, "news/2-vins-russie": 2, "news/3-cci-novossibirsk": 2,
        "depeches/10-relais-siberie": 1, "depeches/11-cci-lyon-bureau": 1}
    assert all("Correspondance particulière" not in a.text for a in reextracted.values())

    # WARC: export, then import into a fresh archive: the same articles
    warc = tmp_path / "archive.warc.gz"
    exported = run_cli("export", "--format", "warc", "--output", str(warc), "--db", db)
    assert exported.returncode == 0 and "exported 5 articles" in exported.stderr, exported.stderr
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    imported = run_cli("import-warc", str(warc), "--sources", rules, "--db", copy, "--workers", "0")
    assert imported.returncode == 0, imported.stdout + imported.stderr

    def essence(articles: dict[str, object]) -> dict[str, tuple]:
        return {p: (a.url.split("/", 3)[3], a.source, a.title, a.text, a.content_hash)  # type: ignore[attr-defined]
                for p, a in articles.items()}

    assert essence(_by_path(copy)) == essence(reextracted)
