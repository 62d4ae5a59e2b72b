#!/usr/bin/env python3
"""Extraction quality: our extractor versus plain trafilatura on the shared benchmark sets.

    python benchmarks/extraction_quality.py [--shared ../shared]

Runs ``../shared/benchmark/score.py`` twice in one go, once with
``trafilatura.extract`` (the floor) and once with ``crawler.extraction``, prints both
results and exits 1 when our article-set F1 falls below plain trafilatura's.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def extract(html: str, url: str | None) -> str:
    """score.py's extractor interface, over our full pipeline with a permissive source."""
    from crawler.extraction import Article, extract_article
    from crawler.sources import Source

    source = Source(key="benchmark", name="benchmark", language="en", start_urls=("http://example.invalid/",), min_chars=0)
    result = extract_article(html, url or "http://example.invalid/", source)
    return result.text if isinstance(result, Article) else ""


def run(shared: Path, extractor: str | None) -> str:
    cmd = [sys.executable, str(shared / "benchmark" / "score.py"), str(shared / "benchmark" / "article-extraction"),
           str(shared / "benchmark" / "boilerplate-snippets"), "--by-lang"]
    if extractor:
        cmd += ["--extractor", extractor]
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"}
    import os

    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if out.returncode:
        sys.exit(f"score.py failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    results = {}
    for label, extractor in (("trafilatura", None), ("newsarchive", "extraction_quality:extract")):
        output = run(args.shared, extractor)
        print(f"=== {label}\n{output}")
        match = re.search(r"F1 ([0-9.]+)", output)
        results[label] = float(match.group(1)) if match else 0.0
    verdict = "OK" if results["newsarchive"] >= results["trafilatura"] else "BELOW FLOOR"
    print(f"article-set F1: trafilatura {results['trafilatura']:.3f}  newsarchive {results['newsarchive']:.3f}  {verdict}")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
