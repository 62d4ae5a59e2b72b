"""The source registry: news sites described as TOML data, validated once, at load."""
from __future__ import annotations

import logging
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

SOURCES_ENV = "NEWSARCHIVE_SOURCES"
KEY_RE = re.compile(r"^[a-z0-9_]+$")
LANG_RE = re.compile(r"^[a-z]{2}$")


class SourcesError(Exception):
    """A sources file that cannot be used; the message names the file, the source and the key."""


class UnknownSource(SourcesError):
    """A source key that the registry does not define."""


@dataclass(frozen=True)
class Source:
    """One news site, as the registry describes it."""

    key: str
    name: str
    language: str
    start_urls: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    article_urls: tuple[str, ...] = ()
    follow_urls: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    drop_selectors: tuple[str, ...] = ()
    drop_lines: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    schedule: str = "0 */6 * * *"
    max_pages: int | None = None
    download_delay: float = 1.0
    concurrency: int = 2
    timezone: str = "UTC"
    min_chars: int = 250
    time_limit: int = 3600  # seconds; a crawl still running then is stopped and recorded failed
    revisit_days: int = 0  # re-crawls refetch archived articles younger than this (0: never), to catch edits
    # also run trafilatura's readability/jusText comparison on every page (about twice the
    # extraction CPU); for a site whose layout the main extractor misreads
    fallback_extractors: bool = False
    origin_file: str = ""

    # -- derived -------------------------------------------------------
    @property
    def entry_urls(self) -> tuple[str, ...]:
        return self.start_urls + self.feeds + self.sitemaps

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.entry_urls[0])
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def domains(self) -> tuple[str, ...]:
        if self.allowed_domains:
            return self.allowed_domains
        hosts = {urlsplit(u).hostname or "" for u in self.entry_urls}
        return tuple(sorted(h for h in hosts if h))

    def is_article_url(self, url: str) -> bool:
        decoded = decode_url(url)
        return any(p.search(decoded) for p in _compiled(self.article_urls))

    def is_follow_url(self, url: str) -> bool:
        decoded = decode_url(url)
        return any(p.search(decoded) for p in _compiled(self.follow_urls))

    def rebased(self, base_url: str, origins: Iterable[str] = ()) -> "Source":
        """The same source pointed at a mirror (a local copy of the site).

        Every URL that starts with one of ``origins`` (default: the origins of the
        source's own entry URLs) is rewritten to ``base_url``; allowed domains
        become the mirror's host.
        """
        origins = list(origins) or sorted({_origin(u) for u in self.entry_urls})
        base_url = base_url.rstrip("/")

        def move(urls: tuple[str, ...]) -> tuple[str, ...]:
            out = []
            for url in urls:
                for origin in origins:
                    if url.startswith(origin):
                        url = base_url + url[len(origin):]
                        break
                out.append(url)
            return tuple(out)

        return replace(
            self,
            start_urls=move(self.start_urls),
            feeds=move(self.feeds),
            sitemaps=move(self.sitemaps),
            allowed_domains=(urlsplit(base_url).hostname or "",),
        )


def decode_url(url: str) -> str:
    """Percent-decode a URL and normalise it to NFC, for matching against patterns."""
    return unicodedata.normalize("NFC", unquote(url))


_PATTERN_CACHE: dict[tuple[str, ...], list[re.Pattern[str]]] = {}


def _compiled(patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
    if patterns not in _PATTERN_CACHE:
        _PATTERN_CACHE[patterns] = [re.compile(p) for p in patterns]
    return _PATTERN_CACHE[patterns]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- validation ---------------------------------------------------------------

_LIST_KEYS = (
    "start_urls", "feeds", "sitemaps", "article_urls", "follow_urls", "allowed_domains",
    "drop_selectors", "drop_lines", "keywords",
)
_URL_KEYS = ("start_urls", "feeds", "sitemaps")
_REGEX_KEYS = ("article_urls", "follow_urls", "drop_lines")
_KNOWN_KEYS = frozenset(
    ("name", "language", "schedule", "max_pages", "download_delay", "concurrency", "timezone", "min_chars", "time_limit",
     "revisit_days", "fallback_extractors")
    + _LIST_KEYS
)


class _Checker:
    def __init__(self, file: str, key: str | None):
        self.file, self.key = file, key

    def fail(self, field_: str | None, message: str) -> SourcesError:
        where = self.file
        if self.key:
            where += f": source '{self.key}'"
        if field_:
            where += f", key '{field_}'"
        return SourcesError(f"{where}: {message}")


def _validate(raw: Mapping[str, Any], file: str, key: str) -> Source:
    check = _Checker(file, key)
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise check.fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(_KNOWN_KEYS))})")
    for required in ("name", "language"):
        if required not in raw:
            raise check.fail(required, "missing required key")
    values: dict[str, Any] = {"key": key, "origin_file": file}
    for name in ("name", "language", "schedule", "timezone"):
        if name in raw:
            if not isinstance(raw[name], str) or not raw[name].strip():
                raise check.fail(name, "must be a non-empty string")
            values[name] = raw[name].strip()
    if not LANG_RE.match(values["language"]):
        raise check.fail("language", f"'{values['language']}' is not an ISO 639-1 code such as 'fr' or 'ru'")
    for name in _LIST_KEYS:
        if name in raw:
            value = raw[name]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise check.fail(name, "must be a list of non-empty strings")
            values[name] = tuple(v.strip() for v in value)
    if not any(values.get(n) for n in _URL_KEYS):
        raise check.fail(None, "needs at least one of start_urls, feeds or sitemaps")
    for name in _URL_KEYS:
        for url in values.get(name, ()):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise check.fail(name, f"'{url}' is not an http(s) URL")
    for name in _REGEX_KEYS:
        for pattern in values.get(name, ()):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise check.fail(name, f"bad regular expression {pattern!r}: {exc}") from None
    for domain in values.get("allowed_domains", ()):
        if "/" in domain or ":" in domain:
            raise check.fail("allowed_domains", f"'{domain}' must be a host name without scheme or port")
    for selector in values.get("drop_selectors", ()):
        try:
            from cssselect import GenericTranslator, SelectorError

            GenericTranslator().css_to_xpath(selector)
        except SelectorError as exc:
            raise check.fail("drop_selectors", f"bad CSS selector {selector!r}: {exc}") from None
    if "schedule" in values:
        _check_cron(values["schedule"], check)
    if "timezone" in values:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise check.fail("timezone", f"unknown time zone '{values['timezone']}'") from None
    for name, kind, minimum in (("max_pages", int, 1), ("concurrency", int, 1), ("min_chars", int, 0), ("time_limit", int, 1),
                                ("revisit_days", int, 0),
                                ("download_delay", (int, float), 0)):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
                raise check.fail(name, f"must be a number >= {minimum}")
            values[name] = value
    if "download_delay" in values:
        values["download_delay"] = float(values["download_delay"])
    if "fallback_extractors" in raw:
        if not isinstance(raw["fallback_extractors"], bool):
            raise check.fail("fallback_extractors", "must be true or false")
        values["fallback_extractors"] = raw["fallback_extractors"]
    return Source(**values)


def _check_cron(expression: str, check: _Checker) -> None:
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        raise check.fail("schedule", f"'{expression}' is not a 5-field cron expression (minute hour day month weekday)")
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise check.fail("schedule", f"bad cron expression '{expression}': {exc}") from None


def parse_sources(text: str, file: str) -> dict[str, Source]:
    """Parse and validate the text of one sources file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{file}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"defaults", "sources"})
    if unknown:
        raise SourcesError(f"{file}: unknown top-level table '{unknown[0]}' (expected [defaults] and [sources.KEY])")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SourcesError(f"{file}: [defaults] must be a table")
    bad = sorted(set(defaults) - _KNOWN_KEYS)
    if bad:
        raise SourcesError(f"{file}: [defaults], key '{bad[0]}': unknown key")
    tables = data.get("sources", {})
    if not isinstance(tables, dict):
        raise SourcesError(f"{file}: 'sources' must be a table of [sources.KEY] tables")
    sources: dict[str, Source] = {}
    for key, raw in tables.items():
        if not KEY_RE.match(key):
            raise SourcesError(f"{file}: source '{key}': key must use lowercase letters, digits and underscores")
        if not isinstance(raw, dict):
            raise SourcesError(f"{file}: source '{key}': must be a table [sources.{key}]")
        sources[key] = _validate({**defaults, **raw}, file, key)
    return sources


def load_file(path: str | os.PathLike[str]) -> dict[str, Source]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourcesError(f"{path}: sources file not found") from None
    except UnicodeDecodeError:
        raise SourcesError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_sources(text, str(path))


def default_sources() -> dict[str, Source]:
    text = resources.files("crawler").joinpath("sources.toml").read_text(encoding="utf-8")
    return parse_sources(text, "crawler/sources.toml")


@dataclass
class Registry:
    """The default sources, with an operator's file layered on top (its sources replace
    default sources of the same key whole, so a mirror never inherits a real site's URLs)."""

    sources: dict[str, Source] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def get(self, key: str) -> Source:
        try:
            return self.sources[key]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise UnknownSource(f"unknown source '{key}' (known: {known})") from None

    def select(self, keys: Iterable[str], all_: bool = False) -> list[Source]:
        if all_:
            return list(self.sources.values())
        return [self.get(k) for k in keys]

    def __iter__(self):
        return iter(self.sources.values())

    def __len__(self) -> int:
        return len(self.sources)


def resolve_sources_file(cli_value: str | None) -> str | None:
    return cli_value or os.environ.get(SOURCES_ENV) or None


def load_registry(sources_file: str | None = None, *, include_defaults: bool = True) -> Registry:
    """The registry to use: defaults, then ``sources_file`` (or ``$NEWSARCHIVE_SOURCES``)."""
    sources = default_sources() if include_defaults else {}
    files = ("crawler/sources.toml",) if include_defaults else ()
    extra = resolve_sources_file(sources_file)
    if extra:
        sources.update(load_file(extra))
        files += (extra,)
    return Registry(sources, files)


def dump_sources(sources: Iterable[Source]) -> str:
    """TOML text for ``sources``, loadable by ``parse_sources`` (for mirrors and for editing)."""
    import json

    lines: list[str] = []
    defaults = Source(key="x", name="x", language="xx")
    for source in sources:
        lines.append(f"[sources.{source.key}]")
        for name in ("name", "language") + _LIST_KEYS + ("schedule", "max_pages", "download_delay",
                                                         "concurrency", "timezone", "min_chars", "time_limit",
                                                         "revisit_days", "fallback_extractors"):
            value = getattr(source, name)
            if name not in ("name", "language") and value == getattr(defaults, name):
                continue
            if isinstance(value, tuple):
                value = list(value)
            lines.append(f"{name} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)
