"""Seed the Graph emulator from JSON or iCalendar files.

JSON (events in Graph shape, as ``POST /users/{id}/events`` takes them)::

    {"mailboxes": {
        "maria@example.com": [ {event}, ... ],
        "bob@example.com": {"displayName": "Bob Ode", "timeZone": "Eastern Standard Time",
                            "workingHours": {"daysOfWeek": ["monday", ...],
                                             "startTime": "09:00", "endTime": "17:00"},
                            "events": [ ... ]}}}

Every mailbox is created before any event, so a meeting an organizer's event
lists attendees for is copied into those mailboxes (as a create through the API
would do); an attendee mailbox that lists the same meeting (same ``iCalUId``)
keeps its own version instead. Besides the writable properties an event may
carry ``iCalUId``, ``organizer``, ``isOrganizer``, ``responseStatus``, attendee
``status``, ``isCancelled``, ``createdDateTime``/``lastModifiedDateTime``,
``transactionId``, ``singleValueExtendedProperties`` and two seed-only keys on a
series master: ``cancelledOccurrences`` (original starts deleted from the
series) and ``exceptions`` (``[{"originalStart", ...changed properties,
"isCancelled"?}]``).

iCalendar (``.ics``): one mailbox per file. Its address is the file stem when
that looks like one (``maria@example.com.ics``), else the ORGANIZER/ATTENDEE
address whose local part is the stem (``tom.ics`` -> ``tom@example.com``),
else ``<stem>@example.com``; ``X-WR-CALNAME`` is the display name and
``X-WR-TIMEZONE`` the zone. VEVENTs become Graph events: TZIDs (Windows or
IANA names) are kept, RRULE becomes a ``patternedRecurrence`` (rules Graph
cannot express, and RDATE, are errors), EXDATE deletes occurrences,
RECURRENCE-ID overrides become exceptions, STATUS:CANCELLED is a deletion in
the organizer's mailbox and ``isCancelled: true`` in an attendee's, PARTSTAT
becomes attendee ``status`` (and the owner's ``responseStatus``),
X-MICROSOFT-CDO-BUSYSTATUS/TRANSP become ``showAs`` and CLASS ``sensitivity``.

Bad input raises :class:`SeedError` naming the file, the mailbox and the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from calsync_emulators.graph_errors import GraphError
from calsync_emulators.graph_state import GraphState
from calsync_emulators.graph_times import RecurrenceError, rrule_to_recurrence
from calsync_emulators.seed_files import SeedError, read_ics, read_json, seed_files
from calsync_emulators.zones import TimeFormatError, resolve_zone

Json = dict[str, Any]

_PARTSTAT = {
    "NEEDS-ACTION": "none",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentativelyAccepted",
    "DELEGATED": "none",
}
_BUSY = {
    "FREE": "free",
    "TENTATIVE": "tentative",
    "BUSY": "busy",
    "OOF": "oof",
    "WORKINGELSEWHERE": "workingElsewhere",
}
_CLASS = {"PRIVATE": "private", "CONFIDENTIAL": "confidential", "PUBLIC": "normal"}
DEFAULT_DOMAIN = "example.com"


def load_seed(state: GraphState, paths: str | Path | Iterable[str | Path]) -> list[str]:
    """Load JSON/ICS files (or every such file in a directory); the mailboxes loaded."""
    files = seed_files(paths)
    plans: list[tuple[Path, str, list[Json]]] = []
    for path in files:
        if path.suffix.lower() == ".json":
            plans += _plan_json(state, path)
        else:
            plans.append(_plan_ics(state, path))
    for path, upn, events in plans:
        _insert_all(state, path, upn, events)
    return [upn for _, upn, _ in plans]


def _add_mailbox(state: GraphState, path: Path, upn: str, settings: Json) -> None:
    hours = settings.get("workingHours") or {}
    try:
        state.add_mailbox(
            upn,
            settings.get("displayName"),
            time_zone=str(settings.get("timeZone") or "UTC"),
            working_days=hours.get("daysOfWeek"),
            working_start=str(hours.get("startTime") or "08:00")[:8],
            working_end=str(hours.get("endTime") or "17:00")[:8],
        )
    except (TimeFormatError, ValueError) as exc:
        raise SeedError(f"{path}: mailbox {upn}: {exc}") from None


def _insert_all(state: GraphState, path: Path, upn: str, events: list[Json]) -> None:
    for number, body in enumerate(events, start=1):
        label = body.get("iCalUId") or body.get("subject") if isinstance(body, dict) else None
        where = f"{path}: mailbox {upn}: event #{number}" + (f" ({label})" if label else "")
        if not isinstance(body, dict):
            raise SeedError(f"{where}: an event must be a JSON object")
        try:
            state.create_event(upn, body, seed=True)
        except GraphError as exc:
            raise SeedError(f"{where}: {exc.message}") from None


def _plan_json(state: GraphState, path: Path) -> list[tuple[Path, str, list[Json]]]:
    document = read_json(path)
    if isinstance(document, dict) and "users" in document:
        _load_directory(state, path, document)
        document = {"mailboxes": {}, **document}
    mailboxes = document.get("mailboxes") if isinstance(document, dict) else None
    if not isinstance(mailboxes, dict):
        raise SeedError(f'{path}: expected {{"mailboxes": {{"<upn>": [events...]}}}}')
    plans = []
    for upn, spec in mailboxes.items():
        settings: Json = {}
        events = spec
        if isinstance(spec, dict):
            settings, events = spec, spec.get("events", [])
        if not isinstance(events, list):
            raise SeedError(f"{path}: mailbox {upn}: events must be a list")
        _add_mailbox(state, path, upn, settings)
        plans.append((path, upn, events))
    return plans


def _load_directory(state: GraphState, path: Path, document: Json) -> None:
    """``{"users": [{"userPrincipalName", "displayName", "manager", "accountEnabled",
    "timeZone", "workingHours"}], "groups": [{"displayName", "members": [upn...]}]}``."""
    users = document.get("users")
    if not isinstance(users, list):
        raise SeedError(f"{path}: users must be a list")
    for number, user in enumerate(users, start=1):
        upn = user.get("userPrincipalName") or user.get("mail") if isinstance(user, dict) else None
        if not isinstance(upn, str):
            raise SeedError(f"{path}: users[{number}]: userPrincipalName is required")
        hours = user.get("workingHours") or {}
        try:
            state.directory.add_user(
                upn, user.get("displayName"), manager=user.get("manager"),
                enabled=user.get("accountEnabled", True) is not False,
                time_zone=str(user.get("timeZone") or "UTC"),
                working_days=hours.get("daysOfWeek"),
                working_start=str(hours.get("startTime") or "08:00")[:8],
                working_end=str(hours.get("endTime") or "17:00")[:8],
            )
        except (TimeFormatError, ValueError) as exc:
            raise SeedError(f"{path}: users[{number}] ({upn}): {exc}") from None
    for group in document.get("groups") or []:
        state.directory.add_group(str(group["displayName"]), group.get("members") or [])


# ------------------------------------------------------------------- ICS ----
def _address(prop: Any) -> str:
    text = str(prop)
    return text[7:] if text.lower().startswith("mailto:") else text


def _owner(parsed: Any, stem: str) -> str:
    if "@" in stem:
        return stem
    for vevent in parsed.walk("VEVENT"):
        people = [vevent.get("ORGANIZER")]
        attendees = vevent.get("ATTENDEE")
        people += attendees if isinstance(attendees, list) else [attendees]
        for prop in people:
            if prop is None:
                continue
            address = _address(prop)
            if address.split("@", 1)[0].lower() == stem.lower():
                return address
    return f"{stem}@{DEFAULT_DOMAIN}"


def _zone_name(prop: Any, value: datetime, floating: str) -> tuple[datetime, str]:
    """The wall time and zone name of a DTSTART-like value (TZID kept when Graph knows it)."""
    tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
    if tzid:
        try:
            tz = resolve_zone(str(tzid))
            local = value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(tz)
            return local.replace(tzinfo=None), str(tzid)
        except TimeFormatError:
            pass
    if value.tzinfo is None:
        return value, floating
    key = getattr(value.tzinfo, "key", None)
    if key:
        return value.replace(tzinfo=None), str(key)
    return value.astimezone(UTC).replace(tzinfo=None), "UTC"


def _graph_time(prop: Any, floating: str) -> tuple[Json, bool]:
    value = prop.dt
    if not isinstance(value, datetime):
        return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": floating}, True
    local, name = _zone_name(prop, value, floating)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": name}, False


def _original(prop: Any, floating: str) -> str:
    value = prop.dt
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        local, name = _zone_name(prop, value, floating)
        return local.replace(tzinfo=resolve_zone(name)).astimezone(UTC).isoformat()
    return value.astimezone(UTC).isoformat()


def _dates(prop: Any) -> list[Any]:
    out = []
    for item in prop if isinstance(prop, list) else [prop]:
        for entry in item.dts:
            out.append((item, entry.dt))
    return out


def _vevent_body(vevent: Any, owner: str, floating: str, where: str) -> Json:
    uid = str(vevent.get("UID") or "")
    if not uid:
        raise SeedError(f"{where}: a VEVENT has no UID")
    where = f"{where}: event {uid}"
    if vevent.get("DTSTART") is None:
        raise SeedError(f"{where}: no DTSTART")
    try:
        start, all_day = _graph_time(vevent.get("DTSTART"), floating)
        if vevent.get("DTEND") is not None:
            end, _ = _graph_time(vevent.get("DTEND"), floating)
        else:
            begin = vevent.get("DTSTART").dt
            duration = vevent.get("DURATION").dt if vevent.get("DURATION") else None
            if duration is None:
                duration = timedelta(days=1) if all_day else timedelta(0)
            stop = begin + duration
            if isinstance(stop, datetime):
                local, name = _zone_name(vevent.get("DTSTART"), stop, floating)
                end = {"dateTime": local.isoformat(timespec="seconds"), "timeZone": name}
            else:
                end = {"dateTime": f"{stop.isoformat()}T00:00:00", "timeZone": floating}
    except TimeFormatError as exc:
        raise SeedError(f"{where}: {exc}") from None
    body: Json = {"iCalUId": uid, "start": start, "end": end, "isAllDay": all_day}
    if vevent.get("SUMMARY") is not None:
        body["subject"] = str(vevent.get("SUMMARY"))
    if vevent.get("DESCRIPTION") is not None:
        body["body"] = {"contentType": "text", "content": str(vevent.get("DESCRIPTION"))}
    if vevent.get("LOCATION") is not None:
        body["location"] = {"displayName": str(vevent.get("LOCATION"))}
    busy = str(vevent.get("X-MICROSOFT-CDO-BUSYSTATUS") or "").upper()
    if busy in _BUSY:
        body["showAs"] = _BUSY[busy]
    elif str(vevent.get("TRANSP") or "").upper() == "TRANSPARENT":
        body["showAs"] = "free"
    klass = str(vevent.get("CLASS") or "").upper()
    if klass in _CLASS:
        body["sensitivity"] = _CLASS[klass]
    for prop, name in (("CREATED", "createdDateTime"), ("LAST-MODIFIED", "lastModifiedDateTime")):
        value = vevent.get(prop)
        if value is not None and isinstance(value.dt, datetime):
            stamp = value.dt if value.dt.tzinfo else value.dt.replace(tzinfo=UTC)
            body[name] = stamp.astimezone(UTC).isoformat()
    organizer = vevent.get("ORGANIZER")
    organizer_address = _address(organizer) if organizer is not None else owner
    if organizer is not None:
        name = organizer.params.get("CN") if hasattr(organizer, "params") else None
        body["organizer"] = {
            "emailAddress": {"name": str(name or organizer_address), "address": organizer_address}
        }
    is_organizer = organizer_address.lower() == owner.lower()
    attendees = vevent.get("ATTENDEE")
    people = []
    for prop in attendees if isinstance(attendees, list) else ([attendees] if attendees else []):
        address = _address(prop)
        partstat = str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        response = _PARTSTAT.get(partstat, "none")
        if address.lower() == owner.lower() and not is_organizer:
            own = "notResponded" if response == "none" else response
            body["responseStatus"] = {"response": own}
        kind = "required"
        if str(prop.params.get("ROLE", "")).upper() == "OPT-PARTICIPANT":
            kind = "optional"
        if str(prop.params.get("CUTYPE", "")).upper() in ("RESOURCE", "ROOM"):
            kind = "resource"
        name = prop.params.get("CN")
        people.append(
            {
                "type": kind,
                "status": {"response": response},
                "emailAddress": {"name": str(name or address), "address": address},
            }
        )
    if people:
        body["attendees"] = people
    status = str(vevent.get("STATUS") or "").upper()
    if status == "CANCELLED":
        body["isCancelled"] = True
    rules = vevent.get("RRULE")
    if vevent.get("RECURRENCE-ID") is None and rules is not None:
        rule = rules[0] if isinstance(rules, list) else rules
        if isinstance(rules, list) and len(rules) > 1:
            raise SeedError(f"{where}: Graph cannot represent several RRULEs")
        dtstart = vevent.get("DTSTART").dt
        local_start = dtstart
        if isinstance(dtstart, datetime):
            local_start, _ = _zone_name(vevent.get("DTSTART"), dtstart, floating)
        try:
            body["recurrence"] = rrule_to_recurrence(rule, local_start, start["timeZone"])
        except RecurrenceError as exc:
            raise SeedError(f"{where}: {exc}") from None
        if vevent.get("RDATE") is not None:
            raise SeedError(f"{where}: Graph cannot represent RDATE")
        if vevent.get("EXDATE") is not None:
            originals = []
            for prop, value in _dates(vevent.get("EXDATE")):
                if isinstance(value, datetime):
                    local, name = _zone_name(prop, value, start["timeZone"])
                    instant = local.replace(tzinfo=resolve_zone(name)).astimezone(UTC)
                    originals.append(instant.isoformat())
                elif isinstance(value, date):
                    originals.append(value.isoformat())
            body["cancelledOccurrences"] = originals
    return body


def _plan_ics(state: GraphState, path: Path) -> tuple[Path, str, list[Json]]:
    parsed = read_ics(path)
    stem = path.name[: -len(path.suffix)]
    owner = _owner(parsed, stem)
    name = str(parsed.get("X-WR-CALNAME") or "").strip() or None
    floating = str(parsed.get("X-WR-TIMEZONE") or "").strip()
    if not floating:
        zones = [str(tz.get("TZID")) for tz in parsed.walk("VTIMEZONE")]
        floating = next((z for z in zones if _known(z)), "UTC")
    _add_mailbox(state, path, owner, {"displayName": name, "timeZone": floating})
    where = f"{path}: mailbox {owner}"
    masters: dict[str, Json] = {}
    overrides: list[tuple[Any, Json]] = []
    for vevent in parsed.walk("VEVENT"):
        body = _vevent_body(vevent, owner, floating, where)
        if vevent.get("RECURRENCE-ID") is not None:
            overrides.append((vevent, body))
            continue
        if body["iCalUId"] in masters:
            raise SeedError(f"{where}: event {body['iCalUId']}: UID appears twice")
        masters[body["iCalUId"]] = body
    for vevent, body in overrides:
        uid = body["iCalUId"]
        master = masters.get(uid)
        if master is None or "recurrence" not in master:
            raise SeedError(f"{where}: event {uid}: RECURRENCE-ID without a recurring master")
        original = _original(vevent.get("RECURRENCE-ID"), master["start"]["timeZone"])
        organizer = master.get("organizer", {}).get("emailAddress", {}).get("address", owner)
        if body.get("isCancelled") and organizer.lower() == owner.lower():
            master.setdefault("cancelledOccurrences", []).append(original)
            continue
        exception = {
            k: v
            for k, v in body.items()
            if k in ("subject", "body", "location", "showAs", "start", "end", "attendees")
        }
        exception["originalStart"] = original
        if body.get("isCancelled"):
            exception["isCancelled"] = True
        if "responseStatus" in body:
            exception["responseStatus"] = body["responseStatus"]
        master.setdefault("exceptions", []).append(exception)
    events = []
    for body in masters.values():
        organizer = body.get("organizer", {}).get("emailAddress", {}).get("address", owner)
        if body.get("isCancelled") and organizer.lower() == owner.lower():
            continue  # an organizer's cancelled meeting is in Deleted Items, not the calendar
        events.append(body)
    return path, owner, events


def _known(name: str) -> bool:
    try:
        resolve_zone(name)
    except TimeFormatError:
        return False
    return True
