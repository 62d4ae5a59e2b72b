"""An article's history as people read it: its versions, the diff between two, its story siblings.

Used by ``newsarchive show --versions / --diff`` and by the web article page.
"""
from __future__ import annotations

import logging
from typing import Any

from newsarchive.textdiff import segments, stats, word_diff
from storage.errors import NotFound
from storage.records import VersionOut

logger = logging.getLogger(__name__)


def pick_pair(versions: list[VersionOut], pair: tuple[int, ...] = ()) -> tuple[VersionOut, VersionOut]:
    """Versions A and B (numbers), or by default the two latest; NotFound for a missing one."""
    by_number = {v.version: v for v in versions}
    if not pair:
        if len(versions) < 2:
            raise NotFound(f"the article has {len(versions)} version: nothing to compare")
        return versions[-2], versions[-1]
    if len(pair) != 2:
        raise NotFound("give two version numbers to compare (--diff A B), or none for the two latest")
    missing = [n for n in pair if n not in by_number]
    if missing:
        have = ", ".join(str(v.version) for v in versions)
        raise NotFound(f"no version {missing[0]} of this article (it has {have})")
    return by_number[pair[0]], by_number[pair[1]]


def version_rows(versions: list[VersionOut]) -> list[dict[str, Any]]:
    """One row per version: number, when first seen, extractor, words removed/added vs the previous."""
    rows = []
    previous: VersionOut | None = None
    for v in versions:
        removed, added = stats(previous.text, v.text) if previous is not None else (0, len(v.text.split()))
        rows.append({"version": v.version, "seen_at": v.seen_at.isoformat(), "extractor_version": v.extractor_version,
                     "title": v.title, "content_hash": v.content_hash, "words_removed": removed, "words_added": added})
        previous = v
    return rows


def diff_text(old: VersionOut, new: VersionOut, colour: bool = False) -> str:
    head = f"version {old.version} ({old.seen_at:%Y-%m-%d %H:%M}) → version {new.version} ({new.seen_at:%Y-%m-%d %H:%M})"
    parts = [head]
    if old.title != new.title:
        parts.append(f"title: {word_diff(old.title, new.title, colour=colour)}")
    body = word_diff(old.text, new.text, colour=colour)
    parts.append(body or "(same text)")
    return "\n".join(parts)


def web_history(repo: Any, article: Any) -> dict[str, Any]:
    """Template context for the web article page: versions, the latest diff (segments, escaped
    by the template), the story siblings."""
    versions = repo.article_versions(article.id)
    diff = None
    if len(versions) >= 2:
        old, new = versions[-2], versions[-1]
        diff = {"old": old.version, "new": new.version, "segments": segments(old.text, new.text),
                "title_segments": segments(old.title, new.title) if old.title != new.title else []}
    return {"versions": version_rows(versions), "diff": diff, "siblings": repo.siblings(article.id)}
