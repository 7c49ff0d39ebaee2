"""``model.occurrence_key`` is formatted by hand for speed: it must say what strftime said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from calsync.model import occurrence_key

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
