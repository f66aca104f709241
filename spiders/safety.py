"""Refuse to fetch private, loopback and link-local addresses unless a source opts in.

Two guards, because either alone has a hole: the downloader middleware sees every
request (redirect targets included) and refuses IP literals; the resolver sees every DNS
answer and refuses names that resolve to a forbidden address (so a public-looking name
pointing at 169.254.169.254 or 10.0.0.1 is refused too)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from spiders.poll import poll_of

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


class AddressPolicy:
    """Process-wide: which hostnames may resolve to which non-public addresses. Each
    source registers its own hosts with its own allowance."""

    _hosts: dict[str, Allowance] = {}

    @classmethod
    def register(cls, hosts: Iterable[str], allow: Allowance) -> None:
        for host in hosts:
            cls._hosts[host.lower()] = allow

    @classmethod
    def allowance(cls, host: str) -> Allowance:
        return cls._hosts.get(host.lower(), False)


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing answers that the host may not use."""

    def getHostByName(self, name: str, timeout: Any = None) -> Deferred[str]:
        d: Deferred[str] = super().getHostByName(name, timeout)

        def check(ip: str) -> str:
            addr = literal_ip(ip)
            if addr is not None and not is_allowed(addr, AddressPolicy.allowance(name)):
                log.warning("refused %s: it resolves to the non-public address %s", name, ip)
                raise NonPublicAddress(name, ip)
            return ip

        d.addCallback(check)
        return d


class AddressGuardMiddleware:
    """Downloader middleware: refuse requests to forbidden IP literals. A request of a
    poll uses its source's allowance; the engine's own (robots.txt) that of its host."""

    def __init__(self, crawler: Crawler):
        # every request asks, and parsing the host and testing its address against the
        # reserved networks cost more than the rest of the check: verdicts are kept
        self.refused: dict[tuple[str, Any], bool] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlsplit(request.url).hostname or ""
        poll = poll_of(request)
        allow: Allowance = (poll.options.allow_private if poll is not None
                            else AddressPolicy.allowance(host))
        key = (host, allow if isinstance(allow, bool) else tuple(allow))
        refused = self.refused.get(key)
        if refused is None:
            if len(self.refused) >= 4096:  # hosts from redirects are not bounded
                self.refused.clear()
            addr = literal_ip(host)
            refused = self.refused[key] = addr is not None and not is_allowed(addr, allow)
        if refused:
            if poll is not None:
                poll.count("refused_address")
            raise ForbiddenAddress(host, request.url)
