"""The query language (SPEC §5): a lark grammar, the syntax tree it builds, and errors
that point at the column where a query goes wrong.

    bitcoin  "crypto council"  crypto*  =MoU  ="Crypto Council"  @mou
    a AND b   a b   a OR b   NOT a   -a   ( )   a NEAR/5 b   title: text: url: source:

Precedence, tightest first: NOT, NEAR, AND, OR. Operators are written in capitals; a
lowercase `and`/`or`/`not`/`near` is refused rather than silently searched for as a word.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from newswatch.rules.normalize import fold, words

FIELDS = ("title", "text", "url", "source")
DEFAULT_FIELDS = frozenset({"title", "text"})

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: near_expr (_AND? near_expr)*
?near_expr: not_expr (NEAR not_expr)*
?not_expr: _NOT not_expr -> neg
         | MINUS not_expr -> neg
         | atom
?atom: LPAR or_expr RPAR -> group
     | FIELD atom -> scoped
     | WORD -> word
     | PHRASE -> phrase
     | TERMSET -> termset
_OR: "OR"
_AND: "AND"
_NOT: "NOT"
LPAR: "("
RPAR: ")"
MINUS: "-"
NEAR.3: /NEAR(\/\d+)?(?![^\s"()])/
FIELD.2: /[^\s"()*:=@\-][^\s"()*:]*:/
WORD: /=?[^\s"()*:=@\-][^\s"():]*/
PHRASE: /=?"[^"]*"\*?/
TERMSET: /@[^\s"()*:]*/
%import common.WS
%ignore WS
"""

_FRIENDLY = {
    "WORD": "a word", "PHRASE": 'a "phrase"', "TERMSET": "an @term set", "LPAR": "(",
    "RPAR": ")", "MINUS": "-", "_NOT": "NOT", "_OR": "OR", "_AND": "AND",
    "NEAR": "NEAR/n", "FIELD": "a field:", "$END": "the end of the query",
}
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

    @property
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
    raw = words(body)
    if not raw:
        raise QueryError(f"{text!r} has no words to search for", column)
    if prefix and not body.rstrip()[-1:].isalnum():
        raise QueryError(f"{text!r}: * must follow a word", column)
    folded = tuple(fold(" ".join(raw)).split(" "))
    return Term(folded, prefix, tuple(raw) if exact else None, text.strip())


def _column(token: Token) -> int | None:
    return token.column if isinstance(token.column, int) else None


def _is_positional(node: Node) -> bool:
    if isinstance(node, Leaf | SetRef | Near):
        return True
    if isinstance(node, Any_):
        return all(_is_positional(c) for c in node.children)
    return False


class _Build(Transformer[Token, Node]):

    def word(self, items: list[Token]) -> Node:
        tok = items[0]
        bare = tok.value
        if bare in _LOWER_OPERATORS:
            raise QueryError(
                f'lowercase "{bare}" is taken as a word: write {_LOWER_OPERATORS[bare]} for '
                f'the operator, or "{bare}" in quotes to search for the word', _column(tok))
        return Leaf(parse_term(bare, _column(tok)), DEFAULT_FIELDS)

    def phrase(self, items: list[Token]) -> Node:
        tok = items[0]
        return Leaf(parse_term(tok.value, _column(tok)), DEFAULT_FIELDS)

    def termset(self, items: list[Token]) -> Node:
        tok = items[0]
        name = tok.value[1:]
        if not name:
            raise QueryError("@ must be followed by the name of a term set", _column(tok))
        return SetRef(name, DEFAULT_FIELDS, _column(tok))

    def group(self, items: list[Node | Token]) -> Node:
        node = items[1]
        assert not isinstance(node, Token)
        return node

    def scoped(self, items: list[Node | Token]) -> Node:
        tok, node = items
        assert isinstance(tok, Token) and not isinstance(node, Token)
        field = tok.value[:-1]
        if field not in FIELDS:
            raise QueryError(
                f"unknown field {field!r}: use {', '.join(FIELDS)} (or quote a word with a "
                f"colon)", _column(tok))
        return _scope(node, frozenset({field}), _column(tok))

    def neg(self, items: list[Node | Token]) -> Node:
        node = items[-1]
        assert not isinstance(node, Token)
        return Not(node)

    def or_expr(self, items: list[Node]) -> Node:
        return Any_(tuple(items))

    def and_expr(self, items: list[Node]) -> Node:
        return All(tuple(items))

    def near_expr(self, items: list[Node | Token]) -> Node:
        node = items[0]
        assert not isinstance(node, Token)
        for i in range(1, len(items), 2):
            op, right = items[i], items[i + 1]
            assert isinstance(op, Token) and not isinstance(right, Token)
            if "/" not in op.value:
                raise QueryError("NEAR needs a distance in words, e.g. NEAR/5", _column(op))
            if not (_is_positional(node) and _is_positional(right)):
                raise QueryError("NEAR needs words, phrases, @sets or OR-groups of them on "
                                 "both sides", _column(op))
            node = Near(node, right, int(op.value.split("/", 1)[1]))
        return node


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


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # the basic lexer keeps OR an operator even where only a word could follow, so that
    # "a AND OR" is an error instead of a search for the word "or"; the transformer runs
    # as the parser reduces (no tree built, then walked): half the time of a config's
    # 10,000 queries
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False,
                transformer=_Build())


@lru_cache(maxsize=1)
def _tree_parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def _two_steps(query: str) -> Node:
    """Parse the whole query, then build its nodes: a syntax error anywhere is reported
    before a mistake the builder finds (as `parse_syntax` reports them)."""
    try:
        tree = _tree_parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
    try:
        node = _Build().transform(tree) if isinstance(tree, Tree) else None
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise
    if node is None or isinstance(node, Token):
        raise QueryError("the query has no terms")
    return node


def _syntax_error(query: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = query[pos] if pos < len(query) else ""
        hint = ""
        if ch == '"':
            hint = " (a phrase needs its closing quote)"
        elif ch in "*:":
            hint = f" ({ch} cannot start a term)"
        elif ch in "=@-":
            hint = f" ({ch} must be followed by a term)"
        return QueryError(f"unexpected {ch!r}{hint}", exc.column)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        expected = sorted({_FRIENDLY.get(e, e) for e in exc.expected})
        token = getattr(exc, "token", None)
        at_end = token is None or token.type == "$END"
        column = len(query.rstrip()) + 1 if at_end else exc.column
        found = "the end of the query" if at_end else repr(str(token))
        if not at_end and str(token) == ")":
            return QueryError("unbalanced ')': no ( to close", column)
        want = "a term" if "a word" in expected else " or ".join(expected)
        return QueryError(f"unexpected {found}: expected {want}", column)
    return QueryError(str(exc))


@lru_cache(maxsize=65536)
def parse_syntax(query: str) -> Node:
    """The tree of a query with its @names unresolved (cached: a config is parsed when
    it is validated and again when its watches are compiled)."""
    if not query.strip():
        raise QueryError("the query is empty")
    try:
        node = _parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
    except QueryError:
        # the builder found a mistake while the parser was still reading: a syntax error
        # further on is what the user hears first, so read it again in two steps
        return _two_steps(query)
    if not isinstance(node, Leaf | SetRef | Any_ | All | Not | Near):
        raise QueryError("the query has no terms")
    return node


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
