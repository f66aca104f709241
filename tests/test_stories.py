"""Story matching: a fingerprint within SAME_STORY_BITS of an indexed one is always
found through the bit bands, and one further away never is."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from newswatch.store.matches import SAME_STORY_BITS, StoryIndex

NOW = datetime(2026, 3, 14, tzinfo=UTC)
fingerprints = st.integers(0, 2**64 - 1)


@given(known=st.lists(fingerprints, min_size=1, max_size=50, unique=True), pick=st.data(),
       flips=st.sets(st.integers(0, 63), max_size=SAME_STORY_BITS))
def test_a_near_copy_is_always_found(known: list[int], pick: st.DataObject,
                                     flips: set[int]) -> None:
    index = StoryIndex()
    for i, value in enumerate(known):
        index._add(value, i + 1, NOW)
    original = pick.draw(st.sampled_from(known))
    copy = original
    for bit in flips:
        copy ^= 1 << bit
    story = index.find(copy)
    assert story is not None
    assert (known[story - 1] ^ copy).bit_count() <= len(flips)


@given(value=fingerprints, flips=st.sets(st.integers(0, 63), min_size=SAME_STORY_BITS + 1))
def test_a_different_story_is_not_joined(value: int, flips: set[int]) -> None:
    index = StoryIndex()
    index._add(value, 1, NOW)
    other = value
    for bit in flips:
        other ^= 1 << bit
    assert index.find(other) is None
