"""A local "internet" of many small news sites, each on its own loopback address (one
listening socket each, all on one port), served by one asyncio loop in a thread (tests)
or in a process of its own (`python -m tests.site.many`, for bench/scale.py).

Each outlet has robots.txt, an RSS feed answering 304 to its ETag or Last-Modified
date, and article pages with the usual clutter (menus, a "latest" sidebar, scripts).
Outlets publish on their own clocks (`every` seconds, each with its own phase) or when
a test calls publish(). Every request is logged with its host, path and times, so a
test can see who fetched what, and when."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime

WORDS = ["council", "ministry", "budget", "reform", "market", "rupee", "bank", "policy", "federal", "provincial", "court", "senate", "assembly", "committee", "report", "growth", "export", "import", "energy", "water", "dam", "monsoon", "harvest", "wheat", "cotton", "textile", "port", "railway", "highway", "bridge", "school", "hospital", "vaccine", "cricket", "match", "series", "stadium", "election", "commission", "ballot", "tariff", "fuel", "price", "subsidy", "digital", "payment", "startup", "exchange", "regulator", "license", "framework", "consultation", "draft", "ordinance", "treaty", "delegation", "minister", "spokesman", "official", "statement", "weekly", "monthly", "quarter", "survey", "analyst", "forecast", "inflation", "deficit", "surplus", "loan", "lender", "reserve"]
WATCHED = "crypto council"
PAGE_CACHE = 4000  # article pages kept once made (40-90 KB each)  # every third article's headline carries it


def address(i: int) -> str:
    """The loopback address of outlet i: 127.1.0.1, 127.1.0.2, ... (not 127.0.0.1)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


@dataclass
class Outlet:
    index: int
    host: str
    every: float | None  # seconds between articles once the clock runs; None: publish()
    phase: float  # seconds after the clock starts that its first clock article comes
    published: list[float] = field(default_factory=list)  # times of the other articles
    hang: bool = False  # article pages never answer
    max_age: int | None = None  # the feed's Cache-Control max-age (seconds), if any
    # every `throttle`-th feed request is answered 429 with Retry-After: retry_after
    throttle: int = 0
    retry_after: int = 0
    asked: int = 0  # feed requests so far

    def count(self, clock: float | None, now: float) -> int:
        n = len([t for t in self.published if t <= now])
        if self.every and clock is not None and now >= clock + self.phase:
            n += int((now - clock - self.phase) // self.every) + 1
        return n

    def publish_time(self, clock: float | None, n: int) -> float:
        if n < len(self.published):
            return self.published[n]
        assert self.every and clock is not None
        return clock + self.phase + (n - len(self.published)) * self.every


@dataclass
class Hit:
    host: str
    path: str
    status: int
    began: float
    ended: float


SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]


def _word(rng: random.Random) -> str:
    # most words are made up, so that no two stories share most of their words (the
    # product folds near-identical texts into one story, as wire copy)
    if rng.random() < 0.15:
        return rng.choice(WORDS)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _words(rng: random.Random, n: int) -> str:
    return " ".join(_word(rng) for _ in range(n))


def headline(index: int, n: int) -> str:
    rng = random.Random(index * 100_003 + n)
    title = _words(rng, 6).capitalize()
    if n % 3 == 0:
        title = f"{title}: the {WATCHED} meets in week {n}"
    return f"{title} (outlet {index}, story {n})"


class ManySites:
    def __init__(self, n: int, every: float | None = None, latency: tuple[float, float] = (0, 0),
                 page_kb: tuple[int, int] = (6, 10), seed: int = 1, initial: int = 3):
        rng = random.Random(seed)
        self.start_time = time.time()
        # `initial` articles are out from the start; with `every`, outlets publish more on
        # their own clocks once start_clock() is called
        self.clock: float | None = None
        self.outlets = [Outlet(i, address(i), every, rng.uniform(0, every or 0),
                               [self.start_time - 60 * (initial - k) for k in range(initial)])
                        for i in range(n)]
        self.by_host = {o.host: o for o in self.outlets}
        self.latency = latency
        self.page_kb = page_kb
        self.port = 0
        self.hits: list[Hit] = []  # answered (or dropped) requests
        self.arrivals: list[Hit] = []  # every request as it arrives, answered or not
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._rng = random.Random(seed + 1)
        self._pages: dict[tuple[int, int], bytes] = {}
        # the size of the pages of the articles out before the clock starts, if not
        # page_kb (mixed(): a first crawl of 10,000 sites' history is not what is
        # measured, and full pages would make it take most of an hour)
        self.history_kb: tuple[int, int] | None = None

    # -- what is served -------------------------------------------------------------------
    def base(self, i: int) -> str:
        return f"http://{self.outlets[i].host}:{self.port}"

    def start_clock(self) -> None:
        self.clock = time.time()

    def publish(self, i: int) -> int:
        """Outlet i publishes an article now; returns its number."""
        outlet = self.outlets[i]
        outlet.published.append(time.time())
        return len(outlet.published) - 1

    def article_url(self, i: int, n: int) -> str:
        return f"{self.base(i)}/news/{n}.html"

    def _feed(self, outlet: Outlet, now: float) -> tuple[bytes, float | None]:
        count = outlet.count(self.clock, now)
        items = []
        for n in range(count - 1, max(-1, count - 21), -1):
            when = outlet.publish_time(self.clock, n)
            items.append(
                f"<item><title>{headline(outlet.index, n)}</title>"
                f"<link>http://{outlet.host}:{self.port}/news/{n}.html</link>"
                f"<guid>http://{outlet.host}:{self.port}/news/{n}.html</guid>"
                f"<pubDate>{formatdate(when, usegmt=True)}</pubDate></item>")
        latest = outlet.publish_time(self.clock, count - 1) if count else None
        body = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                f"<title>Outlet {outlet.index}</title><link>http://{outlet.host}:{self.port}/"
                f"</link><description>News</description>{''.join(items)}</channel></rss>")
        return body.encode(), latest

    def _article(self, outlet: Outlet, n: int) -> bytes:
        # a page is the same each time it is asked for: made once (the benchmarks measure
        # the crawler, and a site that spends a core making pages takes it from it)
        key = (outlet.index, n)
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = self._make_article(outlet, n)
            if len(self._pages) > PAGE_CACHE:
                del self._pages[next(iter(self._pages))]
        return page

    def _make_article(self, outlet: Outlet, n: int) -> bytes:
        rng = random.Random(outlet.index * 7919 + n)
        history = self.history_kb is not None and n < len(outlet.published)
        target = rng.randint(*(self.history_kb if history and self.history_kb
                               else self.page_kb)) * 1024
        title = headline(outlet.index, n)
        nav = "".join(f"<li><a href='/section/{w}/'>{w.title()}</a></li>"
                      for w in WORDS[:25])
        sidebar = "".join(f"<li><a href='/news/{k}.html'>{headline(outlet.index + 1, k)}"
                          f"</a></li>" for k in range(8))
        paras = "".join(f"<p>{_words(rng, 55).capitalize()}.</p>" for _ in range(9))
        lead = (f"<p>Officials said on Monday that the {WATCHED} would publish its first "
                f"report before the budget.</p>" if n % 3 == 0 else "")
        head = (f"<html><head><meta charset='utf-8'><title>{title} | Outlet {outlet.index}"
                f"</title><meta property='og:title' content='{title}'></head><body>"
                f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>{title}</h1>"
                f"<p class='byline'>By Staff Reporter</p>{lead}{paras}</article></main>"
                f"<aside><h2>Latest</h2><ul>{sidebar}</ul></aside>"
                f"<footer><p>Outlet {outlet.index}. All rights reserved.</p></footer>")
        filler = []
        size = len(head)
        while size < target:  # tracking and layout scripts, as real pages carry
            chunk = "<script>var cfg=" + str([rng.random() for _ in range(40)]) + ";</script>"
            filler.append(chunk)
            size += len(chunk)
        return (head + "".join(filler) + "</body></html>").encode()

    def respond(self, host: str, path: str, headers: dict[str, str]
                ) -> tuple[int, dict[str, str], bytes]:
        outlet = self.by_host.get(host)
        if outlet is None:
            return 404, {}, b"no such site"
        now = time.time()
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
        if path == "/feed.xml":
            outlet.asked += 1
            if outlet.throttle and outlet.asked % outlet.throttle == 0:
                return 429, {"Retry-After": str(outlet.retry_after)}, b"slow down"
            body, latest = self._feed(outlet, now)
            etag = f'"{outlet.index}-{outlet.count(self.clock, now)}"'
            out = {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag}
            if outlet.max_age is not None:
                out["Cache-Control"] = f"public, max-age={outlet.max_age}"
            if latest is not None:
                out["Last-Modified"] = formatdate(latest, usegmt=True)
            if headers.get("if-none-match") == etag:
                return 304, out, b""
            since = headers.get("if-modified-since")
            if since and latest is not None and "if-none-match" not in headers:
                with contextlib.suppress(TypeError, ValueError):
                    if parsedate_to_datetime(since).timestamp() >= int(latest):
                        return 304, out, b""
            return 200, out, body
        if path.startswith("/news/") and path.endswith(".html"):
            try:
                n = int(path[6:-5])
            except ValueError:
                return 404, {}, b"not found"
            if n >= outlet.count(self.clock, now):
                return 404, {}, b"not yet"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self._article(outlet, n)
        return 404, {}, b"not found"

    # -- the server -----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        began = time.time()
        status, path = 0, "?"
        try:
            line = await reader.readline()
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else "/"
            headers: dict[str, str] = {}
            while True:
                raw = await reader.readline()
                if raw in (b"\r\n", b"\n", b""):
                    break
                key, _, value = raw.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            with self.lock:
                self.arrivals.append(Hit(host, path, 0, began, began))
            outlet = self.by_host.get(host)
            if outlet is not None and outlet.hang and path.startswith("/news/"):
                await asyncio.sleep(3600)
            low, high = self.latency
            if high:
                await asyncio.sleep(self._rng.uniform(low, high))
            status, extra, body = self.respond(host, path, headers)
            head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'X'}",
                    f"Content-Length: {len(body)}", "Connection: close",
                    *(f"{k}: {v}" for k, v in extra.items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with self.lock:
                self.hits.append(Hit(host, path, status, began, time.time()))
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, port: int) -> None:
        self._stop = asyncio.Event()
        servers = []
        # one socket per address, so each site has an address of its own
        for chunk in range(0, len(self.outlets), 500):
            hosts = [o.host for o in self.outlets[chunk:chunk + 500]]
            servers.append(await asyncio.start_server(self._handle, hosts, port, backlog=512))
        self.port = port
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:  # requests left hanging
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def start(self, port: int = 0) -> ManySites:
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.1.0.1", 0))
                port = probe.getsockname()[1]
        self.loop = asyncio.new_event_loop()

        def run() -> None:
            assert self.loop is not None
            self.loop.run_until_complete(self._serve(port))

        self.thread = threading.Thread(target=run, daemon=True, name="many-sites")
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the many-sites server did not start")
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self.thread is not None:
            self.thread.join(timeout=10)

    def requests(self, path: str | None = None) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if path is None or h.path == path]

    def sources_yaml(self, every: str, count: int | None = None, fixed: bool = False) -> str:
        """Their sources in a config; `fixed`: polled every `every`, not adaptively."""
        pace = f"    every_max: {every}\n" if fixed else ""
        return "".join(f"  - name: site{o.index}\n    feeds: [\"http://{o.host}:{self.port}"
                       f"/feed.xml\"]\n    every: {every}\n{pace}"
                       for o in self.outlets[:count])


def mixed(sites: ManySites, seed: int = 7) -> None:
    """Give each outlet a publishing rate from a realistic mix: 10% publish every 10-30
    minutes, 60% two to six times a day, 30% once a week; each with its own phase, and
    the articles already out (its feed's history, in short pages) at the same rate. As
    sites do, a fifth ask for a Cache-Control max-age on their feed (1-2 minutes for
    the busy ones, 10-60 for the others), and one in a hundred of the slower ones
    answers every third feed request 429 with a Retry-After of 10-30 minutes."""
    rng = random.Random(seed)
    sites.history_kb = (3, 5)
    for o in sites.outlets:
        pick = rng.random()
        if pick < 0.1:
            o.every = rng.uniform(600, 1800)
        elif pick < 0.7:
            o.every = 86400 / rng.uniform(2, 6)
        else:
            o.every = 7 * 86400
        o.phase = rng.uniform(0, o.every)
        # the beat went on before the clock: the last one came a gap before the next
        history = len(o.published)
        o.published = [sites.start_time + o.phase - (history - k) * o.every
                       for k in range(history)]
        busy = o.every < 3600
        if rng.random() < 0.2:
            o.max_age = rng.randint(60, 120) if busy else rng.randint(600, 3600)
        elif not busy and rng.random() < 0.01 / 0.8:
            o.throttle, o.retry_after = 3, rng.randint(600, 1800)


def main() -> None:
    """Serve N outlets until SIGTERM, for bench/scale.py: print the port when ready; the
    clocks start at SIGUSR1; at the end, write every request and each outlet's
    publication schedule (JSON) to --state."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, required=True)
    parser.add_argument("--every", type=float, default=None)
    parser.add_argument("--latency", type=float, nargs=2, default=(0.05, 0.25))
    parser.add_argument("--page-kb", type=int, nargs=2, default=(40, 90))
    parser.add_argument("--initial", type=int, default=3)
    parser.add_argument("--state", default=None)
    parser.add_argument("--mix", action="store_true",
                        help="publishing rates as real beats are: 10%% every 10-30 min, 60%% "
                             "two to six times a day, 30%% weekly (instead of --every)")
    args = parser.parse_args()
    sites = ManySites(args.sites, args.every, tuple(args.latency), tuple(args.page_kb),
                      initial=args.initial)
    if args.mix:
        mixed(sites)
    sites.start()
    print(sites.port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: sites.start_clock())
    done.wait()
    sites.stop()
    if args.state:
        import json

        with open(args.state, "w", encoding="utf-8") as out:
            json.dump({"port": sites.port, "clock": sites.clock,
                       "outlets": [{"host": o.host, "every": o.every, "phase": o.phase,
                                    "published": o.published, "max_age": o.max_age,
                                    "retry_after": o.retry_after}
                                   for o in sites.outlets],
                       "hits": [[h.host, h.path, h.status, h.began, h.ended]
                                for h in sites.requests()]}, out)


if __name__ == "__main__":
    main()
