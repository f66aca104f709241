"""Regenerate tests/golden/*.json: each fixture article page (built at a fixed date) run
through the extraction worker. Run after a deliberate change to extraction
(`make golden`), then review the diff before committing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.extract import extract_page
from tests.site import pages

GOLDEN = Path(__file__).parent / "golden"
FIXED_NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
BASE = "https://daily-fixture.example"
FIELDS = ("title", "text", "author", "date", "language", "canonical")
ARTICLES = {a.slug: a for a in pages.load_articles(FIXED_NOW)}


def expected(slug: str) -> dict[str, Any]:
    """What extraction gives for the fixture article `slug` today."""
    article = ARTICLES[slug]
    body = pages.article_page(article, BASE).encode("utf-8")
    result = extract_page(BASE + article.path, body, "utf-8")
    return {k: result.get(k) for k in FIELDS}


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for slug in ARTICLES:
        out = GOLDEN / f"{slug}.json"
        out.write_text(json.dumps(expected(slug), indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        print("wrote", out)


if __name__ == "__main__":
    main()
