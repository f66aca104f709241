"""The tests' CLI runner (tests/cli_runner.py) forks each command from a process that has
imported newswatch already: what a command prints and returns must be what a new
interpreter's would be, and the process it forks from must hold no reactor or thread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import cli_runner
from tests.conftest import run_cli, write_config


def _both(monkeypatch: pytest.MonkeyPatch, *args: str, config: Path | None = None,
          env: dict[str, str] | None = None) -> tuple[tuple[int, str, str], ...]:
    seen = []
    for mode in ("0", "1"):
        monkeypatch.setenv("NEWSWATCH_TEST_SUBPROCESS", mode)
        proc = run_cli(*args, config=config, env=env)
        seen.append((proc.returncode, proc.stdout, proc.stderr))
    return tuple(seen)


@pytest.mark.parametrize("args", [("check",), ("status",), ("nosuch",), ("status", "--wide")])
def test_a_forked_command_prints_and_exits_as_a_new_interpreter_does(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...]) -> None:
    cfg = write_config(tmp_path, """
        timezone: Europe/Berlin
        watches:
          - name: councils
            query: '"crypto council" OR räte'
        """)
    forked, fresh = _both(monkeypatch, *args, config=cfg, env={"COLUMNS": "100"})
    assert forked == fresh
    assert forked[1] or forked[2]  # it said something: the comparison compared output


def test_a_bad_config_is_reported_the_same_forked_or_fresh(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("database: nw.db\nwatches:\n  - name: x\n    query: '(unclosed'\n")
    forked, fresh = _both(monkeypatch, "check", config=bad)
    assert forked == fresh
    assert forked[0] == 2 and "bad.yaml" in forked[2]


def _facts(path: str) -> None:
    import threading

    Path(path).write_text(f"{threading.active_count()} "
                          f"{'twisted.internet.reactor' in sys.modules} "
                          f"{'newswatch.cli.crawl' in sys.modules}")


def test_the_fork_server_has_newswatch_imported_and_no_reactor_or_thread(
        tmp_path: Path) -> None:
    out = tmp_path / "facts"
    proc = cli_runner._forkserver().Process(target=_facts, args=(str(out),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert out.read_text() == "1 False True"


def test_a_command_past_its_timeout_is_killed_and_says_so(tmp_path: Path) -> None:
    import subprocess

    # `run` on a config without sources waits for SIGTERM: it outlives a short timeout
    cfg = write_config(tmp_path, "sources: []\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli("run", config=cfg, timeout=3)
