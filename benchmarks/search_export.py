#!/usr/bin/env python3
"""Search latency and export speed on a large synthetic archive, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/search_export.py [--articles 100000] [--backends sqlite,postgresql]
                                                 [--keep DIR] [--rank-all]

Fills a fresh archive (a SQLite file in a temporary folder; a new schema on the PostgreSQL
server of the tests, ``$NEWSARCHIVE_TEST_PG``, dropped afterwards) with synthetic French
business articles through ``Repository.store_articles`` in batches of 1,000, then times
``Repository.search`` (20 queries: frequent and rare words, phrases, OR, exclusions, filters;
each run 5 times, p50/p95 over all runs) and ``storage.export.export_articles`` to JSON Lines
(what ``newsarchive export`` runs), and prints one table. Exits 1 if SQLite misses a target of
issue #7 (search p95 <= 100 ms, export >= 10,000 articles/s).

``--keep DIR`` keeps the filled archives for the next run with the same ``--articles``
(filling 100,000 takes minutes): the SQLite file in DIR, the PostgreSQL schema
``na_bench_keep_<articles>`` (drop it by hand). A kept archive is reused only if it holds
exactly that many articles; its fill rate is then not measured. ``--rank-all`` also times each
search with every match ranked (``RANKED_MATCHES = None``: the ranking before the cap), in
turn with the capped one, so that both see the same machine load.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("NEWSARCHIVE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CITIES = ["Irkoutsk", "Kazan", "Perm", "Lipetsk", "Vladivostok", "Rostov", "Novossibirsk", "Samara", "Tomsk",
          "Kaliningrad", "Lyon", "Marseille", "Toulouse", "Bordeaux", "Nantes", "Lille", "Strasbourg", "Rennes"]
WORDS = ("entreprise investissement usine contrat accord exportation importation marché croissance énergie "
         "gaz pétrole agriculture blé vin fromage automobile pièces logistique transport banque crédit rouble "
         "euro délégation ministre chambre commerce salon forum partenariat coentreprise filiale production "
         "emploi salariés région gouvernement sanctions douane tarif chiffre affaires bénéfice hausse baisse "
         "trimestre annonce projet construction modernisation technologie recherche formation ingénieurs "
         "pharmacie médicaments laboratoire aéronautique satellite spatial chimie engrais bois papier acier "
         "aluminium nickel charbon électricité nucléaire hydrogène éolien solaire numérique logiciel").split()
FIRMS = [f"{a}{b}" for a in ("Baïkal", "Volga", "Oural", "Sibir", "Neva", "Amour", "Don", "Kama")
         for b in ("Energia", "Pharma", "Avto", "Bois", "Metall", "Polymer", "Agro", "Trans")]
QUERIES = [
    "Irkoutsk", "investissement", "gaz naturel", '"chambre de commerce"', "Kazan OR Perm", "usine -automobile",
    "hydrogène", "BaïkalEnergia", "exportation blé", "Vladivostok logistique", "rouble euro", "aéronautique",
    "nickel", "coentreprise Lyon", "pharmacie laboratoire", '"chiffre d\'affaires"', "satellite", "Toulouse",
    "sanctions douane", "VolgaPharma",
]
RUNS = 5


def synthetic(n: int, seed: int = 7):
    from storage.records import ArticleIn

    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        city, firm = rng.choice(CITIES), rng.choice(FIRMS)
        paragraphs = []
        for _ in range(rng.randint(5, 9)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(25, 45))]
            words.insert(rng.randrange(len(words)), city)
            words.insert(rng.randrange(len(words)), firm)
            words.insert(rng.randrange(len(words)), str(rng.randint(1, 9999)))  # keeps texts apart
            paragraphs.append(" ".join(words).capitalize() + ".")
        published = start + timedelta(minutes=rng.randrange(60 * 24 * 365 * 9))
        yield ArticleIn(source="synthetic", url=f"https://example.org/economie/{i:07d}-{firm.lower()}",
                        title=f"{firm} : {rng.choice(WORDS)} et {rng.choice(WORDS)} à {city}",
                        text="\n".join(paragraphs), language="fr", authors=[], published_at=published,
                        description=paragraphs[0][:200], tags=["économie"])


def fill(archive, n: int, batch: int = 1000) -> float:
    from storage import Repository
    from storage.records import SourceIn

    with archive.session() as session:
        Repository(session).upsert_source(SourceIn("synthetic", "Synthetic", "fr", "https://example.org"))
    start = time.perf_counter()
    pending = []
    for article in synthetic(n):
        pending.append(article)
        if len(pending) == batch:
            with archive.session() as session:
                Repository(session).store_articles(pending)
            pending = []
    if pending:
        with archive.session() as session:
            Repository(session).store_articles(pending)
    return time.perf_counter() - start


def measure(archive, rank_all: bool = False) -> dict[str, float]:
    """Search percentiles and export rate; with ``rank_all`` also the search percentiles when
    every match is ranked (``RANKED_MATCHES = None``), each query timed both ways in turn."""
    import storage.repository
    from storage.export import export_articles
    from storage.records import SearchFilters

    capped = storage.repository.RANKED_MATCHES
    modes = [capped, None] if rank_all else [capped]
    timings: dict[int | None, list[float]] = {mode: [] for mode in modes}
    since = SearchFilters(since=datetime(2020, 1, 1, tzinfo=timezone.utc))
    try:
        with archive.repository(readonly=True) as repo:
            for query in QUERIES:  # warm-up: first use of each statement and page cache
                repo.search(query, limit=20)
            for run in range(RUNS):
                for i, query in enumerate(QUERIES):
                    for mode in modes if run % 2 == 0 else modes[::-1]:
                        storage.repository.RANKED_MATCHES = mode
                        t = time.perf_counter()
                        repo.search(query, since if i % 4 == 0 else SearchFilters(), limit=20)
                        timings[mode].append(time.perf_counter() - t)
    finally:
        storage.repository.RANKED_MATCHES = capped
    with archive.repository(readonly=True) as repo, open(os.devnull, "wb") as sink:
        t = time.perf_counter()
        count = export_articles(repo, "jsonl", sink)
        export_s = time.perf_counter() - t
    out = {"exported": count, "export_rate": count / export_s, **percentiles(timings[capped])}
    if rank_all:
        out["all"] = percentiles(timings[None])
    return out


def percentiles(timings: list[float]) -> dict[str, float]:
    q = statistics.quantiles(timings, n=100)
    return {"p50": statistics.median(timings) * 1e3, "p95": q[94] * 1e3, "max": max(timings) * 1e3}


def pg_schema(kept: str | None = None):
    """A URL on a new schema and the function that drops it; a ``kept`` schema is created if
    missing and never dropped."""
    import psycopg
    from sqlalchemy import make_url

    u = make_url(PG_URL)
    schema = kept or f"na_bench_{secrets.token_hex(4)}"
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
    conn.execute(f"CREATE SCHEMA {'IF NOT EXISTS ' if kept else ''}{schema}")
    url = u.update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(hide_password=False)
    if kept:
        conn.close()
        return url, None
    return url, lambda: (conn.execute(f"DROP SCHEMA {schema} CASCADE"), conn.close())


def ranked_matches() -> int | None:
    import storage.repository

    return storage.repository.RANKED_MATCHES


def kept_count(archive) -> int:
    """Articles in a kept archive (0 if it has none yet)."""
    with archive.repository(readonly=True) as repo:
        return repo.count_articles()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rank-all", action="store_true",
                        help="also time every search with every match ranked (RANKED_MATCHES = None), in turn")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the filled archives (SQLite in DIR) and reuse them in the next run")
    args = parser.parse_args()
    from storage import open_archive

    results = {}
    for backend in args.backends.split(","):
        cleanup = None
        tmp = None
        if backend == "sqlite" and args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{args.keep.resolve() / f'archive-{args.articles}.db'}"
        elif backend == "sqlite":
            tmp = Path(tempfile.mkdtemp(prefix="newsarchive-search-"))
            url = f"sqlite:///{tmp / 'archive.db'}"
        else:
            url, cleanup = pg_schema(f"na_bench_keep_{args.articles}" if args.keep else None)
        try:
            with open_archive(url) as archive:
                have = kept_count(archive) if args.keep else 0
                if have not in (0, args.articles):
                    raise SystemExit(f"{backend}: the kept archive holds {have} articles, not {args.articles}")
                fill_rate = float("nan")
                if have == 0:
                    fill_s = fill(archive, args.articles)
                    fill_rate = args.articles / fill_s
                    print(f"{backend}: filled {args.articles} articles in {fill_s:.0f} s", file=sys.stderr)
                else:
                    print(f"{backend}: reusing the kept archive of {have} articles", file=sys.stderr)
                results[backend] = {"fill": fill_rate, **measure(archive, args.rank_all)}
        finally:
            if cleanup:
                cleanup()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nsearch and export, {args.articles} synthetic articles, {os.cpu_count()} cores "
          f"({time.strftime('%Y-%m-%d %H:%M')}); {len(QUERIES)} queries x {RUNS} runs, limit 20, "
          f"load average {os.getloadavg()[0]:.1f}; RANKED_MATCHES {ranked_matches()}")
    print(f"{'backend':<12} {'fill':>14} {'search p50':>11} {'p95':>9} {'max':>9} {'export':>17}")
    for backend, r in results.items():
        filled = "reused" if math.isnan(r["fill"]) else f"{r['fill']:.0f} art/s"
        print(f"{backend:<12} {filled:>14} {r['p50']:>8.1f} ms {r['p95']:>6.1f} ms {r['max']:>6.1f} ms "
              f"{r['export_rate']:>11.0f} art/s")
        if "all" in r:
            a = r["all"]
            print(f"{'  rank all':<12} {'':>14} {a['p50']:>8.1f} ms {a['p95']:>6.1f} ms {a['max']:>6.1f} ms")
    sqlite = results.get("sqlite")
    missed = sqlite is not None and (sqlite["p95"] > 100 or sqlite["export_rate"] < 10_000)
    print("targets (SQLite: search p95 <= 100 ms, export >= 10,000 articles/s): "
          + ("not measured" if sqlite is None else "MISSED" if missed else "met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
