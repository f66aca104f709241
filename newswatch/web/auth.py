"""Who may read the web view (SPEC §12): a token on every address, loopback included,
since a reverse proxy on the same host makes 127.0.0.1 public and a page in the user's
browser can reach it by DNS rebinding. Requests whose Host is not the view's own are
refused first (rebinding); then a request passes with the token as a Bearer header, with
the session cookie that `/login?token=` sets (an HMAC of the token, never the token), or,
for one feed only, with that feed's own read-only key in its URL (feed readers keep no
cookies)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from newswatch.config.models import Config
from newswatch.config.private import private_dir, state_dir, write_private

log = logging.getLogger(__name__)

SESSION_COOKIE = "newswatch_session"
MIN_TOKEN = 16
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FEED_PREFIX = "/feeds/"


class WebError(Exception):
    """Why the web view will not start."""


@dataclass(frozen=True)
class Token:
    value: str
    origin: str  # "env" | "new" | "file"
    where: str  # the variable or the file it came from


def token_file() -> Path:
    return state_dir() / "web-token"


def token_for(config: Config, host: str, no_token: bool = False) -> Token | None:
    """The web view's token: from `web.token_env`, else the one kept in the state folder
    (made on first start). None only for --no-token, which 127.0.0.1 alone may use."""
    if no_token:
        if host not in LOOPBACK:
            raise WebError(f"--no-token is allowed on 127.0.0.1 only, not on {host}: anyone "
                           "who can reach that address could read what you watch")
        return None
    name = config.web.token_env
    value = os.environ.get(name, "")
    if value:
        if len(value) < MIN_TOKEN:
            raise WebError(f"${name} holds a token of {len(value)} characters: give at "
                           f"least {MIN_TOKEN} (or unset it, and a token is made for you)")
        return Token(value, "env", f"${name}")
    path = token_file()
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    except OSError as exc:
        raise WebError(f"the web view's token cannot be read from {path}: "
                       f"{exc.strerror}") from None
    if len(kept) >= MIN_TOKEN:
        return Token(kept, "file", str(path))
    value = secrets.token_urlsafe(32)
    try:
        private_dir(path.parent)
        write_private(path, value + "\n")
    except OSError as exc:
        raise WebError(f"the web view's token cannot be kept in {path}: "
                       f"{exc.strerror}") from None
    return Token(value, "new", str(path))


def _mac(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _host_only(host: str) -> str:
    """The name or address of a Host header, without its port."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


class Access:
    def __init__(self, config: Config, bind: str, token: Token | None):
        self.token = token.value if token is not None else None
        hosts = {_host_only(bind), *LOOPBACK} if _is_loopback(bind) else {_host_only(bind)}
        self.hosts = frozenset(hosts | {h.lower() for h in config.web.hosts})
        self.always_secure = config.web.https

    # -- keys ----------------------------------------------------------------------------
    def session(self) -> str:
        assert self.token is not None
        return _mac(self.token, "session")

    def feed_key(self, name: str) -> str:
        """The read-only key of one feed (`all` for every watch's)."""
        assert self.token is not None
        return _mac(self.token, f"feed:{name}")[:32]

    def feed_url(self, name: str) -> str:
        path = f"{FEED_PREFIX}{name}.atom"
        return path if self.token is None else f"{path}?{urlencode({'key': self.feed_key(name)})}"

    # -- the gate ------------------------------------------------------------------------
    def refuse(self, request: Request) -> Response | None:
        """None when the request may go on; else the answer it gets."""
        host = _host_only(request.headers.get("host", ""))
        if host not in self.hosts:
            return PlainTextResponse(
                f"unknown Host {host!r}: this web view answers to "
                f"{', '.join(sorted(self.hosts))} (add a proxy's name to web.hosts)\n",
                status_code=400)
        if self.token is None or request.url.path == "/healthz":
            return None
        if request.url.path == "/login":
            return self._login(request)
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer ") and _same(given[7:].strip(), self.token):
            return None
        if _same(request.cookies.get(SESSION_COOKIE, ""), self.session()):
            return None
        path = request.url.path
        if path.startswith(FEED_PREFIX) and path.endswith(".atom"):
            name = path[len(FEED_PREFIX):-len(".atom")]
            if _same(request.query_params.get("key", ""), self.feed_key(name)):
                return None
        return PlainTextResponse(
            "this web view needs its token: open the login link `newswatch web` printed "
            "(/login?token=...), or send the header Authorization: Bearer TOKEN\n",
            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    def _login(self, request: Request) -> Response:
        assert self.token is not None
        if not _same(request.query_params.get("token", ""), self.token):
            return PlainTextResponse("wrong or missing token\n", status_code=401)
        # the token leaves the address at once: the next page's URL holds none, so it
        # stays out of history, proxy logs and Referer headers
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, self.session(), httponly=True,
                            samesite="strict", path="/",
                            secure=self.always_secure or request.url.scheme == "https")
        return response


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
