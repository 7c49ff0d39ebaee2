"""Seed the Google Calendar emulator from JSON or iCalendar files.

JSON (events in API shape, as ``events.insert``/``events.import`` take them)::

    {"primary": "maria@example.com",
     "calendars": {
        "maria@example.com": [ {event}, ... ],
        "team@example.com": {"summary": "Team", "timeZone": "Europe/Berlin",
                             "owner": "maria@example.com", "events": [ ... ]}}}

An event may carry ``id`` (base32hex, as a client-supplied id), ``iCalUID``,
``organizer``, ``created``/``updated`` and ``status: "cancelled"`` (a tombstone).
An instance exception is an event with ``recurringEventId`` (its master's
``id``) and ``originalStartTime``; it is applied after every master.

iCalendar (``.ics``): one calendar per file. Its id is the file name stem when
that looks like an address (``maria@example.com.ics``), else ``X-WR-CALNAME``,
else the stem; ``X-WR-TIMEZONE`` is its zone. VEVENTs become API events:
RRULE/RDATE/EXDATE become ``recurrence`` lines in the master's zone,
RECURRENCE-ID overrides become instance exceptions (STATUS:CANCELLED ones are
cancelled instances), ORGANIZER and ATTENDEE (PARTSTAT -> ``responseStatus``,
ROLE=OPT-PARTICIPANT -> ``optional``) are kept, and the event id is derived
from the UID so it is stable across runs.

Bad input raises :class:`SeedError` naming the file, the calendar and the event.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from calsync_emulators.google_directory import load_users
from calsync_emulators.google_errors import ApiError
from calsync_emulators.google_state import GoogleState
from calsync_emulators.seed_files import SeedError, read_ics, read_json, seed_files
from calsync_emulators.zones import TimeFormatError, resolve_zone, zone

Json = dict[str, Any]

_PARTSTAT = {
    "NEEDS-ACTION": "needsAction",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "needsAction",
}


def load_seed(state: GoogleState, paths: str | Path | Iterable[str | Path]) -> list[str]:
    """Load JSON/ICS files (or every such file in a directory); the calendar ids loaded."""
    loaded: list[str] = []
    for path in seed_files(paths):
        if path.suffix.lower() == ".ics":
            loaded.append(load_ics(state, path))
        else:
            loaded += load_json(state, path)
    return loaded


def _insert_all(state: GoogleState, path: Path, calendar_id: str, events: list[Json]) -> None:
    masters = [e for e in events if not (isinstance(e, dict) and e.get("originalStartTime"))]
    exceptions = [e for e in events if isinstance(e, dict) and e.get("originalStartTime")]
    for number, body in enumerate(masters + exceptions, start=1):
        label = body.get("iCalUID") or body.get("id") if isinstance(body, dict) else None
        where = f"{path}: calendar {calendar_id}: event #{number}"
        where += f" ({label})" if label else ""
        if not isinstance(body, dict):
            raise SeedError(f"{where}: an event must be a JSON object")
        try:
            state.insert_event(calendar_id, body, mode="seed")
        except ApiError as exc:
            raise SeedError(f"{where}: {exc.message}") from None


def load_json(state: GoogleState, path: Path) -> list[str]:
    document = read_json(path)
    if isinstance(document, dict) and "users" in document:
        try:
            load_users(state.directory, document["users"], str(path))
        except ValueError as exc:
            raise SeedError(str(exc)) from None
        document = {"calendars": {}, **document}
    calendars = document.get("calendars") if isinstance(document, dict) else None
    if not isinstance(calendars, dict):
        raise SeedError(f'{path}: expected {{"calendars": {{"<calendar id>": [events...]}}}}')
    for calendar_id, spec in calendars.items():
        settings: Json = {}
        events = spec
        if isinstance(spec, dict):
            settings, events = spec, spec.get("events", [])
        if not isinstance(events, list):
            raise SeedError(f"{path}: calendar {calendar_id}: events must be a list")
        try:
            state.add_calendar(
                calendar_id,
                settings.get("owner"),
                summary=settings.get("summary"),
                time_zone=settings.get("timeZone", "UTC"),
            )
        except TimeFormatError as exc:
            raise SeedError(f"{path}: calendar {calendar_id}: {exc}") from None
        _insert_all(state, path, calendar_id, events)
    primary = document.get("primary")
    if isinstance(primary, str):
        state.store.primary = primary
    return list(calendars)


def event_id_for_uid(uid: str) -> str:
    """A stable base32hex event id for an iCalendar UID."""
    digest = hashlib.sha1(uid.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").lower().rstrip("=")


def _zone_key(value: datetime) -> str | None:
    key = getattr(value.tzinfo, "key", None)
    if key:
        return str(key)
    name = value.tzname()
    if name:
        try:
            zone(name)
            return name
        except TimeFormatError:
            pass
    return "UTC" if value.utcoffset() == timedelta(0) else None


def _event_time(value: date | datetime, floating_tz: str) -> Json:
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(floating_tz))
    key = _zone_key(value)
    if key is None:
        return {"dateTime": value.astimezone(UTC).isoformat()}
    return {"dateTime": value.isoformat(), "timeZone": key}


def _date_lines(name: str, prop: Any, start: date | datetime, floating_tz: str) -> list[str]:
    values: list[date | datetime] = []
    for item in prop if isinstance(prop, list) else [prop]:
        values += [entry.dt for entry in item.dts]
    if not values:
        return []
    if not isinstance(start, datetime):
        days = sorted({v.date() if isinstance(v, datetime) else v for v in values})
        return [f"{name};VALUE=DATE:" + ",".join(d.strftime("%Y%m%d") for d in days)]
    tz_key = _zone_key(start) if start.tzinfo else floating_tz
    tz = zone(tz_key or "UTC")
    moments = []
    for value in values:
        if not isinstance(value, datetime):
            value = datetime.combine(value, start.time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        moments.append(value.astimezone(tz).strftime("%Y%m%dT%H%M%S"))
    return [f"{name};TZID={tz.key}:" + ",".join(moments)]


def _person(prop: Any) -> Json:
    address = str(prop)
    if address.lower().startswith("mailto:"):
        address = address[7:]
    person: Json = {"email": address}
    name = prop.params.get("CN") if hasattr(prop, "params") else None
    if name:
        person["displayName"] = str(name)
    return person


def _time_of(prop: Any) -> date | datetime:
    """A DTSTART-like value in its IANA zone when its TZID names one.

    Outlook writes Windows names (``TZID:AUS Eastern Standard Time``) with a
    VTIMEZONE of its own; icalendar gets the instant right but the zone has no
    IANA key, and a series expanded in UTC lands on the wrong weekday.
    """
    value = prop.dt
    tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
    if isinstance(value, datetime) and value.tzinfo is not None and tzid:
        try:
            named = resolve_zone(str(tzid))
        except TimeFormatError:
            return value
        return value.astimezone(named)
    return value


def _vevent_to_body(vevent: Any, floating_tz: str, where: str) -> Json:
    uid = str(vevent.get("UID") or "")
    if not uid:
        raise SeedError(f"{where}: a VEVENT has no UID")
    where = f"{where}: event {uid}"
    if vevent.get("DTSTART") is None:
        raise SeedError(f"{where}: no DTSTART")
    start = _time_of(vevent.get("DTSTART"))
    if vevent.get("DTEND") is not None:
        end = _time_of(vevent.get("DTEND"))
    elif vevent.get("DURATION") is not None:
        end = start + vevent.get("DURATION").dt
    else:
        end = start + (timedelta(days=1) if not isinstance(start, datetime) else timedelta(0))
    try:
        body: Json = {
            "iCalUID": uid,
            "start": _event_time(start, floating_tz),
            "end": _event_time(end, floating_tz),
        }
    except TimeFormatError as exc:
        raise SeedError(f"{where}: {exc}") from None
    texts = (("SUMMARY", "summary"), ("DESCRIPTION", "description"), ("LOCATION", "location"))
    for prop, name in texts:
        if vevent.get(prop) is not None:
            body[name] = str(vevent.get(prop))
    status = str(vevent.get("STATUS") or "").lower()
    if status in ("confirmed", "tentative", "cancelled"):
        body["status"] = status
    if str(vevent.get("TRANSP") or "").upper() == "TRANSPARENT":
        body["transparency"] = "transparent"
    if vevent.get("SEQUENCE") is not None:
        body["sequence"] = int(vevent.get("SEQUENCE"))
    for prop, name in (("CREATED", "created"), ("LAST-MODIFIED", "updated")):
        value = vevent.get(prop)
        if value is not None and isinstance(value.dt, datetime):
            stamp = value.dt if value.dt.tzinfo else value.dt.replace(tzinfo=UTC)
            body[name] = stamp.isoformat()
    if vevent.get("ORGANIZER") is not None:
        body["organizer"] = _person(vevent.get("ORGANIZER"))
    attendees = vevent.get("ATTENDEE")
    if attendees is not None:
        people = []
        for prop in attendees if isinstance(attendees, list) else [attendees]:
            person = _person(prop)
            partstat = str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
            person["responseStatus"] = _PARTSTAT.get(partstat, "needsAction")
            if str(prop.params.get("ROLE", "")).upper() == "OPT-PARTICIPANT":
                person["optional"] = True
            people.append(person)
        body["attendees"] = people
    recurrence_id = vevent.get("RECURRENCE-ID")
    if recurrence_id is not None:
        body["originalStartTime"] = _event_time(_time_of(recurrence_id), floating_tz)
        return body
    recurrence: list[str] = []
    rules = vevent.get("RRULE")
    for rule in rules if isinstance(rules, list) else ([rules] if rules is not None else []):
        recurrence.append("RRULE:" + rule.to_ical().decode("ascii"))
    for prop in ("RDATE", "EXDATE"):
        if vevent.get(prop) is not None:
            recurrence += _date_lines(prop, vevent.get(prop), start, floating_tz)
    if recurrence:
        body["recurrence"] = recurrence
        if isinstance(start, datetime) and "timeZone" not in body["start"]:
            body["start"]["timeZone"] = body["end"]["timeZone"] = "UTC"
    body["id"] = event_id_for_uid(uid)
    return body


def load_ics(state: GoogleState, path: Path) -> str:
    parsed = read_ics(path)
    name = str(parsed.get("X-WR-CALNAME") or "").strip()
    stem = path.name[: -len(path.suffix)]
    calendar_id = stem if "@" in stem else (name or stem)
    floating_tz = str(parsed.get("X-WR-TIMEZONE") or "UTC")
    try:
        state.add_calendar(calendar_id, summary=name or calendar_id, time_zone=floating_tz)
    except TimeFormatError as exc:
        raise SeedError(f"{path}: X-WR-TIMEZONE: {exc}") from None
    where = f"{path}: calendar {calendar_id}"
    bodies = [_vevent_to_body(v, floating_tz, where) for v in parsed.walk("VEVENT")]
    seen: set[str] = set()
    for body in bodies:
        if "originalStartTime" in body:
            continue
        if body["iCalUID"] in seen:
            raise SeedError(f"{where}: event {body['iCalUID']}: UID appears twice")
        seen.add(body["iCalUID"])
    _insert_all(state, path, calendar_id, bodies)
    return calendar_id
