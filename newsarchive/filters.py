"""Search filters as researchers type them (CLI options, web form fields), checked against the archive."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone

from storage.errors import BadQuery, NotFound
from storage.records import SearchFilters
from storage.repository import Repository

logger = logging.getLogger(__name__)


class BadFilter(BadQuery):
    """A filter value that cannot be used (a malformed date, an empty range)."""


def parse_date(text: str, *, end: bool = False, what: str = "date") -> datetime:
    """A timezone-aware datetime from ``2024-05-01`` or an ISO 8601 datetime (no offset: UTC).

    A bare date means the start of that day (UTC), or with ``end=True`` the start of the next
    day, so that ``until 2024-05-31`` includes the 31st.
    """
    value = text.strip()
    try:
        if len(value) <= 10:  # a date: YYYY-MM-DD (or another ISO 8601 date form)
            day = date.fromisoformat(value)
            start = datetime.combine(day, time(), tzinfo=timezone.utc)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{what} {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 datetime "
                        "such as 2024-05-01T08:00:00+02:00") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def build_filters(
    repo: Repository,
    sources: Iterable[str] = (),
    language: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> SearchFilters:
    """SearchFilters from user input; unknown sources and bad dates raise a one-line error."""
    keys = tuple(dict.fromkeys(s.strip() for s in sources if s and s.strip()))
    if keys:
        known = set(repo.source_keys())
        unknown = [k for k in keys if k not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none yet"
            raise NotFound(f"unknown source {unknown[0]!r}: the archive holds {listed}")
    start = parse_date(since, what="since") if since else None
    stop = parse_date(until, end=True, what="until") if until else None
    if start is not None and stop is not None and start >= stop:
        raise BadFilter(f"since ({since}) is not before until ({until}): nothing can match")
    return SearchFilters(sources=keys, language=(language or "").strip() or None, since=start, until=stop)
