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
from collections.abc import Iterable, Sequence
from typing import Any

from newswatch.alerts.deliver import DeliveryError
from newswatch.alerts.render import AlertItem, first_snippet, one_line, safe_url
from newswatch.config.models import ENV_REF

log = logging.getLogger(__name__)

TITLE_MAX = 200
SNIPPET_MAX = 240
# "error=503" in apprise's report of a failed HTTP request
_STATUS = re.compile(r"error=(\d{3})")


def is_channel(recipient: str) -> bool:
    """Email addresses have no scheme; channels are URLs."""
    return "://" in recipient


def shown(recipient: str) -> str:
    """An email address, or a channel without its token."""
    return redact(recipient) if is_channel(recipient) else recipient


def kinds(recipients: Iterable[str]) -> str:
    """How many messages of each kind go to these recipients: `2 emails`, `1 email and
    1 channel message`, `0 emails`."""
    to = list(recipients)
    chats = sum(1 for r in to if is_channel(r))
    mails = len(to) - chats
    parts = [f"{mails} email{'s' if mails != 1 else ''}"] if mails or not chats else []
    if chats:
        parts.append(f"{chats} channel message{'s' if chats != 1 else ''}")
    return " and ".join(parts)


def expand(url: str) -> str:
    missing = [name for name in ENV_REF.findall(url) if not os.environ.get(name)]
    if missing:
        raise DeliveryError(f"${missing[0]} is not set in the environment (needed by "
                            f"{redact(url)})")
    return ENV_REF.sub(lambda m: os.environ[m.group(1)], url)


def redact(url: str) -> str:
    """The URL as logs and `status` show it: its scheme and host, no token."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/…"


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


def send(url: str, message: bytes) -> str:
    """One message to one channel ("ok" when apprise says it went); a DeliveryError says
    why not, and whether to retry (a 4xx answer but 408 and 429 is for good; the rest is
    tried again)."""
    import apprise

    payload: dict[str, Any] = json.loads(message)
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
        return "ok"
    answer = " ".join(heard.split())[-300:] or "the service refused it"
    status = [int(s) for s in _STATUS.findall(answer)]
    permanent = bool(status) and 400 <= status[-1] < 500 and status[-1] not in (408, 429)
    raise DeliveryError(f"{redact(url)}: {answer}", permanent=permanent)
