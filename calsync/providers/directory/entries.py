"""The neutral shape of a directory read: one entry per person, and what went wrong.

A source either reads completely or raises :class:`DirectoryError`: a half
read must never look like a list of people who left.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Protocol, runtime_checkable

from calsync.model import normalize_email, printable
from calsync.timeutil import WorkingHours

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One person as the directory describes them; None where it says nothing."""

    email: str
    name: str = ""
    manager: str | None = None
    timezone: str | None = None  # IANA
    working_hours: WorkingHours | None = None
    org_unit: str | None = None  # Google: "/Engineering/Platform"
    groups: frozenset[str] = frozenset()  # Graph: group ids and display names


@dataclass(frozen=True, slots=True)
class DirectoryListing:
    """Everyone a source lists (a complete read), and notes worth telling a person."""

    source: str
    entries: tuple[DirectoryEntry, ...]
    notes: tuple[str, ...] = field(default=())


class DirectoryError(Exception):
    """A source could not be read (network, permission, server): nothing is applied."""

    def __init__(self, source: str, message: str) -> None:
        source, message = printable(source), printable(message)
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class DirectoryInputError(DirectoryError):
    """The source's data is wrong (a CSV with bad rows): a person must fix it (exit 2)."""


@runtime_checkable
class DirectoryReader(Protocol):
    """Reads one directory source completely."""

    name: str

    def read(self) -> DirectoryListing:
        """Every person of the source, or DirectoryError."""
        ...

    def close(self) -> None:
        """Persist tokens and drop connections."""
        ...


def is_email(value: str) -> bool:
    return EMAIL.fullmatch(value) is not None


def clean_email(value: object) -> str:
    return normalize_email(str(value or ""))


def hours_from_days(days: Iterable[str], start: time, end: time) -> WorkingHours:
    """Working hours from a list of weekday names (Graph's ``daysOfWeek``) and one span."""
    indexes = sorted({_DAY_NAMES.index(d.lower()) for d in days if d.lower() in _DAY_NAMES})
    if not indexes:
        raise ValueError("no working days")
    clock = f"{start:%H:%M}-{'24:00' if end == time.max else f'{end:%H:%M}'}"
    chunks: list[str] = []
    for run in _runs(indexes):
        first, last = _DAY_NAMES[run[0]][:3].title(), _DAY_NAMES[run[-1]][:3].title()
        chunks.append(f"{first}-{last} {clock}" if len(run) > 1 else f"{first} {clock}")
    return WorkingHours.parse(", ".join(chunks))


def _runs(indexes: Sequence[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs
