"""The web interface in a real headless browser (Debian's chromium driven by Playwright), and its JSON API."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright

from newsarchive.web import create_app
from storage import ArticleIn, open_archive
from storage.export import article_record
from tests.research_corpus import CORPUS, fill

CHROMIUM = "/usr/bin/chromium"
XSS_TITLE = "<script>window.pwned = 1</script> Alerte sur le rouble"
XSS = ArticleIn(
    source="lefigaro", url="https://www.lefigaro.fr/eco/xss", title=XSS_TITLE, language="fr",
    text='Une alerte <img src=x onerror="window.pwned = 2"> sur le rouble [sic] et </mark><b>gras</b> '
         "<script>window.pwned = 3</script> fin de l'alerte.",
    published_at=datetime(2024, 3, 5, tzinfo=timezone.utc),
)
PAGING = [ArticleIn(source="rbc", url=f"https://www.rbc.ru/paging/{i}", title=f"Пагинация {i}", language="ru",
                    text=f"Статья номер {i} о пагинации результатов поиска.",
                    published_at=datetime(2024, 1, 1 + i, tzinfo=timezone.utc)) for i in range(25)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """uvicorn serving the app on a free port, over a SQLite archive filled through the Repository."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'archive.db'}"
    writer = open_archive(url)
    ids = fill(writer, [XSS, *PAGING])
    writer.dispose()
    archive = open_archive(url, migrate=False, create=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(archive), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", ids
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        archive.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def _titles(page: Page) -> list[str]:
    return page.locator("li.hit a.title").all_inner_texts()


def test_search_filter_and_open_an_article(site, page: Page) -> None:
    base, ids = site
    page.goto(base + "/")
    page.fill("input[name=q]", "gazprom")
    page.click("button[type=submit]")
    assert set(_titles(page)) == {"Gazprom et TotalEnergies", "Gazprom profits fall", "Markets"}
    assert page.locator("li.hit mark").first.inner_text().lower() == "gazprom"
    page.select_option("select[name=source]", "ft")
    page.click("button[type=submit]")
    assert _titles(page) == ["Gazprom profits fall", "Markets"]  # title match ranked first
    page.fill("input[name=since]", "2024-02-20")
    page.click("button[type=submit]")
    assert _titles(page) == ["Gazprom profits fall"]
    assert "source=ft" in page.url and "since=2024-02-20" in page.url
    page.click("li.hit a.title")
    assert page.url == f"{base}/articles/{ids['https://www.ft.com/content/4']}"
    assert page.locator("h1").inner_text() == "Gazprom profits fall"
    assert page.locator("a.original").get_attribute("href") == "https://www.ft.com/content/4"
    assert "The Russian gas company reported lower profits." in page.locator("section.text").inner_text()
    assert "2024-03-01 00:00 UTC" in page.locator("table.meta-table").inner_text()


def test_markup_from_the_archive_is_shown_as_text_and_never_runs(site, page: Page) -> None:
    base, ids = site
    response = page.goto(base + "/?q=alerte")
    assert response is not None and response.status == 200
    hit = page.locator("li.hit")
    assert hit.count() == 1
    assert XSS_TITLE in hit.locator("a.title").inner_text()  # the literal <script>, as text
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert hit.locator("img, b, script").count() == 0  # markup in the text stays text
    marks = hit.locator(".snippet mark").all_inner_texts()
    assert marks and {m.lower() for m in marks} == {"alerte"}
    assert "[sic]" in hit.locator(".snippet").inner_text()  # brackets in a text are not highlights
    page.click("li.hit a.title")
    assert page.locator("h1").inner_text() == XSS_TITLE
    assert "<script>window.pwned = 3</script>" in page.locator("section.text").inner_text()
    assert page.locator("script").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert ids[XSS.url] == int(page.url.rsplit("/", 1)[1])


def test_result_paging(site, page: Page) -> None:
    base, _ = site
    page.goto(base + "/?q=пагинация")  # Russian inflection: пагинации
    first = _titles(page)
    assert len(first) == 20 and page.locator("a[rel=prev]").count() == 0
    page.click("a[rel=next]")
    second = _titles(page)
    assert len(second) == 5 and not set(first) & set(second)
    assert set(first) | set(second) == {a.title for a in PAGING}
    assert page.locator("a[rel=next]").count() == 0
    page.click("a[rel=prev]")
    assert _titles(page) == first


@pytest.mark.parametrize(("query", "status", "message"), [
    ("?q=gazprom&since=nope", 400, "since 'nope' is not a date"),
    ("?q=%22gaz", 400, "unbalanced quote"),
    ("?q=gazprom&source=nope", 400, "unknown source 'nope'"),
    ("?q=gazprom&page=zero", 400, "page"),
    ("/articles/999999".lstrip("?"), 404, "no article 999999"),
])
def test_bad_input_is_explained_on_the_page(site, page: Page, query: str, status: int, message: str) -> None:
    base, _ = site
    response = page.goto(base + ("/" + query if query.startswith("?") else query))
    assert response is not None and response.status == status
    assert message in page.locator("[role=alert]").inner_text()


def test_api_documentation_page_works_offline(site, page: Page) -> None:
    base, _ = site
    page.goto(base + "/docs")
    page.locator(".opblock-summary-path", has_text="/api/search").wait_for()
    assert "/api/articles/{article_id}" in page.locator(".swagger-ui").inner_text()


def test_json_api_and_its_openapi_description(site) -> None:
    base, ids = site
    with httpx.Client(base_url=base, timeout=10) as client:
        found = client.get("/api/search", params={"q": "gazprom", "source": "ft", "limit": 1}).json()
        assert found["more"] is True and [h["id"] for h in found["hits"]] == [ids["https://www.ft.com/content/4"]]
        assert "<mark>Gazprom</mark>" in found["hits"][0]["snippet_html"] or \
            "<mark>gazprom</mark>" in found["hits"][0]["snippet_html"].lower()
        xss = client.get("/api/search", params={"q": "alerte"}).json()["hits"][0]
        assert "<img" not in xss["snippet_html"] and "&lt;img" in xss["snippet_html"]
        assert "[alerte]" in xss["snippet"].lower()
        article = client.get(f"/api/articles/{ids[CORPUS[0].url]}")
        assert article.status_code == 200 and list(article.json())[0] == "id"
        assert article.json()["authors"] == ["Dupont, Jean", 'Marie "M." Curie']
        assert client.get("/api/search", params={"q": '"gaz'}).status_code == 400
        bad_date = client.get("/api/search", params={"q": "gaz", "until": "2024-13-01"})
        assert bad_date.status_code == 400 and "until" in bad_date.json()["detail"]
        assert client.get("/api/articles/999999").status_code == 404
        spec = client.get("/openapi.json").json()
        assert {"/api/search", "/api/articles/{article_id}"} <= set(spec["paths"])
        assert client.get("/docs").status_code == 200


def test_api_on_both_backends(archive) -> None:
    ids = fill(archive)
    with archive.repository(readonly=True) as repo:
        expected = article_record(repo.get_article(ids["https://www.rbc.ru/economics/3"]))
    with TestClient(create_app(archive)) as client:
        hits = client.get("/api/search", params={"q": "инвестиция", "since": "2024-02-15"}).json()["hits"]
        assert [h["id"] for h in hits] == [expected["id"]] and "<mark>инвестиции</mark>" in hits[0]["snippet_html"]
        assert client.get(f"/api/articles/{expected['id']}").json() == expected
        assert client.get("/api/search", params={"q": "gazprom OR"}).status_code == 400
        assert client.get("/api/search", params={"q": "gazprom", "source": "nope"}).status_code == 400


def test_web_sessions_cannot_write(archive) -> None:
    from newsarchive.web.app import reading
    from storage import SourceIn, StorageError

    fill(archive)
    with pytest.raises(StorageError), reading(archive) as repo:
        repo.upsert_source(SourceIn("intruder", "Intruder", "fr", "https://intruder.test"))
    with reading(archive) as repo:
        assert "intruder" not in repo.source_keys() and repo.count_articles() == len(CORPUS)
    with archive.repository() as repo:  # the archive's own writers are not affected
        repo.upsert_source(SourceIn("later", "Later", "fr", "https://later.test"))


def test_serve_command_answers_until_stopped(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    url = f"sqlite:///{tmp_path / 'archive.db'}"
    archive = open_archive(url)
    ids = fill(archive)
    archive.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "newsarchive.cli", "serve", "--db", url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # printed once the port is bound
        assert f"read-only at http://127.0.0.1:{port}/" in banner, (banner, proc.poll())
        article = httpx.get(f"http://127.0.0.1:{port}/api/articles/{ids[CORPUS[1].url]}", timeout=10)
        assert article.status_code == 200 and article.json()["title"] == CORPUS[1].title
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert "Traceback" not in err
