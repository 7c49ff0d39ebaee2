"""The writes: ``events.insert``, ``import``, ``patch``, ``update`` and ``delete``.

Functions of the :class:`~calsync_emulators.google_store.Store`. Every write
stores a new version with the next change sequence as its etag (``If-Match``
checked, 412 ``conditionNotMet``); writing an unmodified instance id makes an
exception; a delete is a ``cancelled`` tombstone (a master's exceptions with
it). In one domain an inserted invitation is copied into each attendee's
calendar that lives here (same id and iCalUID, private extended properties
left behind), and the organizer's later patches and deletes follow the copies.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from calsync_emulators.google_bodies import compose, merge_patch
from calsync_emulators.google_errors import (
    Json,
    bad_request,
    condition_not_met,
    deleted,
    duplicate,
    invalid,
    required,
    time_error,
)
from calsync_emulators.google_model import Calendar, StoredEvent
from calsync_emulators.google_reads import lookup
from calsync_emulators.google_recurrence import Series, When, parse_when
from calsync_emulators.google_render import View, render, row_of, virtual
from calsync_emulators.google_store import Store
from calsync_emulators.zones import TimeFormatError

#: Client-supplied event ids: base32hex (lowercase a-v, digits), 5-1024 characters.
CLIENT_ID = re.compile(r"[a-v0-9]{5,1024}")


def save(
    store: Store,
    cal: Calendar,
    body: Json,
    start: When,
    end: When,
    series: Series | None,
) -> StoredEvent:
    store.seq += 1
    body["etag"] = f'"3{store.seq:015d}"'
    event_id = str(body["id"])
    previous = cal.events.get(event_id)
    order = previous.order if previous is not None else store.next_order()
    stored = StoredEvent(body, start, end, series, store.seq, order)
    cal.events[event_id] = stored
    master_id = body.get("recurringEventId")
    if master_id:
        suffix = event_id.rpartition("_")[2]
        cal.exceptions.setdefault(master_id, {})[suffix] = event_id
    cal.seq = store.seq
    cal.updated = store.now()
    return stored


def _check_etag(current: str, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    if current not in [tag.strip() for tag in if_match.split(",")]:
        raise condition_not_met()


def _exception_for(cal: Calendar, master: StoredEvent, original: Json) -> str:
    """The instance id of an exception of ``master`` with this originalStartTime."""
    try:
        when = parse_when(original, "originalStart")
    except TimeFormatError as exc:
        raise time_error(exc) from None
    if when.day is not None:
        suffix = when.day.strftime("%Y%m%d")
    else:
        assert when.instant is not None
        suffix = when.instant.strftime("%Y%m%dT%H%M%SZ")
    return f"{master.id}_{suffix}"


def _create(store: Store, cal: Calendar, body: Json, mode: str) -> StoredEvent:
    if not isinstance(body, dict):
        raise bad_request()
    data = dict(body)
    if mode in ("seed", "import") and data.get("originalStartTime"):
        return _create_exception(store, cal, data, mode)
    event_id = data.get("id")
    if event_id is not None and mode != "import":
        if not isinstance(event_id, str) or not CLIENT_ID.fullmatch(event_id):
            raise invalid("Invalid resource id value.")
        if event_id in cal.events:
            raise duplicate()
    else:
        event_id = store.new_id(cal)
    composed = compose(cal, event_id, data, None, mode=mode, now=store.now())
    return save(store, cal, *composed)


def _create_exception(store: Store, cal: Calendar, data: Json, mode: str) -> StoredEvent:
    master = cal.events.get(str(data.get("recurringEventId") or ""))
    if master is None and data.get("iCalUID"):
        master = next(
            (
                ev
                for ev in cal.events.values()
                if ev.series is not None and ev.body.get("iCalUID") == data["iCalUID"]
            ),
            None,
        )
    if master is None or master.series is None:
        raise invalid("The recurring event of this instance does not exist.")
    event_id = _exception_for(cal, master, data["originalStartTime"])
    data["recurringEventId"] = master.id
    data["iCalUID"] = master.body.get("iCalUID")
    data.setdefault("organizer", copy.deepcopy(master.body.get("organizer")))
    previous = cal.events.get(event_id)
    composed = compose(
        cal, event_id, data, previous.body if previous else None, mode=mode, now=store.now()
    )
    return save(store, cal, *composed)


def insert_event(store: Store, calendar_id: str, body: Json, *, mode: str = "insert") -> Json:
    """events.insert (``mode="seed"`` also accepts organizer, timestamps, exceptions)."""
    cal = store.calendar(calendar_id)
    stored = _create(store, cal, body, mode)
    store.changed(cal)
    rendered = render(cal, row_of(stored), View())
    if mode == "insert":
        _invite(store, calendar_id, rendered)
    return rendered


def _invite(store: Store, calendar_id: str, event: Json) -> None:
    """Deliver the invitation to every attendee whose calendar lives here.

    In one Workspace domain Google puts an invited event on each attendee's
    calendar with the same id and iCalUID; private extended properties stay
    on the organizer's copy. Later changes by the organizer follow it.
    """
    copies = []
    for attendee in event.get("attendees") or ():
        address = str(attendee.get("email") or "")
        if address == calendar_id or address not in store.calendars:
            continue
        target = store.calendars[address]
        if event["id"] in target.events:
            continue
        body = {
            key: copy.deepcopy(value)
            for key, value in event.items()
            if key not in ("etag", "htmlLink", "kind", "created", "updated", "sequence")
        }
        private_free = dict(body.get("extendedProperties") or {})
        private_free.pop("private", None)
        body["extendedProperties"] = private_free
        if not private_free:
            body.pop("extendedProperties")
        body["attendees"] = [
            {**a, "self": True} if a.get("email") == address else a
            for a in body.get("attendees") or ()
        ]
        _create(store, target, body, "seed")
        store.changed(target)
        copies.append(address)
    if copies:
        store.invites[(calendar_id, event["id"])] = copies


def _follow(
    store: Store, calendar_id: str, event_id: str, change: Callable[[Calendar, str], object]
) -> None:
    """Apply an organizer's change to the attendees' copies of an invitation."""
    master_id = event_id.split("_", 1)[0]
    for attendee in store.invites.get((calendar_id, master_id), ()):
        target = store.calendars.get(attendee)
        if target is not None:
            change(target, event_id)
            store.changed(target)


def import_event(store: Store, calendar_id: str, body: Json) -> Json:
    """events.import: keyed by iCalUID; importing a known iCalUID updates that event."""
    cal = store.calendar(calendar_id)
    if not isinstance(body, dict):
        raise bad_request()
    uid = body.get("iCalUID")
    if not uid:
        raise required("Missing iCalUID.")
    existing = None
    if not body.get("originalStartTime"):
        existing = next(
            (
                ev
                for ev in cal.events.values()
                if ev.body.get("iCalUID") == uid and not ev.master_id
            ),
            None,
        )
    if existing is None:
        stored = _create(store, cal, body, "import")
    else:
        composed = compose(cal, existing.id, body, existing.body, mode="import", now=store.now())
        stored = save(store, cal, *composed)
    store.changed(cal)
    return render(cal, row_of(stored), View())


def _write(
    store: Store,
    cal: Calendar,
    event_id: str,
    if_match: str | None,
    make: Callable[[Json], Json],
) -> StoredEvent:
    ev, unmodified = lookup(cal, event_id)
    if ev is not None:
        _check_etag(ev.body["etag"], if_match)
        composed = compose(cal, ev.id, make(ev.body), ev.body, mode="write", now=store.now())
        return save(store, cal, *composed)
    assert unmodified is not None
    base = virtual(cal, *unmodified)
    base_body = render(cal, base, View())
    _check_etag(base_body["etag"], if_match)
    composed = compose(
        cal, base_body["id"], make(base_body), base_body, mode="write", now=store.now()
    )
    return save(store, cal, *composed)


def patch_event(
    store: Store, calendar_id: str, event_id: str, patch: Json, if_match: str | None = None
) -> Json:
    cal = store.calendar(calendar_id)
    if not isinstance(patch, dict):
        raise bad_request()
    stored = _write(store, cal, event_id, if_match, lambda body: merge_patch(body, patch))
    store.changed(cal)
    shared = {k: v for k, v in patch.items() if k != "extendedProperties"}
    if shared:
        _follow(
            store,
            calendar_id,
            event_id,
            lambda target, eid: _write(
                store, target, eid, None, lambda body: merge_patch(body, shared)
            ),
        )
    return render(cal, row_of(stored), View())


def update_event(
    store: Store, calendar_id: str, event_id: str, body: Json, if_match: str | None = None
) -> Json:
    cal = store.calendar(calendar_id)
    if not isinstance(body, dict):
        raise bad_request()
    stored = _write(store, cal, event_id, if_match, lambda _previous: copy.deepcopy(body))
    store.changed(cal)
    return render(cal, row_of(stored), View())


def delete_event(
    store: Store, calendar_id: str, event_id: str, if_match: str | None = None
) -> None:
    cal = store.calendar(calendar_id)
    ev, _ = lookup(cal, event_id)
    if ev is not None and ev.cancelled:
        raise deleted()

    def cancel(body: Json) -> Json:
        return {**copy.deepcopy(body), "status": "cancelled"}

    stored = _write(store, cal, event_id, if_match, cancel)
    _follow(
        store, calendar_id, event_id, lambda target, eid: _write(store, target, eid, None, cancel)
    )
    if stored.series is not None:
        for exception_id in cal.exceptions.get(stored.id, {}).values():
            exception = cal.events[exception_id]
            if not exception.cancelled:
                composed = compose(
                    cal,
                    exception_id,
                    cancel(exception.body),
                    exception.body,
                    mode="write",
                    now=store.now(),
                )
                save(store, cal, *composed)
    store.changed(cal)
