"""Events as Graph renders them: the JSON of a single event, a series master or an instance.

Pure: no clock, no mailbox lookups. Times come out in the request's
``Prefer: outlook.timezone`` with 7 fractional digits, bodies as HTML unless
``Prefer: outlook.body-content-type="text"``; ``$select`` and the
``$expand`` of extended properties apply; in a delta response a plain
occurrence is stripped to the few fields Graph sends.
"""

from __future__ import annotations

import copy
import html
import re
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync_emulators.google_recurrence import Occurrence
from calsync_emulators.graph_items import DEFAULTS, instance_timing, svep_key
from calsync_emulators.graph_model import (
    Entity,
    Item,
    Override,
    Timing,
    View,
    item_id,
)
from calsync_emulators.graph_times import (
    Json,
    format_local,
    format_timestamp,
    format_utc,
    ical_uid,
)

ODATA_EVENT = "#microsoft.graph.event"


def html_body(text: str) -> str:
    """A text body as the HTML Exchange makes of it."""
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\r\n</head>\r\n<body>\r\n'
        f'<div class="PlainText">{escaped}</div>\r\n</body>\r\n</html>\r\n'
    )


def text_body(markup: str) -> str:
    """An HTML body as text (``Prefer: outlook.body-content-type="text"``)."""
    text = re.sub(r"(?is)<(head|style|script)\b.*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>", "\n", text)
    text = re.sub(r"(?i)</(p|div|li|tr|h\d)>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip()


def preview(body: Json) -> str:
    """``bodyPreview``: the first 255 characters of the text, white space folded."""
    content = str(body.get("content") or "")
    text = text_body(content) if body.get("contentType") == "html" else content
    return re.sub(r"\s+", " ", text).strip()[:255]


def time_body(instant: datetime, all_day: bool, item_tz: ZoneInfo, view: View) -> Json:
    """A ``dateTimeTimeZone`` in the view's zone (an all-day date as a floating midnight)."""
    if all_day:
        day = instant.astimezone(item_tz).date()
        return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": view.tz_name}
    return {"dateTime": format_local(instant, view.tz), "timeZone": view.tz_name}


def instance_parts(
    item: Item, original: datetime, occurrence: Occurrence | None
) -> tuple[Json, Timing, Override | None]:
    """An instance's properties and timing (its override's where it has one), and the override."""
    override = item.exceptions.get(original)
    props = dict(item.props)
    if override is not None:
        props.update(override.props)
    if override is not None and override.timing is not None:
        timing = override.timing
    else:
        timing = instance_timing(item, original, occurrence)
    return props, timing, override


def render(entity: Entity, view: View, *, single: bool = False, delta: bool = False) -> Json:
    """The event JSON of an entity (``delta``: occurrences stripped as Graph does)."""
    item = entity.item
    if entity.original is not None:
        props, timing, override = instance_parts(item, entity.original, entity.occurrence)
        kind = "exception" if override is not None else "occurrence"
        is_cancelled = item.is_cancelled or bool(override and override.is_cancelled)
        response = override.response if override and override.response else item.response
        day = entity.original.astimezone(
            item.series.calendar_tz if item.series else item.timing.tz
        ).date()
        if item.rec_tz is not None and not item.timing.all_day:
            day = entity.original.astimezone(item.rec_tz).date()
        uid = ical_uid(item.goid, day)
        master_id = item_id(item)
    else:
        props, timing, override = item.props, item.timing, None
        kind = "seriesMaster" if item.series is not None else "singleInstance"
        is_cancelled, response = item.is_cancelled, item.response
        uid, master_id = item.meeting_key, None
    event_id = item_id(item, entity.original)
    start = time_body(timing.start, timing.all_day, timing.tz, view)
    end = time_body(timing.end, timing.all_day, timing.tz, view)
    if delta and kind == "occurrence":
        return {
            "@odata.type": ODATA_EVENT,
            "@odata.etag": item.etag,
            "id": event_id,
            "seriesMasterId": master_id,
            "type": kind,
            "start": start,
            "end": end,
        }
    body = dict(props["body"])
    if view.body_type == "text" and body["contentType"] == "html":
        body = {"contentType": "text", "content": text_body(body["content"])}
    elif view.body_type != "text" and body["contentType"] == "text":
        body = {"contentType": "html", "content": html_body(body["content"])}
    out: Json = {}
    if delta:
        out["@odata.type"] = ODATA_EVENT
    out.update(
        {
            "@odata.etag": item.etag,
            "id": event_id,
            "createdDateTime": format_timestamp(item.created),
            "lastModifiedDateTime": format_timestamp(item.modified),
            "changeKey": item.change_key,
            "categories": list(props.get("categories") or []),
        }
    )
    if item.transaction_id is not None and entity.original is None:
        out["transactionId"] = item.transaction_id
    if entity.original is not None:
        out["originalStart"] = format_utc(entity.original)
    out.update(
        {
            "originalStartTimeZone": timing.start_tz,
            "originalEndTimeZone": timing.end_tz,
            "iCalUId": uid,
            "reminderMinutesBeforeStart": props.get("reminderMinutesBeforeStart", 15),
            "isReminderOn": props.get("isReminderOn", True),
            "hasAttachments": False,
            "subject": props.get("subject") or "",
            "bodyPreview": preview(props["body"]),
            "importance": props.get("importance", "normal"),
            "sensitivity": props.get("sensitivity", "normal"),
            "isAllDay": timing.all_day,
            "isCancelled": is_cancelled,
            "isOrganizer": item.is_organizer,
            "responseRequested": props.get("responseRequested", True),
            "seriesMasterId": master_id,
            "showAs": props.get("showAs", "busy"),
            "type": kind,
            "webLink": "https://outlook.office365.com/owa/?itemid="
            + urllib.parse.quote(event_id, safe="")
            + "&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": props.get("isOnlineMeeting", False),
            "onlineMeetingProvider": props.get("onlineMeetingProvider", "unknown"),
            "allowNewTimeProposals": props.get("allowNewTimeProposals", True),
            "isDraft": False,
            "hideAttendees": props.get("hideAttendees", False),
            "responseStatus": dict(response),
            "body": body,
            "start": start,
            "end": end,
            "location": copy.deepcopy(props.get("location") or DEFAULTS["location"]),
            "locations": copy.deepcopy(props.get("locations") or []),
            "recurrence": (copy.deepcopy(item.recurrence) if kind == "seriesMaster" else None),
            "attendees": copy.deepcopy(props.get("attendees") or []),
            "organizer": copy.deepcopy(props["organizer"]),
            "onlineMeeting": None,
        }
    )
    if view.svep_ids is not None and entity.original is None:
        wanted = {svep_key(i) for i in view.svep_ids}
        out["singleValueExtendedProperties"] = [
            dict(v) for k, v in item.svep.items() if k in wanted
        ]
    if view.select is not None:
        keep = {"@odata.type", "@odata.etag", "id"} | set(view.select)
        out = {k: v for k, v in out.items() if k in keep}
        if single and "cancelledOccurrences" in view.select and kind == "seriesMaster":
            out["cancelledOccurrences"] = cancelled_occurrences(item)
    return out


def cancelled_occurrences(item: Item) -> list[str]:
    """beta's ``occurrenceId`` format: ``OID.{seriesMasterId}.{YYYY-MM-DD}``."""
    master_id = item_id(item)
    tz = item.rec_tz or item.timing.tz
    days = sorted(o.astimezone(tz).date() for o in item.deleted)
    return [f"OID.{master_id}.{d.isoformat()}" for d in days]
