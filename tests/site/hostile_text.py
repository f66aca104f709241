"""Pages of the fixture site whose text is hostile to a terminal: headlines that look like
Rich markup, escape sequences (raw and as character references), control-character
references a word processor leaves behind, a bidi override. Every story is about the
reservoir, so one watch matches them all. Served under /text/."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# what must never reach a terminal as it is written here
CLEAR_SCREEN = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
RLO, PDF = "\u202e", "\u202c"

# each story its own words: alike texts would be taken for copies of one story
TEXTS = {
    "markup": ("The mayor told the water committee on Monday that rationing would hurt the "
               "bakeries and laundries of the old town more than anyone else.",
               "Opposition members walked out of the session before the vote, saying the "
               "reservoir figures had been kept from them for a month."),
    "escapes": ("The reservoir board gathered before sunrise to avoid the heat, and spent "
                "an hour on the pumps that failed during the summer festival.",
                "A retired engineer asked why the spillway gates had not been painted since "
                "his grandfather's time; nobody had an answer for him."),
    "references": ("Gauges at the northern inlet showed the water two metres below the mark "
                   "painted for the drought of the nineties, a local historian noted.",
                   "Boat owners have pulled their dinghies onto the cracked mud, and the "
                   "fishing club cancelled its autumn competition."),
    "bidi": ("Shepherds from the valley brought their flocks down early because the "
             "streams that feed the reservoir dried up in the high pastures.",
             "The veterinary office offered free checks for animals weakened by the long "
             "walk, and the cooperative opened its winter barns in October."),
}
@dataclass(frozen=True)
class Story:
    slug: str
    title: str  # as the page writes it in <title> and <h1>, already HTML
    words: tuple[str, ...]  # words of the headline that must be visible wherever it shows
    body: str  # the article's paragraphs, HTML
    hours_ago: int

    def published(self, now: datetime) -> datetime:
        return (now - timedelta(hours=self.hours_ago)).replace(microsecond=0)


STORIES = [
    Story("markup", html.escape("Reservoir [/] row: [link=http://x]mayor[/link] says "
                                "[bold]no[/bold] to rationing"),
          ("[/]", "[link=http://x]mayor[/link]", "[bold]no[/bold]", "rationing"),
          f"<p>{TEXTS['markup'][0]}</p><p>The mayor [/] refused [red]every[/red] plan. "
          f"{TEXTS['markup'][1]}</p>", 1),
    Story("escapes", f"{CLEAR_SCREEN}{RETITLE}Reservoir board meets at dawn",
          ("board", "meets", "dawn"),
          f"<p>{TEXTS['escapes'][0]}</p><p>Minutes{CLEAR_SCREEN} of the board{RETITLE} "
          f"were read. {TEXTS['escapes'][1]}</p>", 2),
    # a page pasted from a word processor: a backspace, a soft line break (vertical tab)
    # and escape sequences written as character references; lxml refuses the document
    Story("references", "Reservoir&#11;levels&#8; fall to a record low",
          ("levels", "record", "low"),
          f"<p>{TEXTS['references'][0]}&#11;The council&#8; met.</p><p>&#27;[2J"
          f"{TEXTS['references'][1]}&#x1b;]0;pwned&#7;</p>", 3),
    Story("bidi", f"Reservoir {RLO}tropER{PDF} from the valley",
          ("tropER", "valley"),
          f"<p>{TEXTS['bidi'][0]}</p><p>A {RLO}reversed{PDF} word. {TEXTS['bidi'][1]}</p>",
          4),
]


def page(story: Story) -> bytes:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{story.title}</title></head><body><article><h1>{story.title}</h1>"
            f"{story.body}</article></body></html>").encode()


def feed(base: str, now: datetime) -> bytes:
    # the feed's own titles are plain: the headlines under test are the pages'
    items = "".join(
        f"<item><title>Story {s.slug}</title><link>{base}/text/{s.slug}/</link>"
        f"<guid>{s.slug}</guid><pubDate>{s.published(now):%a, %d %b %Y %H:%M:%S +0000}"
        "</pubDate></item>" for s in STORIES)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>The Hostile Herald</title><link>{base}/text/</link>"
            f"<description>x</description>{items}</channel></rss>").encode()


def answer(path: str, base: str) -> tuple[int, bytes, str]:
    name = path.strip("/").split("/")[-1]
    if name == "feed.xml":
        return 200, feed(base, datetime.now(UTC)), "application/rss+xml"
    found = [s for s in STORIES if s.slug == name]
    if not found:
        return 404, b"not found", "text/plain"
    return 200, page(found[0]), "text/html; charset=utf-8"
