#!/usr/bin/env python3
"""Crawl throughput, in one run on this machine: naive baseline vs `newsarchive crawl`.

    .venv/bin/python benchmarks/throughput.py [--articles 2000] [--bench ../shared/bench]

Generates the bench site (``make_site.py``, into a temporary folder, not the repo), serves
it (``serve.py``), measures trafilatura's CPU cost per page and the extraction-bound ceiling
(``extract_cost.py``), runs the naive sequential pipeline (``baseline_naive.py``), crawls the
same site with ``newsarchive crawl`` into a fresh SQLite archive (through a sources file
written for the bench site: its only relaxations are ``download_delay = 0`` and a higher
``concurrency``, as for any local mirror), scores the archive with ``check_archive.py``,
re-crawls the unchanged site, and prints one table. Peak memory is the largest sum of the
proportional set sizes (PSS; the RSS sum is shown too) of the crawl process and all its
descendants (the extraction forkserver and workers), sampled from /proc every
``SAMPLE_SECONDS``. Exits 1 if a target of issue #7 is missed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE_KEY = "bench"
# Reading every process's smaps_rollup costs ~7 ms of CPU per sample on this VM: every 0.1 s, the
# sampler took ~4 % of the two cores from the crawl it measured (the naive run is not sampled).
# Memory grows slowly (Scrapy's request queue) and peaks near the end: twice a second is enough.
SAMPLE_SECONDS = 0.5
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def bench_sources(base_url: str, concurrency: int) -> str:
    """A sources file for the bench site: rbth_fr's rules (the site imitates fr.rbth.com)
    pointed at the local server; no politeness delay and more parallel requests, since it is ours."""
    from crawler.sources import default_sources, dump_sources

    source = default_sources()["rbth_fr"].rebased(base_url)
    source = replace(source, key=SOURCE_KEY, name="bench site (make_site.py)", sitemaps=(f"{base_url}/sitemap.xml",),
                     download_delay=0.0, concurrency=concurrency, max_pages=None)
    return dump_sources([source])


# -- process-tree memory ------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_memory(pid: int) -> tuple[int, int]:
    """Bytes of ``pid`` and all its descendants: (sum of PSS, sum of RSS). PSS splits the
    pages processes share (the extraction workers share the extractor and its language model
    with the forkserver they were forked from) among them, so its sum is what the tree costs;
    the RSS sum counts those pages once per process."""
    tree, pss, rss, todo = _children(), 0, 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(tree.get(p, ()))
        try:
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE_SIZE
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            pass
    return pss, rss


def run_measured(cmd: list[str], memory: bool = True, **kwargs) -> tuple[subprocess.CompletedProcess, float, tuple[int, int]]:
    """Run ``cmd``; return it, its wall time and the peak (PSS, RSS) sums of its process tree
    (``memory=False``: not sampled, (0, 0))."""
    peak_pss = peak_rss = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    out: dict[str, str] = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
    reader.start()
    while True:
        if not memory:
            proc.wait()
            break
        pss, rss = tree_memory(proc.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        try:
            proc.wait(timeout=SAMPLE_SECONDS)  # returns as the process exits: no sleep in the time
            break
        except subprocess.TimeoutExpired:
            pass
    elapsed = time.perf_counter() - start
    reader.join()
    result = subprocess.CompletedProcess(cmd, proc.returncode, out.get("stdout", ""), out.get("stderr", ""))
    return result, elapsed, (peak_pss, peak_rss)


def check(result: subprocess.CompletedProcess, what: str) -> str:
    if result.returncode != 0:
        sys.exit(f"{what} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def last_match(pattern: str, text: str, what: str) -> re.Match:
    matches = list(re.finditer(pattern, text, re.M))
    if not matches:
        sys.exit(f"{what}: no line matching {pattern!r} in:\n{text[-2000:]}")
    return matches[-1]


# -- steps ---------------------------------------------------------------------------------

def settle() -> None:
    """Flush what earlier steps wrote before the next timed one starts. The naive baseline commits
    each of its 2,000 articles (an fsync each); the kernel writes those pages back afterwards, and
    that I/O and CPU landed in whichever step came next (~1 s of the full crawl's 15)."""
    os.sync()
    time.sleep(1.0)


def crawl(db_url: str, sources_file: Path, extra: list[str], memory: bool = True) -> tuple[float, tuple[int, int], dict]:
    settle()
    cmd = [sys.executable, "-m", "newsarchive.cli", "crawl", SOURCE_KEY, "--sources", str(sources_file),
           "--db", db_url, *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result, elapsed, peak = run_measured(cmd, memory, cwd=ROOT, env=env)
    check(result, "newsarchive crawl")
    from storage import open_archive

    with open_archive(db_url) as archive, archive.repository(readonly=True) as repo:
        run = repo.list_runs(SOURCE_KEY, limit=1)[0]
    return elapsed, peak, {"run": run, "stats": run.stats}


def export_jsonl(db_url: str, path: Path) -> str:
    """Our JSON Lines export, plus the ``date`` field check_archive.py reads (it was written for
    the naive pipeline's records): the publication date in the site's own time zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from storage import open_archive
    from storage.export import export_articles

    raw = path.with_suffix(".raw.jsonl")
    with open_archive(db_url) as archive, archive.repository(readonly=True) as repo, raw.open("wb") as out:
        export_articles(repo, "jsonl", out)
    moscow = ZoneInfo("Europe/Moscow")  # the bench site imitates fr.rbth.com, whose dates are Moscow time
    with raw.open(encoding="utf-8") as lines, path.open("w", encoding="utf-8") as out:
        for line in lines:
            record = json.loads(line)
            published = record.get("published_at")
            record["date"] = datetime.fromisoformat(published).astimezone(moscow).date().isoformat() if published else None
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return "storage.export.export_articles"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000, help="articles on the generated site (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench",
                        help="folder of the bench kit (make_site.py, serve.py, ...)")
    parser.add_argument("--workdir", type=Path, help="where to generate the site and archives (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel requests to the bench site")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive baseline (and the ratio)")
    args = parser.parse_args()
    for script in ("make_site.py", "serve.py", "baseline_naive.py", "check_archive.py", "extract_cost.py"):
        if not (args.bench / script).is_file():
            parser.error(f"{args.bench / script} not found; point --bench at the bench kit")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="newsarchive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    site = work / "site"
    server = None
    try:
        print(f"work folder: {work}", file=sys.stderr)
        manifest = site / "manifest.json"
        if not (manifest.exists() and json.loads((site / "site.json").read_text()).get("article_count") == args.articles):
            shutil.rmtree(site, ignore_errors=True)
            check(subprocess.run([py, str(args.bench / "make_site.py"), str(site), "--articles", str(args.articles),
                                  "--seed", str(args.seed)], capture_output=True, text=True), "make_site.py")

        server = subprocess.Popen([py, str(args.bench / "serve.py"), str(site), "--port", "0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = server.stdout.readline()
        base_url = last_match(r"serving (http://\S+)", line, "serve.py").group(1)
        print(f"site: {args.articles} articles at {base_url}", file=sys.stderr)

        cost = check(subprocess.run([py, str(args.bench / "extract_cost.py"), str(site)], capture_output=True,
                                    text=True), "extract_cost.py")
        ceiling = float(last_match(r"ceiling: .* = ([\d.]+) articles/s", cost, "extract_cost").group(1))
        cpu_ms = float(last_match(r"mean ([\d.]+), p90", cost, "extract_cost").group(1))
        print(cost.strip(), file=sys.stderr)

        naive_rate = None
        if not args.skip_naive:
            settle()
            out = check(subprocess.run([py, str(args.bench / "baseline_naive.py"), base_url,
                                        "--db", str(work / "naive.sqlite")], capture_output=True, text=True),
                        "baseline_naive.py")
            m = last_match(r"naive: (\d+) articles in ([\d.]+) s = ([\d.]+) articles/s", out, "baseline_naive")
            naive_rate = float(m.group(3))
            print(m.group(0), file=sys.stderr)

        sources_file = work / "bench-sources.toml"
        sources_file.write_text(bench_sources(base_url, args.concurrency), encoding="utf-8")
        db_path = work / "archive.db"
        for path in work.glob("archive.db*"):
            path.unlink()
        db_url = f"sqlite:///{db_path}"
        full_s, full_peak, full = crawl(db_url, sources_file, [])
        run = full["run"]
        stored = run.articles_new
        print(f"crawl: {stored} new articles in {full_s:.1f} s, peak PSS {full_peak[0] / 2**20:.0f} MB",
              file=sys.stderr)

        export = work / "archive.jsonl"
        exporter = export_jsonl(db_url, export)
        scored = check(subprocess.run([py, str(args.bench / "check_archive.py"), str(manifest), "--export",
                                       str(export)], capture_output=True, text=True), "check_archive.py")
        print(scored.strip(), file=sys.stderr)
        m = last_match(r"check: articles=([\d.]+)% complete_text=([\d.]+)% boilerplate=([\d.]+)%", scored, "check")
        articles_pct, complete_pct, boiler_pct = (float(m.group(i)) for i in (1, 2, 3))

        # Not sampled: its memory is not reported, and a sample (every process's smaps_rollup, ~7 ms
        # of CPU each) would take a share of the cores from a command that lasts under a second.
        re_s, _, again = crawl(db_url, sources_file, [], memory=False)
        refetched = int(again["stats"].get("newsarchive/article_pages", 0) or 0)
        pages = again["run"].pages_fetched
        not_modified = int(again["stats"].get("newsarchive/not_modified", 0) or 0)
        print(f"re-crawl: {re_s:.1f} s, {pages} pages ({not_modified} not modified), {refetched} article pages",
              file=sys.stderr)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    rate = stored / full_s
    rows = [
        ("trafilatura CPU per page", f"{cpu_ms:.1f} ms", ""),
        ("extraction-bound ceiling", f"{ceiling:.1f} articles/s", f"{os.cpu_count()} cores"),
    ]
    if naive_rate is not None:
        rows.append(("naive baseline", f"{naive_rate:.1f} articles/s", f"{naive_rate / ceiling:.0%} of ceiling"))
    rows += [
        ("newsarchive crawl", f"{rate:.1f} articles/s",
         (f"{rate / naive_rate:.2f}x naive, " if naive_rate else "") + f"{rate / ceiling:.0%} of ceiling"),
        ("  crawl wall time", f"{full_s:.1f} s", f"{stored} articles"),
        ("  check_archive", f"articles {articles_pct:g}%", f"complete text {complete_pct:g}%, "
                                                          f"boilerplate {boiler_pct:g}% (export: {exporter})"),
        ("  peak memory (process tree)", f"{full_peak[0] / 2**20:.0f} MB PSS",
         f"{full_peak[1] / 2**20:.0f} MB as a sum of RSS; {args.articles} articles"),
        ("re-crawl, site unchanged", f"{re_s:.1f} s", f"{re_s / full_s:.1%} of the full crawl"),
        ("  pages fetched", f"{pages}", f"{not_modified} answered 304; {refetched} article pages"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nthroughput on {os.cpu_count()} cores, {args.articles} articles ({time.strftime('%Y-%m-%d %H:%M')})")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")

    missed = []
    if naive_rate is not None and rate < 1.6 * naive_rate:
        missed.append("crawl < 1.6x naive")
    if rate < 0.7 * ceiling:
        missed.append("crawl < 70% of ceiling")
    if (articles_pct, complete_pct, boiler_pct) != (100.0, 100.0, 0.0):
        missed.append("archive quality")
    if re_s > 0.05 * full_s or refetched:
        missed.append("re-crawl")
    if args.articles >= 10_000 and full_peak[0] > 400 * 2**20:
        missed.append("peak memory")
    print("targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
