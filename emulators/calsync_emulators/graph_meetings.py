"""Meetings across mailboxes: the copies Exchange keeps in the attendees' calendars.

Functions of the :class:`~calsync_emulators.graph_store.Store`. A meeting the
organizer creates is copied into every attendee mailbox the emulator knows
(``notResponded``, shown tentative); the organizer's later changes, reschedules
and cancellations follow to those copies ("Canceled: " subject,
``isCancelled``), and an attendee's answer is written into the organizer's
attendee list. The copies share the ``iCalUId`` and nothing else.
"""

from __future__ import annotations

import copy
from datetime import datetime

from calsync_emulators.graph_items import clean_props, meeting_part
from calsync_emulators.graph_model import Item, Mailbox, Override
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import NEVER, Json

#: The subject prefix Exchange gives an attendee's copy of a cancelled meeting.
CANCELED_PREFIX = "Canceled: "


def propagate_new(store: Store, organizer_box: Mailbox, item: Item) -> None:
    """Put a copy of a new meeting into every attendee mailbox the emulator knows."""
    for attendee in item.props["attendees"]:
        box = store.find_mailbox(attendee["emailAddress"]["address"])
        if box is None or box.key == organizer_box.key:
            continue
        if store.copy_in(box, item.meeting_key) is not None:
            continue
        store.insert(box, attendee_copy(store, box, item))


def attendee_copy(store: Store, box: Mailbox, source: Item) -> Item:
    """A new copy of a meeting for an attendee mailbox, with the response it already gave."""
    props = copy.deepcopy(source.props)
    response = {"response": "notResponded", "time": NEVER}
    for attendee in source.props["attendees"]:
        status = attendee["status"]
        known = status["response"] in ("accepted", "tentativelyAccepted", "declined")
        if attendee["emailAddress"]["address"].lower() == box.key and known:
            response = dict(status)
    if source.props.get("showAs") == "busy" and response["response"] != "accepted":
        props["showAs"] = "tentative"
    copy_item = Item(
        serial=store.new_serial(),
        mailbox=box.key,
        props=props,
        timing=copy.copy(source.timing),
        goid=source.goid,
        is_organizer=False,
        response=response,
        created=store.now(),
        modified=store.now(),
        change_prefix=store.random(16),
    )
    copy_item.recurrence = copy.deepcopy(source.recurrence)
    copy_item.series, copy_item.rec_tz = source.series, source.rec_tz
    copy_item.deleted = set(source.deleted)
    for original, override in source.exceptions.items():
        copy_item.exceptions[original] = Override(
            original, copy.deepcopy(override.props), copy.copy(override.timing)
        )
    return copy_item


def attendee_copies(store: Store, item: Item) -> list[tuple[Mailbox, Item]]:
    """The attendees' copies of an organizer's meeting, with their mailboxes."""
    out = []
    for key, serial in store.meetings.get(item.meeting_key, {}).items():
        if key == item.mailbox:
            continue
        box = store.mailboxes[key]
        other = box.items.get(serial)
        if other is not None and not other.is_organizer:
            out.append((box, other))
    return out


def organizer_copy(store: Store, item: Item) -> Item | None:
    """The organizer's item of an attendee's copy, when the organizer's mailbox is here."""
    address = item.props["organizer"]["emailAddress"]["address"]
    box = store.find_mailbox(address)
    if box is None:
        return None
    found = store.copy_in(box, item.meeting_key)
    return found if found is not None and found.is_organizer else None


def cancel_copy(store: Store, copy_item: Item, original: datetime | None) -> None:
    """What a cancellation does to an attendee's copy: ``isCancelled`` and "Canceled: "."""
    if original is None:
        if copy_item.is_cancelled:
            return
        copy_item.is_cancelled = True
        subject = copy_item.props.get("subject") or ""
        if not subject.startswith(CANCELED_PREFIX):
            copy_item.props["subject"] = CANCELED_PREFIX + subject
        store.touch(copy_item)
        return
    if original in copy_item.deleted:
        return
    override = copy_item.exceptions.setdefault(original, Override(original))
    override.is_cancelled = True
    subject = override.props.get("subject", copy_item.props.get("subject") or "")
    if not subject.startswith(CANCELED_PREFIX):
        override.props["subject"] = CANCELED_PREFIX + subject
    store.touch(copy_item)


def propagate_patch(
    store: Store,
    mailbox: Mailbox,
    item: Item,
    patch: Json,
    old_attendees: set[str],
    rescheduled: bool,
) -> None:
    """Carry an organizer's PATCH to the copies; removed attendees' copies are cancelled."""
    meeting = meeting_part(patch)
    new_attendees = {a["emailAddress"]["address"].lower() for a in item.props["attendees"]}
    for box, other in attendee_copies(store, item):
        if box.key not in new_attendees and box.key in old_attendees:
            cancel_copy(store, other, None)
            continue
        other.props.update(clean_props(meeting))
        if "attendees" in patch:
            other.props["attendees"] = copy.deepcopy(item.props["attendees"])
        if rescheduled:
            other.timing = copy.copy(item.timing)
            other.recurrence = copy.deepcopy(item.recurrence)
            other.series, other.rec_tz = item.series, item.rec_tz
            other.exceptions.clear()
            other.deleted.clear()
            other.response = {"response": "notResponded", "time": NEVER}
            other.props["showAs"] = "tentative"
        store.touch(other)
    if rescheduled:
        for attendee in item.props["attendees"]:
            attendee["status"] = {"response": "none", "time": NEVER}
    added = new_attendees - old_attendees
    if added:
        propagate_new(store, mailbox, item)


def record_response(
    store: Store, organizer: Item, attendee: Mailbox, original: datetime | None, status: Json
) -> None:
    """Write an attendee's answer into the organizer's attendee list (or an instance's)."""
    if original is not None:
        if organizer.series is None or original in organizer.deleted:
            return
        override = organizer.exceptions.setdefault(original, Override(original))
        attendees = override.props.get("attendees")
        if attendees is None:
            attendees = override.props["attendees"] = copy.deepcopy(organizer.props["attendees"])
    else:
        attendees = organizer.props["attendees"]
    for entry in attendees:
        if entry["emailAddress"]["address"].lower() == attendee.key:
            entry["status"] = dict(status)
    store.touch(organizer)
