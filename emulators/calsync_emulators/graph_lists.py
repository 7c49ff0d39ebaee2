"""The list reads of a mailbox: ``calendarView``, ``events/{id}/instances`` and ``events``.

Functions of the :class:`~calsync_emulators.graph_store.Store`. calendarView
and instances expand series over the ``startDateTime``/``endDateTime`` window
(required: 400 without it); ``events`` lists singles and masters with
``$filter`` (:mod:`calsync_emulators.graph_filter`) and ``$orderby``. All three
page with ``$top``/``$skip`` and an absolute ``@odata.nextLink``. Also the
query-string helpers delta shares.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from calsync_emulators.graph_errors import GraphError, bad_request, window_required
from calsync_emulators.graph_filter import compile_filter
from calsync_emulators.graph_model import Entity, Item, View, window_entities
from calsync_emulators.graph_render import render
from calsync_emulators.graph_store import Store
from calsync_emulators.graph_times import Json, parse_instant
from calsync_emulators.zones import TimeFormatError

#: Page size of calendarView, instances and events lists without ``$top``.
DEFAULT_PAGE_SIZE = 10
MAX_TOP = 1000


def calendar_view(
    store: Store, user: str, params: Mapping[str, list[str]], view: View, link: str
) -> Json:
    """GET /users/{id}/calendarView: instances and singles in the window, paged."""
    mailbox = store.mailbox(user)
    low, high = window(params)
    entities = [e for _, e in window_entities(mailbox, low, high, masters=False)]
    return page(store, [render(e, view) for e in entities], params, link)


def instances(
    store: Store, user: str, event_id: str, params: Mapping[str, list[str]], view: View, link: str
) -> Json:
    """GET .../events/{masterId}/instances: occurrences and exceptions in the window."""
    mailbox = store.mailbox(user)
    low, high = window(params)
    entity = store.resolve(mailbox, event_id)
    if entity.is_instance or entity.item.series is None:
        return page(store, [], params, link)
    entities = [
        e for _, e in window_entities(mailbox, low, high, masters=False) if e.item is entity.item
    ]
    return page(store, [render(e, view) for e in entities], params, link)


def list_events(
    store: Store, user: str, params: Mapping[str, list[str]], view: View, link: str
) -> Json:
    """GET /users/{id}/events: singles and masters, with $filter/$orderby/$top/$skip."""
    mailbox = store.mailbox(user)
    items = list(mailbox.items.values())
    text = param(params, "$filter")
    if text:
        matcher = compile_filter(text)
        items = [i for i in items if matcher(i, render(Entity(i), View()))]
    order = (param(params, "$orderby") or "").strip()
    keys: dict[str, Callable[[Item], Any]] = {
        "start/datetime": lambda i: i.timing.start,
        "end/datetime": lambda i: i.timing.end,
        "createddatetime": lambda i: i.created,
        "lastmodifieddatetime": lambda i: i.modified,
        "subject": lambda i: str(i.props.get("subject") or "").lower(),
    }
    if order:
        name, _, direction = order.partition(" ")
        key = keys.get(name.lower())
        if key is None or direction.strip().lower() not in ("", "asc", "desc"):
            raise GraphError(
                400, "ErrorInvalidUrlQuery", f"The $orderby '{order}' is not supported."
            )
        items.sort(key=key, reverse=direction.strip().lower() == "desc")
    else:
        items.sort(key=lambda i: i.serial)
    return page(store, [render(Entity(i), view) for i in items], params, link)


def window(params: Mapping[str, list[str]]) -> tuple[datetime, datetime]:
    """The ``startDateTime``/``endDateTime`` window (UTC when no offset); 400 without one."""
    start = param(params, "startDateTime")
    end = param(params, "endDateTime")
    if not start or not end:
        raise window_required()
    values = []
    for name, text in (("startDateTime", start), ("endDateTime", end)):
        try:
            # Graph: an offset in the value counts, Prefer: outlook.timezone does not;
            # no offset means UTC.
            values.append(parse_instant(text))
        except TimeFormatError:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                f"The value '{text}' of parameter '{name}' is invalid.",
            ) from None
    return values[0], values[1]


def page(store: Store, values: list[Json], params: Mapping[str, list[str]], link: str) -> Json:
    """One ``$top``/``$skip`` page of a list, with the ``@odata.nextLink`` of the next."""
    top = int_param(params, "$top", DEFAULT_PAGE_SIZE, 1, MAX_TOP)
    skip = int_param(params, "$skip", 0, 0, 10**9)
    page = values[skip : skip + top]
    out: Json = {"@odata.context": f"{store.base_url}/v1.0/$metadata#Collection(event)"}
    out["value"] = page
    if skip + top < len(values):
        query = {k: v[-1] for k, v in params.items() if k not in ("$skip", "$top")}
        query.update({"$top": str(top), "$skip": str(skip + top)})
        encoded = urllib.parse.urlencode(query, safe="$:',()/@", quote_via=urllib.parse.quote)
        out["@odata.nextLink"] = f"{link}?{encoded}"
    return out


def param(params: Mapping[str, list[str]], name: str) -> str | None:
    """The last value of a query parameter, its name compared case-insensitively."""
    for key, values in params.items():
        if key.lower() == name.lower() and values:
            return values[-1]
    return None


def int_param(params: Mapping[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to ``high``; 400 below ``low``."""
    value = param(params, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"Invalid value '{value}' for {name}.") from None
    if number < low:
        raise bad_request(f"Invalid value '{value}' for {name}.")
    return min(number, high)
