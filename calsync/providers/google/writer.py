"""Writing to Google calendars: only events calsync owns, or its agenda block in a 1:1.

Owned events carry ``extendedProperties.private.calsyncKey`` and an event id
derived from that key (``event_id_for``), so a create is looked up first and
a repeated insert is refused by Google (409) instead of making a copy.
Patches and deletes send ``If-Match`` with the etag just read; a 412 means
someone else changed the event, and the change is computed again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync.model import AgendaBlock
from calsync.providers.base import NewEvent, ProviderError
from calsync.providers.google.client import GoogleClient, HttpProblem
from calsync.providers.google.mapping import Json, tag_key, tags_of
from calsync.providers.google.reader import list_all

log = logging.getLogger(__name__)


def event_id_for(key: str) -> str:
    """A Google event id derived from a calsync key: base32hex, lowercase, 52 characters.

    The same key always gives the same id, so a second insert of the same
    make-up is refused by Google (409) instead of creating a duplicate.
    """
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _local(instant: datetime, zone: str) -> str:
    """Wall time in ``zone`` without offset, as Google wants it beside a timeZone."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat()


class GoogleWriter:
    """CalendarWriter for one Google provider, and the raw owned writes beneath it."""

    def __init__(self, client: GoogleClient) -> None:
        self.client = client
        self.settings = client.settings

    def find_owned(self, calendar: str, key: str) -> Json | None:
        """The live event tagged with ``key``, if calsync already created it."""
        resources = self.client.resources(calendar)
        items, _ = list_all(
            self.client, resources, calendar, {"privateExtendedProperty": f"{tag_key('key')}={key}"}
        )
        live = [item for item in items if item.get("status") != "cancelled"]
        return live[0] if live else None

    def create_event(self, calendar: str, body: Json, key: str) -> Json:
        """Create an owned event exactly once: look for the key, then insert with a derived id."""
        existing = self.find_owned(calendar, key)
        if existing is not None:
            return existing
        resources = self.client.resources(calendar)
        private = dict(((body.get("extendedProperties") or {}).get("private")) or {})
        private[tag_key("key")] = key
        payload = {
            **body,
            "id": event_id_for(key),
            "extendedProperties": {"private": private},
        }
        request = resources.events.insert(
            calendarId=calendar, body=payload, sendUpdates=self.settings.send_updates
        )
        try:
            return self.client.execute(request, calendar)
        except HttpProblem as exc:
            if exc.status != 409:
                raise
            # Our own earlier attempt got through (a retry, a crash, another worker).
            return self.client.execute(
                resources.events.get(calendarId=calendar, eventId=event_id_for(key)), calendar
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
        resources = self.client.resources(calendar)
        for _ in range(attempts):
            current = self.client.execute(
                resources.events.get(calendarId=calendar, eventId=event_id), calendar
            )
            if owned_key is not None and tags_of(current).get("key") != owned_key:
                raise ProviderError(calendar, f"event {event_id} is not calsync's to change")
            fields = change(current)
            if not fields:
                return current
            request = resources.events.patch(
                calendarId=calendar,
                eventId=event_id,
                body=fields,
                sendUpdates=self.settings.send_updates,
            )
            request.headers["If-Match"] = current["etag"]
            try:
                return self.client.execute(request, calendar)
            except HttpProblem as exc:
                if exc.status != 412:
                    raise
                log.info("google %s: %s changed underneath; re-reading", calendar, event_id)
        raise ProviderError(calendar, f"event {event_id} kept changing; gave up after {attempts}")

    def delete_owned(self, calendar: str, event_id: str, key: str) -> None:
        """Delete an event calsync created (tagged with ``key``); already gone is fine."""
        resources = self.client.resources(calendar)
        try:
            current = self.client.execute(
                resources.events.get(calendarId=calendar, eventId=event_id), calendar
            )
        except HttpProblem as exc:
            if exc.status in (404, 410):
                return
            raise
        if tags_of(current).get("key") != key:
            raise ProviderError(calendar, f"event {event_id} is not calsync's to delete")
        if current.get("status") == "cancelled":
            return
        request = resources.events.delete(
            calendarId=calendar, eventId=event_id, sendUpdates=self.settings.send_updates
        )
        request.headers["If-Match"] = current["etag"]
        try:
            self.client.execute(request, calendar)
        except HttpProblem as exc:
            if exc.status not in (404, 410):
                raise

    # -- the neutral writer port ------------------------------------------------------

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        """CalendarWriter: a make-up (or a new 1:1 series) on the organizer's calendar."""
        private = {tag_key(name): value for name, value in event.tags.items()}
        body: Json = {
            "summary": event.title,
            "description": event.description,
            "start": {"dateTime": _local(event.start, event.timezone), "timeZone": event.timezone},
            "end": {"dateTime": _local(event.end, event.timezone), "timeZone": event.timezone},
            "organizer": {"email": event.organizer},
            "attendees": [
                {"email": email, **({"organizer": True, "responseStatus": "accepted"}
                                    if email == event.organizer else {})}
                for email in event.attendees
            ],
            "extendedProperties": {"private": private},
            "reminders": {"useDefault": True},
        }
        if event.recurrence:
            # Repeats at the start's wall time in start.timeZone (DST-correct).
            body["recurrence"] = list(event.recurrence)
        return str(self.create_event(calendar, body, key)["id"])

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        """CalendarWriter: the agenda block, with If-Match and a re-read on 412."""

        def fields(current: Json) -> Json | None:
            updated = block.applied_to(current.get("description") or "")
            return None if updated is None else {"description": updated}

        self.patch_event(calendar, remote_id, fields)
