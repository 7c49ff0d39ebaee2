"""``kind = "google"``: Google Workspace users and managers from the Admin SDK.

``GET admin/directory/v1/users?customer=my_customer&projection=full`` paged
with ``pageToken``, as the configured ``admin`` (a service account with
domain-wide delegation, scope ``admin.directory.user.readonly``). The manager
is the ``relations[]`` item of ``type = "manager"``; suspended and archived
users count as gone. Each person's time zone is their calendar setting
(``GET calendar/v3/users/me/settings/timezone`` as that person, scope
``calendar.settings.readonly``); the Calendar API does not publish working
hours, so the source's ``working_hours`` apply (a note says so).

Requests go through the Google provider's client (its retry policy and error
mapping). A failed page raises: the list is whole or it is not read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build

from calsync.config import GoogleDirectory, GoogleProvider
from calsync.providers.base import ProviderError, ReauthorizationNeeded
from calsync.providers.directory.entries import (
    DirectoryEntry,
    DirectoryError,
    DirectoryListing,
    clean_email,
    is_email,
)
from calsync.providers.google.auth import CredentialSource
from calsync.providers.google.client import GoogleClient, HttpProblem

DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SETTINGS_SCOPE = "https://www.googleapis.com/auth/calendar.settings.readonly"
DEFAULT_ROOT = "https://www.googleapis.com/"
PAGE_SIZE = 500  # the Admin SDK's maximum
HOURS_NOTE = ("Google's Calendar API does not publish working hours: the source's "
              "working_hours apply (set a person's own under [[people]])")


class GoogleDirectoryReader:
    def __init__(
        self,
        name: str,
        source: GoogleDirectory,
        provider: GoogleProvider,
        resolve: Callable[[str], Path],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.source = source
        self.provider = provider
        self.key_file = (resolve(provider.service_account_file)
                         if provider.service_account_file else None)
        # The provider's client only for its retry policy and error mapping.
        self.client = GoogleClient(name, provider, CredentialSource(), sleep=sleep)
        self._https: list[httplib2.Http] = []
        self._base: service_account.Credentials | None = None

    def close(self) -> None:
        for http in self._https:
            http.close()
        self._https.clear()

    def read(self) -> DirectoryListing:
        try:
            users = [u for u in self._users()
                     if not u.get("suspended") and not u.get("archived")
                     and is_email(clean_email(u.get("primaryEmail")))]
            notes = [HOURS_NOTE]
            zones: dict[str, str] = {}
            if self.key_file is None:
                notes.append("time zones not read: a local emulator without a service account "
                             "cannot act as each person; the source's timezone applies")
            else:
                zones, unreadable = self._zones([clean_email(u["primaryEmail"]) for u in users])
                if unreadable:
                    notes.append(f"{unreadable} calendar(s) without a readable time zone keep "
                                 "the source's (is calendar.settings.readonly delegated?)")
        except ReauthorizationNeeded:
            # Not a person's grant to renew: the service account's delegation is missing.
            raise DirectoryError(self.name, (
                f"the service account could not act as {self.source.admin}: is domain-wide "
                f"delegation granted for {DIRECTORY_SCOPE} and {SETTINGS_SCOPE}?")) from None
        except HttpProblem as exc:
            if exc.status == 403:
                raise DirectoryError(self.name, (
                    f"Google refused the user list (403 {exc.reason}): {self.source.admin} must "
                    "be an admin allowed to read users, with the Admin SDK API enabled")) from None
            raise DirectoryError(self.name, exc.message) from None
        except ProviderError as exc:
            raise DirectoryError(self.name, exc.message) from None
        entries = tuple(_entry(u, zones) for u in users)
        return DirectoryListing(self.name, entries, tuple(notes))

    # -- HTTP

    def _credentials(self, subject: str | None, scope: str) -> Any | None:
        """The service account acting as ``subject``; None without a key (an emulator)."""
        if self.key_file is None:
            return None
        if self._base is None:
            try:
                self._base = service_account.Credentials.from_service_account_file(
                    str(self.key_file))
            except FileNotFoundError:
                raise ProviderError(self.name, f"{self.key_file}: no such key file") from None
            except (ValueError, KeyError, GoogleAuthError) as exc:
                raise ProviderError(
                    self.name, f"{self.key_file}: not a service account key ({exc})") from None
        return self._base.with_scopes([scope]).with_subject(subject)

    def _http(self, subject: str | None, scope: str) -> httplib2.Http:
        raw = httplib2.Http(timeout=self.provider.timeout)
        self._https.append(raw)
        creds = self._credentials(subject, scope)
        return raw if creds is None else AuthorizedHttp(creds, http=raw)

    def _endpoint(self, path: str) -> str | None:
        """None: the library's own host (admin.googleapis.com) for the real Admin SDK."""
        root = self.provider.api_endpoint
        if root == DEFAULT_ROOT and path == "":
            return None
        return root + path

    def _users(self) -> Iterator[dict[str, Any]]:
        endpoint = self._endpoint("")
        options = {"api_endpoint": endpoint} if endpoint else None
        service = build("admin", "directory_v1", http=self._http(self.source.admin,
                                                                  DIRECTORY_SCOPE),
                        static_discovery=True, cache_discovery=False, client_options=options)
        users = service.users()
        token: str | None = None
        while True:
            request = users.list(customer=self.source.customer, projection="full",
                                 maxResults=PAGE_SIZE, pageToken=token)
            page = self.client.execute(request, f"{self.name} (users.list)")
            yield from page.get("users") or []
            token = page.get("nextPageToken")
            if not token:
                return

    def _zones(self, emails: list[str]) -> tuple[dict[str, str], int]:
        """Each person's calendar time zone, read as them; (zones, how many unreadable)."""
        zones: dict[str, str] = {}
        # One service (building one reads the discovery document); each request
        # is sent through the HTTP object of the person it acts as.
        settings = build("calendar", "v3", http=httplib2.Http(), static_discovery=True,
                         cache_discovery=False,
                         client_options={"api_endpoint": self._endpoint("calendar/v3/")}
                         ).settings()
        for done, email in enumerate(emails):
            request = settings.get(setting="timezone")
            request.http = self._http(email, SETTINGS_SCOPE)
            try:
                answer = self.client.execute(request, email)
            except ReauthorizationNeeded:
                # Delegation is domain-wide: refused for one, refused for all.
                return zones, len(emails) - done
            except ProviderError:
                continue  # this person's calendar only: the list itself is still whole
            finally:
                request.http.close()
            with suppress(ZoneInfoNotFoundError, ValueError):
                zones[email] = ZoneInfo(str(answer.get("value") or "")).key
        return zones, len(emails) - len(zones)


def _manager(user: dict[str, Any]) -> str | None:
    for relation in user.get("relations") or []:
        if isinstance(relation, dict) and relation.get("type") == "manager":
            email = clean_email(relation.get("value"))
            if is_email(email):
                return email
    return None


def _entry(user: dict[str, Any], zones: dict[str, str]) -> DirectoryEntry:
    email = clean_email(user.get("primaryEmail"))
    name = user.get("name") or {}
    full = str(name.get("fullName") or " ".join(
        str(name.get(k) or "") for k in ("givenName", "familyName")).strip())
    return DirectoryEntry(
        email=email,
        name=full,
        manager=_manager(user),
        timezone=zones.get(email),
        org_unit=str(user.get("orgUnitPath") or "/"),
    )
