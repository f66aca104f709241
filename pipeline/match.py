"""Match: run every watch over each new article (after dedupe, so a page already stored
is never matched again) and hand the matches to the store, which writes them in the
article's own transaction. Switched off (NotConfigured) when the config has no watches."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from config.models import Config
from rules.matcher import Document, Matcher
from spiders.items import ArticlePage

log = logging.getLogger(__name__)


def matcher_for(config: Config) -> Matcher:
    return Matcher([(w.name, w.query) for w in config.watches], config.terms)


class MatchPipeline:
    # every source's crawler in a process shares one compiled matcher per config
    _compiled: ClassVar[dict[int, tuple[Config, Matcher]]] = {}

    def __init__(self, crawler: Crawler):
        config: Config = crawler.spidercls.config  # type: ignore[attr-defined]
        if not config.watches:
            raise NotConfigured("no watches in the config")
        cached = self._compiled.get(id(config))
        if cached is None or cached[0] is not config:
            cached = self._compiled[id(config)] = (config, matcher_for(config))
        self.matcher = cached[1]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        ex = item.extracted or {}
        if not ex.get("text"):
            return item  # no article: nothing a watch should fire on (menus, captions)
        title = ex.get("title") or item.feed_title
        doc = Document.of(title=title, text=ex["text"], url=item.url, source=item.source)
        item.matches = self.matcher.match(doc)
        return item
