"""Golden extraction: each fixture article's title, text and date against the JSON
written by tests/golden_regen.py, plus the facts the JSON must hold regardless."""

from __future__ import annotations

import json

import pytest

from tests.golden_regen import BASE, FIXED_NOW, GOLDEN, cases, expected
from tests.site import pages

ARTICLES = {a.slug: a for a in pages.load_articles(FIXED_NOW)}


@pytest.mark.parametrize("slug,body", cases(), ids=[c[0] for c in cases()])
def test_extraction_matches_golden(slug: str, body: bytes) -> None:
    golden = json.loads((GOLDEN / f"{slug}.json").read_text(encoding="utf-8"))
    assert expected(slug, body) == golden


@pytest.mark.parametrize("slug", list(ARTICLES))
def test_golden_files_hold_the_article(slug: str) -> None:
    """The golden files themselves must be right, not just stable."""
    golden = json.loads((GOLDEN / f"{slug}.json").read_text(encoding="utf-8"))
    art = ARTICLES[slug]
    assert golden["title"] == art.title
    assert golden["text"].split("\n") == art.paragraphs
    assert golden["date"].startswith(art.published.strftime("%Y-%m-%d"))
    assert golden["canonical"] == BASE + art.path
