"""The daemon as a real process for the tests: started in its own session (forked as
tests/cli_runner.py does) with its log in a file beside the config, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli_runner import Forked, fresh_interpreter, start

ROOT = Path(__file__).resolve().parent.parent


class DaemonProc:
    """`newswatch run` (or another long-running command, e.g. `worker`) in its own
    session, its log in a file beside the config."""
    def __init__(self, config: Path, command: str = "run", log: str = "daemon.log",
                 verbose: bool = False):
        self.config = config
        self.log = config.parent / log
        argv = [command, *(["-v"] if verbose else []), "-c", str(config)]
        env = {**os.environ, "NEWSWATCH_EXTRACT_WORKERS": "1"}
        self.log.write_text("")  # a restarted daemon's log starts afresh
        self.proc: subprocess.Popen[bytes] | Forked
        if fresh_interpreter(env):
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "newswatch.cli", *argv], cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        else:  # forked from the process that has newswatch imported (tests/cli_runner.py)
            self.proc = start(argv, env, ROOT, (os.devnull, os.devnull, str(self.log)),
                              session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


Starter = Callable[..., "DaemonProc"]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")




def process_tree(pid: int) -> dict[int, list[bytes]]:
    """The process and every process under it: pid -> the fields of /proc/PID/stat after
    the command name (state, ppid, pgrp, ..., utime at 11, stime at 12, starttime at 19)."""
    stats: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:  # it ended meanwhile
                continue
            stats[int(entry)] = stat[stat.rfind(b")") + 2:].split()
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, f in stats.items() if int(f[1]) in frontier} - found
        found |= frontier
    return {p: stats[p] for p in found if p in stats}
