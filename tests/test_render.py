"""The alert email: its MIME structure against a golden file, and scraped titles that
try to break out of the Subject or the HTML."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.render import AlertItem, Renderer, safe_url
from tests.golden_regen import GOLDEN, mime_structure, sample_message

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def _email(title: str, url: str = "https://example.org/a", renderer: Renderer | None = None):
    item = AlertItem("councils", '"crypto council"', title, url, "daily", NOW,
                     ['"crypto council"'], [{"field": "text", "text": title[:200],
                                             "highlights": []}])
    return (renderer or Renderer()).message([item], sender="n <a@b.test>", recipient="x@y.test",
                                            message_id="<1@b.test>", digest="immediate",
                                            now=NOW)


def test_mime_structure_matches_the_golden_file() -> None:
    golden = json.loads((GOLDEN / "alert-email.json").read_text(encoding="utf-8"))
    assert mime_structure(sample_message()) == golden


pieces = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["<script>alert(1)</script>", "\r\n", "\n", "\x00", "\u2028", "\u2029",
                     "\u202e", "\u2066", "\u200f", "\nBcc: victim@example.org", "&amp;", '"',
                     "'"]),
)
hostile = st.lists(pieces, max_size=20).map("".join) | st.just("A" * 10_000)


@given(title=hostile)
@settings(max_examples=200, deadline=None)
def test_hostile_titles_give_one_line_subjects_and_escaped_html(title: str) -> None:
    msg = _email(title)
    raw = msg.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    subject = str(parsed["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in subject)
    assert len(subject) <= 160
    assert parsed["Bcc"] is None and parsed.get_all("To") == ["x@y.test"]
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert "<script" not in html.lower()
    plain = parsed.get_body(("plain",))
    assert plain is not None and parsed.get_content_type() == "multipart/alternative"


def test_only_http_links_are_rendered() -> None:
    for bad in ("javascript:alert(1)", "data:text/html,x", "ftp://x.org/a", "http://",
                "https://x.org/a b", "vbscript:x"):
        assert safe_url(bad) is None
        msg = _email("t", bad)
        assert "<a href" not in str(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]
        assert bad not in str(msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert safe_url("https://x.org/a?b=1") == "https://x.org/a?b=1"


def test_templates_are_overridable_and_html_is_always_escaped(tmp_path: Path) -> None:
    (tmp_path / "alert.txt").write_text("custom {{ count }}\n{% for g in groups %}"
                                        "{{ g.name }}{% endfor %}\n", encoding="utf-8")
    (tmp_path / "alert.html").write_text("<p>{% for g in groups %}{% for i in g['items'] %}"
                                         "{{ i.title }}{% endfor %}{% endfor %}</p>",
                                         encoding="utf-8")
    msg = _email("<b>bold</b> & more", renderer=Renderer(str(tmp_path)))
    assert str(msg.get_body(("plain",)).get_content()).startswith("custom 1")  # type: ignore[union-attr]
    html = str(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
