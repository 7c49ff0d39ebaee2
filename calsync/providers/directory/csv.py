"""``kind = "csv"``: an HR export, read whole or refused whole.

Columns (a header row is required, its order is free, other columns are
ignored)::

    email,name,manager_email,timezone,working_hours
    ana@example.com,Ana Ruiz,,Europe/Madrid,Mon-Fri 09:00-17:00
    dev@example.com,Dev Shah,ana@example.com,,

``timezone`` (IANA) and ``working_hours`` may be empty (the source's defaults
apply). Every bad row is reported with its line number, and one bad row
refuses the whole file: a file applied in part would end pairs by mistake.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.providers.directory.entries import (
    DirectoryEntry,
    DirectoryError,
    DirectoryInputError,
    DirectoryListing,
    clean_email,
    is_email,
)
from calsync.timeutil import WorkingHours

COLUMNS = ("email", "name", "manager_email", "timezone", "working_hours")
REQUIRED = ("email", "manager_email")
MAX_PROBLEMS = 20  # enough to fix a file; a wholly wrong file is not listed in full


class CsvDirectory:
    """Reads ``path``; ``known`` are emails the TOML lists (managers may be there)."""

    def __init__(self, name: str, path: Path, known: Collection[str] = ()) -> None:
        self.name = name
        self.path = path
        self.known = {clean_email(e) for e in known}

    def read(self) -> DirectoryListing:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise DirectoryInputError(self.name, f"{self.path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise DirectoryInputError(
                self.name, f"{self.path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except OSError as exc:
            raise DirectoryError(self.name, f"{self.path}: cannot read: {exc.strerror}") from None
        return DirectoryListing(self.name, parse_csv(text, str(self.path), self.known, self.name))

    def close(self) -> None:
        """Nothing to release."""


def parse_csv(
    text: str, where: str, known: Collection[str] = (), source: str = "csv"
) -> tuple[DirectoryEntry, ...]:
    """The entries of an HR export; DirectoryInputError listing every bad line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DirectoryInputError(
            source, f"{where}: line 1: the header needs the columns {', '.join(missing)} "
            f"(columns: {','.join(COLUMNS)})")
    reader.fieldnames = header
    problems: list[str] = []
    entries: list[DirectoryEntry] = []
    lines: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if not any(values.values()):
            continue
        entry, errors = _entry(values)
        problems += [f"{where}: line {line}: {e}" for e in errors]
        if entry is None:
            continue
        if entry.email in lines:
            problems.append(f"{where}: line {line}: {entry.email} is listed twice "
                            f"(also line {lines[entry.email]})")
            continue
        lines[entry.email] = line
        entries.append(entry)
    listed = {e.email for e in entries}
    for entry in entries:
        if entry.manager and entry.manager not in listed and entry.manager not in known:
            problems.append(f"{where}: line {lines[entry.email]}: manager {entry.manager} is "
                            "neither in the file nor under [[people]]")
    problems += [f"{where}: line {lines[e]}: {message}" for e, message in _cycles(entries)]
    if problems:
        more = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise DirectoryInputError(source, "the file is refused, nothing applied:\n"
                                  + "\n".join(shown))
    return tuple(entries)


def _entry(values: dict[str, str]) -> tuple[DirectoryEntry | None, list[str]]:
    errors = []
    email = clean_email(values.get("email"))
    if not is_email(email):
        return None, [f"email {values.get('email', '')!r} is not an email address"]
    manager = clean_email(values.get("manager_email")) or None
    if manager is not None and not is_email(manager):
        errors.append(f"manager_email {values['manager_email']!r} is not an email address")
        manager = None
    if manager == email:
        errors.append(f"{email} is their own manager")
    zone = values.get("timezone") or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"timezone {zone!r} is not an IANA time zone (e.g. 'Europe/Berlin')")
    hours = None
    if values.get("working_hours"):
        try:
            hours = WorkingHours.parse(values["working_hours"])
        except ValueError as exc:
            errors.append(f"working_hours: {exc}")
    entry = DirectoryEntry(email=email, name=values.get("name", ""), manager=manager,
                           timezone=zone, working_hours=hours)
    return entry, errors


def _cycles(entries: list[DirectoryEntry]) -> list[tuple[str, str]]:
    """(email, message) for each person whose manager chain comes back to them."""
    manager_of = {e.email: e.manager for e in entries}
    found: list[tuple[str, str]] = []
    reported: set[str] = set()
    for entry in entries:
        chain = [entry.email]
        current = manager_of.get(entry.email)
        while current is not None and current in manager_of and current not in chain:
            chain.append(current)
            current = manager_of.get(current)
        if current is not None and current in chain:
            loop = chain[chain.index(current):]
            if not reported & set(loop):
                reported |= set(loop)
                found.append((entry.email, "the manager chain is a cycle: "
                              + " -> ".join([*loop, current])))
    return found
