"""`newswatch demo`: serve the demo site, crawl it with the demo config, write the alert
emails to a maildir, and explain what matched and why. A second run sends nothing."""

from __future__ import annotations

import logging
import socket
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from sqlalchemy import select

from newswatch.alerts.render import one_line
from newswatch.cli import tables
from newswatch.cli.crawl import run_crawl
from newswatch.cli.demo.site import DemoSite
from newswatch.cli.send import send_due
from newswatch.config.loader import load_config
from newswatch.config.models import Config
from newswatch.store import schema
from newswatch.store.db import Store, utcnow

TEMPLATE = Path(__file__).with_name("demo.yaml")


def _port(directory: Path) -> int:
    """The port of earlier runs when it is free (the articles' URLs include it, and a
    second run must find the same URLs), else a new one."""
    saved = directory / "port"
    if saved.exists():
        port = int(saved.read_text())
        with socket.socket() as s:
            # as the server will: a port left in TIME_WAIT by the last run is free
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    saved.write_text(str(port))
    return port


def _matches_since(store: Store, since: datetime) -> list[dict[str, Any]]:
    m, a = schema.matches, schema.articles
    with store.reader.connect() as conn:
        rows = conn.execute(
            select(m.c.watch, m.c.hits, m.c.duplicate_of, a.c.title, a.c.source)
            .join(a, a.c.id == m.c.article_id).where(m.c.matched_at >= since)
            .order_by(m.c.watch, a.c.title)).mappings().all()
    return [dict(r) for r in rows]


def run_demo(directory: Path, out: TextIO) -> int:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port = _port(directory)
    path = directory / "newswatch.yaml"
    path.write_text(TEMPLATE.read_text(encoding="utf-8").replace("PORT", str(port)),
                    encoding="utf-8")
    config = load_config(path)
    logging.getLogger().setLevel(logging.WARNING)  # the summary below is the demo's output
    with Store(config.database) as store:
        return _crawl_and_explain(config, path, directory, port, store, out)


def _crawl_and_explain(config: Config, path: Path, directory: Path, port: int, store: Store,
                       out: TextIO) -> int:
    started = utcnow()
    with DemoSite(port) as site:
        out.write(f"newswatch demo: a news site with {len(site.stories)} stories is running "
                  f"on http://127.0.0.1:{port}/ (and http://localhost:{port}/wire/)\n")
        console = Console(file=out, markup=False, emoji=False, highlight=False)
        results = run_crawl(config, path, None, False, console, quiet=True, store=store)
        made, report = send_due(config, store)
    new = sum(r.counts.get("new_articles", 0) for r in results)
    pages = sum(r.counts.get("pages", 0) for r in results)
    out.write(f"\ncrawled {len(results)} sources: {pages} pages fetched, {new} new articles\n")
    found = _matches_since(store, started)
    if not found:
        out.write("\nNothing new this time: every article was seen before and every alert "
                  "went out once already, so no email was written.\n"
                  f"(Delete {directory} to start the demo afresh.)\n")
        return 0
    out.write("\nwhat matched, and why:\n")
    for m in found:
        fields: dict[str, list[str]] = {}
        for h in m["hits"]:
            fields.setdefault(str(h["term"]), []).append(str(h["field"]))
        why = "; ".join(f"{term} ({', '.join(f)})" for term, f in fields.items())
        copy = " [a copy of a story already matched: listed as 'also reported by']" \
            if m["duplicate_of"] else ""
        # continuation lines line up under the title (column 23)
        tables.write(out, f"  {m['watch']:<20} {one_line(m['title'])}  [{m['source']}]{copy}",
                     " " * 21)
        tables.write(out, f"  {'':<20} {why}", "")
    matched = {m["watch"] for m in found}
    quiet = [w.name for w in config.watches if w.name not in matched]
    if quiet:
        tables.write(out, f"  no match for: {', '.join(quiet)}", "  ")
    tables.write(out, "  Every page carries a 'Latest news' sidebar with headlines such as "
                 "'Crypto council row: ...'; only the article text counts, so the cricket, "
                 "weather and stock market stories matched nothing.", "")
    mail_dir = Path(config.alerts.maildir or directory / "mail")
    files = sorted((mail_dir / "new").iterdir(), key=lambda p: p.stat().st_mtime)
    out.write("\n")
    tables.write(out, f"{report.sent} email(s) written to the maildir {mail_dir}"
                 f" ({len(made)} composed this run):", "")
    for f in files[-report.sent:] if report.sent else []:
        out.write(f"  {f}\n")
    out.write("\n")
    tables.write(out, "Open one: each file is one email; `less FILE` shows it raw, any mail "
                 f"client opens the folder (e.g. `mutt -f {mail_dir}`), or rename it to .eml "
                 "and double-click it.", "")
    tables.write(out, "Try a query on what was crawled:", "")
    out.write(f"  newswatch backtest -c {path} --query 'bowlers OR reservoir*'\n")
    tables.write(out, "Run `newswatch demo` again: nothing new is sent.", "")
    return 0
