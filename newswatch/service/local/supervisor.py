"""A crawl worker as the daemon sees it: a `newswatch worker --stdio` child in its own
process group (its extraction processes with it), its events read by one thread and
its log by another (passed on to the daemon's log, the last lines kept to say why it
died), its memory measured over the whole group."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in the process group."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        # after the name: state(0) ppid(1) pgrp(2) ... rss(21), in pages
        if len(fields) > 21 and int(fields[2]) == pgid:
            total += int(fields[21]) * PAGE
    return total


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class WorkerProcess:
    TAIL = 20

    def __init__(self, config_path: Path, on_event: Callable[[WorkerProcess, dict[str, Any]], None],
                 on_exit: Callable[[WorkerProcess], None], env: dict[str, str] | None = None):
        cmd = [sys.executable, "-m", "newswatch.cli", "worker", "--stdio", "-c",
               str(config_path)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env={**os.environ, **(env or {})}, text=True, bufsize=1)
        self.pid = self.proc.pid
        self.born = time.monotonic()
        self.ready = False  # its engine runs and takes polls
        self.draining = False
        self.drain_started = 0.0
        self.tail: deque[str] = deque(maxlen=self.TAIL)
        self._on_event = on_event
        self._on_exit = on_exit
        self._write = threading.Lock()
        self._log_thread = threading.Thread(target=self._read_log, daemon=True,
                                            name=f"worker-{self.pid}-log")
        self._log_thread.start()
        threading.Thread(target=self._read_events, daemon=True,
                         name=f"worker-{self.pid}-events").start()

    def send(self, message: dict[str, Any]) -> bool:
        assert self.proc.stdin is not None
        try:
            with self._write:
                self.proc.stdin.write(json.dumps(message) + "\n")
                self.proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False  # it is dying; its exit is handled by the event reader

    def drain(self) -> None:
        if not self.draining:
            self.draining = True
            self.drain_started = time.monotonic()
            self.send({"op": "drain"})

    def age(self) -> float:
        return time.monotonic() - self.born

    def rss(self) -> int:
        return group_rss(self.pid)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def reap_group(self, timeout: float = 5.0) -> None:
        """Kill whatever is left of its process group (extraction processes outlive their
        parent for a moment) and wait until it is gone."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    def cause(self) -> str:
        """Why it ended: its exit status or signal, and its last log lines."""
        why = f"the crawl worker (pid {self.pid}) died: {describe_exit(self.proc.returncode)}"
        lines = [line for line in self.tail if line.strip()][-3:]
        if lines:
            why += "; its last log lines: " + " | ".join(lines)
        return why[:1500]

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.tail.append(line.rstrip()[:400])
            sys.stderr.write(line)

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("worker %d: unreadable event %r", self.pid, line[:200])
                continue
            try:
                self._on_event(self, event)
            except Exception:  # a bug here must not stop the events of every other poll
                log.exception("worker %d: handling %r failed", self.pid, event)
        self.proc.wait()
        self._log_thread.join(timeout=5)
        # its extraction processes die with their parent's pipes; any left go now
        self.reap_group()
        self._on_exit(self)
