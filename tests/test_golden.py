"""Golden extraction: each fixture article's title, text and date against the JSON
written by tests/golden_regen.py, plus the facts the JSON must hold regardless."""

from __future__ import annotations

import json

import pytest

from tests.golden_regen import ARTICLES, BASE, GOLDEN, expected


@pytest.mark.parametrize("slug", list(ARTICLES))
def test_extraction_matches_golden(slug: str) -> None:
    golden = json.loads((GOLDEN / f"{slug}.json").read_text(encoding="utf-8"))
    assert expected(slug) == golden


@pytest.mark.parametrize("slug", list(ARTICLES))
def test_golden_files_hold_the_article(slug: str) -> None:
    """The golden files themselves must be right, not just stable."""
    golden = json.loads((GOLDEN / f"{slug}.json").read_text(encoding="utf-8"))
    art = ARTICLES[slug]
    assert golden["title"] == art.title
    assert golden["text"].split("\n") == art.paragraphs
    assert golden["date"].startswith(art.published.strftime("%Y-%m-%d"))
    assert golden["canonical"] == BASE + art.path
