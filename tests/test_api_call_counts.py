"""Every provider that makes HTTP calls counts them through the counter it was built with.

Only Google used to record ``calsync_api_calls_total``; now the reader of each
provider is handed one :data:`ApiCallCounter`, and the daemon passes the
metric's recorder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import GoogleProvider, IcsProvider, OutlookProvider
from calsync.providers.base import ProviderError
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar
from calsync.providers.ics.reader import IcsReader
from calsync.providers.outlook.auth import NoTokens
from calsync.providers.outlook.calendar import OutlookCalendar

NOW = datetime(2026, 11, 20, 21, tzinfo=UTC)
MARIA = "maria@example.com"
UTC_ZONE = ZoneInfo("UTC")


class Tally:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def __call__(self, provider: str, outcome: str) -> None:
        self.calls[(provider, outcome)] += 1


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(port=0) as emulator:
        emulator.add_calendar(MARIA)
        yield emulator


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(port=0, auth=False) as emulator:
        emulator.add_mailbox(MARIA)
        yield emulator


def test_google_counts_ok_and_retried_calls(google: GoogleEmulator) -> None:
    tally = Tally()
    settings = GoogleProvider(kind="google", auth="none", api_endpoint=google.url)
    reader = GoogleCalendar("work", settings, NoCredentials(), lambda _c: UTC_ZONE,
                            sleep=lambda _s: None, count_api_call=tally)
    google.fail_5xx(1)
    reader.fetch_changes(MARIA, None, NOW)
    assert tally.calls[("work", "retry")] == 1
    assert tally.calls[("work", "ok")] >= 1
    assert tally.calls[("work", "error")] == 0


def test_graph_counts_ok_retried_and_failed_calls(graph: GraphEmulator) -> None:
    tally = Tally()
    settings = OutlookProvider(kind="outlook", auth="none", graph_endpoint=graph.url,
                               max_retries=1)
    reader = OutlookCalendar("m365", settings, NoTokens(), lambda _c: UTC_ZONE,
                             sleep=lambda _s: None, count_api_call=tally)
    graph.fail_5xx(1)
    reader.fetch_changes(MARIA, None, NOW)
    assert tally.calls[("m365", "retry")] == 1
    assert tally.calls[("m365", "ok")] >= 1
    graph.fail_5xx(2)
    with pytest.raises(ProviderError):
        reader.fetch_changes(MARIA, None, NOW)
    assert tally.calls[("m365", "error")] == 1


def test_an_ics_feed_counts_its_fetches(tmp_path) -> None:
    tally = Tally()
    settings = IcsProvider(kind="ics", path="http://127.0.0.1:9/feeds", timeout=2)
    reader = IcsReader("feeds", settings, tmp_path, lambda _c: UTC_ZONE, count_api_call=tally)
    with pytest.raises(ProviderError):
        reader.fetch_changes("maria.ics", None, NOW)  # nothing listens on port 9
    assert tally.calls == Counter({("feeds", "error"): 1})
