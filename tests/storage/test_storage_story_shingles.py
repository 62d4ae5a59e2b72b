"""Stored shingle hashes (revision 0004): candidates are confirmed from them, and articles indexed
before they existed still cluster (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from pathlib import Path

import sqlalchemy as sa
from storage_factories import art

from storage import Archive, stories

STORIES = Path(__file__).resolve().parents[1] / "fixtures" / "stories"
RELEASE, REPRINT, UNRELATED = (
    (STORIES / name).read_text(encoding="utf-8").strip() for name in ("press_release.txt", "reprint.txt", "unrelated.txt"))


def _hashes(archive: Archive) -> dict[int, bytes]:
    with archive.session(readonly=True) as session:
        return dict(session.execute(sa.text("SELECT article_id, hashes FROM story_shingles")).all())


def test_hash_overlap_equals_the_shingle_overlap() -> None:
    for a, b in [(RELEASE, REPRINT), (RELEASE, UNRELATED), (REPRINT, UNRELATED)]:
        sa_, sb = stories.shingles(a), stories.shingles(b)
        ha, hb = stories.hashes_of(sa_), stories.hashes_of(sb)
        assert stories.hash_overlap(ha, hb) == stories.overlap(sa_, sb)
        assert stories.keys_of(stories.signature_of(ha)) == stories.band_keys(sa_)
        assert stories.from_bytes(stories.to_bytes(ha)).tolist() == ha.tolist()


@pytest.mark.parametrize("text", ["", "un", "un deux trois", "un deux trois quatre", "Сибирь и Франция: ё, é — 2024!"])
def test_text_hashes_are_the_hashes_of_the_text_shingles(text: str) -> None:
    """text_hashes (the fast path the extraction workers take) gives exactly the hashes of the
    shingle set, stored hashes and band keys of earlier archives stay comparable."""
    for t in (text, RELEASE, REPRINT, UNRELATED):
        assert stories.text_hashes(t).tolist() == stories.hashes_of(stories.shingles(t)).tolist()


# The fingerprints of the fixture texts as stored by every archive so far (sha256 prefixes of the
# hashes' bytes and of the band keys' repr): any faster way to compute them must give these.
FINGERPRINTS = {
    "press_release.txt": ("c451acdfca4f814ace3c1c779c215930", 251, "1d9569cc6c59703a3fb6827336c4f19b"),
    "reprint.txt": ("320f2512cac1da306f7fa402c8c4c37b", 187, "292740b7d56ea85f1d675355cf8ddc00"),
    "unrelated.txt": ("83e6580892cb2a42ad02ed7462056353", 196, "530f3310d30d7e1dbb0337fca2511711"),
}


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_fingerprints_never_change(name: str) -> None:
    import hashlib

    found = stories.fingerprint((STORIES / name).read_text(encoding="utf-8").strip())
    assert (hashlib.sha256(found.hashes).hexdigest()[:32], len(found.hashes) // 4,
            hashlib.sha256(repr(found.band_keys).encode()).hexdigest()[:32]) == FINGERPRINTS[name]


@pytest.mark.parametrize("values", [[], [7], [7, 7], [3, 1, 2], [5, 5, 1, 5, 0, 0xFFFFFFFF, 0, 0xFFFFFFFF], "random"])
def test_sorted_distinct_is_np_unique(values) -> None:
    import numpy as np

    if values == "random":
        rng = np.random.default_rng(1)
        values = rng.integers(0, 2**32, 5000, dtype=np.uint64).tolist() + rng.integers(0, 50, 500).tolist()
    digests = np.array(values, dtype="<u4").tobytes()
    got = stories._sorted_distinct(digests)
    want = np.unique(np.frombuffer(digests, dtype="<u4").astype(np.uint32))
    assert got.dtype == want.dtype and got.tolist() == want.tolist() and stories.to_bytes(got) == stories.to_bytes(want)


def _plain_words(text: str) -> list[str]:
    """words() as it was: combining marks dropped from the NFD form, then re's \\w+ runs."""
    import re
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.casefold())
    return re.findall(r"\w+", "".join(c for c in decomposed if not unicodedata.combining(c)))


def test_no_word_character_is_whitespace() -> None:
    """words() splits on whitespace once every non-word character is a space: no character that
    re's \\w matches may be whitespace to str.split()."""
    import re

    word = re.compile(r"\w")
    assert not [c for c in map(chr, range(0x110000)) if c.isspace() and word.match(c)]


def test_words_equal_the_plain_tokenizer() -> None:
    """Every character, 48 at a time (each text replaces them one by one) and all at once (one
    regex pass then), in random texts, and characters that change when case-folded."""
    import random

    rng = random.Random(7)
    everything = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    texts = [RELEASE, REPRINT, UNRELATED, "", " ", "é", "e\u0301", "a\u0301b c_d 3\u00b2 ½ x\u00a0y\u2003z\tq\nr",
             "İstanbul ǅemal ﬁn ß Ǆ ŉ ΐ ſ K Å ℌ ⅷ ① ٣ 𝟘 ᾳ", "".join(everything[:300_000:7])]
    texts += [" ".join(everything[i:i + 48]) + "a" + "".join(everything[i:i + 48]) for i in range(0, len(everything), 48)]
    texts += ["".join(rng.choices(everything, k=60)) for _ in range(300)]
    texts += ["".join(rng.choices(" ,.;'-_aé\u0301\u0308ёй\u00a0\u200b1²", k=200)) for _ in range(300)]
    for text in texts:
        assert stories.words(text) == _plain_words(text), text[:50]


def test_hash_overlaps_is_hash_overlap_for_each_candidate() -> None:
    """The vectorised confirmation gives every candidate exactly its pairwise score, including
    empty hash sets and candidates sharing nothing."""
    import numpy as np

    texts = [RELEASE, REPRINT, UNRELATED, RELEASE[: len(RELEASE) // 2], ""]
    sets = [stories.hashes_of(stories.shingles(t)) for t in texts]
    sets.append(np.array([sets[0][0], sets[0][-1], 4_294_967_295], dtype=np.uint32))  # edges of the range
    # hashes sharing the top 16 bits (one slot of _member's table), 0 and the slot-0 sentinel
    crowded = np.array([0, 1, 5, 0xFFFF, 0x10000, 0x10001, 0x1FFFF, 0xFFFFFFFE, 4_294_967_295], dtype=np.uint32)
    sets += [crowded, crowded[::2], crowded[1::3], np.unique(np.concatenate([sets[0], crowded]))]
    for own in sets:
        assert stories.hash_overlaps(own, sets) == [stories.hash_overlap(own, other) for other in sets]
    assert stories.hash_overlaps(sets[0], []) == []


def test_each_clustered_text_stores_its_hashes_and_a_changed_text_replaces_them(sources: Archive) -> None:
    with sources.repository() as repo:
        [one, short] = repo.store_articles([art("a", RELEASE), art("b", "Trop court.")])
    stored = _hashes(sources)
    assert set(stored) == {one.article_id}  # too short to cluster: nothing stored
    assert stories.from_bytes(stored[one.article_id]).tolist() == stories.hashes_of(stories.shingles(RELEASE)).tolist()
    with sources.repository() as repo:
        repo.store_articles([art("a", UNRELATED)])
    assert stories.from_bytes(_hashes(sources)[one.article_id]).tolist() == \
        stories.hashes_of(stories.shingles(UNRELATED)).tolist()


def test_an_article_indexed_before_stored_hashes_still_clusters_and_gets_them(sources: Archive) -> None:
    with sources.repository() as repo:
        [orig] = repo.store_articles([art("release", RELEASE)])
    with sources.engine.begin() as conn:  # as an archive indexed under revision 0003 holds it
        conn.execute(sa.text("DELETE FROM story_shingles"))
    with sources.repository() as repo:
        [copy] = repo.store_articles([art("reprint", REPRINT, source="ft")])
        clusters = repo.cluster_ids([orig.article_id, copy.article_id])
    assert clusters == {orig.article_id: orig.article_id, copy.article_id: orig.article_id}
    assert set(_hashes(sources)) == {orig.article_id, copy.article_id}


def test_a_fingerprint_computed_by_the_caller_is_used_as_given(sources: Archive) -> None:
    """ArticleIn.story lets another process (e.g. an extraction worker) shingle the text."""
    given = stories.fingerprint(UNRELATED)  # deliberately not the text's: proves it is not recomputed
    assert given.band_keys and stories.fingerprint(RELEASE) != given
    with sources.repository() as repo:
        [orig] = repo.store_articles([art("a", RELEASE)])
        [copy] = repo.store_articles([art("b", REPRINT, source="ft", story=stories.fingerprint(REPRINT))])
        [odd] = repo.store_articles([art("c", RELEASE, source="rbc", story=given)])
        clusters = repo.cluster_ids([orig.article_id, copy.article_id, odd.article_id])
    assert clusters == {orig.article_id: orig.article_id, copy.article_id: orig.article_id}
    assert _hashes(sources)[odd.article_id] == given.hashes


def test_candidates_are_capped_keeping_those_sharing_most_bands_then_the_newest(sources: Archive, monkeypatch) -> None:
    """Counted and ranked in SQL (SQLite and PostgreSQL): most shared bands first, ties to the
    newest article, never the article itself; under the cap, every article sharing a band."""
    import numpy as np

    monkeypatch.setattr(stories, "MAX_CANDIDATES", 3)
    bands = {"c5": (3,), "c10": (1,), "c11": (1, 2), "c12": (1,), "c13": (1,), "own": (1, 2, 3), "two": (2, 3)}
    ids: dict[str, int] = {}
    for n, (name, keys) in enumerate(bands.items()):  # unrelated hashes: nothing is linked
        hashes = stories.to_bytes(np.arange(n * 100, n * 100 + 30, dtype=np.uint32))
        with sources.repository() as repo:
            [res] = repo.store_articles([art(name, f"Texte {name}.", story=stories.Fingerprint(hashes, keys))])
        ids[name] = res.article_id
    with sources.repository() as repo:
        found = repo._candidates([ids["own"], ids["two"], ids["c5"]])
    assert found[ids["own"]] == {ids["c11"], ids["c13"], ids["two"]}  # c11 and two share 2 bands, c13 is newest
    assert found[ids["two"]] == {ids["own"], ids["c11"], ids["c5"]}  # under the cap: all, never itself
    assert found[ids["c5"]] == {ids["own"], ids["two"]}
