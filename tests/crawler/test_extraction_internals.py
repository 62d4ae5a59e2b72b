"""The extraction's cheaper internals give exactly what the plain versions they replace give."""
from __future__ import annotations

import itertools
import re
from copy import copy
from pathlib import Path

import pytest
from lxml import etree
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.utils import load_html

from crawler.extraction import article, boilerplate, metadata
from crawler.extraction.encoding import decode_html
from crawler.sources import default_sources
from tests.helpers import DEMO_SITE, SITES

PAGES = sorted(list(SITES.rglob("*.html")) + list(DEMO_SITE.rglob("*.html")))


def _selectors(page: Path) -> tuple[str, ...]:
    site = page.relative_to(SITES).parts[0] if page.is_relative_to(SITES) else None
    source = default_sources().get(site) if site else None
    return tuple(source.drop_selectors) if source else ()


def _xpath_pruned(tree, selectors: tuple[str, ...]) -> str:
    """What trafilatura does with ``prune_xpath=_prune_xpaths(selectors)``: copy, then each XPath."""
    work = prune_unwanted_nodes(copy(tree), [etree.XPath(x) for x in article._prune_xpaths(selectors)])
    return etree.tostring(work, encoding="unicode")


def _assert_same_pruning(tree, selectors: tuple[str, ...]) -> None:
    before = etree.tostring(tree, encoding="unicode")
    assert etree.tostring(article._pruned_copy(tree, selectors), encoding="unicode") == _xpath_pruned(tree, selectors)
    assert etree.tostring(tree, encoding="unicode") == before, "the page's own tree was pruned"


def _fixture_tree(page: bytes | str):  # type: ignore[no-untyped-def]
    """The parsed page (bytes are decoded as the extraction decodes them); the test is skipped
    for a page that does not parse as HTML."""
    tree = load_html(decode_html(page)[0] if isinstance(page, bytes) else page)
    if tree is None:
        pytest.skip("not parseable as HTML")
    return tree


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_pruned_copy_equals_the_prune_xpaths_on_fixture_pages(page: Path) -> None:
    tree = _fixture_tree(page.read_bytes())
    _assert_same_pruning(tree, _selectors(page))
    _assert_same_pruning(tree, ())
    _assert_same_pruning(tree, (".article__body", "div p", "#main > *", "[data-type]"))


def _words(n: int) -> str:
    """Text whose normalize-space() is exactly ``n`` characters long."""
    text = ("abcdefghi " * (n // 10 + 1))[:n]
    return text[:-1] + "z" if text.endswith(" ") else text


SNIPPETS = {
    "guard at the limit": f"<div class='related'>{_words(600)}</div><div class='related-2'>{_words(601)}</div>",
    "guard counts only XPath whitespace": f"<div class='social'>  {_words(590)}\n\t\n  \xa0\xa0\xa0\xa0\xa0\xa0\xa0\xa0\xa0\xa0\xa0 </div>"
                                          f"<div class='social'>  {_words(590)}   \n\n\n     {'  '.join('abcdefghij')} </div>",
    "an earlier removal shortens a later guard": f"<div class='related'><p>{_words(450)}</p><figcaption>{_words(200)}</figcaption></div>",
    "a later removal does not shorten an earlier guard": f"<div class='caption'><p>{_words(450)}</p><div class='social'>{_words(200)}</div></div>",
    "nested matches of one selector": f"<div class='related'>{_words(700)}<ul class='related-list'><li>a</li></ul>tail</div>",
    "matches inside a removed region": "<div class='newsletter'><span class='social'>s</span><figcaption>c</figcaption></div>after",
    "tails are kept": "<p>before <span class='credit'>AFP</span> after <b>x</b><i class='share-bar'>y</i> end</p>",
    "guarded containers": "<main class='cookie-consent-active'><article class='related'><p class='related'>r</p></article></main>",
    "ids": "<div id='cookie-banner'>c</div><div id='didomi-host'>d</div><div id='didomi-host2'>e</div><div id='consent'>f</div>",
    "class and id on one element": "<div id='x-consent' class='gdpr-box'>g</div><div id='a' class=''>kept</div><div class='CAPTION'>kept</div>",
    "empty and odd attributes": "<div class='' id=''>kept</div><div class='breadcrumbs crumbs'>b</div><div class='\xa0social\xa0'>s</div>",
    "class names": "<div class='x\tshare\n'>tab</div><div class='x\xa0share'>nbsp</div><div class='share-bar'>bar</div>"
                   "<span class='share'>span</span><div class='incut big'>incut</div><p class='incut'>p</p><div id='lenta'>l</div>"
                   "<div id='lenta2'>l2</div><div class='Share'>case</div>",
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
@pytest.mark.parametrize("selectors", [(), (".newsletter", "p"), ("div > span",), (".share", "div.incut", "#lenta", "figcaption"),
                                       ("div + div", ".related", "span.share", "div#lenta", "[class*='incut']")])
def test_pruned_copy_equals_the_prune_xpaths_on_tricky_markup(name: str, selectors: tuple[str, ...]) -> None:
    page = f"<!DOCTYPE html><html class='consent-x'><head><title>t</title></head><body class='gdpr'><div>{SNIPPETS[name]}</div></body></html>"
    _assert_same_pruning(load_html(page), selectors)


def test_the_guard_snippets_sit_on_the_boundary() -> None:
    tree = load_html(f"<html><body><div>{_words(600)}</div><div>{_words(601)}</div></body></html>")
    assert [article._TEXT_LENGTH(div) for div in tree.iter("div")] == [600, 601]


def _same_parse(html: str, body: bytes | None) -> None:
    want, got = load_html(html), article._load_html(html, body)
    assert (got is None) == (want is None)
    if want is not None:
        assert etree.tostring(got, encoding="unicode") == etree.tostring(want, encoding="unicode")
        assert got.tag == want.tag  # lxml.html.fromstring may return a fragment's element


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_load_html_from_bytes_equals_trafilaturas_on_fixture_pages(page: Path) -> None:
    raw = page.read_bytes()
    html, encoding = decode_html(raw)
    _same_parse(html, raw if encoding == "utf-8" and "\ufffd" not in html else None)
    _same_parse(html, None)


TRICKY_PAGES = [
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"
    "<html><body><p>xhtml é</p></body></html>",
    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x.dtd\"><html><body><p>one line</p></body></html>",
    "<!doctype html>\n<html/>\n<body><p>self-closing html</p></body>",
    "<html lang='fr'/><head></head><body><p>x</p></body></html>",
    "\xa0\u2003<html><body><p>unicode whitespace first</p></body></html>",
    "  \n<html><body><p>ascii whitespace first</p></body></html>",
    "<html><body><p>control\x01\x08\x0b\x1f chars</p></body></html>",
    "<html><body><p>nonchar \ufffe \uffff here</p></body></html>",
    "<?xml version='1.0' encoding='utf-8'?>\n<html><body><p>declared</p></body></html>",
    "<div><p>no html tag</p></div>",
    "<p>a fragment</p>",
    "<p>a fragment</p><p>of two</p>",
    "just text < and more",
    "<html><body><p>emoji 😀 and ё</p></body></html>",
    "<html><body><p>lone surrogate \ud800</p></body></html>",
    "<!-- comment --><html><head><title>t</title></head><body>\r\n<p>crlf</p></body></html>",
]


@pytest.mark.parametrize("html", TRICKY_PAGES)
def test_load_html_from_bytes_equals_trafilaturas_on_tricky_markup(html: str) -> None:
    try:
        body = html.encode("utf-8")
    except UnicodeEncodeError:
        body = None
    _same_parse(html, body)
    _same_parse(html, None)


def _plain_family(paragraph: str) -> str | None:
    """boilerplate_family as it was before its needles: every applicable rule's regex, in order."""
    line = " ".join(paragraph.split())
    if not line:
        return "empty"
    for rule in boilerplate.LINE_RULES:
        if len(line) <= rule.max_len and rule.pattern.search(line):
            return rule.family
    if len(line) <= 160 and boilerplate._DOUBLED.match(line):
        return "photo_credit"
    return None


BOILERPLATE_LINES = [
    "Lire aussi : la suite", "À LIRE AUSSI", "Читайте также: новости", "Related articles", "À la une",
    "Nous utilisons des cookies pour améliorer votre expérience", "WE USE COOKIES", "Accepter", "Tout accepter",
    "Мы используем файлы cookie", "Принять", "Cookie settings", "This website uses cookies.",
    "La mention des sources est obligatoire", "© 2024 Russia Beyond", "(c) Kommersant", "Все права защищены",
    "Ссылка на Интерфакс при цитировании обязательна", "Гиперссылка на источник обязательна",
    "Pour lire la suite, abonnez-vous", "Il vous reste 80% de cet article à lire", "Il vous reste 80 % de cet article",
    "Déjà abonné ? Connectez-vous", "Чтобы прочитать статью полностью, подпишитесь",
    "Partager sur Facebook", "Suivez-nous", "Subscribe", "Подписывайтесь на наш канал", "URL courte",
    "Publicité", "Реклама", "Photo : AFP", "Crédit photo : Reuters", "Фото: ТАСС", "Ivan Petrov / Sputnik",
    "Anna Ivanova / RIA Novosti", "Getty Images", "Image: Wikimedia Commons", "Jean Dupont / Archives",
    "Vladimir Poutine Vladimir Poutine", "Sputnik Afrique Sputnik Afrique",
]
# Letters re's IGNORECASE matches to an ASCII or Cyrillic letter though str.lower() does not give it:
# dotless ı and İ for i, long ſ for s, the Kelvin sign for k, old Cyrillic forms of в, д, о, с, т, ъ.
FOLDS = {"i": ["ı", "İ"], "s": ["ſ"], "k": ["\u212a"], "в": ["\u1c80"], "д": ["\u1c81"], "о": ["\u1c82"],
         "с": ["\u1c83"], "т": ["\u1c84", "\u1c85"], "ъ": ["\u1c86"]}


def _variants(line: str) -> list[str]:
    out = [line, line.upper(), line.lower(), f"  {line}  ", f"{line} " + "x" * 30, "x" * 100 + " " + line]
    for letter, forms in FOLDS.items():
        for form in forms:
            out.append(line.replace(letter, form))
            out.append(line.lower().replace(letter, form).upper() if form.isupper() else line.lower().replace(letter, form))
    for rule in boilerplate.LINE_RULES:  # the length limits
        for n in (rule.max_len - len(line), rule.max_len - len(line) + 1):
            if n > 1:
                out.append(line + " " + "y" * (n - 1))
    return out


def _fixture_lines() -> list[str]:
    lines = []
    for page in PAGES:
        tree = load_html(decode_html(page.read_bytes())[0])
        if tree is not None:
            lines += [line for line in tree.text_content().split("\n") if line.strip()]
    return lines


def test_line_rules_have_needles() -> None:
    """Each rule is read by the parser (else its regex always runs, correct but slow)."""
    assert all(rule.needles for rule in boilerplate.LINE_RULES)


def test_boilerplate_family_equals_the_plain_rules() -> None:
    lines = [v for line in BOILERPLATE_LINES for v in _variants(line)] + _fixture_lines()
    assert sum(_plain_family(line) is not None for line in lines) > 300
    for line in lines:
        assert boilerplate.boilerplate_family(line) == _plain_family(line), line
        normalized = " ".join(line.split())
        assert boilerplate.line_family(normalized) == _plain_family(line), line


def test_needles_follow_the_regex_parse() -> None:
    pattern = re.compile(r"^\W*(?:AB(?:c|d)e|[xy]z+ word|(?:opt)?ional)\b|q{2,}r", re.I)
    assert boilerplate._needles(pattern) == frozenset({"ab", " word", "ional", "q"})
    assert boilerplate._needles(re.compile(r"abc|d?", re.I)) is None  # an alternative needs nothing
    assert boilerplate._needles(re.compile(r"abc", re.I | re.M)) is None
    assert boilerplate._needles(re.compile(r"ABC(?-i:DEFG)", re.I)) == frozenset({"abc"})


def _head_elements_by_xpath(tree) -> tuple:
    return (tree.xpath('//script[@type="application/ld+json"]'), list(tree.iter("meta")),
            tree.xpath('//link[@rel="canonical"]/@href'))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_head_elements_in_one_pass_equal_the_xpaths(page: Path) -> None:
    tree = _fixture_tree(page.read_bytes())
    assert metadata._head_elements(tree) == _head_elements_by_xpath(tree)


def test_head_elements_of_a_fragment_read_its_whole_document() -> None:
    page = ("<html><head><link rel='canonical' href='/a'><script type='application/ld+json'>{}</script></head>"
            "<body><div><meta name='x' content='y'><link rel='canonical' href='/b'><link rel='Canonical' href='/c'>"
            "<script type='application/ld+json'>[]</script><link rel='canonical'></div></body></html>")
    tree = load_html(page)
    fragment = tree.find("body/div")
    for element in (tree, fragment):
        assert metadata._head_elements(element) == _head_elements_by_xpath(element)
    assert metadata._head_elements(tree)[2] == ["/a", "/b"]


def _visible_lead_by_xpath(tree, description: str | None) -> str | None:
    """_visible_lead as it was: the one XPath over every p, div and h2 of the body."""
    if not description or len(description) < 80:
        return None
    found = tree.xpath("//body//*[self::p or self::div or self::h2][normalize-space(.) = $d]", d=description)
    return description if found else None


def _lead_candidates(tree) -> list[str]:
    """Descriptions to try on a page: the normalized text of its blocks, and near misses of them."""
    out = []
    for element in tree.iter("p", "div", "h2", "h1", "span", "li", "body"):
        text = element.xpath("normalize-space(.)")
        if 60 <= len(text) <= 2000:
            out += [text, text[:-1], text[1:], f" {text}", f"{text} ", text.replace(" ", "  ", 1), text + "\n",
                    text.replace(" ", "\xa0", 1), text.upper()]
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_visible_lead_equals_the_plain_xpath_on_fixture_pages(page: Path) -> None:
    tree = _fixture_tree(page.read_bytes())
    for description in _lead_candidates(tree) + [None, "", "x" * 100]:
        assert article._visible_lead(tree, description) == _visible_lead_by_xpath(tree, description), description


LEAD = "Le commerce entre la Russie et la France a progressé de 12 % cette année, selon les douanes russes."
LEAD_PAGES = {
    "p": f"<p>{LEAD}</p>",
    "div around a p": f"<div class='lead'>\n  <p>{LEAD}</p>\n</div>",
    "h2 split in inline elements": "<h2> <b>Le commerce</b> entre la <i>Russie</i>\n\tet la France a progressé de 12 % cette "
                                   "année, selon les douanes russes. </h2>",
    "span only": f"<span>{LEAD}</span>",
    "section only": f"<section>{LEAD}</section>",
    "tail of a span": f"<p><span></span>{LEAD}</p>",
    "more text around": f"<p>Avant. {LEAD}</p><div>{LEAD} Après.</div>",
    "nbsp is not XPath whitespace": f"<p>{LEAD.replace(' ', chr(160), 1)}</p>",
    "in a comment": f"<div><!-- {LEAD} --></div>",
    "in a script": f"<div><script>{LEAD}</script></div>",
    "in the head only": "<p>x</p>",
    "svg (the HTML parser drops namespaces)": f"<svg xmlns='http://www.w3.org/2000/svg'><p>{LEAD}</p></svg>",
}


@pytest.mark.parametrize("name", sorted(LEAD_PAGES))
def test_visible_lead_equals_the_plain_xpath_on_tricky_markup(name: str) -> None:
    page = f"<html><head><title>{LEAD}</title></head><body>{LEAD_PAGES[name]}</body></html>"
    tree = load_html(page)
    for description in [LEAD, LEAD[:-1], LEAD + " ", LEAD.replace(" ", "  ")]:
        assert article._visible_lead(tree, description) == _visible_lead_by_xpath(tree, description), description
    assert (article._visible_lead(tree, LEAD) == LEAD) == (name in {"p", "div around a p", "h2 split in inline elements",
                                                                  "tail of a span", "in a script",
                                                                  "svg (the HTML parser drops namespaces)"})


def test_visible_lead_reads_every_body_of_the_document() -> None:
    """//body is every <body>, wherever it is (here one added in the <head>), also when the tree
    passed is an element inside the document."""
    tree = load_html("<html><head><title>t</title></head><body><div><p>other</p></div></body></html>")
    second = etree.SubElement(tree.find("head"), "body")
    etree.SubElement(second, "p").text = LEAD
    assert _visible_lead_by_xpath(tree, LEAD) == LEAD
    assert article._visible_lead(tree, LEAD) == LEAD
    assert article._visible_lead(tree.find("body/div"), LEAD) == LEAD
    second.tag = "div"
    assert _visible_lead_by_xpath(tree, LEAD) is None
    assert article._visible_lead(tree, LEAD) is None


def test_trafilaturas_raw_prunes_are_the_ones_read() -> None:
    """The raw-tree prune XPaths whose strings were read are trafilatura's (another trafilatura:
    read them again and update article._RAW_PRUNE_NEEDLES, or nothing is skipped)."""
    import trafilatura.core

    assert [needles for _, needles in article._SKIPPABLE] == [needles for _, _, needles in article._RAW_PRUNE_NEEDLES]
    assert trafilatura.core.prune_unwanted_nodes is article._prune_unwanted_nodes


RAW_PRUNE_VALUES = [
    "comment", "Comment", "comments", "comment-list", "commentary", "Commentary-box", "COMMENTS", "post-comments",
    "article-comments", "my-comments", "comol", "x-comol", "disqus_thread", "dsq-comments", "infinite-scroll",
    "infinitescroll", "my-infinite-scroll", "Infinite-Scroll", "mvp-post-add-box", "mvp-post-add-wrap", "mvp-post-add",
    "elementor-share-buttons", "elementor-share-buttons--x", "elementor-share", "share-buttons", "omment", "ommen",
    "disqus", "dsq", "comol\u0301", "c omment",
]


def _raw_prune_pages() -> list[str]:
    pages = []
    for value in RAW_PRUNE_VALUES:
        for tag in ("div", "section", "aside", "ol", "ul", "details", "p", "span"):
            for attr in ("class", "id"):
                pages.append(f"<html><body><{tag} {attr}='{value}'><p>inner</p></{tag}>"
                             f"<div id='x' class='y'><h1>t</h1><p>text</p></div></body></html>")
                pages.append(f"<html><body><div class='a b'><{tag} {attr}='{value}'>no h1 here</{tag}></div>"
                             f"<div><{tag} {attr}='{value}'><h1>with h1</h1></{tag}></div></body></html>")
    return pages


@pytest.mark.parametrize("page", [p.read_bytes() for p in PAGES] + _raw_prune_pages())
def test_a_skipped_raw_prune_matches_nothing(page) -> None:
    """A list skipped for a page (none of its strings in the page's class and id values) matches
    nothing on the page, nor on its pruned copy, which is what trafilatura prunes."""
    tree = _fixture_tree(page)
    work, values = article._prune_copy(tree, ())
    assert values == "\0".join(article._CLASS_ID_ATTRS(tree))
    skipped = article._unmatched_raw_prunes(values)
    for xpath_list, _ in article._SKIPPABLE:
        matched = any(xpath(tree) for xpath in xpath_list) or any(xpath(work) for xpath in xpath_list)
        if xpath_list in skipped:
            assert not matched
    if isinstance(page, str):  # each snippet makes one of the lists apply or not, as its strings say
        assert len(skipped) < len(article._SKIPPABLE) or not any(
            n in page for _, needles in article._SKIPPABLE for n in needles)


def test_a_raw_prune_is_skipped_only_while_extracting_a_page_where_it_cannot_match(monkeypatch) -> None:
    """trafilatura called directly prunes as always, and extract_article gives what it gives with
    every raw prune applied."""
    import trafilatura

    page = ("<html><body><article><h1>Titre</h1><p>" + "Le commerce progresse entre la Russie et la France. " * 12
            + "</p><div class='comments'><p>" + "Un commentaire de lecteur assez long pour compter. " * 6
            + "</p></div></article></body></html>")
    with_comments = trafilatura.bare_extraction(page.replace("class='comments'", "class='x'"), fast=True,
                                                include_comments=False).text
    assert "commentaire" in with_comments
    assert "commentaire" not in trafilatura.bare_extraction(page, fast=True, include_comments=False).text
    assert "commentaire" not in article.extract_article(page, "https://example.com/a").text
    all_pages = [p.read_bytes() for p in PAGES]
    skipping = [article.extract_article(p, "https://example.com/a") for p in all_pages]
    monkeypatch.setattr(article, "_SKIPPABLE", [])
    assert [article.extract_article(p, "https://example.com/a") for p in all_pages] == skipping
    for source in {default_sources()[site] for site in ("rbth_fr", "sputnik_fr", "kommersant")}:
        hooked = [article.extract_article(p, "https://example.com/a", source) for p in all_pages]
        with monkeypatch.context() as m:  # trafilatura's own pruning of a copy pruned by _pruned_copy
            m.setattr(trafilatura.core, "prune_unwanted_nodes", article._plain_prune_unwanted_nodes)
            assert [article.extract_article(p, "https://example.com/a", source) for p in all_pages] == hooked


def test_trafilatura_prunes_its_copy_through_the_hook() -> None:
    """bare_extraction prunes its copy of the page through trafilatura.core.prune_unwanted_nodes
    (else _extract prunes a copy itself and has trafilatura extract it: correct, slower)."""
    tree = load_html("<html><body><div class='share'>s</div><p>" + "Un texte. " * 30 + "</p></body></html>")
    before = etree.tostring(tree)
    page = article._Page(("p",))
    token = article._PAGE.set(page)
    try:
        doc = article._bare_extraction(tree, None, "https://example.com/a", [])
    finally:
        article._PAGE.reset(token)
    assert page.pruned and etree.tostring(tree) == before
    assert doc is None or "Un texte" not in (doc.text or "")  # the copy lost its <p>


def _author_candidates_by_xpath(tree) -> list:
    return tree.xpath("//*[@rel='author' or @itemprop='author' or contains(@class, 'byline') or contains(@class, 'author')]")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_author_candidates_equal_the_xpath_on_fixture_pages(page: Path) -> None:
    tree = _fixture_tree(page.read_bytes())
    assert metadata._author_candidates(tree) == _author_candidates_by_xpath(tree)


def test_author_candidates_equal_the_xpath_on_tricky_markup() -> None:
    page = ("<html><head><link rel='author' href='/a'><meta itemprop='author' content='x'></head><body>"
            "<div class='byline author' rel='author' itemprop='author'><span class='author-name'>A</span>"
            "<a rel='Author'>no</a><a rel='author me'>no</a><a itemprop='authors'>no</a></div>"
            "<p class='Byline'>no</p><p class='co-author'>yes</p><p id='author'>no</p><p data-class='author'>no</p>"
            "<svg><a rel='author'>yes</a></svg><div class='x'><div class='y' itemprop='author'><b class='byline'>z</b>"
            "</div></div></body></html>")
    tree = load_html(page)
    found = metadata._author_candidates(tree)
    assert found == _author_candidates_by_xpath(tree)
    assert [el.tag for el in found] == ["link", "meta", "div", "span", "p", "a", "div", "b"]
    fragment = tree.find("body/div")
    assert metadata._author_candidates(fragment) == _author_candidates_by_xpath(fragment)


def _plain_fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def test_fold_equals_the_plain_fold() -> None:
    """Every character, 40 at a time (marks removed one by one), all at once (too many marks: the
    plain join), and text with accents, Cyrillic, Hangul and letters that change when case-folded."""
    import random

    everything = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    texts = ["", "É", "e\u0301", "Ёлка éTÉ ß ﬁ İ ǅ ŉ ΐ 한국어 ᾳ Å", "".join(everything[::5])]
    texts += ["".join(everything[i:i + 40]) + " Éé" for i in range(0, len(everything), 40)]
    rng = random.Random(3)
    texts += ["".join(rng.choices("aeéèêëEÉ\u0301\u0300\u0308ёЁйß İ ", k=120)) for _ in range(300)]
    texts += [line for page in PAGES[:20] for line in page.read_text(encoding="utf-8", errors="replace").split("\n")]
    for text in texts:
        assert article.fold(text) == _plain_fold(text), text[:40]


# --- the section prunes (OVERALL_DISCARD_XPATH, TEASER_DISCARD_XPATH, DISCARD_IMAGE_ELEMENTS) -------
# For each string of a guard, an attribute its XPaths match on, with a value holding that string and
# none of the guard's other strings: were it missing from the guard, the guard would skip a list that
# matches (the test below checks both).
SECTION_SAMPLES = {
    "OVERALL_DISCARD_XPATH": {
        "nav": ("role", "nav"), "Nav": ("role", "Nav"), "MostPopularStories": ("data-component", "MostPopularStories"),
        "cookie": ("class", "cookies"), "shar": ("id", "sharing"), "social": ("class", "social"),
        "viral": ("id", "viral"), "newsletter": ("class", "newsletter"), "syndication": ("id", "syndication"),
        "tags": ("class", "tags"), "banner": ("id", "banner"), "bread": ("class", "breadcrumb"),
        "button": ("id", "button"), "author": ("class", "author"), "jp-": ("id", "jp-box"),
        "dpsp-content": ("id", "dpsp-content-top"), "bmdh": ("id", "bmdh"), "footer": ("id", "footer"),
        "Footer": ("class", "pageFooter"), "Share": ("id", "Share"), "menu": ("class", "menu"),
        "premium": ("id", "premium"), "ad-": ("class", "ad-box"), "ZendeskForm": ("class", "ZendeskForm"),
        "avigation": ("class", "xavigation"), "bar": ("class", "sidebar"), " ad ": ("class", "x ad y"),
        "dfp": ("class", "dfpAd"), "outbrain": ("class", "outbrain"), "taboola": ("class", "taboola"),
        "criteo": ("class", "criteo"), "paid": ("class", "paid-content"), "widget": ("class", "widget"),
        "byline": ("class", "byline"), "Byline": ("class", "Byline"), "sociable": ("class", "sociable"),
        "embed": ("class", "embed"), "tag-list": ("class", "tag-list"), "consent": ("class", "consent"),
        "modal-content": ("class", "modal-content"), "permission": ("class", "permission"),
        "elated": ("id", "related"), "next-": ("class", "next-up"), "-stories": ("class", "top-stories"),
        "most-popular": ("class", "most-popular"), "more-on": ("class", "more-on"), "meta": ("class", "meta"),
        "rating": ("class", "rating"), "attachment": ("class", "attachment"), "timestamp": ("class", "timestamp"),
        "user-info": ("class", "user-info"), "user-profile": ("class", "user-profile"), "-icon": ("class", "x-icon"),
        "article-infos": ("class", "article-infos"), "slide": ("class", "slide"), "viewport": ("class", "viewport"),
        "overlay": ("class", "overlay"), "options": ("class", "options"), "expand": ("class", "expand"),
        "obfuscated": ("class", "obfuscated"), "blurred": ("class", "blurred"), "mol-factbox": ("class", "mol-factbox"),
        "yin": ("class", "yin"), "zlylin": ("class", "zlylin"), "nfoline": ("class", "nfoline"),
        "comments-title": ("class", "comments-title"), "reply-": ("id", "reply-1"), "hidden": ("style", "hidden"),
        "display:none": ("style", "display:none"), "display: none": ("style", "display: none"),
        "reader-comments": ("id", "reader-comments"), "akismet": ("id", "akismet"), "hide": ("class", "hide-me"),
        "nocomments": ("class", "nocomments"), "message": ("class", "message"), "suggest-links": ("class", "suggest-links"),
        "noprint": ("class", "noprint"), "notloaded": ("class", "notloaded"), "true": ("aria-hidden", "true"),
    },
    "TEASER_DISCARD_XPATH": {"easer": ("class", "Teaser")},
    "DISCARD_IMAGE_ELEMENTS": {"caption": ("id", "caption")},
}


def _section_guard(name: str):
    from trafilatura import xpaths

    return article._SECTION_GUARDS[id(getattr(xpaths, name))]


def test_trafilaturas_section_prunes_are_the_ones_read() -> None:
    """The section prune XPaths whose strings were read are trafilatura's, and the main extractor
    prunes through the hook (another trafilatura: read them again and update
    article._SECTION_PRUNE_NEEDLES, or nothing is skipped)."""
    import trafilatura.main_extractor

    assert sorted(guard.needles for guard in article._SECTION_GUARDS.values()) == sorted(
        needles for *_, needles in article._SECTION_PRUNE_NEEDLES)
    assert trafilatura.main_extractor.prune_unwanted_nodes is article._prune_unwanted_nodes
    for name, samples in SECTION_SAMPLES.items():
        assert set(samples) == set(_section_guard(name).needles), name


@pytest.mark.parametrize("name", sorted(SECTION_SAMPLES))
def test_each_string_of_a_section_guard_is_needed(name: str) -> None:
    """On a page whose one element holds one of the guard's strings (and no other), the list
    matches that element, and the guard applies it; without that string it would skip it wrongly."""
    from dataclasses import replace

    guard = _section_guard(name)
    for needle, (attr, value) in SECTION_SAMPLES[name].items():
        assert [n for n in guard.needles if n in value] == [needle], (needle, value)
        tree = load_html(f"<html><body><div {attr}='{value}'><p>inner</p></div><p>text</p></body></html>")
        assert any(xpath(tree) for xpath in guard.xpaths), (needle, attr, value)
        assert not guard.cannot_match(tree)
        without = replace(guard, needles=tuple(n for n in guard.needles if n != needle))
        assert without.cannot_match(tree), (needle, value)
    if name == "OVERALL_DISCARD_XPATH":  # an attribute that matches by being there
        tree = load_html("<html><body><div data-lp-replacement-content=''><p>inner</p></div></body></html>")
        assert any(xpath(tree) for xpath in guard.xpaths) and not guard.cannot_match(tree)
        assert replace(guard, present=None).cannot_match(tree)


def _section_pages() -> list[str]:
    pages = []
    for samples in SECTION_SAMPLES.values():
        for attr, value in samples.values():
            for tag in ("div", "p", "span", "section", "ul", "a", "blockquote"):
                pages.append(f"<html><body><article><h1>Titre</h1><{tag} {attr}='{value}'>"
                             + "Un bloc annexe de la page, assez long. " * 4 + f"</{tag}><p>"
                             + "Le commerce progresse entre la Russie et la France. " * 12 + "</p></article></body></html>")
    return pages


def test_a_skipped_section_prune_matches_nothing_where_trafilatura_prunes(monkeypatch) -> None:
    """At every call the guard skips while extracting the fixture pages and pages with each
    sample, the list matches nothing on the tree at hand; and the extraction gives what it gives
    with no guard."""
    import trafilatura

    calls = {"skipped": 0, "applied": 0}
    cannot_match = article._SectionGuard.cannot_match

    def checked(guard, tree) -> bool:
        skipped = cannot_match(guard, tree)
        if skipped:
            assert not any(xpath(tree) for xpath in guard.xpaths)
        calls["skipped" if skipped else "applied"] += 1
        return skipped

    pages = [p.read_bytes() for p in PAGES] + _section_pages()
    without_guard = []
    with monkeypatch.context() as m:
        m.setattr(article, "_SECTION_GUARDS", {})
        without_guard = [article.extract_article(p, "https://example.com/a") for p in pages]
    monkeypatch.setattr(article._SectionGuard, "cannot_match", checked)
    assert [article.extract_article(p, "https://example.com/a") for p in pages] == without_guard
    assert calls["skipped"] > 100 and calls["applied"] > 100, calls
    # trafilatura called directly prunes as always
    monkeypatch.setattr(article._SectionGuard, "cannot_match", lambda guard, tree: True)
    page = ("<html><body><article><h1>Titre</h1><div class='widget'>" + "Un bloc annexe de la page. " * 4
            + "</div><p>" + "Le commerce progresse entre la Russie et la France. " * 12 + "</p></article></body></html>")
    assert "annexe" in trafilatura.bare_extraction(page.replace("widget", "x"), fast=True).text
    assert "annexe" not in trafilatura.bare_extraction(page, fast=True).text



def _xpath_terms(path: str) -> list[tuple[str, list[str]]]:
    """What the predicates of one of trafilatura's section XPaths test: ("all", values) for a
    string the attribute must contain (each way translate() can make it), ("any", runs) for one
    alternative of a regex (the literal runs it requires), ("@", []) for an attribute's presence.
    Fails on a predicate it does not read."""
    path = " ".join(path.split())
    body = re.fullmatch(r"\.//\*(?:\[self::[\w: ]*\] ?)?\[ ?(.*)\]", path)
    assert body, path
    terms: list[tuple[str, list[str]]] = []
    for term in body.group(1).split(" or "):
        term = term.strip()
        if re.fullmatch(r"@[\w-]+", term):
            terms.append(("@", []))
            continue
        literal = re.fullmatch(r"(?:contains|starts-with)\((?:translate\()?@[\w|@-]+(?:, '([A-Z])', '([a-z])'\))?,"
                               r" '([^']*)'\)|@[\w-]+='([^']*)'", term)
        regex = re.fullmatch(r"re:test\(@[\w|@-]+, '([^']*)'\)", term)
        assert literal or regex, term
        if literal:
            upper, lower, value = literal.group(1), literal.group(2), literal.group(3) or literal.group(4)
            variants = [value]
            if upper:  # the attribute holds the value with each of its lower letters either way
                pieces = value.split(lower)
                variants = []
                for letters in itertools.product((lower, upper), repeat=len(pieces) - 1):
                    variants.append(pieces[0] + "".join(c + piece for c, piece in zip(letters, pieces[1:])))
            terms.append(("all", variants))
            continue
        pattern = regex.group(1)
        # anchors and optional or alternative characters: what they stand for is not required
        pattern = re.sub(r"\(\?:\^\| \)|\(\^\|\\s\)|\(\\s\|\$\)|\[[^\]]*\]|[^()]\?", "\0", pattern)
        pattern = re.sub(r"\^\(\?:([^()]*)\)", r"\1", pattern)  # ^(?:a|b): a or b
        assert not re.search(r"[()\[\]?*+{}\\.]", pattern), pattern
        terms += [("any", re.split(r"[\0^$]", alternative)) for alternative in pattern.split("|")]
    return terms


@pytest.mark.parametrize("name", sorted(SECTION_SAMPLES))
def test_every_term_of_a_section_prune_holds_a_string_of_its_guard(name: str) -> None:
    """Read off trafilatura's XPaths: every string a predicate tests, every alternative of a
    regex, holds one of the guard's strings in what it requires (e.g. "bread" in bread-?crumb,
    nav or Nav for translate(@role, 'N', 'n') 'nav'); a presence test needs ``present``."""
    guard = _section_guard(name)
    read = {a for xpath in guard.xpaths for a in re.findall(r"@([\w-]+)", xpath.path)}
    collected = set(re.findall(r"@([\w-]+)", guard.values.path + " " + (guard.present.path if guard.present else "")))
    assert read == collected  # the guard reads every attribute the XPaths read
    assert all(re.fullmatch(r" ?\.//\*/@[\w-]+ ?", step) for step in guard.values.path.split("|"))
    terms = [term for xpath in guard.xpaths for term in _xpath_terms(xpath.path)]
    assert len(terms) > (80 if name == "OVERALL_DISCARD_XPATH" else 1)
    for kind, strings in terms:
        if kind == "@":
            assert guard.present is not None
        elif kind == "all":
            assert all(any(needle in value for needle in guard.needles) for value in strings), strings
        else:
            assert any(needle in run for run in strings for needle in guard.needles), strings
