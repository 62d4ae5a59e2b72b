#!/usr/bin/env python3
"""CPU cost per page of our extractor versus plain trafilatura, on the same pages in one run.

    .venv/bin/python benchmarks/extract_cost.py [--site DIR] [--articles 300] [--limit N] [--demo]

Times, with ``time.process_time``, (a) the call ``../shared/bench/extract_cost.py`` makes,
``trafilatura.extract(html, url=..., with_metadata=True, output_format="json")`` on the
decoded page, and (b) ``extract_article(body, url, source, content_type=...)`` on the page's
bytes, as the crawl calls it, with rbth_fr's rules (the bench site imitates fr.rbth.com).
The two run alternately page by page, so machine noise hits both alike; reading files is
not timed and one warm-up call of each is not counted. Without ``--site`` a bench site is
generated with ``make_site.py`` into a temporary folder (not the repo). ``--demo`` also
times the demo site's pages (newsarchive/demo_site).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Timings:
    plain: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)


def bench_pages(site: Path, limit: int | None) -> list[tuple[bytes, str]]:
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    articles = manifest["articles"][:limit] if limit else manifest["articles"]
    return [((site / a["file"]).read_bytes(), manifest["base_url"] + a["url"]) for a in articles]


def demo_pages() -> list[tuple[bytes, str]]:
    site = ROOT / "newsarchive" / "demo_site"
    return [(p.read_bytes(), f"http://127.0.0.1:8000/{p.relative_to(site).as_posix()}")
            for p in sorted(site.rglob("*.html"))]


def measure(pages: list[tuple[bytes, str]], source) -> Timings:
    import trafilatura

    from crawler.extraction import extract_article

    content_type = "text/html; charset=utf-8"

    def plain(body: bytes, url: str) -> None:
        trafilatura.extract(body.decode("utf-8"), url=url, with_metadata=True, output_format="json")

    def ours(body: bytes, url: str) -> None:
        extract_article(body, url, source, content_type=content_type)

    plain(*pages[0])  # warm-up: lazy imports (language model), caches
    ours(*pages[0])
    timings = Timings()
    for body, url in pages:
        for fn, out in ((plain, timings.plain), (ours, timings.ours)):
            start = time.process_time()
            fn(body, url)
            out.append(time.process_time() - start)
    return timings


def report(label: str, pages: list[tuple[bytes, str]], t: Timings) -> None:
    size = sum(len(b) for b, _ in pages) / len(pages) / 1000
    print(f"{label}: {len(pages)} pages, {size:.0f} KB mean")
    for name, values in (("trafilatura.extract", t.plain), ("extract_article", t.ours)):
        print(f"  {name:<20} cpu ms/page: median {statistics.median(values) * 1e3:6.1f}, "
              f"mean {statistics.fmean(values) * 1e3:6.1f}")
    ratio = statistics.fmean(t.ours) / statistics.fmean(t.plain)
    print(f"  extract_article / trafilatura (mean): {ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a folder written by make_site.py (default: generate one)")
    parser.add_argument("--articles", type=int, default=300, help="articles to generate without --site")
    parser.add_argument("--limit", type=int, help="only the first N article pages")
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--demo", action="store_true", help="also time the demo site's pages")
    args = parser.parse_args()

    from crawler.sources import default_sources

    source = default_sources()["rbth_fr"]
    with tempfile.TemporaryDirectory(prefix="extract-cost-") as tmp:
        site = args.site
        if site is None:
            if not (args.bench / "make_site.py").is_file():
                sys.exit(f"no make_site.py in {args.bench}: pass --bench DIR (../shared/bench) or --site DIR")
            site = Path(tmp) / "site"
            subprocess.run([sys.executable, str(args.bench / "make_site.py"), str(site), "--articles",
                            str(args.articles), "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        pages = bench_pages(site, args.limit)
        report("bench site", pages, measure(pages, source))
    if args.demo:
        pages = demo_pages()
        report("demo site", pages, measure(pages, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
