"""`calsync demo`: the sample team, part of it served by the built-in emulators.

The demo config reads every calendar from ICS files. Here some people are
moved onto the Google Calendar API emulator, seeded with their same calendar,
so the demo exercises the real provider path (google-api-python-client over
HTTP, sync tokens, batches) and still shows the same team.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from calsync.config import GoogleProvider, IcsProvider, Settings
from calsync.emulators.google import GoogleEmulator

# The manager and two reports sync through the Google emulator; the rest stay on ICS.
ON_GOOGLE = ("maria@example.com", "dev@example.com", "lena@example.com")
GOOGLE = "google-emulator"


@contextmanager
def on_emulators(settings: Settings) -> Iterator[tuple[Settings, list[str]]]:
    """The demo settings with ``ON_GOOGLE`` people on a running, seeded Google emulator.

    Yields the settings and lines describing where each calendar comes from.
    """
    with tempfile.TemporaryDirectory(prefix="calsync-demo-") as tmp, GoogleEmulator(
        port=0
    ) as emulator:
        people = []
        for person in settings.people:
            provider = settings.providers[person.provider]
            if person.email not in ON_GOOGLE or not isinstance(provider, IcsProvider):
                people.append(person)
                continue
            source = settings.path(provider.path) / (person.calendar or person.email)
            # The emulator names an ICS-seeded calendar after its file: use the email.
            seeded = Path(tmp) / f"{person.email}.ics"
            shutil.copyfile(source, seeded)
            emulator.load_seed(seeded)
            people.append(person.model_copy(update={"provider": GOOGLE, "calendar": None}))
        providers = {
            **settings.providers,
            GOOGLE: GoogleProvider(kind="google", auth="none", api_endpoint=emulator.url),
        }
        lines = [
            f"{', '.join(ON_GOOGLE)}: Google Calendar API emulator at {emulator.url}",
            "everyone else: ICS files under "
            + ", ".join(
                str(settings.path(p.path).resolve()) for p in settings.providers.values()
                if isinstance(p, IcsProvider)
            ),
        ]
        yield settings.model_copy(update={"people": people, "providers": providers}), lines
