"""WARC export and import: standard records readable by warcio, a lossless round trip, corrupt files reported."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.sources import default_sources, load_registry
from newsarchive.warc import import_warc, write_warc
from storage import Archive, open_archive
from archive_pages import _fill, _pages
from tests.helpers import run_cli

def _articles(archive: Archive) -> dict[str, tuple[str, str, str, str | None]]:
    with archive.repository(readonly=True) as repo:
        return {a.url: (a.title, a.text, a.content_hash, a.snapshot_sha256) for a in repo.iter_articles()}


def test_export_writes_standard_records_and_import_reproduces_the_archive(archive: Archive, tmp_path: Path) -> None:
    _fill(archive)
    path = tmp_path / "out.warc.gz"
    with archive.repository(readonly=True) as repo, path.open("wb") as out:
        report = write_warc(repo, out)
    assert (report.articles, report.responses, report.without_snapshot) == (5, 5, 0)

    with path.open("rb") as fh:
        records = [(r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read()) for r in ArchiveIterator(fh)]
    assert [kind for kind, *_ in records] == ["warcinfo"] + ["response", "metadata"] * 5
    assert all(h.protocol == "WARC/1.1" for _, h, _, _ in records)
    bodies = dict(_pages())
    for (_, resp, http, body), (_, meta, _, payload) in zip(records[1::2], records[2::2]):
        url = resp.get_header("WARC-Target-URI")
        assert body == bodies[url]  # the page exactly as fetched
        assert http.get_statuscode() == "200" and http.get_header("Content-Type") == "text/html; charset=utf-8"
        assert http.get_header("Content-Encoding") is None  # the body is stored decoded: no lying header
        assert http.get_header("Content-Length") == str(len(body))
        assert resp.get_header("WARC-Date") == "2026-11-02T08:30:00.000000Z"
        assert meta.get_header("WARC-Refers-To") == resp.get_header("WARC-Record-ID")
        assert meta.get_header("WARC-Concurrent-To") == resp.get_header("WARC-Record-ID")
        assert meta.get_header("Content-Type") == "application/json"
        fields = json.loads(payload)
        assert fields["source"] == "rbth_fr" and fields["text"] and "cluster_id" in fields

    fresh = open_archive(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        result = import_warc(fresh, [path], load_registry(None), workers=0)
        assert (result.pages, result.new, result.failed, result.skipped) == (5, 5, 0, 0), result.messages
        assert _articles(fresh) == _articles(archive)
        again = import_warc(fresh, [path], load_registry(None), workers=0)
        assert (again.new, again.unchanged) == (0, 5)  # importing twice adds nothing
        with fresh.session(readonly=True) as session:
            import sqlalchemy as sa

            assert session.execute(sa.text("SELECT count(*) FROM snapshots")).scalar_one() == 5
            assert session.execute(sa.text("SELECT count(*) FROM snapshot_fetches")).scalar_one() == 10
    finally:
        fresh.dispose()


def _foreign_warc(path: Path, url: str, body: bytes) -> None:
    """A WARC as another tool writes it: a response record, no newsarchive metadata."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))


def test_import_infers_the_source_from_the_url_and_reports_unknown_hosts(tmp_path: Path) -> None:
    (url, body), *_ = _pages()
    good, stray = tmp_path / "good.warc.gz", tmp_path / "stray.warc.gz"
    _foreign_warc(good, url, body)
    _foreign_warc(stray, "https://elsewhere.example/news/1", body)
    archive = open_archive(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        report = import_warc(archive, [stray, good], load_registry(None), workers=0)
        assert (report.new, report.failed) == (1, 1)
        assert report.messages == [f"{stray}: record 1 (https://elsewhere.example/news/1): no source of the registry "
                                   "serves 'https://elsewhere.example/news/1'; give --source KEY"]
        with archive.repository(readonly=True) as repo:
            [article] = list(repo.iter_articles())
        assert article.source == "rbth_fr" and article.snapshot_sha256 is not None
    finally:
        archive.dispose()


@pytest.mark.slow
def test_corrupt_warc_files_are_reported_in_one_line_and_the_rest_is_imported(tmp_path: Path) -> None:
    source_db = open_archive(f"sqlite:///{tmp_path / 'src.db'}")
    try:
        _fill(source_db)
        good = tmp_path / "good.warc.gz"
        with source_db.repository(readonly=True) as repo, good.open("wb") as out:
            write_warc(repo, out)
    finally:
        source_db.dispose()
    data = good.read_bytes()
    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    garbage = tmp_path / "garbage.warc"
    garbage.write_bytes(b"this is not a WARC file\n" * 20)
    bad_gzip = tmp_path / "bad.warc.gz"
    bad_gzip.write_bytes(gzip.compress(b"WARC/1.1\r\n")[:12] + b"\x00garbage" * 10)
    db = f"sqlite:///{tmp_path / 'dst.db'}"

    result = run_cli("import-warc", str(garbage), str(truncated), str(bad_gzip), str(good), "--db", db,
                     "--workers", "0")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, result.stderr
    assert lines[0] == (f"{garbage}: not a readable WARC file: "
                        "no WARC record there (old ARC format, or not an archive at all)"), lines
    assert lines[1].startswith(f"{truncated}: unreadable after record ") and "records before it were read" in lines[1]
    assert lines[2].startswith(f"{bad_gzip}: not a readable WARC file: "), lines
    with open_archive(db) as archive, archive.repository(readonly=True) as repo:
        assert repo.count_articles() == 5  # the good file, and whatever the truncated one held before the cut


def test_extraction_pool_gives_what_extraction_in_process_gives() -> None:
    from newsarchive.extractjobs import Extractor, Job

    source = default_sources()["rbth_fr"]
    jobs = [Job(body, url, source) for url, body in _pages()] + [Job(b"", "https://fr.rbth.com/vide", source)]
    with Extractor(0) as inline, Extractor(2, min_jobs=1) as pool:
        here, there = list(inline.map(jobs)), list(pool.map(jobs))
        assert pool.pool is not None
    assert [getattr(r, "text", str(r)) for r in here] == [getattr(r, "text", str(r)) for r in there]
    assert str(there[-1]) == "not_html: empty body"


def test_an_article_archived_without_its_page_round_trips_from_its_metadata(tmp_path: Path) -> None:
    from storage.records import ArticleIn, SourceIn

    source = open_archive(f"sqlite:///{tmp_path / 'src.db'}")
    copy = open_archive(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        with source.repository() as repo:
            repo.upsert_source(SourceIn("rbth_fr", "RBTH", "fr", "https://fr.rbth.com"))
            repo.store_articles([ArticleIn(source="rbth_fr", url="https://fr.rbth.com/economie/1-sans-page",
                                           title="Sans page", text="Un texte archivé sans sa page.\nDeux lignes.",
                                           authors=["A. Auteur"], tags=["économie"])])
        path = tmp_path / "meta.warc.gz"
        with source.repository(readonly=True) as repo, path.open("wb") as out:
            report = write_warc(repo, out)
        assert (report.articles, report.responses, report.without_snapshot) == (1, 0, 1)
        result = import_warc(copy, [path], load_registry(None), workers=0)
        assert (result.new, result.failed) == (1, 0), result.messages
        with copy.repository(readonly=True) as repo:
            [article] = list(repo.iter_articles())
        assert (article.url, article.title, article.authors, article.tags) == (
            "https://fr.rbth.com/economie/1-sans-page", "Sans page", ["A. Auteur"], ["économie"])
        assert _articles(copy) == _articles(source)
    finally:
        source.dispose()
        copy.dispose()
