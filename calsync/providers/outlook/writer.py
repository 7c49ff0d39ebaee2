"""Writing to Microsoft 365 mailboxes: only events calsync owns, or its agenda block.

Owned events carry a ``transactionId`` derived from the calsync key
(``transaction_id_for``: Graph answers a repeated POST with the first event)
and a single-value extended property holding the key, by which a create is
looked up first. Patches and deletes send ``If-Match`` with the etag just
read; a 412 means someone else changed the event, and the change is computed
again. An HTML body keeps its markup: only calsync's block is replaced.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from calsync.model import AgendaBlock
from calsync.providers.base import NewEvent, ProviderError
from calsync.providers.outlook.client import GraphClient, HttpProblem, json_of, user_path
from calsync.providers.outlook.mapping import (
    KEY_PROPERTY,
    TAGS_PROPERTY,
    TRANSACTION_PREFIX,
    Json,
    html_text,
    tags_of,
)
from calsync.providers.outlook.reader import EXPAND, MAX_PAGES

log = logging.getLogger(__name__)


def transaction_id_for(key: str) -> str:
    """The ``transactionId`` of the event calsync creates for ``key`` (same key, same id)."""
    return TRANSACTION_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def _odata_string(text: str) -> str:
    return text.replace("'", "''")


def _local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


_HTML_BLOCK = re.compile(
    r"(?:<div[^>]*>\s*)?" + re.escape(html.escape(AgendaBlock.BEGIN, quote=False)) + r".*?"
    + re.escape(html.escape(AgendaBlock.END, quote=False)) + r"(?:\s*</div>)?",
    re.DOTALL,
)


def _with_html_block(markup: str, updated_text: str) -> str:
    """``markup`` with calsync's block (as it appears in ``updated_text``) replaced or added."""
    start, end = updated_text.find(AgendaBlock.BEGIN), updated_text.rfind(AgendaBlock.END)
    without = _HTML_BLOCK.sub("", markup)
    if start < 0 or end < 0:
        return without  # the change removed the block
    lines = updated_text[start : end + len(AgendaBlock.END)].split("\n")
    fragment = "<div>" + "<br>".join(html.escape(line, quote=False) for line in lines) + "</div>"
    closing = re.search(r"(?i)</body>", without)
    if closing is None:
        return without + fragment
    return without[: closing.start()] + fragment + without[closing.start() :]


_GRAPH_DAYS = {"MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday",
               "FR": "friday", "SA": "saturday", "SU": "sunday"}
_GRAPH_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


def patterned_recurrence(rrules: Sequence[str], first: date, zone: str) -> Json:
    """The Graph ``patternedRecurrence`` of the RRULE calsync writes for a 1:1 series.

    Only what calsync creates: ``FREQ=WEEKLY[;INTERVAL=n];BYDAY=XX`` and
    ``FREQ=MONTHLY;BYDAY=nXX``, with no end. The range starts on the first
    occurrence's local date in ``zone``, the zone the series recurs in.
    """
    if len(rrules) != 1:
        raise ValueError(f"one RRULE expected, got {list(rrules)!r}")
    parts = dict(
        item.split("=", 1) for item in rrules[0].removeprefix("RRULE:").split(";") if "=" in item
    )
    interval = int(parts.get("INTERVAL", "1"))
    byday = parts.get("BYDAY", "")
    match = re.fullmatch(r"(-?\d)?([A-Z]{2})", byday)
    if match is None or match[2] not in _GRAPH_DAYS:
        raise ValueError(f"unsupported BYDAY {byday!r} in {rrules[0]!r}")
    day = _GRAPH_DAYS[match[2]]
    pattern: Json
    if parts.get("FREQ") == "WEEKLY" and match[1] is None:
        pattern = {"type": "weekly", "interval": interval, "daysOfWeek": [day],
                   "firstDayOfWeek": "monday"}
    elif parts.get("FREQ") == "MONTHLY" and match[1] is not None \
            and int(match[1]) in _GRAPH_INDEX:
        pattern = {"type": "relativeMonthly", "interval": interval, "daysOfWeek": [day],
                   "index": _GRAPH_INDEX[int(match[1])]}
    else:
        raise ValueError(f"unsupported recurrence {rrules[0]!r}")
    return {
        "pattern": pattern,
        "range": {"type": "noEnd", "startDate": first.isoformat(), "recurrenceTimeZone": zone},
    }


class OutlookWriter:
    """CalendarWriter for one Microsoft 365 provider, and the raw owned writes beneath it."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def _item_url(self, calendar: str, event_id: str, suffix: str = "") -> str:
        return self.client.url(
            f"{user_path(calendar)}/events/{urllib.parse.quote(event_id, safe='')}{suffix}"
        )

    def _read(self, calendar: str, event_id: str) -> Json | None:
        """An event with calsync's extended properties; None when it is gone."""
        try:
            return self.client.request(
                "GET",
                self._item_url(calendar, event_id),
                calendar,
                params={"$expand": EXPAND},
                headers={"Prefer": 'outlook.timezone="UTC"'},
            )
        except HttpProblem as exc:
            if exc.status in (404, 410):
                return None
            raise

    def find_owned(self, calendar: str, key: str) -> Json | None:
        """The live event tagged with ``key``, if calsync already created it."""
        query = (
            f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' "
            f"and ep/value eq '{_odata_string(key)}')"
        )
        url = self.client.url(f"{user_path(calendar)}/events")
        params: Mapping[str, str] | None = {"$filter": query, "$expand": EXPAND}
        headers = {"Prefer": 'outlook.timezone="UTC"'}
        for _ in range(MAX_PAGES):
            page = self.client.request("GET", url, calendar, params=params, headers=headers)
            for item in page.get("value") or []:
                if not item.get("isCancelled") and tags_of(item).get("key") == key:
                    return item
            next_link = page.get("@odata.nextLink")
            if not next_link or self.client.relative(str(next_link)) is None:
                return None
            url, params = str(next_link), None
        return None

    def create_event(
        self, calendar: str, body: Json, key: str, tags: Mapping[str, str] | None = None
    ) -> Json:
        """Create an owned event exactly once.

        Looks for the key first (a restart or another worker created it), then
        POSTs with a ``transactionId`` derived from the key, so a retried POST
        whose first answer was lost returns the first event instead of a copy.
        ``tags`` (``pair``, ``for``, ...) are stored next to the key.
        """
        existing = self.find_owned(calendar, key)
        if existing is not None:
            return existing
        properties = [
            p for p in body.get("singleValueExtendedProperties") or ()
            if str(p.get("id")).lower() not in (KEY_PROPERTY.lower(), TAGS_PROPERTY.lower())
        ]
        properties.append({"id": KEY_PROPERTY, "value": key})
        extra = {k: v for k, v in (tags or {}).items() if k != "key"}
        if extra:
            properties.append({"id": TAGS_PROPERTY, "value": json.dumps(extra, sort_keys=True)})
        payload = {
            **body,
            "transactionId": transaction_id_for(key),
            "singleValueExtendedProperties": properties,
        }
        # Safe to retry: Graph answers a repeated transactionId with the first event.
        return self.client.request(
            "POST", self.client.url(f"{user_path(calendar)}/events"), calendar, body=payload,
            headers={"Prefer": 'outlook.timezone="UTC"'},
        )

    def patch_event(
        self,
        calendar: str,
        event_id: str,
        change: Callable[[Json], Json | None],
        *,
        owned_key: str | None = None,
        attempts: int = 3,
    ) -> Json:
        """Patch with ``If-Match``; on 412 re-read and recompute the change.

        ``change`` gets the current resource and returns the fields to patch,
        or None when nothing needs to change. With ``owned_key`` the event must
        carry that calsync key.
        """
        for _ in range(attempts):
            current = self._read(calendar, event_id)
            if current is None:
                raise ProviderError(calendar, f"event {event_id} no longer exists")
            if owned_key is not None and tags_of(current).get("key") != owned_key:
                raise ProviderError(calendar, f"event {event_id} is not calsync's to change")
            fields = change(current)
            if not fields:
                return current
            try:
                return self.client.request(
                    "PATCH",
                    self._item_url(calendar, event_id),
                    calendar,
                    body=fields,
                    headers={
                        "If-Match": str(current.get("@odata.etag") or "*"),
                        "Prefer": 'outlook.timezone="UTC"',
                    },
                )
            except HttpProblem as exc:
                if exc.status != 412:
                    raise
                log.info("graph %s: %s changed underneath; re-reading", calendar, event_id)
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def _owned(self, calendar: str, event_id: str, key: str) -> Json | None:
        current = self._read(calendar, event_id)
        if current is not None and tags_of(current).get("key") != key:
            raise ProviderError(calendar, f"event {event_id} is not calsync's to delete")
        return current

    def delete_owned(self, calendar: str, event_id: str, key: str, *, attempts: int = 3) -> None:
        """Delete an event calsync created (tagged with ``key``); already gone is fine.

        Deleting a meeting from the organizer's calendar also cancels it for
        the attendees.
        """
        for _ in range(attempts):
            current = self._owned(calendar, event_id, key)
            if current is None:
                return
            response = self.client.send(
                "DELETE",
                self._item_url(calendar, event_id),
                calendar,
                headers={"If-Match": str(current.get("@odata.etag") or "*")},
            )
            if response.status_code in (204, 200, 404, 410):
                return
            if response.status_code != 412:
                raise self.client.problem(
                    calendar, response.status_code, json_of(response), delta=False
                )
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """CalendarWriter: a make-up (or a new 1:1 series) on the organizer's mailbox."""
        zone = ZoneInfo(event.timezone)
        body: Json = {
            "subject": event.title,
            "body": {"contentType": "text", "content": event.description},
            "start": {"dateTime": _local(event.start, zone), "timeZone": event.timezone},
            "end": {"dateTime": _local(event.end, zone), "timeZone": event.timezone},
            "attendees": [
                {"type": "required", "emailAddress": {"address": email}}
                for email in event.attendees
                if email.lower() != event.organizer.lower()
            ],
            "isReminderOn": True,
        }
        if event.recurrence:
            body["recurrence"] = patterned_recurrence(
                event.recurrence, event.start.astimezone(zone).date(), event.timezone
            )
        return str(self.create_event(calendar, body, key, event.tags)["id"])

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        """CalendarWriter: the agenda block, with If-Match and a re-read on 412.

        A text body is rewritten as text. An HTML body (Outlook's usual, with
        Teams links and formatting) keeps its markup: the block is decided on
        its text, and only calsync's block is replaced or added, as an HTML
        fragment.
        """
        change = block.applied_to

        def fields(current: Json) -> Json | None:
            body = current.get("body") or {}
            content = str(body.get("content") or "")
            if str(body.get("contentType") or "text").lower() != "html":
                updated = change(content)
                return None if updated is None else {
                    "body": {"contentType": "text", "content": updated}
                }
            updated = change(html_text(content))
            markup = content if updated is None else _with_html_block(content, updated)
            if markup == content:
                return None
            return {"body": {"contentType": "html", "content": markup}}

        self.patch_event(calendar, remote_id, fields)
