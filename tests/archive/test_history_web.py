"""Version history, diff and story siblings: on the web article page (escaped) and as data."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from newsarchive.history import pick_pair, version_rows
from newsarchive.textdiff import segments, word_diff
from newsarchive.web import create_app
from storage import Archive, ArticleIn, NotFound, SourceIn

STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
RELEASE = (STORIES / "press_release.txt").read_text(encoding="utf-8").strip()
REPRINT = (STORIES / "reprint.txt").read_text(encoding="utf-8").strip()


def test_word_diff_marks_removed_and_added_words_with_context() -> None:
    old = "Le contrat porte sur deux turbines. Les travaux commencent au printemps.\nFin."
    new = "Le contrat porte sur trois turbines neuves. Les travaux commencent au printemps.\nFin."
    assert word_diff(old, new, context=3) == (
        "… contrat porte sur [-deux turbines.-]{+trois turbines neuves.+} Les travaux commencent …")
    assert word_diff(old, old) == "" and segments(old, old.replace(" ", "  \t")) == []  # spacing is no change
    coloured = word_diff(old, new, context=3, colour=True)
    assert "\x1b[31m[-deux turbines.-]\x1b[0m" in coloured and "\x1b[32m{+trois turbines neuves.+}\x1b[0m" in coloured


def test_article_page_shows_versions_diff_and_siblings_escaped(archive: Archive) -> None:
    with archive.repository() as repo:
        for key in ("a", "b"):
            repo.upsert_source(SourceIn(key, key.upper(), "fr", f"https://{key}.example"))
        [first] = repo.store_articles([ArticleIn(source="a", url="https://a.example/1", title="Bureau", text=RELEASE)])
        repo.store_articles([ArticleIn(source="a", url="https://a.example/1", title="Bureau <b>ouvert</b>",
                                       text=RELEASE + "\n<script>window.pwned = 1</script> ajouté.")])
        [copy] = repo.store_articles([ArticleIn(source="b", url="https://b.example/9", title="Relais <i>sibérien</i>",
                                                text=REPRINT)])
        versions = repo.article_versions(first.article_id)
    assert [r["version"] for r in version_rows(versions)] == [1, 2]
    assert pick_pair(versions) == (versions[0], versions[1])
    try:
        pick_pair(versions, (1, 7))
        raise AssertionError("version 7 does not exist")
    except NotFound as exc:
        assert str(exc) == "no version 7 of this article (it has 1, 2)"

    with TestClient(create_app(archive)) as client:
        html = client.get(f"/articles/{first.article_id}").text
        other = client.get(f"/articles/{copy.article_id}").text
    assert "<h2>Versions</h2>" in html and "Changes from version 1 to 2" in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; ajouté.</ins>" in html
    assert "<script>window.pwned" not in html and "<b>ouvert</b>" not in html
    assert "title: Bureau <ins>&lt;b&gt;ouvert&lt;/b&gt;</ins>" in html
    assert "Same story elsewhere" in html and "Relais &lt;i&gt;sibérien&lt;/i&gt;" in html
    assert f'href="/articles/{first.article_id}"' in other and "<h2>Versions</h2>" not in other
