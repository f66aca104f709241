"""Match: every term of every watch found in one Aho-Corasick pass over an article's
folded words, then only the watches whose terms were hit are evaluated.

A watch that could match an article holding none of its terms (`NOT bitcoin`) is refused
when it is compiled, which is what makes skipping the watches with no hit exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import ahocorasick

from rules.normalize import Tokens, tokenize
from rules.query import All, Any_, Leaf, Near, Node, Not, Term, parse_query, term_sets
from rules.snippets import Snippet, hit_summary, snippets

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


@dataclass(frozen=True)
class Document:
    """An article's fields, each tokenized once."""

    fields: Mapping[str, Tokens]

    @classmethod
    def of(cls, *, title: str | None = None, text: str | None = None,
           url: str | None = None, source: str | None = None) -> Document:
        raw = {"title": title, "text": text, "url": url, "source": source}
        return cls({name: tokenize(value) for name, value in raw.items()})


class _Eval:
    """A compiled query node; Leaf, Near and OR-groups of them also give the spans where
    they hold."""

    def test(self, hits: Hits) -> bool:
        raise NotImplementedError

    def spans(self, hits: Hits) -> list[Span]:
        raise NotImplementedError

    def expr(self, helpers: list[_Eval]) -> str:
        """This node as a Python expression over `P` (the (term id, field) pairs
        present) and `H` (the hits); nodes that need positions go in `helpers`."""
        helpers.append(self)
        return f"_h[{len(helpers) - 1}].test(H)"


def compile_test(node: _Eval) -> Callable[[set[Key], Hits], bool]:
    """The node's test as one Python function. Every candidate watch is tested for every
    article, and a flat boolean expression of set lookups costs a fraction of walking
    the tree. The source holds only ints (packed keys and helper indexes), never query
    text."""
    helpers: list[_Eval] = []
    body = node.expr(helpers)
    fn: Callable[[set[Key], Hits], bool] = eval(
        f"lambda P, H, _h=_h: {body}", {"_h": helpers})
    return fn


class _Leaf(_Eval):
    def __init__(self, tid: int, fields: frozenset[str], label: str):
        self.tid, self.fields, self.label = tid, fields, label
        self.keys = tuple(key_of(tid, f) for f in sorted(fields))

    def spans(self, hits: Hits) -> list[Span]:
        return [s for s in hits.spans(self.tid) if s[0] in self.fields]

    def test(self, hits: Hits) -> bool:
        return not hits.present.isdisjoint(self.keys)

    def expr(self, helpers: list[_Eval]) -> str:
        return "(" + " or ".join(f"{k!r} in P" for k in self.keys) + ")"


class _Any(_Eval):
    def __init__(self, children: list[_Eval], label: str | None):
        self.children, self.label = children, label

    def spans(self, hits: Hits) -> list[Span]:
        return [s for c in self.children for s in c.spans(hits)]

    def test(self, hits: Hits) -> bool:
        return any(c.test(hits) for c in self.children)

    def expr(self, helpers: list[_Eval]) -> str:
        return "(" + " or ".join(c.expr(helpers) for c in self.children) + ")"


class _All(_Eval):
    def __init__(self, children: list[_Eval]):
        self.children = children

    def test(self, hits: Hits) -> bool:
        return all(c.test(hits) for c in self.children)

    def expr(self, helpers: list[_Eval]) -> str:
        return "(" + " and ".join(c.expr(helpers) for c in self.children) + ")"


class _Not(_Eval):
    def __init__(self, child: _Eval):
        self.child = child

    def test(self, hits: Hits) -> bool:
        return not self.child.test(hits)

    def expr(self, helpers: list[_Eval]) -> str:
        return f"(not {self.child.expr(helpers)})"


class _Near(_Eval):
    def __init__(self, left: _Eval, right: _Eval, distance: int):
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

    def expr(self, helpers: list[_Eval]) -> str:
        # both sides present (set lookups) before positions are worked out
        helpers.append(self)
        near = f"_h[{len(helpers) - 1}].test(H)"
        return f"({self.left.expr(helpers)} and {self.right.expr(helpers)} and {near})"


@dataclass
class Watch:
    """One compiled watch."""

    name: str
    query: str
    root: _Eval
    check: Callable[[set[Key], Hits], bool]

    def holds(self, hits: Hits) -> bool:
        return self.check(hits.present, hits)


@dataclass(frozen=True)
class Match:
    watch: str
    query: str
    hits: list[dict[str, object]]
    snippets: list[Snippet]


@dataclass
class Explanation:
    watch: str
    query: str
    matched: bool
    hits: list[dict[str, object]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)


class Matcher:
    """Compiles watches and term sets once; `match` then costs one tokenization and one
    automaton pass per field, whatever the number of watches."""

    def __init__(self, watches: Iterable[tuple[str, str]],
                 terms: Mapping[str, Sequence[str]] | None = None):
        self._sets = term_sets({k: list(v) for k, v in (terms or {}).items()})
        self._ids: dict[tuple[str, tuple[str, ...] | None], int] = {}
        self._terms: list[Term] = []
        self._by_key: dict[str, list[int]] = {}
        self.watches: list[Watch] = []
        # watches indexed by the (term, field) pairs that trigger them: a "sure" watch
        # (terms joined by OR only) holds whenever it is triggered, the others are tested
        self._sure_of: dict[Key, list[int]] = {}
        self._tested_of: dict[Key, list[int]] = {}
        self._checks: list[Callable[[set[Key], Hits], bool]] = []
        for name, query in watches:
            self._add(name, query)
        # the plain automaton's values are ints: the index of the key's (term, field)
        # pairs in each field's table, so a scan collects small ints and expands each
        # distinct one once, in C
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        self._pairs: dict[str, list[tuple[Key, ...]]] = {f: [] for f in FIELD_NAMES}
        # case-sensitive terms need a check of the words as written, so they get their own
        # automaton
        self._exact = ahocorasick.Automaton()
        for key, ids in self._by_key.items():
            plain = [tid for tid in ids if not self._terms[tid].exact]
            exact = tuple((tid, len(self._terms[tid].words) - 1, self._terms[tid])
                          for tid in ids if self._terms[tid].exact)
            if plain:
                for f, table in self._pairs.items():
                    table.append(tuple(key_of(tid, f) for tid in plain))
                self._automaton.add_word(key, len(self._pairs["text"]) - 1)
            if exact:
                self._exact.add_word(key, (len(key) - 2, exact))
        for automaton in (self._automaton, self._exact):
            if len(automaton):
                automaton.make_automaton()

    def _tid(self, term: Term) -> int:
        ident = (term.key, term.exact)
        tid = self._ids.get(ident)
        if tid is None:
            tid = self._ids[ident] = len(self._terms)
            self._terms.append(term)
            self._by_key.setdefault(term.key, []).append(tid)
        return tid

    def _compile(self, node: Node) -> _Eval:
        if isinstance(node, Leaf):
            label = (f"@{node.group}: " if node.group else "") + node.term.display
            return _Leaf(self._tid(node.term), node.fields, label)
        if isinstance(node, Any_):
            return _Any([self._compile(c) for c in node.children], node.name)
        if isinstance(node, All):
            return _All([self._compile(c) for c in node.children])
        if isinstance(node, Not):
            return _Not(self._compile(node.child))
        if isinstance(node, Near):
            return _Near(self._compile(node.left), self._compile(node.right), node.distance)
        raise TypeError(f"unexpanded {node!r}")  # SetRefs are expanded by parse_query

    def _add(self, name: str, query: str) -> None:
        node = parse_query(query, self._sets)
        root = self._compile(node)
        index = len(self.watches)
        watch = Watch(name, query, root, compile_test(root))
        self.watches.append(watch)
        self._checks.append(watch.check)
        triggers = _triggers(root, lambda tid: _term_weight(self._terms[tid]))
        # parse_query refuses a query that could hold with none of its terms present
        assert triggers is not None, query
        index_of = self._sure_of if _only_or(root) else self._tested_of
        for key in triggers:
            index_of.setdefault(key, []).append(index)

    def scan(self, doc: Document) -> Hits:
        """Which terms occur in which field."""
        hits = Hits(doc.fields, self._terms)
        present = hits.present
        plain, exact, pairs = self._automaton, self._exact, self._pairs
        for name, tokens in doc.fields.items():
            if not tokens.raw:
                continue
            if len(plain):
                # the hot loop of matching: one set comprehension over the automaton's
                # output, then each distinct key's pairs added at C speed
                found = {index for _, index in plain.iter(tokens.joined)}
                present.update(chain.from_iterable(map(pairs[name].__getitem__, found)))
            if len(exact):
                for end, (back, entries) in exact.iter(tokens.joined):
                    offset = end - back
                    first = tokens.token_at(offset)
                    for tid, extra, term in entries:
                        if _same_case(term, tokens.raw[first:first + extra + 1]):
                            present.add(key_of(tid, name))
                            hits.exact_offsets.setdefault(key_of(tid, name), []).append(offset)
        return hits

    def _triggered(self, hits: Hits) -> tuple[set[int], set[int]]:
        """The watches with a trigger among the (term, field) pairs present: those that
        hold for that alone, and those still to be tested."""
        present, empty = hits.present, ()
        sure = set().union(*[self._sure_of.get(k, empty) for k in present])
        tested = set().union(*[self._tested_of.get(k, empty) for k in present])
        return sure, tested

    def _candidates(self, hits: Hits) -> list[int]:
        sure, tested = self._triggered(hits)
        return sorted(sure | tested)

    def matching_indexes(self, hits: Hits) -> list[int]:
        """The indexes of the watches that hold, in config order."""
        sure, tested = self._triggered(hits)
        checks, present = self._checks, hits.present
        sure.update([i for i in tested if checks[i](present, hits)])
        return sorted(sure)

    def _positive_hits(self, watch: Watch, doc: Document,
                       hits: Hits) -> tuple[list[dict[str, object]], list[Snippet]]:
        found: dict[str, list[Span]] = {}
        for leaf in _leaves(watch.root, negated_too=False):
            spans = leaf.spans(hits)
            if spans:
                found.setdefault(leaf.label, []).extend(spans)
        return hit_summary(found, doc.fields), snippets(found, doc.fields)

    def match(self, doc: Document) -> list[Match]:
        hits = self.scan(doc)
        out: list[Match] = []
        for index in self.matching_indexes(hits):
            watch = self.watches[index]
            summary, snips = self._positive_hits(watch, doc, hits)
            out.append(Match(watch.name, watch.query, summary, snips))
        return out

    def matching_names(self, doc: Document) -> list[str]:
        hits = self.scan(doc)
        return [self.watches[i].name for i in self.matching_indexes(hits)]

    def explain(self, doc: Document, names: Iterable[str] | None = None) -> list[Explanation]:
        wanted = set(names) if names is not None else None
        hits = self.scan(doc)
        out: list[Explanation] = []
        for watch in self.watches:
            if wanted is not None and watch.name not in wanted:
                continue
            matched = watch.holds(hits)
            summary, snips = self._positive_hits(watch, doc, hits)
            missing = [] if matched else _why_not(watch.root, hits)
            out.append(Explanation(watch.name, watch.query, matched, summary, missing, snips))
        return out


def _same_case(term: Term, raw: Sequence[str]) -> bool:
    exact = term.exact or ()
    if len(raw) != len(exact):
        return False
    if term.prefix:
        return all(a == b for a, b in zip(raw[:-1], exact[:-1], strict=True)) and \
            raw[-1].startswith(exact[-1])
    return tuple(raw) == exact


def _triggers(node: _Eval, weight: Callable[[int], float]) -> frozenset[Key] | None:
    """(term, field) pairs of which at least one must be present for `node` to hold;
    None when it can hold with none of its terms present. A watch is only evaluated when
    one of its triggers hits: for `a AND b` that is one side alone (in the fields it is
    looked for in), the side whose terms `weight` says are found least often; for
    `a OR b` both."""
    if isinstance(node, _Leaf):
        return frozenset(node.keys)
    if isinstance(node, _Any):
        parts = [_triggers(c, weight) for c in node.children]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*[p for p in parts if p is not None])
    if isinstance(node, _All | _Near):
        sides = node.children if isinstance(node, _All) else [node.left, node.right]
        options = [p for p in (_triggers(c, weight) for c in sides) if p is not None]
        return min(options, key=lambda keys: sum(weight(k >> 2) for k in keys),
                   default=None)
    return None


def _term_weight(term: Term) -> float:
    """How often a term is expected to hit, relatively: a phrase rarely, a prefix (any
    word it begins) often."""
    if term.prefix:
        return 4.0
    return 1.0 if len(term.words) == 1 else 0.25


def _only_or(node: _Eval) -> bool:
    """Whether `node` is terms joined by OR alone, so holds exactly when one is present."""
    if isinstance(node, _Leaf):
        return True
    return isinstance(node, _Any) and all(_only_or(c) for c in node.children)


def _leaves(node: _Eval, negated_too: bool) -> list[_Leaf]:
    """The leaves under `node`; without `negated_too`, only those whose hits count for
    a match (not the ones under NOT)."""
    if isinstance(node, _Leaf):
        return [node]
    if isinstance(node, _Any | _All):
        return [leaf for c in node.children for leaf in _leaves(c, negated_too)]
    if isinstance(node, _Near):
        return _leaves(node.left, negated_too) + _leaves(node.right, negated_too)
    if isinstance(node, _Not) and negated_too:
        return _leaves(node.child, negated_too)
    return []


def _describe(node: _Eval) -> str:
    if isinstance(node, _Leaf):
        scope = sorted(node.fields)
        where = "" if scope == ["text", "title"] else f" in {scope[0]}"
        return f"{node.label}{where}"
    if isinstance(node, _Any):
        if node.label:
            return "@" + node.label
        return "(" + " OR ".join(_describe(c) for c in node.children) + ")"
    if isinstance(node, _All):
        return "(" + " AND ".join(_describe(c) for c in node.children) + ")"
    if isinstance(node, _Not):
        return "NOT " + _describe(node.child)
    if isinstance(node, _Near):
        return f"{_describe(node.left)} NEAR/{node.distance} {_describe(node.right)}"
    return "?"


def _why_not(node: _Eval, hits: Hits) -> list[str]:
    """Reasons a node is false, in words a user can act on."""
    if isinstance(node, _Leaf):
        return [f"{_describe(node)}: not found"]
    if isinstance(node, _Any):
        if node.label:
            return [f"@{node.label}: none of its terms found"]
        return [f"none of {_describe(node)} found"]
    if isinstance(node, _All):
        return [r for c in node.children if not c.test(hits) for r in _why_not(c, hits)]
    if isinstance(node, _Not):
        return [f"excluded: {_describe(node.child)} found"]
    if isinstance(node, _Near):
        sides = [s for s in (node.left, node.right) if not s.test(hits)]
        if sides:
            return [r for s in sides for r in _why_not(s, hits)]
        return [f"{_describe(node.left)} and {_describe(node.right)} both found, but not "
                f"within {node.distance} words of each other in one field"]
    return []
