"""One page, fetched the way a source would fetch it (robots.txt, user agent, size and
redirect limits, the address guard), for `newswatch match URL`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure

from newswatch.config.models import Config, Source
from newswatch.spiders.base import header_charset
from newswatch.spiders.failures import fetch_cause
from newswatch.spiders.loader import crawl_settings
from newswatch.spiders.tls import tls_policy
from newswatch.spiders.urls import registered_domain


def source_for(config: Config, url: str) -> Source | None:
    """The configured source whose domains hold `url`, if any."""
    host = registered_domain(url)
    for src in config.sources:
        if any(registered_domain(u) == host for u in src.start_urls()):
            return src
    return None


class PageSpider(Spider):
    """One page. Its subclass carries the page's crawl settings (Scrapy reads them off
    the class); what it fetches and where the result goes are the instance's own, given
    as the crawl's arguments (page_spider)."""

    name = "page"

    def __init__(self, url: str, result: dict[str, Any], verify_tls: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.url = url
        self.result = result
        self.verify_tls = verify_tls

    async def start(self) -> AsyncIterator[Request]:
        tls_policy(self.crawler.settings).register([self.url], self.verify_tls)
        yield Request(self.url, callback=self.got, errback=self.failed, dont_filter=True)

    def got(self, response: Response) -> None:
        self.result.update(url=response.url, body=response.body,
                           charset=header_charset(response), status=response.status)

    def failed(self, failure: Failure) -> None:
        self.result["error"] = fetch_cause(failure, tls=tls_policy(self.crawler.settings))


def page_spider(config: Config, url: str, result: dict[str, Any]
                ) -> tuple[type[PageSpider], dict[str, Any]]:
    """The spider class for this page's source and the arguments its crawl takes."""
    source = source_for(config, url)
    options = source.crawl(config.crawl) if source else config.crawl
    attrs = {"allow_private": options.allow_private,
             "custom_settings": crawl_settings(options),
             "source_name": source.name if source else None, "__module__": __name__}
    return (type("OnePage", (PageSpider,), attrs),
            {"url": url, "result": result, "verify_tls": options.verify_tls})
