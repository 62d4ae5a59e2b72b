"""Scrapy settings for newsarchive: polite by default; per-source politeness comes from the registry."""
import os

from scrapy.settings import default_settings as _scrapy_defaults

BOT_NAME = "newsarchive"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "newsarchive/0.1 (research news archive; +https://github.com/newsarchive/newsarchive)"

# Politeness: robots.txt, AutoThrottle, a small per-site concurrency.
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 16
# What a response's callback yields is processed by this many asyncio tasks, created for every
# response. An article page yields one item and a few requests: Scrapy's default, 100, spent
# more of the crawl process's time creating and ending idle tasks than on the item itself.
CONCURRENT_ITEMS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024

# Retries on timeouts and 5xx, with exponential backoff (crawler.middlewares.BackoffRetryMiddleware).
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
NEWSARCHIVE_RETRY_BACKOFF = 2.0  # seconds before the first retry, doubled for each next one
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.incremental.ConditionalRequestMiddleware": 580,  # If-None-Match / If-Modified-Since, 304s
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.HeadMetaRefreshMiddleware": 580,  # Scrapy's, without decoding every page
    # No source needs HTTP authentication; each middleware is a call on every request
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    "crawler.middlewares.CanonicalRequestMiddleware": 540,
    # Left out, being work on every request and response for nothing here: request depth (no
    # source limits it; nothing reads it), and a developer's warning about copied meta keys.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

ITEM_PIPELINES = {
    "crawler.pipelines.SnapshotPipeline": 100,
    "crawler.pipelines.ExtractPipeline": 300,
    "crawler.pipelines.StorePipeline": 800,
}
EXTENSIONS = {
    "crawler.incremental.IncrementalExtension": 50,  # before CrawlRunRecorder: saves validators before it closes
    "crawler.extensions.CrawlRunRecorder": 100,
}
# Scrapy's remote control is an HTTP server on localhost that runs Python code sent to it (its token
# in a job file in the home folder). Unused here, like the telnet console below. Left out of the
# base extensions rather than set to None in EXTENSIONS: Scrapy imports every class named there,
# disabled or not, and this one imports aiohttp (~0.1 s of every crawl's start-up).
EXTENSIONS_BASE = {path: order for path, order in _scrapy_defaults.EXTENSIONS_BASE.items()
                   if path != "scrapy.extensions.remote_control.RemoteControl"}
REMOTE_CONTROL_ENABLED = False

# The archive (see storage.db.resolve_db_url): --db, else $NEWSARCHIVE_DB, else sqlite:///newsarchive.db.
NEWSARCHIVE_DB = os.environ.get("NEWSARCHIVE_DB")
NEWSARCHIVE_SOURCES = os.environ.get("NEWSARCHIVE_SOURCES")
NEWSARCHIVE_TRIGGER = "manual"  # or "schedule": recorded in crawl_runs
NEWSARCHIVE_BATCH_SIZE = 50  # articles per write transaction
NEWSARCHIVE_BATCH_SECONDS = 5.0  # ... or this long, whichever comes first
# store batches in another process: the archive process of `newsarchive crawl`, else one of their
# own (crawler.writer); False: a thread of the crawl process
NEWSARCHIVE_WRITER_PROCESS = True
NEWSARCHIVE_EXTRACT_WORKERS = None  # extraction processes; None = one per core, 0 = in the crawl process
# One crawl per source at a time, across processes (crawler.locking): a run reads
# "running" only while its lock is held.
NEWSARCHIVE_LOCK_TTL = float(os.environ.get("NEWSARCHIVE_LOCK_TTL", 60))  # seconds a dead holder blocks others
NEWSARCHIVE_LOCK_WAIT = 0.0  # seconds to wait for a source being crawled elsewhere, then skip it
# seconds allowed for a graceful stop (SIGTERM, time limit) before the crawl is stopped by force
NEWSARCHIVE_STOP_GRACE = float(os.environ.get("NEWSARCHIVE_STOP_GRACE", 60))
NEWSARCHIVE_LOG_FILE = None  # set by `newsarchive crawl --log-file`; recorded in the run's stats
NEWSARCHIVE_FULL = False  # True (`newsarchive crawl --full`): refetch every page, no conditional requests
NEWSARCHIVE_KEEP_SNAPSHOTS = True  # store the raw HTML of every fetched article page

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
TELNETCONSOLE_ENABLED = False
# A developer lint that reads and parses the source of every spider callback at its first call (~40 ms
# per crawl); the spider is ours and tested.
WARN_ON_GENERATOR_RETURN_VALUE = False
DEFAULT_DROPITEM_LOG_LEVEL = "INFO"  # a skipped page (too short, off-topic) is routine, not a warning
