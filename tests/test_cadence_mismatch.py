"""A series whose rule is not one 1:1 per agreed period is named, never passed silently."""

from __future__ import annotations

from datetime import timedelta

from calsync.policies import evaluate_pair
from tests.builders import POLICY, pair_params, series, week

NOW = week(14)


def flags(health) -> dict[str, str]:
    return {f.kind: f.message for f in health.findings}


def test_twice_a_week_is_a_cadence_mismatch_naming_the_rule() -> None:
    rule = "RRULE:FREQ=WEEKLY;BYDAY=MO,TH"
    history = series(["held"] * 20, step=timedelta(days=3, hours=12), rrule=rule)
    health = evaluate_pair(history, pair_params("weekly"), POLICY, NOW)
    message = flags(health)["cadence_mismatch"]
    assert rule in message and "weekly" in message


def test_every_weekday_is_a_cadence_mismatch() -> None:
    rule = "RRULE:FREQ=DAILY"
    history = series(["held"] * 40, step=timedelta(days=1), rrule=rule)
    health = evaluate_pair(history, pair_params("weekly"), POLICY, NOW)
    assert "cadence_mismatch" in flags(health)


def test_the_agreed_rule_raises_nothing() -> None:
    history = series(["held"] * 14, rrule="RRULE:FREQ=WEEKLY;BYDAY=MO")
    health = evaluate_pair(history, pair_params("weekly"), POLICY, NOW)
    assert "cadence_mismatch" not in flags(health)
