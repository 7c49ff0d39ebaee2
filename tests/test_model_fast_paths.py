"""The model's fast paths say what the plain code said.

``occurrence_key`` is formatted by hand (it must say what strftime said),
``occurrence_slot`` tells keys apart without formatting them, and
``with_fields`` copies an event without re-validating it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.model import (
    Attendee,
    Event,
    EventStatus,
    occurrence_key,
    occurrence_slot,
    with_fields,
)

_ZONES = st.builds(
    lambda minutes: UTC if minutes == 0 else timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


@given(
    instant=st.datetimes(
        min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES
    ),
    uid=st.text(max_size=20),
)
def test_the_key_is_the_uid_and_the_utc_instant_to_the_second(instant: datetime, uid: str) -> None:
    expected = f"{uid}#{instant.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    assert occurrence_key(uid, instant) == expected


def test_a_series_or_single_event_is_keyed_by_its_uid() -> None:
    assert occurrence_key("abc@example.com", None) == "abc@example.com"


@given(
    a=st.datetimes(min_value=datetime(1000, 1, 1), timezones=_ZONES),
    b=st.datetimes(min_value=datetime(1000, 1, 1), timezones=_ZONES),
)
def test_two_original_starts_have_one_key_exactly_when_their_slots_are_equal(
    a: datetime, b: datetime
) -> None:
    same_key = occurrence_key("u", a) == occurrence_key("u", b)
    assert same_key == (occurrence_slot(a) == occurrence_slot(b))


def test_with_fields_is_replace_for_ids_etag_and_status() -> None:
    event = Event(
        uid="u", start=datetime(2026, 1, 1, 9, tzinfo=UTC),
        end=datetime(2026, 1, 1, 10, tzinfo=UTC), organizer="Ann@Example.com",
        attendees=(Attendee("bob@example.com"),), tags={"key": "k"},
    )
    changes = {"remote_id": "r", "etag": "e", "status": EventStatus.CANCELLED}
    assert with_fields(event, **changes) == replace(event, **changes)
    assert with_fields(event, etag="2").etag == "2" and event.etag is None
    with pytest.raises(TypeError, match="start"):
        with_fields(event, start=datetime(2026, 1, 1, 9))  # would skip the zone check
