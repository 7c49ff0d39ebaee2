"""The weekly cadence-health email: one per manager, only their own reports.

``model`` builds the values (pure), ``render`` lays them out with Jinja2,
``mailer`` sends through SMTP, ``schedule`` says which week is due when, and
``service`` ties them to the store: ``send_due_reports`` (the daemon) and
``report_problems`` (doctor).
"""

from calsync.report.model import ManagerReport, build_manager_report, reports_document
from calsync.report.render import build_message, render_html, render_text, subject
from calsync.report.schedule import IsoWeek, due_week
from calsync.report.service import (
    SendOutcome,
    build_reports,
    deliver,
    report_problems,
    send_due_reports,
)

__all__ = [
    "IsoWeek",
    "ManagerReport",
    "SendOutcome",
    "build_manager_report",
    "build_message",
    "build_reports",
    "deliver",
    "due_week",
    "render_html",
    "render_text",
    "report_problems",
    "reports_document",
    "send_due_reports",
    "subject",
]
