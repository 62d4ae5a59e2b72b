"""Crawl locks and run bookkeeping in the archive, on SQLite and PostgreSQL."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from storage import LockInfo
from storage.repository import now_utc


def acquire(archive, owner: str, ttl: float = 30, **kw):
    with archive.repository() as repo:
        return repo.acquire_lock("src", owner, ttl=ttl, pid=kw.pop("pid", 1), host=kw.pop("host", "h1"), **kw)


def test_second_owner_is_refused_and_told_who_holds_it(archive):
    ok, mine = acquire(archive, "a", pid=111, host="alpha")
    assert ok and mine.owner == "a"
    ok, holder = acquire(archive, "b")
    assert not ok
    assert holder.owner == "a" and holder.pid == 111 and holder.host == "alpha"
    assert "pid 111 on alpha" in holder.describe()


def test_release_frees_the_lock_for_the_next_owner(archive):
    assert acquire(archive, "a")[0]
    with archive.repository() as repo:
        assert not repo.release_lock("src", "b"), "only the owner releases"
        assert repo.release_lock("src", "a")
        assert repo.get_lock("src") is None
    assert acquire(archive, "b")[0]


def test_an_expired_lease_is_taken_over(archive):
    assert acquire(archive, "a", ttl=1)[0]
    assert not acquire(archive, "b")[0]
    time.sleep(1.2)
    ok, now_held = acquire(archive, "b")
    assert ok and now_held.owner == "b"
    with archive.repository() as repo:
        assert not repo.renew_lock("src", "a", ttl=30), "the old owner learns it lost the lock"
        assert repo.get_lock("src").owner == "b"


def test_renewal_keeps_a_live_holder(archive):
    assert acquire(archive, "a", ttl=1)[0]
    for _ in range(3):
        time.sleep(0.4)
        with archive.repository() as repo:
            assert repo.renew_lock("src", "a", ttl=1)
    assert not acquire(archive, "b")[0]


def test_a_dead_holder_is_replaced_at_once(archive):
    assert acquire(archive, "a", pid=4242, host="here")[0]
    seen: list[LockInfo] = []

    def dead(info: LockInfo) -> bool:
        seen.append(info)
        return info.pid == 4242

    ok, lock = acquire(archive, "b", is_dead=dead)
    assert ok and lock.owner == "b"
    assert seen and seen[0].owner == "a"


def test_runs_of_a_dead_process_read_as_interrupted_and_are_reaped(archive):
    with archive.repository() as repo:
        live = repo.start_run("src", "manual", pid=1)
        orphan = repo.start_run("other", "schedule", pid=2)
    assert acquire(archive, "a")[0]
    with archive.repository() as repo:
        assert repo.renew_lock("src", "a", ttl=30, run_id=live)
    with archive.repository(readonly=True) as repo:
        status = {r.id: r.status for r in repo.list_runs()}
        assert status == {live: "running", orphan: "interrupted"}
        assert repo.get_run(orphan).status == "interrupted"
        assert repo.last_runs()["other"].status == "interrupted"
    with archive.repository() as repo:
        assert repo.reap_runs() == [orphan]
        assert [r.id for r in repo.running_runs()] == [live]
        assert "ended without closing" in repo.get_run(orphan).error_messages[0]


def test_end_run_records_the_reason_and_counts_once(archive):
    with archive.repository() as repo:
        run = repo.start_run("src", "schedule", pid=77)
        assert [r.id for r in repo.running_runs(pid=77)] == [run]
        assert repo.end_run(run, "failed", "time limit", counts={"articles_new": 3, "pages_fetched": 9},
                            error_messages=["HTTP 500 for x"])
        assert not repo.end_run(run, "interrupted", "again"), "an ended run is not ended twice"
        out = repo.get_run(run)
    assert out.status == "failed" and out.articles_new == 3 and out.pages_fetched == 9
    assert out.error_messages[:2] == ["time limit", "HTTP 500 for x"]
    assert out.finished_at is not None and out.finished_at - now_utc() < timedelta(seconds=5)
    with pytest.raises(ValueError):
        with archive.repository() as repo:
            repo.end_run(run, "running", "no")
