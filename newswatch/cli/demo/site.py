"""The demo's news site, served on 127.0.0.1: two outlets with their own layouts (The
Islamabad Times on 127.0.0.1 with a feed and a sitemap; Capital Wire on localhost with
a section page), menus, footers and a "latest news" sidebar whose headlines would fool
a matcher that reads the whole page."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

ARTICLES = Path(__file__).with_name("articles.yaml")
# on every page: a naive matcher would alert on each of them
SIDEBAR = [
    "Crypto council row: what the minister really said",
    "Explainer: what a blockchain MoU with Pakistan would mean",
    "Opinion: the Virtual Assets Ordinance needs a rethink",
    "Weather: a dry week ahead",
]


@dataclass(frozen=True)
class Story:
    slug: str
    section: str
    title: str
    published: datetime
    paragraphs: list[str]
    outlet: str  # times | wire | both


def load_stories(now: datetime | None = None) -> list[Story]:
    now = now or datetime.now(UTC)
    raw = YAML(typ="safe").load(ARTICLES.read_text(encoding="utf-8"))
    return sorted((Story(r["slug"], r["section"], r["title"],
                         (now - timedelta(hours=r["hours_ago"])).replace(microsecond=0),
                         r["paragraphs"], r["outlet"]) for r in raw),
                  key=lambda s: s.published, reverse=True)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def times_page(title: str, main: str, base: str) -> str:
    menu = " | ".join(f'<a href="{base}/section/{s}/">{s.title()}</a>'
                      for s in ("business", "national", "sport"))
    side = "".join(f"<li><a href='{base}/'>{_e(h)}</a></li>" for h in SIDEBAR)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{_e(title)} | The Islamabad Times</title>
<link rel="alternate" type="application/rss+xml" href="{base}/feed.xml"></head><body>
<header><div class="masthead">The Islamabad Times</div><nav>{menu}</nav>
<div class="ticker">Markets | Weather | Prayer times | E-paper</div></header>
<div class="consent">This site uses cookies. <button>OK</button></div>
<main>{main}</main>
<aside><h3>Latest news</h3><ul>{side}</ul><div class="ad">Subscribe for 99 a month</div></aside>
<footer>© The Islamabad Times · <a href="{base}/about/">About</a> · <a href="{base}/contact/">Contact</a></footer>
</body></html>"""


def times_article(s: Story, base: str) -> str:
    body = "".join(f"<p>{_e(p)}</p>" for p in s.paragraphs)
    main = f"""<article><h1>{_e(s.title)}</h1>
<p class="byline">Staff reporter · <time datetime="{s.published.isoformat()}">{s.published:%d %B %Y}</time></p>
{body}<div class="share">Share on social media</div></article>
<section class="comments"><h3>Comments (2)</h3><p>Reader: interesting, but what about crypto council fees?</p></section>"""
    return times_page(s.title, main, base)


def wire_article(s: Story, base: str) -> str:
    body = "".join(f"<p>{_e(p)}</p>" for p in [*s.paragraphs,
                                               "Capital Wire is a news agency service."])
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{_e(s.title)} – Capital Wire</title></head><body>
<div class="bar"><a href="{base}/wire/">Capital Wire</a> · World · Economy · Regions</div>
<div class="story"><h1 class="hl">{_e(s.title)}</h1>
<div class="when"><time datetime="{s.published.isoformat()}">{s.published:%d %b %Y %H:%M}</time></div>
<div class="txt">{body}</div></div>
<div class="more"><b>More from the wire</b><ul>{"".join(f"<li>{_e(h)}</li>" for h in SIDEBAR[:2])}</ul></div>
<div class="legal">Capital Wire. All rights reserved.</div></body></html>"""


def listing(stories: list[Story], base: str, title: str) -> str:
    items = "".join(f'<li><a href="{base}/news/{s.slug}/">{_e(s.title)}</a></li>' for s in stories)
    return times_page(title, f"<h1>{_e(title)}</h1><ul class='list'>{items}</ul>", base)


def feed(stories: list[Story], base: str) -> str:
    items = "".join(
        f"<item><title>{_e(s.title)}</title><link>{base}/news/{s.slug}/?utm_source=rss</link>"
        f"<pubDate>{format_datetime(s.published)}</pubDate></item>" for s in stories)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>The Islamabad Times</title><link>{base}/</link>{items}</channel></rss>")


def sitemap(stories: list[Story], base: str) -> str:
    urls = "".join(f"<url><loc>{base}/news/{s.slug}/</loc>"
                   f"<lastmod>{s.published.isoformat()}</lastmod></url>" for s in stories)
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')


class Handler(BaseHTTPRequestHandler):
    server: DemoSite

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: str, ctype: str = "text/html; charset=utf-8", code: int = 200) -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        stories = self.server.stories
        times = [s for s in stories if s.outlet in ("times", "both")]
        wire = [s for s in stories if s.outlet in ("wire", "both")]
        by_slug = {s.slug: s for s in stories}
        parts = [p for p in path.split("/") if p]
        if path == "/":
            self._send(listing(times, base, "Latest news"))
        elif path == "/robots.txt":
            self._send(f"User-agent: *\nDisallow: /admin/\nSitemap: {base}/sitemap.xml\n",
                       "text/plain")
        elif path == "/feed.xml":
            self._send(feed(times, base), "application/rss+xml")
        elif path == "/sitemap.xml":
            self._send(sitemap(times, base), "application/xml")
        elif len(parts) == 2 and parts[0] == "section":
            self._send(listing([s for s in times if s.section == parts[1]], base,
                               parts[1].title()))
        elif len(parts) == 2 and parts[0] == "news" and parts[1] in by_slug:
            self._send(times_article(by_slug[parts[1]], base))
        elif path == "/wire/":
            links = "".join(f'<li><a href="{base}/wire/story/{s.slug}/">{_e(s.title)}</a></li>'
                            for s in wire)
            self._send(f"<html><body><h1>Capital Wire</h1><ul>{links}</ul></body></html>")
        elif len(parts) == 3 and parts[:2] == ["wire", "story"] and parts[2] in by_slug:
            self._send(wire_article(by_slug[parts[2]], base))
        else:
            self._send("<html><body>Not found</body></html>", code=404)


class DemoSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), Handler)
        self.stories = load_stories()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> DemoSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
