"""Export: every format round-trips every field (non-Latin text, commas, quotes, newlines) on both backends."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import Archive, BadQuery, SearchFilters
from storage.export import FIELDS, WRITERS, article_record, export_articles, write_parquet
from tests.research_corpus import CORPUS, MSK, SEEN, TRICKY_TEXT, fill

EXPECTED_FIELDS = ("id", "source", "url", "title", "authors", "published_at", "modified_at", "language",
                   "description", "tags", "text", "content_hash", "first_seen_at", "last_seen_at", "version",
                   "cluster_id")


@pytest.fixture
def filled(archive: Archive) -> tuple[Archive, dict[str, int]]:
    return archive, fill(archive)


def _export(archive: Archive, fmt: str, query: str | None = None, filters: SearchFilters = SearchFilters()) -> bytes:
    out = io.BytesIO()
    with archive.repository(readonly=True) as repo:
        export_articles(repo, fmt, out, query, filters, batch_size=2)
    return out.getvalue()


def _expected(archive: Archive) -> list[dict]:
    with archive.repository(readonly=True) as repo:
        return [article_record(a) for a in repo.iter_articles()]


def test_record_has_exactly_the_documented_fields_in_order(filled) -> None:
    archive, ids = filled
    with archive.repository(readonly=True) as repo:
        record = article_record(repo.get_article(ids["https://www.lefigaro.fr/eco/1"]))
    assert tuple(record) == EXPECTED_FIELDS == FIELDS
    assert record["authors"] == ["Dupont, Jean", 'Marie "M." Curie'] and record["tags"] == ["Économie", "Russie; France"]
    assert record["published_at"] == "2024-01-10T06:30:00+00:00"  # 09:30 Moscow time, in UTC with its offset
    assert record["modified_at"] == datetime(2024, 1, 11, tzinfo=MSK).astimezone(timezone.utc).isoformat()
    assert record["first_seen_at"] == record["last_seen_at"] == SEEN.isoformat()
    assert record["text"] == TRICKY_TEXT and record["version"] == 1 and len(record["content_hash"]) == 64
    with archive.repository(readonly=True) as repo:
        bare = article_record(repo.get_article("https://www.ft.com/content/5"))
    assert bare["published_at"] is None and bare["modified_at"] is None and bare["description"] is None
    assert bare["authors"] == [] and bare["tags"] == []


def test_jsonl_round_trip(filled) -> None:
    archive, _ = filled
    data = _export(archive, "jsonl")
    lines = data.decode("utf-8").splitlines()
    assert "中文, emoji 😀" in data.decode("utf-8")  # UTF-8, not \\u escapes
    assert [json.loads(line) for line in lines] == _expected(archive)
    assert all(list(json.loads(line)) == list(EXPECTED_FIELDS) for line in lines)


def test_csv_round_trip_with_the_csv_module(filled) -> None:
    archive, _ = filled
    data = _export(archive, "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    expected = _expected(archive)
    assert len(rows) == len(expected) == len(CORPUS)
    for row, record in zip(rows, expected, strict=True):
        assert list(row) == list(EXPECTED_FIELDS)
        for field, value in record.items():
            if field in ("authors", "tags"):
                assert json.loads(row[field]) == value  # lists as JSON arrays
            elif value is None:
                assert row[field] == ""
            else:
                assert row[field] == str(value), field
    assert rows[0]["text"] == TRICKY_TEXT  # newlines, tabs, quotes and commas survive


def test_parquet_round_trip_with_proper_types(filled) -> None:
    archive, _ = filled
    table = pq.read_table(io.BytesIO(_export(archive, "parquet")))
    schema = table.schema
    assert schema.names == list(EXPECTED_FIELDS)
    assert schema.field("id").type == pa.int64() and schema.field("version").type == pa.int64()
    assert schema.field("authors").type == pa.list_(pa.string()) and schema.field("tags").type == pa.list_(pa.string())
    for name in ("published_at", "modified_at", "first_seen_at", "last_seen_at"):
        assert schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    rows = table.to_pylist()
    for row, record in zip(rows, _expected(archive), strict=True):
        for field, value in record.items():
            got = row[field]
            if isinstance(got, datetime):
                assert got.tzinfo is not None
                got = got.astimezone(timezone.utc).isoformat()
            assert got == value, field


def test_parquet_is_written_in_row_groups() -> None:
    from storage.records import ArticleOut

    def articles(n: int):
        for i in range(n):
            yield ArticleOut(id=i, source="s", url=f"u{i}", title="t", authors=[], published_at=None, modified_at=None,
                             language=None, description=None, tags=[], text="x", content_hash="h",
                             first_seen_at=SEEN, last_seen_at=SEEN, version=1)

    out = io.BytesIO()
    assert write_parquet(articles(5), out, row_group=2) == 5
    meta = pq.ParquetFile(io.BytesIO(out.getvalue())).metadata
    assert (meta.num_rows, meta.num_row_groups) == (5, 3)


def test_query_and_filters_select_what_is_exported(filled) -> None:
    archive, ids = filled
    for fmt in sorted(WRITERS):
        _check_selection(archive, ids, fmt)


def _check_selection(archive: Archive, ids: dict[str, int], fmt: str) -> None:
    def exported_ids(query: str | None, filters: SearchFilters = SearchFilters()) -> list[int]:
        data = _export(archive, fmt, query, filters)
        if fmt == "jsonl":
            return [json.loads(line)["id"] for line in data.decode().splitlines()]
        if fmt == "csv":
            return [int(r["id"]) for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))]
        return pq.read_table(io.BytesIO(data)).column("id").to_pylist()

    u = {url.rsplit("/", 1)[1]: i for url, i in ids.items()}
    assert exported_ids("gazprom OR газпром") == sorted([u["2"], u["3"], u["4"], u["5"]])
    assert exported_ids("gazprom", SearchFilters(sources=("ft",))) == [u["4"], u["5"]]
    assert exported_ids(None, SearchFilters(since=datetime(2024, 2, 1, tzinfo=timezone.utc),
                                            until=datetime(2024, 3, 1, tzinfo=timezone.utc))) == [u["2"], u["3"]]
    assert exported_ids("инвестиция") == [u["3"]]  # Russian inflection: инвестиции
    assert exported_ids("nothing-like-this") == []


QUERIES = ["pétrole", "petrole", '"gaz naturel"', "gazprom -profits", "инвестиция", "investissement",
           "gazprom OR газпром -totalenergies", "reculent", "Ünïcödé"]


def test_exported_set_is_the_search_result_set(filled) -> None:
    archive, _ = filled
    with archive.repository(readonly=True) as repo:
        for query in QUERIES:
            searched = sorted(h.id for h in repo.search(query, limit=100))
            exported = [a.id for a in repo.iter_articles(query=query)]
            assert exported == searched and searched, query


def test_malformed_query_fails_before_writing(filled) -> None:
    archive, _ = filled
    out = io.BytesIO()
    with pytest.raises(BadQuery), archive.repository(readonly=True) as repo:
        export_articles(repo, "parquet", out, 'unbalanced "phrase')
    assert out.getvalue() == b""


def test_search_marks_are_chosen_by_the_caller(filled) -> None:
    archive, _ = filled
    with archive.repository(readonly=True) as repo:
        [hit] = repo.search("pétrole", marks=("\ue000", "\ue001"))
        [plain] = repo.search("pétrole")
    assert "\ue000pétrole\ue001" in hit.snippet and "[pétrole]" in plain.snippet
