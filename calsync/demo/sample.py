"""The demo team: Maria Chen and her seven reports, as their calendar files tell it.

Each 1:1 below is written to show one thing calsync looks for. Periods count
weeks from the week holding ``now`` (0 = this week, -1 = last week), months
for Ana's monthly 1:1; weekdays and times are the organizer's wall clock. With
``DEMO_NOW`` (Friday 20 November 2026, 16:00 in New York) week 0 starts on
Monday 16 November and every occurrence of week 0 is already in the past.

Regenerate the committed files after editing this table::

    python -m calsync.demo.sample calsync/demo/calendars
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from calsync.demo.builder import (
    CANCELLED,
    DELETED,
    Meeting,
    Person,
    Split,
    Timeline,
    Writer,
    declined,
    moved,
    shortened,
)

# A Friday evening in UTC, after the week's 1:1s everywhere in the world.
DEMO_NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)

# Weeks are counted in the manager's zone.
HOME_ZONE = "America/New_York"

# Where the generated files are committed.
CALENDARS = Path(__file__).parent / "calendars"

PEOPLE = (
    Person("maria", "maria@example.com", "Maria Chen", "America/New_York", "Mon-Fri 09:00-17:00"),
    Person("dev", "dev@example.com", "Dev Patel", "Asia/Kolkata", "Mon-Fri 11:00-20:00"),
    Person("lena", "lena@example.com", "Lena Fischer", "Europe/Berlin", "Mon-Fri 08:30-17:00"),
    Person("sam", "sam@example.com", "Sam Okafor", "America/Los_Angeles", "Mon-Fri 08:00-16:30"),
    Person("priya", "priya@example.com", "Priya Raman", "Europe/London", "Mon-Fri 09:00-17:30"),
    # Tom's calendar comes from Outlook: Windows zone names in TZIDs.
    Person(
        "tom", "tom@example.com", "Tom Becker", "Australia/Sydney", "Mon-Fri 07:00-15:30",
        outlook=True,
    ),
    Person("ana", "ana@example.com", "Ana Souza", "America/Sao_Paulo", "Mon-Fri 09:00-18:00"),
    Person(
        "kenji", "kenji@example.com", "Kenji Watanabe", "Asia/Tokyo",
        "Mon-Thu 10:00-19:00, Fri 10:00-16:00",
    ),
)

# Outlook's UIDs are hex GlobalObjectIds; Tom's 1:1 keeps one in both copies.
TOM_UID = (
    "040000008200E00074C5B7101A82E00800000000"
    "70D1C5A3E2F7DA01000000000000000010000000"
    "4B9E2F0C6A1D8B7E35C04F19A2D6E8B1"
)

ONE_ON_ONES = (
    # Healthy: every week held. Week -4's moved from Tuesday to Thursday, still
    # inside its week, which counts as kept.
    Meeting(
        uid="demo-maria-dev-1on1",
        title="Maria / Dev 1:1",
        organizer="maria",
        guests=("dev",),
        first=-24, day="TU", at=time(9, 0), minutes=30, every=1,
        changes={-4: moved(days=2)},
    ),
    # Bumped: three of the last four did not happen, each a different way
    # (Maria deleted one on her day off, cancelled one, Lena declined the last),
    # after an earlier cancellation. The day off excuses the first (all-day
    # "OOO"); the other two still trip "2 of 4" and the streak.
    Meeting(
        uid="demo-maria-lena-1on1",
        title="1:1 Maria <> Lena",
        organizer="maria",
        guests=("lena",),
        first=-24, day="WE", at=time(10, 0), minutes=30, every=1,
        changes={-8: CANCELLED, -2: DELETED, -1: CANCELLED, 0: declined("lena")},
    ),
    # Held but chronically short: four of the last six cut to 15 minutes.
    Meeting(
        uid="demo-maria-sam-1on1",
        title="Sam <> Maria 1-1",
        organizer="maria",
        guests=("sam",),
        first=-32, day="TH", at=time(13, 0), minutes=30, every=2,
        changes={p: shortened(15) for p in (-8, -6, -2, 0)},
    ),
    # The series ended five weeks ago and nothing replaced it: a cadence gap,
    # nothing on the books.
    Meeting(
        uid="demo-maria-priya-1on1",
        title="Maria/Priya one-on-one",
        organizer="maria",
        guests=("priya",),
        first=-28, day="MO", at=time(11, 0), minutes=30, every=1,
        ends_weeks_ago=5,
    ),
    # The report organizes, from Outlook, in Sydney time: the series crosses
    # the early-October AUS DST change. Maria declined one; another was pulled
    # 11 days forward, next to the one before it: outside its cadence window,
    # so its own period counts as missed.
    Meeting(
        uid=TOM_UID,
        title="1on1 Tom + Maria",
        organizer="tom",
        guests=("maria",),
        first=-28, day="TU", at=time(7, 0), minutes=45, every=2,
        changes={-10: declined("maria"), -4: moved(days=-11)},
    ),
    # Monthly, all held; split Google-style half way through to a later hour.
    Meeting(
        uid="demo-maria-ana-1on1",
        title="Maria & Ana 1:1",
        organizer="maria",
        guests=("ana",),
        first=-11, day="TU", at=time(11, 0), minutes=45, monthly=True,
        split=Split(period=-5, at=time(14, 0)),
    ),
    # Kenji: configured as weekly, but no 1:1 series exists (see the intro chat
    # and the APAC sync below, which must not be mistaken for one).
)

# Everything else on the calendars: what a series finder has to look past.
NOISE = (
    # Recurring group meetings.
    Meeting(
        uid="demo-platform-weekly",
        title="Platform team weekly",
        organizer="maria",
        guests=("dev", "lena", "sam", "priya", "ana", "pm@example.com"),
        first=-30, day="TH", at=time(11, 0), minutes=45, every=1,
    ),
    Meeting(
        uid="demo-apac-sync",
        title="APAC sync",
        organizer="maria",
        guests=("dev", "kenji"),
        first=-20, day="WE", at=time(8, 0), minutes=30, every=2,
    ),
    Meeting(
        uid="demo-sydney-standup",
        title="Sydney standup",
        organizer="tom",
        guests=("jack@example.com", "olivia@example.com"),
        first=-30, day="MO,TU,WE,TH,FR", at=time(9, 30), minutes=15, every=1,
    ),
    Meeting(
        uid="demo-oncall-handover",
        title="On-call handover",
        organizer="sam",
        guests=("oncall-a@example.com", "oncall-b@example.com"),
        first=-20, day="MO", at=time(9, 0), minutes=30, every=1,
    ),
    # The decoy: only Maria and Dev, recurring, but a coffee every four weeks,
    # not their weekly 1:1.
    Meeting(
        uid="demo-dev-maria-coffee",
        title="Coffee: Dev & Maria",
        organizer="dev",
        guests=("maria",),
        first=-22, day="FR", at=time(19, 30), minutes=30, every=4,
    ),
    # One-offs.
    Meeting(
        uid="demo-kenji-intro",
        title="Intro chat",
        organizer="maria",
        guests=("kenji",),
        first=-40, day="TU", at=time(19, 0), minutes=30,
    ),
    Meeting(
        uid="demo-quarterly-planning",
        title="Quarterly planning",
        organizer="maria",
        guests=("dev", "lena", "sam", "vp@example.com"),
        first=-6, day="MO", at=time(13, 0), minutes=90,
    ),
    Meeting(
        uid="demo-interview-backend",
        title="Interview: senior backend engineer",
        organizer="recruiting@example.com",
        guests=("maria", "candidate@example.net"),
        zone="America/New_York",
        first=-3, day="TU", at=time(15, 0), minutes=60,
    ),
    Meeting(
        uid="demo-design-review",
        title="Design review: sync engine",
        organizer="dev",
        guests=("lena", "arch@example.com"),
        first=-3, day="WE", at=time(16, 0), minutes=60,
    ),
    Meeting(
        uid="demo-incident-review",
        title="Incident review",
        organizer="sre-lead@example.com",
        guests=("sam", "dev"),
        zone="America/Los_Angeles",
        first=-5, day="WE", at=time(10, 0), minutes=60,
    ),
    Meeting(
        uid="demo-berlin-lunch",
        title="Berlin office lunch",
        organizer="jonas@example.com",
        guests=("lena", "mia@example.com"),
        zone="Europe/Berlin",
        first=-1, day="FR", at=time(12, 0), minutes=60,
    ),
    Meeting(
        uid="demo-london-all-hands",
        title="London office all-hands",
        organizer="office-london@example.com",
        guests=("priya", "ceo@example.com"),
        zone="Europe/London",
        first=-2, day="TH", at=time(14, 0), minutes=60,
    ),
    Meeting(
        uid="demo-offsite-planning",
        title="Offsite planning",
        organizer="priya",
        guests=("ana", "lena"),
        first=2, day="TH", at=time(15, 0), minutes=60,
    ),
    Meeting(
        uid="demo-product-demo",
        title="Product demo",
        organizer="ana",
        guests=("maria", "pm@example.com"),
        first=-4, day="TH", at=time(15, 0), minutes=60,
    ),
    Meeting(
        uid="demo-hiring-sync",
        title="Hiring sync",
        organizer="olivia@example.com",
        guests=("tom", "jack@example.com"),
        zone="Australia/Sydney",
        first=-3, day="MO", at=time(11, 0), minutes=30,
    ),
    Meeting(
        uid="demo-customer-workshop",
        title="Customer workshop",
        organizer="tom",
        guests=("customer@example.org", "olivia@example.com"),
        first=1, day="WE", at=time(10, 0), minutes=120,
    ),
    Meeting(
        uid="demo-tokyo-all-hands",
        title="Tokyo office all-hands",
        organizer="office-tokyo@example.com",
        guests=("kenji", "ceo@example.com"),
        zone="Asia/Tokyo",
        first=-1, day="MO", at=time(17, 0), minutes=60,
    ),
    # Maria's days off: the day she deleted Lena's 1:1, and Thanksgiving.
    Meeting(uid="demo-maria-ooo-1", title="OOO", organizer="maria", private=True,
            first=-2, day="WE", all_day=1),
    Meeting(uid="demo-maria-ooo-2", title="OOO: Thanksgiving", organizer="maria", private=True,
            first=1, day="TH", all_day=2),
    Meeting(uid="demo-maria-dentist", title="Dentist", organizer="maria", private=True,
            first=1, day="MO", at=time(8, 0), minutes=60),
    # Focus time: recurring blocks nobody is invited to.
    *(
        Meeting(uid=f"demo-focus-{key}", title="Focus time", organizer=key, private=True,
                first=-30, day=days, at=at, minutes=120, every=1)
        for key, days, at in (
            ("maria", "WE,FR", time(13, 0)),
            ("dev", "MO,TH", time(11, 0)),
            ("lena", "TU,TH", time(9, 0)),
            ("sam", "TU,WE", time(9, 0)),
            ("priya", "TU", time(13, 0)),
            ("tom", "TH", time(13, 0)),
            ("ana", "WE", time(9, 0)),
            ("kenji", "MO,TU,TH", time(10, 0)),
        )
    ),
)


def write_sample_team(folder: Path, now: datetime) -> None:
    """Write one ``<person>.ics`` per member of the demo team into ``folder``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    timeline = Timeline(now=now, home=ZoneInfo(HOME_ZONE))
    Writer(PEOPLE, timeline).write(Path(folder), (*ONE_ON_ONES, *NOISE))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m calsync.demo.sample OUTDIR", file=sys.stderr)
        return 2
    folder = Path(args[0])
    write_sample_team(folder, DEMO_NOW)
    print(f"wrote {len(PEOPLE)} calendars to {folder} (now = {DEMO_NOW.isoformat()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
