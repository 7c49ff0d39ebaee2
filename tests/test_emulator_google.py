"""The Google Calendar API v3 emulator, driven over real HTTP by google-api-python-client.

Each test reads like the provider behaviour it pins down (shared/provider-facts.md
section 1); error bodies are compared with the ones Google documents, and every
response body is checked against the schemas of the discovery document the
client library ships.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
from calsync_emulators.google import GoogleEmulator, SeedError
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

FIXTURES = Path(__file__).parent / "fixtures" / "google"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
MARIA = "maria@example.com"
BOB = "bob@example.com"

# --------------------------------------------------- Google's error bodies ----
# Copied from https://developers.google.com/workspace/calendar/api/guides/errors
# and the real logs cited in shared/provider-facts.md.


def google_error(code: int, reason: str, message: str, domain: str = "global", **location: str):
    item = {"domain": domain, "reason": reason, "message": message}
    if location:
        item.update(location)
    return {"error": {"errors": [item], "code": code, "message": message}}


FULL_SYNC_REQUIRED = google_error(
    410,
    "fullSyncRequired",
    "Sync token is no longer valid, a full sync is required.",
    "calendar",
    locationType="parameter",
    location="syncToken",
)
DELETED = google_error(410, "deleted", "Resource has been deleted")
CONDITION_NOT_MET = google_error(
    412, "conditionNotMet", "Precondition Failed", locationType="header", location="If-Match"
)
DUPLICATE = google_error(409, "duplicate", "The requested identifier already exists.")
INVALID_ID = google_error(400, "invalid", "Invalid resource id value.")
NOT_FOUND = google_error(404, "notFound", "Not Found")
TIME_RANGE_EMPTY = google_error(
    400,
    "timeRangeEmpty",
    "The specified time range is empty.",
    "calendar",
    locationType="parameter",
    location="timeMax",
)
TIME_RANGE_TOO_LONG = google_error(
    400, "timeRangeTooLong", "The requested time range is too long.", "calendar"
)
USER_RATE_LIMIT = google_error(
    403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits"
)
RATE_LIMIT_403 = google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
RATE_LIMIT_429 = google_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
QUOTA_EXCEEDED = google_error(
    403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits"
)
BACKEND_ERROR = google_error(503, "backendError", "Backend Error")

# ------------------------------------------------------- schema validation ----
DISCOVERY = json.loads(
    (
        Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
    ).read_text(encoding="utf-8")
)
SCHEMAS: dict[str, Any] = DISCOVERY["schemas"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def schema_errors(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Check ``value`` against a discovery-format schema; unknown properties are errors."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        errors = []
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                spec = properties[name]
                if name == "kind" and "default" in spec and item != spec["default"]:
                    errors.append(f"{where}.kind: {item!r} is not {spec['default']!r}")
                errors += schema_errors(spec, item, f"{where}.{name}")
            elif extra is not None:
                errors += schema_errors(extra, item, f"{where}[{name!r}]")
            else:
                errors.append(f"{where}: unknown property {name!r}")
        return errors
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        return [
            e
            for i, v in enumerate(value)
            for e in schema_errors(schema["items"], v, f"{where}[{i}]")
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {value!r}"]
        fmt = schema.get("format")
        if fmt == "date-time" and not RFC3339.match(value):
            return [f"{where}: {value!r} is not an RFC 3339 date-time"]
        if fmt == "date" and not DATE.match(value):
            return [f"{where}: {value!r} is not a date"]
        if fmt in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
            return [f"{where}: {value!r} is not an integer string"]
        return []
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer, got {value!r}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean, got {value!r}"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number"]
    return []


def assert_schema(name: str, value: Any) -> None:
    errors = schema_errors(SCHEMAS[name], value, name)
    assert not errors, "\n".join(errors)


# ------------------------------------------------------------------ helpers ----
class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def emu(clock: Clock) -> Iterator[GoogleEmulator]:
    with GoogleEmulator(clock=clock) as emulator:
        emulator.add_calendar(MARIA, time_zone="Europe/Berlin")
        emulator.add_calendar(BOB)
        yield emulator


def service(emu: GoogleEmulator) -> Any:
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        client_options={"api_endpoint": emu.api_endpoint},
        credentials=AnonymousCredentials(),
    )


@pytest.fixture
def svc(emu: GoogleEmulator) -> Iterator[Any]:
    with service(emu) as client:
        yield client


def timed(summary: str, start: str, minutes: int = 30, tz: str = "Europe/Berlin", **extra: Any):
    begin = datetime.fromisoformat(start)
    return {
        "summary": summary,
        "start": {"dateTime": begin.isoformat(), "timeZone": tz},
        "end": {"dateTime": (begin + timedelta(minutes=minutes)).isoformat(), "timeZone": tz},
        **extra,
    }


def weekly(summary: str, start: str, count: int | None = 4, **extra: Any) -> dict[str, Any]:
    rule = "RRULE:FREQ=WEEKLY" + (f";COUNT={count}" if count else "")
    return timed(summary, start, recurrence=[rule, *extra.pop("more_rules", [])], **extra)


def http_error(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as info:
        request.execute()
    return info.value.resp.status, json.loads(info.value.content)


def no_sleep(request: HttpRequest) -> HttpRequest:
    """googleapiclient sleeps rand()*2**n between retries; tests need not wait."""
    request._sleep = lambda _seconds: None
    return request


def refused(request: urllib.request.Request | str) -> tuple[int, dict[str, Any]]:
    """Send a raw request expected to fail: (status, JSON body), the response closed."""
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    with info.value as error:
        return error.code, json.loads(error.read())


def sync_all(svc: Any, calendar: str, **params: Any) -> tuple[list[dict], str, list[dict]]:
    """Follow every page; (items, nextSyncToken, pages), checking the token rules."""
    pages = []
    request = svc.events().list(calendarId=calendar, **params)
    while request is not None:
        page = request.execute()
        assert_schema("Events", page)
        pages.append(page)
        request = svc.events().list_next(request, page)
    for page in pages[:-1]:
        assert "nextPageToken" in page and "nextSyncToken" not in page
    assert "nextSyncToken" in pages[-1] and "nextPageToken" not in pages[-1]
    return [item for page in pages for item in page["items"]], pages[-1]["nextSyncToken"], pages


# ------------------------------------------------------- schema validator ----
def test_the_schema_check_rejects_unknown_properties_and_wrong_types():
    assert schema_errors(SCHEMAS["Event"], {"id": "x", "colour": "red"}) == [
        "$: unknown property 'colour'"
    ]
    assert schema_errors(SCHEMAS["Event"], {"sequence": "1"}) == [
        "$.sequence: expected an integer, got '1'"
    ]
    assert schema_errors(SCHEMAS["Event"], {"start": {"dateTime": "2026-03-01 10:00"}})
    assert schema_errors(SCHEMAS["Channel"], {"kind": "api#channel", "expiration": 17})


# ---------------------------------------------------------- paging, tokens ----
def test_a_full_sync_pages_and_only_the_last_page_carries_the_sync_token(emu, svc):
    for day in range(1, 8):
        emu.insert_event(BOB, timed(f"e{day}", f"2026-03-{day:02d}T09:00:00+00:00", tz="UTC"))
    before = len(emu.requests)

    items, token, pages = sync_all(svc, BOB, maxResults=3)

    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert sorted(i["summary"] for i in items) == [f"e{d}" for d in range(1, 8)]
    assert token
    assert len(emu.requests) - before == 3
    assert emu.requests.count("GET", f"/calendars/{BOB}/events") == 3
    second = pages[0]["nextPageToken"]
    again = svc.events().list(calendarId=BOB, maxResults=3, pageToken=second).execute()
    assert again["items"] == pages[1]["items"]  # a retried page is the same page


def test_page_size_defaults_to_250_and_is_clamped_to_2500(emu, svc):
    for n in range(260):
        emu.insert_event(BOB, timed(f"e{n}", "2026-03-02T09:00:00+00:00", tz="UTC"))

    first = svc.events().list(calendarId=BOB).execute()
    everything = svc.events().list(calendarId=BOB, maxResults=5000).execute()

    assert len(first["items"]) == 250 and "nextPageToken" in first
    assert len(everything["items"]) == 260 and "nextSyncToken" in everything


def test_short_pages_fault_gives_short_and_empty_pages_that_still_have_a_next_page(emu, svc):
    for day in range(1, 6):
        emu.insert_event(BOB, timed(f"e{day}", f"2026-03-{day:02d}T09:00:00+00:00", tz="UTC"))
    emu.short_pages()

    items, token, pages = sync_all(svc, BOB, maxResults=4)

    assert len(items) == 5 and token
    assert all(len(p["items"]) <= 2 for p in pages)
    empty = [p for p in pages if not p["items"]]
    assert empty and all("nextPageToken" in p for p in empty)


def test_an_incremental_sync_returns_inserts_patches_deletes_and_cancelled_instances(emu, svc):
    keep = emu.insert_event(MARIA, timed("keep", "2026-03-02T09:00:00"))
    change = emu.insert_event(MARIA, timed("change", "2026-03-02T11:00:00"))
    gone = emu.insert_event(MARIA, timed("gone", "2026-03-02T13:00:00"))
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00"))
    _, token, _ = sync_all(svc, MARIA)

    added = (
        svc.events().insert(calendarId=MARIA, body=timed("new", "2026-03-03T09:00:00")).execute()
    )
    svc.events().patch(
        calendarId=MARIA, eventId=change["id"], body={"summary": "changed"}
    ).execute()
    svc.events().delete(calendarId=MARIA, eventId=gone["id"]).execute()
    instance = f"{series['id']}_20260309T090000Z"
    svc.events().delete(calendarId=MARIA, eventId=instance).execute()

    changes, token2, _ = sync_all(svc, MARIA, syncToken=token)

    by_id = {item["id"]: item for item in changes}
    assert set(by_id) == {added["id"], change["id"], gone["id"], instance}
    assert keep["id"] not in by_id
    assert by_id[change["id"]]["summary"] == "changed"
    assert by_id[gone["id"]] == {
        "kind": "calendar#event",
        "etag": by_id[gone["id"]]["etag"],
        "id": gone["id"],
        "status": "cancelled",
    }
    assert by_id[instance]["status"] == "cancelled"
    assert by_id[instance]["recurringEventId"] == series["id"]
    assert by_id[instance]["originalStartTime"] == {
        "dateTime": "2026-03-09T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    nothing, _, _ = sync_all(svc, MARIA, syncToken=token2)
    assert nothing == []


def test_a_paged_incremental_sync_sends_sync_token_and_page_token_together(emu, svc):
    _, token, _ = sync_all(svc, BOB)
    for n in range(5):
        emu.insert_event(BOB, timed(f"e{n}", "2026-03-02T09:00:00+00:00", tz="UTC"))

    changes, _, pages = sync_all(svc, BOB, syncToken=token, maxResults=2)

    assert len(pages) == 3 and len(changes) == 5
    later = [r for r in emu.requests.http if "pageToken" in r.query]
    assert later and all("syncToken" in r.query for r in later)


def test_single_events_incremental_sync_expands_a_changed_series(emu, svc):
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00", count=3))
    _, token, _ = sync_all(svc, MARIA, singleEvents=True)

    svc.events().patch(
        calendarId=MARIA, eventId=series["id"], body={"summary": "renamed"}
    ).execute()
    changes, _, _ = sync_all(svc, MARIA, syncToken=token, singleEvents=True)

    assert [c["summary"] for c in changes] == ["renamed"] * 3
    assert all(c["recurringEventId"] == series["id"] for c in changes)


def test_a_windowed_full_sync_still_issues_a_token(emu, svc):
    emu.insert_event(BOB, timed("old", "2025-01-01T09:00:00+00:00", tz="UTC"))
    emu.insert_event(BOB, timed("new", "2026-03-02T09:00:00+00:00", tz="UTC"))

    items, token, _ = sync_all(svc, BOB, timeMin="2026-01-01T00:00:00Z")
    emu.insert_event(BOB, timed("later", "2026-05-02T09:00:00+00:00", tz="UTC"))
    changes, _, _ = sync_all(svc, BOB, syncToken=token)

    assert [i["summary"] for i in items] == ["new"]
    assert [c["summary"] for c in changes] == ["later"]


def test_expired_or_garbled_sync_tokens_get_410_full_sync_required(emu, svc):
    _, token, _ = sync_all(svc, BOB)

    emu.expire_sync_tokens()
    status, body = http_error(svc.events().list(calendarId=BOB, syncToken=token))
    assert (status, body) == (410, FULL_SYNC_REQUIRED)
    assert http_error(svc.events().list(calendarId=BOB, syncToken="1" + token)) == (
        410,
        FULL_SYNC_REQUIRED,
    )
    _, fresh, _ = sync_all(svc, BOB)
    assert http_error(svc.events().list(calendarId=MARIA, syncToken=fresh))[0] == 410
    assert sync_all(svc, BOB, syncToken=fresh)[0] == []


def test_sync_tokens_can_age_out(emu, svc, clock):
    _, token, _ = sync_all(svc, BOB)
    emu.sync_token_ttl(3600)
    clock.now += timedelta(hours=2)

    assert http_error(svc.events().list(calendarId=BOB, syncToken=token)) == (
        410,
        FULL_SYNC_REQUIRED,
    )


FORBIDDEN = {
    "iCalUID": "x@google.com",
    "orderBy": "updated",
    "privateExtendedProperty": "a=1",
    "q": "text",
    "sharedExtendedProperty": "a=1",
    "timeMin": "2026-01-01T00:00:00Z",
    "timeMax": "2027-01-01T00:00:00Z",
    "updatedMin": "2026-01-01T00:00:00Z",
}


def test_parameters_forbidden_with_a_sync_token_are_400(emu, svc):
    _, token, _ = sync_all(svc, BOB)

    for name, value in FORBIDDEN.items():
        status, body = http_error(
            svc.events().list(calendarId=BOB, syncToken=token, **{name: value})
        )
        assert status == 400, name
        assert body["error"]["errors"][0]["reason"] == "invalid"
        assert body["error"]["errors"][0]["location"] == name
    status, body = http_error(svc.events().list(calendarId=BOB, syncToken=token, showDeleted=False))
    assert status == 400 and body["error"]["errors"][0]["location"] == "showDeleted"
    assert sync_all(svc, BOB, syncToken=token, showDeleted=True)[0] == []


# ------------------------------------------------------- recurring series ----
def test_single_events_false_lists_masters_exceptions_and_cancelled_instances(emu, svc):
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00"))
    moved = f"{series['id']}_20260309T090000Z"
    svc.events().patch(
        calendarId=MARIA,
        eventId=moved,
        body={
            "start": {"dateTime": "2026-03-09T15:00:00+01:00"},
            "end": {"dateTime": "2026-03-09T15:30:00+01:00"},
        },
    ).execute()
    svc.events().delete(calendarId=MARIA, eventId=f"{series['id']}_20260316T090000Z").execute()

    items = svc.events().list(calendarId=MARIA).execute()["items"]

    assert [i["id"] for i in items] == [
        series["id"],
        moved,
        f"{series['id']}_20260316T090000Z",
    ]
    master, exception, cancelled = items
    assert master["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert "recurringEventId" not in master
    assert exception["recurringEventId"] == series["id"]
    assert exception["originalStartTime"]["dateTime"] == "2026-03-09T10:00:00+01:00"
    assert exception["start"]["dateTime"] == "2026-03-09T15:00:00+01:00"
    assert exception["sequence"] == 1
    assert set(cancelled) == {
        "kind",
        "etag",
        "id",
        "status",
        "recurringEventId",
        "originalStartTime",
    }


def test_single_events_true_expands_instances_and_omits_masters(emu, svc):
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00"))
    single = emu.insert_event(MARIA, timed("lunch", "2026-03-05T12:00:00"))
    svc.events().patch(
        calendarId=MARIA, eventId=f"{series['id']}_20260316T090000Z", body={"summary": "moved"}
    ).execute()
    svc.events().delete(calendarId=MARIA, eventId=f"{series['id']}_20260309T090000Z").execute()

    listed = svc.events().list(calendarId=MARIA, singleEvents=True, orderBy="startTime").execute()
    with_deleted = (
        svc.events().list(calendarId=MARIA, singleEvents=True, showDeleted=True).execute()
    )

    assert [i["id"] for i in listed["items"]] == [
        f"{series['id']}_20260302T090000Z",
        single["id"],
        f"{series['id']}_20260316T090000Z",
        f"{series['id']}_20260323T090000Z",
    ]
    instance = listed["items"][0]
    assert instance["recurringEventId"] == series["id"]
    assert instance["iCalUID"] == series["iCalUID"]
    assert "recurrence" not in instance
    assert listed["items"][2]["summary"] == "moved"
    assert f"{series['id']}_20260309T090000Z" in [i["id"] for i in with_deleted["items"]]
    status, body = http_error(svc.events().list(calendarId=MARIA, orderBy="startTime"))
    assert status == 400 and body["error"]["errors"][0]["reason"] == "badRequest"


def test_recurrence_is_expanded_in_the_event_zone_across_dst_with_exdates(emu, svc):
    series = emu.insert_event(
        MARIA,
        weekly(
            "1:1", "2026-03-16T10:00:00", more_rules=["EXDATE;TZID=Europe/Berlin:20260330T100000"]
        ),
    )

    instances = svc.events().instances(calendarId=MARIA, eventId=series["id"]).execute()
    assert_schema("Events", instances)

    assert [i["start"]["dateTime"] for i in instances["items"]] == [
        "2026-03-16T10:00:00+01:00",
        "2026-03-23T10:00:00+01:00",
        "2026-04-06T10:00:00+02:00",
    ]
    assert [i["id"].rsplit("_", 1)[1] for i in instances["items"]] == [
        "20260316T090000Z",
        "20260323T090000Z",
        "20260406T080000Z",
    ]
    lowercase = (
        svc.events().get(calendarId=MARIA, eventId=f"{series['id']}_20260406t080000z").execute()
    )
    assert lowercase["originalStartTime"]["dateTime"] == "2026-04-06T10:00:00+02:00"
    status, _ = http_error(
        svc.events().get(calendarId=MARIA, eventId=f"{series['id']}_20260330T080000Z")
    )
    assert status == 404


def test_instance_exceptions_by_patch_put_and_delete(emu, svc):
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00"))
    first, second, third = (
        f"{series['id']}_20260302T090000Z",
        f"{series['id']}_20260309T090000Z",
        f"{series['id']}_20260316T090000Z",
    )
    patched = svc.events().patch(calendarId=MARIA, eventId=first, body={"summary": "p"}).execute()
    body = svc.events().get(calendarId=MARIA, eventId=second).execute()
    body["end"] = {"dateTime": "2026-03-09T10:15:00+01:00", "timeZone": "Europe/Berlin"}
    shortened = svc.events().update(calendarId=MARIA, eventId=second, body=body).execute()
    svc.events().delete(calendarId=MARIA, eventId=third).execute()

    assert_schema("Event", patched)
    assert (patched["id"], patched["summary"], patched["recurringEventId"]) == (
        first,
        "p",
        series["id"],
    )
    assert shortened["end"]["dateTime"] == "2026-03-09T10:15:00+01:00"
    assert svc.events().get(calendarId=MARIA, eventId=third).execute()["status"] == "cancelled"
    assert http_error(svc.events().delete(calendarId=MARIA, eventId=third)) == (410, DELETED)
    shown = svc.events().instances(calendarId=MARIA, eventId=series["id"]).execute()["items"]
    assert [i["id"] for i in shown] == [first, second, f"{series['id']}_20260323T090000Z"]
    everything = (
        svc.events().instances(calendarId=MARIA, eventId=series["id"], showDeleted=True).execute()
    )
    assert third in [i["id"] for i in everything["items"]]
    assert emu.get_event(MARIA, series["id"])["summary"] == "1:1"  # the master is untouched


def test_deleting_a_series_cancels_the_master_and_its_exceptions(emu, svc):
    series = emu.insert_event(MARIA, weekly("1:1", "2026-03-02T10:00:00"))
    exception = f"{series['id']}_20260309T090000Z"
    svc.events().patch(calendarId=MARIA, eventId=exception, body={"summary": "x"}).execute()
    _, token, _ = sync_all(svc, MARIA)

    svc.events().delete(calendarId=MARIA, eventId=series["id"]).execute()

    changes, _, _ = sync_all(svc, MARIA, syncToken=token)
    assert {(c["id"], c["status"]) for c in changes} == {
        (series["id"], "cancelled"),
        (exception, "cancelled"),
    }
    assert svc.events().list(calendarId=MARIA, singleEvents=True).execute()["items"] == []
    shown = svc.events().list(calendarId=MARIA, singleEvents=True, showDeleted=True).execute()
    assert shown["items"] == []  # not the underlying recurring event, nor its instances
    deleted = svc.events().list(calendarId=MARIA, showDeleted=True).execute()["items"]
    assert deleted[0]["summary"] == "1:1"  # the organizer's copy keeps its details


def test_time_min_bounds_the_end_and_time_max_the_start_both_exclusive(emu, svc):
    emu.insert_event(BOB, timed("meeting", "2026-03-02T10:00:00+00:00", minutes=60, tz="UTC"))

    def count(**window: str) -> int:
        return len(svc.events().list(calendarId=BOB, **window).execute()["items"])

    assert count(timeMin="2026-03-02T11:00:00Z") == 0
    assert count(timeMin="2026-03-02T10:59:00Z") == 1
    assert count(timeMax="2026-03-02T10:00:00Z") == 0
    assert count(timeMax="2026-03-02T12:01:00+02:00") == 1
    assert http_error(
        svc.events().list(
            calendarId=BOB, timeMin="2026-03-02T11:00:00Z", timeMax="2026-03-02T10:00:00Z"
        )
    ) == (400, TIME_RANGE_EMPTY)


def test_show_deleted_keeps_tombstones_of_single_events_with_their_details(emu, svc):
    event = emu.insert_event(BOB, timed("gone", "2026-03-02T10:00:00+00:00", tz="UTC"))
    svc.events().delete(calendarId=BOB, eventId=event["id"]).execute()

    hidden = svc.events().list(calendarId=BOB).execute()["items"]
    shown = svc.events().list(calendarId=BOB, showDeleted=True).execute()["items"]

    assert hidden == []
    assert [(i["id"], i["status"], i["summary"]) for i in shown] == [
        (event["id"], "cancelled", "gone")
    ]


# ------------------------------------------------------------------- writes ----
def test_etags_change_on_every_write_and_guard_conditional_requests(emu, svc):
    event = (
        svc.events().insert(calendarId=BOB, body=timed("x", "2026-03-02T10:00:00+00:00")).execute()
    )

    fetched = svc.events().get(calendarId=BOB, eventId=event["id"])
    fetched.headers["If-None-Match"] = event["etag"]
    with pytest.raises(HttpError) as not_modified:
        fetched.execute()
    assert not_modified.value.resp.status == 304

    patch = svc.events().patch(calendarId=BOB, eventId=event["id"], body={"summary": "y"})
    patch.headers["If-Match"] = event["etag"]
    updated = patch.execute()
    assert updated["etag"] != event["etag"] and re.fullmatch(r'"\d+"', updated["etag"])

    stale = svc.events().patch(calendarId=BOB, eventId=event["id"], body={"summary": "z"})
    stale.headers["If-Match"] = event["etag"]
    assert http_error(stale) == (412, CONDITION_NOT_MET)
    stale_delete = svc.events().delete(calendarId=BOB, eventId=event["id"])
    stale_delete.headers["If-Match"] = event["etag"]
    assert http_error(stale_delete) == (412, CONDITION_NOT_MET)
    again = svc.events().get(calendarId=BOB, eventId=event["id"])
    again.headers["If-None-Match"] = event["etag"]
    assert again.execute()["summary"] == "y"


def test_a_client_supplied_id_makes_insert_idempotent(emu, svc):
    key = uuid.uuid4().hex  # a UUID without hyphens is base32hex
    body = timed("booked", "2026-03-02T10:00:00+00:00", id=key)

    created = svc.events().insert(calendarId=BOB, body=body).execute()
    assert created["id"] == key
    assert http_error(svc.events().insert(calendarId=BOB, body=body)) == (409, DUPLICATE)
    svc.events().delete(calendarId=BOB, eventId=key).execute()
    assert http_error(svc.events().insert(calendarId=BOB, body=body)) == (409, DUPLICATE)
    assert http_error(svc.events().delete(calendarId=BOB, eventId=key)) == (410, DELETED)
    for bad in ("Has-Hyphens-123", "abcd", "wxyz12345", "x" * 1025):
        status, error = http_error(svc.events().insert(calendarId=BOB, body={**body, "id": bad}))
        assert (status, error) == (400, INVALID_ID), bad


def test_insert_fills_the_fields_google_sets(emu, svc):
    event = (
        svc.events()
        .insert(
            calendarId=MARIA,
            body=timed(
                "1:1",
                "2026-03-02T10:00:00",
                attendees=[{"email": MARIA}, {"email": BOB, "responseStatus": "accepted"}],
            ),
        )
        .execute()
    )

    assert_schema("Event", event)
    assert event["status"] == "confirmed" and event["sequence"] == 0
    assert event["iCalUID"] == f"{event['id']}@google.com"
    assert event["organizer"] == {"email": MARIA, "self": True}
    assert event["creator"] == {"email": MARIA, "self": True}
    assert event["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert event["created"] == event["updated"] == "2026-03-01T00:00:00.000Z"
    assert [(a["email"], a["responseStatus"]) for a in event["attendees"]] == [
        (MARIA, "needsAction"),
        (BOB, "accepted"),
    ]
    assert event["attendees"][0]["self"] is True and event["attendees"][0]["organizer"] is True
    status, body = http_error(
        svc.events().insert(
            calendarId=MARIA,
            body={"start": {"date": "2026-03-02"}, "end": {"dateTime": "2026-03-02T10:00:00Z"}},
        )
    )
    assert status == 400 and body["error"]["message"].startswith("Start and end times must")
    status, body = http_error(
        svc.events().insert(
            calendarId=MARIA,
            body=timed("x", "2026-03-02T10:00:00", recurrence=["RRULE:FREQ=NEVER"]),
        )
    )
    assert status == 400
    assert http_error(svc.events().get(calendarId="nobody@example.com", eventId="abcde")) == (
        404,
        NOT_FOUND,
    )


def test_sequence_grows_on_time_changes_and_updated_ignores_reminders(emu, svc, clock):
    event = (
        svc.events().insert(calendarId=BOB, body=timed("x", "2026-03-02T10:00:00+00:00")).execute()
    )
    clock.now += timedelta(minutes=5)

    renamed = (
        svc.events().patch(calendarId=BOB, eventId=event["id"], body={"summary": "y"}).execute()
    )
    moved = (
        svc.events()
        .patch(
            calendarId=BOB,
            eventId=event["id"],
            body={"start": {"dateTime": "2026-03-02T09:00:00Z"}},
        )
        .execute()
    )
    clock.now += timedelta(minutes=5)
    reminded = (
        svc.events()
        .patch(
            calendarId=BOB,
            eventId=event["id"],
            body={"reminders": {"useDefault": False, "overrides": []}},
        )
        .execute()
    )

    assert (renamed["sequence"], moved["sequence"]) == (0, 1)
    assert renamed["updated"] == "2026-03-01T00:05:00.000Z"
    assert reminded["updated"] == moved["updated"] and reminded["etag"] != moved["etag"]
    status, body = http_error(
        svc.events().patch(calendarId=BOB, eventId=event["id"], body={"sequence": 0})
    )
    assert status == 400 and "sequence" in body["error"]["message"]


def test_extended_properties_are_trimmed_merged_by_patch_and_replaced_by_update(emu, svc):
    body = timed(
        "x",
        "2026-03-02T10:00:00+00:00",
        extendedProperties={
            "private": {"k" * 44: "kept", "k" * 45: "dropped", "long": "v" * 2000},
            "shared": {"agenda": "https://docs.example.com/a"},
        },
    )
    event = svc.events().insert(calendarId=BOB, body=body).execute()
    private = event["extendedProperties"]["private"]
    assert set(private) == {"k" * 44, "long"} and len(private["long"]) == 1024

    patched = (
        svc.events()
        .patch(
            calendarId=BOB,
            eventId=event["id"],
            body={"extendedProperties": {"private": {"calsync-key": "pair:1", "long": None}}},
        )
        .execute()
    )
    assert patched["extendedProperties"] == {
        "private": {"k" * 44: "kept", "calsync-key": "pair:1"},
        "shared": {"agenda": "https://docs.example.com/a"},
    }
    replaced = (
        svc.events()
        .update(calendarId=BOB, eventId=event["id"], body=timed("x", "2026-03-02T10:00:00+00:00"))
        .execute()
    )
    assert "extendedProperties" not in replaced


def test_extended_property_filters_must_all_match(emu, svc):
    both = emu.insert_event(
        BOB,
        timed(
            "both",
            "2026-03-02T10:00:00+00:00",
            extendedProperties={"private": {"a": "1", "b": "2"}},
        ),
    )
    only_a = emu.insert_event(
        BOB, timed("a", "2026-03-02T11:00:00+00:00", extendedProperties={"private": {"a": "1"}})
    )
    shared = emu.insert_event(
        BOB,
        timed(
            "shared",
            "2026-03-02T12:00:00+00:00",
            extendedProperties={"private": {"a": "1"}, "shared": {"s": "x=y"}},
        ),
    )

    def ids(**filters: Any) -> set[str]:
        return {i["id"] for i in svc.events().list(calendarId=BOB, **filters).execute()["items"]}

    assert ids(privateExtendedProperty="a=1") == {both["id"], only_a["id"], shared["id"]}
    assert ids(privateExtendedProperty=["a=1", "b=2"]) == {both["id"]}  # AND, not OR
    assert ids(privateExtendedProperty="a=1", sharedExtendedProperty="s=x=y") == {shared["id"]}
    assert ids(sharedExtendedProperty="s=x=y") == {shared["id"]}
    assert ids(privateExtendedProperty="s=x=y") == set()  # private and shared are separate
    assert ids(iCalUID=only_a["iCalUID"]) == {only_a["id"]}
    assert ids(q="SHARED") == {shared["id"]}


def test_import_is_keyed_by_ical_uid(emu, svc):
    body = timed("imported", "2026-03-02T10:00:00+00:00", iCalUID="abc@example.org")
    body["organizer"] = {"email": "someone@example.org"}

    first = svc.events().import_(calendarId=BOB, body=body).execute()
    second = svc.events().import_(calendarId=BOB, body={**body, "summary": "again"}).execute()

    assert first["id"] == second["id"] and second["summary"] == "again"
    assert first["organizer"] == {"email": "someone@example.org"}
    status, body = http_error(
        svc.events().import_(calendarId=BOB, body=timed("x", "2026-03-02T10:00:00Z"))
    )
    assert status == 400 and body["error"]["errors"][0]["reason"] == "required"


def test_concurrent_writers_do_not_lose_events(emu):
    def write(n: int) -> None:
        with service(emu) as client:
            for i in range(8):
                body = timed(f"{n}-{i}", "2026-03-02T10:00:00Z")
                client.events().insert(calendarId=BOB, body=body).execute()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    events = emu.events(BOB)
    assert len(events) == 48
    assert len({e["etag"] for e in events}) == 48


# ---------------------------------------------------------------- freebusy ----
def test_freebusy_expands_series_skips_free_events_and_reports_errors_inside_a_200(emu, svc):
    series = emu.insert_event(
        MARIA,
        weekly(
            "1:1", "2026-03-02T10:00:00", attendees=[{"email": MARIA, "responseStatus": "accepted"}]
        ),
    )
    svc.events().delete(calendarId=MARIA, eventId=f"{series['id']}_20260309T090000Z").execute()
    emu.insert_event(MARIA, timed("overlap", "2026-03-02T10:15:00", minutes=60))
    emu.insert_event(MARIA, timed("focus", "2026-03-03T10:00:00", transparency="transparent"))
    declined = timed(
        "declined",
        "2026-03-04T10:00:00",
        attendees=[{"email": MARIA, "responseStatus": "declined"}],
    )
    emu.insert_event(MARIA, declined)
    gone = emu.insert_event(MARIA, timed("gone", "2026-03-05T10:00:00"))
    emu.delete_event(MARIA, gone["id"])

    result = (
        svc.freebusy()
        .query(
            body={
                "timeMin": "2026-03-01T00:00:00Z",
                "timeMax": "2026-03-20T00:00:00Z",
                "items": [{"id": MARIA}, {"id": "stranger@example.com"}],
            }
        )
        .execute()
    )

    assert_schema("FreeBusyResponse", result)
    assert result["timeMin"] == "2026-03-01T00:00:00.000Z"
    assert result["calendars"][MARIA] == {
        "busy": [
            {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:15:00Z"},
            {"start": "2026-03-16T09:00:00Z", "end": "2026-03-16T09:30:00Z"},
        ]
    }
    assert result["calendars"]["stranger@example.com"] == {
        "errors": [{"domain": "global", "reason": "notFound"}],
        "busy": [],
    }


def test_freebusy_renders_in_the_requested_zone_and_rejects_bad_ranges(emu, svc):
    emu.insert_event(BOB, timed("x", "2026-03-02T10:00:00+00:00", tz="UTC"))

    local = (
        svc.freebusy()
        .query(
            body={
                "timeMin": "2026-03-01T00:00:00Z",
                "timeMax": "2026-03-03T00:00:00Z",
                "timeZone": "Europe/Berlin",
                "items": [{"id": BOB}],
            }
        )
        .execute()
    )
    assert local["calendars"][BOB]["busy"] == [
        {"start": "2026-03-02T11:00:00+01:00", "end": "2026-03-02T11:30:00+01:00"}
    ]
    too_long = {
        "timeMin": "2026-01-01T00:00:00Z",
        "timeMax": "2026-04-02T00:00:00Z",
        "items": [{"id": BOB}],
    }
    assert http_error(svc.freebusy().query(body=too_long)) == (400, TIME_RANGE_TOO_LONG)
    ninety = {
        "timeMin": "2026-01-01T00:00:00Z",
        "timeMax": "2026-04-01T00:00:00Z",
        "items": [{"id": BOB}],
    }
    assert svc.freebusy().query(body=ninety).execute()["calendars"][BOB]["busy"]
    empty = {"timeMin": "2026-03-02T00:00:00Z", "timeMax": "2026-03-02T00:00:00Z", "items": []}
    assert http_error(svc.freebusy().query(body=empty)) == (400, TIME_RANGE_EMPTY)


# ------------------------------------------------------------ calendar list ----
def test_calendar_list_lists_every_calendar_with_the_primary_one_marked(emu, svc):
    listed = svc.calendarList().list().execute()

    assert_schema("CalendarList", listed)
    assert [(c["id"], c.get("primary", False)) for c in listed["items"]] == [
        (MARIA, True),
        (BOB, False),
    ]
    assert listed["items"][0]["timeZone"] == "Europe/Berlin"
    assert "nextSyncToken" in listed
    primary = (
        svc.events().insert(calendarId="primary", body=timed("p", "2026-03-02T10:00:00")).execute()
    )
    assert primary["organizer"]["email"] == MARIA


# ------------------------------------------------------------------- batch ----
def test_a_batch_of_list_calls_is_one_http_request(emu, svc):
    emu.insert_event(BOB, timed("x", "2026-03-02T10:00:00+00:00"))
    responses: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        responses[request_id] = exception or response

    batch = BatchHttpRequest(callback=collect, batch_uri=emu.batch_uri)
    for _ in range(50):
        batch.add(svc.events().list(calendarId=BOB))
    batch.add(svc.events().get(calendarId=BOB, eventId="missing1"))
    before_http, before_calls = len(emu.requests), len(emu.requests.calls)
    batch.execute()

    assert len(emu.requests) - before_http == 1
    assert len(emu.requests.calls) - before_calls == 51
    assert emu.requests.http[-1].path == "/batch/calendar/v3"
    assert emu.requests.http[-1].parts == 51
    assert all(r.batch == emu.requests.calls[-1].batch for r in emu.requests.calls[-51:])
    lists = [responses[str(n)] for n in range(1, 51)]
    for page in lists:
        assert_schema("Events", page)
        assert [i["summary"] for i in page["items"]] == ["x"]
    missing = responses["51"]
    assert isinstance(missing, HttpError) and json.loads(missing.content) == NOT_FOUND


def test_a_batch_envelope_is_200_while_its_calls_are_rate_limited(emu, svc):
    responses: dict[str, Any] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: responses.__setitem__(rid, exc or resp),
        batch_uri=emu.batch_uri,
    )
    for calendar in (BOB, BOB, MARIA):
        batch.add(svc.events().list(calendarId=calendar))
    emu.rate_limit(2, "429")

    batch.execute()

    assert emu.requests.http[-1].status == 200
    assert [json.loads(responses[k].content) for k in ("1", "2")] == [RATE_LIMIT_429] * 2
    assert responses["3"]["kind"] == "calendar#events"


def test_a_batch_of_more_than_1000_calls_is_refused(emu):
    boundary = "b0undary"
    part = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <x + {{n}}>\r\n\r\n"
        "GET /calendar/v3/users/me/calendarList HTTP/1.1\r\n\r\n"
    )
    payload = "".join(part.format(n=n) for n in range(1001)) + f"--{boundary}--\r\n"
    request = urllib.request.Request(
        emu.batch_uri,
        data=payload.encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
        method="POST",
    )

    status, body = refused(request)
    assert status == 400 and body["error"]["errors"][0]["reason"] == "invalid"


# ------------------------------------------------------------------ faults ----
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("userRateLimitExceeded", USER_RATE_LIMIT),
        ("rateLimitExceeded", RATE_LIMIT_403),
        ("429", RATE_LIMIT_429),
        ("quotaExceeded", QUOTA_EXCEEDED),
    ],
)
def test_rate_limit_faults_answer_with_googles_bodies(emu, svc, kind, expected):
    emu.rate_limit(1, kind)

    assert http_error(svc.events().list(calendarId=BOB)) == (expected["error"]["code"], expected)
    assert svc.events().list(calendarId=BOB).execute()["items"] == []


def test_fail_5xx_answers_backend_error(emu, svc):
    emu.fail_5xx(1)

    assert http_error(svc.calendarList().list()) == (503, BACKEND_ERROR)


@pytest.mark.parametrize("kind", ["userRateLimitExceeded", "rateLimitExceeded", "429"])
def test_googleapiclient_retries_rate_limits(emu, svc, kind):
    emu.rate_limit(2, kind)
    before = len(emu.requests)

    result = no_sleep(svc.events().list(calendarId=BOB)).execute(num_retries=3)

    assert result["kind"] == "calendar#events"
    assert len(emu.requests) - before == 3


def test_googleapiclient_retries_backend_errors_but_not_quota_exceeded(emu, svc):
    emu.fail_5xx(1)
    assert no_sleep(svc.events().list(calendarId=BOB)).execute(num_retries=2)["items"] == []

    emu.rate_limit(5, "quotaExceeded")
    before = len(emu.requests)
    with pytest.raises(HttpError) as info:
        no_sleep(svc.events().list(calendarId=BOB)).execute(num_retries=3)
    assert json.loads(info.value.content) == QUOTA_EXCEEDED
    assert len(emu.requests) - before == 1


def test_fail_rate_is_a_deterministic_fraction_of_calls(clock):
    def run() -> list[int]:
        with GoogleEmulator(clock=clock) as emulator, service(emulator) as client:
            emulator.add_calendar(BOB)
            emulator.fail_rate(0.3, seed=7)
            statuses = []
            for _ in range(60):
                try:
                    client.events().list(calendarId=BOB).execute()
                    statuses.append(200)
                except HttpError as exc:
                    body = json.loads(exc.content)
                    assert body in (USER_RATE_LIMIT, RATE_LIMIT_403, RATE_LIMIT_429, BACKEND_ERROR)
                    statuses.append(exc.resp.status)
            return statuses

    first, second = run(), run()
    assert first == second
    assert 8 <= sum(s != 200 for s in first) <= 30


def test_latency_delays_every_request(emu, svc):
    emu.latency(0.2)
    started = time.monotonic()
    svc.calendarList().list().execute()
    assert time.monotonic() - started >= 0.2


def test_faults_can_be_flipped_from_another_process_over_http(emu, svc):
    _, token, _ = sync_all(svc, BOB)

    def control(path: str, payload: dict | None = None) -> urllib.request.Request:
        return urllib.request.Request(
            emu.url + "_emulator/" + path,
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Content-Type": "application/json"},
            method="POST" if payload is not None else "GET",
        )

    def call(path: str, payload: dict | None = None) -> dict:
        with urllib.request.urlopen(control(path, payload), timeout=5) as response:
            return json.loads(response.read())

    state = call(
        "faults",
        {"rate_limit": {"n": 1, "kind": "userRateLimitExceeded"}, "expire_sync_tokens": True},
    )
    assert state["rate_limit"] == {"n": 1, "kind": "userRateLimitExceeded"}
    assert http_error(svc.events().list(calendarId=BOB)) == (403, USER_RATE_LIMIT)
    assert http_error(svc.events().list(calendarId=BOB, syncToken=token)) == (
        410,
        FULL_SYNC_REQUIRED,
    )
    assert call("requests")["http"] == len(emu.requests)
    status, body = refused(control("faults", {"no_such_fault": 1}))
    assert status == 400 and "no_such_fault" in body["error"]["message"]


# -------------------------------------------------------------------- push ----
class Receiver:
    """A loopback webhook that records the headers of every notification."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.signal = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.signal:
                    receiver.messages.append(dict(self.headers.items()))
                    receiver.signal.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        with self.signal:
            self.signal.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def test_watch_sends_sync_then_exists_until_the_channel_is_stopped(emu, svc, receiver):
    channel = (
        svc.events()
        .watch(
            calendarId=BOB,
            body={"id": "chan-1", "type": "web_hook", "address": receiver.url, "token": "secret"},
        )
        .execute()
    )
    assert_schema("Channel", channel)
    assert channel["kind"] == "api#channel" and channel["id"] == "chan-1"
    assert int(channel["expiration"]) == int((NOW + timedelta(days=7)).timestamp() * 1000)
    assert channel["token"] == "secret"

    sync = receiver.wait(1)[0]
    svc.events().insert(calendarId=BOB, body=timed("x", "2026-03-02T10:00:00+00:00")).execute()
    emu.insert_event(MARIA, timed("other calendar", "2026-03-02T10:00:00"))
    exists = receiver.wait(2)[1]

    assert sync["X-Goog-Resource-State"] == "sync" and sync["X-Goog-Message-Number"] == "1"
    assert exists["X-Goog-Resource-State"] == "exists" and exists["X-Goog-Message-Number"] == "2"
    for message in (sync, exists):
        assert message["X-Goog-Channel-ID"] == "chan-1"
        assert message["X-Goog-Channel-Token"] == "secret"
        assert message["X-Goog-Resource-ID"] == channel["resourceId"]
        assert message["X-Goog-Resource-URI"] == channel["resourceUri"]
    svc.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
    # A stopped channel stays quiet: watch with a second channel and change the
    # calendar twice. Deliveries go out in order, so once the second channel has
    # heard of both changes, anything chan-1 would have sent has been sent.
    svc.events().watch(
        calendarId=BOB,
        body={"id": "chan-2", "type": "web_hook", "address": receiver.url, "token": "two"},
    ).execute()
    emu.insert_event(BOB, timed("quiet", "2026-03-02T12:00:00+00:00"))
    emu.insert_event(BOB, timed("quieter", "2026-03-02T13:00:00+00:00"))
    later = receiver.wait(5)[2:]
    assert [m["X-Goog-Channel-ID"] for m in later] == ["chan-2"] * 3
    states = [d.state for d in emu.wait_for_deliveries(5)]
    assert states == ["sync", "exists", "sync", "exists", "exists"]
    status, _ = http_error(
        svc.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]})
    )
    assert status == 404


def test_watch_requires_https_except_on_loopback(emu, svc):
    body = {"id": "c2", "type": "web_hook", "address": "http://example.com/hook"}

    status, error = http_error(svc.events().watch(calendarId=BOB, body=body))

    assert status == 400 and error["error"]["errors"][0]["reason"] == "push.webhookUrlNotHttps"


# ------------------------------------------------------------------ seeding ----
def test_seeding_from_json(clock):
    with GoogleEmulator(clock=clock, seed=FIXTURES / "team.json") as emu, service(emu) as svc:
        instances = (
            svc.events()
            .list(calendarId="primary", singleEvents=True, orderBy="startTime")
            .execute()
        )
        stored = svc.events().list(calendarId=MARIA).execute()

    assert_schema("Events", instances)
    assert [(i["summary"], i["start"]["dateTime"]) for i in instances["items"]] == [
        ("Maria / Bob 1:1", "2026-03-02T10:00:00+01:00"),
        ("Focus", "2026-03-03T09:00:00+01:00"),
        ("Maria / Bob 1:1 (moved)", "2026-03-09T14:00:00+01:00"),
        ("Maria / Bob 1:1", "2026-03-30T10:00:00+02:00"),
        ("Maria / Bob 1:1", "2026-04-06T10:00:00+02:00"),
    ]
    assert instances["items"][0]["extendedProperties"] == {"private": {"calsync-pair": "maria+bob"}}
    assert stored["items"][0]["id"] == "mariabob11"
    assert [i["status"] for i in stored["items"]] == [
        "confirmed",
        "confirmed",
        "confirmed",
        "cancelled",
    ]


def test_seeding_from_ics_keeps_overrides_cancellations_and_attendance(clock):
    with (
        GoogleEmulator(
            clock=clock, seed=[FIXTURES / "alex@example.com.ics", FIXTURES / "holidays.ics"]
        ) as emu,
        service(emu) as svc,
    ):
        calendars = [c["id"] for c in svc.calendarList().list().execute()["items"]]
        single = (
            svc.events()
            .list(calendarId="alex@example.com", singleEvents=True, orderBy="startTime")
            .execute()
        )
        full = svc.events().list(calendarId="alex@example.com").execute()
        busy = (
            svc.freebusy()
            .query(
                body={
                    "timeMin": "2026-03-05T00:00:00Z",
                    "timeMax": "2026-03-07T00:00:00Z",
                    "items": [{"id": "alex@example.com"}],
                }
            )
            .execute()
        )

    assert calendars == ["alex@example.com", "team-holidays@example.com"]
    assert_schema("Events", single)
    assert single["summary"] == "Alex Chen" and single["timeZone"] == "America/New_York"
    assert [
        (i["summary"], i["start"].get("dateTime") or i["start"]["date"]) for i in single["items"]
    ] == [
        ("Alex / Dana 1:1", "2026-03-03T09:00:00-05:00"),
        ("Team offsite", "2026-03-05"),
        ("Alex / Dana 1:1 (short)", "2026-03-10T16:00:00-04:00"),
        ("Alex / Dana 1:1", "2026-03-31T09:00:00-04:00"),
        ("Alex / Dana 1:1", "2026-04-07T09:00:00-04:00"),
        ("Alex / Dana 1:1", "2026-04-14T09:00:00-04:00"),
    ]
    master = full["items"][0]
    assert master["recurrence"] == [
        "RRULE:FREQ=WEEKLY;UNTIL=20260414T130000Z;BYDAY=TU",
        "EXDATE;TZID=America/New_York:20260317T090000",
    ]
    assert master["iCalUID"] == "alex-dana-1on1@example.com"
    assert master["sequence"] == 2 and master["created"] == "2026-02-01T12:00:00.000Z"
    assert master["organizer"] == {
        "email": "alex@example.com",
        "displayName": "Alex Chen",
        "self": True,
    }
    assert [
        (a["email"], a["responseStatus"], a.get("optional", False)) for a in master["attendees"]
    ] == [
        ("alex@example.com", "accepted", False),
        ("dana@example.com", "tentative", False),
        ("sam@example.com", "needsAction", True),
    ]
    short = single["items"][2]
    assert short["attendees"][1]["responseStatus"] == "declined"
    assert short["originalStartTime"]["dateTime"] == "2026-03-10T09:00:00-04:00"
    cancelled = [i for i in full["items"] if i["status"] == "cancelled"]
    assert [c["originalStartTime"]["dateTime"] for c in cancelled] == ["2026-03-24T09:00:00-04:00"]
    assert busy["calendars"]["alex@example.com"]["busy"] == []  # the offsite is TRANSP:TRANSPARENT


def test_a_bad_seed_names_the_file_calendar_and_event(tmp_path):
    with pytest.raises(SeedError) as info:
        GoogleEmulator(seed=FIXTURES / "bad-event.json")
    message = str(info.value)
    assert "bad-event.json" in message and "eve@example.com" in message and "event #2" in message
    assert "Invalid resource id value." in message
    broken = tmp_path / "broken.json"
    broken.write_text('{"calendars": {"x@example.com": [}', encoding="utf-8")
    with pytest.raises(SeedError, match=r"broken.json: line 1: invalid JSON"):
        GoogleEmulator(seed=broken)


def test_the_command_line_serves_a_seeded_emulator(tmp_path):
    url_file = tmp_path / "url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calsync_emulators.google",
            "--port",
            "0",
            "--seed",
            str(FIXTURES / "team.json"),
            "--url-file",
            str(url_file),
        ],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (url_file.exists() and url_file.read_text().strip()):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        url = url_file.read_text().strip()
        with urllib.request.urlopen(
            url + "calendar/v3/users/me/calendarList", timeout=5
        ) as response:
            listed = json.loads(response.read())
    finally:
        process.terminate()
        process.communicate(timeout=10)

    assert [c["id"] for c in listed["items"]] == [MARIA, BOB]
    assert process.returncode == 0


def test_list_renders_the_requested_zone_trims_attendees_and_filters_by_update(emu, svc, clock):
    emu.insert_event(
        BOB,
        timed(
            "crowd",
            "2026-03-02T10:00:00+00:00",
            tz="UTC",
            attendees=[{"email": BOB}, {"email": "a@example.com"}, {"email": "b@example.com"}],
        ),
    )
    clock.now += timedelta(days=1)
    emu.insert_event(BOB, timed("later", "2026-03-03T10:00:00+00:00", tz="UTC"))

    listed = svc.events().list(calendarId=BOB, timeZone="Asia/Tokyo", maxAttendees=1).execute()
    recent = svc.events().list(calendarId=BOB, updatedMin="2026-03-01T12:00:00Z").execute()

    crowd = listed["items"][0]
    assert crowd["start"] == {"dateTime": "2026-03-02T19:00:00+09:00", "timeZone": "UTC"}
    assert crowd["attendees"] == [
        {"email": BOB, "responseStatus": "needsAction", "organizer": True, "self": True}
    ]
    assert crowd["attendeesOmitted"] is True
    assert [i["summary"] for i in recent["items"]] == ["later"]


def test_malformed_requests_get_googles_400_and_404_bodies(emu):
    def send(method: str, path: str, data: bytes | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(emu.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        return refused(request)

    assert send("POST", f"calendar/v3/calendars/{BOB}/events", b"{") == (
        400,
        google_error(400, "parseError", "Parse Error"),
    )
    assert send("GET", "calendars/bob@example.com/events") == (404, NOT_FOUND)
    status, body = send("POST", f"calendar/v3/calendars/{BOB}/events/x1234/move")
    assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"


def test_invitations_reach_attendee_calendars_and_follow_the_organizer():
    """Google, within one domain: the invited event sits on the attendee's calendar too."""
    with GoogleEmulator(port=0) as emu:
        emu.add_calendar("maria@example.com")
        emu.add_calendar("dev@example.com")
        created = emu.insert_event("maria@example.com", {
            "summary": "1:1 make-up",
            "start": {"dateTime": "2026-11-24T15:00:00Z"},
            "end": {"dateTime": "2026-11-24T15:30:00Z"},
            "attendees": [{"email": "maria@example.com"}, {"email": "dev@example.com"}],
            "extendedProperties": {"private": {"calsyncKey": "k"}},
        })
        copy = emu.get_event("dev@example.com", created["id"])
        assert copy["iCalUID"] == created["iCalUID"]
        assert "private" not in copy.get("extendedProperties", {})  # per-calendar
        emu.patch_event("maria@example.com", created["id"], {"summary": "moved"})
        assert emu.get_event("dev@example.com", created["id"])["summary"] == "moved"
        emu.delete_event("maria@example.com", created["id"])
        assert emu.get_event("dev@example.com", created["id"])["status"] == "cancelled"
