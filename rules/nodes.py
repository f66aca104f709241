"""Compiled watches: each query node as a test over the (term, field) keys a scan found,
compiled to one Python expression per watch, plus what the matcher needs around it:
where terms and NEARs hold (for snippets and explanations), which keys trigger a watch,
and why a watch did not match."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from newswatch.rules.normalize import Tokens
from newswatch.rules.query import Term

Span = tuple[str, int, int]  # field, first word, last word (inclusive)


FIELD_NAMES = ("title", "text", "url", "source")
_FIELD_BIT = {name: i for i, name in enumerate(FIELD_NAMES)}
# a (term id, field) pair packed in one int: ints hash for free, and every scan and every
# watch test is a run of set operations on them
Key = int


def key_of(tid: int, name: str) -> Key:
    return tid << 2 | _FIELD_BIT[name]


class Hits:
    """What one scan found: the (term id, field) pairs present, which answer most tests
    with one set lookup. Where a term occurs is worked out only when it is asked for
    (NEAR, explanations, snippets), by finding its key again in the field's words."""

    def __init__(self, fields: Mapping[str, Tokens] | None = None,
                 terms: Sequence[Term] = ()) -> None:
        self.fields = fields or {}
        self.present: set[Key] = set()
        self.exact_offsets: dict[Key, list[int]] = {}  # case-sensitive terms, as checked
        self._terms = terms
        self._spans: dict[int, list[Span]] = {}

    def _offsets(self, tid: int, name: str) -> list[int]:
        """Where each occurrence's first word starts in the field's `joined`."""
        key = key_of(tid, name)
        if key in self.exact_offsets:
            return self.exact_offsets[key]
        joined, word = self.fields[name].joined, self._terms[tid].key
        out: list[int] = []
        pos = joined.find(word)
        while pos >= 0:
            out.append(pos + 1)
            pos = joined.find(word, pos + 1)
        return out

    def spans(self, tid: int) -> list[Span]:
        spans = self._spans.get(tid)
        if spans is None:
            spans = []
            extra = len(self._terms[tid].words) - 1
            for name in FIELD_NAMES:
                if key_of(tid, name) in self.present:
                    tokens = self.fields[name]
                    offsets = self._offsets(tid, name)
                    if len(offsets) < 8 and "starts" not in tokens.__dict__:
                        # a few occurrences (a NEAR test): counting the spaces before
                        # each is cheaper than indexing every word of the field
                        firsts = [tokens.joined.count(" ", 0, o) - 1 for o in offsets]
                    else:
                        firsts = [tokens.token_at(o) for o in offsets]
                    spans.extend((name, first, first + extra) for first in firsts)
            self._spans[tid] = spans
        return spans


class Check:
    """A compiled query node; Leaf, Near and OR-groups of them also give the spans where
    they hold."""

    def test(self, hits: Hits) -> bool:
        raise NotImplementedError

    def spans(self, hits: Hits) -> list[Span]:
        raise NotImplementedError

    def expr(self, helpers: list[Check]) -> str:
        """This node as a Python expression over `P` (the (term id, field) pairs
        present) and `H` (the hits); nodes that need positions go in `helpers`."""
        helpers.append(self)
        return f"_h[{len(helpers) - 1}].test(H)"


def compile_test(node: Check) -> Callable[[set[Key], Hits], bool]:
    """The node's test as one Python function. Every candidate watch is tested for every
    article, and a flat boolean expression of set lookups costs a fraction of walking
    the tree. The source holds only ints (packed keys and helper indexes), never query
    text."""
    helpers: list[Check] = []
    body = node.expr(helpers)
    fn: Callable[[set[Key], Hits], bool] = eval(
        f"lambda P, H, _h=_h: {body}", {"_h": helpers})
    return fn


_BITS: dict[frozenset[str], tuple[int, ...]] = {}  # a field scope's bits, in name order


class LeafCheck(Check):
    def __init__(self, tid: int, fields: frozenset[str], label: str):
        self.tid, self.fields, self.label = tid, fields, label
        bits = _BITS.get(fields)
        if bits is None:
            bits = _BITS[fields] = tuple(_FIELD_BIT[f] for f in sorted(fields))
        self.keys = tuple(tid << 2 | bit for bit in bits)  # key_of(tid, f) for each

    def spans(self, hits: Hits) -> list[Span]:
        return [s for s in hits.spans(self.tid) if s[0] in self.fields]

    def test(self, hits: Hits) -> bool:
        return not hits.present.isdisjoint(self.keys)

    def expr(self, helpers: list[Check]) -> str:
        return "(" + " or ".join(f"{k!r} in P" for k in self.keys) + ")"


class AnyCheck(Check):
    def __init__(self, children: list[Check], label: str | None):
        self.children, self.label = children, label

    def spans(self, hits: Hits) -> list[Span]:
        return [s for c in self.children for s in c.spans(hits)]

    def test(self, hits: Hits) -> bool:
        return any(c.test(hits) for c in self.children)

    def expr(self, helpers: list[Check]) -> str:
        return "(" + " or ".join(c.expr(helpers) for c in self.children) + ")"


class AllCheck(Check):
    def __init__(self, children: list[Check]):
        self.children = children

    def test(self, hits: Hits) -> bool:
        return all(c.test(hits) for c in self.children)

    def expr(self, helpers: list[Check]) -> str:
        return "(" + " and ".join(c.expr(helpers) for c in self.children) + ")"


class NotCheck(Check):
    def __init__(self, child: Check):
        self.child = child

    def test(self, hits: Hits) -> bool:
        return not self.child.test(hits)

    def expr(self, helpers: list[Check]) -> str:
        return f"(not {self.child.expr(helpers)})"


class NearCheck(Check):
    def __init__(self, left: Check, right: Check, distance: int):
        self.left, self.right, self.distance = left, right, distance

    def spans(self, hits: Hits) -> list[Span]:
        right = self.right.spans(hits)
        if not right:
            return []
        out: list[Span] = []
        n = self.distance
        for f, s1, e1 in self.left.spans(hits):
            for g, s2, e2 in right:
                # two distinct occurrences in one field, at most n words between them
                if f == g and (0 <= s2 - e1 - 1 <= n or 0 <= s1 - e2 - 1 <= n):
                    out.append((f, min(s1, s2), max(e1, e2)))
        return out

    def test(self, hits: Hits) -> bool:
        return bool(self.spans(hits))

    def expr(self, helpers: list[Check]) -> str:
        # both sides present (set lookups) before positions are worked out
        helpers.append(self)
        near = f"_h[{len(helpers) - 1}].test(H)"
        return f"({self.left.expr(helpers)} and {self.right.expr(helpers)} and {near})"


def triggers(node: Check, weight: Callable[[int], float]) -> frozenset[Key] | None:
    """(term, field) pairs of which at least one must be present for `node` to hold;
    None when it can hold with none of its terms present. A watch is only evaluated when
    one of its triggers hits: for `a AND b` that is one side alone (in the fields it is
    looked for in), the side whose terms `weight` says are found least often; for
    `a OR b` both."""
    if isinstance(node, LeafCheck):
        return frozenset(node.keys)
    if isinstance(node, AnyCheck):
        parts = [triggers(c, weight) for c in node.children]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*[p for p in parts if p is not None])
    if isinstance(node, AllCheck | NearCheck):
        sides = node.children if isinstance(node, AllCheck) else [node.left, node.right]
        options = [p for p in (triggers(c, weight) for c in sides) if p is not None]
        return min(options, key=lambda keys: sum(weight(k >> 2) for k in keys),
                   default=None)
    return None


def term_weight(term: Term) -> float:
    """How often a term is expected to hit, relatively: a phrase rarely, a prefix (any
    word it begins) often."""
    if term.prefix:
        return 4.0
    return 1.0 if len(term.words) == 1 else 0.25


def only_or(node: Check) -> bool:
    """Whether `node` is terms joined by OR alone, so holds exactly when one is present."""
    if isinstance(node, LeafCheck):
        return True
    return isinstance(node, AnyCheck) and all(only_or(c) for c in node.children)


def leaves(node: Check, negated_too: bool) -> list[LeafCheck]:
    """The leaves under `node`; without `negated_too`, only those whose hits count for
    a match (not the ones under NOT)."""
    if isinstance(node, LeafCheck):
        return [node]
    if isinstance(node, AnyCheck | AllCheck):
        return [leaf for c in node.children for leaf in leaves(c, negated_too)]
    if isinstance(node, NearCheck):
        return leaves(node.left, negated_too) + leaves(node.right, negated_too)
    if isinstance(node, NotCheck) and negated_too:
        return leaves(node.child, negated_too)
    return []


def describe(node: Check) -> str:
    if isinstance(node, LeafCheck):
        scope = sorted(node.fields)
        where = "" if scope == ["text", "title"] else f" in {scope[0]}"
        return f"{node.label}{where}"
    if isinstance(node, AnyCheck):
        if node.label:
            return "@" + node.label
        return "(" + " OR ".join(describe(c) for c in node.children) + ")"
    if isinstance(node, AllCheck):
        return "(" + " AND ".join(describe(c) for c in node.children) + ")"
    if isinstance(node, NotCheck):
        return "NOT " + describe(node.child)
    if isinstance(node, NearCheck):
        return f"{describe(node.left)} NEAR/{node.distance} {describe(node.right)}"
    return "?"


def why_not(node: Check, hits: Hits) -> list[str]:
    """Reasons a node is false, in words a user can act on."""
    if isinstance(node, LeafCheck):
        return [f"{describe(node)}: not found"]
    if isinstance(node, AnyCheck):
        if node.label:
            return [f"@{node.label}: none of its terms found"]
        return [f"none of {describe(node)} found"]
    if isinstance(node, AllCheck):
        return [r for c in node.children if not c.test(hits) for r in why_not(c, hits)]
    if isinstance(node, NotCheck):
        return [f"excluded: {describe(node.child)} found"]
    if isinstance(node, NearCheck):
        sides = [s for s in (node.left, node.right) if not s.test(hits)]
        if sides:
            return [r for s in sides for r in why_not(s, hits)]
        return [f"{describe(node.left)} and {describe(node.right)} both found, but not "
                f"within {node.distance} words of each other in one field"]
    return []
