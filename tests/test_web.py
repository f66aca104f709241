"""`newswatch web` as a real uvicorn process, stopped with SIGTERM, over a store filled by
real crawls of the fixture site; pages looked at in a real headless browser (Debian's
chromium, driven by Playwright with its executable path: nothing is downloaded). The
token rule is tried on 127.0.0.2."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, db_rows, run_cli
from tests.procs import wait_for
from tests.site.pages import breaking
from tests.site.server import FixtureServer
from tests.smtp import free_port
from tests.test_feeds import config as feeds_config

pytestmark = pytest.mark.slow

HOSTILE = "<script>alert('x')</script> Crypto council & <b>friends</b>"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("Debian's chromium is not installed")
    return found


TOKEN = "test-token-of-the-web-view-0123"


class Web:
    """`newswatch web` on a free port, with the test token (or `env`'s) and a state folder
    of its own beside the config."""

    def __init__(self, config: Path, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None, *args: str):
        self.port = free_port()
        self.base = f"http://{host}:{self.port}"
        self.log = config.parent / "web.log"
        self.out = config.parent / "web.out"
        env = {"NEWSWATCH_WEB_TOKEN": TOKEN, "XDG_STATE_HOME": str(config.parent / "state"),
               **(env or {})}
        self.token = env["NEWSWATCH_WEB_TOKEN"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "web", "-c", str(config), "--host", host,
             "--port", str(self.port), *args], cwd=ROOT, stdout=self.out.open("w"),
            stderr=self.log.open("w"), env={**os.environ, **env},
            start_new_session=True)

    def open(self, path: str, **headers: str) -> Any:
        """GET with the token as a Bearer header (as a script or Prometheus would)."""
        return urllib.request.urlopen(urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {self.token}", **headers}),
            timeout=5)

    def up(self) -> Web:
        def answers() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                urllib.request.urlopen(self.base + "/feeds/all.atom", timeout=2)
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False
            return True

        wait_for(answers, 30, "the web view")
        return self

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def crawled(fresh_site: FixtureServer, tmp_path: Path) -> Iterator[Path]:
    fresh_site.state.articles.append(breaking(
        "hostile-headline", HOSTILE,
        "The crypto council and its friends met in Karachi to read the draft ordinance "
        "again and again until the evening."))
    cfg = feeds_config(tmp_path, fresh_site)
    assert run_cli("crawl", config=cfg).returncode == 0
    yield cfg


def test_the_pages_in_a_headless_browser(crawled: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    web = Web(crawled).up()
    shots = ROOT / "docs"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(web.base) else None)
            page.goto(f"{web.base}/login?token={TOKEN}")  # the link `web` prints
            assert page.url == web.base + "/"  # the token left the address at once
            assert page.title() == "newswatch: all watches"
            rows = page.locator("tr.match")
            assert rows.count() == 5  # 4 matches of the fixture site, and the hostile one
            # the hostile headline is text, not markup: no script ran, no <b> was made
            assert page.locator("a.title", has_text="<script>").count() == 1
            assert page.locator("main b").count() == 0
            # filter by watch
            page.select_option("select[name=watch]", "councils")
            page.click("button[type=submit]")
            page.wait_for_url("**/?watch=councils*")
            assert page.locator("tr.match").count() == 2
            assert page.locator("td", has_text="pakistan-crypto").count() == 0
            if os.environ.get("NEWSWATCH_SCREENSHOTS"):
                page.screenshot(path=str(shots / "web-1280.png"), full_page=True)
            # an article page: why it matched, with the hits marked
            page.click("a.title >> nth=0")
            assert page.locator("h2", has_text="Why it matched").count() == 1
            assert page.locator("tr.hit").count() >= 1
            marks = page.locator(".snippet mark").all_inner_texts()
            assert any(m.lower() == "crypto council" for m in marks), marks
            # sources and outbox
            page.goto(web.base + "/sources")
            assert page.locator("#summary").inner_text() == \
                "1 source: 0 failing · 0 never polled · 1 healthy"
            # its last run, in the third column: "ok" (a failed run says "failed")
            last_run = page.locator("tr.source#daily td >> nth=2 >> span").inner_text()
            assert last_run == "ok"
            page.click("tr.source#daily a.name")
            page.wait_for_url("**/sources/daily")
            assert page.locator("tr.run").count() == 1
            page.goto(web.base + "/outbox")
            # every alert of the crawl went to the maildir: the page counts them as sent
            sent = db_rows(crawled, "select count(*) n from emails where status = 'sent'")
            assert sent[0]["n"] > 0
            assert page.locator("#counts").inner_text() == \
                f"0 pending · 0 failed · {sent[0]['n']} sent · 0 waiting for a digest"
            # a phone's width
            phone = browser.new_page(viewport={"width": 375, "height": 800})
            phone.goto(web.base + "/?watch=councils")  # a new browser: no cookie yet
            assert "needs its token" in phone.locator("body").inner_text()
            phone.goto(f"{web.base}/login?token={TOKEN}")
            phone.goto(web.base + "/?watch=councils")
            assert phone.locator("tr.match").count() == 2
            if os.environ.get("NEWSWATCH_SCREENSHOTS"):
                phone.screenshot(path=str(shots / "web-375.png"), full_page=True)
            browser.close()
        assert outside == []  # nothing loaded from anywhere else
    finally:
        assert web.stop() == 0


def test_filters_paging_and_feeds_over_http(crawled: Path) -> None:
    import feedparser

    web = Web(crawled).up()
    try:
        def get(path: str) -> tuple[int, str, Any]:
            with web.open(path) as r:
                return r.status, r.read().decode(), r.headers

        status, body, headers = get("/?source=daily&since=2000-01-01")
        assert status == 200 and body.count('class="match"') == 5
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "&lt;script&gt;" in body and "<script>" not in body
        _, body, _ = get("/?since=2999-01-01")
        assert body.count('class="match"') == 0 and "with these filters" in body
        _, feed, headers = get("/feeds/councils.atom")
        assert headers["Content-Type"].startswith("application/atom+xml")
        parsed = feedparser.parse(feed)
        assert parsed.version == "atom10" and len(parsed.entries) == 2
        with pytest.raises(urllib.error.HTTPError) as err:
            get("/feeds/nope.atom")
        assert err.value.code == 404
    finally:
        assert web.stop() == 0


def test_a_token_on_every_address(crawled: Path) -> None:
    # no token in the environment: one is made, kept owner-only, printed as a login link
    web = Web(crawled, "127.0.0.2", {"NEWSWATCH_WEB_TOKEN": ""}).up()
    try:
        kept = crawled.parent / "state" / "newswatch" / "web-token"
        token = kept.read_text().strip()
        assert len(token) >= 32 and kept.stat().st_mode & 0o077 == 0
        assert f"log in: {web.base}/login?token={token}" in web.out.read_text()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(web.base + "/", timeout=5)
        assert err.value.code == 401
        web.token = token
        with web.open("/") as r:
            assert r.status == 200 and "All watches" in r.read().decode()
        web.token = "wrong-token-wrong-token"
        with pytest.raises(urllib.error.HTTPError) as err:
            web.open("/")
        assert err.value.code == 401
    finally:
        assert web.stop() == 0
    # the next start keeps the same token
    again = Web(crawled, "127.0.0.2", {"NEWSWATCH_WEB_TOKEN": ""}).up()
    try:
        assert f"login?token={token}" in again.out.read_text()
    finally:
        assert again.stop() == 0
    # --no-token: on 127.0.0.1 only
    refused = Web(crawled, "127.0.0.2", None, "--no-token")
    assert refused.proc.wait(timeout=30) == 2
    assert "--no-token is allowed on 127.0.0.1 only" in refused.log.read_text()


def test_paging_through_many_matches(tmp_path: Path) -> None:
    import re

    from tests.store_fill import WATCHES, fill

    fill(tmp_path / "nw.db", 360)  # 120 matches, newest first
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text("database: nw.db\nsources:\n  - name: site0\n    feeds: "
                   "['https://site0.example/feed.xml']\nwatches:\n" + "".join(
                       f"  - name: {w}\n    query: 'council'\n" for w in WATCHES),
                   encoding="utf-8")
    web = Web(cfg).up()
    try:
        def titles(path: str) -> list[str]:
            with web.open(path) as r:
                body = r.read().decode()
            return re.findall(r'class="title">Story (\d+) ', body)

        pages = [titles(f"/?page={n}") for n in (1, 2, 3)]
        assert [len(p) for p in pages] == [50, 50, 20]
        numbers = [int(t) for p in pages for t in p]
        assert numbers == sorted(numbers) and len(set(numbers)) == 120  # newest first
        with web.open("/?page=2") as r:
            body = r.read().decode()
        assert 'href="/?page=1" rel="prev"' in body and 'href="/?page=3" rel="next"' in body
        assert "page 2 of 3" in body
        kept = titles("/?watch=council&page=1")
        council = db_rows(cfg, "select article_id from matches where watch = 'council' "
                               "order by article_id")  # Story n is n * 3 minutes old
        assert council  # the filter keeps some, and only the watch's own, newest first
        assert kept == [str(r["article_id"]) for r in council[:50]]
    finally:
        assert web.stop() == 0


def get(web: Web, path: str) -> str:
    with web.open(path) as r:
        return str(r.read().decode())


def listed(body: str) -> list[tuple[str, str, str]]:
    """The rows of a sources page: (name, health, why)."""
    import html
    import re

    return [(name, health, html.unescape(why)) for name, health, why in re.findall(
        r'<tr class="source" id="([^"]+)">.*?<td class="state-[a-z]+">([a-z ]+)'
        r'.*?<td class="why">(.*?)</td></tr>', body, re.S)]


@pytest.fixture
def many_sources(tmp_path: Path) -> Iterator[tuple[Web, dict[str, list[str]]]]:
    """130 configured sources with 60 runs each: 13 failing, 2 never polled."""
    from tests.store_fill import fill_runs

    names = fill_runs(tmp_path / "nw.db", 130, runs=60)
    cfg = tmp_path / "newswatch.yaml"
    cfg.write_text("database: nw.db\nsources:\n" + "".join(
        f"  - name: site{i}\n    feeds: ['https://site{i}.example/feed.xml']\n"
        for i in range(130)), encoding="utf-8")
    web = Web(cfg).up()
    try:
        yield web, names
    finally:
        assert web.stop() == 0


def test_the_sources_page_opens_with_a_summary_and_the_failing_first(
        many_sources: tuple[Web, dict[str, list[str]]]) -> None:
    import re

    web, names = many_sources
    assert (len(names["failing"]), len(names["never polled"])) == (13, 2)
    body = get(web, "/sources")
    summary = re.search(r'<p id="summary">(.*?)</p>', body, re.S)
    assert summary is not None
    assert " ".join(re.sub(r"<[^>]+>", " ", summary.group(1)).split()) == \
        "130 sources: 13 failing · 2 never polled · 115 healthy"
    rows = listed(body)
    assert len(rows) == 50
    # the failing ones first, by name, each with its reason; then the never polled
    assert [r[0] for r in rows[:13]] == sorted(names["failing"])
    for name, health, why in rows[:13]:
        assert health == "failing"
        assert why == f"3 bad runs in a row; the last: feed https://{name}.example/feed.xml: " \
                      "connection refused"
    assert [(r[0], r[1]) for r in rows[13:15]] == [(n, "never polled")
                                                   for n in sorted(names["never polled"])]
    assert all(r[1] == "healthy" for r in rows[15:])
    # a healthy source whose last run failed says why that run failed
    once = {f"site{s}" for s in range(130) if s % 25 == 7 and f"site{s}" in names["healthy"]}
    shown = {name: why for name, _, why in listed(body + get(web, "/sources?page=2")
                                                  + get(web, "/sources?page=3"))}
    assert once and all(shown[name] == f"feed https://{name}.example/feed.xml: connection "
                        "refused" for name in once)
    assert all(why == "" for name, why in shown.items()
               if name in names["healthy"] and name not in once)
    assert len(body) < 60_000


def test_the_sources_page_filters_by_health_and_name_and_pages_by_50(
        many_sources: tuple[Web, dict[str, list[str]]]) -> None:
    web, names = many_sources
    failing = listed(get(web, "/sources?health=failing"))
    assert sorted(r[0] for r in failing) == sorted(names["failing"])
    assert {r[1] for r in failing} == {"failing"}
    never = listed(get(web, "/sources?health=never"))
    assert [r[0] for r in never] == sorted(names["never polled"])
    healthy = [r for n in (1, 2, 3) for r in listed(get(web, f"/sources?health=healthy&page={n}"))]
    assert sorted(r[0] for r in healthy) == sorted(names["healthy"])
    # a part of a name, in any case, and with health
    by_name = listed(get(web, "/sources?name=SITE12"))
    assert sorted(r[0] for r in by_name) == sorted(
        f"site{i}" for i in range(130) if "site12" in f"site{i}")
    both = listed(get(web, "/sources?health=failing&name=site1"))
    assert sorted(r[0] for r in both) == sorted(n for n in names["failing"] if "site1" in n)
    assert "No source with these filters" in get(web, "/sources?name=nothing-like-it")
    # pages of 50, each source on exactly one, the links keeping the filters
    pages = [listed(get(web, f"/sources?page={n}")) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [50, 50, 30]
    assert sorted(r[0] for p in pages for r in p) == sorted(f"site{i}" for i in range(130))
    second = get(web, "/sources?page=2")
    assert 'href="/sources?page=1" rel="prev"' in second
    assert 'href="/sources?page=3" rel="next"' in second and "page 2 of 3" in second
    kept = get(web, "/sources?health=healthy&name=site&page=2")
    assert 'href="/sources?health=healthy&amp;name=site&amp;page=3" rel="next"' in kept
    # a page past the end shows the last one
    assert [r[0] for r in listed(get(web, "/sources?page=99"))] == [r[0] for r in pages[2]]


def test_a_source_page_has_its_runs_newest_first_50_a_page(
        many_sources: tuple[Web, dict[str, list[str]]]) -> None:
    import re

    web, names = many_sources
    name = sorted(names["failing"])[0]
    body = get(web, f"/sources/{name}")
    assert re.search(r'<span class="state-failing" id="health">failing</span>', body)
    assert f"3 bad runs in a row; the last: feed https://{name}.example/feed.xml: " \
           "connection refused" in body
    assert "60 runs kept, newest first" in body
    runs = re.findall(r'<tr class="run"><td>([^<]+)</td><td class="status-[a-z]+">([a-z]+)'
                      r'</td>.*?<td class="why">(.*?)</td></tr>', body)
    assert len(runs) == 50
    assert [r[1] for r in runs[:4]] == ["failed", "failed", "failed", "ok"]
    assert runs[0][2] == f"feed https://{name}.example/feed.xml: connection refused"
    assert [r[0] for r in runs] == sorted((r[0] for r in runs), reverse=True)
    older = get(web, f"/sources/{name}?page=2")
    assert len(re.findall(r'<tr class="run">', older)) == 10
    assert f'href="/sources/{name}?page=1" rel="prev"' in older
    never = get(web, f"/sources/{sorted(names['never polled'])[0]}")
    assert "never polled</span>" in never and "Never polled." in never
    with pytest.raises(urllib.error.HTTPError) as err:
        get(web, "/sources/no-such-source")
    assert err.value.code == 404


def test_a_source_that_cannot_be_reached_says_why_on_the_sources_pages(
        fresh_site: FixtureServer, tmp_path: Path) -> None:
    """A real crawl of a source whose port refuses connections: its run's reason (as
    the crawl stored it) is on the sources page and on its own page."""
    import html

    from tests.conftest import db_rows, write_config

    closed = free_port()
    cfg = write_config(tmp_path, f"""\
        sources:
          - name: daily
            feeds: ["{fresh_site.base}/feed.xml"]
          - name: dead
            feeds: ["http://127.0.0.1:{closed}/feed.xml"]
          - name: later
            feeds: ["{fresh_site.base}/feed.xml"]
        """)
    assert run_cli("crawl", "--source", "daily", "--source", "dead",
                   config=cfg).returncode == 1
    from newswatch.service.health import problem

    [run] = db_rows(cfg, "SELECT status, message FROM runs WHERE source = 'dead'")
    assert run["status"] == "failed"
    # the run's own message (the crawl's words for the cause), or health's words for a
    # failed run without one
    why = " ".join((problem(run) or "").split())
    assert why
    web = Web(cfg).up()
    try:
        rows = {name: (health, why) for name, health, why in listed(get(web, "/sources"))}
        assert rows["dead"] == ("healthy", why)  # one bad run is not yet failing
        assert rows["daily"] == ("healthy", "")
        assert rows["later"] == ("never polled", "")
        own = html.unescape(get(web, "/sources/dead"))
        assert '"status-failed">failed' in own
        if run["message"]:
            assert " ".join(run["message"].split()) in own
    finally:
        assert web.stop() == 0
