"""Click parameter types the calsync commands share; bad values exit 2 naming the option."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from calsync.report.schedule import IsoWeek
from calsync.timeutil import parse_instant

# calsync reaches a year or so either side of --now; past these bounds the
# windows around it leave what a datetime can hold.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class InstantParam(click.ParamType):
    """An ISO 8601 instant with an offset (``--now 2026-11-20T21:00:00Z``), 1900 to 2199."""

    name = "ISO-DATETIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            instant = parse_instant(str(value))
        except (ValueError, OverflowError) as exc:
            self.fail(str(exc), param, ctx)
        if not EARLIEST <= instant < LATEST:
            self.fail(f"{value!r} is out of range (years 1900 to 2199)", param, ctx)
        return instant


class IsoWeekParam(click.ParamType):
    """An ISO week (``--week 2026-W47``)."""

    name = "ISO-WEEK"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, IsoWeek):
            return value
        try:
            return IsoWeek.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
