"""Serve a folder of static pages on 127.0.0.1 as if it were a real news site.

Used by the demo (``newsarchive demo``), by the tests and by the benchmarks: the
pipeline never needs the internet to be exercised end to end.

A site folder maps URLs to files:

* ``/a/b`` is served from ``a/b``, ``a/b.html``, ``a/b.xml`` or ``a/b/index.html``
  (the path is percent-decoded first, so ``/%C3%A9ducation/x`` reads ``éducation/x.html``);
* a query string selects ``a/b@QUERY`` first (``/economie?page=2`` reads
  ``economie@page=2.html``), then falls back to the plain path;
* an optional ``_site.toml`` gives the site's real ``origins`` (rewritten to this
  server's base URL in text responses, so absolute links in feeds and sitemaps
  point here) and per-path ``[routes."/path"]`` overrides: ``status``,
  ``content_type``, ``headers``, ``redirect``, ``body`` and ``hang`` (seconds to
  wait before answering, to imitate a stalled server).

Every file response carries ``Last-Modified`` and ``ETag`` and conditional
requests get ``304 Not Modified``, as on a well-run news site.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import posixpath
import threading
import time
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
TEXT_TYPES = ("text/", "application/xml", "application/rss+xml", "application/atom+xml", "application/json")


@dataclass
class SiteConfig:
    origins: list[str] = field(default_factory=list)
    routes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> "SiteConfig":
        path = root / "_site.toml"
        if not path.exists():
            return cls()
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(origins=list(data.get("origins", [])), routes=dict(data.get("routes", {})))


class SiteServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server for one site folder."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, root: Path | str, port: int = 0, host: str = "127.0.0.1"):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"site folder not found: {self.root}")
        super().__init__((host, port), _Handler)
        self.config = SiteConfig.load(self.root)
        self.counts: Counter[int] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, path: str, headers: dict[str, str], status: int) -> None:
        with self._lock:
            self.counts[status] += 1
            self.requests.append((path, headers))

    def resolve(self, target: str) -> Path | None:
        return resolve(self.root, target)

    def rewrite(self, body: bytes) -> bytes:
        for origin in self.config.origins:
            body = body.replace(origin.encode(), self.base_url.encode())
        return body

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SiteServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s " + format, self.address_string(), *args)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.server
        path = self.path
        if "://" in path:  # absolute-form request target
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        route = srv.config.routes.get(path) or srv.config.routes.get(path.partition("?")[0]) or {}
        if route.get("hang"):
            srv._stopping.wait(float(route["hang"]))
            if srv._stopping.is_set():
                return
        status = int(route.get("status", 200))
        headers: dict[str, str] = dict(route.get("headers", {}))
        if "redirect" in route:
            status = int(route.get("status", 301))
            headers["Location"] = route["redirect"]
            body = b""
        elif "body" in route:
            body = route["body"].encode("utf-8")
            headers.setdefault("Content-Type", route.get("content_type", "text/html; charset=utf-8"))
        else:
            file = srv.resolve(path)
            if file is None:
                status, body = 404, b"<html><body><h1>404 Not Found</h1></body></html>"
                headers["Content-Type"] = "text/html; charset=utf-8"
            else:
                body = file.read_bytes()
                ctype = route.get("content_type") or CONTENT_TYPES.get(file.suffix) or (
                    mimetypes.guess_type(file.name)[0] or "text/html; charset=utf-8")
                headers.setdefault("Content-Type", ctype)
                if ctype.startswith(TEXT_TYPES):
                    body = srv.rewrite(body)
                mtime = file.stat().st_mtime
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                headers.setdefault("Last-Modified", formatdate(mtime, usegmt=True))
                headers.setdefault("ETag", etag)
                if status == 200 and self._not_modified(etag, mtime):
                    status, body = 304, b""
        srv.record(path, dict(self.headers.items()), status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return int(mtime) <= parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False


def resolve(root: Path, target: str) -> Path | None:
    """The file under ``root`` that serves the request target ``target`` (path and query), if any."""
    path, _, query = target.partition("?")
    rel = posixpath.normpath("/" + unicodedata.normalize("NFC", unquote(path))).lstrip("/")
    if "\0" in rel or rel.startswith(".."):
        return None
    candidates = []
    if query:
        q = unquote(query)
        candidates += [f"{rel}@{q}", f"{rel}@{q}.html", f"{rel}@{q}.xml"]
    candidates += [rel, f"{rel}.html", f"{rel}.xml", posixpath.join(rel, "index.html")]
    for candidate in candidates:
        file = root / candidate
        if file.is_file() and not file.name.startswith("_site"):
            return file
    return None


@contextlib.contextmanager
def serve(root: Path | str, port: int = 0) -> Iterator[SiteServer]:
    """Serve ``root`` in a background thread for the duration of the block."""
    server = SiteServer(root, port=port)
    thread = threading.Thread(target=server.serve_forever, name=f"site:{Path(root).name}", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """``python -m newsarchive.localsite FOLDER [--port P]``: serve a site until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with serve(args.folder, args.port) as server:
        print(f"serving {server.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    print(f"served {sum(server.counts.values())} requests {dict(server.counts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
