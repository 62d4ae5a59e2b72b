"""The read-only web interface: a search page, article pages and a JSON API (FastAPI, Jinja2)."""
from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jinja2
import sqlalchemy as sa
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from fastapi_offline import FastAPIOffline
from markupsafe import Markup, escape
from pydantic import BaseModel

from newsarchive.filters import build_filters
from newsarchive.history import web_history
from storage import Archive, BadQuery, NotFound, StorageError
from storage.export import article_record, hit_record
from storage.records import ArticleOut
from storage.repository import Repository

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
MAX_PAGE = 500
API_MAX_LIMIT = 100
# Snippet highlight marks: private-use characters, so that brackets in a text stay text.
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_MARKED = re.compile(f"{MARK_OPEN}(.*?){MARK_CLOSE}", re.S)
# Pages run no script at all: even a template bug could not run one.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'"


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: its text escaped first, then the highlight marks turned into <mark>."""
    html = str(escape(snippet))
    html = _MARKED.sub(r"<mark>\1</mark>", html)
    return Markup(html.replace(MARK_OPEN, "").replace(MARK_CLOSE, ""))


def plain_marks(snippet: str) -> str:
    """The snippet with the matched terms in [ and ], as the CLI prints them."""
    return snippet.replace(MARK_OPEN, "[").replace(MARK_CLOSE, "]")


def http_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: an archived javascript: URL never becomes a link."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


# --- API models (documentation of the JSON the API returns) --------------------------------


class HitModel(BaseModel):
    id: int
    source: str
    url: str
    title: str
    published_at: datetime | None
    language: str | None
    snippet: str  # matched terms in [ and ]
    snippet_html: str  # escaped, matched terms in <mark>
    rank: float


class SearchModel(BaseModel):
    query: str
    offset: int
    limit: int
    more: bool  # whether hits continue past this page
    hits: list[HitModel]


class ArticleModel(BaseModel):
    """The fields of an export record, in order."""

    id: int
    source: str
    url: str
    title: str
    authors: list[str]
    published_at: datetime | None
    modified_at: datetime | None
    language: str | None
    description: str | None
    tags: list[str]
    text: str
    content_hash: str
    first_seen_at: datetime
    last_seen_at: datetime
    version: int
    cluster_id: int | None  # story cluster of near-identical texts, if any


class ErrorModel(BaseModel):
    detail: str


# --- the app -------------------------------------------------------------------------------


@contextmanager
def reading(archive: Archive) -> Iterator[Repository]:
    """A Repository in a readonly session that the database itself refuses to write through
    (PostgreSQL: a READ ONLY transaction; SQLite: query_only while the session lasts)."""
    with archive.session(readonly=True) as session:
        if archive.dialect == "postgresql":
            session.execute(sa.text("SET TRANSACTION READ ONLY"))
            yield Repository(session)
            return
        session.execute(sa.text("PRAGMA query_only = ON"))
        try:
            yield Repository(session)
        finally:
            session.execute(sa.text("PRAGMA query_only = OFF"))  # the connection goes back to the pool


# Extra template context for the article page: fn(repo, article) -> dict. Issue #6 (version
# history and diff) adds its provider here and fills the "history" block of article.html.
ARTICLE_EXTRAS: list[Callable[[Repository, ArticleOut], dict[str, Any]]] = [web_history]


def templates() -> Jinja2Templates:
    env = jinja2.Environment(loader=jinja2.PackageLoader("newsarchive.web", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["highlight"] = highlight
    env.filters["http_url"] = http_url
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else "—"
    return Jinja2Templates(env=env)


def create_app(archive: Archive) -> FastAPI:
    """The web app over an opened archive; it only ever reads (readonly sessions)."""
    app = FastAPIOffline(  # FastAPI whose /docs and /redoc pages load Swagger UI from the package, not a CDN
        title="newsarchive",
        summary="Read-only search over the Russia–France business news archive.",
        description="Query language: words, \"quoted phrases\", OR, -exclusion; accent- and "
                    "inflection-insensitive (French, Russian, English). Dates: YYYY-MM-DD or ISO 8601.",
        version="1",
    )
    pages = templates()

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        response = pages.TemplateResponse(request, name, {"where": archive.where, **context}, status_code=status)
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(BadQuery)
    def bad_query(request: Request, exc: BadQuery) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return page(request, "error.html", {"message": str(exc)}, 400)

    @app.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> Response:
        status = 404 if "/articles/" in request.url.path else 400  # else: an unknown source filter
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return page(request, "error.html", {"message": str(exc)}, status)

    @app.exception_handler(StorageError)
    def storage_error(request: Request, exc: StorageError) -> Response:
        logger.error("archive error on %s: %s", request.url.path, exc)
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return page(request, "error.html", {"message": f"the archive cannot be read: {exc}"}, 503)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        if is_api(request):
            return JSONResponse({"detail": problems}, status_code=400)
        return page(request, "error.html", {"message": problems}, 400)

    # --- pages --------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        q: str = "",
        source: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        lang: str = "",
        since: str = "",
        until: str = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
    ) -> HTMLResponse:
        form = {"q": q, "source": [s for s in source if s], "lang": lang, "since": since, "until": until}
        context: dict[str, Any] = {"form": form, "hits": None, "offset": (page_no - 1) * PAGE_SIZE, "error": None,
                                   "prev_url": None, "next_url": None}
        status = 200
        with reading(archive) as repo:
            context["sources"] = repo.source_keys()
            context["total"] = repo.count_articles()
            if q.strip():
                try:
                    filters = build_filters(repo, form["source"], lang, since, until)
                    found = repo.search(q, filters, limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE,
                                        marks=(MARK_OPEN, MARK_CLOSE))
                except (BadQuery, NotFound) as exc:  # shown on the page, beside the form
                    context["error"], status = str(exc), 400
                else:
                    context["hits"] = found[:PAGE_SIZE]

                    def link(n: int) -> str:
                        params = [(k, v) for k, v in form.items() if k != "source" and v]
                        params += [("source", s) for s in form["source"]] + [("page", str(n))]
                        return "/?" + urlencode(params)

                    context["prev_url"] = link(page_no - 1) if page_no > 1 else None
                    context["next_url"] = link(page_no + 1) if len(found) > PAGE_SIZE else None
        return page(request, "search.html", context, status)

    @app.get("/articles/{article_id}", response_class=HTMLResponse, include_in_schema=False)
    def article_page(request: Request, article_id: int) -> HTMLResponse:
        with reading(archive) as repo:
            article = repo.get_article(article_id)
            extras: dict[str, Any] = {}
            for provide in ARTICLE_EXTRAS:
                extras.update(provide(repo, article))
        paragraphs = [p for p in article.text.split("\n") if p.strip()]
        return page(request, "article.html", {"article": article, "paragraphs": paragraphs, "extras": extras})

    # --- API ----------------------------------------------------------------------------

    errors: dict[int | str, dict[str, Any]] = {400: {"model": ErrorModel, "description": "Bad query or filter"}}

    @app.get("/api/search", response_model=SearchModel, responses=errors, tags=["api"])
    def api_search(
        q: Annotated[str, Query(description='Query: words, "phrases", OR, -exclusion')],
        source: Annotated[list[str], Query(description="Only these source keys")] = [],  # noqa: B006
        lang: Annotated[str | None, Query(description="Only this language (fr, ru, en…)")] = None,
        since: Annotated[str | None, Query(description="Published on/after: YYYY-MM-DD or ISO 8601")] = None,
        until: Annotated[str | None, Query(description="Published before the end of this date")] = None,
        limit: Annotated[int, Query(ge=1, le=API_MAX_LIMIT)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JSONResponse:
        """Ranked full-text hits, best first."""
        with reading(archive) as repo:
            filters = build_filters(repo, source, lang, since, until)
            found = repo.search(q, filters, limit=limit + 1, offset=offset, marks=(MARK_OPEN, MARK_CLOSE))
        hits = []
        for hit in found[:limit]:
            record = hit_record(hit)
            record["snippet"] = plain_marks(hit.snippet)
            record["snippet_html"] = str(highlight(hit.snippet))
            hits.append(record)
        return JSONResponse({"query": q, "offset": offset, "limit": limit, "more": len(found) > limit, "hits": hits})

    @app.get("/api/articles/{article_id}", response_model=ArticleModel,
             responses={404: {"model": ErrorModel, "description": "No such article"}}, tags=["api"])
    def api_article(article_id: int) -> JSONResponse:
        """One article: the same record as an export line (`newsarchive show ID --format json`)."""
        with reading(archive) as repo:
            return JSONResponse(article_record(repo.get_article(article_id)))

    return app


def serve(archive: Archive, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          on_ready: Callable[[], None] | None = None) -> None:
    """Run the app with uvicorn until interrupted; OSError when the address cannot be bound.

    ``on_ready`` is called once the address is bound, before requests are served.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError:
        sock.close()
        raise
    if on_ready is not None:
        on_ready()
    config = uvicorn.Config(create_app(archive), log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])

