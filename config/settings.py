"""Scrapy settings for newswatch (scrapy.cfg points here). One engine crawls every
source: per-source options from the YAML config travel with each poll's requests
(spiders.politeness gives each host its source's limits), not in these settings."""

import warnings

from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.settings import default_settings as _scrapy_defaults

BOT_NAME = "newswatch"
SPIDER_LOADER_CLASS = "newswatch.spiders.loader.ConfigSpiderLoader"
NEWSWATCH_CONFIG = None  # None: $NEWSWATCH_CONFIG, else config/newswatch.yaml
NEWSWATCH_DRY_RUN = False

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# the guard must be the resolver on every supported Scrapy: newer ones renamed the
# setting and warn about the old name
if hasattr(_scrapy_defaults, "TWISTED_DNS_RESOLVER"):
    TWISTED_DNS_RESOLVER = "newswatch.spiders.safety.GuardedResolver"
else:  # Scrapy < 2.19
    DNS_RESOLVER = "newswatch.spiders.safety.GuardedResolver"

# politeness: per host (a slot per host, given its source's concurrency and delay by
# spiders.politeness); the global figures bound the whole engine, many hosts at once
ROBOTSTXT_OBEY = True
ROBOTSTXT_USER_AGENT = None  # each request's own: its source's user agent
ROBOTSTXT_CACHE_SECONDS = 3600
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 128
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0  # AutoThrottle's floor; each host's own floor is its source's delay
# many hosts at once: the scheduler hands out requests of the hosts with free slots
# first, so one big sitemap does not hold up every other source's feed
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
RETRY_TIMES = 1
# Scrapy starts this many asyncio workers for the output of every response, though an
# article page yields one item: 100 (the default) cost more reactor time per page than
# the download itself. Items of different pages are still processed side by side.
CONCURRENT_ITEMS = 4
# Scrapy reads and parses the source of a generator callback to warn about `return
# value` in it, and its cache is keyed by the bound method, which each request makes
# anew: measured, a few hundred source parses a crawl. Our callbacks return nothing.
WARN_ON_GENERATOR_RETURN_VALUE = False

# safety: small, fast, few redirects, no remote consoles. Scrapy >= 2.19 starts an HTTP
# server that runs Python code sent to it (RemoteControl) unless told not to.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
REDIRECT_MAX_TIMES = 20  # the most a source may allow; each request carries its own
METAREFRESH_ENABLED = False
# certificates are checked, per host as its sources ask (crawl.verify_tls); Scrapy's own
# factory checks none. Scrapy 2.19 calls the setting deprecated (DOWNLOAD_VERIFY_-
# CERTIFICATES is one switch for every host), a warning said at every start otherwise.
DOWNLOADER_CLIENTCONTEXTFACTORY = "newswatch.spiders.tls.SourceContextFactory"
warnings.filterwarnings("ignore", message="The 'DOWNLOADER_CLIENTCONTEXTFACTORY' setting is "
                        "deprecated", category=ScrapyDeprecationWarning)

# Components a news crawl does not use: enabled, they cost reactor time on every
# request; only disabled (None), Scrapy still imports them at every start (the remote-
# control server imports aiohttp, 0.1 s; the cookie middleware 60 ms). So they are left
# out of Scrapy's base lists, which keep whatever a newer Scrapy adds. Byte counts
# (DownloaderStats) are not recorded. (The Referer middleware stays: without it the
# redirect middleware warns at every start.)
_UNUSED = {
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.memdebug.MemoryDebugger",
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.downloadermiddlewares.stats.DownloaderStats",
    "scrapy.spidermiddlewares.depth.DepthMiddleware",
}
# replaced by subclasses that know each host's source (spiders/politeness.py)
_REPLACED = {
    "scrapy.extensions.throttle.AutoThrottle": "newswatch.spiders.politeness.PoliteThrottle",
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware":
        "newswatch.spiders.politeness.ExpiringRobotsTxtMiddleware",
}
EXTENSIONS_BASE = {_REPLACED.get(k, k): v for k, v in _scrapy_defaults.EXTENSIONS_BASE.items()
                   if k not in _UNUSED}
DOWNLOADER_MIDDLEWARES_BASE = {_REPLACED.get(k, k): v for k, v in
                               _scrapy_defaults.DOWNLOADER_MIDDLEWARES_BASE.items()
                               if k not in _UNUSED}
SPIDER_MIDDLEWARES_BASE = {k: v for k, v in _scrapy_defaults.SPIDER_MIDDLEWARES_BASE.items()
                           if k not in _UNUSED}
SPIDER_MIDDLEWARES = {
    "newswatch.spiders.known.KnownLinksMiddleware": 600,
}
DOWNLOADER_MIDDLEWARES = {
    "newswatch.spiders.politeness.PoliteSlotsMiddleware": 30,
    "newswatch.spiders.safety.AddressGuardMiddleware": 40,
    "newswatch.spiders.known.KnownArticlesMiddleware": 60,
    "newswatch.spiders.known.ConditionalRequestsMiddleware": 70,
    # after RetryMiddleware (550), so it sees a 429/503 first and stops its retry
    "newswatch.spiders.asked.SiteAsksMiddleware": 560,
}
ITEM_PIPELINES = {
    "newswatch.pipeline.clean.CleanPipeline": 100,
    "newswatch.pipeline.dedupe.DedupePipeline": 200,
    "newswatch.pipeline.match.MatchPipeline": 300,
    "newswatch.pipeline.store.StorePipeline": 400,
}
EXTENSIONS = {
    "newswatch.spiders.board.PollBoard": 500,
}

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
STATS_DUMP = False
