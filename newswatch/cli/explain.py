"""`newswatch match` and `newswatch backtest`: the ways to try a watch before it goes
live. Both only read; neither stores a match nor sends anything."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from newswatch.alerts.render import one_line
from newswatch.cli import tables
from newswatch.config.models import Config
from newswatch.config.times import from_row, readable
from newswatch.config.units import parse_duration
from newswatch.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from newswatch.rules.matcher import Document, Explanation, Matcher
from newswatch.rules.plaintext import for_terminal
from newswatch.rules.query import QueryError, parse_query, term_sets
from newswatch.rules.snippets import Snippet


def marked(snippet: Snippet, style: str | None) -> str:
    """A snippet with its hits marked: in `style` (SGR parameters) on a terminal that
    shows styles, **stars** elsewhere. The pieces are made safe to print before the marks
    go in (the marks' offsets are the stored text's), and each styled word is marked
    alone, so that a line break between two words of a phrase leaves no style open."""
    text, out, pos = snippet["text"], [], 0
    for a, b in snippet["highlights"]:
        hit = for_terminal(text[a:b])
        out += [for_terminal(text[pos:a]),
                " ".join(f"\033[{style}m{w}\033[0m" for w in hit.split(" ")) if style
                else f"**{hit}**"]
        pos = b
    out.append(for_terminal(text[pos:]))
    return "".join(out)


def hit_style(out: TextIO) -> str | None:
    """Bold yellow on a terminal, bold alone under NO_COLOR, none on a dumb terminal
    or a pipe (as Rich decides for the tables)."""
    console = tables.console_for(out)
    if not console.is_terminal or console.color_system is None:
        return None
    return "1" if console.no_color else "1;33"


def hit_lines(hits: list[dict[str, Any]]) -> list[str]:
    by_term: dict[str, list[str]] = {}
    for h in hits:
        found = ", ".join(f'"{w}"' for w in h["found"])
        by_term.setdefault(str(h["term"]), []).append(f"{h['field']} ×{h['count']} ({found})")
    return [f"{term}: {'; '.join(where)}" for term, where in by_term.items()]


def _print_explanation(e: Explanation, out: TextIO, style: str | None,
                       width: int | None) -> None:
    verdict = "MATCH" if e.matched else "no match"
    lines = [f"\n{'✔' if e.matched else '✘'} {e.watch}: {verdict}", f"    query: {e.query}"]
    lines += [f"    hit  {line}" for line in hit_lines(e.hits)]
    lines += [f"    why not: {reason}" for reason in e.missing]
    for line in lines:
        tables.write(out, line, "    ")
    if e.matched:
        for snip in e.snippets:  # marked() made it safe; write() would take its styling
            out.write("\n".join(tables.wrap(f"    » {marked(snip, style)}", width, "  "))
                      + "\n")


def _watch_list(config: Config, names: list[str] | None,
                query: str | None) -> list[tuple[str, str]] | str:
    """The (name, query) pairs to run, or an error message."""
    if query is not None:
        try:
            parse_query(query, term_sets(config.terms))
        except QueryError as exc:
            pointer = " " * ((exc.column or 1) - 1) + "^"
            return f"bad query: {exc}\n  {query}\n  {pointer}"
        return [("query", query)]
    chosen = [w for w in config.watches if not names or w.name in names]
    unknown = sorted(set(names or []) - {w.name for w in config.watches})
    if unknown:
        known = ", ".join(w.name for w in config.watches) or "none"
        return f"unknown watch(es): {', '.join(unknown)}; configured: {known}"
    if not chosen:
        return "the config has no watches (give one with --query)"
    return [(w.name, w.query) for w in chosen]


def cmd_match(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.pipeline.extract import extract_page

    out = sys.stdout
    watches = _watch_list(config, args.watch, None)
    if isinstance(watches, str):
        print(f"newswatch: {watches}", file=sys.stderr)
        return EXIT_USAGE
    target = args.page
    source = ""
    if Path(target).is_file():
        body = Path(target).read_bytes()
        url, charset = Path(target).resolve().as_uri(), None
    elif target.startswith(("http://", "https://")):
        from newswatch.cli.fetch import FetchError, fetch_page

        try:
            page = fetch_page(config, path, target)
        except FetchError as exc:
            print(f"newswatch: cannot fetch {target}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        body, url, charset, source = page["body"], page["url"], page["charset"], \
            page["source"] or ""
    else:
        print(f"newswatch: {target} is neither a file nor an http(s) URL", file=sys.stderr)
        return EXIT_USAGE
    ex = extract_page(url, body, charset)
    matcher = Matcher(watches, config.terms)
    width = tables.prose_width(tables.console_for(out))
    tables.write(out, f"page: {url}" + (f" (source {source})" if source else ""))
    if not ex.get("text"):
        tables.write(out, "no article text found on this page: no watch can match it "
                          "(a menu, an index or an empty page?)")
        return EXIT_OK
    title = ex.get("title") or ""
    tables.write(out, f"title: {one_line(title)}", "       ")
    published = readable(ex.get("published"), ZoneInfo(config.timezone), "unknown")
    if ex.get("published") is not None and not isinstance(ex["published"], datetime):
        # a crawl takes the time from the source's feed when it is on that day
        published += " (the page gives only its date)"
    tables.write(out, f"text: {len(ex['text'].split())} words; published {published}; "
                      f"language {ex.get('language') or 'unknown'}")
    doc = Document.of(title=title, text=ex["text"], url=url, source=source)
    style = hit_style(out)
    for e in matcher.explain(doc):
        _print_explanation(e, out, style, width)
    return EXIT_OK


def _since(value: str) -> timedelta | None:
    if value.strip().lower() in ("all", "none"):
        return None
    return parse_duration(value)


def cmd_backtest(args: argparse.Namespace, config: Config, path: Path) -> int:
    from newswatch.store.db import Store

    if args.query is not None and args.watch:
        print("newswatch: give --watch or --query, not both", file=sys.stderr)
        return EXIT_USAGE
    watches = _watch_list(config, args.watch, args.query)
    if isinstance(watches, str):
        print(f"newswatch: {watches}", file=sys.stderr)
        return EXIT_USAGE
    try:
        window = _since(args.since)
    except ValueError as exc:
        print(f"newswatch: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    matcher = Matcher(watches, config.terms)
    store = Store(config.database)
    cutoff = datetime.now(UTC) - window if window else None
    tz = ZoneInfo(config.timezone)
    out = sys.stdout
    seen = 0
    per_watch: Counter[str] = Counter()
    matched_articles = 0
    table = tables.table("", ["date", "source", "watch", "article"], numeric_from=9,
                         wrap=["article"], drop=["date", "source"], wide=args.wide)
    for art in store.iter_articles(since=cutoff):
        seen += 1
        doc = Document.of(title=art["title"], text=art["text"], url=art["url"],
                          source=art["source"])
        found = matcher.match(doc)
        if not found:
            continue
        matched_articles += 1
        day = readable(from_row(art["published"], art["published_precision"])
                       or art["first_seen"], tz, to="day")
        title = one_line(art["title"]) or "(no title)"  # once, however many watches hit
        for m in found:
            per_watch[m.watch] += 1
            table.add_row(day, art["source"], m.watch,
                          f"{title}\nterms: {', '.join(m.terms)}", url=art["url"])
    store.close()
    console = tables.console_for(out)
    if table.rows:
        tables.show(console, table)
    span = f"in the last {args.since}" if window else "in the whole database"
    console.print()
    tables.say(console, f"{matched_articles} of {seen} stored articles {span} would have "
                        "matched; nothing was sent.")
    # one paragraph per watch, said at once (10,000 watches: 10,000 lines)
    tables.say(console, "\n".join(f"  {name}: {per_watch[name]}" for name, _ in watches),
               "    ")
    return EXIT_OK
