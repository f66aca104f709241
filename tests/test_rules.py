"""The query language against the golden cases of tests/rules/cases.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from newswatch.rules.matcher import Document, Matcher
from newswatch.rules.query import QueryError, parse_query, term_sets

CASES = YAML(typ="safe").load((Path(__file__).parent / "rules" / "cases.yaml").read_text("utf-8"))
TERMS: dict[str, list[str]] = CASES["terms"]


def _doc(case: dict[str, Any]) -> Document:
    return Document.of(title=case.get("title"), text=case.get("text"), url=case.get("url"),
                       source=case.get("source"))


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_golden_case(case: dict[str, Any]) -> None:
    matcher = Matcher([("w", case["query"])], TERMS)
    found = matcher.match(_doc(case))
    assert bool(found) is case["match"], matcher.explain(_doc(case))[0].missing
    if case["match"]:
        hits = {f"{h['term']}@{h['field']}" for h in found[0].hits}
        assert hits == set(case["hits"])


@pytest.mark.parametrize("case", CASES["errors"], ids=[c["query"] for c in CASES["errors"]])
def test_bad_query_points_at_the_problem(case: dict[str, Any]) -> None:
    with pytest.raises(QueryError) as err:
        parse_query(case["query"], term_sets(TERMS))
    assert case["message"] in str(err.value)
    if "column" in case:
        assert err.value.column == case["column"]


def test_snippet_marks_the_hits_in_the_text() -> None:
    text = ("Officials met on Tuesday. " * 10 + "The new Crypto-Council of Pakistan will "
            "draft rules for exchanges. " + "Weather was mild. " * 10)
    found = Matcher([("w", '"crypto council" AND Pakistan')]).match(
        Document.of(title="Rules ahead", text=text))
    snippet = found[0].snippets[0]
    marked = [snippet["text"][a:b] for a, b in snippet["highlights"]]
    assert marked == ["Crypto-Council", "Pakistan"]
    assert snippet["text"].startswith("… ") and snippet["text"].endswith(" …")
    assert 20 <= len(snippet["text"].split()) <= 34


def test_title_only_hit_gives_the_opening_of_the_text_as_snippet() -> None:
    found = Matcher([("w", "title:ordinance")]).match(
        Document.of(title="Ordinance signed", text="The president signed it on Friday."))
    assert found[0].snippets == [
        {"field": "text", "text": "The president signed it on Friday.", "highlights": []}]


def test_explain_says_what_is_missing() -> None:
    matcher = Matcher([("a", "bitcoin AND ban"), ("b", "bitcoin -mining"),
                       ("c", "bitcoin NEAR/2 mining"), ("d", "@pakistan")], TERMS)
    doc = Document.of(text="Bitcoin prices rose while the mining industry, far from the "
                           "capital, kept growing.")
    why = {e.watch: e.missing for e in matcher.explain(doc)}
    assert why["a"] == ["ban: not found"]
    assert why["b"] == ["excluded: mining found"]
    assert why["c"] == ["bitcoin and mining both found, but not within 2 words of each other "
                        "in one field"]
    assert why["d"] == ["@pakistan: none of its terms found"]


def test_only_watches_with_a_hit_are_evaluated() -> None:
    matcher = Matcher([("a", "bitcoin AND ban"), ("b", "ether"), ("c", "ban OR ether")])
    hits = matcher.scan(Document.of(text="a ban was announced"))
    # `a AND b` is indexed under one of its required terms only
    assert [matcher.watches[i].name for i in matcher._candidates(hits)] == ["c"]
