"""Storage test fixtures: direct database access and registered sources."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from storage_factories import SOURCES

from storage import Archive, normalize_db_url


@pytest.fixture
def raw(db_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, bypassing storage.db (to inspect or tamper)."""
    engine = sa.create_engine(normalize_db_url(db_url), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def sources(archive: Archive) -> Archive:
    """The archive with the three test sources registered."""
    with archive.repository() as repo:
        for source in SOURCES:
            repo.upsert_source(source)
    return archive
