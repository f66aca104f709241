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


def test_a_headline_inside_the_body_is_not_repeated_in_the_text() -> None:
    from newswatch.pipeline.extract import extract_page

    para = ("The provincial assembly passed the water bill on Thursday after a long debate "
            "about canal repairs, storage and the rights of farmers downstream.")
    page = (f"<html><head><title>Water bill passes | Site</title></head><body><article>"
            f"<div><h2>Water bill passes</h2></div><p>{para}</p><p>{para}</p></article>"
            f"</body></html>").encode()
    result = extract_page("https://example.org/water", page, "utf-8")
    assert result["title"] == "Water bill passes"
    assert result["text"].startswith("The provincial assembly passed")
