"""The source registry: defaults load, bad files are refused with file, source and key named."""
from __future__ import annotations

from pathlib import Path

import pytest

from crawler.sources import SourcesError, UnknownSource, default_sources, load_file, load_registry, parse_sources
from tests.helpers import SITES

GOOD = """
[defaults]
download_delay = 0.5

[sources.mirror]
name = "Mirror"
language = "fr"
feeds = ["http://127.0.0.1:8000/rss"]
article_urls = ['/economie/\\d{5}-']
"""


def test_defaults_load_and_cover_the_required_sites() -> None:
    sources = default_sources()
    for key in ("rbth_fr", "sputnik_fr", "ccifr_fr", "ccifr_ru", "lecourrier", "kommersant", "interfax"):
        assert key in sources
    for source in sources.values():
        assert source.article_urls, f"{source.key} has no article_urls"
    for key in ("kommersant", "interfax", "sputnik_fr"):
        assert sources[key].keywords, f"{key} is a broad outlet and needs a keywords filter"


@pytest.mark.parametrize("key", sorted(default_sources()))
def test_every_default_source_has_an_offline_replica(key: str) -> None:
    site = SITES / key
    assert (site / "_expected.json").exists(), f"no replica of {key} under tests/sites/{key}"
    assert (site / "robots.txt").exists()


def test_defaults_apply_and_operator_file_replaces_sources(tmp_path: Path) -> None:
    path = tmp_path / "my.toml"
    path.write_text(GOOD + '\n[sources.rbth_fr]\nname = "RBTH mirror"\nlanguage = "fr"\n'
                    'start_urls = ["http://127.0.0.1:9/economie"]\n', encoding="utf-8")
    registry = load_registry(str(path))
    assert registry.get("mirror").download_delay == 0.5
    rbth = registry.get("rbth_fr")
    assert rbth.name == "RBTH mirror" and rbth.feeds == () and rbth.start_urls == ("http://127.0.0.1:9/economie",)
    assert "kommersant" in registry.sources  # the defaults stay


def test_env_variable_names_the_sources_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("NEWSARCHIVE_SOURCES", str(path))
    assert load_registry().get("mirror").name == "Mirror"


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(UnknownSource, match="unknown source 'nope'.*rbth_fr"):
        load_registry().get("nope")


@pytest.mark.parametrize("patch, message", [
    ('name = "Mirror"', "source 'mirror', key 'name': missing required key"),
    ('feeds = ["http://127.0.0.1:8000/rss"]', "needs at least one of start_urls, feeds or sitemaps"),
    ("article_urls = ['/economie/\\d{5}-']", None),
])
def test_missing_keys(patch: str, message: str | None) -> None:
    text = GOOD.replace(patch, "")
    if message is None:
        assert parse_sources(text, "f.toml")["mirror"].article_urls == ()
    else:
        with pytest.raises(SourcesError, match=message):
            parse_sources(text, "f.toml")


@pytest.mark.parametrize("extra, message", [
    ("colour = 'blue'", "f.toml: source 'mirror', key 'colour': unknown key"),
    ("follow_urls = ['(unclosed']", "key 'follow_urls': bad regular expression"),
    ("drop_lines = ['[z-a]']", "key 'drop_lines': bad regular expression"),
    ("schedule = '61 * * * *'", "key 'schedule': bad cron expression"),
    ("schedule = '* * *'", "key 'schedule': .* not a 5-field cron expression"),
    ("language = 'french'", "key 'language': 'french' is not an ISO 639-1 code"),
    ("start_urls = ['ftp://example.org/']", "key 'start_urls': 'ftp://example.org/' is not an http"),
    ("allowed_domains = ['127.0.0.1:8000']", "key 'allowed_domains': '127.0.0.1:8000' must be a host name without"),
    ("max_pages = 0", "key 'max_pages': must be a number >= 1"),
    ("concurrency = 'many'", "key 'concurrency': must be a number"),
    ("drop_selectors = ['div[']", "key 'drop_selectors': bad CSS selector"),
    ("timezone = 'Mars/Olympus'", "key 'timezone': unknown time zone"),
    ("fallback_extractors = 'yes'", "key 'fallback_extractors': must be true or false"),
])
def test_bad_values_are_named(extra: str, message: str) -> None:
    if extra.startswith("language"):
        text = GOOD.replace('language = "fr"', extra)
    else:
        text = GOOD.replace('name = "Mirror"', f'name = "Mirror"\n{extra}')
    with pytest.raises(SourcesError, match=message):
        parse_sources(text, "f.toml")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="not valid TOML"):
        parse_sources("[sources.x\nname=", "f.toml")
    with pytest.raises(SourcesError, match="sources file not found"):
        load_file(tmp_path / "missing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SourcesError, match="not a UTF-8 text file"):
        load_file(tmp_path / "bin.toml")
    with pytest.raises(SourcesError, match="key must use lowercase"):
        parse_sources(GOOD.replace("sources.mirror", "sources.Mirror"), "f.toml")
    with pytest.raises(SourcesError, match="unknown top-level table 'source'"):
        parse_sources("[source.x]\nname='x'", "f.toml")


def test_article_patterns_match_decoded_urls_and_rebase() -> None:
    source = default_sources()["rbth_fr"]
    assert source.is_article_url("https://fr.rbth.com/economie/82005-russie-ville-irkoutsk-investissements-francais")
    assert not source.is_article_url("https://fr.rbth.com/economie")
    assert not source.is_article_url("https://fr.rbth.com/tag/irkoutsk")
    mirror = source.rebased("http://127.0.0.1:8123")
    assert all(u.startswith("http://127.0.0.1:8123/") for u in mirror.entry_urls)
    assert mirror.domains == ("127.0.0.1",)


def test_fallback_extractors_is_read_and_written_back() -> None:
    from crawler.sources import dump_sources

    source = parse_sources(GOOD.replace('name = "Mirror"', 'name = "Mirror"\nfallback_extractors = true'), "f.toml")["mirror"]
    assert source.fallback_extractors is True
    assert parse_sources(dump_sources([source]), "g.toml")["mirror"].fallback_extractors is True
    assert parse_sources(GOOD, "f.toml")["mirror"].fallback_extractors is False
