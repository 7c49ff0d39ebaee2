"""Click parameter types the calsync commands share; bad values exit 2 naming the option."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from calsync.report.schedule import IsoWeek
from calsync.timeutil import parse_instant


class InstantParam(click.ParamType):
    """An ISO 8601 instant with an offset (``--now 2026-11-20T21:00:00Z``)."""

    name = "ISO-DATETIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


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
