"""Transitional: re-exports ``tests/report_support.py`` under its old name.

Only ``tests/test_report_model.py`` (owned elsewhere, edited in parallel) still
imports from here. Delete this file once it imports ``tests.report_support``.
It holds no tests.
"""

from tests.report_support import (
    OUTCOMES,
    PEOPLE,
    SEND_NOW,
    TEAMS,
    calendar_of,
    other_names,
    pair_events,
    report_names,
    team_settings,
)

__all__ = [
    "OUTCOMES",
    "PEOPLE",
    "SEND_NOW",
    "TEAMS",
    "calendar_of",
    "other_names",
    "pair_events",
    "report_names",
    "team_settings",
]
