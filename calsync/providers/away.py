"""Which calendar events say their owner is away. Pure: no I/O.

Every provider marks an event it knows to be out-of-office with the iCalendar
property Outlook itself writes for that (``X-MICROSOFT-CDO-BUSYSTATUS:OOF``):
Google's ``eventType = "outOfOffice"`` and Graph's ``showAs = "oof"`` are set
on the component their mapping builds, and ICS feeds exported from Outlook
already carry it. ``expand.py`` then reads the mark once for every provider
and turns it into the neutral event's ``tags["away"]``.

An all-day event whose title clearly says out of office ("PTO", "Urlaub",
"vacaciones") counts too: many people block their leave that way. The title
must say it as a whole word or phrase, and a title that is about leave rather
than being leave ("Leave planning sync", "Holiday party") does not count.

The reason recorded is always the same words, "out of office": calsync reads
other people's calendars as free/busy only, so a private title ("Sick",
"Urlaub in Lissabon") never travels into a report or an email.
"""

from __future__ import annotations

import re

BUSY_STATUS = "X-MICROSOFT-CDO-BUSYSTATUS"
OOF = "OOF"
AWAY_TAG = "away"
OUT_OF_OFFICE = "out of office"

# Words and phrases that, alone, say "I am away". English, German, French,
# Spanish and Portuguese; matched case-insensitively as whole words.
_AWAY_WORDS = (
    r"ooo|oof|pto|out[ -]of[ -]office|off[ -]?sick|sick(?:[ -]day)?|vacation|holidays?"
    r"|annual[ -]leave|(?:on|parental|maternity|paternity|sick|study|personal|medical) leave"
    r"|urlaub|abwesend|elternzeit|feiertag|krank(?:geschrieben|meldung)?"
    r"|cong[ée]s?|vacances|absente?|jour f[ée]ri[ée]"
    r"|vacaciones|fuera de la oficina|festivo|de baja"
    r"|f[ée]rias|fora do escrit[óo]rio|feriado|folga"
)
_AWAY = re.compile(rf"(?<!\w)(?:{_AWAY_WORDS})(?!\w)", re.IGNORECASE)
# "leave" on its own says it only when it is the whole title ("Leave", "Ana: leave").
_LEAVE_ALONE = re.compile(r"^\W*(?:[\w.'-]+\W+)?leave\W*$", re.IGNORECASE)
# A title about leave, not leave itself.
_ABOUT = re.compile(
    r"(?<!\w)(?:planning|plan|planung|party|sync|meeting|review|policy|request|"
    r"deadline|reminder|fête|fiesta|feier)(?!\w)",
    re.IGNORECASE,
)


def title_says_away(title: str) -> bool:
    """Whether an all-day event's title clearly says its owner is away."""
    if _ABOUT.search(title):
        return False
    return bool(_AWAY.search(title) or _LEAVE_ALONE.match(title))


def away_reason(busy_status: str, title: str, all_day: bool) -> str | None:
    """``tags["away"]`` for an event: its reason when it marks its owner away, else None."""
    if busy_status.strip().upper() == OOF:
        return OUT_OF_OFFICE
    if all_day and title_says_away(title):
        return OUT_OF_OFFICE
    return None
