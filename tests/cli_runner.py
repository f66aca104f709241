"""The CLI for the tests as a real process of its own, without paying its imports on every
command. A `python -m newswatch.cli` spends one to three seconds importing Scrapy,
SQLAlchemy, trafilatura and the rest before it does anything; the tests run a few hundred
commands. Here a fork server (multiprocessing's, started once per test process) imports
them once, and each command is a fresh process forked from it: its own reactor (Twisted
runs one per process), its own database connections, signals and exit code, stdin from
/dev/null, stdout and stderr captured at the file descriptors, so a traceback or a stray
print of any part shows as it would on a terminal. The fork server has no threads and no
reactor when it forks (checked by `preload_is_clean` in test_cli_runner.py).

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
PRELOAD = ["newswatch.cli", "newswatch.crawl", "newswatch.fetch", "newswatch.daemon",
           "newswatch.web", "newswatch.explain", "newswatch.mail", "newswatch.status",
           "newswatch.recent", "newswatch.upkeep", "newswatch.demo.run",
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


def _command(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """In the forked process: become `python -m newswatch.cli ARGV` in `cwd` with `env`,
    its output in the files `out` and `err`, then run it as the console script does."""
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY),
                            (2, err, os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    # as Python sets them up for a file: block-buffered stdout, line-buffered stderr
    sys.stdout = sys.__stdout__ = _stream(1, sys.__stdout__, False)
    sys.stderr = sys.__stderr__ = _stream(2, sys.__stderr__, True)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ is read once per process, at start or here
    os.chdir(cwd)
    from newswatch import cli

    sys.argv = [cli.__file__, *argv]
    cli.run()


def _decoded(path: Path) -> str:
    # as subprocess.run(text=True) reads a pipe: the locale's encoding, universal newlines
    text = path.read_bytes().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def run_command(argv: list[str], env: dict[str, str], cwd: Path,
                timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m newswatch.cli ARGV`, run as the tests' conftest.run_cli describes."""
    cmd = [sys.executable, "-m", "newswatch.cli", *argv]
    startup = {k: v for k, v in env.items() if k.startswith(STARTUP)}
    if os.environ.get("NEWSWATCH_TEST_SUBPROCESS") == "1" or startup != {
            k: v for k, v in os.environ.items() if k.startswith(STARTUP)}:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="nw-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        out.touch()
        err.touch()
        proc = _forkserver().Process(target=_command, name="newswatch",
                                     args=(argv, env, str(cwd), str(out), str(err)))
        proc.start()
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise subprocess.TimeoutExpired(cmd, timeout, _decoded(out), _decoded(err))
        return subprocess.CompletedProcess(cmd, proc.exitcode, _decoded(out), _decoded(err))
