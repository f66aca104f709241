"""What newswatch keeps to itself: URLs shown without their password, and the files it
writes (the running config's snapshot, error reports, the SQLite file, the maildir)
created owner-only whatever the umask, since they hold what the config holds (an SMTP
password, a token) or what the newsroom watches."""

from __future__ import annotations

import os
import re
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700

_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@", re.I)
# a SQLite URL as the loader writes one for a path, in the characters SQLAlchemy neither
# unquotes nor quotes: it reads and shows it as written (no user, host or query)
_PLAIN_SQLITE = re.compile(r"sqlite:///([A-Za-z0-9_.~ +/-]*)\Z")


def plain_sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite URL (`sqlite:////data/newswatch.db`), read as
    SQLAlchemy reads it but without importing it (a third of `newswatch check`'s start);
    None for any other URL, which SQLAlchemy must read."""
    m = _PLAIN_SQLITE.match(url)
    return m.group(1) if m else None


def mask_url(url: str) -> str:
    """A database or queue URL as it may be shown: its password replaced by ***."""
    if plain_sqlite_file(url) is not None:
        return url  # nothing to hide, and SQLAlchemy would show it unchanged
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # not a URL SQLAlchemy reads; any user:password@ in it is still hidden
        return _USERINFO.sub(r"\g<scheme>\g<user>:***@", url)


def state_dir() -> Path:
    """Where newswatch keeps its own state (the web view's token, error reports):
    $XDG_STATE_HOME/newswatch, else ~/.local/state/newswatch."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "newswatch"


def private_dir(path: Path) -> Path:
    """A folder only its owner can enter; an existing one keeps its mode (the user may
    have shared it on purpose), a new one (and its new parents' last level) is 0700."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    return path


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an older file keeps its mode otherwise
    return fd


def write_private(path: Path, data: str | bytes) -> None:
    """Write the file whole, readable by its owner only; a reader never sees half."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = _open(temp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    temp.replace(path)


def append_private(path: Path, text: str) -> None:
    """Append to a file readable by its owner only."""
    fd = _open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(text)


def touch_private(path: Path) -> None:
    """Create the file owner-only if it does not exist yet (SQLite then opens it, and
    gives its -wal and -shm files the same mode)."""
    if not path.exists():
        os.close(_open(path, os.O_WRONLY))
