"""Recurring crawls: one APScheduler job per source, each crawl in a process of its own.

- Jobs come from the registry: id ``crawl:<key>``, the source's cron ``schedule`` (UTC),
  ``coalesce=True`` (missed slots run once), ``max_instances=1`` and a real
  ``misfire_grace_time``.
- Each crawl runs as ``newsarchive crawl KEY --trigger schedule`` in a child process: a
  Twisted reactor cannot be restarted, and a crawl that crashes cannot take the scheduler
  down. The child holds the source's crawl lock (crawler.locking), so a manual crawl of the
  same source never overlaps it, and stops itself at the source's ``time_limit``; the
  scheduler kills a child that outlives that by more than the stop grace and records the
  run failed.
- Catch-up: on start, a source whose last run (in ``crawl_runs``, so the state survives any
  restart) is older than its latest scheduled slot is crawled once, not once per slot.
- SIGTERM / SIGINT: no new crawl starts; running children get SIGTERM (they store what is in
  flight and record their runs interrupted), and are killed if still there after the grace.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from crawler.sources import Source
from storage import RunOut, StorageError, open_archive

logger = logging.getLogger(__name__)

UTC = timezone.utc


@dataclass
class SchedulerConfig:
    db_url: str
    sources_file: str | None = None
    log_dir: Path = Path("logs")
    max_parallel: int = 2  # crawls at once (each is a process; extraction uses its own pool)
    misfire_grace: int = 15 * 60  # seconds late a slot may still start (e.g. after a busy period)
    stop_grace: float = 60.0  # seconds a crawl gets to stop gracefully before it is killed
    keep_logs: int = 30  # per-run log files kept per source
    catch_up: bool = True
    extra_args: Sequence[str] = field(default_factory=tuple)  # passed to each `newsarchive crawl`


def job_id(key: str) -> str:
    return f"crawl:{key}"


def trigger_for(source: Source) -> CronTrigger:
    return CronTrigger.from_crontab(source.schedule, timezone=UTC)


def next_run(source: Source, now: datetime | None = None) -> datetime | None:
    now = now or datetime.now(UTC)
    return trigger_for(source).get_next_fire_time(None, now)


def missed(sources: Iterable[Source], last_runs: dict[str, RunOut], now: datetime | None = None) -> list[str]:
    """Keys of the sources with a scheduled slot between their last run's start and ``now``
    (or never crawled): each is due once, however many slots were missed."""
    now = now or datetime.now(UTC)
    due = []
    for source in sources:
        last = last_runs.get(source.key)
        if last is None:
            due.append(source.key)
            continue
        slot = trigger_for(source).get_next_fire_time(None, last.started_at)
        if slot is not None and slot <= now:
            due.append(source.key)
    return due


def build_scheduler(
    sources: Sequence[Source],
    run_job: Callable[[str], None],
    config: SchedulerConfig,
    scheduler: BaseScheduler | None = None,
) -> BaseScheduler:
    """A scheduler with one job per source (not started)."""
    scheduler = scheduler or BlockingScheduler(
        timezone=UTC, executors={"default": ThreadPoolExecutor(max(config.max_parallel, 1))})
    for source in sources:
        scheduler.add_job(
            run_job, trigger_for(source), args=[source.key], id=job_id(source.key), name=f"crawl {source.key}",
            coalesce=True, max_instances=1, misfire_grace_time=config.misfire_grace, replace_existing=True)
    return scheduler


class CrawlLauncher:
    """The job function: runs one source's crawl in a child process and waits for it."""

    def __init__(self, sources: Sequence[Source], config: SchedulerConfig):
        self.sources = {s.key: s for s in sources}
        self.config = config
        self.stopping = threading.Event()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def command(self, key: str, log_file: Path) -> list[str]:
        cmd = [sys.executable, "-m", "newsarchive.cli", "crawl", key, "--trigger", "schedule",
               "--db", self.config.db_url, "--log-file", str(log_file)]
        if self.config.sources_file:
            cmd += ["--sources", self.config.sources_file]
        return cmd + list(self.config.extra_args)

    def __call__(self, key: str) -> None:
        if self.stopping.is_set():
            return
        source = self.sources[key]
        log_file = self._log_file(key)
        logger.info("crawl %s starting (log: %s)", key, log_file)
        with self._lock, open(log_file, "ab") as out:
            if self.stopping.is_set():
                return
            proc = subprocess.Popen(self.command(key, log_file), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self.children[key] = proc
        limit = source.time_limit + 2 * self.config.stop_grace + 30
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            logger.error("crawl %s (pid %s) outlived its time limit of %s s: stopping it", key, proc.pid,
                         source.time_limit)
            rc = self._stop(proc)
            self._close_runs(proc.pid, "failed",
                             f"killed by the scheduler: still running {limit} s after start "
                             f"(time_limit {source.time_limit} s)")
        finally:
            with self._lock:
                self.children.pop(key, None)
        if rc not in (0, 1, 75):  # 1: a failed crawl, recorded by the crawl; 75: skipped (locked)
            status = "interrupted" if self.stopping.is_set() else "failed"
            self._close_runs(proc.pid, status, f"the crawl process ended abnormally (exit status {rc})")
        outcome = {0: "finished", 1: "failed (see its run)", 75: "skipped: the source is being crawled elsewhere"}
        logger.info("crawl %s %s (exit status %s)", key, outcome.get(rc, "ended abnormally"), rc)
        self._prune_logs(key)

    def _stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.terminate()
        try:
            return proc.wait(timeout=self.config.stop_grace + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def _close_runs(self, pid: int, status: str, reason: str) -> None:
        try:
            with open_archive(self.config.db_url) as archive, archive.repository() as repo:
                for run in repo.running_runs(pid=pid):
                    repo.end_run(run.id, status, reason)
                    logger.warning("run %s of %s recorded %s: %s", run.id, run.source, status, reason)
        except StorageError as exc:
            logger.error("could not record the end of the crawl of pid %s: %s", pid, exc)

    def stop_all(self) -> None:
        """SIGTERM every running crawl; kill those still running after the grace."""
        self.stopping.set()
        with self._lock:
            children = dict(self.children)
        for key, proc in children.items():
            logger.info("stopping crawl %s (pid %s)", key, proc.pid)
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.config.stop_grace + 10
        for key, proc in children.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.error("crawl %s (pid %s) did not stop in time: killed", key, proc.pid)
                proc.kill()
                proc.wait()
            self._close_runs(proc.pid, "interrupted", "the scheduler was stopped during the crawl")

    def _log_file(self, key: str) -> Path:
        folder = self.config.log_dir / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"

    def _prune_logs(self, key: str) -> None:
        logs = sorted((self.config.log_dir / key).glob("*.log"))
        for old in logs[: max(len(logs) - self.config.keep_logs, 0)]:
            old.unlink(missing_ok=True)


def last_runs(db_url: str) -> dict[str, RunOut]:
    with open_archive(db_url) as archive, archive.repository(readonly=True) as repo:
        return repo.last_runs()


def run_scheduler(sources: Sequence[Source], config: SchedulerConfig,
                  on_ready: Callable[[BaseScheduler, list[str]], None] | None = None) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(config.log_dir / "scheduler.log", maxBytes=5 * 1024 * 1024, backupCount=5,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    for name in ("scheduler", "apscheduler"):
        logging.getLogger(name).setLevel(logging.INFO)

    previous = last_runs(config.db_url)  # also fails fast, in one line, on a bad database
    launcher = CrawlLauncher(sources, config)
    scheduler = build_scheduler(sources, launcher, config)
    due = missed(sources, previous) if config.catch_up else []
    now = datetime.now(UTC)
    for key in due:
        scheduler.modify_job(job_id(key), next_run_time=now)
        logger.info("catch-up: %s missed its last slot (or never ran); crawling it now, once", key)

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("received %s: no new crawls; stopping the running ones", signal.Signals(signum).name)
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": False}, daemon=True).start()
        launcher.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if on_ready:
        on_ready(scheduler, due)
    logger.info("scheduler started: %d sources", len(sources))
    scheduler.start()  # blocks until shutdown
    launcher.stop_all()
    logger.info("scheduler stopped")
