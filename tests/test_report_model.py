"""The weekly email's values, schedule and rendering, from plain data (no store, no SMTP)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from calsync.config import ReportSettings
from calsync.engine.evaluate import pair_params, policy_params
from calsync.policies import Status, evaluate_pair
from calsync.report import (
    IsoWeek,
    build_manager_report,
    build_message,
    render_html,
    render_text,
    reports_document,
    subject,
)
from calsync.report.model import CalendarProblem, Slot
from calsync.report.schedule import due_week, evaluation_instant
from calsync.store import CalendarStatus
from tests.report_support import (
    OUTCOMES,
    PEOPLE,
    SEND_NOW,
    TEAMS,
    W47,
    build,
    other_names,
    pair_events,
    report_names,
    synced,
    team_settings,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


# -- ISO weeks and the schedule ------------------------------------------------------


def test_iso_weeks_parse_print_and_label() -> None:
    assert IsoWeek.parse("2026-W47") == W47 == IsoWeek.parse("2026w47")
    assert str(IsoWeek(2027, 1)) == "2027-W01"
    assert W47.monday.isoformat() == "2026-11-16" and W47.sunday.isoformat() == "2026-11-22"
    assert W47.label == "16–22 Nov 2026"
    assert IsoWeek(2026, 49).label == "30 Nov – 6 Dec 2026"
    assert IsoWeek(2026, 53).label == "28 Dec 2026 – 3 Jan 2027"
    assert IsoWeek(2027, 1).previous() == IsoWeek(2026, 53)
    for bad in ("2026-W54", "2025-W53", "week 47", "2026-47"):
        with pytest.raises(ValueError, match="ISO week"):
            IsoWeek.parse(bad)


def test_week_bounds_follow_the_zone_across_dst() -> None:
    start, end = IsoWeek(2026, 44).bounds(NEW_YORK)  # New York leaves DST on Sun 1 Nov
    assert start == datetime(2026, 10, 26, 4, tzinfo=UTC)
    assert end == datetime(2026, 11, 2, 5, tzinfo=UTC)
    assert end - start == timedelta(days=7, hours=1)


def test_the_email_is_due_from_the_send_time_in_the_managers_zone() -> None:
    monday_8am = ReportSettings()
    just_before = datetime(2026, 11, 23, 12, 59, tzinfo=UTC)  # 07:59 in New York
    assert due_week(just_before, NEW_YORK, monday_8am) == (
        IsoWeek(2026, 46), datetime(2026, 11, 16, 13, tzinfo=UTC)
    )
    at_eight = datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert due_week(at_eight, NEW_YORK, monday_8am) == (W47, at_eight)
    # The same instant is already Monday 14:00 in Berlin: its email went out at 07:00 UTC.
    assert due_week(at_eight, BERLIN, monday_8am) == (W47, datetime(2026, 11, 23, 7, tzinfo=UTC))
    # A Friday send covers the last complete week, not the one still running.
    friday = ReportSettings(send_day="Fri", send_time="16:30")
    week, send_at = due_week(datetime(2026, 11, 27, 22, tzinfo=UTC), NEW_YORK, friday)
    assert (week, send_at) == (W47, datetime(2026, 11, 27, 21, 30, tzinfo=UTC))


def test_a_week_is_evaluated_at_its_end_or_now_if_sooner() -> None:
    end = W47.bounds(NEW_YORK)[1]
    assert evaluation_instant(W47, NEW_YORK, SEND_NOW) == end
    friday = datetime(2026, 11, 20, 21, tzinfo=UTC)
    assert evaluation_instant(W47, NEW_YORK, friday) == friday
    with pytest.raises(ValueError, match="has not started"):
        evaluation_instant(IsoWeek(2026, 49), NEW_YORK, SEND_NOW)


# -- the report values ---------------------------------------------------------------


@pytest.mark.parametrize("manager", sorted(TEAMS))
def test_a_report_holds_only_its_managers_reports(manager: str) -> None:
    report = build(manager)
    assert {row.report for row in report.rows} == set(TEAMS[manager])
    assert report.pairs_total == 2
    text, html = render_text(report), render_html(report)
    for name in report_names(manager):
        assert name in text and name in html
    for name in other_names(manager):
        assert name not in text and name not in html
    others = [m for m in TEAMS if m != manager]
    assert not any(other in text or other in html for other in others)


def test_headline_counts_the_week_in_the_managers_zone() -> None:
    ann = build("ann@example.com")
    assert ann.week == W47 and ann.complete
    counts = ann.counts
    assert (counts.expected, counts.held, counts.cancelled, counts.declined) == (2, 1, 1, 0)
    assert counts.cancelled_by_you == 1 and counts.missed == 0 and counts.upcoming == 0
    assert counts.made_up == 0  # calsync books make-ups: none this week
    assert len(ann.needs_attention) == 1

    bob = build("bob@example.com")
    assert (bob.counts.expected, bob.counts.held, bob.counts.declined) == (2, 1, 1)
    assert bob.counts.cancelled_by_you == 0
    assert subject(bob) == (
        "1:1s 16–22 Nov: 1 of 2 held, 1 cancelled or declined · 1 needs attention"
    )
    assert subject(ann) == "1:1s 16–22 Nov: 1 of 2 held, 1 cancelled · 1 needs attention"


def test_rows_speak_to_the_manager_and_say_what_to_do() -> None:
    ann = build("ann@example.com")
    cid, dee = ann.rows  # most urgent first
    assert cid.name == "Cid Campos" and cid.status == "critical"
    texts = [flag.text for flag in cid.flags]
    assert "3 of the last 4 1:1s did not happen: cancelled 3 times by you." in texts
    assert any(t.startswith("The last 3 in a row did not happen, since Mon 2 Nov") for t in texts)
    assert cid.advice == "Protect this slot: move the 1:1 within its week rather than cancel it."
    assert cid.adherence_4 == 0.25
    assert [c.kind for c in cid.strip][-4:] == ["cancelled", "cancelled", "cancelled", "upcoming"]
    assert cid.strip[-2].note == "Mon 16 Nov 16:00: cancelled by you"  # Berlin time
    assert cid.made_up == () and cid.suggested == ()
    assert dee.status == "ok" and dee.flags == () and dee.advice is None
    assert dee.days_since_held == 7 and len(dee.strip) == 12  # 11 weeks held, then next

    eve = build("bob@example.com").rows[0]
    assert eve.name == "Eve Evans"
    assert "2 of the last 4 1:1s did not happen: declined twice by Eve." in [
        f.text for f in eve.flags
    ]
    assert "ask whether the slot still works" in (eve.advice or "")


def test_a_flag_says_since_when_it_is_open_if_that_was_recorded() -> None:
    opened = datetime(2026, 11, 10, 12, tzinfo=UTC)
    ann = build("ann@example.com", since={("cid@example.com", "cadence_gap"): opened,
                                          ("dee@example.com", "cadence_gap"): opened})
    cid = ann.rows[0]
    assert [(f.kind, f.since) for f in cid.flags] == [
        ("repeated_cancellations", None),  # never recorded: nothing is said
        ("cancellation_streak", None),
        ("cadence_gap", opened),
    ]
    text = render_text(ann)
    assert "the agreed cadence is weekly. Open since Tue 10 Nov.\n" in text
    assert text.count("Open since") == 1  # Dee has no flag: a stale record says nothing
    assert "Open since Tue 10 Nov.</span>" in render_html(ann)
    (entry,) = reports_document([ann], SEND_NOW)["reports"]
    assert [f["since"] for f in entry["reports"][0]["flags"]] == [
        None, None, "2026-11-10T12:00:00+00:00",
    ]


def test_fairness_names_who_bumped_whom() -> None:
    (cid,) = build("ann@example.com").fairness  # Dee was never bumped: not listed
    assert (cid.name, cid.bumps) == ("Cid Campos", 3)
    assert [(c.label, c.count) for c in cid.causes] == [("cancelled by you", 3)]
    (eve,) = build("bob@example.com").fairness
    assert [(c.label, c.count) for c in eve.causes] == [("declined by Eve", 2)]


def test_times_are_shown_in_the_managers_zone() -> None:
    # Every 1:1 is at 15:00 UTC: 16:00 in Berlin, 10:00 in New York.
    assert "Next: Mon 23 Nov, 16:00" in render_text(build("ann@example.com"))
    assert "Next: Mon 23 Nov, 10:00" in render_text(build("bob@example.com"))
    assert "Times in America/New_York" in render_text(build("bob@example.com"))


def test_calendars_that_could_not_be_synced_are_in_the_footer() -> None:
    calendars = [synced(e) for e in PEOPLE if e not in ("cid@example.com", "eve@example.com")]
    calendars.append(synced("cid@example.com", "reauthorization needed: the grant was revoked"))
    ann = build("ann@example.com", calendars)
    assert ann.calendar_problems == (
        CalendarProblem(
            owner="cid@example.com", name="Cid Campos", provider="feeds",
            calendar="cid.ics",
            error="reauthorization needed: the grant was revoked",
            failing_since=datetime(2026, 11, 22, 12, tzinfo=UTC),
            last_synced_at=datetime(2026, 11, 22, 12, tzinfo=UTC),
        ),
    )
    text = render_text(ann)
    assert (
        "NOT SYNCED: Cid Campos (feeds: cid.ics), failing since Sun 22 Nov, 13:00: "
        "reauthorization needed: the grant was revoked"
    ) in text
    assert "reauthorization needed" in render_html(ann)
    bob = build("bob@example.com", calendars)  # Eve's calendar was never read
    assert [p.error for p in bob.calendar_problems] == [
        "never synced: calsync has not read this calendar yet"
    ]
    assert "reauthorization" not in render_text(bob)  # Cid is not Bob's report
    assert "All 3 calendars of your team synced." in render_text(build("ann@example.com"))
    # A calendar the store still knows from an older config is not the team's problem.
    stale = CalendarStatus("old-feeds", "cid-old.ics", "cid@example.com", None, "gone", None)
    assert build("ann@example.com", [*calendars, stale]).calendar_problems == ann.calendar_problems


def test_make_ups_and_suggested_slots_are_shown() -> None:
    settings = team_settings()
    ann = settings.person("ann@example.com")
    as_of = evaluation_instant(W47, ann.zone, SEND_NOW)
    policy = policy_params(settings.policy)
    healths = [
        evaluate_pair(pair_events(p.manager, p.report, OUTCOMES[(p.manager, p.report)]),
                      pair_params(settings, p), policy, as_of)
        for p in settings.pairs
    ]
    # Cid's last cancelled 1:1 was made up two days later.
    index = next(i for i, h in enumerate(healths) if h.report == "cid@example.com")
    cid = healths[index]
    bumped = [o for o in cid.occurrences if o.status is Status.CANCELLED][-1]
    start = bumped.original_start + timedelta(days=2)
    made = replace(bumped, status=Status.MADE_UP, start=start, end=start + timedelta(minutes=30))
    healths[index] = replace(
        cid, occurrences=tuple(made if o is bumped else o for o in cid.occurrences)
    )
    offer = (as_of + timedelta(days=1), as_of + timedelta(days=1, minutes=30))
    report = build_manager_report(
        ann, {p.email: p for p in settings.people}, settings.pairs, healths,
        [synced(email) for email in PEOPLE], week=W47, as_of=as_of, policy=policy,
        generated_at=SEND_NOW, suggestions={"dee@example.com": [offer]},
    )
    rows = {row.report: row for row in report.rows}
    assert rows["cid@example.com"].made_up == (Slot(made.start, made.end),)
    assert rows["dee@example.com"].suggested == (Slot(*offer),)
    if W47.bounds(ann.zone)[0] <= bumped.original_start < W47.bounds(ann.zone)[1]:
        assert report.counts.made_up == 1
    for part in (render_text(report), render_html(report)):
        assert "calsync booked a make-up" in part
        assert "Free slots for a make-up" in part


def test_a_report_asked_for_mid_week_says_so() -> None:
    wednesday = datetime(2026, 11, 18, 12, tzinfo=UTC)
    ann = build("ann@example.com", week=W47, now=wednesday)
    assert not ann.complete and ann.as_of == wednesday
    assert "so far, as of Wed 18 Nov, 13:00" in render_text(ann)


def test_the_html_part_is_made_for_mail_clients() -> None:
    html = render_html(build("ann@example.com"))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html, re.IGNORECASE)
    assert "<style" not in html.lower()  # inline styles only: Outlook and Gmail agree on them
    assert 'role="presentation"' in html and "bgcolor=" in html
    assert len(html.encode()) < 60_000  # well under Gmail's ~100 KB clipping


def test_the_message_goes_to_the_manager_only_with_both_parts() -> None:
    ann = build("ann@example.com")
    message: EmailMessage = build_message(ann, "calsync <calsync@example.org>")
    assert message["To"] == "Ann Arendt <ann@example.com>"
    assert message.get_all("Cc") is None and message.get_all("Bcc") is None
    assert message.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert message["Subject"] == subject(ann)
    again = build_message(build("ann@example.com"), "calsync <calsync@example.org>")
    assert message["Message-ID"] == again["Message-ID"]
    assert message["Message-ID"].endswith("@example.org>")
    bob = build_message(build("bob@example.com"), "calsync <calsync@example.org>")
    assert bob["Message-ID"] != message["Message-ID"]
    other_week = build_message(build("ann@example.com", week=IsoWeek(2026, 46)), "x@example.org")
    assert other_week["Message-ID"] != message["Message-ID"]


def test_the_json_document_is_the_same_data() -> None:
    ann = build("ann@example.com")
    document = reports_document([ann], SEND_NOW)
    assert document["format"] == 1
    (entry,) = document["reports"]
    assert entry["manager"] == "ann@example.com" and entry["week"] == "2026-W47"
    assert entry["counts"] == {
        "expected": 2, "held": 1, "cancelled": 1, "declined": 0, "missed": 0, "upcoming": 0,
        "by_you": 1, "made_up": 0, "pairs": 2, "need_attention": 1,
    }  # fmt: skip
    cid = entry["reports"][0]
    assert cid["report"] == "cid@example.com" and cid["status"] == "critical"
    assert cid["strip"][-1]["kind"] == "upcoming"
    assert cid["made_up"] == [] and cid["suggested"] == []
    assert entry["fairness"][0]["causes"] == [{"label": "cancelled by you", "count": 3}]
