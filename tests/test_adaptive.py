"""The adaptive schedule's rule (newswatch.config.pacing.decide), case by case and as
properties over any sequence of polls, and how a site's answer is read as an ask
(spiders/asked.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy.http import Response

from newswatch.config.models import Source
from newswatch.config.pacing import (
    WINDOW_HOURS,
    Asked,
    Limits,
    Pace,
    Polled,
    decide,
    explain,
    roughly,
    seed,
)
from newswatch.spiders.asked import LONGEST, site_ask

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LIMITS = Limits(fastest=120, slowest=6 * 3600)  # every: 2m, every_max: 6h
MINUTE = timedelta(minutes=1)


def polls(*found: int, start: Pace | None = None, gap: timedelta = 2 * MINUTE,
          limits: Limits = LIMITS) -> Pace:
    """The pace after polls `gap` apart that found these numbers of new articles."""
    pace, now = start, T0 if start is None or start.last_poll is None else start.last_poll
    for n in found:
        now += gap
        pace = decide(pace, Polled(new=n), now, limits)
    assert pace is not None
    return pace


def test_the_first_poll_starts_at_every_and_does_not_count_its_backlog() -> None:
    pace = decide(None, Polled(new=40), T0, LIMITS)
    assert pace.interval == 120
    assert pace.next_poll == T0 + 2 * MINUTE
    assert pace.articles == 0 and pace.hours == 0
    assert "first poll" in pace.reason


def feed(every: timedelta, count: int = 20, newest: timedelta = timedelta(0),
         now: datetime = T0) -> tuple[datetime, ...]:
    """A feed's entry dates: `count` entries `every` apart, the newest `newest` ago."""
    return tuple(now - newest - k * every for k in range(count))


def test_a_new_source_starts_at_the_rate_its_feeds_dates_give() -> None:
    # an article every 2 hours: a twelfth of that gap at once, not `every` and a slow
    # back-off
    listed = feed(timedelta(hours=2), newest=timedelta(hours=1))
    pace = decide(None, Polled(new=20, listed=listed), T0, LIMITS)
    assert pace.interval == pytest.approx(2 * 3600 / 12)
    assert pace.next_poll == T0 + timedelta(seconds=pace.interval)
    assert pace.rate == pytest.approx(0.5, rel=0.1)
    assert pace.hours == 19  # its newer half: the tenth newest came 19 hours ago
    # a longer span weighs as much as a day and a half of polls, no more
    weekly = seed(feed(timedelta(days=7), 4, newest=timedelta(days=3)), T0)
    assert weekly is not None and weekly.hours == pytest.approx(WINDOW_HOURS)
    assert weekly.articles / weekly.hours == pytest.approx(1.5 / (10 * 24))
    assert pace.reason == ("first poll: its feed's 20 dated entries say it publishes "
                           "about every 2h")
    # its own polls then take over: a new article brings it back to every
    found = decide(pace, Polled(new=1), T0 + timedelta(minutes=12), LIMITS)
    assert found.interval == 120


@pytest.mark.parametrize(("every", "count", "newest", "interval"), [
    (timedelta(minutes=10), 20, timedelta(minutes=3), 120),  # a wire: every (the fastest)
    (timedelta(days=7), 3, timedelta(days=2), 6 * 3600),  # weekly: every_max
    # it published daily, but not for two months: slow now
    (timedelta(days=1), 20, timedelta(days=60), 6 * 3600),
])
def test_the_seed_is_bounded_by_every_and_every_max(every: timedelta, count: int,
                                                     newest: timedelta,
                                                     interval: float) -> None:
    listed = feed(every, count, newest)
    assert decide(None, Polled(new=count, listed=listed), T0, LIMITS).interval == interval


def test_a_stray_old_date_or_a_future_one_does_not_slow_a_busy_source() -> None:
    listed = (*feed(timedelta(minutes=20), 19), datetime(1999, 1, 1, tzinfo=UTC),
              T0 + timedelta(days=3))
    learned = seed(listed, T0)
    assert learned is not None and learned.entries == 21
    assert 2.5 <= learned.articles / learned.hours <= 4  # about three an hour
    assert decide(None, Polled(listed=listed), T0, LIMITS).interval == 120


def test_one_dated_entry_or_none_says_nothing() -> None:
    assert seed((T0 - timedelta(hours=5),), T0) is None
    for listed in ((), (T0 - timedelta(hours=5),)):
        pace = decide(None, Polled(new=1, listed=listed), T0, LIMITS)
        assert pace.interval == 120 and pace.articles == pace.hours == 0
        assert pace.reason == "first poll: learning how often it publishes"


def test_a_record_without_articles_learns_from_a_later_feed_and_only_it() -> None:
    failed = decide(None, Polled(throttled=503), T0, LIMITS)  # its first poll read nothing
    later = decide(failed, Polled(listed=feed(timedelta(hours=4), newest=timedelta(hours=2))),
                   T0 + 4 * MINUTE, LIMITS)
    assert 18 * 60 < later.interval < 22 * 60  # a twelfth of about 4 hours
    # (its 4 quiet minutes count too)
    assert later.reason.startswith("its feed's 20 dated entries say it publishes about "
                                   "every 4h")
    # a record with articles in it is its own: the feed's dates change nothing
    known = polls(0, 1, 0)
    again = decide(known, Polled(listed=feed(timedelta(days=7), 3)),
                   known.last_poll + 2 * MINUTE, LIMITS)
    plain = decide(known, Polled(), known.last_poll + 2 * MINUTE, LIMITS)
    assert again == plain


def test_polls_that_find_nothing_back_off_by_half_each_up_to_every_max() -> None:
    pace = polls(0, 0, 0, 0)  # the first, then three quiet ones
    assert pace.interval == pytest.approx(120 * 1.5 ** 3)
    assert pace.quiet == 3  # the first poll found only its backlog
    assert pace.reason == "no new articles in the last 3 polls"
    assert polls(*[0] * 40).interval == 6 * 3600


def test_a_poll_that_finds_new_articles_brings_it_back_to_every() -> None:
    quiet = polls(0, *[0] * 10)
    assert quiet.interval > 3600
    found = decide(quiet, Polled(new=2), quiet.last_poll + timedelta(hours=1), LIMITS)
    assert found.interval == 120
    assert found.quiet == 0
    assert found.reason == "the last poll found 2 new articles"


def test_a_source_that_publishes_often_stays_near_every_between_its_articles() -> None:
    # an article every 10 minutes (one poll in five finds one) for a day
    busy = polls(0, *([0, 0, 0, 0, 1] * 144))
    assert busy.rate == pytest.approx(6, rel=0.2)  # new articles an hour
    # a twelfth of its 10-minute gap is below every: the quiet polls do not back it off
    assert busy.interval == 120
    assert max(polls(0, start=busy).interval, polls(0, 0, 0, start=busy).interval) == 120


def test_the_publishing_rate_bounds_the_back_off_and_says_so() -> None:
    # an article every 2 hours: back off to about a twelfth of that, 10 minutes
    steady = polls(0, *([1] + [0] * 59) * 12)
    rate = steady.rate
    assert rate is not None and rate == pytest.approx(0.5, rel=0.2)
    later = polls(*[0] * 20, start=steady)
    assert later.interval == pytest.approx(3600 / 12 / later.rate)
    assert 8 * 60 < later.interval < 13 * 60
    assert "it publishes about every 2h" in later.reason


def test_the_record_decays_with_a_half_life_of_a_day() -> None:
    pace = polls(0, 4)
    assert pace.articles == 4
    day_on = decide(pace, Polled(new=0), pace.last_poll + timedelta(days=1), LIMITS)
    assert day_on.articles == pytest.approx(2)


def test_429_and_5xx_double_the_interval_each_time_up_to_every_max() -> None:
    pace = polls(0)
    seen = []
    for status in (429, 503, 500, 429, 429, 429, 429, 429, 429, 429):
        pace = decide(pace, Polled(throttled=status), pace.last_poll + MINUTE, LIMITS)
        seen.append(pace.interval)
    assert seen[:4] == [240, 480, 960, 1920]
    assert seen[-1] == 6 * 3600
    assert pace.strikes == 10
    assert pace.reason == "backing off after HTTP 429 (10 polls in a row)"
    ok = decide(pace, Polled(new=1), pace.last_poll + MINUTE, LIMITS)
    assert ok.strikes == 0 and ok.interval == 120


def test_the_next_poll_waits_for_what_the_site_asked() -> None:
    pace = polls(0)
    now = pace.last_poll + 2 * MINUTE
    asked = Asked(now + timedelta(hours=1), "the feed asked max-age=3600")
    pace = decide(pace, Polled(new=1, asked=asked), now, LIMITS)
    assert pace.interval == 120  # the interval is still its own
    assert pace.next_poll == now + timedelta(hours=1)
    assert pace.asked == "the feed asked max-age=3600"
    karachi = ZoneInfo("Asia/Karachi")
    assert explain(pace, karachi) == ("not before 2026-12-03 15:04 PKT: the feed asked "
                                      "max-age=3600")
    # an ask shorter than the interval changes nothing
    short = decide(pace, Polled(asked=Asked(now + timedelta(hours=1, seconds=30), "x")),
                   now + timedelta(hours=1), LIMITS)
    assert short.asked is None and short.next_poll == now + timedelta(hours=1,
                                                                      seconds=180)


def test_every_max_equal_to_every_is_a_fixed_schedule() -> None:
    fixed = Limits(600, 600)
    pace = polls(0, 0, 0, 0, 3, 0, limits=fixed)
    assert pace.interval == 600
    assert pace.reason == "a fixed schedule (every_max is every)"
    assert explain(pace, UTC) == "every 10m: a fixed schedule (every_max is every)"
    throttled = decide(pace, Polled(throttled=429), pace.last_poll + MINUTE, fixed)
    assert throttled.interval == 600 and "HTTP 429" in throttled.reason


def test_a_cron_source_follows_its_cron_but_still_waits_for_the_site() -> None:
    cron = Limits(3600, 3600, cron=True)
    pace = decide(None, Polled(new=3), T0, cron)
    assert pace.next_poll == T0 and explain(pace, UTC) == "on its cron schedule"
    asked = decide(pace, Polled(asked=Asked(T0 + timedelta(hours=2), "the feed asked "
                                            "Retry-After: 7200")), T0 + MINUTE, cron)
    assert asked.next_poll == T0 + timedelta(hours=2)


def test_limits_come_from_the_source() -> None:
    plain = Source(name="a", feeds=["https://example.org/feed"], every="2m")
    assert Limits.of(plain) == Limits(120, 6 * 3600)
    assert plain.adaptive and plain.schedule == "every 2m to 6h, as it publishes"
    slow = Source(name="b", feeds=["https://example.org/feed"], every="12h")
    assert Limits.of(slow) == Limits(12 * 3600, 12 * 3600) and not slow.adaptive
    fixed = Source(name="c", feeds=["https://example.org/feed"], every="5m",
                   every_max="5m")
    assert not fixed.adaptive and fixed.schedule == "every 5m"


def test_roughly() -> None:
    assert [roughly(s) for s in (45, 120, 2400, 5400, 9000, 3 * 86400)] == [
        "45s", "2m", "40m", "1h30m", "2h30m", "3d"]


# -- properties -------------------------------------------------------------------------
polled = st.builds(
    lambda new, status, ask, asked_in, ages: Polled(
        new=new, throttled=status,
        asked=None if not ask else Asked(T0, f"asked {asked_in}"),
        listed=tuple(T0 - timedelta(seconds=a) for a in ages)),
    new=st.integers(0, 50), status=st.sampled_from([None, None, None, 429, 500, 503]),
    ask=st.booleans(), asked_in=st.floats(0, 30 * 86400),
    ages=st.lists(st.floats(-86400, 400 * 86400), max_size=30))
step = st.tuples(polled, st.floats(0, 3 * 86400), st.floats(0, 30 * 86400))
limits = st.tuples(st.floats(1, 86400), st.floats(0, 7 * 86400)).map(
    lambda t: Limits(t[0], t[0] + t[1]))


@given(limits, st.lists(step, min_size=1, max_size=60))
def test_the_interval_stays_within_every_and_every_max_and_never_before_the_ask(
        lim: Limits, steps: list[tuple[Polled, float, float]]) -> None:
    pace, now = None, T0
    for outcome, elapsed, asked_in in steps:
        now += timedelta(seconds=elapsed)
        if outcome.asked is not None:
            outcome = Polled(outcome.new, outcome.throttled,
                             Asked(now + timedelta(seconds=asked_in), outcome.asked.why))
        pace = decide(pace, outcome, now, lim)
        assert lim.fastest <= pace.interval <= lim.slowest
        assert pace.next_poll is not None
        assert pace.next_poll >= now + timedelta(seconds=pace.interval)
        if outcome.asked is not None:
            assert pace.next_poll >= outcome.asked.not_before
        assert pace.articles >= 0 and pace.hours >= 0
        assert pace.reason


@given(st.lists(st.integers(0, 5), min_size=2, max_size=40))
def test_new_articles_always_bring_it_back_to_every(found: list[int]) -> None:
    pace = polls(*found)
    if found[-1] > 0:
        assert pace.interval == LIMITS.fastest


# -- what a site's answer asks ------------------------------------------------------------
def answer(status: int = 200, **headers: str) -> Response:
    return Response("https://example.org/feed", status=status,
                    headers={k.replace("_", "-"): v for k, v in headers.items()})


def test_max_age_less_the_time_spent_in_caches() -> None:
    ask = site_ask(answer(Cache_Control="public, max-age=3600"), T0)
    assert ask == Asked(T0 + timedelta(hours=1), "the feed asked max-age=3600")
    aged = site_ask(answer(Cache_Control="max-age=600", Age="100"), T0)
    assert aged is not None and aged.not_before == T0 + timedelta(seconds=500)
    assert site_ask(answer(Cache_Control="no-cache"), T0) is None
    assert site_ask(answer(Cache_Control="max-age=0"), T0) is None


def test_expires_is_read_against_the_servers_clock() -> None:
    server_now = T0 - timedelta(minutes=7)  # its clock is 7 minutes behind
    ask = site_ask(answer(Date=format_datetime(server_now, usegmt=True),
                          Expires=format_datetime(server_now + timedelta(minutes=30),
                                                  usegmt=True)), T0)
    assert ask is not None and ask.not_before == T0 + timedelta(minutes=30)
    assert ask.why.startswith("the feed asked Expires: ")
    assert site_ask(answer(Expires="0"), T0) is None
    # max-age wins over Expires
    both = site_ask(answer(Cache_Control="max-age=60", Expires=format_datetime(
        T0 + timedelta(days=1), usegmt=True)), T0)
    assert both is not None and both.not_before == T0 + MINUTE


def test_retry_after_in_seconds_or_as_a_date() -> None:
    ask = site_ask(answer(429, Retry_After="120"), T0, "the sitemap")
    assert ask == Asked(T0 + timedelta(seconds=120), "the sitemap asked Retry-After: 120")
    when = format_datetime(T0 + timedelta(hours=2), usegmt=True)
    dated = site_ask(answer(503, Retry_After=when), T0)
    assert dated == Asked(T0 + timedelta(hours=2), f"the feed asked Retry-After: {when}")
    # an error page's caching headers say nothing of the feed; nonsense says nothing
    assert site_ask(answer(429, Cache_Control="max-age=86400"), T0) is None
    assert site_ask(answer(429, Retry_After="soon"), T0) is None


def test_an_ask_past_a_week_is_taken_as_a_week() -> None:
    ask = site_ask(answer(Cache_Control="max-age=31536000"), T0)
    assert ask is not None and ask.not_before == T0 + LONGEST


def test_what_holds_a_source_back_in_the_daemon() -> None:
    from newswatch.service.daemon import _held

    adaptive = Source(name="a", feeds=["https://example.org/feed"], every="2m")
    fixed = Source(name="f", feeds=["https://example.org/feed"], every="2m",
                   every_max="2m")
    quiet = Pace(interval=3 * 3600, last_poll=T0, next_poll=T0 + timedelta(hours=3))
    assert _held(adaptive, quiet) == T0 + timedelta(hours=3)
    assert _held(fixed, quiet) is None  # a fixed schedule keeps its own clock
    asked = Pace(interval=120, last_poll=T0, next_poll=T0 + timedelta(hours=2),
                 asked="the feed asked max-age=7200")
    assert _held(fixed, asked) == _held(adaptive, asked) == T0 + timedelta(hours=2)
    # every_max shortened since: the stored pace is held to the new bound
    shorter = Source(name="a", feeds=["https://example.org/feed"], every="2m",
                     every_max="1h")
    assert _held(shorter, quiet) == T0 + timedelta(hours=1)
    assert _held(adaptive, None) is None


@pytest.mark.parametrize(("keys", "said"), [
    ({"every": "2h", "every_max": "1h"}, "every_max (1h) is shorter than every (2h)"),
    ({"cron": "*/5 * * * *", "every_max": "1h"}, "every_max goes with every, not with cron"),
])
def test_every_max_that_cannot_be_is_refused(keys: dict[str, str], said: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=re.escape(said)):
        Source(name="a", feeds=["https://example.org/feed"], **keys)
