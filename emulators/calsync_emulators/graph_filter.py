"""The OData ``$filter`` forms the events list understands, compiled to a predicate.

Pure. ``and`` of comparisons (``eq ne gt ge lt le``) on the event's scalar
properties, ``start/dateTime``, ``end/dateTime``, ``createdDateTime`` and
``lastModifiedDateTime``, and ``singleValueExtendedProperties/Any(ep: ep/id eq
'...' and ep/value eq '...')`` (also ``contains``/``startswith`` on the value).
Anything else is 400 ``ErrorInvalidUrlQueryFilter``, as Graph answers filters
it does not support.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from calsync_emulators.graph_errors import invalid_filter
from calsync_emulators.graph_items import svep_key
from calsync_emulators.graph_model import Item
from calsync_emulators.graph_times import Json, parse_instant
from calsync_emulators.zones import TimeFormatError


def _split_top(text: str, word: str) -> list[str]:
    """Split an OData expression on `` and ``/`` or `` outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    token = f" {word} "
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text[i : i + len(token)].lower() == token:
            parts.append(text[start:i].strip())
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        try:
            left = left if isinstance(left, datetime) else parse_instant(str(left))
            right = right if isinstance(right, datetime) else parse_instant(str(right))
        except TimeFormatError:
            raise invalid_filter() from None
    elif isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    try:
        return {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]
    except TypeError:
        return False


_COMPARISON = re.compile(r"^([A-Za-z]+(?:/[A-Za-z]+)?)\s+(eq|ne|gt|ge|lt|le)\s+(.+)$", re.I)
_SVEP_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.+)\)$", re.IGNORECASE | re.DOTALL
)
_FUNCTION = re.compile(r"^(contains|startswith)\(\s*(\w+)/value\s*,\s*('(?:[^']|'')*')\s*\)$", re.I)
_FILTER_PROPS = {
    "subject": "subject",
    "icaluid": "iCalUId",
    "type": "type",
    "seriesmasterid": "seriesMasterId",
    "transactionid": "transactionId",
    "iscancelled": "isCancelled",
    "isallday": "isAllDay",
    "isorganizer": "isOrganizer",
    "showas": "showAs",
    "sensitivity": "sensitivity",
    "importance": "importance",
}
_TIME_PROPS = {"start/datetime": "start", "end/datetime": "end"}
_STAMP_PROPS = {
    "createddatetime": "createdDateTime",
    "lastmodifieddatetime": "lastModifiedDateTime",
}


def compile_filter(text: str) -> Callable[[Item, Json], bool]:
    """Compile the $filter forms the emulator understands; others are 400 like Graph's."""
    checks: list[Callable[[Item, Json], bool]] = []
    for clause in _split_top(text.strip(), "and"):
        clause = clause.strip()
        while clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        if match := _SVEP_ANY.match(clause):
            checks.append(_svep_filter(match[1], match[2]))
            continue
        match = _COMPARISON.match(clause)
        if not match:
            raise invalid_filter()
        name, op, literal = match[1].lower(), match[2].lower(), _literal(match[3])
        if name in _FILTER_PROPS:
            prop = _FILTER_PROPS[name]
            checks.append(lambda i, e, p=prop, o=op, v=literal: _compare(e.get(p), o, v))
        elif name in _TIME_PROPS:
            part = _TIME_PROPS[name]

            checks.append(
                lambda i, e, p=part, o=op, v=literal: _compare(
                    i.timing.start if p == "start" else i.timing.end,
                    o,
                    parse_instant(str(v)),
                )
            )
        elif name in _STAMP_PROPS:
            part = _STAMP_PROPS[name]
            checks.append(
                lambda i, e, p=part, o=op, v=literal: _compare(
                    i.created if p == "createdDateTime" else i.modified,
                    o,
                    parse_instant(str(v)),
                )
            )
        else:
            raise invalid_filter()
    return lambda item, rendered: all(check(item, rendered) for check in checks)


def _svep_filter(var: str, text: str) -> Callable[[Item, Json], bool]:
    prop_id: str | None = None
    tests: list[Callable[[Any], bool]] = []
    for clause in _split_top(text.strip(), "and"):
        clause = clause.strip()
        if match := _FUNCTION.match(clause):
            if match[2] != var:
                raise invalid_filter()
            needle = str(_literal(match[3])).lower()
            if match[1].lower() == "contains":
                tests.append(lambda v, n=needle: n in str(v or "").lower())
            else:
                tests.append(lambda v, n=needle: str(v or "").lower().startswith(n))
            continue
        match = _COMPARISON.match(clause)
        if not match or "/" not in match[1] or match[1].split("/")[0] != var:
            raise invalid_filter()
        field_name, op, literal = match[1].split("/")[1].lower(), match[2], _literal(match[3])
        if field_name == "id" and op.lower() == "eq" and isinstance(literal, str):
            prop_id = literal
        elif field_name == "value":
            lowered = op.lower()
            tests.append(lambda v, o=lowered, lit=literal: _compare(v, o, lit))
        else:
            raise invalid_filter()
    if prop_id is None:
        raise invalid_filter()
    key = svep_key(prop_id)

    def check(item: Item, rendered: Json) -> bool:
        entry = item.svep.get(key)
        return entry is not None and all(t(entry.get("value")) for t in tests)

    return check
