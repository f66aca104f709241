"""Chat and webhook channels through apprise (SPEC §12): a batch of alerts for one
channel becomes one short message (the watch, then per article its title, source, link
and one snippet), in markdown and in plain text; the channel's own format decides which
is sent. The URL's `${NAME}` parts are read from the environment when it is sent, so
the outbox (and the database) never holds a token."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from newswatch.alerts.render import AlertItem, first_snippet, one_line, safe_url
from newswatch.alerts.transport import DeliveryError, Outgoing, redact
from newswatch.config.models import ENV_REF

log = logging.getLogger(__name__)

TITLE_MAX = 200
SNIPPET_MAX = 240
# "error=503" in apprise's report of a failed HTTP request
_STATUS = re.compile(r"error=(\d{3})")


def expand(url: str) -> str:
    missing = [name for name in ENV_REF.findall(url) if not os.environ.get(name)]
    if missing:
        raise DeliveryError(f"${missing[0]} is not set in the environment (needed by "
                            f"{redact(url)})")
    return ENV_REF.sub(lambda m: os.environ[m.group(1)], url)


def render(items: Sequence[AlertItem], digest: str) -> bytes:
    """The stored message: a title, and the body in markdown and in plain text."""
    count = len(items)
    title = f"newswatch: {count} new match{'es' if count != 1 else ''}"
    if digest != "immediate":
        title += f" ({digest} digest)"
    markdown: list[str] = []
    text: list[str] = []
    for watch in dict.fromkeys(item.watch for item in items):
        markdown.append(f"**{_md(watch)}**")
        text.append(f"== {watch} ==")
        for item in (i for i in items if i.watch == watch):
            headline = one_line(item.title, TITLE_MAX) or "(no title)"
            url = safe_url(item.url)
            snippet = first_snippet(item.snippets, SNIPPET_MAX)
            markdown.append(f"- [{_md(headline)}]({url})" if url else f"- {_md(headline)}")
            markdown.append(f"  {_md(item.source)}" + (f": {_md(snippet)}" if snippet else ""))
            text.append(f"- {headline}")
            text.append(f"  {item.source}" + (f": {snippet}" if snippet else ""))
            if url:
                text.append(f"  {url}")
    return json.dumps({"title": title, "markdown": "\n".join(markdown),
                       "text": "\n".join(text)}).encode()


def _md(text: str) -> str:
    """Scraped text inside markdown: its markup characters are only characters."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", text)


class ChannelTransport:
    """apprise: one message to one channel at a time; nothing to open or close (each
    service is its own HTTP request)."""

    def __enter__(self) -> ChannelTransport:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass

    def send(self, message: Outgoing) -> str:
        """"apprise: ok" when apprise says it went; a DeliveryError says why not, and
        whether to retry (a 4xx answer but 408 and 429 is for good; the rest is tried
        again)."""
        # apprise loads its plugins on import: a command that sends to no channel
        # never pays for it
        import apprise

        url = message.recipient
        payload: dict[str, Any] = json.loads(message.body)
        target = apprise.Apprise.instantiate(expand(url))
        if target is None:
            raise DeliveryError(f"apprise knows no channel {redact(url)}", permanent=True)
        markdown = target.notify_format in (apprise.NotifyFormat.MARKDOWN,
                                            apprise.NotifyFormat.HTML)
        body = payload["markdown"] if markdown else payload["text"]
        # what apprise says while sending is its only account of the service's answer
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as said:
            ok = target.notify(body=body, title=payload["title"],
                               body_format=apprise.NotifyFormat.MARKDOWN if markdown
                               else apprise.NotifyFormat.TEXT)
            heard = said.getvalue()
        if ok:
            return "apprise: ok"
        answer = " ".join(heard.split())[-300:] or "the service refused it"
        status = [int(s) for s in _STATUS.findall(answer)]
        permanent = bool(status) and 400 <= status[-1] < 500 and status[-1] not in (408, 429)
        raise DeliveryError(f"{redact(url)}: {answer}", permanent=permanent)
