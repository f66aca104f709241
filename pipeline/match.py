"""Match: run every watch over each new article (after dedupe, so a page already stored
is never matched again) and hand the matches to the store, which writes them in the
article's own transaction. Switched off (NotConfigured) when the config has no watches."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from newswatch.config.models import Config
from newswatch.rules.matcher import Document, Matcher
from newswatch.spiders.items import ArticlePage
from newswatch.spiders.runtime import runtime

log = logging.getLogger(__name__)


def matcher_for(config: Config) -> Matcher:
    return Matcher([(w.name, w.query) for w in config.watches], config.terms)


class MatchPipeline:
    """Compiles the watches once, and again when the runtime's config is replaced."""

    def __init__(self, crawler: Crawler):
        self.rt = runtime(crawler)
        if not self.rt.config.watches and not self.rt.reloadable:
            raise NotConfigured("no watches in the config")
        self._compiled: tuple[Config, Matcher] | None = None

    @property
    def matcher(self) -> Matcher:
        config = self.rt.config
        if self._compiled is None or self._compiled[0] is not config:
            self._compiled = (config, matcher_for(config))
        return self._compiled[1]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        return cls(crawler)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, ArticlePage):
            return item
        ex = item.extracted or {}
        if not ex.get("text") or not self.rt.config.watches:
            return item  # no article: nothing a watch should fire on (menus, captions)
        title = ex.get("title") or item.feed_title
        doc = Document.of(title=title, text=ex["text"], url=item.url, source=item.source)
        item.matches = self.matcher.match(doc)
        return item
