"""Load newswatch.yaml: parse with line numbers, validate, and report every error as
`file:line: key.path: message`."""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from newswatch.config import yaml_errors
from newswatch.config.checks import environment_issues, warnings
from newswatch.config.models import Config, known_keys
from newswatch.config.yaml_tree import LineMap, LineSeq, YamlSyntaxError, read_tree
from newswatch.rules.query import QueryError, Term, parse_query, parse_syntax, parse_term

ENV_VAR = "NEWSWATCH_CONFIG"


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    message: str
    # the line's own text, shown under the message (for YAML syntax errors)
    text: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.path}:" if self.path else ""
        said = f"{where}:{key} {self.message}"
        if self.text is not None:
            shown = self.text.rstrip().replace("\t", "\\t")  # a tab may be the mistake
            said += f"\n      {self.line} | {shown}"
        return said


class ConfigError(Exception):
    """A config that cannot be used; carries every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def report(self, stream: TextIO) -> None:
        """Every problem, one per line, as the CLI prints them."""
        print(f"newswatch: {len(self.issues)} error(s) in the config:", file=stream)
        for issue in self.issues:
            print(f"  {issue}", file=stream)


DEFAULT_PATH = Path("config") / "newswatch.yaml"
# the example config this package ships (the repository's config/newswatch.yaml): where
# a user without a config of their own starts from
EXAMPLE = Path(__file__).resolve().with_name("newswatch.yaml")


class NoConfig(ConfigError):
    """No config named (no -c, no $NEWSWATCH_CONFIG) and none at the default path."""

    def __init__(self) -> None:
        super().__init__([ConfigIssue(
            str(DEFAULT_PATH), None, "",
            f"no config: ${ENV_VAR} is not set and there is no ./{DEFAULT_PATH} in "
            f"{Path.cwd()}; give -c FILE, or start from the example: {EXAMPLE}")])

    def report(self, stream: TextIO) -> None:
        print(f"newswatch: {self.issues[0].message}", file=stream)


def default_config_path() -> Path:
    """$NEWSWATCH_CONFIG, else ./config/newswatch.yaml (SPEC §3); NoConfig if neither."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if not DEFAULT_PATH.exists():
        raise NoConfig()
    return DEFAULT_PATH


def _line_of(tree: Any, loc: Iterable[Any]) -> tuple[int | None, str]:
    """The 1-based line of the deepest node of `loc` present in the YAML tree, and the
    dotted key path (list indexes in brackets)."""
    node = tree
    line: int | None = None
    parts: list[str] = []
    for key in loc:
        if isinstance(node, LineMap) and isinstance(key, str) and key in node:
            if key in node.lines:
                line = node.lines[key] + 1
            parts.append(key)
            node = node[key]
        elif isinstance(node, LineSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lines[key] + 1
            parts.append(f"[{key}]")
            node = node[key]
        elif isinstance(key, str) and isinstance(node, LineMap):
            # a key that is missing (required) or unknown: point at its parent mapping
            parts.append(key)
            node = None
        elif isinstance(key, int | str) and not isinstance(node, LineMap | LineSeq):
            # pydantic's union branch names and the like: not part of the YAML path
            continue
    path = ".".join(parts).replace(".[", "[")
    return line, path


def _unknown_key(loc: Sequence[Any]) -> str:
    """"unknown key", with the nearest key that the mapping may hold."""
    key = str(loc[-1]) if loc else ""
    known = known_keys(loc)
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"unknown key; did you mean '{near[0]}'?"
    if known:
        return f"unknown key; the keys here are: {', '.join(known)}"
    return "unknown key"


def _duplicates(tree: Any, file: str) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if not isinstance(tree, LineMap):
        return issues
    for section in ("sources", "watches"):
        items = tree.get(section)
        if not isinstance(items, LineSeq):
            continue
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, LineMap) or not isinstance(item.get("name"), str):
                continue
            name = item["name"]
            line, path = _line_of(tree, (section, i, "name"))
            if name in first:
                issues.append(ConfigIssue(
                    file, line, path,
                    f"duplicate name {name!r} (first used by {section}[{first[name]}])",
                ))
            else:
                first[name] = i
    return issues


def _query_issues(tree: LineMap, file: str) -> list[ConfigIssue]:
    """What needs the term sets and the whole query: unknown @names, and queries that
    would match articles holding none of their terms. Syntax errors are left to the
    models, which report them with the rest."""
    sets: dict[str, tuple[Term, ...]] = {}
    terms = tree.get("terms")
    if isinstance(terms, LineMap):
        for name, entries in terms.items():
            if isinstance(entries, LineSeq):
                valid = []
                for entry in entries:
                    with contextlib.suppress(QueryError):
                        valid.append(parse_term(str(entry)))
                sets[str(name)] = tuple(valid)
    issues: list[ConfigIssue] = []
    watches = tree.get("watches")
    if not isinstance(watches, LineSeq):
        return issues
    for i, watch in enumerate(watches):
        query = watch.get("query") if isinstance(watch, LineMap) else None
        if not isinstance(query, str):
            continue
        try:
            parse_syntax(query)
        except QueryError:
            continue
        try:
            parse_query(query, sets)
        except QueryError as exc:
            line, path = _line_of(tree, ("watches", i, "query"))
            issues.append(ConfigIssue(file, line, path, f"bad query: {exc}"))
    return issues


def parse_config_text(text: str, file: str, base_dir: Path | None = None,
                      environment: bool = True) -> Config:
    """Validate config text; raise ConfigError listing every problem. `environment`:
    also check what it points at (database folder, CA file, templates, maildir)."""
    try:
        tree = read_tree(text)
    except YamlSyntaxError as exc:
        line, message, shown = yaml_errors.explain(exc.error, text)
        raise ConfigError([ConfigIssue(file, line, "", message, shown)]) from None
    if tree is None:
        tree = LineMap()
    if not isinstance(tree, LineMap):
        raise ConfigError([ConfigIssue(file, 1, "", "the config must be a YAML mapping")])
    issues = _duplicates(tree, file) + _query_issues(tree, file)
    context = {"base_dir": base_dir if base_dir is not None else Path(file).resolve().parent,
               "environment": environment}
    try:
        config = Config.model_validate(tree, context=context)
    except ValidationError as exc:
        for err in exc.errors():
            line, path = _line_of(tree, err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = _unknown_key(err["loc"])
            elif err["type"] == "string_pattern_mismatch" and path.endswith("name"):
                msg = f"bad name {err['input']!r}: use lowercase letters, digits, _ and -"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            issue = ConfigIssue(file, line, path, msg)
            if "duplicate name" in msg and any(i.path.startswith(path) for i in issues):
                continue
            if issue not in issues:
                issues.append(issue)
        raise ConfigError(issues) from None
    for key, message in environment_issues(config) if environment else []:
        issues.append(_issue(tree, file, key, message))
    if issues:
        raise ConfigError(issues)
    return config


def _issue(tree: Any, file: str, key: str, message: str) -> ConfigIssue:
    """A problem found on the validated config (`key` as `alerts.notify.0`), placed at
    its line in the YAML tree."""
    line, path = _line_of(tree, [int(k) if k.isdigit() else k for k in key.split(".")])
    return ConfigIssue(file, line, path or key, message)


def config_warnings(path: str | os.PathLike[str], config: Config) -> list[ConfigIssue]:
    """What `check` warns about but accepts (config.checks.warnings), with file and line."""
    found = warnings(config)
    if not found:
        return []  # nothing to place: the file need not be read again
    try:
        tree = read_tree(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlSyntaxError):
        tree = None  # it loaded a moment ago; without lines, the key paths still say where
    return [_issue(tree, str(path), key, message) for key, message in found]


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file (default: $NEWSWATCH_CONFIG, else config/newswatch.yaml)."""
    file = Path(path) if path is not None else default_config_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        issue = ConfigIssue(str(file), None, "", f"cannot read: {exc.strerror}")
        raise ConfigError([issue]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(file), None, "", f"not UTF-8: {exc}")]) from None
    return parse_config_text(text, str(file), file.resolve().parent)
