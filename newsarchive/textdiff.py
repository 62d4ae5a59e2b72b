"""Readable word-level diffs of two versions of an article (difflib on word tokens).

``word_diff(old, new)`` gives ``… context [-removed words-]{+added words+} context …`` with a
few words of context around each change; ``segments(old, new)`` gives the same as data, so
the web page can escape and style it; ``colour=True`` adds ANSI colours for a terminal.
"""
from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

CONTEXT_WORDS = 8
ELLIPSIS = "…"
_TOKEN = re.compile(r"\n+|[^\s]+")
RED, GREEN, DIM, RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[0m"

Kind = Literal["equal", "delete", "insert", "skip"]


@dataclass(frozen=True)
class Segment:
    kind: Kind  # "skip" stands for unchanged words left out (shown as …)
    text: str


def tokens(text: str) -> list[str]:
    """Words (with their punctuation) and paragraph breaks ("\\n")."""
    return ["\n" if t.startswith("\n") else t for t in _TOKEN.findall(text)]


def _join(words: list[str]) -> str:
    out = ""
    for word in words:
        if word == "\n":
            out = out.rstrip(" ") + "\n"
        else:
            out += word if (not out or out.endswith("\n")) else " " + word
    return out


def segments(old: str, new: str, context: int = CONTEXT_WORDS) -> list[Segment]:
    """The changes from ``old`` to ``new`` with ``context`` unchanged words around each;
    an empty list when the texts have the same words."""
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    ops = matcher.get_opcodes()
    if all(tag == "equal" for tag, *_ in ops):
        return []
    out: list[Segment] = []
    last = len(ops) - 1
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            same = a[i1:i2]
            keep_head = 0 if n == 0 else context
            keep_tail = 0 if n == last else context
            if len(same) <= keep_head + keep_tail or (n in (0, last) and len(same) <= context):
                out.append(Segment("equal", _join(same)))
                continue
            if keep_head:
                out.append(Segment("equal", _join(same[:keep_head])))
            out.append(Segment("skip", ELLIPSIS))
            if keep_tail:
                out.append(Segment("equal", _join(same[-keep_tail:])))
            continue
        if tag in ("delete", "replace"):
            out.append(Segment("delete", _join(a[i1:i2])))
        if tag in ("insert", "replace"):
            out.append(Segment("insert", _join(b[j1:j2])))
    return out


def word_diff(old: str, new: str, context: int = CONTEXT_WORDS, colour: bool = False) -> str:
    """``[-old words-]{+new words+}`` with context, "" when nothing changed."""
    parts: list[str] = []
    glued: list[bool] = []  # a replacement's insertion follows its deletion without a space
    previous = ""
    for seg in segments(old, new, context):
        glued.append(seg.kind == "insert" and previous == "delete")
        previous = seg.kind
        if seg.kind == "delete":
            parts.append(f"{RED}[-{seg.text}-]{RESET}" if colour else f"[-{seg.text}-]")
        elif seg.kind == "insert":
            parts.append(f"{GREEN}{{+{seg.text}+}}{RESET}" if colour else f"{{+{seg.text}+}}")
        elif seg.kind == "skip":
            parts.append(f"{DIM}{seg.text}{RESET}" if colour else seg.text)
        else:
            parts.append(seg.text)
    text = ""
    for part, glue in zip(parts, glued):
        text += part if (glue or not text or text.endswith("\n") or part.startswith("\n")) else " " + part
    return text


def stats(old: str, new: str) -> tuple[int, int]:
    """(words removed, words added) between two texts."""
    a, b = tokens(old), tokens(new)
    removed = added = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            removed += sum(1 for t in a[i1:i2] if t != "\n")
        if tag in ("insert", "replace"):
            added += sum(1 for t in b[j1:j2] if t != "\n")
    return removed, added
