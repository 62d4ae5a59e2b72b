"""search / show / export / serve as a researcher meets them: filters, formats, one-line errors."""
from __future__ import annotations

import csv
import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from storage import open_archive
from tests.helpers import run_cli
from tests.research_corpus import CORPUS, TRICKY_TEXT, fill


def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _filled(url: str) -> dict[str, int]:
    archive = open_archive(url)
    try:
        ids = fill(archive)
    finally:
        archive.dispose()
    return {u.rsplit("/", 1)[1]: i for u, i in ids.items()}  # "1".."5" -> id


@pytest.fixture
def sqlite_db(tmp_path: Path) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    return url, _filled(url)


def _hits(result: subprocess.CompletedProcess) -> list[int]:
    assert result.returncode == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)]


def test_search_filters_on_both_backends(db_url: str) -> None:
    n = _filled(db_url)
    since = run_cli("search", "gazprom OR газпром", "--since", "2024-02-12", "--until", "2024-02-29T23:00:00+01:00",
                    "--format", "json", "--db", db_url)
    assert _hits(since) == [n["3"]]  # 2024-02-10 is before, 2024-03-01 after, undated articles never match
    russian = run_cli("search", "инвестиция", "--lang", "ru", "--format", "jsonl", "--db", db_url)
    rows = [json.loads(line) for line in russian.stdout.splitlines()]
    assert [r["id"] for r in rows] == [n["3"]] and "[инвестиции]" in rows[0]["snippet"]


def test_search_until_a_date_includes_that_day_and_ranks_title_matches_first(sqlite_db) -> None:
    db, n = sqlite_db
    with ThreadPoolExecutor(4) as pool:
        until, ranked, page2, table = pool.map(lambda args: run_cli("search", *args, "--db", db), [
            ("gazprom OR газпром", "--until", "2024-02-15", "--format", "json"),
            ("gazprom", "--source", "ft", "--format", "json"),
            ("gazprom", "--source", "ft", "--limit", "1", "--offset", "1", "--format", "json"),
            ("pétrole",),
        ])
    assert sorted(_hits(until)) == sorted([n["2"], n["3"]])  # 2024-02-15 00:00 is on that day
    assert _hits(ranked) == [n["4"], n["5"]]  # "Gazprom" in the title beats "Gazprom" in the text
    assert _hits(page2) == [n["5"]]
    assert table.returncode == 0 and "Gazprom et TotalEnergies" in table.stdout and "pétrole" in table.stdout


def test_show_as_text_and_as_the_export_record(sqlite_db) -> None:
    db, n = sqlite_db
    text = run_cli("show", str(n["1"]), "--db", db)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(CORPUS[0].title + "\n")
    assert "Dupont, Jean; Marie \"M.\" Curie" in text.stdout and "2024-01-10T06:30:00+00:00" in text.stdout
    assert text.stdout.rstrip("\n").endswith(TRICKY_TEXT)
    by_url = run_cli("show", CORPUS[0].url, "--format", "json", "--db", db)
    exported = run_cli("export", "--db", db)
    assert by_url.returncode == 0 and exported.returncode == 0
    first_line = exported.stdout.splitlines()[0]
    assert json.loads(by_url.stdout) == json.loads(first_line)
    assert list(json.loads(by_url.stdout)) == list(json.loads(first_line))  # same fields, same order


def test_export_formats_to_files_and_stdout(sqlite_db, tmp_path: Path) -> None:
    db, n = sqlite_db
    out_csv, out_parquet = tmp_path / "out.csv", tmp_path / "out.parquet"
    with ThreadPoolExecutor(3) as pool:
        csv_run, parquet_run, jsonl_run = pool.map(lambda args: run_cli(*args, "--db", db), [
            ("export", "--format", "csv", "--output", str(out_csv)),
            ("export", "gazprom", "--source", "ft", "--format", "parquet", "-o", str(out_parquet)),
            ("export", "gazprom OR газпром", "--since", "2024-02-01", "--until", "2024-02-29"),
        ])
    assert csv_run.returncode == 0 and f"exported {len(CORPUS)} articles to {out_csv}" in csv_run.stderr
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [int(r["id"]) for r in rows] == sorted(n.values()) and rows[0]["text"] == TRICKY_TEXT
    assert json.loads(rows[0]["authors"]) == ["Dupont, Jean", 'Marie "M." Curie']
    assert parquet_run.returncode == 0, parquet_run.stderr
    assert pq.read_table(out_parquet).column("id").to_pylist() == [n["4"], n["5"]]
    assert not (tmp_path / "out.parquet.part").exists()
    assert jsonl_run.returncode == 0 and jsonl_run.stderr == ""
    assert [json.loads(line)["id"] for line in jsonl_run.stdout.splitlines()] == [n["2"], n["3"]]


def test_malformed_input_gets_one_line_errors(sqlite_db, tmp_path: Path) -> None:
    db, _ = sqlite_db
    missing = tmp_path / "missing.db"
    cases = [
        (("search", 'gaz "naturel', "--db", db), ("unbalanced quote",)),
        (("search", "gazprom OR", "--db", db), ("ends with OR",)),
        (("search", "gazprom", "--since", "yesterday", "--db", db), ("since", "'yesterday'", "YYYY-MM-DD")),
        (("search", "gazprom", "--until", "2024-02-30", "--db", db), ("until", "'2024-02-30'")),
        (("search", "gazprom", "--since", "2024-03-01", "--until", "2024-01-01", "--db", db), ("not before",)),
        (("search", "gazprom", "--source", "nope", "--db", db), ("unknown source 'nope'", "ft, lefigaro, rbc")),
        (("export", "gazprom", "--source", "nope", "--db", db), ("unknown source 'nope'",)),
        (("export", "--format", "csv", "-o", str(tmp_path / "x.csv"), "--db", db, "--", "-gazprom"),
         ("only excludes",)),
        (("show", "999", "--db", db), ("no article 999",)),
        (("show", "https://nowhere.test/x", "--db", db), ("no article 'https://nowhere.test/x'",)),
        (("show", "1", "--db", str(missing)), ("no archive", "missing.db")),
        (("serve", "--db", str(missing)), ("no archive", "missing.db")),
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: run_cli(*case[0]), cases))
    for (args, needles), result in zip(cases, results, strict=True):
        try:
            _one_line_error(result, *needles)
        except AssertionError as exc:
            raise AssertionError(f"newsarchive {' '.join(args)}: {exc}") from None
    assert not missing.exists()  # reading commands never create an archive
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.csv.part").exists()
