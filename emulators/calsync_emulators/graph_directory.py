"""Entra ID users, managers and groups, as Graph v1.0 serves them.

Routes (under ``/v1.0``): ``GET /users`` (``$select``, ``$expand=manager``
with its own ``$select``, ``$top`` up to 999, an absolute ``@odata.nextLink``
with ``$skiptoken``), ``GET /users/{id}/manager`` (404
``Request_ResourceNotFound`` when there is none), ``GET
/users/{id}/directReports``, ``GET /groups`` (``$filter=displayName eq '...'``) and ``GET
/groups/{id}/members`` / ``transitiveMembers``.

Every directory user has a mailbox (created with it) and shares its id. A
user who is removed disappears from every list; ``deny_mailbox_settings``
makes one mailbox answer 403 as a tenant without ``MailboxSettings.Read``
(``denied_settings``). ``GET /users/{id}/mailboxSettings`` itself (the
mailbox's ``timeZone``, Windows or IANA as seeded, ``workingHours`` and
``automaticRepliesSetting``) is served by :mod:`calsync_emulators.graph_mailbox`
for every mailbox, in the directory or not.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from calsync_emulators.graph_errors import GraphError, bad_request
from calsync_emulators.graph_store import Store

Json = dict[str, Any]
Params = Mapping[str, list[str]]

DEFAULT_TOP = 100
MAX_TOP = 999
USER_PROPERTIES = ("id", "displayName", "mail", "userPrincipalName", "accountEnabled",
                   "userType", "jobTitle", "department")
_EXPAND = re.compile(r"^\s*manager\s*(?:\(\s*\$select\s*=\s*([^)]*)\))?\s*$", re.IGNORECASE)
_NAME_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


@dataclass(slots=True)
class DirectoryUser:
    upn: str
    user_id: str
    name: str
    manager: str | None = None  # the manager's UPN (lower case)
    enabled: bool = True
    user_type: str = "Member"
    department: str | None = None
    job_title: str | None = None


@dataclass(slots=True)
class Group:
    group_id: str
    name: str
    members: set[str] = field(default_factory=set)  # UPNs (lower case) and group ids


class Directory:
    """The tenant's users and groups; guarded by the emulator's lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.users: dict[str, DirectoryUser] = {}
        self.groups: dict[str, Group] = {}
        self.denied_settings: set[str] = set()

    # -- changes (the emulator's methods and the seed)

    def add_user(self, upn: str, name: str | None = None, *, manager: str | None = None,
                 enabled: bool = True, user_type: str = "Member", department: str | None = None,
                 job_title: str | None = None, **mailbox: Any) -> DirectoryUser:
        box = self.store.add_mailbox(upn, name, **mailbox)
        user = DirectoryUser(box.upn, box.user_id, box.name, (manager or "").lower() or None,
                             enabled, user_type, department, job_title)
        self.users[box.key] = user
        return user

    def remove_user(self, upn: str) -> None:
        self.users.pop(upn.lower(), None)
        for group in self.groups.values():
            group.members.discard(upn.lower())

    def set_manager(self, upn: str, manager: str | None) -> None:
        self._user(upn).manager = (manager or "").lower() or None

    def add_group(self, name: str, members: Iterable[str] = (), group_id: str | None = None
                  ) -> str:
        group_id = group_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "graph-group:" + name))
        self.groups[group_id] = Group(group_id, name, {m.lower() for m in members})
        return group_id

    # -- reads

    def _user(self, key: str) -> DirectoryUser:
        key = key.lower()
        found = self.users.get(key) or next(
            (u for u in self.users.values() if u.user_id == key), None)
        if found is None:
            raise GraphError(404, "Request_ResourceNotFound",
                             f"Resource '{key}' does not exist or one of its queried reference-"
                             "property objects are not present.")
        return found

    def _json(self, user: DirectoryUser, select: list[str] | None) -> Json:
        full: Json = {
            "id": user.user_id,
            "displayName": user.name,
            "mail": user.upn,
            "userPrincipalName": user.upn,
            "accountEnabled": user.enabled,
            "userType": user.user_type,
            "jobTitle": user.job_title,
            "department": user.department,
        }
        if select is None:
            return full
        return {"id": user.user_id, **{k: full[k] for k in select if k in full}}

    def list_users(self, params: Params, link: str) -> Json:
        select = _select(params)
        expand = _param(params, "$expand")
        manager_select: list[str] | None = None
        if expand is not None:
            match = _EXPAND.match(expand)
            if not match:
                raise bad_request(f"Parsing OData Select and Expand failed: '{expand}'")
            manager_select = _select_list(match[1]) if match[1] else None
        users = sorted(self.users.values(), key=lambda u: u.user_id)
        values = []
        for user in users:
            item = self._json(user, select)
            if expand is not None and user.manager in self.users:
                boss = self.users[user.manager]
                item["manager"] = {"@odata.type": "#microsoft.graph.user",
                                   **self._json(boss, manager_select)}
            values.append(item)
        return _page(values, params, link)

    def manager(self, key: str) -> Json:
        user = self._user(key)
        if user.manager not in self.users:
            raise GraphError(404, "Request_ResourceNotFound",
                             "Resource 'manager' does not exist or one of its queried "
                             "reference-property objects are not present.")
        return {"@odata.type": "#microsoft.graph.user",
                **self._json(self.users[user.manager], None)}

    def direct_reports(self, key: str, params: Params, link: str) -> Json:
        user = self._user(key)
        reports = sorted((u for u in self.users.values() if u.manager == user.upn.lower()),
                         key=lambda u: u.user_id)
        return _page([{"@odata.type": "#microsoft.graph.user", **self._json(u, _select(params))}
                      for u in reports], params, link)

    def list_groups(self, params: Params, link: str) -> Json:
        groups = sorted(self.groups.values(), key=lambda g: g.group_id)
        text = _param(params, "$filter")
        if text is not None:
            match = _NAME_FILTER.match(text)
            if not match:
                raise GraphError(400, "Request_UnsupportedQuery",
                                 "Unsupported Query (the emulator filters displayName eq only).")
            wanted = match[1].replace("''", "'")
            groups = [g for g in groups if g.name.lower() == wanted.lower()]
        return _page([{"id": g.group_id, "displayName": g.name} for g in groups], params, link)

    def members(self, group_id: str, params: Params, link: str, *, transitive: bool) -> Json:
        group = self.groups.get(group_id)
        if group is None:
            raise GraphError(404, "Request_ResourceNotFound",
                             f"Resource '{group_id}' does not exist or one of its queried "
                             "reference-property objects are not present.")
        found: dict[str, Json] = {}
        pending, seen = [group], {group.group_id}
        while pending:
            current = pending.pop()
            for member in sorted(current.members):
                if member in self.groups:
                    found[member] = {"@odata.type": "#microsoft.graph.group", "id": member,
                                     "displayName": self.groups[member].name}
                    if transitive and member not in seen:
                        seen.add(member)
                        pending.append(self.groups[member])
                elif member in self.users:
                    user = self.users[member]
                    found[user.user_id] = {"@odata.type": "#microsoft.graph.user",
                                           **self._json(user, _select(params))}
        return _page([found[k] for k in sorted(found)], params, link)


def _param(params: Params, name: str) -> str | None:
    for key, values in params.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _select_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in USER_PROPERTIES:
            raise bad_request(f"Could not find a property named '{name}' on type "
                              "'microsoft.graph.user'.")
    return names


def _select(params: Params) -> list[str] | None:
    text = _param(params, "$select")
    return _select_list(text) if text is not None else None


def _page(values: list[Json], params: Params, link: str) -> Json:
    try:
        top = int(_param(params, "$top") or DEFAULT_TOP)
        skip = int(_param(params, "$skiptoken") or 0)
    except ValueError:
        raise bad_request("Invalid $top or $skiptoken value.") from None
    if not 1 <= top <= MAX_TOP:
        raise bad_request(f"Invalid page size specified: '{top}'. Must be between 1 and 999 "
                          "inclusive.")
    page: Json = {"value": values[skip : skip + top]}
    if skip + top < len(values):
        query = {k: v[0] for k, v in params.items() if k.lower() != "$skiptoken" and v}
        query["$skiptoken"] = str(skip + top)
        page["@odata.nextLink"] = link + "?" + urllib.parse.urlencode(query)
    return page
