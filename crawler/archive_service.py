"""The crawl's archive in a process of its own, so that the crawl process never imports SQLAlchemy.

A crawl command spends most of its start-up importing: Scrapy and Twisted (~0.3 s) and SQLAlchemy,
its ORM and the Repository (~0.37 s), one after the other in one process. A routine re-crawl of an
unchanged site is little else. ``newsarchive crawl`` therefore starts this process first thing
(``serve_crawls``): it imports the storage layer and opens the archive on the other core
while the crawl process imports Scrapy, and then answers the crawl's archive calls (the lock and
its heartbeat, the run record, the HTTP validators, the archive lookups) over a socket pair, each
call a transaction of its own. The articles are stored by the archive writer process as before.

``ArchiveService.archive()`` stands in for ``storage.Archive`` where the crawl uses one:
``with archive.repository() as repo: repo.start_run(...)`` sends ``start_run``; what it returns,
or the StorageError it raises, comes back. The process exits when the crawl process closes the
socket or dies (kill -9 included). Without a service (``run_crawls`` called from Python, the
demo), the crawl opens the archive itself, as before. Hand-written over a socket pair rather than
a multiprocessing Manager or executor: those start their process from a forkserver that must
first preload, or from a spawned copy of the command.

The process is a fork of the command (multiprocessing's ``fork`` start method), made before the
command has imported Scrapy or SQLAlchemy or started a thread: it begins importing the storage
layer at once, where a fresh interpreter (``python -m crawler.archive_service``) first spent
0.08-0.24 s starting up and importing what the command already had, and the archive process was
what a re-crawl waited for. Where a fork is not safe (another thread running, SQLAlchemy already
imported with connections open, as in a test process; no fork on the platform), it is started as
a fresh interpreter, as before.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from storage.errors import StorageError

logger = logging.getLogger(__name__)

_current: "ArchiveService | None" = None


def current() -> "ArchiveService | None":
    """The service of this process's crawls (``serve_crawls``), if any."""
    return _current


def serve_crawls(db: str | None) -> "ArchiveService":
    """Start the archive process that this process's crawls use (``newsarchive crawl``) until it
    is closed."""
    global _current
    _current = ArchiveService.start(db)
    return _current


class ArchiveService:
    """The client end: started with the raw ``--db`` value, ready once the archive is open."""

    def __init__(self, proc: subprocess.Popen, conn: Connection):
        self.proc = proc
        self.conn = conn
        self._lock = threading.Lock()  # the reactor, the lock's heartbeat and a forced stop share it
        self._url: str | None = None
        self._error: StorageError | None = None

    @classmethod
    def start(cls, db: str | None) -> "ArchiveService":
        """Start the process and return at once; it resolves ``db`` (None: $NEWSARCHIVE_DB or the
        default) and opens the archive while the caller goes on."""
        ours, theirs = socket.socketpair()
        if _fork_is_safe():
            import multiprocessing

            process = multiprocessing.get_context("fork").Process(
                target=_serve_forked, args=(theirs.fileno(), ours.fileno()), name="newsarchive-archive",
                daemon=True)
            process.start()
            proc: Any = _ForkedProcess(process)
        else:
            proc = subprocess.Popen([sys.executable, "-m", "crawler.archive_service", str(theirs.fileno())],
                                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        theirs.close()
        service = cls(proc, Connection(ours.detach()))
        service.conn.send(("open", db))
        return service

    def ready(self) -> str:
        """The archive's URL once it is open; the StorageError that opening it raised, otherwise."""
        if self._url is None and self._error is None:
            status, value = self._receive()
            if status == "ok":
                self._url = value
            else:
                self._error = value
        if self._error is not None:
            raise self._error
        assert self._url is not None
        return self._url

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``Repository.<name>(*args, **kwargs)`` in the service, in a transaction of its own."""
        self.ready()
        with self._lock:
            try:
                self.conn.send(("call", name, args, kwargs))
            except OSError as exc:
                raise StorageError(f"the archive process is gone ({exc})") from None
            status, value = self._receive()
        if status != "ok":
            raise value
        return value

    def _receive(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise StorageError(f"the archive process is gone (exit status {self.proc.poll()}): {exc!r}") from None

    def archive(self) -> "RemoteArchive":
        return RemoteArchive(self)

    def close(self) -> None:
        global _current
        if _current is self:
            _current = None
        try:
            self.conn.close()  # the service sees the end of its input and exits
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class RemoteArchive:
    """What the crawl uses of ``storage.Archive``, served by the archive process."""

    def __init__(self, service: ArchiveService):
        self.service = service

    @contextmanager
    def repository(self, *, readonly: bool = False) -> Iterator["_RemoteRepository"]:
        yield _RemoteRepository(self.service)

    def dispose(self) -> None:  # the service's engine lives as long as the service
        pass


class _RemoteRepository:
    def __init__(self, service: ArchiveService):
        self._service = service

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._service.call(name, *args, **kwargs)


def _fork_is_safe() -> bool:
    """A fork copies this process: safe for the archive process only while nothing but this thread
    runs (a lock held by another thread would stay held in the copy) and no database connection is
    open (the copy would share its socket). ``newsarchive crawl`` starts the service first thing."""
    return (hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1
            and "sqlalchemy" not in sys.modules)


class _ForkedProcess:
    """A forked ``multiprocessing.Process`` with the part of ``subprocess.Popen`` the service uses."""

    def __init__(self, process: Any):
        self._process = process
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("archive process", timeout or 0)
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()


# --- the service process -----------------------------------------------------------------------

def _serve_forked(fd: int, parent_fd: int) -> None:
    """The forked archive process: the command's end of the socket pair is closed here, so that the
    service sees its input end when the command closes it or dies."""
    import gc

    os.close(parent_fd)
    gc.enable()  # the crawl command turns it off for its start-up (newsarchive.cli)
    try:
        serve(fd)
    finally:
        sys.stderr.flush()
        # the command's exit handlers are not this process's; and the teardown of SQLAlchemy would
        # only keep the command, which waits for this process, from ending
        os._exit(0)


def serve(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the process group: the crawl decides
    conn = Connection(fd)
    try:
        _, db = conn.recv()
    except (EOFError, OSError):
        return
    try:
        from storage import open_archive, resolve_db_url

        url = resolve_db_url(db)
        # no memory map: the crawl reads runs, locks, validators and looks up URLs; mapped pages
        # would only add to its memory (storage.db.make_engine)
        archive = open_archive(url, mmap=False)
    except StorageError as exc:
        conn.send(("err", exc))
        return
    conn.send(("ok", url))
    from crawler.heap import trim_heap

    trim_heap()  # what importing and opening freed goes back to the system
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the crawl process is done, or gone
            _, name, args, kwargs = message
            try:
                with archive.repository() as repo:
                    result = ("ok", getattr(repo, name)(*args, **kwargs))
            except StorageError as exc:
                result = ("err", exc)
            except Exception as exc:  # noqa: BLE001 - sent back as one line, never lost
                logger.exception("archive call %s failed", name)
                result = ("err", StorageError(f"archive call {name} failed: {type(exc).__name__}: {exc}"))
            conn.send(result)
    finally:
        archive.dispose()


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    finally:
        # Its work is committed and its engine disposed: the interpreter's teardown (unloading
        # SQLAlchemy, ~0.1 s) would only keep the crawl command, which waits for it, from ending.
        sys.stderr.flush()
        os._exit(0)
