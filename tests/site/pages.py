"""HTML, feeds and sitemaps of the fixture site, built from articles.yaml."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from ruamel.yaml import YAML

HERE = Path(__file__).parent


@dataclass
class Article:
    slug: str
    section: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]
    extra_clutter: bool = True
    tags: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/news/{self.published:%Y/%m/%d}/{self.slug}/"


def breaking(slug: str, title: str, *paragraphs: str, section: str = "national") -> Article:
    """A story published just now, for tests that add one to the running site."""
    return Article(slug, section, title, "Desk Report",
                   datetime.now(UTC).replace(microsecond=0), list(paragraphs))


def load_articles(now: datetime | None = None, name: str = "articles.yaml") -> list[Article]:
    """The fixture articles of articles.yaml (or of urdu.yaml), dated from `now`."""
    now = now or datetime.now(UTC)
    raw = YAML(typ="safe").load((HERE / name).read_text(encoding="utf-8"))
    out = []
    for a in raw:
        published = (now - timedelta(days=a["days_ago"])).replace(microsecond=0)
        out.append(Article(a["slug"], a["section"], a["title"], a["author"], published,
                           a["paragraphs"]))
    return out


SIDEBAR_HEADLINES = [
    "Crypto council row: what the finance adviser really said",
    "Blockchain MoU explained in five charts",
    "Markets close higher on energy stocks",
    "Weather: dry spell to continue",
]


def layout(title: str, body: str, base: str, head_extra: str = "") -> str:
    menu = "".join(f'<li><a href="{base}/section/{s}/">{s.title()}</a></li>'
                   for s in ("business", "national", "sport"))
    latest = "".join(f'<li><a href="{base}/">{html.escape(h)}</a></li>'
                     for h in SIDEBAR_HEADLINES)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} | The Daily Fixture</title>
<link rel="alternate" type="application/rss+xml" title="Latest" href="{base}/feed.xml">
{head_extra}
</head><body>
<header><div class="logo">The Daily Fixture</div>
<nav><ul><li><a href="{base}/">Home</a></li>{menu}<li><a href="{base}/tag/crypto/">Crypto</a></li></ul></nav>
<form action="/search"><input name="q" placeholder="Search"></form></header>
<div class="cookie-banner">We use cookies to improve your reading. <button>Accept</button></div>
<main>{body}</main>
<aside class="sidebar"><h3>Latest news</h3><ul>{latest}</ul>
<div class="ad">Advertisement: Subscribe for unlimited reading</div></aside>
<footer><p>© The Daily Fixture. All rights reserved.</p>
<ul><li><a href="{base}/about/">About us</a></li><li><a href="{base}/contact/">Contact</a></li>
<li><a href="{base}/privacy/">Privacy policy</a></li></ul></footer>
</body></html>"""


def article_page(a: Article, base: str) -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in a.paragraphs)
    body = f"""<article>
<h1>{html.escape(a.title)}</h1>
<div class="byline">By <span class="author">{html.escape(a.author)}</span>
<time datetime="{a.published.isoformat()}">{a.published:%d %B %Y}</time></div>
<div class="article-body">{paras}</div>
<div class="share">Share on Facebook | Share on X | Copy link</div>
</article>
<section class="comments"><h3>Comments</h3>
<div class="comment"><b>reader42</b>: First! Great article, crypto council forever.</div>
<div class="comment"><b>skeptic</b>: Another memorandum of understanding nobody will read.</div>
</section>"""
    head = (f'<link rel="canonical" href="{base}{a.path}">'
            f'<meta property="article:published_time" content="{a.published.isoformat()}">'
            f'<meta name="author" content="{html.escape(a.author)}">')
    return layout(a.title, body, base, head)


def listing_page(title: str, articles: list[Article], base: str) -> str:
    items = "".join(
        f'<li><a href="{base}{a.path}">{html.escape(a.title)}</a></li>' for a in articles)
    body = f"<h1>{html.escape(title)}</h1><ul class='stories'>{items}</ul>" \
           f'<a href="{base}/tag/crypto/">More on crypto</a>'
    return layout(title, body, base)


def rss_feed(articles: list[Article], base: str,
             tracking: str = "utm_source=rss&utm_medium=feed") -> str:
    items = []
    for a in articles:
        link = f"{base}{a.path}" + (f"?{tracking}" if tracking else "")
        items.append(f"""<item><title>{html.escape(a.title)}</title><link>{html.escape(link)}</link>
<guid isPermaLink="false">{a.slug}</guid><pubDate>{format_datetime(a.published)}</pubDate>
<description>{html.escape(a.paragraphs[0])}</description></item>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>The Daily Fixture</title><link>{base}/</link>
<description>Latest stories</description>{''.join(items)}</channel></rss>"""


def atom_feed(articles: list[Article], base: str) -> str:
    entries = "".join(
        f"""<entry><title>{html.escape(a.title)}</title><link rel="alternate" href="{base}{a.path}"/>
<id>{base}{a.path}</id><updated>{a.published.isoformat()}</updated></entry>"""
        for a in articles)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>The Daily Fixture</title>
<id>{base}/</id><updated>{datetime.now(UTC).isoformat()}</updated>{entries}</feed>"""


def rdf_feed(articles: list[Article], base: str) -> str:
    items = "".join(
        f"""<item rdf:about="{base}{a.path}"><title>{html.escape(a.title)}</title>
<link>{base}{a.path}</link><dc:date>{a.published.isoformat()}</dc:date></item>"""
        for a in articles)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="{base}/"><title>The Daily Fixture</title><link>{base}/</link>
<description>Latest</description></channel>{items}</rdf:RDF>"""


def sitemap_index(base: str, old: datetime) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{base}/sitemap-news.xml</loc><lastmod>{datetime.now(UTC).isoformat()}</lastmod></sitemap>
<sitemap><loc>{base}/sitemap-2019.xml</loc><lastmod>{old.isoformat()}</lastmod></sitemap>
</sitemapindex>"""


def news_sitemap(articles: list[Article], base: str) -> str:
    urls = "".join(
        f"""<url><loc>{base}{a.path}</loc><news:news><news:publication>
<news:name>The Daily Fixture</news:name><news:language>en</news:language></news:publication>
<news:publication_date>{a.published.isoformat()}</news:publication_date>
<news:title>{html.escape(a.title)}</news:title></news:news></url>"""
        for a in articles)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
 xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>"""


WIRE_NOTE = "This report was distributed by a news agency and may appear on other sites."


def wire_path(a: Article) -> str:
    return f"/wire/{a.slug}/"


def wire_feed(articles: list[Article], base: str) -> str:
    """Another outlet's feed carrying agency copies of the business stories."""
    items = "".join(
        f"""<item><title>{html.escape(a.title)}</title><link>{base}{wire_path(a)}</link>
<pubDate>{format_datetime(a.published)}</pubDate></item>"""
        for a in articles if a.section == "business")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>The Evening Wire</title><link>{base}/wire/</link>
<description>Agency copy</description>{items}</channel></rss>"""


def wire_page(a: Article, base: str) -> str:
    """The same story as the other outlet runs it: its own layout and a closing note."""
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in [*a.paragraphs, WIRE_NOTE])
    body = f"""<div class="story"><h1 class="headline">{html.escape(a.title)}</h1>
<p class="dateline"><time datetime="{a.published.isoformat()}">{a.published:%d %b %Y}</time></p>
<div class="story-body">{paras}</div></div>"""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(a.title)} - The Evening Wire</title></head><body>
<div class="top"><a href="{base}/wire/">The Evening Wire</a> | Markets | World | Opinion</div>
{body}
<div class="more"><h4>More from the wire</h4><ul><li>Crypto council row: what the finance adviser really said</li></ul></div>
<div class="foot">The Evening Wire, an agency service.</div></body></html>"""
