"""newswatch.rules.plaintext: what is stored and what is printed of scraped text."""

from __future__ import annotations

from newswatch.rules.plaintext import clean, for_terminal, html_controls


def test_clean_removes_escape_sequences_whole_and_control_characters() -> None:
    assert clean("a\x1b[2Jb\x1b]0;pwned\x07c\x1b]8;;http://x\x1b\\d") == "abcd"
    assert clean("red\x9b31m text\x9d0;title\x9c end") == "red text end"  # 8-bit forms
    assert clean("bell\x07 back\x08space del\x7f") == "bell backspace del"
    # tab and newline stay; CR, vertical tab, form feed and NEL are line breaks
    assert clean("a\tb\r\nc\rd\x0be\x0cf\x85g") == "a\tb\nc\nd\ne\nf\ng"
    # an unterminated string sequence ends at the line, not at the end of the article
    assert clean("x\x1b]0;no end\nthe rest") == "x\nthe rest"
    assert clean("Plain headline, untouched") == "Plain headline, untouched"
    # bidi controls are kept in what is stored (a mixed Urdu/English line may need them)
    assert clean("a \u202eb\u202c") == "a \u202eb\u202c"


def test_for_terminal_also_drops_bidi_controls() -> None:
    assert for_terminal("Reservoir \u202etropER\u202c \u2066x\u2069") == "Reservoir tropER x"
    assert for_terminal("one\u2028two") == "one\ntwo"
    assert for_terminal("\x1b[2J[bold]x[/]") == "[bold]x[/]"  # markup is left as text


def test_html_controls_turns_references_into_text_a_parser_accepts() -> None:
    assert html_controls("<p>a&#8;b&#11;c</p>") == "<p>ab\nc</p>"
    assert html_controls("<p>&#27;[2Jx&#x1b;]0;pwned&#7;y&#X1B;[31mz</p>") == "<p>xyz</p>"
    # what HTML means by a reference to 0x80-0x9F: windows-1252, not C1
    assert html_controls("<p>1990&#150;1999 &#147;quoted&#148;</p>") == \
        "<p>1990\u20131999 \u201cquoted\u201d</p>"
    # other references, and tab/newline/CR ones, are the parser's
    assert html_controls("&#60;b&#62; &#9;&#10;&#13; &#x263A;") == \
        "&#60;b&#62; &#9;&#10;&#13; &#x263A;"
