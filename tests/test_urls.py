"""URL keys and the address guard."""

from __future__ import annotations

import ipaddress

import pytest

from newswatch.spiders.safety import is_allowed
from newswatch.spiders.urls import clean_url, url_key

VARIANTS = [
    "https://www.dawn.com/news/1900000/crypto-council",
    "http://www.dawn.com/news/1900000/crypto-council",
    "https://dawn.com/news/1900000/crypto-council/",
    "https://WWW.DAWN.COM/news/1900000/crypto-council?utm_source=twitter&utm_medium=social",
    "https://www.dawn.com/news/1900000/crypto-council#comments",
    "https://www.dawn.com/news/1900000/crypto-council?fbclid=abc123",
    "https://www.dawn.com/news/1900000/crypto-council/amp/",
    "https://amp.dawn.com/news/1900000/crypto-council",
    "https://www.dawn.com/amp/news/1900000/crypto-council",
]


@pytest.mark.parametrize("url", VARIANTS)
def test_variants_share_one_key(url: str) -> None:
    assert url_key(url) == "dawn.com/news/1900000/crypto-council"


def test_real_query_parameters_are_kept_and_sorted() -> None:
    assert url_key("https://e.com/story?id=7&page=2") == url_key("https://e.com/story?page=2&id=7")
    assert url_key("https://e.com/story?id=7") != url_key("https://e.com/story?id=8")


def test_clean_url_keeps_scheme_and_port() -> None:
    assert clean_url("http://127.0.0.1:8080/a/?utm_campaign=x#top") == "http://127.0.0.1:8080/a/"


@pytest.mark.parametrize("ip,allow,ok", [
    ("93.184.216.34", False, True),
    ("127.0.0.1", False, False),
    ("10.0.0.1", False, False),
    ("192.168.1.1", False, False),
    ("169.254.169.254", False, False),
    ("::1", False, False),
    ("fe80::1", False, False),
    ("::ffff:127.0.0.1", False, False),
    ("127.0.0.1", True, True),
    ("127.0.0.1", [ipaddress.ip_network("127.0.0.0/8")], True),
    ("169.254.169.254", [ipaddress.ip_network("127.0.0.0/8")], False),
    ("10.0.0.1", [ipaddress.ip_network("127.0.0.0/8")], False),
    ("0.0.0.0", True, False),
])
def test_address_policy(ip: str, allow: bool | list[ipaddress.IPv4Network], ok: bool) -> None:
    assert is_allowed(ipaddress.ip_address(ip), allow) is ok  # type: ignore[arg-type]


def test_the_guard_remembers_each_hosts_verdict() -> None:
    import asyncio
    import time

    from scrapy import Request, Spider
    from scrapy.utils.test import get_crawler

    from newswatch.config.models import CrawlOptions, Source
    from newswatch.spiders.poll import POLL, Poll, PollOrder
    from newswatch.spiders.safety import AddressGuardMiddleware, ForbiddenAddress

    local = [ipaddress.ip_network("127.0.0.0/8")]
    source = Source(name="local", feeds=["http://127.0.0.1:8080/feed.xml"])
    poll = Poll(PollOrder("local"), source, CrawlOptions(allow_private=local),
                deadline=time.monotonic() + 60)
    guard = AddressGuardMiddleware.from_crawler(get_crawler(Spider))

    def req(url: str) -> Request:
        return Request(url, meta={POLL: poll})

    def check(request: Request) -> None:
        # addresses given as such: the guard decides without a lookup
        asyncio.run(guard.process_request(request))

    for _ in range(2):  # the second time the verdict comes from the cache
        check(req("http://127.0.0.1:8080/news/a"))
        check(req("https://93.184.216.34/news/b"))
        with pytest.raises(ForbiddenAddress):
            check(req("http://169.254.169.254/latest/meta-data/"))
    # a request of no poll (robots.txt) has the allowance of the poll that last asked
    # its host, and none for a host no poll asked
    check(Request("http://127.0.0.1:8080/robots.txt"))
    with pytest.raises(ForbiddenAddress):
        check(Request("http://127.0.0.9/robots.txt"))
    key = tuple(local)
    assert guard.verdicts == {("127.0.0.1", key): True, ("93.184.216.34", key): True,
                              ("169.254.169.254", key): False, ("127.0.0.9", False): False}
    assert poll.counts["refused_address"] == 2
