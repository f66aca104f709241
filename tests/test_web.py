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

from tests.conftest import ROOT, run_cli
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
            assert page.locator("h2#daily").count() == 1
            assert "ok" in page.locator("table").first.inner_text()
            page.goto(web.base + "/outbox")
            assert "sent" in page.locator("#counts").inner_text()
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
        assert 0 < len(kept) <= 50
    finally:
        assert web.stop() == 0
