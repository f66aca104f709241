"""`newswatch web`: a small read-only web view (SPEC §12), server-rendered with jinja2
under Starlette, served by uvicorn: recent matches per watch (filtered by watch, source
and date, a page at a time), an article with why it matched, the sources with their
health and last runs, the outbox, and the Atom feeds. It writes nothing.

On 127.0.0.1 it is open; on any other address it needs a token, read from the
environment variable `web.token_env` names, or it refuses to start. Every scraped
string is escaped (autoescape), and the Content-Security-Policy lets a page load
nothing from anywhere: its style is inline, it has no scripts."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from alerts import atom, channels, health, outbox
from alerts.render import matched_terms, one_line, safe_url, segments
from alerts.schedule import Schedule
from config.models import Config
from store import schema
from store.db import Store, utcnow
from store.recent import Filters, count, mark_held, match, recent

log = logging.getLogger(__name__)

PAGE = 50
OPEN_HOSTS = ("127.0.0.1",)
COOKIE = "newswatch_token"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class WebError(Exception):
    """Why the web view will not start."""


def token_for(config: Config, host: str) -> str | None:
    """None on 127.0.0.1; elsewhere the token, or WebError if there is none."""
    if host in OPEN_HOSTS:
        return None
    name = config.web.token_env
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise WebError(f"on {host} (not 127.0.0.1) the web view needs a token: set "
                       f"${name} to a secret of at least 16 characters (web.token_env "
                       "names the variable), or serve on 127.0.0.1")
    return value


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


class View:
    def __init__(self, config: Config, token: str | None):
        self.config = config
        self.token = token
        self.store = Store.shared(config.database)
        self.tz = ZoneInfo(config.timezone)
        self.env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                               autoescape=select_autoescape(default=True,
                                                            default_for_string=True))
        self.env.filters["when"] = self._when
        self.env.globals.update(segments=segments, safe_url=safe_url, one_line=one_line,
                                redact=self._recipient)

    @property
    def muted(self) -> set[str]:
        return {w.name for w in self.config.watches if not w.enabled}

    def _when(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    @staticmethod
    def _recipient(value: str) -> str:
        return channels.redact(value) if channels.is_channel(value) else value

    def page(self, name: str, request: Request, **context: Any) -> HTMLResponse:
        body = self.env.get_template(f"{name}.html").render(
            request_path=request.url.path, tz=self.config.timezone, **context)
        return HTMLResponse(body, headers=HEADERS)

    # -- access ------------------------------------------------------------------------
    def allowed(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                 or request.cookies.get(COOKIE, "") or request.query_params.get("token", ""))
        return hmac.compare_digest(given.encode(), self.token.encode())

    # -- pages -------------------------------------------------------------------------
    async def matches(self, request: Request) -> Response:
        q = request.query_params
        watch = q.get("watch") or None
        source = q.get("source") or None
        since, until = _date(q.get("since")), _date(q.get("until"))
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

    async def article(self, request: Request) -> Response:
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

    async def sources(self, request: Request) -> Response:
        states = health.states(self.store)
        rows = [{"name": s.name, "health": states.get(s.name, ("healthy", None)),
                 "runs": self.store.runs(s.name, limit=10)} for s in self.config.sources]
        return self.page("sources", request, sources=rows)

    async def outbox(self, request: Request) -> Response:
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

    async def feed(self, request: Request) -> Response:
        name = request.path_params["name"]
        known = {w.name for w in self.config.watches}
        if name != "all" and name not in known:
            return Response("no such watch\n", status_code=404, media_type="text/plain")
        watch = None if name == "all" else name
        rows = recent(self.store, Filters(watches=[watch] if watch else []), limit=100)
        body = atom.build(rows, watch, self_url=str(request.url.replace(query="")),
                          site_url=str(request.url_for("matches")))
        return Response(body, media_type="application/atom+xml", headers=HEADERS)


def make_app(config: Config, token: str | None) -> Starlette:
    view = View(config, token)

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            if not view.allowed(request):
                await Response("a token is needed (Authorization: Bearer ..., or "
                               "?token=...)\n", status_code=401,
                               media_type="text/plain")(scope, receive, send)
                return
            if view.token is not None and "token" in request.query_params:
                # once given in a link, kept in a cookie and taken out of the address
                clean = request.url.remove_query_params("token")
                response = RedirectResponse(str(clean), status_code=303)
                response.set_cookie(COOKIE, view.token, httponly=True, samesite="strict")
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    app = Starlette(routes=[
        Route("/", view.matches, name="matches"),
        Route("/match/{id}", view.article, name="article"),
        Route("/sources", view.sources, name="sources"),
        Route("/outbox", view.outbox, name="outbox"),
        Route("/feeds/{name}.atom", view.feed, name="feed"),
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


def cmd_web(args: Any, config: Config, path: Path) -> int:
    try:
        token = token_for(config, args.host)
    except WebError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return 2
    app = make_app(config, token)
    log.warning("web view on http://%s:%d/%s", args.host, args.port,
                " (token required)" if token else "")
    server = Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                    access_log=False, server_header=False))
    server.run()
    return 0 if server.started else 1
