"""The CLI for the tests as a real process of its own, without paying its imports on every
command. A `python -m newswatch.cli` spends one to three seconds importing Scrapy,
SQLAlchemy, trafilatura and the rest before it does anything; the tests run a few hundred
commands. Here a fork server (multiprocessing's, started once per test process) imports
them once, and each command is a fresh process forked from it: its own reactor (Twisted
runs one per process), its own database connections, signals and exit code, stdin from
/dev/null, stdout and stderr captured at the file descriptors, so a traceback or a stray
print of any part shows as it would on a terminal. The fork server has no threads and no
reactor when it forks (tests/test_cli_runner.py checks).

NEWSWATCH_TEST_SUBPROCESS=1 runs every command as a new interpreter instead (what a user's
shell does), to check that the forked commands hide nothing; a test whose environment
changes how Python itself starts (its locale, its PYTHON* variables) always gets one."""

from __future__ import annotations

import locale
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# what `newswatch` imports for its commands, crawls, daemon and web view; imported once in
# the fork server (multiprocessing ignores a module that fails to import: it is then
# imported by each command, slower but the same)
PRELOAD = ["newswatch.cli.main", "newswatch.cli.crawl", "newswatch.cli.fetch",
           "newswatch.service.daemon", "newswatch.web.app", "newswatch.cli.explain",
           "newswatch.cli.send", "newswatch.cli.status", "newswatch.cli.recent",
           "newswatch.cli.upkeep", "newswatch.cli.demo.run",
           "newswatch.pipeline.extract", "newswatch.pipeline.warmup",
           "newswatch.pipeline.pool", "scrapy.crawler", "tests.cli_runner",
           # multiprocessing imports the parent's main module in each child: pytest's
           "pytest", "pytest.__main__"]

# environment variables read while Python starts (stdio encoding, locale, paths, flags):
# a forked process started long ago, so a test that sets one gets a new interpreter
STARTUP = ("PYTHON", "LANG", "LC_")

_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


def _stream(fd: int, like: Any, line_buffering: bool) -> Any:
    return open(fd, "w", buffering=1 if line_buffering else -1, encoding=like.encoding,
                errors=like.errors, closefd=False)


def _command(argv: list[str], env: dict[str, str], cwd: str, stdio: tuple[str, str, str],
             session: bool) -> None:
    """In the forked process: become `python -m newswatch.cli ARGV` in `cwd` with `env`,
    its stdin, stdout and stderr the files (or terminal) `stdio`, in a session of its own
    if asked, then run it as the console script does."""
    if session:
        os.setsid()
    for fd, (path, flags) in enumerate(zip(stdio, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY),
                                           strict=True)):
        opened = os.open(path, flags | os.O_NOCTTY)
        os.dup2(opened, fd)
        os.close(opened)
    # as Python sets them up: stdout block-buffered for a file, by lines for a terminal;
    # stderr by lines
    sys.stdout = sys.__stdout__ = _stream(1, sys.__stdout__, os.isatty(1))
    sys.stderr = sys.__stderr__ = _stream(2, sys.__stderr__, True)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ is read once per process, at start or here
    os.chdir(cwd)
    from newswatch.cli import main as cli

    sys.argv = [cli.__file__, *argv]
    cli.run()


def fresh_interpreter(env: dict[str, str]) -> bool:
    """Whether a command with this environment needs a new interpreter: asked for, or its
    environment changes how Python starts."""
    def startup(names: dict[str, str] | os._Environ[str]) -> dict[str, str]:
        return {k: v for k, v in names.items() if k.startswith(STARTUP)}

    return (os.environ.get("NEWSWATCH_TEST_SUBPROCESS") == "1"
            or startup(env) != startup(os.environ))


class Forked:
    """A forked command as subprocess.Popen shows a process: poll, wait, kill."""

    def __init__(self, argv: list[str], proc: Any):
        self.args, self.proc = argv, proc

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def poll(self) -> int | None:
        code: int | None = self.proc.exitcode
        return code

    def wait(self, timeout: float | None = None) -> int:
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return int(self.proc.exitcode)

    def kill(self) -> None:
        self.proc.kill()

    def send_signal(self, sig: int) -> None:
        if self.proc.exitcode is None:
            os.kill(self.pid, sig)


def start(argv: list[str], env: dict[str, str], cwd: Path, stdio: tuple[str, str, str],
          session: bool = False) -> Forked:
    """`python -m newswatch.cli ARGV` forked and started, its stdin, stdout and stderr
    opened from the paths `stdio`."""
    proc = _forkserver().Process(target=_command, name="newswatch",
                                 args=(argv, env, str(cwd), stdio, session))
    proc.start()
    return Forked(argv, proc)


def _decoded(path: Path) -> str:
    # as subprocess.run(text=True) reads a pipe: the locale's encoding, universal newlines
    text = path.read_bytes().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def run_command(argv: list[str], env: dict[str, str], cwd: Path,
                timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m newswatch.cli ARGV`, run as the tests' conftest.run_cli describes."""
    cmd = [sys.executable, "-m", "newswatch.cli", *argv]
    if fresh_interpreter(env):
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="nw-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        out.touch()
        err.touch()
        proc = start(argv, env, cwd, (os.devnull, str(out), str(err)))
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(cmd, timeout, _decoded(out), _decoded(err)) from None
        return subprocess.CompletedProcess(cmd, code, _decoded(out), _decoded(err))
