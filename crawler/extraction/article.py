"""extract_article: a pure function from (html, url, source) to an Article or a Rejection."""
from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from contextvars import ContextVar
from copy import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import cssselect
import trafilatura
import trafilatura.core
from cssselect import GenericTranslator
from lxml import etree
from lxml import html as lxml_html
from trafilatura.utils import DOCTYPE_TAG, HTML_PARSER, is_dubious_html, load_html
from trafilatura.xml import delete_element

from crawler.urls import normalize_url, same_site

from . import boilerplate
from .encoding import decode_html
from .metadata import PageMeta, parse_datetime
from .results import EXTRACTOR_VERSION, Article, Rejection

if TYPE_CHECKING:
    from crawler.sources import Source

logger = logging.getLogger(__name__)

DEFAULT_MIN_CHARS = 250
LANGUAGE_SAMPLE_CHARS = 1000
LANGUAGE_CONFIRM_CHARS = 300


def extract_article(
    html: str | bytes,
    url: str,
    source: "Source | None" = None,
    *,
    content_type: str | None = None,
) -> Article | Rejection:
    """Extract the article on one page; never raises on bad input.

    ``html`` may be bytes (decoded with the HTTP ``content_type`` charset, the page's
    ``<meta>`` charset or the bytes' evidence) or already-decoded text.
    """
    return extract_page(html, url, source, content_type=content_type)[0]


def extract_page(
    html: str | bytes,
    url: str,
    source: "Source | None" = None,
    *,
    content_type: str | None = None,
) -> tuple[Article | Rejection, lxml_html.HtmlElement | None]:
    """``extract_article`` and the page's parsed tree as it was before extraction (None if the
    page could not be parsed), for a caller that reads more of the page (its links) without
    parsing it again."""
    body: bytes | None = None  # the page's exact UTF-8 encoding, when it is what was fetched
    if isinstance(html, bytes):
        if not html or html.isspace():  # not html.strip(), without copying the page
            return Rejection(url, "not_html", "empty body"), None
        raw = html
        html, encoding = decode_html(raw, content_type)
        if encoding == "utf-8" and "\ufffd" not in html and not raw.startswith(codecs.BOM_UTF8):
            body = raw  # no byte was replaced, no BOM dropped
    if not html or html.isspace() or "<" not in html:
        return Rejection(url, "not_html", "no markup"), None
    tree = _load_html(html, body)  # trafilatura's own parse: the one tree both it and our metadata read
    if tree is None:
        tree = _parse(html)
        if tree is None:
            return Rejection(url, "not_html", "unparseable markup"), None
        content: str | lxml_html.HtmlElement = html  # trafilatura fails on it in its own way
    else:
        content = tree  # bare_extraction works on a copy, this tree stays as parsed
    return _extract(html, content, tree, url, source), tree


def _extract(html: str, content: "str | lxml_html.HtmlElement", tree: lxml_html.HtmlElement, url: str,
             source: "Source | None") -> Article | Rejection:
    tz = source.timezone if source else "UTC"
    meta = PageMeta(tree, tz)
    title = meta.title()
    published, modified = meta.published(), meta.modified()
    description, tags, section = meta.description(), meta.tags(), meta.section()
    canonical, declared_language = meta.canonical(), meta.declared_language()
    selectors = tuple(source.drop_selectors) if source else ()
    if not isinstance(content, lxml_html.HtmlElement):
        doc = _bare_extraction(content, source, url, _prune_xpaths(selectors))
    else:
        # trafilatura copies the tree it is given and prunes the copy (prune_xpath) with ~13 XPaths;
        # _prune does that pruning, cheaper, on trafilatura's own copy (see _prune_unwanted_nodes)
        page = _Page(selectors)
        token = _PAGE.set(page)
        try:
            doc = _bare_extraction(content, source, url, [])
        finally:
            _PAGE.reset(token)
        if not page.pruned:  # not pruned through our hook (another trafilatura): a pruned copy of ours
            doc = _bare_extraction(_pruned_copy(content, selectors), source, url, None)
    raw_text = (getattr(doc, "text", None) or "") if doc is not None else ""
    fallback = _TrafilaturaMeta(html, url) if doc is not None else None
    if not title and fallback is not None:
        title = fallback.get().title
    paragraphs, dropped = clean_paragraphs(raw_text, title, source)
    if (description and paragraphs and description not in paragraphs
            and not boilerplate.boilerplate_family(description) and _visible_lead(tree, description)):
        paragraphs.insert(0, description)  # a lead set apart from the body container (Sputnik's announce)
    text = "\n".join(paragraphs)
    if not text:
        return Rejection(url, "not_article", "no article text found")
    min_chars = source.min_chars if source else DEFAULT_MIN_CHARS
    if len(text) < min_chars:
        return Rejection(url, "too_short", f"{len(text)} characters of text, fewer than {min_chars}")
    if not title:
        title = paragraphs[0][:200]
    if source and source.keywords and not matches_keywords(f"{title}\n{text}", source.keywords):
        return Rejection(url, "keywords", "mentions none of the source's keywords")

    if published is None and fallback is not None and fallback.get().date:
        published = parse_datetime(fallback.get().date, meta.tz)
    authors = meta.authors()
    return Article(
        url=_canonical(canonical, url),
        title=title,
        text=text,
        language=detect_language(text, declared_language or (source.language if source else None)),
        authors=authors,
        published_at=published,
        modified_at=modified,
        description=description or (fallback.get().description if fallback is not None else None),
        tags=tags or list((fallback.get().tags or []) if fallback is not None else []),
        section=section,
        dropped=dropped,
    )


def _bare_extraction(content: "str | lxml_html.HtmlElement", source: "Source | None", url: str,
                     prune_xpath: list[str] | None):  # type: ignore[no-untyped-def]
    return trafilatura.bare_extraction(
        content,
        url=url,
        with_metadata=False,  # trafilatura's metadata is read lazily below, only for fields ours lacks
        include_comments=False,
        include_tables=True,
        include_images=False,
        deduplicate=False,
        # trafilatura's main extractor alone, without its readability/jusText comparison:
        # half the CPU, and on ../shared/benchmark no worse (F1 0.961 vs 0.960, boilerplate
        # kept 8.5 % vs 9.4 %; benchmarks/extraction_quality.py). A source can ask for both.
        fast=not (source and source.fallback_extractors),
        prune_xpath=prune_xpath,
    )


class _TrafilaturaMeta:
    """trafilatura's own metadata for the page, computed on first use only: the same call
    ``bare_extraction(..., with_metadata=True)`` makes (it does not alter the tree it reads),
    skipped on the many pages where our own metadata already has every field."""

    def __init__(self, html: str, url: str):
        self._html, self._url, self._doc = html, url, None

    def get(self):
        if self._doc is None:
            from trafilatura.metadata import Document, extract_metadata
            from trafilatura.settings import Extractor
            from trafilatura.utils import load_html

            options = Extractor(with_metadata=True, url=self._url)
            tree = load_html(self._html, options.max_file_size)
            self._doc = (extract_metadata(tree, options.url, options.date_params, options.fast, options.author_blacklist)
                         if tree is not None else Document())
        return self._doc


def clean_paragraphs(text: str, title: str | None, source: "Source | None" = None) -> tuple[list[str], dict[str, int]]:
    """Apply the source's ``drop_lines`` and the built-in boilerplate layer to extracted text."""
    drop_lines = [re.compile(p, re.I) for p in source.drop_lines] if source else []
    kept: list[str] = []
    dropped: dict[str, int] = {}
    title_key = fold(title) if title else None
    for line in text.split("\n"):
        line = " ".join(line.split())
        if not line:
            continue
        if any(p.search(line) for p in drop_lines):
            family = "source_rule"
        elif title_key and not kept and fold(line) == title_key:
            family = "title"
        elif line in kept:
            family = "repeated"
        else:
            family = boilerplate.line_family(line)
        if family:
            dropped[family] = dropped.get(family, 0) + 1
        else:
            kept.append(line)
    return kept, dropped


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text`` (ё folds to е, é to e)."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    # the combining marks among the text's few distinct characters, each removed by a C-level
    # str.replace (as storage.stories.words does): a char-by-char join took 0.1 ms a bench page for
    # the first lines compared with the title, 0.3 ms for a whole text checked for keywords
    marks = [c for c in set(decomposed) if unicodedata.combining(c)]
    if len(marks) > MAX_FOLD_MARKS:  # a pass over the text each: one join is cheaper then
        return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    for mark in marks:
        decomposed = decomposed.replace(mark, "")
    return unicodedata.normalize("NFC", decomposed)


MAX_FOLD_MARKS = 50



def matches_keywords(text: str, keywords: tuple[str, ...] | list[str]) -> bool:
    haystack = fold(text)
    return any(k in haystack for k in _folded(tuple(keywords)))


@lru_cache(maxsize=64)
def _folded(keywords: tuple[str, ...]) -> tuple[str, ...]:
    """The source's keywords folded, once per crawl instead of on every page (~0.05 ms for 16)."""
    return tuple(fold(k) for k in keywords)


def detect_language(text: str, declared: str | None) -> str | None:
    """The language the text is written in (py3langid), falling back to the declared one
    for texts too short to tell."""
    if len(text) < 80:
        return declared
    import py3langid

    # py3langid's cost grows with the sample. When the page or the source declares a language,
    # 300 characters confirm it (on the 646 texts of ../shared/benchmark and tests/sites, never
    # where 1,000 would say otherwise, for fr, en, ru or de declared); 1,000 characters decide
    # otherwise (the same language as 3,000 on all of them, at a third of the cost).
    if declared:
        quick, _ = py3langid.classify(text[:LANGUAGE_CONFIRM_CHARS])
        if quick == declared:
            return quick
    lang, _ = py3langid.classify(text[:LANGUAGE_SAMPLE_CHARS])
    return lang or declared


def _visible_lead(tree: lxml_html.HtmlElement, description: str | None) -> str | None:
    """The page's description when the page also shows it as a block of its own (a lead)."""
    if not description or len(description) < 80:
        return None
    return description if _VISIBLE_LEAD(tree, d=description) else None


# Whether ``//body//*[self::p or self::div or self::h2][normalize-space(.) = $d]`` finds anything,
# in half the CPU (0.13 instead of 0.27 ms a bench page): libxml2 tests a name in the axis step
# itself, where the predicate [self::p or ...] is evaluated on every element of the body, and
# `or` stops at the first kind that matches (a lead is usually a <p>). /descendant::body is //body.
_VISIBLE_LEAD = etree.XPath(
    "boolean(/descendant::body[descendant::p[normalize-space(.) = $d] or descendant::div[normalize-space(.) = $d]"
    " or descendant::h2[normalize-space(.) = $d]])")


def _canonical(canonical: str | None, url: str) -> str:
    if canonical:
        absolute = urljoin(url, canonical)
        if absolute.startswith(("http://", "https://")) and same_site(absolute, url):
            return normalize_url(absolute)
    return normalize_url(url)


# lxml.html.fromstring's test for a whole document, which it applies to str and bytes alike; in a
# str \s is also Unicode whitespace, so where the two disagree on a page the str is parsed.
_FULL_HTML_STR = re.compile(r"^\s*<(?:html|!doctype)", re.I)
_FULL_HTML_BYTES = re.compile(rb"^\s*<(?:html|!doctype)", re.I)
# The characters repair_faulty_html deletes (trafilatura.utils.INVALID_XML_CHARS), as UTF-8 bytes
# (each of them is one byte there, never part of another character's bytes) and as characters.
_XML_INVALID_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x20))
_XML_INVALID_NONCHARS = ("\ufffe", "\uffff")


def _load_html(html: str, body: bytes | None) -> lxml_html.HtmlElement | None:
    """trafilatura's ``load_html(html)``, about twice as fast: it repairs the str (a regex over the
    whole page) and parses the str; lxml parses UTF-8 bytes faster than a str, and cheaper checks
    on ``body`` (html's exact UTF-8 encoding, if the caller has it) show whether the repair would
    change anything. Wherever they cannot vouch for the same tree, ``load_html`` itself."""
    data = _repaired_utf8(html, body)
    if data is None:
        return load_html(html)
    try:
        tree = lxml_html.fromstring(data, parser=HTML_PARSER)  # load_html's parse, of the same bytes
    except Exception:  # load_html logs it and tries again its way
        return load_html(html)
    if tree is None or len(tree) < 1:  # load_html would parse again
        return load_html(html)
    if is_dubious_html(html[:50].lower()) and len(tree) < 2:
        return None  # load_html's rejection of what does not look like HTML
    return tree


def _repaired_utf8(html: str, body: bytes | None) -> bytes | None:
    """``repair_faulty_html(html).encode("utf-8")``, got without scanning the str: ``body`` when
    the repair changes nothing, body with the doctype line fixed when only that changes; None when
    another repair applies or lxml could tell the bytes from the str."""
    if body is None:
        try:
            body = html.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return None
    if len(body.translate(None, _XML_INVALID_BYTES)) != len(body) or any(c in html for c in _XML_INVALID_NONCHARS):
        return None
    repaired = html
    if "doctype" in html[:50].lower():
        cut = html.find("\n")
        if cut < 0:
            return None  # the repair would add one
        fixed = DOCTYPE_TAG.sub("", html[:cut], count=1)
        if len(fixed) != cut:
            repaired = fixed + html[cut:]
            body = fixed.encode("utf-8") + body[body.index(b"\n"):]
    for line in repaired[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            return None  # the self-closing <html/> repair
    if (_FULL_HTML_STR.match(repaired) is None) != (_FULL_HTML_BYTES.match(body) is None):
        return None
    return body


def _parse(html: str) -> lxml_html.HtmlElement | None:
    try:
        html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)  # lxml refuses str input with an encoding declaration
        tree = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    return tree


# A built-in selector only removes a region this small: a page whose <body> or main
# container happens to carry a class like "cookie-consent-active" keeps its article.
BUILTIN_PRUNE_MAX_CHARS = 600


@lru_cache(maxsize=256)
def _prune_xpaths(source_selectors: tuple[str, ...]) -> list[str]:
    """XPaths trafilatura removes before extraction: the source's ``drop_selectors``
    as they are, the built-in boilerplate regions only when small."""
    translator = GenericTranslator()
    guard = (f"[not(self::html or self::body or self::main or self::article)]"
             f"[string-length(normalize-space(.)) <= {BUILTIN_PRUNE_MAX_CHARS}]")
    return [translator.css_to_xpath(s) for s in source_selectors] + [
        f"({translator.css_to_xpath(s)}){guard}" for s in boilerplate.PRUNE_SELECTORS
    ]


_CLASS_ID_ATTRS = etree.XPath("//@class | //@id")
_TEXT_LENGTH = etree.XPath("string-length(normalize-space(.))")
_GUARDED_TAGS = frozenset({"html", "body", "main", "article"})  # the guard's not(self::html or ...)
_XML_SPACE = re.compile("[ \t\r\n]+")  # what XPath's normalize-space() collapses


@dataclass(frozen=True)
class _Selector:
    """One prune selector and how ``_pruned_copy`` finds its matches: "xpath" (cssselect's
    translation), or on the class and id values: "class~" (a class name, ``.x``), "class*" and
    "id*" (``[class*=x]``: contains(@class, 'x')), "id=" (``#x``), or "tag" (an element name)."""

    kind: str
    value: str | None
    tag: str | None  # the element name the selector also requires
    xpath: etree.XPath
    needed: list[frozenset[str]] | None  # per alternative, the class/id strings it requires (None: unknown)

    def matches(self, work: lxml_html.HtmlElement, attrs: list, values: str) -> list:
        """The elements the selector's XPath would return on ``work``, in document order."""
        if self.needed is not None and not any(all(lit in values for lit in needed) for needed in self.needed):
            return []  # a class or id it requires is on no element: pruning never adds attributes
        if self.kind == "xpath":
            return self.xpath(work)
        if self.kind == "tag":
            return list(work.iter(self.value))
        value, name = self.value, "id" if self.kind.startswith("id") else "class"
        if self.kind == "id=":
            found = [a.getparent() for a in attrs if a == value and a.attrname == name]
        elif self.kind == "class~":  # contains(concat(' ', normalize-space(@class), ' '), ' x ')
            found = [a.getparent() for a in attrs if value in a and a.attrname == name and value in _XML_SPACE.split(a)]
        else:
            found = [a.getparent() for a in attrs if value in a and a.attrname == name]
        return [el for el in found if el.tag == self.tag] if self.tag else found


def _pruned_copy(tree: lxml_html.HtmlElement, source_selectors: tuple[str, ...]) -> lxml_html.HtmlElement:
    return _prune_copy(tree, source_selectors)[0]


def _prune_copy(tree: lxml_html.HtmlElement, source_selectors: tuple[str, ...]) -> tuple[lxml_html.HtmlElement, str]:
    """A copy of ``tree``, ``_prune``d, and what ``_prune`` returns."""
    work = copy(tree)
    return work, _prune(work, source_selectors)


def _prune(work: lxml_html.HtmlElement, source_selectors: tuple[str, ...]) -> str:
    """Prune ``work`` exactly as trafilatura's ``prune_xpath=_prune_xpaths(source_selectors)`` prunes
    its copy of the page, for a fraction of the CPU: those are ~13 XPaths, each a full pass over the tree.

    One XPath collects every class and id value (and its element). Selectors made of a class name,
    an id, a class/id substring or an element name are matched in Python on those values (what
    cssselect's translation tests, e.g. contains(@class, 'x') for ``[class*=x]``, is a plain string
    test); any other stays an XPath, skipped when a class or id it requires is on no element. Then,
    one selector after the other as with the XPaths (the source's first, then the built-in ones
    with their guard), its matches are found, guarded and deleted, so that what an earlier one
    removed no longer counts in a later one's guard or structure.

    Returns every class and id value of the page before pruning, joined by NULs."""
    attrs = _CLASS_ID_ATTRS(work)
    values = "\0".join(attrs)
    for selector in _prune_plan(source_selectors):
        for el in selector.matches(work, attrs, values):
            delete_element(el)
    for selector in _builtin_plan():
        # All matched before any is deleted, as in an XPath's node-set. A candidate inside a region
        # deleted earlier is no longer in the tree for the XPath; deleting it here changes nothing.
        matches = [el for el in selector.matches(work, attrs, values)
                   if el.tag not in _GUARDED_TAGS and _TEXT_LENGTH(el) <= BUILTIN_PRUNE_MAX_CHARS]
        for el in matches:
            delete_element(el)
    return values


@lru_cache(maxsize=1)
def _builtin_plan() -> list[_Selector]:
    """The built-in selectors, in order (their guard is applied by ``_pruned_copy``)."""
    return [_selector(css) for css in boilerplate.PRUNE_SELECTORS]


@lru_cache(maxsize=256)
def _prune_plan(source_selectors: tuple[str, ...]) -> list[_Selector]:
    """A source's ``drop_selectors``, in order."""
    return [_selector(css) for css in source_selectors]


def _selector(css: str) -> _Selector:
    xpath = etree.XPath(GenericTranslator().css_to_xpath(css))
    try:
        parsed = cssselect.parse(css)
    except cssselect.SelectorError:
        return _Selector("xpath", None, None, xpath, None)
    alternatives = [frozenset(_required_literals(sel.parsed_tree)) for sel in parsed]
    needed = alternatives if alternatives and all(alternatives) else None
    node = parsed[0].parsed_tree if len(parsed) == 1 and parsed[0].pseudo_element is None else None
    if isinstance(node, cssselect.parser.Element) and node.namespace is None and node.element:
        return _Selector("tag", node.element, None, xpath, None)
    base = getattr(node, "selector", None)
    if not (isinstance(base, cssselect.parser.Element) and base.namespace is None):
        return _Selector("xpath", None, None, xpath, needed)
    if isinstance(node, cssselect.parser.Class) and not _XML_SPACE.search(node.class_name):
        return _Selector("class~", node.class_name, base.element, xpath, needed)
    if isinstance(node, cssselect.parser.Hash):
        return _Selector("id=", node.id, base.element, xpath, needed)
    if (isinstance(node, cssselect.parser.Attrib) and node.namespace is None and node.attrib in ("class", "id")
            and node.operator == "*=" and node.value.value):
        return _Selector(f"{node.attrib}*", node.value.value, base.element, xpath, needed)
    return _Selector("xpath", None, None, xpath, needed)


def _required_literals(node) -> set[str]:
    """Class names, ids and class/id attribute values a parsed CSS selector cannot match without
    (what sits inside :not() is not required)."""
    found: set[str] = set()
    while node is not None:
        value = None
        if isinstance(node, cssselect.parser.Class):
            value = node.class_name
        elif isinstance(node, cssselect.parser.Hash):
            value = node.id
        elif (isinstance(node, cssselect.parser.Attrib) and node.attrib in ("class", "id") and node.namespace is None
              and node.operator in ("=", "~=", "|=", "^=", "$=", "*=")):
            value = getattr(node.value, "value", node.value)
        if isinstance(value, str) and value and not any(c.isspace() for c in value):
            found.add(value)
        if isinstance(node, cssselect.parser.CombinedSelector):
            found |= _required_literals(node.subselector)
        node = getattr(node, "selector", None)
    return found


# --- trafilatura's pruning, on its copy of the page ------------------------------------------------
# trafilatura.core calls prune_unwanted_nodes for what bare_extraction prunes before extracting, and
# ``_prune_unwanted_nodes`` stands in for it (an exact stand-in: what it does not skip or replace, it
# hands over):
# - bare_extraction copies the tree it is given, then prunes its copy with the XPaths of prune_xpath.
#   We pass prune_xpath=[] and, on that call, prune trafilatura's copy with ``_prune``: the same
#   pruning as those XPaths, cheaper, without the copy of the page ``_pruned_copy`` made first for
#   trafilatura to copy again (0.2 ms a bench page).
# - trafilatura then deletes from the whole page what two lists of XPaths match (appended articles of
#   infinite-scroll pages, share buttons; comment sections): 0.5 ms a bench page, three passes that
#   call a Python regex on the id and class of every div, section, aside, ol, ul... Each of those
#   XPaths matches only an element whose id or class contains one of a few strings (read off the
#   XPaths below, e.g. re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments') needs
#   "omment"); on a page where no class or id value contains any of them (the page's values before
#   any pruning: pruning only removes elements), the list deletes nothing and is skipped. Those
#   XPaths are trafilatura's own, of the version they were read from: with other XPaths (another
#   trafilatura) nothing is skipped.
_RAW_PRUNE_NEEDLES = (
    ("RAW_TREE_PRUNE_XPATH", "0a775839", ("mvp-post-add-", "infinite", "elementor-share-buttons")),
    ("REMOVE_COMMENTS_AND_LISTS_XPATH", "9cc18d34", ("omment", "comol", "disqus_thread")),
)


def _xpaths_digest(xpaths: list) -> str:
    import hashlib

    # an item without .path (not an lxml XPath: another trafilatura) gives a digest that matches nothing
    return hashlib.sha256("\n".join(str(getattr(x, "path", x)) for x in xpaths).encode()).hexdigest()[:8]


def _trafilatura_xpaths(name: str, digest: str) -> list | None:
    """trafilatura's XPath list ``name`` if it is the one read (its ``digest``); None otherwise
    (another trafilatura: the list is always applied)."""
    try:
        from trafilatura import xpaths
    except ImportError:
        xpaths = None
    xpath_list = getattr(xpaths, name, None)
    if isinstance(xpath_list, list) and _xpaths_digest(xpath_list) == digest:
        return xpath_list
    logger.debug("trafilatura's %s is not the one read: always applied", name)
    return None


def _raw_prune_needles() -> list[tuple[list, tuple[str, ...]]]:
    """The XPath lists of ``_RAW_PRUNE_NEEDLES`` that are the ones they were read from, with their strings."""
    found = []
    for name, digest, needles in _RAW_PRUNE_NEEDLES:
        xpath_list = _trafilatura_xpaths(name, digest)
        if xpath_list is not None:
            found.append((xpath_list, needles))
    return found


_SKIPPABLE = _raw_prune_needles()


@dataclass
class _Page:
    """The page ``_extract`` has trafilatura extract: our prune selectors, whether its copy was
    pruned with them, and the lists of ``_SKIPPABLE`` that cannot match on it."""

    selectors: tuple[str, ...]
    pruned: bool = False
    skipped: tuple[list, ...] = ()


_PAGE: ContextVar[_Page | None] = ContextVar("trafilatura_page", default=None)  # set around the call


def _unmatched_raw_prunes(values: str) -> tuple[list, ...]:
    """The lists of ``_SKIPPABLE`` whose strings are in none of ``values`` (class and id values)."""
    return tuple(xpath_list for xpath_list, needles in _SKIPPABLE if not any(n in values for n in needles))


# - trafilatura's main extractor prunes the body it found (and, when short of text, the whole
#   cleaned page) with OVERALL_DISCARD_XPATH (navigation, share, ad, footer... blocks: two XPaths,
#   one calling a Python regex three times on every div, p, span..., 0.2 ms a bench page), then
#   DISCARD_IMAGE_ELEMENTS and TEASER_DISCARD_XPATH (0.03 ms each). Every element those XPaths
#   match has an attribute, of the few they read, whose value contains one of a few strings
#   (read off the XPaths below), or for OVERALL_DISCARD_XPATH a data-lp-replacement-content
#   attribute. Those values are collected from the very tree the list is about to prune, at that
#   call (one XPath without Python calls, a few times cheaper): where none contains any of the
#   strings, the list matches nothing there and is skipped; it would have deleted nothing (with
#   its backup: nothing matched, nothing deleted). Checked on the tree at the call, this needs no
#   assumption on what trafilatura did to the page before (cleaning, renamed tags). Again only for
#   the XPaths the strings were read from.
_SECTION_PRUNE_NEEDLES = (
    ("OVERALL_DISCARD_XPATH", "90fe7cbe",
     ".//*/@id | .//*/@class | .//*/@role | .//*/@style | .//*/@data-component | .//*/@aria-hidden",
     "boolean(.//*/@data-lp-replacement-content)",
     (
         # the first XPath: @role contains nav or Nav; @data-component; the regexes on @id and @class,
         # an alternative at a time (e.g. "bread" for bread-?crumb, "ad-" for ^ad-, -ad- and (?:^| )ad-;
         # sidebar, related and message-container contain bar, elated and message)
         "nav", "Nav", "MostPopularStories", "cookie",
         "shar", "social", "viral", "newsletter", "syndication", "tags", "banner", "bread", "button",
         "author", "jp-", "dpsp-content", "bmdh", "footer", "Footer", "Share", "menu", "premium", "ad-",
         "ZendeskForm", "avigation", "bar", " ad ", "dfp", "outbrain", "taboola", "criteo", "paid", "widget",
         "byline", "Byline", "sociable", "embed", "tag-list", "consent", "modal-content", "permission", "elated",
         "next-", "-stories", "most-popular", "more-on", "meta", "rating", "attachment", "timestamp", "user-info",
         "user-profile", "-icon", "article-infos", "slide", "viewport", "overlay", "options", "expand",
         "obfuscated", "blurred", "mol-factbox", "yin", "zlylin", "nfoline",
         # the second: @class, @id, @style, @aria-hidden ("hide" for ^hide-, -hide-, hide-print, " hide")
         "comments-title", "reply-", "hidden", "display:none", "display: none", "reader-comments", "akismet",
         "hide", "nocomments", "message", "suggest-links", "noprint", "notloaded", "true",
     )),
    ("TEASER_DISCARD_XPATH", "ebb02f06", ".//*/@id | .//*/@class", None, ("easer",)),  # [tT]easer
    ("DISCARD_IMAGE_ELEMENTS", "cb1ab981", ".//*/@id | .//*/@class", None, ("caption",)),
)


@dataclass(frozen=True)
class _SectionGuard:
    """What an element of ``xpaths`` needs: a string among ``values`` (XPath) or ``present`` (XPath)."""

    xpaths: list
    values: etree.XPath
    present: etree.XPath | None
    needles: tuple[str, ...]

    def cannot_match(self, tree) -> bool:  # type: ignore[no-untyped-def]
        values = "\0".join(self.values(tree))
        if any(needle in values for needle in self.needles):
            return False
        return not (self.present is not None and self.present(tree))


def _section_guards() -> dict[int, _SectionGuard]:
    """The lists of ``_SECTION_PRUNE_NEEDLES`` that are the ones they were read from (by id)."""
    found = {}
    for name, digest, values, present, needles in _SECTION_PRUNE_NEEDLES:
        xpath_list = _trafilatura_xpaths(name, digest)
        if xpath_list is not None:
            found[id(xpath_list)] = _SectionGuard(xpath_list, etree.XPath(values),
                                                  etree.XPath(present) if present else None, needles)
    return found


_SECTION_GUARDS = _section_guards()


def _prune_unwanted_nodes(tree, nodelist, with_backup=False):  # type: ignore[no-untyped-def]
    """trafilatura's ``prune_unwanted_nodes`` as trafilatura.core and trafilatura.main_extractor
    call it, but while ``_extract`` has trafilatura extract a page: its (empty) prune_xpath prunes
    with ``_prune``, and a list that cannot match on the page, or on the tree at hand, is skipped."""
    page = _PAGE.get()
    if page is not None:
        if not page.pruned and isinstance(nodelist, list) and not nodelist and not with_backup:
            page.skipped = _unmatched_raw_prunes(_prune(tree, page.selectors))
            page.pruned = True
            return tree
        for skipped in page.skipped:
            if nodelist is skipped:
                return tree
        guard = _SECTION_GUARDS.get(id(nodelist))
        if guard is not None and guard.xpaths is nodelist and guard.cannot_match(tree):
            return tree
    return _plain_prune_unwanted_nodes(tree, nodelist, with_backup)


# A trafilatura without this function (another version) is left alone: no hook, no skipped list,
# and _extract prunes a copy of the page itself (page.pruned stays False).
_plain_prune_unwanted_nodes = getattr(trafilatura.core, "prune_unwanted_nodes", None)
if callable(_plain_prune_unwanted_nodes):
    trafilatura.core.prune_unwanted_nodes = _prune_unwanted_nodes
if callable(_plain_prune_unwanted_nodes) and _SECTION_GUARDS:
    import trafilatura.main_extractor

    if getattr(trafilatura.main_extractor, "prune_unwanted_nodes", None) is _plain_prune_unwanted_nodes:
        trafilatura.main_extractor.prune_unwanted_nodes = _prune_unwanted_nodes
