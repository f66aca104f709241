"""`newswatch web`: a small read-only web view (SPEC §12), server-rendered with jinja2
under Starlette, served by uvicorn: recent matches per watch (filtered by watch, source
and date, a page at a time), an article with why it matched, the sources with their
health (a summary, failing first, filters, 50 a page; each source with its runs: see
sources.py), the outbox, and the Atom feeds. It writes nothing.

Every address needs the token and answers only to its own Host names
(newswatch/web/auth.py). Database work runs in Starlette's thread pool (plain `def`
endpoints), so one slow query does not hold up the other requests. Every scraped string
is escaped (autoescape), and the Content-Security-Policy lets a page load nothing from
anywhere: its style is inline, it has no scripts."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newswatch.alerts import atom, outbox
from newswatch.alerts.render import matched_terms, one_line, safe_url, segments
from newswatch.alerts.schedule import Schedule
from newswatch.alerts.transport import shown
from newswatch.config.models import Config
from newswatch.config.times import Published, readable
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from newswatch.service.metrics import StoreCollector
from newswatch.store import schema
from newswatch.store.db import Store, utcnow
from newswatch.store.recent import Filters, count, mark_held, match, recent
from newswatch.web import sources as web_sources
from newswatch.web.auth import Access, WebError, token_for

log = logging.getLogger(__name__)

PAGE = 50
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _date(value: str | None, tz: tzinfo) -> datetime | None:
    """A day picked in the filters starts at midnight in the config's timezone, the zone
    every time on the page is shown in."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=tz)
    except ValueError:
        return None


class View:
    def __init__(self, config: Config, access: Access, store: Store):
        self.config = config
        self.access = access
        self.store = store
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(self.store, config))
        self.tz = ZoneInfo(config.timezone)
        self.env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                               autoescape=select_autoescape(default=True,
                                                            default_for_string=True))
        self.env.filters["when"] = self._when
        self.env.globals.update(segments=segments, safe_url=safe_url, one_line=one_line,
                                redact=shown, feed_url=access.feed_url)

    @property
    def muted(self) -> set[str]:
        return {w.name for w in self.config.watches if not w.enabled}

    def _when(self, value: Published | None) -> str:
        return readable(value, self.tz)

    def page(self, name: str, request: Request, **context: Any) -> HTMLResponse:
        body = self.env.get_template(f"{name}.html").render(
            request_path=request.url.path, tz=self.config.timezone, **context)
        return HTMLResponse(body, headers=HEADERS)

    # -- pages -------------------------------------------------------------------------
    def matches(self, request: Request) -> Response:
        q = request.query_params
        watch = q.get("watch") or None
        source = q.get("source") or None
        since, until = _date(q.get("since"), self.tz), _date(q.get("until"), self.tz)
        filters = Filters(watches=[watch] if watch else [], source=source, since=since,
                          until=until + timedelta(days=1) if until else None)
        try:
            number = max(1, int(q.get("page") or 1))
        except ValueError:
            number = 1
        total = count(self.store, filters)
        rows = recent(self.store, filters, limit=PAGE, offset=(number - 1) * PAGE)
        mark_held(rows, self.muted)
        keep = {k: v for k, v in {"watch": watch, "source": source,
                                  "since": q.get("since"), "until": q.get("until")}.items()
                if v}

        def link(n: int) -> str:
            return "/?" + urlencode({**keep, "page": n})

        return self.page("matches", request, rows=rows, total=total, number=number,
                         pages=max(1, -(-total // PAGE)), link=link, watch=watch,
                         source=source, since=q.get("since") or "", until=q.get("until") or "",
                         watches=[w.name for w in self.config.watches],
                         sources=[s.name for s in self.config.sources],
                         terms=matched_terms)

    def article(self, request: Request) -> Response:
        try:
            found = match(self.store, int(request.path_params["id"]))
        except ValueError:
            found = None
        if found is None:
            return self.page("missing", request, what="match")
        mark_held([found], self.muted)
        by_field: dict[str, list[dict[str, Any]]] = {}
        for hit in found.hits:
            by_field.setdefault(str(hit.get("field")), []).append(hit)
        return self.page("article", request, m=found, by_field=by_field)

    def sources(self, request: Request) -> Response:
        return self.page("sources", request,
                         **web_sources.overview(self.config, self.store, request))

    def source(self, request: Request) -> Response:
        found = web_sources.detail(self.config, self.store, request)
        if found is None:
            response = self.page("missing", request, what="source")
            response.status_code = 404
            return response
        return self.page("source", request, **found)

    def outbox(self, request: Request) -> Response:
        e = schema.emails
        with self.store.reader.connect() as conn:
            rows = conn.execute(select(e.c.id, e.c.recipient, e.c.subject, e.c.status,
                                       e.c.attempts, e.c.last_error, e.c.created, e.c.sent)
                                .order_by(e.c.id.desc()).limit(200)).mappings().all()
            schedule, now = Schedule(self.config), utcnow()
            waiting = [{"count": n, "watch": watch, "digest": digest,
                        "due": schedule.when(due), "late": due <= now}
                       for (watch, digest, due), n in
                       schedule.counts(conn, now).items()]
        return self.page("outbox", request, rows=rows, waiting=waiting,
                         counts=outbox.counts(self.store, schedule.muted))

    def metrics(self, request: Request) -> Response:
        """Prometheus text, gathered from the database now (Bearer token, as every page)."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(self, request: Request) -> Response:
        with self.store.reader.connect() as conn:
            conn.execute(select(1))
        return Response("ok\n", media_type="text/plain")

    def feed(self, request: Request) -> Response:
        name = request.path_params["name"]
        known = {w.name for w in self.config.watches}
        if name != "all" and name not in known:
            return Response("no such watch\n", status_code=404, media_type="text/plain")
        watch = None if name == "all" else name
        rows = recent(self.store, Filters(watches=[watch] if watch else []), limit=100)
        body = atom.build(rows, watch, self_url=str(request.url),
                          site_url=str(request.url_for("matches")))
        return Response(body, media_type="application/atom+xml", headers=HEADERS)


def make_app(config: Config, access: Access, store: Store) -> Starlette:
    view = View(config, access, store)

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refused = access.refuse(Request(scope, receive))
            if refused is not None:
                for name, value in HEADERS.items():
                    refused.headers[name] = value
                await refused(scope, receive, send)
                return
        await app(scope, receive, send)

    app = Starlette(routes=[
        Route("/", view.matches, name="matches"),
        Route("/match/{id}", view.article, name="article"),
        Route("/sources", view.sources, name="sources"),
        Route("/sources/{name}", view.source, name="source"),
        Route("/outbox", view.outbox, name="outbox"),
        Route("/feeds/{name}.atom", view.feed, name="feed"),
        Route("/metrics", view.metrics, name="metrics"),
        Route("/healthz", view.healthz, name="healthz"),
    ])
    return guard  # type: ignore[return-value]


class Server(uvicorn.Server):
    """SIGTERM or SIGINT stops it (a second one at once) and it exits 0: uvicorn's own
    handlers raise the signal again on the way out, as if it had been killed."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def stop(signum: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here rather than by uvicorn, so that a busy port is one
    line and exit 2, not uvicorn's log line and exit after "web view on ..."."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise WebError(f"port {port} on {host} is already in use (another newswatch "
                           "web?); choose another with --port") from None
        raise WebError(f"cannot listen on {host} port {port}: "
                       f"{exc.strerror or exc}") from None
    return sock


def cmd_web(args: Any, config: Config, path: Path) -> int:
    try:
        token = token_for(config, args.host, args.no_token)
        sock = listen(args.host, args.port)
    except WebError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    access = Access(config, args.host, token)
    store = Store(config.database)  # the server's, closed when it stops
    app = make_app(config, access, store)
    base = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}"
    if token is None:
        print(f"newswatch web: {base}/ (--no-token: open to everyone who can reach "
              f"{args.host}:{args.port})", flush=True)
    elif token.origin == "env":
        print(f"newswatch web: {base}/ (log in at {base}/login?token=TOKEN with the token "
              f"in {token.where}, or send it as Authorization: Bearer TOKEN)", flush=True)
    else:  # like Jupyter: the link that logs this browser in (a cookie; the URL is left)
        made = "made and kept" if token.origin == "new" else "kept"
        print(f"newswatch web: {base}/ (its token is {made} in {token.where})\n"
              f"log in: {base}/login?token={token.value}", flush=True)
    proxies = config.web.trusted_proxies
    server = Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                    access_log=False, server_header=False,
                                    proxy_headers=bool(proxies),
                                    forwarded_allow_ips=proxies or None))
    with sock, store:
        server.run(sockets=[sock])
    return EXIT_OK if server.started else EXIT_FAILED
