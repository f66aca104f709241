"""Publication times (SPEC §14): the most precise one known (the page's full timestamp,
else the feed's, else the page's date, kept as a date), stored with its precision and
shown in the config's timezone with its abbreviation. The chooser on its own, then the
fixture site's /times/ articles crawled and read back through the email (a real SMTP
server), `recent`, the Atom feed and a real `newswatch web` process, in two zones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest

from newswatch.config.times import (
    choose,
    from_row,
    last_instant,
    parse_iso,
    precise,
    readable,
    to_row,
)
from newswatch.pipeline.dates import page_published
from newswatch.pipeline.extract import extract_page
from newswatch.pipeline.store import published_of, record_for
from newswatch.spiders.items import ArticlePage
from newswatch.spiders.links import parse_feed
from tests.conftest import run_cli, write_config
from tests.site import times
from tests.site.server import FixtureServer
from tests.smtp import SmtpServer
from tests.test_alerts import html, plain

D = date(2026, 12, 3)
FIVE = timezone(timedelta(hours=5))


def utc(h: int, m: int, day: date = D) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


# -- the chooser ----------------------------------------------------------------------

def test_the_page_full_timestamp_wins_over_the_feed() -> None:
    page = datetime(2026, 12, 3, 9, 15, tzinfo=FIVE)
    assert choose(page, utc(18, 0)) == page
    assert choose(page, None) == page


def test_a_page_date_takes_the_feed_time_of_that_day() -> None:
    assert choose(D, utc(10, 34)) == utc(10, 34)
    # the page's zone is unknown: a feed time that is on D somewhere on Earth counts
    assert choose(D, utc(11, 0, D - timedelta(days=1))) == utc(11, 0, D - timedelta(days=1))
    assert choose(D, utc(11, 0, D + timedelta(days=1))) == utc(11, 0, D + timedelta(days=1))


def test_a_page_date_that_the_feed_contradicts_stays_a_date() -> None:
    assert choose(D, utc(20, 0, D + timedelta(days=1))) == D
    assert choose(D, utc(9, 0, D - timedelta(days=1))) == D
    assert choose(D, date(2026, 12, 4)) == D  # a sitemap's bare date is no more precise


def test_without_a_page_date_the_feed_or_sitemap_gives_it() -> None:
    assert choose(None, utc(21, 50)) == utc(21, 50)
    assert choose(None, D) == D
    assert choose(None, None) is None


def test_midnight_is_a_date_and_a_zoneless_time_names_no_instant() -> None:
    assert precise(datetime(2026, 12, 3, 0, 0, tzinfo=UTC)) == D
    assert precise(datetime(2026, 12, 3, 0, 0, tzinfo=FIVE)) == D
    assert precise(datetime(2026, 12, 3, 0, 1, tzinfo=UTC)) == utc(0, 1)
    assert parse_iso("2026-12-03") == D
    assert parse_iso("2026-12-03T15:34:00+0500") == datetime(2026, 12, 3, 15, 34, tzinfo=FIVE)
    assert parse_iso("2026-12-03T15:34:00", naive_zone=None) == D
    assert parse_iso("2026-12-03T15:34:00") == utc(15, 34)  # sitemaps: UTC
    assert parse_iso("yesterday") is None


def test_the_precision_survives_the_database_columns() -> None:
    page = datetime(2026, 12, 3, 15, 34, tzinfo=FIVE)
    assert from_row(*to_row(page)) == page
    assert from_row(*to_row(D)) == D
    assert to_row(D) == (utc(0, 0), "date")
    # a row stored before the precision column: a bare date was written as midnight UTC
    assert from_row(utc(0, 0), None) == D
    assert from_row(utc(10, 34), None) == utc(10, 34)


def test_shown_in_the_zone_with_its_abbreviation_and_a_date_as_a_date() -> None:
    karachi, new_york = ZoneInfo("Asia/Karachi"), ZoneInfo("America/New_York")
    assert readable(utc(10, 34), karachi) == "2026-12-03 15:34 PKT"
    assert readable(utc(10, 34), new_york) == "2026-12-03 05:34 EST"
    assert readable(datetime(2026, 7, 1, 10, 34, tzinfo=UTC), new_york) == \
        "2026-07-01 06:34 EDT"
    assert readable(D, karachi) == readable(D, new_york) == "2026-12-03"
    assert readable(None, karachi, "unknown") == "unknown"


def test_a_bare_date_is_too_old_only_once_its_day_is_over_everywhere() -> None:
    window = timedelta(days=3)

    def aged(page: str, now: datetime) -> bool:
        item = ArticlePage(source="s", url="https://s.example/a", request_url="x", body=b"",
                           extracted={"text": "words", "date": page})
        return record_for(item, now, window).too_old

    # the old code read the date as midnight UTC and dropped it 12 hours early here
    assert not aged("2026-11-30T00:00:00", utc(12, 0))
    assert aged("2026-11-29T00:00:00", utc(12, 0) + timedelta(days=1))
    assert last_instant(D) == utc(12, 0, D + timedelta(days=1))


def test_the_page_time_is_read_when_htmldate_gives_only_the_date() -> None:
    """htmldate returns a date-only meta's day although a <time> holds the timestamp;
    a <time> of another day (a related story) is not taken."""
    tree = lxml.html.document_fromstring(
        '<html><head><meta property="article:published_time" content="2026-12-03">'
        '</head><body><time datetime="2026-12-01T08:00:00+05:00">related</time>'
        '<time datetime="2026-12-03T15:34:00+05:00">3 Dec</time></body></html>')
    assert page_published(tree, "2026-12-03T00:00:00") == datetime(2026, 12, 3, 15, 34,
                                                                   tzinfo=FIVE)
    ld = lxml.html.document_fromstring(
        '<html><head><script type="application/ld+json">{"@graph": [{"@type": '
        '"NewsArticle", "datePublished": "2026-12-03T10:34:00Z"}]}</script></head></html>')
    assert page_published(ld, "2026-12-03T00:00:00") == utc(10, 34)
    assert page_published(ld, None) is None


@pytest.mark.parametrize("art", times.articles(D), ids=lambda a: a.slug)
def test_each_fixture_article_settles_on_its_time(art: times.Timed) -> None:
    """Through the real extraction and the real feed parser, as the crawl does it."""
    extracted = extract_page("http://127.0.0.1" + art.path, times.page(art).encode(), "utf-8")
    assert extracted["text"]
    links = parse_feed(times.feed([art], "http://127.0.0.1").encode(), "http://127.0.0.1")
    item = ArticlePage(source="times", url=links[0].url, request_url=links[0].url, body=b"",
                       feed_date=links[0].date, extracted=extracted)
    assert published_of(item) == art.expected


# -- end to end -----------------------------------------------------------------------

@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def expected(art: times.Timed, zone: str) -> str:
    """Written out here, not with the code under test."""
    if isinstance(art.expected, datetime):
        return art.expected.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    return art.expected.isoformat()


@pytest.mark.parametrize("zone", ["Asia/Karachi", "America/New_York"])
def test_times_through_email_recent_atom_and_web(site: FixtureServer, smtp: SmtpServer,
                                                 tmp_path: Path, zone: str) -> None:
    from tests.test_web import Web

    arts = times.articles()
    cfg = write_config(tmp_path, dedent(f"""
        timezone: {zone}
        sources:
          - name: times
            feeds: ["{site.base}/times/feed.xml"]
        alerts:
          from: "newswatch <alerts@newswatch.test>"
          to: [desk@example.org]
          smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none, timeout: 5s}}
        watches:
          - name: harbour
            query: harbour
        """))
    crawl = run_cli("crawl", config=cfg)
    assert crawl.returncode == 0, crawl.stderr
    shown = {a.slug: expected(a, zone) for a in arts}
    abbreviation = "PKT" if zone == "Asia/Karachi" else r"E[SD]T"
    for a in arts:  # never a midnight, always the zone's abbreviation
        assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d( \d\d:\d\d {abbreviation})?", shown[a.slug])
    if zone == "Asia/Karachi":  # the user's case, spelt out
        day = arts[0].expected.date()  # type: ignore[union-attr]
        assert shown["date-with-feed-time"] == f"{day} 15:34 PKT"
        assert shown["feed-time"] == f"{day + timedelta(days=1)} 02:50 PKT"
        assert shown["date-only"] == shown["date-feed-other-day"] == f"{day}"

    # the email: text and HTML parts
    [msg] = smtp.received
    assert isinstance(msg, EmailMessage)
    text, markup = plain(msg), html(msg)
    for a in arts:
        assert f"{site.base}{a.path}\ntimes · published {shown[a.slug]} · matched" in text
        assert re.search(rf">{re.escape(a.title)}</a>\s*</div>\s*<div[^>]*>times &middot; "
                         rf"published {re.escape(shown[a.slug])} &middot;", markup), a.slug
    assert "00:00" not in text and "05:00" not in text

    # recent: publication and match times, both with the zone
    recent = run_cli("recent", config=cfg, env={"COLUMNS": "250"})
    assert recent.returncode == 0, recent.stderr
    out = recent.stdout
    starts = sorted((out.index(a.title), a.slug) for a in arts)
    for (at, slug), (end, _) in zip(starts, [*starts[1:], (len(out), "")], strict=True):
        block = out[at:end]  # an article's rows, up to the next article's title
        assert f"published {shown[slug]}" in block, block
        # when it matched: today, with the zone's abbreviation
        assert re.search(rf"\d\d:\d\d {abbreviation}", block.replace(shown[slug], "")), block

    # Atom: the exact instant; a bare date has no date-time, so no <published>
    out = tmp_path / "harbour.atom"
    assert run_cli("feed", "harbour", "-o", str(out), config=cfg).returncode == 0
    parsed = feedparser.parse(out.read_bytes())
    assert parsed.version == "atom10" and not parsed.bozo
    entries = {e.link: e for e in parsed.entries}
    for a in arts:
        entry = entries[site.base + a.path]
        if isinstance(a.expected, datetime):
            assert datetime.fromisoformat(entry.published) == a.expected
        else:
            assert "published" not in entry
            assert f"published {a.expected.isoformat()}" in entry.summary

    # the web view's list and each match's page
    web = Web(cfg).up()
    try:
        page = web.open("/?watch=harbour").read()
        doc = lxml.html.document_fromstring(page)
        listed = {row.findtext(".//a[@class='title']"): row.findtext(".//span[@class='published']")
                  for row in doc.iterfind(".//tr[@class='match']")}
        assert listed == {a.title: shown[a.slug] for a in arts}
        link = doc.find(".//tr[@class='match']//a[@class='title']")
        one = lxml.html.document_fromstring(web.open(link.get("href")).read())
        title = one.findtext(".//h1")
        assert one.findtext(".//span[@class='published']") == \
            next(shown[a.slug] for a in arts if a.title == title)
    finally:
        assert web.stop() == 0


def test_log_lines_are_stamped_in_the_config_timezone(site: FixtureServer,
                                                     tmp_path: Path) -> None:
    cfg = write_config(tmp_path, dedent(f"""
        timezone: Asia/Karachi
        sources:
          - name: times
            feeds: ["{site.base}/times/feed.xml"]
        watches:
          - name: harbour
            query: harbour
        """))
    proc = run_cli("crawl", "-v", config=cfg)
    assert proc.returncode == 0, proc.stderr
    stamped = [line for line in proc.stderr.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert stamped
    for line in stamped:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} PKT (DEBUG|INFO|WARNING|ERROR) ",
                        line), line


def test_the_ops_email_gives_its_run_times_with_the_zone() -> None:
    from newswatch.alerts.render import Renderer

    msg = Renderer(None, "Asia/Karachi").health_message(
        "harbour-times", "failing", "HTTP 404 Not Found",
        [{"started": utc(10, 34), "status": "failed", "message": "HTTP 404 Not Found"}],
        sender="n <ops@newswatch.test>", recipient="ops@example.org",
        message_id="<ops@newswatch.test>", now=utc(10, 40))
    assert "2026-12-03 15:34 PKT  failed" in plain(msg)
    assert "<td>2026-12-03 15:34 PKT</td>" in html(msg)


def test_an_older_database_gets_the_precision_column(tmp_path: Path) -> None:
    import sqlite3

    from newswatch.store.db import Store

    db = tmp_path / "old.db"
    Store(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)  # the articles table as it was before published_precision
    con.execute("alter table articles drop column published_precision")
    con.execute("drop table alembic_version")  # made before migrations (0.1.0)
    con.execute("drop table schedules")  # came with 0.3.0, as did these indexes
    for index in ("ix_articles_kept_source", "ix_articles_kept_first_seen",
                  "ix_matches_article_id", "ix_matches_duplicate_of",
                  "ix_matches_watch_matched_at", "ix_url_aliases_article_id"):
        con.execute(f"drop index {index}")
    con.execute("insert into articles (url_key, url, source, published, first_seen, too_old, "
                "has_text) values ('k', 'https://s.example/a', 's', '2026-12-03 00:00:00.000000',"
                " '2026-12-03 09:00:00.000000', 0, 1)")
    con.commit()
    con.close()
    store = Store(f"sqlite:///{db}")
    [row] = store.articles()
    store.close()
    assert "published_precision" in row and row["published_precision"] is None
    assert from_row(row["published"], row["published_precision"]) == D
