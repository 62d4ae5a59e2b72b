"""The crawl lock: one crawl per source at a time, whatever process or host starts it.

The lock is a lease in the archive database (table ``crawl_locks``, written through the
Repository), so it works the same on SQLite and PostgreSQL and across hosts. The holder
renews it from a heartbeat thread; a holder killed with ``kill -9`` stops renewing, and the
lease expires after ``ttl`` seconds. On the same host a dead holder is recognised at once
(its pid is gone), so a crashed crawl never blocks the next one for long.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from crawler import archive_service
from storage.errors import StorageError
from storage.records import LockInfo

logger = logging.getLogger(__name__)

DEFAULT_TTL = 60.0  # seconds; the heartbeat renews every ttl / 4


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def holder_is_dead(info: LockInfo) -> bool:
    """A holder on this host whose process is gone; holders elsewhere wait for expiry."""
    return info.host == socket.gethostname() and info.pid is not None and not pid_alive(info.pid)


class LockHeld(Exception):
    """The source is being crawled by someone else."""

    def __init__(self, source_key: str, holder: LockInfo):
        super().__init__(f"{source_key} is already being crawled ({holder.describe()}); skipped")
        self.source_key = source_key
        self.holder = holder


class SourceLock:
    """``acquire()`` (optionally waiting), then a heartbeat keeps it until ``release()``."""

    def __init__(self, db_url: str, source_key: str, *, ttl: float = DEFAULT_TTL):
        self.db_url = db_url
        self.source_key = source_key
        self.ttl = max(float(ttl), 1.0)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self.lost = False
        self._run_id: int | None = None
        self._archive: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def archive(self) -> Any:
        """Its own engine (the heartbeat's connection), or the crawl's archive process if there is one."""
        if self._archive is None:
            service = archive_service.current()
            if service is not None:
                self._archive = service.archive()
            else:
                from storage import open_archive

                self._archive = open_archive(self.db_url)
        return self._archive

    def acquire(self, wait: float = 0.0, poll: float = 1.0) -> None:
        """Take the lock or raise LockHeld, after waiting up to ``wait`` seconds for it."""
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            with self.archive.repository() as repo:
                ok, holder = repo.acquire_lock(self.source_key, self.owner, ttl=self.ttl, pid=os.getpid(),
                                               host=socket.gethostname(), is_dead=holder_is_dead)
                if ok:
                    reaped = repo.reap_runs(self.source_key)
            if ok:
                if reaped:
                    logger.warning("runs %s of %s were left running by a dead process: marked interrupted",
                                   reaped, self.source_key)
                self.held = True
                self._start_heartbeat()
                return
            if time.monotonic() >= deadline:
                raise LockHeld(self.source_key, holder)
            time.sleep(min(poll, max(deadline - time.monotonic(), 0.05)))

    def attach_run(self, run_id: int) -> None:
        self._run_id = run_id
        self._renew()

    def _renew(self) -> None:
        try:
            with self.archive.repository() as repo:
                ok = repo.renew_lock(self.source_key, self.owner, ttl=self.ttl, run_id=self._run_id)
        except StorageError as exc:  # a busy or briefly unreachable database: try again next beat
            logger.warning("could not renew the crawl lock of %s: %s", self.source_key, exc)
            return
        if not ok and not self.lost:
            self.lost = True
            logger.error("the crawl lock of %s was lost (expired and taken over?)", self.source_key)

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.ttl / 4):
                self._renew()

        self._thread = threading.Thread(target=beat, name=f"lock-{self.source_key}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.held:
            try:
                with self.archive.repository() as repo:
                    repo.release_lock(self.source_key, self.owner)
            except StorageError as exc:
                logger.warning("could not release the crawl lock of %s (it will expire): %s", self.source_key, exc)
            self.held = False
        if self._archive is not None:
            self._archive.dispose()
            self._archive = None
