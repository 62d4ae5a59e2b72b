"""py3langid's model from the uncompressed cache: the same answers as py3langid's own load,
and never an error when the cache is missing, foreign or damaged."""
from __future__ import annotations

from pathlib import Path

import pytest
from py3langid import langid

from crawler.extraction import langid_model
from tests.helpers import DEMO_SITE

TEXTS = list(langid_model._PROBES) + [
    "Die Handelsbeziehungen zwischen Russland und Frankreich", "Le Courrier de Russie, économie", "Сибирь",
    "Bonjour", "1234 5678", "",
]


@pytest.fixture
def fresh_identifier(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("NEWSARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(langid, "IDENTIFIER", None)
    yield tmp_path / "cache"


def _reference():
    return langid.LanguageIdentifier.from_model_file(langid.MODEL_DIR / langid.MODEL_FILE)


def test_the_cached_model_answers_as_py3langid_own(fresh_identifier: Path) -> None:
    assert langid_model.load() is True
    (folder,) = fresh_identifier.iterdir()
    assert (folder / "verified").exists()
    reference = _reference()
    demo = [p.read_text(encoding="utf-8")[:2000] for p in sorted(DEMO_SITE.rglob("*.html"))[:5]]
    for text in TEXTS + demo:
        assert langid.classify(text) == reference.classify(text), text[:40]
    langid.IDENTIFIER = None
    assert langid_model.load() is True  # read back from the files this time
    assert langid.classify(TEXTS[1]) == reference.classify(TEXTS[1])


def test_a_damaged_cache_falls_back_to_py3langid(fresh_identifier: Path) -> None:
    assert langid_model.load() is True
    (folder,) = fresh_identifier.iterdir()
    (folder / "nextmove.npy").write_bytes(b"not an array")
    langid.IDENTIFIER = None
    assert langid_model.load() is False
    assert langid.IDENTIFIER is None
    assert langid.classify(TEXTS[0])[0] == "fr"  # py3langid loads its own model
    assert not folder.exists()  # removed, to be written again by the next load
    langid.IDENTIFIER = None
    assert langid_model.load() is True and (folder / "verified").exists()


def test_an_unwritable_cache_folder_falls_back(monkeypatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("NEWSARCHIVE_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot exist
    monkeypatch.setattr(langid, "IDENTIFIER", None)
    assert langid_model.load() is False
    assert langid.classify(TEXTS[0])[0] == "fr"
