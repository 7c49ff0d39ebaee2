"""Google Workspace's directory and per-user calendar settings, with domain-wide delegation.

- ``POST /token``: a service account's JWT-bearer grant
  (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``). The assertion
  is decoded, not verified (an emulator holds no public keys); its ``sub`` is
  the user acted as and its ``scope`` the scopes granted. An unknown ``sub``
  is ``invalid_grant``, as Google answers.
- ``GET /admin/directory/v1/users`` (Admin SDK ``users.list``): ``customer``
  or ``domain`` required, ``maxResults`` 1-500 (default 100) with an opaque
  ``pageToken``, ``projection`` basic/full; users carry ``relations`` (the
  manager, ``type = "manager"``), ``orgUnitPath``, ``suspended``. With a token,
  the subject must be an admin and the scope ``admin.directory.user(.readonly)``.
- ``GET /calendar/v3/users/me/settings/timezone``: the token's subject's zone
  (401 without a token: "me" is nobody).

Without an ``Authorization`` header the directory list is served (like the
rest of this emulator, which runs without auth), so a config with
``auth = "none"`` still reads people.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calsync_emulators.google_errors import ApiError

Json = dict[str, Any]

DIRECTORY_SCOPES = frozenset({
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
})
SETTINGS_SCOPES = frozenset({
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.settings",
    "https://www.googleapis.com/auth/calendar.settings.readonly",
})
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_RESULTS = 500


@dataclass(slots=True)
class WorkspaceUser:
    email: str
    user_id: str
    given: str
    family: str
    manager: str | None = None
    org_unit: str = "/"
    suspended: bool = False
    admin: bool = False
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Grant:
    subject: str | None
    scopes: frozenset[str]


@dataclass(slots=True)
class Directory:
    users: dict[str, WorkspaceUser] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    next_id: int = 100000000000000000001  # Google's user ids are long decimal strings

    def add_user(self, email: str, name: str | None = None, *, manager: str | None = None,
                 org_unit: str = "/", suspended: bool = False, admin: bool = False,
                 timezone: str = "UTC") -> WorkspaceUser:
        email = email.lower()
        given, _, family = (name or email.split("@")[0].title()).partition(" ")
        existing = self.users.get(email)
        user_id = existing.user_id if existing else str(self.next_id)
        self.next_id += existing is None
        user = WorkspaceUser(email, user_id, given, family, (manager or "").lower() or None,
                             org_unit, suspended, admin, timezone)
        self.users[email] = user
        return user

    # -- the token endpoint

    def token(self, form: Mapping[str, list[str]]) -> tuple[int, Json]:
        grant = (form.get("grant_type") or [""])[0]
        if grant != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"Invalid grant_type: {grant}"}
        try:
            payload = (form.get("assertion") or [""])[0].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError, binascii.Error):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
        subject = str(claims.get("sub") or "").lower() or None
        if subject is not None and self.users and subject not in self.users:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or "
                         "User ID"}
        token = "ya29.emu-" + secrets.token_urlsafe(16)
        self.grants[token] = Grant(subject, frozenset(str(claims.get("scope") or "").split()))
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def grant_of(self, headers: Mapping[str, str]) -> Grant | None:
        """The grant of the request's bearer token; None without one; 401 for a bad one."""
        value = headers.get("authorization")
        if not value:
            return None
        token = value.split(" ", 1)[-1].strip()
        grant = self.grants.get(token)
        if grant is None:
            raise ApiError(401, "authError", "Invalid Credentials", location_type="header",
                           location="Authorization")
        return grant

    # -- the Admin SDK

    def list_users(self, params: Mapping[str, list[str]], grant: Grant | None) -> Json:
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[-1] if values else None

        if grant is not None:
            if not grant.scopes & DIRECTORY_SCOPES:
                raise ApiError(403, "insufficientPermissions",
                               "Request had insufficient authentication scopes.")
            caller = self.users.get(grant.subject or "")
            if caller is None or not caller.admin:
                raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")
        if not one("customer") and not one("domain"):
            raise ApiError(400, "badRequest", "Bad Request")
        try:
            size = int(one("maxResults") or 100)
            start = int(base64.urlsafe_b64decode(one("pageToken") or "MA==").decode() or 0)
        except (ValueError, binascii.Error):
            raise ApiError(400, "invalid", "Invalid Input: pageToken") from None
        if not 1 <= size <= MAX_RESULTS:
            raise ApiError(400, "invalid", f"Invalid Input: maxResults {size}")
        users = sorted(self.users.values(), key=lambda u: u.email)
        page: Json = {"kind": "admin#directory#users", "etag": '"emulator"',
                      "users": [self._user(u) for u in users[start : start + size]]}
        if start + size < len(users):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return page

    @staticmethod
    def _user(user: WorkspaceUser) -> Json:
        out: Json = {
            "kind": "admin#directory#user",
            "id": user.user_id,
            "primaryEmail": user.email,
            "name": {"givenName": user.given, "familyName": user.family,
                     "fullName": f"{user.given} {user.family}".strip()},
            "isAdmin": user.admin,
            "suspended": user.suspended,
            "archived": False,
            "orgUnitPath": user.org_unit,
        }
        if user.manager:
            out["relations"] = [{"value": user.manager, "type": "manager"}]
        return out

    # -- the Calendar API's settings

    def timezone(self, grant: Grant | None) -> Json:
        if grant is None or grant.subject is None:
            raise ApiError(401, "required", "Login Required.", location_type="header",
                           location="Authorization")
        if not grant.scopes & SETTINGS_SCOPES:
            raise ApiError(403, "insufficientPermissions",
                           "Request had insufficient authentication scopes.")
        user = self.users.get(grant.subject)
        if user is None:
            raise ApiError(404, "notFound", "Not Found")
        return {"kind": "calendar#setting", "etag": '"emulator"', "id": "timezone",
                "value": user.timezone}


def load_users(directory: Directory, users: object, where: str) -> None:
    """Seed ``{"users": [{"primaryEmail", "name", "manager", "orgUnitPath", "suspended",
    "isAdmin", "timeZone"}]}``; ValueError naming the entry."""
    if not isinstance(users, list):
        raise ValueError(f"{where}: users must be a list")
    for number, user in enumerate(users, start=1):
        email = user.get("primaryEmail") if isinstance(user, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise ValueError(f"{where}: users[{number}]: primaryEmail is required")
        directory.add_user(email, user.get("name"), manager=user.get("manager"),
                           org_unit=str(user.get("orgUnitPath") or "/"),
                           suspended=bool(user.get("suspended")),
                           admin=bool(user.get("isAdmin")),
                           timezone=str(user.get("timeZone") or "UTC"))
