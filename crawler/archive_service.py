"""The crawl's archive in a process of its own, so that the crawl process never imports SQLAlchemy.

A crawl command spends most of its start-up importing: Scrapy and Twisted (~0.3 s) and SQLAlchemy,
its ORM and the Repository (~0.37 s), one after the other in one process. A routine re-crawl of an
unchanged site is little else. ``newsarchive crawl`` therefore starts this process first thing
(``serve_crawls``): it imports the storage layer and opens the archive on the other core
while the crawl process imports Scrapy, and then answers the crawl's archive calls (the lock and
its heartbeat, the run record, the HTTP validators, the archive lookups) over a socket pair, each
call a transaction of its own. It also stores the crawl's batches of articles, on a connection of
their own and in a thread of its own (``batch_writer``), where a separate writer process used to
import SQLAlchemy a second time (~50 MB of the crawl's memory).

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
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
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

    def __init__(self, proc: subprocess.Popen, conn: Connection, batches: socket.socket):
        self.proc = proc
        self.conn = conn
        self._batches = batches  # the connection the batches of articles go over (batch_writer)
        self._batch_writer: "RemoteBatchWriter | None" = None
        self._lock = threading.Lock()  # the reactor, the lock's heartbeat and a forced stop share it
        self._url: str | None = None
        self._error: StorageError | None = None

    @classmethod
    def start(cls, db: str | None) -> "ArchiveService":
        """Start the process and return at once; it resolves ``db`` (None: $NEWSARCHIVE_DB or the
        default) and opens the archive while the caller goes on."""
        ours, theirs = socket.socketpair()
        batches, their_batches = socket.socketpair()
        fds = (theirs.fileno(), their_batches.fileno())
        if _fork_is_safe():
            import multiprocessing

            process = multiprocessing.get_context("fork").Process(
                target=_serve_forked, args=(*fds, ours.fileno(), batches.fileno()), name="newsarchive-archive",
                daemon=True)
            process.start()
            proc: Any = _ForkedProcess(process)
        else:
            proc = subprocess.Popen([sys.executable, "-m", "crawler.archive_service", *map(str, fds)],
                                    pass_fds=fds, stdin=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        theirs.close()
        their_batches.close()
        service = cls(proc, Connection(ours.detach()), batches)
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

    def batch_writer(self) -> "RemoteBatchWriter":
        """The writer of this process's batches of articles (one, shared by its crawls)."""
        self.ready()
        if self._batch_writer is None:
            self._batch_writer = RemoteBatchWriter(self, self._batches)
        return self._batch_writer

    def close(self) -> None:
        """Stop the service once the batches sent are stored (the crawls have waited for theirs)."""
        global _current
        if _current is self:
            _current = None
        try:
            if self._batch_writer is not None:
                self._batch_writer.close()  # the last batches are stored before the service stops
            self._batches.close()
            self.conn.close()  # the service sees the end of its input and exits
        finally:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class RemoteBatchWriter:
    """Batches of snapshots and articles stored by the archive process, in order, each in one
    transaction (``crawler.writer.store``, as the writer process does): ``submit`` returns a
    future of (the archive process's pid, the articles' StoreResults), like the writer process's
    executor. A thread sends the batches (a send waits while the archive process is still storing
    the one before, and must not hold up the reactor), another reads the outcomes. If the archive
    process dies, every batch not yet stored fails with a StorageError (its transaction is rolled
    back whole); the crawl, which cannot reach its archive any more, then fails."""

    def __init__(self, service: ArchiveService, sock: socket.socket):
        self._service = service
        self._sock = sock
        self._conn = Connection(os.dup(sock.fileno()))
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sent: deque[Future] = deque()  # futures of the batches sent, oldest first
        self._lock = threading.Lock()
        self._gone: StorageError | None = None
        self._sender = threading.Thread(target=self._send_batches, name="archive-batches-out", daemon=True)
        self._receiver = threading.Thread(target=self._receive_outcomes, name="archive-batches-in", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit(self, snapshots: list, articles: list) -> Future:
        future: Future = Future()
        self._outbox.put((future, snapshots, articles))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing to stop: the service's crawls share this writer, and the service closes it."""

    def close(self) -> None:
        """Send what is queued, then end the batches' input: the archive process stores the last
        ones, answers, and ends its side."""
        self._outbox.put(None)
        self._sender.join()
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._receiver.join(timeout=60)
        self._conn.close()

    def _send_batches(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            future, snapshots, articles = item
            del item
            with self._lock:
                gone = self._gone
                if gone is None:
                    self._sent.append(future)
            if gone is not None:
                future.set_exception(gone)
                continue
            try:
                self._conn.send((snapshots, articles))
            except OSError as exc:
                self._fail(StorageError(f"the archive process is gone ({exc})"))
            del future, snapshots, articles  # the batch's pages are freed once sent

    def _receive_outcomes(self) -> None:
        while True:
            try:
                status, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._fail(StorageError(f"the archive process is gone (exit status {self._service.proc.poll()}): "
                                        f"{exc!r}"))
                return
            with self._lock:
                future = self._sent.popleft()
            if status == "ok":
                future.set_result(value)
            else:
                future.set_exception(value)

    def _fail(self, error: StorageError) -> None:
        with self._lock:
            if self._gone is None:
                self._gone = error
            sent, self._sent = list(self._sent), deque()
        for future in sent:
            if not future.done():
                future.set_exception(self._gone)


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

def _serve_forked(fd: int, batches_fd: int, *command_fds: int) -> None:
    """The forked archive process: the command's ends of the socket pairs are closed here, so that
    the service sees its input end when the command closes it or dies."""
    import gc

    for command_fd in command_fds:
        os.close(command_fd)
    gc.enable()  # the crawl command turns it off for its start-up (newsarchive.cli)
    try:
        serve(fd, batches_fd)
    finally:
        sys.stderr.flush()
        # the command's exit handlers are not this process's; and the teardown of SQLAlchemy would
        # only keep the command, which waits for this process, from ending
        os._exit(0)


def serve(fd: int, batches_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the process group: the crawl decides
    conn = Connection(fd)
    batches = Connection(batches_fd)
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
    storing = threading.Thread(target=_store_batches, args=(archive, batches), name="batches", daemon=True)
    storing.start()
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # the crawl process is done (it ended the batches' input first) or gone: a batch
                # being stored is committed or rolled back whole before the process exits
                storing.join(timeout=60)
                return
            _, name, args, kwargs = message
            conn.send(_outcome(f"archive call {name}", lambda: _call(archive, name, args, kwargs)))
    finally:
        archive.dispose()


def _call(archive: Any, name: str, args: tuple, kwargs: dict) -> Any:
    with archive.repository() as repo:
        return getattr(repo, name)(*args, **kwargs)


def _outcome(what: str, work: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", what ``work()`` returns), or ("err", the StorageError it raised, or any other
    exception as a one-line StorageError naming ``what``): sent back, never lost."""
    try:
        return "ok", work()
    except StorageError as exc:
        return "err", exc
    except Exception as exc:  # noqa: BLE001
        logger.exception("%s failed", what)
        return "err", StorageError(f"{what} failed: {type(exc).__name__}: {exc}")


def _store_batches(archive: Any, conn: Connection) -> None:
    """In the archive process: store each batch the crawl sends, one transaction each, in order,
    and answer with (this pid, its StoreResults) or the StorageError it raised."""
    from crawler.heap import trim_heap
    from crawler.writer import store

    pid = os.getpid()
    with conn:  # closed when done: the crawl's reader of the outcomes sees the end
        while True:
            try:
                snapshots, articles = conn.recv()
            except (EOFError, OSError):
                return  # the crawl has no more batches, or is gone
            outcome = _outcome(f"storing a batch of {len(articles)} articles",
                               lambda: (pid, store(archive, snapshots, articles)))
            del snapshots, articles
            try:
                conn.send(outcome)
            except OSError:
                return
            del outcome
            trim_heap()  # what storing the batch allocated (~5 MB) goes back to the system


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]), int(sys.argv[2]))
    finally:
        # Its work is committed and its engine disposed: the interpreter's teardown (unloading
        # SQLAlchemy, ~0.1 s) would only keep the crawl command, which waits for it, from ending.
        sys.stderr.flush()
        os._exit(0)
