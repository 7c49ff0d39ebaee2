"""Writing to CalDAV calendars: only objects calsync owns, or its agenda block.

A make-up is a new object whose UID and resource name derive from the outbox
key (``mapping.owned_uid``), PUT with ``If-None-Match: *``: a retry, a restart
or a second worker gets 412 and finds calsync's object there instead of making
another. Where the server schedules (RFC 6638 ``calendar-auto-schedule``:
Nextcloud, iCloud, Fastmail), it invites the attendees itself; where it does
not (Radicale), the same object, same UID, is written into each attendee's
calendar that this provider also reads.

An agenda block changes one component's ``DESCRIPTION`` and nothing else (no
``SEQUENCE`` bump: the time did not change, nobody needs re-inviting), with
``If-Match`` on the ETag just read; a 412 means someone edited the event in
between, so it is read again and the block applied to their version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from calsync.model import AgendaBlock, normalize_email
from calsync.providers.base import NewEvent, ProviderError
from calsync.providers.caldav.client import CALDAV, CaldavClient, DavProblem, path_of
from calsync.providers.caldav.mapping import (
    key_of,
    owned_name,
    owned_object,
    split_remote_id,
    with_agenda,
)

log = logging.getLogger(__name__)

ATTEMPTS = 3  # reads and conditional writes of one agenda block before giving up
_ICS = "text/calendar; charset=utf-8"


class CaldavWriter:
    """CalendarWriter for one CalDAV account."""

    def __init__(
        self,
        client: CaldavClient,
        zone_of: Callable[[str], ZoneInfo],
        owners: Mapping[str, str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.zone_of = zone_of
        self.calendars_by_email = {normalize_email(e): c for c, e in owners.items()}
        self.clock = clock
        self._schedules: dict[str, bool] = {}

    def server_schedules(self, calendar: str) -> bool:
        """Whether the server invites attendees itself (asked once per calendar)."""
        url = self.client.calendar_url(calendar)
        if url not in self._schedules:
            self._schedules[url] = self.client.scheduling(calendar)
        return self._schedules[url]

    # -- make-ups ------------------------------------------------------------------------------

    def create_owned(self, calendar: str, event: NewEvent, key: str) -> str:
        data = owned_object(event, key, self.clock())
        remote_id = self._create(calendar, data, key)
        if not self.server_schedules(calendar):
            for email in event.attendees:
                other = self.calendars_by_email.get(normalize_email(email))
                if email == event.organizer or other is None or other == calendar:
                    continue
                self._create(other, data, key)
        return remote_id

    def _create(self, calendar: str, data: bytes, key: str) -> str:
        target = urljoin(self.client.calendar_url(calendar), owned_name(key))
        try:
            reply = self.client.request(
                "PUT", target, calendar, data, {"Content-Type": _ICS, "If-None-Match": "*"},
                expected=(412,),
            )  # fmt: skip
        except DavProblem as exc:
            if f"{{{CALDAV}}}no-uid-conflict" not in exc.preconditions:
                raise
            log.info("caldav %s: %s exists under another name", calendar, key)
            return path_of(target)
        if reply.status == 412:
            existing = self.client.request("GET", target, calendar, expected=(404,))
            if existing.status == 404:
                raise ProviderError(calendar, f"{path_of(target)} refused but not readable")
            if key_of(existing.body) != key:
                raise ProviderError(
                    calendar, f"{path_of(target)} exists and is not calsync's object for {key}"
                )
            log.info("caldav %s: %s was already created", calendar, key)
        return path_of(target)

    def delete_owned(self, calendar: str, remote_id: str, key: str) -> None:
        """Delete an object calsync created (it carries ``key``); already gone is fine.

        Where calsync wrote attendee copies itself (no server scheduling), those
        go too; a scheduling server cancels for the attendees on its own.
        """
        path, _ = split_remote_id(remote_id)
        self._delete(calendar, urljoin(self.client.calendar_url(calendar), path), key)
        if not self.server_schedules(calendar):
            for other in set(self.calendars_by_email.values()) - {calendar}:
                target = urljoin(self.client.calendar_url(other), owned_name(key))
                self._delete(other, target, key)

    def _delete(self, calendar: str, target: str, key: str) -> None:
        for _ in range(ATTEMPTS):
            current = self.client.request("GET", target, calendar, expected=(404,))
            if current.status == 404:
                return
            if key_of(current.body) != key:
                raise ProviderError(calendar, f"{path_of(target)} is not calsync's to delete")
            headers = {}
            etag = current.header("ETag")
            if etag:
                headers["If-Match"] = etag
            reply = self.client.request("DELETE", target, calendar, b"", headers,
                                        expected=(404, 412))  # fmt: skip
            if reply.status != 412:
                return
        raise ProviderError(calendar, f"{path_of(target)} kept changing; not deleted")

    # -- agenda blocks ------------------------------------------------------------------------

    def update_description(self, calendar: str, remote_id: str, block: AgendaBlock) -> None:
        path, occurrence = split_remote_id(remote_id)
        target = urljoin(self.client.calendar_url(calendar), path)
        for _ in range(ATTEMPTS):
            current = self.client.request("GET", target, calendar, expected=(404,))
            if current.status == 404:
                raise ProviderError(calendar, f"{path} is gone: no agenda block written")
            try:
                changed = with_agenda(current.body, occurrence, block, self.zone_of(calendar))
            except LookupError:
                raise ProviderError(calendar, f"{remote_id}: no such event in {path}") from None
            except ValueError as exc:
                raise ProviderError(calendar, f"{path}: unreadable iCalendar ({exc})") from None
            if changed is None:
                return  # already there
            headers = {"Content-Type": _ICS}
            etag = current.header("ETag")
            if etag:
                headers["If-Match"] = etag
            reply = self.client.request("PUT", target, calendar, changed, headers,
                                        expected=(412,))  # fmt: skip
            if reply.status != 412:
                return
            log.info("caldav %s: %s changed while calsync wrote; reading it again",
                     calendar, path)  # fmt: skip
        raise ProviderError(calendar, f"{path} kept changing; agenda block not written "
                            f"after {ATTEMPTS} tries")  # fmt: skip
