"""Seed files as both emulators take them: which files, and their JSON or iCalendar text.

What a seed means is each emulator's own (``google_seed``, ``graph_seed``);
finding the files and reading them, with errors that name the file, is the
same for both and lives here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import icalendar

SUFFIXES = (".json", ".ics")


class SeedError(ValueError):
    """A seed file that cannot be loaded; the message names the place."""


def seed_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The ``.json``/``.ics`` files named, a directory standing for those in it (sorted)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        elif not path.exists():
            raise SeedError(f"{path}: no such file")
        elif path.suffix.lower() in SUFFIXES:
            out.append(path)
        else:
            raise SeedError(f"{path}: a seed file must end in .json or .ics")
    return out


def read_json(path: Path) -> Any:
    """The JSON document in ``path``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SeedError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


def read_ics(path: Path) -> icalendar.Calendar:
    """The iCalendar object in ``path``."""
    try:
        return icalendar.Calendar.from_ical(path.read_bytes())
    except OSError as exc:
        raise SeedError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SeedError(f"{path}: not an iCalendar file ({exc})") from None


__all__ = ["SeedError", "read_ics", "read_json", "seed_files"]
