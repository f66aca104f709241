"""The query language's syntax tree (SPEC §5): its terms and nodes, and how the parsers
(the hand-written reader in rules.query, lark's grammar in rules.grammar) build them, so
that both build the same nodes and refuse alike."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeGuard

from newswatch.rules.normalize import fold, words

FIELDS = ("title", "text", "url", "source")
DEFAULT_FIELDS = frozenset({"title", "text"})

_LOWER_OPERATORS = {"and": "AND", "or": "OR", "not": "NOT", "near": "NEAR/n"}


class QueryError(ValueError):
    """A query that cannot be used; `column` is 1-based in the query text."""

    def __init__(self, message: str, column: int | None = None):
        self.column = column
        self.reason = message
        super().__init__(f"column {column}: {message}" if column else message)


@dataclass(frozen=True)
class Term:
    """One word, phrase or prefix. `words` are folded; `exact` holds the words as
    written when the term is case-sensitive (`=MoU`)."""

    words: tuple[str, ...]
    prefix: bool
    exact: tuple[str, ...] | None
    display: str

    @cached_property  # asked for by every watch that names the term, and by each scan
    def key(self) -> str:
        """What the automaton looks for in a field's joined words."""
        return " " + " ".join(self.words) + ("" if self.prefix else " ")


@dataclass(frozen=True)
class Leaf:
    term: Term
    fields: frozenset[str]
    group: str | None = None  # the @set it came from


@dataclass(frozen=True)
class SetRef:
    """An @name in a parsed query, before the term sets are known."""

    name: str
    fields: frozenset[str]
    column: int | None


@dataclass(frozen=True)
class Any_:
    """Any of the children (OR); `name` is set for an expanded @term set."""

    children: tuple[Node, ...]
    name: str | None = None


@dataclass(frozen=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


Node = Leaf | SetRef | Any_ | All | Not | Near


def parse_term(text: str, column: int | None = None) -> Term:
    """A single term as written in a query or a `terms:` entry: words (several make
    a phrase), an optional leading `=` (case-sensitive) and trailing `*` (prefix)."""
    body = text.strip()
    exact = body.startswith("=")
    if exact:
        body = body[1:]
    prefix = body.endswith("*")
    if prefix:
        body = body[:-1]
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1]
    if body.endswith("*") and not prefix:
        prefix, body = True, body[:-1]
    if "*" in body:
        raise QueryError(f"{text!r}: * may only end a term", column)
    # plain ASCII words split at spaces as the tokenizer splits them, without its
    # Unicode work (most of the time 10,000 queries took to parse)
    plain = body.isascii() and body.replace(" ", "").isalnum()
    raw = body.split() if plain else words(body)
    if not raw:
        raise QueryError(f"{text!r} has no words to search for", column)
    if prefix and not body.rstrip()[-1:].isalnum():
        raise QueryError(f"{text!r}: * must follow a word", column)
    folded = tuple(w.lower() for w in raw) if plain else tuple(fold(" ".join(raw)).split(" "))
    return Term(folded, prefix, tuple(raw) if exact else None, text.strip())


def _is_positional(node: Node) -> bool:
    if isinstance(node, Leaf | SetRef | Near):
        return True
    if isinstance(node, Any_):
        return all(_is_positional(c) for c in node.children)
    return False


# What each token builds, shared by both parsers (the hand-written one below and the
# lark grammar in rules.grammar), so that both build the same nodes and refuse alike.

def leaf_of(value: str, column: int | None) -> Node:
    """A word or "phrase" token, searched in the default fields."""
    return Leaf(parse_term(value, column), DEFAULT_FIELDS)


def build_word(bare: str, column: int | None) -> Node:
    if bare in _LOWER_OPERATORS:
        raise QueryError(
            f'lowercase "{bare}" is taken as a word: write {_LOWER_OPERATORS[bare]} for '
            f'the operator, or "{bare}" in quotes to search for the word', column)
    return leaf_of(bare, column)


def build_termset(value: str, column: int | None) -> Node:
    name = value[1:]
    if not name:
        raise QueryError("@ must be followed by the name of a term set", column)
    return SetRef(name, DEFAULT_FIELDS, column)


def build_scoped(value: str, node: Node, column: int | None) -> Node:
    field = value[:-1]
    if field not in FIELDS:
        raise QueryError(
            f"unknown field {field!r}: use {', '.join(FIELDS)} (or quote a word with a "
            f"colon)", column)
    return _scope(node, frozenset({field}), column)


def build_near(left: Node, op: str, column: int | None, right: Node) -> Node:
    if "/" not in op:
        raise QueryError("NEAR needs a distance in words, e.g. NEAR/5", column)
    if not (_is_positional(left) and _is_positional(right)):
        raise QueryError("NEAR needs words, phrases, @sets or OR-groups of them on "
                         "both sides", column)
    return Near(left, right, int(op.split("/", 1)[1]))


def _scope(node: Node, fields: frozenset[str], column: int | None) -> Node:
    if isinstance(node, Leaf | SetRef):
        if node.fields != DEFAULT_FIELDS and node.fields != fields:
            raise QueryError("field scopes cannot be nested", column)
        if isinstance(node, SetRef):
            return SetRef(node.name, fields, node.column)
        return Leaf(node.term, fields, node.group)
    if isinstance(node, Any_):
        return Any_(tuple(_scope(c, fields, column) for c in node.children), node.name)
    if isinstance(node, All):
        return All(tuple(_scope(c, fields, column) for c in node.children))
    if isinstance(node, Not):
        return Not(_scope(node.child, fields, column))
    return Near(_scope(node.left, fields, column), _scope(node.right, fields, column),
                node.distance)


def is_node(value: object) -> TypeGuard[Node]:
    return isinstance(value, Leaf | SetRef | Any_ | All | Not | Near)


# The grammar's tokens (rules.grammar), as its lexer takes them: at each position the
# first of these patterns that matches, in this order (lark's: priority, then width),
# whitespace skipped; a WORD that is exactly OR, AND or NOT is that operator.
