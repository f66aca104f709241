"""The floor of an unchanged re-crawl, for bench/scale.py: a bare asyncio HTTP client
making the requests `newswatch crawl` makes when nothing changed (robots.txt, then a
conditional GET of the feed with the validators newswatch stored, answered 304), to the
same sites, at most as many sites at once.

    python bench/bare_client.py aiohttp|streams NW_DB

`aiohttp`: a real HTTP client library, as a hand-written poller would use; `streams`:
nothing but asyncio streams. Imports nothing of newswatch, so that its CPU is the
requests' and an interpreter's. Prints how many answers had each status (JSON)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

# polls at once: newswatch's daemon.concurrent_sources default, so that both clients keep
# as many sites busy
BARE_SITES_AT_ONCE = 100
USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"


def stored_validators(db: Path) -> list[tuple[str, str | None, str | None]]:
    """Each feed's URL and the validators newswatch stored for it (its first crawl)."""
    con = sqlite3.connect(db)
    try:
        return [(url, etag, modified) for url, etag, modified in con.execute(
            "select url, etag, last_modified from http_validators order by url")]
    finally:
        con.close()


def conditional_headers(etag: str | None, modified: str | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT}
    if etag:
        out["If-None-Match"] = etag
    if modified:
        out["If-Modified-Since"] = modified
    return out


async def _stream_get(url: str, headers: dict[str, str]) -> int:
    """One GET over a connection of its own, with nothing but asyncio streams."""
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    host, _, port = netloc.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port or 80))
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"GET /{path} HTTP/1.1\r\nHost: {netloc}\r\n{head}"
                     "Connection: close\r\n\r\n".encode("latin-1"))
        status = int((await reader.readline()).split()[1])
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            await reader.read()
        elif length:
            await reader.readexactly(length)
        return status
    finally:
        writer.close()
        await writer.wait_closed()


async def bare_recrawl(feeds: list[tuple[str, str | None, str | None]], kind: str
                       ) -> dict[int, int]:
    """robots.txt, then the conditional GET of the feed, for every site, at most
    BARE_SITES_AT_ONCE sites at once; returns how many answers had each status."""
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(BARE_SITES_AT_ONCE)
    session: Any = None
    if kind == "aiohttp":
        import aiohttp

        # a connection per request, as the sites close each one
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
            limit=2 * BARE_SITES_AT_ONCE, force_close=True))

    async def get(url: str, headers: dict[str, str]) -> None:
        if session is not None:
            async with session.get(url, headers=headers, allow_redirects=False) as resp:
                await resp.read()
                status = resp.status
        else:
            status = await _stream_get(url, headers)
        statuses[status] = statuses.get(status, 0) + 1

    async def site(url: str, etag: str | None, modified: str | None) -> None:
        async with limit:
            robots = "/".join(url.split("/", 3)[:3]) + "/robots.txt"
            await get(robots, {"User-Agent": USER_AGENT})
            await get(url, conditional_headers(etag, modified))

    try:
        await asyncio.gather(*(site(*f) for f in feeds))
    finally:
        if session is not None:
            await session.close()
    return statuses


def main() -> int:
    kind, db = sys.argv[1], Path(sys.argv[2])
    if kind not in ("aiohttp", "streams"):
        sys.exit(f"no such bare client: {kind} (aiohttp, streams)")
    statuses = asyncio.run(bare_recrawl(stored_validators(db), kind))
    print(json.dumps(statuses), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
