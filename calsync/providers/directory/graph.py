"""``kind = "graph"``: Entra ID users, their managers, and their mailboxes' settings.

Reads ``GET /users?$select=...&$expand=manager($select=id,mail,userPrincipalName)``
page by page (``@odata.nextLink``), then each mailbox's
``/users/{id}/mailboxSettings`` in ``$batch``es of 20 for the time zone (a
Windows or IANA name) and working hours. Groups named by a scope are read as
``/groups/{id}/transitiveMembers``. Application permissions: ``User.Read.All``
(and ``GroupMember.Read.All`` for groups), ``MailboxSettings.Read``.

The HTTP client, its token source and retry policy are the outlook
provider's. A failed page raises: the list is whole or it is not read. A
mailbox whose settings cannot be read keeps the source's defaults, with a note.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import time
from typing import Any

from calsync.providers.base import ProviderError
from calsync.providers.directory.entries import (
    DirectoryEntry,
    DirectoryError,
    DirectoryListing,
    clean_email,
    hours_from_days,
    is_email,
)
from calsync.providers.outlook.client import BATCH_SIZE, GraphClient, HttpProblem
from calsync.providers.outlook.mapping import zone_named
from calsync.timeutil import WorkingHours

USER_FIELDS = "id,mail,userPrincipalName,displayName,accountEnabled,userType"
MANAGER_FIELDS = "id,mail,userPrincipalName"
PAGE_SIZE = 999  # Graph's maximum $top for users (the provider's page_size if smaller)


class GraphDirectoryReader:
    def __init__(self, name: str, client: GraphClient, groups: Sequence[str] = ()) -> None:
        self.name = name
        self.client = client
        self.groups = tuple(groups)

    def close(self) -> None:
        self.client.close()

    def read(self) -> DirectoryListing:
        try:
            users = list(self._pages("users", {
                "$select": USER_FIELDS,
                "$expand": f"manager($select={MANAGER_FIELDS})",
                "$top": str(min(PAGE_SIZE, self.client.settings.page_size)),
            }))
            members = {group: self._members(group) for group in self.groups}
            people = [u for u in users if _email_of(u) and u.get("accountEnabled") is not False
                      and u.get("userType", "Member") != "Guest"]
            settings, notes = self._mailbox_settings([str(u["id"]) for u in people])
        except HttpProblem as exc:
            if exc.status == 403:
                # The client's own 403 text speaks of mailboxes and Calendars.*.
                raise DirectoryError(self.name, (
                    f"Microsoft Graph refused to list users or groups (403 {exc.code}): grant "
                    "the app the application permissions User.Read.All (and "
                    "GroupMember.Read.All for groups scopes), then admin consent")) from None
            raise DirectoryError(self.name, exc.message) from None
        except ProviderError as exc:
            raise DirectoryError(self.name, exc.message) from None
        entries = []
        for user in people:
            groups = frozenset(g for g, ids in members.items() if str(user["id"]) in ids)
            entries.append(_entry(user, settings.get(str(user["id"])), groups))
        return DirectoryListing(self.name, tuple(entries), tuple(notes))

    def _pages(self, path: str, params: dict[str, str] | None) -> Iterator[dict[str, Any]]:
        url: str | None = self.client.url(path)
        while url is not None:
            page = self.client.request("GET", url, self.name, params=params)
            yield from page.get("value") or []
            url, params = page.get("@odata.nextLink"), None  # the link carries the query

    def _members(self, group: str) -> set[str]:
        """User ids in a group named by id or display name (transitively)."""
        group_id = group
        if not _looks_like_id(group):
            quoted = group.replace("'", "''")
            found = list(self._pages("groups", {"$filter": f"displayName eq '{quoted}'",
                                                "$select": "id,displayName"}))
            if len(found) != 1:
                what = "no group" if not found else f"{len(found)} groups"
                raise ProviderError(self.name, f"{what} named {group!r} (use the group's id)")
            group_id = str(found[0]["id"])
        path = f"groups/{urllib.parse.quote(group_id)}/transitiveMembers"
        return {str(m.get("id")) for m in self._pages(path, {"$select": "id"})}

    def _mailbox_settings(
        self, ids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], list[str]]:
        found: dict[str, dict[str, Any]] = {}
        failed = 0
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            requests = [
                {"id": str(n), "method": "GET",
                 "url": f"/users/{urllib.parse.quote(user_id)}/mailboxSettings"}
                for n, user_id in enumerate(chunk)
            ]
            answers = self.client.batch(self.name, requests)
            for n, user_id in enumerate(chunk):
                answer = answers.get(str(n)) or {}
                if 200 <= int(answer.get("status") or 0) < 300:
                    found[user_id] = answer.get("body") or {}
                else:
                    failed += 1
        notes = []
        if failed:
            notes.append(f"{failed} mailbox(es) without readable settings keep the source's "
                         "time zone and working hours (MailboxSettings.Read granted?)")
        return found, notes


def _looks_like_id(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


def _email_of(user: dict[str, Any]) -> str:
    email = clean_email(user.get("mail") or user.get("userPrincipalName"))
    return email if is_email(email) else ""


def _entry(user: dict[str, Any], settings: dict[str, Any] | None,
           groups: frozenset[str]) -> DirectoryEntry:
    manager = user.get("manager") or None
    zone = None
    hours = None
    if settings:
        found = zone_named(settings.get("timeZone"))
        zone = found.key if found is not None else None
        hours = _hours(settings.get("workingHours") or {})
    return DirectoryEntry(
        email=_email_of(user),
        name=str(user.get("displayName") or ""),
        manager=(_email_of(manager) or None) if isinstance(manager, dict) else None,
        timezone=zone,
        working_hours=hours,
        groups=groups,
    )


def _hours(value: dict[str, Any]) -> WorkingHours | None:
    days = value.get("daysOfWeek") or []
    try:
        start = time.fromisoformat(str(value.get("startTime"))[:8])
        end = time.fromisoformat(str(value.get("endTime"))[:8])
        return hours_from_days(days, start, end)
    except ValueError:
        return None
