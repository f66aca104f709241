"""Scraped text is text: headlines that look like Rich markup, escape sequences, control
characters (raw, as character references, and in rows stored before the cleaning) and a
bidi override, crawled from the fixture site and shown by every command that prints
scraped text, in a real pseudo-terminal 80 columns wide. Nothing crashes, nothing but
Rich's own styling reaches the terminal, and the headlines' words are there to read."""

from __future__ import annotations

import fcntl
import os
import re
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from textwrap import dedent
from typing import Any

import trafilatura

from newswatch.pipeline.extract import extract_page
from tests.cli_runner import fresh_interpreter, start
from tests.conftest import ROOT, db_rows, write_config
from tests.site import hostile_text
from tests.site.hostile_text import CLEAR_SCREEN, PDF, RETITLE, RLO, STORIES
from tests.site.server import FixtureServer

# what Rich itself writes on a terminal: styles (SGR), and for the live crawl table the
# cursor hidden and shown, lines erased and the cursor moved up (each redraw starts a line)
STYLES = re.compile(r"\x1b\[[0-9;]*m")
REDRAW = re.compile(r"\x1b\[\?25[lh]|\x1b\[2K|\x1b\[[0-9]*A|\r")
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def in_pty(cfg: Path, *args: str, columns: int = 80, dumb: bool = False
           ) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal `columns` wide as its stdin, stdout and
    stderr; its exit code and everything the terminal received."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(NEWSWATCH_EXTRACT_WORKERS="2", TERM="xterm-256color")
    if dumb:
        env.update(TERM="dumb", NO_COLOR="1")
    argv = [*args, "-c", str(cfg)]
    if fresh_interpreter(env):
        proc: Any = subprocess.Popen([sys.executable, "-m", "newswatch.cli", *argv], cwd=ROOT,
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
    else:  # forked (tests/cli_runner.py), the terminal its stdin, stdout and stderr
        tty = os.ttyname(slave)
        proc = start(argv, env, ROOT, (tty, tty, tty), session=True)
    # the forked command opens the terminal by name once it runs: until then this is its
    # only writer, and with none the terminal reads as closed (EIO). The loop below ends
    # when the command has ended and nothing is left to read.
    if isinstance(proc, subprocess.Popen):
        os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + 120
    ended = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if ended:  # what it wrote before it ended has been read
                    break
                ended = proc.poll() is not None
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not data:
                break
            received += data
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if not isinstance(proc, subprocess.Popen):
            os.close(slave)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, received.decode("utf-8", errors="replace")


def config(tmp_path: Path, site: FixtureServer) -> Path:
    return write_config(tmp_path, dedent(f"""
        timezone: UTC
        sources:
          - name: hostile-herald
            feeds: ["{site.base}/text/feed.xml"]
        watches:
          - name: reservoir
            query: 'reservoir'
          - name: nightly
            query: 'reservoir'
            digest: daily@03:00
        alerts:
          to: [desk@example.org]
          maildir: mail
        """))


def shown(output: str, dumb: bool = False) -> str:
    """The output as a person reads it, after checking that nothing in it but Rich's
    own styling is a control character, an escape sequence or a bidi control."""
    assert "Traceback" not in output and "Error" not in output, output
    if dumb:
        assert "\x1b" not in output, ascii(output)
    text = REDRAW.sub("\n", STYLES.sub("", output))
    assert not CONTROLS.findall(text), ascii(text)
    # an escape sequence goes whole, not just its ESC
    assert "pwned" not in text and "[2J" not in text, text
    return text


def fits(text: str, columns: int = 80) -> None:
    """Every line fits the terminal, but a URL's own line."""
    for line in text.split("\n"):
        assert len(line) <= columns or line.strip().startswith("http"), line


def words(text: str) -> set[str]:
    return set(text.split())


def test_the_reference_page_needs_cleaning_before_extraction() -> None:
    """The page a word processor left `&#8;`, `&#11;` and `&#27;` in: trafilatura alone
    finds nothing on it, newswatch finds its text without the controls."""
    story = next(s for s in STORIES if s.slug == "references")
    body = hostile_text.page(story)
    assert trafilatura.extract(body.decode()) is None  # the case is real
    assert trafilatura.bare_extraction(body.decode()) is None
    ex = extract_page("http://127.0.0.1/text/references/", body, "utf-8")
    assert ex["title"] == "Reservoir levels fall to a record low"
    assert "The council met." in ex["text"] and "Gauges at the northern inlet" in ex["text"]
    assert not CONTROLS.findall(ex["text"].replace("\n", " "))
    assert "pwned" not in ex["text"] and "[2J" not in ex["text"]


def test_hostile_headlines_through_every_command(fresh_site: FixtureServer,
                                                 tmp_path: Path) -> None:
    cfg = config(tmp_path, fresh_site)
    by_slug = {s.slug: s for s in STORIES}

    code, out = in_pty(cfg, "crawl", "--dry-run")
    assert code == 0
    text = shown(out)
    assert "hostile-herald" in text
    for story in STORIES:  # the alert email it would send quotes every headline
        assert set(story.words) <= words(text), (story.slug, text)

    code, out = in_pty(cfg, "crawl")
    assert code == 0
    text = shown(out)
    fits(text)
    assert "hostile-herald" in text

    # stored clean: no control character or escape sequence, and the page written with
    # control-character references has its text and matched
    stored = {r["url"].rstrip("/").rsplit("/", 1)[-1]: r
              for r in db_rows(cfg, "select url, title, text, has_text from articles")}
    assert set(stored) == set(by_slug)
    for row in stored.values():
        assert row["has_text"] == 1
        assert not CONTROLS.findall(row["title"]) and "pwned" not in row["title"]
        assert not CONTROLS.findall(row["text"].replace("\n", " "))
    assert stored["references"]["title"] == "Reservoir levels fall to a record low"
    matched = db_rows(cfg, "select a.url from matches m join articles a on a.id = m.article_id"
                           " where m.watch = 'reservoir'")
    assert any("/text/references/" in r["url"] for r in matched)

    # rows stored before the cleaning existed: printed clean all the same
    con = sqlite3.connect(cfg.parent / "nw.db")
    with con:
        con.execute("update articles set title = ? where url like '%/text/bidi/'",
                    (f"{CLEAR_SCREEN}{RETITLE}Reservoir {RLO}tropER{PDF} from the valley",))
        con.execute("update emails set status = 'failed', subject = ?, last_error = ?",
                    (f"[/]{CLEAR_SCREEN}Reservoir [bold]alert", f"550 {RETITLE}[link=x]no"))
        con.execute("update outbox set due = '2000-01-01 00:00:00' where email_id is null")
    con.close()

    for dumb in (False, True):
        code, out = in_pty(cfg, "recent", dumb=dumb)
        assert code == 0
        text = shown(out, dumb)
        fits(text)
        for story in STORIES:
            assert set(story.words) <= words(text), (story.slug, text)
        assert "/text/references/" in text

        code, out = in_pty(cfg, "status", dumb=dumb)
        assert code == 0
        text = shown(out, dumb)
        fits(text)
        assert "failed: to desk@example.org: [/]Reservoir [bold]alert (550 [link=x]no)" \
            in " ".join(text.split())

        code, out = in_pty(cfg, "backtest", "--watch", "reservoir", dumb=dumb)
        assert code == 0
        text = shown(out, dumb)
        fits(text)
        for story in STORIES:
            assert set(story.words) <= words(text), (story.slug, text)

        for slug in ("markup", "references", "escapes"):
            code, out = in_pty(cfg, "match", f"{fresh_site.base}/text/{slug}/", dumb=dumb)
            assert code == 0
            text = shown(out, dumb)
            fits(text)
            assert set(by_slug[slug].words) <= words(text), (slug, text)
            assert "reservoir: MATCH" in text

        code, out = in_pty(cfg, "send", "--dry-run", dumb=dumb)
        assert code == 0
        text = shown(out, dumb)
        assert "nightly" in text
        for story in STORIES:  # the digest now due quotes every headline
            assert set(story.words) <= words(text), (story.slug, text)
