"""Certificate checks per source. Scrapy's own context factory checks no certificate:
this one checks each host's (against the system's trusted authorities) unless every
source that fetches from the host turned `verify_tls` off, and remembers why OpenSSL
refused a host's certificate, which its handshake error does not say."""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from OpenSSL import SSL, crypto
from scrapy.utils._deps_compat import TWISTED_TLS_NEW_IMPL
from twisted.internet._sslverify import ClientTLSOptions
from twisted.internet.ssl import CertificateOptions, platformTrust

log = logging.getLogger(__name__)


def _caller_only(context: int = 1) -> list[tuple[FrameType, ...]]:
    """inspect.stack() as far as Scrapy's deprecated-class shims read it: the frame of
    the caller's caller (stack()[1][0]), without reading the source of every frame."""
    frame = sys._getframe(1)
    return [(frame,), (frame.f_back or frame,)]


def _import_context_factory() -> type:
    """Scrapy's context factory module. Importing it makes three deprecated aliases
    (scrapy.utils.deprecate.create_deprecated_class), each of which calls
    inspect.stack() only to name the module it was made in: that reads the source line
    of every frame on the import's stack and scans every loaded module for each, 0.3 s
    of every crawl's start-up (profiled; more than the rest of Scrapy's imports). The
    import runs with a stack() that hands over just those frames."""
    if "scrapy.core.downloader.contextfactory" not in sys.modules:
        full = inspect.stack
        inspect.stack = _caller_only  # type: ignore[assignment]
        try:
            import scrapy.core.downloader.contextfactory  # noqa: F401
        finally:
            inspect.stack = full
    from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory

    return _ScrapyClientContextFactory


if TYPE_CHECKING:
    from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
else:
    _ScrapyClientContextFactory = _import_context_factory()

# OpenSSL's X509_V_ERR_* codes, in words (the rest: OpenSSL's own text)
_VERIFY_ERRORS = {
    9: "certificate not yet valid",
    10: "certificate expired",
    18: "self-signed certificate (unknown issuer)",
    19: "self-signed certificate in the chain (unknown issuer)",
    20: "certificate of an unknown issuer",
    21: "certificate of an unknown issuer",
    23: "certificate revoked",
}


class TlsPolicy:
    """One engine's record (shared through the settings, NEWSWATCH_TLS): the hosts (host
    and port, which is what a TLS connection is made for) whose certificates are not
    checked, and the last reason a host's certificate was refused. A host is checked
    unless every source that fetches from it turned `verify_tls` off: one source's
    opt-out never loosens another's fetches."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.lenient: set[tuple[str, int]] = set()
        self.strict: set[tuple[str, int]] = set()
        self.refused: dict[tuple[str, int], str] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> TlsPolicy:
        return self  # Scrapy copies settings per crawler: this is one live record

    def register(self, urls: Iterable[str], verify: bool) -> None:
        """The hosts of these URLs are checked (or not) as their source asks; a host
        that a checking source uses stays checked."""
        for url in urls:
            found = self.strict if verify else self.lenient
            if len(found) >= self.LIMIT:  # hosts from links are not bounded
                found.clear()  # a forgotten lenient host is checked: the safe side
                if verify:
                    self.lenient.clear()
            found.add(netloc(url))

    def verifies(self, host: str, port: int) -> bool:
        key = (host.lower(), port)
        return key in self.strict or key not in self.lenient

    def why_refused(self, host: str, port: int) -> str | None:
        return self.refused.get((host.lower(), port))


def tls_policy(settings: Any) -> TlsPolicy:
    """The engine's record; without one (`scrapy crawl` alone) a fresh one, which checks
    every host."""
    found = settings.get("NEWSWATCH_TLS")
    return found if isinstance(found, TlsPolicy) else TlsPolicy()


def netloc(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return ((parts.hostname or "").lower(),
            port or (443 if parts.scheme == "https" else 80))


def verify_error(errno: int) -> str:
    if errno in _VERIFY_ERRORS:
        return _VERIFY_ERRORS[errno]
    return f"certificate refused (OpenSSL verify error {errno})"


class _Connection(SSL.Connection):
    """A client connection that notes why OpenSSL refused its peer's certificate
    before passing the verdict on to Twisted's own check (the host name)."""

    netloc: tuple[str, int] = ("", 0)
    policy: TlsPolicy | None = None

    def set_verify(self, mode: int, callback: Any = None) -> None:
        if callback is None:
            super().set_verify(mode)
            return
        netloc, policy = self.netloc, self.policy

        def noted(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int,
                  ok: int) -> bool:
            if not ok and policy is not None:
                policy.refused[netloc] = verify_error(errno)
            return bool(callback(conn, cert, errno, depth, ok))

        super().set_verify(mode, noted)


class SourceContextFactory(_ScrapyClientContextFactory):
    """DOWNLOADER_CLIENTCONTEXTFACTORY: Scrapy's factory, verifying or not per host."""

    policy = TlsPolicy()  # replaced by the engine's in from_crawler

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SourceContextFactory:
        factory = super().from_crawler(crawler, *args, **kwargs)
        factory.policy = tls_policy(crawler.settings)
        return factory

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        host = hostname.decode("ascii")
        verify = self.policy.verifies(host, port)
        # set for this call only: the reactor makes one connection at a time
        self._verify_certificates = verify
        if not verify or not TWISTED_TLS_NEW_IMPL:
            return super().creatorForNetloc(hostname, port)
        # what optionsForClientTLS makes, with connections that note the reason
        options = CertificateOptions(trustRoot=platformTrust(),
                                     **self._get_cert_options_kwargs())
        netloc = (host.lower(), port)

        def connection(protocol: Any) -> SSL.Connection:
            conn = _Connection(options.getContext())
            conn.netloc = netloc
            conn.policy = self.policy
            return conn

        return ClientTLSOptions(connection, host)
