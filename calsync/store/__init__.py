"""Persistence: SQLite by default, PostgreSQL for teams, one schema via Alembic.

Use ``open_store(url)``; everything else goes through the returned ``Store``
(and ``report_sends``' functions, which take it). One module per thing kept:
``pairs``, ``calendars``, ``events``, ``health``, ``outbox``, ``writes``,
``report_sends``, ``agenda``;
``models`` holds every table, ``db`` the engines and migrations.
"""

from calsync.store import report_sends
from calsync.store.calendars import ApplyStats, CalendarStatus, SuspiciousSnapshot
from calsync.store.db import StoreError
from calsync.store.facade import Store, open_store
from calsync.store.health import FindingRecord, OpenFinding, StoredOccurrence
from calsync.store.outbox import OutboxItem
from calsync.store.writes import WriteRecord

__all__ = [
    "ApplyStats",
    "CalendarStatus",
    "FindingRecord",
    "OpenFinding",
    "OutboxItem",
    "Store",
    "StoreError",
    "StoredOccurrence",
    "SuspiciousSnapshot",
    "WriteRecord",
    "open_store",
    "report_sends",
]
