"""Test helpers: replica sites, sources files pointed at them, the CLI in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

from crawler.sources import Source, default_sources, dump_sources
from newsarchive.localsite import SiteServer, serve

ROOT = Path(__file__).resolve().parents[1]
SITES = ROOT / "tests" / "sites"
DEMO_SITE = ROOT / "newsarchive" / "demo_site"

# Configuration only: a local replica needs no politeness delay, and retries need no long backoff.
FAST = ["-s", "NEWSARCHIVE_RETRY_BACKOFF=0.05", "-s", "AUTOTHROTTLE_ENABLED=False"]


def site_root(site: str) -> Path:
    """The folder of a replica (``tests/sites/KEY``), or of the bundled demo site for "demo"."""
    return DEMO_SITE if site == "demo" else SITES / site


def expected(site: str) -> dict:
    return json.loads((site_root(site) / "_expected.json").read_text(encoding="utf-8"))


def site_origins(site: Path) -> list[str]:
    import tomllib

    path = site / "_site.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")).get("origins", []) if path.exists() else []


@contextmanager
def replica(key: str) -> Iterator[tuple[SiteServer, Source]]:
    """Serve the replica of default source ``key`` and the source rebased onto it."""
    site = SITES / key
    with serve(site) as server:
        source = default_sources()[key].rebased(server.base_url, site_origins(site))
        yield server, fast(source)


def fast(source: Source) -> Source:
    from dataclasses import replace

    return replace(source, download_delay=0.0, concurrency=8)


def write_sources(path: Path, *sources: Source) -> Path:
    path.write_text(dump_sources(sources), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``newsarchive ARGS`` as a user would, in a fresh process."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    environment.pop("NEWSARCHIVE_DB", None)
    environment.pop("NEWSARCHIVE_SOURCES", None)
    return subprocess.run([sys.executable, "-m", "newsarchive.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=environment, check=False)


def path_of(url: str) -> str:
    """The decoded path (and query) of a URL, as _expected.json spells them."""
    parts = urlsplit(url)
    return unquote(parts.path) + (f"?{unquote(parts.query)}" if parts.query else "")


def requested_paths(server: SiteServer) -> list[str]:
    return [unquote(p) for p, _ in server.requests]


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """A failed command that explained itself in exactly one line naming ``needles``."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def outlives_owner(code: str, what: str) -> None:
    """Run ``code`` (it prints the pid of a process it starts, then sleeps), SIGKILL it, and
    assert that the started process exits within 20 s: crawl helpers must die with their crawl."""
    import signal
    import time

    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        assert process_alive(pid)
        os.kill(pid, signal.SIGINT)  # what a Ctrl-C sends the whole process group: not theirs to obey
        time.sleep(0.5)
        assert process_alive(pid), f"the {what} died of a Ctrl-C meant for the crawl"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 20
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not process_alive(pid), f"the {what} outlived its crawl"
