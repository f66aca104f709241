"""Each class of failed fetch gets its own short cause (spiders/failures.py), decided by
the failure's type, whatever Scrapy or Twisted wrapped it in. The end-to-end side (a real
server in each state, the words in every command) is in tests/scenarios/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from OpenSSL import SSL
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from service_identity import VerificationError
from twisted.internet import error as tx
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from newswatch.spiders.failures import (
    RobotsDisallowed,
    fetch_cause,
    http_status,
    not_a_feed,
    summary,
    unreadable_sitemap,
)
from newswatch.spiders.safety import ForbiddenAddress, NonPublicAddress
from newswatch.spiders.tls import TlsPolicy

URL = "https://news.example.org/feed.xml"


def raised(exc: BaseException, cause: BaseException | None = None) -> Failure:
    """A Failure of `exc` raised from `cause`, as Scrapy's download handler makes it."""
    try:
        try:
            if cause is not None:
                raise cause
        except BaseException as inner:
            raise exc from inner
        raise exc
    except BaseException:
        return Failure()


def wrapped(inner: BaseException) -> Failure:
    """Twisted's 'no response' wrapper around `inner`, as Scrapy passes it on."""
    never = ResponseNeverReceived([raised(inner)])
    return raised(DownloadFailedError(str(never)), never)


def test_connection_refused() -> None:
    failure = raised(DownloadConnectionRefusedError("111"), tx.ConnectionRefusedError())
    assert fetch_cause(failure, Request(URL)) == "connection refused"


def test_unknown_host() -> None:
    failure = raised(CannotResolveHostError("x"), tx.DNSLookupError("nx.invalid"))
    assert fetch_cause(failure, Request(URL)) == "unknown host (DNS lookup failed)"


def test_a_name_resolving_to_a_private_address_is_not_an_unknown_host() -> None:
    failure = raised(CannotResolveHostError("x"), NonPublicAddress("intra.example", "10.0.0.1"))
    assert fetch_cause(failure, Request(URL)) == \
        "refused: intra.example resolves to the non-public address 10.0.0.1"
    assert fetch_cause(raised(ForbiddenAddress("10.0.0.1", "http://10.0.0.1/"))) == \
        "refused non-public address 10.0.0.1 (allow_private is off)"


def test_timeout_says_the_source_timeout() -> None:
    failure = raised(DownloadTimeoutError("Getting x took longer than 0.7 seconds"))
    request = Request(URL, meta={"download_timeout": 0.7})  # cut to the poll's time left
    assert fetch_cause(failure, request, timeout=timedelta(seconds=30)) == \
        "timed out after 30 s"
    assert fetch_cause(failure, request) == "timed out after 0.7 s"
    # cut to what was left of the poll's time: the time limit, not the timeout
    assert fetch_cause(failure, request, timedelta(seconds=30), time_limit=timedelta(
        minutes=2)) == "time limit (2m) reached"


def test_http_status_with_its_phrase() -> None:
    response = Response(URL, status=404, request=Request(URL))
    assert fetch_cause(raised(HttpError(response, "Ignoring non-200"))) == \
        "HTTP 404 Not Found"
    assert http_status(503) == "HTTP 503 Service Unavailable"
    assert http_status(599) == "HTTP 599"


def test_robots() -> None:
    failure = raised(RobotsDisallowed("Forbidden by robots.txt"))
    assert fetch_cause(failure, Request(URL)) == "disallowed by robots.txt"


def test_too_large_says_the_limit() -> None:
    failure = raised(DownloadCancelledError(""))
    request = Request(URL, meta={"download_maxsize": 5 * 1024 * 1024})
    assert fetch_cause(failure, request) == "larger than 5 MiB"
    assert fetch_cause(failure, request, max_size=10_000) == "larger than 10 kB"
    assert fetch_cause(failure, request, max_size=1536) == "larger than 1.5 KiB"


def test_tls_certificate_for_another_host() -> None:
    assert fetch_cause(wrapped(VerificationError(errors=[])), Request(URL)) == \
        "TLS certificate for another host"


def test_tls_reason_noted_during_the_handshake() -> None:
    bad = SSL.Error([("SSL routines", "", "certificate verify failed")])
    policy = TlsPolicy()
    policy.refused[("news.example.org", 443)] = "certificate expired"
    assert fetch_cause(wrapped(bad), Request(URL), tls=policy) == "TLS certificate expired"
    assert fetch_cause(wrapped(bad), Request(URL), tls=TlsPolicy()) == "TLS handshake failed"


def test_a_lost_connection() -> None:
    failure = wrapped(tx.ConnectionLost())
    assert fetch_cause(failure, Request(URL)) == \
        "the server closed the connection without a full answer"


def test_anything_else_is_one_line_with_its_type() -> None:
    said = fetch_cause(raised(ValueError("odd\n  thing")), Request(URL))
    assert said == "ValueError: odd thing"
    assert fetch_cause(raised(IgnoreRequest("offsite"))) == "offsite"


@pytest.mark.parametrize(("body", "ctype", "expected"), [
    (b"", "application/rss+xml", "an empty answer where a feed should be"),
    (b"  \n", "text/xml", "an empty answer where a feed should be"),
    (b"<html><body><h1>Moved</h1></body></html>", "text/html", "HTML where a feed should be"),
    (b"<!DOCTYPE html><html></html>", "application/xml", "HTML where a feed should be"),
    (b"<stuff/>", "application/xml", "not an RSS or Atom feed (no feed found)"),
])
def test_not_a_feed(body: bytes, ctype: str, expected: str) -> None:
    response = TextResponse(URL, body=body, headers={"Content-Type": ctype}, encoding="utf-8")
    assert not_a_feed(response, "no feed found") == expected


def test_unreadable_sitemap() -> None:
    page = HtmlResponse(URL, body=b"<html><p>hi</p></html>", headers={
        "Content-Type": "text/html"})
    assert unreadable_sitemap(page, "x") == \
        "unreadable sitemap (HTML where a sitemap should be)"
    junk = TextResponse(URL, body=b"<urlset", encoding="utf-8")
    assert unreadable_sitemap(junk, "not a sitemap: bad XML") == "unreadable sitemap (bad XML)"
    other = TextResponse(URL, body=b"<error>down</error>", encoding="utf-8")
    assert unreadable_sitemap(other, "not a sitemap (root element 'error')") == \
        "unreadable sitemap (root element 'error')"
    text = TextResponse(URL, body=b"Service unavailable", encoding="utf-8")
    assert unreadable_sitemap(text, "x") == "unreadable sitemap (not XML)"


def test_summary_names_the_first_two_and_counts_the_rest() -> None:
    assert summary([]) is None
    one = [("feed", "http://a/f.xml", "connection refused")]
    assert summary(one) == "feed http://a/f.xml: connection refused"
    four = [("feed", f"http://a/{i}.xml", "HTTP 404 Not Found") for i in range(3)]
    four.append(("site", "http://a/", "connection refused"))
    assert summary(four) == ("feed http://a/0.xml: HTTP 404 Not Found; feed http://a/1.xml: "
                             "HTTP 404 Not Found; and 2 more")
    # in the order of the config, whichever failed first
    late = [("sitemap", "http://a/s.xml", "HTTP 500 Internal Server Error"),
            ("feed", "http://a/f.xml", "connection refused")]
    assert summary(late, ["http://a/f.xml", "http://a/s.xml"]) == \
        "feed http://a/f.xml: connection refused; sitemap http://a/s.xml: HTTP 500 " \
        "Internal Server Error"
    assert summary([("site", "http://a/", "connection refused")]) == \
        "homepage http://a/: connection refused"
