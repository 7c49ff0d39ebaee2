"""Crash points for the crash tests: ``CALSYNC_CRASH_AT=<name>`` ends the process there.

The outbox must make every write happen once even when the process dies
between two steps; tests prove it by killing a real ``calsync run --once`` at
each named point. Unset, these are no-ops.
"""

from __future__ import annotations

import os

ENV = "CALSYNC_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os._exit(86)
