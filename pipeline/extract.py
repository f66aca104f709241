"""The extraction step that runs inside worker processes: bytes in, clean article out.
Kept free of Scrapy and the reactor so that it pickles cheaply and can be killed."""

from __future__ import annotations

from typing import Any

import trafilatura
from charset_normalizer import from_bytes
from lxml import etree
from lxml import html as lxml_html
from trafilatura.deduplication import content_fingerprint
from w3lib.encoding import html_to_unicode

from newswatch.pipeline.dates import page_published
from newswatch.rules.plaintext import clean, clean_optional, html_controls

# fewer words than this is a menu or a caption that trafilatura fell back on, not an article
MIN_WORDS = 12

DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}


def _detect(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(body[:200_000]))
    if not matches:
        return "cp1252"
    best = matches[0]
    # on a tie, windows-1252 (the web's legacy default) beats its Central/Baltic cousins
    for m in matches:
        if m.chaos == best.chaos and m.coherence == best.coherence and m.encoding == "cp1252":
            return "cp1252"
    return str(best.encoding)


def decode(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Header charset, BOM, <meta charset>, then detection (pages often declare none)."""
    ctype = f"text/html; charset={header_charset}" if header_charset else None
    encoding, text = html_to_unicode(ctype, body, auto_detect_fun=_detect)
    return encoding, text


def _without_headline(text: str, title: str | None) -> str:
    """Some layouts put the headline inside the article body, so the text would start
    with it and every snippet would repeat the title: drop that first line."""
    first, _, rest = text.partition("\n")
    if title and rest and " ".join(first.split()) == " ".join(title.split()):
        return rest.strip()
    return text


def extract_page(url: str, body: bytes, header_charset: str | None) -> dict[str, Any]:
    """Title, text, author, date, language, site name, canonical URL and fingerprint.
    `text` is None when the page holds no article text."""
    encoding, markup = decode(body, header_charset)
    # lxml refuses a control character (a word processor's `&#11;`, a stray `&#8;`) and
    # trafilatura then returns nothing: the article would be stored without its text
    markup = html_controls(markup)
    try:
        tree = lxml_html.document_fromstring(markup)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        # junk markup (an empty document, stray encoding declarations): no article. Any
        # other exception is a bug and reaches the pipeline, which counts it as an error
        return {"text": None, "encoding": encoding}
    lang = (tree.get("lang") or tree.get("xml:lang") or "").strip() or None
    canonical = None
    for link in tree.iterfind(".//head/link[@rel]"):
        if link.get("rel", "").lower() == "canonical" and link.get("href"):
            canonical = link.get("href", "").strip()
            break
    doc = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False,
        date_extraction_params=DATE_PARAMS,
    )
    if doc is None or isinstance(doc, dict) or len((doc.text or "").split()) < MIN_WORDS:
        return {"text": None, "encoding": encoding, "language": lang, "canonical": canonical}
    # what is stored, matched and shown is plain text: no escape sequence or control
    # character survives from the page, whatever trafilatura let through
    title = clean_optional(doc.title)
    text = _without_headline(clean(doc.text or "").strip(), title)
    return {
        "title": title,
        "text": text,
        "author": clean_optional(doc.author),
        "date": doc.date,  # htmldate's answer, as it gave it
        "published": page_published(tree, doc.date),
        "language": (lang or doc.language or None),
        "sitename": clean_optional(doc.sitename),
        "canonical": canonical,
        "fingerprint": content_fingerprint(text),
        "encoding": encoding,
    }
