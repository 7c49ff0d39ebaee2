"""The Microsoft Graph v1.0 emulator, driven over real HTTP with httpx (and msal for auth).

Each test reads like the provider behaviour it pins down (shared/provider-facts.md
sections 2 and 4): delta paging and tokens, series shapes, etags,
transactionId, extended properties, getSchedule, $batch, webhooks, msal, faults
and seeding. Error bodies are compared with Graph's shape
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import calsync_emulators
import httpx
import msal
import pytest
from calsync_emulators.graph import EmulatorHttpClient, GraphEmulator, SeedError
from calsync_emulators.graph_events import TRANSACTION_ID_WINDOW
from calsync_emulators.graph_model import View

FIXTURES = Path(__file__).parent / "fixtures" / "graph"
MARIA = "maria@example.com"
BOB = "bob@example.com"
TENANT = "contoso.onmicrosoft.com"
WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-05-01T00:00:00Z"}
GRAPH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}$")
SVEP_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsync-key"
STRIPPED_OCCURRENCE = {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[GraphEmulator]:
    with GraphEmulator(clock=clock) as emulator:
        emulator.add_mailbox(MARIA, "Maria Rossi", time_zone="W. Europe Standard Time")
        emulator.add_mailbox(BOB, "Bob Ode", time_zone="Eastern Standard Time")
        yield emulator


@pytest.fixture
def client(emu: GraphEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {emu.issue_token()}"}
    with httpx.Client(base_url=emu.url + "/", headers=headers, timeout=15) as http:
        yield http


def assert_graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", inner["date"])
    assert response.headers["request-id"] == inner["request-id"]
    return error


def weekly(subject: str = "Maria / Bob 1:1", count: int = 6, **extra: Any) -> dict[str, Any]:
    """A weekly Monday 10:00 Berlin series with Bob, starting 2026-03-02."""
    return {
        "subject": subject,
        "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-03-02T10:30:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": count},
        },
        "attendees": [{"type": "required", "emailAddress": {"name": "Bob Ode", "address": BOB}}],
        **extra,
    }


def single(subject: str, day: str = "2026-03-04", hour: int = 15, **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"{day}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T{hour:02d}:45:00", "timeZone": "UTC"},
        **extra,
    }


def drain(
    client: httpx.Client, url: str, params: dict[str, str] | None = None, **headers: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Follow a delta round to its deltaLink: (items, pages, deltaLink)."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    response = client.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        items += page["value"]
        if "@odata.deltaLink" in page:
            assert "@odata.nextLink" not in page
            return items, pages, page["@odata.deltaLink"]
        response = client.get(page["@odata.nextLink"], headers=headers)


def delta_url(upn: str = MARIA) -> str:
    return f"users/{upn}/calendarView/delta"


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def removed(items: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in items if "@removed" in i}


# ------------------------------------------------------------------ delta ----
def test_delta_pages_by_maxpagesize_and_ends_with_a_delta_link(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    client.post(f"users/{MARIA}/events", json=single("Focus"))
    items, pages, delta_link = drain(client, delta_url(), WINDOW, Prefer="odata.maxpagesize=2")

    assert len(pages) == 4 and all(len(p["value"]) <= 2 for p in pages)
    assert all(p["@odata.nextLink"].startswith(emu.url + "/") for p in pages[:-1])
    assert "$skiptoken=" in pages[0]["@odata.nextLink"]
    assert delta_link.startswith(f"{emu.url}/users/{MARIA}/calendarView/delta?$deltatoken=")
    kinds = [i["type"] for i in items]
    assert kinds.count("seriesMaster") == 1 and kinds.count("occurrence") == 6
    full_master = by_id(items)[master["id"]]
    assert full_master["subject"] == "Maria / Bob 1:1" and full_master["recurrence"]
    assert full_master["@odata.type"] == "#microsoft.graph.event"
    for occurrence in (i for i in items if i["type"] == "occurrence"):
        assert set(occurrence) == STRIPPED_OCCURRENCE
        assert occurrence["seriesMasterId"] == master["id"]
        assert occurrence["@odata.etag"] == master["@odata.etag"]
        assert GRAPH_TIME.match(occurrence["start"]["dateTime"])
        assert occurrence["start"]["timeZone"] == "UTC"
    response = client.get(delta_url(), params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"


def test_delta_default_page_size_is_ten(client: httpx.Client) -> None:
    client.post(f"users/{MARIA}/events", json=weekly(count=12))
    window = {**WINDOW, "endDateTime": "2026-06-01T00:00:00Z"}
    first = client.get(delta_url(), params=window).json()
    assert len(first["value"]) == 10 and "@odata.nextLink" in first


def test_incremental_delta_after_create_patch_cancel_delete_and_decline(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    focus = client.post(f"users/{MARIA}/events", json=single("Focus")).json()
    _, _, maria_link = drain(client, delta_url(), WINDOW)
    _, _, bob_link = drain(client, delta_url(BOB), WINDOW)
    instances = client.get(f"users/{MARIA}/events/{master['id']}/instances", params=WINDOW).json()
    second, third = instances["value"][1], instances["value"][2]

    nothing, _, maria_link = drain(client, maria_link)
    assert nothing == []
    created = client.post(f"users/{MARIA}/events", json=single("Lunch", "2026-03-05")).json()
    patched = client.patch(f"users/{MARIA}/events/{focus['id']}", json={"subject": "Deep work"})
    assert patched.json()["@odata.etag"] != focus["@odata.etag"]
    assert client.post(f"users/{MARIA}/events/{second['id']}/cancel", json={}).status_code == 202
    items, _, maria_link = drain(client, maria_link)
    changed = by_id(items)
    assert changed[created["id"]]["subject"] == "Lunch"
    assert changed[focus["id"]]["subject"] == "Deep work"
    assert changed[second["id"]]["@removed"] == {"reason": "deleted"}
    assert set(changed[second["id"]]) == {"@odata.type", "id", "@removed"}
    assert changed[master["id"]]["@odata.etag"] != master["@odata.etag"]  # the master changed

    assert client.delete(f"users/{MARIA}/events/{created['id']}").status_code == 204
    items, _, maria_link = drain(client, maria_link)
    assert removed(items) == {created["id"]}

    # Bob declines the third occurrence: gone from his calendar, Maria sees his answer.
    bob_items, _, bob_link = drain(client, bob_link)
    bob_second = next(i for i in bob_items if i.get("type") == "exception")
    assert bob_second["isCancelled"] is True and bob_second["subject"].startswith("Canceled: ")
    bob_third = next(
        i
        for i in client.get(f"users/{BOB}/calendarView", params={**WINDOW, "$top": "50"}).json()[
            "value"
        ]
        if i["originalStart"] == third["originalStart"]
    )
    response = client.post(
        f"users/{BOB}/events/{bob_third['id']}/decline", json={"comment": "Conflict"}
    )
    assert response.status_code == 202 and response.content == b""
    bob_items, _, _ = drain(client, bob_link)
    assert bob_third["id"] in removed(bob_items)
    items, _, _ = drain(client, maria_link)
    exception = by_id(items)[third["id"]]
    assert exception["type"] == "exception"
    assert exception["attendees"][0]["status"]["response"] == "declined"


def test_delta_reports_changes_outside_the_window_as_removed(client: httpx.Client) -> None:
    _, _, link = drain(client, delta_url(), WINDOW)
    far = client.post(f"users/{MARIA}/events", json=single("Later", "2026-09-01")).json()
    inside = client.post(f"users/{MARIA}/events", json=single("Soon", "2026-03-10")).json()
    items, _, link = drain(client, link)
    assert by_id(items)[far["id"]] == {
        "@odata.type": "#microsoft.graph.event",
        "id": far["id"],
        "@removed": {"reason": "deleted"},
    }
    assert "@removed" not in by_id(items)[inside["id"]]
    moved = {"start": {"dateTime": "2026-08-01T09:00:00", "timeZone": "UTC"}}
    moved["end"] = {"dateTime": "2026-08-01T10:00:00", "timeZone": "UTC"}
    client.patch(f"users/{MARIA}/events/{inside['id']}", json=moved)
    items, _, _ = drain(client, link)
    assert removed(items) == {inside["id"]}


def test_an_idle_delta_renders_the_mailbox_once_and_a_write_renders_it_again(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync_emulators.graph_delta import Delta

    rendered: list[str] = []
    render = Delta._snapshot
    monkeypatch.setattr(Delta, "_snapshot",
                        lambda self, box, *window: rendered.append(box.key)
                        or render(self, box, *window))
    client.post(f"users/{MARIA}/events", json=weekly())
    _, _, link = drain(client, delta_url(), WINDOW)
    for _ in range(3):  # nothing changed: the round ends at once, from the kept snapshot
        items, _, link = drain(client, link)
        assert items == []
    assert rendered == [MARIA]
    soon = client.post(f"users/{MARIA}/events", json=single("Soon", "2026-03-10")).json()
    items, _, link = drain(client, link)
    assert [i["id"] for i in items] == [soon["id"]]
    client.delete(f"users/{MARIA}/events/{soon['id']}")
    items, _, _ = drain(client, link)
    assert removed(items) == {soon["id"]}
    assert rendered == [MARIA] * 3


def test_a_write_renders_only_the_changed_items_entities_again(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync_emulators import graph_delta

    rendered: list[str] = []
    render = graph_delta.render

    def fingerprinted(entity: Any, view: Any, **sent: Any) -> Any:
        if not sent:  # pages sent render with delta=True
            rendered.append(entity.item.props.get("subject", ""))
        return render(entity, view, **sent)

    monkeypatch.setattr(graph_delta, "render", fingerprinted)
    client.post(f"users/{MARIA}/events", json=weekly())
    _, _, link = drain(client, delta_url(), WINDOW)
    series = len(rendered)
    assert series > 2  # the master and its instances
    rendered.clear()
    soon = client.post(f"users/{MARIA}/events", json=single("Soon", "2026-03-10")).json()
    items, _, link = drain(client, link)
    assert [i["id"] for i in items] == [soon["id"]]
    assert rendered == ["Soon"]
    # An edit of the series itself fingerprints all of its entities again.
    master = next(i for i in client.get(f"users/{MARIA}/events").json()["value"]
                  if i["type"] == "seriesMaster")
    rendered.clear()
    client.patch(f"users/{MARIA}/events/{master['id']}", json={"subject": "Renamed"})
    items, _, _ = drain(client, link)
    assert rendered.count("Renamed") >= series


def test_delta_pages_and_links_can_be_replayed(client: httpx.Client) -> None:
    client.post(f"users/{MARIA}/events", json=weekly())
    first = client.get(delta_url(), params=WINDOW, headers={"Prefer": "odata.maxpagesize=3"})
    next_link = first.json()["@odata.nextLink"]
    again = [client.get(next_link, headers={"Prefer": "odata.maxpagesize=3"}) for _ in range(2)]
    assert [i["id"] for i in again[0].json()["value"]] == [
        i["id"] for i in again[1].json()["value"]
    ]
    _, _, link = drain(client, next_link)
    client.post(f"users/{MARIA}/events", json=single("New"))
    first_try, _, _ = drain(client, link)
    second_try, _, _ = drain(client, link)  # an old deltaLink still works and replays
    assert [i["subject"] for i in first_try] == [i["subject"] for i in second_try] == ["New"]


@pytest.mark.parametrize("mode", ["410", "syncStateNotFound"])
def test_expired_delta_tokens(emu: GraphEmulator, client: httpx.Client, mode: str) -> None:
    client.post(f"users/{MARIA}/events", json=weekly())
    page = client.get(delta_url(), params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"})
    next_link = page.json()["@odata.nextLink"]
    _, _, delta_link = drain(client, delta_url(), WINDOW)
    emu.expire_delta_tokens(mode)
    for link in (delta_link, next_link):
        response = client.get(link)
        if mode == "410":
            assert_graph_error(response, 410, "resyncRequired")
            location = response.headers["Location"]
            assert location.startswith(f"{emu.url}/users/{MARIA}/calendarView/delta?")
            assert "startDateTime=2026-03-01T00%3A00%3A00Z" in location
            restarted, _, _ = drain(client, location)  # the Location is a fresh initial request
            assert len(restarted) == 7
        else:
            assert_graph_error(response, 400, "syncStateNotFound")
    garbled = client.get(delta_url(), params={"$deltatoken": "not-a-token"})
    assert_graph_error(garbled, 400, "syncStateNotFound")


@pytest.mark.parametrize("option", ["$select", "$filter", "$orderby", "$expand", "$search"])
def test_delta_rejects_odata_query_options(client: httpx.Client, option: str) -> None:
    response = client.get(delta_url(), params={**WINDOW, option: "subject"})
    error = assert_graph_error(response, 400, "ErrorInvalidUrlQuery")
    assert "not supported with change tracking over the 'CalendarView' resource" in error["message"]
    missing = client.get(delta_url())
    assert_graph_error(missing, 400, "ErrorInvalidParameter")


def test_outlook_timezone_preference_and_wall_time_across_dst(client: httpx.Client) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    assert master["start"] == {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"}
    view = client.get(f"users/{MARIA}/calendarView", params=WINDOW).json()["value"]
    utc_hours = [i["start"]["dateTime"][11:13] for i in view]
    assert utc_hours == ["09", "09", "09", "09", "08", "08"]  # Berlin moves to CEST on 29 March
    prefer = {"Prefer": 'outlook.timezone="Eastern Standard Time"'}
    response = client.get(f"users/{MARIA}/calendarView", params=WINDOW, headers=prefer)
    assert response.headers["Preference-Applied"] == 'outlook.timezone="Eastern Standard Time"'
    first = response.json()["value"][0]
    assert first["start"] == {
        "dateTime": "2026-03-02T04:00:00.0000000",
        "timeZone": "Eastern Standard Time",
    }
    items, _, _ = drain(client, delta_url(), WINDOW, Prefer='outlook.timezone="Europe/Berlin"')
    assert {i["start"]["dateTime"][11:19] for i in items} == {"10:00:00"}
    assert {i["start"]["timeZone"] for i in items} == {"Europe/Berlin"}


def test_monthly_day_31_falls_on_the_last_day_of_shorter_months(client: httpx.Client) -> None:
    body = single("Month end", "2026-01-31", 9)
    body["recurrence"] = {
        "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        "range": {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 4},
    }
    master = client.post(f"users/{MARIA}/events", json=body).json()
    window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-12-31T00:00:00Z"}
    listed = client.get(f"users/{MARIA}/events/{master['id']}/instances", params=window).json()
    days = [i["start"]["dateTime"][:10] for i in listed["value"]]
    assert days == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]


def test_windows_zones_are_accepted_and_unknown_zones_rejected(client: httpx.Client) -> None:
    body = single("Sydney call")
    body["start"] = {"dateTime": "2026-03-04T09:00:00", "timeZone": "AUS Eastern Standard Time"}
    body["end"] = {"dateTime": "2026-03-04T09:30:00", "timeZone": "AUS Eastern Standard Time"}
    event = client.post(f"users/{MARIA}/events", json=body).json()
    assert event["start"]["dateTime"] == "2026-03-03T22:00:00.0000000"
    assert event["originalStartTimeZone"] == "AUS Eastern Standard Time"
    body["start"] = {"dateTime": "2026-03-04T09:00:00", "timeZone": "Mars Standard Time"}
    error = assert_graph_error(
        client.post(f"users/{MARIA}/events", json=body), 400, "TimeZoneNotSupportedException"
    )
    assert "Mars Standard Time" in error["message"]


def test_the_emulators_import_nothing_from_calsync_nor_its_zone_table() -> None:
    # A fake sharing the product's mapping code (or icalendar's Windows table,
    # which the product maps through) could not catch the product's mistakes.
    package = Path(calsync_emulators.__file__).parent
    borrowed = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            borrowed += [
                f"{path.name}: {name}"
                for name in names
                if name.split(".")[0] == "calsync" or name.startswith("icalendar.timezone")
            ]
    assert borrowed == []


# ----------------------------------------------------------------- events ----
def test_series_master_occurrence_and_exception_shapes(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    assert master["type"] == "seriesMaster" and master["seriesMasterId"] is None
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"
    listed = client.get(f"users/{MARIA}/events/{master['id']}/instances", params=WINDOW).json()
    occurrences = listed["value"]
    assert [o["type"] for o in occurrences] == ["occurrence"] * 6
    assert occurrences[0]["originalStart"] == "2026-03-02T09:00:00Z"
    assert len({o["iCalUId"] for o in occurrences} | {master["iCalUId"]}) == 7
    target = occurrences[1]
    moved = {"start": {"dateTime": "2026-03-09T15:00:00", "timeZone": "W. Europe Standard Time"}}
    moved["end"] = {"dateTime": "2026-03-09T15:30:00", "timeZone": "W. Europe Standard Time"}
    exception = client.patch(f"users/{MARIA}/events/{target['id']}", json=moved).json()
    assert exception["id"] == target["id"] and exception["type"] == "exception"
    assert exception["originalStart"] == target["originalStart"]
    assert exception["start"]["dateTime"] == "2026-03-09T14:00:00.0000000"
    assert exception["seriesMasterId"] == master["id"] and exception["recurrence"] is None
    assert client.get(f"users/{MARIA}/events/{target['id']}").json()["type"] == "exception"

    # Bob's copy: same iCalUIds, different ids, not answered yet.
    bob_master = next(e for e in emu.events(BOB) if e["type"] == "seriesMaster")
    assert bob_master["iCalUId"] == master["iCalUId"] and bob_master["id"] != master["id"]
    assert bob_master["responseStatus"]["response"] == "notResponded"
    assert bob_master["isOrganizer"] is False and bob_master["showAs"] == "tentative"
    bob_instances = emu.instances(BOB, bob_master["id"], WINDOW["startDateTime"], "2026-05-01")
    assert [i["iCalUId"] for i in bob_instances] == [o["iCalUId"] for o in occurrences]
    assert bob_instances[1]["type"] == "exception"  # the organizer's move reached Bob
    assert bob_instances[1]["start"]["dateTime"] == "2026-03-09T14:00:00.0000000"


def test_cancel_is_organizer_only_and_attendee_copies_show_is_cancelled(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    meeting = client.post(
        f"users/{MARIA}/events",
        json=single("Sync", attendees=[{"emailAddress": {"address": BOB}}]),
    ).json()
    bob_copy = next(e for e in emu.events(BOB) if e["subject"] == "Sync")
    error = assert_graph_error(
        client.post(f"users/{BOB}/events/{bob_copy['id']}/cancel", json={"comment": "no"}),
        400,
        "ErrorInvalidRequest",
    )
    assert "You need to be an organizer to cancel a meeting" in error["message"]
    _, _, bob_link = drain(client, delta_url(BOB), WINDOW)
    response = client.post(f"users/{MARIA}/events/{meeting['id']}/cancel", json={"comment": "x"})
    assert response.status_code == 202
    assert_graph_error(
        client.get(f"users/{MARIA}/events/{meeting['id']}"), 404, "ErrorItemNotFound"
    )
    items, _, bob_link = drain(client, bob_link)
    assert items[0]["isCancelled"] is True and items[0]["subject"] == "Canceled: Sync"
    assert emu.remove_cancelled(BOB) == 1
    items, _, _ = drain(client, bob_link)
    assert removed(items) == {bob_copy["id"]}


def test_accept_updates_the_organizer_and_a_decline_removes_the_copy(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    bob_master = next(e for e in emu.events(BOB) if e["type"] == "seriesMaster")
    assert client.post(f"users/{BOB}/events/{bob_master['id']}/accept", json={}).status_code == 202
    organizer = client.get(f"users/{MARIA}/events/{master['id']}").json()
    assert organizer["attendees"][0]["status"]["response"] == "accepted"
    assert client.get(f"users/{BOB}/events/{bob_master['id']}").json()["showAs"] == "busy"
    emu.decline(BOB, bob_master["id"], "Moving teams")
    assert emu.events(BOB) == []
    organizer = client.get(f"users/{MARIA}/events/{master['id']}").json()
    assert organizer["attendees"][0]["status"]["response"] == "declined"
    assert organizer["attendees"][0]["status"]["time"] == "2026-03-01T12:00:00Z"


def test_cancelled_occurrences_via_select_on_the_master(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    occurrence = emu.instances(MARIA, master["id"], "2026-03-09T00:00:00Z", "2026-03-10")[0]
    emu.cancel_occurrence(MARIA, occurrence["id"])
    plain = client.get(f"users/{MARIA}/events/{master['id']}").json()
    assert "cancelledOccurrences" not in plain
    selected = client.get(
        f"users/{MARIA}/events/{master['id']}",
        params={"$select": "subject,cancelledOccurrences"},
    ).json()
    assert selected["cancelledOccurrences"] == [f"OID.{master['id']}.2026-03-09"]
    assert set(selected) == {"@odata.etag", "id", "subject", "cancelledOccurrences"}
    assert_graph_error(
        client.get(f"users/{MARIA}/events/{master['id']}", params={"$select": "nope"}),
        400,
        "RequestBroker--ParseUri",
    )


def test_stale_if_match_gives_412_and_etags_change_on_every_write(client: httpx.Client) -> None:
    event = client.post(f"users/{MARIA}/events", json=single("Sync")).json()
    url = f"users/{MARIA}/events/{event['id']}"
    first = client.patch(url, json={"subject": "A"}, headers={"If-Match": event["@odata.etag"]})
    assert first.status_code == 200 and first.json()["@odata.etag"] != event["@odata.etag"]
    assert first.json()["changeKey"] != event["changeKey"]
    stale = client.patch(url, json={"subject": "B"}, headers={"If-Match": event["@odata.etag"]})
    error = assert_graph_error(stale, 412, "ErrorIrresolvableConflict")
    assert "change key" in error["message"]
    assert client.get(url).json()["subject"] == "A"
    stale_delete = client.delete(url, headers={"If-Match": event["@odata.etag"]})
    assert_graph_error(stale_delete, 412, "ErrorIrresolvableConflict")


def test_transaction_id_deduplicates_creates_within_its_window(
    clock: Clock, emu: GraphEmulator, client: httpx.Client
) -> None:
    plain = client.post(f"users/{MARIA}/events", json=single("No key")).json()
    assert "transactionId" not in plain
    body = single("Rebooked 1:1", transactionId="calsync:maria+bob:2026-03-04:rebook")
    first = client.post(f"users/{MARIA}/events", json=body)
    retry = client.post(f"users/{MARIA}/events", json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert first.json()["transactionId"] == "calsync:maria+bob:2026-03-04:rebook"
    assert [e["subject"] for e in emu.events(MARIA)].count("Rebooked 1:1") == 1
    clock.now += TRANSACTION_ID_WINDOW + timedelta(minutes=1)
    emu.expire_access_tokens()
    client.headers["Authorization"] = f"Bearer {emu.issue_token()}"
    later = client.post(f"users/{MARIA}/events", json=body)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


def test_extended_properties_only_with_expand_or_filter(client: httpx.Client) -> None:
    body = single("Rebook", singleValueExtendedProperties=[{"id": SVEP_ID, "value": "k-42"}])
    event = client.post(f"users/{MARIA}/events", json=body).json()
    client.post(f"users/{MARIA}/events", json=single("Other"))
    assert "singleValueExtendedProperties" not in event
    url = f"users/{MARIA}/events/{event['id']}"
    assert "singleValueExtendedProperties" not in client.get(url).json()
    expanded = client.get(
        url, params={"$expand": f"singleValueExtendedProperties($filter=id eq '{SVEP_ID}')"}
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": SVEP_ID, "value": "k-42"}]
    found = client.get(
        f"users/{MARIA}/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{SVEP_ID}' "
            "and ep/value eq 'k-42')"
        },
    ).json()["value"]
    assert [e["id"] for e in found] == [event["id"]]
    assert "singleValueExtendedProperties" not in found[0]
    items, _, _ = drain(client, delta_url(), WINDOW)
    assert all("singleValueExtendedProperties" not in i for i in items)
    assert_graph_error(
        client.get(f"users/{MARIA}/events", params={"$filter": "weird(stuff)"}),
        400,
        "ErrorInvalidUrlQueryFilter",
    )


def test_text_bodies_come_back_as_html_unless_text_is_preferred(client: httpx.Client) -> None:
    body = single("Agenda", body={"contentType": "text", "content": "1. Growth\n2. <Q3>"})
    event = client.post(f"users/{MARIA}/events", json=body).json()
    assert event["body"]["contentType"] == "html"
    assert "1. Growth<br>" in event["body"]["content"] and "&lt;Q3&gt;" in event["body"]["content"]
    text = client.get(
        f"users/{MARIA}/events/{event['id']}",
        headers={"Prefer": 'outlook.body-content-type="text"'},
    ).json()
    assert text["body"] == {"contentType": "text", "content": "1. Growth\n2. <Q3>"}


def test_unknown_user_malformed_and_foreign_ids(client: httpx.Client) -> None:
    assert_graph_error(client.get("users/nobody@example.com/events"), 404, "ErrorInvalidUser")
    assert_graph_error(client.get(f"users/{MARIA}/events/xyz"), 400, "ErrorInvalidIdMalformed")
    event = client.post(f"users/{MARIA}/events", json=single("Mine")).json()
    foreign = client.get(f"users/{BOB}/events/{event['id']}")
    assert_graph_error(foreign, 400, "ErrorInvalidMailboxItemId")
    client.delete(f"users/{MARIA}/events/{event['id']}")
    gone = client.get(f"users/{MARIA}/events/{event['id']}")
    assert_graph_error(gone, 404, "ErrorItemNotFound")
    bad_body = client.post(f"users/{MARIA}/events", json={**single("x"), "colour": "red"})
    assert_graph_error(bad_body, 400, "RequestBodyRead")


def test_event_lists_page_with_top_and_filter(client: httpx.Client) -> None:
    for day in ("2026-03-06", "2026-03-04", "2026-03-05"):
        client.post(f"users/{MARIA}/events", json=single(f"On {day}", day))
    page = client.get(
        f"users/{MARIA}/events", params={"$top": "2", "$orderby": "start/dateTime desc"}
    ).json()
    assert [e["subject"] for e in page["value"]] == ["On 2026-03-06", "On 2026-03-05"]
    rest = client.get(page["@odata.nextLink"]).json()
    assert [e["subject"] for e in rest["value"]] == ["On 2026-03-04"]
    assert "@odata.nextLink" not in rest
    early = client.get(
        f"users/{MARIA}/events",
        params={"$filter": "start/dateTime lt '2026-03-05T16:00:00' and subject ne 'x'"},
    ).json()["value"]
    assert [e["subject"] for e in early] == ["On 2026-03-04", "On 2026-03-05"]
    naive = {"startDateTime": "2026-03-05T14:00:00", "endDateTime": "2026-03-05T16:00:00"}
    prefer = {"Prefer": 'outlook.timezone="Tokyo Standard Time"'}
    view = client.get(f"users/{MARIA}/calendarView", params=naive, headers=prefer).json()
    assert [e["subject"] for e in view["value"]] == ["On 2026-03-05"]  # the window is UTC


def test_rescheduling_a_series_drops_exceptions_and_resets_answers(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    master = client.post(f"users/{MARIA}/events", json=weekly()).json()
    bob_master = next(e for e in emu.events(BOB) if e["type"] == "seriesMaster")
    emu.accept(BOB, bob_master["id"])
    second = emu.instances(MARIA, master["id"], "2026-03-09", "2026-03-10")[0]
    client.patch(f"users/{MARIA}/events/{second['id']}", json={"subject": "Special"})
    later = {
        "start": {"dateTime": "2026-03-02T11:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-03-02T11:30:00", "timeZone": "W. Europe Standard Time"},
    }
    moved = client.patch(f"users/{MARIA}/events/{master['id']}", json=later).json()
    assert moved["attendees"][0]["status"]["response"] == "none"
    instances = emu.instances(MARIA, master["id"], "2026-03-01", "2026-05-01")
    assert {i["type"] for i in instances} == {"occurrence"}
    assert {i["start"]["dateTime"][11:16] for i in instances[:4]} == {"10:00"}
    bob = client.get(f"users/{BOB}/events/{bob_master['id']}").json()
    assert bob["responseStatus"]["response"] == "notResponded"
    assert bob["start"] == moved["start"]
    dropped = {"attendees": [{"emailAddress": {"address": "carol@example.com"}}]}
    client.patch(f"users/{MARIA}/events/{master['id']}", json=dropped)
    assert client.get(f"users/{BOB}/events/{bob_master['id']}").json()["isCancelled"] is True


# ------------------------------------------------------------ getSchedule ----
def test_get_schedule_availability_items_working_hours_and_errors(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    client.post(f"users/{MARIA}/events", json=single("Busy", "2026-03-04", 9))
    client.post(f"users/{MARIA}/events", json=single("Away", "2026-03-04", 11, showAs="oof"))
    client.post(f"users/{MARIA}/events", json=single("Free", "2026-03-04", 12, showAs="free"))
    client.post(
        f"users/{MARIA}/events",
        json=single("Invite", "2026-03-04", 10, attendees=[{"emailAddress": {"address": BOB}}]),
    )
    request = {
        "schedules": [MARIA, BOB, "ghost@example.com"],
        "startTime": {"dateTime": "2026-03-04T09:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": "2026-03-04T13:00:00", "timeZone": "UTC"},
        "availabilityViewInterval": 60,
    }
    response = client.post(f"users/{MARIA}/calendar/getSchedule", json=request)
    assert response.status_code == 200
    maria, bob, ghost = response.json()["value"]
    assert maria["availabilityView"] == "2230"
    assert [i["status"] for i in maria["scheduleItems"]] == ["busy", "busy", "oof"]
    assert maria["scheduleItems"][0]["start"] == {
        "dateTime": "2026-03-04T09:00:00.0000000",
        "timeZone": "UTC",
    }
    assert maria["workingHours"]["timeZone"] == {"name": "W. Europe Standard Time"}
    assert maria["workingHours"]["startTime"] == "08:00:00.0000000"
    assert bob["availabilityView"] == "0100"  # an unanswered invitation is tentative
    assert bob["workingHours"]["timeZone"] == {"name": "Eastern Standard Time"}
    assert ghost["scheduleId"] == "ghost@example.com" and "error" in ghost
    assert set(ghost["error"]) == {"message", "responseCode"}
    too_many = {**request, "schedules": [f"u{n}@example.com" for n in range(21)]}
    assert_graph_error(
        client.post(f"users/{MARIA}/calendar/getSchedule", json=too_many),
        400,
        "ErrorInvalidParameter",
    )
    too_long = {**request, "endTime": {"dateTime": "2026-05-05T09:00:00", "timeZone": "UTC"}}
    error = assert_graph_error(
        client.post(f"users/{MARIA}/calendar/getSchedule", json=too_long),
        400,
        "ErrorTimeIntervalTooBig",
    )
    assert "The allowed limit = 62 days; the actual limit = 62 days." in error["message"]
    almost = {**request, "endTime": {"dateTime": "2026-05-05T08:00:00", "timeZone": "UTC"}}
    assert client.post(f"users/{MARIA}/calendar/getSchedule", json=almost).status_code == 200


# ------------------------------------------------------------------ batch ----
def test_batch_is_one_request_with_inner_429s_and_dependencies(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    emu.requests.clear()
    emu.throttle(1, retry_after=7)
    requests = [
        {"id": str(n), "method": "GET", "url": f"/users/{MARIA}/events"} for n in range(1, 19)
    ]
    requests.append(
        {
            "id": "create",
            "method": "POST",
            "url": f"/users/{MARIA}/events",
            "headers": {"Content-Type": "application/json"},
            "body": single("From batch"),
        }
    )
    requests.append(
        {"id": "after", "method": "GET", "url": "/users/nobody@example.com", "dependsOn": ["1"]}
    )
    response = client.post("$batch", json={"requests": requests})
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert answers["1"]["status"] == 429 and answers["1"]["headers"]["Retry-After"] == "7"
    assert answers["1"]["body"]["error"]["code"] == "ApplicationThrottled"
    assert all(answers[str(n)]["status"] == 200 for n in range(2, 19))
    assert answers["create"]["status"] == 201 and answers["create"]["body"]["subject"]
    assert answers["after"]["status"] == 424  # its dependency was throttled
    assert len(emu.requests) == 1 and emu.requests.count(calls=True) == 20
    assert emu.requests.calls[0].batch == 1
    too_many = [{"id": str(n), "method": "GET", "url": "/me"} for n in range(21)]
    assert_graph_error(client.post("$batch", json={"requests": too_many}), 400, "BadRequest")


def test_batch_mailbox_concurrency_fault(emu: GraphEmulator, client: httpx.Client) -> None:
    emu.mailbox_concurrency(4)
    requests = [
        {"id": str(n), "method": "GET", "url": f"/users/{MARIA}/calendar"} for n in range(6)
    ]
    answers = client.post("$batch", json={"requests": requests}).json()["responses"]
    assert [a["status"] for a in answers] == [200, 200, 200, 200, 429, 429]


# ---------------------------------------------------------- subscriptions ----
class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint: echoes validation tokens, records notifications."""

    server: _ReceiverServer

    def do_POST(self) -> None:
        query = urllib.parse.urlsplit(self.path).query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if "validationToken=" in query:
            self.server.raw_queries.append(query)
            token = urllib.parse.parse_qs(query)["validationToken"][0]
            reply = token if self.server.echo else "wrong"
            data = reply.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
        else:
            self.server.notifications.append(json.loads(body))
            data = b""
            self.send_response(202)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.raw_queries: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.echo = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[_ReceiverServer]:
    server = _ReceiverServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_subscription_handshake_and_change_notification(
    emu: GraphEmulator, client: httpx.Client, receiver: _ReceiverServer
) -> None:
    request = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url,
        "resource": f"/users/{MARIA}/events",
        "expirationDateTime": "2026-03-05T12:00:00.0000000Z",
        "clientState": "calsync-secret",
    }
    response = client.post("subscriptions", json=request)
    assert response.status_code == 201, response.text
    subscription = response.json()
    assert subscription["clientState"] == "calsync-secret"
    (raw,) = receiver.raw_queries
    assert "%20" in raw and "%3A" in raw  # spaces and colons arrive URL-encoded
    event = client.post(f"users/{MARIA}/events", json=single("Notify me")).json()
    emu.wait_for_deliveries(1)
    (note,) = receiver.notifications[0]["value"]
    assert note["subscriptionId"] == subscription["id"]
    assert note["clientState"] == "calsync-secret" and note["changeType"] == "created"
    assert note["resourceData"]["id"] == event["id"]
    assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert note["resource"].endswith(f"/Events/{event['id']}")
    assert note["tenantId"] == emu.state.tenant_id
    assert note["subscriptionExpirationDateTime"] == "2026-03-05T12:00:00.0000000Z"

    renewed = client.patch(
        f"subscriptions/{subscription['id']}",
        json={"expirationDateTime": "2026-03-07T12:00:00Z"},
    )
    assert renewed.json()["expirationDateTime"] == "2026-03-07T12:00:00.0000000Z"
    too_long = {**request, "expirationDateTime": "2026-03-09T12:00:01Z"}
    error = assert_graph_error(client.post("subscriptions", json=too_long), 400, "InvalidRequest")
    assert "10080 minutes" in error["message"]
    assert client.delete(f"subscriptions/{subscription['id']}").status_code == 204
    assert client.get("subscriptions").json()["value"] == []


def test_subscription_fails_when_the_endpoint_does_not_echo_the_token(
    client: httpx.Client, receiver: _ReceiverServer
) -> None:
    receiver.echo = False
    request = {
        "changeType": "created",
        "notificationUrl": receiver.url,
        "resource": f"users/{MARIA}/events",
        "expirationDateTime": "2026-03-02T12:00:00Z",
        "clientState": "s",
    }
    error = assert_graph_error(client.post("subscriptions", json=request), 400, "InvalidRequest")
    assert error["message"].startswith("Subscription validation request failed.")
    request["notificationUrl"] = "http://example.com/hook"
    assert_graph_error(client.post("subscriptions", json=request), 400, "InvalidRequest")


# ------------------------------------------------------------------- auth ----
def test_msal_confidential_client_gets_a_token_from_the_emulator(emu: GraphEmulator) -> None:
    http_client = EmulatorHttpClient(emu.url_root)
    app = msal.ConfidentialClientApplication(
        "11111111-2222-3333-4444-555555555555",
        client_credential="s3cret",
        authority=f"https://login.microsoftonline.com/{TENANT}",
        http_client=http_client,
    )
    result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    again = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert again["token_source"] == "cache"
    response = http_client.get(
        f"https://graph.microsoft.com/v1.0/users/{MARIA}/events",
        headers={"Authorization": f"Bearer {result['access_token']}"},
    )
    assert response.status_code == 200 and response.json()["value"] == []
    assert emu.requests.count("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration") == 1
    http_client.close()


def test_msal_device_flow_completes_once_the_code_is_approved(clock: Clock) -> None:
    with GraphEmulator(clock=clock, device_code_interval=1) as emu:
        emu.add_mailbox(MARIA, "Maria Rossi")
        app = msal.PublicClientApplication(
            "22222222-2222-3333-4444-555555555555",
            authority=f"https://login.microsoftonline.com/{TENANT}",
            http_client=EmulatorHttpClient(emu.url_root),
        )
        flow = app.initiate_device_flow(scopes=["Calendars.ReadWrite"])
        assert flow["verification_uri"] == "https://microsoft.com/devicelogin"
        assert flow["user_code"] in flow["message"]
        approver = threading.Timer(0.3, emu.approve_device_code, (flow["user_code"], MARIA))
        approver.start()
        started = time.monotonic()
        result = app.acquire_token_by_device_flow(flow)
        approver.join()
        assert "access_token" in result, result
        assert time.monotonic() - started >= 0.9  # the first poll was still pending
        assert result["id_token_claims"]["preferred_username"] == MARIA
        assert app.get_accounts()[0]["username"] == MARIA
        me = httpx.get(
            f"{emu.url}/me/events", headers={"Authorization": f"Bearer {result['access_token']}"}
        )
        assert me.status_code == 200


def test_graph_requires_a_token_issued_by_the_emulator(emu: GraphEmulator) -> None:
    url = f"{emu.url}/users/{MARIA}/events"
    assert_graph_error(httpx.get(url), 401, "InvalidAuthenticationToken")
    forged = httpx.get(url, headers={"Authorization": "Bearer a.b.c"})
    assert_graph_error(forged, 401, "InvalidAuthenticationToken")
    assert "WWW-Authenticate" in forged.headers
    app_token = {"Authorization": f"Bearer {emu.issue_token()}"}
    error = assert_graph_error(
        httpx.get(f"{emu.url}/me/events", headers=app_token), 400, "BadRequest"
    )
    assert "delegated" in error["message"]
    emu.expire_access_tokens()
    assert_graph_error(httpx.get(url, headers=app_token), 401, "InvalidAuthenticationToken")
    with GraphEmulator(auth=False) as open_emu:
        open_emu.add_mailbox(MARIA)
        assert httpx.get(f"{open_emu.url}/users/{MARIA}/events").status_code == 200


# ----------------------------------------------------------------- faults ----
def test_throttle_and_5xx_faults(emu: GraphEmulator, client: httpx.Client) -> None:
    url = f"users/{MARIA}/events"
    emu.throttle(2, retry_after=3)
    for _ in range(2):
        response = client.get(url)
        assert_graph_error(response, 429, "ApplicationThrottled")
        assert response.headers["Retry-After"] == "3"
    assert client.get(url).status_code == 200
    emu.fail_5xx(1)
    plain = client.get(url)
    assert_graph_error(plain, 503, "ServiceUnavailable")
    assert "Retry-After" not in plain.headers
    emu.fail_5xx(1, status=503, retry_after=2)
    assert client.get(url).headers["Retry-After"] == "2"
    emu.fail_5xx(1, status=504)
    assert client.get(url).status_code == 504
    assert client.get(url).status_code == 200


def test_fail_rate_is_deterministic_for_a_seed(emu: GraphEmulator, client: httpx.Client) -> None:
    def statuses() -> list[int]:
        emu.fail_rate(0.5, seed=7)
        return [client.get(f"users/{MARIA}/calendar").status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert {200} < set(first) and set(first) <= {200, 429, 503, 504}
    emu.fail_rate(0)
    assert client.get(f"users/{MARIA}/calendar").status_code == 200


def test_latency_and_faults_over_the_control_endpoint(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    control = httpx.post(
        f"{emu.url_root}/_emulator/faults",
        json={"latency": 0.2, "throttle": {"n": 1, "retry_after": 5}},
    )
    assert control.status_code == 200 and control.json()["throttle"]["n"] == 1
    started = time.monotonic()
    assert client.get(f"users/{MARIA}/calendar").status_code == 429
    assert time.monotonic() - started >= 0.2
    httpx.post(f"{emu.url_root}/_emulator/faults", json={"reset": True})
    assert client.get(f"users/{MARIA}/calendar").status_code == 200
    bad = httpx.post(f"{emu.url_root}/_emulator/faults", json={"flood": 1})
    assert bad.status_code == 400
    log = httpx.get(f"{emu.url_root}/_emulator/requests").json()
    assert log["http"] == len(emu.requests)


def test_delta_fault_switches_empty_pages_replays_and_token_cache(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    client.post(f"users/{MARIA}/events", json=weekly(count=4))
    emu.delta_empty_pages(True)
    items, pages, _ = drain(client, delta_url(), WINDOW, Prefer="odata.maxpagesize=10")
    assert [len(p["value"]) for p in pages] == [5, 0]
    emu.delta_empty_pages(False)
    emu.delta_replays(True)
    items, pages, link = drain(client, delta_url(), WINDOW, Prefer="odata.maxpagesize=2")
    assert len(items) == 7 and len({i["id"] for i in items}) == 5  # repeats are allowed
    emu.delta_replays(False)
    emu.delta_token_cache(1)
    drain(client, delta_url(), WINDOW)  # a newer token evicts the older one
    assert_graph_error(client.get(link), 400, "syncStateNotFound")


def test_a_mailbox_keeps_its_newest_delta_tokens_only(
    emu: GraphEmulator, client: httpx.Client
) -> None:
    from calsync_emulators.graph_delta import MAX_TOKENS_PER_MAILBOX

    client.post(f"users/{MARIA}/events", json=weekly(count=2))
    _, _, oldest = drain(client, delta_url(), WINDOW)
    links = [drain(client, delta_url(), WINDOW)[2] for _ in range(MAX_TOKENS_PER_MAILBOX)]
    assert_graph_error(client.get(oldest), 400, "syncStateNotFound")
    # The newest ones still answer, and another mailbox's rounds evict none of them.
    drain(client, delta_url(BOB), WINDOW)
    for link in (links[0], links[-1]):
        assert client.get(link).status_code == 200


# ---------------------------------------------------------------- seeding ----
def test_seed_from_json(clock: Clock) -> None:
    with GraphEmulator(clock=clock, seed=FIXTURES / "team.json") as emu:
        assert emu.mailboxes() == [MARIA, BOB]
        master, vacation = emu.events(MARIA)
        assert master["type"] == "seriesMaster" and vacation["isAllDay"] is True
        assert vacation["start"] == {"dateTime": "2026-03-20T00:00:00.0000000", "timeZone": "UTC"}
        instances = emu.instances(MARIA, master["id"], WINDOW["startDateTime"], "2026-05-01")
        assert [i["type"] for i in instances] == ["occurrence", "exception", *["occurrence"] * 3]
        assert instances[1]["subject"] == "Maria / Bob 1:1 (moved)"
        assert instances[1]["start"]["dateTime"] == "2026-03-09T13:00:00.0000000"
        (bob_copy,) = emu.events(BOB)
        assert bob_copy["iCalUId"] == master["iCalUId"]
        assert bob_copy["responseStatus"]["response"] == "accepted"
        token = emu.issue_token()
        expanded = httpx.get(
            f"{emu.url}/users/{MARIA}/events/{master['id']}",
            params={
                "$expand": "singleValueExtendedProperties($filter=id eq "
                "'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsync-pair')"
            },
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert expanded["singleValueExtendedProperties"][0]["value"] == "maria+bob"
        schedule = emu.state.get_schedule(
            MARIA,
            {
                "schedules": [BOB],
                "startTime": {"dateTime": "2026-03-02T09:00:00", "timeZone": "UTC"},
                "endTime": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"},
            },
            View(),
        )
        assert schedule["value"][0]["workingHours"]["daysOfWeek"][-1] == "thursday"


def test_seed_from_ics_with_windows_zones_exdate_overrides_and_cancellations(
    clock: Clock,
) -> None:
    with GraphEmulator(clock=clock, seed=[FIXTURES / "team.json", FIXTURES / "tom.ics"]) as emu:
        assert "tom@example.com" in emu.mailboxes()
        tom = {e["subject"]: e for e in emu.events("tom@example.com")}
        master = tom["1on1 Tom + Maria"]
        assert master["start"]["dateTime"] == "2026-03-02T20:00:00.0000000"  # 07:00 AEDT
        assert master["originalStartTimeZone"] == "AUS Eastern Standard Time"
        assert master["recurrence"]["pattern"]["interval"] == 2
        assert master["iCalUId"].startswith("040000008200E00074C5B7101A82E008")
        instances = emu.instances("tom@example.com", master["id"], "2026-03-01", "2026-05-01")
        starts = [(i["originalStart"], i["type"]) for i in instances]
        assert starts == [
            ("2026-03-02T20:00:00Z", "occurrence"),  # 17 March: EXDATE
            ("2026-03-30T20:00:00Z", "exception"),  # moved to 09:00
            # 14 April: cancelled by the organizer, so deleted; 28 April after AEDT ends:
            ("2026-04-27T21:00:00Z", "occurrence"),
        ]
        assert instances[1]["attendees"][0]["status"]["response"] == "declined"
        offsite = tom["Offsite"]
        assert offsite["isAllDay"] and offsite["showAs"] == "free"
        assert offsite["sensitivity"] == "private"
        maria_copy = next(e for e in emu.events(MARIA) if e["subject"] == "1on1 Tom + Maria")
        assert maria_copy["iCalUId"] == master["iCalUId"] and maria_copy["isOrganizer"] is False


def test_seed_errors_name_the_file_and_the_event(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"bad-rule\.ics: .*twice-a-day@example\.com.*BYHOUR"):
        GraphEmulator(seed=FIXTURES / "bad-rule.ics")
    broken = tmp_path / "broken.json"
    broken.write_text('{"mailboxes": {"a@example.com": [{"subject": "no times"}]}}')
    with pytest.raises(SeedError, match=r"broken\.json: mailbox a@example\.com: event #1"):
        GraphEmulator(seed=broken)


def test_command_line_serves_a_seeded_emulator(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calsync_emulators.graph",
            "--port",
            "0",
            "--no-auth",
            "--seed",
            str(FIXTURES / "team.json"),
            "--url-file",
            str(url_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not url_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = url_file.read_text().strip()
        events = httpx.get(f"{url}/users/{MARIA}/events").json()["value"]
        assert [e["subject"] for e in events] == ["Maria / Bob 1:1", "Vacation"]
    finally:
        process.terminate()
        process.wait(timeout=10)
