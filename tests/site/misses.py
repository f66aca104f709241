"""Listings that real sites serve and that used to lose alerts without a word: a feed
on another host than its articles, a FeedBurner feed, malformed links among good ones,
a feed URL that serves HTML, sitemaps that loop, carry image and video blocks, or come
as plain text or RSS. Each answer is (status, body, content type)."""

from __future__ import annotations

import html

from tests.site.pages import Article

Answer = tuple[int, bytes, str] | tuple[int, bytes, str, dict[str, str]]
RSS = "application/rss+xml"
XML = "application/xml"


def _rss(items: list[tuple[str, str]], extra_ns: str = "") -> bytes:
    body = "".join(f"<item><title>{html.escape(t)}</title>{link}</item>" for t, link in items)
    return (f'<?xml version="1.0"?><rss version="2.0"{extra_ns}><channel><title>m</title>'
            f"<link>http://x/</link><description>d</description>{body}</channel></rss>"
            ).encode()


def answer(name: str, arts: list[Article], base: str, other: str) -> Answer | None:
    """`base` is the site as the source names it; `other` the same server under another
    host name (localhost), as a feed service or feeds.example.com would be."""
    a, b = arts[0], arts[1]
    if name == "other-host.xml":
        return 200, _rss([(x.title, f"<link>{other}{x.path}</link>") for x in (a, b)]), RSS
    if name == "feedburner.xml":
        ns = ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
        items = [(x.title, f"<link>{base}/misses/proxy/{i}</link>"
                           f"<feedburner:origLink>{other}{x.path}</feedburner:origLink>")
                 for i, x in enumerate((a, b))]
        return 200, _rss(items, ns), RSS
    if name == "bad-links.xml":
        host = base.split("//")[1].split(":")[0]
        bad = [f"http://{host}:99999/x", f"http://{host}:abc/x", f"http://{host}:-1/x",
               "http://[::1/x", f"{base}/{'a' * 3000}"]
        items = [("bad", f"<link>{html.escape(u)}</link>") for u in bad[:2]]
        items += [(a.title, f"<link>{base}{a.path}</link>")]
        items += [("bad", f"<link>{html.escape(u)}</link>") for u in bad[2:]]
        items += [(b.title, f"<link>{base}{b.path}</link>")]
        return 200, _rss(items), RSS
    if name == "html-feed.xml":  # with validators, which must not be kept
        return (200, b"<html><body><h1>We moved our feed</h1></body></html>", "text/html",
                {"ETag": '"moved"', "Last-Modified": "Mon, 30 Nov 2026 08:00:00 GMT"})
    if name == "robots.txt":  # named as a sitemap source, it names no sitemap
        return 200, b"User-agent: *\nDisallow: /private/\n", "text/plain"
    if name == "garbage.xml.gz":
        return 200, b"\x1f\x8b\x08\x00 this is not gzip at all", "application/x-gzip"
    if name == "atom-nodecl.xml":  # UTF-8 said only in the header, a non-ASCII link
        body = (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>'
                f'<title>Caf\u00e9</title><link href="{base}/news/caf\u00e9/"/><id>x</id>'
                f"<updated>{a.published.isoformat()}</updated></entry></feed>")
        return 200, body.encode("utf-8"), "application/atom+xml; charset=utf-8"
    if name == "sitemap.txt":
        return 200, f"{base}{a.path}\n{base}{b.path}\n".encode(), "text/plain"
    if name == "rss-sitemap.xml":
        return 200, _rss([(x.title, f"<link>{base}{x.path}</link>") for x in (a, b)]), XML
    if name == "loop-index.xml":
        body = (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                f'sitemap/0.9"><sitemap><loc>{base}/misses/loop-index.xml</loc></sitemap>'
                f"<sitemap><loc>{base}/misses/loop-child.xml</loc></sitemap></sitemapindex>")
        return 200, body.encode(), XML
    if name == "loop-child.xml":
        body = (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                f'sitemap/0.9"><sitemap><loc>{base}/misses/loop-index.xml</loc></sitemap>'
                f"<sitemap><loc>{base}/misses/image-sitemap.xml</loc></sitemap>"
                f"</sitemapindex>")
        return 200, body.encode(), XML
    if name == "image-sitemap.xml":
        when = a.published.isoformat()
        body = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" '
            'xmlns:video="http://www.google.com/schemas/sitemap-video/1.1" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
            f"<image:image><image:loc>{base}/img/photo.jpg</image:loc>"
            "<image:title>A caption, not the story</image:title></image:image>"
            f"<loc>{base}{a.path}</loc>"
            "<video:video><video:title>A clip</video:title>"
            "<video:publication_date>2001-01-01T00:00:00Z</video:publication_date>"
            "</video:video>"
            "<news:news><news:publication><news:name>Daily</news:name></news:publication>"
            f"<news:publication_date>{when}</news:publication_date>"
            f"<news:title>{html.escape(a.title)}</news:title></news:news></url></urlset>")
        return 200, body.encode(), XML
    return None
