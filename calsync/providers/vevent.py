"""Building VEVENT components as objects, for the providers whose resources are JSON.

Google's and Graph's mappings turn each resource into an ``icalendar.Event``
and hand it to ``expand.expand_components``. ``Component.add`` infers each
value's type on every call; a full sync builds tens of thousands of
properties, so these helpers construct the property types directly. The
result is the component ``add`` would have built: the same types, the same
parameters (a zoned time gets its TZID), and a property given twice becomes a
list, so the expansion reads it exactly as it reads a parsed file.
"""

from __future__ import annotations

from datetime import date, datetime

import icalendar
from icalendar.prop import vCalAddress, vDDDTypes, vInt, vText


def new_vevent(uid: str) -> icalendar.Event:
    event = icalendar.Event()
    event["UID"] = vText(uid)
    return event


def put(event: icalendar.Event, name: str, prop: object) -> None:
    """Set ``name``; a second value makes a list, as ``Component.add`` does."""
    name = name.upper()
    current = event.get(name)
    if current is None:
        event[name] = prop
    elif isinstance(current, list):
        current.append(prop)
    else:
        event[name] = [current, prop]


def put_time(event: icalendar.Event, name: str, value: date | datetime) -> None:
    """DTSTART, DTEND or RECURRENCE-ID; a zoned datetime carries its zone as TZID."""
    put(event, name, vDDDTypes(value))


def put_text(event: icalendar.Event, name: str, value: str) -> None:
    put(event, name, vText(value))


def put_int(event: icalendar.Event, name: str, value: int) -> None:
    put(event, name, vInt(value))


def put_address(event: icalendar.Event, name: str, email: str, **params: str) -> None:
    """ORGANIZER or ATTENDEE as ``mailto:``, with parameters such as PARTSTAT or CUTYPE."""
    put(event, name, vCalAddress(f"mailto:{email}", params=params or None))


__all__ = ["new_vevent", "put", "put_address", "put_int", "put_text", "put_time"]
