"""Near-duplicate detection for story clusters: word shingles, MinHash, LSH band
keys for candidate lookup in SQL, and the exact similarity that confirms a candidate.

No SQL here: storage/links.py stores the band keys and the clusters.

How two texts are compared
- A text becomes the set of its overlapping 4-word shingles, after case and accents are
  folded and punctuation dropped (so typography, whitespace and case never matter).
- Candidates: a 120-permutation MinHash (numpy) split into 40 bands of 3 rows; two texts sharing
  any band are candidates. A pair with Jaccard 0.5 shares a band with probability 0.995,
  one with Jaccard 0.3 with 0.67, unrelated texts (Jaccard < 0.05) with < 0.5 %.
- Confirmation: the exact overlap coefficient |A ∩ B| / min(|A|, |B|) of the shingle sets.
  A reprint with another title, another lead or a trimmed ending keeps most of its
  shingles inside the original, so it scores high even when Jaccard is moderate.
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

SHINGLE_WORDS = 4
NUM_PERM = 120
BAND_ROWS = 3
BANDS = NUM_PERM // BAND_ROWS
SEED = 20261127  # fixed forever: stored band keys depend on it
PRIME = 4294967311  # the smallest prime above 2**32
MIN_SHINGLES = 20  # texts shorter than this (in shingles) are not clustered: too little evidence
LINK_THRESHOLD = 0.6  # overlap coefficient from which two texts are one story
# At most this many candidates are confirmed per text: those sharing the most bands, then the
# newest. Only bites on archives where many unrelated texts share a band (template-made texts
# like the bench site's: Jaccard ~0.15 between unrelated articles, so each new one shares a
# band with ~4 % of the archive); it keeps the cost per article bounded there. A near-duplicate
# (overlap >= 0.6) usually shares several bands, so it ranks first.
MAX_CANDIDATES = 50

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    r"""Lowercase, accent-free word tokens of ``text`` (ё → е, é → e): the runs of ``\w`` once
    the combining marks are removed from its NFD form.

    Among the text's few distinct characters, each combining mark is removed and each other
    character that is not ``\w`` replaced by a space, each by a C-level str.replace (measured:
    20x faster than a char-by-char join, 25x faster than str.translate); str.split() then gives
    the runs of ``\w`` (no ``\w`` character is whitespace), 0.18 instead of 0.29 ms for a
    bench text, where _WORD.findall alone took 0.15 ms."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    replacements, todo = _REPLACEMENTS, []
    for char in set(decomposed):
        replacement = replacements.get(char, _UNKNOWN)
        if replacement is _UNKNOWN:
            replacement = _replacement(char)
        if replacement is not None:
            todo.append((char, replacement))
    if len(todo) > MAX_REPLACEMENTS:  # a pass over the text each: one regex pass is cheaper then
        return _WORD.findall("".join(c for c in decomposed if not unicodedata.combining(c)))
    for char, replacement in todo:
        decomposed = decomposed.replace(char, replacement)
    return decomposed.split()


MAX_REPLACEMENTS = 100  # a news text has 20-40 (punctuation, accents)


def _replacement(char: str) -> str | None:
    r"""What ``words`` replaces ``char`` by: "" for a combining mark, a space for another character
    that is not ``\w``, None for a ``\w`` character and the space itself (kept)."""
    if len(_REPLACEMENTS) >= 100_000:  # distinct characters met; never reached by real text
        _REPLACEMENTS.clear()
    if unicodedata.combining(char):
        replacement: str | None = ""
    elif char == " " or _WORD.fullmatch(char):
        replacement = None
    else:
        replacement = " "
    _REPLACEMENTS[char] = replacement
    return replacement


_REPLACEMENTS: dict[str, str | None] = {}
_UNKNOWN = object()


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    tokens = words(text)
    if len(tokens) < size:
        return frozenset([" ".join(tokens)]) if tokens else frozenset()
    return frozenset(" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """|A ∩ B| / min(|A|, |B|): 1.0 when one text's shingles all appear in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def similarity(text_a: str, text_b: str) -> float:
    return overlap(shingles(text_a), shingles(text_b))


def clusterable(sh: frozenset[str]) -> bool:
    return len(sh) >= MIN_SHINGLES


def _h32(data: bytes, person: bytes = b"") -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=4, person=person).digest(), "little")


@lru_cache(maxsize=1)
def _permutations():  # type: ignore[no-untyped-def]
    """NUM_PERM affine hash functions h -> (a*h + b) mod PRIME, derived from SEED (no RNG state
    that a numpy upgrade could change)."""
    import numpy as np

    seed = SEED.to_bytes(8, "little")
    a = np.array([_h32(seed + i.to_bytes(4, "little"), b"perm-a") | 1 for i in range(NUM_PERM)], dtype=np.uint64)
    b = np.array([_h32(seed + i.to_bytes(4, "little"), b"perm-b") for i in range(NUM_PERM)], dtype=np.uint64)
    return a[:, None], b[:, None]


def signature(sh: Iterable[str]) -> Any:
    """The MinHash signature (NUM_PERM uint64 values) of a shingle set.

    Hand-written (numpy) rather than datasketch.MinHash: importing datasketch imports scipy
    (≈1 s and 35 MB in every crawl process) for the ten lines used here.
    """
    import numpy as np

    a, b = _permutations()
    hashes = np.fromiter((_h32(s.encode("utf-8")) for s in sh), dtype=np.uint64)
    if hashes.size == 0:
        return np.full(NUM_PERM, PRIME, dtype=np.uint64)
    # a, h < 2**32 and b < 2**32: a*h + b < 2**64, no overflow in uint64
    return ((a * hashes[None, :] + b) % np.uint64(PRIME)).min(axis=1)


def band_keys(sh: Iterable[str]) -> list[int]:
    """The LSH band keys (signed 64-bit, for a BIGINT column) of a shingle set."""
    return keys_of(signature(sh))


def keys_of(values: Any) -> list[int]:
    """The LSH band keys of a MinHash signature."""
    data = values.astype("<u8").tobytes()  # once, sliced per band (0.042 -> 0.028 ms a text)
    step, blake2b = 8 * BAND_ROWS, hashlib.blake2b
    return [int.from_bytes(blake2b(band.to_bytes(2, "big") + data[band * step : (band + 1) * step],
                                   digest_size=8).digest(), "big", signed=True)
            for band in range(BANDS)]


# --- stored shingle hashes ------------------------------------------------------------------
# Each clustered article's shingle set is stored as the sorted, distinct 32-bit hashes of its
# shingles (the same hashes the MinHash uses; ~4 bytes a word). A candidate found by band is
# then confirmed from its stored hashes, without reading and re-shingling its text: the overlap
# of two hash sets equals the overlap of the shingle sets but for 32-bit collisions (for two
# texts of 1,000 shingles, ~2e-4 spurious common hashes expected: the score moves by < 0.001
# with probability > 0.9998). MinHash values of screened candidates alone could not decide:
# template-like texts of unequal length have Jaccard estimates too close to the threshold.


def hashes_of(sh: Iterable[str]) -> Any:
    """The sorted distinct 32-bit hashes (numpy uint32) of a shingle set."""
    return _unique_hashes(s.encode("utf-8") for s in sh)


def text_hashes(text: str) -> Any:
    """``hashes_of(shingles(text))``, without building the set of shingle strings."""
    import numpy as np

    tokens = [t.encode("utf-8") for t in words(text)]
    if len(tokens) < SHINGLE_WORDS:
        return _unique_hashes([b" ".join(tokens)] if tokens else [])
    # one list comprehension over zipped token windows (no slice, no generator per shingle):
    # the same hashes as _unique_hashes of the joined shingles, in two thirds of the time
    join, blake2b = b" ".join, hashlib.blake2b
    windows = zip(*(tokens[i:] for i in range(SHINGLE_WORDS)))
    digests = b"".join([blake2b(join(w), digest_size=4).digest() for w in windows])
    return _sorted_distinct(digests)


def _unique_hashes(shingles_utf8: Iterable[bytes]) -> Any:
    blake2b = hashlib.blake2b  # _h32's hash: the 4-byte digests, read as little-endian uint32
    return _sorted_distinct(b"".join([blake2b(s, digest_size=4).digest() for s in shingles_utf8]))


def _sorted_distinct(digests: bytes) -> Any:
    """``np.unique`` of the 4-byte digests read as little-endian uint32, written out: numpy 2's
    np.unique goes through a hash table before it sorts (0.08 ms for a text's ~900 hashes);
    a sort in place and a mask of the values that differ from their predecessor take 0.01 ms."""
    import numpy as np

    hashes = np.frombuffer(digests, dtype="<u4").astype(np.uint32)
    hashes.sort()
    first = np.empty(hashes.size, dtype=bool)
    first[:1] = True
    np.not_equal(hashes[1:], hashes[:-1], out=first[1:])
    return hashes[first]


def signature_of(hashes: Any) -> Any:
    """The MinHash signature of a set of shingle hashes (what ``signature`` computes)."""
    import numpy as np

    a, b = _permutations()
    if hashes.size == 0:
        return np.full(NUM_PERM, PRIME, dtype=np.uint64)
    # x mod PRIME as x - (x // PRIME) * PRIME: numpy divides by a scalar with libdivide (a
    # multiply and a shift) but computes % with a hardware division per element, 6x slower;
    # in place, the signature costs 0.24 ms instead of 0.39 ms on the bench texts (same values)
    x = a * hashes.astype(np.uint64)  # (NUM_PERM, n): a*h + b < 2**64, no overflow
    x += b
    q = x // np.uint64(PRIME)
    q *= np.uint64(PRIME)
    x -= q
    return x.min(axis=1)


def hash_overlap(a: Any, b: Any) -> float:
    """``overlap`` of two shingle sets, from their sorted distinct hashes."""
    import numpy as np

    if not a.size or not b.size:
        return 0.0
    return int(np.intersect1d(a, b, assume_unique=True).size) / min(a.size, b.size)


def hash_overlaps(a: Any, others: Sequence[Any]) -> list[float]:
    """``hash_overlap(a, b)`` for every b of ``others``, in one vectorised pass: their hashes
    are concatenated, looked up in ``a`` at once (``_member``) and the hits counted per
    candidate. Confirming 50 candidates this way costs one call instead of 50 intersect1d calls."""
    import numpy as np

    if not others:
        return []
    sizes = np.array([o.size for o in others], dtype=np.int64)
    if not a.size or not sizes.sum():
        return [0.0] * len(others)
    hits = np.flatnonzero(_member(a, np.concatenate(others)))
    bounds = np.zeros(len(others) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    # hits per candidate from the hit positions (a cumsum of the 40,000 booleans costs 4x more)
    common = np.diff(np.searchsorted(hits, bounds))
    smaller = np.minimum(sizes, a.size)
    return [float(c) / s if s else 0.0 for c, s in zip(common.tolist(), smaller.tolist())]


_TOP_BITS = 16  # _member's table: one slot per value of a hash's top 16 bits (256 KB)


def _member(a: Any, values: Any) -> Any:
    """Which ``values`` (uint32) are in ``a`` (sorted, distinct uint32), as booleans.

    Hand-written: np.isin sorts ``a`` and ``values`` together (1.2 ms for 40,000 values against
    900) and a binary search per value (np.searchsorted) takes 0.5 ms; the hashes are uniform,
    so a direct-address table on their top bits holds almost every hash of ``a`` in a slot of
    its own and one gather looks all the values up (0.15 ms). The few hashes that share a slot
    with a smaller one (~5 of 900) are looked up by np.isin, which compares them one by one."""
    import numpy as np

    top = a >> _TOP_BITS
    first = np.empty(a.size, dtype=bool)  # the smallest hash of its slot (a is sorted)
    first[0] = True
    np.not_equal(top[1:], top[:-1], out=first[1:])
    table = np.zeros(1 << (32 - _TOP_BITS), dtype=np.uint32)
    table[0] = 0xFFFFFFFF  # an empty slot holds a value whose top bits are not the slot's: 0 but for slot 0
    table[top[first]] = a[first]
    hit = table[(values >> _TOP_BITS).astype(np.intp)] == values
    if not first.all():
        hit |= np.isin(values, a[~first])
    return hit


def to_bytes(hashes: Any) -> bytes:
    return hashes.astype("<u4").tobytes()


def from_bytes(data: bytes) -> Any:
    """The hashes stored as ``data``: a read-only view of it on a little-endian machine (no copy)."""
    import numpy as np

    return np.frombuffer(data, dtype="<u4").astype(np.uint32, copy=False)


@dataclass(frozen=True)
class Fingerprint:
    """What story clustering needs of a text: its shingle hashes (``to_bytes`` of
    ``text_hashes``) and, when it is long enough to cluster, its band keys. Computed by
    ``fingerprint``, possibly in another process (the crawl's extraction workers) and passed
    with the article (``ArticleIn.story``), so that the storing process does not shingle it."""

    hashes: bytes
    band_keys: tuple[int, ...]


def fingerprint(text: str) -> Fingerprint:
    hashes = text_hashes(text)
    keys = tuple(sorted(set(keys_of(signature_of(hashes))))) if hashes.size >= MIN_SHINGLES else ()
    return Fingerprint(to_bytes(hashes), keys)
