"""Imported by the extraction fork server before it forks any worker: one small page
through the extractor, so that the lazy imports, compiled patterns and caches of a first
extraction (about 0.2 s measured) are paid once, while the crawl process is still
starting, and every worker inherits them instead of paying them on its first page."""

from __future__ import annotations

import logging
import os

import courlan
from trafilatura import external

from newswatch.pipeline.extract import extract_page

_PARAGRAPH = (
    "<p>The district council met on Tuesday evening to discuss the repair of the old "
    "river bridge, which has been closed to lorries since the spring floods. Engineers "
    "told members that the work would take about four months and that a temporary "
    "crossing could open within six weeks if the contract is signed this month.</p>")

SAMPLE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>Council agrees bridge repairs | Valley Courier</title>"
    '<meta name="author" content="A. Reporter">'
    '<meta property="article:published_time" content="2026-03-02T18:30:00Z">'
    '<link rel="canonical" href="https://courier.example/news/bridge-repairs/"></head>'
    '<body><nav><a href="/">Home</a> <a href="/news/">News</a></nav><article>'
    "<h1>Council agrees bridge repairs</h1>" + _PARAGRAPH * 4 +
    "</article><footer>Valley Courier</footer></body></html>").encode()


def warm_up() -> None:
    extract_page("https://courier.example/news/bridge-repairs/", SAMPLE, "utf-8")
    # the two first-use costs a clean sample page does not reach (measured on the
    # corpus's first page: 0.16 s and 0.08 s): the stop words of every language, read
    # when trafilatura falls back to jusText on a page of unknown language, and the
    # public suffix list behind site names
    if callable(getattr(external, "jt_stoplist_init", None)):
        external.jt_stoplist_init()
    courlan.extract_domain("https://www.example.co.uk/news/")


def quiet_stderr() -> None:
    """The fork server's standard error (and so its workers') goes nowhere unless the
    command runs with -v: a worker still starting when a short crawl ends finds the crawl
    process's files gone and prints a traceback, which is not news for the person who
    ran the crawl. A worker that dies is reported by the pool all the same."""
    if os.environ.get(QUIET) == "1":
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 2)
        os.close(fd)


QUIET = "NEWSWATCH_QUIET_WORKERS"
quiet_stderr()
try:
    warm_up()
except Exception:  # the fork server ignores only ImportError: never let a warm-up
    # failure stop extraction, which works the same without it
    logging.getLogger(__name__).warning("extraction warm-up failed", exc_info=True)
