"""Events of one mailbox: create, read, PATCH, DELETE, cancel, and the attendee answers.

Functions of the :class:`~calsync_emulators.graph_store.Store`, one per
endpoint of ``/users/{id}/events`` (the lists are in
:mod:`calsync_emulators.graph_lists`). A PATCH of a master changes the series
(dropping its exceptions when the time or pattern moves), a PATCH of an
instance makes an exception; ``If-Match`` is checked against the change key; a
``transactionId`` seen again within :data:`TRANSACTION_ID_WINDOW` returns the
first event. Seeding goes through :func:`create_event` with ``seed=True``. The
meeting copies in other mailboxes follow through
:mod:`calsync_emulators.graph_meetings`.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from calsync_emulators.graph_errors import (
    bad_request,
    invalid_request,
    irresolvable_conflict,
)
from calsync_emulators.graph_items import (
    DEFAULTS,
    RESPONSES,
    apply_override,
    attach_series,
    check_keys,
    clean_props,
    meeting_part,
    parse_timing,
    set_svep,
)
from calsync_emulators.graph_meetings import (
    attendee_copies,
    cancel_copy,
    organizer_copy,
    propagate_new,
    propagate_patch,
    record_response,
)
from calsync_emulators.graph_model import Entity, Item, Mailbox, Override, View, occurrence_at
from calsync_emulators.graph_render import render
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import (
    NEVER,
    Json,
    format_utc,
    goid_for_uid,
    new_goid,
    parse_datetime,
    parse_instant,
)
from calsync_emulators.zones import TimeFormatError, resolve_zone

#: A second POST with the same ``transactionId`` within this time (emulator
#: clock) of the first returns the first event instead of a new one, as long as
#: that event still exists. Graph documents no window; this is the emulator's.
TRANSACTION_ID_WINDOW = timedelta(hours=24)
#: Keys a seed body may carry on top of an API create.
_SEED_KEYS = frozenset({"exceptions", "cancelledOccurrences"})


def create_event(
    store: Store, user: str, body: Json, *, view: View | None = None, seed: bool = False
) -> tuple[Json, bool]:
    """POST /users/{id}/events: (the event, created?) -- False for a transactionId replay.

    ``seed=True`` also takes iCalUId, organizer, isOrganizer, responseStatus,
    attendee statuses, isCancelled, createdDateTime/lastModifiedDateTime and
    the seed extensions ``exceptions``/``cancelledOccurrences``.
    """
    mailbox = store.mailbox(user)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    check_keys({k: v for k, v in body.items() if not (seed and k in _SEED_KEYS)})
    transaction = body.get("transactionId")
    if transaction is not None and not seed:
        existing = _transaction(store, mailbox, str(transaction))
        if existing is not None:
            return render(Entity(existing), view or View()), False
    item = _build_item(store, mailbox, body, seed=seed)
    if seed:
        # The mailbox's own version of a meeting replaces the copy its organizer's seed made.
        previous = store.copy_in(mailbox, item.meeting_key)
        if previous is not None:
            mailbox.items.pop(previous.serial, None)
    store.insert(mailbox, item)
    if seed:
        _apply_seed_extras(item, body)
    if item.is_organizer and item.props["attendees"]:
        propagate_new(store, mailbox, item)
    result = render(Entity(item), view or View())
    store.flush()
    return result, True


def _transaction(store: Store, mailbox: Mailbox, transaction_id: str) -> Item | None:
    """The live item created with this transactionId within the window, if any."""
    serial = store.transactions.get((mailbox.key, transaction_id))
    item = mailbox.items.get(serial) if serial is not None else None
    if item is None or item.transaction_time is None:
        return None
    if store.now() - item.transaction_time > TRANSACTION_ID_WINDOW:
        return None
    return item


def _build_item(store: Store, mailbox: Mailbox, body: Json, *, seed: bool) -> Item:
    """A new item from a create (or seed) body: defaults, organizer, timing, series."""
    props = copy.deepcopy(DEFAULTS)
    props.update(clean_props(body))
    props["organizer"] = {"emailAddress": mailbox.address()}
    is_organizer = True
    now = store.now()
    created = now
    if seed:
        organizer = ((body.get("organizer") or {}).get("emailAddress") or {}).get("address")
        if organizer:
            name = body["organizer"]["emailAddress"].get("name") or organizer
            props["organizer"] = {"emailAddress": {"name": name, "address": organizer}}
            is_organizer = organizer.lower() == mailbox.key
        if "isOrganizer" in body:
            is_organizer = bool(body["isOrganizer"])
        if body.get("createdDateTime"):
            created = parse_instant(body["createdDateTime"])
    timing = parse_timing(body)
    uid = body.get("iCalUId") if seed else None
    goid = goid_for_uid(str(uid)) if uid else new_goid(now, store.random(16))
    response = {"response": "organizer", "time": NEVER}
    if not is_organizer:
        response = {"response": "notResponded", "time": NEVER}
        given = (body.get("responseStatus") or {}) if seed else {}
        if given.get("response") in RESPONSES:
            response = {"response": given["response"], "time": given.get("time") or NEVER}
    item = Item(
        serial=store.new_serial(),
        mailbox=mailbox.key,
        props=props,
        timing=timing,
        goid=goid,
        is_organizer=is_organizer,
        response=response,
        created=created,
        modified=created,
        change_prefix=store.random(16),
        is_cancelled=bool(body.get("isCancelled")) if seed else False,
    )
    if body.get("recurrence") is not None:
        attach_series(item, body["recurrence"])
    for prop in body.get("singleValueExtendedProperties") or []:
        set_svep(item, prop)
    transaction = body.get("transactionId")
    if transaction is not None:
        item.transaction_id = str(transaction)
        item.transaction_time = now
        store.transactions[(mailbox.key, item.transaction_id)] = item.serial
    return item


def _apply_seed_extras(item: Item, body: Json) -> None:
    """A seed's extras: lastModifiedDateTime, cancelled occurrences, exceptions."""
    if body.get("lastModifiedDateTime"):
        item.modified = parse_instant(body["lastModifiedDateTime"])
    if item.series is None:
        if body.get("exceptions") or body.get("cancelledOccurrences"):
            raise invalid_request("Only a recurring event can have exceptions.")
        return
    for text in body.get("cancelledOccurrences") or []:
        original = _seed_original(item, text)
        item.deleted.add(original)
    for spec in body.get("exceptions") or []:
        if not isinstance(spec, dict) or not spec.get("originalStart"):
            raise invalid_request("An exception needs originalStart.")
        original = _seed_original(item, spec["originalStart"])
        override = Override(original)
        apply_override(item, override, spec)
        if spec.get("isCancelled"):
            override.is_cancelled = True
        status = spec.get("responseStatus") or {}
        if status.get("response") in RESPONSES and not item.is_organizer:
            override.response = {"response": status["response"], "time": NEVER}
        item.exceptions[original] = override


def _seed_original(item: Item, text: object) -> datetime:
    """The original start a seed names (wall time in the series zone when no offset)."""
    try:
        value = parse_datetime(text)
    except TimeFormatError:
        raise invalid_request(f"Invalid originalStart {text!r}.") from None
    assert item.series is not None and item.rec_tz is not None
    if value.tzinfo is None:
        value = value.replace(tzinfo=item.rec_tz if not item.timing.all_day else item.timing.tz)
    original = value.astimezone(UTC)
    occurrence = occurrence_at(item, original)
    if occurrence is None:
        raise invalid_request(f"{text} is not an occurrence of the series.")
    return occurrence.original.astimezone(UTC)


def get_event(store: Store, user: str, event_id: str, view: View | None = None) -> Json:
    mailbox = store.mailbox(user)
    return render(store.resolve(mailbox, event_id), view or View(), single=True)


def stored_events(store: Store, user: str) -> list[Json]:
    """Every item of a mailbox (singles and masters), rendered in UTC."""
    mailbox = store.mailbox(user)
    return [render(Entity(i), View()) for i in mailbox.items.values()]


def _check_etag(item: Item, if_match: str | None) -> None:
    """412 ErrorIrresolvableConflict unless ``If-Match`` is absent, ``*`` or current."""
    if not if_match:
        return
    wanted = [t.strip() for t in if_match.split(",")]
    if "*" in wanted:
        return
    valid = {item.etag, item.change_key, f'"{item.change_key}"'}
    if not any(t in valid for t in wanted):
        raise irresolvable_conflict()


def patch_event(
    store: Store,
    user: str,
    event_id: str,
    patch: Json,
    if_match: str | None = None,
    view: View | None = None,
) -> Json:
    """PATCH an event, a master (the whole series) or an instance (makes an exception)."""
    mailbox = store.mailbox(user)
    if not isinstance(patch, dict):
        raise bad_request("The request body must be a JSON object.")
    check_keys(patch)
    entity = store.resolve(mailbox, event_id)
    item = entity.item
    _check_etag(item, if_match)
    if entity.is_instance:
        if "recurrence" in patch:
            raise invalid_request("An occurrence of a series cannot have a recurrence.")
        assert entity.original is not None
        override = item.exceptions.setdefault(entity.original, Override(entity.original))
        apply_override(item, override, patch)
        store.touch(item)
        if item.is_organizer:
            for _box, other in attendee_copies(store, item):
                if entity.original in other.deleted:
                    continue
                theirs = other.exceptions.setdefault(entity.original, Override(entity.original))
                apply_override(other, theirs, meeting_part(patch))
                store.touch(other)
        result = render(entity, view or View(), single=True)
        store.flush()
        return result
    before = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
    old_attendees = {a["emailAddress"]["address"].lower() for a in item.props["attendees"]}
    _apply_item_patch(item, patch)
    store.touch(item)
    after = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
    if item.is_organizer:
        propagate_patch(store, mailbox, item, patch, old_attendees, before != after)
    result = render(Entity(item), view or View(), single=True)
    store.flush()
    return result


def _apply_item_patch(item: Item, patch: Json) -> None:
    """A PATCH of a single event or a master (the whole series)."""
    timing_keys = {"start", "end", "isAllDay"} & set(patch)
    props = clean_props(patch)
    item.props.update(props)
    for prop in patch.get("singleValueExtendedProperties") or []:
        set_svep(item, prop)
    if "recurrence" in patch and patch["recurrence"] is None and item.series is not None:
        raise invalid_request("The recurrence of a series master cannot be removed.")
    if timing_keys or "recurrence" in patch:
        old = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
        if timing_keys:
            item.timing = parse_timing(patch, item.timing)
        recurrence = patch.get("recurrence", item.recurrence)
        moved = recurrence is not None and "range" in recurrence and timing_keys
        if moved and "recurrence" not in patch:
            # Graph keeps range.startDate on the start date unless both are sent.
            recurrence = copy.deepcopy(recurrence)
            local = item.timing.start.astimezone(
                resolve_zone(recurrence["range"].get("recurrenceTimeZone") or "UTC")
            )
            recurrence["range"]["startDate"] = local.date().isoformat()
        attach_series(item, recurrence)
        new = (item.timing.start, item.timing.end, json.dumps(item.recurrence, sort_keys=True))
        if new != old:
            # Exchange drops a series' exceptions when its pattern or time changes.
            item.exceptions.clear()
            item.deleted.clear()


def delete_event(store: Store, user: str, event_id: str, if_match: str | None = None) -> None:
    """DELETE an item or instance; an organizer's delete cancels the meeting for attendees."""
    mailbox = store.mailbox(user)
    entity = store.resolve(mailbox, event_id)
    _check_etag(entity.item, if_match)
    _delete_entity(store, entity, notify_attendees=entity.item.is_organizer)
    store.flush()


def _delete_entity(store: Store, entity: Entity, *, notify_attendees: bool) -> None:
    """Delete an item or one instance; ``notify_attendees`` cancels their copies."""
    item = entity.item
    copies = attendee_copies(store, item) if notify_attendees else []
    if entity.original is None:
        store.remove(item)
    else:
        item.exceptions.pop(entity.original, None)
        item.deleted.add(entity.original)
        store.touch(item)
    for _box, other in copies:
        cancel_copy(store, other, entity.original)


def cancel_event(store: Store, user: str, event_id: str, comment: str | None = None) -> None:
    """POST .../cancel: organizer only (else 400); the item goes to Deleted Items."""
    mailbox = store.mailbox(user)
    entity = store.resolve(mailbox, event_id)
    if not entity.item.is_organizer:
        raise invalid_request(
            "Your request can't be completed. You need to be an organizer to cancel a meeting."
        )
    del comment  # the cancellation message is not modelled
    _delete_entity(store, entity, notify_attendees=True)
    store.flush()


def respond(
    store: Store,
    user: str,
    event_id: str,
    response: str,
    *,
    comment: str | None = None,
    send_response: bool = True,
    keep_declined: bool = False,
) -> None:
    """accept / tentativelyAccept / decline by an attendee (202 in Graph).

    A decline moves the attendee's copy (or instance) to Deleted Items unless
    ``keep_declined``.
    """
    mailbox = store.mailbox(user)
    entity = store.resolve(mailbox, event_id)
    item = entity.item
    if item.is_organizer:
        raise invalid_request(
            "Your request can't be completed. You can't respond to a meeting you organized."
        )
    del comment
    now = store.now()
    status = {"response": response, "time": format_utc(now)}
    show_as = {"accepted": "busy", "tentativelyAccepted": "tentative"}.get(response)
    if entity.original is None:
        item.response = dict(status)
        if show_as:
            item.props["showAs"] = show_as
        if response == "declined" and not keep_declined:
            store.remove(item)
        else:
            store.touch(item)
    else:
        if response == "declined" and not keep_declined:
            item.exceptions.pop(entity.original, None)
            item.deleted.add(entity.original)
        else:
            override = item.exceptions.setdefault(entity.original, Override(entity.original))
            override.response = dict(status)
            if show_as:
                override.props["showAs"] = show_as
        store.touch(item)
    if send_response:
        organizer = organizer_copy(store, item)
        if organizer is not None:
            record_response(store, organizer, mailbox, entity.original, status)
    store.flush()


def remove_cancelled(store: Store, user: str) -> int:
    """What "Remove from calendar" does to cancelled copies; returns how many went."""
    mailbox = store.mailbox(user)
    count = 0
    for item in list(mailbox.items.values()):
        if item.is_cancelled:
            store.remove(item)
            count += 1
            continue
        cancelled = [o for o, ov in item.exceptions.items() if ov.is_cancelled]
        for original in cancelled:
            item.exceptions.pop(original)
            item.deleted.add(original)
            count += 1
        if cancelled:
            store.touch(item)
    store.flush()
    return count
