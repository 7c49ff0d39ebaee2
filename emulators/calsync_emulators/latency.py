"""The latency switch both emulators share: how long every request waits.

Real Google and Graph answer a data centre in tens of milliseconds; the
emulators answer loopback in well under one. A benchmark of concurrent I/O
means nothing at zero latency, so each emulator can delay every request by a
fixed time: ``--latency 80ms`` on the command line, ``latency="80ms"`` in the
constructor, or ``CALSYNC_EMULATOR_LATENCY=80ms`` in the environment (the
argument wins). The delay is a sleep in the request's own server thread,
outside every lock, so requests in flight wait side by side, as they would
on the real services.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

ENV_VAR = "CALSYNC_EMULATOR_LATENCY"

_LATENCY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*", re.IGNORECASE)
# A request that waits longer than this is a typo (80s for 80ms), not a test.
MAX_LATENCY_SECONDS = 60.0


def parse_latency(text: str | float, where: str = "latency") -> float:
    """Seconds for ``"80ms"``, ``"0.08s"``, ``"0.08"`` or a number of seconds.

    Raises ValueError naming ``where`` (the option or variable) when the value
    is not a duration between 0 and a minute.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _LATENCY.fullmatch(text)
        if match is None:
            raise ValueError(
                f"{where}: {text!r} is not a duration (examples: 80ms, 0.08s, 0)"
            )
        seconds = float(match[1]) / (1000 if (match[2] or "s").lower() == "ms" else 1)
    if not 0 <= seconds <= MAX_LATENCY_SECONDS:
        raise ValueError(f"{where}: {text!r} is outside 0 to {MAX_LATENCY_SECONDS:g} seconds")
    return seconds


def configured_latency(
    value: str | float | None, environ: Mapping[str, str] | None = None
) -> float:
    """The latency to start with: ``value`` if given, else the environment, else 0."""
    if value is not None:
        return parse_latency(value)
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR, "").strip()
    return parse_latency(text, ENV_VAR) if text else 0.0


__all__ = ["ENV_VAR", "MAX_LATENCY_SECONDS", "configured_latency", "parse_latency"]
