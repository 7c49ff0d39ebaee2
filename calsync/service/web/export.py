"""A pair's agenda as JSON (the API, ``agenda export --format json``) and as Markdown.

The JSON shape is documented in the README ("The JSON API") and stable:
fields may be added, never renamed or removed. Instants are ISO 8601 UTC;
``occurrence`` is the 1:1's regular start, the key everything is filed under.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from calsync.engine.agenda import ActionView, Meeting, PairAgenda, TopicView
from calsync.store.agenda import Note

Names = Callable[[str], str]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _person(email: str | None, names: Names) -> dict[str, str] | None:
    return None if email is None else {"email": email, "name": names(email)}


def _topic(view: TopicView, names: Names) -> dict[str, Any]:
    topic = view.topic
    return {
        "id": topic.id,
        "title": topic.title,
        "author": _person(topic.author, names),
        "created_at": _iso(topic.created_at),
        "raised_for": _iso(topic.occurrence),
        "carried_over_since": _iso(view.carried_since),
        "discussed": view.discussed,
        "discussed_in": _iso(topic.discussed_in),
        "discussed_by": _person(topic.discussed_by, names),
    }


def _note(note: Note | None, names: Names) -> dict[str, Any] | None:
    if note is None:
        return None
    return {"text": note.body, "updated_by": _person(note.updated_by, names),
            "updated_at": _iso(note.updated_at)}


def _action(view: ActionView, names: Names) -> dict[str, Any]:
    item = view.item
    return {
        "id": item.id,
        "title": item.title,
        "owner": _person(item.owner, names),
        "due": None if item.due is None else item.due.isoformat(),
        "overdue": view.overdue,
        "done": view.done,
        "done_at": _iso(item.done_at),
        "done_by": _person(item.done_by, names),
        "author": _person(item.author, names),
        "created_at": _iso(item.created_at),
        "raised_in": _iso(item.occurrence),
    }


def _meeting(meeting: Meeting, names: Names) -> dict[str, Any]:
    occurrence = meeting.occurrence
    return {
        "occurrence": _iso(meeting.key),
        "start": _iso(occurrence.start if occurrence else None),
        "end": _iso(occurrence.end if occurrence else None),
        "status": occurrence.status.value if occurrence else None,
        "by": _person(occurrence.by if occurrence else None, names),
        # Only on an excused 1:1 (someone away): why, as check --json says it.
        **({"reason": occurrence.reason} if occurrence and occurrence.reason else {}),
        "topics": [_topic(t, names) for t in meeting.topics],
        "shared_notes": _note(meeting.shared_note, names),
        "private_notes": _note(meeting.private_note, names),
        "action_items": [_action(a, names) for a in meeting.actions],
    }


def agenda_json(agenda: PairAgenda, page_id: str, names: Names) -> dict[str, Any]:
    return {
        "pair": {"id": page_id, "manager": _person(agenda.manager, names),
                 "report": _person(agenda.report, names)},
        "next": _meeting(agenda.current, names),
        "action_items": {"open": [_action(a, names) for a in agenda.open_actions],
                         "done": [_action(a, names) for a in agenda.done_actions]},
        "history": [_meeting(m, names) for m in agenda.history],
    }


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def agenda_markdown(agenda: PairAgenda, names: Names) -> str:
    lines = [f"# 1:1 {names(agenda.manager)} / {names(agenda.report)}", ""]
    current = agenda.current
    if current.occurrence is not None:
        lines += [f"## Next 1:1: {_when(current.occurrence.start)}", ""]
    else:
        lines += ["## Next 1:1: nothing on the books yet", ""]
    lines += _topics_md(current.topics, names) or ["No topics yet.", ""]
    if current.shared_note:
        lines += ["### Notes", "", current.shared_note.body, ""]
    lines += ["## Open action items", ""]
    for view in agenda.open_actions:
        lines.append(_action_md(view, names))
    if not agenda.open_actions:
        lines.append("None.")
    lines.append("")
    if agenda.history:
        lines += ["## History", ""]
    for meeting in agenda.history:
        occurrence = meeting.occurrence
        status = occurrence.status.value.replace("_", " ") if occurrence else "(before the record)"
        by = f" by {names(occurrence.by)}" if occurrence and occurrence.by else ""
        if occurrence and occurrence.reason:
            by = f": {occurrence.reason}"  # excused: someone was away
        start = occurrence.start if occurrence else meeting.key
        lines += [f"### {_when(start)}: {status}{by}", ""]
        lines += _topics_md(meeting.topics, names)
        if meeting.shared_note:
            lines += ["Notes:", "", meeting.shared_note.body, ""]
        for view in meeting.actions:
            lines.append(_action_md(view, names))
        if meeting.actions:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _topics_md(topics: list[TopicView], names: Names) -> list[str]:
    out = []
    for view in topics:
        box = "x" if view.discussed else " "
        carried = (f" (carried over since {view.carried_since:%Y-%m-%d})"
                   if view.carried_since else "")
        out.append(f"- [{box}] {view.topic.title} ({names(view.topic.author)}){carried}")
    return [*out, ""] if out else []


def _action_md(view: ActionView, names: Names) -> str:
    item = view.item
    box = "x" if view.done else " "
    due = f", due {item.due.isoformat()}" if item.due else ""
    late = " **overdue**" if view.overdue else ""
    return f"- [{box}] {item.title} ({names(item.owner)}{due}){late}"
