"""A threaded HTTP server for the fixture site, with the hostile corners a crawler
meets in the wild. Tests change its state (new articles, broken sources) while it runs."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.site import hostile_text, misses, pages, times

LATIN1_PAGE = (
    "<html><head><title>Caf\u00e9 culture</title></head><body><article><h1>Caf\u00e9 "
    "soci\u00e9t\u00e9 returns to the old quarter</h1>"
    + "<p>The r\u00e9sum\u00e9 of the caf\u00e9's new owner is long: a na\u00efve start "
    "as a waiter, then years running a cr\u00eaperie by the fa\u00e7ade of the old "
    "theatre. Regulars say the \u00e9clairs are better than ever.</p>" * 6
    + "</article></body></html>"
).encode("latin-1")

ARABIC_PAGE = (
    "<html><head><title>\u0627\u0644\u0639\u0645\u0644\u0627\u062a \u0627\u0644\u0631\u0642\u0645\u064a\u0629</title></head><body><article>"
    "<h1>\u0645\u062c\u0644\u0633 \u0627\u0644\u0639\u0645\u0644\u0627\u062a \u0627\u0644\u0631\u0642\u0645\u064a\u0629 \u064a\u0639\u0642\u062f \u0627\u062c\u062a\u0645\u0627\u0639\u0647 \u0627\u0644\u0623\u0648\u0644</h1>"
    + "<p>\u0639\u0642\u062f \u0645\u062c\u0644\u0633 \u0627\u0644\u0639\u0645\u0644\u0627\u062a \u0627\u0644\u0631\u0642\u0645\u064a\u0629 \u0627\u062c\u062a\u0645\u0627\u0639\u0647 \u0627\u0644\u0623\u0648\u0644 \u0641\u064a \u0627\u0644\u0639\u0627\u0635\u0645\u0629 "
    "\u0648\u0646\u0627\u0642\u0634 \u0627\u0644\u0623\u0639\u0636\u0627\u0621 \u0625\u0637\u0627\u0631\u0627 \u0644\u062a\u0631\u062e\u064a\u0635 \u0645\u0646\u0635\u0627\u062a \u0627\u0644\u062a\u062f\u0627\u0648\u0644 \u0648\u062d\u0645\u0627\u064a\u0629 \u0627\u0644\u0645\u0633\u062a\u062e\u062f\u0645\u064a\u0646.</p>" * 6
    + "</article></body></html>"
).encode("cp1256")

BOMB = gzip.compress(b"\0" * (60 * 1024 * 1024), compresslevel=9)
HUGE = b"<html><body><p>" + b"x" * (6 * 1024 * 1024) + b"</p></body></html>"
EMPTY_PAGE = b"<html><head><title>Gallery</title></head><body><nav><a href='/'>Home</a></nav></body></html>"


class SiteState:
    """What the site serves; mutable by tests."""

    def __init__(self) -> None:
        self.base = ""
        self.articles = pages.load_articles()
        self.urdu = pages.load_articles(name="urdu.yaml")
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.headers: dict[str, list[dict[str, str]]] = {}
        self.times: dict[str, list[float]] = {}  # when each request came (time.monotonic)
        self.broken_feed = False
        self.no_text = False
        self.old_sitemap = datetime.now(UTC) - timedelta(days=400)
        self.feed_tracking = "utm_source=rss&utm_medium=feed"
        # /paced/feed.xml: the feed answered with this status and these headers
        # (Cache-Control, Retry-After, 429...), for the adaptive schedule's tests
        self.paced: tuple[int, dict[str, str]] = (200, {})

    def hit(self, path: str, headers: dict[str, str]) -> None:
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.headers.setdefault(path, []).append(headers)
            self.times.setdefault(path, []).append(time.monotonic())

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)

    def reset_hits(self) -> None:
        with self.lock:
            self.hits.clear()
            self.headers.clear()
            self.times.clear()


class Handler(BaseHTTPRequestHandler):
    server: FixtureServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _conditional(self, body: bytes, ctype: str, modified: datetime) -> None:
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        fresh = inm == etag
        if not fresh and ims and not inm:
            try:
                fresh = parsedate_to_datetime(ims) >= modified.replace(microsecond=0)
            except (TypeError, ValueError):
                fresh = False
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        if fresh:
            self._send(304, b"", "", headers)
        else:
            self._send(200, body, ctype, headers)

    def do_GET(self) -> None:
        st = self.server.state
        path = urlsplit(self.path).path
        st.hit(path, dict(self.headers.items()))
        base = st.base
        arts = sorted(st.articles, key=lambda a: a.published, reverse=True)
        newest = max((a.published for a in arts), default=datetime.now(UTC))
        by_path = {a.path: a for a in arts}
        if path == "/":
            self._send(200, pages.listing_page("Home", arts, base).encode())
        elif path == "/robots.txt":
            body = f"User-agent: *\nDisallow: /private/\n\nSitemap: {base}/sitemap.xml\n"
            self._send(200, body.encode(), "text/plain")
        elif path == "/feed.xml":
            if st.broken_feed:
                self._send(500, b"Internal Server Error", "text/plain")
                return
            self._conditional(pages.rss_feed(arts, base, st.feed_tracking).encode(),
                              "application/rss+xml", newest)
        elif path == "/paced/feed.xml":
            status, headers = st.paced
            if status == 200:
                self._send(200, pages.rss_feed(arts, base, "").encode(),
                           "application/rss+xml", headers)
            else:
                self._send(status, b"Slow down", "text/plain", headers)
        elif path == "/atom.xml":
            self._conditional(pages.atom_feed(arts, base).encode(), "application/atom+xml",
                              newest)
        elif path == "/rdf.xml":
            self._send(200, pages.rdf_feed(arts, base).encode(), "application/rdf+xml")
        elif path == "/sitemap.xml":
            self._send(200, pages.sitemap_index(base, st.old_sitemap).encode(), "application/xml")
        elif path == "/sitemap-news.xml":
            self._conditional(pages.news_sitemap(arts, base).encode(), "application/xml", newest)
        elif path.startswith("/section/"):
            section = path.split("/")[2]
            self._send(200, pages.listing_page(
                section.title(), [a for a in arts if a.section == section], base).encode())
        elif path in by_path:
            if st.no_text:
                self._send(200, EMPTY_PAGE)
            else:
                self._send(200, pages.article_page(by_path[path], base).encode())
        elif path == "/wire/feed.xml":
            # the wire is "another site": its links use the host it was asked for
            host_base = f"http://{self.headers.get('Host', '')}"
            self._send(200, pages.wire_feed(arts, host_base).encode(), "application/rss+xml")
        elif path.startswith("/wire/") and path.split("/")[2] in {a.slug for a in arts}:
            art = next(a for a in arts if a.slug == path.split("/")[2])
            self._send(200, pages.wire_page(art, f"http://{self.headers.get('Host', '')}").encode())
        elif path.startswith("/hostile/"):
            self.hostile(path, base)
        elif path.startswith("/text/"):
            self._send(*hostile_text.answer(path, base))
        elif path == "/urdu/feed.xml":
            self._send(200, pages.rss_feed(st.urdu, base, "").encode(), "application/rss+xml")
        elif path in {a.path for a in st.urdu}:
            art = next(a for a in st.urdu if a.path == path)
            self._send(200, pages.article_page(art, base).encode())
        elif path.startswith("/times/"):
            timed = times.answer(path, base)
            if timed is None:
                self._send(404, b"not found")
            else:
                self._send(200, timed[0].encode(), timed[1])
        elif path.startswith("/misses/"):
            other = base.replace("127.0.0.1", "localhost")
            found = misses.answer(path.split("/")[2], arts, base, other)
            if found is None:
                self._send(404, b"not found")
            else:
                self._send(found[0], found[1], found[2], found[3] if len(found) > 3 else None)
        elif path == "/private/secret/":
            self._send(200, pages.article_page(arts[0], base).encode())
        else:
            self._send(404, b"<html><body>Not found</body></html>")

    do_HEAD = do_GET

    def hostile(self, path: str, base: str) -> None:
        name = path.split("/")[2]
        if name == "feed.xml":
            links = ["report.pdf", "huge/", "bomb/", "latin1/", "arabic/", "loop/", "meta/",
                     "private/", "error/", "slow/", "empty/"]
            urls = [f"{base}/hostile/{n}" for n in links] + [f"{base}/private/secret/"]
            items = "".join(f"<item><title>{u}</title><link>{u}</link></item>" for u in urls)
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>h</title>{items}</channel></rss>'
            self._send(200, body.encode(), "application/rss+xml")
        elif name == "report.pdf":
            self._send(200, b"%PDF-1.4\n%fixture\n", "application/pdf")
        elif name == "huge":
            self._send(200, HUGE)
        elif name == "bomb":
            self._send(200, BOMB, headers={"Content-Encoding": "gzip"})
        elif name == "latin1":
            self._send(200, LATIN1_PAGE, "text/html")
        elif name == "arabic":
            self._send(200, ARABIC_PAGE, "text/html")
        elif name == "loop":
            self._send(302, b"", headers={"Location": f"{base}/hostile/loop2/"})
        elif name == "loop2":
            self._send(302, b"", headers={"Location": f"{base}/hostile/loop/"})
        elif name == "meta":
            self._send(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif name == "private":
            self._send(302, b"", headers={"Location": "http://10.0.0.1/admin/"})
        elif name == "error":
            self._send(500, b"<html><body>Server error</body></html>")
        elif name == "slow":
            time.sleep(30)
            self._send(200, b"<html><body>late</body></html>")
        elif name == "empty":
            self._send(200, EMPTY_PAGE)
        else:
            self._send(404, b"not found")


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = SiteState()
        self.state.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return self.state.base

    def start(self) -> FixtureServer:
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


if __name__ == "__main__":
    import sys

    srv = FixtureServer(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
    print(srv.base, flush=True)
    srv.serve_forever()
