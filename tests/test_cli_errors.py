"""What a user sees when something fails: one clear line naming what and where, the
right exit status, never a traceback (unless -v asks for it)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tests.conftest import run_cli, write_config
from tests.procs import Starter, wait_for
from tests.site.server import FixtureServer


def alerting_config(tmp_path: Path, site: FixtureServer, alerts: str, extra: str = "",
                    every: str | None = None) -> Path:
    """The daily feed, a watch matching every article, and these `alerts:` keys."""
    source = f'  - name: daily\n    feeds: ["{site.base}/feed.xml"]\n' + (
        f"    every: {every}\n" if every else "")
    return write_config(tmp_path, "sources:\n" + source + "watches:\n  - name: all\n"
                        "    query: 'the OR a'\nalerts:\n  to: [desk@example.org]\n"
                        + "".join(f"  {line}\n" for line in alerts.splitlines()) + extra)


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("newswatch 0.")


def test_an_unreachable_database_is_one_line_naming_the_server(tmp_path: Path) -> None:
    cfg = tmp_path / "nw.yaml"
    cfg.write_text("database: postgresql://nw@127.0.0.1:1/news\nsources:\n  - name: s\n"
                   "    feeds: [http://127.0.0.1:1/feed.xml]\nwatches:\n  - name: w\n"
                   "    query: bitcoin\n", encoding="utf-8")
    for command in ("status", "send", "crawl", "backtest"):
        proc = run_cli(command, config=cfg)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "the database cannot be used" in proc.stderr
        assert "127.0.0.1" in proc.stderr and "port 1" in proc.stderr


def test_a_corrupt_database_file_is_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "sources: []\n")
    (tmp_path / "nw.db").write_bytes(b"this is not SQLite, whatever its name says" * 100)
    proc = run_cli("status", config=cfg)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "the database cannot be used: file is not a database" in proc.stderr


def test_an_unexpected_error_is_one_line_and_a_report(fresh_site: FixtureServer,
                                                      tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    # compiles (so `check` passes), fails when an alert is rendered
    (templates / "alert.txt").write_text("{{ groups[0].nothing.here }}\n", encoding="utf-8")
    cfg = alerting_config(tmp_path, fresh_site, "maildir: mail\ntemplates: templates")
    state = tmp_path / "state"
    proc = run_cli("crawl", config=cfg, env={"XDG_STATE_HOME": str(state)})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    line = [x for x in proc.stderr.splitlines() if "unexpected error" in x]
    assert len(line) == 1 and "UndefinedError" in line[0]
    report = state / "newswatch" / "error.log"
    assert str(report) in line[0]
    assert "Traceback" in report.read_text(encoding="utf-8")
    # nothing is lost: the matches wait in the outbox for a fixed template
    assert "pending" in run_cli("status", config=cfg).stdout


def test_match_on_a_missing_page_says_the_status(fresh_site: FixtureServer,
                                                 tmp_path: Path) -> None:
    cfg = write_config(tmp_path, dedent(f"""
        sources:
          - name: daily
            feeds: ["{fresh_site.base}/feed.xml"]
        watches:
          - name: all
            query: 'the'
        """))
    proc = run_cli("match", f"{fresh_site.base}/news/no-such-story/", config=cfg)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(": HTTP 404 Not Found")  # as everywhere (SPEC §14)
    assert f"{fresh_site.base}/news/no-such-story/" in proc.stderr


def test_a_bad_ca_file_is_named_and_the_alerts_stay_in_the_outbox(
        fresh_site: FixtureServer, tmp_path: Path) -> None:
    ca = tmp_path / "private-ca.pem"
    ca.write_text("not a certificate\n", encoding="utf-8")  # exists: `check` passes
    cfg = alerting_config(tmp_path, fresh_site, dedent(f"""\
        smtp:
          host: 127.0.0.1
          port: 1
          security: starttls
          ca_file: {ca}
        """))
    assert run_cli("check", config=cfg).returncode == 0
    # a crawl that could not send has still crawled (exit 0, SPEC §3); send exits 1
    for command, code in (("crawl", 0), ("send", 1)):
        proc = run_cli(command, config=cfg)
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"SMTP ca_file {ca}: " in proc.stdout
    status = run_cli("status", config=cfg)
    assert "1 pending" in status.stdout and f"SMTP ca_file {ca}: " in status.stdout, \
        status.stdout
    ca.unlink()  # and a file that is gone is a config error, named before anything runs
    proc = run_cli("send", config=cfg)
    assert proc.returncode == 2 and f"alerts.smtp.ca_file: {ca} does not exist" in proc.stderr


@pytest.mark.slow
def test_the_daemon_logs_a_sending_problem_once_not_every_attempt(
        fresh_site: FixtureServer, tmp_path: Path, start: Starter) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert.txt").write_text("{{ groups[0].nothing.here }}\n", encoding="utf-8")
    cfg = alerting_config(tmp_path, fresh_site, "maildir: mail\ntemplates: templates",
                          extra="daemon:\n  send_every: 1s\n", every="1h")
    daemon = start(cfg, verbose=True)  # -v: the attempts logged quietly show, at DEBUG

    def attempts() -> list[str]:
        return [line for line in daemon.text().splitlines()
                if "sending failed: UndefinedError" in line]

    wait_for(lambda: len(attempts()) >= 6, 60, "the sending error and five more attempts")
    assert daemon.stop() == 0
    said = [line for line in attempts() if " DEBUG " not in line]
    assert len(said) == 1 and " ERROR " in said[0], attempts()
    assert daemon.text().count("Traceback") == 1


def test_web_on_a_busy_port_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    import socket

    cfg = write_config(tmp_path, "sources:\n  - name: a\n    feeds: [https://a.example/f]\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli("web", "--port", str(port), config=cfg, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"newswatch: port {port} on 127.0.0.1 is already in use (another "
                           "newswatch web?); choose another with --port\n")
    assert proc.stdout == ""


def test_the_readme_gives_the_exit_codes_of_every_command() -> None:
    import argparse
    import re

    from newswatch.cli.main import build_parser
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z]+)[` ]", section, re.MULTILINE))
    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    assert listed == set(sub.choices)


def test_extraction_workers_print_nothing_of_their_own_without_v() -> None:
    # the fork server imports pipeline.warmup first; what it or a worker it forks writes
    # to standard error (a worker started as a short crawl ends) goes nowhere unless -v
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    write = "import os, pipeline.warmup; os.write(2, b'a worker traceback')"
    for quiet, shown in (("1", ""), ("", "a worker traceback")):
        done = subprocess.run([sys.executable, "-c", write], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "NEWSWATCH_QUIET_WORKERS": quiet},
                              timeout=60)
        assert done.returncode == 0 and done.stderr == shown, done.stderr
