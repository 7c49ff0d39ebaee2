"""Which agenda link a pair's 1:1 carries. Pure.

The link follows the pair, not an event id, so it survives moves, rebooks and
series splits. The block that carries it in descriptions is
:class:`calsync.model.AgendaBlock`.
"""

from __future__ import annotations

from calsync.model import AgendaBlock


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


def agenda_block(template: str, manager: str, report: str, manager_name: str,
                 report_name: str) -> AgendaBlock:
    """The block every occurrence of the pair's 1:1 carries."""
    return AgendaBlock(agenda_url(template, manager, report, manager_name, report_name))


def page_url(public_url: str, page_id: str) -> str:
    """The pair's own page on calsync (``[web] public_url``): it follows the pair."""
    return f"{public_url.rstrip('/')}/1on1/{page_id}"
