"""The query language (SPEC §5): the syntax tree, the terms, and the parser. The grammar
and its errors, which point at the column where a query goes wrong, are in
rules.grammar (lark); the queries that are right are read here by a hand-written parser
of the same grammar, many times faster and without importing lark.

    bitcoin  "crypto council"  crypto*  =MoU  ="Crypto Council"  @mou
    a AND b   a b   a OR b   NOT a   -a   ( )   a NEAR/5 b   title: text: url: source:

Precedence, tightest first: NOT, NEAR, AND, OR. Operators are written in capitals; a
lowercase `and`/`or`/`not`/`near` is refused rather than silently searched for as a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
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
_TOKEN = re.compile(r"""
    (?P<NEAR>NEAR(?:/\d+)?(?![^\s"()]))
  | (?P<FIELD>[^\s"()*:=@\-][^\s"()*:]*:)
  | (?P<WORD>=?[^\s"()*:=@\-][^\s"():]*)
  | (?P<PHRASE>=?"[^"]*"\*?)
  | (?P<TERMSET>@[^\s"()*:]*)
  | (?P<WS>[ \t\f\r\n]+)
  | (?P<LPAR>\()
  | (?P<MINUS>-)
  | (?P<RPAR>\))
""", re.VERBOSE)
_OPERATORS = {"OR": "OR", "AND": "AND", "NOT": "NOT"}
# what may start a NEAR operand, and so (with AND left out) the next operand of an AND
_OPERAND = frozenset({"NOT", "MINUS", "LPAR", "FIELD", "WORD", "PHRASE", "TERMSET"})


class _Unsure(Exception):
    """A query the hand-written parser leaves to the grammar, which says what is wrong."""


class _Reader:
    """A recursive-descent reader of the grammar in rules.grammar, for the queries that
    are right: a config's 10,000 queries in a fraction of lark's time, with no lark to
    import. It gives up (_Unsure, or a builder's QueryError) at the first thing it does
    not expect, and `parse_syntax` then asks the grammar, whose error is the one shown."""

    def __init__(self, query: str):
        tokens: list[tuple[str, str]] = []
        starts: list[int] = []
        pos, end, match = 0, len(query), _TOKEN.match
        while pos < end:
            m = match(query, pos)
            if m is None:
                raise _Unsure
            kind, value = m.lastgroup or "", m.group()
            pos = m.end()
            if kind == "WS":
                continue
            if kind == "WORD":
                kind = _OPERATORS.get(value, kind)
            tokens.append((kind, value))
            starts.append(m.start())
        tokens.append(("$END", ""))
        self.tokens, self.starts, self.text, self.at = tokens, starts, query, 0

    def peek(self) -> str:
        return self.tokens[self.at][0]

    def take(self) -> str:
        value = self.tokens[self.at][1]
        self.at += 1
        return value

    def query(self) -> Node:
        node = self.or_expr()
        if self.peek() != "$END":
            raise _Unsure
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek() == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Any_(tuple(items))

    def and_expr(self) -> Node:
        items = [self.near_expr()]
        while True:
            kind = self.peek()
            if kind == "AND":
                self.take()
            elif kind not in _OPERAND:
                break
            items.append(self.near_expr())
        return items[0] if len(items) == 1 else All(tuple(items))

    def near_expr(self) -> Node:
        node = self.not_expr()
        while self.peek() == "NEAR":
            op = self.take()
            node = build_near(node, op, None, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.peek() in ("NOT", "MINUS"):
            self.take()
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Node:
        kind = self.peek()
        if kind == "LPAR":
            self.take()
            node = self.or_expr()
            if self.peek() != "RPAR":
                raise _Unsure
            self.take()
            return node
        if kind == "FIELD":
            value = self.take()
            return build_scoped(value, self.atom(), None)
        if kind == "WORD":
            return build_word(self.take(), None)
        if kind == "PHRASE":
            return leaf_of(self.take(), None)
        if kind == "TERMSET":
            # the one column a tree keeps: an unknown @name is found when it is expanded
            start = self.starts[self.at]
            column = start - self.text.rfind("\n", 0, start)  # 1-based, as lark counts
            return build_termset(self.take(), column)
        raise _Unsure


def _two_steps(query: str) -> Node:
    """The grammar's reading in two steps: parse all, then build (rules.grammar)."""
    from newswatch.rules.grammar import two_steps

    return two_steps(query)


@lru_cache(maxsize=65536)
def parse_syntax(query: str) -> Node:
    """The tree of a query with its @names unresolved (cached: a config is parsed when
    it is validated and again when its watches are compiled)."""
    if not query.strip():
        raise QueryError("the query is empty")
    try:
        return _Reader(query).query()
    except (_Unsure, QueryError, RecursionError):
        pass
    # imported here: only a query with a mistake (or nested past the recursion limit)
    # needs lark, whose import and grammar build were most of a small config's load
    from newswatch.rules.grammar import parse

    return parse(query)


def expand(node: Node, terms: dict[str, tuple[Term, ...]]) -> Node:
    """Replace each @name by an OR of its set's terms, in the @name's field scope."""
    if isinstance(node, SetRef):
        if node.name not in terms:
            known = ", ".join("@" + n for n in sorted(terms)) or "none defined"
            raise QueryError(f"unknown term set @{node.name} (known: {known})", node.column)
        return Any_(tuple(Leaf(t, node.fields, node.name) for t in terms[node.name]), node.name)
    if isinstance(node, Any_):
        return Any_(tuple(expand(c, terms) for c in node.children), node.name)
    if isinstance(node, All):
        return All(tuple(expand(c, terms) for c in node.children))
    if isinstance(node, Not):
        return Not(expand(node.child, terms))
    if isinstance(node, Near):
        return Near(expand(node.left, terms), expand(node.right, terms), node.distance)
    return node


def holds_without_terms(node: Node) -> bool:
    """True when the query would match an article that contains none of its terms."""
    if isinstance(node, Leaf | SetRef | Near):
        return False
    if isinstance(node, Any_):
        return any(holds_without_terms(c) for c in node.children)
    if isinstance(node, All):
        return all(holds_without_terms(c) for c in node.children)
    return not holds_without_terms(node.child)


def parse_query(query: str, terms: dict[str, tuple[Term, ...]] | None = None) -> Node:
    """The tree of a query with its @names expanded from `terms` (checked). A query that
    would match articles holding none of its terms (`NOT bitcoin`) is refused: it would
    alert on nearly everything."""
    node = expand(parse_syntax(query), terms or {})
    if holds_without_terms(node):
        raise QueryError("this query matches articles that contain none of its terms; "
                         "add a term they must contain")
    return node


def parse_terms(entries: Iterable[str]) -> tuple[Term, ...]:
    return tuple(parse_term(e) for e in entries)


def term_sets(terms: dict[str, list[str]]) -> dict[str, tuple[Term, ...]]:
    return {name: parse_terms(entries) for name, entries in terms.items()}
