"""The emulators' latency switch: every request waits, and waiting requests overlap.

No test here reads a clock. The emulator's sleep is replaced by a gate the
test controls, so "the request was delayed" is an ordering (the request is not
handled while its wait is held) and "requests overlap" is structural (two
requests are inside their waits at the same time, which a server answering
one request at a time could never do).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from calsync_emulators import google, graph
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator
from calsync_emulators.latency import ENV_VAR, configured_latency, parse_latency

GUARD = 10.0  # seconds a gate waits before calling the test failed (never reached when green)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@contextmanager
def _emulator(kind: str, sleep: Callable[[float], None]) -> Iterator[tuple[Any, str]]:
    """A started emulator at 80 ms latency with ``sleep`` as its wait, and a URL to GET."""
    if kind == "google":
        with GoogleEmulator(latency="80ms", sleep=sleep) as emu:
            emu.add_calendar("maria@example.com")
            yield emu, emu.api_endpoint + "calendars/maria%40example.com/events"
    else:
        with GraphEmulator(auth=False, latency="80ms", sleep=sleep) as emu:
            emu.add_mailbox("maria@example.com")
            yield emu, emu.url + "/users/maria@example.com/events"


@pytest.mark.parametrize("kind", ["google", "graph"])
def test_a_request_is_handled_only_after_its_latency(kind: str) -> None:
    waits: list[float] = []
    entered, release = threading.Event(), threading.Event()

    def gate(seconds: float) -> None:
        waits.append(seconds)
        entered.set()
        assert release.wait(GUARD), "the test never released the request"

    with _emulator(kind, gate) as (emu, url):
        statuses: list[int] = []
        client = threading.Thread(target=lambda: statuses.append(_status(url)))
        client.start()
        assert entered.wait(GUARD), "the request never reached its latency wait"
        # Held in its wait: not handled, not answered.
        assert len(emu.requests) == 0
        assert statuses == []
        release.set()
        client.join(GUARD)
        assert statuses == [200]
        assert len(emu.requests) == 1
    assert waits == [0.08]


@pytest.mark.parametrize("kind", ["google", "graph"])
def test_requests_wait_side_by_side(kind: str) -> None:
    # Both requests must be inside their wait at once for the barrier to open.
    # A server that handled one request at a time would leave the first alone
    # at the barrier: it breaks, the request fails with a 500.
    barrier = threading.Barrier(2, timeout=GUARD)

    def gate(seconds: float) -> None:
        barrier.wait()

    with _emulator(kind, gate) as (emu, url):
        statuses: list[int] = []
        clients = [
            threading.Thread(target=lambda: statuses.append(_status(url))) for _ in range(2)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(GUARD * 2)
        assert not barrier.broken
        assert statuses == [200, 200]
        assert len(emu.requests) == 2


def test_reset_faults_keeps_the_latency_the_emulator_started_with() -> None:
    emu = GoogleEmulator(latency="0.25s")
    emu.latency(0)
    emu.reset_faults()
    assert emu.faults()["latency"] == 0.25
    graph_emu = GraphEmulator(latency="40ms")
    graph_emu.reset_faults()
    assert graph_emu.faults()["latency"] == 0.04


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("80ms", 0.08), ("80 ms", 0.08), ("0.08s", 0.08), ("0.08", 0.08), ("0", 0.0), (1.5, 1.5)],
)
def test_latency_values(text: str | float, seconds: float) -> None:
    assert parse_latency(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "80 minutes", "-5ms", "90s", ""])
def test_a_bad_latency_names_where_it_came_from(text: str) -> None:
    with pytest.raises(ValueError, match="--latency"):
        parse_latency(text, "--latency")


def test_the_environment_sets_the_latency_unless_an_argument_does() -> None:
    assert configured_latency(None, {ENV_VAR: "80ms"}) == pytest.approx(0.08)
    assert configured_latency("5ms", {ENV_VAR: "80ms"}) == pytest.approx(0.005)
    assert configured_latency(None, {}) == 0.0
    with pytest.raises(ValueError, match=ENV_VAR):
        configured_latency(None, {ENV_VAR: "soon"})


def test_the_environment_reaches_the_emulators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "80ms")
    assert GoogleEmulator().faults()["latency"] == pytest.approx(0.08)
    assert GraphEmulator().faults()["latency"] == pytest.approx(0.08)


@pytest.mark.parametrize("main", [google.main, graph.main])
def test_a_bad_latency_option_is_a_message_and_exit_2(
    main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--latency", "soon"]) == 2
    assert "latency: 'soon' is not a duration" in capsys.readouterr().err
