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
from dataclasses import dataclass

logger = logging.getLogger(__name__)

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


def _rule(family: str, max_len: int, *alternatives: str) -> LineRule:
    return LineRule(family, re.compile("|".join(alternatives), re.I), max_len)


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

_DOUBLED = re.compile(r"^(?P<x>\S+(?: \S+)+) (?P=x)$")


def boilerplate_family(paragraph: str) -> str | None:
    """The boilerplate family a paragraph belongs to, or None if it is article text."""
    line = " ".join(paragraph.split())
    if not line:
        return "empty"
    for rule in LINE_RULES:
        if len(line) <= rule.max_len and rule.pattern.search(line):
            return rule.family
    if len(line) <= 160 and _DOUBLED.match(line):
        return "photo_credit"  # a credit printed in two DOM nodes comes out doubled
    return None
