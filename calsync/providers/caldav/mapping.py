"""CalDAV payloads <-> neutral terms. Pure: no HTTP, no clock.

- Request bodies (``sync-collection``, ``calendar-multiget``,
  ``free-busy-query``) and the parsing of their multistatus answers.
- Calendar objects -> neutral events: every object is iCalendar text holding
  one UID (a series with its overrides, or a single event), so the objects are
  handed together to the one expansion in ``providers.expand`` and come out
  exactly as an ICS export of the same calendar does. The object's path is
  then put back as ``remote_id`` (``path#RECURRENCE-ID`` for an override, so
  an agenda write finds its component) with the object's ETag. An object
  that is not iCalendar at all is skipped with a warning naming its URL and
  UID instead of failing the calendar.
- An iCalendar file split into objects, one per UID, as a calendar app stores
  it on a server (the demo seeds its CalDAV calendar so).
- Owned objects: the make-up as iCalendar, with a UID and resource name
  derived from the outbox key and the key in ``X-CALSYNC-KEY``.
- Agenda blocks: only the ``DESCRIPTION`` line of one component is replaced;
  every other byte of the object (and its ``SEQUENCE``) stays as it was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import icalendar
from lxml import etree

from calsync.model import AgendaBlock, Event, Window, occurrence_key
from calsync.providers.base import NewEvent, ProviderError
from calsync.providers.expand import iana_zone, parse_calendars

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
NS = {"d": DAV, "c": CALDAV, "cs": CS}
_XML = '<?xml version="1.0" encoding="utf-8"?>'

#: Prefix of the UID and resource name of every object calsync creates.
OWNED_PREFIX = "calsync-"


# -- request bodies -------------------------------------------------------------------


def sync_collection_body(token: str | None) -> str:
    """RFC 6578 ``sync-collection`` at level 1 asking for ETags (no token: initial sync)."""
    value = f"<d:sync-token>{escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    return (
        f'{_XML}<d:sync-collection xmlns:d="{DAV}">{value}'
        "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
    )


def multiget_body(hrefs: Iterable[str]) -> str:
    """RFC 4791 ``calendar-multiget`` of ``hrefs`` with their ETags and data."""
    items = "".join(f"<d:href>{escape(href)}</d:href>" for href in hrefs)
    return (
        f'{_XML}<c:calendar-multiget xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
        f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{items}</c:calendar-multiget>"
    )


def free_busy_body(window: Window) -> str:
    return (
        f'{_XML}<c:free-busy-query xmlns:c="{CALDAV}">'
        f'<c:time-range start="{_stamp(window.start)}" end="{_stamp(window.end)}"/>'
        "</c:free-busy-query>"
    )


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- multistatus answers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One ``sync-collection`` answer."""

    changed: dict[str, str | None]  # path -> ETag (None when the server sent none)
    removed: tuple[str, ...]
    token: str | None
    truncated: bool


def _status_code(text: str | None) -> int:
    match = re.search(r"\s(\d{3})", text or "")
    return int(match[1]) if match else 0


def _href(response: etree._Element, base: str) -> str | None:
    node = response.find("d:href", NS)
    if node is None or not (node.text or "").strip():
        return None
    return urlsplit(urljoin(base, node.text.strip())).path


def _same_path(a: str, b: str) -> bool:
    return unquote(a).rstrip("/") == unquote(b).rstrip("/")


def parse_sync(root: etree._Element, collection: str) -> SyncPage:
    changed: dict[str, str | None] = {}
    removed: list[str] = []
    truncated = False
    for response in root.findall("d:response", NS):
        href = _href(response, collection)
        if href is None:
            continue
        bare = response.find("d:status", NS)
        if _same_path(href, urlsplit(collection).path):
            truncated = truncated or (bare is not None and _status_code(bare.text) == 507)
            continue
        if bare is not None and _status_code(bare.text) == 404:
            removed.append(href)
            continue
        etag = None
        for propstat in response.findall("d:propstat", NS):
            if _status_code(propstat.findtext("d:status", "", NS)) == 200:
                etag = propstat.findtext("d:prop/d:getetag", None, NS) or etag
        changed[href] = etag
    token = root.findtext("d:sync-token", None, NS)
    return SyncPage(changed, tuple(removed), token.strip() if token else None, truncated)


def parse_multiget(root: etree._Element, collection: str) -> list[tuple[str, str | None, bytes]]:
    """``(path, ETag, iCalendar bytes)`` for each object found."""
    found = []
    for response in root.findall("d:response", NS):
        href = _href(response, collection)
        if href is None:
            continue
        for propstat in response.findall("d:propstat", NS):
            if _status_code(propstat.findtext("d:status", "", NS)) != 200:
                continue
            data = propstat.findtext("d:prop/c:calendar-data", None, NS)
            if data is None:
                continue
            etag = propstat.findtext("d:prop/d:getetag", None, NS)
            found.append((href, etag, data.encode("utf-8")))
    return found


def parse_listing(root: etree._Element, collection: str) -> tuple[str | None, dict[str, str]]:
    """A Depth 1 PROPFIND: the collection's ``getctag`` and each member's ETag."""
    ctag = None
    etags: dict[str, str] = {}
    here = urlsplit(collection).path
    for response in root.findall("d:response", NS):
        href = _href(response, collection)
        if href is None:
            continue
        if _same_path(href, here):
            ctag = response.findtext(".//cs:getctag", None, NS) or ctag
            continue
        if response.find(".//d:resourcetype/d:collection", NS) is not None:
            continue
        etag = response.findtext(".//d:getetag", None, NS)
        if etag is not None:
            etags[href] = etag
    return ctag, etags


def parse_ctag(root: etree._Element) -> str | None:
    return root.findtext(".//cs:getctag", None, NS)


def busy_from_vfreebusy(data: bytes) -> list[tuple[datetime, datetime]]:
    """The BUSY, BUSY-TENTATIVE and BUSY-UNAVAILABLE periods of a VFREEBUSY answer."""
    busy: list[tuple[datetime, datetime]] = []
    for calendar in icalendar.Calendar.from_ical(data, multiple=True):
        for component in calendar.walk("VFREEBUSY"):
            lines = component.get("FREEBUSY", [])
            for line in lines if isinstance(lines, list) else [lines]:
                kind = str(line.params.get("FBTYPE", "BUSY")).upper()
                if kind == "FREE":
                    continue
                # icalendar gives one vPeriod per period of a "a/b,c/d" line; older
                # versions a list value (``.dts``) per line: take either.
                for period in getattr(line, "dts", None) or [line]:
                    start, end_or_length = period.dt
                    end = (start + end_or_length if isinstance(end_or_length, timedelta)
                           else end_or_length)  # fmt: skip
                    busy.append((_utc(start), _utc(end)))
    return sorted(busy)


def _utc(instant: datetime) -> datetime:
    """FREEBUSY periods are UTC (RFC 5545 3.8.2.6); a server that omits the Z means it too."""
    return (instant.replace(tzinfo=UTC) if instant.tzinfo is None
            else instant.astimezone(UTC))  # fmt: skip


# -- an iCalendar file -> CalDAV objects ------------------------------------------------

_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)")


def split_calendar(ics: str | bytes) -> dict[str, bytes]:
    """One CalDAV object per UID of an iCalendar file (a series with its overrides, as a
    calendar app stores it), each with the file's VTIMEZONEs it refers to (missing ones
    generated) and the file's ``X-WR-TIMEZONE``, which floating times are read in."""
    source = icalendar.Calendar.from_ical(ics)
    zones = {str(tz["TZID"]): tz for tz in source.walk("VTIMEZONE")}
    grouped: dict[str, list[icalendar.Event]] = {}
    for component in source.walk("VEVENT"):
        grouped.setdefault(str(component["UID"]), []).append(component)
    out = {}
    for uid, components in grouped.items():
        single = icalendar.Calendar()
        single.add("prodid", str(source.get("PRODID", "-//calsync//caldav//EN")))
        single.add("version", "2.0")
        if "X-WR-TIMEZONE" in source:
            single.add("x-wr-timezone", str(source["X-WR-TIMEZONE"]))
        text = "".join(c.to_ical().decode("utf-8", "replace") for c in components)
        for tzid in dict.fromkeys(m.strip('"') for m in _TZID_PARAM.findall(unfold(text))):
            if tzid in zones:
                single.add_component(zones[tzid])
        for component in components:
            single.add_component(component)
        single.add_missing_timezones()
        out[uid] = single.to_ical()
    return out


# -- objects -> neutral events --------------------------------------------------------

_UID_LINE = re.compile(r"^UID(?:;[^:]*)?:(.*)$", re.MULTILINE)


def unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def object_uids(data: bytes) -> list[str]:
    """The UIDs an object's text names (one, for any object a CalDAV server accepted)."""
    text = unfold(data.decode("utf-8", "replace"))
    return list(dict.fromkeys(m.strip() for m in _UID_LINE.findall(text)))


def _looks_like_icalendar(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return head.startswith(b"BEGIN:VCALENDAR")


def to_events(
    objects: Sequence[tuple[str, str | None, bytes]],
    collection_url: str,
    window: Window,
    zone: ZoneInfo,
) -> tuple[list[Event], list[str], list[str]]:
    """Neutral events, warnings and the UIDs seen, for one calendar's objects."""
    warnings: list[str] = []
    files: list[tuple[str, bytes]] = []
    good: list[tuple[str, str | None, bytes]] = []
    for path, etag, data in objects:
        source = urljoin(collection_url, path)
        if not _looks_like_icalendar(data):
            uid = ", ".join(object_uids(data)) or "(none)"
            warnings.append(f"{source}: event UID {uid} skipped: not an iCalendar object")
            continue
        files.append((source, data))
        good.append((path, etag, data))
    try:
        events, parsed = parse_calendars(files, window, zone)
    except ProviderError:
        # An object the expansion refuses outright: find it, skip it, read the rest.
        keep = []
        for path, etag, data in good:
            source = urljoin(collection_url, path)
            try:
                parse_calendars([(source, data)], window, zone)
            except ProviderError as exc:
                uid = ", ".join(object_uids(data)) or "(none)"
                warnings.append(f"{source}: event UID {uid} skipped: {exc.message}")
            else:
                keep.append((path, etag, data))
        good = keep
        files = [(urljoin(collection_url, p), d) for p, _, d in good]
        events, parsed = parse_calendars(files, window, zone)
    warnings.extend(parsed)
    ids: dict[str, tuple[str, str | None]] = {}
    uids: list[str] = []
    for path, etag, data in good:
        for uid in object_uids(data):
            uids.append(uid)
            ids[uid] = (path, etag)
            if b"RECURRENCE-ID" in data:
                for original in _overrides(data, uid, zone):
                    ids[occurrence_key(uid, original)] = (f"{path}#{_stamp(original)}", etag)
    return [_with_ids(event, ids) for event in events], warnings, uids


def _with_ids(event: Event, ids: Mapping[str, tuple[str, str | None]]) -> Event:
    found = ids.get(event.key)
    if found is None:
        if event.original_start is None:
            return event
        # An occurrence only the rule produces: the object's ETag, no resource of its own.
        master = ids.get(event.uid)
        return replace(event, etag=master[1]) if master else event
    return replace(event, remote_id=found[0], etag=found[1])


def _as_utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def _overrides(data: bytes, uid: str, zone: ZoneInfo) -> list[datetime]:
    """The RECURRENCE-IDs (UTC) of ``uid``'s overrides in one object."""
    out = []
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
        for calendar in calendars:
            for component in calendar.walk("VEVENT"):
                rid = component.get("RECURRENCE-ID")
                if rid is None or str(component.get("UID", "")).strip() != uid:
                    continue
                value = rid.dt
                if isinstance(value, datetime) and value.tzinfo is None and "TZID" in rid.params:
                    value = value.replace(tzinfo=iana_zone(str(rid.params["TZID"])) or zone)
                out.append(_as_utc(value, zone))
    except Exception:  # ids are a bonus; the events were read already
        return out
    return out


# -- owned objects ------------------------------------------------------------------------


def owned_uid(key: str) -> str:
    """The UID of the object calsync creates for outbox ``key`` (same key, same UID)."""
    return OWNED_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40]


def owned_name(key: str) -> str:
    """The resource name of that object inside a calendar collection."""
    return owned_uid(key) + ".ics"


def owned_object(event: NewEvent, key: str, stamp: datetime) -> bytes:
    """The make-up as an iCalendar object, carrying the key in ``X-CALSYNC-KEY``."""
    zone = iana_zone(event.timezone) or ZoneInfo("UTC")
    vevent = icalendar.Event()
    vevent.add("uid", owned_uid(key))
    vevent.add("dtstamp", stamp.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(zone))
    vevent.add("dtend", event.end.astimezone(zone))
    vevent.add("summary", event.title)
    for line in event.recurrence:
        # DTSTART carries the TZID: the series keeps its wall time over DST.
        vevent.add("rrule", icalendar.vRecur.from_ical(line.removeprefix("RRULE:")))
    if event.description:
        vevent.add("description", event.description)
    vevent.add("sequence", 0)
    vevent.add("status", "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    organizer = icalendar.vCalAddress(f"mailto:{event.organizer}")
    vevent.add("organizer", organizer)
    for email in event.attendees:
        params = {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT"}
        if email == event.organizer:
            params["PARTSTAT"] = "ACCEPTED"
        else:
            params.update({"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
        vevent.add("attendee", icalendar.vCalAddress(f"mailto:{email}"), parameters=params)
    vevent.add("x-calsync-key", key)
    for name, value in sorted(event.tags.items()):
        if name.lower() != "key":
            vevent.add(f"x-calsync-{name.lower()}", value)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//calsync//caldav//EN")
    calendar.add("version", "2.0")
    calendar.add_component(vevent)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def key_of(data: bytes) -> str | None:
    """The ``X-CALSYNC-KEY`` of an object, if calsync created it."""
    match = re.search(r"^X-CALSYNC-KEY(?:;[^:]*)?:(.*)$", unfold(data.decode("utf-8", "replace")),
                      re.MULTILINE)  # fmt: skip
    return match[1].strip().replace("\\,", ",").replace("\\;", ";") if match else None


# -- agenda blocks ------------------------------------------------------------------------


def split_remote_id(remote_id: str) -> tuple[str, datetime | None]:
    """``path`` or ``path#YYYYMMDDTHHMMSSZ`` -> the object path and the override's instant."""
    path, _, stamp = remote_id.partition("#")
    if not stamp:
        return path, None
    return path, datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def with_agenda(
    data: bytes, occurrence: datetime | None, block: AgendaBlock, zone: ZoneInfo
) -> bytes | None:
    """The object with ``block`` in one component's DESCRIPTION, or None when it is there.

    The component is the master (``occurrence`` None) or the override whose
    RECURRENCE-ID is ``occurrence``. Only its DESCRIPTION line changes.
    Raises LookupError when the object has no such component.
    """
    calendar = icalendar.Calendar.from_ical(data)
    index, current = _component(calendar, occurrence, zone)
    wanted = block.applied_to(current)
    if wanted is None:
        return None
    text = data.decode("utf-8")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = unfold(text).split(newline)
    line = "DESCRIPTION:" + icalendar.vText(wanted).to_ical().decode("utf-8")
    out: list[str] = []
    depth = 0  # nesting below the VEVENT being edited (VALARMs have DESCRIPTIONs too)
    seen = -1
    inside = False
    replaced = False
    for raw in lines:
        upper = raw.upper()
        if upper.startswith("BEGIN:"):
            if upper == "BEGIN:VEVENT" and not inside:
                seen += 1
                inside = seen == index
                depth = 0
            elif inside:
                depth += 1
        elif upper.startswith("END:") and inside:
            if upper == "END:VEVENT" and depth == 0:
                if not replaced:
                    out.extend(_fold(line))
                    replaced = True
                inside = False
            else:
                depth -= 1
        elif inside and depth == 0 and re.match(r"(?i)^DESCRIPTION[;:]", raw):
            if not replaced:
                out.extend(_fold(line))
                replaced = True
            continue
        out.append(raw)
    return newline.join(out).encode("utf-8")


def _component(
    calendar: icalendar.Calendar, occurrence: datetime | None, zone: ZoneInfo
) -> tuple[int, str]:
    for index, component in enumerate(calendar.walk("VEVENT")):
        rid = component.get("RECURRENCE-ID")
        if occurrence is None and rid is None:
            return index, str(component.get("DESCRIPTION", ""))
        if occurrence is not None and rid is not None:
            value = rid.dt
            if isinstance(value, datetime) and value.tzinfo is None and "TZID" in rid.params:
                value = value.replace(tzinfo=iana_zone(str(rid.params["TZID"])) or zone)
            if _as_utc(value, zone) == occurrence:
                return index, str(component.get("DESCRIPTION", ""))
    raise LookupError("no such component")


def _fold(line: str, limit: int = 75) -> list[str]:
    """RFC 5545 folding at ``limit`` octets, never inside a UTF-8 sequence."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return out
