"""Time zones by name, as the two emulators accept them: IANA keys and Windows names.

Google Calendar takes IANA names only (:func:`zone`). Graph also takes Windows
names such as "Eastern Standard Time" (:func:`resolve_zone`, case-insensitive,
through the emulators' own table in :mod:`calsync_emulators.windows_zones`) and
reports zones by their Windows name (:func:`windows_name`). Graph also spells
UTC "UTC" and "tzone://Microsoft/Utc".

:class:`TimeFormatError` is what every date, time, zone and recurrence parser of
the emulators raises for input the API would reject with a 400.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync_emulators.windows_zones import IANA_TO_WINDOWS, WINDOWS_TO_IANA


class TimeFormatError(ValueError):
    """A date, time, zone or recurrence line the API would reject with a 400."""


#: Windows names Graph accepts, lower-cased -> IANA key (CLDR plus Graph's UTC spellings).
_WINDOWS_LOWER = {
    name.lower(): iana
    for name, iana in {**WINDOWS_TO_IANA, "UTC": "UTC", "tzone://Microsoft/Utc": "UTC"}.items()
}
_IANA_TO_WINDOWS = {**IANA_TO_WINDOWS, "UTC": "UTC", "Etc/UTC": "UTC"}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; TimeFormatError when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeFormatError(f"Invalid time zone definition: {name}") from exc


def resolve_zone(name: str) -> ZoneInfo:
    """A Windows or IANA zone name as a ZoneInfo; TimeFormatError when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise TimeFormatError(f"Invalid time zone definition: {name!r}")
    iana = _WINDOWS_LOWER.get(name.strip().lower())
    if iana is not None:
        return zone(iana)
    return zone(name.strip())


def windows_name(name: str) -> str:
    """The Windows name of a zone (as workingHours reports it); the input if it is one."""
    if name.strip().lower() in _WINDOWS_LOWER:
        return name
    return _IANA_TO_WINDOWS.get(resolve_zone(name).key, name)
