#!/usr/bin/env python3
"""Cost of storing articles, and the share of it spent on story clustering (issue #7).

    .venv/bin/python benchmarks/store_cost.py [--articles 2000] [--batch 50] [--backend sqlite|postgresql]

Stores N bench-like articles (the French business prose of ../shared/bench/make_site.py: texts
built from the same word lists, so that many share LSH bands) through
``Repository.store_articles`` in batches into a fresh archive, and prints ms/article overall,
ms/article inside ``index_stories`` and its share, for the first and the last tenth of the run
(the cost must not grow with the archive). Every 10th article is a reprint of an earlier one by
another source (other title, other lead, trimmed ending): it must join the earlier one's story
cluster; the script prints how many did, and the number of clusters, as a behaviour check.
"""
from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT.parent / "shared" / "bench"
PG_URL = os.environ.get("NEWSARCHIVE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def corpus(n: int, seed: int = 1):
    """(ArticleIn list, {reprint url: original url})."""
    sys.path.insert(0, str(BENCH))
    import make_site  # type: ignore[import-not-found]

    from storage.records import ArticleIn

    rng = random.Random(seed)
    originals = make_site.make_articles(rng, n)
    prose = make_site.Prose(rng)
    out: list[ArticleIn] = []
    reprints: dict[str, str] = {}
    for i, art in enumerate(originals):
        if i % 10 == 9 and i > 20:  # a reprint of an earlier article by another source
            orig = originals[rng.choice([j for j in range(i - 20, i) if j % 10 != 9])]
            paragraphs = orig.paragraphs[: max(3, len(orig.paragraphs) - 2)]  # trimmed ending
            lead = prose.sentence(orig.published.year)
            url = f"https://reprint.example/{art.id}"
            out.append(ArticleIn(source="reprints", url=url, title=f"Reprise : {art.title}",
                                 text="\n".join([lead, *paragraphs]), language="fr", published_at=art.published))
            reprints[url] = f"https://bench.example{orig.url}"
            continue
        out.append(ArticleIn(source="bench", url=f"https://bench.example{art.url}", title=art.title,
                             text="\n".join([art.lead, *art.paragraphs]), language="fr", published_at=art.published))
    return out, reprints


def pg_schema():
    import psycopg
    from sqlalchemy import make_url

    u = make_url(PG_URL)
    schema = f"na_store_{secrets.token_hex(4)}"
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
    conn.execute(f"CREATE SCHEMA {schema}")
    url = u.update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(hide_password=False)
    return url, lambda: (conn.execute(f"DROP SCHEMA {schema} CASCADE"), conn.close())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()

    from storage import Repository, open_archive
    from storage.links import LinksMixin
    from storage.records import SourceIn

    spent = {"index": 0.0}
    original = LinksMixin.index_stories

    def timed(self, *a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            spent["index"] += time.perf_counter() - t

    LinksMixin.index_stories = timed  # type: ignore[method-assign]

    articles, reprints = corpus(args.articles)
    tmp = cleanup = None
    if args.backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="store-cost-")
        url = str(Path(tmp) / "archive.db")
    else:
        url, cleanup = pg_schema()
    try:
        archive = open_archive(url)
        with archive.repository() as repo:
            repo.upsert_source(SourceIn("bench", "Bench", "fr", "https://bench.example"))
            repo.upsert_source(SourceIn("reprints", "Reprints", "fr", "https://reprint.example"))
        batches = [articles[i : i + args.batch] for i in range(0, len(articles), args.batch)]
        per_batch: list[tuple[int, float, float]] = []
        ids: dict[str, int] = {}
        for batch in batches:
            spent["index"] = 0.0
            t = time.perf_counter()
            with archive.session() as session:
                for r in Repository(session).store_articles(batch):
                    ids[r.url] = r.article_id
            per_batch.append((len(batch), time.perf_counter() - t, spent["index"]))
        with archive.repository(readonly=True) as repo:
            clusters = repo.cluster_ids(ids.values())
        archive.dispose()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if cleanup:
            cleanup()

    def line(label: str, rows: list[tuple[int, float, float]]) -> str:
        n = sum(r[0] for r in rows)
        total, index = sum(r[1] for r in rows), sum(r[2] for r in rows)
        return (f"{label:<14} {n:>6} articles  {total / n * 1e3:7.2f} ms/article  "
                f"index_stories {index / n * 1e3:7.2f} ms/article ({index / total:5.1%})")

    tenth = max(1, len(per_batch) // 10)
    print(f"backend {args.backend}, {len(articles)} articles in batches of {args.batch}")
    print(line("all", per_batch))
    print(line("first tenth", per_batch[:tenth]))
    print(line("last tenth", per_batch[-tenth:]))
    joined = sum(1 for r, o in reprints.items()
                 if clusters.get(ids[r]) is not None and clusters.get(ids[r]) == clusters.get(ids[o]))
    print(f"reprints in their original's cluster: {joined}/{len(reprints)}; "
          f"clustered articles {len(clusters)}, clusters {len(set(clusters.values()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
