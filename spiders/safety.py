"""Refuse to fetch private, loopback and link-local addresses unless a source opts in.

Each request is judged by its own source's allowance, so one source's opt-in never opens
an address to another: the downloader middleware sees every request (redirect targets
included), resolves its host and refuses an address the request's source may not reach
(so a public-looking name pointing at 169.254.169.254 or 10.0.0.1 is refused too). The
resolver is the second guard: it gives a connection a non-public address only if that
check approved it for that name, so an answer that changes in between is refused."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import DNSLookupError

from newswatch.spiders.poll import poll_of

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Allowance = bool | list[Network]


class ForbiddenAddress(IgnoreRequest):
    """A request to an address the source may not reach."""

    def __init__(self, host: str, url: str):
        super().__init__(f"refused non-public address {host} ({url})")
        self.reason = f"refused non-public address {host} (allow_private is off)"


class NonPublicAddress(DNSLookupError):
    """A name that resolves to an address its source may not reach."""

    def __init__(self, name: str, ip: str):
        super().__init__(f"{name} resolves to non-public address {ip}")
        self.reason = f"refused: {name} resolves to the non-public address {ip}"


def is_allowed(ip: IPAddress, allow: Allowance) -> bool:
    """Public addresses always; others only if allowed (True: any; list: those nets)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    if ip.is_unspecified or ip.is_multicast or (ip.is_reserved and not ip.is_private):
        return False
    if allow is True:
        return True
    if not allow:
        return False
    return any(ip in net for net in allow)


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class Approvals:
    """What the address checks of this process let through: per host name, the
    non-public addresses that a request's own source was allowed to reach. The resolver
    answers a connection with a non-public address only if the check of a request for
    that name approved that very address, so a name whose answer changes between the
    check and the connection (DNS rebinding) is refused. Shared by the resolver and the
    middleware through the settings (NEWSWATCH_ADDRESSES); one per engine process."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], None] = {}
        self.lookup: Callable[[str], Deferred[str]] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Approvals:
        return self  # Scrapy copies settings per crawler: this is one live record

    def approve(self, name: str, ip: str) -> None:
        if len(self.pairs) >= self.LIMIT:  # oldest first: hosts are not bounded
            self.pairs.pop(next(iter(self.pairs)))
        self.pairs[(name.lower(), ip)] = None

    def approved(self, name: str, ip: str) -> bool:
        return (name.lower(), ip) in self.pairs

    def resolve(self, name: str) -> Deferred[str]:
        """The name's address, as the resolver will give it (its cache), unchecked."""
        if self.lookup is not None:
            return self.lookup(name)
        from twisted.internet import reactor

        return reactor.resolve(name)  # type: ignore[arg-type]


def approvals_in(settings: Any) -> Approvals | None:
    found = settings.get("NEWSWATCH_ADDRESSES")
    return found if isinstance(found, Approvals) else None


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing non-public answers that no request's own
    check approved (see Approvals)."""

    approvals: Approvals | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.approvals = approvals_in(crawler.settings)
        if resolver.approvals is not None:
            resolver.approvals.lookup = resolver.lookup
        return resolver

    def lookup(self, name: str) -> Deferred[str]:
        return super().getHostByName(name)

    def getHostByName(self, name: str, timeout: Any = None) -> Deferred[str]:
        given = literal_ip(name)
        if isinstance(given, ipaddress.IPv4Address):
            # what gethostbyname answers for an address, without its trip to a thread
            # (Twisted's endpoints resolve every host, addresses too: a thread hop per
            # new host cost more than the rest of its connection); judged by the
            # middleware, as any address given as such
            return succeed(str(given))
        d: Deferred[str] = super().getHostByName(name, timeout)
        approvals = self.approvals

        def check(ip: str) -> str:
            addr = literal_ip(ip)
            # an address given as such was judged by the middleware itself; without a
            # record (`scrapy crawl` alone) the middleware is the only guard
            if (approvals is not None and addr is not None and literal_ip(name) is None
                    and not is_allowed(addr, False) and not approvals.approved(name, ip)):
                log.warning("refused %s: it resolves to the non-public address %s", name, ip)
                raise NonPublicAddress(name, ip)
            return ip

        d.addCallback(check)
        return d


class AddressGuardMiddleware:
    """Downloader middleware: refuse a request whose host is, or resolves to, an address
    its own source may not reach. A request of a poll uses its source's allowance; a
    one-page spider's (`newswatch match`) its own; robots.txt, which the engine asks for
    a host after one of its polls' requests to that host passed, the allowance of that
    poll."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.approvals = approvals_in(crawler.settings) or Approvals()
        # the allowance of the last poll request per host:port, for its robots.txt
        self.robots: dict[str, Allowance] = {}
        # verdicts per (address, allowance): testing an address against the reserved
        # networks costs more than the rest of the check, and every request asks
        self.verdicts: dict[tuple[str, Any], bool] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def _allowance(self, request: Request, netloc: str) -> Allowance:
        poll = poll_of(request)
        if poll is not None:
            if len(self.robots) >= Approvals.LIMIT:
                self.robots.clear()
            self.robots[netloc] = poll.options.allow_private
            return poll.options.allow_private
        own = getattr(self.crawler.spider, "allow_private", None)
        if own is not None:
            return cast(Allowance, own)
        return self.robots.get(netloc, False)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        allow = self._allowance(request, parts.netloc)
        given = literal_ip(host)
        by_name = given is None
        if given is not None:
            addr = given
        else:
            try:
                ip = await maybe_deferred_to_future(self.approvals.resolve(host))
            except Exception:  # the download meets the same failure and says why
                return None
            answer = literal_ip(ip)
            if answer is None:
                return None
            addr = answer
        key = (str(addr), allow if isinstance(allow, bool) else tuple(allow))
        ok = self.verdicts.get(key)
        if ok is None:
            if len(self.verdicts) >= Approvals.LIMIT:
                self.verdicts.clear()
            ok = self.verdicts[key] = is_allowed(addr, allow)
        if not ok:
            poll = poll_of(request)
            if poll is not None:
                poll.count("refused_address")
            raise ForbiddenAddress(f"{host} ({addr})" if by_name else host, request.url)
        if by_name and not is_allowed(addr, False):
            self.approvals.approve(host, str(addr))
        return None
