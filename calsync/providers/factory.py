"""The configured providers, built and closed in one place.

Every command that reads calendars uses :func:`open_readers`, so refreshed
OAuth tokens and the msal cache are saved and connections closed however the
command ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from calsync.config import CaldavProvider, GoogleProvider, IcsProvider, OutlookProvider, Settings
from calsync.providers.base import ApiCallCounter, CalendarReader, Closable, uncounted
from calsync.providers.caldav.calendar import CaldavCalendar
from calsync.providers.google.auth import credential_source
from calsync.providers.google.calendar import GoogleCalendar
from calsync.providers.ics.reader import IcsReader
from calsync.providers.outlook.auth import token_source
from calsync.providers.outlook.calendar import OutlookCalendar
from calsync.secrets import SecretBox


def build_readers(
    settings: Settings,
    *,
    count_api_call: ApiCallCounter = uncounted,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, CalendarReader]:
    """One reader per configured provider, by name; close them with :func:`close_readers`.

    ``sleep`` is how retrying clients wait (tests pass a recorder instead).
    """
    zones: dict[tuple[str, str], ZoneInfo] = {}
    owners: dict[str, dict[str, str]] = {}
    for person in settings.people:
        zones[(person.provider, person.calendar_id)] = person.zone
        owners.setdefault(person.provider, {})[person.calendar_id] = person.email

    def box() -> SecretBox:
        return SecretBox.load(settings.path(settings.secret_key_file))

    readers: dict[str, CalendarReader] = {}
    for name, provider in settings.providers.items():

        def zone_of(calendar: str, _name: str = name) -> ZoneInfo:
            return zones.get((_name, calendar), ZoneInfo("UTC"))

        if isinstance(provider, IcsProvider):
            readers[name] = IcsReader(
                name, provider, settings.base_dir, zone_of, count_api_call=count_api_call
            )
        elif isinstance(provider, GoogleProvider):
            credentials = credential_source(
                name, provider, settings.path, box, owners.get(name, {})
            )
            readers[name] = GoogleCalendar(
                name, provider, credentials, zone_of, sleep=sleep, count_api_call=count_api_call
            )
        elif isinstance(provider, OutlookProvider):
            tokens = token_source(name, provider, settings.path, box)
            readers[name] = OutlookCalendar(
                name, provider, tokens, zone_of, owners=owners.get(name, {}), sleep=sleep,
                count_api_call=count_api_call,
            )
        elif isinstance(provider, CaldavProvider):
            readers[name] = CaldavCalendar(
                name, provider, zone_of, owners=owners.get(name, {}), sleep=sleep,
                count_api_call=count_api_call,
            )
    return readers


def close_readers(readers: Mapping[str, CalendarReader]) -> None:
    """Persist refreshed tokens and release connections, for every reader that holds any."""
    for reader in readers.values():
        if isinstance(reader, Closable):
            reader.close()


@contextmanager
def open_readers(
    settings: Settings, *, count_api_call: ApiCallCounter = uncounted
) -> Iterator[dict[str, CalendarReader]]:
    """The configured readers, closed (tokens saved) when the block ends, however it ends."""
    readers = build_readers(settings, count_api_call=count_api_call)
    try:
        yield readers
    finally:
        close_readers(readers)
