"""The reads: ``calendarList.list``, ``events.list``, ``events.get`` and ``events.instances``.

Functions of the :class:`~calsync_emulators.google_store.Store` and the
:class:`~calsync_emulators.google_pages.Pages`. ``events.list`` does full lists
(``timeMin``/``timeMax``, ``singleEvents``, ``showDeleted``, ``q``,
``iCalUID``, extended-property filters, ``updatedMin``, ``orderBy``,
``eventTypes``) and incremental ones (``syncToken``: what changed since, with
the parameters Google forbids alongside it rejected). Series without an end
expand to :data:`EXPANSION_HORIZON` past now
when the request gives no ``timeMax``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calsync_emulators.google_errors import (
    Json,
    bad_request,
    deleted,
    invalid,
    not_found,
    time_range_empty,
)
from calsync_emulators.google_model import Calendar, Params, StoredEvent, overlaps
from calsync_emulators.google_pages import Pages
from calsync_emulators.google_recurrence import (
    Occurrence,
    format_timestamp,
    parse_rfc3339,
    parse_suffix,
)
from calsync_emulators.google_render import (
    Row,
    envelope,
    expand,
    render,
    row_of,
    view_of,
    virtual,
)
from calsync_emulators.google_store import Store

#: events.list page size when ``maxResults`` is absent, and the most it may be
#: (larger values are clamped, as the reference says "can never be larger").
DEFAULT_MAX_RESULTS = 250
MAX_MAX_RESULTS = 2500
#: calendarList.list page size: default and maximum.
CALENDAR_LIST_DEFAULT_MAX_RESULTS = 100
CALENDAR_LIST_MAX_MAX_RESULTS = 250
#: How far past "now" a recurring series without an end is expanded when the
#: request gives no ``timeMax`` (singleEvents=true lists, instances, incremental sync).
EXPANSION_HORIZON = timedelta(days=730)
#: events.list parameters that may not be combined with ``syncToken``.
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
#: Multi-page results kept server-side for ``pageToken`` (oldest evicted first;

_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


def calendar_list(store: Store, pages: Pages, params: Params) -> Json:
    token = params.get("pageToken")
    if token:
        return pages.page(token)
    size = params.number("maxResults", CALENDAR_LIST_DEFAULT_MAX_RESULTS)
    assert size is not None
    size = min(size, CALENDAR_LIST_MAX_MAX_RESULTS)
    since = -1
    sync = params.get("syncToken")
    if sync:
        if params.has("minAccessRole"):
            raise invalid(
                "The minAccessRole parameter cannot be used together with syncToken.",
                "minAccessRole",
            )
        since = pages.decode_sync_token(sync, "*")["s"]
    primary = store.primary_id()
    items = [
        _list_entry(cal, cal.id == primary) for cal in store.calendars.values() if cal.seq > since
    ]
    envelope: Json = {"kind": "calendar#calendarList", "etag": f'"p{store.seq:014d}"'}
    return pages.paginate(items, size, pages.sync_token_for("*", 0, None), envelope)


def _list_entry(cal: Calendar, primary: bool) -> Json:
    entry: Json = {
        "kind": "calendar#calendarListEntry",
        "etag": f'"{cal.seq:016d}"',
        "id": cal.id,
        "summary": cal.summary,
        "timeZone": cal.time_zone,
        "colorId": "14",
        "backgroundColor": "#9fe1e7",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [],
    }
    if primary:
        entry["primary"] = True
    return entry


def _horizon(store: Store, high: datetime | None) -> datetime:
    return high if high is not None else store.now() + EXPANSION_HORIZON


def list_events(store: Store, pages: Pages, calendar_id: str, params: Params) -> Json:
    cal = store.calendar(calendar_id)
    token = params.get("pageToken")
    if token:
        return pages.page(token)
    single = params.flag("singleEvents")
    show_deleted = params.flag("showDeleted")
    size = params.number("maxResults", DEFAULT_MAX_RESULTS)
    assert size is not None
    size = min(size, MAX_MAX_RESULTS)
    order_by = params.get("orderBy")
    if order_by is not None and order_by not in ("startTime", "updated"):
        raise invalid(f"Invalid value '{order_by}' for orderBy.", "orderBy")
    event_types = set(params.all("eventTypes"))
    view = view_of(params, strip=not show_deleted)
    sync = params.get("syncToken")
    if sync:
        forbidden = [name for name in FORBIDDEN_WITH_SYNC_TOKEN if params.has(name)]
        if forbidden:
            raise invalid(
                f"The {forbidden[0]} parameter cannot be used together with syncToken.",
                forbidden[0],
            )
        if params.has("showDeleted") and not show_deleted:
            raise invalid(
                "showDeleted cannot be set to false together with syncToken.", "showDeleted"
            )
        payload = pages.decode_sync_token(sync, cal.id, cal.epoch)
        window = payload.get("w") or [None, None]
        low = parse_rfc3339(window[0]) if window[0] else None
        high = parse_rfc3339(window[1]) if window[1] else None
        rows = _changes(store, cal, int(payload["s"]), single, low, high)
        new_token = pages.sync_token_for(cal.id, cal.epoch, window)
    else:
        low = params.instant("timeMin")
        high = params.instant("timeMax")
        if low is not None and high is not None and high <= low:
            raise time_range_empty()
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular query.")
        updated_min = params.instant("updatedMin")
        rows = _full(store, cal, single, show_deleted or updated_min is not None, low, high)
        rows = _filter(cal, rows, params, updated_min)
        window = [params.get("timeMin"), params.get("timeMax")]
        new_token = pages.sync_token_for(cal.id, cal.epoch, window)
    if event_types:
        rows = [r for r in rows if r.body.get("eventType", "default") in event_types]
    if order_by == "startTime":
        rows.sort(key=lambda r: (r.begins(cal.tz), r.body["id"]))
    elif order_by == "updated":
        rows.sort(key=lambda r: (r.body.get("updated", ""), r.body["id"]))
    items = [render(cal, row, view) for row in rows]
    return pages.paginate(items, size, new_token, envelope(cal))


def _full(
    store: Store,
    cal: Calendar,
    single: bool,
    show_deleted: bool,
    low: datetime | None,
    high: datetime | None,
) -> list[Row]:
    rows: list[Row] = []
    for ev in cal.events.values():
        if ev.series is not None:
            if single:
                if not ev.cancelled:
                    rows.extend(expand(cal, ev, low, _horizon(store, high)))
                continue
            if ev.cancelled and not show_deleted:
                continue
            if (low is not None or high is not None) and not ev.series.between(
                low, high or _FAR_FUTURE, limit=1
            ):
                continue
            rows.append(row_of(ev))
            continue
        group = None
        if ev.master_id:
            master = cal.events.get(ev.master_id)
            live = master is not None and not master.cancelled
            if master is not None:
                group = master.order
            keep = live and (show_deleted or not ev.cancelled) if single else live or show_deleted
        else:
            keep = show_deleted or not ev.cancelled
        if keep and overlaps(ev.start.at(cal.tz), ev.end.at(cal.tz), low, high):
            rows.append(row_of(ev, group))
    if single:
        rows.sort(key=lambda r: (r.group, r.begins(cal.tz)))
    return rows


def _changes(
    store: Store,
    cal: Calendar,
    since: int,
    single: bool,
    low: datetime | None,
    high: datetime | None,
) -> list[Row]:
    rows: list[Row] = []
    changed = sorted((ev for ev in cal.events.values() if ev.seq > since), key=lambda e: e.seq)
    for ev in changed:
        if not (single and ev.series is not None):
            rows.append(row_of(ev))
            continue
        instances = expand(cal, ev, low, _horizon(store, high))
        if ev.cancelled:
            for row in instances:
                row.body["status"] = "cancelled"
        rows.extend(instances)
    return rows


def _filter(
    cal: Calendar, rows: list[Row], params: Params, updated_min: datetime | None
) -> list[Row]:
    uid = params.get("iCalUID")
    if uid is not None:
        rows = [r for r in rows if r.body.get("iCalUID") == uid]
    scopes = (("private", "privateExtendedProperty"), ("shared", "sharedExtendedProperty"))
    for scope, name in scopes:
        for constraint in params.all(name):
            key, sep, value = constraint.partition("=")
            if not sep or not key:
                raise invalid(f"Invalid value '{constraint}' for {name}.", name)
            rows = [
                r
                for r in rows
                if (r.body.get("extendedProperties") or {}).get(scope, {}).get(key) == value
            ]
    text = (params.get("q") or "").strip().lower()
    if text:
        rows = [r for r in rows if all(t in _haystack(r.body) for t in text.split())]
    if updated_min is not None:
        stamp = format_timestamp(updated_min)
        rows = [r for r in rows if r.body.get("updated", "") >= stamp]
    return rows


def _haystack(body: Json) -> str:
    parts = [body.get("summary"), body.get("description"), body.get("location")]
    for person in [body.get("organizer") or {}, *(body.get("attendees") or [])]:
        parts += [person.get("email"), person.get("displayName")]
    return " ".join(str(p) for p in parts if p).lower()


def lookup(
    cal: Calendar, event_id: str
) -> tuple[StoredEvent | None, tuple[StoredEvent, Occurrence] | None]:
    """A stored event, or the (master, occurrence) of an unmodified instance id."""
    ev = cal.events.get(event_id)
    if ev is not None:
        return ev, None
    master_id, sep, suffix = event_id.rpartition("_")
    master = cal.events.get(master_id) if sep else None
    if master is not None and master.series is not None and not master.cancelled:
        instant, day = parse_suffix(suffix)
        occ = master.series.find(instant, day)
        if occ is not None:
            exception_id = cal.exceptions.get(master.id, {}).get(occ.suffix())
            if exception_id is not None:
                return cal.events[exception_id], None
            return None, (master, occ)
    raise not_found()


def get_event(store: Store, calendar_id: str, event_id: str, params: Params | None = None) -> Json:
    cal = store.calendar(calendar_id)
    ev, unmodified = lookup(cal, event_id)
    row = row_of(ev) if ev is not None else virtual(cal, *unmodified)  # type: ignore[misc]
    return render(cal, row, view_of(params or Params(), strip=False))


def instances(store: Store, pages: Pages, calendar_id: str, event_id: str, params: Params) -> Json:
    cal = store.calendar(calendar_id)
    token = params.get("pageToken")
    if token:
        return pages.page(token)
    ev = cal.events.get(event_id)
    if ev is None:
        raise not_found()
    if ev.cancelled:
        raise deleted()
    show_deleted = params.flag("showDeleted")
    size = params.number("maxResults", DEFAULT_MAX_RESULTS)
    assert size is not None
    low = params.instant("timeMin")
    high = params.instant("timeMax")
    if low is not None and high is not None and high <= low:
        raise time_range_empty()
    view = view_of(params, strip=not show_deleted)
    rows: list[Row] = []
    if ev.series is None:
        if overlaps(ev.start.at(cal.tz), ev.end.at(cal.tz), low, high):
            rows.append(row_of(ev))
    else:
        overridden = cal.exceptions.get(ev.id, {})
        for occ in ev.series.between(low, _horizon(store, high)):
            exception_id = overridden.get(occ.suffix())
            if exception_id is None:
                rows.append(virtual(cal, ev, occ))
                continue
            exception = cal.events[exception_id]
            if show_deleted or not exception.cancelled:
                rows.append(row_of(exception))
    original = params.get("originalStart")
    if original:
        wanted = parse_rfc3339(original)
        rows = [
            r
            for r in rows
            if wanted is not None
            and parse_rfc3339(r.body.get("originalStartTime", {}).get("dateTime", "")) == wanted
        ]
    items = [render(cal, row, view) for row in rows]
    return pages.paginate(items, min(size, MAX_MAX_RESULTS), None, envelope(cal))
