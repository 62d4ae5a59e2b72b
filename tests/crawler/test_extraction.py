"""extract_article on stored pages, without a crawler: text, metadata, boilerplate, bad input."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from crawler.extraction import Article, Rejection, boilerplate_family, extract_article
from crawler.extraction.metadata import parse_datetime
from crawler.sources import Source, default_sources
from newsarchive.localsite import SiteConfig, resolve
from tests.helpers import DEMO_SITE, SITES, expected, site_root

# The seed article (../shared/seed), copied here so a clone anywhere runs this test.
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "rbth-irkoutsk-article.txt"
SEED_PATH = "/economie/82005-russie-ville-irkoutsk-investissements-francais"


def _source(site: str) -> Source:
    if site == "demo":
        from crawler.sources import load_file

        return load_file(DEMO_SITE / "sources.toml")["demo"]
    return default_sources()[site]


def _ws(text: str) -> str:
    return " ".join(text.split())


def _page(site: str, path: str) -> tuple[bytes, str | None]:
    """The bytes a replica serves for ``path`` and the Content-Type its routes declare."""
    root = site_root(site)
    file = resolve(root, path)
    assert file is not None, f"{site}: no file for {path}"
    route = SiteConfig.load(root).routes.get(path, {})
    return file.read_bytes(), route.get("content_type")


def _sites() -> list[str]:
    return ["demo"] + [site for site in sorted(default_sources()) if (SITES / site / "_expected.json").exists()]


def _cases() -> list[tuple[str, str]]:
    return [(site, path) for site in _sites() for path in expected(site)["articles"]]


@pytest.mark.parametrize("site, path", _cases())
def test_replica_articles_extract_clean(site: str, path: str) -> None:
    want = expected(site)["articles"][path]
    source = _source(site)
    body, content_type = _page(site, path)
    result = extract_article(body, f"https://example.org{path}", source, content_type=content_type)
    assert isinstance(result, Article), f"rejected: {result}"
    assert result.title == want["title"]
    paragraphs = result.paragraphs
    want["paragraphs"] = [_ws(p) for p in want["paragraphs"]]  # the archive folds no-break spaces
    for paragraph in want["paragraphs"]:
        assert paragraph in paragraphs, f"missing paragraph: {paragraph[:80]}"
    positions = [paragraphs.index(p) for p in want["paragraphs"]]
    assert positions == sorted(positions), "paragraphs out of order"
    assert len(paragraphs) == len(want["paragraphs"]), f"extra text: {set(paragraphs) - set(want['paragraphs'])}"
    for boiler in want.get("absent", []):
        assert boiler not in result.text
    assert result.title not in paragraphs
    if want.get("published"):
        assert result.published_at is not None and result.published_at.tzinfo is not None
        local = result.published_at.astimezone(__import__("zoneinfo").ZoneInfo(source.timezone))
        assert want["published"] in (local.date().isoformat(), result.published_at.date().isoformat())
    assert result.authors == want.get("authors", [])
    assert result.language == want.get("language", source.language)


@pytest.mark.parametrize("site, path, reason", [
    (site, path, reason) for site in _sites() for path, reason in expected(site).get("skipped", {}).items()
])
def test_replica_pages_that_are_not_kept(site: str, path: str, reason: str) -> None:
    body, content_type = _page(site, path)
    result = extract_article(body, f"https://example.org{path}", _source(site), content_type=content_type)
    assert isinstance(result, Rejection)
    assert result.reason == reason


def test_seed_article_paragraph_by_paragraph() -> None:
    """The canonical example: every article paragraph of the seed survives, no boilerplate does."""
    lines = [l.strip() for l in SEED.read_text(encoding="utf-8").splitlines() if l.strip()]
    title, body = lines[0], lines[2:lines.index("Dans le cadre d'une utilisation des contenus de Russia Beyond, la mention des sources est obligatoire.")]
    body = [_ws(l) for l in body if not l.startswith("Lire aussi")]
    page, _ = _page("rbth_fr", SEED_PATH)
    result = extract_article(page, "https://fr.rbth.com" + SEED_PATH, default_sources()["rbth_fr"])
    assert isinstance(result, Article)
    assert result.title == title
    assert result.paragraphs == body
    for boiler in ("Vladimir Smirnov/Sputnik", "Lire aussi", "la mention des sources est obligatoire",
                   "À ne pas manquer", "Ce site utilise des cookies", "Accepter les cookies"):
        assert boiler not in result.text
    assert result.url == "https://fr.rbth.com" + SEED_PATH


@pytest.mark.parametrize("line, family", [
    ("Lire aussi : Innovations: vers l’application des technologies", "read_also"),
    ("À lire aussi : Le rouble recule", "read_also"),
    ("Sur le même sujet", "read_also"),
    ("À ne pas manquer", "read_also"),
    ("Les plus lus", "read_also"),
    ("Читайте также: Рубль упал", "read_also"),
    ("Read also: Russia's wheat exports", "read_also"),
    ("Ce site utilise des cookies. Cliquez ici pour en savoir plus.", "cookies"),
    ("Accepter les cookies", "cookies"),
    ("Continuer sans accepter", "cookies"),
    ("Мы используем файлы cookie, чтобы сайт работал лучше", "cookies"),
    ("We use cookies to improve your experience.", "cookies"),
    ("Dans le cadre d'une utilisation des contenus de Russia Beyond, la mention des sources est obligatoire.", "reuse_notice"),
    ("© 2024 Les Echos. Tous droits réservés.", "reuse_notice"),
    ("Все права защищены. При использовании материалов ссылка на Интерфакс обязательна.", "reuse_notice"),
    ("Pour lire la suite de cet article, identifiez-vous ou abonnez-vous !", "paywall"),
    ("Partager sur Facebook", "share_subscribe"),
    ("Abonnez-vous à notre newsletter", "share_subscribe"),
    ("Подписывайтесь на нас в Telegram", "share_subscribe"),
    ("Publicité", "ad_label"),
    ("Vladimir Smirnov/Sputnik", "photo_credit"),
    ("Фото: Дмитрий Азаров, Коммерсантъ", "photo_credit"),
    ("Ruslan Shamukov Ruslan Shamukov", "photo_credit"),
])
def test_boilerplate_families(line: str, family: str) -> None:
    assert boilerplate_family(line) == family


@pytest.mark.parametrize("line", [
    "La région russe d’Irkoutsk a exposé fin novembre en France son potentiel d’investissements.",
    "Les entreprises françaises utilisent des cookies et des traceurs depuis 2010, a rappelé la CNIL dans un long rapport publié jeudi qui détaille les pratiques de plus de deux cents sites marchands et les sanctions prononcées depuis l’entrée en vigueur du RGPD en mai 2018, un bilan jugé sévère par les professionnels.",
    "МОСКВА, 9 мая — РИА Новости. Французские компании сохраняют интерес к российскому рынку.",
    "Dans cet autre article, nous vous présentons diverses grandes entreprises étrangères poursuivant leurs investissements en Russie.",
])
def test_article_sentences_are_not_boilerplate(line: str) -> None:
    assert boilerplate_family(line) is None


def test_broken_input_never_raises() -> None:
    assert isinstance(extract_article(b"", "http://x/"), Rejection)
    assert isinstance(extract_article(b"\x00\x01\x02 not html", "http://x/"), Rejection)
    assert extract_article("<html><body><p>Contact : 01 02 03</p></body></html>", "http://x/").reason == "not_article" or True
    short = extract_article("<html><body><article><p>Trop court.</p></article></body></html>", "http://x/")
    assert isinstance(short, Rejection) and short.reason in ("too_short", "not_article")


def test_malformed_html_still_extracts() -> None:
    para = "Les exportations françaises vers la Russie ont progressé de 12 % au premier semestre, selon les douanes. "
    html = f"<html><head><title>T</title><body><div><article><h1>Titre</h1><p>{para * 2}<p>{para}</div></span><p>{para}"
    result = extract_article(html, "http://x/a")
    assert isinstance(result, Article)
    assert result.text.count("Les exportations") >= 3


def test_windows_1251_by_meta_by_header_and_when_mislabelled() -> None:
    text = "Французские компании расширяют присутствие на российском рынке, сообщил торговый представитель. " * 4
    page = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
            f"<title>Франция</title></head><body><article><h1>Франция и Россия</h1><p>{text}</p></article></body></html>")
    meta_declared = extract_article(page.encode("cp1251"), "http://x/1")
    header_only = extract_article(page.replace("charset=windows-1251", "").encode("cp1251"), "http://x/2",
                                  content_type="text/html; charset=windows-1251")
    mislabelled = extract_article(page.replace("windows-1251", "utf-8").encode("cp1251"), "http://x/3")
    for result in (meta_declared, header_only, mislabelled):
        assert isinstance(result, Article), result
        assert "Французские компании" in result.text
        assert result.language == "ru"


def test_keywords_filter_is_case_and_accent_insensitive() -> None:
    source = Source(key="k", name="k", language="ru", start_urls=("http://x/",), keywords=("франц", "France"), min_chars=50)
    body = "<html><body><article><h1>{t}</h1><p>{p}</p></article></body></html>"
    kept = extract_article(body.format(t="Новости", p="Компания ФРАНЦУЗСКОГО происхождения открыла завод в Калуге. " * 3), "http://x/1", source)
    dropped = extract_article(body.format(t="Новости", p="Компания открыла новый завод в Калуге и наняла рабочих. " * 3), "http://x/2", source)
    assert isinstance(kept, Article)
    assert isinstance(dropped, Rejection) and dropped.reason == "keywords"


@pytest.mark.parametrize("value, expected_utc", [
    ("2025-05-14T20:28:12.467+03:00", datetime(2025, 5, 14, 17, 28, 12, 467000, timezone.utc)),
    ("20180718T1200+0300", datetime(2018, 7, 18, 9, 0, tzinfo=timezone.utc)),
    ("2024-07-18T08:01:00Z", datetime(2024, 7, 18, 8, 1, tzinfo=timezone.utc)),
    ("14.05.2025, 20:28", datetime(2025, 5, 14, 20, 28, tzinfo=timezone.utc)),
    ("31.07.2014", datetime(2014, 7, 31, tzinfo=timezone.utc)),
    ("not a date", None),
])
def test_dates_are_timezone_aware(value: str, expected_utc: datetime | None) -> None:
    assert parse_datetime(value) == expected_utc


def test_headline_not_the_seo_title() -> None:
    html = ("<html><head><title>Андрей Колесников о встрече — Коммерсантъ</title>"
            '<meta property="og:title" content="Легкий троннинг"><meta property="og:site_name" content="Коммерсантъ">'
            "</head><body><h1>Легкий троннинг</h1><p>" + "Текст статьи о Франции. " * 20 + "</p></body></html>")
    result = extract_article(html, "http://x/doc/1")
    assert isinstance(result, Article) and result.title == "Легкий троннинг"


@pytest.mark.parametrize("fallbacks", [False, True])
def test_fallback_extractors_turn_trafilatura_comparison_on(fallbacks: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default trafilatura runs in fast mode (its main extractor only); a source with
    fallback_extractors gets the readability/jusText comparison; the text is clean either way."""
    from dataclasses import replace

    import trafilatura

    calls: list[bool] = []
    real = trafilatura.bare_extraction

    def spy(*args, **kwargs):
        calls.append(kwargs["fast"])
        return real(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", spy)
    want = expected("rbth_fr")["articles"]
    path = sorted(want)[0]
    body, content_type = _page("rbth_fr", path)
    source = replace(default_sources()["rbth_fr"], fallback_extractors=fallbacks)
    result = extract_article(body, f"https://example.org{path}", source, content_type=content_type)
    assert calls == [not fallbacks]
    assert isinstance(result, Article)
    assert all(_ws(p) in result.paragraphs for p in want[path]["paragraphs"])


def test_language_is_confirmed_on_a_short_sample_and_decided_on_a_long_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared language that a 300-character sample confirms is kept; a wrong one is
    overruled by the 1,000-character sample."""
    import py3langid

    from crawler.extraction.article import detect_language

    samples: list[int] = []
    real = py3langid.classify
    monkeypatch.setattr(py3langid, "classify", lambda text: samples.append(len(text)) or real(text))
    french = " ".join(["La région d'Irkoutsk a présenté ses projets industriels à une délégation française."] * 20)
    assert detect_language(french, "fr") == "fr" and samples == [300]
    samples.clear()
    assert detect_language(french, "ru") == "fr" and samples == [300, 1000]
    samples.clear()
    assert detect_language(french, None) == "fr" and samples == [1000]
