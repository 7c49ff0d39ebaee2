"""The shared agenda block calsync keeps at the end of every 1:1's description. Pure.

The block is the only part of someone else's event calsync writes. It sits
between two marker lines; everything outside them is kept exactly as people
wrote it, applying it twice changes nothing, and a new link replaces the old
block instead of adding a second one.
"""

from __future__ import annotations

import hashlib
import re

BEGIN = "--- calsync: shared 1:1 agenda ---"
END = "--- end of calsync agenda ---"

# The block and exactly the separator calsync put before it (or that separator
# as a calendar UI may rewrite it: \\r\\n or <br>); anything looser would eat
# characters people wrote.
_BLOCK = re.compile(
    r"(?:\n\n|\r\n\r\n|<br\s*/?>\s*<br\s*/?>)?"
    + re.escape(BEGIN)
    + r".*?"
    + re.escape(END),
    re.DOTALL,
)


def agenda_url(template: str, manager: str, report: str, manager_name: str,
               report_name: str) -> str:
    """The pair's agenda address from ``[agenda] url_template``: it follows the pair."""
    pair = f"{manager.split('@', 1)[0]}-{report.split('@', 1)[0]}"
    return template.format(
        manager=manager,
        report=report,
        pair=pair,
        manager_name=manager_name,
        report_name=report_name,
    )


def render_block(url: str) -> str:
    return f"{BEGIN}\nShared agenda for this 1:1 (add your topics before we meet):\n{url}\n{END}"


def block_digest(block: str) -> str:
    return hashlib.sha256(block.encode()).hexdigest()[:16]


def strip_block(description: str) -> str:
    """The description without calsync's block: exactly what people wrote."""
    return _BLOCK.sub("", description)


def with_block(description: str, block: str) -> str | None:
    """The description carrying ``block`` once, or None when it already does."""
    people = strip_block(description)
    wanted = f"{people}\n\n{block}" if people else block
    return None if wanted == description else wanted


def has_block(description: str, block: str) -> bool:
    return with_block(description, block) is None
