"""The built-in boilerplate layer every source gets: what trafilatura leaves behind on news pages.

Two kinds of rules:

* ``PRUNE_SELECTORS``: page regions removed before extraction (consent banners,
  captions and photo credits, "read also" boxes) wherever a site marks them up
  with telltale class names;
* line rules: a paragraph of extracted text is dropped when it is a "Lire aussi"
  teaser, a related-articles heading, a cookie or consent prompt, a reuse or
  copyright notice, a paywall prompt, a share or subscribe prompt, an ad label or
  a photo credit, in French, Russian or English. Rules that could match a real
  sentence only apply to short paragraphs.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

try:  # re's parser and its table of letters matched to one another though their lowercase differ
    from re import _constants as _re_constants
    from re import _parser as _re_parser
    from re._casefix import _EXTRA_CASES
except ImportError:  # pragma: no cover - not CPython >= 3.11: every rule's regex runs
    _re_parser = None
    _EXTRA_CASES = {}

PRUNE_SELECTORS: tuple[str, ...] = (
    "figcaption",
    "[class*='caption']",
    "[class*='copyright']",
    "[class*='credit']",
    "[id*='cookie']",
    "[class*='cookie']",
    "[id*='consent']",
    "[class*='consent']",
    "#didomi-host",
    "[class*='didomi']",
    "[class*='gdpr']",
    "[class*='lire-aussi']",
    "[class*='read-also']",
    "[class*='readalso']",
    "[class*='related']",
    "[class*='newsletter']",
    "[class*='share-']",
    "[class*='social']",
    "[class*='subscribe']",
    "[class*='breadcrumb']",
    "[class*='crumbs']",
)


@dataclass(frozen=True)
class LineRule:
    family: str
    pattern: re.Pattern[str]
    max_len: int  # only paragraphs at most this long can match
    # Strings one of which every match contains, lowercased (None: not known); see _needles.
    needles: frozenset[str] | None = field(default=None, compare=False)


def _rule(family: str, max_len: int, *alternatives: str) -> LineRule:
    pattern = re.compile("|".join(alternatives), re.I)
    return LineRule(family, pattern, max_len, _needles(pattern))


def _needles(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which, lowercased character by character, every match of a case-insensitive
    ``pattern`` contains: a run of literal characters each alternative requires, read from re's own
    parse of the pattern (a list kept by hand could drift from the regex). None when the pattern
    has other flags, or a construct or character this does not follow."""
    if _re_parser is None or pattern.flags & ~(re.IGNORECASE | re.UNICODE) or not pattern.flags & re.IGNORECASE:
        return None
    try:
        runs = _required_runs(_re_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # a parse tree this does not expect: no prefilter, the regex decides alone
        return None
    if not runs:
        return None
    needles = frozenset("".join(c.lower() for c in run) for run in runs)  # re compares each one's lowercase
    return needles if sum(map(len, needles)) == sum(map(len, runs)) and len(needles) == len(runs) else None


def _required_runs(sequence) -> frozenset[str] | None:
    """For a parsed regex sequence, runs of literal characters one of which every match contains
    (of those found, the candidate whose shortest run is longest), or None."""
    best: frozenset[str] | None = None

    def consider(candidate: frozenset[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    run = ""
    for op, av in sequence:
        if op is _re_constants.LITERAL:
            run += chr(av)
            continue
        consider(frozenset({run}) if run else None)
        run = ""
        if op is _re_constants.SUBPATTERN and not av[1] and not av[2]:  # a group without inline flags
            consider(_required_runs(av[3]))
        elif op is _re_constants.BRANCH:
            branches = [_required_runs(branch) for branch in av[1]]
            if all(branches):
                consider(frozenset().union(*branches))
        elif op in (_re_constants.MAX_REPEAT, _re_constants.MIN_REPEAT) and av[0] >= 1:
            consider(_required_runs(av[2]))
    consider(frozenset({run}) if run else None)
    return best


LINE_RULES: tuple[LineRule, ...] = (
    _rule(
        "read_also", 300,
        r"^\W*(?:[àa] lire (?:aussi|également|egalement)|lire (?:aussi|également|egalement)|lisez (?:aussi|également)"
        r"|voir aussi|sur le même sujet|dans la même rubrique|à ne pas manquer|a ne pas manquer"
        r"|les plus lus|les plus partagés|articles? similaires|dernières nouvelles de la russie|à la une$"
        r"|read (?:also|more)|see also|related (?:articles|stories)|most read|more on this"
        r"|читайте (?:также|еще|ещё)|смотрите также|см\. также|самое читаемое|по теме:|новости компаний)\b",
    ),
    _rule(
        "cookies", 400,
        r"utilis(?:e|ons) des cookies|accepter (?:les |tous les )?cookies|continuer sans accepter|gérer mes choix"
        r"|nous respectons vos choix|paramétrer les cookies|politique (?:de|relative aux) cookies"
        r"|we use cookies|accept (?:all )?cookies|cookie (?:settings|policy)|this (?:web)?site uses cookies"
        r"|(?:мы )?использу(?:ем|ет) (?:файлы )?cookie|принять (?:файлы )?cookie",
        r"^(?:cliquez ici pour en savoir plus\.?|accepter|j'accepte|tout accepter|ok, j'ai compris|принять|согласен)$",
    ),
    _rule(
        "reuse_notice", 400,
        r"la mention des sources est obligatoire|tous droits réservés|all rights reserved|toute reproduction"
        r"|reproduction (?:interdite|totale ou partielle)|все права защищены|полное или частичное (?:копирование|воспроизведение)"
        r"|(?:ссылка|гиперссылка) на .{0,60}обязательна|^©|^\(c\)\s",
    ),
    _rule(
        "paywall", 400,
        r"pour lire la suite|réservé aux abonnés|cet article est réservé|abonnez-vous pour lire|il vous reste \d+ ?% de cet article"
        r"|déjà abonné|subscribe to (?:read|continue)|this article is for subscribers|for subscribers only"
        r"|чтобы (?:прочитать|читать) (?:статью )?(?:полностью|дальше)|доступно только подписчикам",
    ),
    _rule(
        "share_subscribe", 120,
        r"^\W*(?:partager(?: sur| l'article| cet article)?|partagez|s'abonner|abonnez-vous|inscrivez-vous à (?:notre|la) newsletter"
        r"|recevez (?:notre|la) newsletter|suivez-nous|url courte|share(?: this| on)?|subscribe|follow us|sign up for"
        r"|подписывайтесь|поделиться|подпишитесь|следите за нами)\b",
    ),
    _rule("ad_label", 40, r"^(?:publicité|advertisement|реклама|sponsorisé|sponsored)$"),
    _rule(
        "photo_credit", 120,
        r"^(?:©|photos? ?:|crédits?(?: photo| image)? ?:|фото ?:|источник фото|image ?:|credits? ?:|getty images)",
        r"^[\w.'’ -]{2,60}\s?/\s?(?:sputnik|afp|reuters|ap|tass|тасс|риа новости|ria novosti|legion media|getty images|sipa"
        r"|global look press|shutterstock|epa|коммерсантъ|kommersant|archives?|pixabay|wikimedia commons|wikipedia|russia beyond)\b[^.!?]*$",
    ),
)

# What re matches, case-insensitively, to a letter of some rule's needles though its lowercase is
# another letter (dotless ı to i, long ſ to s): in a line that has one, the needles could miss
# a match, so every regex runs.
_partners = {chr(p) for rule in LINE_RULES for needle in rule.needles or () for c in needle
             for p in _EXTRA_CASES.get(ord(c), ())}
_FOLD_PARTNERS = re.compile(f"[{re.escape(''.join(sorted(_partners)))}]") if _partners else None
_LONGEST_RULE = max(rule.max_len for rule in LINE_RULES)

_DOUBLED = re.compile(r"^(?P<x>\S+(?: \S+)+) (?P=x)$")


def boilerplate_family(paragraph: str) -> str | None:
    """The boilerplate family a paragraph belongs to, or None if it is article text."""
    return line_family(" ".join(paragraph.split()))


def line_family(line: str) -> str | None:
    """``boilerplate_family`` of a paragraph whose whitespace is already normalized.

    Most rules are unanchored case-insensitive alternations, which Python's re tries at every
    position of the line (0.5 ms of CPU a bench page). A rule's regex runs only when the
    lowercased line contains one of its needles, the strings one of which every match contains:
    the same answer for a fraction of the cost."""
    if not line:
        return "empty"
    low: str | None = None
    if len(line) <= _LONGEST_RULE:
        low = line.lower()
        if "\u0130" in line or (_FOLD_PARTNERS is not None and _FOLD_PARTNERS.search(low)):
            low = None  # the needles could miss a match there: every rule's regex runs
    for rule in LINE_RULES:
        if len(line) <= rule.max_len:
            if low is not None and rule.needles is not None and not any(n in low for n in rule.needles):
                continue
            if rule.pattern.search(line):
                return rule.family
    if len(line) <= 160 and _DOUBLED.match(line):
        return "photo_credit"  # a credit printed in two DOM nodes comes out doubled
    return None
