"""Why a fetch failed, in a few words a person understands: decided from the types of
the Twisted/Scrapy failure (and the exceptions it wraps) or from the response, and the
words a poll's run gives for its failed feeds, sitemaps and pages (SPEC §14)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from http import HTTPStatus

from OpenSSL import SSL
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from service_identity import VerificationError
from twisted.internet import error as tx
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from newswatch.config.units import format_duration, format_size
from newswatch.spiders.safety import ForbiddenAddress, NonPublicAddress
from newswatch.spiders.tls import TlsPolicy, netloc

log = logging.getLogger(__name__)

# how a listing endpoint is named in a run's message
KIND_WORDS = {"feed": "feed", "sitemap": "sitemap", "page": "page", "site": "homepage"}
SHOWN = 2  # causes named in a run's message; the rest are counted


class RobotsDisallowed(IgnoreRequest):
    """robots.txt forbids the request (raised by spiders.politeness)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it was raised from, and what a Twisted wrapper holds."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, ResponseNeverReceived | ResponseFailed):
            todo += [r.value for r in e.reasons
                     if isinstance(r, Failure) and r.value is not None]
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                todo.append(nxt)


def http_status(status: int) -> str:
    """`HTTP 404 Not Found`."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def size(n: int) -> str:
    """A size in the unit it was most likely given in: 5 MiB, 10 kB, 1.5 KiB."""
    for unit, factor in (("GiB", 1024**3), ("GB", 1000**3), ("MiB", 1024**2),
                         ("MB", 1000**2), ("KiB", 1024), ("kB", 1000)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return format_size(n)


def seconds(timeout: float | timedelta) -> str:
    """`30 s`, `1.5 s`, `2m`."""
    td = timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout)
    text = format_duration(td)
    return text[:-1] + " s" if text.endswith("s") else text


def fetch_cause(failure: Failure | BaseException, request: Request | None = None,
                timeout: float | timedelta | None = None, max_size: int | None = None,
                time_limit: timedelta | None = None, tls: TlsPolicy | None = None) -> str:
    """Why the fetch of `request` failed. `timeout` and `max_size` are the source's
    (else the request's own); `time_limit` the poll's, which cuts a request's timeout
    to what is left of it."""
    exc = failure.value if isinstance(failure, Failure) else failure
    if exc is None:
        return "failed"
    if request is None:
        request = getattr(failure, "request", None)
    meta = request.meta if request is not None else {}
    chain = list(_chain(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if isinstance(exc, HttpError):
        return http_status(exc.response.status)
    if has(RobotsDisallowed):
        return "disallowed by robots.txt"
    for e in chain:
        if isinstance(e, ForbiddenAddress | NonPublicAddress):
            return e.reason
    if has(DownloadConnectionRefusedError, tx.ConnectionRefusedError):
        return "connection refused"
    if has(CannotResolveHostError, tx.DNSLookupError):
        return "unknown host (DNS lookup failed)"
    if has(DownloadTimeoutError, tx.TimeoutError):
        given = meta.get("download_timeout")
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if time_limit is not None and timeout and given and given < timeout:
            return f"time limit ({format_duration(time_limit)}) reached"
        limit = timeout or given
        return f"timed out after {seconds(limit)}" if limit else "timed out"
    if has(VerificationError):
        return "TLS certificate for another host"
    if has(SSL.Error):
        why = (tls.why_refused(*netloc(request.url))
               if request is not None and tls is not None else None)
        return f"TLS {why}" if why else "TLS handshake failed"
    if has(DownloadCancelledError):
        # a download is cancelled by Scrapy when it outgrows its size limit (its
        # time limit is a timeout, above)
        limit = max_size if max_size is not None else meta.get("download_maxsize")
        return f"larger than {size(limit)}" if limit else "download cancelled"
    if has(ResponseDataLossError):
        return "the answer was cut short (fewer bytes than announced)"
    if has(tx.ConnectionLost, tx.ConnectionDone, ResponseFailed, ResponseNeverReceived):
        return "the server closed the connection without a full answer"
    if has(tx.NoRouteError):
        return "no route to host"
    if isinstance(exc, IgnoreRequest):
        return " ".join(str(exc).split())[:200] or "not fetched"
    said = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _looks_html(response: Response) -> bool:
    ctype = (response.headers.get(b"Content-Type") or b"").lower()
    head = response.body[:512].lstrip().lower()
    return (ctype.startswith((b"text/html", b"application/xhtml"))
            or head.startswith((b"<!doctype html", b"<html")))


def not_a_feed(response: Response, detail: str) -> str:
    """Why a feed's answer gave no feed."""
    if not response.body.strip():
        return "an empty answer where a feed should be"
    if _looks_html(response):
        return "HTML where a feed should be"
    return f"not an RSS or Atom feed ({detail[:120]})"


def unreadable_sitemap(response: Response, detail: str) -> str:
    """Why a sitemap's answer gave no sitemap (`detail`: spiders.links' words)."""
    body = response.body.strip()
    if not body:
        return "unreadable sitemap (an empty answer)"
    if _looks_html(response):
        return "unreadable sitemap (HTML where a sitemap should be)"
    if not body.startswith(b"<"):
        return "unreadable sitemap (not XML)"
    detail = detail.removeprefix("not a sitemap nor a feed").removeprefix("not a sitemap")
    return f"unreadable sitemap ({detail.strip(':() ')[:120] or 'not a sitemap'})"


def summary(failures: Sequence[tuple[str, str, str]], order: Sequence[str] = ()
            ) -> str | None:
    """A run's message from its failed listing endpoints (kind, url, cause): the first
    ones in the order of `order` (the source's URLs in its config; others, e.g. feeds a
    homepage named, after them as they failed), and how many more."""
    if not failures:
        return None
    place = {url: i for i, url in enumerate(order)}
    failures = sorted(failures, key=lambda f: place.get(f[1], len(place)))
    said = [f"{KIND_WORDS.get(kind, kind)} {url}: {cause}"
            for kind, url, cause in failures[:SHOWN]]
    rest = len(failures) - SHOWN
    return "; ".join(said) + (f"; and {rest} more" if rest > 0 else "")
