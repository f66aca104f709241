"""Match: every term of every watch found in one Aho-Corasick pass over an article's
folded words, then only the watches whose terms were hit are evaluated.

A watch that could match an article holding none of its terms (`NOT bitcoin`) is refused
when it is compiled, which is what makes skipping the watches with no hit exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain

import ahocorasick

from newswatch.rules.nodes import (
    FIELD_NAMES,
    AllCheck,
    AnyCheck,
    Check,
    Hits,
    Key,
    LeafCheck,
    NearCheck,
    NotCheck,
    Span,
    compile_test,
    key_of,
    leaves,
    only_or,
    term_weight,
    triggers,
    why_not,
)
from newswatch.rules.normalize import Tokens, tokenize
from newswatch.rules.query import All, Any_, Leaf, Near, Node, Not, Term, parse_query, term_sets
from newswatch.rules.snippets import Snippet, hit_summary, snippets


@dataclass(frozen=True)
class Document:
    """An article's fields, each tokenized once."""

    fields: Mapping[str, Tokens]

    @classmethod
    def of(cls, *, title: str | None = None, text: str | None = None,
           url: str | None = None, source: str | None = None) -> Document:
        raw = {"title": title, "text": text, "url": url, "source": source}
        return cls({name: tokenize(value) for name, value in raw.items()})


COMPILE_AFTER = 16  # tests of a watch before its test is compiled (Watch._walk)


@dataclass
class Watch:
    """One compiled watch."""

    name: str
    query: str
    root: Check
    # the leaves whose hits a match reports (not those under NOT), found once here
    # rather than for every article the watch matches
    positive: list[LeafCheck] = field(default_factory=list)
    # the test in use: the node tree walked, until the watch has been tested often
    # enough to be worth compiling (Watch.check)
    check: Callable[[set[Key], Hits], bool] = field(init=False, repr=False)
    _tests: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.check = self._walk

    def _walk(self, present: set[Key], hits: Hits) -> bool:
        """The test by walking the nodes. Compiling a watch's test into one Python
        function (compile_test) makes each test several times cheaper, but costs as
        much as a few dozen walks: at 10,000 watches most are tested a few times in a
        backtest, or never (a watch of ORs alone never is), so a watch is compiled
        only once it has been tested COMPILE_AFTER times."""
        self._tests += 1
        if self._tests >= COMPILE_AFTER:
            self.check = compile_test(self.root)
        return self.root.test(hits)

    def holds(self, hits: Hits) -> bool:
        return self.check(hits.present, hits)


Found = dict[str, list[Span]]  # a match's hit spans per term label


class Match:
    """A watch that holds for an article. Its hit list and snippets (what the store
    keeps and alerts show) are worked out when first read: at 10,000 watches an article
    matches dozens, and a caller that needs only which watches, or `terms`, would
    otherwise pay for every snippet."""

    def __init__(self, watch: str, query: str, hits: list[dict[str, object]] | None = None,
                 snippets: list[Snippet] | None = None, *,
                 found: Callable[[], tuple[Found, Mapping[str, Tokens]]] | None = None,
                 terms: Callable[[], list[str]] | None = None):
        if found is None and (hits is None or snippets is None):
            raise TypeError("a Match needs its hits and snippets, or how to find them")
        self.watch, self.query = watch, query
        self._hits, self._snippets = hits, snippets
        self._found, self._terms = found, terms
        self._spans: tuple[Found, Mapping[str, Tokens]] | None = None

    def _where(self) -> tuple[Found, Mapping[str, Tokens]]:
        if self._spans is None:
            assert self._found is not None
            self._spans = self._found()
        return self._spans

    @property
    def hits(self) -> list[dict[str, object]]:
        """Per term and field: how often, the words as found, character offsets."""
        if self._hits is None:
            self._hits = hit_summary(*self._where())
        return self._hits

    @property
    def snippets(self) -> list[Snippet]:
        if self._snippets is None:
            self._snippets = snippets(*self._where())
        return self._snippets

    @property
    def terms(self) -> list[str]:
        """The terms that hit (those of `hits`), sorted: found without working out where."""
        if self._terms is None or self._hits is not None:
            return sorted({str(h["term"]) for h in self.hits})
        return self._terms()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return (self.watch, self.query, self.hits, self.snippets) == \
            (other.watch, other.query, other.hits, other.snippets)

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside, as before

    def __repr__(self) -> str:
        return f"Match(watch={self.watch!r}, query={self.query!r}, hits={self.hits!r}, " \
               f"snippets={self.snippets!r})"


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
        for name, query in watches:
            self._add(name, query)
        # the plain automaton's values are ints: the index of the key's (term, field)
        # pairs in each field's table, so a scan collects small ints and expands each
        # distinct one once, in C
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        self._pairs: dict[str, list[tuple[Key, ...]]] = {f: [] for f in FIELD_NAMES}
        # a single word (no prefix, any case) is present exactly when it is one of the
        # field's folded words: one set intersection per field, in C, finds them all;
        # the automaton is left the phrases and prefixes, so its output, walked in
        # Python, no longer grows with every common word that some watch names
        self._single: dict[str, int] = {}
        # case-sensitive terms need a check of the words as written, so they get their own
        # automaton
        self._exact = ahocorasick.Automaton()
        for key, ids in self._by_key.items():
            plain = [tid for tid in ids if not self._terms[tid].exact]
            exact = tuple((tid, len(self._terms[tid].words) - 1, self._terms[tid])
                          for tid in ids if self._terms[tid].exact)
            if plain:
                for f, table in self._pairs.items():
                    bit = key_of(0, f)  # key_of(tid, f), packed here for 10,000 watches
                    table.append(tuple(tid << 2 | bit for tid in plain))
                index = len(self._pairs["text"]) - 1
                word = key[1:-1]
                if key.endswith(" ") and " " not in word:
                    self._single[word] = index
                else:
                    self._automaton.add_word(key, index)
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

    def _compile(self, node: Node) -> Check:
        if isinstance(node, Leaf):
            label = (f"@{node.group}: " if node.group else "") + node.term.display
            return LeafCheck(self._tid(node.term), node.fields, label)
        if isinstance(node, Any_):
            return AnyCheck([self._compile(c) for c in node.children], node.name)
        if isinstance(node, All):
            return AllCheck([self._compile(c) for c in node.children])
        if isinstance(node, Not):
            return NotCheck(self._compile(node.child))
        if isinstance(node, Near):
            return NearCheck(self._compile(node.left), self._compile(node.right), node.distance)
        raise TypeError(f"unexpanded {node!r}")  # SetRefs are expanded by parse_query

    def _add(self, name: str, query: str) -> None:
        node = parse_query(query, self._sets)
        root = self._compile(node)
        index = len(self.watches)
        watch = Watch(name, query, root, leaves(root, negated_too=False))
        self.watches.append(watch)
        keys = triggers(root, lambda tid: term_weight(self._terms[tid]))
        # parse_query refuses a query that could hold with none of its terms present
        assert keys is not None, query
        index_of = self._sure_of if only_or(root) else self._tested_of
        for key in keys:
            index_of.setdefault(key, []).append(index)

    def scan(self, doc: Document) -> Hits:
        """Which terms occur in which field."""
        hits = Hits(doc.fields, self._terms)
        present = hits.present
        plain, exact, pairs, single = self._automaton, self._exact, self._pairs, self._single
        for name, tokens in doc.fields.items():
            if not tokens.raw:
                continue
            if single:
                found = single.keys() & set(tokens.folded)
                present.update(chain.from_iterable(
                    map(pairs[name].__getitem__, map(single.__getitem__, found))))
            if len(plain):
                # the hot loop of matching: one set comprehension over the automaton's
                # output, then each distinct key's pairs added at C speed
                found_ids = {index for _, index in plain.iter(tokens.joined)}
                present.update(chain.from_iterable(map(pairs[name].__getitem__, found_ids)))
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
        watches, present = self.watches, hits.present
        sure.update([i for i in tested if watches[i].check(present, hits)])
        return sorted(sure)

    @staticmethod
    def _found(watch: Watch, hits: Hits) -> Found:
        found: Found = {}
        for leaf in watch.positive:
            spans = leaf.spans(hits)
            if spans:
                found.setdefault(leaf.label, []).extend(spans)
        return found

    def _positive_hits(self, watch: Watch, doc: Document,
                       hits: Hits) -> tuple[list[dict[str, object]], list[Snippet]]:
        found = self._found(watch, hits)
        return hit_summary(found, doc.fields), snippets(found, doc.fields)

    def match(self, doc: Document) -> list[Match]:
        """The watches that hold, in config order; each match's hits and snippets are
        worked out when they are read (Match)."""
        hits = self.scan(doc)
        fields, present = doc.fields, hits.present
        out: list[Match] = []
        for index in self.matching_indexes(hits):
            watch = self.watches[index]
            out.append(Match(watch.name, watch.query,
                             found=partial(_found_in, watch, hits, fields),
                             terms=partial(_terms_of, watch, present)))
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
            missing = [] if matched else why_not(watch.root, hits)
            out.append(Explanation(watch.name, watch.query, matched, summary, missing, snips))
        return out


def _found_in(watch: Watch, hits: Hits,
              fields: Mapping[str, Tokens]) -> tuple[Found, Mapping[str, Tokens]]:
    return Matcher._found(watch, hits), fields


def _terms_of(watch: Watch, present: set[Key]) -> list[str]:
    # a positive leaf has hits exactly when one of its keys is present
    return sorted({leaf.label for leaf in watch.positive if not present.isdisjoint(leaf.keys)})


def _same_case(term: Term, raw: Sequence[str]) -> bool:
    exact = term.exact or ()
    if len(raw) != len(exact):
        return False
    if term.prefix:
        return all(a == b for a, b in zip(raw[:-1], exact[:-1], strict=True)) and \
            raw[-1].startswith(exact[-1])
    return tuple(raw) == exact
