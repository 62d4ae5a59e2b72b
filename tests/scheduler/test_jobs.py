"""The scheduler's jobs and catch-up decisions, and the operator commands' errors."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from crawler.sources import Source, default_sources
from scheduler.service import CrawlLauncher, SchedulerConfig, build_scheduler, job_id, missed, next_run
from storage import RunOut
from tests.helpers import one_line_error, run_cli, write_sources

UTC = timezone.utc


def run_at(key: str, started: datetime) -> RunOut:
    return RunOut(id=1, source=key, trigger="schedule", status="finished", started_at=started,
                  finished_at=started, pages_fetched=0, articles_new=0, articles_updated=0, articles_unchanged=0,
                  articles_skipped=0, errors=0, error_messages=[], stats={})


def test_one_job_per_source_with_its_cron_and_safe_options():
    sources = list(default_sources().values())
    config = SchedulerConfig(db_url="sqlite://", misfire_grace=600)
    calls: list[str] = []
    scheduler = build_scheduler(sources, calls.append, config, BackgroundScheduler(timezone=UTC))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {f"crawl:{s.key}" for s in sources}
    for source in sources:
        job = jobs[job_id(source.key)]
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger) == str(CronTrigger.from_crontab(source.schedule, timezone=UTC))
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 600
        assert job.args == (source.key,)
    rbth = default_sources()["rbth_fr"]  # "15 */4 * * *"
    assert next_run(rbth, datetime(2026, 1, 1, 4, 16, tzinfo=UTC)) == datetime(2026, 1, 1, 8, 15, tzinfo=UTC)


def test_catch_up_is_due_once_when_a_slot_was_missed():
    daily = Source(key="daily", name="d", language="fr", start_urls=("http://x.invalid/",), schedule="0 3 * * *")
    hourly = replace(daily, key="hourly", schedule="0 * * * *")
    never = replace(daily, key="never")
    now = datetime(2026, 5, 10, 12, 30, tzinfo=UTC)
    last = {
        "daily": run_at("daily", datetime(2026, 5, 10, 3, 0, 5, tzinfo=UTC)),  # today's slot ran
        "hourly": run_at("hourly", now - timedelta(hours=30)),  # 30 slots missed
    }
    assert missed([daily, hourly, never], last, now) == ["hourly", "never"]
    last["daily"] = run_at("daily", datetime(2026, 5, 9, 3, 0, 5, tzinfo=UTC))  # today's 03:00 missed
    assert missed([daily], last, now) == ["daily"]


def test_each_crawl_is_a_child_process_with_the_schedule_trigger(tmp_path):
    source = default_sources()["rbth_fr"]
    config = SchedulerConfig(db_url="sqlite:///x.db", sources_file="my.toml", log_dir=tmp_path)
    cmd = CrawlLauncher([source], config).command("rbth_fr", tmp_path / "a.log")
    assert cmd[1:5] == ["-m", "newsarchive.cli", "crawl", "rbth_fr"]
    assert cmd[cmd.index("--trigger") + 1] == "schedule"
    assert cmd[cmd.index("--sources") + 1] == "my.toml"
    assert cmd[cmd.index("--log-file") + 1] == str(tmp_path / "a.log")


def test_bad_cron_unknown_source_and_unreachable_database_are_one_line_errors(tmp_path):
    bad = replace(default_sources()["rbth_fr"], schedule="61 * * * *")
    write_sources(tmp_path / "s.toml", bad)
    one_line_error(run_cli("schedule", "--sources", str(tmp_path / "s.toml"), "--db", f"sqlite:///{tmp_path}/a.db"),
             "schedule", "61 * * * *")
    one_line_error(run_cli("schedule", "nosuch", "--db", f"sqlite:///{tmp_path}/a.db"), "nosuch")
    one_line_error(run_cli("schedule", "--db", "postgresql://nobody@127.0.0.1:1/x"), "127.0.0.1")
    one_line_error(run_cli("schedule", "--list", "--db", "postgresql://nobody@127.0.0.1:1/x"), "127.0.0.1")
    one_line_error(run_cli("runs", "--db", "postgresql://nobody@127.0.0.1:1/x"), "127.0.0.1")


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_runs_on_an_empty_archive(tmp_path, fmt):
    result = run_cli("runs", "--db", f"sqlite:///{tmp_path}/a.db", "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert ("[]" if fmt == "json" else "no crawl runs") in result.stdout
