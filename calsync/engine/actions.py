"""The calendar writes calsync queues, as typed values, and their one codec.

The outbox keeps each write as ``(key, kind, payload)``: the key is
deterministic (pair, original occurrence, attempt) so a retry, a restart or a
second worker can never make a second event. :func:`encode` and
:func:`decode` are the only code that knows the payload's shape; a row that
does not decode is a :class:`BadAction`, reported and given up, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from calsync.model import AgendaBlock
from calsync.providers.base import NewEvent
from calsync.timeutil import parse_instant


class BadAction(ValueError):
    """An outbox row whose payload is not a write calsync knows."""


@dataclass(frozen=True, slots=True)
class CreateMakeUp:
    """Book the make-up of a bumped 1:1 on the organizer's calendar (both people invited)."""

    KIND: ClassVar[str] = "create_makeup"

    provider: str
    calendar: str
    event: NewEvent
    why: str = ""


@dataclass(frozen=True, slots=True)
class CreateSeries:
    """Create a pair's recurring 1:1 on the manager's calendar, the report invited.

    Queued once per pair (``setup = "auto"``) under :func:`series_key`; the
    event carries ``recurrence`` and is owned like a make-up (its key on it).
    """

    KIND: ClassVar[str] = "create_series"

    provider: str
    calendar: str
    event: NewEvent
    why: str = ""


def series_key(pair_key: str) -> str:
    """The outbox key of the pair's series: one per pair, ever (undo does not re-arm it)."""
    return f"series|{pair_key}"


@dataclass(frozen=True, slots=True)
class UpdateAgenda:
    """Put the pair's agenda block into one event's description (the organizer's copy)."""

    KIND: ClassVar[str] = "agenda_block"

    provider: str
    calendar: str
    remote_id: str
    block: AgendaBlock
    why: str = ""
    #: The description as last synced: the audit log's "before".
    before: str = ""


@dataclass(frozen=True, slots=True)
class DeleteMakeUp:
    """Undo: delete a make-up calsync booked (only an event that carries ``made_key``)."""

    KIND: ClassVar[str] = "delete_makeup"

    provider: str
    calendar: str
    remote_id: str
    made_key: str
    why: str = ""


Action = CreateMakeUp | CreateSeries | UpdateAgenda | DeleteMakeUp


@dataclass(frozen=True, slots=True)
class Queued:
    """A write with its deterministic outbox key."""

    key: str
    action: Action


def audit_texts(action: Action) -> tuple[str, str]:
    """(before, after) of the write, as the audit log shows them."""
    if isinstance(action, CreateMakeUp | CreateSeries):
        event = action.event
        repeats = "".join(f"\n{line}" for line in event.recurrence)
        after = (f"{event.title}\n{event.start.isoformat()} to {event.end.isoformat()}"
                 f"{repeats}\n{event.description}").rstrip()
        return "", after
    if isinstance(action, DeleteMakeUp):
        return f"the make-up booked under {action.made_key}", ""
    after = action.block.applied_to(action.before)
    return action.before, action.before if after is None else after


def encode(action: Action) -> tuple[str, dict[str, Any]]:
    """``(kind, JSON payload)`` for the outbox row."""
    if isinstance(action, CreateMakeUp | CreateSeries):
        event = action.event
        payload: dict[str, Any] = {
            "provider": action.provider,
            "calendar": action.calendar,
            "title": event.title,
            "start": event.start.isoformat(),
            "end": event.end.isoformat(),
            "organizer": event.organizer,
            "attendees": list(event.attendees),
            "description": event.description,
            "timezone": event.timezone,
            "tags": dict(event.tags),
            "why": action.why,
        }
        if event.recurrence:
            payload["recurrence"] = list(event.recurrence)
        return action.KIND, payload
    if isinstance(action, DeleteMakeUp):
        return action.KIND, {
            "provider": action.provider,
            "calendar": action.calendar,
            "remote_id": action.remote_id,
            "made_key": action.made_key,
            "why": action.why,
        }
    return action.KIND, {
        "provider": action.provider,
        "calendar": action.calendar,
        "remote_id": action.remote_id,
        "url": action.block.url,
        "remove": action.block.remove,
        "why": action.why,
        "before": action.before,
    }


def decode(kind: str, payload: Mapping[str, Any]) -> Action:
    """The action an outbox row holds; :class:`BadAction` naming what is wrong."""
    try:
        if kind in (CreateMakeUp.KIND, CreateSeries.KIND):
            create = CreateMakeUp if kind == CreateMakeUp.KIND else CreateSeries
            return create(
                provider=_text(payload, "provider"),
                calendar=_text(payload, "calendar"),
                event=NewEvent(
                    title=_text(payload, "title"),
                    start=parse_instant(_text(payload, "start")),
                    end=parse_instant(_text(payload, "end")),
                    organizer=_text(payload, "organizer"),
                    attendees=tuple(_texts(payload, "attendees")),
                    description=str(payload.get("description") or ""),
                    timezone=str(payload.get("timezone") or "UTC"),
                    tags=_tags(payload),
                    recurrence=tuple(_texts(payload, "recurrence"))
                    if "recurrence" in payload else (),
                ),
                why=str(payload.get("why") or ""),
            )
        if kind == UpdateAgenda.KIND:
            # Rows queued before this codec carry the rendered block, not the URL.
            url = payload.get("url")
            block = (
                AgendaBlock(_text(payload, "url"), remove=bool(payload.get("remove")))
                if url is not None
                else AgendaBlock.from_text(_text(payload, "block"))
            )
            return UpdateAgenda(
                provider=_text(payload, "provider"),
                calendar=_text(payload, "calendar"),
                remote_id=_text(payload, "remote_id"),
                block=block,
                why=str(payload.get("why") or ""),
                before=str(payload.get("before") or ""),
            )
        if kind == DeleteMakeUp.KIND:
            return DeleteMakeUp(
                provider=_text(payload, "provider"),
                calendar=_text(payload, "calendar"),
                remote_id=_text(payload, "remote_id"),
                made_key=_text(payload, "made_key"),
                why=str(payload.get("why") or ""),
            )
    except (ValueError, TypeError) as exc:
        raise BadAction(f"{kind}: {exc}") from None
    raise BadAction(f"unknown action {kind!r}")


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing or not text")
    return value


def _texts(payload: Mapping[str, Any], name: str) -> list[str]:
    value = payload.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} is not a list of text")
    return value


def _tags(payload: Mapping[str, Any]) -> dict[str, str]:
    value = payload.get("tags") or {}
    if not isinstance(value, dict):
        raise ValueError("tags is not an object")
    return {str(k): str(v) for k, v in value.items()}
