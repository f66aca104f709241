"""Regenerate tests/golden/*.json: each fixture article page (built at a fixed date) run
through the extraction worker, and the MIME structure of a sample alert email. Run after
a deliberate change to extraction or to the templates (`make golden`), then review the
diff before committing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from newswatch.alerts.render import AlertItem, Outlet, Renderer
from newswatch.pipeline.extract import extract_page
from tests.site import pages

GOLDEN = Path(__file__).parent / "golden"
FIXED_NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
BASE = "https://daily-fixture.example"
FIELDS = ("title", "text", "author", "date", "language", "canonical")
ARTICLES = {a.slug: a for name in ("articles.yaml", "urdu.yaml")
            for a in pages.load_articles(FIXED_NOW, name)}


def expected(slug: str) -> dict[str, Any]:
    """What extraction gives for the fixture article `slug` today."""
    article = ARTICLES[slug]
    body = pages.article_page(article, BASE).encode("utf-8")
    result = extract_page(BASE + article.path, body, "utf-8")
    return {k: result.get(k) for k in FIELDS}


def sample_message() -> EmailMessage:
    """A fixed two-watch, two-article alert email: the MIME golden file's subject."""
    items = [
        AlertItem("councils", '"crypto council"', "National Crypto Council holds its first "
                  "meeting", BASE + "/news/2026/03/14/council/", "daily", FIXED_NOW,
                  ['"crypto council"'],
                  [{"field": "text", "text": "The newly formed Crypto Council met in Islamabad.",
                    "highlights": [[17, 31]]}],
                  [Outlet("wire", "https://wire.example/council")]),
        AlertItem("mous", "@mou AND blockchain", "Pakistan signs a blockchain MoU",
                  BASE + "/news/2026/03/13/mou/", "daily", None, ["@mou: =MoU", "blockchain"],
                  [{"field": "text", "text": "An MoU on blockchain was signed.",
                    "highlights": [[3, 6], [10, 20]]}]),
    ]
    return Renderer(None, "Asia/Karachi").message(
        items, sender="newswatch <alerts@newswatch.test>", recipient="desk@example.org",
        message_id="<golden@newswatch.test>", digest="immediate", now=FIXED_NOW)


def mime_structure(msg: EmailMessage) -> dict[str, Any]:
    """Headers, parts, charsets, encodings and the decoded text of each part."""
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    parts = []
    for part in parsed.walk():
        entry: dict[str, Any] = {"type": part.get_content_type()}
        if not part.is_multipart():
            assert isinstance(part, EmailMessage)
            entry["charset"] = part.get_content_charset()
            entry["encoding"] = part["Content-Transfer-Encoding"]
            entry["content"] = str(part.get_content()).replace("\r\n", "\n").splitlines()
        parts.append(entry)
    headers = {k: str(v) for k, v in parsed.items() if k != "Content-Type"}
    return {"headers": headers, "parts": parts}


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for slug in ARTICLES:
        out = GOLDEN / f"{slug}.json"
        out.write_text(json.dumps(expected(slug), indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        print("wrote", out)
    out = GOLDEN / "alert-email.json"
    out.write_text(json.dumps(mime_structure(sample_message()), indent=2, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    print("wrote", out)


if __name__ == "__main__":
    main()
