#!/usr/bin/env python3
"""Search latency and export speed on a large synthetic archive, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/search_export.py [--articles 100000] [--backends sqlite,postgresql]

Fills a fresh archive (a SQLite file in a temporary folder; a new schema on the PostgreSQL
server of the tests, ``$NEWSARCHIVE_TEST_PG``, dropped afterwards) with synthetic French
business articles through ``Repository.store_articles`` in batches of 1,000, then times
``Repository.search`` (20 queries: frequent and rare words, phrases, OR, exclusions, filters;
each run 5 times, p50/p95 over all runs) and ``storage.export.export_articles`` to JSON Lines
(what ``newsarchive export`` runs), and prints one table. Exits 1 if SQLite misses a target of
issue #7 (search p95 <= 100 ms, export >= 10,000 articles/s).
"""
from __future__ import annotations

import argparse
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


def measure(archive) -> dict[str, float]:
    from storage.export import export_articles
    from storage.records import SearchFilters

    timings = []
    since = SearchFilters(since=datetime(2020, 1, 1, tzinfo=timezone.utc))
    with archive.repository(readonly=True) as repo:
        for query in QUERIES:  # warm-up: first use of each statement and page cache
            repo.search(query, limit=20)
        for _ in range(RUNS):
            for i, query in enumerate(QUERIES):
                t = time.perf_counter()
                repo.search(query, since if i % 4 == 0 else SearchFilters(), limit=20)
                timings.append(time.perf_counter() - t)
    with archive.repository(readonly=True) as repo, open(os.devnull, "wb") as sink:
        t = time.perf_counter()
        count = export_articles(repo, "jsonl", sink)
        export_s = time.perf_counter() - t
    q = statistics.quantiles(timings, n=100)
    return {"p50": statistics.median(timings) * 1e3, "p95": q[94] * 1e3, "max": max(timings) * 1e3,
            "exported": count, "export_rate": count / export_s}


def pg_schema():
    import psycopg
    from sqlalchemy import make_url

    u = make_url(PG_URL)
    schema = f"na_bench_{secrets.token_hex(4)}"
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
    conn.execute(f"CREATE SCHEMA {schema}")
    url = u.update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(hide_password=False)
    return url, lambda: (conn.execute(f"DROP SCHEMA {schema} CASCADE"), conn.close())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    from storage import open_archive

    results = {}
    for backend in args.backends.split(","):
        cleanup = None
        tmp = None
        if backend == "sqlite":
            tmp = Path(tempfile.mkdtemp(prefix="newsarchive-search-"))
            url = f"sqlite:///{tmp / 'archive.db'}"
        else:
            url, cleanup = pg_schema()
        try:
            with open_archive(url) as archive:
                fill_s = fill(archive, args.articles)
                print(f"{backend}: filled {args.articles} articles in {fill_s:.0f} s", file=sys.stderr)
                results[backend] = {"fill": args.articles / fill_s, **measure(archive)}
        finally:
            if cleanup:
                cleanup()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nsearch and export, {args.articles} synthetic articles, {os.cpu_count()} cores "
          f"({time.strftime('%Y-%m-%d %H:%M')}); {len(QUERIES)} queries x {RUNS} runs, limit 20")
    print(f"{'backend':<12} {'fill':>14} {'search p50':>11} {'p95':>9} {'max':>9} {'export':>17}")
    for backend, r in results.items():
        print(f"{backend:<12} {r['fill']:>8.0f} art/s {r['p50']:>8.1f} ms {r['p95']:>6.1f} ms {r['max']:>6.1f} ms "
              f"{r['export_rate']:>11.0f} art/s")
    sqlite = results.get("sqlite")
    missed = sqlite is not None and (sqlite["p95"] > 100 or sqlite["export_rate"] < 10_000)
    print("targets (SQLite: search p95 <= 100 ms, export >= 10,000 articles/s): " + ("MISSED" if missed else "met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
