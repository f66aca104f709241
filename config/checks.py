"""Checks of what a config points at, made when it loads, so that a config `check`
accepts does not fail later for a reason in the config: the database URL's dialect, the
SQLite file's folder, the SMTP CA file, the maildir, and override templates (which must
compile). Each problem names the key path; the loader adds the file and line.

And what `check` warns about without refusing the config: a channel URL's `${NAME}`
that is not set here (only sending needs it: read-only commands run without it), and
query parameters an apprise service would silently drop."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from newswatch.config.models import ENV_REF, Config, apprise_target
from newswatch.config.private import plain_sqlite_file

TEMPLATES = ("alert.txt", "alert.html", "health.txt", "health.html")


def _creatable(folder: Path) -> str | None:
    """Why `folder` cannot be created and written to, or None if it can."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return f"{folder} cannot be created"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "written to" if probe == folder else f"created ({probe} is not writable)"
        return f"{folder} cannot be {what}"
    return None


def database_issue(url: str) -> str | None:
    # SQLAlchemy (imported only when needed: it was a third of `check`'s time) reads any
    # other URL; a plain SQLite file's URL is the one the loader writes for a path
    sqlite_file = plain_sqlite_file(url)
    if sqlite_file is None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            parsed = make_url(url)
            parsed.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            return (f"not a database URL SQLAlchemy knows ({exc}): give a path for SQLite "
                    "or postgresql+psycopg://user@host/dbname")
        except ImportError as exc:
            return f"the driver for {url.split('://')[0]} is not installed ({exc})"
        if parsed.get_backend_name() == "sqlite":
            sqlite_file = parsed.database
    if sqlite_file not in (None, "", ":memory:"):
        why = _creatable(Path(str(sqlite_file)).parent)
        if why:
            return f"the SQLite database's folder: {why}"
        db = Path(str(sqlite_file))
        if db.exists() and not os.access(db, os.R_OK | os.W_OK):
            return f"{db} is not readable and writable"
    return None


def template_issues(folder: str) -> list[tuple[str, str]]:
    """(key, message) for each override template that does not compile."""
    out: list[tuple[str, str]] = []
    base = Path(folder)
    if not base.is_dir():
        return [("alerts.templates", f"{base} is not a folder")]
    from jinja2 import Environment, TemplateSyntaxError  # only for override templates

    env = Environment()
    for name in TEMPLATES:
        path = base / name
        if not path.exists():
            continue
        try:
            env.parse(path.read_text(encoding="utf-8"), name, str(path))
        except TemplateSyntaxError as exc:
            out.append(("alerts.templates", f"{path}:{exc.lineno}: {exc.message}"))
        except (OSError, UnicodeDecodeError) as exc:
            out.append(("alerts.templates", f"{path}: cannot read: {exc}"))
    return out


def environment_issues(config: Config) -> list[tuple[str, str]]:
    """(key path, message) for every problem with what the config points at."""
    issues: list[tuple[str, str]] = []
    why = database_issue(config.database)
    if why:
        issues.append(("database", why))
    alerts = config.alerts
    if alerts.smtp is not None and alerts.smtp.ca_file is not None:
        ca = Path(alerts.smtp.ca_file)
        if not ca.is_file():
            issues.append(("alerts.smtp.ca_file", f"{ca} does not exist"))
        elif not os.access(ca, os.R_OK):
            issues.append(("alerts.smtp.ca_file", f"{ca} is not readable"))
    if alerts.maildir is not None:
        why = _creatable(Path(alerts.maildir))
        if why:
            issues.append(("alerts.maildir", why))
    if alerts.templates is not None:
        issues += template_issues(alerts.templates)
    return issues


def channel_places(config: Config) -> list[tuple[str, list[str]]]:
    """(key path, channel URLs) of `alerts.notify` and of each watch's `notify`."""
    return [("alerts.notify", config.alerts.notify)] + [
        (f"watches.{i}.notify", w.notify or []) for i, w in enumerate(config.watches)]


def dropped_parameters(url: str) -> tuple[list[str], bool]:
    """The plain `?key=value` parameters of an apprise URL that its service does not
    take, which apprise drops without a word (the README's old `json://...?token=`
    reached the server as a bare POST), as written; and whether the service passes
    `?-key=value` on to the server as `?key=value` (json://, xml://, form://)."""
    target = apprise_target(url)
    if target is None:
        return [], False
    kind = type(target)
    known = {*kind.template_args, *kind.template_tokens}
    # prefixed keys (`+header`, `-param`, `:extra`) are the service's own keyword options
    prefixes = [str(spec["prefix"]) for spec in getattr(kind, "template_kwargs", {}).values()
                if "prefix" in spec]
    query = urlsplit(ENV_REF.sub("x0TOKEN0x", url)).query
    dropped = [key for key, _ in parse_qsl(query, keep_blank_values=True)
               if key.strip().lower() not in known and key[:1] not in prefixes]
    return dropped, "-" in prefixes


def warnings(config: Config) -> list[tuple[str, str]]:
    """(key path, message) for what `check` warns about but accepts."""
    out: list[tuple[str, str]] = []
    for key, urls in channel_places(config):
        for i, url in enumerate(urls):
            for name in dict.fromkeys(ENV_REF.findall(url)):
                if not os.environ.get(name):
                    out.append((f"{key}.{i}", f"${{{name}}} is not set in the environment: "
                                              "messages to this channel wait in the outbox "
                                              "until it is"))
            dropped, passes = dropped_parameters(url)
            if not dropped:
                continue
            scheme = url.partition("://")[0]
            names = ", ".join(f"?{k}=" for k in dropped)
            how = f"; write ?-{dropped[0]}=... to pass it on to the server" if passes else ""
            out.append((f"{key}.{i}", f"apprise's {scheme}:// drops {names} (not one of its "
                                      f"options), so the server never sees it{how}"))
    return out
