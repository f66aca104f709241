"""The query language (SPEC §5): the parser (the syntax tree is in rules.syntax). The grammar
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
from functools import lru_cache

from newswatch.rules.syntax import (
    All,
    Any_,
    Leaf,
    Near,
    Node,
    Not,
    QueryError,
    SetRef,
    Term,
    build_near,
    build_scoped,
    build_termset,
    build_word,
    leaf_of,
    parse_term,
)

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
