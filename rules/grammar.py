"""The query language's reference parser: a lark LALR grammar, and errors that point at
the column where a query goes wrong.

`newswatch.rules.query` reads the queries it is sure of with a hand-written parser of
the same grammar (lark's import and grammar build cost more than a 100-watch config's
whole load); every query it is not sure of comes here, so a mistake is reported in
exactly these words, at exactly this column.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from newswatch.rules.syntax import (
    All,
    Any_,
    Node,
    Not,
    QueryError,
    build_near,
    build_scoped,
    build_termset,
    build_word,
    is_node,
    leaf_of,
)

# the same language as the hand-written parser in rules.query (tests compare the two)
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


def _column(token: Token) -> int | None:
    return token.column if isinstance(token.column, int) else None


class _Build(Transformer[Token, Node]):

    def word(self, items: list[Token]) -> Node:
        return build_word(items[0].value, _column(items[0]))

    def phrase(self, items: list[Token]) -> Node:
        return leaf_of(items[0].value, _column(items[0]))

    def termset(self, items: list[Token]) -> Node:
        return build_termset(items[0].value, _column(items[0]))

    def group(self, items: list[Node | Token]) -> Node:
        node = items[1]
        assert not isinstance(node, Token)
        return node

    def scoped(self, items: list[Node | Token]) -> Node:
        tok, node = items
        assert isinstance(tok, Token) and not isinstance(node, Token)
        return build_scoped(tok.value, node, _column(tok))

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
            node = build_near(node, op.value, _column(op), right)
        return node


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # the basic lexer keeps OR an operator even where only a word could follow, so that
    # "a AND OR" is an error instead of a search for the word "or"; the transformer runs
    # as the parser reduces (no tree built, then walked)
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False,
                transformer=_Build())


@lru_cache(maxsize=1)
def _tree_parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def two_steps(query: str) -> Node:
    """Parse the whole query, then build its nodes: a syntax error anywhere is reported
    before a mistake the builder finds (as `parse` reports them)."""
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


def parse(query: str) -> Node:
    """The tree of a (non-empty) query with its @names unresolved, or the QueryError
    that says where it goes wrong."""
    try:
        node = _parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
    except QueryError:
        # the builder found a mistake while the parser was still reading: a syntax error
        # further on is what the user hears first, so read it again in two steps
        return two_steps(query)
    if not is_node(node):
        raise QueryError("the query has no terms")
    return node
